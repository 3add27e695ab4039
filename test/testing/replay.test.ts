// httploop/testing on real captures: a real Express app and a real Koa app behind loop() fail, the
// records the shipper sends are replayed in-process (no port), compared, and fail once the app is fixed.
import assert, { AssertionError } from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Router from '@koa/router';
import express from 'express';
import Koa from 'koa';
import { loop } from '../../middleware/index.js';
import { loop as koaLoop } from '../../adapters/koa.js';
import type { CaptureRecord } from '../../src/capture/record.js';
import {
  CaptureFormatError,
  CollectorRequestError,
  expectReplayToMatch,
  fetchCapture,
  fetchCaptures,
  loadCapture,
  replay,
} from '../../src/testing/index.js';
import { captureReceiver, close, listen } from '../middleware/fixtures.js';
import { httpRequest, ingest, startTestCollector, tempDir } from '../helpers.js';

interface Failing {
  /** What the app is served with: an Express app, or a Koa app. */
  app: express.Express | Koa;
  url: string;
  /** The real capture loop() shipped of `POST /orders/42?expand=items&x=%20y`. */
  record: CaptureRecord;
  fix(): void;
}

async function captured(t: TestContext, build: (collector: string) => { app: express.Express | Koa; listener: http.RequestListener; mw: { flush(): Promise<void>; close(): Promise<void> }; fix(): void }): Promise<Failing> {
  const receiver = await captureReceiver();
  const { app, listener, mw, fix } = build(receiver.url);
  const server = http.createServer(listener);
  const url = await listen(server);
  t.after(async () => {
    await mw.close();
    await close(server);
    await receiver.close();
  });
  const r = await httpRequest(`${url}/orders/42?expand=items&x=%20y`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tenant': 'acme' },
    body: JSON.stringify({ items: [1, 2], note: 'rush' }),
  });
  assert.equal(r.status, 500);
  await mw.flush();
  await receiver.waitFor(1);
  return { app, url, record: receiver.records[0]!, fix };
}

function expressApp(collector: string) {
  let failing = true;
  const mw = loop({ service: 'web', collector });
  const app = express();
  app.use(mw);
  app.use(express.json());
  app.post('/orders/:id', (req, res) => {
    if (failing) throw new Error(`payments timed out for order ${req.params.id} (${req.query.expand}, ${req.body.items.length} items, tenant ${req.get('x-tenant')})`);
    res.json({ id: req.params.id, paid: true });
  });
  app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: err.message, requestId: randomUUID() });
  });
  return { app, listener: app as unknown as http.RequestListener, mw, fix: () => (failing = false) };
}

function koaApp(collector: string) {
  let failing = true;
  const mw = koaLoop({ service: 'web', collector });
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  router.post('/orders/:id', async (ctx) => {
    const body = JSON.parse(await new Promise<string>((resolve) => {
      let text = '';
      ctx.req.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
    })) as { items: number[] };
    if (failing) {
      ctx.status = 500;
      ctx.body = { error: `payments timed out for order ${ctx.params.id} (${ctx.query.expand}, ${body.items.length} items, tenant ${ctx.get('x-tenant')})`, requestId: randomUUID() };
      return;
    }
    ctx.body = { id: ctx.params.id, paid: true };
  });
  app.use(mw);
  app.use(router.routes());
  return { app, listener: app.callback(), mw, fix: () => (failing = false) };
}

for (const [name, build] of [
  ['Express', expressApp],
  ['Koa', koaApp],
] as const) {
  describe(`replay() in-process, ${name}`, () => {
    it('reproduces the captured 500 (status and body), and expectReplayToMatch passes', async (t) => {
      const { app, record } = await captured(t, build);
      assert.equal(record.response.status, 500);
      const result = await replay(record, { app });
      assert.equal(result.status, 500);
      assert.equal(result.json().error, 'payments timed out for order 42 (items, 2 items, tenant acme)');
      assert.match(result.headers['content-type']!, /^application\/json/);
      assert.ok(result.rawHeaders.some(([k]) => k.toLowerCase() === 'content-type'));
      assert.equal(result.text(), result.body.toString('utf8'));
      // requestId differs every run: without the ignore the comparison says so, with it it passes.
      assert.throws(() => expectReplayToMatch(result, record), /body\$\.requestId:/);
      expectReplayToMatch(result, record, { ignore: ['$.requestId'] });
      expectReplayToMatch(result, record, { ignore: ['body.requestId'] });
    });

    it('fails with a readable diff once the app is fixed', async (t) => {
      const { app, record, fix } = await captured(t, build);
      fix();
      const result = await replay(record, { app });
      assert.equal(result.status, 200);
      let error: unknown;
      try {
        expectReplayToMatch(result, record, { ignore: ['$.requestId'] });
      } catch (err) {
        error = err;
      }
      assert.ok(error instanceof AssertionError, 'an AssertionError from node:assert');
      const message = (error as AssertionError).message;
      assert.match(message, new RegExp(`^replay of capture ${record.id} \\(POST /orders/42\\?expand=items&x=%20y\\) does not match`));
      assert.match(message, /\n  status:\n    expected 500\n    actual   200\n/);
      assert.match(message, /\n  body\$\.error:\n    expected "payments timed out for order 42 \(items, 2 items, tenant acme\)"\n    actual   \(missing\)/);
      assert.match(message, /\n  body\$\.paid:\n    expected \(missing\)\n    actual   true/);
      assert.doesNotMatch(message, /requestId/);
    });
  });
}

