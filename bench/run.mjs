// `npm run bench`: what loop() costs an Express 5 or Koa 3 app, side by side with what its peers cost
// the same app (OpenTelemetry, pino-http, Tusk Drift), for four request shapes.
//
// Method. Each server (bare, and one per variant: bench/matrix.mjs) runs in its own process, pinned
// to core 1 when the machine has two; the load generator (autocannon, bench/load.mjs) runs in another
// process, on core 0, with this coordinator and the collector. Every variant is paired with a run of
// the bare app right before or after it: a round is A B1 B2 A B3 B4 A …, B1 paired with the A before
// it, B2 with the A after it, so every B has an adjacent A and each A serves two Bs (the variant
// order rotates from round to round). A variant whose requests fail 1 % gets a bare run that fails
// the same 1 %. After a warm-up of every server, --pairs rounds (default 5) give each variant that
// many pairs; the result is the median ratio B/A of the pairs with min–max, the medians of p50 and
// p99 (from every response's own float time), the added p99 (median of the pairs' differences), the
// server's CPU time per request and its peak RSS (sampled every 50 ms during the runs).
//
// Budgets (DESIGN.md, judged on the small GET, both frameworks) are printed met / missed; a miss is
// reported, not an error (exit 0). Results: bench/results/latest.json, latest.md and ratios.svg
// (quick.* for --quick, which is a check, not numbers; partial.* for a run cut with --only).
//
// Flags: --quick (a reduced matrix, under 3 minutes: a check that the bench runs, not numbers),
// --duration S (per run), --pairs N, --warmup S, --connections N, --only a,b,… (framework, variant
// or shape names, or `rules`: each dimension named is cut to the names given), --no-pin,
// --instructions (callgrind counts instead, bench/instructions.mjs).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCollector, stop } from './collector.mjs';
import { BUDGET_SHAPE, BUDGETS, FRAMEWORKS, QUICK, SHAPES, VARIANTS } from './matrix.mjs';
import { ask, pinning, pinSelf, startLoad, startServer } from './procs.mjs';
import { judge, toMarkdown, toSvg } from './report.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));

function usage(message) {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) usage(`unexpected argument '${a}': flags are --quick, --duration S, --pairs N, --warmup S, --connections N, --only a,b, --no-pin, --instructions, --cpu-prof`);
    const key = a.slice(2);
    if (['quick', 'instructions', 'no-pin', 'cpu-prof'].includes(key)) out[key] = true;
    else if (['duration', 'pairs', 'only', 'warmup', 'connections'].includes(key)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) usage(`--${key} needs a value`);
      if (key !== 'only' && !(Number(v) > 0)) usage(`--${key} takes a positive number, got '${v}'`);
      out[key] = key === 'only' ? v : Number(v);
    } else usage(`unknown flag '${a}': use --quick, --duration S, --pairs N, --warmup S, --connections N, --only a,b, --no-pin, --instructions, --cpu-prof`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
if (args.instructions) {
  // Instruction counts instead of req/s: see bench/instructions.mjs.
  await import('./instructions.mjs');
  process.exit(process.exitCode ?? 0);
}

if (args['cpu-prof']) {
  // A CPU profile of loop() armed instead of the matrix: see bench/profile.mjs.
  const { profile } = await import('./profile.mjs');
  const names = args.only?.split(',') ?? [];
  await profile({ frameworks: FRAMEWORKS.filter((fw) => names.length === 0 || names.includes(fw)), duration: args.duration ?? 20 });
  process.exit(0);
}

const quick = args.quick === true;
const duration = args.duration ?? (quick ? 2 : 2);
const pairs = args.pairs ?? (quick ? 3 : 5);
const warmup = args.warmup ?? 1;
const connections = args.connections ?? 32;

// --- what to run ----------------------------------------------------------------------------------
let frameworks = FRAMEWORKS;
let variants = quick ? VARIANTS.filter((v) => QUICK.variants.includes(v.name)) : VARIANTS;
let shapes = quick ? SHAPES.filter((s) => QUICK.shapes.includes(s.name)) : SHAPES;
let runRules = true;
if (args.only !== undefined) {
  const names = args.only.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set(['rules', ...FRAMEWORKS, ...VARIANTS.map((v) => v.name), ...SHAPES.map((s) => s.name)]);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) usage(`--only: no framework, variant or shape '${unknown.join("', '")}': use rules, ${[...known].filter((k) => k !== 'rules').join(', ')}`);
  runRules = names.includes('rules');
  const cut = (all, key = (x) => x) => (all.some((x) => names.includes(key(x))) ? all.filter((x) => names.includes(key(x))) : all);
  const onlyRules = names.every((n) => n === 'rules');
  frameworks = onlyRules ? [] : cut(FRAMEWORKS);
  variants = cut(VARIANTS.filter((v) => quick ? QUICK.variants.includes(v.name) || names.includes(v.name) : true), (v) => v.name);
  shapes = cut(SHAPES.filter((s) => quick ? QUICK.shapes.includes(s.name) || names.includes(s.name) : true), (s) => s.name);
}

