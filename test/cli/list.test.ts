import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ingest, runLoopctl, sampleCapture, startTestCollector } from '../helpers.js';

test('list prints the seed\'s empty table when nothing is captured', async (t) => {
  const { url } = await startTestCollector(t);
  const result = await runLoopctl(['list'], { LOOP_COLLECTOR: url });
  assert.deepEqual(result, {
    code: 0,
    stdout: [
      '+----+------+------+--------+-------------+',
      '| ID | PATH | VERB | STATUS | DESTINATION |',
      '+----+------+------+--------+-------------+',
      '+----+------+------+--------+-------------+',
      '',
    ].join('\n'),
    stderr: '',
  });
});

test('list prints one row per capture in arrival order, widths from the widest cell', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [
    sampleCapture(),
    sampleCapture({ request: { method: 'POST', url: '/api/users?id=7' }, response: { status: 503 }, destination: 'api.internal:8080' }),
    sampleCapture({ request: { method: 'DELETE', url: '/pay' }, response: { status: 404 }, destination: '' }),
  ]);
  const result = await runLoopctl(['list', '--collector', url]);
  assert.deepEqual(result, {
    code: 0,
    stdout: [
      '+----+-----------------+--------+--------+-------------------+',
      '| ID | PATH            | VERB   | STATUS | DESTINATION       |',
      '+----+-----------------+--------+--------+-------------------+',
      '|  1 | /               | GET    |    500 | web:9090          |',
      '|  2 | /api/users?id=7 | POST   |    503 | api.internal:8080 |',
      '|  3 | /pay            | DELETE |    404 |                   |',
      '+----+-----------------+--------+--------+-------------------+',
      '',
    ].join('\n'),
    stderr: '',
  });
});

test('list filters by status class, exact status, service, path, trace and limit', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [
    sampleCapture({ request: { url: '/a' } }),
    sampleCapture({ request: { url: '/b/1' }, response: { status: 503 }, service: 'payments' }),
    sampleCapture({ request: { url: '/b/2' }, response: { status: 404 }, trace: { traceId: 'feed' } }),
  ]);
  const ids = async (...args: string[]): Promise<number[]> => {
    const result = await runLoopctl(['list', '--json', ...args], { LOOP_COLLECTOR: url });
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout).captures.map((c: { seq: number }) => c.seq);
  };
  assert.deepEqual(await ids('--status', '5xx'), [1, 2]);
  assert.deepEqual(await ids('--status', '404'), [3]);
  assert.deepEqual(await ids('--service', 'payments'), [2]);
  assert.deepEqual(await ids('--path', '/b'), [2, 3]);
  assert.deepEqual(await ids('--trace', 'feed'), [3]);
  assert.deepEqual(await ids('--limit', '1'), [3]);
  assert.deepEqual(await ids('--since', '1h'), [], 'the samples started in 2025-06-01T10:00Z');
});

test('list --json prints { captures: [summary] }', async (t) => {
  const { url } = await startTestCollector(t);
  const record = sampleCapture({ route: '/', error: { name: 'Error', message: 'payments timed out' } });
  await ingest(url, [record]);
  const result = await runLoopctl(['list', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0);
  assert.deepStrictEqual(JSON.parse(result.stdout), {
    captures: [
      {
        seq: 1,
        id: record.id,
        service: 'web',
        instance: 'test-host:1234',
        startedAt: '2025-06-01T10:00:00.000Z',
        durationMs: 12.5,
        method: 'GET',
        path: '/',
        status: 500,
        destination: 'web:9090',
        route: '/',
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        aborted: false,
        error: 'payments timed out',
      },
    ],
  });
});
