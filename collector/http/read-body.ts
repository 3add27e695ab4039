import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { codes } from '../../src/errors.js';
import { HttpError } from './http-error.js';

const decoders: Record<string, (buf: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
  br: promisify(zlib.brotliDecompress),
};

function tooLarge(maxBytes: number, what: string): HttpError {
  return new HttpError(
    413,
    codes.PAYLOAD_TOO_LARGE,
    `request body ${what} is larger than ${maxBytes} bytes; send smaller batches or raise the collector's maxBodyBytes`,
  );
}

/**
 * Reads a request body of at most `maxBytes`, both as sent and after undoing its Content-Encoding, so a
 * small gzip bomb cannot exhaust memory.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decode = encoding === 'identity' || encoding === '' ? undefined : decoders[encoding];
  if (encoding !== 'identity' && encoding !== '' && !decode) {
    throw new HttpError(
      415,
      codes.UNSUPPORTED_ENCODING,
      `unsupported Content-Encoding '${encoding}': send identity, gzip, deflate or br`,
    );
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes, '(as sent)');

  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        reject(tooLarge(maxBytes, '(as sent)'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    // Nobody reads the answer to a broken upload; a 400 keeps it out of the internal-error log.
    const onError = (): void => {
      cleanup();
      reject(new HttpError(400, codes.BAD_REQUEST, 'the request body was cut off'));
    };
    const onAborted = onError;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
  if (!decode) return raw;
  try {
    return await decode(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxBytes, '(decompressed)');
    throw new HttpError(400, codes.BAD_REQUEST, `request body is not valid ${encoding} data`);
  }
}
