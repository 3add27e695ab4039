// The memory bound of DESIGN.md: with the collector down at full load and every request captured,
// the app's RSS grows by no more than the ship queue's byte cap + 16 MiB.
// `node bench/memory-bound.mjs [--down S] [--report FILE]`: an Express app behind loop({ match: 'true' })
// (bench/server.mjs, variant capture-all) answering the 1 MiB response (each capture keeps 64 KiB of
// it, so the queue's byte cap, 16 MiB by default, is what fills) is warmed up at full load with a
// real `loopctl serve` taking its captures; then the collector is killed (SIGKILL) and the load goes
// on for --down seconds (default 60; test/soak/memory-bound.test.ts runs 15 s, the scaled-down form).
// Growth = peak RSS while the collector is down - peak RSS during the second half of the warm-up
// (12 s: RSS climbs for the first several seconds at this load, so a shorter warm-up measures V8
// sizing its heap, not the queue). The heap after forced GCs (--expose-gc) is compared too: it is
// what stays reachable, the queue without V8's slack.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCollector, stop } from './collector.mjs';
import { ask, startLoad, startServer } from './procs.mjs';

const MB = 1024 * 1024;
/** loop()'s default queue byte cap (src/options.ts, QueueOptions.maxBytes). */
export const QUEUE_CAP_BYTES = 16 * MB;
export const MARGIN_BYTES = 16 * MB;

export async function memoryBound({ downSec = 60, warmSec = 12, connections = 16 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'httploop-membound-'));
  let collector;
  let app;
  let load;
  try {
    collector = await startCollector(dir);
    app = await startServer({ framework: 'express', variant: 'capture-all', collector: collector.url, echo: false, nodeArgs: ['--expose-gc'] });
    load = await startLoad();
    const job = { url: app.url, method: 'GET', path: '/big', connections };
    // Warm-up at full load, collector up; the baseline is the peak of its second half.
    await load.run({ ...job, duration: Math.ceil(warmSec / 2) });
    await ask(app.child, 'rss-start');
    const warm = await load.run({ ...job, duration: Math.ceil(warmSec / 2) });
    const baseline = await ask(app.child, 'rss-stop');
    const before = await ask(app.child, 'stats');
    const heapBefore = (await ask(app.child, 'heap')).heapUsed;

    collector.child.kill('SIGKILL');
    await new Promise((r) => collector.child.once('exit', r));
    await ask(app.child, 'rss-start');
    const down = await load.run({ ...job, duration: downSec });
    const peak = await ask(app.child, 'rss-stop');
    const after = await ask(app.child, 'stats');
    const heapAfter = (await ask(app.child, 'heap')).heapUsed;
    return {
      downSec,
      connections,
      warmRps: warm.rps,
      downRps: down.rps,
      requestsWhileDown: down.requests,
      baselineRssMiB: baseline / MB,
      peakRssMiB: peak / MB,
      growthMiB: (peak - baseline) / MB,
      boundMiB: (QUEUE_CAP_BYTES + MARGIN_BYTES) / MB,
      // What is still reachable after forced GCs: the queue itself, without V8's slack.
      heapBeforeMiB: heapBefore / MB,
      heapAfterMiB: heapAfter / MB,
      heapGrowthMiB: (heapAfter - heapBefore) / MB,
      ok: peak - baseline <= QUEUE_CAP_BYTES + MARGIN_BYTES && heapAfter - heapBefore <= QUEUE_CAP_BYTES + MARGIN_BYTES,
      capturedWhileDown: after.captured - before.captured,
      droppedQueueFullWhileDown: after.droppedQueueFull - before.droppedQueueFull,
      queuedAtEnd: after.queued,
      loadErrors: down.errors + down.timeouts,
    };
  } finally {
    load?.close();
    if (app !== undefined) await stop(app.child);
    if (collector !== undefined) await stop(collector.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  let downSec = 60;
  let report;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--down' && Number(argv[i + 1]) > 0) downSec = Number(argv[++i]);
    else if (argv[i] === '--report' && argv[i + 1] !== undefined) report = argv[++i];
    else {
      process.stderr.write(`memory-bound: unknown argument '${argv[i]}': use --down S, --report FILE\n`);
      process.exit(2);
    }
  }
  const r = await memoryBound({ downSec });
  console.log(
    `collector down ${r.downSec} s at full load (${r.downRps.toFixed(0)} req/s, every request captured): RSS ${r.baselineRssMiB.toFixed(1)} → ` +
      `${r.peakRssMiB.toFixed(1)} MiB, growth ${r.growthMiB.toFixed(1)} MiB; heap after GC ${r.heapBeforeMiB.toFixed(1)} → ${r.heapAfterMiB.toFixed(1)} MiB; ` +
      `bound ${r.boundMiB} MiB: ${r.ok ? 'ok' : 'FAILED'}; ` +
      `${r.capturedWhileDown} captured, ${r.droppedQueueFullWhileDown} dropped (queue full), ${r.queuedAtEnd} queued`,
  );
  if (report !== undefined) writeFileSync(report, `${JSON.stringify(r, null, 2)}\n`);
  process.exit(r.ok ? 0 : 1);
}
