// The whole path for each framework: a failing request is captured by loop(), shipped to a real
// collector with a real SQLite file, listed, shown and replayed with the real loopctl binary.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Koa from 'koa';
import { loop } from '../../middleware/index.js';
import { loop as koaLoop } from '../../adapters/koa.js';
import type { CaptureRecord } from '../../src/capture/record.js';
import { close, listen } from '../middleware/fixtures.js';
import { httpRequest, runLoopctl, startTestCollector } from '../helpers.js';

interface App {
  url: string;
  /** The same app, fixed: the failing route answers 200 from now on. */
  fix(): void;
  flush(): Promise<void>;
}

type Build = (t: TestContext, collector: string) => Promise<App>;

const frameworks: Array<[string, Build, string]> = [
  ['Express 5', (t, c) => expressApp(t, c, express5 as unknown as typeof express4), '/orders/:id'],
  ['Express 4', (t, c) => expressApp(t, c, express4), '/orders/:id'],
  ['Koa', koaApp, '/orders/:id'],
];

async function expressApp(t: TestContext, collector: string, express: typeof express4): Promise<App> {
  let failing = true;
  const mw = loop({ service: 'web', collector });
  const app = express();
  app.use(mw);
  app.use(express.json());
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/orders/:id', (req, res) => {
    if (failing) throw new Error(`payments timed out for order ${req.params.id}`);
    res.json({ id: req.params.id, paid: true });
  });
  // The app's own error handler: loop() must still see the error it handled.
  app.use((err: Error, _req: express4.Request, res: express4.Response, _next: express4.NextFunction) => {
    res.status(500).json({ error: err.message });
  });
  return serve(t, http.createServer(app), mw, () => (failing = false));
}

async function koaApp(t: TestContext, collector: string): Promise<App> {
  let failing = true;
  const mw = koaLoop({ service: 'web', collector });
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = { ok: true };
  });
  router.post('/orders/:id', (ctx) => {
    if (failing) throw new Error(`payments timed out for order ${ctx.params.id}`);
    ctx.body = { id: ctx.params.id, paid: true };
  });
  app.use(mw);
  app.use(router.routes());
  return serve(t, http.createServer(app.callback()), mw, () => (failing = false));
}

async function serve(t: TestContext, server: http.Server, mw: { flush(): Promise<void>; close(): Promise<void> }, fix: () => void): Promise<App> {
  const url = await listen(server);
  t.after(async () => {
    await mw.close();
    await close(server);
  });
  return { url, fix, flush: () => mw.flush() };
}

