import type Database from 'better-sqlite3';
import type { SummaryRow } from './capture-fields.js';
import type { CaptureFilter } from './types.js';

/**
 * "The newest N captures matching a filter" for SqliteStore.list, planned here rather than left to
 * SQLite's planner, which has no statistics (nobody runs ANALYZE on a collector's file) and picks, for
 * `status BETWEEN 500 AND 599 ORDER BY seq DESC LIMIT 100`, the status index and a sort of every 5xx.
 *
 * Two steps, in one read transaction (one snapshot):
 *  1. The newest rows (a window of display ids just below where the page starts), read through the
 *     primary key and filtered. When matches are common this finds all N after reading a few thousand
 *     rows, whatever the filter.
 *  2. Only if it found fewer: the rest, below the window, through the index of the most selective
 *     filter, read so that only (or mostly) matching index entries are visited: an equality (trace id,
 *     rule, service) walks its index newest first; a status range is walked one status at a time (a
 *     range holds a handful of distinct statuses), together with the service and the path prefix when
 *     there are, through (service, status, path) and (status, path). Display ids are taken from index
 *     entries, and only the rows kept are read.
 *
 * Step 2 reads about as many entries as there are matches below the window; it is slow only for a
 * filter with many old matches and almost none recent (a path prefix whose traffic stopped yesterday).
 */

const COLUMNS = ['seq', 'id', 'service', 'instance', 'started_at', 'duration_ms', 'method', 'url', 'status', 'destination', 'route', 'trace_id', 'aborted', 'error']
  .map((c) => `c.${c}`)
  .join(', ');

/**
 * A trace's captures `c`, through captures_trace (migration 4, keyed by `seq >> 10`, buckets of 1024
 * display ids): the buckets from @newestBucket down to @oldestBucket (traceBucketParams) as rows `b.v`,
 * each joined with one index seek on TRACE_MATCH. The bounds are parameters, not subqueries: with
 * `(SELECT MAX(seq) ...)` in the recursive CTE the same lookup took 6-9 ms instead of 1-2 at a million
 * captures.
 */
export const TRACE_CAPTURES =
  '(WITH RECURSIVE k(v) AS (SELECT @newestBucket UNION ALL SELECT v - 1 FROM k WHERE v > @oldestBucket) SELECT v FROM k) AS b ' +
  'CROSS JOIN captures AS c INDEXED BY captures_trace';

/** The conditions that pick trace @traceId's captures in TRACE_CAPTURES. */
export const TRACE_MATCH = ['(c.seq >> 10) = b.v', 'c.trace_id = @traceId'];

/** The parameters of TRACE_CAPTURES for display ids from `oldestSeq` to `newestSeq`. */
export function traceBucketParams(oldestSeq: number, newestSeq: number): { oldestBucket: number; newestBucket: number } {
  return { oldestBucket: Math.floor(oldestSeq / 1024), newestBucket: Math.floor(newestSeq / 1024) };
}

/** Filters that can be applied to a row as it is read, beside the one that chose the index. */
type Column = 'status' | 'service' | 'path' | 'since' | 'traceId' | 'rule' | 'beforeSeq';

type Params = Record<string, string | number>;

const ALL: Column[] = ['status', 'service', 'path', 'since', 'traceId', 'rule', 'beforeSeq'];

/** How far a choice between two indexes counts entries: beyond this, both are "many". */
const COUNT_CAP = 20_000;

/** One way to find the newest matches below the window. */
interface Way {
  /** Index entries it would read (at most COUNT_CAP per status). */
  entries(): number;
  /** The display ids of the newest matches, newest first. */
  seqs(): number[];
}

export class SqliteLister {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #maxSeq: Database.Statement;
  readonly #minSeq: Database.Statement;
  readonly #newestIn: Database.Transaction<(filter: CaptureFilter, limit: number) => SummaryRow[]>;

  readonly #window: number | undefined;

  /** `window`: how many display ids step 1 reads (default: from the limit); tests make it small. */
  constructor(db: Database.Database, options: { window?: number } = {}) {
    this.#db = db;
    this.#window = options.window;
    this.#maxSeq = db.prepare('SELECT MAX(seq) FROM captures').pluck();
    this.#minSeq = db.prepare('SELECT MIN(seq) FROM captures').pluck();
    // Deferred: reads only, and both steps see the same captures.
    this.#newestIn = db.transaction((filter: CaptureFilter, limit: number) => this.#newest(filter, limit));
  }

  /** Summary rows matching `filter`, in the order it asks for (newest `limit` when it has one). */
  list(filter: CaptureFilter): SummaryRow[] {
    if (filter.limit === undefined) return this.#all(filter);
    const limit = filter.limit;
    if (limit <= 0) return [];
    const rows = this.#newestIn(filter, limit);
    return filter.order === 'desc' ? rows : rows.reverse();
  }

