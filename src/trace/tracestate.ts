import { codes, LoopError } from '../errors.js';

/**
 * The W3C `tracestate` header, Trace Context Level 1
 * (https://www.w3.org/TR/trace-context/#tracestate-header): validating and normalizing the incoming
 * value, adding our own member, and truncating for propagation.
 *
 * A tracestate value here is always the normalized form parseTracestate returns: members `key=value`
 * joined by "," with no empty members and no OWS. That is also the form sent on outgoing calls.
 *
 * Only parse a tracestate when the request's traceparent was valid: "If the vendor failed to parse
 * traceparent, it MUST NOT attempt to parse tracestate."
 */

/** The most list-members a tracestate may have (#tracestate-header-field-values). */
export const TRACESTATE_MAX_MEMBERS = 32;

/** What the spec asks every vendor to be able to propagate: "at least 512 characters" (#tracestate-limits). */
export const TRACESTATE_PROPAGATED_LENGTH = 512;

// "Entries larger than 128 characters long SHOULD be removed first" (#tracestate-limits).
const LONG_MEMBER = 128;

const TAB = 0x09;
const SPACE = 0x20;
const STAR = 0x2a;
const COMMA = 0x2c;
const DASH = 0x2d;
const SLASH = 0x2f;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const EQUALS = 0x3d;
const AT = 0x40;
const UNDERSCORE = 0x5f;
const LOWER_A = 0x61;
const LOWER_Z = 0x7a;
const TILDE = 0x7e;

function isLcAlpha(c: number): boolean {
  return c >= LOWER_A && c <= LOWER_Z;
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

// lcalpha / DIGIT / "_" / "-" / "*" / "/"
function isKeyChar(c: number): boolean {
  return isLcAlpha(c) || isDigit(c) || c === UNDERSCORE || c === DASH || c === STAR || c === SLASH;
}

function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}

/**
 * s[from, to) is a Level 1 key (https://www.w3.org/TR/trace-context/#key):
 *
 *     simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
 *     multi-tenant-key = tenant-id "@" system-id
 *     tenant-id        = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
 *     system-id        = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
 *
 * (The Level 2 draft relaxes this to any keychar after a lcalpha or digit; Level 1 is what the w3c
 * test suite checks, e.g. 't' * 242 + '@v' and 't@' + 'v' * 15 are both invalid.)
 */
function isKey(s: string, from: number, to: number): boolean {
  const length = to - from;
  if (length < 1 || length > 256) return false;
  let at = -1;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === AT) {
      if (at !== -1) return false;
      at = i;
    } else if (!isKeyChar(c)) {
      return false;
    }
  }
  const first = s.charCodeAt(from);
  if (at === -1) return isLcAlpha(first);
  const tenant = at - from;
  const system = to - at - 1;
  return (
    tenant >= 1 &&
    tenant <= 241 &&
    (isLcAlpha(first) || isDigit(first)) &&
    system >= 1 &&
    system <= 14 &&
    isLcAlpha(s.charCodeAt(at + 1))
  );
}

/**
 * s[from, to) is a value (https://www.w3.org/TR/trace-context/#value): 1 to 256 printable ASCII
 * characters (0x20-0x7E) other than "," and "=", the last one not a space. Leading spaces belong to
 * the value; trailing ones are OWS, so after the member is trimmed the last-character rule only bites
 * in isValidTracestateValue.
 */
function isValue(s: string, from: number, to: number): boolean {
  const length = to - from;
  if (length < 1 || length > 256) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < SPACE || c > TILDE || c === COMMA || c === EQUALS) return false;
  }
  return s.charCodeAt(to - 1) !== SPACE;
}

/** Whether `key` may be a tracestate key (Level 1 grammar). Check a configured vendor key once, up front. */
export function isValidTracestateKey(key: string): boolean {
  return isKey(key, 0, key.length);
}

/** Whether `value` may be a tracestate member's value: 1-256 of 0x20-0x7E except "," "=", not ending in a space. */
export function isValidTracestateValue(value: string): boolean {
  return isValue(value, 0, value.length);
}

/**
 * Reads an incoming `tracestate` and returns the normalized value to pass on, or undefined when there
 * is nothing to pass on: the header is absent, holds only empty members, or must be discarded.
 *
 * - Several header fields are combined with "," (RFC 7230 section 3.2.2, as the spec requires). Node
 *   already joins a repeated header into one string with ", "; an array is joined here.
 * - Empty and whitespace-only members are allowed and dropped; OWS around members is dropped
 *   ("Spaces and horizontal tabs surrounding list-members are ignored").
 * - Any invalid member, a duplicated key, or more than 32 members discards the whole header, as the
 *   w3c test suite expects (test_tracestate_key_illegal_characters, _duplicated_keys,
 *   _member_count_limit, _value_illegal_characters).
 *
 * Nothing is truncated here: apply limitTracestate when sending.
 */
