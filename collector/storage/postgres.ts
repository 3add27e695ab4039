import pg from 'pg';
import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';
import { LoopError, codes } from '../../src/errors.js';
import type { TapConfig } from '../../src/match/tapconfig.js';
import { asSeq, listedValues, storedJsonOf, toAgent, toSummary, type SummaryRow } from './capture-fields.js';
import { migratePg } from './postgres-migrations.js';
import type {
  AgentState,
  ApplyAction,
  ApplyResult,
  CaptureFilter,
  CaptureStore,
  InsertResult,
  PruneOptions,
  PrunePolicy,
  PruneResult,
  RulesSubscription,
  StoredTapConfig,
  TraceCaptures,
} from './types.js';

/** Options for {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /** Most connections in the pool (the one that listens for rule changes comes on top). Default 10. */
  maxConnections?: number;
  /** How long a call waits for a connection before failing, in ms. Default 5000. */
  connectTimeoutMs?: number;
}

/** The channel every collector LISTENs on; the payload is the schema whose rules changed. */
const RULES_CHANNEL = 'httploop_rules';
/** Reconnect delays of the listening connection, in ms. */
const LISTEN_BACKOFF_MS = [250, 500, 1000, 2000, 5000];
/** A deadlock between two collectors inserting the same retried batch is tried again this often. */
const INSERT_ATTEMPTS = 3;

const SUMMARY_COLUMNS =
  'seq, id, service, instance, started_at, duration_ms, method, url, status, destination, route, trace_id, aborted, error';


// Every value a query puts into a JS number fits one: bigint columns hold epoch ms, display ids and
// counts. Set on this store's connections only, not on the pg module for the whole process.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Inserts a batch's new captures (parameters: insertCapturesParams), returning their display ids; exported for the test of its plan. */
export const INSERT_CAPTURES = `INSERT INTO captures
    (id, service, instance, started_at, duration_ms, method, path, url, status, destination, route,
     trace_id, aborted, error, size, received_at)
  SELECT t.id, t.service, t.instance, t.started_at, t.duration_ms, t.method, t.path, t.url, t.status,
     t.destination, t.route, t.trace_id, t.aborted, t.error, t.size, $16
  FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::text[], $7::text[],
     $8::text[], $9::int[], $10::text[], $11::text[], $12::text[], $13::bool[], $14::text[], $15::bigint[])
     WITH ORDINALITY AS t(id, service, instance, started_at, duration_ms, method, path, url, status,
       destination, route, trace_id, aborted, error, size, ord)
  -- Filtered first, not only ON CONFLICT: a conflicting row still draws an identity value, and display
  -- ids should stay 1, 2, 3 when batches are retried. ON CONFLICT covers two collectors racing.
  -- OFFSET 0 keeps the lookup a subplan, one probe of captures_id_key per capture, whatever the
  -- statistics say: as a join, the planner hashed every stored id for each batch while the table was
  -- small enough to look cheap (a sequential scan, 40 ms a batch at 30 000 rows; at 150 000 it chose the index).
  WHERE NOT EXISTS (SELECT 1 FROM captures c WHERE c.id = t.id OFFSET 0)
  ORDER BY t.ord
  ON CONFLICT (id) DO NOTHING
  RETURNING seq, id`;

type ListedRow = ReturnType<typeof listedValues>;

/**
 * INSERT_CAPTURES's parameters for these rows (listedValues): one array per listed column, then
 * received_at. PostgreSQL text cannot hold NUL; the record (JSON, where NUL is escaped) keeps the real value.
 */
export function insertCapturesParams(rows: readonly ListedRow[], receivedAt: number): unknown[] {
  const columns: unknown[][] = Array.from({ length: 15 }, () => []);
  for (const row of rows) row.forEach((value, c) => columns[c]!.push(typeof value === 'string' ? withoutNul(value) : value));
  return [...columns, receivedAt];
}

const INSERT_RECORDS = `INSERT INTO capture_records (seq, record)
  SELECT * FROM unnest($1::bigint[], string_to_array($2::text, E'\\n'))`;

