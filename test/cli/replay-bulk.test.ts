import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CaptureRecord } from '../../src/capture/record.js';
import { httpRequest, ingest, runLoopctl, sampleCapture, startHttpServer, startTestCollector, tempDir, type CaptureOverrides } from '../helpers.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
  at: number;
}

type Answer = { status: number; body: string | Buffer; headers?: Record<string, string>; delayMs?: number };

/** An app that records what it received and answers by path (`answer(req)`), optionally after a delay. */
async function startApp(t: TestContext, answer: (req: IncomingMessage) => Answer) {
  const received: Received[] = [];
  const state = { inFlight: 0, maxInFlight: 0 };
  const app = await startHttpServer(t, (req: IncomingMessage, res: ServerResponse) => {
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString(), at: performance.now() });
      const a = answer(req);
      setTimeout(() => {
        state.inFlight--;
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(a.body);
      }, a.delayMs ?? 0);
    });
  });
  return { ...app, received, state };
}

/** A capture answered `status` with `body` (JSON text by default). */
function captured(overrides: CaptureOverrides & { status?: number; body?: string; contentType?: string } = {}): CaptureRecord {
  const { status = 500, body = '{"error":"payments timed out"}', contentType = 'application/json', ...rest } = overrides;
  return sampleCapture({
    ...rest,
    response: {
      status,
      headers: [['Content-Type', contentType]],
      body: { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false },
      ...rest.response,
    },
  });
}

/** Ingests `count` synthetic captures in batches, as the shipper would. */
async function ingestMany(url: string, count: number, make: (i: number) => CaptureRecord): Promise<void> {
  for (let start = 0; start < count; start += 100) {
    const batch = Array.from({ length: Math.min(100, count - start) }, (_, i) => make(start + i));
    const answer = await ingest(url, batch);
    assert.equal(answer.status, 200, answer.text);
  }
}

const same = (body = '{"error":"payments timed out"}'): Answer => ({ status: 500, body });

test('filters select the same captures as loopctl list; nothing matched exits 1', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => same());
  await ingest(url, [
    captured({ service: 'web', request: { url: '/pay/1' } }), // 1
    captured({ service: 'web', request: { url: '/pay/2' }, status: 404 }), // 2
    captured({ service: 'api', request: { url: '/pay/3' } }), // 3
    captured({ service: 'web', request: { url: '/cart' } }), // 4
    captured({ service: 'web', request: { url: '/pay/5' }, trace: { traceId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' } }), // 5
  ]);
  const env = { LOOP_COLLECTOR: url };
  const run = async (...filters: string[]) => {
    const result = await runLoopctl(['replay', ...filters, '--destination', app.hostPort, '--json'], env);
    assert.ok(result.code === 0 || result.code === 1, result.stderr);
    const out = JSON.parse(result.stdout);
    return (out.results ?? out.replays).map((r: { seq: number }) => r.seq);
  };
  assert.deepEqual(await run('--status', '5xx', '--service', 'web', '--path', '/pay'), [1, 5]);
  assert.deepEqual(await run('--status', '404'), [2]);
  assert.deepEqual(await run('--trace', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'), [5]);
  assert.deepEqual(await run('--status', '500', '--limit', '2'), [4, 5]);
  assert.deepEqual(await run('--since', '3650d', '--service', 'api'), [3]);
  // The captures started on 2025-06-01: none in the last hour.
  assert.equal((await runLoopctl(['replay', '--since', '1h', '--destination', app.hostPort], env)).code, 1);
  const listed = JSON.parse((await runLoopctl(['list', '--status', '5xx', '--service', 'web', '--path', '/pay', '--json'], env)).stdout);
  assert.deepEqual(listed.captures.map((c: { seq: number }) => c.seq), [1, 5]);

  const none = await runLoopctl(['replay', '--service', 'nobody', '--destination', app.hostPort], env);
  assert.deepEqual(none, { code: 1, stdout: '', stderr: 'loopctl: no capture matches the filters; nothing was replayed\n' });
  const both = await runLoopctl(['replay', '--id', '1', '--status', '5xx'], env);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^loopctl: select captures with --id or with filters .*, not both\n$/);
  const neither = await runLoopctl(['replay'], env);
  assert.equal(neither.code, 2);
  assert.equal(
    neither.stderr,
    'loopctl: say which captures: --id N (repeatable) or filters (--status 5xx, --service, --path, --since, --trace, --limit) (see loopctl --help)\n',
  );
});

test('200 captures at --rate 50/s take 4 s ± 10 %', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => same());
  await ingestMany(url, 200, (i) => captured({ request: { url: `/r/${i}` } }));
  const started = performance.now();
  const result = await runLoopctl(['replay', '--status', '5xx', '--rate', '50/s', '--concurrency', '4', '--destination', app.hostPort], { LOOP_COLLECTOR: url });
  const elapsed = (performance.now() - started) / 1000;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(app.received.length, 200);
  // From the first request sent to the last answer: 200 requests evenly spaced at 20 ms.
  const span = (app.received.at(-1)!.at - app.received[0]!.at) / 1000 + 0.02;
  assert.ok(span >= 3.6 && span <= 4.4, `200 replays at 50/s took ${span.toFixed(2)} s`);
  t.diagnostic(`first to last replay ${span.toFixed(2)} s; whole run ${elapsed.toFixed(2)} s`);
  assert.ok(elapsed >= 3.6, `the whole run took ${elapsed.toFixed(2)} s`);
  assert.match(result.stdout, /\| +200 \| +200 \| +0 \| +0 \| +0 \| +200 \|\n\+-+/);
});

