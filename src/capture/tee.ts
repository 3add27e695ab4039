import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { internalError } from '../debug.js';
import { type Exchange, exchanges } from './exchange.js';

type Writer = (this: ServerResponse, ...args: unknown[]) => unknown;

const kTeeInstalled = Symbol.for('httploop.tee');

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
