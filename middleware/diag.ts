/**
 * Diagnostic TRACE, after Linkerd 1's diagnostic tracing: a `TRACE` with `loop-add-context: true` (or
 * Linkerd's `l5d-add-context: true`) and the right `loop-diag-token` runs through the app and, through
 * the app's outgoing calls, through the services behind it; the answer carries every hop's context
 * block, innermost first.
 *
 * Between hops the trail travels in a response header, not in the body: the downstream hop answers
 * the upstream app's own call (which must get the body it expects), and adds `loop-diag-trail` (its
 * hops, base64url JSON, bounded) to that answer's headers. Only the outermost hop, the one the client
 * talks to, writes the trail into the body. Outgoing calls of a diagnostic request carry
 * `loop-add-context`, the token, `loop-diag-upstream: 1` and the decremented `Max-Forwards`.
 *
 * Off unless `loop({ diagnostics: { token } })`; a request without the right token is handled exactly
 * as if the feature were off. The token is compared in constant time and never captured (redacted by
 * default); no header value appears in a trail.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import { RecordedCall } from '../src/capture/outbound.js';
import { internalError } from '../src/debug.js';
import type { OutboundHandle, OutboundSink, OutboundStart, RequestContext } from '../src/trace/context.js';
import {
  DIAG_HEADERS,
  MAX_TRAIL_OUTBOUND,
  appendHopJson,
  appendHopText,
  formatHopText,
  isDiagRequest,
  parseMaxForwards,
  safeEqualToken,
  type HopContext,
} from '../src/trace/diag-trail.js';

export const DIAG_UPSTREAM_HEADER = 'loop-diag-upstream';
export const DIAG_TRAIL_HEADER = 'loop-diag-trail';
/** Most bytes of the trail header: the upstream's HTTP parser refuses header blocks over 16 KiB. */
const MAX_TRAIL_HEADER = 8 * 1024;
/** Most bytes of the app's own body kept in the outermost answer. */
const MAX_DIAG_BODY = 1024 * 1024;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface DiagHop {
  service: string;
  instance: string;
  /** The rules that would capture this exchange, read when the answer is written. */
  rulesNow(): string[];
  routeNow(): string | undefined;
}

/** A request that asks for a trail with the right token; undefined for every other request. */
export function diagRequested(req: IncomingMessage, token: string): boolean {
  const headers = req.headers;
  // A hop further in sees the upstream app's own method: the upstream marker stands for TRACE there.
  const method = headers[DIAG_UPSTREAM_HEADER] !== undefined ? 'TRACE' : req.method;
  if (!isDiagRequest(method, headers)) return false;
  const given = headers[DIAG_HEADERS.token];
  return safeEqualToken(typeof given === 'string' ? given : undefined, token);
}

/**
 * The outgoing calls of one diagnostic request and its answer. `begin` returns false when the hop
 * answered by itself (Max-Forwards 0, a bad Max-Forwards or loop-diag-method): the app does not run.
 */
