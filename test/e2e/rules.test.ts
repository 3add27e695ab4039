// Rules applied to a real collector with the real loopctl binary, followed by a running Express app:
// apply → the app captures by the rule within 2 s; delete → it stops; the collector down → the last
// good rules stay; an invalid file → nothing applied, exit 2 with file:line.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import express from 'express';
import { createCollector } from '../../collector/index.js';
import { loop } from '../../middleware/index.js';
import { close, listen } from '../middleware/fixtures.js';
import { httpRequest, runLoopctl, startTestCollector, tempDir } from '../helpers.js';

const TEAPOTS = `apiVersion: httploop/v1
kind: TapConfig
metadata:
  name: teapots
spec:
  match: status == 418
  services: [web]
`;

async function startApp(t: TestContext, collector: string) {
  const mw = loop({ service: 'web', collector, queue: { flushIntervalMs: 20 } });
  const app = express();
  app.use(mw);
  app.get('/teapot', (_req, res) => {
    res.status(418).send("I'm a teapot");
  });
  app.get('/fail', (_req, res) => {
    res.status(500).send('boom');
  });
  const server = http.createServer(app);
  const url = await listen(server);
  t.after(async () => {
    await mw.close();
    await close(server);
  });
  return { url, mw };
}

/** Waits until `check` holds, polling every 10 ms; resolves with the time it took. */
async function until(check: () => boolean, ms: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

async function writeTap(t: TestContext, text: string, name = 'tap.yaml'): Promise<string> {
  const file = path.join(await tempDir(t), name);
  await writeFile(file, text);
  return file;
}

describe('rules from the collector', () => {
  test('apply → the app captures by the rule within 2 s; delete → it stops', async (t) => {
    const { url: collectorUrl, collector } = await startTestCollector(t);
    const env = { LOOP_COLLECTOR: collectorUrl };
    const app = await startApp(t, collectorUrl);
    // The app's first poll has been answered (no TapConfigs yet: its own rules are in force).
    await until(() => app.mw.stats().ruleSet.source === 'local', 2000, 'local rules');

    const file = await writeTap(t, TEAPOTS);
    const applied = await runLoopctl(['apply', '-f', file], env);
    assert.deepEqual(applied, { code: 0, stdout: 'tapconfig/teapots created\n', stderr: '' });
    const took = await until(() => app.mw.stats().ruleSet.source === 'collector', 2000, 'the applied rule');
    t.diagnostic(`the app had the applied rule ${took} ms after loopctl apply returned`);
    assert.deepEqual(app.mw.stats().ruleSet, { source: 'collector', version: 1, names: ['teapots'] });

    await httpRequest(`${app.url}/teapot`);
    await httpRequest(`${app.url}/fail`); // the collector's rules replace the local 5xx rule
    await app.mw.flush();
    const captures = await collector.store.list({});
    assert.deepEqual(
      captures.map((c) => [c.path, c.status]),
      [['/teapot', 418]],
    );
    assert.deepEqual((await collector.store.get(captures[0]!.seq))!.rules, ['teapots']);

    const got = await runLoopctl(['get', 'tapconfigs'], env);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(
      got.stdout,
      `+---------+---------------+----------+--------+----------+
| NAME    | MATCH         | SERVICES | SAMPLE | CAPTURED |
+---------+---------------+----------+--------+----------+
| teapots | status == 418 | web      |      1 |        1 |
+---------+---------------+----------+--------+----------+

rules version 1

+---------+-----------+---------+-----------+
| SERVICE | INSTANCES | VERSION | SOURCE    |
+---------+-----------+---------+-----------+
| web     |         1 | 1       | collector |
+---------+-----------+---------+-----------+
`,
    );

    const deleted = await runLoopctl(['delete', 'tapconfig', 'teapots'], env);
    assert.deepEqual(deleted, { code: 0, stdout: 'tapconfig/teapots deleted\n', stderr: '' });
    await until(() => app.mw.stats().ruleSet.source === 'local', 2000, 'back to the local rules');
    assert.deepEqual(app.mw.stats().ruleSet, { source: 'local', version: 2, names: ['default'] });
    await httpRequest(`${app.url}/teapot`);
    await httpRequest(`${app.url}/fail`);
    await app.mw.flush();
    assert.deepEqual(
      (await collector.store.list({})).map((c) => [c.path, c.status]),
      [
        ['/teapot', 418],
        ['/fail', 500],
      ],
    );
  });

  test('with the collector down, the last good rules stay, and captures arrive once it is back', async (t) => {
    const dir = await tempDir(t);
    const db = path.join(dir, 'loop.db');
    let collector = createCollector({ db });
    const { port, url: collectorUrl } = await collector.listen(0, '127.0.0.1');
    t.after(() => collector.close());
    const env = { LOOP_COLLECTOR: collectorUrl };
    const app = await startApp(t, collectorUrl);
    await until(() => app.mw.stats().ruleSet.source === 'local', 2000, 'local rules');

    assert.equal((await runLoopctl(['apply', '-f', await writeTap(t, TEAPOTS)], env)).code, 0);
    await until(() => app.mw.stats().ruleSet.source === 'collector', 2000, 'the applied rule');

    await collector.close();
    // Polls fail now; the rules in force do not change.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(app.mw.stats().ruleSet, { source: 'collector', version: 1, names: ['teapots'] });
    await httpRequest(`${app.url}/teapot`);
    await httpRequest(`${app.url}/fail`);
    assert.equal(app.mw.stats().captured, 1);

    collector = createCollector({ db });
    await collector.listen(port, '127.0.0.1');
    await app.mw.flush();
    await until(() => app.mw.stats().sent === 1, 10_000, 'the queued capture delivered');
    assert.deepEqual(
      (await collector.store.list({})).map((c) => [c.path, c.status]),
      [['/teapot', 418]],
    );
    assert.deepEqual(app.mw.stats().ruleSet, { source: 'collector', version: 1, names: ['teapots'] });
  });

  test('a set this httploop cannot compile is refused, the last good one kept, and not asked for again and again', async (t) => {
    const { url: collectorUrl, collector } = await startTestCollector(t);
    const app = await startApp(t, collectorUrl);
    await until(() => app.mw.stats().ruleSet.source === 'local', 2000, 'local rules');
    assert.equal((await runLoopctl(['apply', '-f', await writeTap(t, TEAPOTS)], { LOOP_COLLECTOR: collectorUrl })).code, 0);
    await until(() => app.mw.stats().ruleSet.source === 'collector', 2000, 'the applied rule');

    // As a newer collector might serve: a rule this version's engine does not know. Written to the
    // store directly (the API would refuse it); the collector's poll notices the new version.
    const errorsBefore = app.mw.stats().internalErrors;
    const future = { ...(await collector.store.listTapConfigs())[0]!.resource, spec: { match: 'status == 418 && grpcStatus == 14' } };
    await collector.store.applyTapConfigs([future as never]);
    await until(() => app.mw.stats().internalErrors > errorsBefore, 5000, 'the refused set reported');
    assert.deepEqual(app.mw.stats().ruleSet, { source: 'collector', version: 1, names: ['teapots'] });
    await httpRequest(`${app.url}/teapot`);
    await app.mw.flush();
    assert.deepEqual((await collector.store.list({})).map((c) => c.status), [418]);

    // The feed now waits on version 2: over two seconds it sends no more than a few polls.
    const seen: number[] = [];
    const counter = (await import('node:diagnostics_channel')).channel('http.client.request.start');
    const onStart = ({ request }: { request: http.ClientRequest }) => {
      if (request.path.startsWith('/v1/rules')) seen.push(Date.now());
    };
    counter.subscribe(onStart as (m: unknown) => void);
    t.after(() => counter.unsubscribe(onStart as (m: unknown) => void));
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(seen.length <= 2, `${seen.length} rule polls in 2 s`);
    const listing = (await httpRequest(`${collectorUrl}/v1/tapconfigs`)).json();
    assert.deepEqual(
      listing.agents.map((a: { service: string; version: number; source: string }) => [a.service, a.version, a.source]),
      [['web', 1, 'collector']],
      'the agent table shows the version in force, not the refused one',
    );
  });

  test('an Envoy predicate applied with the seed\'s apiVersion captures what Envoy would have tapped', async (t) => {
    const { url: collectorUrl, collector } = await startTestCollector(t);
    const app = await startApp(t, collectorUrl);
    await until(() => app.mw.stats().ruleSet.source === 'local', 2000, 'local rules');
    const file = await writeTap(
      t,
      `apiVersion: loop.solo.io/v1
kind: TapConfig
metadata:
  name: teapot-gets
  namespace: loop-system
spec:
  match:
    and_match:
      rules:
        - http_request_headers_match:
            headers: [{ name: ":method", string_match: { exact: GET } }]
        - http_response_headers_match:
            headers: [{ name: ":status", range_match: { start: 400, end: 500 } }]
`,
    );
    const env = { LOOP_COLLECTOR: collectorUrl };
    assert.deepEqual(await runLoopctl(['apply', '-f', file], env), { code: 0, stdout: 'tapconfig/teapot-gets created\n', stderr: '' });
    await until(() => app.mw.stats().ruleSet.source === 'collector', 2000, 'the applied rule');
    await httpRequest(`${app.url}/teapot`);
    await httpRequest(`${app.url}/fail`);
    await app.mw.flush();
    const captures = await collector.store.list({});
    assert.deepEqual(captures.map((c) => [c.path, c.status]), [['/teapot', 418]]);
    const got = await runLoopctl(['get', 'tapconfigs'], env);
    assert.ok(
      got.stdout.includes('| teapot-gets | envoy: requestHeaders[":method"] == exact("GET") && respons… | all      |      1 |        1 |\n'),
      got.stdout,
    );
  });

  test('an invalid file applies nothing and exits 2 with file:line', async (t) => {
    const { url: collectorUrl } = await startTestCollector(t);
    const env = { LOOP_COLLECTOR: collectorUrl };
    const file = await writeTap(
      t,
      `${TEAPOTS}---
apiVersion: httploop/v1
kind: TapConfig
metadata:
  name: broken
spec:
  match: status >= 500 &&
  sample: 2
`,
    );
    const result = await runLoopctl(['apply', '-f', file], env);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(
      result.stderr,
      `loopctl: ${file}:14:26: spec.match: rule syntax error at 1:17: expected an operand, a value, '!' or '(' after '&&', found the end of the rule
loopctl: ${file}:15:11: spec.sample must be a number from 0 to 1 (0.1 keeps one matching exchange in ten); got 2
loopctl: nothing was applied (2 problems)
`,
    );
    const listing = (await httpRequest(`${collectorUrl}/v1/tapconfigs`)).json();
    assert.deepEqual([listing.version, listing.tapconfigs], [0, []]);
  });
});
