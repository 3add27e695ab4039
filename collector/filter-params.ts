import { LoopError, codes } from '../src/errors.js';
import type { CaptureFilter } from './storage/types.js';

/** Listing answers at most this many captures unless `limit` says otherwise. */
export const DEFAULT_LIST_LIMIT = 1000;
/** The largest `limit` a listing accepts. */
export const MAX_LIST_LIMIT = 100_000;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

function bad(message: string): LoopError {
  return new LoopError(codes.BAD_REQUEST, message);
}

/** `5xx` → 500..599, `500` → 500..500. */
export function parseStatusFilter(text: string): { min: number; max: number } {
  const trimmed = text.trim();
  const cls = /^([1-5])xx$/i.exec(trimmed);
  if (cls) {
    const min = Number(cls[1]) * 100;
    return { min, max: min + 99 };
  }
  if (/^[1-5][0-9][0-9]$/.test(trimmed)) {
    const status = Number(trimmed);
    return { min: status, max: status };
  }
  throw bad(`bad status '${text}': use a class like 5xx or an exact status like 500`);
}

/** `1h`, `30m`, `2d` (ago), an ISO 8601 time, or epoch milliseconds → epoch milliseconds. */
export function parseSince(text: string, now: number = Date.now()): number {
  const trimmed = text.trim();
  const duration = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)$/.exec(trimmed);
  if (duration) return now - Number(duration[1]) * UNITS[duration[2]!]!;
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed);
  if (/^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(trimmed)) {
    const time = Date.parse(trimmed);
    if (!Number.isNaN(time)) return time;
  }
  throw bad(`bad since '${text}': use a duration like 1h or 30m, an ISO time, or epoch milliseconds`);
}

export function parseLimit(text: string): number {
  const trimmed = text.trim();
  const limit = /^[0-9]+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw bad(`bad limit '${text}': use a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

const KNOWN = new Set(['status', 'service', 'path', 'since', 'trace', 'rule', 'before', 'limit', 'order']);

/** The query of `GET /v1/captures` → a {@link CaptureFilter}; unknown parameters are refused. */
export function filterFromQuery(query: URLSearchParams, now: number = Date.now()): CaptureFilter {
  for (const name of query.keys()) {
    if (!KNOWN.has(name)) {
      throw bad(`unknown query parameter '${name}': use ${[...KNOWN].join(', ')}`);
    }
  }
  const filter: CaptureFilter = { limit: DEFAULT_LIST_LIMIT };
  const status = query.get('status');
  if (status) filter.status = parseStatusFilter(status);
  const service = query.get('service');
  if (service) filter.service = service;
  const path = query.get('path');
  if (path) filter.path = path;
  const since = query.get('since');
  if (since) filter.since = parseSince(since, now);
  const trace = query.get('trace');
  if (trace) filter.traceId = trace;
  const rule = query.get('rule');
  if (rule) filter.rule = rule;
  const before = query.get('before');
  if (before) {
    if (!/^[0-9]{1,15}$/.test(before.trim())) throw bad(`bad before '${before}': use a display id (a whole number)`);
    filter.beforeSeq = Number(before.trim());
  }
  const limit = query.get('limit');
  if (limit) filter.limit = parseLimit(limit);
  const order = query.get('order');
  if (order) {
    if (order !== 'asc' && order !== 'desc') throw bad(`bad order '${order}': use asc or desc`);
    filter.order = order;
  }
  return filter;
}