/** The seed's table, for rows of [id, path, verb, status, destination]. */
function table(rows: string[][]): string {
  const head = ['ID', 'PATH', 'VERB', 'STATUS', 'DESTINATION'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const right = [true, false, false, true, false];
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const row = (cells: string[]) => `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [line, row(head), line, ...rows.map(row), line].join('\n') + '\n';
}

for (const [name, build, route] of frameworks) {
  describe(`end to end, ${name}`, () => {
    it('captures a 500 (not a 200), lists, shows and replays it; after a fix the replay differs', async (t) => {
      const collector = await startTestCollector(t);
      const app = await build(t, collector.url);
      const env = { LOOP_COLLECTOR: collector.url };
      const host = new URL(app.url).host;

      const ok = await httpRequest(`${app.url}/health`);
      assert.equal(ok.status, 200);
      const failed = await httpRequest(`${app.url}/orders/42?expand=items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"amount":1250,"currency":"EUR"}',
      });
      assert.equal(failed.status, 500);
      await app.flush();

      const list = await runLoopctl(['list'], env);
      assert.equal(list.stderr, '');
      assert.equal(list.code, 0);
      assert.equal(list.stdout, table([['1', '/orders/42?expand=items', 'POST', '500', host]]));

      const json = await runLoopctl(['show', '--id', '1', '--json'], env);
      const record = JSON.parse(json.stdout) as CaptureRecord;
      assert.equal(record.seq, 1);
      assert.equal(record.service, 'web');
      assert.equal(record.route, route);
      assert.equal(record.destination, host);
      assert.equal(record.request.method, 'POST');
      assert.equal(record.request.url, '/orders/42?expand=items');
      assert.deepEqual(record.request.body, { encoding: 'utf8', data: '{"amount":1250,"currency":"EUR"}', size: 32, truncated: false });
      assert.equal(record.response.status, 500);
      assert.equal(record.response.aborted, false);
      assert.equal(Buffer.from(record.response.body!.data, record.response.body!.encoding).toString(), failed.body.toString());
      assert.equal(record.error?.name, 'Error');
      assert.equal(record.error?.message, 'payments timed out for order 42');
      assert.match(record.error?.stack ?? '', /payments timed out for order 42\n\s+at /);
      assert.deepEqual(record.rules, ['default']);
      assert.match(record.trace.traceId, /^[0-9a-f]{32}$/);

      const show = await runLoopctl(['show', '--id', '1'], env);
      assert.equal(show.code, 0);
      assert.match(show.stdout, /POST \/orders\/42\?expand=items/);
      assert.match(show.stdout, /"currency": "EUR"/, 'JSON bodies are pretty-printed');
      assert.match(show.stdout, /payments timed out for order 42/);

      const same = await runLoopctl(['replay', '--id', '1', '--destination', host], env);
      assert.equal(same.code, 0, same.stdout + same.stderr);
      assert.match(same.stdout, /same as captured/);

      app.fix();
      const differs = await runLoopctl(['replay', '--id', '1', '--destination', host], env);
      assert.equal(differs.code, 1, differs.stdout + differs.stderr);
      assert.match(differs.stdout, /differs from captured/);
      assert.match(differs.stdout, /500 → 200/);

      // Replays carry loop-replay and are not captured again; the 200 never was.
      await app.flush();
      const after = await runLoopctl(['list', '--json'], env);
      assert.equal((JSON.parse(after.stdout) as { captures: unknown[] }).captures.length, 1);
    });
  });
}

describe('redaction at the source', () => {
  it('leaves no planted secret anywhere in the collector database files, WAL included', async (t) => {
    const collector = await startTestCollector(t);
    const mw = loop({ service: 'secrets', collector: collector.url });
    const app = express5();
    app.use(mw);
    app.use(express5.json());
    app.post('/login', (_req, res) => {
      res.cookie('session', 'PLANTED-SETCOOKIE-6');
      res.status(500).json({ access_token: 'PLANTED-RESPONSE-5', detail: 'login failed' });
    });
    const server = http.createServer(app);
    const url = await listen(server);
    t.after(async () => {
      await mw.close();
      await close(server);
    });
    const r = await httpRequest(`${url}/login?token=PLANTED-QUERY-4&next=%2Fhome`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer PLANTED-AUTH-1',
        cookie: 'sid=PLANTED-COOKIE-2',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ user: 'ann', password: 'PLANTED-PASSWORD-3' }),
    });
    assert.equal(r.status, 500);
    await mw.flush();

    const shown = await runLoopctl(['show', '--id', '1', '--json'], { LOOP_COLLECTOR: collector.url });
    const record = JSON.parse(shown.stdout) as CaptureRecord;
    assert.deepEqual(record.redacted.sort(), [
      'request.body.password',
      'request.headers.authorization',
      'request.headers.cookie',
      'request.url.query.token',
      'response.body.access_token',
      'response.headers.set-cookie',
    ]);
    assert.equal(record.request.url, '/login?token=[REDACTED]&next=%2Fhome');

    // Read the raw bytes of every file of the database while the collector still has it open.
    const dir = path.dirname(collector.db);
    const files = (await readdir(dir)).filter((f) => f.startsWith(path.basename(collector.db)));
    assert.ok(files.some((f) => f.endsWith('-wal')), `expected a WAL file among ${files.join(', ')}`);
    let holdsCapture = false;
    for (const f of files) {
      const bytes = await readFile(path.join(dir, f));
      if (bytes.includes('login failed')) holdsCapture = true;
      for (const secret of ['PLANTED-AUTH-1', 'PLANTED-COOKIE-2', 'PLANTED-PASSWORD-3', 'PLANTED-QUERY-4', 'PLANTED-RESPONSE-5', 'PLANTED-SETCOOKIE-6']) {
        assert.equal(bytes.includes(secret), false, `${secret} found in ${f}`);
      }
    }
    assert.ok(holdsCapture, 'the capture itself is in the files searched');
  });
});
