import type { IncomingMessage } from 'node:http';
import { Recorder } from '../src/capture/recorder.js';
import { Redactor } from '../src/capture/redact.js';
import type { CaptureRecord } from '../src/capture/record.js';
import { internalError, internalErrorCount } from '../src/debug.js';
import { compileRule, DEFAULT_RULE } from '../src/match/index.js';
import { type LoopOptions, resolveOptions } from '../src/options.js';
import { emptyStats, Shipper, type ShipperStats } from '../src/ship/shipper.js';

/** Counters of one loop(), from `loop().stats()`. */
export interface LoopStats extends ShipperStats {
  /** Exchanges that matched a rule and became captures. */
  captured: number;
  /** Internal failures (all of them were kept from the app; see NODE_DEBUG=httploop). */
  internalErrors: number;
}

/** What loop() adds to the middleware function it returns, for graceful shutdown and monitoring. */
export interface LoopControls {
  /** Sends every queued capture now; resolves when the queue is empty or the collector is not answering. */
  flush(): Promise<void>;
  /** Flushes (up to 5 s), then stops shipping and closes the connection to the collector. */
  close(): Promise<void>;
  stats(): LoopStats;
}

/**
 * The framework-independent part of loop(): options resolved and checked once, the rule compiled
 * once, a recorder for requests, and a shipper created on the first capture (an app that never fails
 * opens no connection and starts no timer).
 */
export function createLoopCore(options: LoopOptions | undefined, routeOf: (req: IncomingMessage) => string | undefined) {
  const resolved = resolveOptions(options);
  const rule = compileRule(resolved.match ?? DEFAULT_RULE, resolved.match === undefined ? 'default' : 'match');
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
  const recorder = resolved.enabled
    ? new Recorder(
        {
          service: resolved.service,
          instance: resolved.instance,
          maxRequestBodyBytes: resolved.maxRequestBodyBytes,
          maxResponseBodyBytes: resolved.maxResponseBodyBytes,
          redactor: new Redactor(resolved.redact),
          rules: [rule],
          routeOf,
          sink,
        },
        resolved.captureReplays,
      )
    : undefined;

  const controls: LoopControls = {
    flush: async () => {
      await shipper?.flush();
    },
    close: async () => {
      await shipper?.close();
    },
    stats: () => ({
      ...(shipper?.stats ?? emptyStats()),
      captured,
      internalErrors: internalErrorCount(),
    }),
  };
  return { recorder, controls };
}
