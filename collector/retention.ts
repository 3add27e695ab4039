import { LoopError, codes, invalidOption } from '../src/errors.js';
import type { CaptureStore, PrunePolicy, PruneResult } from './storage/types.js';

/**
 * Retention: how long, how many and how many bytes of captures a collector keeps, overall and per
 * service. A limit is a duration (`7d`, `12h`, `30m`, `45s`, or ms), a count, or a size (`1GiB`, `500MB`,
 * or bytes).
 */
export interface RetentionLimits {
  /** Captures received longer ago than this go: ms, or `7d` / `12h` / `30m` / `45s`. */
  maxAge?: number | string;
  /** At most this many captures stay (the newest). */
  maxCount?: number;
  /** At most this many stored bytes stay: bytes, or `1GiB` / `500MB` / `64KiB`. */
  maxBytes?: number | string;
}

export interface RetentionOptions extends RetentionLimits {
  /** The same limits for each service on its own (every service seen in the database). */
  perService?: RetentionLimits;
  /** How often the background pruner runs, in ms. Default 60 000. */
  intervalMs?: number;
  /** Captures deleted per transaction. Default 1000. */
  batchSize?: number;
}

/** Limits in ms, counts and bytes. */
export interface CheckedLimits {
  maxAgeMs?: number;
  maxCount?: number;
  maxBytes?: number;
}

export interface CheckedRetention {
  overall: CheckedLimits;
  perService?: CheckedLimits;
  intervalMs: number;
  batchSize: number;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** `7d` → ms; a number is ms. Throws `make(message)` naming `name` and the accepted forms. */
export function parseDuration(value: unknown, name: string, make: (message: string) => Error = invalidOption): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|w)$/i.exec(value.trim()) : null;
  if (!match) throw make(`${name}: bad duration '${String(value)}'; use a number of ms or a number with ms, s, m, h, d or w, like 7d`);
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!);
}

/** `1GiB` → bytes; a number is bytes. */
export function parseSize(value: unknown, name: string, make: (message: string) => Error = invalidOption): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(value.trim()) : null;
  const unit = match ? SIZE_UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw make(`${name}: bad size '${String(value)}'; use a number of bytes or a number with B, KB, MB, GB, KiB, MiB or GiB, like 1GiB`);
  }
  return Math.round(Number(match[1]) * unit);
}

/** A count: a whole number >= 0 (a string of digits is taken too, for CLI flags and JSON). */
export function parseCount(value: unknown, name: string, make: (message: string) => Error = invalidOption): number {
  const n = typeof value === 'string' && /^[0-9]{1,15}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw make(`${name}: bad count '${String(value)}'; use a whole number >= 0`);
  }
  return n;
}

const LIMIT_KEYS = new Set(['maxAge', 'maxCount', 'maxBytes']);

export function checkLimits(limits: unknown, where: string, make: (message: string) => Error = invalidOption): CheckedLimits {
  if (typeof limits !== 'object' || limits === null) throw make(`${where} must be an object like { maxAge: '7d', maxCount: 100000, maxBytes: '1GiB' }`);
  const out: CheckedLimits = {};
  for (const [key, value] of Object.entries(limits)) {
    if (value === undefined) continue;
    if (key === 'maxAge') out.maxAgeMs = parseDuration(value, `${where}.maxAge`, make);
    else if (key === 'maxCount') out.maxCount = parseCount(value, `${where}.maxCount`, make);
    else if (key === 'maxBytes') out.maxBytes = parseSize(value, `${where}.maxBytes`, make);
    else if (!LIMIT_KEYS.has(key)) throw make(`${where}: unknown limit '${key}'; known limits are maxAge, maxCount, maxBytes`);
  }
  return out;
}

/** Checks `createCollector({ retention })`; undefined when no limit is set. */
export function checkRetention(retention: unknown): CheckedRetention | undefined {
  if (retention === undefined) return undefined;
  const where = 'createCollector(): retention';
  if (typeof retention !== 'object' || retention === null) {
    throw invalidOption(`${where} must be an object like { maxAge: '7d', maxBytes: '1GiB', perService: { maxCount: 100000 } }`);
  }
  const { perService, intervalMs = 60_000, batchSize = 1000, ...limits } = retention as RetentionOptions;
  const overall = checkLimits(limits, where);
  const service = perService === undefined ? undefined : checkLimits(perService, `${where}.perService`);
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 100) {
    throw invalidOption(`${where}.intervalMs must be a whole number of ms >= 100, got ${String(intervalMs)}`);
  }
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw invalidOption(`${where}.batchSize must be a whole number >= 1, got ${String(batchSize)}`);
  }
  if (!hasLimit(overall) && (!service || !hasLimit(service))) {
    throw invalidOption(`${where} sets no limit; give maxAge, maxCount or maxBytes (or perService with one), or leave retention out`);
  }
  return { overall, ...(service && hasLimit(service) && { perService: service }), intervalMs, batchSize };
}

export function hasLimit(limits: CheckedLimits): boolean {
  return limits.maxAgeMs !== undefined || limits.maxCount !== undefined || limits.maxBytes !== undefined;
}

/** Applies the limits once: overall, then to each service on its own. */
export async function pruneOnce(
  store: CaptureStore,
  retention: Pick<CheckedRetention, 'overall' | 'perService' | 'batchSize'>,
  services: () => Promise<string[]>,
): Promise<PruneResult> {
  const total: PruneResult = { deleted: 0, bytes: 0 };
  const add = (r: PruneResult): void => {
    total.deleted += r.deleted;
    total.bytes += r.bytes;
  };
  if (hasLimit(retention.overall)) add(await store.prune(retention.overall as PrunePolicy, { batchSize: retention.batchSize }));
  if (retention.perService) {
    for (const service of await services()) {
      add(await store.prune({ ...retention.perService, service }, { batchSize: retention.batchSize }));
    }
  }
  return total;
}

/**
 * Runs {@link pruneOnce} every `intervalMs` in the background: the timer does not keep the process
 * alive, a run never overlaps the one before, and a failure is reported to `onError`, never thrown.
 */
export class Pruner {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly run: () => Promise<PruneResult>,
    private readonly intervalMs: number,
    private readonly onResult: (result: PruneResult) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.#stopped || this.#timer) return;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.run()
        .then(this.onResult, this.onError)
        .finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
    }, this.intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}

/** For the prune API: a 400-style error. */
export function badPrune(message: string): LoopError {
  return new LoopError(codes.BAD_REQUEST, message);
}