describe('replay() request', () => {
  it('sends method, raw target, headers in order minus hop-by-hop, the body and loop-replay (handler form)', async (t) => {
    const { record } = await captured(t, expressApp);
    let seen: { method?: string; url?: string; headers: string[]; body: string } = { headers: [], body: '' };
    const result = await replay(record, {
      headers: { 'X-Tenant': 'other', 'x-extra': '1' },
      handler: (req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
          seen = { method: req.method, url: req.url, headers: req.rawHeaders, body };
          res.writeHead(500, { 'content-type': 'application/json' }).end('{}');
        });
      },
    });
    assert.equal(result.status, 500);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/orders/42?expand=items&x=%20y');
    assert.equal(seen.body, '{"items":[1,2],"note":"rush"}');
    const names = seen.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    const value = (n: string) => seen.headers[seen.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === n) + 1];
    assert.equal(value('loop-replay'), record.id);
    assert.equal(value('x-tenant'), 'other');
    assert.equal(value('x-extra'), '1');
    assert.equal(value('content-length'), String(Buffer.byteLength(seen.body)));
    const captured_ = record.request.headers.map(([k]) => k.toLowerCase()).filter((k) => !['connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k));
    assert.deepEqual(names.filter((n) => captured_.includes(n)), captured_, 'captured headers in captured order');
  });

  it('base64 request bodies are sent as their bytes', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    const record = (await import('../helpers.js')).sampleCapture({
      request: { method: 'PUT', url: '/blob', body: { encoding: 'base64', data: bytes.toString('base64'), size: 5, truncated: false } },
      response: { status: 200, headers: [['content-type', 'application/octet-stream']], body: { encoding: 'base64', data: bytes.toString('base64'), size: 5, truncated: false } },
    });
    const result = await replay(record, {
      handler: (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.concat(chunks)));
      },
    });
    assert.deepEqual(result.body, bytes);
    expectReplayToMatch(result, record);
    const other = await replay(record, { handler: (_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0])) });
    assert.throws(() => expectReplayToMatch(other, record), (err: Error) => err instanceof AssertionError && /body:\n    expected <5 bytes: 000102fffe>\n    actual   <1 bytes: 00>/.test(err.message));
  });

  it('destination sends it over real HTTP', async (t) => {
    const { record, url } = await captured(t, expressApp);
    const result = await replay(record, { destination: url.replace('http://', '') });
    assert.equal(result.status, 500);
    expectReplayToMatch(result, record, { ignore: ['$.requestId'] });
    await assert.rejects(replay(record, { destination: url, stubOutbound: true }), /stubOutbound works in-process only/);
  });
});

describe('loadCapture', () => {
  it('reads a file as loopctl show --json writes it', async (t) => {
    const { app, record } = await captured(t, koaApp);
    const dir = await tempDir(t);
    const file = path.join(dir, 'capture.json');
    await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
    const loaded = await loadCapture(file);
    assert.deepEqual(loaded, record);
    expectReplayToMatch(await replay(loaded, { app }), loaded, { ignore: ['$.requestId'] });
  });

  it('names the file and the missing field', async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'broken.json');
    const record = (await import('../helpers.js')).sampleCapture();
    delete (record.request as Partial<typeof record.request>).method;
    await writeFile(file, JSON.stringify(record));
    await assert.rejects(loadCapture(file), (err: Error) => err instanceof CaptureFormatError && err.message.includes(file) && err.message.includes("missing field 'request.method'"));
    await writeFile(file, '{"id": 1');
    await assert.rejects(loadCapture(file), new RegExp(`capture file ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not JSON`));
    await assert.rejects(loadCapture(path.join(dir, 'nope.json')), /cannot read capture file .*nope\.json/);
  });
});

describe('fetchCapture / fetchCaptures', () => {
  it('reads a real capture from a real collector, by id and by seq, and lists by filter', async (t) => {
    const { app, record } = await captured(t, expressApp);
    const { url } = await startTestCollector(t, { token: 's3cret' });
    const ingested = await ingest(url, [record], 's3cret');
    assert.equal(ingested.status, 200);
    const byId = await fetchCapture(record.id, { collector: url, token: 's3cret' });
    assert.equal(byId.id, record.id);
    assert.deepEqual(byId.request, record.request);
    const bySeq = await fetchCapture(byId.seq!, { collector: url, token: 's3cret' });
    assert.equal(bySeq.id, record.id);
    expectReplayToMatch(await replay(byId, { app }), byId, { ignore: ['$.requestId'] });

    const listed = await fetchCaptures({ status: '5xx', service: 'web', path: '/orders/42', since: '1h', limit: 10 }, { collector: url, token: 's3cret' });
    assert.deepEqual(listed.map((r) => r.id), [record.id]);
    assert.deepEqual(await fetchCaptures({ service: 'nobody' }, { collector: url, token: 's3cret' }), []);

    await assert.rejects(fetchCapture('nope', { collector: url, token: 's3cret' }), (err: Error) => err instanceof CollectorRequestError && err.status === 404 && /v1\/captures\/nope answered 404/.test(err.message));
    await assert.rejects(fetchCapture(record.id, { collector: url, token: 'wrong' }), (err: Error) => err instanceof CollectorRequestError && err.status === 401);
  });
});
