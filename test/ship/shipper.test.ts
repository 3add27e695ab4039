// Whatever the collector does (down, slow, hanging, refusing), the app answers as before; captures
// are retried where that can help, dropped and counted where it cannot.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { createCollector } from '../../collector/index.js';
import { loop } from '../../middleware/index.js';
import { retryAfterMs, retryDelay } from '../../src/ship/shipper.js';
import { captureReceiver, close, listen } from '../middleware/fixtures.js';
import { httpRequest } from '../helpers.js';

const cleanup: Array<() => Promise<void>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

/** An app that fails every request, behind loop() pointed at `collector`. */
async function failingApp(collector: string, queue: Record<string, number> = {}) {
  const mw = loop({ service: 'faults', collector, queue: { flushIntervalMs: 5, ...queue } });
  const server = http.createServer((req, res) =>
    mw(req, res, () => {
      res.statusCode = 500;
      res.end('boom');
    }),
  );
  const url = await listen(server);
  cleanup.push(() => close(server));
  return { url, mw };
}

async function deadPort(): Promise<string> {
  const s = http.createServer();
  const url = await listen(s);
  await close(s);
  return url;
}

async function timed(url: string) {
  const t0 = performance.now();
  const r = await httpRequest(url);
  return { status: r.status, body: r.body.toString(), ms: performance.now() - t0 };
}

describe('shipping faults', () => {
  it('collector not listening: the app answers as usual, captures wait and are retried', async () => {
    const { url, mw } = await failingApp(await deadPort());
    for (let i = 0; i < 20; i++) {
      const r = await timed(url);
      assert.deepEqual([r.status, r.body], [500, 'boom']);
      assert.ok(r.ms < 250, `request took ${r.ms} ms`);
    }
    await mw.flush();
    const stats = mw.stats();
    assert.equal(stats.captured, 20);
    assert.equal(stats.sent, 0);
    assert.ok(stats.retries >= 1);
    assert.equal(stats.queued, 20);
    await mw.close();
    assert.equal(mw.stats().droppedAtClose, 20);
  });

  it('503 with Retry-After: waits as told, then delivers', async () => {
    const receiver = await captureReceiver((batch) => (batch === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }));
    cleanup.push(receiver.close);
    const { url, mw } = await failingApp(receiver.url);
    assert.equal((await timed(url)).status, 500);
    await receiver.waitFor(1, 5000);
    await mw.flush();
    const [first, second] = receiver.batches;
    assert.equal(first!.status, 503);
    assert.equal(second!.status, 200);
    assert.ok(second!.at - first!.at >= 950, `retried after ${second!.at - first!.at} ms, Retry-After said 1 s`);
    assert.equal(mw.stats().retries, 1);
    assert.equal(mw.stats().sent, 1);
    await mw.close();
  });

  it('hanging collector: requests are not slowed, the batch times out and is retried, close() ends', async () => {
    const receiver = await captureReceiver(() => 'hang');
    cleanup.push(receiver.close);
    const { url, mw } = await failingApp(receiver.url, { timeoutMs: 200 });
    for (let i = 0; i < 10; i++) {
      const r = await timed(url);
      assert.equal(r.status, 500);
      assert.ok(r.ms < 250, `request took ${r.ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 700));
    assert.ok(mw.stats().retries >= 1, 'a timed-out batch counts as a retry');
    const t0 = Date.now();
    await mw.close();
    assert.ok(Date.now() - t0 < 6000);
    assert.equal(mw.stats().sent, 0);
  });

  it('collector answering 500: the batch is dropped and counted, not retried', async () => {
    const receiver = await captureReceiver(() => ({ status: 500 }));
    cleanup.push(receiver.close);
    const { url, mw } = await failingApp(receiver.url);
    await timed(url);
    await timed(url);
    await mw.flush();
    await new Promise((r) => setTimeout(r, 100));
    await mw.flush();
    assert.equal(mw.stats().droppedRejected, 2);
    assert.equal(mw.stats().retries, 0);
    await mw.close();
  });

  it('queue full: drops, counts, warns once', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if ((w as { code?: string }).code === 'HTTPLOOP_QUEUE_FULL') warnings.push(w);
    };
    process.on('warning', onWarning);
    cleanup.push(async () => void process.off('warning', onWarning));
    const { url, mw } = await failingApp(await deadPort(), { maxCaptures: 3 });
    for (let i = 0; i < 10; i++) assert.equal((await timed(url)).status, 500);
    await new Promise((r) => setImmediate(r));
    const stats = mw.stats();
    assert.equal(stats.captured, 10);
    assert.equal(stats.droppedQueueFull, 7);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /ship queue is full/);
    await mw.close();
  });

  it('backs off exponentially with jitter, and honours Retry-After in seconds or as a date', () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const ceiling = Math.min(30_000, 500 * 2 ** (attempt - 1));
      const d = retryDelay(attempt, undefined);
      assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${attempt}: ${d}`);
    }
    assert.equal(retryDelay(1, '3'), 3000);
    const inTwo = new Date(Date.now() + 2000).toUTCString();
    assert.ok(Math.abs(retryDelay(1, inTwo) - 2000) < 1100);
    assert.equal(retryDelay(1, '100000'), 60_000, 'capped');
  });
});

