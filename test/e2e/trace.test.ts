// W3C trace context end to end, on real servers on loopback: every request behind loop() continues
// (or starts) a trace, answers with `traceresponse`, runs the app in the request's AsyncLocalStorage
// context, passes `traceparent`/`tracestate` on to its outgoing calls (node:http, fetch, axios), and,
// while the exchange may still be captured, records those calls into the capture's `outbound`.
//
// Where Node itself loses the async context (found while writing these tests on Node 20.20, see the
// test "documents where Node loses the request's context"):
// - a listener on an EventEmitter that is emitted from outside the request (a module-level emitter, a
//   connection pool's events, a timer started at startup) runs in the emitting code's context:
//   currentTrace() is undefined there, and outgoing calls made there are neither traced nor recorded.
//   AsyncResource.bind(listener) (or EventEmitterAsyncResource) keeps the request's context.
// - callbacks kept in a hand-made queue and run later by whoever drains it (a pool's waiters, a
//   mutex) run in the context of the request that drained it: currentTrace() is that OTHER request's
//   trace, and calls made there are traced and recorded under it. Wrap the callback with
//   AsyncResource.bind when it is queued.
// Not lost: timers, promise chains and await (also on custom thenables), emitters emitted from inside
// the request, keep-alive agent sockets reused by another request, body parsers that read the request
// stream in later ticks (express.json(): raw-body binds its callback; @koa/bodyparser: await).
// Koa itself writes every response outside the request's context (from a .then() on its middleware
// chain registered before loop() runs): httploop/koa keeps the response's trace context so the
// `traceresponse` is still added (see "traceresponse" below).
import assert from 'node:assert/strict';
import { AsyncResource } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { bodyParser } from '@koa/bodyparser';
import axios from 'axios';
import express from 'express';
import Koa from 'koa';
import { currentTrace, loop, type TraceInfo } from '../../middleware/index.js';
import { currentTrace as koaCurrentTrace, loop as koaLoop } from '../../adapters/koa.js';
import type { CaptureRecord, HeaderList, OutboundCall } from '../../src/capture/record.js';
import type { TapConfig } from '../../src/match/tapconfig.js';
import { captureReceiver, close, listen, stable } from '../middleware/fixtures.js';
import { freePort, httpRequest, startHttpServer, type HttpResult } from '../helpers.js';

type Receiver = Awaited<ReturnType<typeof captureReceiver>>;
type Client = 'http' | 'fetch' | 'axios';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const TRACESTATE = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';
const SPAN = /^[0-9a-f]{16}$/;
const TRACE = /^[0-9a-f]{32}$/;

async function startReceiver(t: TestContext): Promise<Receiver> {
  const receiver = await captureReceiver();
  t.after(() => receiver.close());
  return receiver;
}

/** loop()'s options for the tests: its own service name, the receiver, no rules poll, quick flushes. */
function options(service: string, receiver: Receiver) {
  return { service, collector: receiver.url, remoteRules: false, queue: { flushIntervalMs: 10 } } as const;
}

/** Serves `listener` on 127.0.0.1; after the test, loop() is closed (flushed) and then the server. */
async function serve(t: TestContext, listener: http.RequestListener, mw?: { close(): Promise<void> }): Promise<string> {
  const server = http.createServer(listener);
  const url = await listen(server);
  t.after(async () => {
    await mw?.close();
    await close(server);
  });
  return url;
}

/** A header of an incoming request that must not be repeated. */
function one(value: string | string[] | undefined): string | undefined {
  assert.ok(!Array.isArray(value), `repeated header: ${JSON.stringify(value)}`);
  return value;
}

/** The first value of a header in a recorded list, any case. */
function header(list: HeaderList | undefined, name: string): string | undefined {
  return list?.find(([k]) => k.toLowerCase() === name)?.[1];
}

function traceparentOf(traceId: string, spanId: string, sampled = false): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/** The span id of a traceparent/traceresponse value. */
function spanOf(value: string | string[] | undefined): string {
  assert.equal(typeof value, 'string', `expected one header value, got ${JSON.stringify(value)}`);
  const parts = (value as string).split('-');
  assert.equal(parts.length, 4, `not a traceparent: ${String(value)}`);
  return parts[2]!;
}

/** One GET from inside a handler with the given client; any status is an answer. */
async function get(client: Client, url: string): Promise<{ status: number; text: string }> {
  if (client === 'fetch') {
    const r = await fetch(url);
    return { status: r.status, text: await r.text() };
  }
  if (client === 'axios') {
    const r = await axios.get<string>(url, { validateStatus: () => true, responseType: 'text', transformResponse: (x: string) => x });
    return { status: r.status, text: r.data };
  }
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** One node:http request from inside a handler; resolves with the answer, rejects on a network error. */
function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A POST whose body goes out in `chunks`, 20 ms apart, so a body parser finishes in later ticks. */
function slowPost(url: string, chunks: string[], headers: Record<string, string>): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      const body: Buffer[] = [];
      res.on('data', (c: Buffer) => body.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(body);
        const text = buf.toString('utf8');
        const rawHeaders: Array<[string, string]> = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) rawHeaders.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders, body: buf, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    void (async () => {
      for (const chunk of chunks) {
        req.write(chunk);
        await new Promise((r) => setTimeout(r, 20));
      }
      req.end();
    })();
  });
}

/** A plain server (no loop()) that answers 200 and keeps the trace headers of every request. */
async function downstream(t: TestContext) {
  const seen: Array<{ method: string; url: string; traceparent?: string; tracestate?: string }> = [];
  const server = await startHttpServer(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, traceparent: one(req.headers.traceparent), tracestate: one(req.headers.tracestate) });
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
  });
  return { ...server, seen };
}

