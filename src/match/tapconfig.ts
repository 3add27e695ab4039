/**
 * TapConfig resources: named capture rules with their settings, as Gloo Loop's `TapConfig` and
 * Kubernetes-style YAML. One validator serves every source (a file for `loopctl apply` or
 * `LOOP_TAPCONFIG`, `loop({ rules })`, the collector's API): it works on plain values and names each
 * problem by its field path; `tapconfig-file.ts` turns paths into file:line:column.
 *
 *     apiVersion: httploop/v1            # or the seed's loop.solo.io/v1
 *     kind: TapConfig
 *     metadata:
 *       name: checkout-errors
 *     spec:
 *       match: responseHeaders[":status"] == prefix("5")   # or an Envoy MatchPredicate object
 *       services: [checkout]             # default: every service
 *       sample: 0.5                      # keep half of the matching exchanges
 *       maxPerMinute: 60
 *       body: { maxBytes: { request: 8192, response: 65536 } }
 *       redact: { headers: [x-session], fields: [ssn], query: [sig] }
 *       outbound: true                   # record the handler's outgoing calls
 */
import { suggest } from '../suggest.js';

export const API_VERSIONS = ['httploop/v1', 'loop.solo.io/v1'] as const;
export type TapConfigApiVersion = (typeof API_VERSIONS)[number];

/** A validated TapConfig, as stored by the collector and sent to every `loop()`. */
export interface TapConfig {
  apiVersion: TapConfigApiVersion;
  kind: 'TapConfig';
  metadata: TapConfigMetadata;
  spec: TapConfigSpec;
}

export interface TapConfigMetadata {
  /** Identifies the rule: captures list it, `loopctl delete tapconfig NAME` removes it. */
  name: string;
  /** Kept and shown; names are unique across namespaces (httploop has one rule space). */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface TapConfigSpec {
  /** A rule expression, or an Envoy tap `MatchPredicate` object. */
  match: string | Record<string, unknown>;
  /** The services (loop()'s `service`) this rule applies to. Default: all. */
  services?: string[];
  /** Fraction of matching exchanges to capture, 0..1. Default 1. */
  sample?: number;
  /** Most captures per minute by this rule, per process. Default: no limit. */
  maxPerMinute?: number;
  /** Body bytes kept per direction for exchanges this rule captures. Default: loop()'s maxBodyBytes. */
  body?: { maxBytes?: number | { request?: number; response?: number } };
  /** Names to redact besides loop()'s, for exchanges this rule captures. */
  redact?: { headers?: string[]; fields?: string[]; query?: string[] };
  /** Record the outgoing calls of captured exchanges. Default true. */
  outbound?: boolean;
}

/** A path into a resource: `['spec', 'services', 1]` is `spec.services[1]`. */
export type FieldPath = ReadonlyArray<string | number>;

export interface TapConfigProblem {
  path: FieldPath;
  message: string;
  /** Whether the problem is the field's name (an unknown field) rather than its value. */
  atKey?: boolean;
  /** For a rule that does not parse: the spot in the rule text (1-based), to point at it in a file. */
  ruleLine?: number;
  ruleColumn?: number;
}

/** Largest per-direction body a rule may ask to keep: captures are buffered in the app's memory. */
export const MAX_RULE_BODY_BYTES = 10 * 1024 * 1024;
const NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
const MAX_NAME = 253;

const TOP_KEYS = ['apiVersion', 'kind', 'metadata', 'spec'];
const METADATA_KEYS = ['name', 'namespace', 'labels', 'annotations'];
const SPEC_KEYS = ['match', 'services', 'sample', 'maxPerMinute', 'body', 'redact', 'outbound'];
const BODY_KEYS = ['maxBytes'];
const MAX_BYTES_KEYS = ['request', 'response'];
const REDACT_KEYS = ['headers', 'fields', 'query'];

/** `spec.services[1]` */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value in a few words for messages about YAML and JSON fields: `a mapping`, `'text'`, `1.5`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  return String(v);
}

class Checker {
  readonly problems: TapConfigProblem[] = [];

  problem(path: FieldPath, message: string, atKey = false): void {
    this.problems.push(atKey ? { path, message, atKey } : { path, message });
  }

  add(p: TapConfigProblem): void {
    this.problems.push(p);
  }

