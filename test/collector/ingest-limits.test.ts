// Every way the collector refuses an ingest request, with its status: 413 (as sent and decompressed,
// for each encoding), 415, 400 naming the field, 401, 429 with Retry-After (by batches and by bytes),
// and the timeouts that close slow clients (slowloris headers, a trickled body, idle keep-alive).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { codes, createCollector } from '../../collector/index.js';
import { httpRequest, ingest, sampleCapture, startTestCollector, type HttpResult } from '../helpers.js';

function assertError(res: HttpResult, status: number, code: string, message: string | RegExp): void {
  assert.equal(res.status, status, res.text);
  const body = res.json();
  assert.equal(body.error.code, code);
  if (typeof message === 'string') assert.equal(body.error.message, message);
  else assert.match(body.error.message, message);
}

function post(url: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

async function rejected(url: string): Promise<Record<string, number>> {
  const text = (await httpRequest(`${url}/metrics`)).text;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^httploop_collector_ingest_rejected_total\{reason="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** A raw connection that has sent the headers and `sent` bytes of a body of `length` bytes, and waits. */
async function heldUpload(port: number, length: number, sent = 10): Promise<{ socket: net.Socket; finish(rest: Buffer): Promise<string> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let answer = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (answer += chunk));
  socket.write(`POST /v1/captures HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`);
  socket.write(Buffer.alloc(sent, 0x20));
  // Let the collector parse the headers and admit the request before anything else arrives.
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    socket,
    finish: (rest) =>
      new Promise<string>((resolve) => {
        socket.on('data', () => {
          if (/\r\n\r\n[\s\S]*\n$/.test(answer)) {
            socket.destroy();
            resolve(answer);
          }
        });
        // A collector that closes instead of answering fails the caller's match, not by hanging.
        socket.on('close', () => resolve(answer));
        socket.write(rest);
      }),
  };
}

/** The rest of a body of `length` bytes whose first `sent` bytes were spaces: a batch's JSON, padded with spaces. */
function paddedBatch(length: number, sent: number, captures = [sampleCapture()]): Buffer {
  const json = JSON.stringify({ captures });
  assert.ok(sent + json.length <= length);
  return Buffer.from(json + ' '.repeat(length - sent - json.length));
}

test('413 as sent and decompressed, for gzip, deflate and br; 415 for an unknown encoding', async (t) => {
  const { url } = await startTestCollector(t, { maxBodyBytes: 4096 });
  const big = Buffer.from(JSON.stringify([sampleCapture({ service: 'x'.repeat(8000) })]));
  assertError(await post(url, big), 413, codes.PAYLOAD_TOO_LARGE, /^request body \(as sent\) is larger than 4096 bytes/);
  for (const [encoding, bytes] of [
    ['gzip', gzipSync(big)],
    ['x-gzip', gzipSync(big)],
    ['deflate', deflateSync(big)],
    ['br', brotliCompressSync(big)],
  ] as const) {
    assert.ok(bytes.length < 4096);
    assertError(await post(url, bytes, { 'content-encoding': encoding }), 413, codes.PAYLOAD_TOO_LARGE, /^request body \(decompressed\) is larger/);
  }
  // Without Content-Length (chunked), the limit is counted as the bytes arrive.
  const chunked = await new Promise<HttpResult>((resolve, reject) => {
    const req = http.request(`${url}/v1/captures`, { method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: [], body: Buffer.from(text), text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.write(big.subarray(0, 3000));
    req.end(big.subarray(3000));
  });
  assertError(chunked, 413, codes.PAYLOAD_TOO_LARGE, /\(as sent\)/);
  assertError(await post(url, '[]', { 'content-encoding': 'zstd' }), 415, codes.UNSUPPORTED_ENCODING, "unsupported Content-Encoding 'zstd': send identity, gzip, deflate or br");
  assertError(await post(url, gzipSync(big).subarray(0, 40), { 'content-encoding': 'gzip' }), 400, codes.BAD_REQUEST, 'request body is not valid gzip data');
  assert.deepEqual(await rejected(url), {
    invalid: 0,
    malformed: 1,
    too_large: 6,
    unsupported_encoding: 1,
    unauthorized: 0,
    overloaded: 0,
  });
  // Still taking captures.
  assert.deepEqual((await ingest(url, [sampleCapture()])).json(), { inserted: 1, duplicates: 0 });
});

test('400 names the field, for every field the collector relies on', async (t) => {
  const { url } = await startTestCollector(t);
  const cases: Array<[(c: any) => void, string]> = [
    [(c) => (c.rules = ['default', 7]), 'captures[0].rules[1]: expected a string'],
    [(c) => (c.error = { name: 'Error', message: { nested: true } }), 'captures[0].error.message: expected a string'],
    [(c) => (c.request.headers[1] = ['x', 1]), 'captures[0].request.headers[1]: expected a [name, value] pair of strings'],
    [(c) => (c.response.body.size = -1), 'captures[0].response.body.size: expected a number >= 0'],
    [(c) => (c.response.body.truncated = 'no'), 'captures[0].response.body.truncated: expected true or false'],
    [(c) => (c.response.aborted = 1), 'captures[0].response.aborted: expected true or false'],
    [(c) => (c.trace.spanId = 5), 'captures[0].trace.spanId: expected a string'],
    [(c) => (c.outbound = [{ method: 'GET', url: 'http://a/', status: 'x' }]), 'captures[0].outbound[0].status: expected an HTTP status number'],
    [(c) => (c.outbound = [{ url: 'http://a/' }]), 'captures[0].outbound[0].method: expected an HTTP method'],
    [(c) => (c.redacted = 'request.headers.cookie'), 'captures[0].redacted: expected a list'],
    [(c) => (c.durationMs = 1e400), 'captures[0].durationMs: expected a number >= 0'],
    [(c) => (c.route = null), 'captures[0].route: expected a string'],
  ];
  for (const [mutate, message] of cases) {
    const capture = sampleCapture();
    mutate(capture);
    // 1e400 is not JSON.stringify-able (it is Infinity): spell it as a literal.
    const body = JSON.stringify({ captures: [capture] }).replace('"durationMs":null', '"durationMs":1e400');
    assertError(await post(url, body), 400, codes.INVALID_CAPTURE, message);
  }
  // An unknown field is stored as sent, unless it nests deep enough to overflow the stack of JSON.stringify.
  const deepBody = `{"captures":[${JSON.stringify(sampleCapture()).slice(0, -1)},"extra":${'['.repeat(100_000)}1${']'.repeat(100_000)}}]}`;
  assertError(await post(url, deepBody), 400, codes.INVALID_CAPTURE, /^captures\[0\]\.extra(\[0\])+: nested deeper than 32 levels$/);
  const extra = { ...sampleCapture(), extra: { newer: ['sdk', 'field'] } };
  assert.equal((await ingest(url, [extra as any])).status, 200);
  // Bytes that are not UTF-8 are refused rather than stored as U+FFFD.
  const latin1 = Buffer.concat([Buffer.from(JSON.stringify([sampleCapture()]).slice(0, -3)), Buffer.from([0xe9]), Buffer.from('"}]')]);
  assertError(await post(url, latin1), 400, codes.BAD_REQUEST, 'request body is not valid UTF-8');
  assert.deepEqual((await httpRequest(`${url}/v1/captures`)).json().captures.map((c: any) => c.id), [extra.id]);
});

test('401 for a missing or wrong token, before the body is read', async (t) => {
  const { url } = await startTestCollector(t, { token: 's3cret' });
  assertError(await ingest(url, [sampleCapture()]), 401, codes.UNAUTHORIZED, /^missing or wrong bearer token/);
  assertError(await ingest(url, [sampleCapture()], 's3cre'), 401, codes.UNAUTHORIZED, /^missing or wrong bearer token/);
  assertError(await post(url, '[]', { authorization: 's3cret' }), 401, codes.UNAUTHORIZED, /^missing or wrong bearer token/);
  assert.equal((await ingest(url, [sampleCapture()], 's3cret')).status, 200);
  const metrics = await httpRequest(`${url}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
  assert.match(metrics.text, /^httploop_collector_ingest_rejected_total\{reason="unauthorized"\} 3$/m);
});

test('429 with Retry-After when maxPendingBatches requests are in progress; taken again once they finish', async (t) => {
  const { url, port } = await startTestCollector(t, { maxPendingBatches: 1 });
  const held = await heldUpload(port, 2000);
  const refused = await ingest(url, [sampleCapture()]);
  assertError(refused, 429, codes.OVERLOADED, 'the collector is overloaded (1 batches in progress); retry after 1 s');
  assert.equal(refused.headers['retry-after'], '1');
  const answer = await held.finish(paddedBatch(2000, 10));
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /\{"inserted":1,"duplicates":0\}/);
  assert.equal((await ingest(url, [sampleCapture()])).status, 200);
  assert.equal((await rejected(url)).overloaded, 1);
});

test('429 when the body bytes in progress would pass maxInflightBytes, counted as sent or decompressed', async (t) => {
  const { url, port } = await startTestCollector(t, { maxBodyBytes: 4096, maxInflightBytes: 6000 });
  const held = await heldUpload(port, 4000);
  const threeK = paddedBatch(3000, 0);
  // Content-Length is reserved at once: refused before its body is read.
  assertError(await post(url, threeK), 429, codes.OVERLOADED, /^the collector is overloaded \(4000 body bytes in progress\)/);
  // A compressed body is counted as it is decoded.
  assertError(await post(url, gzipSync(threeK), { 'content-encoding': 'gzip' }), 429, codes.OVERLOADED, /body bytes in progress/);
  // What fits in the rest of the budget is taken.
  assert.equal((await ingest(url, [sampleCapture()])).status, 200);
  assert.match(await held.finish(paddedBatch(4000, 10)), /^HTTP\/1\.1 200 /);
  // The budget is given back: the same 3000 bytes are taken now.
  assert.equal((await post(url, threeK)).status, 200);
  assert.equal((await rejected(url)).overloaded, 2);
});

test('limit and timeout options are checked, with the fix in the message', () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ maxPendingBatches: 0 }, 'httploop: createCollector(): maxPendingBatches must be a positive whole number of requests, got 0'],
    [{ maxInflightBytes: 1.5 }, 'httploop: createCollector(): maxInflightBytes must be a positive whole number of bytes, got 1.5'],
    [
      { maxBodyBytes: 2048, maxInflightBytes: 1024 },
      'httploop: createCollector(): maxInflightBytes (1024) is below maxBodyBytes (2048), so a batch of the largest allowed size could never be taken; raise maxInflightBytes or lower maxBodyBytes',
    ],
    [{ headersTimeoutMs: '5s' }, 'httploop: createCollector(): headersTimeoutMs must be a positive whole number of ms, got 5s'],
    [
      { headersTimeoutMs: 5000, requestTimeoutMs: 1000 },
      'httploop: createCollector(): requestTimeoutMs (1000) is below headersTimeoutMs (5000); the whole request cannot take less time than its headers',
    ],
    [{ keepAliveTimeoutMs: -1 }, 'httploop: createCollector(): keepAliveTimeoutMs must be a positive whole number of ms, got -1'],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => createCollector({ db: ':memory:', ...options }), { code: codes.INVALID_OPTION, message });
  }
});

/** Sends `head` at once, then one byte of `drip` every `everyMs`; resolves with what came back when the collector closed. */
function drip(port: number, head: string, drip: string, everyMs: number): Promise<{ answer: string; ms: number; sent: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('latin1').on('data', (c: string) => (answer += c));
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (!socket.destroyed && !socket.writableEnded) socket.write(drip[sent++ % drip.length]!);
      }, everyMs);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ answer, ms: performance.now() - t0, sent });
    });
    setTimeout(() => reject(new Error('the collector never closed the slow connection')), 15_000).unref();
  });
}

test('slowloris: headers sent a byte at a time are cut off at headersTimeoutMs with 408', async (t) => {
  const { url, port } = await startTestCollector(t, { headersTimeoutMs: 1000, requestTimeoutMs: 2000 });
  const result = await drip(port, 'POST /v1/captures HTTP/1.1\r\nHost: x\r\n', 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 200);
  assert.match(result.answer, /^HTTP\/1\.1 408 /);
  // Generous margins: Node checks the timeout every 250 ms here; the client would have gone on for ever.
  assert.ok(result.ms >= 900 && result.ms < 4000, `closed after ${result.ms} ms`);
  assert.equal((await httpRequest(`${url}/healthz`)).status, 200);
});

test('a body trickled a byte at a time is cut off at requestTimeoutMs; the collector goes on', async (t) => {
  const { url, port } = await startTestCollector(t, { headersTimeoutMs: 500, requestTimeoutMs: 1500 });
  const body = JSON.stringify([sampleCapture()]);
  const head = `POST /v1/captures HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const result = await drip(port, head, body, 100);
  assert.ok(result.sent < body.length, 'cut off before the body was complete');
  assert.match(result.answer, /^HTTP\/1\.1 408 /);
  assert.ok(result.ms >= 1400 && result.ms < 5000, `closed after ${result.ms} ms`);
  assert.deepEqual((await httpRequest(`${url}/v1/captures`)).json(), { captures: [] });
  assert.equal((await ingest(url, [sampleCapture()])).status, 200);
});

test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async (t) => {
  const { port } = await startTestCollector(t, { keepAliveTimeoutMs: 300 });
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  socket.setEncoding('latin1').on('data', (c: string) => (answer += c));
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const t0 = performance.now();
  await new Promise((resolve) => socket.on('close', resolve));
  const ms = performance.now() - t0;
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.ok(ms >= 250 && ms < 3000, `closed after ${ms} ms`);
});
