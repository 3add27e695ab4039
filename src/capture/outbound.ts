import type { OutboundHandle, OutboundStart } from '../trace/context.js';
import { BodyTap } from './body.js';
import type { CapturedError, HeaderList, OutboundCall } from './record.js';
import type { Redactor } from './redact.js';

/** Most outgoing calls kept per exchange; later ones are counted (`outboundOmitted`). */
export const MAX_OUTBOUND_CALLS = 100;
/** Most body bytes kept per outgoing call and direction: a capture holds up to 100 of them. */
export const OUTBOUND_BODY_BYTES = 8 * 1024;

/**
 * One outgoing call the handler made, recorded while its exchange may still be captured. Filled in by
 * the outbound hooks as the call goes (request headers and body, response, end or error); turned into
 * an `OutboundCall` of the capture record, redacted, only if the exchange is captured.
 */
export class RecordedCall implements OutboundHandle {
  status: number | undefined = undefined;
  durationMs: number | undefined = undefined;
  requestHeaders: HeaderList;
  responseHeaders: HeaderList | null = null;
  remoteAddress: string | undefined = undefined;
  error: CapturedError | undefined = undefined;
  /** Headers the call must also carry (a diagnostic TRACE passes its own on). */
  headers: Array<[string, string]> | undefined = undefined;
  /** The hops a diagnostic TRACE reported back through this call (`loop-diag-trail`). */
  trail: string | undefined = undefined;
  private reqTap: BodyTap | null = null;
  private resTap: BodyTap | null = null;
  private readonly t0 = performance.now();
  private ended = false;

  constructor(
    readonly start: OutboundStart,
    /** False once the exchange is decided against: nothing more is kept. */
    private readonly live: () => boolean,
  ) {
    this.requestHeaders = start.headers;
  }

  requestBody(chunk: unknown, encoding?: unknown): void {
    if (!this.live()) return;
    (this.reqTap ??= new BodyTap(OUTBOUND_BODY_BYTES)).push(chunk, encoding);
  }

  /** The request's header block as sent, when the hook could read it only after the start. */
  sentHeaders(headers: HeaderList): void {
    this.requestHeaders = headers;
  }

  response(status: number, headers: HeaderList, remoteAddress: string | undefined): void {
    this.status = status;
    this.responseHeaders = headers;
    this.remoteAddress = remoteAddress;
    for (const [k, v] of headers) if (k.toLowerCase() === 'loop-diag-trail') this.trail = v;
  }

  responseBody(chunk: unknown): void {
    if (!this.live()) return;
    (this.resTap ??= new BodyTap(OUTBOUND_BODY_BYTES)).push(chunk);
  }

  done(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.durationMs = performance.now() - this.t0;
    if (error !== undefined && error !== null) this.error = errorOf(error);
  }

  toRecord(redactor: Redactor, where: string, redacted: string[]): OutboundCall {
    const call: OutboundCall = {
      method: this.start.method,
      url: redactor.url(this.start.url, `${where}.url`, redacted),
    };
    if (this.start.spanId !== '') call.spanId = this.start.spanId;
    if (this.status !== undefined) call.status = this.status;
    if (this.durationMs !== undefined) call.durationMs = Math.round(this.durationMs * 1000) / 1000;
    const reqHeaders = this.requestHeaders;
    call.request = {
      headers: redactor.headers(reqHeaders, `${where}.request.headers`, redacted),
      body: redactor.body(
        this.reqTap?.toBody(headerValue(reqHeaders, 'content-encoding')) ?? null,
        headerValue(reqHeaders, 'content-type'),
        `${where}.request.body`,
        redacted,
      ),
    };
    if (this.responseHeaders !== null) {
      const resHeaders = this.responseHeaders;
      call.response = {
        headers: redactor.headers(resHeaders, `${where}.response.headers`, redacted),
        body: redactor.body(
          this.resTap?.toBody(headerValue(resHeaders, 'content-encoding')) ?? null,
          headerValue(resHeaders, 'content-type'),
          `${where}.response.body`,
          redacted,
        ),
      };
    }
    if (this.remoteAddress !== undefined) call.remoteAddress = this.remoteAddress;
    if (this.error !== undefined) call.error = this.error;
    return call;
  }
}

function headerValue(list: HeaderList, lowerName: string): string | undefined {
  for (const [k, v] of list) if (k.toLowerCase() === lowerName) return v;
  return undefined;
}

function errorOf(err: unknown): CapturedError {
  if (err instanceof Error) {
    const out: CapturedError = { name: err.name, message: err.message };
    const code = (err as { code?: unknown }).code ?? ((err as { cause?: { code?: unknown } }).cause?.code);
    if (typeof code === 'string') out.code = code;
    return out;
  }
  return { name: typeof err, message: String(err) };
}
