import Database from 'better-sqlite3';
import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';
import { LoopError, codes } from '../../src/errors.js';
import { asSeq, pathOf, toAgent, toSummary, type AgentRow, type SummaryRow } from './capture-fields.js';
import { migrate } from './sqlite-migrations.js';
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

/** Options for {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
}


const SUMMARY_COLUMNS =
  'seq, id, service, instance, started_at, duration_ms, method, url, status, destination, route, trace_id, aborted, error';

/**
 * The embedded store: one SQLite file (better-sqlite3, WAL). Calls are synchronous; every write is one
 * transaction that has committed (`synchronous=FULL`) when the call returns.
 */
export class SqliteStore implements CaptureStore {
  readonly file: string;
  readonly #db: Database.Database;
  readonly #insertCapture: Database.Statement;
  readonly #insertRecord: Database.Statement;
  readonly #exists: Database.Statement;
  readonly #getBySeq: Database.Statement;
  readonly #getById: Database.Statement;
  readonly #deleteBySeq: Database.Statement;
  readonly #deleteById: Database.Statement;
  readonly #count: Database.Statement;
  readonly #trace: Database.Transaction<(traceId: string, limit: number) => TraceCaptures>;
  readonly #ping: Database.Statement;
  /** List statements, one per filter shape, each prepared the first time that shape is asked for. */
  readonly #listStatements = new Map<string, Database.Statement>();
  readonly #insertBatch: Database.Transaction<(records: CaptureRecord[]) => InsertResult>;
  readonly #insertCaptureRule: Database.Statement;
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
    try {
      this.#db = new Database(file);
    } catch (err) {
      throw new LoopError(codes.STORAGE, `cannot open the database ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
      this.#db.pragma('foreign_keys = ON');
      migrate(this.#db, file);
    } catch (err) {
      this.#db.close();
      if (err instanceof LoopError) throw err;
      throw new LoopError(codes.STORAGE, `cannot use the database ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }

    this.#insertCapture = this.#db.prepare(`INSERT INTO captures
      (id, service, instance, started_at, duration_ms, method, path, url, status, destination, route,
       trace_id, aborted, error, size, received_at)
      VALUES (@id, @service, @instance, @startedAt, @durationMs, @method, @path, @url, @status,
       @destination, @route, @traceId, @aborted, @error, @size, @receivedAt)`);
    // Looked up first rather than INSERT OR IGNORE: an ignored insert still uses up an AUTOINCREMENT
    // value, and display ids should stay 1, 2, 3 when batches are retried.
    this.#exists = this.#db.prepare('SELECT 1 FROM captures WHERE id = ?').pluck();
    this.#insertRecord = this.#db.prepare('INSERT INTO capture_records (seq, record) VALUES (?, ?)');
    this.#getBySeq = this.#db.prepare(
      'SELECT r.seq AS seq, r.record AS record FROM capture_records r WHERE r.seq = ?',
    );
    this.#getById = this.#db.prepare(
      'SELECT r.seq AS seq, r.record AS record FROM captures c JOIN capture_records r ON r.seq = c.seq WHERE c.id = ?',
    );
    this.#deleteBySeq = this.#db.prepare('DELETE FROM captures WHERE seq = ?');
    this.#deleteById = this.#db.prepare('DELETE FROM captures WHERE id = ?');
    this.#count = this.#db.prepare('SELECT COUNT(*) AS n FROM captures');
    // Both through captures_trace_id (migration 1). The limit is applied before the join, so a trace
    // with very many captures (a client that sends one fixed traceparent) sorts index rows, and only
    // the kept records are read.
    const countTrace = this.#db.prepare('SELECT COUNT(*) FROM captures WHERE trace_id = ?').pluck();
    const traceRecords = this.#db.prepare(`SELECT r.seq AS seq, r.record AS record
      FROM (SELECT seq, started_at FROM captures WHERE trace_id = @traceId ORDER BY started_at, seq LIMIT @limit) c
      JOIN capture_records r ON r.seq = c.seq
      ORDER BY c.started_at, c.seq`);
    // One read transaction: the count and the records come from the same snapshot.
    this.#trace = this.#db.transaction((traceId: string, limit: number): TraceCaptures => {
      const total = countTrace.get(traceId) as number;
      if (total === 0) return { total, captures: [] };
      const rows = traceRecords.all({ traceId, limit }) as Array<{ seq: number; record: string }>;
      return { total, captures: rows.map(toRecord) };
    });
    this.#ping = this.#db.prepare('SELECT 1 AS ok');

    this.#insertCaptureRule = this.#db.prepare('INSERT INTO capture_rules (rule, seq) VALUES (?, ?)');
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

    this.#insertBatch = this.#db.transaction((records: CaptureRecord[]): InsertResult => {
      let inserted = 0;
      let duplicates = 0;
      const receivedAt = Date.now();
      for (const record of records) {
        if (this.#exists.get(record.id) !== undefined) {
          duplicates++;
          continue;
        }
        const { seq: _ignored, ...stored } = record;
        const json = JSON.stringify(stored);
        const result = this.#insertCapture.run({
          id: record.id,
          service: record.service,
          instance: record.instance,
          startedAt: Date.parse(record.startedAt),
          durationMs: record.durationMs,
          method: record.request.method,
          path: pathOf(record.request.url),
          url: record.request.url,
          status: record.response.status,
          destination: record.destination ?? '',
          route: record.route ?? null,
          traceId: record.trace?.traceId ?? null,
          aborted: record.response.aborted ? 1 : 0,
          error: record.error?.message ?? null,
          size: Buffer.byteLength(json),
          receivedAt,
        });
        this.#insertRecord.run(result.lastInsertRowid, json);
        for (const rule of new Set(record.rules)) this.#insertCaptureRule.run(rule, result.lastInsertRowid);
        inserted++;
      }
      return { inserted, duplicates };
    });
  }

  insert(records: CaptureRecord[]): InsertResult {
    // IMMEDIATE takes the write lock up front, so a concurrent writer waits (busy_timeout) instead of
    // failing half-way with SQLITE_BUSY on lock upgrade.
    return this.#insertBatch.immediate(records);
  }

  list(filter: CaptureFilter = {}): CaptureSummary[] {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (filter.status) {
      where.push('status BETWEEN @minStatus AND @maxStatus');
      params.minStatus = filter.status.min;
      params.maxStatus = filter.status.max;
    }
    if (filter.service !== undefined) {
      where.push('service = @service');
      params.service = filter.service;
    }
    if (filter.path !== undefined) {
      // GLOB is case-sensitive like paths, and a literal prefix lets SQLite use the index.
      where.push('path GLOB @pathGlob');
      params.pathGlob = `${escapeGlob(filter.path)}*`;
    }
    if (filter.since !== undefined) {
      where.push('started_at >= @since');
      params.since = filter.since;
    }
    if (filter.traceId !== undefined) {
      where.push('trace_id = @traceId');
      params.traceId = filter.traceId;
    }
    if (filter.rule !== undefined) {
      where.push('seq IN (SELECT seq FROM capture_rules WHERE rule = @rule)');
      params.rule = filter.rule;
    }
    if (filter.beforeSeq !== undefined) {
      where.push('seq < @beforeSeq');
      params.beforeSeq = filter.beforeSeq;
    }
    const order = filter.order === 'desc' ? 'DESC' : 'ASC';
    const limited = filter.limit !== undefined;
    if (limited) params.limit = filter.limit!;

    const key = `${where.join(' AND ')}|${order}|${limited}`;
    let statement = this.#listStatements.get(key);
    if (!statement) {
      const condition = where.length ? `WHERE ${where.join(' AND ')}` : '';
      // A limit keeps the newest matches; `order` only decides how they are shown.
      const sql = limited
        ? `SELECT * FROM (SELECT ${SUMMARY_COLUMNS} FROM captures ${condition} ORDER BY seq DESC LIMIT @limit) ORDER BY seq ${order}`
        : `SELECT ${SUMMARY_COLUMNS} FROM captures ${condition} ORDER BY seq ${order}`;
      statement = this.#db.prepare(sql);
      this.#listStatements.set(key, statement);
    }
    return (statement.all(params) as SummaryRow[]).map(toSummary);
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
    return (this.#count.get() as { n: number }).n;
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
    // Everything at or below `cutoff` goes (count and bytes keep the newest); and whatever is too old.
    if (policy.maxCount !== undefined) {
      const seq = this.#db
        .prepare(`SELECT seq FROM captures WHERE ${scope} ORDER BY seq DESC LIMIT 1 OFFSET @n`)
        .pluck()
        .get({ ...params, n: policy.maxCount }) as number | undefined;
      if (seq !== undefined) params.cutoff = Math.max(params.cutoff as number, seq);
    }
    if (policy.maxBytes !== undefined) {
      const seq = this.#db
        .prepare(`SELECT seq FROM (SELECT seq, SUM(size) OVER (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING) AS total
          FROM captures WHERE ${scope}) WHERE total > @maxBytes ORDER BY seq DESC LIMIT 1`)
        .pluck()
        .get({ ...params, maxBytes: policy.maxBytes }) as number | undefined;
      if (seq !== undefined) params.cutoff = Math.max(params.cutoff as number, seq);
    }
    if (policy.maxAgeMs !== undefined) params.ageCut = now - policy.maxAgeMs;
    const doomed = `${scope} AND (seq <= @cutoff OR received_at < @ageCut)`;
    if (dryRun) {
      const row = this.#db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM captures WHERE ${doomed}`).get(params) as {
        n: number;
        bytes: number;
      };
      return { deleted: row.n, bytes: row.bytes };
    }
    const batch = this.#db.prepare(
      `DELETE FROM captures WHERE seq IN (SELECT seq FROM captures WHERE ${doomed} ORDER BY seq LIMIT @batch) RETURNING size`,
    );
    const result: PruneResult = { deleted: 0, bytes: 0 };
    for (;;) {
      const sizes = this.#db.transaction(() => batch.pluck().all(params) as number[]).immediate();
      result.deleted += sizes.length;
      for (const size of sizes) result.bytes += size;
      if (sizes.length < batchSize) return result;
      // Between transactions, requests get their turn.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  services(): string[] {
    return this.#db.prepare('SELECT DISTINCT service FROM captures ORDER BY service').pluck().all() as string[];
  }

  storedBytes(): number {
    return this.#db.prepare('SELECT COALESCE(SUM(size), 0) FROM captures').pluck().get() as number;
  }

  ping(): boolean {
    try {
      return (this.#ping.get() as { ok: number }).ok === 1;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function toRecord(row: { seq: number; record: string }): CaptureRecord {
  const record = JSON.parse(row.record) as CaptureRecord;
  record.seq = row.seq;
  return record;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[]/g, (c) => `[${c}]`);
}

