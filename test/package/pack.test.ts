// The package as npm ships it: `npm pack`, then publint and @arethetypeswrong/cli on the tarball, the
// file list, and the tarball loaded from a consumer project by `import` and `require`.
// `npm test` builds dist/ first; `npm pack --ignore-scripts` packs that build instead of rebuilding.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot, tempDir } from '../helpers.js';

const bin = (name: string): string => path.join(repoRoot, 'node_modules', '.bin', name);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

let dir: string;
let tarball: string;
let files: string[];

// Packed once for the file; every test reads the same tarball.
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'httploop-pack-'));
  const r = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], repoRoot);
  assert.equal(r.code, 0, `npm pack failed: ${r.stderr}`);
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(dir, info!.filename);
  files = info!.files.map((f) => f.path).sort();
});
after(() => rm(dir, { recursive: true, force: true }));

test('the tarball holds dist/, LICENSE, README.md and package.json, and every export target', async () => {
  const stray = files.filter((f) => !/^(dist\/.+|LICENSE|README\.md|package\.json)$/.test(f));
  assert.deepEqual(stray, [], 'nothing but the build, the license, the readme and package.json');
  assert.deepEqual(
    files.filter((f) => /\.(map|db|db-wal|db-shm|tgz)$/.test(f) || /(^|\/)(src|test|examples|bench)\//.test(f.replace(/^dist\//, ''))),
    [],
    'no source maps, databases or sources',
  );
  for (const needed of ['LICENSE', 'README.md', 'package.json']) assert.ok(files.includes(needed), `${needed} is packed`);

  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
  const targets: string[] = [pkg.main, pkg.module, pkg.types, ...Object.values<string>(pkg.bin)];
  for (const entry of Object.values<string | Record<string, string>>(pkg.exports)) {
    targets.push(...(typeof entry === 'string' ? [entry] : Object.values(entry)));
  }
  const missing = targets.map((p) => p.replace(/^\.\//, '')).filter((p) => !files.includes(p));
  assert.deepEqual(missing, [], 'every file package.json points to is in the tarball');
  // loopctl and the SQLite writer thread are run, never imported: no declarations.
  const runOnly = (f: string): boolean => f.includes('/cli/') || f === 'dist/collector/sqlite-writer.js';
  for (const js of files.filter((f) => /\.(c?js)$/.test(f) && !runOnly(f))) {
    const types = js.replace(/\.js$/, '.d.ts').replace(/\.cjs$/, '.d.cts');
    assert.ok(files.includes(types), `${js} has its declarations ${types}`);
  }
});

test('publint finds nothing wrong with the tarball', async () => {
  const r = await run(bin('publint'), ['run', tarball, '--strict'], repoRoot);
  assert.equal(r.code, 0, `publint:\n${r.stdout}${r.stderr}`);
});

test('@arethetypeswrong/cli: types resolve for import and require (node16 and bundlers)', async () => {
  // node16 profile: Node >= 20.19 and bundlers; node10 resolution (no `exports`) is not supported.
  const r = await run(bin('attw'), [tarball, '--profile', 'node16', '--format', 'ascii', '--no-color'], repoRoot);
  assert.equal(r.code, 0, `attw:\n${r.stdout}${r.stderr}`);
});

test('a consumer project loads the tarball with import and require, and its loopctl runs', async (t) => {
  // `npm install <tgz>` takes minutes here and leaves better-sqlite3 unbuilt (npm 11 runs no install
  // script that the consumer did not allow), so the tarball is unpacked as npm would and its
  // dependencies are linked from this repo's node_modules. What is tested is the tarball's content.
  const project = await tempDir(t, 'httploop-consumer-');
  const pkgDir = path.join(project, 'node_modules', 'httploop');
  await mkdir(pkgDir, { recursive: true });
  const untar = await run('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'], project);
  assert.equal(untar.code, 0, untar.stderr);
  await symlink(path.join(repoRoot, 'node_modules'), path.join(pkgDir, 'node_modules'), 'dir');
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));

  const db = path.join(project, 'loop.db');
  await writeFile(
    path.join(project, 'check.mjs'),
    `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const shape = (m, names) => Object.fromEntries(names.map((n) => [n, typeof m[n]]));
const esm = await import('httploop');
const cjs = require('httploop');
const koaCjs = require('httploop/koa');
const koaEsm = await import('httploop/koa');
const axiosEsm = await import('httploop/axios');
const axiosCjs = require('httploop/axios');
const testingEsm = await import('httploop/testing');
const testingCjs = require('httploop/testing');
const replayed = await testingCjs.replay(
  { schema: 1, id: 'c1', request: { method: 'GET', url: '/?a=1&b', headers: [['Host', 'web']], body: null }, response: { status: 200, headers: [], body: null }, outbound: [] },
  { handler: (req, res) => res.end(req.url + ' ' + req.headers['loop-replay']) },
);
const collector = await import('httploop/collector');
const collectorCjs = require('httploop/collector');
const mw = esm.loop({ service: 'consumer', enabled: false });
const c = collector.createCollector({ db: ${JSON.stringify(db)} });
const { port } = await c.listen(0, '127.0.0.1');
const health = await fetch('http://127.0.0.1:' + port + '/healthz');
// Captures are written by the store's writer thread, a file of its own in dist/: found from the
// packed ESM bundle (through the collector) and the CommonJS one (a store used directly).
const capture = (id) => ({ schema: 1, id, service: 'consumer', instance: 'h:1', startedAt: new Date().toISOString(), durationMs: 1, destination: 'web:80',
  request: { method: 'GET', url: '/', httpVersion: '1.1', headers: [], body: null }, response: { status: 500, headers: [], body: null, aborted: false } });
const ingested = await (await fetch('http://127.0.0.1:' + port + '/v1/captures', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ captures: [capture('consumer-esm')] }) })).json();
await c.close();
const cjsStore = new collectorCjs.SqliteStore(${JSON.stringify(db)} + '.cjs');
const cjsInserted = await cjsStore.insert([capture('consumer-cjs')]);
await cjsStore.close();
console.log(JSON.stringify({
  esm: shape(esm, ['loop', 'LoopError', 'codes']),
  cjs: shape(cjs, ['loop', 'LoopError', 'codes']),
  sameLoop: esm.loop === cjs.loop,
  middleware: [typeof mw, typeof mw.flush, typeof mw.close, typeof mw.stats],
  koa: [typeof koaCjs.loop, typeof koaEsm.loop],
  axios: shape(axiosEsm, ['traceAxios', 'traceparentInterceptor']),
  axiosCjs: shape(axiosCjs, ['traceAxios', 'traceparentInterceptor']),
  testing: shape(testingEsm, ['loadCapture', 'fetchCapture', 'fetchCaptures', 'replay', 'expectReplayToMatch']),
  testingCjs: shape(testingCjs, ['loadCapture', 'fetchCapture', 'fetchCaptures', 'replay', 'expectReplayToMatch']),
  testingReplay: replayed.text(),
  collector: shape(collector, ['createCollector', 'startCollector']),
  collectorCjs: shape(collectorCjs, ['createCollector', 'startCollector']),
  collectorHealth: health.status,
  ingested,
  cjsInserted,
}));
`,
  );
  const check = await run(process.execPath, ['check.mjs'], project);
  assert.equal(check.code, 0, check.stderr);
  assert.deepStrictEqual(JSON.parse(check.stdout), {
    esm: { loop: 'function', LoopError: 'function', codes: 'object' },
    cjs: { loop: 'function', LoopError: 'function', codes: 'object' },
    // Two builds of the same code: import and require get their own copy (dual package), both work.
    sameLoop: false,
    middleware: ['function', 'function', 'function', 'function'],
    koa: ['function', 'function'],
    axios: { traceAxios: 'function', traceparentInterceptor: 'function' },
    axiosCjs: { traceAxios: 'function', traceparentInterceptor: 'function' },
    testing: { loadCapture: 'function', fetchCapture: 'function', fetchCaptures: 'function', replay: 'function', expectReplayToMatch: 'function' },
    testingCjs: { loadCapture: 'function', fetchCapture: 'function', fetchCaptures: 'function', replay: 'function', expectReplayToMatch: 'function' },
    testingReplay: '/?a=1&b c1',
    collector: { createCollector: 'function', startCollector: 'function' },
    collectorCjs: { createCollector: 'function', startCollector: 'function' },
    collectorHealth: 200,
    ingested: { inserted: 1, duplicates: 0 },
    cjsInserted: { inserted: 1, duplicates: 0 },
  });

  const help = await run(process.execPath, [path.join(pkgDir, 'dist', 'collector', 'cli', 'loopctl.js'), '--help'], project);
  assert.equal(help.code, 0, help.stderr);
  for (const command of ['serve', 'list', 'show', 'replay']) assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
});
