import type { CaptureRecord } from '../capture/record.js';
import { debug, internalError } from '../debug.js';
import { Transport } from './transport.js';

export interface ShipperOptions {
  /** Collector base URL; batches go to `<url>/v1/captures`. */
  collector: URL;
  token: string | undefined;
  /** Most captures waiting to be sent. Default 1000. */
  maxQueue: number;
  /** Most bytes (serialized JSON) waiting to be sent. Default 16 MiB. */
  maxQueueBytes: number;
  /** Most captures in one request. Default 100. */
  batchSize: number;
  /** How long a capture may wait for more to fill its batch, in ms. Default 200. */
  flushIntervalMs: number;
  /** Per-request timeout in ms. Default 10 000. */
  timeoutMs: number;
}

export interface ShipperStats {
  /** Captures accepted into the queue. */
  enqueued: number;
  /** Captures the collector acknowledged. */
  sent: number;
  /** Captures waiting now. */
  queued: number;
  /** Captures dropped because the queue was full. */
  droppedQueueFull: number;
  /** Captures dropped because the collector refused them (4xx other than 429, or 500). */
  droppedRejected: number;
  /** Captures dropped at close() because they could not be sent in time. */
  droppedAtClose: number;
  /** Batches sent again after a network error, 429, 502, 503 or 504. */
  retries: number;
}

