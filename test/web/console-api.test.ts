// The collector's side of the web console, over HTTP: the page and its files (also from the built
// package), the event stream, export, the TapConfig check, the diagnostic endpoint and its allowlist,
// the replay diff, and the list's paging and rule filter on 100 000 captures.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { filterFromQuery } from '../../collector/filter-params.js';
import { PostgresStore } from '../../collector/storage/postgres.js';
import { SqliteStore } from '../../collector/storage/sqlite.js';
import { freshPgSchema } from '../pg-schema.js';
import { httpRequest, ingest, loopctlPath, runLoopctl, sampleCapture, startHttpServer, startTestCollector, tempDir } from '../helpers.js';

const TOKEN = 'console-api-token';
const auth = { authorization: `Bearer ${TOKEN}` };

test('the page, script and style sheet: no token needed, nothing from elsewhere, a strict CSP, revalidated by ETag', async (t) => {
  const { url } = await startTestCollector(t, { token: TOKEN });
  const files = [
    ['/', 'text/html; charset=utf-8'],
    ['/console.js', 'text/javascript; charset=utf-8'],
    ['/console.css', 'text/css; charset=utf-8'],
  ] as const;
  let total = 0;
  for (const [file, type] of files) {
    const res = await httpRequest(`${url}${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers['content-type'], type);
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'; script-src 'self'; style-src 'self';/);
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['cache-control'], 'no-cache');
    // Example URLs in input placeholders aside, no address of anywhere else: no CDN, no web font, no beacon.
    const text = res.text.replace(/placeholder: '[^']*'/g, '');
    assert.doesNotMatch(text, /https?:\/\/|["'(]\/\/[a-z0-9.-]+|@import|[^A-Za-z]url\(/, `${file} loads nothing from elsewhere`);
    total += res.body.length;
    const again = await httpRequest(`${url}${file}`, { headers: { 'if-none-match': res.headers.etag! } });
    assert.equal(again.status, 304);
    const head = await httpRequest(`${url}${file}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(res.body.length));
  }
  assert.ok(total < 80 * 1024, `the console is small: ${total} bytes`);
  // The API behind it still wants the token.
  assert.equal((await httpRequest(`${url}/v1/captures`)).status, 401);
  assert.equal((await httpRequest(`${url}/v1/events`)).status, 401);
  assert.equal((await httpRequest(`${url}/v1/diag`, { method: 'POST', body: '{}' })).status, 401);
});

test('the built loopctl serves the same console as the sources (the files are compiled in, found from dist/)', async (t) => {
  const { url: fromSource } = await startTestCollector(t);
  const dir = await tempDir(t);
  const child = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', '--db', path.join(dir, 'loop.db')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out);
    });
    child.on('exit', () => reject(new Error('serve exited early')));
  });
  const built = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!;
  for (const file of ['/', '/console.js', '/console.css']) {
    const [a, b] = await Promise.all([httpRequest(`${built}${file}`), httpRequest(`${fromSource}${file}`)]);
    assert.equal(a.status, 200, file);
    assert.ok(a.body.equals(b.body), `${file} is the same from dist/ and from the sources`);
  }
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

/** Reads server-sent events from a stream until `want` of them arrived. */
async function readEvents(res: Response, want: number): Promise<Array<{ event: string; data: unknown }>> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: Array<{ event: string; data: unknown }> = [];
  let buffer = '';
  while (events.length < want) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event) events.push({ event, data: data ? JSON.parse(data) : undefined });
    }
  }
  reader.releaseLock();
  return events;
}

test('GET /v1/events announces new captures (coalesced, ids included), and a shutdown ends the streams at once', async (t) => {
  const { url, collector } = await startTestCollector(t, { token: TOKEN });
  const res = await fetch(`${url}/v1/events`, { headers: auth });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.deepEqual(await readEvents(res, 1), [{ event: 'ready', data: {} }]);

  const first = [sampleCapture(), sampleCapture()];
  const second = [sampleCapture()];
  assert.equal((await ingest(url, first, TOKEN)).status, 200);
  assert.equal((await ingest(url, second, TOKEN)).status, 200);
  // A duplicate batch stores nothing and announces nothing.
  assert.deepEqual((await ingest(url, second, TOKEN)).json(), { inserted: 0, duplicates: 1 });
  const [event] = await readEvents(res, 1);
  const ids = [...first, ...second].map((c) => c.id);
  // Batches within 250 ms of each other arrive as one event; either way every id is announced once.
  const data = event!.data as { ids: string[]; count: number };
  assert.equal(event!.event, 'captures');
  if (data.count < 3) {
    const [next] = await readEvents(res, 1);
    const more = next!.data as { ids: string[]; count: number };
    data.ids.push(...more.ids);
    data.count += more.count;
  }
  assert.deepEqual({ ids: data.ids.sort(), count: data.count }, { ids: ids.sort(), count: 3 });

  const started = Date.now();
  await collector.close();
  assert.ok(Date.now() - started < 5000, 'the open stream does not hold the shutdown for the 10 s grace');
});

