/**
 * DESIGN.md's memory bound, scaled down: the collector down for 15 s (the design says 60 s; `node
 * bench/memory-bound.mjs` runs that) at full load with every request captured (each capture keeping
 * 64 KiB of a 1 MiB response, so the queue's 16 MiB byte cap is what fills): the app's RSS grows by
 * no more than the queue cap + 16 MiB.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { loopctlPath, repoRoot, tempDir } from '../helpers.js';

interface MemoryReport {
  ok: boolean;
  growthMiB: number;
  boundMiB: number;
  baselineRssMiB: number;
  peakRssMiB: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  heapGrowthMiB: number;
  capturedWhileDown: number;
  droppedQueueFullWhileDown: number;
  queuedAtEnd: number;
}

test('collector down at full load, every request captured: RSS grows by less than the queue cap + 16 MiB', { timeout: 90_000 }, async (t) => {
  assert.ok(existsSync(loopctlPath), `${loopctlPath} is missing: build with 'npx tsup --silent'`);
  const dir = await tempDir(t, 'httploop-membound-test-');
  const reportFile = path.join(dir, 'memory.json');
  const child = spawn(process.execPath, [path.join(repoRoot, 'bench', 'memory-bound.mjs'), '--down', '15', '--report', reportFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const r = JSON.parse(await readFile(reportFile, 'utf8')) as MemoryReport;

  // The bound is only tested if the queue really filled up while the collector was down.
  assert.ok(r.droppedQueueFullWhileDown > 0, `the queue never filled (${r.capturedWhileDown} captured while down)\n${output}`);
  assert.ok(r.queuedAtEnd > 0, output);
  assert.equal(r.boundMiB, 32);
  assert.ok(r.growthMiB <= r.boundMiB, `RSS ${r.baselineRssMiB.toFixed(1)} -> ${r.peakRssMiB.toFixed(1)} MiB: grew ${r.growthMiB.toFixed(1)} MiB\n${output}`);
  assert.ok(r.heapGrowthMiB <= r.boundMiB, `heap after GC ${r.heapBeforeMiB.toFixed(1)} -> ${r.heapAfterMiB.toFixed(1)} MiB\n${output}`);
  assert.equal(code, 0, output);
  assert.equal(r.ok, true);
});
