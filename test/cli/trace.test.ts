import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaptureRecord } from '../../src/capture/record.js';
import { ingest, refusedUrl, runLoopctl, sampleCapture, startTestCollector } from '../helpers.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';

/**
 * One failing checkout across three services, as their loop()s record it: gateway (no traceparent
 * came in, so it started the trace) calls web, web calls payments (502) and an audit service that is
 * down (no capture, connection refused). Each outgoing call has its own span id, which the callee
 * sees as its parent span.
 */
function checkout(): { gateway: CaptureRecord; web: CaptureRecord; payments: CaptureRecord } {
  const gateway = sampleCapture({
    service: 'gateway',
    instance: 'gw-1:401',
    startedAt: '2025-06-01T10:00:00.000Z',
    durationMs: 320.6,
    destination: '127.0.0.1:8080',
    route: '/checkout',
    trace: { traceId: TRACE, spanId: 'b7ad6b7169203331' },
    request: { url: '/checkout', headers: [['Host', '127.0.0.1:8080']] },
    response: { status: 502, statusMessage: 'Bad Gateway' },
    outbound: [{ spanId: '5fb397be34d26b51', method: 'GET', url: 'http://127.0.0.1:9090/', status: 500, durationMs: 315.24 }],
  });
  const web = sampleCapture({
    service: 'web',
    instance: 'web-1:77',
    startedAt: '2025-06-01T10:00:00.002Z',
    durationMs: 312.4,
    destination: '127.0.0.1:9090',
    route: '/',
    trace: { traceId: TRACE, spanId: 'e457b5a2e4d86bd1', parentSpanId: '5fb397be34d26b51' },
    request: {
      headers: [
        ['Host', '127.0.0.1:9090'],
        ['traceparent', `00-${TRACE}-5fb397be34d26b51-01`],
      ],
    },
    error: { name: 'Error', message: 'payments answered 502\nwith a body', stack: 'Error: payments answered 502\n    at charge (/app/web.js:9:11)' },
    outbound: [
      { spanId: '8d1f6b5c3a2e4f10', method: 'POST', url: 'http://127.0.0.1:9091/charge', status: 502, durationMs: 300.1 },
      {
        spanId: '2c9e0d4b7a6f5e31',
        method: 'GET',
        url: 'http://127.0.0.1:9092/audit',
        durationMs: 1.2,
        error: { name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9092', code: 'ECONNREFUSED' },
      },
    ],
  });
  const payments = sampleCapture({
    service: 'payments',
    instance: 'pay-1:12',
    startedAt: '2025-06-01T10:00:00.010Z',
    durationMs: 298.7,
    destination: '127.0.0.1:9091',
    route: '/charge',
    trace: { traceId: TRACE, spanId: 'a3ce929d0e0e4736', parentSpanId: '8d1f6b5c3a2e4f10' },
    request: { method: 'POST', url: '/charge', headers: [['Host', '127.0.0.1:9091']] },
    response: { status: 502, statusMessage: 'Bad Gateway' },
  });
  return { gateway, web, payments };
}

const CHECKOUT_TREE = [
  `trace ${TRACE}  (3 captures, 3 services)`,
  'gateway  GET /checkout  → 502  320.6 ms  route /checkout  capture 3',
  '└─ GET http://127.0.0.1:9090/ → 500  315.2 ms',
  '   └─ web  GET /  → 500  312.4 ms  route /  capture 2  error Error: payments answered 502',
  '      ├─ POST http://127.0.0.1:9091/charge → 502  300.1 ms',
  '      │  └─ payments  POST /charge  → 502  298.7 ms  route /charge  capture 1',
  '      └─ GET http://127.0.0.1:9092/audit → error ECONNREFUSED  1.2 ms',
  '',
].join('\n');

/** A collector holding the checkout trace, shipped the way it arrives (innermost first), and another trace. */
async function checkoutCollector(t: import('node:test').TestContext) {
  const { url } = await startTestCollector(t);
  const hops = checkout();
  const other = sampleCapture({ trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' } });
  const res = await ingest(url, [hops.payments, hops.web, hops.gateway, other]);
  assert.equal(res.status, 200, res.text);
  return { url, hops };
}

test('trace prints the hops of a trace as a tree: gateway → web → payments, and a call nobody captured', async (t) => {
  const { url } = await checkoutCollector(t);
  assert.deepEqual(await runLoopctl(['trace', TRACE], { LOOP_COLLECTOR: url }), { code: 0, stdout: CHECKOUT_TREE, stderr: '' });
});

test('trace finds the trace from a capture: display id, nanoid, or a traceparent value', async (t) => {
  const { url, hops } = await checkoutCollector(t);
  const found = { code: 0, stdout: CHECKOUT_TREE, stderr: '' };
  assert.deepEqual(await runLoopctl(['trace', '2'], { LOOP_COLLECTOR: url }), found, 'by seq');
  assert.deepEqual(await runLoopctl(['trace', hops.payments.id], { LOOP_COLLECTOR: url }), found, 'by nanoid');
  assert.deepEqual(await runLoopctl(['trace', TRACE.toUpperCase()], { LOOP_COLLECTOR: url }), found, 'upper-case trace id');
  assert.deepEqual(await runLoopctl(['trace', `00-${TRACE}-5fb397be34d26b51-01`], { LOOP_COLLECTOR: url }), found, 'traceparent');
});

test('trace --json prints the nested hops', async (t) => {
  const { url, hops } = await checkoutCollector(t);
  const result = await runLoopctl(['trace', TRACE, '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.deepStrictEqual(JSON.parse(result.stdout), {
    traceId: TRACE,
    total: 3,
    truncated: false,
    services: ['gateway', 'web', 'payments'],
    roots: [
      {
        seq: 3,
        id: hops.gateway.id,
        service: 'gateway',
        instance: 'gw-1:401',
        startedAt: '2025-06-01T10:00:00.000Z',
        durationMs: 320.6,
        method: 'GET',
        url: '/checkout',
        status: 502,
        aborted: false,
        route: '/checkout',
        destination: '127.0.0.1:8080',
        spanId: 'b7ad6b7169203331',
        calls: [
          {
            spanId: '5fb397be34d26b51',
            method: 'GET',
            url: 'http://127.0.0.1:9090/',
            status: 500,
            durationMs: 315.24,
            downstream: [
              {
                seq: 2,
                id: hops.web.id,
                service: 'web',
                instance: 'web-1:77',
                startedAt: '2025-06-01T10:00:00.002Z',
                durationMs: 312.4,
                method: 'GET',
                url: '/',
                status: 500,
                aborted: false,
                route: '/',
                destination: '127.0.0.1:9090',
                spanId: 'e457b5a2e4d86bd1',
                parentSpanId: '5fb397be34d26b51',
                error: { name: 'Error', message: 'payments answered 502\nwith a body' },
                calls: [
                  {
                    spanId: '8d1f6b5c3a2e4f10',
                    method: 'POST',
                    url: 'http://127.0.0.1:9091/charge',
                    status: 502,
                    durationMs: 300.1,
                    downstream: [
                      {
                        seq: 1,
                        id: hops.payments.id,
                        service: 'payments',
                        instance: 'pay-1:12',
                        startedAt: '2025-06-01T10:00:00.010Z',
                        durationMs: 298.7,
                        method: 'POST',
                        url: '/charge',
                        status: 502,
                        aborted: false,
                        route: '/charge',
                        destination: '127.0.0.1:9091',
                        spanId: 'a3ce929d0e0e4736',
                        parentSpanId: '8d1f6b5c3a2e4f10',
                        calls: [],
                      },
                    ],
                  },
                  {
                    spanId: '2c9e0d4b7a6f5e31',
                    method: 'GET',
                    url: 'http://127.0.0.1:9092/audit',
                    durationMs: 1.2,
                    error: { name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9092', code: 'ECONNREFUSED' },
                    downstream: [],
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  });
});

test('several roots, by start time: callers without loop(), and links that go round in a circle', async (t) => {
  const { url } = await startTestCollector(t);
  const trace = '9f3c1e2d4b5a69788796a5b4c3d2e1f0';
  // A batch job without loop() called orders and then inventory: their parent spans match nothing.
  const inventory = sampleCapture({
    service: 'inventory',
    startedAt: '2025-06-01T10:00:01.000Z',
    durationMs: 4,
    route: '/stock/:sku',
    trace: { traceId: trace, spanId: '1111111111111111', parentSpanId: 'aaaaaaaaaaaaaaaa' },
    request: { url: '/stock/42' },
    response: { status: 503 },
  });
  const orders = sampleCapture({
    service: 'orders',
    startedAt: '2025-06-01T10:00:00.500Z',
    durationMs: 50,
    trace: { traceId: trace, spanId: '2222222222222222', parentSpanId: 'bbbbbbbbbbbbbbbb' },
    request: { method: 'PUT', url: '/orders/7?notify=1' },
    response: { status: 500, aborted: true },
    outbound: [{ spanId: '3333333333333333', method: 'GET', url: 'http://inventory:80/stock/42' }],
  });
  // Inconsistent records whose spans point at each other still print, each once.
  const left = sampleCapture({
    service: 'left',
    startedAt: '2025-06-01T10:00:02.000Z',
    durationMs: 1,
    trace: { traceId: trace, spanId: '4444444444444444', parentSpanId: '6666666666666666' },
    outbound: [{ spanId: '5555555555555555', method: 'GET', url: 'http://right/', status: 500, durationMs: 1 }],
  });
  const right = sampleCapture({
    service: 'right',
    startedAt: '2025-06-01T10:00:03.000Z',
    durationMs: 1,
    trace: { traceId: trace, spanId: '7777777777777777', parentSpanId: '5555555555555555' },
    outbound: [{ spanId: '6666666666666666', method: 'GET', url: 'http://left/', status: 500, durationMs: 1 }],
  });
  await ingest(url, [inventory, orders, right, left]);
  assert.deepEqual(await runLoopctl(['trace', trace], { LOOP_COLLECTOR: url }), {
    code: 0,
    stdout: [
      `trace ${trace}  (4 captures, 4 services)`,
      'orders  PUT /orders/7?notify=1  → 500 (aborted)  50 ms  capture 2',
      '└─ GET http://inventory:80/stock/42 → no response',
      '',
      'inventory  GET /stock/42  → 503  4 ms  route /stock/:sku  capture 1',
      '',
      'left  GET /  → 500  1 ms  capture 4',
      '└─ GET http://right/ → 500  1 ms',
      '   └─ right  GET /  → 500  1 ms  capture 3',
      '      └─ GET http://left/ → 500  1 ms',
      '',
    ].join('\n'),
    stderr: '',
  });
});

test('nothing matched: unknown trace id, display id or capture id; exit 1 with one line', async (t) => {
  const { url } = await checkoutCollector(t);
  const nothing = (stderr: string) => ({ code: 1, stdout: '', stderr: `loopctl: ${stderr}\n` });
  const unknown = 'ffffffffffffffffffffffffffffffff';
  assert.deepEqual(await runLoopctl(['trace', unknown], { LOOP_COLLECTOR: url }), nothing(`no capture has trace id ${unknown}`));
  assert.deepEqual(await runLoopctl(['trace', '42'], { LOOP_COLLECTOR: url }), nothing('no capture with id 42'));
  assert.deepEqual(await runLoopctl(['trace', 'V1StGXR8_Z5jdHi6B-myT'], { LOOP_COLLECTOR: url }), nothing('no capture with id V1StGXR8_Z5jdHi6B-myT'));
  // A nanoid may start with '-' (1 in 64 do): it is an id, not an unknown option.
  assert.deepEqual(await runLoopctl(['trace', '-5tkr_zgFKMQv5hxW6uGC'], { LOOP_COLLECTOR: url }), nothing('no capture with id -5tkr_zgFKMQv5hxW6uGC'));
  // A trace id that lost a digit is looked up as a capture id, and the message says what is wrong.
  assert.deepEqual(
    await runLoopctl(['trace', TRACE.slice(1)], { LOOP_COLLECTOR: url }),
    nothing(`no capture with id ${TRACE.slice(1)}; a trace id has 32 hex digits, and this has 31`),
  );
});

test('a capture without a usable trace id: exit 1, pointing at loopctl show', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [sampleCapture({ trace: { traceId: 'feed' } })]);
  assert.deepEqual(await runLoopctl(['trace', '1'], { LOOP_COLLECTOR: url }), {
    code: 1,
    stdout: '',
    stderr:
      "loopctl: capture 1 has trace id 'feed', which is not a W3C trace id, so no other capture links to it; loopctl show --id 1 prints it\n",
  });
});

test('malformed ids and a missing id are usage errors: exit 2, nothing asked of the collector', async (t) => {
  // No collector listens: a usage error must be found before any request.
  const url = await refusedUrl();
  const env = { LOOP_COLLECTOR: url };
  assert.deepEqual(await runLoopctl(['trace', 'no such id!'], env), {
    code: 2,
    stdout: '',
    stderr: "loopctl: bad id 'no such id!': give a trace id (32 hex digits), a display id from loopctl list, or a capture id\n",
  });
  assert.deepEqual(await runLoopctl(['trace', '0'.repeat(32)], env), {
    code: 2,
    stdout: '',
    stderr: `loopctl: bad trace id '${'0'.repeat(32)}': an all-zero trace id is invalid (W3C Trace Context)\n`,
  });
  assert.deepEqual(await runLoopctl(['trace'], env), {
    code: 2,
    stdout: '',
    stderr: "loopctl: missing required argument 'id' (see loopctl --help)\n",
  });
  await t.test('an unreachable collector is a runtime error, exit 2', async () => {
    const result = await runLoopctl(['trace', TRACE], env);
    assert.equal(result.code, 2);
    assert.ok(result.stderr.startsWith(`loopctl: cannot reach the collector at ${url} (connection refused)`), result.stderr);
  });
});

test('a trace of more captures than the collector answers says that it was cut', async (t) => {
  const { url } = await startTestCollector(t);
  const trace = '5e1a7c3b9d2f4e6a8b0c1d2e3f4a5b6c';
  // A client that sends one fixed traceparent with every request: 1001 roots of one trace.
  const captures = Array.from({ length: 1001 }, (_, i) =>
    sampleCapture({
      startedAt: new Date(Date.UTC(2025, 5, 1, 10) + i * 1000).toISOString(),
      trace: { traceId: trace, spanId: (i + 1).toString(16).padStart(16, '0'), parentSpanId: 'cccccccccccccccc' },
      request: { url: `/poll?n=${i}` },
    }),
  );
  // The newest first, so that start time, not arrival, decides which are kept.
  assert.equal((await ingest(url, captures.reverse())).status, 200);
  const result = await runLoopctl(['trace', trace], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 3), [
    `trace ${trace}  (1000 captures, 1 service)`,
    'showing the earliest 1000 of 1001 captures: the collector answers at most 1000 per trace',
    'web  GET /poll?n=0  → 500  12.5 ms  capture 1001',
  ]);
  assert.equal(lines.at(-2), 'web  GET /poll?n=999  → 500  12.5 ms  capture 2');
  const json = JSON.parse((await runLoopctl(['trace', trace, '--json'], { LOOP_COLLECTOR: url })).stdout);
  assert.deepEqual([json.total, json.truncated, json.roots.length], [1001, true, 1000]);
});

test('list --trace lists the captures of the trace', async (t) => {
  const { url, hops } = await checkoutCollector(t);
  const result = await runLoopctl(['list', '--trace', TRACE, '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    JSON.parse(result.stdout).captures.map((c: { seq: number; id: string }) => [c.seq, c.id]),
    [
      [1, hops.payments.id],
      [2, hops.web.id],
      [3, hops.gateway.id],
    ],
  );
});

test('trace sends the token like every command', async (t) => {
  const { url } = await startTestCollector(t, { token: 'right' });
  await ingest(url, Object.values(checkout()).reverse(), 'right');
  assert.deepEqual(await runLoopctl(['trace', TRACE], { LOOP_COLLECTOR: url, LOOP_TOKEN: 'right' }), {
    code: 0,
    stdout: CHECKOUT_TREE,
    stderr: '',
  });
  assert.deepEqual(await runLoopctl(['trace', TRACE], { LOOP_COLLECTOR: url }), {
    code: 2,
    stdout: '',
    stderr: 'loopctl: the collector refused the token; pass --token or set LOOP_TOKEN\n',
  });
});