  /** Reports fields not in `known`, with a suggestion; true when there were none. */
  keys(obj: Record<string, unknown>, known: readonly string[], path: FieldPath): void {
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      const near = suggest(key, known);
      const where = path.length === 0 ? 'a TapConfig' : formatPath(path);
      this.problem(
        [...path, key],
        `unknown field '${key}' in ${where}${near ? `; did you mean '${near}'?` : ''} (known: ${known.join(', ')})`,
        true,
      );
    }
  }

  object(value: unknown, path: FieldPath, example: string): value is Record<string, unknown> {
    if (isPlainObject(value)) return true;
    this.problem(path, `${formatPath(path)} must be a mapping, as in ${example}; got ${describeValue(value)}`);
    return false;
  }

  names(value: unknown, path: FieldPath, what: string): string[] | undefined {
    if (!Array.isArray(value)) {
      this.problem(path, `${formatPath(path)} must be a list of ${what}, as in [a, b]; got ${describeValue(value)}`);
      return undefined;
    }
    const out: string[] = [];
    value.forEach((item, i) => {
      if (typeof item !== 'string' || item.trim() === '') {
        this.problem([...path, i], `${formatPath([...path, i])} must be a non-empty ${what.replace(/s$/, '')}; got ${describeValue(item)}`);
      } else out.push(item);
    });
    return out;
  }

  byteCount(value: unknown, path: FieldPath): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_RULE_BODY_BYTES) return value;
    this.problem(
      path,
      `${formatPath(path)} must be a whole number of bytes from 0 to ${MAX_RULE_BODY_BYTES} (10 MiB); got ${describeValue(value)}`,
    );
    return undefined;
  }

  stringMap(value: unknown, path: FieldPath): Record<string, string> | undefined {
    if (!this.object(value, path, '{ team: payments }')) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') this.problem([...path, k], `${formatPath([...path, k])} must be a string; got ${describeValue(v)}`);
      else out[k] = v;
    }
    return out;
  }
}

/**
 * Checks one resource and returns it in normal form (only known fields, defaults left out), or the
 * problems found — all of them, not just the first. `checkMatch` compiles `spec.match` and returns
 * what is wrong with it (the rule engine is the caller's, so this file stays free of it).
 */
export function validateTapConfig(
  value: unknown,
  checkMatch: (match: string | Record<string, unknown>, name: string) => TapConfigProblem[],
): { config: TapConfig; problems: [] } | { config: undefined; problems: TapConfigProblem[] } {
  const c = new Checker();
  if (!isPlainObject(value)) {
    c.problem([], `a TapConfig must be a mapping with apiVersion, kind, metadata and spec; got ${describeValue(value)}`);
    return { config: undefined, problems: c.problems };
  }
  c.keys(value, TOP_KEYS, []);

  const apiVersion = value.apiVersion;
  if (!(API_VERSIONS as readonly unknown[]).includes(apiVersion)) {
    c.problem(['apiVersion'], `apiVersion must be ${API_VERSIONS.join(' or ')}; got ${describeValue(apiVersion)}`);
  }
  if (value.kind !== 'TapConfig') {
    c.problem(['kind'], `kind must be TapConfig; got ${describeValue(value.kind)}`);
  }

  const metadata: Partial<TapConfigMetadata> = {};
  if (c.object(value.metadata, ['metadata'], '{ name: checkout-errors }')) {
    const m = value.metadata;
    c.keys(m, METADATA_KEYS, ['metadata']);
    if (typeof m.name !== 'string' || !NAME.test(m.name) || m.name.length > MAX_NAME) {
      c.problem(
        ['metadata', 'name'],
        `metadata.name must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit ` +
          `(at most ${MAX_NAME} characters), as in checkout-errors; got ${describeValue(m.name)}`,
      );
    } else metadata.name = m.name;
    if (m.namespace !== undefined) {
      if (typeof m.namespace !== 'string' || !NAME.test(m.namespace)) {
        c.problem(['metadata', 'namespace'], `metadata.namespace must be a name like loop-system; got ${describeValue(m.namespace)}`);
      } else metadata.namespace = m.namespace;
    }
    for (const key of ['labels', 'annotations'] as const) {
      if (m[key] === undefined) continue;
      const map = c.stringMap(m[key], ['metadata', key]);
      if (map) metadata[key] = map;
    }
  }

  const spec: Partial<TapConfigSpec> = {};
  if (c.object(value.spec, ['spec'], '{ match: status >= 500 }')) {
    const s = value.spec;
    c.keys(s, SPEC_KEYS, ['spec']);
    checkSpec(c, s, spec, metadata.name ?? 'tapconfig', checkMatch);
  }

  if (c.problems.length > 0) return { config: undefined, problems: c.problems };
  return {
    config: {
      apiVersion: apiVersion as TapConfigApiVersion,
      kind: 'TapConfig',
      metadata: metadata as TapConfigMetadata,
      spec: spec as TapConfigSpec,
    },
    problems: [],
  };
}

