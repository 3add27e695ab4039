import { brotliDecompressSync, constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { CapturedBody, HeaderList } from './record.js';
import { REDACTED } from './record.js';

/** What to redact besides the defaults. The defaults always apply; these lists extend them. */
export interface RedactOptions {
  /** Header names (any case) whose values are replaced, besides the defaults. */
  headers?: string[];
  /**
   * Body field and query parameter names, besides the defaults. A name matches when, lower-cased and
   * without `-` and `_`, it contains one of these (so `password` also covers `newPassword`).
   */
  fields?: string[];
  /** Query parameter names only (not body fields), matched like `fields`. */
  query?: string[];
}

export const DEFAULT_REDACT_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  // The diagnostic TRACE token (loop({ diagnostics: { token } })): a wrong one is an ordinary request.
  'loop-diag-token',
];

export const DEFAULT_REDACT_FIELDS: readonly string[] = [
  'password',
  'passwd',
  'secret',
  'token',
  'api_key',
  'apikey',
  'access_token',
  'refresh_token',
  'client_secret',
];

/** Headers whose values are URLs: their query strings are redacted like the request's. */
const URL_HEADERS = new Set(['referer', 'location', 'content-location']);
/** Decoded bodies inspected for secrets are bounded, so a compression bomb cannot cost memory. */
const MAX_DECODED = 1 << 20;

function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '');
}

/**
 * Replaces secret values in a capture before it leaves the process, and says where. Built once per
 * loop() from its options; used only for exchanges that are captured, never on the request path.
 */
export class Redactor {
  private readonly headerNames: Set<string>;
  private readonly fieldPatterns: string[];
  private readonly queryPatterns: string[];
  private readonly fieldCache = new Map<string, boolean>();

  constructor(options: RedactOptions = {}) {
    this.headerNames = new Set([...DEFAULT_REDACT_HEADERS, ...(options.headers ?? [])].map((h) => h.toLowerCase()));
    this.fieldPatterns = [...new Set([...DEFAULT_REDACT_FIELDS, ...(options.fields ?? [])].map(normalize))];
    this.queryPatterns = [...new Set((options.query ?? []).map(normalize))];
  }

  /** True when a body field or query parameter of this name holds a secret. */
  isSecretField(name: string): boolean {
    let hit = this.fieldCache.get(name);
    if (hit === undefined) {
      const n = normalize(name);
      hit = this.fieldPatterns.some((p) => n.includes(p));
      if (this.fieldCache.size < 1024) this.fieldCache.set(name, hit);
    }
    return hit;
  }

  private isSecretQueryParameter(name: string): boolean {
    if (this.isSecretField(name)) return true;
    if (this.queryPatterns.length === 0) return false;
    const n = normalize(name);
    return this.queryPatterns.some((p) => n.includes(p));
  }

  headers(list: HeaderList, where: string, redacted: string[]): HeaderList {
    const out: HeaderList = [];
    for (const [name, value] of list) {
      const lower = name.toLowerCase();
      if (this.headerNames.has(lower)) {
        out.push([name, REDACTED]);
        addOnce(redacted, `${where}.${lower}`);
      } else if (URL_HEADERS.has(lower)) {
        out.push([name, this.url(value, `${where}.${lower}`, redacted)]);
      } else {
        out.push([name, value]);
      }
    }
    return out;
  }

  /** Redacts query parameters of a URL or request target; everything else is kept byte for byte. */
  url(url: string, where: string, redacted: string[]): string {
    const q = url.indexOf('?');
    if (q === -1) return url;
    const hash = url.indexOf('#', q);
    const end = hash === -1 ? url.length : hash;
    const query = this.form(url.slice(q + 1, end), `${where}.query`, redacted, true);
    return url.slice(0, q + 1) + query + url.slice(end);
  }

