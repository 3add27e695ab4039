import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { STATUS_CODES } from 'node:http';
import type { CaptureRecord, HeaderList } from '../capture/record.js';
import { LoopError, codes, networkReason } from '../errors.js';
import { decodeBody } from './body.js';
import type { Destination } from './destination.js';

/** What is sent for a replay: built from the capture, changed only where a replay must. */
export interface ReplayRequest {
  method: string;
  /** Path and query, exactly as captured (after the destination's base path). */
  target: string;
  headers: HeaderList;
  body: Buffer;
}

export interface ReplayResponse {
  status: number;
  statusMessage: string;
  headers: HeaderList;
  /** The response bytes as received: no decompression. */
  body: Buffer;
  /** True when the body was longer than `maxBodyBytes` and only its start was kept. */
  truncated: boolean;
  /** From sending the request to the last byte of the response. */
  durationMs: number;
}

export interface SendOptions {
  /** Give up when no complete answer came within this many ms. Default 30000. */
  timeoutMs?: number;
  /** Keep at most this many bytes of the response body. Default 16 MiB. */
  maxBodyBytes?: number;
  /**
   * Connect to this IP address instead of looking `destination.hostname` up (Host and TLS server name
   * stay the destination's). Server-side replay connects to the address its check validated.
   */
  connectTo?: { address: string; family: 4 | 6 };
}

/** Connection-level headers (RFC 9110 section 7.6.1): they describe the original hop, not the request. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
]);

/** Methods for which Node would add `Transfer-Encoding: chunked` to a request without Content-Length. */
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** The request target of a captured URL; absolute-form targets (`http://h/p?q`) keep only `/p?q`. */
function targetOf(url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
    return rest.startsWith('/') ? rest : `/${rest}`;
  }
  return url;
}

/** Changes a replay may make beyond the default ones. */
export interface BuildOptions {
  /** Keep the captured Host header instead of the destination's. */
  keepHost?: boolean;
  /**
   * A `traceparent` to send instead of the captured one (in its place, else added before
   * `loop-replay`); the captured `tracestate` belongs to the old trace and is dropped.
   */
  traceparent?: string;
  /** Headers to set: each replaces every header of its name (at the first one's place) or is added. */
  headers?: HeaderList;
}

/**
 * The captured request as it will be replayed: same method, path and query, headers in their captured
 * order and spelling minus hop-by-hop ones, Host set to the destination, Content-Length recomputed from
 * the bytes sent, and `loop-replay: <capture id>` added.
 */
export function buildReplayRequest(record: CaptureRecord, destination: Destination, options: BuildOptions = {}): ReplayRequest {
  const body = decodeBody(record.request.body);
  const method = record.request.method.toUpperCase();
  const nominated = new Set<string>();
  let framed = false;
  for (const [name, value] of record.request.headers) {
    const lower = name.toLowerCase();
    if (lower === 'connection') for (const token of value.split(',')) nominated.add(token.trim().toLowerCase());
    if (lower === 'content-length' || lower === 'transfer-encoding') framed = true;
  }
  const needsLength = body.length > 0 || framed || !BODYLESS.has(method);

  const headers: HeaderList = [];
  let hostSet = false;
  let lengthSet = false;
  for (const [name, value] of record.request.headers) {
    const lower = name.toLowerCase();
    if (lower === 'host') {
      if (!hostSet) headers.push([name, options.keepHost ? value : destination.host]);
      hostSet = true;
    } else if (options.traceparent !== undefined && lower === 'traceparent') {
      if (!headers.some(([n]) => n.toLowerCase() === 'traceparent')) headers.push([name, options.traceparent]);
    } else if (options.traceparent !== undefined && lower === 'tracestate') {
      // The new trace has no state yet.
    } else if (lower === 'content-length') {
      if (needsLength && !lengthSet) headers.push([name, String(body.length)]);
      lengthSet = true;
    } else if (lower === 'loop-replay') {
      // Replaced below by this replay's own.
    } else if (!HOP_BY_HOP.has(lower) && !nominated.has(lower)) {
      headers.push([name, value]);
    }
  }
  if (!hostSet) headers.unshift(['host', destination.host]);
  if (needsLength && !lengthSet) headers.push(['content-length', String(body.length)]);
  if (options.traceparent !== undefined && !headers.some(([n]) => n.toLowerCase() === 'traceparent')) {
    headers.push(['traceparent', options.traceparent]);
  }
  headers.push(['loop-replay', record.id]);
  for (const [name, value] of options.headers ?? []) {
    const lower = name.toLowerCase();
    const first = headers.findIndex(([n]) => n.toLowerCase() === lower);
    if (first < 0) {
      headers.push([name, value]);
      continue;
    }
    headers[first] = [name, value];
    for (let i = headers.length - 1; i > first; i--) if (headers[i]![0].toLowerCase() === lower) headers.splice(i, 1);
  }

  const target = targetOf(record.request.url);
  return { method, target: `${destination.basePath}${target}`, headers, body };
}

/** Sends a replay request as-is: no redirects followed, no decompression, no connection reuse. */
export function sendReplay(
  destination: Destination,
  request: ReplayRequest,
  options: SendOptions = {},
): Promise<ReplayResponse> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const transport = destination.protocol === 'https:' ? https : http;
  const started = performance.now();
  return new Promise<ReplayResponse>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'LOOP_TIMEOUT') {
        reject(new LoopError(codes.DESTINATION_UNREACHABLE, `the destination ${destination.display} sent ${err.message}`, { cause: err }));
        return;
      }
      const reason = networkReason(err);
      reject(
        new LoopError(codes.DESTINATION_UNREACHABLE, `cannot connect to the destination ${destination.display} (${reason})`, {
          cause: err,
        }),
      );
    };
    const req = transport.request({
      protocol: destination.protocol,
      // No lookup when the address was checked already: the connection goes where the check looked.
      hostname: options.connectTo?.address ?? destination.hostname,
      port: destination.port,
      method: request.method,
      path: request.target,
      // A flat raw array is written as given: order and spelling kept, and no header added by Node.
      headers: request.headers.flat(),
      setHost: false,
      agent: false,
      ...(destination.protocol === 'https:' && { servername: destination.hostname }),
    });
    const timer = setTimeout(() => {
      req.destroy(
        Object.assign(new Error(`no complete answer within ${Math.round(timeoutMs / 1000)} s`), { code: 'LOOP_TIMEOUT' }),
      );
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      let truncated = false;
      res.on('data', (chunk: Buffer) => {
        const room = maxBodyBytes - kept;
        if (chunk.length > room) truncated = true;
        if (room > 0) {
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          chunks.push(part);
          kept += part.length;
        }
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        fail(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const headers: HeaderList = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        const status = res.statusCode ?? 0;
        resolve({
          status,
          statusMessage: res.statusMessage || STATUS_CODES[status] || '',
          headers,
          body: Buffer.concat(chunks, kept),
          truncated,
          durationMs: performance.now() - started,
        });
      });
    });
    req.end(request.body);
  });
}
