import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CapturedResponse } from '../../src/capture/record.js';
import {
  Pacer,
  diffResponse,
  formatJsonPath,
  learnNoise,
  parseJsonPath,
  parseRate,
  restoreSecrets,
  runPool,
  withNoise,
} from '../../src/replay/index.js';
import { sampleCapture } from '../helpers.js';

function response(body: string, headers: Array<[string, string]> = []): CapturedResponse {
  return { status: 200, headers, aborted: false, body: { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false } };
}

test('JSON paths parse, print back and match ancestors and wildcards', () => {
  assert.deepEqual(parseJsonPath('$.items[*].id'), ['items', { any: true }, 'id']);
  assert.deepEqual(parseJsonPath('$["a key"][2].b'), ['a key', 2, 'b']);
  assert.equal(formatJsonPath(['a key', 2, 'b']), '$["a key"][2].b');
  assert.throws(() => parseJsonPath('a.b'), /bad JSON path 'a\.b'/);
  assert.throws(() => parseJsonPath('$..a'), /bad JSON path/);
});

test('diffResponse: same JSON value is same; ignore paths; headers only when asked', () => {
  const captured = response('{"a":1,"b":[{"id":1},{"id":2}]}', [['X-V', '1'], ['Date', 'x']]);
  const replayed = { status: 200, headers: [['x-v', '2'], ['date', 'y']] as Array<[string, string]>, body: Buffer.from('{"b":[{"id":1},{"id":3}], "a":1}') };
  assert.deepEqual(diffResponse(captured, replayed).body?.details, ['$.b[1].id: 2 → 3']);
  assert.deepEqual(diffResponse(captured, replayed, { ignorePaths: ['$.b[*].id'] }), { same: true });
  assert.deepEqual(diffResponse(captured, replayed, { ignorePaths: ['$.b'], headers: true }), {
    same: false,
    headers: [{ name: 'x-v', captured: '1', replayed: '2' }],
  });
  assert.deepEqual(diffResponse(captured, replayed, { ignorePaths: ['$.b'], headers: true, ignoreHeaders: ['X-V'] }), { same: true });
  assert.deepEqual(diffResponse(response('{"a":1}'), { status: 200, body: Buffer.from('{ "a": 1 }') }), { same: true });
});

test('learnNoise finds what differs between identical replays', () => {
  const sample = (n: number) => ({
    headers: [['X-Id', String(n)], ['Content-Type', 'application/json']] as Array<[string, string]>,
    body: Buffer.from(JSON.stringify({ at: n, items: [{ id: n, v: 1 }], v: 1 })),
  });
  const noise = learnNoise([sample(1), sample(2), sample(3)]);
  assert.deepEqual(noise, { headers: ['x-id'], paths: ['$.at', '$.items[0].id'], lines: [], body: false });
  const text = learnNoise([{ headers: [], body: Buffer.from('a\n1\nc') }, { headers: [], body: Buffer.from('a\n2\nc') }]);
  assert.deepEqual(text.lines, [2]);
  const diff = diffResponse(response('a\n0\nc'), { status: 200, body: Buffer.from('a\n2\nc') }, withNoise({}, text));
  assert.equal(diff.same, true);
  assert.equal(learnNoise([{ headers: [], body: Buffer.from([0, 1]) }, { headers: [], body: Buffer.from([0, 2]) }]).body, true);
});

test('restoreSecrets fills placeholders only', () => {
  const body = 'user=ann&password=%5BREDACTED%5D';
  const record = restoreSecrets(
    sampleCapture({
      request: {
        url: '/x?token=[REDACTED]&keep=[REDACTED]',
        headers: [['Cookie', '[REDACTED]'], ['X-Other', 'v']],
        body: { encoding: 'utf8', data: body, size: body.length, truncated: false },
      },
    }),
    { headers: { cookie: 'sid=1', 'x-other': 'no' }, query: { TOKEN: 't' }, fields: { password: 'p w' } },
  );
  assert.equal(record.request.url, '/x?token=t&keep=[REDACTED]');
  assert.deepEqual(record.request.headers, [['Cookie', 'sid=1'], ['X-Other', 'v']]);
  assert.equal(record.request.body?.data, 'user=ann&password=p%20w');
});

test('parseRate, Pacer spacing and runPool order', async () => {
  assert.equal(parseRate('50/s'), 50);
  assert.equal(parseRate('120/m'), 2);
  assert.equal(parseRate('5'), 5);
  assert.throws(() => parseRate('0/s'), /bad rate/);
  const pacer = new Pacer(100);
  const started = performance.now();
  for (let i = 0; i < 11; i++) await pacer.take();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 95 && elapsed < 200, `10 intervals at 100/s took ${elapsed} ms`);
  const order: number[] = [];
  const results = await runPool([30, 10, 20], 3, async (ms, i) => {
    await new Promise((r) => setTimeout(r, ms));
    order.push(i);
    return i;
  });
  assert.deepEqual(results, [0, 1, 2]);
  assert.deepEqual(order, [1, 2, 0]);
});
