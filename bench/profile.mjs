// `npm run bench -- --cpu-prof [--only express|koa] [--duration S]`: where an armed loop() spends its
// time. The armed server (seed rule, nothing fails, following a real collector's rules) runs under
// `node --cpu-prof` at the small GET for --duration seconds (default 20); the profile is summarized
// by self time: the top functions overall, and those of httploop's own code (dist/ of this package),
// with httploop's share of all samples. The .cpuprofile files stay in a temp dir (printed) for
// Chrome DevTools or speedscope.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCollector, stop } from './collector.mjs';
import { FRAMEWORKS, SHAPES } from './matrix.mjs';
import { startLoad, startServer } from './procs.mjs';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/** Self time per function (name + file:line) in ms, from a .cpuprofile. */
export function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^file:\/\//, '')}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return { total, rows: [...self.entries()].map(([fn, ms]) => ({ fn, ms })).sort((a, b) => b.ms - a.ms) };
}

async function profileOne(load, framework, variant, shape, duration, out) {
  const dir = mkdtempSync(join(tmpdir(), 'httploop-prof-'));
  const collector = await startCollector(dir);
  const profDir = join(out, `${framework}-${variant}`);
  const server = await startServer({ framework, variant, collector: collector.url, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
  const warm = await load.run({ url: server.url, method: shape.method, path: shape.path, connections: 32, duration: 3 });
  const r = await load.run({ url: server.url, method: shape.method, path: shape.path, connections: 32, duration });
  await stop(server.child);
  await stop(collector.child);
  rmSync(dir, { recursive: true, force: true });
  const file = join(profDir, readdirSync(profDir).find((f) => f.endsWith('.cpuprofile')));
  // The profile covers the warm-up too: per-request figures divide by every request served.
  return { file, requests: r.requests + warm.requests, rps: r.rps, ...selfTimes(JSON.parse(readFileSync(file, 'utf8'))) };
}

const us = (ms, n) => ((ms * 1000) / n).toFixed(2);

export async function profile({ frameworks = FRAMEWORKS, duration = 20 } = {}) {
  const out = mkdtempSync(join(tmpdir(), 'httploop-cpuprof-'));
  const load = await startLoad({ pinCore: undefined });
  const shape = SHAPES.find((s) => s.name === 'get');
  for (const framework of frameworks) {
    const bare = await profileOne(load, framework, 'bare', shape, duration, out);
    const armed = await profileOne(load, framework, 'armed', shape, duration, out);
    const ours = armed.rows.filter((x) => x.fn.includes(DIST));
    const oursMs = ours.reduce((n, x) => n + x.ms, 0);
    const busy = (p) => p.total - (p.rows.find((x) => x.fn.startsWith('(idle)'))?.ms ?? 0);
    console.log(`\n## ${framework}, small GET, ${duration} s each: bare ${bare.rps.toFixed(0)} req/s, loop() armed ${armed.rps.toFixed(0)} req/s`);
    console.log(`  profiles: ${bare.file}, ${armed.file}`);
    console.log(`  busy (non-idle) time per request, whole profile incl. warm-up: bare ${us(busy(bare), bare.requests)} µs, armed ${us(busy(armed), armed.requests)} µs`);
    console.log(`  httploop's own code (dist/): ${oursMs.toFixed(0)} ms self time, ${((100 * oursMs) / armed.total).toFixed(2)} % of samples, ${us(oursMs, armed.requests)} µs per request`);
    console.log('  top self time in the armed server, all code (µs per request):');
    for (const x of armed.rows.slice(0, 12)) console.log(`    ${us(x.ms, armed.requests).padStart(7)} µs ${((100 * x.ms) / armed.total).toFixed(1).padStart(5)} %  ${x.fn.replace(DIST, 'dist/')}`);
    console.log('  top self time, httploop (µs per request):');
    for (const x of ours.slice(0, 12)) console.log(`    ${us(x.ms, armed.requests).padStart(7)} µs ${((100 * x.ms) / armed.total).toFixed(2).padStart(5)} %  ${x.fn.replace(DIST, 'dist/')}`);
    // What armed spends more than bare, function by function, per request (noisy below ~0.1 µs).
    const bareBy = new Map(bare.rows.map((x) => [x.fn, x.ms]));
    const diff = armed.rows
      .map((x) => ({ fn: x.fn, d: (x.ms * 1000) / armed.requests - ((bareBy.get(x.fn) ?? 0) * 1000) / bare.requests }))
      .filter((x) => !x.fn.startsWith('(idle)'))
      .sort((a, b) => b.d - a.d);
    console.log('  largest increases armed - bare (µs per request):');
    for (const x of diff.slice(0, 12)) console.log(`    ${x.d.toFixed(2).padStart(7)} µs  ${x.fn.replace(DIST, 'dist/')}`);
  }
  load.close();
  console.log(`\nprofiles kept in ${out}`);
}
