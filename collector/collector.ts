import type { RequestListener } from 'node:http';
import { invalidOption } from '../src/errors.js';
import { parseAllowList } from '../src/replay/address-policy.js';
import { createApp } from './app.js';
import { errorFields, type CollectorLogger } from './log.js';
import { Pruner, checkRetention, pruneOnce, type RetentionOptions } from './retention.js';
import { assertSafeBind, listenHttp, type HttpListener, type HttpTimeouts, type ListenAddress } from './listen.js';
import { PostgresStore, checkPgUrl } from './storage/postgres.js';
import { SqliteStore } from './storage/sqlite.js';
import type { CaptureStore } from './storage/types.js';

/** Options of {@link createCollector}. Give one of `store`, `db` and `pg`. */
export interface CollectorOptions {
  /** Where captures are kept. The collector does not close a store it was given. */
  store?: CaptureStore;
  /** Path of the SQLite database file (created when missing), or `:memory:`; used when `store` is not given. */
  db?: string;
  /**
   * A PostgreSQL URL (`postgres://user@host:5432/database`), for several collectors on one database;
   * used instead of `db`. The schema is the connection's search_path (`?options=-c%20search_path%3Dloop`).
   */
  pg?: string;
  /** Bearer token required on `/v1/*` and `/metrics`. Default: none, which allows loopback addresses only. */
  token?: string;
  /** Largest ingest request body, both as sent and decompressed, in bytes. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Most ingest requests read, checked or stored at once; more are answered 429 with Retry-After. Default 64. */
  maxPendingBatches?: number;
  /**
   * Most ingest body bytes held at once (as sent, or decompressed), across requests; more are answered
   * 429 with Retry-After. At least `maxBodyBytes`. Default 4 × `maxBodyBytes` (64 MiB).
   */
  maxInflightBytes?: number;
  /** Time a client has to send the request headers, in ms; slower ones get 408 and are closed. Default 15 000. */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request (headers and body), in ms. At least `headersTimeoutMs`. Default 60 000. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, in ms. Default 5000. */
  keepAliveTimeoutMs?: number;
  /**
   * Destinations server-side replay (`POST /v1/captures/:id/replay`, `loopctl replay --via-collector`)
   * may reach, as `host:port` entries (`staging.internal:8080`, `10.0.0.5:8080`, `[fd00::5]:8080`; a
   * string may hold several, comma-separated). Loopback, private and link-local addresses are reached
   * only when listed as addresses. Default: none, and server-side replay is off.
   */
  replayAllow?: readonly string[];
  /**
   * Retention, applied in the background while listening (every `intervalMs`, default a minute, in
   * small transactions): `{ maxAge: '7d', maxCount: 1_000_000, maxBytes: '10GiB', perService: { maxCount: 100_000 } }`.
   * Default: keep everything.
   */
  retention?: RetentionOptions;
  /**
   * A pino logger (`createLogger()` from httploop/collector, or your own) for start, stop, ingest
   * rejections, pruning and internal errors. Lines never hold a body, a header or the token. Default:
   * none (internal errors go to stderr as one line).
   */
  logger?: CollectorLogger;
}

export interface Collector {
  /** The API as a node:http request listener, for use on a server of your own. */
  readonly handler: RequestListener;
  readonly store: CaptureStore;
  /**
   * Listens on host:port (default 127.0.0.1:5678; port 0 picks a free one). A host other than a
   * loopback address needs a `token`.
   */
  listen(port?: number, host?: string): Promise<ListenAddress>;
  /** Stops listening after in-flight requests finish, then closes the database it opened. */
  close(): Promise<void>;
}

const KNOWN_OPTIONS = new Set([
  'store',
  'db',
  'pg',
  'token',
  'maxBodyBytes',
  'maxPendingBatches',
  'maxInflightBytes',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'replayAllow',
  'retention',
  'logger',
]);
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_PENDING_BATCHES = 64;

function positiveInteger(name: string, value: unknown, unit: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw invalidOption(`createCollector(): ${name} must be a positive whole number of ${unit}, got ${String(value)}`);
  }
  return value as number;
}

