import { setTimeout as sleep } from 'node:timers/promises';
import { LoopError, codes } from '../errors.js';

const PER = { s: 1, m: 60, h: 3600 } as const;

/** `50/s`, `50` (per second), `600/m`, `10/h` → requests per second. */
export function parseRate(text: string): number {
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:\/\s*(s|m|h))?\s*$/.exec(text);
  const rate = match ? Number(match[1]) / PER[(match[2] ?? 's') as keyof typeof PER] : NaN;
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new LoopError(codes.USAGE, `bad rate '${text}': use requests per second like 50/s (or 600/m)`);
  }
  return rate;
}

/**
 * Fixed spacing: the n-th `take()` resolves no earlier than `start + n / rate` seconds, so a run keeps
 * the rate on average and never bursts. No rate: `take()` resolves at once.
 */
export class Pacer {
  readonly #intervalMs: number;
  #next = 0;

  constructor(perSecond?: number) {
    this.#intervalMs = perSecond ? 1000 / perSecond : 0;
  }

  async take(): Promise<void> {
    if (!this.#intervalMs) return;
    const now = performance.now();
    const at = Math.max(now, this.#next);
    this.#next = at + this.#intervalMs;
    if (at > now) await sleep(at - now);
  }
}

/** Runs `work` on every item, at most `concurrency` at a time; results in item order. */
export async function runPool<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