const PIN = pinning(args['no-pin'] === true);
const SERVER_CORE = PIN ? 1 : undefined;
const LOAD_CORE = PIN ? 0 : undefined;
if (PIN) pinSelf(0);

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const MB = 1024 * 1024;

/** The rule microbenchmark, in a process of its own (tsx: it measures internals, not the package API). */
function ruleBench() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'rule-eval.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result;
    child.on('message', (msg) => (result = msg.rules));
    child.once('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`bench/rule-eval.ts exited with ${code}`))));
  });
}

/** Tusk Drift reads .tusk/config.yaml from the project root (the working dir's package.json): a temp one. */
function tuskProject(dir) {
  const root = join(dir, 'tusk');
  mkdirSync(join(root, '.tusk'), { recursive: true });
  writeFileSync(join(root, 'package.json'), '{ "name": "bench-tusk", "private": true }\n');
  writeFileSync(
    join(root, '.tusk', 'config.yaml'),
    `service:\n  name: bench\ntraces:\n  dir: ${JSON.stringify(join(root, 'traces'))}\nrecording:\n  export_spans: false\n`,
  );
  return { root, traces: join(root, 'traces') };
}

/** One load run against a server, with the server's CPU and peak RSS over the run. */
async function measure(load, server, shape, seconds) {
  const before = await ask(server.child, 'cpu');
  await ask(server.child, 'rss-start');
  const r = await load.run({ url: server.url, method: shape.method, path: shape.path, body: shape.body, headers: shape.headers, connections, duration: seconds });
  const rssPeak = await ask(server.child, 'rss-stop');
  const after = await ask(server.child, 'cpu');
  const served = Math.max(1, after.requests - before.requests);
  return { ...r, cpuUsPerReq: (after.us - before.us) / served, cpuCores: (after.us - before.us) / (seconds * 1e6), rssPeakMB: rssPeak / MB };
}

/** A round's order: A B1 B2 A B3 B4 A …; returns [{ variant | null (bare), pairWith }] with pair indexes. */
function roundOrder(names) {
  const seq = [];
  for (let i = 0; i < names.length; i += 2) {
    seq.push({ bare: true });
    seq.push({ variant: names[i], pairedWith: 'before' });
    if (i + 1 < names.length) seq.push({ variant: names[i + 1], pairedWith: 'after' });
  }
  if (names.length % 2 === 0 && names.length > 0) seq.push({ bare: true });
  return seq;
}

