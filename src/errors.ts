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
