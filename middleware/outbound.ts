/**
 * Outgoing calls made while a request is handled: each one carries the request's trace context (a
 * `traceparent` with a child span of its own, and `tracestate`), and, while the request's exchange
 * may still be captured or is a diagnostic TRACE, is reported to it (method, URL, headers, bodies,
 * status, timing, error).
 *
 * - node:http and node:https (and every client built on them: axios, got, node-fetch, …): Node 20
 *   publishes `http.client.request.start` only once the request's header block is serialized (seen on
 *   20.20: `setHeader` there throws ERR_HTTP_HEADERS_SENT), too late to add `traceparent`. So
 *   `request` and `get` of both modules are wrapped, as OpenTelemetry's http instrumentation does,
 *   and the wrapper adds the headers to the ClientRequest before anything is sent.
 * - global `fetch` (undici): `undici:request:create` is published before the request is written, and
 *   `request.addHeader` adds to it; `undici:request:headers`, `:trailers` and `:error` report the rest.
 *
 * Nothing here adds an event listener to the app's objects (an 'error' listener would swallow errors
 * the app does not handle): events are seen by wrapping `emit` on that one request, and response
 * bytes by wrapping `push` on that one response, as the request tee does.
 */
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { subscribe } from 'node:diagnostics_channel';
import { internalError } from '../src/debug.js';
import { newSpanId } from '../src/trace/ids.js';
import { parseTraceparent } from '../src/trace/traceparent.js';
import { requestContext, type OutboundHandle, type RequestContext } from '../src/trace/context.js';
import { internalAgents } from '../src/ship/transport.js';
import type { HeaderList } from '../src/capture/record.js';
import { parseHeaderBlock } from '../src/capture/exchange.js';

const kInstalled = Symbol.for('httploop.outbound');
const registry = globalThis as unknown as Record<symbol, boolean | undefined>;

/** Installs the hooks once per process (both builds of httploop share them). */
export function installOutboundHooks(): void {
  if (registry[kInstalled] === true) return;
  registry[kInstalled] = true;
  // The default imports are the modules' own objects: what require('node:http') returns too.
  for (const [mod, protocol] of [
    [http as unknown as { request: Requester; get: Requester }, 'http:'],
    [https as unknown as { request: Requester; get: Requester }, 'https:'],
  ] as const) {
    const request = mod.request;
    const wrapped = function request_(this: unknown, ...args: unknown[]): ClientRequest {
      const req = request.apply(this, args);
      onClientRequest(req, protocol, args);
      return req;
    };
    mod.request = wrapped;
    // What http.get does, with the wrapped request: its own call of request() is module-internal.
    mod.get = function get(this: unknown, ...args: unknown[]): ClientRequest {
      const req = wrapped.apply(this, args);
      req.end();
      return req;
    };
  }
  // `import { request } from 'node:http'` are live bindings of the module object's properties.
  syncBuiltinESMExports();
  subscribe('undici:request:create', onUndiciCreate as (message: unknown) => void);
  subscribe('undici:client:sendHeaders', onUndiciSendHeaders as (message: unknown) => void);
  subscribe('undici:request:headers', onUndiciHeaders as (message: unknown) => void);
  subscribe('undici:request:trailers', onUndiciEnd as (message: unknown) => void);
  subscribe('undici:request:error', onUndiciError as (message: unknown) => void);
}

type Requester = (...args: unknown[]) => ClientRequest;

/**
 * The span id an outgoing call gets: a new one, sent in a `traceparent` we add; or, when the app (or
 * httploop/axios, or another tracer) already set one, the parent id in it if it belongs to this trace.
 */
function spanFor(ctx: RequestContext, existing: unknown): { spanId: string; add: boolean } {
  if (existing === undefined) return { spanId: newSpanId(), add: true };
  const parsed = parseTraceparent(typeof existing === 'string' ? existing : undefined);
  return { spanId: parsed !== undefined && parsed.traceId === ctx.traceId ? parsed.parentId : '', add: false };
}

