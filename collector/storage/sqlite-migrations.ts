import type Database from 'better-sqlite3';
import { LoopError, codes } from '../../src/errors.js';

/**
 * Versioned schema changes, applied in order, each in its own transaction, recorded in
 * `schema_migrations`. Never edit a released migration: add the next one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'captures',
    // The listed fields live in `captures` so that listing never reads a body; the full record (with
    // bodies, possibly megabytes) lives apart in `capture_records`. AUTOINCREMENT: a deleted display id
    // is never given again, so `--id 3` cannot silently point at another capture later.
    sql: `
      CREATE TABLE captures (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT    NOT NULL UNIQUE,
        service      TEXT    NOT NULL,
        instance     TEXT    NOT NULL,
        started_at   INTEGER NOT NULL,
        duration_ms  REAL    NOT NULL,
        method       TEXT    NOT NULL,
        path         TEXT    NOT NULL,
        url          TEXT    NOT NULL,
        status       INTEGER NOT NULL,
        destination  TEXT    NOT NULL,
        route        TEXT,
        trace_id     TEXT,
        aborted      INTEGER NOT NULL,
        error        TEXT,
        size         INTEGER NOT NULL,
        received_at  INTEGER NOT NULL
      );
      CREATE TABLE capture_records (
        seq     INTEGER PRIMARY KEY REFERENCES captures(seq) ON DELETE CASCADE,
        record  TEXT    NOT NULL
      );
      CREATE INDEX captures_status     ON captures(status);
      CREATE INDEX captures_service    ON captures(service);
      CREATE INDEX captures_path       ON captures(path);
      CREATE INDEX captures_started_at ON captures(started_at);
      CREATE INDEX captures_trace_id   ON captures(trace_id);
    `,
  },
  {
    version: 2,
    name: 'tapconfigs',
    // TapConfigs and one version number for the whole rule set (bumped by every change that changes
    // something), which agents poll with. `capture_rules` indexes captures by the rules that matched,
    // for the CAPTURED column; existing captures are indexed from their records. `agents` records what
    // each running loop() has in force, as it last said when polling.
    sql: `
      CREATE TABLE tapconfigs (
        name        TEXT    PRIMARY KEY,
        namespace   TEXT,
        resource    TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      );
      CREATE TABLE rules_version (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        version  INTEGER NOT NULL
      );
      INSERT INTO rules_version (id, version) VALUES (1, 0);
      CREATE TABLE capture_rules (
        rule  TEXT    NOT NULL,
        seq   INTEGER NOT NULL REFERENCES captures(seq) ON DELETE CASCADE,
        PRIMARY KEY (rule, seq)
      ) WITHOUT ROWID;
      CREATE INDEX capture_rules_seq ON capture_rules(seq);
      INSERT OR IGNORE INTO capture_rules (rule, seq)
        SELECT j.value, r.seq FROM capture_records r, json_each(r.record, '$.rules') j WHERE j.type = 'text';
      CREATE TABLE agents (
        service    TEXT    NOT NULL,
        instance   TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        source     TEXT    NOT NULL,
        seen_at    INTEGER NOT NULL,
        PRIMARY KEY (service, instance)
      );
    `,
  },
  {
    version: 3,
    name: 'list indexes and totals',
    // Listing "the newest N matching" over a million captures (sqlite-list.ts): (service, status, path)
    // and (status, path) let a filter on several columns read only the index entries that match, one
    // status at a time (every SQLite index ends in the rowid, here `seq`). (status, path) also serves a
    // path prefix alone, walked status by status, so the path-only index goes. `received_at` is for
    // pruning by age, which otherwise reads every row to find none too old.
    //
    // `capture_totals` keeps the count and stored bytes of all captures, so /metrics reads one row
    // instead of summing a million on every scrape, always in the transaction of the change, so it is
    // exact after a crash too. Deletes (one, prune, anything else) move it by trigger; inserts, by one
    // UPDATE per transaction of the capture writer (sqlite-insert.ts): a row trigger on insert halved the insert rate.
    sql: `
      CREATE INDEX captures_service_status_path ON captures(service, status, path);
      CREATE INDEX captures_status_path         ON captures(status, path);
      CREATE INDEX captures_received_at         ON captures(received_at);
      DROP INDEX captures_path;

      CREATE TABLE capture_totals (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        captures  INTEGER NOT NULL,
        bytes     INTEGER NOT NULL
      );
      INSERT INTO capture_totals (id, captures, bytes) SELECT 1, COUNT(*), COALESCE(SUM(size), 0) FROM captures;
      CREATE TRIGGER captures_totals_delete AFTER DELETE ON captures BEGIN
        UPDATE capture_totals SET captures = captures - 1, bytes = bytes - OLD.size WHERE id = 1;
      END;
      CREATE TRIGGER captures_totals_update AFTER UPDATE OF size ON captures BEGIN
        UPDATE capture_totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
      END;
    `,
  },
  {
    version: 4,
    name: 'trace index by bucket',
    // Trace ids are random, so an index on trace_id alone took each new capture's entry to a random
    // page of an index as large as the table: once the table outgrew what one commit's pages cover,
    // every capture wrote one more page, and the insert rate fell as the table grew (on the bench
    // machine 32 µs a capture at 100 000 captures, 54 at 300 000, against 23 without the index). Keyed
    // first by the display id's bucket of 1024, new entries land in the newest bucket's few pages, and
    // the cost stays that of a table of 1024 captures. A trace is found with one index seek per bucket
    // (sqlite-list.ts TRACE_CAPTURES): about a thousand per million captures.
    sql: `
      CREATE INDEX captures_trace ON captures(seq >> 10, trace_id);
      DROP INDEX captures_trace_id;
    `,
  },
];

/** Brings the database at `file` up to the newest known schema version. */
export function migrate(db: Database.Database, file: string): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    applied_at  INTEGER NOT NULL
  )`);
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  const current = row.version ?? 0;
  const newest = migrations[migrations.length - 1]!.version;
  if (current > newest) {
    throw new LoopError(
      codes.STORAGE,
      `the database ${file} has schema version ${current}, newer than this httploop knows (${newest}); ` +
        'upgrade httploop or use another --db file',
    );
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}
