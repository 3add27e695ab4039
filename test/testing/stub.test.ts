// stubOutbound: the outgoing calls an app makes during a replay (node:http and fetch) are answered from
// the capture's recording, per replay, with the real downstream closed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http, { get as httpGet, request as httpRequestFn } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import express from 'express';
import { loop } from '../../middleware/index.js';
import type { CaptureRecord } from '../../src/capture/record.js';
import { expectReplayToMatch, replay, ReplayOutboundError } from '../../src/testing/index.js';
import { captureReceiver, close, listen } from '../middleware/fixtures.js';
import { httpRequest, sampleCapture } from '../helpers.js';

function getJson(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

function postJson(url: string, value: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequestFn(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(JSON.stringify(value));
  });
}

interface Setup {
  app: express.Express;
  downstream: { url: string; hits: () => number; close(): Promise<void> };
  records: Map<string, CaptureRecord>;
  /** Makes the app call what it did not call when it was captured. */
  change(how: 'extra-http' | 'other-body' | null): void;
}

async function setup(t: TestContext): Promise<Setup> {
  let hits = 0;
  const prices: Record<string, number> = { '1': 10, '2': 20 };
  const down = http.createServer((req, res) => {
    hits++;
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      const price = /^\/price\/(\d+)$/.exec(req.url ?? '');
      if (price) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: price[1], price: prices[price[1]!] ?? 0 }));
      } else if (req.url === '/reserve' && req.method === 'POST') {
        const { id } = JSON.parse(body) as { id: string };
        res.writeHead(id === '1' ? 200 : 409, { 'content-type': 'application/json' }).end(JSON.stringify({ id }));
      } else if (/^\/stock\/\d+$/.test(req.url ?? '')) {
        res.writeHead(req.url === '/stock/1' ? 200 : 503, { 'content-type': 'text/plain' }).end('stock');
      } else res.writeHead(404).end();
    });
  });
  const downUrl = await listen(down);
  let closed = false;
  const downstream = { url: downUrl, hits: () => hits, close: async () => ((closed = true), await close(down)) };

  const receiver = await captureReceiver();
  const mw = loop({ service: 'quotes', collector: receiver.url });
  let how: 'extra-http' | 'other-body' | null = null;
  const app = express();
  app.use(mw);
  app.get('/quote/:id', async (req, res) => {
    const id = req.params.id;
    try {
      const price = await getJson(`${downUrl}/price/${id}`);
      if (how === 'extra-http') await getJson(`${downUrl}/price/999`);
      const reserve = await postJson(`${downUrl}/reserve`, { id: how === 'other-body' ? `${id}0` : id });
      const stock = await fetch(`${downUrl}/stock/${id}`);
      res.status(500).json({ error: 'quote failed', id, price: price.body.price, reserve, stock: stock.status, requestId: randomUUID() });
    } catch (err) {
      res.status(502).json({ error: (err as Error).message });
    }
  });
  const server = http.createServer(app);
  const url = await listen(server);
  t.after(async () => {
    await mw.close();
    await close(server);
    await receiver.close();
    if (!closed) await close(down);
  });
  for (const id of ['1', '2']) assert.equal((await httpRequest(`${url}/quote/${id}`)).status, 500);
  await mw.flush();
  await receiver.waitFor(2);
  const records = new Map(receiver.records.map((r) => [r.request.url.split('/').pop()!, r]));
  return { app, downstream, records, change: (h) => (how = h) };
}

