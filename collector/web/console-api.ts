/**
 * The parts of the collector's API that exist for the console (collector/web/), usable by any client:
 *
 *   GET  /v1/captures/:id/export?format=har|curl   one capture as a HAR 1.2 log or a curl command line
 *   POST /v1/tapconfig-check                       TapConfig YAML → { tapconfigs } or 400 with problems at line:column
 *   POST /v1/diag                                  send a diagnostic TRACE from the collector, answer the trail
 *   POST /v1/captures/:id/diff                     { response } (as a replay answered it) → the replay diff
 *                                                  and both bodies as lines with their hunks, for side by side
 *
 * `POST /v1/diag` makes the collector send a request, so it only goes where a server-side replay may:
 * destinations on the collector's replay allowlist, connecting to the address that was checked.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { LoopError, codes, type LoopErrorCode } from '../../src/errors.js';
import { checkMatch } from '../../src/match/check-match.js';
import { loadTapConfigText } from '../../src/match/tapconfig-file.js';
import { checkDestination, type AllowEntry, type ResolveAll } from '../../src/replay/address-policy.js';
import { asJson, asText, decodeBody } from '../../src/replay/body.js';
import { parseDestination } from '../../src/replay/destination.js';
import { diffResponse } from '../../src/replay/diff.js';
import { diffLines } from '../../src/replay/line-diff.js';
import { SAFE_METHODS, diagRequestHeaders, sendDiagTrace } from '../../src/trace/diag-send.js';
import { DIAG_HEADERS, hasTrail, parseJsonTrail, parseMaxForwards } from '../../src/trace/diag-trail.js';
import { captureToCurl } from '../export/curl.js';
import { captureToHar } from '../export/har.js';
import { httploopVersion } from '../export/version.js';
import type { CapturedBody, HeaderList } from '../../src/capture/record.js';
import { HttpError, sendJson } from '../http/http-error.js';
import { readBody } from '../http/read-body.js';
import type { CaptureStore } from '../storage/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

export interface ConsoleApiOptions {
  store: CaptureStore;
  maxBodyBytes: number;
  /** Where `POST /v1/diag` may send (the replay allowlist); empty refuses every destination. */
  allow: () => readonly AllowEntry[];
  /** For tests: how names are resolved before the allowlist check. Default: the system resolver. */
  resolveAll?: ResolveAll;
}

/** Headers a diagnostic request sets itself; the extra headers may not give them. */
const OWN_HEADERS = new Set([
  DIAG_HEADERS.addContext,
  DIAG_HEADERS.l5dAddContext,
  DIAG_HEADERS.token,
  DIAG_HEADERS.method,
  'max-forwards',
  'accept',
  'content-length',
  'transfer-encoding',
]);
const MAX_DIAG_REQUEST_BYTES = 64 * 1024;

function bad(message: string): HttpError {
  return new HttpError(400, codes.BAD_REQUEST, message);
}

/** A failed diagnostic as the client should see it: refused (403), unreachable (502) or malformed (400). */
function diagFailure(err: unknown): unknown {
  if (!(err instanceof LoopError) || err instanceof HttpError) return err;
  const status: Partial<Record<LoopErrorCode, number>> = {
    [codes.BAD_DESTINATION]: 400,
    [codes.REPLAY_NOT_ALLOWED]: 403,
    [codes.REPLAY_FORBIDDEN_ADDRESS]: 403,
    [codes.DESTINATION_UNREACHABLE]: 502,
  };
  const answer = status[err.code];
  return answer === undefined ? err : new HttpError(answer, err.code, err.message);
}

