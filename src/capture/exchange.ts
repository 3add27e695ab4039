import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { captureId } from './capture-id.js';
import type { ExchangeView, Phase } from '../match/index.js';
import type { ActiveRule, RuleSet } from '../match/rule-set.js';
import { internalError } from '../debug.js';
import type { OutboundHandle, OutboundSink, OutboundStart, RequestContext } from '../trace/context.js';
import { BodyTap } from './body.js';
import { MAX_OUTBOUND_CALLS, RecordedCall } from './outbound.js';
import type { CaptureRecord, CapturedError, CaptureTrace, HeaderList } from './record.js';
import type { Redactor } from './redact.js';

/**
 * What a Recorder gives every exchange: resolved once per loop() and rule set, shared by all the
 * requests that start while that set is in force. A new set never changes a running exchange.
 */
export interface CaptureSettings {
  service: string;
  instance: string;
  /** The most body bytes any rule keeps, per direction: what is teed while the rules are undecided. */
  maxRequestBodyBytes: number;
  maxResponseBodyBytes: number;
  /** The redactor for the captures of these rules (loop()'s names plus the rules' own). */
  redactorFor: (rules: readonly ActiveRule[]) => Redactor;
  ruleSet: RuleSet;
  /** `ruleSet.rules`, one property load closer. */
  rules: readonly ActiveRule[];
  /** Whether any rule keeps outgoing calls (`spec.outbound`, default true). */
  recordOutbound: boolean;
  /** The framework's matched route for this request, read when the exchange ends. */
  routeOf: (req: IncomingMessage) => string | undefined;
  /** Where finished captures go (the ship queue). Must not throw. */
  sink: (record: CaptureRecord) => void;
}

/** Node's own fields we read: the serialized header block and whether a body is sent at all. */
interface ResponseInternals {
  _header?: string | null;
  _hasBody?: boolean;
  /** The serialized trailer block, set by addTrailers(). */
  _trailer?: string;
}

const PENDING = 0;
const CAPTURING = 1;
const DONE = 2;

/** A rule's verdict on one exchange, once its expression said yes: kept, or skipped by sample / rate. */
const UNDECIDED = 0;
const KEPT = 1;
const SKIPPED = 2;

/**
 * Which exchange a request or response belongs to. A WeakMap rather than a property: Express gives
 * every req/res a hidden class of its own (setPrototypeOf per request), so each property read or
 * added on them takes V8's slow path (~1-5k instructions, measured with callgrind), while a WeakMap
 * lookup uses the object's identity hash and never changes its shape. Shared through the global
 * symbol registry so the ESM and CommonJS builds, if both load, see the same exchanges.
 */
const registry = globalThis as unknown as Record<symbol, WeakMap<object, Exchange> | undefined>;
const kExchanges = Symbol.for('httploop.exchanges');
export const exchanges: WeakMap<object, Exchange> = (registry[kExchanges] ??= new WeakMap<object, Exchange>());

/**
 * One request/response pair under watch. It decides as early as the rules allow (request headers,
 * request body, response headers, response end) and keeps body bytes only while the outcome is open
 * or yes; the moment the answer is no, it lets go of everything.
 */
