import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLoopCore, type LoopControls } from '../middleware/core.js';
import type { LoopOptions } from '../src/options.js';

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
  const { recorder, controls } = createLoopCore(options, () => undefined);
  const middleware = async function httploop(ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void> {
    const ex = recorder?.begin(ctx.req, ctx.res);
    if (ex === undefined) {
      await next();
      return;
    }
    try {
      await next();
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