/** The limits of {@link CollectorOptions}, checked, with their defaults. */
function limitsOf(options: CollectorOptions, maxBodyBytes: number): { maxPendingBatches: number; maxInflightBytes: number; timeouts: HttpTimeouts } {
  const maxPendingBatches = positiveInteger('maxPendingBatches', options.maxPendingBatches ?? DEFAULT_MAX_PENDING_BATCHES, 'requests');
  const maxInflightBytes = positiveInteger('maxInflightBytes', options.maxInflightBytes ?? 4 * maxBodyBytes, 'bytes');
  if (maxInflightBytes < maxBodyBytes) {
    throw invalidOption(
      `createCollector(): maxInflightBytes (${maxInflightBytes}) is below maxBodyBytes (${maxBodyBytes}), so a batch of the largest allowed size could never be taken; raise maxInflightBytes or lower maxBodyBytes`,
    );
  }
  const timeouts: HttpTimeouts = {
    headersTimeoutMs: positiveInteger('headersTimeoutMs', options.headersTimeoutMs ?? 15_000, 'ms'),
    requestTimeoutMs: positiveInteger('requestTimeoutMs', options.requestTimeoutMs ?? 60_000, 'ms'),
    keepAliveTimeoutMs: positiveInteger('keepAliveTimeoutMs', options.keepAliveTimeoutMs ?? 5000, 'ms'),
  };
  if (timeouts.requestTimeoutMs < timeouts.headersTimeoutMs) {
    throw invalidOption(
      `createCollector(): requestTimeoutMs (${timeouts.requestTimeoutMs}) is below headersTimeoutMs (${timeouts.headersTimeoutMs}); the whole request cannot take less time than its headers`,
    );
  }
  return { maxPendingBatches, maxInflightBytes, timeouts };
}

/** Builds a collector: the HTTP API over a capture store, listening only when asked. */
export function createCollector(options: CollectorOptions): Collector {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption("createCollector() needs options: { db: './loop.db' } or { store }");
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw invalidOption(`createCollector(): unknown option '${key}'; known options are ${[...KNOWN_OPTIONS].join(', ')}`);
    }
  }
  const { store: givenStore, db, token, maxBodyBytes = DEFAULT_MAX_BODY_BYTES } = options;
  const { pg } = options;
  if ([givenStore, db, pg].filter((given) => given !== undefined).length > 1) {
    throw invalidOption('createCollector(): give one of store, db (a SQLite file) and pg (a PostgreSQL URL), not several');
  }
  if (pg !== undefined) checkPgUrl(pg, 'httploop: createCollector(): pg');
  if (!givenStore && pg === undefined && (typeof db !== 'string' || db === '')) {
    throw invalidOption("createCollector(): pass db (a SQLite file path, or ':memory:') or a store");
  }
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw invalidOption('createCollector(): token must be a non-empty string; leave it out for no token');
  }
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw invalidOption(`createCollector(): maxBodyBytes must be a positive whole number of bytes, got ${String(maxBodyBytes)}`);
  }

  const { maxPendingBatches, maxInflightBytes, timeouts } = limitsOf(options, maxBodyBytes);
  const { replayAllow = [] } = options;
  if (!Array.isArray(replayAllow) || replayAllow.some((entry) => typeof entry !== 'string')) {
    throw invalidOption("createCollector(): replayAllow must be a list of 'host:port' strings, like ['staging.internal:8080']");
  }
  let allow;
  try {
    allow = parseAllowList(replayAllow, 'replayAllow');
  } catch (err) {
    throw invalidOption(`createCollector(): ${(err as Error).message}`);
  }

  const retention = checkRetention(options.retention);
  const log = options.logger;
  if (log !== undefined && (typeof log !== 'object' || log === null || typeof log.info !== 'function' || typeof log.error !== 'function')) {
    throw invalidOption('createCollector(): logger must be a pino logger (createLogger() from httploop/collector, or pino())');
  }

  const store: CaptureStore = givenStore ?? (pg !== undefined ? new PostgresStore(pg) : new SqliteStore(db!));
  const app = createApp({ store, token, maxBodyBytes, maxPendingBatches, maxInflightBytes, replayAllow: allow, ...(log && { log }) });
  const { handler } = app;
  const pruner = retention
    ? new Pruner(
        () => pruneOnce(store, retention, async () => store.services()),
        retention.intervalMs,
        (result) => {
          app.metrics.pruned(result);
          if (result.deleted > 0) log?.info({ ...result, by: 'retention' }, 'pruned');
        },
        (err) => {
          if (log) log.error({ err: errorFields(err) }, 'pruning failed');
          else console.error(`httploop collector: pruning failed: ${errorFields(err).message}`);
        },
      )
    : undefined;
  let listener: HttpListener | undefined;
  let closed: Promise<void> | undefined;

  return {
    handler,
    store,
    async listen(port = 5678, host = '127.0.0.1') {
      if (listener) throw invalidOption(`this collector already listens on ${listener.url}`);
      if (closed) throw invalidOption('this collector is closed; create another one');
      assertSafeBind(host, token);
      // A store that opens in the background (PostgreSQL) is waited for: a collector that cannot reach
      // its database refuses to start rather than answer 500s.
      await store.ready?.();
      listener = await listenHttp(handler, port, host, timeouts);
      pruner?.start();
      log?.info({ url: listener.url, ...(retention && { retention: { ...retention.overall, perService: retention.perService } }) }, 'collector started');
      return { port: listener.port, host: listener.host, url: listener.url };
    },
    close() {
      closed ??= (async () => {
        app.close();
        await pruner?.stop();
        await listener?.close();
        if (!givenStore) await store.close();
        if (listener) log?.info({ url: listener.url }, 'collector stopped');
      })();
      return closed;
    },
  };
}