export function parseTracestate(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  let s: string;
  if (typeof value === 'string') s = value;
  else if (value.length === 1) s = value[0] as string;
  else if (value.length === 0) return undefined;
  else s = value.join(',');

  const n = s.length;
  // The common case is already normalized, and then the input itself is the result. `out` stays
  // undefined until the first empty or padded member; from there on the kept members are appended.
  let out: string | undefined;
  let count = 0;
  const keys: string[] = [];
  for (let i = 0; i <= n; ) {
    let end = s.indexOf(',', i);
    if (end === -1) end = n;
    let from = i;
    let to = end;
    while (from < to && isOws(s.charCodeAt(from))) from++;
    while (to > from && isOws(s.charCodeAt(to - 1))) to--;
    // Everything before i was clean, so it is s[0, i - 1) exactly (less the comma that ended it).
    if (out === undefined && (from === to || from !== i || to !== end)) out = i === 0 ? '' : s.slice(0, i - 1);
    if (from !== to) {
      const eq = s.indexOf('=', from);
      if (eq === -1 || eq >= to) return undefined;
      if (!isKey(s, from, eq) || !isValue(s, eq + 1, to)) return undefined;
      if (++count > TRACESTATE_MAX_MEMBERS) return undefined;
      // "Only one entry per key is allowed" (#combined-header-value): a repeat means we cannot tell
      // which entry is the current position, so the header is discarded, as the w3c suite expects.
      const key = s.slice(from, eq);
      if (keys.includes(key)) return undefined;
      keys.push(key);
      if (out !== undefined) out = out === '' ? s.slice(from, to) : out + ',' + s.slice(from, to);
    }
    i = end + 1;
  }
  if (count === 0) return undefined;
  return out ?? s;
}

// Combined length of members joined by ",".
function joinedLength(members: readonly string[]): number {
  let length = members.length === 0 ? 0 : members.length - 1;
  for (const m of members) length += m.length;
  return length;
}

/**
 * Truncates a normalized tracestate to at most `maxLength` characters (default 512), by whole
 * members, the way the spec requires (#tracestate-limits): members longer than 128 characters go
 * first, right-most first; then the right-most members; stopping as soon as the rest fits. Returns
 * undefined when nothing is left (a single member can be 513 characters long).
 *
 * A value that already fits is returned as is, so calling this on every outgoing call is cheap.
 */
export function limitTracestate(value: string, maxLength: number = TRACESTATE_PROPAGATED_LENGTH): string | undefined {
  if (value.length <= maxLength) return value === '' ? undefined : value;
  const members = value.split(',');
  for (let i = members.length - 1; i >= 0 && joinedLength(members) > maxLength; i--) {
    if ((members[i] as string).length > LONG_MEMBER) members.splice(i, 1);
  }
  while (members.length > 0 && joinedLength(members) > maxLength) members.pop();
  return members.length === 0 ? undefined : members.join(',');
}

/**
 * Puts `key=memberValue` at the left of a normalized tracestate (or starts one), removing the old
 * member with that key: "Modified keys MUST be moved to the beginning (left) of the list", and a new
 * one "SHOULD be added to the beginning of the list" (#mutating-the-tracestate-field). When that would
 * make 33 members, the right-most is dropped ("If adding an entry would cause the tracestate list to
 * contain more than 32 list-members the right-most list-member should be removed"). Does not truncate
 * to 512 characters; combine with limitTracestate for that.
 *
 * Throws a LoopError (LOOP_ERR_INVALID_OPTION) when the key or value is not valid: both come from our
 * own configuration, so check them once when it is read (isValidTracestateKey/Value) and never here.
 */
export function addTracestateMember(value: string | undefined, key: string, memberValue: string): string {
  if (!isValidTracestateKey(key)) {
    throw new LoopError(
      codes.INVALID_OPTION,
      `Invalid tracestate key ${JSON.stringify(key)}: a key is a lower-case letter then up to 255 of a-z 0-9 _ - * /, ` +
        'or tenant@system with a tenant of up to 241 such characters (starting with a-z or 0-9) and a system of ' +
        'up to 14 (starting with a-z).',
    );
  }
  if (!isValidTracestateValue(memberValue)) {
    throw new LoopError(
      codes.INVALID_OPTION,
      `Invalid tracestate value ${JSON.stringify(memberValue)}: a value is 1 to 256 printable ASCII characters ` +
        '(0x20-0x7E) other than "," and "=", and does not end with a space.',
    );
  }
  let out = key + '=' + memberValue;
  if (value === undefined) return out;
  let count = 1;
  const n = value.length;
  for (let i = 0; i < n && count < TRACESTATE_MAX_MEMBERS; ) {
    let end = value.indexOf(',', i);
    if (end === -1) end = n;
    const sameKey = value.startsWith(key, i) && value.charCodeAt(i + key.length) === EQUALS;
    if (end > i && !sameKey) {
      out += ',' + value.slice(i, end);
      count++;
    }
    i = end + 1;
  }
  return out;
}
