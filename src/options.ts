import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { RedactOptions } from './capture/redact.js';
import { invalidOption } from './errors.js';
import { suggest } from './suggest.js';
import { checkMatch } from './match/check-match.js';
import { isEnvoyPredicate } from './match/envoy.js';
import { formatFileProblem, loadTapConfigText } from './match/tapconfig-file.js';
import { formatPath, validateTapConfig, type TapConfig } from './match/tapconfig.js';

/** Options of `loop()`, for Express / Connect / node:http and for Koa alike. */
export interface LoopOptions {
  /** Service name stored with each capture. Default: `LOOP_SERVICE`, else the `name` in ./package.json. */
  service?: string;
  /** Collector base URL. Default: `LOOP_COLLECTOR`, else `http://127.0.0.1:5678`. */
  collector?: string | URL;
  /** Bearer token the collector expects. Default: `LOOP_TOKEN`. */
  token?: string;
  /**
   * Which exchanges to capture: a rule expression, or an Envoy tap `MatchPredicate` object. Default:
   * `responseHeaders[":status"] == prefix("5")` (unless `rules` or `LOOP_TAPCONFIG` give rules).
   */
  match?: string | Record<string, unknown>;
  /**
   * TapConfig resources (the objects of a TapConfig YAML file) to follow until the collector's rules
   * arrive. Default: those of the file named by `LOOP_TAPCONFIG`, if set.
   */
  rules?: ReadonlyArray<TapConfig | Record<string, unknown>>;
  /**
   * Follow the TapConfigs applied to the collector (`loopctl apply`), which replace the local rules
   * while any applies to this service. Default true.
   */
  remoteRules?: boolean;
  /** Most body bytes kept per direction (the rest is counted, not kept). Default 65536 each way. */
  maxBodyBytes?: number | { request?: number; response?: number };
  /** Header names, body fields and query parameters to redact besides the defaults. */
  redact?: RedactOptions;
  /** `false` makes loop() a pass-through. Default: true, unless `LOOP_DISABLED=1`. */
  enabled?: boolean;
  /** Capture requests that are replays (they carry `loop-replay`). Default false. */
  captureReplays?: boolean;
  /** Tuning of the queue that ships captures to the collector. */
  queue?: QueueOptions;
  /**
   * Diagnostic TRACE (`loop-add-context: true`): off unless a token is given; requests must carry it
   * in `loop-diag-token`. Default: `LOOP_DIAG_TOKEN`, else off.
   */
  diagnostics?: { token: string };
  /**
   * Add `traceresponse` (W3C Trace Context Level 2) to every response, so whoever got an error can
   * find its capture by trace id. Default true.
   */
  traceResponse?: boolean;
}

export interface QueueOptions {
  /** Most captures waiting to be sent; past it captures are dropped and counted. Default 1000. */
  maxCaptures?: number;
  /** Most bytes of captures waiting to be sent. Default 16 MiB. */
  maxBytes?: number;
  /** Most captures per request to the collector. Default 100. */
  batchSize?: number;
  /** Longest wait, in ms, for a batch to fill before it is sent. Default 200. */
  flushIntervalMs?: number;
  /** Timeout of one request to the collector, in ms. Default 10 000. */
  timeoutMs?: number;
}

export interface ResolvedOptions {
  enabled: boolean;
  service: string;
  instance: string;
  collector: URL;
  token: string | undefined;
  /** loop({ match }), compiled as the rule named 'match'. */
  match: string | Record<string, unknown> | undefined;
  /** loop({ rules }) or the LOOP_TAPCONFIG file's; undefined when neither is given. */
  rules: TapConfig[] | undefined;
  remoteRules: boolean;
  maxRequestBodyBytes: number;
  maxResponseBodyBytes: number;
  redact: RedactOptions;
  captureReplays: boolean;
  queue: Required<QueueOptions>;
  /** The diagnostic TRACE token; undefined: diagnostics are off. */
  diagToken: string | undefined;
  traceResponse: boolean;
}

const KEYS = [
  'service',
  'collector',
  'token',
  'match',
  'rules',
  'remoteRules',
  'maxBodyBytes',
  'redact',
  'enabled',
  'captureReplays',
  'queue',
  'diagnostics',
  'traceResponse',
];
/** A diagnostic token shorter than this is refused: it is all that stands between TRACE and the app. */
const MIN_DIAG_TOKEN = 16;
const QUEUE_KEYS = ['maxCaptures', 'maxBytes', 'batchSize', 'flushIntervalMs', 'timeoutMs'];
const REDACT_KEYS = ['headers', 'fields', 'query'];

