// loopctl apply / get / delete with the real binary against a real collector.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ingest, runLoopctl, sampleCapture, startTestCollector, tempDir } from '../helpers.js';

const TWO = `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: errors, namespace: shop }
spec:
  match: responseHeaders[":status"] == prefix("5")
---
apiVersion: loop.solo.io/v1
kind: TapConfig
metadata: { name: slow-checkout }
spec:
  match: path == prefix("/checkout") && duration > 2000 && method in ["POST", "PUT"] && requestHeaders["x-tenant"] == present()
  services: [checkout, web]
  sample: 0.1
  maxPerMinute: 30
`;

async function file(t: TestContext, text: string, name = 'tap.yaml'): Promise<string> {
  const f = path.join(await tempDir(t), name);
  await writeFile(f, text);
  return f;
}

test('apply, apply again, change one: created, unchanged, configured', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  const f = await file(t, TWO);
  assert.deepEqual(await runLoopctl(['apply', '-f', f], env), {
    code: 0,
    stdout: 'tapconfig/errors created\ntapconfig/slow-checkout created\n',
    stderr: '',
  });
  assert.deepEqual(await runLoopctl(['apply', '-f', f], env), {
    code: 0,
    stdout: 'tapconfig/errors unchanged\ntapconfig/slow-checkout unchanged\n',
    stderr: '',
  });
  const changed = await file(t, TWO.replace('sample: 0.1', 'sample: 0.2'));
  assert.equal((await runLoopctl(['apply', '-f', changed], env)).stdout, 'tapconfig/errors unchanged\ntapconfig/slow-checkout configured\n');
});

test('apply reads standard input with -f -, and --dry-run applies nothing', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  assert.deepEqual(await runLoopctl(['apply', '-f', '-', '--dry-run'], env, 20_000, TWO), {
    code: 0,
    stdout: 'tapconfig/errors valid (dry run)\ntapconfig/slow-checkout valid (dry run)\n',
    stderr: '',
  });
  assert.match((await runLoopctl(['get', 'tapconfigs'], env)).stdout, /^\+-+\+-+\+-+\+-+\+-+\+\n\| NAME \|/);
  assert.equal((await runLoopctl(['apply', '-f', '-'], env, 20_000, TWO)).code, 0);
  const broken = await runLoopctl(['apply', '-f', '-'], env, 20_000, 'kind: TapConfig\n');
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /^loopctl: <stdin>:1:1: apiVersion must be httploop\/v1 or loop\.solo\.io\/v1; got nothing\n/);
});

test('get tapconfigs: the table, long rules cut; -o yaml gives back what apply takes; one by name', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  await runLoopctl(['apply', '-f', await file(t, TWO)], env);
  await ingest(url, [sampleCapture({ rules: ['errors'] }), sampleCapture({ rules: ['errors'] })]);
  const table = await runLoopctl(['get', 'tapconfigs'], env);
  assert.equal(table.code, 0, table.stderr);
  assert.equal(
    table.stdout,
    `+---------------+--------------------------------------------------------------+--------------+--------+----------+
| NAME          | MATCH                                                        | SERVICES     | SAMPLE | CAPTURED |
+---------------+--------------------------------------------------------------+--------------+--------+----------+
| errors        | responseHeaders[":status"] == prefix("5")                    | all          |      1 |        2 |
| slow-checkout | path == prefix("/checkout") && duration > 2000 && method in… | checkout,web |    0.1 |        0 |
+---------------+--------------------------------------------------------------+--------------+--------+----------+

rules version 1

+---------+-----------+---------+--------+
| SERVICE | INSTANCES | VERSION | SOURCE |
+---------+-----------+---------+--------+
+---------+-----------+---------+--------+
`,
  );

  const yaml = await runLoopctl(['get', 'tapconfigs', '-o', 'yaml'], env);
  assert.deepEqual(
    parseAllDocuments(yaml.stdout).map((d) => d.toJS()),
    parseAllDocuments(TWO).map((d) => d.toJS()),
  );
  // What -o yaml prints applies as is, and changes nothing.
  const again = await runLoopctl(['apply', '-f', await file(t, yaml.stdout, 'back.yaml')], env);
  assert.equal(again.stdout, 'tapconfig/errors unchanged\ntapconfig/slow-checkout unchanged\n');

  const one = await runLoopctl(['get', 'tapconfig', 'errors', '--json'], env);
  const parsed = JSON.parse(one.stdout);
  assert.deepEqual([parsed.resource.metadata, parsed.version, parsed.captured], [{ name: 'errors', namespace: 'shop' }, 1, 2]);
});

test('delete: tapconfigs by name, captures by id; unknown ones exit 2', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  await runLoopctl(['apply', '-f', await file(t, TWO)], env);
  await ingest(url, [sampleCapture()]);
  assert.deepEqual(await runLoopctl(['delete', 'tapconfig', 'errors', 'slow-checkout'], env), {
    code: 0,
    stdout: 'tapconfig/errors deleted\ntapconfig/slow-checkout deleted\n',
    stderr: '',
  });
  assert.deepEqual(await runLoopctl(['delete', '--id', '1'], env), { code: 0, stdout: 'capture 1 deleted\n', stderr: '' });
  assert.deepEqual(await runLoopctl(['delete', 'tapconfig', 'errors'], env), {
    code: 2,
    stdout: '',
    stderr: 'loopctl: no tapconfig named errors\n',
  });
  assert.deepEqual(await runLoopctl(['delete', '--id', '1'], env), { code: 2, stdout: '', stderr: 'loopctl: no capture with id 1\n' });
});

test('usage errors exit 2 with the fix', async (t) => {
  const { url } = await startTestCollector(t);
  const env = { LOOP_COLLECTOR: url };
  const cases: Array<[string[], string]> = [
    [['get', 'captures'], "loopctl: loopctl get knows tapconfigs, not 'captures'; for captures use loopctl list\n"],
    [['get', 'tapconfigs', '-o', 'xml'], "loopctl: bad --output 'xml': use table, yaml or json\n"],
    [['get', 'tapconfig', 'nope'], 'loopctl: no tapconfig named nope\n'],
    [['delete'], 'loopctl: say what to delete: loopctl delete tapconfig NAME, or loopctl delete --id N\n'],
    [['delete', 'tapconfig'], 'loopctl: name the TapConfig to delete: loopctl delete tapconfig NAME\n'],
    [['delete', 'capture', '1'], "loopctl: loopctl delete knows tapconfig NAME and --id N, not 'capture'\n"],
    [['apply'], "loopctl: required option '-f, --filename <file>' not specified (see loopctl --help)\n"],
    [['apply', '-f', '/nonexistent.yaml'], 'loopctl: cannot read /nonexistent.yaml (no such file)\n'],
  ];
  for (const [args, stderr] of cases) {
    assert.deepEqual(await runLoopctl(args, env), { code: 2, stdout: '', stderr }, args.join(' '));
  }
});
