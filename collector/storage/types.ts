import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';

/** Filters shared by `GET /v1/captures`, `loopctl list` and bulk replay. */
export interface CaptureFilter {
  /** `5xx`-style class or an exact status (`500`). */
  status?: { min: number; max: number };
  service?: string;
  /** Path prefix, matched against the path of the request URL (no query). */
  path?: string;
  /** Only captures that started at or after this time (epoch ms). */
  since?: number;
  traceId?: string;
  /** At most this many, newest first unless `order` says otherwise. */
  limit?: number;
  /** `asc` lists in arrival order (the table), `desc` newest first. Default `asc`. */
  order?: 'asc' | 'desc';
}

export interface InsertResult {
  /** Captures stored by this call. */
  inserted: number;
  /** Captures whose id was already stored (a retried batch): acknowledged again, not stored twice. */
  duplicates: number;
}

/**
 * What a collector needs from its database. SQLite implements it today; PostgreSQL will implement the
 * same interface and run the same conformance tests. Methods may be synchronous or not: callers await.
 */
export interface CaptureStore {
  /** Stores a batch in one transaction; resolves only after commit. Idempotent on `record.id`. */
  insert(records: CaptureRecord[]): Promise<InsertResult> | InsertResult;
  /** Summaries in table order. */
  list(filter: CaptureFilter): Promise<CaptureSummary[]> | CaptureSummary[];
  /** By display id (`seq`, a small integer) or by capture id (nanoid). */
  get(idOrSeq: string | number): Promise<CaptureRecord | undefined> | CaptureRecord | undefined;
  delete(idOrSeq: string | number): Promise<boolean> | boolean;
  count(): Promise<number> | number;
  /** True when the database answers. */
  ping(): Promise<boolean> | boolean;
  close(): Promise<void> | void;
}
