/**
 * The traces part of the collector's API: every capture of one trace, for `loopctl trace`.
 *
 *   GET /v1/traces/:traceId   → { traceId, total, captures: [whole records, by start time] }
 *
 * `total` counts every stored capture of the trace; at most {@link TRACE_CAPTURE_LIMIT} are answered
 * (the earliest), so `captures.length < total` says the answer was cut.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { codes } from '../src/errors.js';
import { HttpError, sendJson } from './http/http-error.js';
import type { CaptureStore } from './storage/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

/** The most captures one trace answer holds. */
export const TRACE_CAPTURE_LIMIT = 1000;

/** A W3C trace id: 32 lower-case hex digits, not all zeros (https://www.w3.org/TR/trace-context/#trace-id). */
export function isTraceId(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text) && !/^0+$/.test(text);
}

export function createTraceHandler(store: CaptureStore): Handler {
  return async (_req, res, url, [traceId]) => {
    const [unknown] = url.searchParams.keys();
    if (unknown !== undefined) {
      throw new HttpError(400, codes.BAD_REQUEST, `unknown query parameter '${unknown}': /v1/traces/:traceId takes none`);
    }
    if (!isTraceId(traceId!)) {
      throw new HttpError(
        400,
        codes.BAD_REQUEST,
        `bad trace id '${traceId}': a trace id is 32 lower-case hex digits, not all zeros (as in traceparent)`,
      );
    }
    const { total, captures } = await store.trace(traceId!, TRACE_CAPTURE_LIMIT);
    if (total === 0) throw new HttpError(404, codes.NOT_FOUND, `no capture has trace id ${traceId}`);
    sendJson(res, 200, { traceId, total, captures });
  };
}
