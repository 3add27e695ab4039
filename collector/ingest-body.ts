import { isAscii, isUtf8 } from 'node:buffer';
import { codes } from '../src/errors.js';
import { HttpError } from './http/http-error.js';

/** An ingest body as JSON, and each capture's own text in it when it could be cut out. */
export interface IngestBody {
  /** The parsed body: `{ "captures": [...] }`, a bare array, or anything else (validateBatch judges). */
  body: unknown;
  /**
   * For a body of the usual shape, the text of each element of its captures array, exactly as sent
   * (`JSON.parse(json[i])` deep-equals the element): stored as it is, instead of serialized again.
   */
  json?: string[];
}

// JSON is UTF-8 (RFC 8259 §8.1): bytes that are not are refused, not stored as U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses an ingest body; 400 when it is not UTF-8 or not JSON.
 *
 * A body of the shape every SDK sends, `{"captures":[{...},...]}` or `[{...},...]`, is cut into its
 * captures first (by the bytes: strings and nesting, nothing else), and each is decoded and parsed on
 * its own. That is what makes ingest cheap: one string per capture instead of one of the whole batch
 * (V8 takes longer to make one 500 KiB string than 500 of 1 KiB), and each capture's text is kept for
 * storing. Whatever does not fit that shape exactly, or fails anywhere on the way, is parsed whole as
 * before, which also gives the same error for a bad body either way.
 */
export function parseIngestBody(bytes: Buffer): IngestBody {
  const spans = captureSpans(bytes);
  if (spans !== undefined) {
    const ascii = isAscii(bytes);
    if (ascii || isUtf8(bytes)) {
      const encoding = ascii ? 'latin1' : 'utf8';
      const count = spans.length / 2;
      const json = new Array<string>(count);
      const captures = new Array<unknown>(count);
      let ok = true;
      for (let i = 0; i < count; i++) {
        const text = bytes.toString(encoding, spans[2 * i], spans[2 * i + 1]);
        try {
          captures[i] = JSON.parse(text);
        } catch {
          ok = false;
          break;
        }
        json[i] = text;
      }
      if (ok) return { body: captures, json };
    }
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new HttpError(400, codes.BAD_REQUEST, 'request body is not valid UTF-8');
  }
  try {
    return { body: JSON.parse(text) };
  } catch (err) {
    throw new HttpError(400, codes.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const CAPTURES_KEY = Buffer.from('"captures"');

function skipSpace(bytes: Uint8Array, i: number): number {
  const n = bytes.length;
  while (i < n) {
    const c = bytes[i]!;
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) break;
    i++;
  }
  return i;
}

/**
 * Where the object starting at `i` ends (one past its `}`), counting nesting and skipping strings, or
 * -1. It does not check the JSON inside: each span is parsed after.
 */
function objectEnd(bytes: Uint8Array, i: number): number {
  const n = bytes.length;
  let depth = 0;
  for (; i < n; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      for (i++; i < n; i++) {
        const d = bytes[i]!;
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * The byte spans `[start, end, start, end, ...]` of the objects in the captures array of a body shaped
 * exactly `{"captures":[{...},...]}` or `[{...},...]` (any JSON whitespace between), or undefined for
 * any other shape: another key, an element that is not an object, anything after the end.
 */
export function captureSpans(bytes: Uint8Array): number[] | undefined {
  const n = bytes.length;
  let i = skipSpace(bytes, 0);
  let wrapped = false;
  if (bytes[i] === OPEN_OBJECT) {
    wrapped = true;
    i = skipSpace(bytes, i + 1);
    if (i + CAPTURES_KEY.length > n) return undefined;
    for (let k = 0; k < CAPTURES_KEY.length; k++) if (bytes[i + k] !== CAPTURES_KEY[k]) return undefined;
    i = skipSpace(bytes, i + CAPTURES_KEY.length);
    if (bytes[i] !== COLON) return undefined;
    i = skipSpace(bytes, i + 1);
  }
  if (bytes[i] !== OPEN_ARRAY) return undefined;
  i = skipSpace(bytes, i + 1);
  const spans: number[] = [];
  if (bytes[i] === CLOSE_ARRAY) {
    i++;
  } else {
    for (;;) {
      if (bytes[i] !== OPEN_OBJECT) return undefined;
      const end = objectEnd(bytes, i);
      if (end === -1) return undefined;
      spans.push(i, end);
      i = skipSpace(bytes, end);
      if (bytes[i] === COMMA) {
        i = skipSpace(bytes, i + 1);
        continue;
      }
      if (bytes[i] !== CLOSE_ARRAY) return undefined;
      i++;
      break;
    }
  }
  if (wrapped) {
    i = skipSpace(bytes, i);
    if (bytes[i] !== CLOSE_OBJECT) return undefined;
    i++;
  }
  return skipSpace(bytes, i) === n ? spans : undefined;
}
