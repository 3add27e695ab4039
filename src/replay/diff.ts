import type { CapturedResponse } from '../capture/record.js';
import { asJson, asText, decodeBody } from './body.js';
import type { ReplayResponse } from './send.js';

/** How a replayed response compares with the captured one. Headers are not compared (dates, ids). */
export interface ResponseDiff {
  same: boolean;
  status?: { captured: number; replayed: number };
  body?: {
    /** Bytes compared from the capture (the kept prefix when it was truncated). */
    captured: number;
    replayed: number;
    /** Short human-readable lines saying what differs. */
    details: string[];
  };
}

const MAX_DETAILS = 5;
const MAX_SHOWN = 60;

/**
 * Compares status and body bytes. A truncated captured body is compared on its kept prefix only; a
 * body captured with a Content-Encoding is compared as raw bytes (no decompression on either side).
 */
export function diffResponse(captured: CapturedResponse, replayed: Pick<ReplayResponse, 'status' | 'body'>): ResponseDiff {
  const diff: ResponseDiff = { same: true };
  if (captured.status !== replayed.status) {
    diff.same = false;
    diff.status = { captured: captured.status, replayed: replayed.status };
  }
  const kept = decodeBody(captured.body);
  const truncated = captured.body?.truncated === true;
  const other = truncated ? replayed.body.subarray(0, kept.length) : replayed.body;
  const equal = kept.equals(other) && (!truncated || replayed.body.length >= kept.length);
  if (!equal) {
    diff.same = false;
    const raw = Boolean(captured.body?.contentEncoding);
    const details = raw || truncated ? describeBytes(kept, other, truncated) : describeBodies(kept, other);
    diff.body = { captured: kept.length, replayed: replayed.body.length, details };
  }
  return diff;
}

function describeBodies(a: Buffer, b: Buffer): string[] {
  const ja = asJson(a);
  const jb = asJson(b);
  if (ja && jb) {
    const out: string[] = [];
    diffJson(ja.value, jb.value, '$', out);
    if (out.length > MAX_DETAILS) return [...out.slice(0, MAX_DETAILS), `… and ${out.length - MAX_DETAILS} more`];
    // Same JSON value, different bytes: spacing or key order.
    return out.length ? out : [`same JSON value, different bytes (${a.length} → ${b.length} bytes)`];
  }
  return describeBytes(a, b, false);
}

function describeBytes(a: Buffer, b: Buffer, prefixOnly: boolean): string[] {
  const note = prefixOnly ? ` (compared the first ${a.length} bytes kept in the capture)` : '';
  const ta = asText(a);
  const tb = asText(b);
  if (ta !== undefined && tb !== undefined) {
    const la = ta.split('\n');
    const lb = tb.split('\n');
    for (let i = 0; i < Math.max(la.length, lb.length); i++) {
      if (la[i] !== lb[i]) {
        return [`line ${i + 1}: ${showLine(la[i])} → ${showLine(lb[i])}${note}`];
      }
    }
  }
  if (a.length === b.length) {
    let at = 0;
    while (at < a.length && a[at] === b[at]) at++;
    return [`${a.length} bytes each, first difference at byte ${at}${note}`];
  }
  return [`${a.length} bytes → ${b.length} bytes${note}`];
}

function showLine(line: string | undefined): string {
  return line === undefined ? '(none)' : JSON.stringify(clip(line));
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

function diffJson(a: unknown, b: unknown, path: string, out: string[]): void {
  if (out.length > MAX_DETAILS) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: array of ${a.length} → array of ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) diffJson(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      diffJson(a[key], b[key], `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`, out);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: ${show(a)} → ${show(b)}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
