import type { IncomingMessage, ServerResponse } from 'node:http';
import { internalError } from '../debug.js';
import type { RequestContext } from '../trace/context.js';
import { Exchange, type CaptureSettings, exchanges } from './exchange.js';
import { attachRequestTee, installResponseTee } from './tee.js';

/**
 * Starts watching requests for one loop(): framework adapters call begin() first thing and get the
 * exchange back (or undefined when the rules already say no, or the request is not to be watched).
 */
export class Recorder {
  constructor(
    private settings: CaptureSettings,
    private readonly captureReplays: boolean,
  ) {
    installResponseTee();
  }

  /** A new rule set, for the requests that start from now on; running exchanges keep theirs. */
  update(settings: CaptureSettings): void {
    this.settings = settings;
  }

  begin(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Exchange | undefined {
    try {
      if (this.settings.rules.length === 0) return undefined;
      // Already watched by another loop() (mounted twice, or Koa inside Express).
      if (exchanges.has(res)) return undefined;
      const headers = req.headers;
      if (!this.captureReplays && headers['loop-replay'] !== undefined) return undefined;
      const ex = new Exchange(req, res, req.url ?? '/', this.settings, ctx);
      ex.decide(0);
      if (!ex.watching) return undefined;
      exchanges.set(res, ex);
      // A rule set whose every rule says `outbound: false` keeps no outgoing calls.
      if (this.settings.recordOutbound) ctx.sink = ex;
      attachRequestTee(req, headers, ex);
      return ex;
    } catch (err) {
      internalError('begin', err);
      return undefined;
    }
  }

  /** An exchange that is judged but never captured (a diagnostic TRACE asks which rules would). */
  dryRun(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Exchange {
    return new Exchange(req, res, req.url ?? '/', this.settings, ctx);
  }
}