/**
 * The shared store: one PostgreSQL database (or schema) for any number of collectors. Every write is one
 * transaction that has committed when the promise resolves. Display ids come from an identity column,
 * so they are unique across collectors; rule changes are announced with NOTIFY, so every collector's
 * long polls hear of a change made through any of them.
 *
 * The schema is the connection's `search_path` (`?options=-c%20search_path%3Dhttploop` in the URL).
 * The constructor checks the URL and connects in the background; {@link ready} says when it is usable.
 */
export class PostgresStore implements CaptureStore {
  /** The URL with its password hidden, for messages. */
  readonly url: string;
  readonly #config: pg.ClientConfig;
  readonly #pool: pg.Pool;
  readonly #ready: Promise<void>;
  #closed: Promise<void> | undefined;
  readonly #listeners = new Set<() => void>();
  #listen: pg.Client | undefined;
  #listenLive = false;
  #listenTimer: NodeJS.Timeout | undefined;
  #listenAttempt = 0;
  #schema: string | undefined;
  #poolErrorLogged = false;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    checkPgUrl(url, 'httploop: PostgresStore');
    const { maxConnections = 10, connectTimeoutMs = 5000 } = options;
    if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) {
      throw new LoopError(codes.INVALID_OPTION, `httploop: PostgresStore: maxConnections must be a whole number >= 1, got ${String(maxConnections)}`);
    }
    if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
      throw new LoopError(codes.INVALID_OPTION, `httploop: PostgresStore: connectTimeoutMs must be a whole number of ms >= 1, got ${String(connectTimeoutMs)}`);
    }
    this.url = redactUrl(url);
    this.#config = { connectionString: url, connectionTimeoutMillis: connectTimeoutMs, types, application_name: 'httploop-collector' };
    this.#pool = new pg.Pool({ ...this.#config, max: maxConnections });
    // An idle connection that breaks (database restarted) is dropped by the pool; the next call opens
    // another. Without a listener the 'error' event would end the process.
    this.#pool.on('error', (err) => {
      if (this.#poolErrorLogged) return;
      this.#poolErrorLogged = true;
      console.error(`httploop collector: a PostgreSQL connection to ${this.url} broke: ${err.message}`);
    });
    this.#ready = this.#open();
    // Whoever uses the store sees the rejection; it must not also count as unhandled.
    this.#ready.catch(() => {});
  }

  async #open(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw new LoopError(codes.STORAGE, `cannot connect to PostgreSQL at ${this.url}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const { rows } = await client.query<{ schema: string | null; path: string }>(
        'SELECT current_schema() AS schema, current_setting($1) AS path',
        ['search_path'],
      );
      if (!rows[0]?.schema) {
        throw new LoopError(
          codes.STORAGE,
          `the search_path of ${this.url} (${rows[0]?.path ?? ''}) names no schema that exists; create it (CREATE SCHEMA ...) or fix the URL's options=-c search_path=...`,
        );
      }
      this.#schema = rows[0].schema;
      await migratePg(client, this.url);
    } catch (err) {
      if (err instanceof LoopError) throw err;
      throw new LoopError(codes.STORAGE, `cannot use the PostgreSQL database ${this.url}: ${(err as Error).message}`, { cause: err });
    } finally {
      client.release();
    }
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  async #query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    await this.#ready;
    return (await this.#pool.query<R>(sql, params)).rows;
  }

  async #transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.#ready;
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async insert(records: CaptureRecord[], received?: readonly string[]): Promise<InsertResult> {
    // A duplicate inside one batch is acknowledged like a retried one: the first copy is kept.
    const byId = new Map<string, number>();
    records.forEach((record, i) => {
      if (!byId.has(record.id)) byId.set(record.id, i);
    });
    const fresh = [...byId.values()];
    if (fresh.length === 0) return { inserted: 0, duplicates: records.length };
    const jsonById = new Map<string, string>();
    const rulesById = new Map<string, string[]>();
    const listed: ListedRow[] = [];
    for (const i of fresh) {
      const record = records[i]!;
      const json = storedJsonOf(record, received?.[i]);
      jsonById.set(record.id, json);
      rulesById.set(record.id, [...new Set(record.rules)]);
      listed.push(listedValues(record, Buffer.byteLength(json)));
    }
    const params = insertCapturesParams(listed, Date.now());
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#transaction(async (client) => {
          const { rows } = await client.query<{ seq: number; id: string }>(INSERT_CAPTURES, params);
          if (rows.length > 0) {
            const seqs = rows.map((r) => r.seq);
            // The records as one text, one per line: JSON.stringify's output has no raw newline (nor NUL),
            // and this spares the client quoting ~500 KiB into an array literal and the server parsing it.
            await client.query(INSERT_RECORDS, [seqs, rows.map((r) => jsonById.get(r.id)!).join('\n')]);
            const ruleNames: string[] = [];
            const ruleSeqs: number[] = [];
            for (const row of rows) {
              for (const rule of rulesById.get(row.id)!) {
                ruleNames.push(withoutNul(rule));
                ruleSeqs.push(row.seq);
              }
            }
            if (ruleNames.length > 0) {
              await client.query('INSERT INTO capture_rules (rule, seq) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING', [
                ruleNames,
                ruleSeqs,
              ]);
            }
          }
          return { inserted: rows.length, duplicates: records.length - rows.length };
        });
      } catch (err) {
        // 40P01 deadlock_detected, 40001 serialization_failure: the other transaction went through, so
        // trying again finds its rows and counts them as duplicates.
        const code = (err as { code?: string }).code;
        if (attempt < INSERT_ATTEMPTS && (code === '40P01' || code === '40001')) continue;
        throw err;
      }
    }
  }

  async list(filter: CaptureFilter = {}): Promise<CaptureSummary[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.status) where.push(`status BETWEEN ${param(filter.status.min)} AND ${param(filter.status.max)}`);
    if (filter.service !== undefined) where.push(`service = ${param(withoutNul(filter.service))}`);
    // `path` has the C collation, so a LIKE with a literal prefix is an index range scan; the prefix's
    // own % _ and \ are escaped, so they match themselves (as GLOB's are in SQLite).
    if (filter.path !== undefined) where.push(`path LIKE ${param(`${escapeLike(withoutNul(filter.path))}%`)}`);
    if (filter.since !== undefined) where.push(`started_at >= ${param(filter.since)}`);
    if (filter.traceId !== undefined) where.push(`trace_id = ${param(withoutNul(filter.traceId))}`);
    if (filter.rule !== undefined) where.push(`seq IN (SELECT seq FROM capture_rules WHERE rule = ${param(withoutNul(filter.rule))})`);
    if (filter.beforeSeq !== undefined) where.push(`seq < ${param(filter.beforeSeq)}`);
    const condition = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const order = filter.order === 'desc' ? 'DESC' : 'ASC';
    // A limit keeps the newest matches; `order` only decides how they are shown. The display ids are
    // chosen first, from index entries where the filters are all indexed (captures_status_path,
    // captures_service_status_path), and only the rows kept are read.
    const sql =
      filter.limit !== undefined
        ? `SELECT ${SUMMARY_COLUMNS} FROM captures WHERE seq IN (SELECT seq FROM captures ${condition} ORDER BY seq DESC LIMIT ${param(filter.limit)}) ORDER BY seq ${order}`
        : `SELECT ${SUMMARY_COLUMNS} FROM captures ${condition} ORDER BY seq ${order}`;
    return (await this.#query<SummaryRow>(sql, params)).map(toSummary);
  }

  async get(idOrSeq: string | number): Promise<CaptureRecord | undefined> {
    const seq = asSeq(idOrSeq);
    const rows =
      seq !== undefined
        ? await this.#query<{ seq: number; record: string }>('SELECT seq, record FROM capture_records WHERE seq = $1', [seq])
        : await this.#query<{ seq: number; record: string }>(
            'SELECT r.seq, r.record FROM captures c JOIN capture_records r ON r.seq = c.seq WHERE c.id = $1',
            [withoutNul(String(idOrSeq))],
          );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async delete(idOrSeq: string | number): Promise<boolean> {
    const seq = asSeq(idOrSeq);
    await this.#ready;
    const result =
      seq !== undefined
        ? await this.#pool.query('DELETE FROM captures WHERE seq = $1', [seq])
        : await this.#pool.query('DELETE FROM captures WHERE id = $1', [withoutNul(String(idOrSeq))]);
    return (result.rowCount ?? 0) > 0;
  }

  async trace(traceId: string, limit: number): Promise<TraceCaptures> {
    // One snapshot for the count and the records (REPEATABLE READ), as SQLite's read transaction.
    await this.#ready;
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const id = withoutNul(traceId);
      const total = (await client.query<{ n: number }>('SELECT COUNT(*) AS n FROM captures WHERE trace_id = $1', [id])).rows[0]!.n;
      let captures: CaptureRecord[] = [];
      if (total > 0) {
        // The limit is applied before the join: only the kept records are read.
        const { rows } = await client.query<{ seq: number; record: string }>(
          `SELECT r.seq, r.record
           FROM (SELECT seq, started_at FROM captures WHERE trace_id = $1 ORDER BY started_at, seq LIMIT $2) c
           JOIN capture_records r ON r.seq = c.seq
           ORDER BY c.started_at, c.seq`,
          [id, limit],
        );
        captures = rows.map(toRecord);
      }
      await client.query('COMMIT');
      return { total, captures };
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async count(): Promise<number> {
    return (await this.#totals()).captures;
  }

  /** Count and stored bytes of all captures: the sums over capture_totals' slots, kept by triggers (migration 2). */
  async #totals(): Promise<{ captures: number; bytes: number }> {
    return (
      await this.#query<{ captures: number; bytes: number }>(
        'SELECT COALESCE(SUM(captures), 0)::bigint AS captures, COALESCE(SUM(bytes), 0)::bigint AS bytes FROM capture_totals',
      )
    )[0]!;
  }

  async listTapConfigs(): Promise<StoredTapConfig[]> {
    const rows = await this.#query<{ resource: string; version: number; created_at: number; updated_at: number }>(
      'SELECT resource, version, created_at, updated_at FROM tapconfigs ORDER BY name COLLATE "C"',
    );
    return rows.map((row) => ({
      resource: JSON.parse(row.resource) as TapConfig,
      version: row.version,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  applyTapConfigs(configs: TapConfig[]): Promise<ApplyResult> {
    return this.#transaction(async (client) => {
      // The version row is locked first by every rules change, so changes through several collectors
      // take turns and each sees the one before.
      let version = (await client.query<{ version: number }>('SELECT version FROM rules_version WHERE id = 1 FOR UPDATE')).rows[0]!.version;
      const names = configs.map((c) => c.metadata.name);
      const { rows } = await client.query<{ name: string; resource: string }>('SELECT name, resource FROM tapconfigs WHERE name = ANY($1::text[])', [names]);
      const before = new Map(rows.map((r) => [r.name, r.resource]));
      const results: ApplyResult['results'] = [];
      const changed: TapConfig[] = [];
      for (const config of configs) {
        const name = config.metadata.name;
        const old = before.get(name);
        const action: ApplyAction = old === undefined ? 'created' : old === JSON.stringify(config) ? 'unchanged' : 'configured';
        results.push({ name, action });
        if (action !== 'unchanged') changed.push(config);
      }
      if (changed.length > 0) {
        version = await bumpVersion(client);
        const now = Date.now();
        for (const config of changed) {
          await client.query(
            `INSERT INTO tapconfigs (name, namespace, resource, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (name) DO UPDATE SET namespace = excluded.namespace, resource = excluded.resource,
               version = excluded.version, updated_at = excluded.updated_at`,
            [config.metadata.name, config.metadata.namespace ?? null, JSON.stringify(config), version, now],
          );
        }
      }
      return { version, results };
    });
  }

  deleteTapConfig(name: string): Promise<number | undefined> {
    return this.#transaction(async (client) => {
      await client.query('SELECT version FROM rules_version WHERE id = 1 FOR UPDATE');
      const result = await client.query('DELETE FROM tapconfigs WHERE name = $1', [withoutNul(name)]);
      if ((result.rowCount ?? 0) === 0) return undefined;
      return bumpVersion(client);
    });
  }

  async rulesVersion(): Promise<number> {
    return (await this.#query<{ version: number }>('SELECT version FROM rules_version WHERE id = 1'))[0]!.version;
  }

  async countByRule(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const row of await this.#query<{ rule: string; n: number }>('SELECT rule, COUNT(*) AS n FROM capture_rules GROUP BY rule')) {
      out[row.rule] = row.n;
    }
    return out;
  }

  async recordAgent(agent: AgentState): Promise<void> {
    await this.#query(
      `INSERT INTO agents (service, instance, version, source, seen_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (service, instance) DO UPDATE SET version = excluded.version, source = excluded.source,
         seen_at = excluded.seen_at`,
      [withoutNul(agent.service), withoutNul(agent.instance), agent.version, agent.source, agent.seenAt],
    );
  }

  async listAgents(since: number): Promise<AgentState[]> {
    const rows = await this.#query<{ service: string; instance: string; version: number; source: string; seen_at: number }>(
      // COLLATE "C": the same order as SQLite's (by code point), whatever the database's collation.
      'SELECT service, instance, version, source, seen_at FROM agents WHERE seen_at >= $1 ORDER BY service COLLATE "C", instance COLLATE "C"',
      [since],
    );
    return rows.map(toAgent);
  }

  async prune(policy: PrunePolicy, options: PruneOptions = {}): Promise<PruneResult> {
    const { batchSize = 1000, dryRun = false, now = Date.now() } = options;
    const base: unknown[] = [policy.service === undefined ? null : withoutNul(policy.service)];
    const scope = '($1::text IS NULL OR service = $1::text)';
    let cutoff = 0;
    // Over all captures, the totals say at once whether a count or bytes limit is reached at all;
    // finding the cut reads as many captures as the limit keeps.
    const overall = policy.service === undefined && (policy.maxCount !== undefined || policy.maxBytes !== undefined) ? await this.#totals() : undefined;
    if (policy.maxCount !== undefined && !(overall && overall.captures <= policy.maxCount)) {
      const rows = await this.#query<{ seq: number }>(`SELECT seq FROM captures WHERE ${scope} ORDER BY seq DESC LIMIT 1 OFFSET $2`, [
        ...base,
        policy.maxCount,
      ]);
      if (rows[0]) cutoff = Math.max(cutoff, rows[0].seq);
    }
    if (policy.maxBytes !== undefined && !(overall && overall.bytes <= policy.maxBytes)) {
      const rows = await this.#query<{ seq: number }>(
        `SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING) AS total
          FROM captures WHERE ${scope}) t WHERE total > $2 ORDER BY seq DESC LIMIT 1`,
        [...base, policy.maxBytes],
      );
      if (rows[0]) cutoff = Math.max(cutoff, rows[0].seq);
    }
    const ageCut = policy.maxAgeMs !== undefined ? now - policy.maxAgeMs : -1;
    const doomed = `${scope} AND (seq <= $2 OR received_at < $3)`;
    const params = [...base, cutoff, ageCut];
    if (dryRun) {
      const rows = await this.#query<{ n: number; bytes: number }>(
        `SELECT COUNT(*) AS n, COALESCE(SUM(size), 0)::bigint AS bytes FROM captures WHERE ${doomed}`,
        params,
      );
      return { deleted: rows[0]!.n, bytes: rows[0]!.bytes };
    }
    const result: PruneResult = { deleted: 0, bytes: 0 };
    for (;;) {
      // SKIP LOCKED: two collectors pruning at once take different rows instead of waiting for each
      // other (or deadlocking); a row the other one took is gone by the time this one looks again.
      const rows = await this.#transaction(async (client) =>
        (
          await client.query<{ size: number }>(
            `DELETE FROM captures WHERE seq IN (
               SELECT seq FROM captures WHERE ${doomed} ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING size`,
            [...params, batchSize],
          )
        ).rows,
      );
      result.deleted += rows.length;
      for (const row of rows) result.bytes += row.size;
      if (rows.length < batchSize) return result;
    }
  }

  async services(): Promise<string[]> {
    // One index seek per service (a loose index scan of captures_service), not a read of every capture;
    // listed by code point, as SQLite lists them.
    const rows = await this.#query<{ name: string }>(
      `WITH RECURSIVE s AS (
         SELECT MIN(service) AS name FROM captures
         UNION ALL
         SELECT (SELECT MIN(service) FROM captures WHERE service > s.name) FROM s WHERE s.name IS NOT NULL)
       SELECT name FROM s WHERE name IS NOT NULL ORDER BY name COLLATE "C"`,
    );
    return rows.map((r) => r.name);
  }

  async storedBytes(): Promise<number> {
    return (await this.#totals()).bytes;
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.#query<{ ok: number }>('SELECT 1 AS ok'))[0]?.ok === 1;
    } catch {
      return false;
    }
  }

  watchRules(listener: () => void): RulesSubscription {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#startListening();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    return {
      get live() {
        return store.#listenLive;
      },
      close: () => {
        this.#listeners.delete(listener);
        if (this.#listeners.size === 0) this.#stopListening();
      },
    };
  }

  /** One dedicated connection LISTENs (a pooled one cannot: it is handed to others). */
  #startListening(): void {
    if (this.#closed || this.#listen || this.#listenTimer) return;
    const client = new pg.Client(this.#config);
    this.#listen = client;
    const lost = (): void => {
      if (this.#listen !== client) return;
      this.#listen = undefined;
      this.#listenLive = false;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (this.#closed || this.#listeners.size === 0) return;
      // Until it is back, the rule watch checks the version itself (live is false).
      const delay = LISTEN_BACKOFF_MS[Math.min(this.#listenAttempt++, LISTEN_BACKOFF_MS.length - 1)]!;
      this.#listenTimer = setTimeout(() => {
        this.#listenTimer = undefined;
        this.#startListening();
      }, delay);
      this.#listenTimer.unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      if (message.channel === RULES_CHANNEL && message.payload === this.#schema) this.#notify();
    });
    void (async () => {
      try {
        await this.#ready;
      } catch {
        // A store that could not open has nothing to listen to.
        this.#listen = undefined;
        return;
      }
      try {
        await client.connect();
        await client.query(`LISTEN ${RULES_CHANNEL}`);
        if (this.#listen !== client) return;
        this.#listenLive = true;
        this.#listenAttempt = 0;
        // A change may have happened while nobody listened.
        this.#notify();
      } catch {
        lost();
      }
    })();
  }

  #stopListening(): void {
    if (this.#listenTimer) clearTimeout(this.#listenTimer);
    this.#listenTimer = undefined;
    const client = this.#listen;
    this.#listen = undefined;
    this.#listenLive = false;
    client?.end().catch(() => {});
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener();
      } catch {
        // a listener's failure is its own
      }
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#listeners.clear();
      this.#stopListening();
      await this.#ready.catch(() => {});
      await this.#pool.end();
    })();
    return this.#closed;
  }
}

