/**
 * The diagnostic trail: what each hop appends to the answer of a diagnostic `TRACE` request, after
 * Linkerd 1.4.2's diagnostic tracing (`TRACE` + `l5d-add-context: true`; see
 * https://linkerd.io/2018/06/19/debugging-production-issues-with-linkerds-diagnostic-tracing/).
 *
 * The request passes through the service and on through its outgoing calls; every hop appends its
 * context to the answer it got, so the innermost hop's block comes first, right after the innermost
 * body, then the next one out. Two forms, chosen by the client's `Accept`:
 *
 * - text: the innermost body, then one block per hop, each after a blank line, like Linkerd's
 *   `--- Router: incoming ---` blocks (see {@link formatHopText});
 * - JSON: `{ "body": <innermost body text or null>, "hops": [HopContext, innermost first] }`.
 *
 * Everything here is pure and never throws on odd input: it runs on the request path of a live service.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HeaderList } from '../capture/record.js';
import { REDACTED } from '../capture/record.js';
import { DEFAULT_REDACT_HEADERS } from '../capture/redact.js';

/** The header names of a diagnostic request (DESIGN.md, public surface). */
export const DIAG_HEADERS = {
  /** `true` (any case) on a `TRACE` asks for the trail. */
  addContext: 'loop-add-context',
  /** Linkerd's name for the same, accepted as well. */
  l5dAddContext: 'l5d-add-context',
  /** Must equal the token the service was configured with, else the request is an ordinary TRACE. */
  token: 'loop-diag-token',
  /** The method the handlers see instead of TRACE: GET, HEAD or OPTIONS. */
  method: 'loop-diag-method',
} as const;

/** One outgoing call the handler made while answering the diagnostic request. */
export interface OutboundHop {
  method: string;
  /** The `host:port` name as the app asked for it, before resolution. */
  destination: string;
  url: string;
  /** The addresses the name resolved to. */
  addresses: string[];
  /** The address the call connected to. */
  selectedAddress?: string;
  /** The status of the answer, when one came. */
  status?: number;
  durationMs?: number;
  /** Why the call failed (`ECONNREFUSED`), when it did. */
  error?: string;
}

/** What one hop knows about the diagnostic request it answered. */
export interface HopContext {
  service: string;
  /** Which process answered: `hostname:pid`. */
  instance: string;
  durationMs: number;
  /** The method the handler saw: the `loop-diag-method` when given, else the request's own. */
  method: string;
  /** The request target as received. */
  path: string;
  /** The matched route pattern (`/users/:id`), when the framework told us. */
  route?: string;
  status: number;
  /** The names of the rules that would capture this exchange. */
  rules: string[];
  traceId?: string;
  spanId?: string;
  /** The outgoing calls, at most {@link MAX_TRAIL_OUTBOUND}; `outboundOmitted` counts the rest. */
  outbound: OutboundHop[];
  /** How many outgoing calls are left out of `outbound` because there were too many. */
  outboundOmitted?: number;
}

/** The JSON form of the trail. */
export interface DiagTrail {
  /** The innermost answer's body as text; null when it had none. */
  body: string | null;
  /** One entry per hop, innermost first. */
  hops: HopContext[];
}

/** Outgoing calls kept per hop: a handler looping over thousands of calls must not grow the answer without end. */
export const MAX_TRAIL_OUTBOUND = 100;
/** Characters kept of any one value; longer ones end in `…`. */
const MAX_VALUE = 2048;

// CR and LF above all (a value must not start a new line, or a block of its own), and the other C0/C1
// controls, DEL and the Unicode line separators with them: the trail is printed on terminals.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A value made single-line and bounded. */
function clean(value: unknown): string {
  const text = (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)).replace(
    CONTROL,
    '',
  );
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
}

function cleanOptional(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : clean(value);
}

function finiteOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function finiteOptional(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function strings(values: unknown): string[] {
  return Array.isArray(values) ? values.map(clean) : [];
}

function cleanOutbound(call: OutboundHop): OutboundHop {
  const selectedAddress = cleanOptional(call?.selectedAddress);
  const status = finiteOptional(call?.status);
  const durationMs = finiteOptional(call?.durationMs);
  const error = cleanOptional(call?.error);
  return {
    method: clean(call?.method),
    destination: clean(call?.destination),
    url: clean(call?.url),
    addresses: strings(call?.addresses),
    ...(selectedAddress !== undefined && { selectedAddress }),
    ...(status !== undefined && { status }),
    ...(durationMs !== undefined && { durationMs }),
    ...(error !== undefined && { error }),
  };
}

/**
 * A copy of `hop` with only the known fields, every string single-line and bounded, numbers finite and
 * at most {@link MAX_TRAIL_OUTBOUND} outgoing calls: what both forms write.
 */
function cleanHop(hop: HopContext): HopContext {
  const calls = Array.isArray(hop?.outbound) ? hop.outbound : [];
  const omitted = Math.max(0, calls.length - MAX_TRAIL_OUTBOUND) + Math.max(0, finiteOr(hop?.outboundOmitted, 0));
  const route = cleanOptional(hop?.route);
  const traceId = cleanOptional(hop?.traceId);
  const spanId = cleanOptional(hop?.spanId);
  // Built in the order of the interface, so the JSON reads in that order.
  return {
    service: clean(hop?.service),
    instance: clean(hop?.instance),
    durationMs: finiteOr(hop?.durationMs, 0),
    method: clean(hop?.method),
    path: clean(hop?.path),
    ...(route !== undefined && { route }),
    status: finiteOr(hop?.status, 0),
    rules: strings(hop?.rules),
    ...(traceId !== undefined && { traceId }),
    ...(spanId !== undefined && { spanId }),
    outbound: calls.slice(0, MAX_TRAIL_OUTBOUND).map(cleanOutbound),
    ...(omitted > 0 && { outboundOmitted: omitted }),
  };
}

/** `22 ms`, `0.4 ms`: a tenth of a millisecond is as fine as a trail needs. */
function ms(value: number): string {
  return `${Math.round(value * 10) / 10} ms`;
}

function orNone(value: string | undefined): string {
  return value === undefined || value === '' ? '(none)' : value;
}

/**
 * One hop's block, Linkerd style, starting with the blank line that separates it from what comes
 * before and ending with a newline:
 *
 * ```
 *
 * --- Service: web (host:1234) ---
 * request: GET /users/42
 * request duration: 22 ms
 * route: /users/:id
 * status: 500
 * rules that would capture: default
 * trace: 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7
 * outgoing: GET http://payments:9091/charge
 *   destination name: payments:9091
 *   addresses: [127.0.0.1:9091]
 *   selected address: 127.0.0.1:9091
 *   status: 502
 *   duration: 31 ms
 * ```
 *
 * Absent values read `(none)`; a call without an answer shows `error:` instead of `status:`.
 */
export function formatHopText(hop: HopContext): string {
  const h = cleanHop(hop);
  const lines = [
    '',
    `--- Service: ${h.service} (${h.instance}) ---`,
    `request: ${h.method} ${h.path}`,
    `request duration: ${ms(h.durationMs)}`,
    `route: ${orNone(h.route)}`,
    `status: ${h.status > 0 ? h.status : '(none)'}`,
    `rules that would capture: ${h.rules.length ? h.rules.join(', ') : '(none)'}`,
    `trace: ${h.traceId ? `${h.traceId}${h.spanId ? ` span ${h.spanId}` : ''}` : '(none)'}`,
  ];
  if (!h.outbound.length && !h.outboundOmitted) lines.push('outgoing: (none)');
  for (const call of h.outbound) {
    lines.push(
      `outgoing: ${call.method} ${call.url}`,
      `  destination name: ${orNone(call.destination)}`,
      `  addresses: [${call.addresses.join(', ')}]`,
      `  selected address: ${orNone(call.selectedAddress)}`,
    );
    if (call.status !== undefined) lines.push(`  status: ${call.status}`);
    if (call.error !== undefined) lines.push(`  error: ${call.error}`);
    if (call.status === undefined && call.error === undefined) lines.push('  status: (no answer)');
    if (call.durationMs !== undefined) lines.push(`  duration: ${ms(call.durationMs)}`);
  }
  if (h.outboundOmitted) lines.push(`outgoing: … ${h.outboundOmitted} more not shown`);
  return `${lines.join('\n')}\n`;
}

/** A JSON trail as text: its body, then every hop's block in order. */
export function formatTrailText(trail: DiagTrail): string {
  const body = trail.body ?? '';
  const separator = body === '' || body.endsWith('\n') ? '' : '\n';
  return body + separator + trail.hops.map(formatHopText).join('');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The trail in `text` when it is a JSON trail: an object with exactly `body` (string or null) and
 * `hops` (one or more objects), so that an app's own JSON answer is not mistaken for one; else undefined.
 */
export function parseJsonTrail(text: string | undefined): DiagTrail | undefined {
  if (text === undefined || !/^\s*\{/.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 2 || !('body' in value) || !('hops' in value)) return undefined;
  const { body, hops } = value;
  if (body !== null && typeof body !== 'string') return undefined;
  if (!Array.isArray(hops) || !hops.length || !hops.every(isObject)) return undefined;
  return { body, hops: hops as unknown as HopContext[] };
}

const TEXT_BLOCK = /(?:^|\n)--- Service: .* ---\n/;

/** True when `text` holds a trail in either form. */
export function hasTrail(text: string): boolean {
  return TEXT_BLOCK.test(text) || parseJsonTrail(text) !== undefined;
}

/**
 * The JSON trail with `hop` appended: onto the downstream answer's trail when it already is one
 * (a hop further in added it), else a new trail around the downstream body (null when it had none).
 */
export function appendHopJson(downstreamBodyText: string | undefined, hop: HopContext): string {
  const trail = parseJsonTrail(downstreamBodyText) ?? {
    body: downstreamBodyText === undefined || downstreamBodyText === '' ? null : downstreamBodyText,
    hops: [],
  };
  trail.hops.push(cleanHop(hop));
  return `${JSON.stringify(trail, null, 2)}\n`;
}

/**
 * The downstream body with `hop`'s block appended, after a newline when the body does not end in one
 * (so a blank line always separates the blocks). A downstream JSON trail (a hop further in answered in
 * JSON) is turned into text first, so the client gets one form.
 */
export function appendHopText(downstreamBody: Buffer, hop: HopContext): Buffer {
  const block = formatHopText(hop);
  // Only a body that looks like an object is parsed: the check is one byte for all others.
  if (downstreamBody.length && downstreamBody[0] === 0x7b) {
    const trail = parseJsonTrail(downstreamBody.toString('utf8'));
    if (trail) return Buffer.from(formatTrailText(trail) + block, 'utf8');
  }
  const separator = downstreamBody.length && downstreamBody[downstreamBody.length - 1] !== 0x0a ? '\n' : '';
  return Buffer.concat([downstreamBody, Buffer.from(separator + block, 'utf8')]);
}

/** The outcome of reading `Max-Forwards`: no value, a value, or invalid (answer 400). */
export type MaxForwards = { ok: true; value?: number } | { ok: false };

/** Digits kept in a Max-Forwards value: ten covers any count a real chain of hops could need. */
const MAX_FORWARDS_DIGITS = 10;

/**
 * Reads `Max-Forwards` (RFC 9110 section 7.6.2: `1*DIGIT`). Absent is `{ ok: true }` with no value.
 * Invalid, which the middleware answers with 400: empty, anything but decimal digits (signs, spaces
 * inside, hex), more than ten digits, or a repeated field (several values, or a comma list) whose
 * values differ. Repeats of one value count as that value.
 */
export function parseMaxForwards(value: string | string[] | undefined): MaxForwards {
  if (value === undefined) return { ok: true };
  const fields = typeof value === 'string' ? [value] : value;
  if (!fields.length) return { ok: true };
  let result: number | undefined;
  for (const field of fields) {
    if (typeof field !== 'string') return { ok: false };
    for (const raw of field.split(',')) {
      // Only optional whitespace (SP / HTAB) around each value, as field parsing allows.
      const text = raw.replace(/^[ \t]+|[ \t]+$/g, '');
      if (text.length === 0 || text.length > MAX_FORWARDS_DIGITS || !/^[0-9]+$/.test(text)) return { ok: false };
      const n = Number(text);
      if (result !== undefined && n !== result) return { ok: false };
      result = n;
    }
  }
  return { ok: true, value: result };
}

/**
 * The Max-Forwards to send on a forwarded request: one less, and no header when there was none. A hop
 * that received 0 must not forward at all (RFC 9110 section 7.6.2) but answer itself; 0 stays 0.
 */
export function decrementMaxForwards(value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  return value > 0 ? value - 1 : 0;
}

function isTrue(value: string | string[] | number | undefined): boolean {
  if (typeof value !== 'string') return Array.isArray(value) && value.length > 0 && value.every(isTrue);
  // Repeated fields arrive comma-joined from Node: `true, true` still asks for the trail.
  return value.split(',').every((part) => part.trim().toLowerCase() === 'true');
}

/**
 * True for a diagnostic request: method `TRACE` (methods are case-sensitive, RFC 9110 section 9.1) with
 * `loop-add-context` or `l5d-add-context` equal to `true` in any case. `headers` as Node gives them,
 * with lower-case names. The token is checked apart, with {@link safeEqualToken}.
 */
export function isDiagRequest(
  method: string | undefined,
  headers: Readonly<Record<string, string | string[] | number | undefined>>,
): boolean {
  if (method !== 'TRACE') return false;
  return isTrue(headers[DIAG_HEADERS.addContext]) || isTrue(headers[DIAG_HEADERS.l5dAddContext]);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Compares a presented token with the configured one in constant time. Both are hashed to 32 bytes
 * first, so neither the content nor the length of the expected token shows in the timing
 * (`timingSafeEqual` itself needs equal lengths). No token, or an empty expected one, never matches.
 */
export function safeEqualToken(given: string | undefined, expected: string): boolean {
  if (typeof given !== 'string' || typeof expected !== 'string' || expected === '') return false;
  return timingSafeEqual(digest(given), digest(expected));
}

/** Headers never echoed in a trail: the default redacted ones and the diagnostic token itself. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([...DEFAULT_REDACT_HEADERS, DIAG_HEADERS.token]);

/**
 * A copy of `headers` in which the values of credential headers (Cookie, Authorization,
 * Proxy-Authorization, Set-Cookie, X-Api-Key, loop-diag-token, and the `extra` names, any case) read
 * `[REDACTED]`. Names and order are kept.
 */
export function redactDiagHeaders(headers: HeaderList, extra: Iterable<string> = []): HeaderList {
  let names = CREDENTIAL_HEADERS;
  for (const name of extra) {
    if (names === CREDENTIAL_HEADERS) names = new Set(CREDENTIAL_HEADERS);
    (names as Set<string>).add(name.toLowerCase());
  }
  return headers.map(([name, value]) => [name, names.has(name.toLowerCase()) ? REDACTED : value]);
}
