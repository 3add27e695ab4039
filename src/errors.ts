/**
 * Every error httploop raises on purpose has a stable code, like undici's `UND_ERR_*`. Codes are never
 * reused. `cause` carries the underlying error where there is one.
 */
export const codes = {
  /** An option passed to loop() or createCollector() is not valid; the message names the fix. */
  INVALID_OPTION: 'LOOP_ERR_INVALID_OPTION',
  /** A rule expression could not be parsed; the message shows where, with a caret. */
  RULE_SYNTAX: 'LOOP_ERR_RULE_SYNTAX',
  /** The collector could not be reached (connection refused, DNS, timeout). */
  COLLECTOR_UNREACHABLE: 'LOOP_ERR_COLLECTOR_UNREACHABLE',
  /** The collector refused the token (401). */
  UNAUTHORIZED: 'LOOP_ERR_UNAUTHORIZED',
  /** The collector answered with an error status. */
  COLLECTOR_ERROR: 'LOOP_ERR_COLLECTOR',
  /** No capture has the given id. */
  NOT_FOUND: 'LOOP_ERR_NOT_FOUND',
  /** A replay destination is not a host:port or http(s) URL. */
  BAD_DESTINATION: 'LOOP_ERR_BAD_DESTINATION',
  /** The replay destination could not be reached. */
  DESTINATION_UNREACHABLE: 'LOOP_ERR_DESTINATION_UNREACHABLE',
  /** Command-line usage error (unknown flag, missing argument). */
  USAGE: 'LOOP_ERR_USAGE',
  /** The collector was asked to listen on a non-loopback address without a token. */
  INSECURE_BIND: 'LOOP_ERR_INSECURE_BIND',
  /** The capture body did not pass validation at ingest. */
  INVALID_CAPTURE: 'LOOP_ERR_INVALID_CAPTURE',
  /** The collector's database could not be opened or migrated; the message says why. */
  STORAGE: 'LOOP_ERR_STORAGE',
  /** A request to the collector's API was malformed (bad JSON, bad query parameter). */
  BAD_REQUEST: 'LOOP_ERR_BAD_REQUEST',
  /** An ingest body was larger than the collector's `maxBodyBytes`, compressed or decompressed. */
  PAYLOAD_TOO_LARGE: 'LOOP_ERR_PAYLOAD_TOO_LARGE',
  /** An ingest body used a Content-Encoding the collector does not decode. */
  UNSUPPORTED_ENCODING: 'LOOP_ERR_UNSUPPORTED_ENCODING',
  /** No collector route has this path. */
  ROUTE_NOT_FOUND: 'LOOP_ERR_ROUTE_NOT_FOUND',
  /** The collector route exists, but not for this HTTP method. */
  METHOD_NOT_ALLOWED: 'LOOP_ERR_METHOD_NOT_ALLOWED',
  /** Something failed inside the collector; the detail is in its log, never in the answer. */
  INTERNAL: 'LOOP_ERR_INTERNAL',
  /** The collector could not listen (address in use, no permission). */
  LISTEN_FAILED: 'LOOP_ERR_LISTEN',
  /** A replay was refused because the captured request holds redacted values. */
  REPLAY_REDACTED: 'LOOP_ERR_REPLAY_REDACTED',
  /** Server-side replay was asked for, but the collector was started without `--replay-allow` (403). */
  REPLAY_OFF: 'LOOP_ERR_REPLAY_OFF',
  /** A server-side replay destination is not on the collector's `--replay-allow` list (403). */
  REPLAY_NOT_ALLOWED: 'LOOP_ERR_REPLAY_NOT_ALLOWED',
  /** A server-side replay destination is, or resolves to, a loopback, private, link-local or other non-public address that is not listed (403). */
  REPLAY_FORBIDDEN_ADDRESS: 'LOOP_ERR_REPLAY_FORBIDDEN_ADDRESS',
  /** An Envoy match predicate is not valid; every problem is listed with its field path. */
  INVALID_PREDICATE: 'LOOP_ERR_INVALID_PREDICATE',
  /** A TapConfig is not valid; every problem is listed with its field (and file:line when read from a file). */
  INVALID_TAPCONFIG: 'LOOP_ERR_INVALID_TAPCONFIG',
  /** The collector refused an ingest request because it has too much work in progress (429, Retry-After). */
  OVERLOADED: 'LOOP_ERR_OVERLOADED',
  /** A PostgreSQL URL (--pg, LOOP_DATABASE_URL, createCollector({ pg })) is not a postgres:// URL. */
  BAD_DATABASE_URL: 'LOOP_ERR_BAD_DATABASE_URL',
} as const;

export type LoopErrorCode = (typeof codes)[keyof typeof codes];

export class LoopError extends Error {
  readonly code: LoopErrorCode;
  constructor(code: LoopErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoopError';
    this.code = code;
  }
}

export function invalidOption(message: string): LoopError {
  return new LoopError(codes.INVALID_OPTION, `httploop: ${message}`);
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
};

/** A socket error in a few words for a one-line message: `connection refused`, `host not found`. */
export function networkReason(err: NodeJS.ErrnoException): string {
  return NETWORK_REASONS[err.code ?? ''] ?? err.message;
}
