import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { codes, createCollector, SqliteStore } from '../../collector/index.js';
import { httpRequest, ingest, sampleCapture, startTestCollector } from '../helpers.js';

function assertJsonError(res: { status: number; headers: Record<string, unknown>; text: string; json(): any }, status: number, code: string, message?: string | RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json();
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error), ['code', 'message']);
  assert.equal(body.error.code, code);
  if (typeof message === 'string') assert.equal(body.error.message, message);
  else if (message) assert.match(body.error.message, message);
  assert.doesNotMatch(res.text, /\n\s+at /, 'no stack trace');
}

test('ingest, list, get by seq and id, delete', async (t) => {
  const { url } = await startTestCollector(t);
  const a = sampleCapture();
  const b = sampleCapture({ request: { method: 'POST', url: '/pay?x=1' }, response: { status: 503 } });
  const res = await ingest(url, [a, b]);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { inserted: 2, duplicates: 0 });
  assert.deepEqual((await ingest(url, [a])).json(), { inserted: 0, duplicates: 1 });

  const list = (await httpRequest(`${url}/v1/captures?status=503`)).json();
  assert.deepEqual(list.captures.map((c: any) => [c.seq, c.method, c.path]), [[2, 'POST', '/pay?x=1']]);

  assert.deepStrictEqual((await httpRequest(`${url}/v1/captures/1`)).json(), { ...a, seq: 1 });
  assert.deepStrictEqual((await httpRequest(`${url}/v1/captures/${b.id}`)).json(), { ...b, seq: 2 });

  const del = await httpRequest(`${url}/v1/captures/1`, { method: 'DELETE' });
  assert.deepEqual([del.status, del.json()], [200, { deleted: true }]);
  assertJsonError(await httpRequest(`${url}/v1/captures/1`), 404, codes.NOT_FOUND, 'no capture with id 1');
  assertJsonError(await httpRequest(`${url}/v1/captures/1`, { method: 'DELETE' }), 404, codes.NOT_FOUND);
});