function onClientRequest(req: ClientRequest, protocol: string, args: unknown[]): void {
  const ctx = requestContext.getStore();
  if (ctx === undefined) return;
  try {
    const agent = (req as { agent?: unknown }).agent;
    if (agent !== undefined && agent !== null && internalAgents.has(agent as object)) return;
    // Headers given as an array are serialized at once (ClientRequest's constructor): nothing can be
    // added to those; they go out as the app wrote them.
    const open = !req.headersSent;
    const sent = open ? null : parseHeaderBlock((req as { _header?: string })._header ?? '');
    // A call that went out as the app wrote it has the span of the traceparent it carries, if any.
    const { spanId, add } = spanFor(ctx, open ? req.getHeader('traceparent') : (sent!.find(([k]) => k.toLowerCase() === 'traceparent')?.[1] ?? ''));
    if (open && add) {
      req.setHeader('traceparent', ctx.childTraceparent(spanId));
      if (ctx.tracestate !== undefined && req.getHeader('tracestate') === undefined) req.setHeader('tracestate', ctx.tracestate);
    }
    const sink = ctx.sink;
    if (sink === null) return;
    const host = req.host ?? 'localhost';
    const port = (req as { socketPath?: string }).socketPath ?? portOf(req, protocol, args);
    const destination = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const handle = sink.started({
      spanId,
      method: req.method,
      url: `${protocol}//${destination}${req.path}`,
      destination,
      headers: sent ?? headerListOf(req),
    });
    if (handle === null) return;
    if (open && handle.headers !== undefined) for (const [k, v] of handle.headers) req.setHeader(k, v);
    watchClientRequest(req, handle);
  } catch (err) {
    internalError('outbound call', err);
  }
}

/**
 * The port the request connects to. Node keeps it nowhere on the ClientRequest (only in the Host
 * header it builds, which the app may have replaced, by one naming another port or none), so it is
 * worked out from request()'s arguments as Node does: `options.port` over the URL's port, then
 * `defaultPort`, then the agent's.
 */
function portOf(req: ClientRequest, protocol: string, args: unknown[]): string {
  const agent = (req as { agent?: { defaultPort?: number } }).agent;
  const [input, options] = args;
  let port: unknown;
  let defaultPort: unknown;
  if (typeof input === 'string' || input instanceof URL) {
    try {
      port = (typeof input === 'string' ? new URL(input) : input).port || undefined;
    } catch {
      // request() threw for it already; not reached
    }
    if (options !== null && typeof options === 'object') {
      const o = options as { port?: unknown; defaultPort?: unknown };
      // Node merges the options over the URL's with Object.assign: an own `port` wins, even undefined.
      if (Object.prototype.hasOwnProperty.call(o, 'port')) port = o.port;
      defaultPort = o.defaultPort;
    }
  } else if (input !== null && typeof input === 'object') {
    ({ port, defaultPort } = input as { port?: unknown; defaultPort?: unknown });
  }
  return String(port || defaultPort || agent?.defaultPort || (protocol === 'https:' ? 443 : 80));
}