export class DiagSession implements OutboundSink {
  private readonly calls: RecordedCall[] = [];
  private omitted = 0;
  private readonly t0 = performance.now();
  private readonly upstream: boolean;
  private readonly json: boolean;
  private readonly forwardHeaders: Array<[string, string]>;
  private readonly path: string;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly ctx: RequestContext,
    private readonly hop: DiagHop,
    token: string,
    private readonly maxForwards: number | undefined,
  ) {
    this.upstream = req.headers[DIAG_UPSTREAM_HEADER] !== undefined;
    const accept = req.headers.accept;
    this.json = typeof accept === 'string' && accept.includes('application/json');
    this.path = req.url ?? '/';
    this.forwardHeaders = [
      [DIAG_HEADERS.addContext, 'true'],
      [DIAG_HEADERS.token, token],
      [DIAG_UPSTREAM_HEADER, '1'],
    ];
    if (maxForwards !== undefined) this.forwardHeaders.push(['max-forwards', String(maxForwards - 1)]);
  }

  started(call: OutboundStart): OutboundHandle | null {
    if (this.calls.length >= MAX_TRAIL_OUTBOUND) {
      this.omitted++;
      return null;
    }
    const recorded = new RecordedCall(call, () => true);
    recorded.headers = this.forwardHeaders;
    this.calls.push(recorded);
    return recorded;
  }

  /** This hop's context block, with what the app answered so far. */
  private hopContext(): HopContext {
    const route = this.hop.routeNow();
    const hop: HopContext = {
      service: this.hop.service,
      instance: this.hop.instance,
      durationMs: Math.round((performance.now() - this.t0) * 10) / 10,
      method: this.req.method ?? 'GET',
      path: this.path,
      status: this.res.statusCode,
      rules: this.hop.rulesNow(),
      traceId: this.ctx.traceId,
      spanId: this.ctx.spanId,
      outbound: this.calls.map((c) => {
        const selected = c.remoteAddress;
        return {
          method: c.start.method,
          destination: c.start.destination,
          url: c.start.url,
          addresses: selected === undefined ? [] : [selected],
          ...(selected !== undefined && { selectedAddress: selected }),
          ...(c.status !== undefined && { status: c.status }),
          ...(c.durationMs !== undefined && { durationMs: Math.round(c.durationMs * 10) / 10 }),
          ...(c.error !== undefined && { error: c.error.code ?? c.error.message }),
        };
      }),
    };
    if (route !== undefined) hop.route = route;
    if (this.omitted > 0) hop.outboundOmitted = this.omitted;
    return hop;
  }

  /** Every hop behind this one (innermost first, call by call), then this one. */
  private trail(): HopContext[] {
    const hops: HopContext[] = [];
    for (const call of this.calls) if (call.trail !== undefined) hops.push(...decodeTrail(call.trail));
    hops.push(this.hopContext());
    return hops;
  }

  /**
   * Starts the session on a request: checks Max-Forwards and loop-diag-method, and either answers
   * (false) or makes the app see the diagnostic method and prepares the answer (true).
   */
  begin(): boolean {
    const { req, res } = this;
    res.setHeader('cache-control', 'no-store');
    // The trail is appended to the app's body: an encoded body could not take it.
    delete req.headers['accept-encoding'];
    // A bad loop-diag-method is refused whatever Max-Forwards says, as a bad Max-Forwards is.
    if (!this.upstream) {
      const asked = req.headers[DIAG_HEADERS.method];
      if (asked !== undefined) {
        const method = String(asked).trim().toUpperCase();
        if (!SAFE_METHODS.has(method)) {
          this.answerError(400, `loop-diag-method must be GET, HEAD or OPTIONS (the handlers really run), not '${String(asked)}'`);
          return false;
        }
        req.method = method;
      }
    }
    if (this.maxForwards === 0) {
      this.answerAlone(200);
      return false;
    }
    if (!this.upstream) this.holdAnswer();
    else this.trailInHeader();
    return true;
  }

  /** Upstream hops get the trail in a header of the app's own answer, set just before it is sent. */
  private trailInHeader(): void {
    const res = this.res;
    const writeHead = res.writeHead;
    const session = this;
    res.writeHead = function writeHead_(this: ServerResponse, ...args: unknown[]): ServerResponse {
      delete (res as { writeHead?: unknown }).writeHead;
      try {
        if (typeof args[0] === 'number') res.statusCode = args[0];
        if (!res.headersSent) {
          res.setHeader(DIAG_TRAIL_HEADER, encodeTrail(session.trail()));
          // Over the app's own Cache-Control: this answer holds a trail, no cache may keep it. (Headers
          // given to writeHead itself are merged after this and win; setHeader is the usual way.)
          res.setHeader('cache-control', 'no-store');
        }
      } catch (err) {
        internalError('diagnostic trail', err);
      }
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof res.writeHead;
  }

  /**
   * The outermost hop holds the app's answer (bounded) and writes it at end() with the trail after it,
   * with a Content-Length that counts both: streamed and chunked answers are held the same way.
   */
  private holdAnswer(): void {
    const res = this.res;
    const chunks: Buffer[] = [];
    let kept = 0;
    let dropped = 0;
    const session = this;
    const keep = (chunk: unknown, encoding: unknown): void => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array);
      const room = MAX_DIAG_BODY - kept;
      if (buf.length <= room) {
        chunks.push(buf);
        kept += buf.length;
      } else {
        if (room > 0) chunks.push(buf.subarray(0, room));
        kept += Math.max(room, 0);
        dropped += buf.length - Math.max(room, 0);
      }
    };
    const callback = (args: unknown[]): void => {
      const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
      if (cb !== undefined) process.nextTick(cb);
    };
    res.writeHead = function writeHead_(this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
      res.statusCode = status;
      let headers = rest[0];
      if (typeof headers === 'string') {
        res.statusMessage = headers;
        headers = rest[1];
      }
      if (Array.isArray(headers)) {
        if (Array.isArray(headers[0])) for (const [k, v] of headers as Array<[string, string]>) res.appendHeader(k, v);
        else for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(String(headers[i]), headers[i + 1] as string);
      } else if (headers !== undefined && headers !== null) {
        for (const [k, v] of Object.entries(headers as Record<string, string>)) if (v !== undefined) res.setHeader(k, v);
      }
      return this;
    } as typeof res.writeHead;
    res.write = function write_(this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
      keep(chunk, rest[0]);
      callback(rest);
      return true;
    } as typeof res.write;
    res.end = function end_(this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
      if (typeof chunk === 'function') rest.unshift(chunk);
      else keep(chunk, rest[0]);
      const own = res as { writeHead?: unknown; write?: unknown; end?: unknown };
      delete own.writeHead;
      delete own.write;
      delete own.end;
      let body: Buffer;
      try {
        let appBody = Buffer.concat(chunks);
        if (dropped > 0) appBody = Buffer.concat([appBody, Buffer.from(`\n[… ${dropped} more bytes of the answer not shown]\n`)]);
        body = session.render(appBody);
      } catch (err) {
        internalError('diagnostic trail', err);
        body = Buffer.concat(chunks);
      }
      for (const name of ['content-length', 'content-encoding', 'transfer-encoding', 'etag', 'last-modified']) res.removeHeader(name);
      // The app may have set its own Cache-Control after begin(): the trail is never to be cached.
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-type', session.json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
      res.setHeader('content-length', body.length);
      const cb = rest.find((a) => typeof a === 'function') as (() => void) | undefined;
      return cb === undefined ? res.end(body) : res.end(body, cb);
    } as typeof res.end;
  }

  private render(appBody: Buffer): Buffer {
    const hops = this.trail();
    if (this.json) {
      let out = appendHopJson(appBody.length > 0 ? appBody.toString('utf8') : undefined, hops[0]!);
      for (const hop of hops.slice(1)) out = appendHopJson(out, hop);
      return Buffer.from(out, 'utf8');
    }
    let text = appBody;
    for (const hop of hops) text = appendHopText(text, hop);
    return text;
  }

  /** Max-Forwards 0: this hop is the last; it answers with its own block, the app does not run. */
  private answerAlone(status: number): void {
    const res = this.res;
    res.statusCode = status;
    const hop = this.hopContext();
    if (this.upstream) res.setHeader(DIAG_TRAIL_HEADER, encodeTrail([hop]));
    const body = this.json ? Buffer.from(appendHopJson(undefined, hop), 'utf8') : Buffer.from(formatHopText(hop), 'utf8');
    res.setHeader('content-type', this.json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
    res.setHeader('content-length', body.length);
    res.end(body);
  }

  private answerError(status: number, message: string): void {
    const body = Buffer.from(`${message}\n`, 'utf8');
    this.res.statusCode = status;
    this.res.setHeader('content-type', 'text/plain; charset=utf-8');
    this.res.setHeader('content-length', body.length);
    this.res.end(body);
  }

  /** A bad Max-Forwards is answered 400 (RFC 9110 section 7.6.2). */
  static badMaxForwards(res: ServerResponse): void {
    const body = Buffer.from('Max-Forwards must be a non-negative decimal integer\n', 'utf8');
    res.statusCode = 400;
    res.setHeader('cache-control', 'no-store');
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', body.length);
    res.end(body);
  }
}

