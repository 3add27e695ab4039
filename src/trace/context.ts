import { AsyncLocalStorage } from 'node:async_hooks';
import { newSpanId, newTraceId } from './ids.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';
import { limitTracestate, parseTracestate } from './tracestate.js';

/** The W3C trace context of the request being handled, as `currentTrace()` returns it. */
export interface TraceInfo {
  /** 32 lower-case hex digits: the incoming trace's, or a new one. */
  traceId: string;
  /** 16 hex digits: this request's own span, new for every request. */
  spanId: string;
  /** The caller's span (the incoming `traceparent`'s parent id), when there was a valid one. */
  parentSpanId?: string;
  /** The caller's sampled flag; a trace httploop starts is not sampled (httploop records no spans). */
  sampled: boolean;
  /** The incoming `tracestate`, validated, passed on to outgoing calls. */
  tracestate?: string;
}

/**
 * What httploop knows about one request while it is handled: its trace context, and where its
 * outgoing calls are reported (`sink`: the exchange while it may still be captured, or a diagnostic
 * TRACE's session). One object per request, of one shape, stored in an AsyncLocalStorage that the handler's
 * callbacks, timers and promises carry along.
 */
export class RequestContext implements TraceInfo {
  parentSpanId: string | undefined = undefined;
  tracestate: string | undefined = undefined;
  /** Receives this request's outgoing calls while they may become part of a capture. */
  sink: OutboundSink | null = null;
  /** The response of this request, and the `traceresponse` it gets (null: none). */
  response: object | null = null;
  traceresponse: string | null = null;

  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly sampled: boolean,
  ) {}

  /** The `traceparent` for an outgoing call whose span id is `childSpanId`. */
  childTraceparent(childSpanId: string): string {
    return formatTraceparent(this.traceId, childSpanId, this.sampled);
  }
}

/** Where an outgoing call made under a request is reported. */
export interface OutboundSink {
  /** A call began; returns a handle its later events are reported through, or null to ignore it. */
  started(call: OutboundStart): OutboundHandle | null;
}

export interface OutboundStart {
  spanId: string;
  method: string;
  url: string;
  /** host:port as the app named it. */
  destination: string;
  headers: Array<[string, string]>;
}

export interface OutboundHandle {
  /** Extra request headers for this call (diagnostic TRACE passes its headers on). */
  headers?: Array<[string, string]>;
  requestBody?(chunk: unknown, encoding?: unknown): void;
  response(status: number, headers: Array<[string, string]>, remoteAddress: string | undefined): void;
  responseBody?(chunk: unknown): void;
  done(error?: unknown): void;
}

/**
 * One storage for every copy of httploop in the process (the ESM and CommonJS builds may both load):
 * shared through the global symbol registry, like the exchanges map.
 */
const registry = globalThis as unknown as Record<symbol, AsyncLocalStorage<RequestContext> | undefined>;
const kStorage = Symbol.for('httploop.context');
export const requestContext: AsyncLocalStorage<RequestContext> = (registry[kStorage] ??= new AsyncLocalStorage<RequestContext>());

/**
 * The trace context of a request as it arrives: a valid incoming `traceparent` continues its trace
 * (with a new span id for this hop), anything else starts a new trace. `tracestate` is kept only
 * with a valid `traceparent`, as the spec says (https://www.w3.org/TR/trace-context/#tracestate-header).
 */
export function contextFor(traceparent: string | string[] | undefined, tracestate: string | string[] | undefined): RequestContext {
  const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent);
  if (parent === undefined) return new RequestContext(newTraceId(), newSpanId(), false);
  const ctx = new RequestContext(parent.traceId, newSpanId(), parent.sampled);
  ctx.parentSpanId = parent.parentId;
  if (tracestate !== undefined) {
    const state = parseTracestate(tracestate);
    if (state !== undefined) ctx.tracestate = limitTracestate(state);
  }
  return ctx;
}

/**
 * The trace context of the request being handled, or undefined outside of one (and where Node loses
 * the async context: see README, "Trace context"). Its `traceId` is the one to search captures by:
 * `loopctl list --trace ID`, `loopctl trace ID`.
 */
export function currentTrace(): TraceInfo | undefined {
  const ctx = requestContext.getStore();
  if (ctx === undefined) return undefined;
  const info: TraceInfo = { traceId: ctx.traceId, spanId: ctx.spanId, sampled: ctx.sampled };
  if (ctx.parentSpanId !== undefined) info.parentSpanId = ctx.parentSpanId;
  if (ctx.tracestate !== undefined) info.tracestate = ctx.tracestate;
  return info;
}