async function runShape(load, framework, shape, servers, bare) {
  console.log(`\n## ${framework} · ${shape.name}: ${shape.title}`);
  const loopNames = variants.filter((v) => servers.get(v.name).loop).map((v) => v.name);
  const statsBefore = new Map();
  for (const name of loopNames) statsBefore.set(name, await ask(servers.get(name).child, 'stats'));
  // Warm-up: every server gets the shape's load once (JIT, pools, the first captures' one-time costs).
  await ask(bare.child, { failEvery: 0 });
  await measure(load, bare, shape, warmup);
  for (const v of variants) await measure(load, servers.get(v.name), shape, warmup);

  const runs = new Map(variants.map((v) => [v.name, []]));
  const bareRuns = [];
  const groups = [...new Set(variants.map((v) => v.failEvery))];
  for (let round = 0; round < pairs; round++) {
    for (const failEvery of groups) {
      const names = variants.filter((v) => v.failEvery === failEvery).map((v) => v.name);
      const rotated = names.map((_, i) => names[(i + round) % names.length]);
      const seq = roundOrder(rotated);
      const results = [];
      for (const step of seq) {
        if (step.bare) {
          await ask(bare.child, { failEvery });
          results.push({ bare: true, r: await measure(load, bare, shape, duration) });
        } else {
          results.push({ variant: step.variant, pairedWith: step.pairedWith, r: await measure(load, servers.get(step.variant), shape, duration) });
        }
      }
      for (let i = 0; i < results.length; i++) {
        const x = results[i];
        if (x.bare) {
          if (failEvery === 0) bareRuns.push(x.r);
          continue;
        }
        const a = x.pairedWith === 'before' ? results[i - 1].r : results[i + 1].r;
        runs.get(x.variant).push({ a, b: x.r, ratio: x.r.rps / a.rps, addedP99: x.r.p99 - a.p99, cpuRatio: x.r.cpuUsPerReq / a.cpuUsPerReq });
      }
    }
    const line = variants.map((v) => `${v.name} ${f(runs.get(v.name).at(-1).ratio, 3)}`).join(' · ');
    console.log(`  round ${round + 1}: bare ${f(bareRuns.at(-1)?.rps ?? NaN)} req/s | B/A ${line}`);
  }

  const bareSummary = {
    rps: median(bareRuns.map((r) => r.rps)),
    p50Ms: median(bareRuns.map((r) => r.p50)),
    p99Ms: median(bareRuns.map((r) => r.p99)),
    cpuUsPerReq: median(bareRuns.map((r) => r.cpuUsPerReq)),
    rssPeakMB: Math.max(...bareRuns.map((r) => r.rssPeakMB)),
    noise: bareRuns.length > 1 ? (Math.max(...bareRuns.map((r) => r.rps)) - Math.min(...bareRuns.map((r) => r.rps))) / median(bareRuns.map((r) => r.rps)) : 0,
  };
  const rows = [];
  for (const v of variants) {
    const ps = runs.get(v.name);
    const ratios = ps.map((p) => p.ratio);
    const row = {
      framework,
      shape: shape.name,
      variant: v.name,
      title: v.title,
      failEvery: v.failEvery,
      ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
      rps: { a: median(ps.map((p) => p.a.rps)), b: median(ps.map((p) => p.b.rps)) },
      p50Ms: { a: median(ps.map((p) => p.a.p50)), b: median(ps.map((p) => p.b.p50)) },
      p99Ms: { a: median(ps.map((p) => p.a.p99)), b: median(ps.map((p) => p.b.p99)), added: median(ps.map((p) => p.addedP99)) },
      cpuUsPerReq: { a: median(ps.map((p) => p.a.cpuUsPerReq)), b: median(ps.map((p) => p.b.cpuUsPerReq)), ratio: median(ps.map((p) => p.cpuRatio)) },
      cpuCores: median(ps.map((p) => p.b.cpuCores)),
      rssPeakMB: { a: Math.max(...ps.map((p) => p.a.rssPeakMB)), b: Math.max(...ps.map((p) => p.b.rssPeakMB)) },
      errors: ps.reduce((n, p) => n + p.b.errors + p.b.timeouts, 0),
      non2xx: ps.reduce((n, p) => n + p.b.non2xx, 0),
      pairs: ps.map((p) => ({ ratio: p.ratio, aRps: p.a.rps, bRps: p.b.rps, aP99: p.a.p99, bP99: p.b.p99 })),
    };
    if (servers.get(v.name).loop) {
      const s0 = statsBefore.get(v.name);
      const s1 = await ask(servers.get(v.name).child, 'stats');
      row.loop = {
        captured: s1.captured - s0.captured,
        sent: s1.sent - s0.sent,
        droppedQueueFull: s1.droppedQueueFull - s0.droppedQueueFull,
        internalErrors: s1.internalErrors - s0.internalErrors,
      };
    }
    rows.push(row);
    console.log(
      `  ${v.name.padEnd(12)} ${f(row.ratio.median, 3)} (${f(row.ratio.min, 3)}–${f(row.ratio.max, 3)})  ` +
        `p50 ${f(row.p50Ms.b, 2)} p99 ${f(row.p99Ms.b, 2)} ms (+${f(row.p99Ms.added, 2)})  ${f(row.cpuUsPerReq.b, 1)} µs CPU/req  ` +
        `RSS ${f(row.rssPeakMB.b)} MB` +
        (row.loop ? `  loop: ${row.loop.captured} captured, ${row.loop.sent} sent, ${row.loop.droppedQueueFull} dropped` : '') +
        (row.errors > 0 ? `  ${row.errors} errors/timeouts` : ''),
    );
  }
  console.log(
    `  ${'bare'.padEnd(12)} ${f(bareSummary.rps)} req/s  p50 ${f(bareSummary.p50Ms, 2)} p99 ${f(bareSummary.p99Ms, 2)} ms  ` +
      `${f(bareSummary.cpuUsPerReq, 1)} µs CPU/req  RSS ${f(bareSummary.rssPeakMB)} MB  (bare's own spread across rounds ${f(bareSummary.noise * 100)} %)`,
  );
  return { bare: { framework, shape: shape.name, ...bareSummary }, rows };
}

