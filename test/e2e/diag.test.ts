// Diagnostic TRACE end to end: three real services on loopback, gateway → web → payments, each with
// loop({ diagnostics: { token } }). The gateway calls web with node:http, web calls payments with fetch,
// payments answers 502. A TRACE with loop-add-context and the token comes back with the gateway's own
// body and one block per hop, innermost first; the real loopctl binary prints the same.
import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { hostname } from 'node:os';
import { describe, test, type TestContext } from 'node:test';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Koa from 'koa';
import { loop } from '../../middleware/index.js';
import { loop as koaLoop } from '../../adapters/koa.js';
import type { CaptureRecord } from '../../src/capture/record.js';
import type { DiagTrail, HopContext } from '../../src/trace/diag-trail.js';
import { captureReceiver, close, listen, stable, withoutTraceresponse } from '../middleware/fixtures.js';
import { httpRequest, runLoopctl, type HttpResult } from '../helpers.js';

const T = 'diag-token-0123456789abcdef';
const INSTANCE = `${hostname()}:${process.pid}`;
const PLANTED = ['PLANTED-COOKIE-1', 'PLANTED-AUTH-2', 'PLANTED-SETCOOKIE-3'];

type Framework = 'express5' | 'express4' | 'koa';

/** What a route answers: one chunk is sent whole (a Content-Length), several are streamed. */
interface Reply {
  status: number;
  chunks: string[];
  headers?: Record<string, string>;
}

type Handler = (id: string) => Promise<Reply>;

/** What /stream/:id writes, in three writes (one of them not ASCII: Content-Length counts bytes). */
const STREAMED = (id: string): string[] => [`part 1 of ${id}\n`, 'part 2 — ünïcode\n', 'part 3\n'];

interface Service {
  url: string;
  port: number;
  /** How often each route's handler ran. */
  runs: Record<string, number>;
  /** Every request the server received, as it arrived (recorded before loop() sees it). */
  seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }>;
  flush(): Promise<void>;
}

interface ServiceSpec {
  name: string;
  framework: Framework;
  /** `/orders/:id` → its handler. */
  routes: Record<string, Handler>;
  collector: string;
  /** false: no loop() at all (the bare app to compare with). */
  withLoop: boolean;
  /** The diagnostic token; undefined: loop() without diagnostics. */
  token?: string;
}

/** One service on 127.0.0.1 in the framework asked for, closed after the test. */
async function startService(t: TestContext, spec: ServiceSpec): Promise<Service> {
  const runs: Record<string, number> = {};
  const seen: Service['seen'] = [];
  const options = {
    service: spec.name,
    collector: spec.collector,
    remoteRules: false,
    queue: { flushIntervalMs: 20 },
    ...(spec.token !== undefined && { diagnostics: { token: spec.token } }),
  };
  let listener: http.RequestListener;
  let controls: { flush(): Promise<void>; close(): Promise<void> } | undefined;
  if (spec.framework === 'koa') {
    const app = new Koa();
    app.silent = true;
    const router = new Router();
    for (const [path, handler] of Object.entries(spec.routes)) {
      runs[path] = 0;
      router.get(path, async (ctx) => {
        runs[path]!++;
        const reply = await handler(ctx.params.id!);
        ctx.status = reply.status;
        ctx.set(reply.headers ?? {});
        ctx.type = 'text/plain';
        ctx.body = reply.chunks.length === 1 ? reply.chunks[0] : Readable.from(reply.chunks);
      });
    }
    if (spec.withLoop) {
      const mw = koaLoop(options);
      controls = mw;
      app.use(mw);
    }
    app.use(router.routes());
    listener = app.callback();
  } else {
    const express = spec.framework === 'express5' ? (express5 as unknown as typeof express4) : express4;
    const app = express();
    if (spec.withLoop) {
      const mw = loop(options);
      controls = mw;
      app.use(mw);
    }
    for (const [path, handler] of Object.entries(spec.routes)) {
      runs[path] = 0;
      app.get(path, (req, res, next) => {
        runs[path]!++;
        handler(String(req.params.id)).then(async (reply) => {
          res.status(reply.status);
          for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
          res.type('text/plain');
          if (reply.chunks.length === 1) {
            res.send(reply.chunks[0]);
            return;
          }
          // Streamed: several writes, no Content-Length (chunked on the wire).
          for (const chunk of reply.chunks) {
            res.write(chunk);
            await tick();
          }
          res.end();
        }, next);
      });
    }
    listener = app;
  }
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: { ...req.headers } });
    listener(req, res);
  });
  const url = await listen(server);
  t.after(async () => {
    await controls?.close();
    await close(server);
  });
  return { url, port: Number(new URL(url).port), runs, seen, flush: async () => controls?.flush() };
}

