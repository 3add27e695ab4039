// loopctl export --as-test: option errors, the files it writes (and refuses to overwrite), that nothing
// secret reaches them, and that the generated tests run: node:test here; vitest and jest on the real
// example in test/examples/replay-in-tests.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { appSpecifier, defaultTestName } from '../../collector/cli/as-test.js';
import { loop } from '../../middleware/index.js';
import { httpRequest, ingest, repoRoot, runLoopctl, sampleCapture, startTestCollector, tempDir } from '../helpers.js';

/** A project directory whose `httploop` is this repository, as after `npm install httploop`. */
async function project(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'httploop-as-test-');
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(repoRoot, path.join(dir, 'node_modules', 'httploop'), 'dir');
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'shop', private: true }));
  return dir;
}

function runNode(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  // Without the outer runner's marker, or `node --test` in the child runs no file.
  const { NODE_TEST_CONTEXT: _, ...base } = process.env;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd, env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? (err.code as number) : 0, output: `${stdout}${stderr}` });
    });
  });
}

// Nothing listens here: a usage error must be found before the collector is asked anything.
const NO_COLLECTOR = { LOOP_COLLECTOR: 'http://127.0.0.1:9' };

test('option errors: exit 2, one line naming the fix, nothing written', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out');
  const cases: Array<[string[], string]> = [
    [['--as-test', 'mocha', '--out', out], "bad --as-test 'mocha': use node, vitest or jest"],
    [['--as-test', 'node', '--format', 'json', '--out', out], '--as-test and --format cannot be used together: --as-test writes the capture as JSON next to the test'],
    [['--as-test', 'jest'], '--as-test needs --out DIR: the directory to write the test and its capture to'],
    [['--app', '../app.js'], '--app is for --as-test only: loopctl export --id N --as-test node|vitest|jest --out DIR --app'],
    [['--force', '--out', path.join(dir, 'x.json')], '--force is for --as-test only: loopctl export --id N --as-test node|vitest|jest --out DIR --force'],
    [['--as-test', 'node', '--out', out, '--name', '../up'], "bad --name '../up': use letters, digits, '.', '_' and '-' (the files are NAME.capture.json and NAME.test.*)"],
    [['--as-test', 'node', '--out', out, '--app', 'a.js', '--app-export', 'my-app'], "bad --app-export 'my-app': give the name the app module exports the app under, or default"],
    [['--as-test', 'node', '--out', out, '--app-export', 'server'], '--app-export needs --app MODULE: the module that exports the app'],
    // Secrets are for replay only: export never takes them, so it cannot write them.
    [['--as-test', 'node', '--out', out, '--secrets', path.join(dir, 's.json')], "unknown option '--secrets' (see loopctl --help)"],
  ];
  for (const [args, message] of cases) {
    const r = await runLoopctl(['export', '--id', '1', ...args], NO_COLLECTOR);
    assert.deepEqual(r, { code: 2, stdout: '', stderr: `loopctl: ${message}\n` }, args.join(' '));
  }
  assert.deepEqual(await readdir(dir), [], 'nothing was created');
});