describe('replay() with stubOutbound', () => {
  it('answers the recorded node:http and fetch calls, 20 replays of two captures in parallel, downstream closed', async (t) => {
    const { app, downstream, records } = await setup(t);
    const one = records.get('1')!;
    const two = records.get('2')!;
    assert.deepEqual(one.outbound.map((c) => [c.method, c.url.replace(downstream.url, ''), c.status]), [
      ['GET', '/price/1', 200],
      ['POST', '/reserve', 200],
      ['GET', '/stock/1', 200],
    ]);
    assert.deepEqual(two.outbound.map((c) => [c.method, c.url.replace(downstream.url, ''), c.status]), [
      ['GET', '/price/2', 200],
      ['POST', '/reserve', 409],
      ['GET', '/stock/2', 503],
    ]);
    assert.equal(one.outbound[1]!.request!.body!.data, '{"id":"1"}', 'the node:http request body is recorded');
    assert.equal(JSON.parse(one.response.body!.data).reserve, 200);
    assert.equal(JSON.parse(two.response.body!.data).reserve, 409);

    await downstream.close();
    const before = downstream.hits();
    // Without stubs the app cannot reach the downstream now.
    const unstubbed = await replay(one, { app });
    assert.equal(unstubbed.status, 502);

    const captures = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two));
    const results = await Promise.all(captures.map((c) => replay(c, { app, stubOutbound: true })));
    results.forEach((result, i) => {
      const c = captures[i]!;
      assert.equal(result.status, 500, `replay ${i}: ${result.text()}`);
      expectReplayToMatch(result, c, { ignore: ['$.requestId'] });
    });
    assert.deepEqual(
      results.map((r) => [r.json().id, r.json().price, r.json().reserve, r.json().stock]),
      captures.map((c) => (c === one ? ['1', 10, 200, 200] : ['2', 20, 409, 503])),
    );
    assert.equal(downstream.hits(), before, 'no request reached the network');
    // Stubs are gone once the replays finished.
    assert.equal((await replay(one, { app })).status, 502);
  });

  it('an outgoing call with no recording left fails loudly, in the app and in replay()', async (t) => {
    const { app, downstream, records, change } = await setup(t);
    const one = records.get('1')!;
    await downstream.close();

    change('extra-http');
    const err = await replay(one, { app, stubOutbound: true }).then(
      () => assert.fail('replay() should reject'),
      (e: unknown) => e as ReplayOutboundError,
    );
    assert.ok(err instanceof ReplayOutboundError);
    const call = `GET ${downstream.url}/price/999 (node:http)`;
    assert.ok(err.message.includes(call), err.message);
    assert.ok(err.message.includes(`1. GET ${downstream.url}/price/1 -> 200 (already answered)`), err.message);
    assert.ok(err.message.includes(`2. POST ${downstream.url}/reserve -> 200\n`), err.message);
    assert.ok(err.message.includes(`3. GET ${downstream.url}/stock/1 -> 200`), err.message);
    // What the app saw: its call errored with the same message.
    assert.equal(err.result?.status, 502);
    assert.ok(err.result!.json().error.includes(call), err.result!.text());
    assert.ok(err.result!.json().error.includes(`made during the replay of capture ${one.id} has no recorded answer left`));

    change('other-body');
    const err2 = await replay(one, { app, stubOutbound: true }).then(
      () => assert.fail('replay() should reject'),
      (e: unknown) => e as ReplayOutboundError,
    );
    assert.match(err2.message, new RegExp(`POST ${downstream.url.replace(/[.]/g, '\\.')}/reserve \\(node:http\\).*1 recording\\(s\\) of POST .*/reserve left, but with another request body`));
  });

  it('a capture that recorded no outgoing calls says so', async () => {
    const record = sampleCapture();
    const err = await replay(record, {
      stubOutbound: true,
      handler: (_req, res) => {
        fetch('http://127.0.0.1:9/anything?x=1').then(
          () => res.end('unexpected'),
          (e: Error) => res.writeHead(500).end(e.message),
        );
      },
    }).then(
      () => assert.fail('should reject'),
      (e: Error) => e,
    );
    assert.match(err.message, /GET http:\/\/127\.0\.0\.1:9\/anything\?x=1 \(fetch\)/);
    assert.match(err.message, /\(none: the capture recorded no outgoing calls\)/);
  });
});
