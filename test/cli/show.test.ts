import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ingest, runLoopctl, sampleCapture, startTestCollector } from '../helpers.js';

function failingPayment() {
  const body = JSON.stringify({ user: 'ann', password: '[REDACTED]' });
  return sampleCapture({
    route: '/pay',
    request: {
      method: 'POST',
      url: '/pay?x=1',
      headers: [
        ['Host', 'web:9090'],
        ['Content-Type', 'application/json'],
        ['Authorization', '[REDACTED]'],
      ],
      body: { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false },
    },
    error: {
      name: 'TimeoutError',
      message: 'payments timed out',
      stack: 'TimeoutError: payments timed out\n    at pay (/app/web.js:10:5)\n    at process (/app/web.js:4:3)',
    },
    outbound: [{ method: 'POST', url: 'http://payments:8080/charge', status: 504, durationMs: 3000 }],
    redacted: ['request.headers.authorization', 'request.body.password'],
  });
}

test('show prints the whole capture readably: summary, headers, pretty JSON bodies, stack', async (t) => {
  const { url } = await startTestCollector(t);
  const record = failingPayment();
  await ingest(url, [record]);
  const result = await runLoopctl(['show', '--id', '1'], { LOOP_COLLECTOR: url });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 0);
  assert.equal(
    result.stdout,
    [
      `capture 1 (${record.id})`,
      'time:        2025-06-01T10:00:00.000Z',
      'service:     web (instance test-host:1234)',
      'duration:    12.5 ms',
      'trace:       4bf92f3577b34da6a3ce929d0e0e4736 (span 00f067aa0ba902b7)',
      'route:       /pay',
      'destination: web:9090',
      'rules:       default',
      'client:      127.0.0.1',
      '',
      '> POST /pay?x=1 HTTP/1.1',
      '> Host: web:9090',
      '> Content-Type: application/json',
      '> Authorization: [REDACTED]',
      '>',
      '{',
      '  "user": "ann",',
      '  "password": "[REDACTED]"',
      '}',
      '',
      '< HTTP/1.1 500 Internal Server Error',
      '< Content-Type: application/json',
      '< Content-Length: 30',
      '<',
      '{',
      '  "error": "payments timed out"',
      '}',
      '',
      'error: TimeoutError: payments timed out',
      '    at pay (/app/web.js:10:5)',
      '    at process (/app/web.js:4:3)',
      '',
      'outbound calls:',
      '  POST http://payments:8080/charge → 504 in 3000 ms',
      '',
      'redacted: request.headers.authorization, request.body.password',
      '',
    ].join('\n'),
  );
});

test('show marks binary and truncated bodies, and finds a capture by its nanoid', async (t) => {
  const { url } = await startTestCollector(t);
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
  const text = 'é'.repeat(10);
  const record = sampleCapture({
    request: { body: { encoding: 'base64', data: png.toString('base64'), size: 2048, truncated: true } },
    // Cut inside the last "é": the kept text is still shown as text.
    response: { body: { encoding: 'base64', data: Buffer.from(text).subarray(0, 19).toString('base64'), size: 20, truncated: true } },
  });
  await ingest(url, [record]);
  const result = await runLoopctl(['show', '--id', record.id], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0, result.stderr);
  assert.ok(
    result.stdout.includes(
      ['>', '<2048 bytes binary>', 'hex: 89 50 4e 47 0d 0a 1a 0a 00 00 00 0d 49 48 44 52', '(first 16 of 2048 bytes)'].join('\n'),
    ),
    result.stdout,
  );
  assert.ok(result.stdout.includes(['<', 'ééééééééé', '(first 19 of 20 bytes)'].join('\n')), result.stdout);
});

test('show --json prints the record with its seq', async (t) => {
  const { url } = await startTestCollector(t);
  const record = failingPayment();
  await ingest(url, [sampleCapture(), record]);
  const result = await runLoopctl(['show', '--id', '2', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0);
  assert.deepStrictEqual(JSON.parse(result.stdout), { ...record, seq: 2 });
});
