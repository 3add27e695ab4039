// httploop/axios: the request interceptor sets traceparent / tracestate on an axios instance's requests
// made while loop() handles a request, also when the instance's adapter never touches node:http.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios';
import { traceAxios, traceparentInterceptor } from '../../adapters/axios.js';
import { loop } from '../../middleware/index.js';
import { currentTrace, type TraceInfo } from '../../src/trace/context.js';
import { captureReceiver, close, listen } from '../middleware/fixtures.js';
import { httpRequest, startHttpServer } from '../helpers.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

/** The headers each request reached the adapter with (lower-case names), and a fake 200. */
function recordingAdapter(): { adapter: AxiosAdapter; seen: Array<Record<string, string>> } {
  const seen: Array<Record<string, string>> = [];
  const adapter: AxiosAdapter = async (config) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.headers.toJSON())) headers[k.toLowerCase()] = String(v);
    seen.push(headers);
    return { data: { ok: true }, status: 200, statusText: 'OK', headers: {}, config, request: {} };
  };
  return { adapter, seen };
}

interface Served {
  url: string;
  /** What currentTrace() said inside each request's handler. */
  traces: TraceInfo[];
}

/**
 * A real loop() server (plain node:http, remoteRules off, nothing captured: the handler answers 200)
 * whose handler calls `call(instance)` and answers with what the call returned.
 */
async function serve(t: TestContext, instance: AxiosInstance, call: (i: AxiosInstance) => Promise<unknown>): Promise<Served> {
  const receiver = await captureReceiver();
  t.after(() => receiver.close());
  const mw = loop({ service: 'web', collector: receiver.url, remoteRules: false });
  t.after(() => mw.close());
  const traces: TraceInfo[] = [];
  const server = http.createServer((req, res) => {
    mw(req, res, () => {
      traces.push(currentTrace()!);
      call(instance).then(
        () => res.end('done'),
        (err: Error) => {
          res.statusCode = 599;
          res.end(err.message);
        },
      );
    });
  });
  const url = await listen(server);
  t.after(() => close(server));
  return { url, traces };
}

test('a request made under loop() gets a child traceparent of the request being handled', async (t) => {
  const { adapter, seen } = recordingAdapter();
  const instance = axios.create({ adapter });
  const id = traceAxios(instance);
  assert.equal(typeof id, 'number');
  const { url, traces } = await serve(t, instance, (i) => i.get('http://payments.invalid/charge'));

  // A new trace (no incoming traceparent): the trace id is the one loop() answers in traceresponse.
  const first = await httpRequest(`${url}/checkout`);
  assert.equal(first.status, 200, first.text);
  assert.equal(seen.length, 1);
  const m = TRACEPARENT.exec(seen[0]!.traceparent ?? '');
  assert.ok(m, `traceparent is set: ${JSON.stringify(seen[0])}`);
  assert.equal(m[1], traces[0]!.traceId);
  assert.equal(m[1], TRACEPARENT.exec(String(first.headers.traceresponse))?.[1], 'the trace id of the request');
  assert.notEqual(m[2], traces[0]!.spanId, 'the call has a span of its own, a child of the request');
  assert.equal(m[3], '00', 'a trace httploop started is not sampled');
  assert.equal(seen[0]!.tracestate, undefined, 'no tracestate came in, none goes out');

  // A continued trace: same trace id, the caller's sampled flag, its tracestate passed on.
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const second = await httpRequest(`${url}/checkout`, {
    headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc,other=1' },
  });
  assert.equal(second.status, 200, second.text);
  const n = TRACEPARENT.exec(seen[1]!.traceparent ?? '');
  assert.ok(n, `traceparent is set: ${JSON.stringify(seen[1])}`);
  assert.deepEqual([n[1], n[3]], [traceId, '01']);
  assert.notEqual(n[2], '00f067aa0ba902b7');
  assert.notEqual(n[2], traces[1]!.spanId);
  assert.notEqual(n[2], m[2], 'every call gets a new span id');
  assert.equal(seen[1]!.tracestate, 'vendor=abc,other=1');

  // Ejecting the interceptor by the id traceAxios returned stops it.
  instance.interceptors.request.eject(id);
  await httpRequest(`${url}/checkout`);
  assert.equal(seen[2]!.traceparent, undefined, 'nothing is set once the interceptor is ejected');
});

test('outside a request handled by loop(), nothing is set', async (t) => {
  const { adapter, seen } = recordingAdapter();
  const instance = axios.create({ adapter });
  traceAxios(instance);
  // A loop() server exists and has handled a request, but this call is not made under it.
  const { url } = await serve(t, instance, (i) => i.get('http://payments.invalid/charge'));
  assert.equal((await httpRequest(`${url}/`)).status, 200);
  assert.ok(seen[0]!.traceparent, 'under the request it is set');

  assert.equal(currentTrace(), undefined);
  await instance.get('http://payments.invalid/charge', { headers: { 'x-kept': 'yes' } });
  assert.equal(seen[1]!.traceparent, undefined);
  assert.equal(seen[1]!.tracestate, undefined);
  assert.equal(seen[1]!['x-kept'], 'yes');

  // The interceptor on its own: outside a request it returns the config untouched.
  const config = { headers: { accept: 'application/json' } };
  assert.equal(traceparentInterceptor(config), config);
  assert.deepEqual(config, { headers: { accept: 'application/json' } });
});

