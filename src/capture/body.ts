import { isUtf8 } from 'node:buffer';
import type { CapturedBody } from './record.js';

/**
 * Keeps a copy of the first `max` bytes of a body as it passes, and counts all of it. Copies, because
 * an app may reuse a Buffer after `write()` returns; grows by doubling, so small bodies stay small.
 */
export class BodyTap {
  private buf: Buffer | null = null;
  private kept = 0;
  /** Every byte seen, kept or not. */
  size = 0;

  constructor(private readonly max: number) {}

  push(chunk: unknown, encoding?: unknown): void {
    if (typeof chunk === 'string') {
      const enc = typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8';
      const n = Buffer.byteLength(chunk, enc);
      this.size += n;
      const room = this.max - this.kept;
      if (room <= 0 || n === 0) return;
      this.reserve(Math.min(n, room));
      this.kept += this.buf!.write(chunk, this.kept, Math.min(n, room), enc);
    } else if (chunk instanceof Uint8Array) {
      const n = chunk.byteLength;
      this.size += n;
      const room = this.max - this.kept;
      if (room <= 0 || n === 0) return;
      const take = Math.min(n, room);
      this.reserve(take);
      this.buf!.set(take === n ? chunk : chunk.subarray(0, take), this.kept);
      this.kept += take;
    }
  }

  private reserve(extra: number): void {
    const need = this.kept + extra;
    if (this.buf !== null && this.buf.length >= need) return;
    let cap = this.buf === null ? 1024 : this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(Math.min(cap, this.max));
    if (this.buf !== null) this.buf.copy(next, 0, 0, this.kept);
    this.buf = next;
  }

  /** The kept bytes (a view, not a copy). */
  bytes(): Buffer {
    return this.buf === null ? Buffer.alloc(0) : this.buf.subarray(0, this.kept);
  }

  /** The kept bytes as text when they are UTF-8, for rules that read bodies. */
  text(): string | undefined {
    if (this.size === 0) return undefined;
    const b = utf8Prefix(this.bytes());
    return b === undefined ? undefined : b.toString('utf8');
  }

  /** The body for a capture record, keeping at most `limit` bytes (a rule may keep fewer than were teed). */
  toBody(contentEncoding: string | undefined, limit = Infinity): CapturedBody | null {
    if (this.size === 0) return null;
    const all = this.bytes();
    const bytes = limit < all.length ? all.subarray(0, limit) : all;
    const truncated = bytes.length < this.size;
    const text = contentEncoding === undefined ? utf8Prefix(bytes, truncated) : undefined;
    const body: CapturedBody =
      text !== undefined
        ? { encoding: 'utf8', data: text.toString('utf8'), size: this.size, truncated }
        : { encoding: 'base64', data: bytes.toString('base64'), size: this.size, truncated };
    if (contentEncoding !== undefined) body.contentEncoding = contentEncoding;
    return body;
  }
}

/**
 * The bytes when they are UTF-8. A cut body may end inside a character: then up to three trailing
 * bytes are dropped so the readable prefix can still be stored as text (`truncated` already says so).
 */
function utf8Prefix(bytes: Buffer, cut = true): Buffer | undefined {
  if (isUtf8(bytes)) return bytes;
  if (!cut) return undefined;
  for (let drop = 1; drop <= 3 && drop < bytes.length; drop++) {
    const prefix = bytes.subarray(0, bytes.length - drop);
    if (isUtf8(prefix)) return prefix;
  }
  return undefined;
}
