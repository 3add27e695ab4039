/**
 * `httploop/axios`: trace context on the requests of an axios instance, set by an axios request
 * interceptor. Thin glue over the request context loop() keeps (src/trace/context.ts).
 *
 * In Node, axios's default adapter goes through node:http, which loop() already hooks: those calls get
 * `traceparent` / `tracestate` (and are recorded) without this. The interceptor is for instances whose
 * requests do not go through node:http or fetch (a custom `adapter`, a mock, a test double), or that
 * want the header visible in `config.headers`.
 *
 * The outgoing call gets a child span of the request being handled:
 * `00-<traceId>-<new span id>-<01|00>`. A request that already has a `traceparent` is left as it is,
 * and so is every request made outside a request handled by loop(). When such a request then goes
 * through node:http or fetch, loop()'s hook keeps this header and records the call under its span id,
 * so `loopctl trace` links the capture downstream to it.
 *
 * axios is an optional peer dependency; only its types are imported, nothing at run time.
 */
import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { internalError } from '../src/debug.js';
import { currentTrace } from '../src/trace/context.js';
import { newSpanId } from '../src/trace/ids.js';
import { formatTraceparent } from '../src/trace/traceparent.js';

/** The part of a request config the interceptor reads and writes. */
export interface AxiosConfigLike {
  headers?: unknown;
}

/** The part of an axios instance traceAxios() uses. */
export interface AxiosInstanceLike {
  interceptors: Pick<AxiosInstance['interceptors'], 'request'>;
}

interface HeadersLike {
  has?(name: string): boolean;
  set?(name: string, value: string): unknown;
}

/** Whether `headers` (AxiosHeaders, or a plain object) has `name`, in any case. */
function hasHeader(headers: HeadersLike & Record<string, unknown>, name: string): boolean {
  if (typeof headers.has === 'function') return headers.has(name);
  return Object.keys(headers).some((k) => k.toLowerCase() === name && headers[k] !== undefined && headers[k] !== null);
}

function setHeader(headers: HeadersLike & Record<string, unknown>, name: string, value: string): void {
  if (typeof headers.set === 'function') headers.set(name, value);
  else headers[name] = value;
}

/**
 * The request interceptor: adds `traceparent` (a child span of the request loop() is handling) and,
 * when the request came with one, `tracestate`, unless the config already has a `traceparent`.
 * Returns the same config. Never throws: a failure is reported through `NODE_DEBUG=httploop`.
 */
export function traceparentInterceptor<C extends AxiosConfigLike>(config: C): C {
  try {
    const trace = currentTrace();
    if (trace === undefined || config === null || typeof config !== 'object') return config;
    if (config.headers === undefined || config.headers === null) config.headers = {};
    const headers = config.headers as HeadersLike & Record<string, unknown>;
    if (typeof headers !== 'object') return config;
    if (hasHeader(headers, 'traceparent')) return config;
    setHeader(headers, 'traceparent', formatTraceparent(trace.traceId, newSpanId(), trace.sampled));
    if (trace.tracestate !== undefined && !hasHeader(headers, 'tracestate')) setHeader(headers, 'tracestate', trace.tracestate);
  } catch (err) {
    internalError('axios interceptor', err);
  }
  return config;
}

/**
 * Adds traceparentInterceptor to `instance`'s request interceptors and returns its id (for
 * `instance.interceptors.request.eject(id)`). It is synchronous: an instance without other async
 * interceptors keeps dispatching its requests as before.
 */
export function traceAxios(instance: AxiosInstanceLike): number {
  return instance.interceptors.request.use(
    traceparentInterceptor as (config: InternalAxiosRequestConfig) => InternalAxiosRequestConfig,
    null,
    { synchronous: true },
  );
}
