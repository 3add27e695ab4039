import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CaptureRecord } from '../../src/capture/record.js';
import { ingest, runLoopctl, sampleCapture, startHttpServer, startTestCollector, tempDir } from '../helpers.js';

const version = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

// ---- HAR 1.2 required fields (http://www.softwareishard.com/blog/har-12-spec/) ------------------------
// No HAR schema validator is installed (no ajv, no har-validator): this checks what the spec requires.

type Problems = string[];
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function need(p: Problems, o: Record<string, unknown>, where: string, key: string, test: (v: unknown) => boolean, what: string): void {
  if (!(key in o)) p.push(`${where}.${key}: required`);
  else if (!test(o[key])) p.push(`${where}.${key}: expected ${what}`);
}
const str = (v: unknown) => typeof v === 'string';
const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const timing = (v: unknown) => num(v) && (v as number) >= -1;
function nameValues(p: Problems, list: unknown, where: string): void {
  if (!Array.isArray(list)) return;
  list.forEach((item, i) => {
    if (!isObj(item)) return void p.push(`${where}[${i}]: expected an object`);
    need(p, item, `${where}[${i}]`, 'name', str, 'a string');
    need(p, item, `${where}[${i}]`, 'value', str, 'a string');
  });
}

/** Every problem with the HAR 1.2 required fields and their types; empty when valid. */
export function harProblems(har: unknown): Problems {
  const p: Problems = [];
  if (!isObj(har) || !isObj(har.log)) return ['log: required object'];
  const log = har.log;
  need(p, log, 'log', 'version', str, 'a string');
  need(p, log, 'log', 'creator', isObj, 'an object');
  if (isObj(log.creator)) {
    need(p, log.creator, 'log.creator', 'name', str, 'a string');
    need(p, log.creator, 'log.creator', 'version', str, 'a string');
  }
  need(p, log, 'log', 'entries', Array.isArray, 'a list');
  if (log.pages !== undefined && !Array.isArray(log.pages)) p.push('log.pages: expected a list');
  (Array.isArray(log.entries) ? log.entries : []).forEach((entry: unknown, i) => {
    const w = `log.entries[${i}]`;
    if (!isObj(entry)) return void p.push(`${w}: expected an object`);
    need(p, entry, w, 'startedDateTime', (v) => str(v) && ISO.test(v as string), 'an ISO 8601 time with time zone');
    need(p, entry, w, 'time', (v) => num(v) && (v as number) >= 0, 'a number >= 0');
    need(p, entry, w, 'cache', isObj, 'an object');
    for (const key of Object.keys(entry)) {
      if (!['pageref', 'startedDateTime', 'time', 'request', 'response', 'cache', 'timings', 'serverIPAddress', 'connection', 'comment'].includes(key) && !key.startsWith('_')) {
        p.push(`${w}.${key}: not a HAR 1.2 field (custom fields start with _)`);
      }
    }
    need(p, entry, w, 'timings', isObj, 'an object');
    if (isObj(entry.timings)) for (const k of ['send', 'wait', 'receive']) need(p, entry.timings, `${w}.timings`, k, timing, 'a number >= -1');
    need(p, entry, w, 'request', isObj, 'an object');
    if (isObj(entry.request)) {
      const r = entry.request;
      const rw = `${w}.request`;
      need(p, r, rw, 'method', str, 'a string');
      need(p, r, rw, 'url', (v) => str(v) && /^[a-z][a-z0-9+.-]*:\/\//i.test(v as string), 'an absolute URL');
      need(p, r, rw, 'httpVersion', str, 'a string');
      for (const k of ['cookies', 'headers', 'queryString']) need(p, r, rw, k, Array.isArray, 'a list');
      nameValues(p, r.headers, `${rw}.headers`);
      nameValues(p, r.queryString, `${rw}.queryString`);
      need(p, r, rw, 'headersSize', num, 'a number');
      need(p, r, rw, 'bodySize', num, 'a number');
      if (r.postData !== undefined) {
        if (!isObj(r.postData)) p.push(`${rw}.postData: expected an object`);
        else {
          need(p, r.postData, `${rw}.postData`, 'mimeType', str, 'a string');
          if (!str(r.postData.text) && !Array.isArray(r.postData.params)) p.push(`${rw}.postData: needs text or params`);
        }
      }
    }
    need(p, entry, w, 'response', isObj, 'an object');
    if (isObj(entry.response)) {
      const r = entry.response;
      const rw = `${w}.response`;
      need(p, r, rw, 'status', num, 'a number');
      need(p, r, rw, 'statusText', str, 'a string');
      need(p, r, rw, 'httpVersion', str, 'a string');
      for (const k of ['cookies', 'headers']) need(p, r, rw, k, Array.isArray, 'a list');
      nameValues(p, r.headers, `${rw}.headers`);
      need(p, r, rw, 'content', isObj, 'an object');
      if (isObj(r.content)) {
        need(p, r.content, `${rw}.content`, 'size', num, 'a number');
        need(p, r.content, `${rw}.content`, 'mimeType', str, 'a string');
        if (r.content.text !== undefined && !str(r.content.text)) p.push(`${rw}.content.text: expected a string`);
        if (r.content.encoding !== undefined && !str(r.content.encoding)) p.push(`${rw}.content.encoding: expected a string`);
      }
      need(p, r, rw, 'redirectURL', str, 'a string');
      need(p, r, rw, 'headersSize', num, 'a number');
      need(p, r, rw, 'bodySize', num, 'a number');
    }
  });
  return p;
}

// ---- captures ---------------------------------------------------------------------------------------

const png = Buffer.from('89504e470d0a1a0a0000000d4948445200ff27225c25', 'hex');

function failingPost(destination = 'web:9090'): CaptureRecord {
  const body = JSON.stringify({ user: 'ann', password: '[REDACTED]', note: "it's \\ 100% \"done\"\n" });
  return sampleCapture({
    destination,
    route: '/pay/:id',
    request: {
      method: 'POST',
      url: '/pay/7?currency=EUR&x=%20y&token=[REDACTED]&flag',
      headers: [
        ['Host', destination],
        ['Content-Type', 'application/json'],
        ['Authorization', '[REDACTED]'],
        ['Connection', 'keep-alive, X-Hop'],
        ['X-Hop', 'drop me'],
        ['Content-Length', String(Buffer.byteLength(body))],
        ['X-Quote', `it's "quoted" $HOME \`id\``],
        ['X-Empty', ''],
        ['X-Twice', 'one'],
        ['X-Twice', 'two'],
      ],
      body: { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false },
    },
    response: {
      status: 500,
      statusMessage: 'Internal Server Error',
      headers: [
        ['Content-Type', 'image/png'],
        ['Set-Cookie', '[REDACTED]'],
      ],
      body: { encoding: 'base64', data: png.toString('base64'), size: png.length, truncated: false },
    },
    redacted: ['request.headers.authorization', 'request.url.query.token', 'request.body.password', 'response.headers.set-cookie'],
  });
}

test('export --format json prints the record exactly as show --json does (json is the default)', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [sampleCapture(), failingPost()]);
  const env = { LOOP_COLLECTOR: url };
  const show = await runLoopctl(['show', '--id', '2', '--json'], env);
  const json = await runLoopctl(['export', '--id', '2', '--format', 'json'], env);
  const byDefault = await runLoopctl(['export', '--id', '2'], env);
  assert.deepEqual(json, { code: 0, stdout: show.stdout, stderr: '' });
  assert.deepEqual(byDefault, json);
});

