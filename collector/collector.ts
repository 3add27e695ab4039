import type { RequestListener } from 'node:http';
import { invalidOption } from '../src/errors.js';
import { createApp } from './app.js';
import { assertSafeBind, listenHttp, type HttpListener, type ListenAddress } from './listen.js';
import { SqliteStore } from './storage/sqlite.js';
import type { CaptureStore } from './storage/types.js';

/** Options of {@link createCollector}. Give either `store` or `db`. */
export interface CollectorOptions {
  /** Where captures are kept. The collector does not close a store it was given. */
  store?: CaptureStore;
  /** Path of the SQLite database file (created when missing), or `:memory:`; used when `store` is not given. */
  db?: string;
  /** Bearer token required on `/v1/*` and `/metrics`. Default: none, which allows loopback addresses only. */
  token?: string;
  /** Largest ingest request body, both as sent and decompressed, in bytes. Default 16 MiB. */
  maxBodyBytes?: number;
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

const KNOWN_OPTIONS = new Set(['store', 'db', 'token', 'maxBodyBytes']);
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

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
  if (givenStore && db !== undefined) {
    throw invalidOption('createCollector(): give either store or db, not both');
  }
  if (!givenStore && (typeof db !== 'string' || db === '')) {
    throw invalidOption("createCollector(): pass db (a SQLite file path, or ':memory:') or a store");
  }
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    throw invalidOption('createCollector(): token must be a non-empty string; leave it out for no token');
  }
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw invalidOption(`createCollector(): maxBodyBytes must be a positive whole number of bytes, got ${String(maxBodyBytes)}`);
  }

  const store = givenStore ?? new SqliteStore(db!);
  const app = createApp({ store, token, maxBodyBytes });
  const { handler } = app;
  let listener: HttpListener | undefined;
  let closed: Promise<void> | undefined;

  return {
    handler,
    store,
    async listen(port = 5678, host = '127.0.0.1') {
      if (listener) throw invalidOption(`this collector already listens on ${listener.url}`);
      if (closed) throw invalidOption('this collector is closed; create another one');
      assertSafeBind(host, token);
      listener = await listenHttp(handler, port, host);
      return { port: listener.port, host: listener.host, url: listener.url };
    },
    close() {
      closed ??= (async () => {
        app.close();
        await listener?.close();
        if (!givenStore) await store.close();
      })();
      return closed;
    },
  };
}
