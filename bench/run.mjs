// `npm run bench` (`npm run bench -- --quick` for a short run): what loop() costs an Express 5 app.
//
// Paired, interleaved runs A B A B … of two servers that differ only by app.use(loop()), each in its
// own child process, loaded by autocannon (-c 32, pipelining 1) from this process. Pairing and
// interleaving make drift (thermal, other load) hit both sides alike; the median ratio of the pairs
// is the result, with min–max to show the spread. p99 comes from every response's own time (float
// ms), since autocannon's histogram keeps whole milliseconds. The server's CPU time per request is
// printed too: other load on a shared machine disturbs it less than req/s. Budgets are DESIGN.md's;
// a miss is reported, not an error (exit 0).
//
//   rules      the cost of deciding the seed rule (and ten rules) on an exchange they do not match, in ns
//   armed      A: bare             B: loop(), default rule, nothing fails (nothing matches, nothing shipped)
//   armed10    A: bare             B: loop() with ten rules loaded (bench/ten-rules.mjs), nothing matches
//
// Every scenario runs a real `loopctl serve`: in the armed ones it receives no capture, and holds the
// rules long poll of B's loop(), as a running collector does.
//   capture1%  A: bare, 1% 500s    B: loop() shipping those 500s to a real `loopctl serve` (SQLite)
//
// Flags: --quick, --duration S, --pairs N, --only rules|armed|armed10|capture1%, --instructions
// (callgrind counts). Results also go to bench/results/latest.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort } from './free-port.mjs';
import { startCollector, stop } from './collector.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const SERVER = join(HERE, 'server.mjs');
const CONNECTIONS = 32;

const args = parseArgs(process.argv.slice(2));
if (args.instructions) {
  // Instruction counts instead of req/s: see bench/instructions.mjs.
  await import('./instructions.mjs');
  process.exit(process.exitCode ?? 0);
}
const quick = args.quick === true;
const duration = Number(args.duration ?? (quick ? 2 : 5));
const pairs = Number(args.pairs ?? (quick ? 3 : 7));
const warmup = quick ? 1 : 2;

const SCENARIOS = [
  { name: 'armed', title: 'loop() armed, nothing matches', variant: 'loop', failEvery: 0, budget: { ratio: 0.97, addedP99Ms: 0.5 } },
  {
    name: 'armed10',
    title: 'loop() armed with ten rules loaded, nothing matches',
    variant: 'loop10',
    failEvery: 0,
    budget: { ratio: 0.97, addedP99Ms: 0.5 },
  },
  { name: 'capture1%', title: 'loop() capturing 1% (1 in 100 answers 500)', variant: 'loop', failEvery: 100, budget: { ratio: 0.95 } },
];

const children = new Set();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const key = a.slice(2);
    if (key === 'quick') out.quick = true;
    else if (key === 'instructions') out.instructions = true;
    else if (['duration', 'pairs', 'only'].includes(key) && argv[i + 1] !== undefined) out[key] = argv[++i];
    else throw new Error(`unknown flag '${a}': use --quick, --duration S, --pairs N, --only NAME, --instructions`);
  }
  return out;
}

// With two or more cores, the load generator (this process) runs on core 0 and the measured server
// on core 1, so A and B each get a core of their own and never share one with autocannon. (On this
// 2-core VM the spread between pairs stayed about the same: the noise comes from outside.)
// `--no-pin` turns it off.
const PIN =
  process.platform === 'linux' && cpus().length >= 2 && !process.argv.includes('--no-pin') && existsSync('/usr/bin/taskset');
