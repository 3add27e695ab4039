import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';
import type { RuleSource } from '../../src/match/rule-set.js';
import type { TapConfig } from '../../src/match/tapconfig.js';

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
  /** Only captures that this rule (a TapConfig name) is among the reasons for. */
  rule?: string;
  /** Only captures with a display id below this one: the next page of an older-first walk (the console). */
  beforeSeq?: number;
  /** At most this many, newest first unless `order` says otherwise. */
  limit?: number;
  /** `asc` lists in arrival order (the table), `desc` newest first. Default `asc`. */
  order?: 'asc' | 'desc';
}

/** The captures of one trace, as {@link CaptureStore.trace} answers. */
export interface TraceCaptures {
  /** How many stored captures have this trace id; more than `captures.length` when the limit cut. */
  total: number;
  /** Whole records (with `seq`), by start time, then arrival; at most the limit asked for. */
  captures: CaptureRecord[];
}

export interface InsertResult {
  /** Captures stored by this call. */
  inserted: number;
  /** Captures whose id was already stored (a retried batch): acknowledged again, not stored twice. */
  duplicates: number;
}

/** A TapConfig as the collector keeps it. */
export interface StoredTapConfig {
  resource: TapConfig;
  /** The rules version at which it was last created or changed. */
  version: number;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyResult {
  /** The rules version after the apply (unchanged when nothing changed). */
  version: number;
  results: Array<{ name: string; action: ApplyAction }>;
}

/** What one running loop() said it has in force, when it last polled for rules. */
export interface AgentState {
  service: string;
  instance: string;
  version: number;
  source: RuleSource;
  /** Epoch ms. */
  seenAt: number;
}

/** A subscription to rule changes made through other collectors, from {@link CaptureStore.watchRules}. */
export interface RulesSubscription {
  /** True while changes are being delivered; when false, the caller should check the version itself. */
  readonly live: boolean;
  close(): void;
}

/** What {@link CaptureStore.prune} removes: the oldest captures beyond any of the limits. */
export interface PrunePolicy {
  /** Captures received longer ago than this, in ms. */
  maxAgeMs?: number;
  /** Keep at most this many (the newest). */
  maxCount?: number;
  /** Keep at most this many stored bytes (the newest captures' whole records). */
  maxBytes?: number;
  /** Apply the limits to this service's captures only; without it, to all captures together. */
  service?: string;
}

export interface PruneOptions {
  /** Captures deleted per transaction, so that ingest and listing never wait long. Default 1000. */
  batchSize?: number;
  /** Count what would be removed, remove nothing. */
  dryRun?: boolean;
  /** The time ages are measured from (epoch ms). Default now. */
  now?: number;
}

export interface PruneResult {
  /** Captures removed (or, on a dry run, that would be). */
  deleted: number;
  /** Their stored bytes. */
  bytes: number;
}

/**
 * What a collector needs from its database. SQLite and PostgreSQL implement it, and pass the same
 * conformance tests (test/collector/store-conformance.test.ts). Methods may be synchronous or not:
 * callers await.
 */
export interface CaptureStore {
  /**
   * Stores a batch in one transaction; resolves only after commit. Idempotent on `record.id`.
   * `json[i]`, when given, is `records[i]`'s JSON text as received (the ingest body's own): the store
   * keeps it rather than serializing the record again, where it is the same JSON (storedJsonOf).
   */
  insert(records: CaptureRecord[], json?: readonly string[]): Promise<InsertResult> | InsertResult;
  /** Summaries in table order. */
  list(filter: CaptureFilter): Promise<CaptureSummary[]> | CaptureSummary[];
  /** By display id (`seq`, a small integer) or by capture id (nanoid). */
  get(idOrSeq: string | number): Promise<CaptureRecord | undefined> | CaptureRecord | undefined;
  delete(idOrSeq: string | number): Promise<boolean> | boolean;
  /** The whole records of one trace id, by start time: the earliest `limit` of them, and how many there are. */
  trace(traceId: string, limit: number): Promise<TraceCaptures> | TraceCaptures;
  count(): Promise<number> | number;
  /** Every TapConfig, by name. */
  listTapConfigs(): Promise<StoredTapConfig[]> | StoredTapConfig[];
  /** Creates or replaces TapConfigs by name, all in one transaction, bumping the version once if anything changed. */
  applyTapConfigs(configs: TapConfig[]): Promise<ApplyResult> | ApplyResult;
  /** Removes a TapConfig; resolves to the new version, or undefined when there was none by that name. */
  deleteTapConfig(name: string): Promise<number | undefined> | number | undefined;
  /** The rules version: 0 before the first change, then bumped by every change. */
  rulesVersion(): Promise<number> | number;
  /** How many stored captures each rule name is among the reasons for. */
  countByRule(): Promise<Record<string, number>> | Record<string, number>;
  recordAgent(agent: AgentState): Promise<void> | void;
  /** Agents seen at or after `since` (epoch ms), by service then instance. */
  listAgents(since: number): Promise<AgentState[]> | AgentState[];
  /**
   * Deletes the oldest captures beyond the policy's limits, oldest first, `batchSize` per transaction.
   * Safe to run from several collectors on one database at once.
   */
  prune(policy: PrunePolicy, options?: PruneOptions): Promise<PruneResult>;
  /** The services that have stored captures, by name. */
  services(): Promise<string[]> | string[];
  /** Stored bytes (the whole records) of all captures. */
  storedBytes(): Promise<number> | number;
  /** True when the database answers. */
  ping(): Promise<boolean> | boolean;
  /**
   * Optional: resolves once the database is open and migrated, rejects with why not. A store that
   * opens asynchronously has it; the collector awaits it before it listens.
   */
  ready?(): Promise<void>;
  /**
   * Optional: calls `listener` soon after the rules version may have changed through another collector
   * on the same database (PostgreSQL: LISTEN/NOTIFY). Without it, the collector polls the version.
   */
  watchRules?(listener: () => void): RulesSubscription;
  close(): Promise<void> | void;
}