/** A GET made with node:http (what the gateway uses), the whole body read. */
function nodeGet(url: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

interface Chain {
  gateway: Service;
  web: Service;
  payments: Service;
  /** The same gateway app without loop(), for what an ordinary TRACE gets. */
  bare: Service;
  /** The same gateway app with loop() but no diagnostics configured. */
  off: Service;
  receiver: Awaited<ReturnType<typeof captureReceiver>>;
  /** The headers of web's answers, as the gateway's app got them. */
  fromWeb: IncomingHttpHeaders[];
  flush(): Promise<void>;
}

interface Layout {
  gateway: Framework;
  web: Framework;
  payments: Framework;
}

/**
 * gateway GET /checkout/:id → (node:http) web GET /orders/:id → (fetch) payments GET /charge/:id, which
 * answers 502. The gateway also has /stream/:id, answered in three writes. Every answer of the gateway
 * sets a cookie.
 */
async function startChain(t: TestContext, layout: Layout): Promise<Chain> {
  const receiver = await captureReceiver();
  t.after(() => receiver.close());
  const common = { collector: receiver.url, withLoop: true, token: T };
  const payments = await startService(t, {
    ...common,
    name: 'payments',
    framework: layout.payments,
    routes: {
      '/charge/:id': async (id) => ({ status: 502, chunks: [`charge ${id}: card processor unavailable\n`] }),
    },
  });
  const web = await startService(t, {
    ...common,
    name: 'web',
    framework: layout.web,
    routes: {
      '/orders/:id': async (id) => {
        const answer = await fetch(`${payments.url}/charge/${id}`);
        await answer.text();
        return {
          status: answer.status >= 500 ? 500 : 200,
          chunks: [`order ${id}: payments answered ${answer.status}\n`],
          // An answer the app would let caches keep.
          headers: { 'cache-control': 'public, max-age=600' },
        };
      },
    },
  });
  const fromWeb: IncomingHttpHeaders[] = [];
  const gatewayRoutes: Record<string, Handler> = {
    '/checkout/:id': async (id) => {
      const answer = await nodeGet(`${web.url}/orders/${id}`);
      fromWeb.push(answer.headers);
      return {
        status: answer.status >= 500 ? 502 : 200,
        chunks: [`checkout ${id}: web answered ${answer.status}\n`],
        headers: { 'set-cookie': 'session=PLANTED-SETCOOKIE-3; Path=/; HttpOnly', 'cache-control': 'public, max-age=600' },
      };
    },
    '/stream/:id': async (id) => ({ status: 200, chunks: STREAMED(id) }),
  };
  const gateway = await startService(t, { ...common, name: 'gateway', framework: layout.gateway, routes: gatewayRoutes });
  const bare = await startService(t, { ...common, name: 'gateway', framework: layout.gateway, routes: gatewayRoutes, withLoop: false });
  const off = await startService(t, { ...common, name: 'gateway', framework: layout.gateway, routes: gatewayRoutes, token: undefined });
  return {
    gateway,
    web,
    payments,
    bare,
    off,
    receiver,
    fromWeb,
    flush: async () => {
      await Promise.all([gateway.flush(), web.flush(), payments.flush(), off.flush()]);
    },
  };
}

/** The headers of a diagnostic TRACE, with `extra` added. */
function diagHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'loop-add-context': 'true', 'loop-diag-token': T, 'loop-diag-method': 'GET', ...extra };
}

function trace(url: string, headers: Record<string, string>): Promise<HttpResult> {
  return httpRequest(url, { method: 'TRACE', headers });
}

