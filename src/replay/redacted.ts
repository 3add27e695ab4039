import { REDACTED, type CaptureRecord } from '../capture/record.js';
import { decodeBody } from './body.js';

/**
 * Where the redaction placeholder appears in a captured request (`request.url`,
 * `request.headers.authorization`, `request.body`). Replaying it would send `[REDACTED]` instead of the
 * original value, which usually fails for a reason that is not the bug being chased.
 */
export function redactedInRequest(record: CaptureRecord): string[] {
  const places: string[] = [];
  const { request } = record;
  if (request.url.includes(REDACTED)) places.push('request.url');
  for (const [name, value] of request.headers) {
    if (name.includes(REDACTED) || value.includes(REDACTED)) places.push(`request.headers.${name.toLowerCase()}`);
  }
  if (decodeBody(request.body).includes(REDACTED)) places.push('request.body');
  return places;
}
