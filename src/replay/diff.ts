import type { CapturedResponse, HeaderList } from '../capture/record.js';
import { asJson, asText, decodeBody } from './body.js';
import { diffLines, type Hunk } from './line-diff.js';
import { formatJsonPath, parseJsonPath, pathMatches, type PathSegment } from './json-path.js';
import type { ReplayResponse } from './send.js';

/**
 * Response headers that change from one answer to the next without meaning anything: left out of a
 * header comparison unless asked for.
 */
export const VOLATILE_HEADERS: readonly string[] = [
  'date',
  'etag',
  'content-length',
  'set-cookie',
  'x-request-id',
  'traceresponse',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'age',
  'expires',
  'last-modified',
];

/** How a replayed response compares with the captured one. */
export interface ResponseDiff {
  same: boolean;
  status?: { captured: number; replayed: number };
  /** Headers whose values differ (only when headers are compared: `DiffOptions.headers`). */
  headers?: Array<{ name: string; captured?: string; replayed?: string }>;
  body?: {
    /** Bytes compared from the capture (the kept prefix when it was truncated). */
    captured: number;
    replayed: number;
    /** Short human-readable lines saying what differs. */
    details: string[];
  };
}

/** What to compare beyond status and body. All optional; `{}` compares status and body only. */
export interface DiffOptions {
  /** Compare response headers too, leaving out {@link VOLATILE_HEADERS} and `ignoreHeaders`. */
  headers?: boolean;
  /** More header names to leave out (any case). */
  ignoreHeaders?: readonly string[];
  /** JSON paths to leave out of a JSON body comparison (`$.a.b`, `$.items[*].id`); an ancestor covers its subtree. */
  ignorePaths?: readonly string[];
  /** 1-based line numbers of the captured text body whose changes are left out (a change that touches only these). */
  ignoreLines?: readonly number[];
  /** Do not compare the body at all (a binary body that differs between identical replays). */
  ignoreBody?: boolean;
}

const MAX_DETAILS = 5;
const MAX_SHOWN = 60;

type Replayed = Pick<ReplayResponse, 'status' | 'body'> & { headers?: HeaderList };

/**
 * Compares status, body and (with `options.headers`) headers. JSON bodies are compared as values
 * (key order and spacing do not count), text bodies by a line diff, other bodies byte by byte. A
 * truncated captured body is compared on its kept prefix only; a body captured with a
 * Content-Encoding is compared as raw bytes (no decompression on either side).
 */
export function diffResponse(
  captured: Pick<CapturedResponse, 'status' | 'body'> & { headers?: HeaderList },
  replayed: Replayed,
  options: DiffOptions = {},
): ResponseDiff {
  const diff: ResponseDiff = { same: true };
  if (captured.status !== replayed.status) {
    diff.same = false;
    diff.status = { captured: captured.status, replayed: replayed.status };
  }
  if (options.headers) {
    const headers = headerDifferences(captured.headers ?? [], replayed.headers ?? [], options.ignoreHeaders ?? []);
    if (headers.length) {
      diff.same = false;
      diff.headers = headers;
    }
  }
  if (!options.ignoreBody) {
    const kept = decodeBody(captured.body);
    const truncated = captured.body?.truncated === true;
    const other = truncated ? replayed.body.subarray(0, kept.length) : replayed.body;
    const equal = kept.equals(other) && (!truncated || replayed.body.length >= kept.length);
    if (!equal) {
      const raw = Boolean(captured.body?.contentEncoding) || truncated;
      const found = bodyDifferences(kept, other, { raw, truncated, ...options });
      if (found.keys.length) {
        diff.same = false;
        diff.body = { captured: kept.length, replayed: replayed.body.length, details: cap(found.details) };
      }
    }
  }
  return diff;
}

function cap(details: string[]): string[] {
  return details.length > MAX_DETAILS ? [...details.slice(0, MAX_DETAILS), `… and ${details.length - MAX_DETAILS} more`] : details;
}

function headerMap(headers: HeaderList): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    const before = map.get(lower);
    map.set(lower, before === undefined ? value : `${before}, ${value}`);
  }
  return map;
}

/** Header names (lower case) whose joined values differ, volatile and ignored ones left out. */
export function headerDifferences(
  a: HeaderList,
  b: HeaderList,
  ignore: readonly string[] = [],
): Array<{ name: string; captured?: string; replayed?: string }> {
  const skip = new Set([...VOLATILE_HEADERS, ...ignore.map((n) => n.toLowerCase())]);
  const ma = headerMap(a);
  const mb = headerMap(b);
  const out: Array<{ name: string; captured?: string; replayed?: string }> = [];
  for (const name of new Set([...ma.keys(), ...mb.keys()])) {
    if (skip.has(name)) continue;
    const va = ma.get(name);
    const vb = mb.get(name);
    if (va !== vb) out.push({ name, ...(va !== undefined && { captured: va }), ...(vb !== undefined && { replayed: vb }) });
  }
  return out;
}

