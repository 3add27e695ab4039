import { createCollector } from './collector.js';
import { assertSafeBind, type ListenAddress } from './listen.js';

/** Options of {@link startCollector}, the process-independent half of `loopctl serve`. */
export interface StartCollectorOptions {
  /** TCP port; 0 picks a free one. Default 5678. */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`; any non-loopback address needs `token`. */
  host?: string;
  /** SQLite database file, created when missing. Default `./loop.db`. */
  db?: string;
  /** Bearer token required on `/v1/*` and `/metrics`. Default: none. */
  token?: string;
  /** Largest ingest request body in bytes, as sent and decompressed. Default 16 MiB. */
  maxBodyBytes?: number;
}

export interface RunningCollector extends ListenAddress {
  /** The database file in use. */
  db: string;
  /** Graceful: stops accepting, finishes in-flight requests, closes the database. */
  close(): Promise<void>;
}

/** Opens the database and listens; the caller decides when to close (signals are the CLI's business). */
export async function startCollector(options: StartCollectorOptions = {}): Promise<RunningCollector> {
  const { port = 5678, host = '127.0.0.1', db = './loop.db', token, maxBodyBytes } = options;
  // Before the database is opened: a refused start must not leave a new, empty loop.db behind.
  assertSafeBind(host, token);
  const collector = createCollector({
    db,
    ...(token !== undefined && { token }),
    ...(maxBodyBytes !== undefined && { maxBodyBytes }),
  });
  try {
    const address = await collector.listen(port, host);
    return { ...address, db, close: () => collector.close() };
  } catch (err) {
    await collector.close();
    throw err;
  }
}