test('export: the curl line and the HAR log are those of loopctl export', async (t) => {
  const { url } = await startTestCollector(t, { token: TOKEN });
  const capture = sampleCapture({ request: { method: 'POST', url: '/pay?x=1', body: { encoding: 'utf8', data: '{"a":1}', size: 7, truncated: false } } });
  await ingest(url, [capture], TOKEN);
  for (const format of ['curl', 'har'] as const) {
    const res = await httpRequest(`${url}/v1/captures/${capture.id}/export?format=${format}`, { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-disposition'], `attachment; filename="capture-1.${format === 'har' ? 'har' : 'sh'}"`);
    const cli = await runLoopctl(['export', '--id', capture.id, '--format', format], { LOOP_COLLECTOR: url, LOOP_TOKEN: TOKEN });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(res.text, cli.stdout);
  }
  const bad = await httpRequest(`${url}/v1/captures/${capture.id}/export?format=pdf`, { headers: auth });
  assert.equal(bad.status, 400);
  assert.equal(bad.json().error.message, "bad format 'pdf': use format=har or format=curl");
  assert.equal((await httpRequest(`${url}/v1/captures/nope/export?format=har`, { headers: auth })).status, 404);
});

test('POST /v1/tapconfig-check: problems at line and column, or the TapConfigs to apply', async (t) => {
  const { url } = await startTestCollector(t, { token: TOKEN });
  const yaml = 'apiVersion: httploop/v1\nkind: TapConfig\nmetadata:\n  name: errs\nspec:\n  smaple: 0.5\n  match: status >= 500\n';
  const bad = await httpRequest(`${url}/v1/tapconfig-check`, { method: 'POST', headers: auth, body: yaml });
  assert.equal(bad.status, 400);
  const { error } = bad.json();
  assert.equal(error.code, 'LOOP_ERR_INVALID_TAPCONFIG');
  assert.equal(error.problems.length, 1);
  assert.deepEqual({ line: error.problems[0].line, column: error.problems[0].column }, { line: 6, column: 3 });
  assert.match(error.problems[0].message, /unknown field 'smaple'/);
  const good = await httpRequest(`${url}/v1/tapconfig-check`, { method: 'POST', headers: auth, body: yaml.replace('  smaple: 0.5\n', '') });
  assert.equal(good.status, 200);
  assert.deepEqual(
    good.json().tapconfigs.map((c: { metadata: { name: string }; spec: { match: string } }) => [c.metadata.name, c.spec.match]),
    [['errs', 'status >= 500']],
  );
  // Checking applies nothing.
  assert.deepEqual((await httpRequest(`${url}/v1/tapconfigs`, { headers: auth })).json().tapconfigs, []);
});

test('POST /v1/diag only reaches the replay allowlist, checks its input, and answers the trail', async (t) => {
  const target = await startHttpServer(t, (req, res) => {
    // A hop that answers a trail the way loop() does: JSON, since the collector asks for it.
    assert.equal(req.method, 'TRACE');
    const body = JSON.stringify({
      body: 'hello',
      hops: [{ service: 'svc', instance: 'h:1', durationMs: 1, method: req.headers['loop-diag-method'] ?? 'TRACE', path: req.url, status: 200, rules: [], outbound: [] }],
    });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  const off = await startTestCollector(t, { token: TOKEN });
  const post = (base: string, body: unknown) =>
    httpRequest(`${base}/v1/diag`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const refused = await post(off.url, { url: `${target.url}/x`, token: 'd'.repeat(16) });
  assert.equal(refused.status, 403);
  assert.equal(refused.json().error.code, 'LOOP_ERR_REPLAY_FORBIDDEN_ADDRESS');

  const { url } = await startTestCollector(t, { token: TOKEN, replayAllow: [target.hostPort] });
  for (const [body, message] of [
    [{ url: 'ftp://x/', token: 't' }, /url must be an http\(s\) URL/],
    [{ url: `${target.url}/`, token: '' }, /token is required/],
    [{ url: `${target.url}/`, token: 't', method: 'POST' }, /method must be one of GET, HEAD, OPTIONS/],
    [{ url: `${target.url}/`, token: 't', headers: [['loop-diag-token', 'x']] }, /set by the diagnostic itself/],
    [{ url: `${target.url}/`, token: 't', extra: 1 }, /unknown field 'extra'/],
  ] as const) {
    const res = await post(url, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.json().error.message, message);
  }
  // Listed by address and port: another port of the same host is not.
  const otherPort = await post(url, { url: `http://127.0.0.1:${target.port === 65535 ? 1 : target.port + 1}/`, token: 't' });
  assert.equal(otherPort.status, 403);

  const ok = await post(url, { url: `${target.url}/users/42?x=1`, token: 'secret-token', method: 'get', headers: [['X-Debug', '1']] });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json(), {
    url: `${target.url}/users/42?x=1`,
    status: 200,
    statusMessage: 'OK',
    trail: { body: 'hello', hops: [{ service: 'svc', instance: 'h:1', durationMs: 1, method: 'GET', path: '/users/42?x=1', status: 200, rules: [], outbound: [] }] },
  });
});

test('POST /v1/captures/:id/diff compares as loopctl replay does and lines the bodies up', async (t) => {
  const { url } = await startTestCollector(t, { token: TOKEN });
  const capture = sampleCapture();
  await ingest(url, [capture], TOKEN);
  const post = (body: unknown) =>
    httpRequest(`${url}/v1/captures/${capture.id}/diff`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const same = await post({
    response: {
      status: 500,
      headers: [['Content-Type', 'application/json'], ['Date', 'Mon, 01 Jan 2024 00:00:00 GMT']],
      body: { encoding: 'base64', data: Buffer.from('{ "error": "payments timed out" }').toString('base64') },
    },
  });
  assert.equal(same.status, 200);
  assert.deepEqual(same.json(), {
    diff: { same: true },
    sides: { captured: ['{', '  "error": "payments timed out"', '}'], replayed: ['{', '  "error": "payments timed out"', '}'], hunks: [] },
  });
  const differs = await post({ response: { status: 502, headers: [['Content-Type', 'text/plain']], body: { encoding: 'utf8', data: 'down' } } });
  const { diff, sides } = differs.json();
  assert.equal(diff.same, false);
  assert.deepEqual(diff.status, { captured: 500, replayed: 502 });
  assert.deepEqual(diff.headers, [{ name: 'content-type', captured: 'application/json', replayed: 'text/plain' }]);
  assert.deepEqual(sides, { captured: ['{"error":"payments timed out"}'], replayed: ['down'], hunks: [{ aStart: 0, aEnd: 1, bStart: 0, bEnd: 1 }] });
  assert.equal((await post({ response: { status: 'x' } })).status, 400);
});

test('100 000 captures: the first page, a deep page (before=) and a rule filter answer quickly', async (t) => {
  const { url, collector } = await startTestCollector(t, { token: TOKEN });
  const total = 100_000;
  for (let start = 0; start < total; start += 5000) {
    const batch = [];
    for (let i = start; i < start + 5000; i++) {
      batch.push(sampleCapture({ service: i % 2 ? 'web' : 'api', rules: i % 1000 === 0 ? ['rare'] : ['default'], request: { url: `/items/${i}` } }));
    }
    await collector.store.insert(batch);
  }
  const timed = async (query: string): Promise<{ ms: number; captures: Array<{ seq: number; path: string }> }> => {
    const started = performance.now();
    const res = await httpRequest(`${url}/v1/captures?${query}`, { headers: auth });
    assert.equal(res.status, 200, res.text);
    return { ms: performance.now() - started, captures: res.json().captures };
  };
  const first = await timed('limit=101&order=desc');
  assert.deepEqual([first.captures.length, first.captures[0]!.seq, first.captures[100]!.seq], [101, total, total - 100]);
  const deep = await timed('limit=101&order=desc&before=50');
  assert.deepEqual(deep.captures.map((c) => c.seq), [49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  const rare = await timed('limit=101&order=desc&rule=rare&service=api');
  assert.equal(rare.captures.length, 100);
  assert.ok(rare.captures.every((c) => Number(c.path.split('/')[2]) % 1000 === 0));
  const filtered = await timed('limit=101&order=desc&service=web&before=60000');
  assert.equal(filtered.captures[0]!.seq, 59_998);
  // Generous bounds on a 2-core machine: a page is a bounded query, never a scan of everything.
  for (const [name, r] of Object.entries({ first, deep, rare, filtered })) assert.ok(r.ms < 1500, `${name} page took ${r.ms.toFixed(0)} ms`);
  const bad = await httpRequest(`${url}/v1/captures?before=x`, { headers: auth });
  assert.equal(bad.status, 400);
  assert.equal(bad.json().error.message, "bad before 'x': use a display id (a whole number)");
});

test('the paging (before) and rule filters mean the same on SQLite and PostgreSQL', async (t) => {
  const schema = await freshPgSchema(t, 'httploop_web');
  const pgStore = new PostgresStore(schema.url);
  t.after(() => pgStore.close());
  await pgStore.ready();
  const sqlite = new SqliteStore(path.join(await tempDir(t), 'loop.db'));
  t.after(() => sqlite.close());
  const records = Array.from({ length: 10 }, (_, i) => sampleCapture({ rules: i % 3 === 0 ? ['rare', 'default'] : ['default'], request: { url: `/n/${i}` } }));
  for (const store of [sqlite, pgStore]) {
    await store.insert(records);
    const paths = async (query: string): Promise<string[]> =>
      (await store.list(filterFromQuery(new URLSearchParams(query)))).map((c) => c.path);
    assert.deepEqual(await paths('rule=rare&order=desc'), ['/n/9', '/n/6', '/n/3', '/n/0'], store.constructor.name);
    assert.deepEqual(await paths('before=4&order=desc'), ['/n/2', '/n/1', '/n/0'], store.constructor.name);
    assert.deepEqual(await paths('rule=rare&before=7&limit=1'), ['/n/3'], store.constructor.name);
    assert.deepEqual(await paths('rule=nothing'), [], store.constructor.name);
  }
});