/**
 * What differs between two bodies: `keys` are what a noise filter would ignore (JSON paths, line
 * numbers as `line:N`, or `body` for bytes), `details` the lines shown to people. Empty `keys`: equal.
 */
export function bodyDifferences(
  a: Buffer,
  b: Buffer,
  options: DiffOptions & { raw?: boolean; truncated?: boolean } = {},
): { kind: 'json' | 'text' | 'bytes'; keys: string[]; details: string[] } {
  if (a.equals(b)) return { kind: 'bytes', keys: [], details: [] };
  const note = options.truncated ? ` (compared the first ${a.length} bytes kept in the capture)` : '';
  if (!options.raw) {
    const ja = asJson(a);
    const jb = asJson(b);
    if (ja && jb) {
      const ignore = (options.ignorePaths ?? []).map(parseJsonPath);
      const found: Array<{ path: string; detail: string }> = [];
      diffJson(ja.value, jb.value, [], ignore, found);
      return { kind: 'json', keys: found.map((f) => f.path), details: found.map((f) => f.detail) };
    }
  }
  const ta = asText(a);
  const tb = asText(b);
  if (ta !== undefined && tb !== undefined) {
    const skip = new Set(options.ignoreLines ?? []);
    const la = ta.split('\n');
    const lb = tb.split('\n');
    const keys: string[] = [];
    const details: string[] = [];
    for (const hunk of diffLines(la, lb)) {
      const lines = hunkLines(hunk);
      if (lines.every((n) => skip.has(n))) continue;
      for (const n of lines) keys.push(`line:${n}`);
      details.push(...describeHunk(hunk, la, lb, note));
    }
    return { kind: 'text', keys, details };
  }
  if (a.length === b.length) {
    let at = 0;
    while (at < a.length && a[at] === b[at]) at++;
    return { kind: 'bytes', keys: ['body'], details: [`${a.length} bytes each, first difference at byte ${at}${note}`] };
  }
  return { kind: 'bytes', keys: ['body'], details: [`${a.length} bytes → ${b.length} bytes${note}`] };
}

/**
 * The captured-side line numbers (1-based) a hunk stands for: the lines it removed or changed, or
 * for lines only added, the captured line they were added in front of (one past the end at the end).
 */
function hunkLines(hunk: Hunk): number[] {
  if (hunk.aEnd === hunk.aStart) return [hunk.aStart + 1];
  const lines: number[] = [];
  for (let i = hunk.aStart; i < hunk.aEnd; i++) lines.push(i + 1);
  return lines;
}

/** One line per changed, removed or added line of a hunk, numbered on the side it belongs to. */
function describeHunk(hunk: Hunk, a: readonly string[], b: readonly string[], note: string): string[] {
  const out: string[] = [];
  const removed = hunk.aEnd - hunk.aStart;
  const added = hunk.bEnd - hunk.bStart;
  for (let i = 0; i < Math.max(removed, added) && out.length <= MAX_DETAILS; i++) {
    const ai = hunk.aStart + i;
    const bi = hunk.bStart + i;
    if (i < removed && i < added) {
      const where = ai === bi ? `line ${ai + 1}` : `line ${ai + 1} (now ${bi + 1})`;
      out.push(`${where}: ${showLine(a[ai]!)} → ${showLine(b[bi]!)}${note}`);
    } else if (i < removed) {
      out.push(`line ${ai + 1} removed: ${showLine(a[ai]!)}${note}`);
    } else {
      out.push(`line ${bi + 1} added: ${showLine(b[bi]!)}${note}`);
    }
  }
  return out;
}

function showLine(line: string): string {
  return JSON.stringify(clip(line));
}

function clip(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

function show(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (Array.isArray(value)) return `array of ${value.length}`;
  if (value !== null && typeof value === 'object') return `object with ${Object.keys(value).length} keys`;
  return clip(JSON.stringify(value));
}

/** Upper bound on differences collected from one pair of JSON documents. */
const MAX_COLLECTED = 10_000;

function diffJson(
  a: unknown,
  b: unknown,
  path: PathSegment[],
  ignore: PathSegment[][],
  out: Array<{ path: string; detail: string }>,
): void {
  if (out.length >= MAX_COLLECTED) return;
  if (ignore.some((pattern) => pathMatches(pattern, path))) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) {
      const shown = formatJsonPath(path);
      out.push({ path: shown, detail: `${shown}: array of ${a.length} → array of ${b.length}` });
    }
    for (let i = 0; i < Math.min(a.length, b.length); i++) diffJson(a[i], b[i], [...path, i], ignore, out);
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) diffJson(a[key], b[key], [...path, key], ignore, out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    const shown = formatJsonPath(path);
    out.push({ path: shown, detail: `${shown}: ${show(a)} → ${show(b)}` });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