interface Call {
  url: string;
  /** `host:port` of the server called. */
  at: string;
  status: number;
  /** How the app made the call. */
  via: 'http' | 'fetch';
}

/** The addresses a trail shows for a call: the peer of the socket it went out on (node:http and fetch). */
function addressesOf(call: Call): { addresses: string[]; selected?: string } {
  return { addresses: [call.at], selected: call.at };
}

interface ExpectedHop {
  service: string;
  method: string;
  path: string;
  route?: string;
  status: number;
  rules: string[];
  outbound: Call[];
}

/** The block formatHopText writes for `hop`, with durations and trace ids left as placeholders. */
function expectedBlock(hop: ExpectedHop): string {
  const lines = [
    '',
    `--- Service: ${hop.service} (${INSTANCE}) ---`,
    `request: ${hop.method} ${hop.path}`,
    'request duration: <ms>',
    `route: ${hop.route ?? '(none)'}`,
    `status: ${hop.status}`,
    `rules that would capture: ${hop.rules.length ? hop.rules.join(', ') : '(none)'}`,
    'trace: <trace>',
  ];
  if (hop.outbound.length === 0) lines.push('outgoing: (none)');
  for (const call of hop.outbound) {
    const { addresses, selected } = addressesOf(call);
    lines.push(
      `outgoing: GET ${call.url}`,
      `  destination name: ${call.at}`,
      `  addresses: [${addresses.join(', ')}]`,
      `  selected address: ${selected ?? '(none)'}`,
      `  status: ${call.status}`,
      '  duration: <ms>',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The text trail with durations and trace ids replaced; the trace ids seen, one per block. */
function normalize(text: string): { text: string; traces: Array<{ traceId: string; spanId: string }> } {
  const traces: Array<{ traceId: string; spanId: string }> = [];
  const out = text
    .replace(/^(request duration|  duration): \d+(\.\d)? ms$/gm, '$1: <ms>')
    .replace(/^trace: ([0-9a-f]{32}) span ([0-9a-f]{16})$/gm, (_m, traceId: string, spanId: string) => {
      traces.push({ traceId, spanId });
      return 'trace: <trace>';
    });
  return { text: out, traces };
}

/** One hop of a JSON trail checked against what is expected of it. */
function assertJsonHop(actual: HopContext, want: ExpectedHop, traceId: string): void {
  assert.equal(actual.service, want.service);
  assert.equal(actual.instance, INSTANCE);
  assert.equal(actual.method, want.method);
  assert.equal(actual.path, want.path);
  assert.equal(actual.route, want.route);
  assert.equal(actual.status, want.status);
  assert.deepEqual(actual.rules, want.rules);
  assert.equal(actual.traceId, traceId);
  assert.match(actual.spanId ?? '', /^[0-9a-f]{16}$/);
  assert.ok(Number.isFinite(actual.durationMs) && actual.durationMs >= 0, `durationMs ${actual.durationMs}`);
  assert.equal(actual.outbound.length, want.outbound.length, `${want.service}: ${JSON.stringify(actual.outbound)}`);
  actual.outbound.forEach((call, i) => {
    const w = want.outbound[i]!;
    const { durationMs, ...rest } = call;
    const { addresses, selected } = addressesOf(w);
    assert.deepEqual(rest, {
      method: 'GET',
      destination: w.at,
      url: w.url,
      addresses,
      ...(selected !== undefined && { selectedAddress: selected }),
      status: w.status,
    });
    assert.ok(typeof durationMs === 'number' && durationMs >= 0);
  });
}

/** The three hops of a full trace of /checkout/42, innermost first. */
function fullTrail(chain: Chain): ExpectedHop[] {
  const { web, payments } = chain;
  return [
    { service: 'payments', method: 'GET', path: '/charge/42', route: '/charge/:id', status: 502, rules: ['default'], outbound: [] },
    {
      service: 'web',
      method: 'GET',
      path: '/orders/42',
      route: '/orders/:id',
      status: 500,
      rules: ['default'],
      outbound: [{ url: `${payments.url}/charge/42`, at: `127.0.0.1:${payments.port}`, status: 502, via: 'fetch' }],
    },
    {
      service: 'gateway',
      method: 'GET',
      path: '/checkout/42',
      route: '/checkout/:id',
      status: 502,
      rules: ['default'],
      outbound: [{ url: `${web.url}/orders/42`, at: `127.0.0.1:${web.port}`, status: 500, via: 'http' }],
    },
  ];
}

const GATEWAY_BODY = 'checkout 42: web answered 500\n';

/** Checks a text answer: status, framing, no-store, the gateway's body and then exactly `hops`. */
function assertTextTrail(r: HttpResult, status: number, body: string, hops: ExpectedHop[]): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(r.headers['content-length'], String(r.body.length));
  assert.equal(r.headers['transfer-encoding'], undefined);
  assert.equal(r.headers['loop-diag-trail'], undefined, 'the trail header stays between hops');
  const { text, traces } = normalize(r.text);
  assert.equal(text, body + hops.map(expectedBlock).join(''));
  // One trace through all hops (traceparent passed on), a span of its own for each.
  assert.equal(traces.length, hops.length);
  assert.equal(new Set(traces.map((x) => x.traceId)).size, 1);
  assert.equal(new Set(traces.map((x) => x.spanId)).size, hops.length);
}

const layouts: Array<[string, Layout]> = [
  ['Express 5 gateway → Koa web → Express 4 payments', { gateway: 'express5', web: 'koa', payments: 'express4' }],
  ['Koa gateway → Express 5 web → Koa payments', { gateway: 'koa', web: 'express5', payments: 'koa' }],
];

for (const [name, layout] of layouts) {
  describe(`diagnostic TRACE, ${name}`, () => {
    test('the gateway answers its own body, then payments, web and gateway blocks; JSON gives the same', async (t) => {
      const chain = await startChain(t, layout);
      const { gateway, web, payments } = chain;
      const r = await trace(`${gateway.url}/checkout/42`, diagHeaders());
      assertTextTrail(r, 502, GATEWAY_BODY, fullTrail(chain));
      assert.equal(r.text.includes(T), false, 'the token is not in the trail');
      // Each app ran once, as GET.
      assert.deepEqual([gateway.runs['/checkout/:id'], web.runs['/orders/:id'], payments.runs['/charge/:id']], [1, 1, 1]);
      // The gateway's app got web's own body (its status 500 is in the gateway's body), with the hops in
      // a header and a no-store over the app's own Cache-Control (the answer holds a trail: not for caches).
      const fromWeb = chain.fromWeb[0]!;
      assert.equal(fromWeb['cache-control'], 'no-store');
      const inHeader = JSON.parse(Buffer.from(String(fromWeb['loop-diag-trail']), 'base64url').toString('utf8')) as HopContext[];
      assert.deepEqual(
        inHeader.map((h) => h.service),
        ['payments', 'web'],
      );

      // The hops further in were asked with the diagnostic headers, by the apps' own calls.
      for (const hop of [web, payments]) {
        assert.equal(hop.seen.length, 1);
        const seen = hop.seen[0]!;
        assert.equal(seen.method, 'GET');
        assert.equal(seen.headers['loop-add-context'], 'true');
        assert.equal(seen.headers['loop-diag-token'], T);
        assert.equal(seen.headers['loop-diag-upstream'], '1');
        assert.equal(seen.headers['max-forwards'], undefined, 'none sent, none forwarded');
        assert.match(String(seen.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      }

      const j = await trace(`${gateway.url}/checkout/42`, diagHeaders({ accept: 'application/json' }));
      assert.equal(j.status, 502);
      assert.equal(j.headers['cache-control'], 'no-store');
      assert.equal(j.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(j.headers['content-length'], String(j.body.length));
      const trail = j.json() as DiagTrail;
      assert.deepEqual(Object.keys(trail), ['body', 'hops']);
      assert.equal(trail.body, GATEWAY_BODY);
      const want = fullTrail(chain);
      assert.deepEqual(
        trail.hops.map((h) => h.service),
        ['payments', 'web', 'gateway'],
      );
      const traceId = trail.hops[0]!.traceId!;
      trail.hops.forEach((hop, i) => assertJsonHop(hop, want[i]!, traceId));
    });

    test('a streamed answer (three writes, no Content-Length) is held and sent with the trail and a Content-Length', async (t) => {
      const chain = await startChain(t, layout);
      const plain = await httpRequest(`${chain.gateway.url}/stream/7`);
      assert.equal(plain.text, STREAMED('7').join(''));
      assert.equal(plain.headers['transfer-encoding'], 'chunked', 'the app streams');
      assert.equal(plain.headers['content-length'], undefined);

      const r = await trace(`${chain.gateway.url}/stream/7`, diagHeaders());
      assert.notEqual(r.body.length, r.text.length, 'the body holds multi-byte characters');
      assertTextTrail(r, 200, STREAMED('7').join(''), [
        { service: 'gateway', method: 'GET', path: '/stream/7', route: '/stream/:id', status: 200, rules: [], outbound: [] },
      ]);
      const j = await trace(`${chain.gateway.url}/stream/7`, diagHeaders({ accept: 'application/json' }));
      assert.equal(j.headers['content-length'], String(j.body.length));
      assert.equal(j.headers['transfer-encoding'], undefined);
      assert.equal((j.json() as DiagTrail).body, STREAMED('7').join(''));
    });

    test('without a valid token, a TRACE is answered as the app without loop() answers it, and no hop is traced', async (t) => {
      const chain = await startChain(t, layout);
      const { gateway, bare, off, web } = chain;
      const normal = await trace(`${bare.url}/checkout/42`, {});
      assert.ok(normal.status >= 400, `an ordinary TRACE is refused by the app: ${normal.status}`);
      const cases: Array<[string, Record<string, string>]> = [
        ['no token', { 'loop-add-context': 'true', 'loop-diag-method': 'GET' }],
        ['wrong token', diagHeaders({ 'loop-diag-token': 'not-the-token-0123456789' })],
        ['the token with one more character', diagHeaders({ 'loop-diag-token': `${T}x` })],
        ['a wrong token and a bad Max-Forwards', diagHeaders({ 'loop-diag-token': 'nope', 'max-forwards': 'abc' })],
        ['a wrong token and Max-Forwards 0', diagHeaders({ 'loop-diag-token': 'nope', 'max-forwards': '0' })],
      ];
      for (const [what, headers] of cases) {
        const expected = await trace(`${bare.url}/checkout/42`, headers);
        assert.equal(expected.status, normal.status, what);
        for (const [target, label] of [
          [gateway, 'gateway'],
          [off, 'gateway without diagnostics'],
        ] as const) {
          const r = await trace(`${target.url}/checkout/42`, headers);
          assert.equal(r.status, expected.status, `${what}, ${label}`);
          assert.equal(r.text, expected.text, `${what}, ${label}`);
          assert.deepEqual(stable(withoutTraceresponse(r.rawHeaders)), stable(expected.rawHeaders), `${what}, ${label}`);
          assert.doesNotMatch(r.text, /--- Service:/);
        }
      }
      // Diagnostics configured but not asked for with the token: the same.
      const offValid = await trace(`${off.url}/checkout/42`, diagHeaders());
      const bareValid = await trace(`${bare.url}/checkout/42`, diagHeaders());
      assert.equal(offValid.status, bareValid.status);
      assert.equal(offValid.text, bareValid.text);
      assert.equal(gateway.runs['/checkout/:id'], 0, 'the handler never ran: the method stayed TRACE');
      assert.equal(web.seen.length, 0);
    });

    test('loop-diag-method: HEAD runs the GET route as HEAD: no body of the app, the same trail', async (t) => {
      const chain = await startChain(t, layout);
      const r = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders({ 'loop-diag-method': 'head' }));
      const [payments, web, gateway] = fullTrail(chain);
      assertTextTrail(r, 502, '', [payments!, web!, { ...gateway!, method: 'HEAD' }]);
      assert.equal(chain.gateway.runs['/checkout/:id'], 1);
    });

    test('l5d-add-context: true (Linkerd’s header) asks for the same trail', async (t) => {
      const chain = await startChain(t, layout);
      const r = await trace(`${chain.gateway.url}/checkout/42`, {
        'l5d-add-context': 'true',
        'loop-diag-token': T,
        'loop-diag-method': 'GET',
      });
      assertTextTrail(r, 502, GATEWAY_BODY, fullTrail(chain));
    });
  });
}

describe('diagnostic TRACE: Max-Forwards, loop-diag-method, secrets, captures, loopctl', () => {
  const layout: Layout = { gateway: 'express5', web: 'koa', payments: 'express4' };

  test('a bad Max-Forwards is answered 400 by the gateway; the app does not run', async (t) => {
    const chain = await startChain(t, layout);
    for (const value of ['-1', 'abc', '', '1.5', '0x1', '1, 2']) {
      const r = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders({ 'max-forwards': value }));
      assert.equal(r.status, 400, `Max-Forwards '${value}'`);
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.headers['content-length'], String(r.body.length));
      assert.match(r.text, /Max-Forwards/);
    }
    assert.equal(chain.gateway.runs['/checkout/:id'], 0);
    assert.equal(chain.web.seen.length, 0);
  });

  test('Max-Forwards 0: the gateway answers by itself with its block; no app runs', async (t) => {
    const chain = await startChain(t, layout);
    const r = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders({ 'max-forwards': '0' }));
    // The block names the method the request would have run as (loop-diag-method, checked first).
    assertTextTrail(r, 200, '', [{ service: 'gateway', method: 'GET', path: '/checkout/42', status: 200, rules: [], outbound: [] }]);
    const j = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders({ 'max-forwards': '0', accept: 'application/json' }));
    const trail = j.json() as DiagTrail;
    assert.equal(trail.body, null);
    assert.deepEqual(
      trail.hops.map((h) => [h.service, h.status, h.outbound.length]),
      [['gateway', 200, 0]],
    );
    assert.equal(chain.gateway.runs['/checkout/:id'], 0, 'the gateway’s handler did not run');
    // Answers the hop writes by itself carry traceresponse too, and are not cacheable.
    assert.match(String(r.headers['traceresponse']), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(chain.web.seen.length, 0);
    assert.equal(chain.payments.seen.length, 0);
  });

  test('Max-Forwards 1: the gateway forwards once; web gets 0, answers its call by itself; payments is never called', async (t) => {
    // RFC 9110 section 7.6.2: Max-Forwards counts the forwards left. The gateway (1) may forward once,
    // so web is asked with 0: it answers the gateway's call itself, with its block, and does not run its
    // handler (which would forward to payments). The gateway's app gets that 200 and answers with it.
    const chain = await startChain(t, layout);
    const { gateway, web, payments } = chain;
    const r = await trace(`${gateway.url}/checkout/42`, diagHeaders({ 'max-forwards': '1' }));
    assertTextTrail(r, 200, 'checkout 42: web answered 200\n', [
      { service: 'web', method: 'GET', path: '/orders/42', status: 200, rules: [], outbound: [] },
      {
        service: 'gateway',
        method: 'GET',
        path: '/checkout/42',
        route: '/checkout/:id',
        status: 200,
        rules: [],
        outbound: [{ url: `${web.url}/orders/42`, at: `127.0.0.1:${web.port}`, status: 200, via: 'http' }],
      },
    ]);
    assert.equal(gateway.runs['/checkout/:id'], 1);
    assert.equal(web.seen.length, 1);
    assert.equal(web.seen[0]!.headers['max-forwards'], '0');
    assert.equal(web.seen[0]!.headers['loop-diag-upstream'], '1');
    assert.equal(web.runs['/orders/:id'], 0, 'web’s handler did not run');
    assert.equal(payments.seen.length, 0, 'payments was not called');

    // Max-Forwards 2: one hop further; payments answers web's call by itself.
    const two = await trace(`${gateway.url}/checkout/42`, diagHeaders({ 'max-forwards': '2' }));
    assertTextTrail(two, 200, 'checkout 42: web answered 200\n', [
      { service: 'payments', method: 'GET', path: '/charge/42', status: 200, rules: [], outbound: [] },
      {
        service: 'web',
        method: 'GET',
        path: '/orders/42',
        route: '/orders/:id',
        status: 200,
        rules: [],
        outbound: [{ url: `${payments.url}/charge/42`, at: `127.0.0.1:${payments.port}`, status: 200, via: 'fetch' }],
      },
      {
        service: 'gateway',
        method: 'GET',
        path: '/checkout/42',
        route: '/checkout/:id',
        status: 200,
        rules: [],
        outbound: [{ url: `${web.url}/orders/42`, at: `127.0.0.1:${web.port}`, status: 200, via: 'http' }],
      },
    ]);
    assert.deepEqual(
      [web.seen.at(-1)!.headers['max-forwards'], payments.seen.at(-1)!.headers['max-forwards']],
      ['1', '0'],
    );
    assert.equal(payments.runs['/charge/:id'], 0);

    // Enough forwards for the whole chain: the full trail.
    const three = await trace(`${gateway.url}/checkout/42`, diagHeaders({ 'max-forwards': '3' }));
    assertTextTrail(three, 502, GATEWAY_BODY, fullTrail(chain));
  });

  test('loop-diag-method other than a safe one is answered 400, with any Max-Forwards; the app does not run', async (t) => {
    const chain = await startChain(t, layout);
    for (const [method, maxForwards] of [
      ['POST', undefined],
      ['DELETE', undefined],
      ['PUT', undefined],
      ['TRACE', undefined],
      ['GET, POST', undefined],
      ['POST', '0'],
      ['POST', '5'],
    ] as const) {
      const headers = diagHeaders({ 'loop-diag-method': method, ...(maxForwards !== undefined && { 'max-forwards': maxForwards }) });
      const r = await trace(`${chain.gateway.url}/checkout/42`, headers);
      assert.equal(r.status, 400, `${method}, Max-Forwards ${maxForwards}`);
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.headers['content-length'], String(r.body.length));
      assert.match(r.text, /loop-diag-method must be GET, HEAD or OPTIONS/);
    }
    assert.equal(chain.gateway.runs['/checkout/:id'], 0);
    assert.equal(chain.web.seen.length, 0);
  });

  test('cookies, authorization and the app’s Set-Cookie never appear in the trail, text or JSON', async (t) => {
    const chain = await startChain(t, layout);
    const secrets = { cookie: 'sid=PLANTED-COOKIE-1', authorization: 'Bearer PLANTED-AUTH-2' };
    const text = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders(secrets));
    const json = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders({ ...secrets, accept: 'application/json' }));
    assert.equal(text.status, 502);
    assert.equal((json.json() as DiagTrail).hops.length, 3);
    for (const r of [text, json]) {
      for (const secret of [...PLANTED, T]) assert.equal(r.text.includes(secret), false, `${secret} in ${r.text}`);
    }
  });

  test('the token never reaches a capture; diagnostic requests are never captured', async (t) => {
    const chain = await startChain(t, layout);
    const { gateway, payments, receiver } = chain;
    // Diagnostic requests (all 5xx): none of them may become a capture.
    await trace(`${gateway.url}/checkout/42`, diagHeaders());
    await trace(`${gateway.url}/checkout/42`, diagHeaders({ accept: 'application/json' }));
    // Ordinary failing requests that carry a token, right or wrong: captured, the token redacted.
    const wrong = 'wrong-token-PLANTED-0123456789';
    const a = await httpRequest(`${payments.url}/charge/7`, { headers: { 'loop-diag-token': wrong } });
    const b = await httpRequest(`${payments.url}/charge/8`, { headers: { 'loop-diag-token': T } });
    // Looks like a hop further in, but the token is wrong: an ordinary request, no trail header.
    const c = await httpRequest(`${payments.url}/charge/9`, {
      headers: { 'loop-add-context': 'true', 'loop-diag-upstream': '1', 'loop-diag-token': wrong },
    });
    assert.deepEqual([a.status, b.status, c.status], [502, 502, 502]);
    assert.equal(c.headers['loop-diag-trail'], undefined);
    // And one ordinary failing request through the whole chain: three captures with outgoing calls.
    const d = await httpRequest(`${gateway.url}/checkout/43`);
    assert.equal(d.status, 502);
    // Not a diagnostic request: the apps' own headers, nothing added.
    assert.equal(d.headers['cache-control'], 'public, max-age=600');
    assert.equal(chain.fromWeb.at(-1)!['cache-control'], 'public, max-age=600');
    assert.equal(chain.fromWeb.at(-1)!['loop-diag-trail'], undefined);
    await chain.flush();
    await receiver.waitFor(6);
    await chain.flush();
    const records: CaptureRecord[] = receiver.records;
    assert.deepEqual(
      records.map((rec) => `${rec.service} ${rec.request.method} ${rec.request.url}`).sort(),
      ['gateway GET /checkout/43', 'payments GET /charge/43', 'payments GET /charge/7', 'payments GET /charge/8', 'payments GET /charge/9', 'web GET /orders/43'],
    );
    const all = JSON.stringify(records);
    assert.equal(all.includes(T), false, 'the diagnostic token is in a capture');
    assert.equal(all.includes(wrong), false, 'a wrong diagnostic token is in a capture');
    for (const rec of records.filter((x) => x.request.url !== '/charge/43' && x.service === 'payments')) {
      const token = rec.request.headers.filter(([k]) => k.toLowerCase() === 'loop-diag-token');
      assert.deepEqual(token, [['loop-diag-token', '[REDACTED]']], rec.request.url);
      assert.ok(rec.redacted.includes('request.headers.loop-diag-token'), rec.redacted.join(', '));
    }
  });

  test('loopctl diag URL --token T prints the trail; --json prints it as JSON', async (t) => {
    const chain = await startChain(t, layout);
    const url = `${chain.gateway.url}/checkout/42`;
    const result = await runLoopctl(['diag', url, '--token', T, '--method', 'GET']);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    const { text, traces } = normalize(result.stdout);
    assert.equal(text, `HTTP/1.1 502 Bad Gateway\n${GATEWAY_BODY}${fullTrail(chain).map(expectedBlock).join('')}`);
    assert.equal(new Set(traces.map((x) => x.traceId)).size, 1);

    const json = await runLoopctl(['diag', url, '--token', T, '--method', 'GET', '--json']);
    assert.equal(json.stderr, '');
    assert.equal(json.code, 0);
    const out = JSON.parse(json.stdout) as { status: number; statusMessage: string; trail: DiagTrail };
    assert.equal(out.status, 502);
    assert.equal(out.statusMessage, 'Bad Gateway');
    assert.equal(out.trail.body, GATEWAY_BODY);
    const want = fullTrail(chain);
    out.trail.hops.forEach((hop, i) => assertJsonHop(hop, want[i]!, out.trail.hops[0]!.traceId!));
    assert.equal(out.trail.hops.length, 3);

    // Without --method the app sees TRACE itself (Express: 404), and the gateway still adds its block.
    const asTrace = await runLoopctl(['diag', url, '--token', T]);
    assert.equal(asTrace.code, 0, asTrace.stderr);
    assert.match(asTrace.stdout, /^HTTP\/1\.1 404 Not Found\n/);
    assert.match(asTrace.stdout, /\n--- Service: gateway \(.*\) ---\nrequest: TRACE \/checkout\/42\n/);
    assert.equal((asTrace.stdout.match(/--- Service:/g) ?? []).length, 1);

    const wrong = await runLoopctl(['diag', url, '--token', 'not-the-token-0123456789', '--method', 'GET']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /with no diagnostic trail/);
  });
});

test(
  'a fetch call in a trail shows the address it connected to',
  async (t) => {
    const chain = await startChain(t, { gateway: 'express5', web: 'koa', payments: 'express4' });
    const r = await trace(`${chain.gateway.url}/checkout/42`, diagHeaders({ accept: 'application/json' }));
    const web = (r.json() as DiagTrail).hops[1]!;
    const at = `127.0.0.1:${chain.payments.port}`;
    assert.deepEqual([web.outbound[0]!.addresses, web.outbound[0]!.selectedAddress], [[at], at]);
  },
);
