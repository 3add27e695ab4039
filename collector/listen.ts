import http, { type RequestListener } from 'node:http';
import { isIP } from 'node:net';
import { LoopError, codes } from '../src/errors.js';

/** Where a collector listens. */
export interface ListenAddress {
  port: number;
  host: string;
  /** `http://host:port`, with IPv6 hosts in brackets. */
  url: string;
}

export interface HttpListener extends ListenAddress {
  server: http.Server;
  /** Stops accepting, lets in-flight requests finish (at most `graceMs`, default 10 s), then resolves. */
  close(graceMs?: number): Promise<void>;
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address). */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  return /^::ffff:127\./.test(bare);
}

/** Captures hold request data: listening beyond this machine without a token would publish them. */
export function assertSafeBind(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new LoopError(
      codes.INSECURE_BIND,
      `refusing to listen on ${host} without a token: captures would be readable by anyone who can reach it; ` +
        'pass --token (or set LOOP_TOKEN), or listen on 127.0.0.1',
    );
  }
}

export function formatUrl(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return `http://${isIP(bare) === 6 ? `[${bare}]` : bare}:${port}`;
}

const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use; pick another --port',
  EACCES: 'permission denied; pick a port above 1023',
  EADDRNOTAVAIL: 'no such address on this machine; check --host',
  ENOTFOUND: 'unknown host; check --host',
};

/** How long a client may take, in ms (see {@link listenHttp}). */
export interface HttpTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

const DEFAULT_TIMEOUTS: HttpTimeouts = { headersTimeoutMs: 15_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000 };

/**
 * Serves `handler` on host:port with the collector's timeouts. Slow or stalled clients (slowloris) must
 * not hold a connection for ever: by default headers within 15 s, a whole ingest request (up to
 * maxBodyBytes) within 60 s, else Node answers 408 and closes the connection.
 */
export async function listenHttp(
  handler: RequestListener,
  port: number,
  host: string,
  timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
): Promise<HttpListener> {
  let closing = false;
  /** Responses not yet started: told `Connection: close` when a shutdown begins while they run. */
  const running = new Set<http.ServerResponse>();
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = timeouts;
  const server = http.createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (default every 30 s, which would let a
      // slowloris hold a connection 45 s past a 15 s headersTimeout).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
    },
    (req, res) => {
      // Keep-alive clients (shippers) are told to reconnect elsewhere once a shutdown has begun.
      if (closing) res.setHeader('connection', 'close');
      running.add(res);
      res.once('close', () => running.delete(res));
      handler(req, res);
    },
  );

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const reason = LISTEN_REASONS[err.code ?? ''] ?? err.message;
      reject(new LoopError(codes.LISTEN_FAILED, `cannot listen on ${formatUrl(host, port).slice(7)} (${reason})`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;

  let closed: Promise<void> | undefined;
  return {
    server,
    port: actualPort,
    host,
    url: formatUrl(host, actualPort),
    close(graceMs = 10_000) {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        for (const res of running) if (!res.headersSent) res.setHeader('connection', 'close');
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}
