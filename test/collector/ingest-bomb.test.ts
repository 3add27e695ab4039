// Compression bombs: a 1 GiB body of zeros, sent as about 1 MB of gzip (or a few hundred bytes of br),
// is refused with 413 once the limit in decoded bytes is reached, and the collector's peak RSS grows by
// less than twice the limit. Measured in a child process, so that nothing else the test runner holds
// counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { repoRoot, httpRequest, sampleCapture, type HttpResult } from '../helpers.js';

const LIMIT = 4 * 1024 * 1024;
const MiB = 1024 * 1024;

/** 1 GiB of zeros as gzip: 16 gzip members of 64 MiB each (RFC 1952 allows members back to back). */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: 16 }, () => member));
}

/** 64 MiB of zeros (16 times the limit) as br with a window of `lgwin` bits (20: 1 MiB). */
function brBomb(lgwin = 20): Buffer {
  return brotliCompressSync(Buffer.alloc(64 * MiB), {
    params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_LGWIN]: lgwin },
  });
}

const CHILD = `
const { createCollector } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'collector', 'index.ts')).href)});
const collector = createCollector({ db: ':memory:', maxBodyBytes: ${LIMIT} });
const { port } = await collector.listen(0, '127.0.0.1');
process.stdout.write(JSON.stringify({ port }) + '\\n');
process.stdin.setEncoding('utf8');
let buffered = '';
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  for (let i; (i = buffered.indexOf('\\n')) !== -1; buffered = buffered.slice(i + 1)) {
    // What an earlier bomb left is collected first; maxRSS is the high-water mark, in KiB.
    globalThis.gc();
    process.stdout.write(JSON.stringify({ maxRss: process.resourceUsage().maxRSS * 1024 }) + '\\n');
  }
});
process.stdin.on('end', async () => { await collector.close(); process.exit(0); });
`;

async function startChild() {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: repoRoot,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<any> => {
    const { value, done } = await lines.next();
    if (done) throw new Error('the collector child exited');
    return JSON.parse(value as string);
  };
  const { port } = await next();
  return {
    url: `http://127.0.0.1:${port}`,
    maxRss: async (): Promise<number> => {
      child.stdin!.write('rss\n');
      return (await next()).maxRss as number;
    },
    stop: async () => {
      child.stdin!.end();
      await once(child, 'exit');
    },
  };
}

function post(url: string, body: Buffer, encoding: string): Promise<HttpResult> {
  return httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body });
}

test('a 1 GiB gzip bomb and a br bomb are refused at the limit; peak RSS grows by less than twice the limit', async (t) => {
  const gzip = gzipBomb();
  const br = brBomb();
  assert.ok(gzip.length < LIMIT, `the bomb itself (${gzip.length} bytes) passes the limit as sent`);
  const child = await startChild();
  t.after(() => child.stop());

  // Warm up every path a bomb takes (decoders, JSON, SQLite), with bodies far below the limit.
  const batch = Buffer.from(JSON.stringify([sampleCapture()]));
  assert.equal((await post(child.url, gzipSync(batch), 'gzip')).status, 200);
  assert.equal((await post(child.url, brotliCompressSync(batch), 'br')).status, 200);
  assert.equal((await post(child.url, gzipSync(Buffer.alloc(LIMIT / 8, 0x20)), 'gzip')).status, 400);
  const before = await child.maxRss();

  for (const [encoding, bomb] of [
    ['gzip', gzip],
    ['br', br],
  ] as const) {
    const res = await post(child.url, bomb, encoding);
    t.diagnostic(`${encoding}: ${(((await child.maxRss()) - before) / MiB).toFixed(1)}`);
    assert.equal(res.status, 413, res.text);
    assert.equal(res.json().error.message, `request body (decompressed) is larger than ${LIMIT} bytes; send smaller batches or raise the collector's maxBodyBytes`);
  }
  // The decoder's ring buffer is as large as the window the sender chose: more than half the limit (or
  // than the usual 4 MiB) is refused.
  const wide = await post(child.url, brBomb(24), 'br');
  assert.equal(wide.status, 413, wide.text);
  assert.equal(
    wide.json().error.message,
    `request body is br with a window of ${2 ** 24 - 16} bytes, more than the ${2 ** 22 - 16} this collector takes; compress with a smaller window (lgwin) or use gzip`,
  );
  const growth = (await child.maxRss()) - before;
  t.diagnostic(`peak RSS growth ${(growth / MiB).toFixed(1)} MiB, limit ${LIMIT / MiB} MiB`);
  assert.ok(growth < 2 * LIMIT, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB for a ${LIMIT / MiB} MiB limit`);
  assert.equal((await httpRequest(`${child.url}/healthz`)).status, 200);
  assert.equal((await post(child.url, gzipSync(Buffer.from(JSON.stringify([sampleCapture()]))), 'gzip')).status, 200);
});