export class Exchange implements ExchangeView, OutboundSink {
  state = PENDING;
  phase: Phase = 0;
  reqTap: BodyTap | null = null;
  resTap: BodyTap | null = null;
  /** What the handler threw or passed to next(err), as the framework adapter saw it. */
  error: unknown = undefined;
  /** Set by adapters that know the route (Koa); Express's is read through settings.routeOf. */
  route: string | undefined = undefined;
  durationMs = 0;
  /** A framework's next() and the wrapper handed on in its place that notes errors (Express). */
  nextIn: unknown = undefined;
  nextOut: unknown = undefined;
  /** The outgoing calls the handler made, in order, kept while this exchange may be captured. */
  private outbound: RecordedCall[] | null = null;
  private outboundOmitted = 0;
  /** The request stream's own push, called by the body tee. */
  push: ((chunk: unknown, encoding?: BufferEncoding) => boolean) | null = null;
  /** Per rule, once its expression matched: KEPT or SKIPPED. Allocated only for exchanges that match. */
  private verdicts: Uint8Array | null = null;
  /**
   * The rules (the first 31, one bit each) whose expression already said no: a no is final, so they
   * are not evaluated again at later phases. A number, so tracking it allocates nothing.
   */
  private no = 0;
  private listening = false;
  private responseHeaders: HeaderList | null = null;
  /** Monotonic start; the wall-clock start is derived from it only for captures (one clock read per request). */
  private readonly t0 = performance.now();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** The request target as it arrived, before any router rewrote req.url. */
    readonly url: string,
    readonly settings: CaptureSettings,
    /** The request's trace context; its outgoing calls are reported here while `trace.sink` is this. */
    readonly trace: RequestContext,
  ) {}

  // ---- OutboundSink: the handler's outgoing calls ----

  started(call: OutboundStart): OutboundHandle | null {
    if (this.state === DONE) return null;
    const list = (this.outbound ??= []);
    if (list.length >= MAX_OUTBOUND_CALLS) {
      this.outboundOmitted++;
      return null;
    }
    const recorded = new RecordedCall(call, () => this.state !== DONE);
    list.push(recorded);
    return recorded;
  }

  /**
   * The names of the rules whose expressions match what is known now, read as at the response's end,
   * without sampling, rate limits or counters: what a diagnostic TRACE reports.
   */
  wouldCapture(): string[] {
    this.durationMs = performance.now() - this.t0;
    this.phase = 3;
    const names: string[] = [];
    for (const rule of this.settings.rules) if (rule.evaluate(this, 3) === true) names.push(rule.name);
    return names;
  }

  // ---- ExchangeView: what rules read ----

  get method(): string {
    return this.req.method ?? 'GET';
  }
  get path(): string {
    const q = this.url.indexOf('?');
    return q === -1 ? this.url : this.url.slice(0, q);
  }
  get service(): string {
    return this.settings.service;
  }
  get status(): number {
    return this.phase >= 2 ? this.res.statusCode : 0;
  }
  requestHeader(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  responseHeader(name: string): string | undefined {
    const headers = this.sentHeaders();
    if (headers !== null) {
      let found: string | undefined;
      for (const [k, v] of headers) if (k.toLowerCase() === name) found = found === undefined ? v : `${found}, ${v}`;
      return found;
    }
    const v = this.res.getHeader(name);
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v.join(', ') : String(v);
  }
  requestTrailer(name: string): string | undefined {
    const v = this.req.trailers?.[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  responseTrailer(name: string): string | undefined {
    const block = (this.res as ResponseInternals)._trailer;
    if (typeof block !== 'string' || block === '') return undefined;
    let found: string | undefined;
    for (const [k, v] of parseFieldLines(block, 0)) if (k.toLowerCase() === name) found = found === undefined ? v : `${found}, ${v}`;
    return found;
  }
  requestBody(): string | undefined {
    return this.reqTap?.text();
  }
  responseBody(): string | undefined {
    return this.resTap?.text();
  }
  requestBodyBytes(): Uint8Array | undefined {
    return this.reqTap === null || this.reqTap.size === 0 ? undefined : this.reqTap.bytes();
  }
  responseBodyBytes(): Uint8Array | undefined {
    return this.resTap === null || this.resTap.size === 0 ? undefined : this.resTap.bytes();
  }

  // ---- events from the tee ----

  get watching(): boolean {
    return this.state !== DONE;
  }

  /**
   * Evaluates the rules with what is known at `phase`: captures on the first rule that matches and is
   * not skipped by its sampling or rate limit, drops when every rule says no.
   */
  decide(phase: Phase): void {
    if (phase > this.phase) this.phase = phase;
    const rules = this.settings.rules;
    let open = false;
    for (let i = 0; i < rules.length; i++) {
      const bit = i < 31 ? 1 << i : 0;
      if ((this.no & bit) !== 0) continue;
      const verdict = this.verdicts === null ? UNDECIDED : this.verdicts[i];
      if (verdict === SKIPPED) continue;
      const answer = verdict === KEPT || rules[i]!.evaluate(this, this.phase);
      if (answer === true && (verdict === KEPT || this.admit(i))) {
        if (this.state === PENDING) this.state = CAPTURING;
        this.listen();
        return;
      }
      if (answer === undefined) open = true;
      else if (answer === false) this.no |= bit;
    }
    if (!open) this.drop();
  }

  /**
   * A rule's expression matched: sampling and the rate limit decide whether it keeps the exchange.
   * Decided once per rule and exchange, on the rare path of a match; Math.random and the token bucket
   * allocate nothing and need no lock.
   */
  private admit(i: number): boolean {
    const rules = this.settings.rules;
    const rule = rules[i]!;
    const verdicts = (this.verdicts ??= new Uint8Array(rules.length));
    rule.counters.matched++;
    let kept = true;
    if (rule.sample < 1 && !(Math.random() < rule.sample)) {
      rule.counters.sampledOut++;
      kept = false;
    } else if (rule.limiter !== null && !rule.limiter.take()) {
      rule.counters.rateLimited++;
      kept = false;
    }
    verdicts[i] = kept ? KEPT : SKIPPED;
    return kept;
  }

  onRequestChunk(chunk: unknown, encoding: unknown): void {
    if (chunk === null) {
      if (this.state === PENDING && this.phase < 1) this.decide(1);
      return;
    }
    (this.reqTap ??= new BodyTap(this.settings.maxRequestBodyBytes)).push(chunk, encoding);
  }

  /** Called after the response's own write()/end() returned, so status and headers are final. */
  onResponseWrite(chunk: unknown, encoding: unknown): void {
    if (this.phase < 2) {
      if (this.state === PENDING) this.decide(2);
      else this.phase = 2;
      if (this.state === DONE) return;
      this.listen();
    }
    if ((this.res as ResponseInternals)._hasBody === false) return; // HEAD, 204, 304: nothing is sent
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    (this.resTap ??= new BodyTap(this.settings.maxResponseBodyBytes)).push(chunk, encoding);
  }

  /** The exchange is over: finished, or the connection closed first. */
  finish(): void {
    if (this.state === DONE) return;
    try {
      this.durationMs = performance.now() - this.t0;
      this.phase = 3;
      const rules = this.settings.rules;
      let kept: ActiveRule[] | undefined;
      for (let i = 0; i < rules.length; i++) {
        if (i < 31 && (this.no & (1 << i)) !== 0) continue;
        const verdict = this.verdicts === null ? UNDECIDED : this.verdicts[i];
        if (verdict === KEPT || (verdict === UNDECIDED && rules[i]!.evaluate(this, 3) === true && this.admit(i))) {
          (kept ??= []).push(rules[i]!);
        }
      }
      if (kept !== undefined) {
        for (const rule of kept) rule.counters.captured++;
        this.settings.sink(this.toRecord(kept));
      }
    } catch (err) {
      internalError('capture', err);
    }
    this.drop();
  }

  /**
   * Lets go of everything the moment the answer is known. The response usually outlives a few
   * young-generation collections and gets promoted; an entry under it would keep this exchange (and
   * all it references) alive until the next full collection. Measured with callgrind on Express
   * hello-JSON, that retention was most of loop()'s cost per request, in the scavenger.
   */
  private drop(): void {
    this.state = DONE;
    this.reqTap = null;
    this.resTap = null;
    this.verdicts = null;
    this.responseHeaders = null;
    this.nextIn = undefined;
    this.nextOut = undefined;
    this.outbound = null;
    if (this.trace.sink === this) this.trace.sink = null;
    exchanges.delete(this.res);
    // A teed request keeps its entry: its push() still has to reach the stream's own push.
  }

  private listen(): void {
    if (this.listening) return;
    this.listening = true;
    this.res.on('close', onResponseClose);
    // A response can already be closed (the client left while the handler was still working).
    if (this.res.destroyed) process.nextTick(onResponseCloseTick, this);
  }

  private sentHeaders(): HeaderList | null {
    if (this.responseHeaders !== null) return this.responseHeaders;
    const block = (this.res as ResponseInternals)._header;
    if (typeof block !== 'string' || block === '') return null;
    this.responseHeaders = parseHeaderBlock(block);
    return this.responseHeaders;
  }

  private toRecord(rules: readonly ActiveRule[]): CaptureRecord {
    const { req, res, settings } = this;
    const redactor = settings.redactorFor(rules);
    // Each rule may keep fewer body bytes than were teed; the capture keeps what its rules allow.
    let maxRequestBody = 0;
    let maxResponseBody = 0;
    for (const rule of rules) {
      if (rule.maxRequestBodyBytes > maxRequestBody) maxRequestBody = rule.maxRequestBodyBytes;
      if (rule.maxResponseBodyBytes > maxResponseBody) maxResponseBody = rule.maxResponseBodyBytes;
    }
    const redacted: string[] = [];
    const requestHeaders = pairs(req.rawHeaders);
    const responseHeaders = this.sentHeaders() ?? unsentHeaders(res);
    const route = this.route ?? settings.routeOf(req);
    const record: CaptureRecord = {
      schema: 1,
      id: captureId(),
      service: settings.service,
      instance: settings.instance,
      startedAt: new Date(Date.now() - (performance.now() - this.t0)).toISOString(),
      durationMs: Math.round(this.durationMs * 1000) / 1000,
      trace: traceOf(this.trace),
      request: {
        method: this.method,
        url: redactor.url(this.url, 'request.url', redacted),
        httpVersion: req.httpVersion,
        headers: redactor.headers(requestHeaders, 'request.headers', redacted),
        body: redactor.body(
          this.reqTap?.toBody(headerValue(requestHeaders, 'content-encoding'), maxRequestBody) ?? null,
          headerValue(requestHeaders, 'content-type'),
          'request.body',
          redacted,
        ),
      },
      response: {
        status: res.statusCode,
        headers: redactor.headers(responseHeaders, 'response.headers', redacted),
        body: redactor.body(
          this.resTap?.toBody(headerValue(responseHeaders, 'content-encoding'), maxResponseBody) ?? null,
          headerValue(responseHeaders, 'content-type'),
          'response.body',
          redacted,
        ),
        aborted: !res.writableFinished,
      },
      destination: req.headers.host ?? `${req.socket?.localAddress ?? ''}:${req.socket?.localPort ?? ''}`,
      outbound:
        this.outbound === null || !rules.some((r) => r.outbound)
          ? []
          : this.outbound.map((call, i) => call.toRecord(redactor, `outbound[${i}]`, redacted)),
      rules: rules.map((r) => r.name),
      redacted,
    };
    if (this.outboundOmitted > 0 && rules.some((r) => r.outbound)) record.outboundOmitted = this.outboundOmitted;
    if (req.socket?.remoteAddress !== undefined) record.request.remoteAddress = req.socket.remoteAddress;
    if (res.statusMessage) record.response.statusMessage = res.statusMessage;
    if (route !== undefined) record.route = route;
    if (this.error !== undefined) record.error = serializeError(this.error);
    const replayOf = req.headers['loop-replay'];
    if (typeof replayOf === 'string') record.replayOf = replayOf;
    return record;
  }
}

function onResponseClose(this: ServerResponse): void {
  const ex = exchanges.get(this);
  if (ex !== undefined) ex.finish();
}

function onResponseCloseTick(ex: Exchange): void {
  ex.finish();
}

function pairs(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

function headerValue(list: HeaderList, lowerName: string): string | undefined {
  for (const [k, v] of list) if (k.toLowerCase() === lowerName) return v;
  return undefined;
}

/** Parses Node's serialized header block (`HTTP/1.1 500 …\r\nName: value\r\n…`): exact names, order. */
export function parseHeaderBlock(block: string): HeaderList {
  return parseFieldLines(block, 1);
}

/** `Name: value` lines separated by CRLF, from line `first` up to the first empty one. */
function parseFieldLines(block: string, first: number): HeaderList {
  const out: HeaderList = [];
  const lines = block.split('\r\n');
  for (let i = first; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return out;
}

/** Headers of a response whose header block was never sent (the client left first). */
function unsentHeaders(res: ServerResponse): HeaderList {
  const out: HeaderList = [];
  // getRawHeaderNames (Node >= 15) keeps the names as the app spelled them; @types/node 20 lacks it.
  for (const name of (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
    const v = res.getHeader(name);
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push([name, item]);
    else out.push([name, String(v)]);
  }
  return out;
}

function traceOf(ctx: RequestContext): CaptureTrace {
  const trace: CaptureTrace = { traceId: ctx.traceId, spanId: ctx.spanId };
  if (ctx.parentSpanId !== undefined) trace.parentSpanId = ctx.parentSpanId;
  if (ctx.tracestate !== undefined) trace.tracestate = ctx.tracestate;
  return trace;
}

export function serializeError(err: unknown): CapturedError {
  if (err instanceof Error) {
    const out: CapturedError = { name: err.name, message: err.message };
    if (err.stack !== undefined) out.stack = err.stack;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    return out;
  }
  return { name: typeof err, message: String(err) };
}
