import type { CaptureStore, RulesSubscription } from './storage/types.js';

type Outcome = 'changed' | 'timeout' | 'closed';

interface Waiter {
  /** The version the agent has; the wait ends when the store's differs. */
  version: number;
  done(outcome: Outcome): void;
}

/**
 * Holds long polls for rules until the rules version moves. A change made through this collector wakes
 * them at once (`changed()`). A change made through another collector on the same database arrives by
 * the store's `watchRules` (PostgreSQL: LISTEN/NOTIFY) when it has one; while that is not live (no such
 * feature, or its connection is being re-opened) the version is checked every `checkMs` while anyone
 * waits, and while it is live only every `slowCheckMs`, in case a notification was lost.
 */
export class RuleWatch {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastCheck = 0;
  private notifiedAt = 0;
  private readonly subscription: RulesSubscription | undefined;

  constructor(
    private readonly store: CaptureStore,
    private readonly checkMs = 1000,
    private readonly slowCheckMs = 10_000,
  ) {
    this.subscription = store.watchRules?.(() => {
      this.notifiedAt = Date.now();
      void this.check();
    });
  }

  /** Resolves when the version differs from `version`, after `ms`, when `signal` fires, or at close(). */
  wait(version: number, ms: number, signal: AbortSignal): Promise<Outcome> {
    if (this.closed) return Promise.resolve('closed');
    return new Promise<Outcome>((resolve) => {
      const timeout = setTimeout(() => waiter.done('timeout'), ms);
      const onAbort = (): void => waiter.done('closed');
      const waiter: Waiter = {
        version,
        done: (outcome) => {
          if (!this.waiters.delete(waiter)) return;
          clearTimeout(timeout);
          signal.removeEventListener('abort', onAbort);
          if (this.waiters.size === 0) this.stopChecking();
          resolve(outcome);
        },
      };
      this.waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
      this.startChecking();
      // A notification that came while this poll read the version found no one waiting: look again.
      if (Date.now() - this.notifiedAt < 2000) void this.check();
    });
  }

  /** The rules changed through this collector: wake everyone whose version is now old. */
  async changed(): Promise<void> {
    await this.check();
  }

  /** Ends every wait (with 'closed') and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.done('closed');
    this.stopChecking();
    this.subscription?.close();
  }

  private async check(): Promise<void> {
    if (this.waiters.size === 0) return;
    this.lastCheck = Date.now();
    let version: number;
    try {
      version = await this.store.rulesVersion();
    } catch {
      return; // the database is away; polls end by their timeout and agents keep their rules
    }
    for (const waiter of [...this.waiters]) if (waiter.version !== version) waiter.done('changed');
  }

  private startChecking(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.subscription?.live && Date.now() - this.lastCheck < this.slowCheckMs) return;
      void this.check();
    }, this.checkMs);
    this.timer.unref();
  }

  private stopChecking(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
