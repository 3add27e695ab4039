/**
 * The 60-second form of `npm run soak` (bench/soak.mjs, 10 minutes): an Express app behind loop() at
 * steady load, 1 % of requests failing and shipped to a real `loopctl serve` that is killed (SIGKILL)
 * and started again twice. The heap after forced GCs returns to its baseline ± 10 %, no listener-leak
 * warning is printed, dropped + delivered (+ still queued) = captured, and the collector holds every
 * capture it acknowledged.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loopctlPath, repoRoot, tempDir } from '../helpers.js';
import { existsSync } from 'node:fs';

interface SoakReport {
  ok: boolean;
  requests: number;
  loadErrors: number;
  outages: Array<{ atSec: number; queuedAtKill: number }>;
  checks: {
    heap: { ok: boolean; baselineMiB: number; finalMiB: number; drift: number };
    warnings: { ok: boolean; warnings: string[]; maxListenersWarnings: number };
    counts: { ok: boolean; captured: number; delivered: number; dropped: number; queued: number; retries: number };
    stored: { ok: boolean; stored: number; delivered: number };
  };
}

test('soak, 60 s: heap back to baseline, no listener leak, every capture accounted for and none acknowledged lost', { timeout: 150_000 }, async (t) => {
  assert.ok(existsSync(loopctlPath), `${loopctlPath} is missing: build with 'npx tsup --silent'`);
  const dir = await tempDir(t, 'httploop-soak-test-');
  const reportFile = path.join(dir, 'soak.json');
  const child = spawn(process.execPath, [path.join(repoRoot, 'bench', 'soak.mjs'), '--duration', '60', '--rate', '300', '--report', reportFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const report = JSON.parse(await readFile(reportFile, 'utf8')) as SoakReport;
  const { heap, warnings, counts, stored } = report.checks;

  assert.equal(report.outages.length, 2, output);
  assert.ok(report.requests > 10_000, `only ${report.requests} requests in 60 s at 300 req/s\n${output}`);
  // The outages reached the shipper: it had to send batches again.
  assert.ok(counts.retries > 0, `no retries: the collector outages went unnoticed\n${output}`);
  assert.ok(counts.captured >= 50, `only ${counts.captured} captures\n${output}`);
  assert.ok(Math.abs(heap.drift) <= 0.1, `heap ${heap.baselineMiB.toFixed(2)} MiB -> ${heap.finalMiB.toFixed(2)} MiB (${(heap.drift * 100).toFixed(1)} %)\n${output}`);
  assert.equal(warnings.maxListenersWarnings, 0, output);
  assert.deepEqual(warnings.warnings, [], output);
  assert.equal(counts.delivered + counts.dropped + counts.queued, counts.captured, output);
  assert.equal(counts.queued, 0, `captures still queued after the collector came back\n${output}`);
  assert.ok(stored.stored >= stored.delivered, `the collector stored ${stored.stored} of ${stored.delivered} acknowledged captures\n${output}`);
  assert.equal(code, 0, output);
  assert.equal(report.ok, true);
});