test('--concurrency is honoured (default 1)', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => ({ ...same(), delayMs: 80 }));
  await ingestMany(url, 12, (i) => captured({ request: { url: `/c/${i}` } }));
  const env = { LOOP_COLLECTOR: url };
  const three = await runLoopctl(['replay', '--status', '5xx', '--concurrency', '3', '--destination', app.hostPort], env);
  assert.equal(three.code, 0, three.stderr);
  assert.equal(app.state.maxInFlight, 3);
  // Lines stay in capture order whatever order the answers came in.
  assert.deepEqual(
    [...three.stdout.matchAll(/^capture (\d+) /gm)].map((m) => Number(m[1])),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  app.state.maxInFlight = 0;
  const one = await runLoopctl(['replay', '--status', '5xx', '--limit', '4', '--destination', app.hostPort], env);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(app.state.maxInFlight, 1);
  const bad = await runLoopctl(['replay', '--id', '1', '--concurrency', '0'], env);
  assert.deepEqual(bad, { code: 2, stdout: '', stderr: "loopctl: bad --concurrency '0': use a whole number from 1 to 1000\n" });
  const badRate = await runLoopctl(['replay', '--id', '1', '--rate', 'fast'], env);
  assert.deepEqual(badRate, { code: 2, stdout: '', stderr: "loopctl: bad rate 'fast': use requests per second like 50/s (or 600/m)\n" });
});

