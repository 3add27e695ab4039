import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';
import { LoopError, codes } from '../../src/errors.js';
import { asSeq, listedValues, storedJsonOf, toAgent, toSummary, type AgentRow } from './capture-fields.js';
import { SqliteLister, TRACE_CAPTURES, TRACE_MATCH, traceBucketParams } from './sqlite-list.js';
import { migrate } from './sqlite-migrations.js';
import { configureConnection, createGroupInsert, type WriterAnswer, type WriterBatch } from './sqlite-insert.js';
import type { TapConfig } from '../../src/match/tapconfig.js';
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
  StoredTapConfig,
  TraceCaptures,
} from './types.js';

export { pathOf } from './capture-fields.js';

/**
 * The writer thread's module: built next to the bundles (dist/collector/sqlite-writer.js, for
 * dist/collector/index.* and dist/collector/cli/loopctl.js), or the source beside this file when run
 * from source (through tsx's API: see startWriterThread).
 */
const WRITER = ((): URL => {
  const candidates = ['./sqlite-writer.js', '../sqlite-writer.js', './sqlite-writer.ts'].map((c) => new URL(c, import.meta.url));
  return candidates.find((url) => existsSync(url)) ?? candidates[0]!;
})();

function storageError(file: string, why: string): LoopError {
  return new LoopError(codes.STORAGE, `cannot store captures in ${file}: ${why}`);
}

function startWriterThread(workerData: unknown): Worker {
  if (!WRITER.pathname.endsWith('.ts')) return new Worker(WRITER, { workerData });
  // From source (the tests, under tsx): Node 20 does not apply `--import` hooks to a worker's entry
  // module (nodejs/node#47747, fixed in 22), so the thread imports the source through tsx's API.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(WRITER.href)}, ${JSON.stringify(WRITER.href)}));`;
  return new Worker(code, { eval: true, workerData });
}

/** Options for {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
}


const SUMMARY_COLUMNS =
  'seq, id, service, instance, started_at, duration_ms, method, url, status, destination, route, trace_id, aborted, error';

/**
 * The embedded store: one SQLite file (better-sqlite3, WAL). Reads and the other writes are synchronous
 * calls on this thread; captures are written by a thread of their own (sqlite-writer.ts) on a second
 * connection, so that the wait for the disk on every commit leaves this thread free to take the next
 * batches. Every write has committed (`synchronous=FULL`) when its call returns or its promise resolves.
 */