/** Reads Max-Forwards of a diagnostic request: a number, none, or 'bad'. */
export function maxForwardsOf(req: IncomingMessage): number | undefined | 'bad' {
  const parsed = parseMaxForwards(req.headersDistinct['max-forwards']);
  if (!parsed.ok) return 'bad';
  return parsed.value;
}

/** The hops as a header value: base64url JSON, inner hops' outgoing calls dropped first to fit. */
function encodeTrail(hops: HopContext[]): string {
  let list = hops;
  let value = Buffer.from(JSON.stringify(list)).toString('base64url');
  for (let i = 0; value.length > MAX_TRAIL_HEADER && i < list.length; i++) {
    list = list.map((h, j) => (j <= i ? { ...h, outbound: [], outboundOmitted: (h.outboundOmitted ?? 0) + h.outbound.length } : h));
    value = Buffer.from(JSON.stringify(list)).toString('base64url');
  }
  while (value.length > MAX_TRAIL_HEADER && list.length > 1) {
    list = list.slice(1);
    value = Buffer.from(JSON.stringify(list)).toString('base64url');
  }
  return value;
}

function decodeTrail(value: string): HopContext[] {
  try {
    const hops = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(hops) ? (hops.filter((h) => h !== null && typeof h === 'object') as HopContext[]) : [];
  } catch {
    return [];
  }
}
