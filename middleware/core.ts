import type { IncomingMessage, ServerResponse } from 'node:http';
import { Recorder } from '../src/capture/recorder.js';
import { Redactor, type RedactOptions } from '../src/capture/redact.js';
import type { CaptureSettings } from '../src/capture/exchange.js';
import type { CaptureRecord } from '../src/capture/record.js';
import { internalError, internalErrorCount } from '../src/debug.js';
import { DEFAULT_RULE } from '../src/match/index.js';
import { RuleBook, type ActiveRule, type RuleCounters, type RuleSet, type RuleSource } from '../src/match/rule-set.js';
import { appliesTo, type TapConfig } from '../src/match/tapconfig.js';
import { type LoopOptions, resolveOptions } from '../src/options.js';
import { RuleFeed } from '../src/ship/rule-feed.js';
import { emptyStats, Shipper, type ShipperStats } from '../src/ship/shipper.js';
import { contextFor, requestContext, type RequestContext } from '../src/trace/context.js';
import { formatTraceresponse } from '../src/trace/traceparent.js';
import { DiagSession, diagRequested, maxForwardsOf } from './diag.js';
import { installOutboundHooks } from './outbound.js';

/** Counters of one loop(), from `loop().stats()`. */
export interface LoopStats extends ShipperStats {
  /** Exchanges that matched a rule and became captures. */
  captured: number;
  /** Internal failures (all of them were kept from the app; see NODE_DEBUG=httploop). */
  internalErrors: number;
  /** The rules in force: loop()'s own (`local`) or the collector's TapConfigs, and their version. */
  ruleSet: { source: RuleSource; version: number; names: string[] };
  /** Per rule name: matches, and what sampling and rate limits skipped. */
  rules: Array<{ name: string } & RuleCounters>;
}

/** What loop() adds to the middleware function it returns, for graceful shutdown and monitoring. */
export interface LoopControls {
  /** Sends every queued capture now; resolves when the queue is empty or the collector is not answering. */
  flush(): Promise<void>;
  /** Stops following the collector's rules, flushes (up to 5 s), then stops shipping. */
  close(): Promise<void>;
  stats(): LoopStats;
}

/** At most this many merged redactors (for captures matched by several rules with their own names). */
const MAX_REDACTORS = 64;

/**
 * The framework-independent part of loop(): options resolved and checked once, the local rules
 * compiled once, a recorder for requests, a feed of the collector's rules, and a shipper created on
 * the first capture.
 */
