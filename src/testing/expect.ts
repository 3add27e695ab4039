import { AssertionError } from 'node:assert';
import { isDeepStrictEqual } from 'node:util';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { CaptureRecord, HeaderList } from '../capture/record.js';
import { asJson, asText, asTruncatedText, decodeBody } from '../replay/body.js';
import { VOLATILE_HEADERS } from '../replay/diff.js';
import type { ReplayResult } from './replay.js';

export { VOLATILE_HEADERS };

export interface MatchOptions {
  /** Body paths not compared: `$.requestId`, `body.items[0].at`, `$.items[*].id` (`*`: any key or index). */
  ignore?: string[];
  /** More header names not compared (besides {@link VOLATILE_HEADERS}). */
  ignoreHeaders?: string[];
}

/** One difference between the capture and the replay. */
export interface Difference {
  /** `status`, `headers.content-type`, `body`, `body$.error`. */
  path: string;
  expected: unknown;
  actual: unknown;
}

type Segment = string | number;

/** `$.a.b[0]`, `body.a["x y"]`, `a.b` → segments; `*` matches anything. */
function parsePath(text: string): Segment[] {
  let rest = text.trim();
  if (rest.startsWith('body')) rest = rest.slice(4);
  if (rest.startsWith('$')) rest = rest.slice(1);
  const out: Segment[] = [];
  const re = /\.([^.[\]]+)|\[(\d+|\*)\]|\[(?:"([^"]*)"|'([^']*)')\]|^([^.[\]]+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(rest)) !== null) {
    if (m.index !== consumed) break;
    consumed = re.lastIndex;
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2] === '*' ? '*' : Number(m[2]));
    else out.push(m[3] ?? m[4] ?? m[5]!);
  }
  if (consumed !== rest.length) throw new TypeError(`expectReplayToMatch(): bad ignore path '${text}': use $.a.b[0] or body.a.b`);
  return out;
}