test('export --format har: a valid HAR 1.2 log of one entry; redacted values stay redacted', async (t) => {
  const { url } = await startTestCollector(t);
  const record = failingPost();
  await ingest(url, [record]);
  const result = await runLoopctl(['export', '--id', record.id, '--format', 'har'], { LOOP_COLLECTOR: url });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  const har = JSON.parse(result.stdout);
  assert.deepEqual(harProblems(har), []);
  const body = record.request.body!.data;
  assert.deepStrictEqual(har, {
    log: {
      version: '1.2',
      creator: { name: 'httploop', version },
      entries: [
        {
          startedDateTime: '2025-06-01T10:00:00.000Z',
          time: 12.5,
          request: {
            method: 'POST',
            url: 'http://web:9090/pay/7?currency=EUR&x=%20y&token=[REDACTED]&flag',
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: record.request.headers.map(([name, value]) => ({ name, value })),
            queryString: [
              { name: 'currency', value: 'EUR' },
              { name: 'x', value: ' y' },
              { name: 'token', value: '[REDACTED]' },
              { name: 'flag', value: '' },
            ],
            postData: { mimeType: 'application/json', text: body },
            headersSize: -1,
            bodySize: Buffer.byteLength(body),
          },
          response: {
            status: 500,
            statusText: 'Internal Server Error',
            httpVersion: 'HTTP/1.1',
            cookies: [],
            headers: [
              { name: 'Content-Type', value: 'image/png' },
              { name: 'Set-Cookie', value: '[REDACTED]' },
            ],
            content: { size: png.length, mimeType: 'image/png', text: png.toString('base64'), encoding: 'base64' },
            redirectURL: '',
            headersSize: -1,
            bodySize: png.length,
          },
          cache: {},
          timings: { send: 0, wait: 12.5, receive: 0 },
          _httploop: { id: record.id, seq: 1, service: 'web', route: '/pay/:id', traceId: record.trace.traceId },
        },
      ],
    },
  });
  assert.ok(!result.stdout.includes('Bearer'), 'nothing secret is written');
});