/** The counters of a shipper that has sent nothing (also what loop() reports before its first capture). */
export function emptyStats(): ShipperStats {
  return { enqueued: 0, sent: 0, queued: 0, droppedQueueFull: 0, droppedRejected: 0, droppedAtClose: 0, retries: 0 };
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** The longest pause a collector's Retry-After can ask for; a longer one (or a date far ahead) is cut to this. */
const RETRY_AFTER_MAX_MS = 60_000;

/**
 * Sends captures to the collector in the background. Everything is bounded: when the queue is full
 * a capture is dropped and counted (warned once), never waited for. One batch is in flight at a
 * time; failed batches are retried with exponential backoff and jitter, or after Retry-After.
 * Timers are unref'd so the shipper never keeps a process alive.
 */
export class Shipper {
  private readonly queue: string[] = [];
  private queueBytes = 0;
  private readonly transport: Transport;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private attempt = 0;
  private backoffUntil = 0;
  /** Until when the collector asked (429/503 Retry-After) not to be sent to; honoured by flush() and close() too. */
  private pausedUntil = 0;
  private closed = false;
  private warnedFull = false;
  private warnedRejected = false;
  private readonly idle: Array<() => void> = [];
  readonly stats: ShipperStats = emptyStats();

  constructor(private readonly options: ShipperOptions) {
    this.transport = new Transport(new URL('v1/captures', withSlash(options.collector)), options.token, options.timeoutMs);
  }

  /** Queues a capture; returns false when it was dropped. Never throws, never blocks. */
  enqueue(record: CaptureRecord): boolean {
    if (this.closed) return false;
    const json = JSON.stringify(record);
    if (this.queue.length >= this.options.maxQueue || this.queueBytes + json.length > this.options.maxQueueBytes) {
      this.stats.droppedQueueFull++;
      if (!this.warnedFull) {
        this.warnedFull = true;
        process.emitWarning(
          `httploop dropped a capture because the ship queue is full (${this.options.maxQueue} captures / ` +
            `${this.options.maxQueueBytes} bytes); is the collector at ${this.options.collector.origin} reachable? ` +
            'Further drops are only counted (loop().stats()).',
          { code: 'HTTPLOOP_QUEUE_FULL' },
        );
      }
      return false;
    }
    this.queue.push(json);
    this.queueBytes += json.length;
    this.stats.enqueued++;
    this.stats.queued = this.queue.length;
    this.schedule(this.queue.length >= this.options.batchSize ? 0 : this.options.flushIntervalMs);
    return true;
  }

  /**
   * Sends everything queued now (ignoring our own backoff once, but not a pause the collector asked
   * for with Retry-After); resolves when the queue is empty, a send failed, or the collector is paused.
   */
  async flush(): Promise<void> {
    if (Date.now() < this.pausedUntil) return; // the retry timer sends when the pause ends
    this.backoffUntil = 0;
    while (this.queue.length > 0 || this.inFlight !== null) {
      if (this.inFlight === null) this.send();
      await this.inFlight;
      if (this.attempt > 0) return; // the collector is not taking captures now; the retry timer goes on
    }
  }

  /**
   * Flushes for up to `timeoutMs` (waiting out a Retry-After pause that ends before then), then stops:
   * what is still queued is dropped and counted. The keep-alive socket is closed.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.drain(Date.now() + timeoutMs),
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, timeoutMs);
        timeout.unref();
      }),
    ]);
    clearTimeout(timeout);
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.stats.droppedAtClose += this.queue.length;
    this.queue.length = 0;
    this.queueBytes = 0;
    this.stats.queued = 0;
    this.transport.close();
  }

  private async drain(deadline: number): Promise<void> {
    await this.flush();
    while (this.queue.length > 0 && this.pausedUntil > Date.now() && this.pausedUntil < deadline) {
      // Not unref'd: a process closing its shipper waits (at most until the deadline) for the pause to end.
      await new Promise((resolve) => setTimeout(resolve, this.pausedUntil - Date.now()));
      await this.flush();
    }
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.inFlight !== null) return;
    const wait = Math.max(delayMs, this.backoffUntil - Date.now());
    if (this.timer !== null) {
      if (wait > 0) return; // already due
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send();
    }, wait);
    this.timer.unref();
  }

  private send(): void {
    if (this.inFlight !== null || this.queue.length === 0) return;
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < this.options.batchSize) {
      const next = this.queue[count]!.length;
      if (count > 0 && bytes + next > MAX_BATCH_BYTES) break;
      bytes += next;
      count++;
    }
    const body = `{"captures":[${this.queue.slice(0, count).join(',')}]}`;
    this.inFlight = this.post(body, count, bytes);
  }

  private async post(body: string, count: number, bytes: number): Promise<void> {
    let retryAfter: string | undefined;
    let outcome: 'sent' | 'retry' | 'rejected';
    try {
      const res = await this.transport.post(body);
      retryAfter = res.retryAfter;
      outcome = res.status >= 200 && res.status < 300 ? 'sent' : RETRYABLE.has(res.status) ? 'retry' : 'rejected';
      if (outcome === 'rejected' && !this.warnedRejected) {
        this.warnedRejected = true;
        debug(`the collector answered ${res.status} to a batch of ${count} captures; they were dropped`);
      }
    } catch (err) {
      outcome = 'retry';
      debug(`sending ${count} captures failed: ${(err as Error).message}`);
    }
    try {
      if (outcome === 'retry') {
        this.attempt++;
        this.stats.retries++;
        this.backoffUntil = Date.now() + retryDelay(this.attempt, retryAfter);
        this.pausedUntil = retryAfterMs(retryAfter) !== undefined ? this.backoffUntil : 0;
      } else {
        this.attempt = 0;
        this.backoffUntil = 0;
        this.pausedUntil = 0;
        this.queue.splice(0, count);
        this.queueBytes -= bytes;
        if (outcome === 'sent') this.stats.sent += count;
        else this.stats.droppedRejected += count;
      }
      this.stats.queued = this.queue.length;
    } catch (err) {
      internalError('shipper', err);
    }
    this.inFlight = null;
    if (this.queue.length > 0) this.schedule(this.queue.length >= this.options.batchSize ? 0 : this.options.flushIntervalMs);
  }
}

function withSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.href}/`);
}

/** A Retry-After header (delay-seconds or an HTTP date, RFC 9110 §10.2.3) in ms from now, capped; undefined when unusable. */
export function retryAfterMs(retryAfter: string | undefined): number | undefined {
  if (retryAfter === undefined || retryAfter.trim() === '') return undefined;
  const seconds = Number(retryAfter);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
  // 0 or a date gone by would mean "now": our own backoff then keeps a refusing collector from a busy loop.
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, RETRY_AFTER_MAX_MS);
}

/** Exponential backoff with equal jitter (half fixed, half random), or the collector's Retry-After (capped). */
export function retryDelay(attempt: number, retryAfter: string | undefined): number {
  const asked = retryAfterMs(retryAfter);
  if (asked !== undefined) return asked;
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt - 1, 16));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
