/**
 * Pure conversion between capture records and HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/):
 * `loopctl export --format har`, `loopctl import FILE.har` and the console's HAR export. No I/O here.
 */
import { STATUS_CODES } from 'node:http';
import { captureId } from '../../src/capture/capture-id.js';
import type { CaptureRecord, CapturedBody, HeaderList } from '../../src/capture/record.js';
import { Redactor } from '../../src/capture/redact.js';
import { LoopError, codes } from '../../src/errors.js';
import { newSpanId, newTraceId } from '../../src/trace/ids.js';

export interface HarNameValue {
  name: string;
  value: string;
}

export interface HarPostData {
  mimeType: string;
  text: string;
  /** Not in HAR 1.2 for postData; written like `content.encoding` when the bytes are not UTF-8 text. */
  encoding?: 'base64';
}

export interface HarContent {
  size: number;
  mimeType: string;
  text?: string;
  encoding?: 'base64';
  /** The Content-Encoding `text` is still in (httploop keeps the bytes as sent, not decoded). */
  _contentEncoding?: string;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: unknown[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: HarPostData;
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: unknown[];
    headers: HarNameValue[];
    content: HarContent;
    redirectURL: string;
    headersSize: number;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  _httploop: { id: string; seq?: number; service: string; route?: string; traceId: string };
}

export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: HarEntry[];
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function headerValue(headers: HeaderList, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** The query of a request target as HAR name/value pairs (decoded), in order. */
function queryString(target: string): HarNameValue[] {
  const q = target.indexOf('?');
  if (q === -1) return [];
  const hash = target.indexOf('#', q);
  const query = target.slice(q + 1, hash === -1 ? undefined : hash);
  if (query === '') return [];
  return query.split('&').map((part) => {
    const eq = part.indexOf('=');
    return eq === -1 ? { name: safeDecode(part), value: '' } : { name: safeDecode(part.slice(0, eq)), value: safeDecode(part.slice(eq + 1)) };
  });
}

/** The absolute URL of a captured request: `http://<destination><target>` (an absolute target as is). */
export function absoluteUrl(record: CaptureRecord): string {
  const { url } = record.request;
  if (/^https?:\/\//i.test(url)) return url;
  return `http://${record.destination}${url.startsWith('/') ? url : `/${url}`}`;
}

function bodyText(body: CapturedBody): { text: string; base64: boolean } {
  if (body.encoding === 'utf8' && !body.contentEncoding) return { text: body.data, base64: false };
  const bytes = Buffer.from(body.data, body.encoding === 'base64' ? 'base64' : 'utf8');
  return { text: bytes.toString('base64'), base64: true };
}

const pairs = (headers: HeaderList): HarNameValue[] => headers.map(([name, value]) => ({ name, value }));

/** One capture as a HAR 1.2 log of one entry. Values stay as stored: redacted ones stay `[REDACTED]`. */
export function captureToHar(record: CaptureRecord, version: string): Har {
  const { request, response } = record;
  const httpVersion = `HTTP/${request.httpVersion || '1.1'}`;
  const entry: HarEntry = {
    startedDateTime: record.startedAt,
    time: record.durationMs,
    request: {
      method: request.method,
      url: absoluteUrl(record),
      httpVersion,
      cookies: [],
      headers: pairs(request.headers),
      queryString: queryString(request.url),
      headersSize: -1,
      bodySize: request.body?.size ?? 0,
    },
    response: {
      status: response.status,
      statusText: response.statusMessage ?? STATUS_CODES[response.status] ?? '',
      httpVersion,
      cookies: [],
      headers: pairs(response.headers),
      content: { size: response.body?.size ?? 0, mimeType: headerValue(response.headers, 'content-type') ?? '' },
      redirectURL: '',
      headersSize: -1,
      bodySize: response.body?.size ?? 0,
    },
    cache: {},
    timings: { send: 0, wait: record.durationMs, receive: 0 },
    _httploop: { id: record.id, ...(record.seq !== undefined && { seq: record.seq }), service: record.service, traceId: record.trace.traceId },
  };
  if (record.route !== undefined) entry._httploop.route = record.route;
  if (request.body) {
    const { text, base64 } = bodyText(request.body);
    entry.request.postData = { mimeType: headerValue(request.headers, 'content-type') ?? '', text, ...(base64 && { encoding: 'base64' as const }) };
  }
  if (response.body) {
    const { text, base64 } = bodyText(response.body);
    entry.response.content.text = text;
    if (base64) entry.response.content.encoding = 'base64';
    if (response.body.contentEncoding) entry.response.content._contentEncoding = response.body.contentEncoding;
  }
  return { log: { version: '1.2', creator: { name: 'httploop', version }, entries: [entry] } };
}

// ---- import ---------------------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class EntryProblem extends Error {}

function fail(field: string, expected: string): never {
  throw new EntryProblem(`${field}: ${expected}`);
}

function str(obj: Record<string, unknown>, key: string, where: string, expected = 'expected a string'): string {
  const value = obj[key];
  if (typeof value !== 'string') fail(`${where}.${key}`, value === undefined ? 'missing' : expected);
  return value;
}

function obj(parent: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const value = parent[key];
  if (!isObject(value)) fail(`${where}.${key}`, value === undefined ? 'missing' : 'expected an object');
  return value;
}

/** HAR headers as a header list; HTTP/2 pseudo-headers (`:authority`) are dropped. */
function headerList(parent: Record<string, unknown>, where: string): HeaderList {
  const value = parent.headers;
  if (!Array.isArray(value)) fail(`${where}.headers`, value === undefined ? 'missing' : 'expected a list of { name, value }');
  const out: HeaderList = [];
  value.forEach((h: unknown, i) => {
    if (!isObject(h) || typeof h.name !== 'string' || typeof h.value !== 'string') {
      fail(`${where}.headers[${i}]`, 'expected { name, value } strings');
    }
    if (!h.name.startsWith(':')) out.push([h.name, h.value]);
  });
  return out;
}

function httpVersionOf(text: string): string {
  const v = text.trim().replace(/^HTTP\//i, '').toLowerCase();
  if (v === '' ) return '1.1';
  if (v === 'h2' || v === '2') return '2.0';
  if (v === 'h3' || v === '3') return '3.0';
  return v;
}

function bodyOf(text: string, base64: boolean, contentEncoding?: string): CapturedBody {
  const bytes = Buffer.from(text, base64 ? 'base64' : 'utf8');
  let asUtf8: string | undefined;
  if (!contentEncoding) {
    try {
      asUtf8 = utf8.decode(bytes);
    } catch {
      asUtf8 = undefined;
    }
  }
  const body: CapturedBody =
    asUtf8 !== undefined
      ? { encoding: 'utf8', data: asUtf8, size: bytes.length, truncated: false }
      : { encoding: 'base64', data: bytes.toString('base64'), size: bytes.length, truncated: false };
  if (contentEncoding) body.contentEncoding = contentEncoding;
  return body;
}

function entryToCapture(entry: unknown, where: string, service: string, instance: string, redactor: Redactor): CaptureRecord {
  if (!isObject(entry)) fail(where, 'expected an entry object');
  const started = str(entry, 'startedDateTime', where, 'expected an ISO 8601 time');
  if (Number.isNaN(Date.parse(started))) fail(`${where}.startedDateTime`, `expected an ISO 8601 time, got '${started}'`);
  const time = entry.time;
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
    fail(`${where}.time`, time === undefined ? 'missing' : 'expected a number of ms >= 0');
  }

  const req = obj(entry, 'request', where);
  const rw = `${where}.request`;
  const method = str(req, 'method', rw);
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/.test(method)) fail(`${rw}.method`, `expected an HTTP method, got '${method}'`);
  const url = str(req, 'url', rw);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(`${rw}.url`, `expected an absolute http(s) URL, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail(`${rw}.url`, `expected an absolute http(s) URL, got '${url}'`);
  // The target as written (raw query kept byte for byte), without the fragment.
  let target = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').replace(/#.*$/s, '');
  if (!target.startsWith('/')) target = `/${target}`;
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  const destination = `${parsed.hostname}:${port}`;
  const httpVersion = httpVersionOf(str(req, 'httpVersion', rw));
  const requestHeaders = headerList(req, rw);

  let requestBody: CapturedBody | null = null;
  if (req.postData !== undefined) {
    const post = obj(req, 'postData', rw);
    const base64 = post.encoding === 'base64' || post._encoding === 'base64';
    if (typeof post.text === 'string') {
      requestBody = bodyOf(post.text, base64);
    } else if (Array.isArray(post.params)) {
      const form = post.params.map((p: unknown, i) => {
        if (!isObject(p) || typeof p.name !== 'string') fail(`${rw}.postData.params[${i}]`, 'expected { name, value }');
        return `${encodeURIComponent(p.name)}=${encodeURIComponent(typeof p.value === 'string' ? p.value : '')}`;
      });
      requestBody = bodyOf(form.join('&'), false);
    } else {
      fail(`${rw}.postData.text`, 'missing (and no params)');
    }
  }

  const res = obj(entry, 'response', where);
  const sw = `${where}.response`;
  const status = res.status;
  if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 999) {
    fail(`${sw}.status`, status === undefined ? 'missing' : `expected an HTTP status from 100 to 999, got ${JSON.stringify(status)}`);
  }
  const statusText = typeof res.statusText === 'string' ? res.statusText : '';
  const responseHeaders = headerList(res, sw);
  const content = obj(res, 'content', sw);
  let responseBody: CapturedBody | null = null;
  if (content.text !== undefined) {
    if (typeof content.text !== 'string') fail(`${sw}.content.text`, 'expected a string');
    const contentEncoding = typeof content._contentEncoding === 'string' ? content._contentEncoding : undefined;
    responseBody = bodyOf(content.text, content.encoding === 'base64', contentEncoding);
  }

  const redacted: string[] = [];
  const contentType = (headers: HeaderList): string | undefined => headerValue(headers, 'content-type');
  const record: CaptureRecord = {
    schema: 1,
    id: captureId(),
    service,
    instance,
    startedAt: new Date(started).toISOString(),
    durationMs: time,
    trace: { traceId: newTraceId(), spanId: newSpanId() },
    request: {
      method,
      url: redactor.url(target, 'request.url', redacted),
      httpVersion,
      headers: redactor.headers(requestHeaders, 'request.headers', redacted),
      body: redactor.body(requestBody, contentType(requestHeaders), 'request.body', redacted),
    },
    response: {
      status: status as number,
      headers: redactor.headers(responseHeaders, 'response.headers', redacted),
      body: redactor.body(responseBody, contentType(responseHeaders), 'response.body', redacted),
      aborted: false,
    },
    destination,
    outbound: [],
    rules: ['import'],
    redacted,
  };
  if (statusText) record.response.statusMessage = statusText;
  const own = entry._httploop;
  if (isObject(own) && typeof own.route === 'string') record.route = own.route;
  return record;
}

/**
 * Every entry of a HAR as a capture record, redacted with the default redaction. Throws a LoopError
 * naming the first bad entry and field (`log.entries[2].request.url: missing`); nothing is converted
 * partially.
 */
export function harToCaptures(
  text: string,
  options: { file: string; service: string; instance: string },
): { captures: CaptureRecord[]; skipped: number[] } {
  let har: unknown;
  try {
    har = JSON.parse(text);
  } catch (err) {
    throw new LoopError(codes.USAGE, `${options.file} is not JSON (${(err as Error).message}); nothing was imported`);
  }
  const log = isObject(har) ? har.log : undefined;
  if (!isObject(log) || !Array.isArray(log.entries)) {
    throw new LoopError(codes.USAGE, `${options.file} is not a HAR: expected { "log": { "entries": [...] } }; nothing was imported`);
  }
  const redactor = new Redactor();
  const captures: CaptureRecord[] = [];
  const skipped: number[] = [];
  log.entries.forEach((entry: unknown, index) => {
    // Browsers write status 0 for requests that never got an answer (cancelled, blocked, CORS): there
    // is nothing to replay against, and a devtools export is full of them.
    if (isObject(entry) && isObject(entry.response) && entry.response.status === 0) {
      skipped.push(index);
      return;
    }
    try {
      captures.push(entryToCapture(entry, `log.entries[${index}]`, options.service, options.instance, redactor));
    } catch (err) {
      if (err instanceof EntryProblem) {
        throw new LoopError(codes.USAGE, `${options.file}: ${err.message}; nothing was imported`);
      }
      throw err;
    }
  });
  return { captures, skipped };
}
