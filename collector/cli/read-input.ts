import { readFile } from 'node:fs/promises';
import { LoopError, codes } from '../../src/errors.js';

/** A file's text, or standard input's for `-` (`loopctl apply -f -`, `loopctl import -`). */
export async function readInput(file: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new LoopError(codes.USAGE, `cannot read ${file} (${reason})`, { cause: err });
  }
}