function checkSpec(
  c: Checker,
  s: Record<string, unknown>,
  spec: Partial<TapConfigSpec>,
  name: string,
  checkMatch: (match: string | Record<string, unknown>, name: string) => TapConfigProblem[],
): void {
  const match = s.match;
  if (match === undefined) {
    c.problem(['spec'], `spec.match is missing: say what to capture, as in match: responseHeaders[":status"] == prefix("5")`);
  } else if ((typeof match === 'string' && match.trim() !== '') || isPlainObject(match)) {
    const found = checkMatch(match, name);
    for (const p of found) c.add({ ...p, path: ['spec', 'match', ...p.path] });
    if (found.length === 0) spec.match = match;
  } else {
    c.problem(['spec', 'match'], `spec.match must be a rule expression or an Envoy match predicate; got ${describeValue(match)}`);
  }

  if (s.services !== undefined) {
    const services = c.names(s.services, ['spec', 'services'], 'service names');
    if (services) spec.services = services;
  }
  if (s.sample !== undefined) {
    if (typeof s.sample !== 'number' || !(s.sample >= 0 && s.sample <= 1)) {
      c.problem(['spec', 'sample'], `spec.sample must be a number from 0 to 1 (0.1 keeps one matching exchange in ten); got ${describeValue(s.sample)}`);
    } else spec.sample = s.sample;
  }
  if (s.maxPerMinute !== undefined) {
    const n = s.maxPerMinute;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1_000_000) {
      c.problem(
        ['spec', 'maxPerMinute'],
        `spec.maxPerMinute must be a whole number from 1 to 1000000 (to capture nothing, use sample: 0); got ${describeValue(n)}`,
      );
    } else spec.maxPerMinute = n;
  }
  if (s.body !== undefined && c.object(s.body, ['spec', 'body'], '{ maxBytes: 65536 }')) {
    c.keys(s.body, BODY_KEYS, ['spec', 'body']);
    const mb = s.body.maxBytes;
    const path = ['spec', 'body', 'maxBytes'];
    if (typeof mb === 'number') {
      const n = c.byteCount(mb, path);
      if (n !== undefined) spec.body = { maxBytes: n };
    } else if (mb !== undefined && c.object(mb, path, '{ request: 8192, response: 65536 }')) {
      c.keys(mb, MAX_BYTES_KEYS, path);
      const out: { request?: number; response?: number } = {};
      for (const side of MAX_BYTES_KEYS as Array<'request' | 'response'>) {
        if (mb[side] === undefined) continue;
        const n = c.byteCount(mb[side], [...path, side]);
        if (n !== undefined) out[side] = n;
      }
      spec.body = { maxBytes: out };
    }
  }
  if (s.redact !== undefined && c.object(s.redact, ['spec', 'redact'], '{ headers: [x-session], fields: [ssn] }')) {
    c.keys(s.redact, REDACT_KEYS, ['spec', 'redact']);
    const out: { headers?: string[]; fields?: string[]; query?: string[] } = {};
    for (const key of REDACT_KEYS as Array<'headers' | 'fields' | 'query'>) {
      if (s.redact[key] === undefined) continue;
      const list = c.names(s.redact[key], ['spec', 'redact', key], key === 'headers' ? 'header names' : 'field names');
      if (list) out[key] = list;
    }
    spec.redact = out;
  }
  if (s.outbound !== undefined) {
    if (typeof s.outbound !== 'boolean') {
      c.problem(['spec', 'outbound'], `spec.outbound must be true or false; got ${describeValue(s.outbound)}`);
    } else spec.outbound = s.outbound;
  }
}

/** Whether a rule applies to a service. */
export function appliesTo(config: TapConfig, service: string): boolean {
  const services = config.spec.services;
  return services === undefined || services.length === 0 || services.includes(service);
}
