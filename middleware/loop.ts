import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoopOptions } from '../src/options.js';
import { requestContext } from '../src/trace/context.js';
import { exchanges } from '../src/capture/exchange.js';
import { createLoopCore, type LoopControls } from './core.js';
import { watchExpressErrors } from './express-errors.js';

/** The middleware loop() returns: `(req, res, next)` for Express 4/5, Connect and node:http. */
export interface LoopMiddleware extends LoopControls {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
}

/**
 * Captures the exchanges that match a rule (by default every 5xx) and ships them to the collector.
 * Mount it first: `app.use(loop())`. With plain node:http, call it at the top of the request
 * listener: `mw(req, res, () => handle(req, res))`.
 */
export function loop(options?: LoopOptions): LoopMiddleware {
  const { controls, begin } = createLoopCore(options, expressRoute);
  // Express sets req.app before any middleware runs, so the first request tells whether this is
  // Express and which router to hook; it is not read again (every read of req costs, see exchange.ts).
  let checkedForExpress = false;
  const middleware = function httploop(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void {
    const { ctx, handled } = begin(req, res);
    if (handled) return;
    if (!checkedForExpress && exchanges.has(res)) {
      checkedForExpress = true;
      watchExpressErrors(req);
    }
    if (next === undefined) return;
    // The rest of the app runs in the request's trace context: its outgoing calls carry it.
    if (ctx === undefined) next();
    else requestContext.run(ctx, next);
  } as LoopMiddleware;
  middleware.flush = controls.flush;
  middleware.close = controls.close;
  middleware.stats = controls.stats;
  return middleware;
}

/** Express keeps the matched route on req.route, relative to the router it sits in (req.baseUrl). */
function expressRoute(req: IncomingMessage): string | undefined {
  const r = req as { route?: { path?: unknown }; baseUrl?: string };
  if (r.route === undefined || r.route.path === undefined) return undefined;
  return `${r.baseUrl ?? ''}${String(r.route.path)}`;
}
