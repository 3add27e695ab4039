import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ingest, runLoopctl, sampleCapture, startTestCollector } from '../helpers.js';

test('loopctl prune: dry run counts, then removes the oldest beyond --max-count, per --service; token required', async (t) => {
  const { url, collector } = await startTestCollector(t, { token: 'sekret' });
  const captures = [
    ...Array.from({ length: 4 }, () => sampleCapture({ service: 'web' })),
    ...Array.from({ length: 2 }, () => sampleCapture({ service: 'payments' })),
  ];
  assert.equal((await ingest(url, captures, 'sekret')).status, 200);
  const env = { LOOP_COLLECTOR: url, LOOP_TOKEN: 'sekret' };
  const bytesOf = (n: number): number => captures.slice(0, n).reduce((sum, c) => sum + Buffer.byteLength(JSON.stringify(c)), 0);

  assert.deepEqual(await runLoopctl(['prune', '--max-count', '1', '--service', 'web', '--dry-run'], env), {
    code: 0,
    stdout: `would remove 3 captures of service web (${bytesOf(3)} bytes)\n`,
    stderr: '',
  });
  assert.equal(await collector.store.count(), 6);
  assert.deepEqual(await runLoopctl(['prune', '--max-count', '1', '--service', 'web'], env), {
    code: 0,
    stdout: `removed 3 captures of service web (${bytesOf(3)} bytes)\n`,
    stderr: '',
  });
  assert.deepEqual(
    (await collector.store.list({})).map((s) => s.service),
    ['web', 'payments', 'payments'],
  );
  assert.equal((await runLoopctl(['prune', '--max-age', '1h'], env)).stdout, 'removed 0 captures (0 bytes)\n');
  assert.equal((await runLoopctl(['prune', '--max-bytes', '0'], { LOOP_COLLECTOR: url })).code, 2, 'no token: refused');
  assert.equal(await collector.store.count(), 3);
  assert.equal((await runLoopctl(['prune', '--max-bytes', '0'], env)).stdout.startsWith('removed 3 captures ('), true);
  assert.equal(await collector.store.count(), 0);
});
