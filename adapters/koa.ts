import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLoopCore, type LoopControls } from '../middleware/core.js';
import type { LoopOptions } from '../src/options.js';
import { exchanges } from '../src/capture/exchange.js';
import { answeredOutsideContext } from '../src/capture/tee.js';
import { requestContext } from '../src/trace/context.js';

/** The part of a Koa context loop() reads. */
export interface KoaContextLike {
  req: IncomingMessage;
  res: ServerResponse;
  /** Set by @koa/router to the matched route's path. */
  _matchedRoute?: string | RegExp;
}

export interface KoaLoopMiddleware extends LoopControls {
  (ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void>;
}

/** loop() for Koa 2/3: `app.use(loop())`, first. Same options as `httploop`'s loop(). */
export function loop(options?: LoopOptions): KoaLoopMiddleware {
  const { controls, begin } = createLoopCore(options, () => undefined);
  const middleware = async function httploop(ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void> {
    const { ctx: trace, handled } = begin(ctx.req, ctx.res, ctx);
    if (handled) {
      // httploop answered (a diagnostic TRACE that goes no further): Koa must not write again.
      (ctx as { respond?: boolean }).respond = false;
      return;
    }
    // Koa writes the response after this middleware's promise settles, outside the request's
    // context: the response tee finds its traceresponse through this map.
    if (trace !== undefined && trace.traceresponse !== null) answeredOutsideContext.set(ctx.res, trace);
    const ex = exchanges.get(ctx.res);
    if (ex === undefined) {
      await (trace === undefined ? next() : requestContext.run(trace, next));
      return;
    }
    try {
      await (trace === undefined ? next() : requestContext.run(trace, next));
    } catch (err) {
      ex.error = err;
      throw err;
    } finally {
      if (ctx._matchedRoute !== undefined) ex.route = String(ctx._matchedRoute);
    }
  } as KoaLoopMiddleware;
  middleware.flush = controls.flush;
  middleware.close = controls.close;
  middleware.stats = controls.stats;
  return middleware;
}

export type { LoopOptions } from '../src/options.js';
export type { LoopStats, LoopControls } from '../middleware/core.js';
export { currentTrace } from '../src/trace/context.js';
export type { TraceInfo } from '../src/trace/context.js';
