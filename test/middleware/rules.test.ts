// loop()'s local rules on a real Express app: TapConfigs given as options or through LOOP_TAPCONFIG,
// several rules on one exchange, sampling, rate limits, per-rule body limits and redaction, services.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import express from 'express';
import { loop } from '../../middleware/index.js';
import { codes } from '../../src/errors.js';
import { httpRequest, tempDir } from '../helpers.js';
import { captureReceiver, close, listen } from './fixtures.js';

type Spec = Record<string, unknown>;

function rule(name: string, spec: Spec, extra: Record<string, unknown> = {}) {
  return { apiVersion: 'httploop/v1', kind: 'TapConfig', metadata: { name, ...extra }, spec };
}

/** An Express app whose /fail answers 500 with a body, /ok answers 200, behind loop(options). */
async function app(t: TestContext, options: Parameters<typeof loop>[0]) {
  const receiver = await captureReceiver();
  const mw = loop({ service: 'web', collector: receiver.url, remoteRules: false, ...options });
  const a = express();
  a.use(mw);
  a.get('/fail', (_req, res) => {
    res.status(500).set('x-session', 'abc').json({ error: 'payments timed out', detail: 'x'.repeat(100) });
  });
  a.get('/ok', (_req, res) => {
    res.json({ ok: true });
  });
  const server = http.createServer(a);
  const url = await listen(server);
  t.after(async () => {
    await mw.close();
    await close(server);
    await receiver.close();
  });
  return { url, mw, receiver };
}

async function hit(url: string, n: number, target = '/fail'): Promise<void> {
  for (let i = 0; i < n; i++) await httpRequest(`${url}${target}`);
}

describe('local rules', () => {
  test('an exchange matching several rules is captured once, naming every rule that matched', async (t) => {
    const { url, mw, receiver } = await app(t, {
      rules: [rule('errors', { match: 'status >= 500' }), rule('fail-path', { match: 'path == "/fail"' }), rule('posts', { match: 'method == "POST"' })],
    });
    await hit(url, 1);
    await hit(url, 1, '/ok');
    await mw.flush();
    assert.equal(receiver.records.length, 1);
    assert.deepEqual(receiver.records[0]!.rules, ['errors', 'fail-path']);
    const stats = mw.stats();
    assert.deepEqual(stats.ruleSet, { source: 'local', version: 0, names: ['errors', 'fail-path', 'posts'] });
    assert.deepEqual(stats.rules, [
      { name: 'errors', matched: 1, sampledOut: 0, rateLimited: 0, captured: 1 },
      { name: 'fail-path', matched: 1, sampledOut: 0, rateLimited: 0, captured: 1 },
      { name: 'posts', matched: 0, sampledOut: 0, rateLimited: 0, captured: 0 },
    ]);
  });

  test('match and rules together: match is the rule named "match"', async (t) => {
    const { url, mw, receiver } = await app(t, { match: 'path == "/ok"', rules: [rule('errors', { match: 'status >= 500' })] });
    await hit(url, 1);
    await hit(url, 1, '/ok');
    await mw.flush();
    assert.deepEqual(
      receiver.records.map((r) => [r.request.url, r.rules]),
      [
        ['/fail', ['errors']],
        ['/ok', ['match']],
      ],
    );
  });

  test('sample: 0 captures nothing and counts what it skipped', async (t) => {
    const { url, mw, receiver } = await app(t, { rules: [rule('errors', { match: 'status >= 500', sample: 0 })] });
    await hit(url, 5);
    await mw.flush();
    assert.equal(receiver.records.length, 0);
    assert.deepEqual(mw.stats().rules, [{ name: 'errors', matched: 5, sampledOut: 5, rateLimited: 0, captured: 0 }]);
  });

  test('sample: 0.5 keeps about half of the matches', async (t) => {
    const { url, mw, receiver } = await app(t, { rules: [rule('errors', { match: 'status >= 500', sample: 0.5 })] });
    const n = 300;
    await hit(url, n);
    await mw.flush();
    const kept = receiver.records.length;
    // Binomial(300, 0.5): 150 ± 15 is one standard deviation (8.7); ± 45 fails about once in 10^9 runs.
    assert.ok(kept >= 105 && kept <= 195, `kept ${kept} of ${n}`);
    assert.deepEqual(mw.stats().rules, [{ name: 'errors', matched: n, sampledOut: n - kept, rateLimited: 0, captured: kept }]);
  });

  test('maxPerMinute caps the captures of a rule; another rule can still capture the exchange', async (t) => {
    const { url, mw, receiver } = await app(t, {
      rules: [rule('limited', { match: 'status >= 500', maxPerMinute: 3 }), rule('posts', { match: 'method == "POST"' })],
    });
    await hit(url, 10);
    await mw.flush();
    assert.equal(receiver.records.length, 3);
    assert.deepEqual(mw.stats().rules[0], { name: 'limited', matched: 10, sampledOut: 0, rateLimited: 7, captured: 3 });
  });

  test("a rule's body limit cuts the kept bytes; the capture keeps the most any of its rules allows", async (t) => {
    const { url, mw, receiver } = await app(t, {
      maxBodyBytes: 1000,
      rules: [rule('small', { match: 'path == "/fail"', body: { maxBytes: { response: 10 } } })],
    });
    await hit(url, 1);
    await mw.flush();
    const body = receiver.records[0]!.response.body!;
    assert.deepEqual({ data: body.data, truncated: body.truncated }, { data: '{"error":"', truncated: true });
    assert.equal(body.size, JSON.stringify({ error: 'payments timed out', detail: 'x'.repeat(100) }).length);
  });

  test("a rule's redact names apply to the captures it makes", async (t) => {
    const { url, mw, receiver } = await app(t, {
      rules: [rule('errors', { match: 'status >= 500', redact: { headers: ['x-session'], query: ['sig'] } })],
    });
    await hit(url, 1, '/fail?sig=abc&page=2');
    await mw.flush();
    const record = receiver.records[0]!;
    assert.equal(record.request.url, '/fail?sig=[REDACTED]&page=2');
    assert.deepEqual(
      record.response.headers.find(([k]) => k.toLowerCase() === 'x-session'),
      ['x-session', '[REDACTED]'],
    );
    assert.deepEqual(record.redacted, ['request.url.query.sig', 'response.headers.x-session']);
  });

  test('rules for other services do not apply', async (t) => {
    const { url, mw, receiver } = await app(t, { rules: [rule('api-errors', { match: 'status >= 500', services: ['api'] })] });
    await hit(url, 2);
    await mw.flush();
    assert.equal(receiver.records.length, 0);
    assert.deepEqual(mw.stats().ruleSet.names, []);
  });

  test('an Envoy match predicate as loop({ match })', async (t) => {
    const { url, mw, receiver } = await app(t, {
      match: { http_response_headers_match: { headers: [{ name: ':status', string_match: { prefix: '5' } }] } },
    });
    await hit(url, 1);
    await hit(url, 1, '/ok');
    await mw.flush();
    assert.deepEqual(
      receiver.records.map((r) => [r.request.url, r.rules]),
      [['/fail', ['match']]],
    );
  });
});