// ---- 1. propagation across three services ----

interface Chain {
  gateway: string;
  web: string;
  payments: string;
  receiver: Receiver;
  /** The three captures of one trace, once all arrived. */
  captures(traceId: string): Promise<{ g: CaptureRecord; w: CaptureRecord; p: CaptureRecord }>;
}

/** gateway → web → payments, each an Express app behind its own loop(); payments answers 502. */
async function chain(t: TestContext, gatewayClient: Client, webClient: Client): Promise<Chain> {
  const receiver = await startReceiver(t);

  const paymentsMw = loop(options('payments', receiver));
  const payments = express();
  payments.use(paymentsMw);
  payments.get('/charge', (_req, res) => {
    res.status(502).json({ error: 'card network down' });
  });
  const paymentsUrl = await serve(t, payments, paymentsMw);

  const webMw = loop(options('web', receiver));
  const web = express();
  web.use(webMw);
  web.get('/checkout', async (_req, res) => {
    const r = await get(webClient, `${paymentsUrl}/charge`);
    res.status(r.status).type('json').send(r.text);
  });
  const webUrl = await serve(t, web, webMw);

  const gatewayMw = loop(options('gateway', receiver));
  const gateway = express();
  gateway.use(gatewayMw);
  gateway.get('/buy', async (_req, res) => {
    const r = await get(gatewayClient, `${webUrl}/checkout`);
    res.status(r.status).type('json').send(r.text);
  });
  const gatewayUrl = await serve(t, gateway, gatewayMw);

  return {
    gateway: gatewayUrl,
    web: webUrl,
    payments: paymentsUrl,
    receiver,
    async captures(traceId) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const mine = receiver.records.filter((r) => r.trace.traceId === traceId);
        if (mine.length >= 3) {
          assert.deepEqual(mine.map((r) => r.service).sort(), ['gateway', 'payments', 'web']);
          const by = (s: string) => mine.find((r) => r.service === s)!;
          return { g: by('gateway'), w: by('web'), p: by('payments') };
        }
        assert.ok(Date.now() < deadline, `${mine.length} of 3 captures of trace ${traceId} arrived: ${JSON.stringify(receiver.records.map((r) => [r.service, r.trace]))}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/**
 * What every chain must show for one request: one trace id, each hop's parent is the span of the
 * outgoing call that reached it, each hop answers with its own span in traceresponse, and the
 * tracestate (if any) goes through unchanged.
 */
function assertLinked(c: Chain, res: HttpResult, g: CaptureRecord, w: CaptureRecord, p: CaptureRecord, expect: { traceId: string; parentSpanId?: string; sampled: boolean; tracestate?: string }) {
  const { traceId, sampled, tracestate } = expect;
  assert.equal(res.status, 502);
  assert.deepEqual(JSON.parse(res.text), { error: 'card network down' });
  for (const r of [g, w, p]) {
    assert.equal(r.response.status, 502);
    assert.deepEqual(r.rules, ['default']);
    assert.equal(r.outbound.length, r === p ? 0 : 1);
  }
  const gCall = g.outbound[0]!;
  const wCall = w.outbound[0]!;
  assert.match(gCall.spanId ?? '', SPAN);
  assert.match(wCall.spanId ?? '', SPAN);
  assert.equal(new Set([g.trace.spanId, w.trace.spanId, p.trace.spanId, gCall.spanId, wCall.spanId]).size, 5, 'every hop and call has its own span');

  const traceOf = (spanId: string, parentSpanId: string | undefined) => ({
    traceId,
    spanId,
    ...(parentSpanId !== undefined && { parentSpanId }),
    ...(tracestate !== undefined && { tracestate }),
  });
  assert.deepStrictEqual(g.trace, traceOf(g.trace.spanId, expect.parentSpanId));
  assert.deepStrictEqual(w.trace, traceOf(w.trace.spanId, gCall.spanId));
  assert.deepStrictEqual(p.trace, traceOf(p.trace.spanId, wCall.spanId));

  // What went over the wire: each call's traceparent names its own span; the hop it reached saw it.
  assert.equal(header(gCall.request?.headers, 'traceparent'), traceparentOf(traceId, gCall.spanId!, sampled));
  assert.equal(header(w.request.headers, 'traceparent'), traceparentOf(traceId, gCall.spanId!, sampled));
  assert.equal(header(wCall.request?.headers, 'traceparent'), traceparentOf(traceId, wCall.spanId!, sampled));
  assert.equal(header(p.request.headers, 'traceparent'), traceparentOf(traceId, wCall.spanId!, sampled));
  for (const list of [gCall.request?.headers, w.request.headers, wCall.request?.headers, p.request.headers]) {
    assert.equal(header(list, 'tracestate'), tracestate);
  }

  // Each service answers with its own span: the client saw the gateway's, the gateway saw web's, web
  // saw payments'; and each capture's response headers hold the same value.
  assert.equal(res.headers.traceresponse, traceparentOf(traceId, g.trace.spanId, sampled));
  assert.equal(header(g.response.headers, 'traceresponse'), traceparentOf(traceId, g.trace.spanId, sampled));
  assert.equal(header(gCall.response?.headers, 'traceresponse'), traceparentOf(traceId, w.trace.spanId, sampled));
  assert.equal(header(w.response.headers, 'traceresponse'), traceparentOf(traceId, w.trace.spanId, sampled));
  assert.equal(header(wCall.response?.headers, 'traceresponse'), traceparentOf(traceId, p.trace.spanId, sampled));
  assert.equal(header(p.response.headers, 'traceresponse'), traceparentOf(traceId, p.trace.spanId, sampled));

  // The calls themselves, as recorded by the hop that made them.
  assert.equal(gCall.method, 'GET');
  assert.equal(gCall.url, `${c.web}/checkout`);
  assert.equal(gCall.status, 502);
  assert.equal(wCall.method, 'GET');
  assert.equal(wCall.url, `${c.payments}/charge`);
  assert.equal(wCall.status, 502);
}

const variants: Array<[string, Client, Client]> = [
  ['gateway uses node:http, web uses fetch', 'http', 'fetch'],
  ['gateway uses axios, web uses fetch', 'axios', 'fetch'],
  ['gateway uses node:http, web uses axios', 'http', 'axios'],
];

describe('trace context across three services (gateway → web → payments)', () => {
  for (const [name, gatewayClient, webClient] of variants) {
    it(`${name}: one trace, each hop's parent is the call that reached it, each answers with its own span`, async (t) => {
      const c = await chain(t, gatewayClient, webClient);
      const res = await httpRequest(`${c.gateway}/buy`);
      const traceId = spanlessTraceId(res);
      const { g, w, p } = await c.captures(traceId);
      assertLinked(c, res, g, w, p, { traceId, sampled: false });
    });
  }

  it('continues a valid incoming traceparent (same trace, caller as parent, sampled flag) and passes tracestate on unchanged', async (t) => {
    const c = await chain(t, 'http', 'fetch');
    const res = await httpRequest(`${c.gateway}/buy`, {
      headers: { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN, true), tracestate: TRACESTATE },
    });
    const { g, w, p } = await c.captures(TRACE_ID);
    assertLinked(c, res, g, w, p, { traceId: TRACE_ID, parentSpanId: CALLER_SPAN, sampled: true, tracestate: TRACESTATE });
  });

  for (const [what, traceparent] of [
    ['version ff', `ff-${TRACE_ID}-${CALLER_SPAN}-01`],
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${CALLER_SPAN}-01`],
  ] as const) {
    it(`starts a new trace for an invalid incoming traceparent (${what}), and drops its tracestate`, async (t) => {
      const c = await chain(t, 'http', 'fetch');
      const res = await httpRequest(`${c.gateway}/buy`, { headers: { traceparent, tracestate: TRACESTATE } });
      const traceId = spanlessTraceId(res);
      assert.notEqual(traceId, TRACE_ID);
      assert.notEqual(traceId, TRACE_ID.toUpperCase());
      const { g, w, p } = await c.captures(traceId);
      // The gateway's capture keeps what arrived; nothing of it is passed on.
      assert.equal(header(g.request.headers, 'traceparent'), traceparent);
      assertLinked(c, res, g, w, p, { traceId, sampled: false });
    });
  }
});

/** The trace id of a response's traceresponse (checked well-formed). */
function spanlessTraceId(res: HttpResult): string {
  const value = res.headers.traceresponse;
  assert.equal(typeof value, 'string', 'the response has a traceresponse');
  assert.match(value as string, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  return (value as string).split('-')[1]!;
}

// ---- 2. bodies parsed in later ticks ----

describe('trace context after a body parser read a slowly sent body', () => {
  const chunks = ['{"order":', '42,"items":', '["book",', '"pen"]}'];
  const body = chunks.join('');

  for (const framework of ['Express, express.json()', 'Koa, @koa/bodyparser'] as const) {
    it(`${framework}: the calls made after parsing carry the request's trace`, async (t) => {
      const receiver = await startReceiver(t);
      const down = await downstream(t);
      /** What the handler saw after parsing: the body and currentTrace(). */
      const handlerSaw: Array<{ body: unknown; trace: TraceInfo | undefined }> = [];
      const callBoth = async () => {
        await request(`${down.url}/after-parse?via=http`);
        await fetch(`${down.url}/after-parse?via=fetch`).then((r) => r.text());
      };
      let url: string;
      if (framework === 'Koa, @koa/bodyparser') {
        const mw = koaLoop(options('koa-body', receiver));
        const app = new Koa();
        app.silent = true;
        app.use(mw);
        app.use(bodyParser());
        app.use(async (ctx) => {
          handlerSaw.push({ body: (ctx.request as unknown as { body: unknown }).body, trace: koaCurrentTrace() });
          await callBoth();
          ctx.status = 500;
          ctx.body = { failed: true };
        });
        url = await serve(t, app.callback(), mw);
      } else {
        const mw = loop(options('express-body', receiver));
        const app = express();
        app.use(mw);
        app.use(express.json());
        app.post('/orders', (req, res, next) => {
          handlerSaw.push({ body: req.body as unknown, trace: currentTrace() });
          callBoth().then(() => res.status(500).json({ failed: true }), next);
        });
        url = await serve(t, app, mw);
      }

      const res = await slowPost(`${url}/orders`, chunks, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        traceparent: traceparentOf(TRACE_ID, CALLER_SPAN, true),
        tracestate: TRACESTATE,
      });
      assert.equal(res.status, 500);
      const mySpan = spanOf(res.headers.traceresponse);
      assert.deepStrictEqual(handlerSaw, [
        {
          body: { order: 42, items: ['book', 'pen'] },
          trace: { traceId: TRACE_ID, spanId: mySpan, parentSpanId: CALLER_SPAN, sampled: true, tracestate: TRACESTATE },
        },
      ]);

      await receiver.waitFor(1);
      const [capture] = receiver.records;
      assert.deepStrictEqual(capture!.trace, { traceId: TRACE_ID, spanId: mySpan, parentSpanId: CALLER_SPAN, tracestate: TRACESTATE });
      assert.deepStrictEqual(capture!.request.body, { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false });
      const spans = capture!.outbound.map((o) => o.spanId!);
      assert.deepStrictEqual(
        capture!.outbound.map((o) => [o.method, o.url, o.status]),
        [
          ['GET', `${down.url}/after-parse?via=http`, 200],
          ['GET', `${down.url}/after-parse?via=fetch`, 200],
        ],
      );
      assert.deepStrictEqual(down.seen, [
        { method: 'GET', url: '/after-parse?via=http', traceparent: traceparentOf(TRACE_ID, spans[0]!, true), tracestate: TRACESTATE },
        { method: 'GET', url: '/after-parse?via=fetch', traceparent: traceparentOf(TRACE_ID, spans[1]!, true), tracestate: TRACESTATE },
      ]);
    });
  }
});