function headerListOf(req: ClientRequest): HeaderList {
  const out: HeaderList = [];
  for (const name of (req as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
    const v = req.getHeader(name);
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push([name, item]);
    else out.push([name, String(v)]);
  }
  return out;
}

/** Events of one ClientRequest, seen through its own emit, write and end. */
function watchClientRequest(req: ClientRequest, handle: OutboundHandle): void {
  const call = handle as OutboundHandle & { sentHeaders?(h: HeaderList): void };
  const emit = req.emit;
  req.emit = function emit_(this: ClientRequest, event: string | symbol, ...args: unknown[]): boolean {
    try {
      if (event === 'response') watchResponse(this, args[0] as IncomingMessage, call);
      else if (event === 'error') call.done(args[0]);
      else if (event === 'close') call.done();
    } catch (err) {
      internalError('outbound call', err);
    }
    return emit.call(this, event, ...args);
  } as typeof req.emit;
  if (call.requestBody === undefined) return;
  const write = req.write;
  const end = req.end;
  req.write = function write_(this: ClientRequest, chunk: unknown, ...rest: unknown[]): boolean {
    tap(call, chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof req.write;
  req.end = function end_(this: ClientRequest, chunk?: unknown, ...rest: unknown[]): ClientRequest {
    if (typeof chunk !== 'function') tap(call, chunk, rest[0]);
    return (end as (...a: unknown[]) => ClientRequest).call(this, chunk, ...rest);
  } as typeof req.end;
}

function tap(call: OutboundHandle, chunk: unknown, encoding: unknown): void {
  if (chunk === undefined || chunk === null) return;
  try {
    call.requestBody!(chunk, typeof encoding === 'string' ? encoding : undefined);
  } catch (err) {
    internalError('outbound call', err);
  }
}

function watchResponse(req: ClientRequest, res: IncomingMessage, call: OutboundHandle & { sentHeaders?(h: HeaderList): void }): void {
  const block = (req as { _header?: string })._header;
  if (typeof block === 'string' && call.sentHeaders !== undefined) call.sentHeaders(parseHeaderBlock(`x\r\n${block.slice(block.indexOf('\r\n') + 2)}`));
  const headers: HeaderList = [];
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i]!, raw[i + 1]!]);
  const socket = res.socket;
  const remote = socket?.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`;
  call.response(res.statusCode ?? 0, headers, remote);
  const push = res.push;
  res.push = function push_(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    try {
      if (chunk === null) call.done();
      else call.responseBody?.(chunk);
    } catch (err) {
      internalError('outbound call', err);
    }
    return push.call(this, chunk, encoding);
  };
}

// ---- fetch (undici) ----

interface UndiciRequest {
  origin: string | URL;
  method: string;
  path: string;
  headers: string | unknown[];
  body?: unknown;
  addHeader(name: string, value: string): unknown;
}

/** The handle of each fetch in flight that is being recorded. */
const undiciCalls = new WeakMap<object, OutboundHandle>();
/** The address each recorded fetch was sent to (`ip:port`), from the socket its headers went out on. */
const undiciRemotes = new WeakMap<object, string>();

function onUndiciCreate({ request }: { request: UndiciRequest }): void {
  const ctx = requestContext.getStore();
  if (ctx === undefined) return;
  try {
    const headers = undiciHeaders(request.headers);
    const existing = headers.find(([k]) => k.toLowerCase() === 'traceparent')?.[1];
    const { spanId, add } = spanFor(ctx, existing);
    if (add) {
      request.addHeader('traceparent', ctx.childTraceparent(spanId));
      if (ctx.tracestate !== undefined && !headers.some(([k]) => k.toLowerCase() === 'tracestate')) request.addHeader('tracestate', ctx.tracestate);
    }
    const sink = ctx.sink;
    if (sink === null) return;
    const origin = new URL(String(request.origin));
    const destination = `${origin.hostname}:${origin.port || (origin.protocol === 'https:' ? '443' : '80')}`;
    const handle = sink.started({
      spanId,
      method: request.method,
      url: `${origin.protocol}//${origin.host}${request.path}`,
      destination,
      headers: undiciHeaders(request.headers),
    });
    if (handle === null) return;
    if (handle.headers !== undefined) for (const [k, v] of handle.headers) request.addHeader(k, v);
    // Bodies given whole (a string or bytes) are recorded; a stream's bytes are not seen here.
    const body = request.body;
    if (handle.requestBody !== undefined && (typeof body === 'string' || body instanceof Uint8Array)) handle.requestBody(body);
    undiciCalls.set(request, handle);
  } catch (err) {
    internalError('outbound call', err);
  }
}

function onUndiciSendHeaders({ request, socket }: { request: object; socket?: { remoteAddress?: string; remotePort?: number } }): void {
  if (!undiciCalls.has(request) || socket?.remoteAddress === undefined) return;
  undiciRemotes.set(request, `${socket.remoteAddress}:${socket.remotePort}`);
}

function onUndiciHeaders({ request, response }: { request: object; response: { statusCode: number; headers: unknown[] } }): void {
  const handle = undiciCalls.get(request);
  if (handle === undefined) return;
  try {
    handle.response(response.statusCode, undiciHeaders(response.headers), undiciRemotes.get(request));
  } catch (err) {
    internalError('outbound call', err);
  }
}

function onUndiciEnd({ request }: { request: object }): void {
  undiciCalls.get(request)?.done();
  undiciCalls.delete(request);
}

function onUndiciError({ request, error }: { request: object; error: unknown }): void {
  undiciCalls.get(request)?.done(error);
  undiciCalls.delete(request);
}

/** undici keeps headers as a flat array of names and values (Buffers or strings), or as one string. */
function undiciHeaders(headers: string | unknown[]): HeaderList {
  const out: HeaderList = [];
  if (typeof headers === 'string') {
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) out.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
    return out;
  }
  for (let i = 0; i + 1 < headers.length; i += 2) out.push([String(headers[i]), String(headers[i + 1])]);
  return out;
}
