// `npm run bench -- --instructions`: what loop() costs per request in instructions, counted by
// valgrind's callgrind, which counts the same for the same work whatever else the machine does.
// Wall-clock req/s on a shared 2-core VM moves by 30-100% between runs; this ratio by a few points
// (GC and JIT timing still vary), so repeat it and compare medians.
//
// Each variant (bare, loop) runs twice, to N1 and to N2 requests; (count(N2) - count(N1)) / (N2 - N1)
// is the steady-state cost of one request, without startup and most JIT compilation. Needs valgrind.
//
// loop and loop10 run without the collector's rules poll, and loop-feed with it. The poll's cost comes
// per poll, not per request: each answer (every 25 s) runs Node's HTTP client code, and the first
// ones after the server code was optimized deoptimize Node's shared http and stream internals
// (parserOnHeadersComplete, Readable.push, OutgoingMessage#end, … seen with --trace-deopt), which
// then compile again: tens to hundreds of millions of instructions a poll. Under valgrind, 25 s is
// ~3 000 requests, natively tens of thousands, so counted per request here that cost looks ten times
// or more larger than it is; loop-feed is printed to show it, and the budget is judged on loop.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startCollector, stop } from './collector.mjs';
import { freePort } from './free-port.mjs';

const SERVER = fileURLToPath(new URL('./count-server.mjs', import.meta.url));
const N1 = 3000;
const N2 = 9000;
// loop() armed must keep >= 0.97x of bare throughput (DESIGN.md): at most 1/0.97 the work per request.
const BUDGET = 1 / 0.97;

/** Runs the server under callgrind for `requests` requests; resolves with the instructions counted. */
async function count(variant, requests, dir, collector) {
  const port = await freePort();
  const out = join(dir, `${variant}.${requests}.callgrind`);
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, SERVER, variant, String(requests), String(port), collector], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`${variant} server exited (${code}) before listening:\n${stderr.slice(-2000)}`)));
  });
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 4, amount: requests });
  const code = await exited;
  if (code !== 0) throw new Error(`${variant} server exited with ${code}`);
  const line = readFileSync(out, 'utf8').split('\n').find((l) => l.startsWith('totals:') || l.startsWith('summary:'));
  if (line === undefined) throw new Error(`no totals in ${out}`);
  return Number(line.split(/\s+/)[1]);
}

async function perRequest(variant, dir, collector) {
  const [a, b] = [await count(variant, N1, dir, collector), await count(variant, N2, dir, collector)];
  return (b - a) / (N2 - N1);
}

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('bench --instructions needs valgrind (Debian: apt-get install valgrind)');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'httploop-instructions-'));
// Outside valgrind: it only holds the rules long poll of the servers measured.
const collector = await startCollector(dir);
try {
  console.log(`httploop bench --instructions: Express 5 hello-JSON, callgrind, per request = (count at ${N2} - count at ${N1}) / ${N2 - N1}, Node ${process.versions.node}`);
  // The two variants run side by side: counts do not depend on load.
  // Two at a time on a 2-core machine: counts do not depend on load, but a third would only queue.
  const [bare, armed] = await Promise.all([perRequest('bare', dir, collector.url), perRequest('loop', dir, collector.url)]);
  const [ten, feed] = await Promise.all([perRequest('loop10', dir, collector.url), perRequest('loop-feed', dir, collector.url)]);
  console.log(`  ${"bare:".padEnd(27)} ${Math.round(bare)} instructions per request`);
  for (const [label, n] of [
    ['loop() armed', armed],
    ['loop() with ten rules', ten],
    ['loop() armed + rules poll', feed],
  ]) {
    const ratio = n / bare;
    console.log(
      `  ${`${label}:`.padEnd(27)} ${Math.round(n)} instructions per request, ratio ${ratio.toFixed(4)} ` +
        `(throughput equivalent ${(1 / ratio).toFixed(3)}x), budget <= ${BUDGET.toFixed(4)} (>= 0.97x): ${ratio <= BUDGET ? 'PASS' : 'MISS'}`,
    );
  }
  console.log('  single runs vary by a few points of the ratio (GC and JIT timing): repeat, compare medians');
} finally {
  await stop(collector.child);
  rmSync(dir, { recursive: true, force: true });
}
