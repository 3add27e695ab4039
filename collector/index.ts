/**
 * `httploop/collector`: the collector as a library. `loopctl serve` is built on the same pieces.
 */
export { createCollector, type Collector, type CollectorOptions } from './collector.js';
export { startCollector, type RunningCollector, type StartCollectorOptions } from './server.js';
export type { ListenAddress } from './listen.js';
export { SqliteStore, type SqliteStoreOptions } from './storage/sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './storage/postgres.js';
export type { CaptureFilter, CaptureStore, InsertResult, RulesSubscription, TraceCaptures } from './storage/types.js';
export type { PrunePolicy, PruneOptions, PruneResult } from './storage/types.js';
export { createLogger, type CollectorLogger, type LogLevel } from './log.js';
export type { RetentionOptions, RetentionLimits } from './retention.js';
export type { CaptureRecord, CaptureSummary } from '../src/capture/record.js';
/** The id the SDK gives a capture (time-ordered, 21 characters of nanoid's alphabet), for captures made by other means. */
export { captureId } from '../src/capture/capture-id.js';
export { LoopError, codes } from '../src/errors.js';
