import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopError, type LoopErrorCode } from '../../src/errors.js';

/** A LoopError with the HTTP status the collector answers it with. Its message is safe to show. */
export class HttpError extends LoopError {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** More fields of the error object, for machines (for example every problem of an apply). */
  readonly details: Record<string, unknown>;
  constructor(
    status: number,
    code: LoopErrorCode,
    message: string,
    headers: Record<string, string> = {},
    details: Record<string, unknown> = {},
  ) {
    super(code, message);
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
    this.details = details;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(bytes.length),
    'cache-control': 'no-store',
  });
  res.end(bytes);
}

/** Every collector error leaves as `{ "error": { "code", "message" } }`, never with a stack. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = { ...err.headers };
  // An unread request body would otherwise be drained on a keep-alive connection; refuse it instead.
  if (!req.complete) headers.connection = 'close';
  sendJson(res, err.status, { error: { code: err.code, message: err.message, ...err.details } }, headers);
}
