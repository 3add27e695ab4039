import { invalidOption } from '../src/errors.js';
import { createCollector, type CollectorOptions } from './collector.js';
import { assertSafeBind, type ListenAddress } from './listen.js';
import { redactUrl } from './storage/postgres.js';

/** Options of {@link startCollector}, the process-independent half of `loopctl serve`. */
export interface StartCollectorOptions {
  /** TCP port; 0 picks a free one. Default 5678. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`; any non-loopback address needs `token`. */
  host?: string;
  /** SQLite database file, created when missing. Default `./loop.db`. */
  db?: string;
  /** PostgreSQL URL, instead of `db`: several collectors may share one database. */
  pg?: string;
  /** Bearer token required on `/v1/*` and `/metrics`. Default: none. */
  token?: string;
  /** Largest ingest request body in bytes, as sent and decompressed. Default 16 MiB. */
  maxBodyBytes?: number;
  /** `host:port` destinations server-side replay may reach (see `createCollector`). Default: none (off). */
  replayAllow?: readonly string[];
  /** Ingest requests in progress before more are answered 429 (see `createCollector`). Default 64. */
  maxPendingBatches?: number;
  /** Ingest body bytes held before more are answered 429 (see `createCollector`). Default 4 × maxBodyBytes. */
  maxInflightBytes?: number;
  /** Time for the request headers, in ms. Default 15 000. */
  headersTimeoutMs?: number;
  /** Time for a whole request, in ms. Default 60 000. */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this, in ms. Default 5000. */
  keepAliveTimeoutMs?: number;
  /** Background retention (see `createCollector`). Default: keep everything. */
  retention?: CollectorOptions['retention'];
  /** Where log lines go (see `createCollector`). */
  logger?: CollectorOptions['logger'];
}

const PASSED_ON = ['logger', 'retention', 'maxPendingBatches', 'maxInflightBytes', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs'] as const;

export interface RunningCollector extends ListenAddress {
  /** The database in use: the SQLite file, or the PostgreSQL URL with its password shown as `***`. */
  db: string;
  backend: 'sqlite' | 'postgres';
  /** Graceful: stops accepting, finishes in-flight requests, closes the database. */
  close(): Promise<void>;
}

/** Opens the database and listens; the caller decides when to close (signals are the CLI's business). */
export async function startCollector(options: StartCollectorOptions = {}): Promise<RunningCollector> {
  const { port = 5678, host = '127.0.0.1', db = './loop.db', token, maxBodyBytes } = options;
  // Before the database is opened: a refused start must not leave a new, empty loop.db behind.
  assertSafeBind(host, token);
  const { pg } = options;
  if (pg !== undefined && options.db !== undefined) {
    throw invalidOption('startCollector(): give db (a SQLite file) or pg (a PostgreSQL URL), not both');
  }
  const collector = createCollector({
    ...(pg !== undefined ? { pg } : { db }),
    ...(token !== undefined && { token }),
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
    ...(options.replayAllow !== undefined && { replayAllow: options.replayAllow }),
    ...(Object.fromEntries(PASSED_ON.filter((k) => options[k] !== undefined).map((k) => [k, options[k]])) as Partial<CollectorOptions>),
  });
  try {
    const address = await collector.listen(port, host);
    const database = pg !== undefined ? { db: redactUrl(pg), backend: 'postgres' as const } : { db, backend: 'sqlite' as const };
    return { ...address, ...database, close: () => collector.close() };
  } catch (err) {
    await collector.close();
    throw err;
  }
}
