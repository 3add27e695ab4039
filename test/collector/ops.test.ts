import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { SqliteStore, createCollector } from '../../collector/index.js';
import { httpRequest, ingest, sampleCapture, startTestCollector, tempDir } from '../helpers.js';

test('/healthz is the process, /readyz the database: 503 once the database is gone', async (t) => {
  const store = new SqliteStore(path.join(await tempDir(t), 'loop.db'));
  const collector = createCollector({ store });
  const { url } = await collector.listen(0);
  t.after(() => collector.close());
  assert.deepEqual((await httpRequest(`${url}/readyz`)).json(), { status: 'ready' });
  store.close();
  assert.equal((await httpRequest(`${url}/healthz`)).status, 200);
  const ready = await httpRequest(`${url}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual(ready.json(), { status: 'unavailable', reason: 'the database does not answer' });
});

test('/metrics: stored bytes, rules version, pruned totals', async (t) => {
  const { url } = await startTestCollector(t);
  const captures = [sampleCapture(), sampleCapture()];
  await ingest(url, captures);
  const bytes = captures.reduce((n, c) => n + Buffer.byteLength(JSON.stringify(c)), 0);
  let text = (await httpRequest(`${url}/metrics`)).body.toString();
  assert.match(text, new RegExp(`^httploop_collector_stored_bytes ${bytes}$`, 'm'));
  assert.match(text, /^httploop_collector_rules_version 0$/m);
  assert.match(text, /^httploop_collector_captures_pruned_total 0$/m);
  const pruned = await httpRequest(`${url}/v1/prune`, { method: 'POST', body: JSON.stringify({ maxCount: 1 }) });
  assert.equal(pruned.status, 200);
  text = (await httpRequest(`${url}/metrics`)).body.toString();
  assert.match(text, /^httploop_collector_captures_pruned_total 1$/m);
  assert.match(text, new RegExp(`^httploop_collector_pruned_bytes_total ${Buffer.byteLength(JSON.stringify(captures[0]))}$`, 'm'));
});

test('POST /v1/prune refuses a request without a limit or with a bad one, naming the fix', async (t) => {
  const { url } = await startTestCollector(t);
  for (const [body, message] of [
    [{}, 'prune: give at least one of maxAge, maxCount and maxBytes'],
    [{ maxAge: 'soon' }, "prune.maxAge: bad duration 'soon'; use a number of ms or a number with ms, s, m, h, d or w, like 7d"],
    [{ maxCount: 1, bogus: 2 }, "prune: unknown limit 'bogus'; known limits are maxAge, maxCount, maxBytes"],
  ] as const) {
    const answer = await httpRequest(`${url}/v1/prune`, { method: 'POST', body: JSON.stringify(body) });
    assert.equal(answer.status, 400);
    assert.equal((answer.json() as { error: { message: string } }).error.message, message);
  }
});

test('retention: validated at construction, applied in the background while listening, stopped on close', async (t) => {
  const db = path.join(await tempDir(t), 'loop.db');
  assert.throws(() => createCollector({ db, retention: { maxAge: '7 days' } }), /retention\.maxAge: bad duration '7 days'; use .* like 7d/);
  assert.throws(() => createCollector({ db, retention: {} }), /retention sets no limit; give maxAge, maxCount or maxBytes/);
  assert.throws(() => createCollector({ db, retention: { perService: { maxBytes: '1 lot' } } }), /perService\.maxBytes: bad size/);
  const collector = createCollector({ db, retention: { maxCount: 2, perService: { maxCount: 1 }, intervalMs: 100 } });
  const { url } = await collector.listen(0);
  t.after(() => collector.close());
  await ingest(url, [sampleCapture({ service: 'a' }), sampleCapture({ service: 'a' }), sampleCapture({ service: 'b' }), sampleCapture({ service: 'a' })]);
  const deadline = Date.now() + 10_000;
  while ((await collector.store.count()) > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    (await collector.store.list({})).map((s) => [s.seq, s.service]),
    [
      [3, 'b'],
      [4, 'a'],
    ],
  );
  await collector.close();
});

test('logs: JSON lines for start, rejections (reason, size, remote), prune, stop; never a body or the token', async (t) => {
  const { PassThrough } = await import('node:stream');
  const { createLogger } = await import('../../collector/index.js');
  const sink = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  sink.on('data', (chunk: Buffer) => {
    raw += chunk.toString();
  });
  const token = 'tok-SECRET-4711';
  const secretBody = 'BODY-SECRET-0815';
  const db = path.join(await tempDir(t), 'loop.db');
  const collector = createCollector({ db, token, logger: createLogger({ level: 'info', destination: sink }) });
  const { url } = await collector.listen(0);
  const auth = { authorization: `Bearer ${token}` };
  // Rejected: invalid capture (body quoted nowhere), wrong token, bad JSON.
  await httpRequest(`${url}/v1/captures`, { method: 'POST', headers: auth, body: JSON.stringify({ captures: [{ secret: secretBody }] }) });
  await httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { authorization: `Bearer ${token}x` }, body: secretBody });
  await httpRequest(`${url}/v1/captures`, { method: 'POST', headers: auth, body: `{${secretBody}` });
  const good = sampleCapture();
  good.response.body = { encoding: 'utf8', data: secretBody, size: secretBody.length, truncated: false };
  assert.equal((await ingest(url, [good], token)).status, 200);
  await httpRequest(`${url}/v1/prune`, { method: 'POST', headers: auth, body: JSON.stringify({ maxCount: 0 }) });
  await collector.close();
  for (const line of raw.split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['collector started', 'ingest rejected', 'ingest rejected', 'ingest rejected', 'pruned', 'collector stopped'],
  );
  assert.deepEqual(
    lines.filter((l) => l.msg === 'ingest rejected').map((l) => [l.reason, l.remote, typeof l.bytes, l.path]),
    [
      ['invalid', '127.0.0.1', 'number', '/v1/captures'],
      ['unauthorized', '127.0.0.1', 'number', '/v1/captures'],
      ['malformed', '127.0.0.1', 'number', '/v1/captures'],
    ],
  );
  assert.equal(lines.find((l) => l.msg === 'pruned')!.deleted, 1);
  assert.ok(!raw.includes(secretBody), 'no body in the log');
  assert.ok(!raw.includes('SECRET-4711'), 'no token in the log');
});
