import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import express from 'express';
import { loop } from '../../middleware/index.js';
import type { CaptureRecord } from '../../src/capture/record.js';
import { close, listen } from '../middleware/fixtures.js';
import { httpRequest, ingest, runLoopctl, sampleCapture, startTestCollector, tempDir } from '../helpers.js';

async function show(collector: string, id: string): Promise<CaptureRecord> {
  const result = await runLoopctl(['show', '--id', id, '--json'], { LOOP_COLLECTOR: collector });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as CaptureRecord;
}

async function count(collector: string): Promise<number> {
  const result = await runLoopctl(['list', '--json'], { LOOP_COLLECTOR: collector });
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { captures: unknown[] }).captures.length;
}

test('round trip: a capture by loop(), exported as HAR, imported, replays the same as captured', async (t) => {
  const collector = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: collector.url };
  const mw = loop({ service: 'web', collector: collector.url });
  const app = express();
  app.use(mw);
  app.use(express.json());
  app.post('/orders/:id', (req, res) => {
    res.status(500).json({ error: `payments timed out for order ${req.params.id}`, amount: req.body.amount });
  });
  const server = http.createServer(app);
  const base = await listen(server);
  t.after(async () => {
    await mw.close();
    await close(server);
  });

  const failed = await httpRequest(`${base}/orders/42?expand=items&q=%20x`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'abc' },
    body: '{"amount":1250,"currency":"EUR"}',
  });
  assert.equal(failed.status, 500);
  await mw.flush();

  const dir = await tempDir(t);
  const file = path.join(dir, 'capture.har');
  const exported = await runLoopctl(['export', '--id', '1', '--format', 'har', '--out', file], env);
  assert.deepEqual(exported, { code: 0, stdout: '', stderr: '' });

  const imported = await runLoopctl(['import', file], env);
  assert.deepEqual(imported, { code: 0, stdout: 'imported 1 capture (id 2)\n', stderr: '' });

  const original = await show(collector.url, '1');
  const copy = await show(collector.url, '2');
  assert.notEqual(copy.id, original.id);
  assert.equal(copy.service, 'import');
  assert.equal(copy.instance, 'import:capture.har');
  assert.deepEqual(copy.rules, ['import']);
  assert.deepEqual(copy.outbound, []);
  assert.deepEqual(copy.redacted, []);
  assert.match(copy.trace.traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(copy.trace.traceId, original.trace.traceId);
  assert.match(copy.trace.spanId, /^[0-9a-f]{16}$/);
  for (const key of ['startedAt', 'durationMs', 'destination', 'route'] as const) assert.deepEqual(copy[key], original[key], key);
  const { remoteAddress: _r, ...request } = original.request;
  assert.deepEqual(copy.request, request);
  assert.deepEqual(copy.response, original.response);

  const replay = await runLoopctl(['replay', '--id', '2'], env);
  assert.equal(replay.stderr, '');
  assert.equal(replay.code, 0, replay.stdout);
  assert.match(replay.stdout, /^replayed capture 2 \(POST \/orders\/42\?expand=items&q=%20x\) to 127\.0\.0\.1:\d+: 500 Internal Server Error in \d+ ms\nsame as captured\n/);
});

