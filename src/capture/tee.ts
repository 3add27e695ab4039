import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { internalError } from '../debug.js';
import { type Exchange, exchanges } from './exchange.js';
import { requestContext, type RequestContext } from '../trace/context.js';

type Writer = (this: ServerResponse, ...args: unknown[]) => unknown;

const kTeeInstalled = Symbol.for('httploop.tee');

/**
 * Responses whose header block is written outside their request's async context by design: Koa
 * answers from a `.then()` on its middleware chain, registered before loop() ran the chain in the
 * request's context. writeHead finds their trace context here when the exchange is gone (the rules
 * said no early, or there are none). Shared by both builds, like the exchanges map.
 */
const answerRegistry = globalThis as unknown as Record<symbol, WeakMap<object, RequestContext> | undefined>;
export const answeredOutsideContext: WeakMap<object, RequestContext> = (answerRegistry[Symbol.for('httploop.answeredOutsideContext')] ??=
  new WeakMap<object, RequestContext>());

/**
 * Sees the bytes a response sends by wrapping write() and end() once, on ServerResponse.prototype,
 * rather than on every response: an instance wrapper costs ~4% of hello-world throughput
 * (DESIGN.md), a prototype one a property read. Responses without an exchange pass straight through.
 * The original runs first and its return value (backpressure) is returned untouched; the tee then
 * looks at the chunk, with status and header block final. Symbol.for keys let the ESM and CommonJS
 * builds, if both load, share one tee.
 */
export function installResponseTee(): void {
  const proto = ServerResponse.prototype as unknown as Record<PropertyKey, unknown>;
  if (proto[kTeeInstalled] === true) return;
  const write = proto.write as Writer;
  const end = proto.end as Writer;
  const writeHead = proto.writeHead as Writer;
  // Every header block goes through writeHead (Node's implicit headers call this.writeHead too): the
  // one place `traceresponse` can be added without touching how the app's own headers are merged.
  proto.writeHead = function writeHead_(this: ServerResponse): unknown {
    let ctx = requestContext.getStore();
    // Not in this response's own context (Koa answers outside it; or another request writes to it).
    if (ctx === undefined || ctx.response !== this) {
      ctx = exchanges.get(this)?.trace;
      if (ctx === undefined) {
        ctx = answeredOutsideContext.get(this);
        // Used once, then dropped: a WeakMap entry left for the garbage collector keeps the response
        // alive through young-generation collections (V8 ephemerons), which doubled Koa's CPU per request.
        if (ctx !== undefined) answeredOutsideContext.delete(this);
      }
    }
    // eslint-disable-next-line prefer-rest-params
    if (ctx === undefined || ctx.response !== this || ctx.traceresponse === null) return writeHead.apply(this, arguments as unknown as unknown[]);
    // eslint-disable-next-line prefer-rest-params
    return writeHead.apply(this, withTraceresponse(this, ctx, arguments as unknown as unknown[]));
  };
  proto.write = function write_(this: ServerResponse, chunk: unknown, encoding: unknown): unknown {
    // eslint-disable-next-line prefer-rest-params
    const ret = write.apply(this, arguments as unknown as unknown[]);
    const ex = exchanges.get(this);
    if (ex !== undefined && ex.watching) observe(ex, chunk, encoding);
    return ret;
  };
  proto.end = function end_(this: ServerResponse, chunk: unknown, encoding: unknown): unknown {
    // eslint-disable-next-line prefer-rest-params
    const ret = end.apply(this, arguments as unknown as unknown[]);
    const ex = exchanges.get(this);
    if (ex !== undefined && ex.watching) observe(ex, chunk, encoding);
    return ret;
  };
  proto[kTeeInstalled] = true;
}

/**
 * writeHead's arguments with `traceresponse` added. Headers passed to writeHead are extended in a
 * copy (the app's object or array is not changed, and an array keeps its repeated names: Node merges
 * it as given); with none, the header is set the way setHeader would. The app's own
 * `traceresponse`, if it set one, is kept.
 */
function withTraceresponse(res: ServerResponse, ctx: RequestContext, args: unknown[]): unknown[] {
  try {
    const value = ctx.traceresponse!;
    ctx.traceresponse = null; // once: writeHead may be called again (a 103 Early Hints is not writeHead)
    // Async resources created in the request's context keep the context (the AsyncLocalStorage
    // store) alive after the request; a context that still pointed at its response kept the whole
    // exchange out of young-generation collection (measured: Koa's CPU per request 29 -> 62 us).
    ctx.response = null;
    const at = typeof args[1] === 'string' ? 2 : 1;
    const headers = args[at];
    if (headers === undefined || headers === null) {
      if (!res.hasHeader('traceresponse')) res.setHeader('traceresponse', value);
      return args;
    }
    const out = Array.prototype.slice.call(args) as unknown[];
    if (Array.isArray(headers)) {
      if (headers.some((h) => (Array.isArray(h) ? String(h[0]) : String(h)).toLowerCase() === 'traceresponse') || res.hasHeader('traceresponse')) return args;
      out[at] = headers.length > 0 && Array.isArray(headers[0]) ? [...headers, ['traceresponse', value]] : [...headers, 'traceresponse', value];
    } else if (typeof headers === 'object') {
      if (Object.keys(headers).some((k) => k.toLowerCase() === 'traceresponse') || res.hasHeader('traceresponse')) return args;
      out[at] = { ...(headers as Record<string, unknown>), traceresponse: value };
    }
    return out;
  } catch (err) {
    internalError('traceresponse', err);
    return args;
  }
}

function observe(ex: Exchange, chunk: unknown, encoding: unknown): void {
  try {
    ex.onResponseWrite(chunk, encoding);
  } catch (err) {
    internalError('response tee', err);
  }
}

/**
 * Sees request body bytes without reading them: the HTTP parser hands each chunk to the stream's
 * push() (and null at the end), so wrapping push on this one request observes the bytes as they
 * arrive, whoever reads them and whenever, and never changes flow or timing. Only requests that
 * announce a body get the wrapper.
 */
export function attachRequestTee(req: IncomingMessage, headers: IncomingHttpHeaders, ex: Exchange): void {
  if (headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0')) return;
  ex.push = req.push;
  exchanges.set(req, ex);
  req.push = pushTee;
}

function pushTee(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
  const ex = exchanges.get(this)!;
  if (ex.watching) {
    try {
      ex.onRequestChunk(chunk, encoding);
    } catch (err) {
      internalError('request tee', err);
    }
  }
  return ex.push!.call(this, chunk, encoding);
}