async function readJson(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const bytes = await readBody(req, maxBytes);
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw bad(`request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('send a JSON object');
  return body as Record<string, unknown>;
}

/** Lines shown per side of a side-by-side diff. */
const MAX_SIDE_LINES = 5000;

/** JSON with its keys in order, so that bodies equal as values show no changed line. */
function sortedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortedJson((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** Both bodies as lines for display (JSON pretty-printed when both are JSON), or undefined when either is binary. */
function sideLines(a: Buffer, b: Buffer): { captured: string[]; replayed: string[] } | undefined {
  const ja = asJson(a);
  const jb = asJson(b);
  if (ja && jb) {
    return {
      captured: JSON.stringify(sortedJson(ja.value), null, 2).split('\n'),
      replayed: JSON.stringify(sortedJson(jb.value), null, 2).split('\n'),
    };
  }
  const ta = a.length ? asText(a) : '';
  const tb = b.length ? asText(b) : '';
  if (ta === undefined || tb === undefined) return undefined;
  return { captured: ta.split('\n'), replayed: tb.split('\n') };
}

function isBody(value: unknown): value is CapturedBody {
  const b = value as CapturedBody | null;
  return typeof b === 'object' && b !== null && (b.encoding === 'utf8' || b.encoding === 'base64') && typeof b.data === 'string';
}

function isHeaderList(value: unknown): value is HeaderList {
  return Array.isArray(value) && value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
}

export function createConsoleApi(options: ConsoleApiOptions): { exportCapture: Handler; checkTapConfigs: Handler; diag: Handler; diff: Handler } {
  const { store, maxBodyBytes } = options;

  const exportCapture: Handler = async (_req, res, url, [id]) => {
    for (const name of url.searchParams.keys()) {
      if (name !== 'format') throw bad(`unknown query parameter '${name}': use format=har or format=curl`);
    }
    const format = url.searchParams.get('format');
    if (format !== 'har' && format !== 'curl') throw bad(`bad format '${format ?? ''}': use format=har or format=curl`);
    const record = await store.get(id!);
    if (!record) throw new HttpError(404, codes.NOT_FOUND, `no capture with id ${id}`);
    const name = `capture-${record.seq ?? record.id}`;
    const text =
      format === 'har' ? `${JSON.stringify(captureToHar(record, httploopVersion()), null, 2)}\n` : `${captureToCurl(record)}\n`;
    const bytes = Buffer.from(text);
    res.writeHead(200, {
      'content-type': format === 'har' ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
      'content-length': String(bytes.length),
      'content-disposition': `attachment; filename="${name}.${format === 'har' ? 'har' : 'sh'}"`,
      'cache-control': 'no-store',
    });
    res.end(bytes);
  };

  const checkTapConfigs: Handler = async (req, res) => {
    const text = (await readBody(req, maxBodyBytes)).toString('utf8');
    const { configs, problems } = loadTapConfigText(text, 'tapconfig', checkMatch);
    if (problems.length > 0) {
      const first = problems[0]!;
      throw new HttpError(
        400,
        codes.INVALID_TAPCONFIG,
        `line ${first.line}, column ${first.column}: ${first.message}` + (problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''),
        {},
        { problems: problems.map(({ line, column, message }) => ({ line, column, message })) },
      );
    }
    sendJson(res, 200, { tapconfigs: configs });
  };

  const diag: Handler = async (req, res) => {
    const body = await readJson(req, MAX_DIAG_REQUEST_BYTES);
    for (const key of Object.keys(body)) {
      if (!['url', 'token', 'method', 'headers', 'maxForwards'].includes(key)) {
        throw bad(`unknown field '${key}': send { url, token, method?, headers?, maxForwards? }`);
      }
    }
    let target: URL | undefined;
    try {
      target = typeof body.url === 'string' ? new URL(body.url) : undefined;
    } catch {
      target = undefined;
    }
    if (!target || (target.protocol !== 'http:' && target.protocol !== 'https:') || !target.hostname || target.username || target.password) {
      throw bad('url must be an http(s) URL without user info, like http://127.0.0.1:9090/users/42');
    }
    const token = body.token;
    if (typeof token !== 'string' || token === '') throw bad('token is required: the diagnostic token the services were configured with');
    try {
      http.validateHeaderValue(DIAG_HEADERS.token, token);
    } catch {
      throw bad('the diagnostic token holds characters a header cannot carry (line breaks, controls)');
    }
    let method: string | undefined;
    if (body.method !== undefined && body.method !== '') {
      method = typeof body.method === 'string' ? body.method.toUpperCase() : '';
      if (!SAFE_METHODS.includes(method)) throw bad(`method must be one of ${SAFE_METHODS.join(', ')}: the handlers really run`);
    }
    let maxForwards: number | undefined;
    if (body.maxForwards !== undefined && body.maxForwards !== '') {
      const parsed = parseMaxForwards(String(body.maxForwards));
      if (!parsed.ok || parsed.value === undefined) throw bad('maxForwards must be a whole number, 0 or more');
      maxForwards = parsed.value;
    }
    const extra: Array<[string, string]> = [];
    if (body.headers !== undefined) {
      if (!Array.isArray(body.headers)) throw bad('headers must be a list of [name, value] pairs');
      for (const pair of body.headers as unknown[]) {
        const [name, value] = Array.isArray(pair) ? (pair as unknown[]) : [];
        try {
          if (typeof name !== 'string' || typeof value !== 'string') throw new Error('not strings');
          http.validateHeaderName(name);
          http.validateHeaderValue(name, value);
        } catch {
          throw bad('headers must be [name, value] pairs of valid header names and one-line values');
        }
        if (OWN_HEADERS.has(name.toLowerCase())) throw bad(`header '${name}' is set by the diagnostic itself`);
        extra.push([name, value]);
      }
    }

    const where = `${target.protocol}//${target.host}${target.pathname}${target.search}`;
    let answer;
    try {
      const destination = parseDestination(`${target.protocol}//${target.host}`);
      const checked = await checkDestination(options.allow(), destination, ...(options.resolveAll ? [options.resolveAll] : []));
      const headers = diagRequestHeaders(target, token, extra, { method, maxForwards, json: true });
      answer = await sendDiagTrace(target, headers, where, checked);
    } catch (err) {
      throw diagFailure(err);
    }
    const text = answer.body.toString('utf8');
    const trail = parseJsonTrail(text) ?? null;
    sendJson(res, 200, {
      url: where,
      status: answer.status,
      statusMessage: answer.statusMessage,
      trail,
      // Why there is no trail, in the words of `loopctl diag`.
      ...(trail === null && {
        note: hasTrail(text)
          ? 'the answer holds a text trail, not JSON'
          : 'no diagnostic trail: diagnostics are off there (no token configured) or the token was not accepted',
      }),
    });
  };

  // The replay itself is `POST /v1/captures/:id/replay`; this compares its answer with the capture the
  // way `loopctl replay` does (status, body, headers without the volatile ones).
  const diff: Handler = async (req, res, _url, [id]) => {
    const body = await readJson(req, maxBodyBytes * 2);
    const response = body.response as { status?: unknown; headers?: unknown; body?: unknown } | undefined;
    if (
      typeof response !== 'object' || response === null || !Number.isInteger(response.status) || !isHeaderList(response.headers) ||
      !(response.body === null || isBody(response.body))
    ) {
      throw bad('send { "response": { status, headers: [[name, value]…], body: { encoding, data } | null } } as the replay answered it');
    }
    const record = await store.get(id!);
    if (!record) throw new HttpError(404, codes.NOT_FOUND, `no capture with id ${id}`);
    const replayedBody = decodeBody(response.body);
    const result = diffResponse(record.response, { status: response.status as number, headers: response.headers, body: replayedBody }, { headers: true });
    const captured = decodeBody(record.response.body);
    const lines = record.response.body?.contentEncoding ? undefined : sideLines(captured, replayedBody);
    const sides = lines && {
      captured: lines.captured.slice(0, MAX_SIDE_LINES),
      replayed: lines.replayed.slice(0, MAX_SIDE_LINES),
      hunks: diffLines(lines.captured.slice(0, MAX_SIDE_LINES), lines.replayed.slice(0, MAX_SIDE_LINES)),
    };
    sendJson(res, 200, { diff: result, ...(sides && { sides }) });
  };

  return { exportCapture, checkTapConfigs, diag, diff };
}