// ---- 3. currentTrace() ----

describe('currentTrace()', () => {
  /** What a handler reads at each kind of async boundary. */
  async function readings(): Promise<Record<string, TraceInfo | undefined>> {
    const at: Record<string, TraceInfo | undefined> = { sync: currentTrace() };
    await new Promise((r) => setTimeout(r, 5));
    at.setTimeout = currentTrace();
    await Promise.resolve(1)
      .then((x) => new Promise<number>((r) => setImmediate(() => r(x + 1))))
      .then(() => {
        at.promiseChain = currentTrace();
      });
    await new Promise<void>((resolve) => {
      const emitter = new EventEmitter();
      emitter.on('ready', () => {
        at.eventEmitter = currentTrace();
        resolve();
      });
      setTimeout(() => emitter.emit('ready'), 5);
    });
    return at;
  }

  it("equals the request's context after setTimeout, a promise chain and in an EventEmitter callback; undefined outside any request", async (t) => {
    const receiver = await startReceiver(t);
    assert.equal(currentTrace(), undefined, 'no request: the test itself');
    const outside: Array<TraceInfo | undefined | 'not run'> = [];
    const mw = loop(options('current', receiver));
    const url = await serve(
      t,
      (req, res) => {
        // The request listener before loop(): not inside any request's context yet.
        outside.push(currentTrace());
        mw(req, res, () => {
          readings().then(
            (at) => {
              res.setHeader('content-type', 'application/json');
              res.end(JSON.stringify(at));
              // After the response: a timer started before the request, outside its context.
            },
            (err: Error) => res.destroy(err),
          );
        });
      },
      mw,
    );
    let timer: unknown = 'not run';
    const started = new Promise<void>((resolve) =>
      setTimeout(() => {
        timer = currentTrace();
        resolve();
      }, 30),
    );

    const asCaller: Record<string, string> = { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN, true), tracestate: TRACESTATE };
    for (const headers of [{} as Record<string, string>, asCaller]) {
      const res = await httpRequest(url, { headers });
      assert.equal(res.status, 200);
      const spanId = spanOf(res.headers.traceresponse);
      const traceId = (res.headers.traceresponse as string).split('-')[1]!;
      const expected: TraceInfo =
        'traceparent' in headers
          ? { traceId: TRACE_ID, spanId, sampled: true, parentSpanId: CALLER_SPAN, tracestate: TRACESTATE }
          : { traceId, spanId, sampled: false };
      assert.match(traceId, TRACE);
      assert.deepStrictEqual(res.json(), { sync: expected, setTimeout: expected, promiseChain: expected, eventEmitter: expected });
    }
    await started;
    assert.deepStrictEqual(outside, [undefined, undefined]);
    assert.equal(timer, undefined, 'a timer started outside any request');
    assert.equal(currentTrace(), undefined, 'no request: the test itself, after the requests');
  });

  it('Koa: the same readings through httploop/koa', async (t) => {
    const receiver = await startReceiver(t);
    const mw = koaLoop(options('current-koa', receiver));
    const app = new Koa();
    app.use(mw);
    app.use(async (ctx) => {
      ctx.body = await readings();
    });
    const url = await serve(t, app.callback(), mw);
    const res = await httpRequest(url, { headers: { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN), tracestate: TRACESTATE } });
    const expected: TraceInfo = { traceId: TRACE_ID, spanId: spanOf(res.headers.traceresponse), sampled: false, parentSpanId: CALLER_SPAN, tracestate: TRACESTATE };
    assert.deepStrictEqual(res.json(), { sync: expected, setTimeout: expected, promiseChain: expected, eventEmitter: expected });
    assert.equal(koaCurrentTrace(), undefined);
  });

  it("documents where Node loses the request's context (see the comment at the top of this file)", async (t) => {
    const receiver = await startReceiver(t);
    const mw = loop(options('lost', receiver));
    // Shared by all requests: an emitter emitted by a timer started outside them, and a queue of
    // callbacks drained by the second request to arrive.
    const shared = new EventEmitter();
    const queue: Array<() => void> = [];
    const url = await serve(
      t,
      (req, res) =>
        mw(req, res, async () => {
          const mine = currentTrace()!.spanId;
          const seen = (info: TraceInfo | undefined) => (info === undefined ? 'none' : info.spanId === mine ? 'own' : 'other');
          const out: Record<string, string> = {};
          await new Promise<void>((resolve) => {
            let n = 0;
            const done = () => ++n === 2 && resolve();
            shared.once('tick', () => {
              out.sharedEmitter = seen(currentTrace());
              done();
            });
            shared.once(
              'tick',
              AsyncResource.bind(() => {
                out.sharedEmitterBound = seen(currentTrace());
                done();
              }),
            );
          });
          await new Promise<void>((resolve) => {
            queue.push(() => {
              out.queued = seen(currentTrace());
              resolve();
            });
            if (queue.length === 2) for (const f of queue.splice(0)) f();
          });
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(out));
        }),
      mw,
    );
    const ticker = setInterval(() => shared.emit('tick'), 5);
    t.after(() => clearInterval(ticker));
    const first = httpRequest(url);
    await new Promise((r) => setTimeout(r, 30));
    const second = httpRequest(url);
    const [a, b] = await Promise.all([first, second]);
    // The callback queued first ran when the other request drained the queue: in that one's context.
    const [drained, drainer] = [a.json(), b.json()].sort((x, y) => (x.queued === 'other' ? -1 : y.queued === 'other' ? 1 : 0));
    assert.deepStrictEqual(drained, { sharedEmitter: 'none', sharedEmitterBound: 'own', queued: 'other' });
    assert.deepStrictEqual(drainer, { sharedEmitter: 'none', sharedEmitterBound: 'own', queued: 'own' });
  });
});

