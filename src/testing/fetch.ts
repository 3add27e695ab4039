import type { CaptureRecord, CaptureSummary } from '../capture/record.js';
import { validateCapture } from './load.js';

export interface CollectorOptions {
  /** The collector's base URL. Default: LOOP_COLLECTOR, else http://127.0.0.1:5678. */
  collector?: string;
  /** Bearer token. Default: LOOP_TOKEN. */
  token?: string;
}

/** The list API's filters, as `loopctl list` takes them. */
export interface CaptureFilter {
  /** `5xx` or an exact status like `500`. */
  status?: string | number;
  service?: string;
  path?: string;
  /** `1h`, `30m`, an ISO time, or epoch milliseconds. */
  since?: string | number;
  /** A trace id. */
  trace?: string;
  limit?: number;
}

/** Thrown when the collector cannot be reached or answers with an error. */
export class CollectorRequestError extends Error {
  override name = 'CollectorRequestError';
  constructor(
    message: string,
    /** The HTTP status, or 0 when there was no answer. */
    readonly status: number,
    /** The collector's error code (`LOOP_ERR_NOT_FOUND`), when it sent one. */
    readonly code?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function baseOf(options: CollectorOptions): string {
  const base = options.collector ?? process.env.LOOP_COLLECTOR ?? 'http://127.0.0.1:5678';
  return base.replace(/\/+$/, '');
}

async function getJson(url: string, options: CollectorOptions): Promise<unknown> {
  const token = options.token ?? process.env.LOOP_TOKEN;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'manual' });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CollectorRequestError(`cannot reach the collector at ${url} (${cause?.code ?? cause?.message ?? (err as Error).message})`, 0, undefined, {
      cause: err,
    });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CollectorRequestError(`${url} answered ${res.status} with something that is not JSON; is it a loopctl collector?`, res.status);
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    throw new CollectorRequestError(`${url} answered ${res.status}: ${error?.message ?? text}`, res.status, error?.code);
  }
  return body;
}

/** One whole capture record from the collector: `GET <collector>/v1/captures/<id>` (id or seq). */
export async function fetchCapture(id: string | number, options: CollectorOptions = {}): Promise<CaptureRecord> {
  const url = `${baseOf(options)}/v1/captures/${encodeURIComponent(String(id))}`;
  return validateCapture(await getJson(url, options), url);
}

/**
 * The captures that match `filter` (the list API, `GET /v1/captures?status=…`), each one fetched
 * whole, in the order the collector lists them.
 */
export async function fetchCaptures(filter: CaptureFilter = {}, options: CollectorOptions = {}): Promise<CaptureRecord[]> {
  const params = new URLSearchParams();
  for (const name of ['status', 'service', 'path', 'since', 'trace', 'limit'] as const) {
    const value = filter[name];
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const search = params.size > 0 ? `?${params}` : '';
  const listing = (await getJson(`${baseOf(options)}/v1/captures${search}`, options)) as { captures?: CaptureSummary[] };
  const summaries = listing.captures ?? [];
  const records: CaptureRecord[] = [];
  // A few at a time: a listing may name many.
  for (let i = 0; i < summaries.length; i += 8) {
    records.push(...(await Promise.all(summaries.slice(i, i + 8).map((s) => fetchCapture(s.id, options)))));
  }
  return records;
}