  /** Redacts an `application/x-www-form-urlencoded` string (a query string or a form body). */
  form(text: string, where: string, redacted: string[], isQuery = false): string {
    let changed = false;
    const parts = text.split('&');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const eq = part.indexOf('=');
      const rawName = eq === -1 ? part : part.slice(0, eq);
      const name = safeDecode(rawName);
      if (eq !== -1 && (isQuery ? this.isSecretQueryParameter(name) : this.isSecretField(name))) {
        parts[i] = `${rawName}=${REDACTED}`;
        changed = true;
        addOnce(redacted, `${where}.${name}`);
      }
    }
    return changed ? parts.join('&') : text;
  }

  /**
   * Redacts secret fields of a JSON or urlencoded body. Unchanged bytes stay as they were; a body that
   * cannot be read as text (binary) is left alone. A compressed body is decoded (bounded) to look for
   * secrets, and when it holds one it is stored decoded and redacted, without its Content-Encoding.
   */
  body(body: CapturedBody | null, contentType: string | undefined, where: string, redacted: string[]): CapturedBody | null {
    if (body === null) return body;
    const kind = bodyKind(contentType);
    if (kind === undefined) return body;
    let text: string | undefined;
    let decoded = false;
    if (body.contentEncoding !== undefined) {
      const plain = decode(Buffer.from(body.data, body.encoding), body.contentEncoding);
      if (plain === undefined) return body;
      text = plain.toString('utf8');
      decoded = true;
    } else if (body.encoding === 'utf8') {
      text = body.data;
    } else {
      return body;
    }
    const isJson = kind === 'json' || (kind === 'maybe-json' && /^\s*[[{]/.test(text));
    if (!isJson && kind !== 'form') return body;
    const before = redacted.length;
    const out = isJson ? redactJson(text, this, where, redacted) : this.form(text, where, redacted);
    if (out === text || redacted.length === before) return body;
    const next: CapturedBody = { encoding: 'utf8', data: out, size: body.size, truncated: body.truncated };
    if (decoded) addOnce(redacted, `${where} (stored decoded, was ${body.contentEncoding})`);
    return next;
  }
}

function addOnce(list: string[], item: string): void {
  if (!list.includes(item)) list.push(item);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function bodyKind(contentType: string | undefined): 'json' | 'form' | 'maybe-json' | undefined {
  if (contentType === undefined || contentType === '') return 'maybe-json';
  const ct = contentType.toLowerCase();
  if (ct.includes('json')) return 'json';
  if (ct.includes('x-www-form-urlencoded')) return 'form';
  if (ct.startsWith('text/')) return 'maybe-json';
  return undefined;
}

function decode(bytes: Buffer, encoding: string): Buffer | undefined {
  // Z_SYNC_FLUSH lets a body cut at maxBodyBytes still decode as far as it goes.
  const opts = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED };
  try {
    switch (encoding.toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(bytes, opts);
      case 'deflate':
        try {
          return inflateSync(bytes, opts);
        } catch {
          return inflateRawSync(bytes, opts);
        }
      case 'br':
        return brotliDecompressSync(bytes, {
          finishFlush: constants.BROTLI_OPERATION_FLUSH,
          maxOutputLength: MAX_DECODED,
        });
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

class EndOfText extends Error {}
const QUOTED = JSON.stringify(REDACTED);

/**
 * Replaces the values of secret keys in JSON text, keeping every other byte. Works on text cut short
 * (a truncated body): a secret value that runs to the end of the text is replaced up to the end.
 * Text that is not JSON falls back to a pattern scan of `"key": value` pairs.
 */
export function redactJson(text: string, redactor: Redactor, where: string, redacted: string[]): string {
  const cuts: Array<[number, number]> = [];
  const path: string[] = [];
  let i = 0;
  let open = -1;

  const ws = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else return;
    }
    throw new EndOfText();
  };
  const string = (): string => {
    const start = ++i;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 92) i += 2;
      else if (c === 34) return text.slice(start, i++);
      else i++;
    }
    throw new EndOfText();
  };
  const value = (depth: number): void => {
    if (depth > 200) throw new SyntaxError('too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') throw new SyntaxError('key expected');
        const key = string();
        ws();
        if (text[i++] !== ':') throw new SyntaxError(': expected');
        ws();
        path.push(`.${keyOf(key)}`);
        if (open === -1 && redactor.isSecretField(keyOf(key))) {
          open = i;
          value(depth + 1);
          cuts.push([open, i]);
          addOnce(redacted, where + path.join(''));
          open = -1;
        } else {
          value(depth + 1);
        }
        path.pop();
        ws();
        const sep = text[i++];
        if (sep === '}') return;
        if (sep !== ',') throw new SyntaxError(', expected');
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (let n = 0; ; n++) {
        path.push(`[${n}]`);
        value(depth + 1);
        path.pop();
        ws();
        const sep = text[i++];
        if (sep === ']') return;
        if (sep !== ',') throw new SyntaxError(', expected');
      }
    } else if (c === '"') {
      string();
    } else {
      const start = i;
      while (i < text.length && !',]} \t\r\n'.includes(text[i]!)) i++;
      if (i === start) throw new SyntaxError('value expected');
      if (i === text.length) throw new EndOfText();
    }
  };

  try {
    value(0);
  } catch (err) {
    if (!(err instanceof EndOfText)) return redactJsonPairs(text, redactor, where, redacted);
    if (open !== -1) {
      cuts.push([open, text.length]);
      addOnce(redacted, where + path.join(''));
    }
  }
  if (cuts.length === 0) return text;
  let out = '';
  let from = 0;
  for (const [start, end] of cuts) {
    out += text.slice(from, start) + QUOTED;
    from = end;
  }
  return out + text.slice(from);
}

function keyOf(raw: string): string {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}

const PAIR = /"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)/g;

function redactJsonPairs(text: string, redactor: Redactor, where: string, redacted: string[]): string {
  return text.replace(PAIR, (whole, key: string, colon: string) => {
    if (!redactor.isSecretField(keyOf(key))) return whole;
    addOnce(redacted, `${where}.${keyOf(key)}`);
    return `"${key}"${colon}${QUOTED}`;
  });
}