test('a bare array is accepted, and gzip bodies are decompressed', async (t) => {
  const { url } = await startTestCollector(t);
  const captures = [sampleCapture(), sampleCapture()];
  const res = await httpRequest(`${url}/v1/captures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: gzipSync(JSON.stringify(captures)),
  });
  assert.deepEqual([res.status, res.json()], [200, { inserted: 2, duplicates: 0 }]);
});

test('400 names the bad field; the whole batch is refused', async (t) => {
  const { url } = await startTestCollector(t);
  const bad = sampleCapture();
  (bad.response as any).status = 'oops';
  assertJsonError(
    await ingest(url, [sampleCapture(), bad]),
    400,
    codes.INVALID_CAPTURE,
    'captures[1].response.status: expected an HTTP status number',
  );
  const wrongSchema = { ...sampleCapture(), schema: 2 } as any;
  assertJsonError(await ingest(url, [wrongSchema]), 400, codes.INVALID_CAPTURE, 'captures[0].schema: expected 1 (capture schema v1)');
  const noMethod = sampleCapture();
  delete (noMethod.request as any).method;
  assertJsonError(await ingest(url, [noMethod]), 400, codes.INVALID_CAPTURE, 'captures[0].request.method: expected an HTTP method');
  assertJsonError(
    await httpRequest(`${url}/v1/captures`, { method: 'POST', body: '{"captures": [' }),
    400,
    codes.BAD_REQUEST,
    /^request body is not valid JSON: /,
  );
  assertJsonError(await httpRequest(`${url}/v1/captures`, { method: 'POST', body: '{}' }), 400, codes.INVALID_CAPTURE);
  assert.deepEqual((await httpRequest(`${url}/v1/captures`)).json(), { captures: [] });
});

test('bad list parameters are 400 with the fix', async (t) => {
  const { url } = await startTestCollector(t);
  assertJsonError(
    await httpRequest(`${url}/v1/captures?status=abc`),
    400,
    codes.BAD_REQUEST,
    "bad status 'abc': use a class like 5xx or an exact status like 500",
  );
  assertJsonError(await httpRequest(`${url}/v1/captures?since=yesterday`), 400, codes.BAD_REQUEST, /^bad since 'yesterday'/);
  assertJsonError(await httpRequest(`${url}/v1/captures?limit=0`), 400, codes.BAD_REQUEST, /^bad limit '0'/);
  assertJsonError(await httpRequest(`${url}/v1/captures?colour=red`), 400, codes.BAD_REQUEST, /^unknown query parameter 'colour'/);
});

test('since accepts a duration, an ISO time and epoch ms', async (t) => {
  const { url } = await startTestCollector(t);
  const old = sampleCapture({ startedAt: new Date(Date.now() - 2 * 3_600_000).toISOString() });
  const recent = sampleCapture({ startedAt: new Date(Date.now() - 60_000).toISOString() });
  await ingest(url, [old, recent]);
  const ids = async (since: string): Promise<string[]> =>
    (await httpRequest(`${url}/v1/captures?since=${encodeURIComponent(since)}`)).json().captures.map((c: any) => c.id);
  assert.deepEqual(await ids('1h'), [recent.id]);
  assert.deepEqual(await ids(new Date(Date.now() - 3 * 3_600_000).toISOString()), [old.id, recent.id]);
  assert.deepEqual(await ids(String(Date.now() - 30 * 60_000)), [recent.id]);
});

test('413 past maxBodyBytes, as sent and decompressed; 415 for an unknown encoding', async (t) => {
  const { url } = await startTestCollector(t, { maxBodyBytes: 4096 });
  const big = JSON.stringify([sampleCapture({ service: 'x'.repeat(8000) })]);
  assertJsonError(await httpRequest(`${url}/v1/captures`, { method: 'POST', body: big }), 413, codes.PAYLOAD_TOO_LARGE, /larger than 4096 bytes/);
  // 8 KB of JSON compresses far below 4096 bytes: the limit applies after decompression too.
  const bomb = gzipSync(big);
  assert.ok(bomb.length < 4096);
  assertJsonError(
    await httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: bomb }),
    413,
    codes.PAYLOAD_TOO_LARGE,
    /\(decompressed\)/,
  );
  assertJsonError(
    await httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { 'content-encoding': 'zstd' }, body: '[]' }),
    415,
    codes.UNSUPPORTED_ENCODING,
    "unsupported Content-Encoding 'zstd': send identity, gzip, deflate or br",
  );
  assertJsonError(
    await httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: 'not gzip' }),
    400,
    codes.BAD_REQUEST,
    'request body is not valid gzip data',
  );
});

test('404 for unknown routes, 405 with Allow for wrong methods', async (t) => {
  const { url } = await startTestCollector(t);
  assertJsonError(await httpRequest(`${url}/v2/things`), 404, codes.ROUTE_NOT_FOUND);
  const res = await httpRequest(`${url}/v1/captures`, { method: 'PUT' });
  assertJsonError(res, 405, codes.METHOD_NOT_ALLOWED, 'method PUT is not allowed on /v1/captures; use GET, HEAD, POST');
  assert.equal(res.headers.allow, 'GET, HEAD, POST');
  assertJsonError(await httpRequest(`${url}/v1/captures/1`, { method: 'POST' }), 405, codes.METHOD_NOT_ALLOWED);
});

test('token: 401 with WWW-Authenticate on /v1 and /metrics, healthz stays open', async (t) => {
  const { url } = await startTestCollector(t, { token: 's3cret' });
  for (const path of ['/v1/captures', '/v1/captures/1', '/metrics']) {
    const res = await httpRequest(`${url}${path}`);
    assertJsonError(res, 401, codes.UNAUTHORIZED, 'missing or wrong bearer token; send Authorization: Bearer <token>');
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  }
  assertJsonError(await ingest(url, [sampleCapture()], 'wrong'), 401, codes.UNAUTHORIZED);
  assertJsonError(await ingest(url, [sampleCapture()], 's3cret-longer'), 401, codes.UNAUTHORIZED);
  assert.deepEqual((await ingest(url, [sampleCapture()], 's3cret')).json(), { inserted: 1, duplicates: 0 });
  const list = await httpRequest(`${url}/v1/captures`, { headers: { authorization: 'bearer s3cret' } });
  assert.equal(list.json().captures.length, 1);
  const health = await httpRequest(`${url}/healthz`);
  assert.deepEqual([health.status, health.json()], [200, { status: 'ok' }]);
});

test('metrics count ingested, duplicates, rejections and stored captures', async (t) => {
  const { url } = await startTestCollector(t);
  const a = sampleCapture();
  await ingest(url, [a, sampleCapture()]);
  await ingest(url, [a]);
  await httpRequest(`${url}/v1/captures`, { method: 'POST', body: 'nope' });
  await httpRequest(`${url}/v1/captures`, { method: 'POST', body: '{}' });
  const res = await httpRequest(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const samples = res.text.split('\n').filter((line) => line && !line.startsWith('#'));
  // The last four (pruned totals, stored bytes, rules version) are tested in ops.test.ts.
  assert.deepEqual(samples.slice(-4).map((line) => line.split(' ')[0]), [
    'httploop_collector_captures_pruned_total',
    'httploop_collector_pruned_bytes_total',
    'httploop_collector_stored_bytes',
    'httploop_collector_rules_version',
  ]);
  assert.deepEqual(samples.slice(0, -4), [
    'httploop_collector_captures_ingested_total 2',
    'httploop_collector_captures_duplicate_total 1',
    'httploop_collector_ingest_rejected_total{reason="invalid"} 1',
    'httploop_collector_ingest_rejected_total{reason="malformed"} 1',
    'httploop_collector_ingest_rejected_total{reason="too_large"} 0',
    'httploop_collector_ingest_rejected_total{reason="unsupported_encoding"} 0',
    'httploop_collector_ingest_rejected_total{reason="unauthorized"} 0',
    'httploop_collector_ingest_rejected_total{reason="overloaded"} 0',
    'httploop_collector_replays_total{outcome="sent"} 0',
    'httploop_collector_replays_total{outcome="refused"} 0',
    'httploop_collector_replays_total{outcome="failed"} 0',
    'httploop_collector_captures_stored 2',
  ]);
});

test('an internal error is logged, and answered 500 "internal error" without detail', async (t) => {
  // A real store whose insert fails the way a broken disk would.
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  store.insert = () => {
    throw new Error('disk on fire at /secret/path');
  };
  const collector = createCollector({ store });
  const { url } = await collector.listen(0, '127.0.0.1');
  t.after(() => collector.close());
  const logged: unknown[][] = [];
  t.mock.method(console, 'error', (...args: unknown[]) => logged.push(args));
  const res = await ingest(url, [sampleCapture()]);
  assertJsonError(res, 500, codes.INTERNAL, 'internal error');
  assert.doesNotMatch(res.text, /disk on fire/);
  assert.equal(logged.length, 1);
  assert.match(String((logged[0]![1] as Error).message), /disk on fire/);
});

test('createCollector validates its options with the fix in the message', () => {
  const cases: Array<[unknown, string]> = [
    [{}, "httploop: createCollector(): pass db (a SQLite file path, or ':memory:') or a store"],
    [{ db: ':memory:', port: 1 }, 'httploop: createCollector(): unknown option \'port\'; known options are store, db, pg, token, maxBodyBytes, maxPendingBatches, maxInflightBytes, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, replayAllow, retention, logger'],
    [{ db: ':memory:', token: '' }, 'httploop: createCollector(): token must be a non-empty string; leave it out for no token'],
    [{ db: ':memory:', maxBodyBytes: -1 }, 'httploop: createCollector(): maxBodyBytes must be a positive whole number of bytes, got -1'],
    [{ db: ':memory:', replayAllow: 'a:1' }, "httploop: createCollector(): replayAllow must be a list of 'host:port' strings, like ['staging.internal:8080']"],
    [{ db: ':memory:', replayAllow: ['staging'] }, "httploop: createCollector(): bad replayAllow entry 'staging': use host:port, like staging.internal:8080, 10.0.0.5:8080 or [fd00::5]:8080"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => createCollector(options as any), { code: codes.INVALID_OPTION, message });
  }
});

test('listen refuses a non-loopback host without a token; loopback names are fine', async (t) => {
  const collector = createCollector({ db: ':memory:' });
  t.after(() => collector.close());
  await assert.rejects(collector.listen(0, '0.0.0.0'), {
    code: codes.INSECURE_BIND,
    message:
      'refusing to listen on 0.0.0.0 without a token: captures would be readable by anyone who can reach it; pass --token (or set LOOP_TOKEN), or listen on 127.0.0.1',
  });
  const { url } = await collector.listen(0, 'localhost');
  assert.equal((await httpRequest(`${url}/healthz`)).status, 200);
});

test('close waits for an in-flight request, then closes the database', async (t) => {
  const { collector, url } = await startTestCollector(t);
  const pending = httpRequest(`${url}/v1/captures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ captures: [sampleCapture()] }),
  });
  // Let the request reach the server before closing.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const closed = collector.close();
  assert.deepEqual((await pending).json(), { inserted: 1, duplicates: 0 });
  await closed;
  await assert.rejects(httpRequest(`${url}/healthz`), { code: 'ECONNREFUSED' });
});
