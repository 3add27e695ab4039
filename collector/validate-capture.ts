import type { CaptureRecord } from '../src/capture/record.js';
import { codes } from '../src/errors.js';
import { HttpError } from './http/http-error.js';

function invalid(message: string): HttpError {
  return new HttpError(400, codes.INVALID_CAPTURE, message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a value: undefined when it is fine, else where below it the first problem is (`.request.method`,
 * `[2]`) and what was expected there. Paths are only built on the way back from a failure, so a valid
 * batch costs no string work.
 */
interface Problem {
  path: string;
  expected: string;
}
type Spec = (value: unknown) => Problem | undefined;

const leaf =
  (test: (v: unknown) => boolean, expected: string): Spec =>
  (value) =>
    test(value) ? undefined : { path: '', expected };
const optional =
  (spec: Spec): Spec =>
  (value) =>
    value === undefined ? undefined : spec(value);
const object = (fields: Record<string, Spec>, expected = 'an object'): Spec => {
  const entries = Object.entries(fields);
  return (value) => {
    if (!isObject(value)) return { path: '', expected };
    for (const [key, spec] of entries) {
      const problem = spec(value[key]);
      if (problem) return { path: `.${key}${problem.path}`, expected: problem.expected };
    }
    return undefined;
  };
};
const list =
  (item: Spec, expected = 'a list'): Spec =>
  (value) => {
    if (!Array.isArray(value)) return { path: '', expected };
    for (let i = 0; i < value.length; i++) {
      const problem = item(value[i]);
      if (problem) return { path: `[${i}]${problem.path}`, expected: problem.expected };
    }
    return undefined;
  };

const isString = (v: unknown): boolean => typeof v === 'string';
const string = leaf(isString, 'a string');
const nonNegative = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const number = leaf(nonNegative, 'a number >= 0');
const boolean = leaf((v) => typeof v === 'boolean', 'true or false');
const status = leaf((v) => Number.isInteger(v) && (v as number) >= 100 && (v as number) <= 999, 'an HTTP status number');
const method = leaf((v) => typeof v === 'string' && v.length > 0 && v.length <= 256, 'an HTTP method');
const headers = list(
  leaf((h) => Array.isArray(h) && h.length === 2 && isString(h[0]) && isString(h[1]), 'a [name, value] pair of strings'),
  'a list of [name, value] string pairs',
);
const BODY = 'null or { encoding: utf8|base64, data, size }';
const bodyFields = object(
  {
    encoding: leaf((v) => v === 'utf8' || v === 'base64', 'utf8 or base64'),
    data: string,
    size: number,
    truncated: optional(boolean),
    contentEncoding: optional(string),
  },
  BODY,
);
const body: Spec = (value) => (value === null || value === undefined ? undefined : bodyFields(value));
const error = optional(object({ name: optional(string), message: optional(string), stack: optional(string), code: optional(string) }));
const message = optional(object({ headers: optional(headers), body }));

// What the collector, `loopctl show`, export and replay rely on is checked field by field; fields it
// does not know are stored as sent, so newer SDKs may add them freely.
const capture = object({
  id: leaf((v) => typeof v === 'string' && v.length > 0 && v.length <= 256, 'a capture id (string of 1 to 256 characters)'),
  service: string,
  instance: string,
  startedAt: leaf((v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), 'an ISO 8601 time'),
  durationMs: number,
  destination: leaf(isString, 'a string (host:port)'),
  trace: optional(
    object({ traceId: optional(string), spanId: optional(string), parentSpanId: optional(string), tracestate: optional(string) }),
  ),
  request: object({
    method,
    url: leaf(isString, 'a string (the request target)'),
    httpVersion: optional(string),
    headers,
    body,
    remoteAddress: optional(string),
  }),
  response: object({
    status,
    statusMessage: optional(string),
    headers,
    body,
    aborted: optional(boolean),
  }),
  route: optional(string),
  error,
  outbound: optional(
    list(
      object({
        spanId: optional(string),
        method,
        url: string,
        status: optional(status),
        durationMs: optional(number),
        request: message,
        response: message,
        remoteAddress: optional(string),
        error,
      }),
    ),
  ),
  outboundOmitted: optional(number),
  rules: optional(list(string)),
  redacted: optional(list(string)),
  replayOf: optional(string),
});

/**
 * Deepest nesting of objects and arrays a capture may have. The SDK's records nest 5 deep; a much
 * deeper value in an unknown field would overflow the stack of JSON.stringify when it is stored.
 */
export const MAX_CAPTURE_DEPTH = 32;

/**
 * Where `value` nests deeper than the limit, as a path below it, or undefined. Recursion stops at the
 * limit, so it never goes deeper than MAX_CAPTURE_DEPTH frames whatever the input.
 */
function tooDeep(value: unknown, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > MAX_CAPTURE_DEPTH) return '';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const below = tooDeep(value[i], depth + 1);
      if (below !== undefined) return `[${i}]${below}`;
    }
    return undefined;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const below = tooDeep((value as Record<string, unknown>)[key], depth + 1);
    if (below !== undefined) return `.${key}${below}`;
  }
  return undefined;
}

/**
 * Checks an ingest body, `{ "captures": [...] }` or a bare array, and answers 400 naming the first bad
 * field (`captures[2].response.status`). A batch is taken whole or not at all.
 */
export function validateBatch(body: unknown): CaptureRecord[] {
  const captures = Array.isArray(body) ? body : isObject(body) ? body.captures : undefined;
  if (!Array.isArray(captures)) {
    throw invalid('expected a JSON body { "captures": [ capture, ... ] } or an array of captures');
  }
  captures.forEach((record: unknown, index) => {
    const where = `captures[${index}]`;
    if (!isObject(record)) throw invalid(`${where}: expected a capture object`);
    if (record.schema !== 1) throw invalid(`${where}.schema: expected 1 (capture schema v1)`);
    const problem = capture(record);
    if (problem) throw invalid(`${where}${problem.path}: expected ${problem.expected}`);
    const deep = tooDeep(record, 1);
    if (deep !== undefined) throw invalid(`${where}${deep}: nested deeper than ${MAX_CAPTURE_DEPTH} levels`);
  });
  return captures as CaptureRecord[];
}