export class SqliteStore implements CaptureStore {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #getBySeq: Database.Statement;
  readonly #getById: Database.Statement;
  readonly #deleteBySeq: Database.Statement;
  readonly #deleteById: Database.Statement;
  readonly #trace: Database.Transaction<(traceId: string, limit: number) => TraceCaptures>;
  readonly #ping: Database.Statement;
  /** Plans and runs listings (sqlite-list.ts); made on the first one. */
  #lister: SqliteLister | undefined;
  /** services(), prepared on first use. */
  #services: Database.Statement | undefined;
  /** The count and stored bytes of all captures (capture_totals): count(), storedBytes() and prune. */
  readonly #totals: Database.Statement;
  readonly #busyTimeoutMs: number;
  /** The capture writer (sqlite-writer.ts), started on the first insert and again after it failed. */
  #writer: Worker | undefined;
  /** For an in-memory database, which no other connection sees: inserts on this connection instead. */
  readonly #inline: ((group: WriterBatch[]) => WriterAnswer[]) | undefined;
  /** Inserts sent to the writer and not answered yet, by batch id. */
  readonly #pending = new Map<number, { resolve: (result: InsertResult) => void; reject: (err: Error) => void }>();
  #nextBatch = 1;
  #closed: Promise<void> | undefined;
  readonly #rulesVersion: Database.Statement;
  readonly #bumpVersion: Database.Statement;
  readonly #listTapConfigs: Database.Statement;
  readonly #getTapConfig: Database.Statement;
  readonly #upsertTapConfig: Database.Statement;
  readonly #deleteTapConfig: Database.Statement;
  readonly #countByRule: Database.Statement;
  readonly #upsertAgent: Database.Statement;
  readonly #listAgents: Database.Statement;
  readonly #apply: Database.Transaction<(configs: TapConfig[]) => ApplyResult>;
  readonly #delete: Database.Transaction<(name: string) => number | undefined>;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.file = file;
    this.#busyTimeoutMs = Math.trunc(options.busyTimeoutMs ?? 5000);
    try {
      this.#db = new Database(file);
    } catch (err) {
      throw new LoopError(codes.STORAGE, `cannot open the database ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      configureConnection(this.#db, this.#busyTimeoutMs);
      migrate(this.#db, file);
    } catch (err) {
      this.#db.close();
      if (err instanceof LoopError) throw err;
      throw new LoopError(codes.STORAGE, `cannot use the database ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }

    this.#inline = file === ':memory:' || file === '' ? createGroupInsert(this.#db) : undefined;
    this.#getBySeq = this.#db.prepare(
      'SELECT r.seq AS seq, r.record AS record FROM capture_records r WHERE r.seq = ?',
    );
    this.#getById = this.#db.prepare(
      'SELECT r.seq AS seq, r.record AS record FROM captures c JOIN capture_records r ON r.seq = c.seq WHERE c.id = ?',
    );
    this.#deleteBySeq = this.#db.prepare('DELETE FROM captures WHERE seq = ?');
    this.#deleteById = this.#db.prepare('DELETE FROM captures WHERE id = ?');
    // capture_totals moves in every insert's (sqlite-insert.ts) and delete's (trigger) transaction (migration 3).
    this.#totals = this.#db.prepare('SELECT captures, bytes FROM capture_totals WHERE id = 1');
    // Through captures_trace, bucket by bucket (migration 4), in one walk: the count is a window over
    // all matches, and the limit is applied before the join, so a trace with very many captures (a
    // client that sends one fixed traceparent) sorts index rows, and only the kept records are read.
    const traceRecords = this.#db.prepare(`SELECT r.seq AS seq, r.record AS record, c.total AS total
      FROM (SELECT c.seq AS seq, c.started_at AS started_at, COUNT(*) OVER () AS total
            FROM ${TRACE_CAPTURES} WHERE ${TRACE_MATCH.join(' AND ')}
            ORDER BY c.started_at, c.seq LIMIT @limit) c
      JOIN capture_records r ON r.seq = c.seq
      ORDER BY c.started_at, c.seq`);
    // Two subqueries: SQLite answers MIN or MAX alone from the end of the primary key, both in one
    // SELECT by reading every row.
    const seqs = this.#db.prepare('SELECT (SELECT MIN(seq) FROM captures) AS oldest, (SELECT MAX(seq) FROM captures) AS newest');
    // One read transaction: the bounds and the records come from the same snapshot.
    this.#trace = this.#db.transaction((traceId: string, limit: number): TraceCaptures => {
      const { oldest, newest } = seqs.get() as { oldest: number | null; newest: number | null };
      if (oldest === null || newest === null) return { total: 0, captures: [] };
      const rows = traceRecords.all({ traceId, limit, ...traceBucketParams(oldest, newest) }) as Array<{ seq: number; record: string; total: number }>;
      return { total: rows[0]?.total ?? 0, captures: rows.map(toRecord) };
    });
    this.#ping = this.#db.prepare('SELECT 1 AS ok');

    this.#rulesVersion = this.#db.prepare('SELECT version FROM rules_version WHERE id = 1').pluck();
    this.#bumpVersion = this.#db.prepare('UPDATE rules_version SET version = version + 1 WHERE id = 1 RETURNING version').pluck();
    this.#listTapConfigs = this.#db.prepare(
      'SELECT resource, version, created_at, updated_at FROM tapconfigs ORDER BY name',
    );
    this.#getTapConfig = this.#db.prepare('SELECT resource FROM tapconfigs WHERE name = ?').pluck();
    this.#upsertTapConfig = this.#db.prepare(`INSERT INTO tapconfigs (name, namespace, resource, version, created_at, updated_at)
      VALUES (@name, @namespace, @resource, @version, @now, @now)
      ON CONFLICT (name) DO UPDATE SET namespace = excluded.namespace, resource = excluded.resource,
        version = excluded.version, updated_at = excluded.updated_at`);
    this.#deleteTapConfig = this.#db.prepare('DELETE FROM tapconfigs WHERE name = ?');
    this.#countByRule = this.#db.prepare('SELECT rule, COUNT(*) AS n FROM capture_rules GROUP BY rule');
    this.#upsertAgent = this.#db.prepare(`INSERT INTO agents (service, instance, version, source, seen_at)
      VALUES (@service, @instance, @version, @source, @seenAt)
      ON CONFLICT (service, instance) DO UPDATE SET version = excluded.version, source = excluded.source,
        seen_at = excluded.seen_at`);
    this.#listAgents = this.#db.prepare(
      'SELECT service, instance, version, source, seen_at FROM agents WHERE seen_at >= ? ORDER BY service, instance',
    );
    this.#apply = this.#db.transaction((configs: TapConfig[]): ApplyResult => {
      const now = Date.now();
      const results: ApplyResult['results'] = [];
      let version = this.#rulesVersion.get() as number;
      const changed: TapConfig[] = [];
      for (const config of configs) {
        const name = config.metadata.name;
        const before = this.#getTapConfig.get(name) as string | undefined;
        const resource = JSON.stringify(config);
        const action: ApplyAction = before === undefined ? 'created' : before === resource ? 'unchanged' : 'configured';
        results.push({ name, action });
        if (action !== 'unchanged') changed.push(config);
      }
      if (changed.length > 0) {
        version = this.#bumpVersion.get() as number;
        for (const config of changed) {
          this.#upsertTapConfig.run({
            name: config.metadata.name,
            namespace: config.metadata.namespace ?? null,
            resource: JSON.stringify(config),
            version,
            now,
          });
        }
      }
      return { version, results };
    });
    this.#delete = this.#db.transaction((name: string): number | undefined => {
      if (this.#deleteTapConfig.run(name).changes === 0) return undefined;
      return this.#bumpVersion.get() as number;
    });

  }

  /**
   * Stores a batch: resolves once its transaction has committed (`synchronous=FULL`), with how many
   * were new and how many were already stored (same capture id). The records are serialized here and
   * written by the writer thread (sqlite-writer.ts), which may commit several batches in one
   * transaction; each is answered with its own counts.
   */
  insert(records: CaptureRecord[], json?: readonly string[]): Promise<InsertResult> {
    if (this.#closed !== undefined) return Promise.reject(new LoopError(codes.STORAGE, `the store ${this.file} is closed`));
    if (records.length === 0) return Promise.resolve({ inserted: 0, duplicates: 0 });
    const batch: WriterBatch = { id: this.#nextBatch++, ids: [], listed: [], json: [], rules: [], sizes: [] };
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const stored = storedJsonOf(record, json?.[i]);
      const size = Buffer.byteLength(stored);
      batch.ids.push(record.id);
      batch.listed.push(listedValues(record, size));
      batch.json.push(stored);
      batch.sizes.push(size);
      const rules = record.rules;
      batch.rules.push(rules === undefined || rules.length === 0 ? null : rules.length === 1 ? [rules[0]!] : [...new Set(rules)]);
    }
    if (this.#inline !== undefined) {
      try {
        const answer = this.#inline([batch])[0] as InsertResult;
        return Promise.resolve({ inserted: answer.inserted, duplicates: answer.duplicates });
      } catch (err) {
        return Promise.reject(storageError(this.file, (err as Error).message));
      }
    }
    return new Promise<InsertResult>((resolve, reject) => {
      const writer = this.#writerNow();
      if (this.#pending.size === 0) writer.ref();
      this.#pending.set(batch.id, { resolve, reject });
      writer.postMessage(batch);
    });
  }

  /** The writer thread, started when there is none (the first insert, or after it failed). */
  #writerNow(): Worker {
    if (this.#writer !== undefined) return this.#writer;
    const writer = startWriterThread({ httploopSqliteWriter: { file: this.file, busyTimeoutMs: this.#busyTimeoutMs } });
    writer.unref(); // ref'd only while an insert waits: an idle store never keeps a process alive
    writer.on('message', (answer: WriterAnswer) => {
      const waiting = this.#pending.get(answer.id);
      if (waiting === undefined) return;
      this.#pending.delete(answer.id);
      if (this.#pending.size === 0 && this.#closed === undefined) writer.unref();
      if ('error' in answer) waiting.reject(storageError(this.file, answer.error));
      else waiting.resolve({ inserted: answer.inserted, duplicates: answer.duplicates });
    });
    // A writer that could not open the database, or died: what it held fails (the senders retry), and
    // the next insert starts another.
    const gone = (why: string): void => {
      if (this.#writer !== writer) return;
      this.#writer = undefined;
      const failed = [...this.#pending.values()];
      this.#pending.clear();
      for (const waiting of failed) waiting.reject(storageError(this.file, why));
    };
    writer.on('error', (err) => gone(err.message));
    writer.on('exit', (code) => gone(`the writer thread exited (${code})`));
    this.#writer = writer;
    return writer;
  }

  list(filter: CaptureFilter = {}): CaptureSummary[] {
    this.#lister ??= new SqliteLister(this.#db);
    return this.#lister.list(filter).map(toSummary);
  }

  get(idOrSeq: string | number): CaptureRecord | undefined {
    const seq = asSeq(idOrSeq);
    const row = (seq !== undefined ? this.#getBySeq.get(seq) : this.#getById.get(String(idOrSeq))) as
      | { seq: number; record: string }
      | undefined;
    return row ? toRecord(row) : undefined;
  }

  trace(traceId: string, limit: number): TraceCaptures {
    return this.#trace(traceId, limit);
  }

  delete(idOrSeq: string | number): boolean {
    const seq = asSeq(idOrSeq);
    const result = seq !== undefined ? this.#deleteBySeq.run(seq) : this.#deleteById.run(String(idOrSeq));
    return result.changes > 0;
  }

  count(): number {
    return this.#totalsNow().captures;
  }

  listTapConfigs(): StoredTapConfig[] {
    return (this.#listTapConfigs.all() as Array<{ resource: string; version: number; created_at: number; updated_at: number }>).map(
      (row) => ({
        resource: JSON.parse(row.resource) as TapConfig,
        version: row.version,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      }),
    );
  }

  applyTapConfigs(configs: TapConfig[]): ApplyResult {
    return this.#apply.immediate(configs);
  }

  deleteTapConfig(name: string): number | undefined {
    return this.#delete.immediate(name);
  }

  rulesVersion(): number {
    return this.#rulesVersion.get() as number;
  }

  countByRule(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.#countByRule.all() as Array<{ rule: string; n: number }>) out[row.rule] = row.n;
    return out;
  }

  recordAgent(agent: AgentState): void {
    this.#upsertAgent.run(agent);
  }

  listAgents(since: number): AgentState[] {
    return (this.#listAgents.all(since) as AgentRow[]).map(toAgent);
  }

  async prune(policy: PrunePolicy, options: PruneOptions = {}): Promise<PruneResult> {
    const { batchSize = 1000, dryRun = false, now = Date.now() } = options;
    const scope = policy.service !== undefined ? 'service = @service' : '1 = 1';
    const params: Record<string, string | number> = { cutoff: 0, ageCut: -1, batch: batchSize };
    if (policy.service !== undefined) params.service = policy.service;
    // Over all captures, the totals say at once whether a count or bytes limit is reached at all;
    // finding the cut reads as many captures as the limit keeps.
    const overall = policy.service === undefined ? this.#totalsNow() : undefined;
    // Everything at or below `cutoff` goes (count and bytes keep the newest); and whatever is too old.
    if (policy.maxCount !== undefined && !(overall && overall.captures <= policy.maxCount)) {
      const seq = this.#db
        .prepare(`SELECT seq FROM captures WHERE ${scope} ORDER BY seq DESC LIMIT 1 OFFSET @n`)
        .pluck()
        .get({ ...params, n: policy.maxCount }) as number | undefined;
      if (seq !== undefined) params.cutoff = Math.max(params.cutoff as number, seq);
    }
    if (policy.maxBytes !== undefined && !(overall && overall.bytes <= policy.maxBytes)) {
      const seq = this.#db
        .prepare(`SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING) AS total
          FROM captures WHERE ${scope}) WHERE total > @maxBytes ORDER BY seq DESC LIMIT 1`)
        .pluck()
        .get({ ...params, maxBytes: policy.maxBytes }) as number | undefined;
      if (seq !== undefined) params.cutoff = Math.max(params.cutoff as number, seq);
    }
    if (policy.maxAgeMs !== undefined) params.ageCut = now - policy.maxAgeMs;
    // Two parts, each read through its own index so that finding nothing to prune reads nothing: up to
    // the cut by display id, then (above it) what was received too long ago, by captures_received_at.
    const upToCut = `${scope} AND seq <= @cutoff`;
    const tooOld = `${scope} AND received_at < @ageCut AND seq > @cutoff`;
    if (dryRun) {
      const row = this.#db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM captures WHERE ${upToCut}) + (SELECT COUNT(*) FROM captures INDEXED BY captures_received_at WHERE ${tooOld}) AS n,
             (SELECT COALESCE(SUM(size), 0) FROM captures WHERE ${upToCut}) + (SELECT COALESCE(SUM(size), 0) FROM captures INDEXED BY captures_received_at WHERE ${tooOld}) AS bytes`,
        )
        .get(params) as { n: number; bytes: number };
      return { deleted: row.n, bytes: row.bytes };
    }
    const result: PruneResult = { deleted: 0, bytes: 0 };
    const parts = [
      { skip: params.cutoff === 0, sql: `SELECT seq FROM captures WHERE ${upToCut} ORDER BY seq LIMIT @batch` },
      { skip: policy.maxAgeMs === undefined, sql: `SELECT seq FROM captures INDEXED BY captures_received_at WHERE ${tooOld} ORDER BY received_at LIMIT @batch` },
    ];
    for (const part of parts) {
      if (part.skip) continue;
      const batch = this.#db.prepare(`DELETE FROM captures WHERE seq IN (${part.sql}) RETURNING size`).pluck();
      for (;;) {
        const sizes = this.#db.transaction(() => batch.all(params) as number[]).immediate();
        result.deleted += sizes.length;
        for (const size of sizes) result.bytes += size;
        if (sizes.length < batchSize) break;
        // Between transactions, requests get their turn.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return result;
  }

  services(): string[] {
    // One index seek per service (a loose index scan), not a read of every capture's service.
    this.#services ??= this.#db
      .prepare(
        `WITH RECURSIVE s(name) AS (
           SELECT (SELECT MIN(service) FROM captures)
           UNION ALL
           SELECT (SELECT MIN(service) FROM captures WHERE service > s.name) FROM s WHERE s.name IS NOT NULL)
         SELECT name FROM s WHERE name IS NOT NULL`,
      )
      .pluck();
    return this.#services.all() as string[];
  }

  storedBytes(): number {
    return this.#totalsNow().bytes;
  }

  #totalsNow(): { captures: number; bytes: number } {
    return this.#totals.get() as { captures: number; bytes: number };
  }

  ping(): boolean {
    try {
      return (this.#ping.get() as { ok: number }).ok === 1;
    } catch {
      return false;
    }
  }

  /** Waits for the inserts under way (each commits or fails), stops the writer, closes the database. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const writer = this.#writer;
      if (writer !== undefined) {
        writer.ref();
        // The writer closes its connection and exits once every batch it was sent is answered.
        await new Promise<void>((resolve) => {
          writer.once('exit', () => resolve());
          writer.postMessage('close');
        });
      }
      if (this.#db.open) this.#db.close();
    })();
    return this.#closed;
  }
}

/**
 * The record as stored: as sent, without a display id (`seq` is the database's). Serialized as is when it
 * has none (ingested captures): copying every record without it costs more than the JSON itself.
 */
function toRecord(row: { seq: number; record: string }): CaptureRecord {
  const record = JSON.parse(row.record) as CaptureRecord;
  record.seq = row.seq;
  return record;
}