test('the HAR check itself catches missing required fields', () => {
  assert.deepEqual(harProblems({ log: { version: '1.2', creator: { name: 'x', version: '1' }, entries: [{ time: -3, extra: 1 }] } }), [
    'log.entries[0].startedDateTime: required',
    'log.entries[0].time: expected a number >= 0',
    'log.entries[0].cache: required',
    'log.entries[0].extra: not a HAR 1.2 field (custom fields start with _)',
    'log.entries[0].timings: required',
    'log.entries[0].request: required',
    'log.entries[0].response: required',
  ]);
});

test('export --out writes the file and nothing on stdout; errors are one line, exit 2', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [failingPost()]);
  const env = { LOOP_COLLECTOR: url };
  const dir = await tempDir(t);
  const out = path.join(dir, 'one.har');
  assert.deepEqual(await runLoopctl(['export', '--id', '1', '--format', 'har', '--out', out], env), { code: 0, stdout: '', stderr: '' });
  assert.deepEqual(harProblems(JSON.parse(await readFile(out, 'utf8'))), []);

  assert.deepEqual(await runLoopctl(['export', '--id', '1', '--format', 'xml'], env), {
    code: 2,
    stdout: '',
    stderr: "loopctl: bad format 'xml': use json, har or curl\n",
  });
  assert.deepEqual(await runLoopctl(['export', '--id', '42', '--format', 'curl'], env), {
    code: 2,
    stdout: '',
    stderr: 'loopctl: no capture with id 42\n',
  });
  assert.deepEqual(await runLoopctl(['export', '--id', '1', '--out', path.join(dir, 'no', 'such.json')], env), {
    code: 2,
    stdout: '',
    stderr: `loopctl: cannot write ${path.join(dir, 'no', 'such.json')} (no such directory)\n`,
  });
  assert.deepEqual(await runLoopctl(['export'], env), {
    code: 2,
    stdout: '',
    stderr: "loopctl: required option '--id <id>' not specified (see loopctl --help)\n",
  });
});

// ---- curl -----------------------------------------------------------------------------------------

interface Received {
  method: string;
  url: string;
  rawHeaders: Array<[string, string]>;
  body: Buffer;
}

async function startEcho(t: TestContext) {
  const received: Received[] = [];
  const server = await startHttpServer(t, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawHeaders: Array<[string, string]> = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
      received.push({ method: req.method!, url: req.url!, rawHeaders, body: Buffer.concat(chunks) });
      res.end('ok');
    });
  });
  return { ...server, received };
}