/** What Chrome DevTools' "Save all as HAR with content" writes (trimmed to three requests). */
function chromeHar() {
  const png = Buffer.from('89504e470d0a1a0a0000000d494844520000000100000001', 'hex');
  const timings = { blocked: 1.2, dns: -1, ssl: -1, connect: -1, send: 0.1, wait: 40.3, receive: 0.8, _blocked_queueing: 0.9 };
  const initiator = { type: 'script', stack: { callFrames: [{ functionName: 'load', scriptId: '12', url: 'https://shop.example.com/app.js', lineNumber: 10, columnNumber: 4 }] } };
  return {
    png,
    har: {
      log: {
        version: '1.2',
        creator: { name: 'WebInspector', version: '537.36' },
        pages: [
          { startedDateTime: '2026-11-30T09:15:02.101Z', id: 'page_3', title: 'https://shop.example.com/cart', pageTimings: { onContentLoad: 312.5, onLoad: 480.2 } },
        ],
        entries: [
          {
            _initiator: initiator,
            _priority: 'High',
            _resourceType: 'fetch',
            cache: {},
            connection: '443',
            pageref: 'page_3',
            request: {
              method: 'GET',
              url: 'https://shop.example.com/api/cart?session_token=abc123&x=1',
              httpVersion: 'http/2.0',
              headers: [
                { name: ':authority', value: 'shop.example.com' },
                { name: ':method', value: 'GET' },
                { name: ':path', value: '/api/cart?session_token=abc123&x=1' },
                { name: ':scheme', value: 'https' },
                { name: 'accept', value: 'application/json' },
                { name: 'authorization', value: 'Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig' },
                { name: 'cookie', value: 'sid=s%3Aabcdef; theme=dark' },
                { name: 'referer', value: 'https://shop.example.com/cart?access_token=xyz' },
                { name: 'user-agent', value: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' },
              ],
              queryString: [
                { name: 'session_token', value: 'abc123' },
                { name: 'x', value: '1' },
              ],
              cookies: [
                { name: 'sid', value: 's%3Aabcdef', path: '/', domain: 'shop.example.com', expires: '2027-01-01T00:00:00.000Z', httpOnly: true, secure: true },
              ],
              headersSize: -1,
              bodySize: 0,
            },
            response: {
              status: 200,
              statusText: '',
              httpVersion: 'http/2.0',
              headers: [
                { name: 'content-type', value: 'application/json; charset=utf-8' },
                { name: 'set-cookie', value: 'sid=s%3Anew; Path=/; HttpOnly; Secure' },
                { name: 'date', value: 'Mon, 30 Nov 2026 09:15:02 GMT' },
              ],
              cookies: [{ name: 'sid', value: 's%3Anew', path: '/', httpOnly: true, secure: true }],
              content: { size: 30, mimeType: 'application/json', compression: 0, text: '{"items":[{"sku":"A1","n":2}]}' },
              redirectURL: '',
              headersSize: -1,
              bodySize: -1,
              _transferSize: 412,
              _error: null,
            },
            serverIPAddress: '93.184.215.14',
            startedDateTime: '2026-11-30T09:15:02.450Z',
            time: 43.3,
            timings,
          },
          {
            _initiator: initiator,
            _priority: 'High',
            _resourceType: 'fetch',
            cache: {},
            connection: '443',
            pageref: 'page_3',
            request: {
              method: 'POST',
              url: 'https://shop.example.com:8443/api/login',
              httpVersion: 'http/2.0',
              headers: [
                { name: ':authority', value: 'shop.example.com:8443' },
                { name: ':method', value: 'POST' },
                { name: ':path', value: '/api/login' },
                { name: ':scheme', value: 'https' },
                { name: 'content-type', value: 'application/json' },
                { name: 'x-api-key', value: 'k-123' },
              ],
              queryString: [],
              cookies: [],
              headersSize: -1,
              bodySize: 44,
              postData: { mimeType: 'application/json', text: '{"email":"ann@example.com","password":"hunter2"}' },
            },
            response: {
              status: 401,
              statusText: '',
              httpVersion: 'http/2.0',
              headers: [{ name: 'content-type', value: 'application/json' }],
              cookies: [],
              content: { size: 46, mimeType: 'application/json', text: '{"error":"bad login","refresh_token":"r-999"}' },
              redirectURL: '',
              headersSize: -1,
              bodySize: -1,
              _transferSize: 210,
              _error: null,
            },
            serverIPAddress: '93.184.215.14',
            startedDateTime: '2026-11-30T09:15:03.001Z',
            time: 120.75,
            timings,
          },
          {
            _initiator: { type: 'parser', url: 'https://shop.example.com/cart', lineNumber: 41 },
            _priority: 'Low',
            _resourceType: 'image',
            cache: {},
            connection: '443',
            pageref: 'page_3',
            request: {
              method: 'GET',
              url: 'https://shop.example.com/img/logo.png#top',
              httpVersion: 'http/2.0',
              headers: [{ name: 'accept', value: 'image/avif,image/webp,*/*' }],
              queryString: [],
              cookies: [],
              headersSize: -1,
              bodySize: 0,
            },
            response: {
              status: 200,
              statusText: '',
              httpVersion: 'http/2.0',
              headers: [{ name: 'content-type', value: 'image/png' }],
              cookies: [],
              content: { size: png.length, mimeType: 'image/png', text: png.toString('base64'), encoding: 'base64' },
              redirectURL: '',
              headersSize: -1,
              bodySize: -1,
              _transferSize: 300,
              _error: null,
            },
            serverIPAddress: '93.184.215.14',
            startedDateTime: '2026-11-30T09:15:03.200Z',
            time: 8,
            timings,
          },
        ],
      },
    },
  };
}

test('a HAR as Chrome DevTools writes it imports (from stdin too); cookies, tokens and passwords are [REDACTED]', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  await ingest(url, [sampleCapture()]);
  const { har, png } = chromeHar();
  const file = path.join(await tempDir(t), 'chrome.har');
  await writeFile(file, JSON.stringify(har, null, 2));

  const result = await runLoopctl(['import', file, '--service', 'shop'], env);
  assert.deepEqual(result, { code: 0, stdout: 'imported 3 captures (ids 2..4)\n', stderr: '' });

  const cart = await show(url, '2');
  assert.equal(cart.service, 'shop');
  assert.equal(cart.instance, 'import:chrome.har');
  assert.equal(cart.startedAt, '2026-11-30T09:15:02.450Z');
  assert.equal(cart.durationMs, 43.3);
  assert.equal(cart.destination, 'shop.example.com:443');
  assert.deepEqual(cart.request, {
    method: 'GET',
    url: '/api/cart?session_token=[REDACTED]&x=1',
    httpVersion: '2.0',
    headers: [
      ['accept', 'application/json'],
      ['authorization', '[REDACTED]'],
      ['cookie', '[REDACTED]'],
      ['referer', 'https://shop.example.com/cart?access_token=[REDACTED]'],
      ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'],
    ],
    body: null,
  });
  assert.deepEqual(cart.response.headers, [
    ['content-type', 'application/json; charset=utf-8'],
    ['set-cookie', '[REDACTED]'],
    ['date', 'Mon, 30 Nov 2026 09:15:02 GMT'],
  ]);
  assert.deepEqual(cart.redacted, [
    'request.url.query.session_token',
    'request.headers.authorization',
    'request.headers.cookie',
    'request.headers.referer.query.access_token',
    'response.headers.set-cookie',
  ]);
  assert.deepEqual(cart.rules, ['import']);
  assert.match(cart.trace.traceId, /^[0-9a-f]{32}$/);

  const login = await show(url, '3');
  assert.equal(login.destination, 'shop.example.com:8443');
  assert.deepEqual(login.request.headers, [
    ['content-type', 'application/json'],
    ['x-api-key', '[REDACTED]'],
  ]);
  assert.deepEqual(login.request.body, { encoding: 'utf8', data: '{"email":"ann@example.com","password":"[REDACTED]"}', size: 48, truncated: false });
  assert.equal(login.response.status, 401);
  assert.equal(login.response.body?.data, '{"error":"bad login","refresh_token":"[REDACTED]"}');
  assert.deepEqual(login.redacted, ['request.headers.x-api-key', 'request.body.password', 'response.body.refresh_token']);

  const logo = await show(url, '4');
  assert.equal(logo.request.url, '/img/logo.png');
  assert.deepEqual(logo.response.body, { encoding: 'base64', data: png.toString('base64'), size: png.length, truncated: false });

  const everything = JSON.stringify([cart, login, logo]);
  for (const secret of ['eyJhbGci', 'abcdef', 'abc123', 'xyz', 'hunter2', 'r-999', 'k-123', 's%3Anew']) {
    assert.ok(!everything.includes(secret), `${secret} was imported`);
  }

  const fromStdin = await runLoopctl(['import', '-'], env, 20_000, JSON.stringify(har));
  assert.deepEqual(fromStdin, { code: 0, stdout: 'imported 3 captures (ids 5..7)\n', stderr: '' });
  assert.equal((await show(url, '5')).instance, 'import:stdin');
  assert.equal((await show(url, '5')).service, 'import');

  // Browsers write status 0 for requests that got no answer (cancelled, blocked): skipped, with a warning.
  const withBlocked = { log: { ...har.log, entries: [...har.log.entries, { ...har.log.entries[0], response: { ...har.log.entries[0].response, status: 0 } }] } };
  assert.deepEqual(await runLoopctl(['import', '-'], env, 20_000, JSON.stringify(withBlocked)), {
    code: 0,
    stdout: 'imported 3 captures (ids 8..10)\n',
    stderr: 'loopctl: skipped 1 entry with status 0 (no answer: cancelled or blocked in the browser): log.entries[3]\n',
  });
});

