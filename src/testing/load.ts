import { readFile } from 'node:fs/promises';
import type { CaptureRecord } from '../capture/record.js';

/** Thrown when a file or an answer is not a capture record; the message names where and which field. */
export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

type Check = 'string' | 'number' | 'array' | 'object' | 'body';

/** The fields replay and the comparison rely on: `[path, kind]`. */
const REQUIRED: Array<[string, Check]> = [
  ['id', 'string'],
  ['request', 'object'],
  ['request.method', 'string'],
  ['request.url', 'string'],
  ['request.headers', 'array'],
  ['request.body', 'body'],
  ['response', 'object'],
  ['response.status', 'number'],
  ['response.headers', 'array'],
  ['response.body', 'body'],
];

function at(value: unknown, path: string): { found: boolean; value: unknown } {
  let cur: unknown = value;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(key in (cur as object))) return { found: false, value: undefined };
    cur = (cur as Record<string, unknown>)[key];
  }
  return { found: true, value: cur };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/**
 * Checks that `value` is a capture record (schema 1) well enough to replay and compare it, and returns
 * it. `source` names where it came from in the error (a file name, a collector URL).
 */
export function validateCapture(value: unknown, source: string): CaptureRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CaptureFormatError(`${source}: not a capture record (expected a JSON object, got ${kindOf(value)})`);
  }
  const schema = (value as { schema?: unknown }).schema;
  if (schema !== undefined && schema !== 1) {
    throw new CaptureFormatError(`${source}: capture schema ${JSON.stringify(schema)} is not supported (expected 1)`);
  }
  for (const [path, check] of REQUIRED) {
    const { found, value: v } = at(value, path);
    if (!found || v === undefined) {
      // A body may be absent in hand-written records: no body.
      if (check === 'body') continue;
      throw new CaptureFormatError(`${source}: missing field '${path}' (not a capture record as loopctl show --json prints it?)`);
    }
    const ok =
      check === 'string' ? typeof v === 'string'
      : check === 'number' ? typeof v === 'number' && Number.isFinite(v)
      : check === 'array' ? Array.isArray(v)
      : check === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v)
      : v === null || (typeof v === 'object' && typeof (v as { data?: unknown }).data === 'string');
    if (!ok) {
      const want = check === 'body' ? 'null or a body { encoding, data, size, truncated }' : check === 'array' ? 'an array' : `a ${check}`;
      throw new CaptureFormatError(`${source}: field '${path}' must be ${want}, got ${kindOf(v)}`);
    }
  }
  for (const path of ['request.headers', 'response.headers']) {
    const list = at(value, path).value as unknown[];
    list.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw new CaptureFormatError(`${source}: field '${path}[${i}]' must be a [name, value] pair of strings`);
      }
    });
  }
  const outbound = (value as { outbound?: unknown }).outbound;
  if (outbound !== undefined && !Array.isArray(outbound)) {
    throw new CaptureFormatError(`${source}: field 'outbound' must be an array, got ${kindOf(outbound)}`);
  }
  (outbound as unknown[] | undefined)?.forEach((call, i) => {
    for (const field of ['method', 'url']) {
      if (typeof (call as Record<string, unknown> | null)?.[field] !== 'string') {
        throw new CaptureFormatError(`${source}: missing field 'outbound[${i}].${field}'`);
      }
    }
  });
  const record = value as CaptureRecord;
  if (record.outbound === undefined) record.outbound = [];
  return record;
}

/**
 * Reads a capture record from a JSON file, as `loopctl show --id N --json` or
 * `loopctl export --id N --format json` writes it. Throws an error naming the file and the missing or
 * wrong field when it is not one.
 */
export async function loadCapture(file: string | URL): Promise<CaptureRecord> {
  const name = file instanceof URL ? file.pathname : file;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CaptureFormatError(`cannot read capture file ${name}: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CaptureFormatError(`capture file ${name} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateCapture(value, `capture file ${name}`);
}