function bash(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function curlPath(): string | undefined {
  try {
    return execFileSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const curl = curlPath();

test('export --format curl prints one command line that reproduces the request', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [failingPost()]);
  const result = await runLoopctl(['export', '--id', '1', '--format', 'curl'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout,
    "curl --http1.1 --globoff --path-as-is --silent --show-error -X POST -H 'Content-Type: application/json' " +
      "-H 'Authorization: [REDACTED]' -H 'X-Quote: it'\\''s \"quoted\" $HOME `id`' -H 'X-Empty;' -H 'X-Twice: one' " +
      "-H 'X-Twice: two' -H 'User-Agent:' -H 'Accept:' -H 'Expect:' " +
      `--data-binary $'{"user":"ann","password":"[REDACTED]","note":"it\\'s \\\\\\\\ 100% \\\\"done\\\\"\\\\n"}' ` +
      "'http://web:9090/pay/7?currency=EUR&x=%20y&token=[REDACTED]&flag'\n",
  );
});

test(
  'the curl command really reproduces the request: method, target, headers in order, body bytes (text and binary)',
  { skip: curl === undefined || !existsSync('/bin/bash') ? 'curl or bash is not installed here' : false },
  async (t) => {
    const echo = await startEcho(t);
    const { url } = await startTestCollector(t);
    const text = failingPost(echo.hostPort);
    const binary = Buffer.from([0x00, 0xff, 0x27, 0x5c, 0x25, 0x0a, 0x40, 0x80, 0xc3, 0x28, 0x24, 0x7b, 0x7d, 0x00]);
    const binaryCapture = sampleCapture({
      destination: echo.hostPort,
      request: {
        method: 'PUT',
        url: '/upload/a%2Fb/../c?q=[1]&r={x}',
        headers: [
          ['Host', echo.hostPort],
          ['User-Agent', 'app/1.0'],
          ['Content-Type', 'application/octet-stream'],
          ['Transfer-Encoding', 'chunked'],
          ['X-Last', 'z'],
        ],
        body: { encoding: 'base64', data: binary.toString('base64'), size: binary.length, truncated: false },
      },
    });
    // A body starting with '@' goes through stdin too (curl would read '@…' as a file name).
    const at = sampleCapture({
      destination: echo.hostPort,
      request: { method: 'PATCH', url: '/at', headers: [['Accept', 'text/plain']], body: { encoding: 'utf8', data: '@/etc/passwd é', size: 15, truncated: false } },
    });
    const head = sampleCapture({ destination: echo.hostPort, request: { method: 'DELETE', url: '/x?y', headers: [['X-A', 'b']] } });
    await ingest(url, [text, binaryCapture, at, head]);

    const expectedHeaders = (record: CaptureRecord): Array<[string, string]> => {
      const skip = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'x-hop']);
      return record.request.headers.filter(([name]) => !skip.has(name.toLowerCase()));
    };
    for (const [seq, record] of [text, binaryCapture, at, head].entries()) {
      const exported = await runLoopctl(['export', '--id', String(seq + 1), '--format', 'curl'], { LOOP_COLLECTOR: url });
      assert.equal(exported.code, 0, exported.stderr);
      assert.equal(exported.stdout.trimEnd().split('\n').length, 1, 'one line');
      const run = await bash(exported.stdout);
      assert.deepEqual(run, { code: 0, stdout: 'ok', stderr: '' }, exported.stdout);
      const got = echo.received[seq]!;
      const sent = Buffer.from(record.request.body?.data ?? '', record.request.body?.encoding === 'base64' ? 'base64' : 'utf8');
      assert.equal(got.method, record.request.method, exported.stdout);
      assert.equal(got.url, record.request.url);
      assert.deepEqual(got.rawHeaders[0], ['Host', echo.hostPort]);
      const lengthHeader = got.rawHeaders.find(([name]) => name.toLowerCase() === 'content-length');
      assert.equal(lengthHeader?.[1], record.request.body ? String(sent.length) : undefined);
      assert.deepEqual(
        got.rawHeaders.filter(([name]) => !['host', 'content-length'].includes(name.toLowerCase())),
        expectedHeaders(record),
        exported.stdout,
      );
      assert.ok(got.body.equals(sent), `${exported.stdout}: body ${got.body.toString('hex')} != ${sent.toString('hex')}`);
    }
  },
);