test('an existing traceparent is kept (and so is the tracestate that came with it)', async (t) => {
  const { adapter, seen } = recordingAdapter();
  const instance = axios.create({ adapter });
  traceAxios(instance);
  const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const plain: Array<Record<string, string>> = [];
  const { url } = await serve(t, instance, async (i) => {
    plain.push(traceparentInterceptor({ headers: { TRACEPARENT: own } as Record<string, string> }).headers);
    plain.push(traceparentInterceptor({ headers: { accept: '*/*' } as Record<string, string> }).headers);
    await i.get('http://payments.invalid/a', { headers: { traceparent: own } });
    await i.get('http://payments.invalid/b', { headers: { TraceParent: own, tracestate: 'mine=1' } });
  });
  const res = await httpRequest(`${url}/`, {
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=abc' },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.traceparent, own);
  assert.equal(seen[0]!.tracestate, undefined, 'a traceparent the app set is not paired with our tracestate');
  assert.equal(seen[1]!.traceparent, own, 'found in any case');
  assert.equal(seen[1]!.tracestate, 'mine=1');

  // Plain-object headers (the interceptor used on its own, not through traceAxios): the same rules.
  assert.deepEqual(plain, [{ TRACEPARENT: own }, { accept: '*/*', traceparent: plain[1]!.traceparent, tracestate: 'vendor=abc' }]);
  assert.equal(TRACEPARENT.exec(plain[1]!.traceparent!)?.[1], '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('through the default (node:http) adapter, the call is recorded under the span the interceptor chose', async (t) => {
  // The downstream service: records the traceparent it got.
  const got: string[] = [];
  const downstream = await startHttpServer(t, (req, res) => {
    got.push(String(req.headers.traceparent));
    res.statusCode = 502;
    res.end('payments down');
  });
  const receiver = await captureReceiver();
  t.after(() => receiver.close());
  const mw = loop({ service: 'web', collector: receiver.url, remoteRules: false });
  t.after(() => mw.close());
  const instance = axios.create({ validateStatus: () => true });
  traceAxios(instance);
  let intercepted: string | undefined;
  instance.interceptors.response.use((r) => {
    intercepted = r.config.headers.get('traceparent') as string;
    return r;
  });
  const server = http.createServer((req, res) => {
    mw(req, res, () => {
      instance.post(`${downstream.url}/charge`, { amount: 1 }).then((r) => {
        res.statusCode = r.status === 502 ? 500 : 200;
        res.end('checkout failed');
      });
    });
  });
  const url = await listen(server);
  t.after(() => close(server));

  const res = await httpRequest(`${url}/checkout`);
  assert.equal(res.status, 500);
  assert.equal(got.length, 1);
  assert.ok(intercepted, 'the interceptor set the header on the config');
  assert.equal(got[0], intercepted, 'the node:http hook kept the interceptor\'s traceparent, and added none');
  await mw.flush();
  await receiver.waitFor(1);
  const [record] = receiver.records;
  const [, traceId, spanId] = TRACEPARENT.exec(intercepted)!;
  assert.equal(record!.trace.traceId, traceId);
  assert.equal(record!.outbound?.length, 1);
  assert.deepEqual(
    { spanId: record!.outbound![0]!.spanId, method: record!.outbound![0]!.method, status: record!.outbound![0]!.status },
    { spanId, method: 'POST', status: 502 },
    'the recorded call carries the span id downstream saw: loopctl trace links the hops',
  );
});

test('the built httploop/axios shares the request context of the built httploop (import and require)', async (t) => {
  const spec = 'httploop/axios';
  const esm = (await import(spec)) as typeof import('../../adapters/axios.js');
  const { createRequire } = await import('node:module');
  const cjs = createRequire(import.meta.url)(spec) as typeof import('../../adapters/axios.js');
  const built = (await import('httploop' as string)) as typeof import('../../middleware/index.js');
  assert.deepEqual([typeof esm.traceAxios, typeof esm.traceparentInterceptor], ['function', 'function']);
  assert.deepEqual([typeof cjs.traceAxios, typeof cjs.traceparentInterceptor], ['function', 'function']);

  const receiver = await captureReceiver();
  t.after(() => receiver.close());
  const mw = built.loop({ service: 'web', collector: receiver.url, remoteRules: false });
  t.after(() => mw.close());
  const seen: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    mw(req, res, () => {
      const a = esm.traceparentInterceptor({ headers: {} as Record<string, string> });
      const b = cjs.traceparentInterceptor({ headers: {} as Record<string, string> });
      seen.push(a.headers.traceparent, b.headers.traceparent);
      res.end();
    });
  });
  const url = await listen(server);
  t.after(() => close(server));
  const res = await httpRequest(url);
  const traceId = TRACEPARENT.exec(String(res.headers.traceresponse))?.[1];
  assert.ok(traceId);
  for (const value of seen) assert.equal(TRACEPARENT.exec(value ?? '')?.[1], traceId, `set from the same context: ${value}`);
});
