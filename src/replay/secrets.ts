import { REDACTED, type CaptureRecord, type CapturedBody } from '../capture/record.js';
import { LoopError, codes } from '../errors.js';
import { asText, decodeBody } from './body.js';

/** Values to put back where a capture holds the redaction placeholder, by header, query parameter or body field name. */
export interface Secrets {
  headers?: Record<string, string>;
  query?: Record<string, string>;
  fields?: Record<string, string>;
}

const PLACEHOLDERS = new Set([REDACTED, encodeURIComponent(REDACTED), '%5bREDACTED%5d']);

/** Checks the JSON of a secrets file: `{ headers?, query?, fields? }`, each an object of strings. */
export function parseSecrets(text: string, file: string): Secrets {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LoopError(codes.USAGE, `${file}: not JSON (${(err as Error).message})`);
  }
  const shape = `{ "headers": { "authorization": "Bearer …" }, "query": { "token": "…" }, "fields": { "password": "…" } }`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoopError(codes.USAGE, `${file}: expected an object like ${shape}`);
  }
  const secrets: Secrets = {};
  for (const [section, entries] of Object.entries(value)) {
    if (section !== 'headers' && section !== 'query' && section !== 'fields') {
      throw new LoopError(codes.USAGE, `${file}: unknown key '${section}': use headers, query and fields`);
    }
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
      throw new LoopError(codes.USAGE, `${file}: ${section} must be an object of names to string values`);
    }
    for (const [name, secret] of Object.entries(entries)) {
      if (typeof secret !== 'string') throw new LoopError(codes.USAGE, `${file}: ${section}.${name} must be a string`);
    }
    secrets[section] = entries as Record<string, string>;
  }
  return secrets;
}

function lowerKeys(map: Record<string, string> | undefined): Map<string, string> {
  return new Map(Object.entries(map ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/** `a=1&token=[REDACTED]` with `token` restored; other parameters kept byte for byte. */
function restoreForm(text: string, values: Map<string, string>): string {
  if (!values.size) return text;
  return text
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq < 0) return part;
      const secret = values.get(decodeName(part.slice(0, eq)));
      return secret !== undefined && PLACEHOLDERS.has(part.slice(eq + 1)) ? `${part.slice(0, eq)}=${encodeURIComponent(secret)}` : part;
    })
    .join('&');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function restoreBody(body: CapturedBody | null, fields: Map<string, string>): CapturedBody | null {
  if (!body || !fields.size || body.contentEncoding) return body;
  const text = asText(decodeBody(body));
  if (text === undefined || !/\[REDACTED\]|%5BREDACTED%5D/i.test(text)) return body;
  let restored = text;
  for (const [name, secret] of fields) {
    const json = new RegExp(`("${escapeRegExp(name)}"\\s*:\\s*)"${escapeRegExp(REDACTED)}"`, 'gi');
    restored = restored.replace(json, (_m, key: string) => `${key}${JSON.stringify(secret)}`);
  }
  if (!/^\s*[[{]/.test(restored)) restored = restoreForm(restored, fields);
  if (restored === text) return body;
  const grown = Buffer.byteLength(restored) - Buffer.byteLength(text);
  return { ...body, encoding: 'utf8', data: restored, size: body.size + grown };
}

/**
 * A copy of the capture with the secrets put back where it holds the placeholder: a header whose value
 * is `[REDACTED]`, a query parameter `name=[REDACTED]`, a JSON or urlencoded body field. Names match
 * in any case; everything else is left as captured.
 */
export function restoreSecrets(record: CaptureRecord, secrets: Secrets): CaptureRecord {
  const headers = lowerKeys(secrets.headers);
  const query = lowerKeys(secrets.query);
  const fields = lowerKeys(secrets.fields);
  const { request } = record;
  const at = request.url.indexOf('?');
  const url = at < 0 ? request.url : `${request.url.slice(0, at + 1)}${restoreForm(request.url.slice(at + 1), query)}`;
  return {
    ...record,
    request: {
      ...request,
      url,
      headers: request.headers.map(([name, value]) => {
        const secret = headers.get(name.toLowerCase());
        return secret !== undefined && value.includes(REDACTED) ? [name, secret] : [name, value];
      }),
      body: restoreBody(request.body, fields),
    },
  };
}