test('writes NAME.capture.json (as export --format json) and the test; refuses to overwrite without --force', async (t) => {
  const { url } = await startTestCollector(t);
  const record = sampleCapture({ request: { method: 'POST', url: '/api/Orders/42?expand=items' } });
  assert.equal((await ingest(url, [record])).status, 200);
  const dir = await tempDir(t);
  const out = path.join(dir, 'test', 'regressions');
  const env = { LOOP_COLLECTOR: url };

  const r = await runLoopctl(['export', '--id', '1', '--as-test', 'node', '--out', out, '--app', 'src/app.mjs'], env);
  const fixture = path.join(out, 'capture-1-post-api-orders-42.capture.json');
  const testFile = path.join(out, 'capture-1-post-api-orders-42.test.mjs');
  assert.deepEqual(r, { code: 0, stdout: `wrote ${fixture}\nwrote ${testFile}\nrun it: node --test ${testFile}\n`, stderr: '' });
  assert.deepEqual((await readdir(out)).sort(), ['capture-1-post-api-orders-42.capture.json', 'capture-1-post-api-orders-42.test.mjs']);
  const json = await runLoopctl(['export', '--id', '1', '--format', 'json'], env);
  assert.equal(await readFile(fixture, 'utf8'), json.stdout, 'the fixture is what export --format json prints');
  const code = await readFile(testFile, 'utf8');
  assert.match(code, /^import \{ app \} from '\.\/src\/app\.mjs';$/m, 'a path with an extension is made relative');
  assert.match(code, /^const fixture = new URL\('\.\/capture-1-post-api-orders-42\.capture\.json', import\.meta\.url\);$/m);
  assert.match(code, /^test\('capture 1: POST \/api\/Orders\/42\?expand=items no longer answers 500', async \(\) => \{$/m);
  assert.match(code, /^ {2}assert\.ok\(result\.status < 500, /m);

  // Again: both files exist, nothing is touched.
  await writeFile(testFile, '// edited by hand\n');
  const again = await runLoopctl(['export', '--id', '1', '--as-test', 'node', '--out', out], env);
  assert.deepEqual(again, { code: 2, stdout: '', stderr: `loopctl: ${fixture} exists: pass --force to overwrite it, or --name NAME to write other files\n` });
  assert.equal(await readFile(testFile, 'utf8'), '// edited by hand\n');
  const forced = await runLoopctl(['export', '--id', '1', '--as-test', 'node', '--out', out, '--app', 'src/app.mjs', '--force'], env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(await readFile(testFile, 'utf8'), code);

  // jest gets CommonJS; --name and --app-export; an absolute --app is made relative to DIR.
  const jest = await runLoopctl(
    ['export', '--id', record.id, '--as-test', 'jest', '--out', out, '--name', 'orders', '--app', path.join(dir, 'server.cjs'), '--app-export', 'server'],
    env,
  );
  assert.equal(jest.code, 0, jest.stderr);
  const cjs = await readFile(path.join(out, 'orders.test.cjs'), 'utf8');
  assert.match(cjs, /^const \{ loadCapture, replay \} = require\('httploop\/testing'\);$/m);
  assert.match(cjs, /^const \{ server: app \} = require\('\.\.\/\.\.\/server\.cjs'\);$/m);
  assert.match(cjs, /^const fixture = path\.join\(__dirname, 'orders\.capture\.json'\);$/m);
  assert.match(cjs, /^ {2}expect\(result\.status\)\.toBeLessThan\(500\);$/m);
  const vitest = await runLoopctl(['export', '--id', '1', '--as-test', 'vitest', '--out', out, '--name', 'v', '--app', '@shop/web', '--app-export', 'default'], env);
  assert.equal(vitest.code, 0, vitest.stderr);
  const v = await readFile(path.join(out, 'v.test.mjs'), 'utf8');
  assert.match(v, /^import \{ expect, test \} from 'vitest';$/m);
  assert.match(v, /^import app from '@shop\/web';$/m, 'no extension: a package name, kept');
  for (const file of ['orders.test.cjs', 'v.test.mjs']) {
    const check = await runNode(['--check', path.join(out, file)], dir);
    assert.equal(check.code, 0, `${file} is valid JavaScript: ${check.output}`);
  }

  const onFile = await runLoopctl(['export', '--id', '1', '--as-test', 'node', '--out', fixture], env);
  assert.deepEqual(onFile, { code: 2, stdout: '', stderr: `loopctl: cannot write to ${fixture}: it is a file, not a directory\n` });
});

test('nothing secret reaches the files: the capture of a real loop() app, a collector with a token', async (t) => {
  const token = 'collector-token-7f3a';
  const { url } = await startTestCollector(t, { token });
  const mw = loop({ service: 'web', collector: url, token, remoteRules: false });
  const server = http.createServer((req, res) =>
    mw(req, res, () => {
      req.resume();
      req.on('end', () => {
        res.statusCode = 500;
        res.setHeader('set-cookie', 'session=cookie-value-91');
        res.end('{"error":"boom"}');
      });
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await mw.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as { port: number };
  const r = await httpRequest(`http://127.0.0.1:${port}/login?access_token=query-secret-55&next=%2Fhome`, {
    method: 'POST',
    headers: { authorization: 'Bearer header-secret-12', cookie: 'sid=cookie-secret-34', 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'ann', password: 'body-secret-78' }),
  });
  assert.equal(r.status, 500);
  await mw.flush();

  const dir = await tempDir(t);
  // The token comes from the environment, as users give it; a secrets file for replay lies next to it.
  await writeFile(path.join(dir, 'secrets.json'), JSON.stringify({ headers: { authorization: 'Bearer header-secret-12' } }));
  const out = path.join(dir, 'out');
  for (const runner of ['node', 'vitest', 'jest']) {
    const e = await runLoopctl(['export', '--id', '1', '--as-test', runner, '--out', out, '--name', runner], { LOOP_COLLECTOR: url, LOOP_TOKEN: token });
    assert.equal(e.code, 0, e.stderr);
  }
  const files = (await readdir(out)).sort();
  assert.deepEqual(files, ['jest.capture.json', 'jest.test.cjs', 'node.capture.json', 'node.test.mjs', 'vitest.capture.json', 'vitest.test.mjs']);
  for (const file of files) {
    const text = await readFile(path.join(out, file), 'utf8');
    for (const secret of [token, 'header-secret-12', 'cookie-secret-34', 'query-secret-55', 'body-secret-78', 'cookie-value-91']) {
      assert.ok(!text.includes(secret), `${file} does not hold ${secret}`);
    }
  }
  const record = JSON.parse(await readFile(path.join(out, 'node.capture.json'), 'utf8'));
  assert.deepEqual(record.redacted.sort(), [
    'request.body.password',
    'request.headers.authorization',
    'request.headers.cookie',
    'request.url.query.access_token',
    'response.headers.set-cookie',
  ]);
  const code = await readFile(path.join(out, 'node.test.mjs'), 'utf8');
  // The test says how to give real values, and gives none.
  assert.ok(
    code.includes(
      [
        '  // Redacted at capture time, so replayed as "[REDACTED]": request.url.query.access_token,',
        '  // request.headers.authorization, request.headers.cookie, request.body.password.',
        '  // If the app needs a real header value, give it from outside this file, for example',
        '  //   replay(capture, { app, stubOutbound: true, headers: { authorization: process.env.TEST_AUTHORIZATION } })',
      ].join('\n'),
    ),
    code,
  );
});

test('the generated node:test test runs: it fails clearly without an app, asserts the fix for a 5xx, the match for a 200', async (t) => {
  const { url } = await startTestCollector(t);
  const failed = sampleCapture({
    request: { method: 'POST', url: '/orders', headers: [['Host', 'web:9090'], ['Content-Type', 'application/json']], body: { encoding: 'utf8', data: '{"qty":2}', size: 9, truncated: false } },
  });
  const ok = sampleCapture({
    request: { method: 'GET', url: '/health' },
    response: { status: 200, headers: [['Content-Type', 'application/json']], body: { encoding: 'utf8', data: '{"status":"ok","at":1}', size: 22, truncated: false } },
  });
  assert.equal((await ingest(url, [failed, ok])).status, 200);
  const dir = await project(t);
  const env = { LOOP_COLLECTOR: url };
  // The app: POST /orders reads the body (FIXED=1: answers 201); /health answers what was captured.
  await writeFile(
    path.join(dir, 'app.mjs'),
    `export const handler = (req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/health') return res.end(JSON.stringify({ status: 'ok', at: process.env.AT === undefined ? 1 : Number(process.env.AT) }));
    if (process.env.FIXED !== '1') { res.statusCode = 500; return res.end('{"error":"payments timed out"}'); }
    res.statusCode = 201;
    res.end(JSON.stringify({ ordered: JSON.parse(body).qty }));
  });
};
export default handler;
`,
  );

  const e1 = await runLoopctl(['export', '--id', '1', '--as-test', 'node', '--out', path.join(dir, 'test'), '--name', 'no-app'], env);
  assert.equal(e1.code, 0, e1.stderr);
  const noApp = await runNode(['--test', 'test/no-app.test.mjs'], dir);
  assert.equal(noApp.code, 1, noApp.output);
  assert.match(noApp.output, /no app to replay against: import it at the top of no-app\.test\.mjs/);

  const e2 = await runLoopctl(['export', '--id', '1', '--as-test', 'node', '--out', path.join(dir, 'test'), '--name', 'orders', '--app', '../app.mjs', '--app-export', 'handler'], env);
  assert.equal(e2.code, 0, e2.stderr);
  const still = await runNode(['--test', 'test/orders.test.mjs'], dir);
  assert.equal(still.code, 1, still.output);
  assert.match(still.output, /the replay still answers 500: \{"error":"payments timed out"\}/);
  const fixed = await runNode(['--test', 'test/orders.test.mjs'], dir, { FIXED: '1' });
  assert.equal(fixed.code, 0, fixed.output);
  assert.match(fixed.output, /^# pass 1$/m);

  const e3 = await runLoopctl(['export', '--id', '2', '--as-test', 'node', '--out', path.join(dir, 'test'), '--app', '../app.mjs', '--app-export', 'default'], env);
  assert.equal(e3.code, 0, e3.stderr);
  const healthTest = 'test/capture-2-get-health.test.mjs';
  assert.ok(existsSync(path.join(dir, healthTest)));
  assert.match(await readFile(path.join(dir, healthTest), 'utf8'), /^ {2}expectReplayToMatch\(result, capture\);$/m);
  const same = await runNode(['--test', healthTest], dir);
  assert.equal(same.code, 0, same.output);
  const differs = await runNode(['--test', healthTest], dir, { AT: '2' });
  assert.equal(differs.code, 1, differs.output);
  assert.match(differs.output, /does not match the capture: 1 difference\(s\)/);
});

test('file names from the capture, and what the test imports for --app', () => {
  const named = (url: string, method = 'GET', seq: number | undefined = 3) => defaultTestName(sampleCapture({ seq, request: { method, url } }));
  assert.equal(named('/'), 'capture-3-get-root');
  assert.equal(named('/api/v2/Orders/42?token=[REDACTED]', 'PATCH'), 'capture-3-patch-api-v2-orders-42');
  assert.equal(named(`/${'segment/'.repeat(10)}`), 'capture-3-get-segment-segment-segment-segment-segment', 'at most 40 characters of path, no dash at the end');
  assert.equal(named('/%E2%9C%93/..;/x'), 'capture-3-get-e2-9c-93-x');
  const record = sampleCapture({ id: 'V1St-GXR8_Z5jdHi6B-myT' });
  assert.equal(defaultTestName(record), 'capture-dHi6BmyT-get-root', 'no seq: the end of the capture id (its random part), letters and digits');

  const dir = path.join(path.sep, 'work', 'shop', 'test');
  assert.deepEqual(
    ['../src/app.js', './app.mjs', 'src/app.ts', 'app.cjs', '@shop/web', 'web-app', path.join(path.sep, 'work', 'shop', 'src', 'app.js'), path.join(dir, 'app.js')].map((m) =>
      appSpecifier(m, dir),
    ),
    ['../src/app.js', './app.mjs', './src/app.ts', './app.cjs', '@shop/web', 'web-app', '../src/app.js', './app.js'],
  );
});
