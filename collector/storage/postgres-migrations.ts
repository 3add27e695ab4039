import type pg from 'pg';
import { LoopError, codes } from '../../src/errors.js';

/**
 * Versioned schema changes for PostgreSQL, applied in order in one transaction and recorded in
 * `schema_migrations` (the same table, with the same meaning, as SQLite's). Never edit a released
 * migration: add the next one.
 */
export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

export const pgMigrations: readonly PgMigration[] = [
  {
    version: 1,
    name: 'captures and tapconfigs',
    // The same tables as SQLite's migrations 1 and 2, in one step (PostgreSQL support starts here).
    //
    // `captures` holds only the listed fields, so that a listing over millions of rows reads narrow
    // rows and never a body; the whole record (bodies and outbound calls, possibly megabytes) lives
    // apart in `capture_records`, stored as the JSON text it arrived as (jsonb would refuse "\u0000"
    // inside a body, and reorder keys). `seq` comes from an identity column, so several collectors on
    // one database hand out display ids from one place; a value is never given again.
    //
    // Indexes are those of the list filters, each ending in `seq` so that "the newest N matching"
    // walks one index backwards and stops: status, service, path prefix (`path` uses the C collation so
    // that `LIKE 'prefix%'` can use a btree index whatever the database's collation), since, trace id.
    // `received_at` and `size` are for retention (by age, by bytes; per service through
    // captures_service).
    sql: `
      CREATE TABLE captures (
        seq          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id           text             NOT NULL UNIQUE,
        service      text             NOT NULL,
        instance     text             NOT NULL,
        started_at   bigint           NOT NULL,
        duration_ms  double precision NOT NULL,
        method       text             NOT NULL,
        path         text COLLATE "C" NOT NULL,
        url          text             NOT NULL,
        status       integer          NOT NULL,
        destination  text             NOT NULL,
        route        text,
        trace_id     text,
        aborted      boolean          NOT NULL,
        error        text,
        size         bigint           NOT NULL,
        received_at  bigint           NOT NULL
      );
      CREATE TABLE capture_records (
        seq     bigint PRIMARY KEY REFERENCES captures(seq) ON DELETE CASCADE,
        record  text   NOT NULL
      );
      CREATE INDEX captures_status      ON captures (status, seq);
      CREATE INDEX captures_service     ON captures (service, seq);
      CREATE INDEX captures_path        ON captures (path, seq);
      CREATE INDEX captures_started_at  ON captures (started_at, seq);
      CREATE INDEX captures_trace_id    ON captures (trace_id, started_at, seq);
      CREATE INDEX captures_received_at ON captures (received_at);

      CREATE TABLE tapconfigs (
        name        text   PRIMARY KEY,
        namespace   text,
        resource    text   NOT NULL,
        version     bigint NOT NULL,
        created_at  bigint NOT NULL,
        updated_at  bigint NOT NULL
      );
      CREATE TABLE rules_version (
        id       integer PRIMARY KEY CHECK (id = 1),
        version  bigint  NOT NULL
      );
      INSERT INTO rules_version (id, version) VALUES (1, 0);
      CREATE TABLE capture_rules (
        rule  text   NOT NULL,
        seq   bigint NOT NULL REFERENCES captures(seq) ON DELETE CASCADE,
        PRIMARY KEY (rule, seq)
      );
      CREATE INDEX capture_rules_seq ON capture_rules (seq);
      CREATE TABLE agents (
        service    text   NOT NULL,
        instance   text   NOT NULL,
        version    bigint NOT NULL,
        source     text   NOT NULL,
        seen_at    bigint NOT NULL,
        PRIMARY KEY (service, instance)
      );
    `,
  },
  {
    version: 2,
    name: 'list indexes and totals',
    // Listing "the newest N matching" a service, a status range and a path prefix together, or a
    // status range and a path prefix: without these, PostgreSQL ANDs bitmaps of tens of thousands of
    // entries from three indexes and reads every matching row before it keeps 100. With them, one index
    // range holds exactly the matches, and list() takes their display ids from the index and reads
    // only the rows it keeps. (Building them on a big table holds off inserts until they are built.)
    //
    // The count and stored bytes of all captures, so that /metrics reads a few rows instead of summing a
    // million on every scrape. Kept by statement triggers (one call per INSERT or DELETE statement, with
    // its rows in a transition table) in the transaction of every write, whoever makes it: exact after a
    // crash, and with several collectors, even ones of an older httploop. Each statement adds its delta
    // to one of 16 slot rows picked at random, so that collectors inserting at once rarely wait for each
    // other's row lock (capture_totals_bump, the one upsert all three triggers use); the totals are the
    // sums over the slots.
    //
    // The table is locked first, so that no insert commits between the initial count and the triggers.
    sql: `
      LOCK TABLE captures IN SHARE ROW EXCLUSIVE MODE;
      CREATE INDEX captures_service_status_path ON captures (service, status, path, seq);
      CREATE INDEX captures_status_path         ON captures (status, path, seq);
      CREATE TABLE capture_totals (
        slot      integer PRIMARY KEY,
        captures  bigint  NOT NULL,
        bytes     bigint  NOT NULL
      );
      INSERT INTO capture_totals (slot, captures, bytes) SELECT 0, COUNT(*), COALESCE(SUM(size), 0) FROM captures;
      CREATE FUNCTION capture_totals_bump(d_captures bigint, d_bytes bigint) RETURNS void LANGUAGE sql SET search_path FROM CURRENT AS $$
        INSERT INTO capture_totals (slot, captures, bytes) VALUES (floor(random() * 16)::integer, d_captures, d_bytes)
          ON CONFLICT (slot) DO UPDATE SET captures = capture_totals.captures + excluded.captures,
            bytes = capture_totals.bytes + excluded.bytes;
      $$;
      CREATE FUNCTION capture_totals_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        PERFORM capture_totals_bump(COUNT(*), COALESCE(SUM(size), 0)::bigint) FROM new_rows HAVING COUNT(*) > 0;
        RETURN NULL;
      END $$;
      CREATE FUNCTION capture_totals_remove() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        PERFORM capture_totals_bump(-COUNT(*), -COALESCE(SUM(size), 0)::bigint) FROM old_rows HAVING COUNT(*) > 0;
        RETURN NULL;
      END $$;
      CREATE FUNCTION capture_totals_change() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
      BEGIN
        PERFORM capture_totals_bump(0, (COALESCE((SELECT SUM(size) FROM new_rows), 0) - COALESCE((SELECT SUM(size) FROM old_rows), 0))::bigint);
        RETURN NULL;
      END $$;
      CREATE TRIGGER captures_totals_insert AFTER INSERT ON captures
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION capture_totals_add();
      CREATE TRIGGER captures_totals_delete AFTER DELETE ON captures
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION capture_totals_remove();
      CREATE TRIGGER captures_totals_update AFTER UPDATE ON captures
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION capture_totals_change();
    `,
  },
];

/**
 * Brings the schema the connection's search_path points at up to the newest known version. Runs in one
 * transaction under an advisory lock keyed on that schema, so collectors that start together wait for
 * each other instead of racing to create the same tables; the ones that come second find nothing to do.
 */
export async function migratePg(client: pg.ClientBase, where: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('httploop.migrate:' || current_schema()))`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     integer PRIMARY KEY,
      name        text    NOT NULL,
      applied_at  bigint  NOT NULL
    )`);
    const { rows } = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
    const current = rows[0]?.version ?? 0;
    const newest = pgMigrations[pgMigrations.length - 1]!.version;
    if (current > newest) {
      throw new LoopError(
        codes.STORAGE,
        `the database ${where} has schema version ${current}, newer than this httploop knows (${newest}); ` +
          'upgrade httploop or point --pg at another database or schema',
      );
    }
    for (const migration of pgMigrations) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        Date.now(),
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