/** A real collector taking one ingest request at a time, that one held open by a stalled upload. */
async function busyCollector() {
  const collector = createCollector({ db: ':memory:', maxPendingBatches: 1 });
  const { url, port } = await collector.listen(0, '127.0.0.1');
  cleanup.push(() => collector.close());
  const stalled = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => stalled.once('connect', resolve));
  stalled.on('error', () => {});
  stalled.write('POST /v1/captures HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const overloaded = async (): Promise<number> =>
    Number(/reason="overloaded"\} (\d+)/.exec((await httpRequest(`${url}/metrics`)).body.toString())![1]);
  return {
    url,
    collector,
    overloaded,
    /** Resolves once the collector has answered `n` ingest requests 429. */
    async refused(n: number): Promise<void> {
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 10))) {
        if ((await overloaded()) >= n) return;
      }
      throw new Error(`the collector did not answer ${n} requests 429`);
    },
    /** Ends the stalled upload: the collector takes batches again. */
    release: () => void stalled.destroy(),
  };
}

describe('overload: a real collector answering 429 with Retry-After', () => {
  it('the shipper keeps the batch, sends nothing during the pause (flush() too), then delivers', async () => {
    const busy = await busyCollector();
    const { url, mw } = await failingApp(busy.url);
    const t0 = Date.now();
    assert.equal((await timed(url)).status, 500);
    await busy.refused(1);
    await mw.flush(); // honours the pause: returns without sending
    assert.equal(await busy.overloaded(), 1);
    assert.deepEqual([mw.stats().sent, mw.stats().queued, mw.stats().retries], [0, 1, 1]);
    busy.release();
    // Enqueued during the pause: waits with the first, within the queue's bounds.
    assert.equal((await timed(url)).status, 500);
    for (const deadline = Date.now() + 5000; (await busy.collector.store.count()) < 2 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const delivered = Date.now() - t0;
    assert.equal(await busy.collector.store.count(), 2);
    assert.ok(delivered >= 950, `delivered ${delivered} ms after the 429, Retry-After said 1 s`);
    assert.equal(await busy.overloaded(), 1, 'no request during the pause');
    assert.deepEqual([mw.stats().sent, mw.stats().queued, mw.stats().droppedRejected], [2, 0, 0]);
    await mw.close();
  });

  it('close() waits out a pause that ends before its timeout, then delivers', async () => {
    const busy = await busyCollector();
    const { url, mw } = await failingApp(busy.url);
    assert.equal((await timed(url)).status, 500);
    await busy.refused(1);
    busy.release();
    await mw.close();
    assert.deepEqual([mw.stats().sent, mw.stats().droppedAtClose], [1, 0]);
    assert.equal(await busy.collector.store.count(), 1);
  });

  it('close() does not wait for a pause longer than its timeout (5 s): the batch is dropped and counted', async () => {
    const receiver = await captureReceiver(() => ({ status: 429, headers: { 'retry-after': '30' } }));
    cleanup.push(receiver.close);
    const { url, mw } = await failingApp(receiver.url);
    assert.equal((await timed(url)).status, 500);
    for (const deadline = Date.now() + 5000; mw.stats().retries === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await mw.close();
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual([mw.stats().sent, mw.stats().droppedAtClose, receiver.batches.length], [0, 1, 1]);
  });

  it('Retry-After: seconds or an HTTP date, capped at 60 s; 0, a past date or garbage fall back to backoff', () => {
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs('0.5'), 500);
    assert.equal(retryAfterMs('86400'), 60_000);
    assert.equal(retryAfterMs(new Date(Date.now() + 3600_000).toUTCString()), 60_000);
    for (const unusable of [undefined, '', '0', '-5', 'soon', new Date(Date.now() - 5000).toUTCString()]) {
      assert.equal(retryAfterMs(unusable), undefined, String(unusable));
      const d = retryDelay(1, unusable);
      assert.ok(d >= 250 && d <= 500, `${String(unusable)}: backoff ${d}`);
    }
  });
});
