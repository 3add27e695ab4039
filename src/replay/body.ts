import type { CapturedBody } from '../capture/record.js';

/** The kept bytes of a captured body; no body is zero bytes. */
export function decodeBody(body: CapturedBody | null | undefined): Buffer {
  if (!body) return Buffer.alloc(0);
  return Buffer.from(body.data, body.encoding === 'base64' ? 'base64' : 'utf8');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Control characters other than tab, line feed and carriage return mark bytes as binary. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** The bytes as text when they are valid UTF-8 without control characters, else undefined. */
export function asText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  return CONTROL.test(text) ? undefined : text;
}

/** Like {@link asText} for a body cut at an arbitrary byte: up to 3 bytes of a split character are dropped. */
export function asTruncatedText(bytes: Uint8Array): string | undefined {
  for (let drop = 0; drop <= Math.min(3, bytes.length); drop++) {
    const text = asText(bytes.subarray(0, bytes.length - drop));
    if (text !== undefined) return text;
  }
  return undefined;
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
