import { validateHeaderName, validateHeaderValue, type IncomingMessage, type ServerResponse } from 'node:http';
import type { HeaderList } from '../src/capture/record.js';
import { LoopError, codes } from '../src/errors.js';
import { checkDestination, type AllowEntry, type ResolveAll } from '../src/replay/address-policy.js';
import { parseDestination } from '../src/replay/destination.js';
import { redactedInRequest } from '../src/replay/redacted.js';
import { parseSecrets, restoreSecrets } from '../src/replay/secrets.js';
import { buildReplayRequest, sendReplay } from '../src/replay/send.js';
import { replayResponseToJson } from '../src/replay/wire.js';
import { newSpanId, newTraceId } from '../src/trace/ids.js';
import { formatTraceparent, parseTraceparent } from '../src/trace/traceparent.js';
import { HttpError, sendJson } from './http/http-error.js';
import { readBody } from './http/read-body.js';
import type { CollectorMetrics } from './metrics.js';
import type { CaptureStore } from './storage/types.js';

/**
 * What `POST /v1/captures/:id/replay` takes: the knobs of `loopctl replay`. Secrets travel in the
 * request (over the authenticated API) and are used for this one replay, never stored or logged.
 */
export interface ReplayApiRequest {
  /** `host:port` or an http(s) URL; default: the capture's own destination. */
  destination?: string;
  /** Send the captured Host header instead of the destination's. */
  keepHost?: boolean;
  /** `[name, value]` pairs set on the replay, each replacing every header of its name. */
  headers?: HeaderList;
  /** The `traceparent` to send; default: one of a new trace. */
  traceparent?: string;
  /** Values to put back where the capture holds `[REDACTED]`, as in `loopctl replay --secrets`. */
  secrets?: unknown;
  /** Send the request even when it still holds `[REDACTED]`. */
  allowRedacted?: boolean;
}

const FIELDS = new Set(['destination', 'keepHost', 'headers', 'traceparent', 'secrets', 'allowRedacted']);

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

export interface ReplayApiOptions {
  store: CaptureStore;
  /** The `--replay-allow` entries; none means server-side replay is off. */
  allow: readonly AllowEntry[];
  metrics: CollectorMetrics;
  maxBodyBytes: number;
  /** Largest replay response body kept, in bytes. */
  maxResponseBytes: number;
  resolveAll?: ResolveAll;
}

function badRequest(message: string): HttpError {
  return new HttpError(400, codes.BAD_REQUEST, message);
}

function parseRequest(bytes: Buffer): ReplayApiRequest {
  let body: unknown;
  try {
    body = bytes.length ? JSON.parse(bytes.toString('utf8')) : {};
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the replay request must be a JSON object like { "destination": "host:port" }');
  }
  const o = body as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!FIELDS.has(key)) throw badRequest(`unknown field '${key}' in the replay request; known fields are ${[...FIELDS].join(', ')}`);
  }
  for (const key of ['destination', 'traceparent'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string') throw badRequest(`${key} must be a string`);
  }
  for (const key of ['keepHost', 'allowRedacted'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw badRequest(`${key} must be true or false`);
  }
  if (o.traceparent !== undefined && !parseTraceparent(o.traceparent as string)) {
    throw badRequest('traceparent must be a W3C traceparent like 00-<32 hex>-<16 hex>-01');
  }
  if (o.headers !== undefined) {
    if (!Array.isArray(o.headers)) throw badRequest('headers must be a list of [name, value] pairs');
    for (const pair of o.headers as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw badRequest('headers must be a list of [name, value] pairs of strings');
      }
      try {
        validateHeaderName(pair[0]);
        validateHeaderValue(pair[0], pair[1]);
      } catch {
        throw badRequest(`header ${JSON.stringify(pair[0])} is not a valid header name and value`);
      }
    }
  }
  return o as ReplayApiRequest;
}

/** Maps what the policy, the capture or the destination refused to the collector's answer. */
function refusal(err: LoopError): HttpError {
  switch (err.code) {
    case codes.REPLAY_NOT_ALLOWED:
    case codes.REPLAY_FORBIDDEN_ADDRESS:
      return new HttpError(403, err.code, err.message);
    case codes.BAD_DESTINATION:
    case codes.USAGE:
      return new HttpError(400, err.code === codes.USAGE ? codes.BAD_REQUEST : err.code, err.message);
    case codes.DESTINATION_UNREACHABLE:
      return new HttpError(502, err.code, err.message);
    default:
      throw err;
  }
}

/**
 * `POST /v1/captures/:id/replay`: the collector replays a stored capture itself, for destinations only
 * it can reach, and answers what came back. Built like a `loopctl replay` (same request, no redirect
 * followed, nothing decompressed), but only to destinations on the allowlist, connecting to the
 * address the check validated.
 */
export function createReplayHandler(options: ReplayApiOptions): Handler {
  const { store, allow, metrics, maxBodyBytes, maxResponseBytes, resolveAll } = options;
  return async (req, res, _url, [id]) => {
    try {
      if (!allow.length) {
        throw new HttpError(
          403,
          codes.REPLAY_OFF,
          'server-side replay is off on this collector; start it with --replay-allow host:port[,host:port…] to allow destinations',
        );
      }
      const body = parseRequest(await readBody(req, maxBodyBytes));
      const found = await store.get(id!);
      if (!found) throw new HttpError(404, codes.NOT_FOUND, `no capture with id ${id}`);
      let record = found;
      try {
        if (body.secrets !== undefined) record = restoreSecrets(record, parseSecrets(JSON.stringify(body.secrets), 'secrets'));
      } catch (err) {
        throw badRequest((err as Error).message);
      }
      const places = redactedInRequest(record);
      if (places.length && !body.allowRedacted) {
        throw new HttpError(
          409,
          codes.REPLAY_REDACTED,
          `capture ${record.seq}'s request holds redacted values (${places.join(', ')}); send secrets to put the values back, or allowRedacted: true to send it anyway`,
        );
      }
      let outcome;
      try {
        const destination = parseDestination(body.destination ?? record.destination);
        const address = await checkDestination(allow, destination, resolveAll);
        const request = buildReplayRequest(record, destination, {
          keepHost: body.keepHost,
          traceparent: body.traceparent ?? formatTraceparent(newTraceId(), newSpanId(), true),
          headers: body.headers ?? [],
        });
        const response = await sendReplay(destination, request, { connectTo: address, maxBodyBytes: maxResponseBytes });
        outcome = { destination, address, request, response };
      } catch (err) {
        if (err instanceof LoopError) throw refusal(err);
        throw err;
      }
      const { destination, address, request, response } = outcome;
      metrics.replay('sent');
      sendJson(res, 200, {
        capture: { id: record.id, seq: record.seq },
        destination: destination.display,
        address: address.family === 6 ? `[${address.address}]:${destination.port}` : `${address.address}:${destination.port}`,
        request: { method: request.method, target: request.target, headers: request.headers },
        response: { ...replayResponseToJson(response), durationMs: response.durationMs },
      });
    } catch (err) {
      metrics.replay(err instanceof HttpError && err.code !== codes.DESTINATION_UNREACHABLE ? 'refused' : 'failed');
      throw err;
    }
  };
}
