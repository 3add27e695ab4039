import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { invalidOption } from '../src/errors.js';

/** The logger the collector writes to: any pino logger (or one with the same four methods). */
export type CollectorLogger = Pick<pino.Logger, 'debug' | 'info' | 'warn' | 'error'>;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Paths pino replaces with `[redacted]` should a caller ever log them: the collector itself logs no
 * headers, no bodies and no token, and these are the second line of defence.
 */
const REDACT = ['token', 'authorization', 'headers.authorization', 'req.headers.authorization', 'body', 'request.body', 'response.body'];

/** A JSON-lines logger (pino) writing to `destination` (a file descriptor; default 2, stderr). */
export function createLogger(options: { level?: LogLevel; destination?: number | NodeJS.WritableStream } = {}): pino.Logger {
  const { level = 'info', destination = 2 } = options;
  if (!LOG_LEVELS.includes(level)) {
    throw invalidOption(`log level '${String(level)}' is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const stream = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino({ level, base: { name: 'httploop-collector' }, redact: { paths: REDACT, censor: '[redacted]' } }, stream);
}

/** What may be logged about a request: method, path without the query, remote address, announced size. */
export function requestFields(req: IncomingMessage): { method: string; path: string; remote: string | undefined; bytes: number | undefined } {
  const url = req.url ?? '/';
  const cut = url.search(/[?#]/);
  const length = Number(req.headers['content-length']);
  return {
    method: req.method ?? 'GET',
    path: cut === -1 ? url : url.slice(0, cut),
    remote: req.socket.remoteAddress,
    bytes: Number.isSafeInteger(length) ? length : undefined,
  };
}

/** An error as a log field: its name, code and message, never a cause chain that may quote input. */
export function errorFields(err: unknown): { name: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, ...(typeof code === 'string' && { code }), message: err.message };
  }
  return { name: 'Error', message: String(err) };
}
