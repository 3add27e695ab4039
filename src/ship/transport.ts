import http from 'node:http';
import https from 'node:https';
import { gzip, constants } from 'node:zlib';
import { promisify } from 'node:util';

const gzipAsync = promisify(gzip);

/** Marks the shipper's own requests, so outbound recording and tracing leave them alone. */
export const kInternalRequest = Symbol.for('httploop.internal');

/**
 * The agents of httploop's own requests (captures, rules): outgoing-call hooks leave requests made
 * through them alone, even when a timer started under a request runs them. Shared by both builds.
 */
const agentRegistry = globalThis as unknown as Record<symbol, WeakSet<object> | undefined>;
export const internalAgents: WeakSet<object> = (agentRegistry[Symbol.for('httploop.internalAgents')] ??= new WeakSet<object>());

export interface PostResult {
  status: number;
  /** Seconds or an HTTP date, as the collector sent it. */
  retryAfter: string | undefined;
}

/**
 * POSTs one gzip-compressed JSON batch over a keep-alive connection of its own. Resolves with the
 * status (any status: the caller decides what to retry); rejects on network errors and on timeout.
 */
export class Transport {
  private readonly agent: http.Agent;
  private readonly client: typeof http | typeof https;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly url: URL,
    token: string | undefined,
    private readonly timeoutMs: number,
  ) {
    this.client = url.protocol === 'https:' ? https : http;
    this.agent = new this.client.Agent({ keepAlive: true, maxSockets: 1, timeout: timeoutMs });
    internalAgents.add(this.agent);
    this.headers = {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'user-agent': 'httploop-shipper',
    };
    if (token !== undefined) this.headers.authorization = `Bearer ${token}`;
  }

  async post(json: string): Promise<PostResult> {
    const body = await gzipAsync(json, { level: constants.Z_BEST_SPEED });
    return new Promise<PostResult>((resolve, reject) => {
      const req = this.client.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': String(body.length) },
          timeout: this.timeoutMs,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const ra = res.headers['retry-after'];
            resolve({ status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' ? ra : undefined });
          });
          res.on('error', reject);
        },
      );
      (req as unknown as Record<symbol, boolean>)[kInternalRequest] = true;
      req.on('timeout', () => req.destroy(new Error(`no answer from the collector within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