test('the summary counts same, differs, errors, fixed and still failing; an error exits 2', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, (req) => {
    if (req.url === '/fixed') return { status: 200, body: '{"ok":true}' };
    if (req.url === '/worse') return { status: 502, body: '{"error":"bad gateway"}' };
    return same();
  });
  const dead = await startHttpServer(t, () => {});
  dead.server.close();
  dead.server.closeAllConnections();
  await ingest(url, [
    captured({ destination: app.hostPort, request: { url: '/same' } }),
    captured({ destination: app.hostPort, request: { url: '/fixed' } }),
    captured({ destination: app.hostPort, request: { url: '/worse' } }),
    captured({ destination: app.hostPort, request: { url: '/fixed' } }),
  ]);
  const env = { LOOP_COLLECTOR: url };
  const human = await runLoopctl(['replay', '--status', '5xx'], env);
  assert.equal(human.code, 1, human.stderr);
  assert.equal(human.stderr, '');
  assert.match(
    human.stdout,
    new RegExp(
      '^capture 1 GET /same: 500 → 500 same \\(\\d+ ms\\)\n' +
        'capture 2 GET /fixed: 500 → 200 differs \\(\\d+ ms\\)\n' +
        '  status: 500 → 200\n' +
        '  body: \\$\\.error: "payments timed out" → \\(missing\\)\n' +
        '  body: \\$\\.ok: \\(missing\\) → true\n' +
        'capture 3 GET /worse: 500 → 502 differs \\(\\d+ ms\\)\n' +
        '  status: 500 → 502\n' +
        '  body: \\$\\.error: "payments timed out" → "bad gateway"\n' +
        'capture 4 GET /fixed: 500 → 200 differs \\(\\d+ ms\\)\n' +
        '(  .*\n)+' +
        '\n' +
        '\\+----------\\+------\\+---------\\+--------\\+-------\\+---------------\\+\n' +
        '\\| REPLAYED \\| SAME \\| DIFFERS \\| ERRORS \\| FIXED \\| STILL FAILING \\|\n' +
        '\\+----------\\+------\\+---------\\+--------\\+-------\\+---------------\\+\n' +
        '\\|        4 \\|    1 \\|       3 \\|      0 \\|     2 \\|             2 \\|\n' +
        '\\+----------\\+------\\+---------\\+--------\\+-------\\+---------------\\+\n$',
    ),
  );

  await ingest(url, [captured({ destination: dead.hostPort, request: { url: '/gone' } })]);
  const json = await runLoopctl(['replay', '--status', '5xx', '--json'], env);
  assert.equal(json.code, 2);
  assert.match(json.stderr, new RegExp(`^loopctl: 1 of 5 replays failed \\(first: capture 5: cannot connect to the destination ${dead.hostPort} \\(connection refused\\)\\)\n$`));
  const out = JSON.parse(json.stdout);
  assert.deepEqual(out.summary, { replayed: 5, same: 1, differs: 3, errors: 1, fixed: 2, stillFailing: 2 });
  assert.deepEqual(out.results.map((r: { same?: boolean }) => r.same), [true, false, false, false, undefined]);
  assert.equal(out.results[4].error.code, 'LOOP_ERR_DESTINATION_UNREACHABLE');
  assert.equal(out.results[1].diff.status.replayed, 200);

  const allSame = await runLoopctl(['replay', '--path', '/same'], env);
  assert.equal(allSame.code, 0, allSame.stderr);
});

test('--secrets puts values back; without them the placeholder is refused', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => same());
  const body = '{"user":"ann","password":"[REDACTED]"}';
  await ingest(url, [
    captured({
      request: {
        method: 'POST',
        url: '/login?a=1&token=[REDACTED]',
        headers: [['Host', 'web:9090'], ['Authorization', '[REDACTED]'], ['Content-Type', 'application/json']],
        body: { encoding: 'utf8', data: body, size: body.length, truncated: false },
      },
    }),
  ]);
  const env = { LOOP_COLLECTOR: url };
  const refused = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^loopctl: capture 1's request holds redacted values \(request\.url, request\.headers\.authorization, request\.body\).*--secrets FILE.*--allow-redacted/);
  assert.equal(app.received.length, 0);

  const dir = await tempDir(t);
  const partial = path.join(dir, 'partial.json');
  await writeFile(partial, JSON.stringify({ headers: { authorization: 'Bearer s3cret' } }));
  const still = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort, '--secrets', partial], env);
  assert.equal(still.code, 2);
  assert.match(still.stderr, /redacted values \(request\.url, request\.body\)/);

  const file = path.join(dir, 'secrets.json');
  await writeFile(file, JSON.stringify({ headers: { Authorization: 'Bearer s3cret' }, query: { token: 'a b&c' }, fields: { password: 'hunter"2' } }));
  const sent = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort, '--secrets', file], env);
  assert.equal(sent.code, 0, sent.stderr);
  const r = app.received[0]!;
  assert.equal(r.url, '/login?a=1&token=a%20b%26c');
  assert.equal(r.headers.authorization, 'Bearer s3cret');
  assert.equal(r.body, '{"user":"ann","password":"hunter\\"2"}');
  assert.equal(r.headers['content-length'], String(Buffer.byteLength(r.body)));

  const broken = path.join(dir, 'broken.json');
  await writeFile(broken, '{"headers": {"x": 1}}');
  const bad = await runLoopctl(['replay', '--id', '1', '--secrets', broken], env);
  assert.deepEqual(bad, { code: 2, stdout: '', stderr: `loopctl: ${broken}: headers.x must be a string\n` });
});