async function runFramework(load, framework) {
  const dir = mkdtempSync(join(tmpdir(), 'httploop-bench-'));
  const collector = await startCollector(dir, { pinCore: LOAD_CORE });
  const servers = new Map();
  let bare;
  const tusk = variants.some((v) => v.name.startsWith('tusk')) ? tuskProject(dir) : undefined;
  const extra = { bare: [], rows: [], peers: {} };
  try {
    const start = (variant) =>
      startServer({
        framework,
        variant,
        collector: collector.url,
        pinCore: SERVER_CORE,
        ...(variant.startsWith('tusk') && { cwd: tusk.root, env: { TUSK_DRIFT_MODE: 'RECORD' } }),
      });
    bare = await start('bare');
    for (const v of variants) {
      const s = await start(v.name);
      s.loop = !['control', 'otel', 'pino', 'tusk100', 'tusk1'].includes(v.name);
      servers.set(v.name, s);
    }
    for (const shape of shapes) {
      const { bare: b, rows } = await runShape(load, framework, shape, servers, bare);
      extra.bare.push(b);
      extra.rows.push(...rows);
    }
    // Proof that the peers really did their work: spans exported, trace files written.
    if (servers.has('otel')) extra.peers.otelSpansExported = (await ask(servers.get('otel').child, 'stats')).exportedSpans;
    await Promise.all([bare, ...servers.values()].map((s) => stop(s.child)));
    if (tusk !== undefined) {
      let files = 0;
      try {
        files = readdirSync(tusk.traces).length;
      } catch {
        // no traces directory: nothing was written
      }
      extra.peers.tuskTraceFiles = files;
    }
    if (extra.peers.otelSpansExported !== undefined) console.log(`\n  ${framework}: OpenTelemetry exported ${extra.peers.otelSpansExported} spans (to the no-op exporter)`);
    if (extra.peers.tuskTraceFiles !== undefined) console.log(`  ${framework}: Tusk Drift wrote ${extra.peers.tuskTraceFiles} local trace files`);
    return extra;
  } finally {
    await Promise.all([bare, ...servers.values()].filter(Boolean).map((s) => stop(s.child)));
    await stop(collector.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = Date.now();
console.log(
  `httploop bench${quick ? ' --quick' : ''}: ${frameworks.join(', ') || '(no framework)'}; ${variants.length} variants; ` +
    `shapes ${shapes.map((s) => s.name).join(', ')}; autocannon -c ${connections} -p 1 in its own process; ` +
    `${pairs} pairs of ${duration} s per variant (warm-up ${warmup} s per server); Node ${process.versions.node}, ${cpus().length} CPUs` +
    (PIN ? '; servers on core 1, load generator, collector and coordinator on core 0' : ''),
);
const rules = runRules ? await ruleBench() : undefined;
const load = frameworks.length > 0 ? await startLoad({ pinCore: LOAD_CORE }) : undefined;
const bareRows = [];
const rows = [];
const peers = {};
for (const framework of frameworks) {
  const r = await runFramework(load, framework);
  bareRows.push(...r.bare);
  rows.push(...r.rows);
  peers[framework] = r.peers;
}
load?.close();

const out = {
  date: new Date().toISOString(),
  quick,
  node: process.versions.node,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memoryGB: Math.round(totalmem() / 1024 ** 3),
  pinned: PIN,
  connections,
  pipelining: 1,
  durationSec: duration,
  warmupSec: warmup,
  pairs,
  elapsedSec: Math.round((Date.now() - started) / 1000),
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  rules,
  budgetShape: BUDGET_SHAPE,
  budgets: judge(rows, bareRows, frameworks),
  peers,
  bare: bareRows,
  scenarios: rows,
};

console.log(`\n## budgets (${BUDGET_SHAPE}, DESIGN.md)`);
for (const b of out.budgets) {
  console.log(`  ${b.framework.padEnd(8)} ${b.what.padEnd(40)} ${b.measured.padEnd(22)} ${b.budget.padEnd(12)} ${b.met === null ? 'not measured' : b.met ? 'met' : 'MISSED'}${b.noisy ? ' (noisy: bare moved > 10 %)' : ''}`);
}
if (rules !== undefined) console.log(`  rules    seed rule on a non-matching exchange          ${f(rules.seedNs, 1)} ns  < ${rules.budgetNs} ns  ${rules.pass ? 'met' : 'MISSED'}`);

const resultsDir = join(HERE, 'results');
mkdirSync(resultsDir, { recursive: true });
// Only the whole matrix writes latest.* (README shows it): a --quick check writes quick.*, a run cut
// with --only partial.* (both git-ignored), so neither replaces the results of a full run.
const stem = quick ? 'quick' : args.only !== undefined ? 'partial' : 'latest';
const chart = stem === 'latest' ? 'ratios.svg' : `${stem}.svg`;
writeFileSync(join(resultsDir, `${stem}.json`), `${JSON.stringify(out, null, 2)}\n`);
writeFileSync(join(resultsDir, `${stem}.md`), toMarkdown(out));
writeFileSync(join(resultsDir, chart), toSvg(out));
console.log(`\nresults written to bench/results/${stem}.json, ${stem}.md, ${chart} (${out.elapsedSec} s)`);
process.exit(0);