export function createLoopCore(options: LoopOptions | undefined, routeOf: (req: IncomingMessage) => string | undefined) {
  const resolved = resolveOptions(options);
  const book = new RuleBook(resolved.service, {
    maxRequestBodyBytes: resolved.maxRequestBodyBytes,
    maxResponseBodyBytes: resolved.maxResponseBodyBytes,
  });
  // loop({ match }) is the rule named 'match'; with no rules at all, the seed's rule named 'default'.
  const extra =
    resolved.match !== undefined
      ? { name: 'match', match: resolved.match }
      : resolved.rules === undefined
        ? { name: 'default', match: DEFAULT_RULE }
        : undefined;
  const localSet = book.build(resolved.rules ?? [], 'local', 0, extra);
  let ruleSet = localSet;
  /** The collector's rules version last received (also while the local rules are in force). */
  let remoteVersion = 0;

  let shipper: Shipper | undefined;
  let captured = 0;
  const sink = (record: CaptureRecord): void => {
    try {
      captured++;
      shipper ??= new Shipper({
        collector: resolved.collector,
        token: resolved.token,
        maxQueue: resolved.queue.maxCaptures,
        maxQueueBytes: resolved.queue.maxBytes,
        batchSize: resolved.queue.batchSize,
        flushIntervalMs: resolved.queue.flushIntervalMs,
        timeoutMs: resolved.queue.timeoutMs,
      });
      shipper.enqueue(record);
    } catch (err) {
      internalError('ship', err);
    }
  };

  const baseRedactor = new Redactor(resolved.redact);
  const redactors = new Map<string, Redactor>();
  const redactorFor = (rules: readonly ActiveRule[]): Redactor => {
    if (!rules.some((r) => r.redact !== undefined)) return baseRedactor;
    const key = rules.map((r) => r.name).join('\0');
    let redactor = redactors.get(key);
    if (redactor === undefined) {
      redactor = new Redactor(mergeRedact(resolved.redact, rules));
      if (redactors.size >= MAX_REDACTORS) redactors.clear();
      redactors.set(key, redactor);
    }
    return redactor;
  };
  const settingsFor = (set: RuleSet): CaptureSettings => ({
    service: resolved.service,
    instance: resolved.instance,
    maxRequestBodyBytes: set.maxRequestBodyBytes,
    maxResponseBodyBytes: set.maxResponseBodyBytes,
    redactorFor,
    ruleSet: set,
    rules: set.rules,
    recordOutbound: set.rules.some((r) => r.outbound),
    routeOf,
    sink,
  });
  const recorder = resolved.enabled ? new Recorder(settingsFor(ruleSet), resolved.captureReplays) : undefined;

  /** The collector's rules replace the local ones while any applies here; none means the local ones again. */
  const onRules = (configs: TapConfig[], version: number): void => {
    try {
      const mine = configs.filter((c) => appliesTo(c, resolved.service));
      const next = mine.length > 0 ? book.build(mine, 'collector', version) : localSet;
      remoteVersion = version;
      if (next === ruleSet) return; // still the local rules: nothing to swap
      ruleSet = next;
      recorder!.update(settingsFor(next));
    } catch (err) {
      // A set this version of httploop cannot compile: keep the last good one.
      internalError('rules from the collector', err);
    }
  };
  const feed =
    recorder !== undefined && resolved.remoteRules
      ? new RuleFeed({
          collector: resolved.collector,
          token: resolved.token,
          service: resolved.service,
          instance: resolved.instance,
          onRules,
          state: () => ({ version: remoteVersion, source: ruleSet.source }),
        })
      : undefined;
  feed?.start();
  if (recorder !== undefined) installOutboundHooks();
  const diagToken = resolved.diagToken;
  const traceResponse = resolved.traceResponse;

  /**
   * What loop() does first on every request: its trace context (continued from `traceparent`, or
   * new), the exchange when the rules may capture it, and a diagnostic TRACE when one is asked for
   * with the right token. `handled` is true when httploop answered by itself (a diagnostic request
   * with Max-Forwards 0 or a bad one): the app must not run. Never throws.
   */
  const begin = (req: IncomingMessage, res: ServerResponse, routed?: RouteHolder): { ctx: RequestContext | undefined; handled: boolean } => {
    if (recorder === undefined) return { ctx: undefined, handled: false };
    let ctx: RequestContext | undefined;
    try {
      const headers = req.headers;
      ctx = contextFor(headers.traceparent, headers.tracestate);
      if (traceResponse) {
        ctx.response = res;
        ctx.traceresponse = formatTraceresponse(ctx.traceId, ctx.spanId, ctx.sampled);
      }
      // In the request's context, so answers the hop writes by itself (Max-Forwards 0, 400s) carry
      // traceresponse too.
      if (diagToken !== undefined && diagRequested(req, diagToken)) return { ctx, handled: requestContext.run(ctx, diagnose, req, res, ctx, routed) };
      recorder.begin(req, res, ctx);
    } catch (err) {
      internalError('begin', err);
    }
    return { ctx, handled: false };
  };

  /** A diagnostic request: never captured; its outgoing calls are reported to its session. */
  const diagnose = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, routed: RouteHolder | undefined): boolean => {
    const maxForwards = maxForwardsOf(req);
    if (maxForwards === 'bad') {
      DiagSession.badMaxForwards(res);
      return true;
    }
    const dry = recorder!.dryRun(req, res, ctx);
    const session = new DiagSession(
      req,
      res,
      ctx,
      { service: resolved.service, instance: resolved.instance, rulesNow: () => dry.wouldCapture(), routeNow: () => routeIn(routed) ?? routeOf(req) },
      diagToken!,
      maxForwards,
    );
    ctx.sink = session;
    return !session.begin();
  };

  const controls: LoopControls = {
    flush: async () => {
      await shipper?.flush();
    },
    close: async () => {
      feed?.close();
      await shipper?.close();
    },
    stats: () => ({
      ...(shipper?.stats ?? emptyStats()),
      captured,
      internalErrors: internalErrorCount(),
      ruleSet: { source: ruleSet.source, version: remoteVersion, names: ruleSet.rules.map((r) => r.name) },
      rules: book.stats(),
    }),
  };
  return { recorder, controls, begin };
}

/** What a framework adapter knows of the matched route (Koa's context, where @koa/router puts it). */
export interface RouteHolder {
  _matchedRoute?: string | RegExp;
}

function routeIn(holder: RouteHolder | undefined): string | undefined {
  return holder?._matchedRoute === undefined ? undefined : String(holder._matchedRoute);
}

function mergeRedact(base: RedactOptions, rules: readonly ActiveRule[]): RedactOptions {
  const merged = { headers: [...(base.headers ?? [])], fields: [...(base.fields ?? [])], query: [...(base.query ?? [])] };
  for (const rule of rules) {
    merged.headers.push(...(rule.redact?.headers ?? []));
    merged.fields.push(...(rule.redact?.fields ?? []));
    merged.query.push(...(rule.redact?.query ?? []));
  }
  return merged;
}