test('bulk replay of POST/PUT/PATCH/DELETE needs --allow-unsafe', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => same());
  await ingest(url, [captured(), captured({ request: { method: 'DELETE', url: '/orders/7' } })]);
  const env = { LOOP_COLLECTOR: url };
  const refused = await runLoopctl(['replay', '--status', '5xx', '--destination', app.hostPort], env);
  assert.deepEqual(refused, {
    code: 2,
    stdout: '',
    stderr:
      'loopctl: 1 of the 2 captures is a POST/PUT/PATCH/DELETE request (capture 2: DELETE /orders/7), which a bulk replay would send again with their side effects; pass --allow-unsafe to send them anyway\n',
  });
  assert.equal(app.received.length, 0);
  const single = await runLoopctl(['replay', '--id', '2', '--destination', app.hostPort], env);
  assert.equal(single.code, 0, single.stderr);
  const allowed = await runLoopctl(['replay', '--status', '5xx', '--allow-unsafe', '--destination', app.hostPort], env);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.deepEqual(app.received.map((r) => r.method), ['DELETE', 'GET', 'DELETE']);
});

test('JSON bodies diff structurally; --ignore leaves paths out', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => ({
    status: 500,
    body: JSON.stringify({ at: 'now', items: [{ v: 1, id: 'x' }, { id: 'y', v: 2 }], error: 'boom' }),
  }));
  await ingest(url, [captured({ body: '{ "error": "boom", "items": [{"id": "a", "v": 1}, {"id": "b", "v": 2}], "at": "then" }' })]);
  const env = { LOOP_COLLECTOR: url };
  const differs = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort, '--json'], env);
  assert.equal(differs.code, 1, differs.stderr);
  assert.deepEqual(JSON.parse(differs.stdout).replays[0].diff.body.details, [
    '$.items[0].id: "a" → "x"',
    '$.items[1].id: "b" → "y"',
    '$.at: "then" → "now"',
  ]);
  const ignored = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort, '--ignore', '$.items[*].id', '--ignore', '$.at'], env);
  assert.equal(ignored.code, 0, ignored.stdout);
  assert.match(ignored.stdout, /\nsame as captured\n/);
  const bad = await runLoopctl(['replay', '--id', '1', '--ignore', 'items.id'], env);
  assert.deepEqual(bad, {
    code: 2,
    stdout: '',
    stderr: "loopctl: bad JSON path 'items.id': use a JSONPath like $.a.b, $.items[*].id, $.items[0] or $[\"a key\"]\n",
  });
});

test('text bodies diff by line, binary by bytes, headers by value with volatile ones ignored', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, (req): Answer => {
    if (req.url === '/text') return { status: 200, body: 'one\ntwo\nTHREE\nfour\n', headers: { 'content-type': 'text/plain', etag: '"new"' } };
    if (req.url === '/bin') return { status: 200, body: Buffer.from([0, 1, 9, 3]), headers: { 'content-type': 'application/octet-stream' } };
    return { status: 200, body: 'same', headers: { 'content-type': 'text/plain', 'x-version': '2', 'x-request-id': randomUUID() } };
  });
  const bin = Buffer.from([0, 1, 2, 3]);
  await ingest(url, [
    captured({ request: { url: '/text' }, status: 200, body: 'one\ntwo\nthree\nfour\n', contentType: 'text/plain' }),
    captured({
      request: { url: '/bin' },
      response: {
        status: 200,
        headers: [['Content-Type', 'application/octet-stream']],
        body: { encoding: 'base64', data: bin.toString('base64'), size: 4, truncated: false },
      },
    }),
    captured({
      request: { url: '/hdr' },
      response: { status: 200, headers: [['Content-Type', 'text/plain'], ['X-Version', '1'], ['Date', 'Sun, 01 Jun 2025 10:00:00 GMT']], body: { encoding: 'utf8', data: 'same', size: 4, truncated: false } },
    }),
  ]);
  const env = { LOOP_COLLECTOR: url };
  const result = await runLoopctl(['replay', '--since', '3650d', '--destination', app.hostPort, '--json'], env);
  assert.equal(result.code, 1, result.stderr);
  const { results, summary } = JSON.parse(result.stdout);
  assert.deepEqual(results[0].diff, { same: false, body: { captured: 19, replayed: 19, details: ['line 3: "three" → "THREE"'] } });
  assert.deepEqual(results[1].diff, { same: false, body: { captured: 4, replayed: 4, details: ['4 bytes each, first difference at byte 2'] } });
  assert.deepEqual(results[2].diff, { same: false, headers: [{ name: 'x-version', captured: '1', replayed: '2' }] });
  assert.deepEqual(summary, { replayed: 3, same: 0, differs: 3, errors: 0, fixed: 0, stillFailing: 0 });

  const human = await runLoopctl(['replay', '--id', '3', '--destination', app.hostPort], env);
  assert.match(human.stdout, /\ndiffers from captured:\n  header x-version: "1" → "2"\n\nsame\n$/);
  const ignored = await runLoopctl(['replay', '--id', '3', '--destination', app.hostPort, '--ignore-header', 'X-Version'], env);
  assert.equal(ignored.code, 0, ignored.stdout);
});