// ---- 4. outbound recording ----

/** A recorded call with its timing checked and taken out, and the headers that vary per run dropped. */
function comparable(call: OutboundCall): OutboundCall {
  assert.equal(typeof call.durationMs, 'number');
  assert.ok(call.durationMs! >= 0);
  const { durationMs: _, ...rest } = call;
  const out: OutboundCall = { ...rest };
  if (call.response !== undefined) out.response = { ...call.response, headers: stable(call.response.headers) };
  return out;
}

describe('outgoing calls in the capture', () => {
  it('keeps three calls in start order, with status, timing, span, headers and bodies (capped, redacted) and the connection error', async (t) => {
    const receiver = await startReceiver(t);
    const closedPort = await freePort();
    const big = 'x'.repeat(20 * 1024);
    const received: Array<{ url: string; headers: Record<string, unknown>; body: string }> = [];
    const down = await startHttpServer(t, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        received.push({ url: req.url!, headers: req.headers, body });
        if (req.url === '/catalog') {
          // Slow, so it ends last though it starts first.
          setTimeout(() => {
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(big.length) });
            res.end(big);
          }, 60);
          return;
        }
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end('{"charged":true,"token":"tok_live_1"}');
      });
    });

    const mw = loop(options('orders', receiver));
    const app = express();
    app.use(mw);
    app.post('/checkout', async (_req, res) => {
      // Started in this order, all at once: the refused one ends first, the catalog last.
      const results = await Promise.allSettled([
        request(`${down.url}/catalog`),
        request(`${down.url}/charge?token=abc&currency=EUR`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer sk_live_42' },
          body: JSON.stringify({ user: 'ann', password: 'hunter2', amount: 1250 }),
        }),
        request(`http://127.0.0.1:${closedPort}/unreachable`),
      ]);
      res.status(500).json(results.map((r) => r.status));
    });
    const url = await serve(t, app, mw);

    const res = await httpRequest(`${url}/checkout`, { method: 'POST', headers: { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN) } });
    assert.equal(res.status, 500);
    assert.deepEqual(res.json(), ['fulfilled', 'fulfilled', 'rejected']);
    await receiver.waitFor(1);
    const [capture] = receiver.records;
    assert.equal(capture!.outbound.length, 3);
    const [catalog, charge, refused] = capture!.outbound;
    const spans = capture!.outbound.map((o) => o.spanId!);
    for (const s of spans) assert.match(s, SPAN);
    assert.equal(new Set([...spans, capture!.trace.spanId]).size, 4);
    assert.ok(catalog!.durationMs! >= 50, `the catalog call took ${catalog!.durationMs} ms`);
    assert.ok(refused!.durationMs! < catalog!.durationMs!);

    const downHost = `127.0.0.1:${down.port}`;
    const dateOf = (call: OutboundCall | undefined) => header(call?.response?.headers, 'date');
    assert.deepStrictEqual(comparable(catalog!), {
      method: 'GET',
      url: `${down.url}/catalog`,
      spanId: spans[0],
      status: 200,
      request: {
        headers: [
          ['Host', downHost],
          ['traceparent', traceparentOf(TRACE_ID, spans[0]!)],
          ['Connection', 'keep-alive'],
        ],
        body: null,
      },
      response: {
        headers: [
          ['content-type', 'text/plain'],
          ['content-length', '20480'],
          ['Connection', 'keep-alive'],
        ],
        body: { encoding: 'utf8', data: big.slice(0, 8192), size: 20480, truncated: true },
      },
      remoteAddress: downHost,
    });
    assert.ok(dateOf(catalog) !== undefined);
    const chargeBody = JSON.stringify({ user: 'ann', password: 'hunter2', amount: 1250 });
    assert.deepStrictEqual(comparable(charge!), {
      method: 'POST',
      url: `${down.url}/charge?token=[REDACTED]&currency=EUR`,
      spanId: spans[1],
      status: 201,
      request: {
        headers: [
          ['content-type', 'application/json'],
          ['authorization', '[REDACTED]'],
          ['Host', downHost],
          ['traceparent', traceparentOf(TRACE_ID, spans[1]!)],
          ['Connection', 'keep-alive'],
          ['Content-Length', String(chargeBody.length)],
        ],
        body: { encoding: 'utf8', data: '{"user":"ann","password":"[REDACTED]","amount":1250}', size: chargeBody.length, truncated: false },
      },
      response: {
        headers: [
          ['content-type', 'application/json'],
          ['Connection', 'keep-alive'],
          ['Transfer-Encoding', 'chunked'],
        ],
        body: { encoding: 'utf8', data: '{"charged":true,"token":"[REDACTED]"}', size: 37, truncated: false },
      },
      remoteAddress: downHost,
    });
    assert.deepStrictEqual(comparable(refused!), {
      method: 'GET',
      url: `http://127.0.0.1:${closedPort}/unreachable`,
      spanId: spans[2],
      request: {
        headers: [
          ['Host', `127.0.0.1:${closedPort}`],
          ['traceparent', traceparentOf(TRACE_ID, spans[2]!)],
        ],
        body: null,
      },
      error: { name: 'Error', message: `connect ECONNREFUSED 127.0.0.1:${closedPort}`, code: 'ECONNREFUSED' },
    });
    assert.deepStrictEqual(capture!.redacted, [
      'outbound[1].url.query.token',
      'outbound[1].request.headers.authorization',
      'outbound[1].request.body.password',
      'outbound[1].response.body.token',
    ]);
    // The downstream got the real values: redaction is for the capture only.
    assert.deepStrictEqual(
      received.map((r) => [r.url, r.headers.authorization, r.body]).sort(),
      [
        ['/catalog', undefined, ''],
        ['/charge?token=abc&currency=EUR', 'Bearer sk_live_42', chargeBody],
      ],
    );
  });

  it('records the address a node:http call connects to, also with a Host header of its own or headers given as an array', async (t) => {
    const receiver = await startReceiver(t);
    const down = await downstream(t);
    const mw = loop(options('hosts', receiver));
    const app = express();
    app.use(mw);
    app.get('/', async (_req, res) => {
      // A virtual host: the Host header names no port, or another one.
      await request(`${down.url}/vhost?at=12:30`, { headers: { host: 'api.internal' } });
      await request(`${down.url}/vhost2`, { headers: { host: 'api.internal:8443' } });
      // Headers as an array are serialized at once: the call goes out as written, without traceparent.
      await new Promise<void>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: down.port, path: '/as-written?at=12:30', headers: ['x-app', 'shop', 'Host', down.hostPort] as unknown as http.OutgoingHttpHeaders },
          (r) => r.resume().on('end', resolve),
        );
        req.on('error', reject);
        req.end();
      });
      res.status(500).end();
    });
    const url = await serve(t, app, mw);
    await httpRequest(url);
    await receiver.waitFor(1);
    const [capture] = receiver.records;
    const traceId = capture!.trace.traceId;
    const [vhost, vhost2, asWritten] = capture!.outbound;
    assert.equal(capture!.outbound.length, 3);
    assert.deepStrictEqual(
      capture!.outbound.map((o) => [o.url, o.status, o.remoteAddress]),
      [
        [`${down.url}/vhost?at=12:30`, 200, down.hostPort],
        [`${down.url}/vhost2`, 200, down.hostPort],
        [`${down.url}/as-written?at=12:30`, 200, down.hostPort],
      ],
    );
    assert.deepStrictEqual(vhost!.request!.headers, [
      ['host', 'api.internal'],
      ['traceparent', traceparentOf(traceId, vhost!.spanId!)],
      ['Connection', 'keep-alive'],
    ]);
    assert.equal(header(vhost2!.request!.headers, 'host'), 'api.internal:8443');
    // No span of its own: the downstream never saw one.
    assert.deepStrictEqual(asWritten!.request!.headers, [
      ['x-app', 'shop'],
      ['Host', down.hostPort],
      ['Connection', 'keep-alive'],
    ]);
    assert.equal(asWritten!.spanId, undefined);
    assert.deepStrictEqual(
      down.seen.map((s) => [s.url, s.traceparent]),
      [
        ['/vhost?at=12:30', traceparentOf(traceId, vhost!.spanId!)],
        ['/vhost2', traceparentOf(traceId, vhost2!.spanId!)],
        ['/as-written?at=12:30', undefined],
      ],
    );
  });

  it('fetch: method, url (redacted), status, span, request headers (authorization redacted) and the connection error with its code', async (t) => {
    const receiver = await startReceiver(t);
    const closedPort = await freePort();
    const down = await downstream(t);
    const mw = loop(options('fetcher', receiver));
    const app = express();
    app.use(mw);
    app.get('/', async (_req, res) => {
      const ok = await fetch(`${down.url}/items?api_key=k1&page=2`, { headers: { authorization: 'Bearer f1', 'x-app': 'shop' } });
      await ok.text();
      const failed = await fetch(`http://127.0.0.1:${closedPort}/down`).then(
        () => 'answered',
        (err: Error & { cause?: { code?: string } }) => err.cause?.code,
      );
      res.status(503).json({ failed });
    });
    const url = await serve(t, app, mw);
    const res = await httpRequest(url);
    assert.deepEqual(res.json(), { failed: 'ECONNREFUSED' });
    await receiver.waitFor(1);
    const [capture] = receiver.records;
    const [items, down2] = capture!.outbound;
    assert.equal(capture!.outbound.length, 2);
    const traceId = capture!.trace.traceId;
    assert.equal(items!.method, 'GET');
    assert.equal(items!.url, `${down.url}/items?api_key=[REDACTED]&page=2`);
    assert.equal(items!.status, 200);
    assert.equal(header(items!.request?.headers, 'authorization'), '[REDACTED]');
    assert.equal(header(items!.request?.headers, 'x-app'), 'shop');
    assert.equal(header(items!.request?.headers, 'traceparent'), traceparentOf(traceId, items!.spanId!));
    assert.equal(header(items!.response?.headers, 'content-type'), 'application/json');
    assert.equal(down.seen[0]!.traceparent, traceparentOf(traceId, items!.spanId!));
    assert.equal(down2!.url, `http://127.0.0.1:${closedPort}/down`);
    assert.equal(down2!.status, undefined);
    assert.equal(down2!.error?.code, 'ECONNREFUSED');
    assert.match(down2!.spanId ?? '', SPAN);
    assert.deepStrictEqual(capture!.redacted, ['outbound[0].url.query.api_key', 'outbound[0].request.headers.authorization']);
  });
});

