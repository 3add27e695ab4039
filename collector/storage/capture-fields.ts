import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';
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

/** The record as both stores keep it: its JSON without the display id, which the store assigns. */
export function storedJson(record: CaptureRecord): string {
  // JSON.stringify leaves out an undefined property; no copy when there is no seq to drop.
  return JSON.stringify(record.seq === undefined ? record : { ...record, seq: undefined });
}

/**
 * What a store keeps for a record that came with its own JSON text (`received`, cut from the ingest
 * body: ingest-body.ts): that text, which spares serializing the record again, when it is what
 * storedJson would store: no display id in it, and on one line (PostgreSQL's insert joins records
 * with newlines). Otherwise storedJson(record).
 */
export function storedJsonOf(record: CaptureRecord, received: string | undefined): string {
  return received !== undefined && record.seq === undefined && !received.includes('\n') ? received : storedJson(record);
}

/**
 * The listed fields of a capture, in the column order both stores insert them (id, service, instance,
 * started_at, duration_ms, method, path, url, status, destination, route, trace_id, aborted as 0/1,
 * error, size): derived in one place so that SQLite and PostgreSQL list the same values.
 */
export function listedValues(record: CaptureRecord, size: number): Array<string | number | null> {
  return [
    record.id,
    record.service,
    record.instance,
    Date.parse(record.startedAt),
    record.durationMs,
    record.request.method,
    pathOf(record.request.url),
    record.request.url,
    record.response.status,
    record.destination ?? '',
    record.route ?? null,
    record.trace?.traceId ?? null,
    record.response.aborted ? 1 : 0,
    record.error?.message ?? null,
    size,
  ];
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