test('--learn-noise ignores a timestamp and a random id that change on every answer', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => ({
    status: 200,
    body: JSON.stringify({ at: new Date().toISOString(), requestId: randomUUID(), value: 42 }),
    headers: { 'x-trace-token': randomUUID() },
  }));
  const response = (value: number) => ({
    status: 200,
    headers: [['Content-Type', 'application/json'], ['X-Trace-Token', 'old']] as Array<[string, string]>,
    body: { encoding: 'utf8' as const, data: JSON.stringify({ at: '2025-06-01T10:00:00.000Z', requestId: 'r-1', value }), size: 0, truncated: false },
  });
  await ingest(url, [captured({ response: response(42) }), captured({ response: response(41) })]);
  const env = { LOOP_COLLECTOR: url };
  const noisy = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort], env);
  assert.equal(noisy.code, 1);
  assert.match(noisy.stdout, /header x-trace-token: "old" → ".*"\n  body: \$\.at: .*\n  body: \$\.requestId: "r-1" → /);

  app.received.length = 0;
  const learned = await runLoopctl(['replay', '--id', '1', '--learn-noise', '2', '--destination', app.hostPort], env);
  assert.equal(learned.code, 0, learned.stdout);
  assert.match(learned.stdout, /\nsame as captured\nignored as noise: header x-trace-token, \$\.at, \$\.requestId\n/);
  assert.equal(app.received.length, 3, 'two extra replays, then the one compared');

  // Noise hides only what changes between identical replays: a real difference still shows.
  const real = await runLoopctl(['replay', '--since', '3650d', '--learn-noise', '1', '--destination', app.hostPort, '--json'], env);
  assert.equal(real.code, 1, real.stderr);
  const out = JSON.parse(real.stdout);
  assert.equal(out.results[0].same, true);
  assert.deepEqual(out.results[1].diff.body.details, ['$.value: 41 → 42']);
});

test('--header replaces or adds headers, --keep-host keeps Host, every replay starts a new trace', async (t) => {
  const { url } = await startTestCollector(t);
  const app = await startApp(t, () => same());
  await ingest(url, [captured({ request: { headers: [['Host', 'web:9090'], ['Accept', '*/*'], ['tracestate', 'a=1']] } })]);
  const env = { LOOP_COLLECTOR: url };
  const result = await runLoopctl(
    ['replay', '--id', '1', '--destination', app.hostPort, '--keep-host', '--header', 'accept: text/plain', '--header', 'X-Env: staging', '--json'],
    env,
  );
  assert.equal(result.code, 0, result.stderr);
  const traceId = JSON.parse(result.stdout).replays[0].traceId;
  const raw = app.received[0]!.rawHeaders;
  const id = (await httpRequest(`${url}/v1/captures/1`)).json().id;
  assert.deepEqual(raw.slice(0, -2), ['Host', 'web:9090', 'accept', 'text/plain', 'traceparent', raw[5]!, 'loop-replay', id, 'X-Env', 'staging']);
  assert.match(raw[5]!, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
});
