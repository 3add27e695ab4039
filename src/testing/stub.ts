import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { CaptureRecord, HeaderList, OutboundCall } from '../capture/record.js';
import { decodeBody } from '../replay/body.js';
import { memoryConnection } from './pipe.js';

/** The outgoing calls of one stubbed replay: the recording, which of them were answered, what failed. */
export interface StubScope {
  captureId: string;
  calls: Array<{ call: OutboundCall; used: boolean }>;
  failures: OutboundStubError[];
}

/** An outgoing call made during a stubbed replay that the capture has no (remaining) recording for. */
export class OutboundStubError extends Error {
  override name = 'OutboundStubError';
  code = 'LOOP_ERR_OUTBOUND_NOT_RECORDED';
}

const storage = new AsyncLocalStorage<StubScope>();

export function newScope(record: CaptureRecord): StubScope {
  return { captureId: record.id, calls: (record.outbound ?? []).map((call) => ({ call, used: false })), failures: [] };
}

/** Runs `fn` with the outgoing calls it makes (node:http, node:https, fetch) answered from `scope`. */
export async function withStubs<T>(scope: StubScope, fn: () => Promise<T>): Promise<T> {
  acquire();
  try {
    return await storage.run(scope, fn);
  } finally {
    release();
  }
}

// ---- matching ----

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

function bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

interface Key {
  method: string;
  host: string;
  port: string;
  path: string;
}

function keyOfRecorded(call: OutboundCall): Key | undefined {
  try {
    const url = new URL(call.url);
    return { method: call.method.toUpperCase(), host: bare(url.hostname), port: url.port || defaultPort(url.protocol), path: `${url.pathname}${url.search}` };
  } catch {
    return undefined;
  }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** True when the call's body is what was recorded (only the kept start of a truncated recording is compared). */
function bodyMatches(call: OutboundCall, body: Buffer): boolean {
  const recorded = call.request?.body;
  if (recorded === null || recorded === undefined || recorded.size === 0) return true;
  const kept = decodeBody(recorded);
  const actual = recorded.truncated ? body.subarray(0, kept.length) : body;
  return sha256(kept) === sha256(actual);
}

function describeRecorded(scope: StubScope): string {
  if (scope.calls.length === 0) return '  (none: the capture recorded no outgoing calls)';
  return scope.calls
    .map(({ call, used }, i) => {
      const answer = call.status !== undefined ? String(call.status) : call.error !== undefined ? `${call.error.code ?? call.error.name}` : 'no answer';
      return `  ${i + 1}. ${call.method} ${call.url} -> ${answer}${used ? ' (already answered)' : ''}`;
    })
    .join('\n');
}

/** The next unused recording for the call, or the error saying why there is none. */
function take(scope: StubScope, via: string, method: string, url: string, key: Key, body: Buffer): OutboundCall | OutboundStubError {
  let sameKey = 0;
  for (const entry of scope.calls) {
    if (entry.used) continue;
    const k = keyOfRecorded(entry.call);
    if (k === undefined || k.method !== key.method || k.host !== key.host || k.port !== key.port || k.path !== key.path) continue;
    sameKey++;
    if (!bodyMatches(entry.call, body)) continue;
    entry.used = true;
    return entry.call;
  }
  const why = sameKey > 0 ? ` (${sameKey} recording(s) of ${method} ${url} left, but with another request body)` : '';
  const err = new OutboundStubError(
    `httploop/testing: outgoing call ${method} ${url} (${via}) made during the replay of capture ${scope.captureId} has no recorded answer left${why}; recorded:\n${describeRecorded(scope)}`,
  );
  scope.failures.push(err);
  return err;
}

/** A recorded call that failed (no status) fails again the same way. */
function recordedFailure(call: OutboundCall): Error | undefined {
  if (call.status !== undefined) return undefined;
  const e = call.error;
  const err = new Error(e?.message ?? `the recorded call ${call.method} ${call.url} got no answer`);
  if (e?.name) err.name = e.name;
  if (e?.code) (err as NodeJS.ErrnoException).code = e.code;
  return err;
}

const DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'trailer', 'upgrade']);

