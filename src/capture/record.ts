/**
 * The capture record, schema v1: what one captured exchange looks like on the wire between `loop()`
 * and the collector, in the collector's API and in `loopctl show --json`.
 *
 * Fields are only ever added (compatibly); a reader must ignore fields it does not know.
 */

/** Header lists keep the order and the spelling of the names as they were on the wire. */
export type HeaderList = Array<[name: string, value: string]>;

/** A captured body: the first `maxBodyBytes` bytes, exactly as they went over the wire. */
export interface CapturedBody {
  /** `utf8` when the kept bytes are valid UTF-8, else `base64` (binary, or cut inside a character). */
  encoding: 'utf8' | 'base64';
  /** The kept bytes in `encoding`. */
  data: string;
  /** The full size in bytes of the body that was sent or received, including what was not kept. */
  size: number;
  /** True when fewer than `size` bytes were kept. */
  truncated: boolean;
  /** The Content-Encoding the bytes are in (for example `gzip`); absent when identity. */
  contentEncoding?: string;
}

export interface CaptureTrace {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  tracestate?: string;
}

export interface CapturedRequest {
  method: string;
  /** The request target as received: path and raw query (`/a/b?x=1`), query values redacted. */
  url: string;
  httpVersion: string;
  headers: HeaderList;
  body: CapturedBody | null;
  remoteAddress?: string;
}

export interface CapturedResponse {
  status: number;
  statusMessage?: string;
  headers: HeaderList;
  body: CapturedBody | null;
  /** True when the client went away (or the socket broke) before the response was complete. */
  aborted: boolean;
}

export interface CapturedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export interface OutboundCall {
  spanId?: string;
  method: string;
  url: string;
  status?: number;
  durationMs?: number;
  request?: { headers: HeaderList; body: CapturedBody | null };
  response?: { headers: HeaderList; body: CapturedBody | null };
  /** The address the call connected to (`ip:port`), when Node told. */
  remoteAddress?: string;
  error?: CapturedError;
}

export interface CaptureRecord {
  schema: 1;
  /** A nanoid given by the SDK; retries of the same capture keep it, the collector dedupes on it. */
  id: string;
  /** A small integer the collector gives in arrival order; absent until stored. */
  seq?: number;
  service: string;
  /** Which process captured it: `hostname:pid`. */
  instance: string;
  /** ISO 8601 time the request arrived. */
  startedAt: string;
  durationMs: number;
  trace: CaptureTrace;
  request: CapturedRequest;
  response: CapturedResponse;
  /** The matched route pattern (`/users/:id`), when the framework told us. */
  route?: string;
  /** host:port the request arrived on (the Host header, else the local address). */
  destination: string;
  error?: CapturedError;
  outbound: OutboundCall[];
  /** Outgoing calls made after the first 100, counted but not kept. */
  outboundOmitted?: number;
  /** Names of the rules that matched. */
  rules: string[];
  /** Where values were replaced by the redaction placeholder, for example `request.headers.authorization`. */
  redacted: string[];
  /** Capture id of the original, when this exchange was a replay (`loop-replay` header). */
  replayOf?: string;
}

/** What the collector answers for a list: the fields a table needs, no bodies. */
export interface CaptureSummary {
  seq: number;
  id: string;
  service: string;
  instance: string;
  startedAt: string;
  durationMs: number;
  method: string;
  path: string;
  status: number;
  destination: string;
  route?: string;
  traceId: string;
  aborted: boolean;
  error?: string;
}

/** The placeholder that replaces redacted values. Replay refuses to send it unless told to. */
export const REDACTED = '[REDACTED]';
