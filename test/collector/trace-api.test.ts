import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codes } from '../../collector/index.js';
import { httpRequest, ingest, sampleCapture, startTestCollector } from '../helpers.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';

function assertJsonError(res: { status: number; headers: Record<string, unknown>; text: string; json(): any }, status: number, code: string, message: string): void {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepStrictEqual(res.json(), { error: { code, message } });
}

test('GET /v1/traces/:traceId answers every capture of the trace, whole, by start time', async (t) => {
  const { url } = await startTestCollector(t);
  // Shipped innermost first, as a downstream service finishes (and ships) before its caller.
  const payments = sampleCapture({
    service: 'payments',
    startedAt: '2025-06-01T10:00:00.010Z',
    trace: { traceId: TRACE, spanId: 'a3ce929d0e0e4736', parentSpanId: '8d1f6b5c3a2e4f10' },
    request: { method: 'POST', url: '/charge' },
    response: { status: 502 },
  });
  const web = sampleCapture({
    startedAt: '2025-06-01T10:00:00.002Z',
    trace: { traceId: TRACE, spanId: 'e457b5a2e4d86bd1' },
    outbound: [{ spanId: '8d1f6b5c3a2e4f10', method: 'POST', url: 'http://127.0.0.1:9091/charge', status: 502, durationMs: 300.1 }],
  });
  const other = sampleCapture({ trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' } });
  assert.equal((await ingest(url, [payments, other, web])).status, 200);

  const res = await httpRequest(`${url}/v1/traces/${TRACE}`);
  assert.equal(res.status, 200, res.text);
  assert.deepStrictEqual(res.json(), {
    traceId: TRACE,
    total: 2,
    captures: [
      { ...web, seq: 3 },
      { ...payments, seq: 1 },
    ],
  });
  const head = await httpRequest(`${url}/v1/traces/${TRACE}`, { method: 'HEAD' });
  assert.deepEqual([head.status, head.text], [200, '']);
});

test('404 when no capture has the trace id; 400 for a malformed id or a query parameter', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [sampleCapture({ trace: { traceId: TRACE } })]);
  const unknown = 'ffffffffffffffffffffffffffffffff';
  assertJsonError(await httpRequest(`${url}/v1/traces/${unknown}`), 404, codes.NOT_FOUND, `no capture has trace id ${unknown}`);
  for (const bad of [TRACE.toUpperCase(), TRACE.slice(1), `${TRACE}0`, '0'.repeat(32), 'feed', `${TRACE.slice(0, 31)}g`]) {
    assertJsonError(
      await httpRequest(`${url}/v1/traces/${bad}`),
      400,
      codes.BAD_REQUEST,
      `bad trace id '${bad}': a trace id is 32 lower-case hex digits, not all zeros (as in traceparent)`,
    );
  }
  assertJsonError(
    await httpRequest(`${url}/v1/traces/${TRACE}?limit=5`),
    400,
    codes.BAD_REQUEST,
    "unknown query parameter 'limit': /v1/traces/:traceId takes none",
  );
  assertJsonError(await httpRequest(`${url}/v1/traces/${TRACE}`, { method: 'DELETE' }), 405, codes.METHOD_NOT_ALLOWED, `method DELETE is not allowed on /v1/traces/${TRACE}; use GET, HEAD`);
});

test('the trace route needs the token like the other /v1 routes', async (t) => {
  const { url } = await startTestCollector(t, { token: 'right' });
  await ingest(url, [sampleCapture({ trace: { traceId: TRACE } })], 'right');
  const refused = await httpRequest(`${url}/v1/traces/${TRACE}`);
  assertJsonError(refused, 401, codes.UNAUTHORIZED, 'missing or wrong bearer token; send Authorization: Bearer <token>');
  assert.equal(refused.headers['www-authenticate'], 'Bearer');
  const ok = await httpRequest(`${url}/v1/traces/${TRACE}`, { headers: { authorization: 'Bearer right' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.json().total, 1);
});

test('at most 1000 captures, the earliest; total counts them all', async (t) => {
  const { url } = await startTestCollector(t);
  const captures = Array.from({ length: 1002 }, (_, i) =>
    sampleCapture({
      startedAt: new Date(Date.UTC(2025, 5, 1, 10) + i).toISOString(),
      trace: { traceId: TRACE, spanId: (i + 1).toString(16).padStart(16, '0') },
    }),
  );
  assert.equal((await ingest(url, [...captures].reverse())).status, 200);
  const body = (await httpRequest(`${url}/v1/traces/${TRACE}`)).json();
  assert.equal(body.total, 1002);
  assert.deepEqual(
    body.captures.map((c: { id: string }) => c.id),
    captures.slice(0, 1000).map((c) => c.id),
  );
});
