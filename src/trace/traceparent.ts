/**
 * The W3C `traceparent` header, Trace Context Level 1
 * (https://www.w3.org/TR/trace-context/#traceparent-header): reading the caller's value and writing the
 * one we pass on, plus the Level 2 draft's `traceresponse`, which has the same format.
 *
 * parseTraceparent runs on every request, so it walks char codes over fixed offsets instead of
 * running regexes, and allocates nothing but the result.
 */

export interface ParsedTraceparent {
  /** The version as received: two lower-case hex digits, `00` or a higher version such as `cc`. */
  version: string;
  /** The trace id: 32 lower-case hex digits, not all zeros. */
  traceId: string;
  /** The caller's span id: 16 lower-case hex digits, not all zeros. */
  parentId: string;
  /** The trace-flags as received: two lower-case hex digits. Only `sampled` is ever passed on. */
  flags: string;
  /** The `sampled` bit (0x01) of `flags`: the caller may have recorded this trace. */
  sampled: boolean;
}

// Offsets in a version-00 value: 2 version, '-', 32 trace-id, '-', 16 parent-id, '-', 2 flags.
const LENGTH = 55;
const TRACE_ID = 3;
const PARENT_ID = 36;
const FLAGS = 53;

const TAB = 0x09;
const SPACE = 0x20;
const DASH = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_A = 0x61;
const LOWER_F = 0x66;

// HEXDIGLC only: upper-case hex is invalid in every field
// (https://www.w3.org/TR/trace-context/#traceparent-header-field-values). One table lookup per char
// answers both "hex?" and "zero?": 1 for '0', 2 for the other digits, 0 for everything else.
const HEX = new Uint8Array(128);
for (let c = DIGIT_0; c <= DIGIT_9; c++) HEX[c] = 2;
for (let c = LOWER_A; c <= LOWER_F; c++) HEX[c] = 2;
HEX[DIGIT_0] = 1;

function hexClass(c: number): number {
  return c < 128 ? (HEX[c] as number) : 0;
}

function isHexLc(c: number): boolean {
  return hexClass(c) !== 0;
}

// OWS is SP / HTAB (RFC 7230 section 3.2.3). Node's parser already strips it around a field value,
// but other callers (and the w3c test suite's test_traceparent_ows_handling) may not.
function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** True when s[from, to) is all lower-case hex and not all zeros (both ids forbid all zeros). */
function isId(s: string, from: number, to: number): boolean {
  let seen = 0;
  for (let i = from; i < to; i++) {
    const h = hexClass(s.charCodeAt(i));
    if (h === 0) return false;
    seen |= h;
  }
  return (seen & 2) !== 0;
}

/**
 * Reads an incoming `traceparent`. Returns undefined when the value must be ignored and the trace
 * restarted; the caller must then also ignore `tracestate`
 * (https://www.w3.org/TR/trace-context/#tracestate-header: "If the vendor failed to parse traceparent,
 * it MUST NOT attempt to parse tracestate").
 *
 * Accepts what `req.headers.traceparent` can be: Node joins a repeated header into one string with
 * ", ", and other frameworks may hand over an array. Either way two values are two parents, and the
 * w3c test suite (test_traceparent_duplicated) expects a restart.
 */
export function parseTraceparent(
  value: string | readonly string[] | undefined,
): ParsedTraceparent | undefined {
  if (value === undefined) return undefined;
  let v: string;
  if (typeof value === 'string') v = value;
  else if (value.length === 1) v = value[0] as string;
  else return undefined;

  // Trim OWS by moving indices rather than calling trim(), which would copy the string.
  let start = 0;
  let end = v.length;
  while (start < end && isOws(v.charCodeAt(start))) start++;
  while (end > start && isOws(v.charCodeAt(end - 1))) end--;
  const length = end - start;
  // "If the size of the header is shorter than 55 characters, the vendor should not parse the
  // header and should restart the trace." (#versioning-of-traceparent)
  if (length < LENGTH) return undefined;

  // version = 2HEXDIGLC; ff is forbidden (#version).
  const v0 = v.charCodeAt(start);
  const v1 = v.charCodeAt(start + 1);
  if (!isHexLc(v0) || !isHexLc(v1) || (v0 === LOWER_F && v1 === LOWER_F)) return undefined;
  if (length > LENGTH) {
    // Version 00 is exactly 55 characters. A higher version may append fields, but only after a
    // dash following the flags: "Vendors MUST check that the 2 characters are either at the end of
    // the string or followed by a dash." Its extra fields are not ours to read.
    if (v0 === DIGIT_0 && v1 === DIGIT_0) return undefined;
    if (v.charCodeAt(start + LENGTH) !== DASH) return undefined;
    // The one way a comma gets past the checks above: "cc-…-01-x, cc-…-01" from a joined duplicate.
    if (v.indexOf(',', start + LENGTH) !== -1) return undefined;
  }

  if (
    v.charCodeAt(start + 2) !== DASH ||
    v.charCodeAt(start + TRACE_ID + 32) !== DASH ||
    v.charCodeAt(start + PARENT_ID + 16) !== DASH
  ) {
    return undefined;
  }
  // "If the trace-id value is invalid (for example if it contains non-allowed characters or all
  // zeros), vendors MUST ignore the traceparent." Likewise for parent-id (#trace-id, #parent-id).
  if (!isId(v, start + TRACE_ID, start + TRACE_ID + 32)) return undefined;
  if (!isId(v, start + PARENT_ID, start + PARENT_ID + 16)) return undefined;
  const f0 = v.charCodeAt(start + FLAGS);
  const f1 = v.charCodeAt(start + FLAGS + 1);
  if (!isHexLc(f0) || !isHexLc(f1)) return undefined;

  return {
    version: v.slice(start, start + 2),
    traceId: v.slice(start + TRACE_ID, start + TRACE_ID + 32),
    parentId: v.slice(start + PARENT_ID, start + PARENT_ID + 16),
    flags: v.slice(start + FLAGS, start + FLAGS + 2),
    // A bit field: mask, never compare the byte (#trace-flags). Bit 0x01 lives in the low digit.
    sampled: ((f1 <= DIGIT_9 ? f1 - DIGIT_0 : f1 - LOWER_A + 10) & 1) === 1,
  };
}

/**
 * The `traceparent` to send on an outgoing call: `00-<traceId>-<spanId>-01` when sampled, else `-00`.
 *
 * Always version 00, whatever version came in: "Vendors MUST use these fields to construct the new
 * traceparent field according to the highest version of the specification known to the
 * implementation" (#versioning-of-traceparent). Only the sampled bit is written, because the other
 * flags are reserved and "Vendors MUST set those to zero" (#other-flags); so an incoming parent's
 * `sampled` is kept on its children and nothing else is.
 *
 * The ids are not checked: they come from `newTraceId`/`newSpanId` or from a parsed parent.
 */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return '00-' + traceId + '-' + spanId + (sampled ? '-01' : '-00');
}

/**
 * The `traceresponse` response header of Trace Context Level 2 (draft,
 * https://w3c.github.io/trace-context/#traceresponse-header): the same format as `traceparent`, with
 * the id of the span that served the request (the draft's `child-id`) in place of the parent id.
 */
export function formatTraceresponse(traceId: string, childId: string, sampled: boolean): string {
  return formatTraceparent(traceId, childId, sampled);
}