function answerHeaders(call: OutboundCall, drop: Set<string>): HeaderList {
  return (call.response?.headers ?? []).filter(([k]) => !drop.has(k.toLowerCase()));
}

// ---- node:http / node:https ----

type Requester = (...args: unknown[]) => ClientRequest;
interface Module {
  request: Requester;
  get: Requester;
}

/** host and port the arguments of request()/get() name, worked out as Node does. */
function targetOf(args: unknown[], protocol: string): { host: string; port: string } {
  const [input, maybe] = args;
  let host = 'localhost';
  let port: unknown;
  let dflt: unknown;
  let options: Record<string, unknown> | undefined;
  if (typeof input === 'string' || input instanceof URL) {
    const url = new URL(input);
    host = url.hostname;
    port = url.port || undefined;
    if (maybe !== null && typeof maybe === 'object') options = maybe as Record<string, unknown>;
  } else if (input !== null && typeof input === 'object') {
    options = input as Record<string, unknown>;
  }
  if (options !== undefined) {
    const h = options.hostname ?? options.host;
    if (typeof h === 'string' && h !== '') host = h;
    if (Object.prototype.hasOwnProperty.call(options, 'port') && options.port !== undefined) port = options.port;
    dflt = options.defaultPort;
  }
  return { host: bare(host), port: String(port || dflt || defaultPort(protocol)) };
}

/** The same arguments, with no agent and a connection to an in-memory answerer. */
function withConnection(args: unknown[], createConnection: () => unknown): unknown[] {
  const out = [...args];
  const first = out[0];
  const extra = { agent: undefined, createConnection };
  if (typeof first === 'string' || first instanceof URL) {
    if (out[1] !== null && typeof out[1] === 'object' && typeof out[1] !== 'function') out[1] = { ...(out[1] as object), ...extra };
    else out.splice(1, 0, extra);
  } else {
    out[0] = { ...((first as object | null) ?? {}), ...extra };
  }
  return out;
}

function stubbedRequest(scope: StubScope, previous: Requester, self: unknown, args: unknown[], protocol: string): ClientRequest {
  const { host, port } = targetOf(args, protocol);
  const createConnection = (): unknown => {
    const [client, server] = memoryConnection();
    const answerer = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const method = (req.method ?? 'GET').toUpperCase();
        const path = req.url ?? '/';
        const shownHost = host.includes(':') ? `[${host}]` : host;
        const url = `${protocol}//${shownHost}:${port}${path}`;
        const found = take(scope, protocol === 'https:' ? 'node:https' : 'node:http', method, url, { method, host, port, path }, Buffer.concat(chunks));
        const failure = found instanceof Error ? found : recordedFailure(found);
        if (failure !== undefined) {
          client.destroy(failure);
          return;
        }
        const call = found as OutboundCall;
        res.sendDate = false;
        res.shouldKeepAlive = false;
        const body = decodeBody(call.response?.body);
        const headers = answerHeaders(call, DROP);
        const bodyless = method === 'HEAD' || NULL_BODY.has(call.status!);
        if (!bodyless) headers.push(['content-length', String(body.length)]);
        res.writeHead(call.status!, headers.flat());
        res.end(bodyless ? undefined : body);
      });
    });
    answerer.emit('connection', server);
    return client;
  };
  // A wrapper of ours further down the chain (installed by an earlier replay, then wrapped over by
  // someone else) must pass this one through, not answer it twice.
  nested = true;
  try {
    return previous.apply(self, withConnection(args, createConnection));
  } finally {
    nested = false;
  }
}

let nested = false;

// ---- fetch ----

