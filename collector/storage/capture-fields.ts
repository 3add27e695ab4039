import type { CaptureSummary } from '../../src/capture/record.js';
import type { AgentState } from './types.js';

/**
 * What both backends derive the same way from a capture: the listed path, and whether an id is a
 * display id (`seq`) or a capture id (nanoid).
 */

/** A display id: a positive integer, or a string of digits; -1 for a number that cannot be one. Anything else is a capture id (nanoid). */
export function asSeq(idOrSeq: string | number): number | undefined {
  if (typeof idOrSeq === 'number') return Number.isSafeInteger(idOrSeq) && idOrSeq > 0 ? idOrSeq : -1;
  if (/^[0-9]{1,15}$/.test(idOrSeq)) return Number(idOrSeq);
  return undefined;
}

/** The path of a request target without its query; absolute-form targets (`http://h/p`) give `/p`. */
export function pathOf(url: string): string {
  let target = url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      // Keep the raw target: a stored capture must never be refused for an odd URL.
    }
  }
  const cut = target.search(/[?#]/);
  if (cut !== -1) target = target.slice(0, cut);
  return target;
}

/** The listed fields of one stored capture, as both stores select them (SUMMARY_COLUMNS). */
export interface SummaryRow {
  seq: number;
  id: string;
  service: string;
  instance: string;
  started_at: number;
  duration_ms: number;
  method: string;
  url: string;
  status: number;
  destination: string;
  route: string | null;
  trace_id: string | null;
  /** SQLite has no boolean: 0 or 1 there. */
  aborted: boolean | number;
  error: string | null;
}

/** A summary row as the API lists it. */
export function toSummary(row: SummaryRow): CaptureSummary {
  const summary: CaptureSummary = {
    seq: row.seq,
    id: row.id,
    service: row.service,
    instance: row.instance,
    startedAt: new Date(row.started_at).toISOString(),
    durationMs: row.duration_ms,
    method: row.method,
    path: row.url,
    status: row.status,
    destination: row.destination,
    traceId: row.trace_id ?? '',
    aborted: row.aborted === true || row.aborted === 1,
  };
  if (row.route !== null) summary.route = row.route;
  if (row.error !== null) summary.error = row.error;
  return summary;
}

/** An `agents` row as both stores select it. */
export interface AgentRow {
  service: string;
  instance: string;
  version: number;
  source: string;
  seen_at: number;
}

/** An agents row as the API lists it; an unknown source reads as local. */
export function toAgent(row: AgentRow): AgentState {
  return {
    service: row.service,
    instance: row.instance,
    version: row.version,
    source: row.source === 'collector' ? 'collector' : 'local',
    seenAt: row.seen_at,
  };
}
