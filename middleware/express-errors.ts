import type { IncomingMessage } from 'node:http';
import { type Exchange, exchanges } from '../src/capture/exchange.js';
import { internalError } from '../src/debug.js';

type Next = (err?: unknown) => void;
type Fn = (this: unknown, ...args: unknown[]) => unknown;

const kPatched = Symbol.for('httploop.express-layer');

/**
 * Lets captures hold the error an Express handler threw, rejected with, or passed to next(err).
 * Express gives middleware no way to see errors raised after it, so, as APM agents do, the router's
 * Layer is taught to hand watched requests a `next` that notes the error on the way through. Express
 * 4 names the methods handle_request / handle_error, Express 5 (router 2) handleRequest / handleError.
 * Requests that are not watched get the original next.
 */
export function watchExpressErrors(req: IncomingMessage): void {
  try {
    const app = (req as { app?: { _router?: Router; router?: Router } }).app;
    if (app === undefined) return;
    // Express 4 throws on `app.router`; its router is `_router`. Express 5 has `router`.
    const router = app._router ?? app.router;
    const layer = router?.stack?.[0];
    if (layer === undefined) return;
    const proto = Object.getPrototypeOf(layer) as Record<PropertyKey, unknown>;
    if (proto[kPatched] === true) return;
    proto[kPatched] = true;
    for (const name of ['handle_request', 'handleRequest']) wrapRequest(proto, name);
    for (const name of ['handle_error', 'handleError']) wrapError(proto, name);
  } catch (err) {
    internalError('express errors', err);
  }
}

interface Router {
  stack?: object[];
}

function wrapRequest(proto: Record<PropertyKey, unknown>, name: string): void {
  const original = proto[name];
  if (typeof original !== 'function') return;
  proto[name] = function (this: { method?: string }, req: unknown, res: object, next: Next) {
    const ex = exchanges.get(res);
    // Layers inside a route (they have a method) pass errors to the route, which hands them to the
    // router-level next below: wrapping only that one costs one closure per request.
    if (ex === undefined || !ex.watching || this.method !== undefined) return (original as Fn).call(this, req, res, next);
    return (original as Fn).call(this, req, res, noting(ex, next));
  };
}

function wrapError(proto: Record<PropertyKey, unknown>, name: string): void {
  const original = proto[name];
  if (typeof original !== 'function') return;
  proto[name] = function (this: unknown, error: unknown, req: unknown, res: object, next: Next) {
    const ex = exchanges.get(res);
    if (ex === undefined || !ex.watching) return (original as Fn).call(this, error, req, res, next);
    ex.error = error;
    return (original as Fn).call(this, error, req, res, noting(ex, next));
  };
}

/** The router's next for this request, wrapped once to note errors on the way through. */
function noting(ex: Exchange, next: Next): Next {
  if (ex.nextIn === next) return ex.nextOut as Next;
  const wrapped = function (this: unknown, err?: unknown) {
    if (err !== undefined && err !== null && err !== 'route' && err !== 'router' && ex.watching) ex.error = err;
    // eslint-disable-next-line prefer-rest-params
    return (next as Fn).apply(this, arguments as unknown as unknown[]) as void;
  };
  ex.nextIn = next;
  ex.nextOut = wrapped;
  return wrapped;
}
