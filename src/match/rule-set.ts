/**
 * The rules one loop() follows, compiled: each TapConfig becomes an ActiveRule with its sampling,
 * rate limit, body limits and extra redaction resolved once. A RuleSet is immutable; a new one (from
 * the collector) replaces it between requests, and an exchange keeps the set it started with.
 */
import { performance } from 'node:perf_hooks';
import type { RedactOptions } from '../capture/redact.js';
import { compileMatch, type CompiledRule } from './rule.js';
import { appliesTo, type TapConfig } from './tapconfig.js';

/** What a rule skipped and kept, per loop(); kept across rule set updates by rule name. */
export interface RuleCounters {
  /** Exchanges the rule's expression matched. */
  matched: number;
  /** Matches skipped by `sample`. */
  sampledOut: number;
  /** Matches skipped by `maxPerMinute`. */
  rateLimited: number;
  /** Captures this rule was among the reasons for. */
  captured: number;
}

/**
 * A token bucket holding up to a minute's allowance, refilled continuously: numbers only, so taking a
 * token allocates nothing, and JavaScript's one thread needs no lock.
 */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  private readonly perMs: number;

  constructor(readonly perMinute: number) {
    this.tokens = perMinute;
    this.perMs = perMinute / 60_000;
  }

  take(): boolean {
    const now = performance.now();
    const tokens = Math.min(this.perMinute, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    if (tokens < 1) {
      this.tokens = tokens;
      return false;
    }
    this.tokens = tokens - 1;
    return true;
  }
}

export interface ActiveRule {
  readonly name: string;
  /** The compiled expression's evaluate, copied here to save a property load per call. */
  readonly evaluate: CompiledRule['evaluate'];
  readonly compiled: CompiledRule;
  /** 1 keeps every match. */
  readonly sample: number;
  readonly limiter: RateLimiter | null;
  readonly maxRequestBodyBytes: number;
  readonly maxResponseBodyBytes: number;
  /** Names to redact besides loop()'s, or undefined. */
  readonly redact: RedactOptions | undefined;
  readonly outbound: boolean;
  readonly counters: RuleCounters;
  /** The resource it came from (absent for loop({ match })'s rule). */
  readonly config: TapConfig | undefined;
}

export type RuleSource = 'local' | 'collector';

export interface RuleSet {
  readonly rules: readonly ActiveRule[];
  /** Where the rules in force came from: loop()'s own, or the collector's TapConfigs. */
  readonly source: RuleSource;
  /** The collector's rules version this set was built from; 0 for local rules. */
  readonly version: number;
  /** The most any rule keeps, per direction: what an exchange tees until the rules decide. */
  readonly maxRequestBodyBytes: number;
  readonly maxResponseBodyBytes: number;
}

export interface RuleDefaults {
  maxRequestBodyBytes: number;
  maxResponseBodyBytes: number;
}

/**
 * Builds rule sets for one loop() and keeps what must survive an update: the counters and the rate
 * limiters of rules by name (an update that leaves a rule's rate alone must not refill its bucket).
 */
export class RuleBook {
  private readonly counters = new Map<string, RuleCounters>();
  private readonly limiters = new Map<string, RateLimiter>();

  constructor(
    private readonly service: string,
    private readonly defaults: RuleDefaults,
  ) {}

  /**
   * Compiles the TapConfigs that apply to this service (and an optional expression rule) into a set.
   * Throws the compile error of the first rule that does not compile; the caller keeps its last set.
   */
  build(configs: readonly TapConfig[], source: RuleSource, version: number, extra?: { name: string; match: string | Record<string, unknown> }): RuleSet {
    const rules: ActiveRule[] = [];
    if (extra !== undefined) rules.push(this.rule(extra.name, compileMatch(extra.match, extra.name), undefined));
    for (const config of configs) {
      if (!appliesTo(config, this.service)) continue;
      const name = config.metadata.name;
      rules.push(this.rule(name, compileMatch(config.spec.match, name), config));
    }
    let maxRequestBodyBytes = 0;
    let maxResponseBodyBytes = 0;
    for (const r of rules) {
      maxRequestBodyBytes = Math.max(maxRequestBodyBytes, r.maxRequestBodyBytes);
      maxResponseBodyBytes = Math.max(maxResponseBodyBytes, r.maxResponseBodyBytes);
    }
    return { rules, source, version, maxRequestBodyBytes, maxResponseBodyBytes };
  }

  /** Counters of every rule seen so far, by name. */
  stats(): Array<{ name: string } & RuleCounters> {
    return [...this.counters].map(([name, c]) => ({ name, ...c }));
  }

  private rule(name: string, compiled: CompiledRule, config: TapConfig | undefined): ActiveRule {
    const spec = config?.spec;
    let counters = this.counters.get(name);
    if (counters === undefined) {
      counters = { matched: 0, sampledOut: 0, rateLimited: 0, captured: 0 };
      this.counters.set(name, counters);
    }
    let limiter: RateLimiter | null = null;
    if (spec?.maxPerMinute !== undefined) {
      const kept = this.limiters.get(name);
      limiter = kept !== undefined && kept.perMinute === spec.maxPerMinute ? kept : new RateLimiter(spec.maxPerMinute);
      this.limiters.set(name, limiter);
    }
    const maxBytes = spec?.body?.maxBytes;
    const redact = spec?.redact;
    return {
      name,
      evaluate: compiled.evaluate,
      compiled,
      sample: spec?.sample ?? 1,
      limiter,
      maxRequestBodyBytes: typeof maxBytes === 'number' ? maxBytes : (maxBytes?.request ?? this.defaults.maxRequestBodyBytes),
      maxResponseBodyBytes: typeof maxBytes === 'number' ? maxBytes : (maxBytes?.response ?? this.defaults.maxResponseBodyBytes),
      redact: redact !== undefined && (redact.headers?.length || redact.fields?.length || redact.query?.length) ? redact : undefined,
      outbound: spec?.outbound ?? true,
      counters,
      config,
    };
  }
}
