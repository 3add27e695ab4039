import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { ingest, runLoopctl, sampleCapture, startHttpServer, startTestCollector } from '../helpers.js';

interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

/** A stand-in for the app: records what it received, answers what `answer` says. */
async function startApp(t: import('node:test').TestContext, answer: { status: number; body: string }) {
  const received: Received[] = [];
  const app = await startHttpServer(t, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  return { ...app, received, answer };
}

const capturedBody = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x00, 0xff]); // `{"a":1}` + 2 binary bytes

function capturedPost() {
  const body = '{"error":"payments timed out"}';
  return sampleCapture({
    request: {
      method: 'POST',
      url: '/pay/7?currency=EUR&x=%20y',
      headers: [
        ['Host', 'web:9090'],
        ['X-First', 'one'],
        ['Connection', 'keep-alive, X-Hop'],
        ['X-Hop', 'drop me'],
        ['Content-Type', 'application/octet-stream'],
        ['Keep-Alive', 'timeout=5'],
        ['Content-Length', '999'],
        ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
        ['X-Last', 'two'],
      ],
      body: { encoding: 'base64', data: capturedBody.toString('base64'), size: capturedBody.length, truncated: false },
    },
    response: {
      status: 500,
      headers: [['Content-Type', 'application/json']],
      body: { encoding: 'utf8', data: body, size: body.length, truncated: false },
    },
  });
}

test('replay sends the captured request exactly, and exits 0 when the answer is the same', async (t) => {
  const { url } = await startTestCollector(t);
  const record = capturedPost();
  await ingest(url, [record]);
  const app = await startApp(t, { status: 500, body: '{"error":"payments timed out"}' });

  const result = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort], { LOOP_COLLECTOR: url });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.match(
    result.stdout,
    new RegExp(
      `^replayed capture 1 \\(POST /pay/7\\?currency=EUR&x=%20y\\) to ${app.hostPort}: 500 Internal Server Error in \\d+ ms\n` +
        'same as captured\n\n' +
        '\\{"error":"payments timed out"\\}\n$',
    ),
  );
  // The captured traceparent's place now holds a new trace's: a replay is a trace of its own.
  const sent = app.received[0]!.rawHeaders;
  const traceparent = sent[sent.indexOf('traceparent') + 1]!;
  assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.notEqual(traceparent.slice(3, 35), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.deepStrictEqual(app.received, [
    {
      method: 'POST',
      url: '/pay/7?currency=EUR&x=%20y',
      rawHeaders: [
        'Host', app.hostPort,
        'X-First', 'one',
        'Content-Type', 'application/octet-stream',
        'Content-Length', String(capturedBody.length),
        'traceparent', traceparent,
        'X-Last', 'two',
        'loop-replay', record.id,
        // Added by Node for a one-off connection: the only header loopctl did not take from the capture.
        'Connection', 'close',
      ],
      body: capturedBody,
    },
  ]);
});

test('replay says what differs and exits 1 when the app now answers 200', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [capturedPost()]);
  const app = await startApp(t, { status: 200, body: '{"ok":true}' });
  const result = await runLoopctl(['replay', '--id', '1', '--destination', `http://${app.hostPort}`], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stdout,
    new RegExp(
      `^replayed capture 1 \\(POST /pay/7\\?currency=EUR&x=%20y\\) to http://${app.hostPort}: 200 OK in \\d+ ms\n` +
        'differs from captured:\n' +
        '  status: 500 → 200\n' +
        '  body: \\$\\.error: "payments timed out" → \\(missing\\)\n' +
        '  body: \\$\\.ok: \\(missing\\) → true\n\n' +
        '\\{"ok":true\\}\n$',
    ),
  );
});

test('replay goes to the capture\'s own destination by default; text bodies diff by first line', async (t) => {
  const app = await startHttpServer(t, (_req, res) => res.end('line one\nline 2 changed\n'));
  const { url } = await startTestCollector(t);
  await ingest(url, [
    sampleCapture({
      destination: app.hostPort,
      response: {
        status: 200,
        statusMessage: 'OK',
        headers: [],
        body: { encoding: 'utf8', data: 'line one\nline two\n', size: 18, truncated: false },
      },
    }),
  ]);
  const result = await runLoopctl(['replay', '--id', '1', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 1, result.stderr);
  const { replays } = JSON.parse(result.stdout);
  assert.equal(replays.length, 1);
  assert.equal(replays[0].destination, app.hostPort);
  assert.deepStrictEqual(replays[0].diff, {
    same: false,
    body: { captured: 18, replayed: 24, details: ['line 2: "line two" → "line 2 changed"'] },
  });
});

test('a truncated captured body: replay warns, sends the kept bytes, compares the kept prefix', async (t) => {
  const app = await startApp(t, { status: 500, body: 'abcdefgh-and-more-than-captured' });
  const { url } = await startTestCollector(t);
  await ingest(url, [
    sampleCapture({
      request: { method: 'PUT', headers: [['Host', 'x']], body: { encoding: 'utf8', data: 'kept', size: 100, truncated: true } },
      response: { body: { encoding: 'utf8', data: 'abcdefgh', size: 31, truncated: true } },
    }),
  ]);
  const result = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0);
  assert.equal(result.stderr, "loopctl: warning: capture 1's request body was truncated; sending the 4 kept bytes of 100\n");
  assert.equal(app.received[0]!.body.toString(), 'kept');
});

test('several --id are replayed in order; a replay of a redacted request needs --allow-redacted', async (t) => {
  const app = await startApp(t, { status: 500, body: '{"error":"payments timed out"}' });
  const { url } = await startTestCollector(t);
  await ingest(url, [
    sampleCapture(),
    sampleCapture({ request: { url: '/?token=[REDACTED]', headers: [['Authorization', '[REDACTED]']] } }),
  ]);
  const refused = await runLoopctl(['replay', '--id', '1', '--id', '2', '--destination', app.hostPort], { LOOP_COLLECTOR: url });
  assert.deepEqual(refused, {
    code: 2,
    stdout: '',
    stderr:
      "loopctl: capture 2's request holds redacted values (request.url, request.headers.authorization), so the replay would send [REDACTED] instead of them; pass --secrets FILE to put the values back, or --allow-redacted to send it anyway\n",
  });
  assert.equal(app.received.length, 0, 'nothing is sent when one capture is refused');

  const allowed = await runLoopctl(['replay', '--id', '1', '--id', '2', '--allow-redacted', '--destination', app.hostPort], {
    LOOP_COLLECTOR: url,
  });
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.deepEqual(
    app.received.map((r) => r.url),
    ['/', '/?token=[REDACTED]'],
  );
  assert.match(
    allowed.stdout,
    /^capture 1 GET \/: 500 → 500 same \(\d+ ms\)\ncapture 2 GET \/\?token=\[REDACTED\]: 500 → 500 same \(\d+ ms\)\n\n\+-/,
  );
});
