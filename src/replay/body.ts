import type { CapturedBody } from '../capture/record.js';

/** The kept bytes of a captured body; no body is zero bytes. */
export function decodeBody(body: CapturedBody | null | undefined): Buffer {
  if (!body) return Buffer.alloc(0);
  return Buffer.from(body.data, body.encoding === 'base64' ? 'base64' : 'utf8');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text when they are valid UTF-8, else undefined. */
export function asText(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The bytes as parsed JSON when they are valid UTF-8 JSON text, else undefined. */
export function asJson(bytes: Uint8Array): { value: unknown } | undefined {
  const text = asText(bytes);
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}