if (PIN) spawnSync('/usr/bin/taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });

function startServer(variant, failEvery, collector) {
  return new Promise((resolve, reject) => {
    const [command, args] = PIN
      ? ['/usr/bin/taskset', ['-c', '1', process.execPath, SERVER, variant, String(failEvery)]]
      : [process.execPath, [SERVER, variant, String(failEvery)]];
    const child = spawn(command, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, BENCH_COLLECTOR: collector, NODE_ENV: 'production' },
    });
    children.add(child);
    child.once('exit', (code) => {
      children.delete(child);
      reject(new Error(`bench server '${variant}' exited (${code}) before listening`));
    });
    child.once('message', ({ port }) => resolve({ child, url: `http://127.0.0.1:${port}/`, variant }));
  });
}

function ask(child, question) {
  return new Promise((resolve) => {
    const onMessage = (msg) => {
      if (msg !== null && typeof msg === 'object' && question in msg) {
        child.off('message', onMessage);
        resolve(msg[question]);
      }
    };
    child.on('message', onMessage);
    child.send(question);
  });
}

/**
 * One autocannon run against a server; p99 from every response's own time in float ms, and the
 * server's CPU time per request (user + system, from its process.cpuUsage()).
 */
async function load(server, seconds) {
  const { url } = server;
  const before = await ask(server.child, 'cpu');
  const times = [];
  const instance = autocannon({ url, connections: CONNECTIONS, pipelining: 1, duration: seconds });
  instance.on('response', (_client, _status, _bytes, responseTime) => times.push(responseTime));
  const result = await instance;
  const after = await ask(server.child, 'cpu');
  times.sort((a, b) => a - b);
  const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  if (result.errors > 0 || result.timeouts > 0) {
    console.warn(`  warning: ${result.errors} errors, ${result.timeouts} timeouts against ${url}`);
  }
  return {
    rps: result.requests.total / result.duration,
    p50: p(0.5),
    p99: p(0.99),
    cpuUsPerReq: (after.us - before.us) / Math.max(1, after.requests - before.requests),
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f = (n, d = 0) => n.toFixed(d);

async function runScenario(scenario) {
  console.log(`\n## ${scenario.name}: ${scenario.title}`);
  const dir = mkdtempSync(join(tmpdir(), 'httploop-bench-'));
  const collectorProc = await startCollector(dir);
  const collector = collectorProc.url;
  const a = await startServer('bare', scenario.failEvery, collector);
  const b = await startServer(scenario.variant, scenario.failEvery, collector);
  try {
    await load(a, warmup);
    await load(b, warmup);
    const rows = [];
    for (let i = 0; i < pairs; i++) {
      const ra = await load(a, duration);
      const rb = await load(b, duration);
      const ratio = rb.rps / ra.rps;
      const cpuRatio = rb.cpuUsPerReq / ra.cpuUsPerReq;
      rows.push({ a: ra, b: rb, ratio, cpuRatio });
      console.log(
        `  pair ${i + 1}: A ${f(ra.rps)} req/s p99 ${f(ra.p99, 2)} ms ${f(ra.cpuUsPerReq, 1)} µs CPU/req | ` +
          `B ${f(rb.rps)} req/s p99 ${f(rb.p99, 2)} ms ${f(rb.cpuUsPerReq, 1)} µs CPU/req | B/A ${f(ratio, 3)}`,
      );
    }
    const ratios = rows.map((r) => r.ratio);
    const p99A = median(rows.map((r) => r.a.p99));
    const p99B = median(rows.map((r) => r.b.p99));
    const summary = {
      name: scenario.name,
      title: scenario.title,
      failEvery: scenario.failEvery,
      budget: scenario.budget,
      pairs: rows,
      ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) },
      rps: { a: median(rows.map((r) => r.a.rps)), b: median(rows.map((r) => r.b.rps)) },
      p99Ms: { a: p99A, b: p99B, added: p99B - p99A },
      cpuUsPerReq: {
        a: median(rows.map((r) => r.a.cpuUsPerReq)),
        b: median(rows.map((r) => r.b.cpuUsPerReq)),
        ratio: median(rows.map((r) => r.cpuRatio)),
      },
    };
    summary.loopStats = await ask(b.child, 'stats');
    // Pairing cancels slow drift, not bursts of other load on a shared machine: say when A itself moved.
    const aRps = rows.map((r) => r.a.rps);
    summary.noise = (Math.max(...aRps) - Math.min(...aRps)) / summary.rps.a;
    summary.noisy = summary.noise > 0.1;
    const verdict = (ok) => (ok ? 'PASS' : 'MISS') + (summary.noisy ? ' (noisy, not conclusive)' : '');
    const ratioOk = summary.ratio.median >= scenario.budget.ratio;
    const p99Ok = scenario.budget.addedP99Ms === undefined || summary.p99Ms.added <= scenario.budget.addedP99Ms;
    summary.pass = ratioOk && p99Ok;
    console.log(
      `  throughput B/A: median ${f(summary.ratio.median, 3)} (min ${f(summary.ratio.min, 3)}, max ${f(summary.ratio.max, 3)}), budget >= ${scenario.budget.ratio}: ${verdict(ratioOk)}`,
    );
    console.log(
      `  p99 (median of pairs): A ${f(p99A, 2)} ms, B ${f(p99B, 2)} ms, added ${f(summary.p99Ms.added, 2)} ms` +
        (scenario.budget.addedP99Ms === undefined ? '' : `, budget <= ${scenario.budget.addedP99Ms} ms: ${verdict(p99Ok)}`),
    );
    // CPU per request is what other load on the machine disturbs least; 1 / ratio is the throughput
    // B would reach if the server's core were the only limit.
    console.log(
      `  server CPU per request (median): A ${f(summary.cpuUsPerReq.a, 1)} µs, B ${f(summary.cpuUsPerReq.b, 1)} µs, ` +
        `B/A ${f(summary.cpuUsPerReq.ratio, 3)} (throughput equivalent ${f(1 / summary.cpuUsPerReq.ratio, 3)})`,
    );
    if (summary.noisy) {
      console.log(
        `  noisy: bare A's own throughput varied by ${f(summary.noise * 100)}% across pairs; other load on this machine? rerun with more --pairs`,
      );
    }
    if (summary.loopStats !== undefined) {
      const s = summary.loopStats;
      console.log(`  loop() in B: ${s.captured} captured, ${s.sent} shipped, ${s.droppedQueueFull} dropped (queue full)`);
    }
    return summary;
  } finally {
    await Promise.all([stop(a.child), stop(b.child)]);
    await stop(collectorProc.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const chosen = args.only === undefined ? SCENARIOS : SCENARIOS.filter((s) => s.name === args.only);
if (chosen.length === 0 && args.only !== 'rules') {
  throw new Error(`no scenario '${args.only}': use rules or ${SCENARIOS.map((s) => s.name).join(' or ')}`);
}

/** The rule microbenchmark, in a process of its own (tsx: it measures internals, not the package API). */
function ruleBench() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'rule-eval.ts')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result;
    child.on('message', (msg) => (result = msg.rules));
    child.once('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`bench/rule-eval.ts exited with ${code}`))));
  });
}

console.log(
  `httploop bench: Express 5 hello-JSON, autocannon -c ${CONNECTIONS} -p 1, ${pairs} pairs A B of ${duration} s ` +
    `(warm-up ${warmup} s each), Node ${process.versions.node}, ${cpus().length} CPUs` +
      (PIN ? ', server pinned to core 1, load generator to core 0' : ''),
);
const rules = args.only === undefined || args.only === 'rules' ? await ruleBench() : undefined;
const results = [];
for (const scenario of chosen) results.push(await runScenario(scenario));

const out = {
  date: new Date().toISOString(),
  node: process.versions.node,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  pinned: PIN,
  connections: CONNECTIONS,
  pipelining: 1,
  durationSec: duration,
  pairs,
  rules,
  scenarios: results,
};
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nresults written to bench/results/latest.json`);