/** Bumps the rules version and announces it to every collector on this schema, at commit. */
async function bumpVersion(client: pg.PoolClient): Promise<number> {
  const { rows } = await client.query<{ version: number }>('UPDATE rules_version SET version = version + 1 WHERE id = 1 RETURNING version');
  await client.query(`SELECT pg_notify('${RULES_CHANNEL}', current_schema())`);
  return rows[0]!.version;
}

/**
 * Throws a coded error naming the fix unless `url` is a postgres:// or postgresql:// URL; `where` starts
 * the message (`httploop: createCollector(): pg`, `--pg`). The password never appears in it.
 */
export function checkPgUrl(url: unknown, where: string): asserts url is string {
  const example = 'postgres://user@host:5432/database';
  if (typeof url !== 'string' || url === '') {
    throw new LoopError(codes.BAD_DATABASE_URL, `${where}: the PostgreSQL URL must be a non-empty string like ${example}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LoopError(codes.BAD_DATABASE_URL, `${where}: '${redactUrl(url)}' is not a URL; use one like ${example}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new LoopError(
      codes.BAD_DATABASE_URL,
      `${where}: '${redactUrl(url)}' is not a PostgreSQL URL; use one like ${example} (a SQLite database is a file path instead: --db, or createCollector({ db }))`,
    );
  }
}

/** The URL with its password (and a `password` query parameter) replaced by `***`, for output. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL: hide whatever could be a user:password@ part.
    return url.replace(/\/\/[^/@]*@/, '//***@');
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.href;
}

function withoutNul(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function toRecord(row: { seq: number; record: string }): CaptureRecord {
  const record = JSON.parse(row.record) as CaptureRecord;
  record.seq = row.seq;
  return record;
}