// ---- 5. nothing kept when not captured ----

describe('outgoing calls of exchanges that are not captured', () => {
  it('ships nothing for a 200 that made calls (they are still traced), nor calls made after the response', async (t) => {
    const receiver = await startReceiver(t);
    const down = await downstream(t);
    const mw = loop(options('quiet', receiver));
    let late: Promise<unknown> = Promise.resolve();
    const app = express();
    app.use(mw);
    app.get('/ok', async (_req, res) => {
      await request(`${down.url}/a`);
      await fetch(`${down.url}/b`).then((r) => r.text());
      res.json({ ok: true });
    });
    app.get('/fail', (_req, res) => {
      res.status(500).json({ ok: false });
      // After the response: traced, but the exchange is over, so not part of its capture.
      late = new Promise((r) => setTimeout(r, 30)).then(() => request(`${down.url}/late`));
    });
    const url = await serve(t, app, mw);

    const ok = await httpRequest(`${url}/ok`, { headers: { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN) } });
    assert.equal(ok.status, 200);
    await mw.flush();
    await new Promise((r) => setTimeout(r, 50));
    await mw.flush();
    assert.equal(receiver.records.length, 0, 'no capture for the 200');
    assert.equal(receiver.batches.length, 0, 'nothing shipped');
    assert.deepStrictEqual(
      down.seen.map((s) => [s.url, s.traceparent?.split('-')[1]]),
      [
        ['/a', TRACE_ID],
        ['/b', TRACE_ID],
      ],
    );

    const failed = await httpRequest(`${url}/fail`);
    assert.equal(failed.status, 500);
    await late;
    await mw.flush();
    await receiver.waitFor(1);
    assert.equal(receiver.records.length, 1);
    const [capture] = receiver.records;
    assert.equal(capture!.request.url, '/fail');
    assert.deepStrictEqual(capture!.outbound, []);
    assert.equal(down.seen[2]!.url, '/late');
    assert.equal(down.seen[2]!.traceparent?.split('-')[1], capture!.trace.traceId);
  });

  it('keeps no outgoing calls under a TapConfig with spec.outbound: false', async (t) => {
    const receiver = await startReceiver(t);
    const down = await downstream(t);
    const rule: TapConfig = {
      apiVersion: 'httploop/v1',
      kind: 'TapConfig',
      metadata: { name: 'errors-without-calls' },
      spec: { match: 'status >= 500', outbound: false },
    };
    const mw = loop({ ...options('no-outbound', receiver), rules: [rule] });
    const app = express();
    app.use(mw);
    app.get('/', async (_req, res) => {
      await request(`${down.url}/charge?token=abc`, { headers: { authorization: 'Bearer x' } });
      await fetch(`${down.url}/notify`).then((r) => r.text());
      res.status(500).json({ ok: false });
    });
    const url = await serve(t, app, mw);
    const res = await httpRequest(url);
    assert.equal(res.status, 500);
    await receiver.waitFor(1);
    const [capture] = receiver.records;
    assert.deepStrictEqual(capture!.rules, ['errors-without-calls']);
    assert.deepStrictEqual(capture!.outbound, []);
    assert.equal(capture!.outboundOmitted, undefined);
    assert.deepStrictEqual(capture!.redacted, []);
    // Still traced.
    assert.deepStrictEqual(
      down.seen.map((s) => s.traceparent?.split('-')[1]),
      [capture!.trace.traceId, capture!.trace.traceId],
    );
  });
});