export const DEFAULT_COLLECTOR = 'http://127.0.0.1:5678';
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Validates loop()'s options once, at construction, with messages that say what to write instead. */
export function resolveOptions(options: LoopOptions | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidOption(`loop() takes an options object, got ${describe(options)}; call loop() or loop({ service: 'web' })`);
  }
  checkKeys(options, KEYS, 'loop()');

  const service = options.service ?? nonEmpty(env.LOOP_SERVICE) ?? packageName() ?? 'app';
  if (typeof service !== 'string' || service.trim() === '') {
    throw invalidOption(`'service' must be a non-empty string naming your app, got ${describe(options.service)}`);
  }

  const collectorText = options.collector ?? nonEmpty(env.LOOP_COLLECTOR) ?? DEFAULT_COLLECTOR;
  let collector: URL;
  try {
    collector = collectorText instanceof URL ? collectorText : new URL(String(collectorText));
  } catch {
    throw invalidOption(`'collector' must be an http(s) URL such as ${DEFAULT_COLLECTOR}, got ${describe(collectorText)}`);
  }
  if (collector.protocol !== 'http:' && collector.protocol !== 'https:') {
    throw invalidOption(`'collector' must use http: or https:, got '${collector.protocol}' in ${collector.href}`);
  }

  const token = options.token ?? nonEmpty(env.LOOP_TOKEN);
  if (token !== undefined && (typeof token !== 'string' || token === '' || /[\r\n]/.test(token))) {
    throw invalidOption(`'token' must be a non-empty string on one line, got ${describe(options.token)}`);
  }

  const match = options.match;
  if (match !== undefined && !((typeof match === 'string' && match.trim() !== '') || isEnvoyPredicate(match))) {
    throw invalidOption(
      `'match' must be a rule expression such as 'status >= 500', or an Envoy match predicate object, got ${describe(match)}`,
    );
  }
  const rules = options.rules !== undefined ? checkRules(options.rules) : tapconfigFile(env.LOOP_TAPCONFIG);

  const remoteRules = options.remoteRules ?? true;
  if (typeof remoteRules !== 'boolean') {
    throw invalidOption(`'remoteRules' must be true or false, got ${describe(options.remoteRules)}`);
  }

  let maxRequestBodyBytes = DEFAULT_MAX_BODY_BYTES;
  let maxResponseBodyBytes = DEFAULT_MAX_BODY_BYTES;
  const mb = options.maxBodyBytes;
  if (typeof mb === 'number') {
    maxRequestBodyBytes = maxResponseBodyBytes = byteCount(mb, 'maxBodyBytes');
  } else if (mb !== undefined) {
    if (typeof mb !== 'object' || mb === null) {
      throw invalidOption(`'maxBodyBytes' must be a number of bytes or { request, response }, got ${describe(mb)}`);
    }
    checkKeys(mb, ['request', 'response'], "'maxBodyBytes'");
    if (mb.request !== undefined) maxRequestBodyBytes = byteCount(mb.request, 'maxBodyBytes.request');
    if (mb.response !== undefined) maxResponseBodyBytes = byteCount(mb.response, 'maxBodyBytes.response');
  }

  const redact = options.redact ?? {};
  if (typeof redact !== 'object' || redact === null || Array.isArray(redact)) {
    throw invalidOption(`'redact' must be an object such as { headers: ['x-session'], fields: ['ssn'] }, got ${describe(redact)}`);
  }
  checkKeys(redact, REDACT_KEYS, "'redact'");
  for (const key of REDACT_KEYS) {
    const list = (redact as Record<string, unknown>)[key];
    if (list !== undefined && (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x === ''))) {
      throw invalidOption(`'redact.${key}' must be an array of names, got ${describe(list)}`);
    }
  }

  const enabled = options.enabled ?? !['1', 'true', 'yes'].includes((env.LOOP_DISABLED ?? '').toLowerCase());
  if (typeof enabled !== 'boolean') throw invalidOption(`'enabled' must be true or false, got ${describe(options.enabled)}`);

  const captureReplays = options.captureReplays ?? false;
  if (typeof captureReplays !== 'boolean') {
    throw invalidOption(`'captureReplays' must be true or false, got ${describe(options.captureReplays)}`);
  }

  const q = options.queue ?? {};
  if (typeof q !== 'object' || q === null) throw invalidOption(`'queue' must be an object, got ${describe(q)}`);
  checkKeys(q, QUEUE_KEYS, "'queue'");
  const queue: Required<QueueOptions> = {
    maxCaptures: positiveInt(q.maxCaptures ?? 1000, 'queue.maxCaptures'),
    maxBytes: positiveInt(q.maxBytes ?? 16 * 1024 * 1024, 'queue.maxBytes'),
    batchSize: positiveInt(q.batchSize ?? 100, 'queue.batchSize'),
    flushIntervalMs: nonNegativeInt(q.flushIntervalMs ?? 200, 'queue.flushIntervalMs'),
    timeoutMs: positiveInt(q.timeoutMs ?? 10_000, 'queue.timeoutMs'),
  };

  const diag = options.diagnostics;
  let diagToken = nonEmpty(env.LOOP_DIAG_TOKEN);
  if (diag !== undefined) {
    if (typeof diag !== 'object' || diag === null || Array.isArray(diag)) {
      throw invalidOption(`'diagnostics' must be { token: '<at least ${MIN_DIAG_TOKEN} characters>' }, got ${describe(diag)}`);
    }
    checkKeys(diag, ['token'], "'diagnostics'");
    diagToken = diag.token;
  }
  if (diagToken !== undefined && (typeof diagToken !== 'string' || diagToken.length < MIN_DIAG_TOKEN || /[\r\n]/.test(diagToken))) {
    throw invalidOption(
      `'diagnostics.token' must be a string of at least ${MIN_DIAG_TOKEN} characters on one line (for example from openssl rand -hex 16), got ${
        typeof diagToken === 'string' ? `${diagToken.length} characters` : describe(diagToken)
      }`,
    );
  }
  const traceResponse = options.traceResponse ?? true;
  if (typeof traceResponse !== 'boolean') {
    throw invalidOption(`'traceResponse' must be true or false, got ${describe(options.traceResponse)}`);
  }

  return {
    enabled,
    service,
    instance: `${hostname()}:${process.pid}`,
    collector,
    token,
    match,
    rules,
    remoteRules,
    maxRequestBodyBytes,
    maxResponseBodyBytes,
    redact,
    captureReplays,
    queue,
    diagToken,
    traceResponse,
  };
}