type Fetch = typeof globalThis.fetch;

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function decoded(call: OutboundCall): { body: Buffer; decodedFrom?: string } {
  const body = decodeBody(call.response?.body);
  const encoding = call.response?.headers.find(([k]) => k.toLowerCase() === 'content-encoding')?.[1]?.trim().toLowerCase();
  if (!encoding || encoding === 'identity' || body.length === 0 || call.response?.body?.truncated) return { body };
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return { body: gunzipSync(body), decodedFrom: encoding };
    if (encoding === 'deflate') return { body: inflateSync(body), decodedFrom: encoding };
    if (encoding === 'br') return { body: brotliDecompressSync(body), decodedFrom: encoding };
  } catch {
    // Answered as recorded.
  }
  return { body };
}

function stubbedFetch(scope: StubScope, input: Parameters<Fetch>[0], init: Parameters<Fetch>[1]): Promise<Response> {
  return (async () => {
    const request = new Request(input, init);
    const body = request.body === null ? Buffer.alloc(0) : Buffer.from(await request.arrayBuffer());
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const path = `${url.pathname}${url.search}`;
    const key = { method, host: bare(url.hostname), port: url.port || defaultPort(url.protocol), path };
    const found = take(scope, 'fetch', method, `${url.protocol}//${url.host}${path}`, key, body);
    if (found instanceof Error) throw found;
    const failure = recordedFailure(found);
    if (failure !== undefined) throw new TypeError('fetch failed', { cause: failure });
    const { body: bytes, decodedFrom } = decoded(found);
    const drop = decodedFrom === undefined ? DROP : new Set([...DROP, 'content-encoding']);
    const status = found.status!;
    const response = new Response(NULL_BODY.has(status) || request.method === 'HEAD' ? null : new Uint8Array(bytes), {
      status,
      headers: answerHeaders(found, drop),
    });
    Object.defineProperty(response, 'url', { value: request.url });
    return response;
  })();
}

// ---- installing while a stubbed replay runs ----

let active = 0;
let installed: { mods: Array<[Module, Requester, Requester, Requester, Requester]>; fetch: Fetch | undefined; fetchStub: Fetch | undefined } | null = null;

function acquire(): void {
  if (active++ > 0) return;
  const mods: Array<[Module, Requester, Requester, Requester, Requester]> = [];
  for (const [mod, protocol] of [
    [http as unknown as Module, 'http:'],
    [https as unknown as Module, 'https:'],
  ] as const) {
    const request = mod.request;
    const get = mod.get;
    const myRequest = function request_(this: unknown, ...args: unknown[]): ClientRequest {
      const scope = storage.getStore();
      if (scope === undefined || nested) return request.apply(this, args);
      return stubbedRequest(scope, request, this, args, protocol);
    };
    const myGet = function get_(this: unknown, ...args: unknown[]): ClientRequest {
      if (storage.getStore() === undefined || nested) return get.apply(this, args);
      const req = myRequest.apply(this, args);
      req.end();
      return req;
    };
    mod.request = myRequest;
    mod.get = myGet;
    mods.push([mod, request, get, myRequest, myGet]);
  }
  const original = globalThis.fetch;
  let fetchStub: Fetch | undefined;
  if (typeof original === 'function') {
    fetchStub = function fetch(input: Parameters<Fetch>[0], init?: Parameters<Fetch>[1]): Promise<Response> {
      const scope = storage.getStore();
      if (scope === undefined) return original(input, init);
      return stubbedFetch(scope, input, init);
    } as Fetch;
    globalThis.fetch = fetchStub;
  }
  installed = { mods, fetch: original, fetchStub };
  syncBuiltinESMExports();
}

function release(): void {
  if (--active > 0 || installed === null) return;
  // Put back only what is still ours: a wrapper installed over ours keeps calling ours, which passes through.
  for (const [mod, request, get, myRequest, myGet] of installed.mods) {
    if (mod.request === myRequest) mod.request = request;
    if (mod.get === myGet) mod.get = get;
  }
  if (installed.fetchStub !== undefined && globalThis.fetch === installed.fetchStub) globalThis.fetch = installed.fetch!;
  installed = null;
  syncBuiltinESMExports();
}