// ---- 6. httploop's own requests ----

describe("httploop's own requests", () => {
  it('are neither traced nor recorded, also when shipped from inside a request', async (t) => {
    const receiver = await startReceiver(t);
    const arrived: Array<{ method: string; url: string; traceparent?: string; tracestate?: string }> = [];
    receiver.server.prependListener('request', (req: http.IncomingMessage) => {
      arrived.push({ method: req.method!, url: req.url!, traceparent: one(req.headers.traceparent), tracestate: one(req.headers.tracestate) });
    });
    // With the rules poll on: it must not be traced either.
    const mw = loop({ ...options('self', receiver), remoteRules: true });
    const app = express();
    app.use(mw);
    app.get('/first', (_req, res) => {
      res.status(500).json({ n: 1 });
    });
    app.get('/second', async (_req, res) => {
      // Ships the first capture from inside this request's context.
      await mw.flush();
      res.status(500).json({ n: 2 });
    });
    const url = await serve(t, app, mw);
    const headers = { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN, true), tracestate: TRACESTATE };
    await httpRequest(`${url}/first`, { headers });
    await receiver.waitFor(1);
    await httpRequest(`${url}/second`, { headers });
    await receiver.waitFor(2);
    assert.deepStrictEqual(
      receiver.records.map((r) => [r.request.url, r.trace.traceId, r.outbound]),
      [
        ['/first', TRACE_ID, []],
        ['/second', TRACE_ID, []],
      ],
    );
    const posts = arrived.filter((a) => a.method === 'POST' && a.url === '/v1/captures');
    assert.ok(posts.length >= 2, JSON.stringify(arrived));
    assert.ok(arrived.some((a) => a.method === 'GET' && a.url.startsWith('/v1/rules')), `the rules poll reached the receiver: ${JSON.stringify(arrived)}`);
    for (const a of arrived) assert.deepStrictEqual([a.traceparent, a.tracestate], [undefined, undefined], `${a.method} ${a.url}`);
  });
});

