// `npm run soak` (`-- --duration S`, default 600): an Express app behind loop() at steady load for
// the whole duration, 1 % of its requests failing and shipped to a real `loopctl serve` (SQLite),
// which is killed (SIGKILL) and started again twice along the way (at 30 % and 60 % of the run, each
// time down for a tenth of it). At the end it checks:
//
//   heap      the app's heap after forced GCs (--expose-gc) is back to its baseline (taken after a
//             warm-up of 15 % of the run) within ± 10 %, both read with the load paused
//   warnings  the app printed no MaxListenersExceededWarning (nor any other process warning)
//   counts    dropped + delivered + still queued = captured, from loop().stats() (the shipper's counters)
//   stored    no acknowledged capture was lost: the collector's database holds >= the delivered count
//
// Flags: --duration S, --rate N (requests/s, default 400), --connections N (default 8), --report FILE
// (the result as JSON). Exits 1 when a check fails. test/soak/soak.test.ts runs it for 60 s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startCollector, stop } from './collector.mjs';
import { ask, startLoad, startServer } from './procs.mjs';

function usage(message) {
  process.stderr.write(`soak: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = { duration: 600, rate: 400, connections: 8, report: undefined };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    const v = argv[++i];
    if (!(key in out) || !argv[i - 1].startsWith('--')) usage(`unknown argument '${argv[i - 1]}': use --duration S, --rate N, --connections N, --report FILE`);
    if (v === undefined) usage(`--${key} needs a value`);
    if (key === 'report') out.report = v;
    else if (!(Number(v) > 0)) usage(`--${key} takes a positive number, got '${v}'`);
    else out[key] = Number(v);
  }
  if (out.duration < 20) usage(`--duration must be at least 20 s (warm-up, two collector outages), got ${out.duration}`);
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;
const log = (msg) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** Heap after forced GCs, the median of three reads a moment apart, with no load running. */
async function settledHeap(app) {
  await sleep(1000);
  const reads = [];
  for (let i = 0; i < 3; i++) {
    reads.push((await ask(app.child, 'heap')).heapUsed);
    await sleep(200);
  }
  return reads.sort((a, b) => a - b)[1];
}

/** Flushes until the app's queue is empty (the collector is up again), up to `ms`. */
async function drain(app, ms) {
  const deadline = Date.now() + ms;
  let stats = await ask(app.child, 'flush');
  while (stats.queued > 0 && Date.now() < deadline) {
    await sleep(500);
    stats = await ask(app.child, 'flush');
  }
  return stats;
}

export async function soak({ duration, rate, connections }) {
  const dir = mkdtempSync(join(tmpdir(), 'httploop-soak-'));
  const D = duration * 1000;
  let collector;
  let app;
  let load;
  try {
    collector = await startCollector(dir);
    const port = collector.port;
    app = await startServer({ framework: 'express', variant: 'fail1', collector: collector.url, nodeArgs: ['--expose-gc'], echo: false });
    load = await startLoad();
    const job = { url: app.url, method: 'GET', path: '/', connections, overallRate: rate };
    log(`app ${app.url}, collector ${collector.url}, ${rate} req/s for ${duration} s, 1 request in 100 fails`);

    // Warm-up, then the baseline with the load paused.
    const warm = await load.run({ ...job, duration: Math.round(duration * 0.15) });
    await drain(app, 10_000);
    const baseline = await settledHeap(app);
    log(`warm-up: ${warm.requests} requests; heap baseline ${(baseline / MB).toFixed(2)} MiB`);

    // The steady part, with two collector outages.
    const rest = duration - Math.round(duration * 0.15);
    const started = Date.now();
    const steady = load.run({ ...job, duration: rest });
    const outages = [];
    for (const at of [0.3, 0.6]) {
      const downAt = started + (at - 0.15) * D;
      await sleep(Math.max(0, downAt - Date.now()));
      collector.child.kill('SIGKILL');
      await new Promise((r) => collector.child.once('exit', r));
      const down = await ask(app.child, 'stats');
      log(`collector killed (SIGKILL); app: ${down.captured} captured, ${down.sent} sent, ${down.queued} queued`);
      await sleep(0.1 * D);
      collector = await startCollector(dir, { port });
      outages.push({ atSec: Math.round((Date.now() - started) / 1000), queuedAtKill: down.queued });
      log('collector started again');
    }
    const end = await steady;
    log(`steady load done: ${end.requests} requests, ${end.rps.toFixed(0)} req/s, p99 ${end.p99.toFixed(2)} ms, ${end.errors} errors, ${end.timeouts} timeouts`);

    const stats = await drain(app, 60_000);
    const final = await settledHeap(app);
    const warnings = await ask(app.child, 'warnings');
    await stop(app.child);
    const stderr = app.stderr();
    await stop(collector.child);
    const db = new Database(collector.db, { readonly: true });
    const stored = db.prepare('SELECT count(*) AS n FROM captures').get().n;
    db.close();

    const dropped = stats.droppedQueueFull + stats.droppedRejected + stats.droppedAtClose;
    const drift = (final - baseline) / baseline;
    const listenerLeaks = [...warnings, stderr].filter((w) => /MaxListenersExceeded/.test(w));
    const checks = {
      heap: { ok: Math.abs(drift) <= 0.1, baselineMiB: baseline / MB, finalMiB: final / MB, drift },
      warnings: { ok: listenerLeaks.length === 0 && warnings.length === 0, warnings, maxListenersWarnings: listenerLeaks.length },
      counts: {
        ok: dropped + stats.sent + stats.queued === stats.captured && stats.captured > 0,
        captured: stats.captured,
        delivered: stats.sent,
        dropped,
        queued: stats.queued,
        retries: stats.retries,
      },
      stored: { ok: stored >= stats.sent, stored, delivered: stats.sent },
    };
    const ok = Object.values(checks).every((c) => c.ok);
    return {
      ok,
      durationSec: duration,
      rate,
      connections,
      requests: warm.requests + end.requests,
      loadErrors: warm.errors + end.errors + end.timeouts,
      p99Ms: end.p99,
      outages,
      checks,
    };
  } finally {
    load?.close();
    if (app !== undefined) await stop(app.child);
    if (collector !== undefined) await stop(collector.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const result = await soak(args);
  const c = result.checks;
  console.log(`\nsoak ${result.durationSec} s, ${result.requests} requests, ${result.loadErrors} load errors, p99 ${result.p99Ms.toFixed(2)} ms`);
  console.log(`  heap after GC: baseline ${c.heap.baselineMiB.toFixed(2)} MiB, end ${c.heap.finalMiB.toFixed(2)} MiB (${(c.heap.drift * 100).toFixed(1)} %, ± 10 %): ${c.heap.ok ? 'ok' : 'FAILED'}`);
  console.log(`  warnings: ${c.warnings.warnings.length} (MaxListenersExceeded ${c.warnings.maxListenersWarnings}): ${c.warnings.ok ? 'ok' : `FAILED ${c.warnings.warnings.join('; ')}`}`);
  console.log(`  captured ${c.counts.captured} = delivered ${c.counts.delivered} + dropped ${c.counts.dropped} + queued ${c.counts.queued} (${c.counts.retries} retries): ${c.counts.ok ? 'ok' : 'FAILED'}`);
  console.log(`  collector stored ${c.stored.stored} >= delivered ${c.stored.delivered}: ${c.stored.ok ? 'ok' : 'FAILED'}`);
  if (args.report !== undefined) writeFileSync(args.report, `${JSON.stringify(result, null, 2)}\n`);
  process.exit(result.ok ? 0 : 1);
}