  /** Everything matching, in table order (bulk replay, an export). */
  #all(filter: CaptureFilter): SummaryRow[] {
    const params: Params = {};
    const where = conditions(filter, new Set(), params);
    const order = filter.order === 'desc' ? 'DESC' : 'ASC';
    return this.#statement(`SELECT ${COLUMNS} FROM captures AS c ${whereOf(where)} ORDER BY c.seq ${order}`).all(params) as SummaryRow[];
  }

  #newest(filter: CaptureFilter, limit: number): SummaryRow[] {
    const top = ((this.#maxSeq.get() as number | null) ?? 0) + 1;
    const hi = filter.beforeSeq !== undefined ? Math.min(filter.beforeSeq, top) : top;
    if (hi <= 1) return [];
    const lo = Math.max(1, hi - (this.#window ?? windowFor(limit)));
    const params: Params = { lo, hi, limit };
    const where = ['c.seq >= @lo', 'c.seq < @hi', ...conditions(filter, new Set(['beforeSeq']), params)];
    // NOT INDEXED: through the primary key, newest first (rowid lookups stay allowed).
    const recent = this.#statement(`SELECT ${COLUMNS} FROM captures AS c NOT INDEXED ${whereOf(where)} ORDER BY c.seq DESC LIMIT @limit`).all(
      params,
    ) as SummaryRow[];
    if (recent.length >= limit || lo <= 1) return recent;
    return recent.concat(this.#older(filter, lo, limit - recent.length));
  }

  /**
   * The newest `limit` matches below display id `lo`, through the index that fits the filter. Each way
   * first finds display ids from index entries (reading a capture's row only for a filter its index
   * lacks), then reads the rows of the `limit` it keeps.
   */
  #older(filter: CaptureFilter, lo: number, limit: number): SummaryRow[] {
    const ways = this.#ways(filter, lo, limit);
    let way = ways[0]!;
    if (ways.length > 1) {
      // Two indexes could answer (a service and a path prefix, a rule and a service): take the one with
      // fewer entries to read, counted up to a bound in the index alone.
      let fewest = Infinity;
      for (const candidate of ways) {
        const entries = candidate.entries();
        if (entries < fewest) [way, fewest] = [candidate, entries];
      }
    }
    const seqs = way.seqs();
    if (seqs.length === 0) return [];
    return this.#statement(`SELECT ${COLUMNS} FROM captures AS c WHERE c.seq IN (SELECT value FROM json_each(@seqs)) ORDER BY c.seq DESC`).all({
      seqs: JSON.stringify(seqs),
    }) as SummaryRow[];
  }

  /** The ways to answer #older for this filter, the usually best first. */
  #ways(filter: CaptureFilter, lo: number, limit: number): Way[] {
    const ways: Way[] = [];
    const base: Params = { lo, limit, cap: COUNT_CAP };
    // `from` and `driver` pick the index; `used` are the filters it applies; the rest are checked per row.
    const way = (from: string, driver: string[], used: Column[], statuses?: () => number[], order = 'c.seq'): Way => {
      const params: Params = { ...base };
      const rest = conditions(filter, new Set<Column>(['beforeSeq', ...used]), params);
      // The driver's own values (named as in conditions(), which fills them in when not skipped).
      conditions(filter, new Set<Column>(['beforeSeq', ...ALL.filter((c) => !used.includes(c))]), params);
      const where = whereOf([...driver, ...rest]);
      const seqSql = `SELECT ${order} FROM ${from} ${where} ORDER BY ${order} DESC LIMIT @limit`;
      // Counted in the index alone (a rule's in capture_rules, without the join).
      const countSql = `SELECT COUNT(*) FROM (SELECT 1 FROM ${from.replace(/ CROSS JOIN .*$/, '')} ${whereOf(driver)} LIMIT @cap)`;
      const each = (status?: number): Params => (status === undefined ? params : { ...params, status });
      return {
        entries: () => {
          if (!statuses) return this.#statement(countSql).pluck().get(params) as number;
          let n = 0;
          for (const status of statuses()) {
            n += this.#statement(countSql).pluck().get({ ...each(status), cap: COUNT_CAP - n }) as number;
            if (n >= COUNT_CAP) break;
          }
          return n;
        },
        seqs: () => {
          if (!statuses) return this.#statement(seqSql).pluck().all(params) as number[];
          const seqs = statuses().flatMap((status) => this.#statement(seqSql).pluck().all(each(status)) as number[]);
          return seqs.sort((a, b) => b - a).slice(0, limit);
        },
      };
    };
    const allStatuses = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
    const once = <T>(get: () => T): (() => T) => {
      let value: T | undefined;
      return () => (value ??= get());
    };

    if (filter.traceId !== undefined) {
      Object.assign(base, traceBucketParams((this.#minSeq.get() as number | null) ?? lo, lo - 1));
      return [way(TRACE_CAPTURES, [...TRACE_MATCH, 'c.seq < @lo'], ['traceId'])];
    }
    if (filter.service !== undefined && (filter.status || filter.path !== undefined)) {
      // Within one service and status, the entries of the path prefix are exactly the matches.
      ways.push(
        way(
          'captures AS c INDEXED BY captures_service_status_path',
          ['c.service = @service', 'c.status = @status', ...(filter.path !== undefined ? ['c.path GLOB @pathGlob'] : []), 'c.seq < @lo'],
          ['service', 'status', 'path'],
          once(() => this.#statuses(filter.status ?? allStatuses, filter.service)),
        ),
      );
    } else if (filter.service !== undefined) {
      ways.push(way('captures AS c INDEXED BY captures_service', ['c.service = @service', 'c.seq < @lo'], ['service']));
    } else if (filter.path !== undefined) {
      // Within one status, the entries of the path prefix are exactly the matches (sorted by seq after).
      ways.push(
        way(
          'captures AS c INDEXED BY captures_status_path',
          ['c.status = @status', 'c.path GLOB @pathGlob', 'c.seq < @lo'],
          ['status', 'path'],
          once(() => this.#statuses(filter.status ?? allStatuses)),
        ),
      );
    }
    if (filter.rule !== undefined) {
      // CROSS JOIN keeps capture_rules outside: its (rule, seq) key is walked newest first. The join is
      // only there for the other filters.
      const others = conditions(filter, new Set<Column>(['beforeSeq', 'rule']), {}).length > 0;
      ways.push(way(others ? 'capture_rules AS r CROSS JOIN captures AS c ON c.seq = r.seq' : 'capture_rules AS r', ['r.rule = @rule', 'r.seq < @lo'], ['rule'], undefined, 'r.seq'));
    }
    if (ways.length > 0) return ways;
    if (filter.status) {
      return [way('captures AS c INDEXED BY captures_status', ['c.status = @status', 'c.seq < @lo'], ['status'], once(() => this.#statuses(filter.status!)))];
    }
    if (filter.since !== undefined) {
      return [way('captures AS c INDEXED BY captures_started_at', ['c.started_at >= @since', 'c.seq < @lo'], ['since'])];
    }
    return [way('captures AS c', ['c.seq < @lo'], [])];
  }

  /** The distinct statuses stored in `range` (for one service), each found with one index seek. */
  #statuses(range: { min: number; max: number }, service?: string): number[] {
    const scope = service !== undefined ? 'service = @service AND ' : '';
    const sql = `WITH RECURSIVE s(v) AS (
        SELECT (SELECT MIN(status) FROM captures WHERE ${scope}status BETWEEN @min AND @max)
        UNION ALL
        SELECT (SELECT MIN(status) FROM captures WHERE ${scope}status > s.v AND status <= @max) FROM s WHERE s.v IS NOT NULL)
      SELECT v FROM s WHERE v IS NOT NULL`;
    const params: Params = { min: range.min, max: range.max };
    if (service !== undefined) params.service = service;
    return this.#statement(sql).pluck().all(params) as number[];
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** How many display ids step 1 reads: enough to fill a page from a filter that matches 1 capture in 100. */
function windowFor(limit: number): number {
  return Math.min(100_000, Math.max(10_000, limit * 100));
}

/** The filter's conditions on `captures AS c`, except those in `skip`; their values go into `params`. */
function conditions(filter: CaptureFilter, skip: Set<Column>, params: Params): string[] {
  const where: string[] = [];
  if (filter.status && !skip.has('status')) {
    where.push('c.status BETWEEN @minStatus AND @maxStatus');
    params.minStatus = filter.status.min;
    params.maxStatus = filter.status.max;
  }
  if (filter.service !== undefined && !skip.has('service')) {
    where.push('c.service = @service');
    params.service = filter.service;
  }
  if (filter.path !== undefined && !skip.has('path')) {
    // GLOB is case-sensitive like paths, and a literal prefix lets SQLite use an index.
    where.push('c.path GLOB @pathGlob');
    params.pathGlob = `${escapeGlob(filter.path)}*`;
  }
  if (filter.since !== undefined && !skip.has('since')) {
    where.push('c.started_at >= @since');
    params.since = filter.since;
  }
  if (filter.traceId !== undefined && !skip.has('traceId')) {
    where.push('c.trace_id = @traceId');
    params.traceId = filter.traceId;
  }
  if (filter.rule !== undefined && !skip.has('rule')) {
    // One key lookup per row read, rather than collecting every capture of the rule first.
    where.push('EXISTS (SELECT 1 FROM capture_rules r WHERE r.rule = @rule AND r.seq = c.seq)');
    params.rule = filter.rule;
  }
  if (filter.beforeSeq !== undefined && !skip.has('beforeSeq')) {
    where.push('c.seq < @beforeSeq');
    params.beforeSeq = filter.beforeSeq;
  }
  return where;
}

function whereOf(where: string[]): string {
  return where.length ? `WHERE ${where.join(' AND ')}` : '';
}

export function escapeGlob(text: string): string {
  return text.replace(/[*?[]/g, (c) => `[${c}]`);
}