function showPath(path: Segment[]): string {
  return `$${path.map((s) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`)).join('')}`;
}

function ignored(path: Segment[], patterns: Segment[][]): boolean {
  return patterns.some((p) => p.length <= path.length && p.every((s, i) => s === '*' || s === path[i] || String(s) === String(path[i])));
}

const MISSING = Symbol('missing');

function jsonDiff(expected: unknown, actual: unknown, path: Segment[], patterns: Segment[][], out: Difference[]): void {
  if (ignored(path, patterns)) return;
  if (Array.isArray(expected) && Array.isArray(actual)) {
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      jsonDiff(i < expected.length ? expected[i] : MISSING, i < actual.length ? actual[i] : MISSING, [...path, i], patterns, out);
    }
    return;
  }
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(expected) && isObj(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const key of keys) {
      jsonDiff(key in expected ? expected[key] : MISSING, key in actual ? actual[key] : MISSING, [...path, key], patterns, out);
    }
    return;
  }
  if (!isDeepStrictEqual(expected, actual)) out.push({ path: `body${showPath(path)}`, expected, actual });
}

function headerMap(list: HeaderList, skip: Set<string>): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of list) {
    const lower = name.toLowerCase();
    if (skip.has(lower)) continue;
    const prev = map.get(lower);
    map.set(lower, prev === undefined ? value : `${prev}, ${value}`);
  }
  return map;
}

function headerOf(list: HeaderList, name: string): string | undefined {
  return list.find(([k]) => k.toLowerCase() === name)?.[1];
}

/** Bodies in a Content-Encoding are compared decoded, when both decode. */
function decode(bytes: Buffer, encoding: string | undefined): Buffer {
  const e = encoding?.trim().toLowerCase();
  if (!e || e === 'identity' || bytes.length === 0) return bytes;
  try {
    if (e === 'gzip' || e === 'x-gzip') return gunzipSync(bytes);
    if (e === 'deflate') return inflateSync(bytes);
    if (e === 'br') return brotliDecompressSync(bytes);
  } catch {
    // Compared as they are.
  }
  return bytes;
}

/** A value shown as it is, not quoted. */
class Shown {
  constructor(readonly text: string) {}
  toJSON(): string {
    return this.text;
  }
}

function preview(bytes: Buffer): string | Shown {
  const text = asText(bytes);
  if (text !== undefined) return text.length > 500 ? `${text.slice(0, 500)}… (${bytes.length} bytes)` : text;
  return new Shown(`<${bytes.length} bytes: ${bytes.subarray(0, 24).toString('hex')}${bytes.length > 24 ? '…' : ''}>`);
}

/** The differences between what the capture recorded and what the replay got, after the ignores. */
export function replayDifferences(result: ReplayResult, capture: CaptureRecord, options: MatchOptions = {}): Difference[] {
  const out: Difference[] = [];
  if (result.status !== capture.response.status) out.push({ path: 'status', expected: capture.response.status, actual: result.status });

  const skip = new Set([...VOLATILE_HEADERS, ...(options.ignoreHeaders ?? [])].map((h) => h.toLowerCase()));
  const want = headerMap(capture.response.headers, skip);
  const got = headerMap(result.rawHeaders, skip);
  for (const name of new Set([...want.keys(), ...got.keys()])) {
    const e = want.get(name);
    const a = got.get(name);
    if (e !== a) out.push({ path: `headers.${name}`, expected: e ?? MISSING, actual: a ?? MISSING });
  }

  const patterns = (options.ignore ?? []).map(parsePath);
  if (patterns.some((p) => p.length === 0)) return out;
  const recorded = capture.response.body;
  const expectedBytes = decodeBody(recorded);
  if (recorded?.truncated) {
    // Only the kept start can be compared.
    const actualStart = result.body.subarray(0, expectedBytes.length);
    if (!expectedBytes.equals(actualStart) || result.body.length < (recorded.size ?? 0)) {
      const e = asTruncatedText(expectedBytes);
      const a = asTruncatedText(actualStart);
      out.push({
        path: 'body',
        expected: new Shown(`${e !== undefined ? JSON.stringify(e) : show(preview(expectedBytes))}… (the first ${expectedBytes.length} of ${recorded.size} bytes were recorded)`),
        actual: new Shown(`${a !== undefined ? JSON.stringify(a) : show(preview(actualStart))}… (${result.body.length} bytes)`),
      });
    }
    return out;
  }
  const e = decode(expectedBytes, headerOf(capture.response.headers, 'content-encoding'));
  const a = decode(result.body, headerOf(result.rawHeaders, 'content-encoding'));
  const ej = asJson(e);
  const aj = asJson(a);
  if (ej !== undefined && aj !== undefined) {
    jsonDiff(ej.value, aj.value, [], patterns, out);
    return out;
  }
  if (!e.equals(a)) out.push({ path: 'body', expected: preview(e), actual: preview(a) });
  return out;
}

function show(value: unknown): string {
  if (value === MISSING) return '(missing)';
  if (value instanceof Shown) return value.text;
  if (typeof value === 'string') return JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * Throws an `AssertionError` (node:assert) listing each difference (path, expected, actual) between
 * the replay's answer and the captured response: status, headers other than volatile ones, and body
 * (structural for JSON, text, or bytes).
 */
export function expectReplayToMatch(result: ReplayResult, capture: CaptureRecord, options: MatchOptions = {}): void {
  const diffs = replayDifferences(result, capture, options);
  if (diffs.length === 0) return;
  const lines = diffs.map((d) => {
    const path = d.path === 'body' ? 'body' : d.path;
    return `  ${path}:\n    expected ${show(d.expected)}\n    actual   ${show(d.actual)}`;
  });
  const what = `${capture.request.method} ${capture.request.url}`;
  throw new AssertionError({
    message: `replay of capture ${capture.id} (${what}) does not match the capture: ${diffs.length} difference(s)\n${lines.join('\n')}`,
    expected: diffs.map((d) => ({ path: d.path, value: d.expected === MISSING ? undefined : d.expected })),
    actual: diffs.map((d) => ({ path: d.path, value: d.actual === MISSING ? undefined : d.actual })),
    operator: 'expectReplayToMatch',
  });
}