describe('LOOP_TAPCONFIG', () => {
  async function withEnv<T>(value: string, fn: () => Promise<T> | T): Promise<T> {
    const before = process.env.LOOP_TAPCONFIG;
    process.env.LOOP_TAPCONFIG = value;
    try {
      return await fn();
    } finally {
      if (before === undefined) delete process.env.LOOP_TAPCONFIG;
      else process.env.LOOP_TAPCONFIG = before;
    }
  }

  test('loop() starts from the rules in the file', async (t) => {
    const file = path.join(await tempDir(t), 'tap.yaml');
    await writeFile(
      file,
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: ok-too }
spec: { match: 'path == "/ok"' }
`,
    );
    const { url, mw, receiver } = await withEnv(file, () => app(t, {}));
    await hit(url, 1);
    await hit(url, 1, '/ok');
    await mw.flush();
    assert.deepEqual(
      receiver.records.map((r) => [r.request.url, r.rules]),
      [['/ok', ['ok-too']]],
    );
  });

  test('an invalid file stops loop() at construction with file:line', async (t) => {
    const file = path.join(await tempDir(t), 'tap.yaml');
    await writeFile(file, 'apiVersion: httploop/v1\nkind: TapConfig\nmetadata: { name: a }\nspec: { match: "status >" }\n');
    await withEnv(file, () => {
      assert.throws(() => loop({ remoteRules: false }), {
        code: codes.INVALID_OPTION,
        message: `httploop: LOOP_TAPCONFIG=${file} is not valid: ${file}:4:25: spec.match: rule syntax error at 1:9: expected a number or string after '>'`,
      });
    });
  });

  test('a missing file says so', async () => {
    await withEnv('/nonexistent/tap.yaml', () => {
      assert.throws(() => loop({ remoteRules: false }), {
        code: codes.INVALID_OPTION,
        message: /^httploop: cannot read LOOP_TAPCONFIG=\/nonexistent\/tap\.yaml: ENOENT/,
      });
    });
  });
});

test('invalid rules are refused at construction, each problem with its path', () => {
  assert.throws(
    () => loop({ remoteRules: false, rules: [rule('a', { match: 'status >= 500', sample: 2 }), { kind: 'TapConfig' }] }),
    {
      code: codes.INVALID_OPTION,
      message:
        "httploop: 'rules' are not valid: rules[0].spec.sample: spec.sample must be a number from 0 to 1 (0.1 keeps one matching exchange in ten); got 2; " +
        "rules[1].apiVersion: apiVersion must be httploop/v1 or loop.solo.io/v1; got nothing; " +
        "rules[1].metadata: metadata must be a mapping, as in { name: checkout-errors }; got nothing; " +
        'rules[1].spec: spec must be a mapping, as in { match: status >= 500 }; got nothing',
    },
  );
  assert.throws(() => loop({ remoteRules: false, rules: 'tap.yaml' as never }), {
    code: codes.INVALID_OPTION,
    message: "httploop: 'rules' must be an array of TapConfig objects ({ apiVersion, kind, metadata, spec }), got 'tap.yaml'",
  });
  assert.throws(() => loop({ remoteRules: 'yes' as never }), {
    code: codes.INVALID_OPTION,
    message: "httploop: 'remoteRules' must be true or false, got 'yes'",
  });
});
