// examples/replay-in-tests as a user runs it: record.mjs captures the real failure through a real
// collector and writes the test with the real loopctl; the test fails against the app as it is and
// passes with the fix (FIXED=1), under node:test, vitest and jest. Each runs in a project of its own
// in a temp dir, whose node_modules links httploop (this repository), express and vitest.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CaptureRecord } from '../../src/capture/record.js';
import { freePort, ingest, repoRoot, runLoopctl, startTestCollector, tempDir } from '../helpers.js';

const example = path.join(repoRoot, 'examples', 'replay-in-tests');
const committedDir = path.join(example, 'test');
const NAME = 'capture-1-post-orders';

interface Run {
  code: number;
  output: string;
}

function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Run> {
  // Without the outer runner's marker (or `node --test` in the child runs no file), without colours.
  const { NODE_TEST_CONTEXT: _, LOOP_COLLECTOR: __, ...base } = process.env;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd, env: { ...base, NO_COLOR: '1', FORCE_COLOR: '0', ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? (err.code as number) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** A user's project holding the example's app (and record.mjs), with httploop installed. */
async function project(t: TestContext, withVitest = false): Promise<string> {
  const dir = await tempDir(t, 'httploop-replay-in-tests-');
  for (const file of ['app.cjs', 'record.mjs']) await copyFile(path.join(example, file), path.join(dir, file));
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'shop', private: true }));
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(repoRoot, path.join(dir, 'node_modules', 'httploop'), 'dir');
  const deps = withVitest ? ['express', 'vitest'] : ['express'];
  for (const dep of deps) await symlink(path.join(repoRoot, 'node_modules', dep), path.join(dir, 'node_modules', dep), 'dir');
  return dir;
}

/** What does not change from one recording to the next: no ids, times, ports or stack paths. */
function stable(record: CaptureRecord): unknown {
  return {
    service: record.service,
    route: record.route,
    request: {
      method: record.request.method,
      url: record.request.url,
      headers: record.request.headers.filter(([k]) => k !== 'host'),
      body: record.request.body,
    },
    response: {
      status: record.response.status,
      headers: record.response.headers.filter(([k]) => !['Date', 'traceresponse'].includes(k)),
      body: record.response.body,
    },
    outbound: record.outbound.map((call) => ({
      method: call.method,
      path: new URL(call.url).pathname + new URL(call.url).search,
      status: call.status,
      response: call.response?.body,
    })),
    error: { name: record.error?.name, message: record.error?.message },
    rules: record.rules,
    redacted: record.redacted,
  };
}

test('record.mjs captures the failure and writes the committed fixture and test; node:test fails, then passes with the fix', async (t) => {
  const dir = await project(t);
  // Its own pricing port: the recorded call and the replayed one name it, so both runs get it.
  const env = { PRICING_URL: `http://127.0.0.1:${await freePort()}` };
  const recorded = await run(['record.mjs'], dir, env);
  assert.equal(recorded.code, 0, recorded.output);
  assert.match(recorded.output, /^POST \/orders -> 500 \{"error":"could not place the order"\}$/m);
  assert.match(recorded.output, /^orders: POST \/orders failed: Cannot read properties of undefined \(reading 'code'\)$/m);
  assert.deepEqual((await readdir(path.join(dir, 'test'))).sort(), [`${NAME}.capture.json`, `${NAME}.test.mjs`]);

  // What the script wrote is what is checked in (the capture but for its ids, times and ports).
  const fresh = JSON.parse(await readFile(path.join(dir, 'test', `${NAME}.capture.json`), 'utf8')) as CaptureRecord;
  const committed = JSON.parse(await readFile(path.join(committedDir, `${NAME}.capture.json`), 'utf8')) as CaptureRecord;
  assert.deepStrictEqual(stable(fresh), stable(committed));
  const freshTest = await readFile(path.join(dir, 'test', `${NAME}.test.mjs`), 'utf8');
  assert.equal(freshTest, await readFile(path.join(committedDir, `${NAME}.test.mjs`), 'utf8'));
  for (const text of [JSON.stringify(fresh), freshTest]) assert.ok(!text.includes('customer-4711-secret'), 'the bearer token is redacted');
  assert.deepEqual(fresh.redacted, ['request.headers.authorization']);

  const failing = await run(['--test', 'test/'], dir, env);
  assert.equal(failing.code, 1, failing.output);
  assert.match(failing.output, /the replay still answers 500: \{"error":"could not place the order"\}/);
  const fixed = await run(['--test', 'test/'], dir, { ...env, FIXED: '1' });
  assert.equal(fixed.code, 0, fixed.output);
  assert.match(fixed.output, /^# pass 1$/m);

  // The checked-in test, from the repository as the README runs it (its recording names the default pricing URL).
  const inRepo = await run(['--test', 'examples/replay-in-tests/test/'], repoRoot);
  assert.equal(inRepo.code, 1, inRepo.output);
  assert.match(inRepo.output, /the replay still answers 500/);
  const inRepoFixed = await run(['--test', 'examples/replay-in-tests/test/'], repoRoot, { FIXED: '1' });
  assert.equal(inRepoFixed.code, 0, inRepoFixed.output);

  // ---- the same capture as a vitest and a jest test ----
  const { url } = await startTestCollector(t);
  assert.equal((await ingest(url, [fresh])).status, 200);

  const vitestDir = await project(t, true);
  const v = await runLoopctl(['export', '--id', '1', '--as-test', 'vitest', '--out', path.join(vitestDir, 'test'), '--app', '../app.cjs'], { LOOP_COLLECTOR: url });
  assert.equal(v.code, 0, v.stderr);
  const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');
  const vFailing = await run([vitest, 'run', '--root', vitestDir], vitestDir, env);
  assert.equal(vFailing.code, 1, vFailing.output);
  assert.match(vFailing.output, /AssertionError: the replay answered: \{"error":"could not place the order"\}: expected 500 to be less than 500/);
  assert.match(vFailing.output, /Tests {2}1 failed \(1\)/);
  const vFixed = await run([vitest, 'run', '--root', vitestDir], vitestDir, { ...env, FIXED: '1' });
  assert.equal(vFixed.code, 0, vFixed.output);
  assert.match(vFixed.output, /Tests {2}1 passed \(1\)/);

  const jestDir = await project(t);
  const j = await runLoopctl(['export', '--id', '1', '--as-test', 'jest', '--out', path.join(jestDir, 'test'), '--app', '../app.cjs'], { LOOP_COLLECTOR: url });
  assert.equal(j.code, 0, j.stderr);
  const jest = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js');
  const jestArgs = [jest, '--ci', '--rootDir', jestDir, '--cacheDirectory', path.join(jestDir, '.jest-cache')];
  const jFailing = await run(jestArgs, jestDir, env);
  assert.equal(jFailing.code, 1, jFailing.output);
  assert.match(jFailing.output, /Expected: < 500\n\s+Received: {3}500/);
  assert.match(jFailing.output, /Tests: {7}1 failed, 1 total/);
  const jFixed = await run(jestArgs, jestDir, { ...env, FIXED: '1' });
  assert.equal(jFixed.code, 0, jFixed.output);
  assert.match(jFixed.output, /Tests: {7}1 passed, 1 total/);
});
