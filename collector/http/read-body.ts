import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { codes } from '../../src/errors.js';
import { HttpError } from './http-error.js';

const decoders: Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

export interface ReadBodyOptions {
  /**
   * Called with the size of every chunk before it is kept (bytes as sent for identity bodies, decoded
   * bytes otherwise); throwing an HttpError refuses the body. The ingest overload budget hooks in here.
   */
  onKeep?: (bytes: number) => void;
}

function tooLarge(maxBytes: number, what: string): HttpError {
  return new HttpError(
    413,
    codes.PAYLOAD_TOO_LARGE,
    `request body ${what} is larger than ${maxBytes} bytes; send smaller batches or raise the collector's maxBodyBytes`,
  );
}

/**
 * The window a brotli stream declares in its first bits (RFC 7932 §9.1): the decoder allocates a ring
 * buffer of this size, whatever the limit, so it is bounded too. Undefined for a bad header (the
 * decoder then reports the error).
 */
export function brotliWindowBytes(firstByte: number): number | undefined {
  let wbits: number;
  if ((firstByte & 1) === 0) wbits = 16;
  else if (((firstByte >> 1) & 7) !== 0) wbits = 17 + ((firstByte >> 1) & 7);
  else if (((firstByte >> 4) & 7) === 1) return undefined; // large-window brotli, not RFC 7932
  else if (((firstByte >> 4) & 7) !== 0) wbits = 8 + ((firstByte >> 4) & 7);
  else wbits = 17;
  return 2 ** wbits - 16;
}

/** The Content-Encoding of a request, refused with 415 when the collector cannot decode it. */
function decoderFor(req: IncomingMessage): { name: string; create: (() => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress) | undefined } {
  const name = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (name === 'identity' || name === '') return { name, create: undefined };
  const create = decoders[name];
  if (!create) {
    throw new HttpError(415, codes.UNSUPPORTED_ENCODING, `unsupported Content-Encoding '${name}': send identity, gzip, deflate or br`);
  }
  return { name, create };
}

/** Node's and most encoders' default br window (lgwin 22), always taken. */
const DEFAULT_BROTLI_WINDOW = 2 ** 22 - 16;

function checkBrotliWindow(firstByte: number, maxBytes: number): void {
  const window = brotliWindowBytes(firstByte);
  const most = Math.max(Math.floor(maxBytes / 2), DEFAULT_BROTLI_WINDOW);
  if (window !== undefined && window > most) {
    throw new HttpError(
      413,
      codes.PAYLOAD_TOO_LARGE,
      `request body is br with a window of ${window} bytes, more than the ${most} this collector takes; compress with a smaller window (lgwin) or use gzip`,
    );
  }
}

/**
 * Reads a request body of at most `maxBytes`, both as sent and after undoing its Content-Encoding.
 * Compressed bodies are decoded as they arrive and only the decoded bytes are kept, so a gzip bomb is
 * refused once `maxBytes` decoded bytes are held: memory never holds more than the limit (plus one
 * decoder chunk), whatever the bomb would expand to. A br stream's window (its decoder's ring buffer, up
 * to 16 MiB, chosen by the sender) comes on top: at most half the limit, or the default 4 MiB.
 */
export async function readBody(req: IncomingMessage, maxBytes: number, options: ReadBodyOptions = {}): Promise<Buffer> {
  const { name: encoding, create } = decoderFor(req);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes, '(as sent)');
  const onKeep = options.onKeep;

  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let sent = 0;
    let kept = 0;
    let settled = false;
    const decoder = create?.();

    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      // The decoder may be in the middle of expanding a chunk: destroying it stops the work at once.
      decoder?.destroy();
      chunks.length = 0;
      reject(err);
    };
    const keep = (chunk: Buffer, what: string): void => {
      if (kept + chunk.length > maxBytes) throw tooLarge(maxBytes, what);
      onKeep?.(chunk.length);
      kept += chunk.length;
      chunks.push(chunk);
    };
    const done = (): void => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(Buffer.concat(chunks, kept));
    };

    const onData = (chunk: Buffer): void => {
      sent += chunk.length;
      try {
        if (sent > maxBytes) throw tooLarge(maxBytes, '(as sent)');
        if (encoding === 'br' && sent === chunk.length && chunk.length > 0) checkBrotliWindow(chunk[0]!, maxBytes);
        if (!decoder) {
          keep(chunk, '(as sent)');
        } else if (!decoder.write(chunk)) {
          // Backpressure: a chunk that expands a lot is decoded (and counted) before more is read.
          req.pause();
          decoder.once('drain', () => req.resume());
        }
      } catch (err) {
        fail(err);
      }
    };
    const onEnd = (): void => {
      if (decoder) decoder.end();
      else done();
    };
    // Nobody reads the answer to a broken upload; a 400 keeps it out of the internal-error log.
    const onCutOff = (): void => fail(new HttpError(400, codes.BAD_REQUEST, 'the request body was cut off'));
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onCutOff);
      req.off('aborted', onCutOff);
    };
    if (decoder) {
      decoder.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          keep(chunk, '(decompressed)');
        } catch (err) {
          fail(err);
        }
      });
      decoder.on('end', done);
      decoder.on('error', () => fail(new HttpError(400, codes.BAD_REQUEST, `request body is not valid ${encoding} data`)));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onCutOff);
    req.on('aborted', onCutOff);
  });
}
