import http, { type IncomingMessage, type RequestListener, STATUS_CODES } from 'node:http';
import type { CaptureRecord, HeaderList } from '../capture/record.js';
import { buildReplayRequest, sendReplay, type ReplayRequest } from '../replay/send.js';
import { parseDestination, type Destination } from '../replay/destination.js';
import { memoryConnection } from './pipe.js';
import { newScope, OutboundStubError, withStubs } from './stub.js';

/** What the app answered to a replay. */
export interface ReplayResult {
  status: number;
  statusMessage: string;
  /** Names lower-case; a repeated header's values joined with `, `. */
  headers: Record<string, string>;
  /** As sent: names as spelled, in order, repeats kept. */
  rawHeaders: HeaderList;
  /** The response bytes as sent (no decompression). */
  body: Buffer;
  text(): string;
  /** The body parsed as JSON (throws when it is not). */
  json(): any;
  /** The id of the capture replayed. */
  captureId: string;
}

/** An Express (or Connect) app, a Koa app, or anything with `callback()` returning a request listener. */
export type ReplayApp = RequestListener | { callback(): RequestListener };

export interface ReplayOptions {
  /** An Express/Connect app or a Koa app (its `callback()` is used): served in-process, no port. */
  app?: ReplayApp;
  /** A `(req, res)` request listener: served in-process, no port. */
  handler?: RequestListener;
  /** `host:port` or an http(s) URL: the request goes over real HTTP there instead. */
  destination?: string;
  /**
   * Answer the outgoing calls the app makes during this replay (node:http, node:https, fetch) from
   * the capture's `outbound` recording; a call with no recording left fails (and so does the replay).
   * In-process only.
   */
  stubOutbound?: boolean;
  /** Headers to set on the replayed request (replacing captured ones of the same name). */
  headers?: Record<string, string>;
  /** Give up when no complete answer came within this many ms. Default 30000. */
  timeoutMs?: number;
}

/** The replay rejects with this when stubbed outgoing calls had no recording; `result` is what the app answered. */
export class ReplayOutboundError extends Error {
  override name = 'ReplayOutboundError';
  code = 'LOOP_ERR_OUTBOUND_NOT_RECORDED';
  constructor(
    message: string,
    readonly failures: OutboundStubError[],
    readonly result: ReplayResult | undefined,
  ) {
    super(message);
  }
}

function resultOf(captureId: string, status: number, statusMessage: string, rawHeaders: HeaderList, body: Buffer): ReplayResult {
  const headers: Record<string, string> = {};
  for (const [name, value] of rawHeaders) {
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  return {
    status,
    statusMessage: statusMessage || STATUS_CODES[status] || '',
    headers,
    rawHeaders,
    body,
    text: () => body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
    captureId,
  };
}

function withHeaders(request: ReplayRequest, extra: Record<string, string> | undefined): ReplayRequest {
  if (extra === undefined) return request;
  let headers = request.headers;
  for (const [name, value] of Object.entries(extra)) {
    const lower = name.toLowerCase();
    const at = headers.findIndex(([k]) => k.toLowerCase() === lower);
    headers =
      at === -1
        ? [...headers, [name, value]]
        : headers.flatMap(([k, v], i): HeaderList => (i === at ? [[k, value]] : k.toLowerCase() === lower ? [] : [[k, v]]));
  }
  return { ...request, headers };
}

function listenerOf(options: ReplayOptions): RequestListener {
  if (options.handler !== undefined) {
    if (typeof options.handler !== 'function') throw new TypeError('replay(): handler must be a (req, res) request listener');
    return options.handler;
  }
  const app = options.app;
  if (app !== null && typeof app === 'object' && typeof (app as { callback?: unknown }).callback === 'function') {
    return (app as { callback(): RequestListener }).callback();
  }
  // A Koa app is a class instance (not callable); Express and Connect apps are functions.
  if (typeof app === 'function') {
    if (typeof (app as unknown as { callback?: unknown }).callback === 'function') return (app as unknown as { callback(): RequestListener }).callback();
    return app;
  }
  throw new TypeError('replay(): give one of app (Express, Connect or Koa), handler ((req, res) => void) or destination');
}

/** Sends the request to `listener` over an in-memory connection: real IncomingMessage and ServerResponse, no port. */
function inProcess(listener: RequestListener, request: ReplayRequest, captureId: string, timeoutMs: number): Promise<ReplayResult> {
  const server = http.createServer(listener);
  const [client, serverSide] = memoryConnection();
  return new Promise<ReplayResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy(new Error(`httploop/testing: the app gave no complete answer to the replay of capture ${captureId} within ${timeoutMs} ms`));
    }, timeoutMs);
    // ClientRequest itself, not http.request: the outbound stubs and hooks are for the app's calls.
    const req = new http.ClientRequest(
      {
        method: request.method,
        path: request.target,
        headers: request.headers.flat() as unknown as http.OutgoingHttpHeaders,
        setHost: false,
        agent: undefined,
        createConnection: () => client,
      } as http.ClientRequestArgs,
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const raw: HeaderList = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) raw.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
          client.destroy();
          resolve(resultOf(captureId, res.statusCode ?? 0, res.statusMessage ?? '', raw, Buffer.concat(chunks)));
        });
      },
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    server.emit('connection', serverSide);
    req.end(request.body);
  });
}

/** Where an in-process replay says it is sent: the Host it came in on. */
function localDestination(record: CaptureRecord): Destination {
  const hostHeader = record.request.headers.find(([k]) => k.toLowerCase() === 'host')?.[1];
  const host = hostHeader ?? record.destination ?? 'localhost';
  return { protocol: 'http:', hostname: '127.0.0.1', port: 80, host, basePath: '', display: 'in-process' };
}

/**
 * Replays a capture: the same method, target (raw query kept), headers in order minus hop-by-hop ones,
 * and body bytes, plus `loop-replay: <capture id>`. In-process (`app` or `handler`: no port) or over
 * HTTP (`destination`). With `stubOutbound`, the app's outgoing calls are answered from the recording.
 */
export async function replay(capture: CaptureRecord, options: ReplayOptions): Promise<ReplayResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (options.destination !== undefined) {
    if (options.stubOutbound) {
      throw new TypeError('replay(): stubOutbound works in-process only (app or handler), not with a destination');
    }
    const destination = parseDestination(options.destination);
    const request = withHeaders(buildReplayRequest(capture, destination), options.headers);
    const res = await sendReplay(destination, request, { timeoutMs });
    return resultOf(capture.id, res.status, res.statusMessage, res.headers, res.body);
  }
  const listener = listenerOf(options);
  const request = withHeaders(buildReplayRequest(capture, localDestination(capture)), options.headers);
  if (!options.stubOutbound) return inProcess(listener, request, capture.id, timeoutMs);

  const scope = newScope(capture);
  let result: ReplayResult | undefined;
  let error: unknown;
  try {
    result = await withStubs(scope, () => inProcess(listener, request, capture.id, timeoutMs));
  } catch (err) {
    error = err;
  }
  if (scope.failures.length > 0) {
    const lines = scope.failures.map((f) => f.message).join('\n');
    const answered = result === undefined ? '' : ` (the app answered ${result.status})`;
    throw new ReplayOutboundError(`replay of capture ${capture.id}${answered}: ${scope.failures.length} outgoing call(s) not in the recording:\n${lines}`, scope.failures, result);
  }
  if (error !== undefined) throw error;
  return result!;
}