// ---- 7. traceresponse ----

describe('traceresponse', () => {
  const incoming = { traceparent: traceparentOf(TRACE_ID, CALLER_SPAN, true) };

  /** The response's headers without Date and Connection, and the traceresponse's span. */
  function headersAndSpan(res: HttpResult): { headers: HeaderList; span: string } {
    const tr = res.headers.traceresponse;
    assert.match(String(tr), new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    return { headers: stable(res.rawHeaders).filter(([k]) => k.toLowerCase() !== 'connection'), span: spanOf(tr) };
  }

  it('is added when the handler passes its headers to writeHead as an object (node:http and Express)', async (t) => {
    const receiver = await startReceiver(t);
    const mw = loop(options('writehead', receiver));
    const plain = await serve(
      t,
      (req, res) =>
        mw(req, res, () => {
          res.setHeader('x-set-before', '1');
          res.writeHead(201, { 'content-type': 'text/plain', 'x-app': 'yes' });
          res.end('made');
        }),
      mw,
    );
    const mw2 = loop(options('writehead-express', receiver));
    const app = express();
    app.use(mw2);
    app.get('/', (_req, res) => {
      res.writeHead(200, 'Fine', { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
    const viaExpress = await serve(t, app, mw2);

    const a = await httpRequest(plain, { headers: incoming });
    assert.equal(a.status, 201);
    assert.equal(a.text, 'made');
    const ha = headersAndSpan(a);
    assert.deepStrictEqual(ha.headers, [
      ['x-set-before', '1'],
      ['content-type', 'text/plain'],
      ['x-app', 'yes'],
      ['traceresponse', traceparentOf(TRACE_ID, ha.span, true)],
      ['Transfer-Encoding', 'chunked'],
    ]);

    const b = await httpRequest(viaExpress, { headers: incoming });
    assert.equal(b.status, 200);
    const hb = headersAndSpan(b);
    assert.deepStrictEqual(hb.headers, [
      ['X-Powered-By', 'Express'],
      ['content-type', 'text/plain'],
      ['content-length', '2'],
      ['traceresponse', traceparentOf(TRACE_ID, hb.span, true)],
    ]);
    assert.notEqual(ha.span, hb.span);
  });

  it("carries the waiting request's own span when another request writes its answer (long poll)", async (t) => {
    const receiver = await startReceiver(t);
    const mw = loop(options('long-poll', receiver));
    const waiting: express.Response[] = [];
    const app = express();
    app.use(mw);
    app.get('/wait', (_req, res) => {
      waiting.push(res);
    });
    app.post('/publish', (_req, res) => {
      for (const w of waiting.splice(0)) w.status(503).json({ gone: true });
      res.json({ ok: true });
    });
    const url = await serve(t, app, mw);
    const poll = httpRequest(`${url}/wait`, { headers: incoming });
    while (waiting.length === 0) await new Promise((r) => setTimeout(r, 5));
    const publish = await httpRequest(`${url}/publish`, { method: 'POST', headers: { traceparent: traceparentOf(TRACE_ID, 'aaaaaaaaaaaaaaaa', true) } });
    const res = await poll;
    assert.equal(res.status, 503);
    const mine = headersAndSpan(res).span;
    assert.notEqual(mine, headersAndSpan(publish).span);
    await receiver.waitFor(1);
    const [capture] = receiver.records;
    assert.deepStrictEqual(capture!.trace, { traceId: TRACE_ID, spanId: mine, parentSpanId: CALLER_SPAN });
  });

  it('is added by httploop/koa also when the rules already said no before Koa answers', async (t) => {
    const receiver = await startReceiver(t);
    // `method == "POST"` says no to a GET at once: there is no exchange when Koa writes its answer.
    for (const opts of [{ match: 'method == "POST"' }, { rules: [] }, {}]) {
      const mw = koaLoop({ ...options('koa-tr', receiver), ...opts });
      const app = new Koa();
      app.silent = true;
      app.use(mw);
      app.use((ctx) => {
        if (ctx.path === '/boom') throw new Error('boom');
        ctx.body = 'hi';
      });
      const url = await serve(t, app.callback(), mw);
      for (const path of ['/', '/boom']) {
        const res = await httpRequest(url + path, { headers: incoming });
        assert.equal(res.status, path === '/' ? 200 : 500);
        headersAndSpan(res);
      }
    }
  });

  it('is not added with loop({ traceResponse: false }), and the calls are still traced', async (t) => {
    const receiver = await startReceiver(t);
    const down = await downstream(t);
    const mw = loop({ ...options('no-tr', receiver), traceResponse: false });
    const plain = await serve(
      t,
      (req, res) =>
        mw(req, res, () => {
          request(down.url).then(() => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end('no');
          });
        }),
      mw,
    );
    const kmw = koaLoop({ ...options('no-tr-koa', receiver), traceResponse: false });
    const app = new Koa();
    app.use(kmw);
    app.use((ctx) => {
      ctx.body = 'hi';
    });
    const koaUrl = await serve(t, app.callback(), kmw);

    const a = await httpRequest(plain, { headers: incoming });
    assert.equal(a.status, 500);
    assert.equal(a.headers.traceresponse, undefined);
    const b = await httpRequest(koaUrl, { headers: incoming });
    assert.equal(b.status, 200);
    assert.equal(b.headers.traceresponse, undefined);
    await receiver.waitFor(1);
    const [capture] = receiver.records;
    assert.equal(header(capture!.response.headers, 'traceresponse'), undefined);
    assert.equal(down.seen[0]!.traceparent, traceparentOf(TRACE_ID, capture!.outbound[0]!.spanId!, true));
  });
});
