import { debuglog } from 'node:util';

/**
 * Internal failures never reach the app (DESIGN.md, rules of the hot path). They are counted, and the
 * first of each kind is reported through `NODE_DEBUG=httploop`, or on stderr when `LOOP_DEBUG=1`.
 */
const log = debuglog('httploop');
const loud = process.env.LOOP_DEBUG !== undefined && process.env.LOOP_DEBUG !== '' && process.env.LOOP_DEBUG !== '0';
const seen = new Set<string>();
let failures = 0;

export function debug(message: string): void {
  if (loud) process.stderr.write(`httploop: ${message}\n`);
  else log(message);
}

/** Counts an internal failure; reports the first one of each `where`. */
export function internalError(where: string, err: unknown): void {
  failures++;
  if (seen.has(where)) return;
  seen.add(where);
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  debug(`internal error in ${where} (further ones are only counted): ${detail}`);
}

export function internalErrorCount(): number {
  return failures;
}