function checkKeys(obj: object, known: string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = suggest(key, known);
    throw invalidOption(
      `unknown option '${key}' in ${where}${near ? `; did you mean '${near}'?` : ''} (known: ${known.join(', ')})`,
    );
  }
}

function byteCount(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw invalidOption(`'${name}' must be a whole number of bytes >= 0 (for example 65536), got ${describe(n)}`);
  }
  return n;
}

function positiveInt(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalidOption(`'${name}' must be a whole number >= 1, got ${describe(n)}`);
  }
  return n;
}

function nonNegativeInt(n: unknown, name: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw invalidOption(`'${name}' must be a whole number >= 0, got ${describe(n)}`);
  }
  return n;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s;
}

function packageName(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { name?: unknown };
    return typeof pkg.name === 'string' && pkg.name !== '' ? pkg.name : undefined;
  } catch {
    return undefined;
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** loop({ rules }): each resource checked as `loopctl apply` would, every problem in the message. */
function checkRules(rules: unknown): TapConfig[] {
  if (!Array.isArray(rules)) {
    throw invalidOption(`'rules' must be an array of TapConfig objects ({ apiVersion, kind, metadata, spec }), got ${describe(rules)}`);
  }
  const out: TapConfig[] = [];
  const problems: string[] = [];
  rules.forEach((value, i) => {
    const result = validateTapConfig(value, checkMatch);
    if (result.config !== undefined) out.push(result.config);
    for (const p of result.problems) problems.push(`rules[${i}]${p.path.length ? `.${formatPath(p.path)}` : ''}: ${p.message}`);
  });
  if (problems.length > 0) throw invalidOption(`'rules' are not valid: ${problems.join('; ')}`);
  return out;
}

/** The TapConfig file named by LOOP_TAPCONFIG, read and checked once, at construction. */
function tapconfigFile(file: string | undefined): TapConfig[] | undefined {
  if (file === undefined || file.trim() === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidOption(`cannot read LOOP_TAPCONFIG=${file}: ${(err as Error).message}; point it at a TapConfig YAML or JSON file`);
  }
  const { configs, problems } = loadTapConfigText(text, file, checkMatch);
  if (problems.length > 0) {
    throw invalidOption(`LOOP_TAPCONFIG=${file} is not valid: ${problems.map(formatFileProblem).join('; ')}`);
  }
  return configs;
}
