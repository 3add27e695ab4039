import type { CaptureRecord } from '../src/capture/record.js';
import { codes } from '../src/errors.js';
import { HttpError } from './http/http-error.js';

function invalid(message: string): HttpError {
  return new HttpError(400, codes.INVALID_CAPTURE, message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type Check = [path: string, test: (value: unknown) => boolean, expected: string];

const string = (v: unknown): boolean => typeof v === 'string';
const nonEmptyString = (v: unknown): boolean => typeof v === 'string' && v.length > 0 && v.length <= 256;
const finiteNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const status = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 100 && (v as number) <= 999;
const time = (v: unknown): boolean => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const headerList = (v: unknown): boolean =>
  Array.isArray(v) && v.every((h) => Array.isArray(h) && h.length === 2 && string(h[0]) && string(h[1]));
const optional = (test: (v: unknown) => boolean) => (v: unknown) => v === undefined || test(v);
const body = (v: unknown): boolean =>
  v === null ||
  v === undefined ||
  (isObject(v) && (v.encoding === 'utf8' || v.encoding === 'base64') && string(v.data) && finiteNumber(v.size));
const array = (v: unknown): boolean => Array.isArray(v);

// What the collector itself relies on (the listed columns, show and replay); the rest of a record is
// stored as sent, so newer SDKs may add fields freely.
const checks: Check[] = [
  ['id', nonEmptyString, 'a capture id (string of 1 to 256 characters)'],
  ['service', string, 'a string'],
  ['instance', string, 'a string'],
  ['startedAt', time, 'an ISO 8601 time'],
  ['durationMs', finiteNumber, 'a number >= 0'],
  ['destination', string, 'a string (host:port)'],
  ['trace', optional(isObject), 'an object'],
  ['trace.traceId', optional(string), 'a string'],
  ['request', isObject, 'an object'],
  ['request.method', nonEmptyString, 'an HTTP method'],
  ['request.url', string, 'a string (the request target)'],
  ['request.headers', headerList, 'a list of [name, value] string pairs'],
  ['request.body', body, 'null or { encoding: utf8|base64, data, size }'],
  ['response', isObject, 'an object'],
  ['response.status', status, 'an HTTP status number'],
  ['response.headers', headerList, 'a list of [name, value] string pairs'],
  ['response.body', body, 'null or { encoding: utf8|base64, data, size }'],
  ['route', optional(string), 'a string'],
  ['error', optional(isObject), 'an object'],
  ['outbound', optional(array), 'a list'],
  ['rules', optional(array), 'a list'],
  ['redacted', optional(array), 'a list'],
];

function at(record: Record<string, unknown>, path: string): unknown {
  let value: unknown = record;
  for (const key of path.split('.')) {
    if (!isObject(value)) return undefined;
    value = value[key];
  }
  return value;
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
    for (const [path, test, expected] of checks) {
      if (!test(at(record, path))) throw invalid(`${where}.${path}: expected ${expected}`);
    }
  });
  return captures as CaptureRecord[];
}