test('a file that is not JSON, not a HAR, or has a bad entry: one line naming entry and field, exit 2, nothing imported', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  const dir = await tempDir(t);
  const { har } = chromeHar();
  const entries = har.log.entries as Array<Record<string, any>>;
  const cases: Array<[string, string, string]> = [
    [
      'nourl.har',
      JSON.stringify({ log: { ...har.log, entries: [entries[0], { ...entries[1], request: { ...entries[1]!.request, url: undefined } }] } }),
      'log.entries[1].request.url: missing; nothing was imported',
    ],
    [
      'relative.har',
      JSON.stringify({ log: { ...har.log, entries: [{ ...entries[0], request: { ...entries[0]!.request, url: '/api/cart' } }] } }),
      "log.entries[0].request.url: expected an absolute http(s) URL, got '/api/cart'; nothing was imported",
    ],
    [
      'badstatus.har',
      JSON.stringify({ log: { ...har.log, entries: [entries[0], entries[1], { ...entries[2], response: { ...entries[2]!.response, status: 42 } }] } }),
      'log.entries[2].response.status: expected an HTTP status from 100 to 999, got 42; nothing was imported',
    ],
    [
      'headers.har',
      JSON.stringify({ log: { ...har.log, entries: [{ ...entries[0], request: { ...entries[0]!.request, headers: [{ name: 'a' }] } }] } }),
      'log.entries[0].request.headers[0]: expected { name, value } strings; nothing was imported',
    ],
    [
      'nodate.har',
      JSON.stringify({ log: { ...har.log, entries: [{ ...entries[0], startedDateTime: undefined }] } }),
      'log.entries[0].startedDateTime: missing; nothing was imported',
    ],
  ];
  for (const [name, text, message] of cases) {
    const file = path.join(dir, name);
    await writeFile(file, text);
    assert.deepEqual(await runLoopctl(['import', file], env), { code: 2, stdout: '', stderr: `loopctl: ${file}: ${message}\n` }, name);
  }
  const broken = path.join(dir, 'broken.har');
  await writeFile(broken, '{"log": ');
  const notJson = await runLoopctl(['import', broken], env);
  assert.equal(notJson.code, 2);
  assert.equal(notJson.stdout, '');
  assert.match(notJson.stderr, new RegExp(`^loopctl: ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not JSON \\([^\n]+\\); nothing was imported\n$`));
  assert.deepEqual(await runLoopctl(['import', '-'], env, 20_000, '{"log": {"pages": []}}'), {
    code: 2,
    stdout: '',
    stderr: 'loopctl: <stdin> is not a HAR: expected { "log": { "entries": [...] } }; nothing was imported\n',
  });
  assert.deepEqual(await runLoopctl(['import', path.join(dir, 'missing.har')], env), {
    code: 2,
    stdout: '',
    stderr: `loopctl: cannot read ${path.join(dir, 'missing.har')} (no such file)\n`,
  });
  assert.deepEqual(await runLoopctl(['import'], env), {
    code: 2,
    stdout: '',
    stderr: "loopctl: missing required argument 'file' (see loopctl --help)\n",
  });
  assert.equal(await count(url), 0, 'nothing was imported');
});
