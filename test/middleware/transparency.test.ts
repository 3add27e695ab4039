// The app's behaviour with loop() must be the behaviour without it. Each test runs the same handler
// bare and behind loop() on real servers, with real clients, and compares what the client saw; the
// captures are checked where the exchange matched.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { loop } from '../../middleware/index.js';
import { captureReceiver, close, listen, stable, withoutTraceresponse } from './fixtures.js';
import { httpRequest } from '../helpers.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let receiver: Awaited<ReturnType<typeof captureReceiver>>;
const mws: Array<ReturnType<typeof loop>> = [];
const servers: http.Server[] = [];

before(async () => {
  receiver = await captureReceiver();
});
after(async () => {
  for (const mw of mws) await mw.close();
  for (const s of servers) await close(s);
  await receiver.close();
});

/** The same handler twice: bare, and behind loop() on node:http. */
async function pair(handler: Handler, options: Parameters<typeof loop>[0] = {}) {
  const mw = watched(options);
  const bare = http.createServer(handler);
  const looped = http.createServer((req, res) => mw(req, res, () => handler(req, res)));
  servers.push(bare, looped);
  return { bare: await listen(bare), looped: await listen(looped), mw };
}

let serial = 0;
const serviceOf = new WeakMap<object, string>();

/** The captures one loop() shipped, once there are `n` of them. */
async function captured(mw: ReturnType<typeof loop>, n = 1) {
  const service = serviceOf.get(mw)!;
  const deadline = Date.now() + 5000;
  for (;;) {
    await mw.flush();
    const mine = receiver.records.filter((r) => r.service === service);
    if (mine.length >= n) return mine;
    if (Date.now() > deadline) throw new Error(`${mine.length} of ${n} captures of ${service} arrived`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function watched(options: Parameters<typeof loop>[0] = {}) {
  const service = `t${++serial}`;
  const mw = loop({ collector: receiver.url, queue: { flushIntervalMs: 10 }, ...options, service });
  serviceOf.set(mw, service);
  mws.push(mw);
  return mw;
}

describe('transparency', () => {
  it('sends the same status, headers and bytes for a JSON 500 and a 200', async () => {
    const handler: Handler = (req, res) => {
      const fail = req.url === '/fail';
      res.statusCode = fail ? 500 : 200;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('X-Multi', ['a', 'b']);
      res.end(JSON.stringify({ fail }));
    };
    const { bare, looped } = await pair(handler);
    for (const path of ['/fail', '/ok']) {
      const a = await httpRequest(bare + path);
      const b = await httpRequest(looped + path);
      assert.equal(b.status, a.status);
      assert.deepEqual(stable(withoutTraceresponse(b.rawHeaders)), stable(a.rawHeaders));
      assert.deepEqual(b.body, a.body);
    }
  });

  it('adds nothing at all with traceResponse: false, and keeps writeHead arrays as the app gave them', async () => {
    const handler: Handler = (req, res) => {
      if (req.url === '/array') {
        // Repeated names in a raw array are sent as given; so must they be with loop().
        res.writeHead(500, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Order', 'last']);
      } else if (req.url === '/object') {
        res.setHeader('X-First', '1');
        res.writeHead(201, 'Made', { 'X-Second': '2' });
      } else {
        res.writeHead(200, [
          ['X-Pair', '1'],
          ['X-Pair', '2'],
        ]);
      }
      res.end('x');
    };
    const plain = await pair(handler, { traceResponse: false });
    const traced = await pair(handler);
    for (const path of ['/array', '/object', '/pairs']) {
      const a = await httpRequest(plain.bare + path);
      const b = await httpRequest(plain.looped + path);
      const c = await httpRequest(traced.looped + path);
      assert.deepEqual([b.status, stable(b.rawHeaders), b.body], [a.status, stable(a.rawHeaders), a.body], path);
      assert.deepEqual([c.status, stable(withoutTraceresponse(c.rawHeaders)), c.body], [a.status, stable(a.rawHeaders), a.body], path);
    }
  });

  it('keeps backpressure: a paused client holds the server back, drain and callbacks still come', async () => {
    // Ported from compression's "should back-pressure": keep writing while write() says go and
    // 'drain' comes; with the client paused, the kernel buffers fill and 'drain' must stop coming.
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const LIMIT = 256 * 1024 * 1024;
    type Run = { heldAt: number; falses: number; endCallback: boolean; received: number };
    const runs: Run[] = [];
    for (const useLoop of [false, true]) {
      const mw = watched();
      let socket!: net.Socket;
      let resolveRun!: (r: Run) => void;
      const done = new Promise<Run>((r) => (resolveRun = r));
      const server = http.createServer((req, res) => {
        const go = () => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          let sent = 0;
          let falses = 0;
          let lastDrain = Date.now();
          let resumed = false;
          const pump = () => {
            while (sent < LIMIT) {
              sent += chunk.length;
              if (!res.write(chunk)) return void falses++;
            }
          };
          res.on('drain', () => {
            if (resumed) return;
            lastDrain = Date.now();
            pump();
          });
          pump();
          const check = setInterval(() => {
            if (Date.now() - lastDrain < 300) return;
            clearInterval(check);
            resumed = true;
            const heldAt = sent;
            const finish = () => res.end(() => resolveRun({ heldAt, falses, endCallback: true, received: 0 }));
            socket.resume();
            if (res.writableNeedDrain) res.once('drain', finish);
            else finish();
          }, 50);
        };
        if (useLoop) mw(req, res, go);
        else go();
      });
      servers.push(server);
      const url = new URL(await listen(server));
      let received = 0;
      socket = net.connect(Number(url.port), '127.0.0.1');
      socket.on('data', (d) => (received += d.length));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      socket.pause();
      const run = await done;
      await new Promise((r) => socket.on('end', r));
      run.received = received;
      runs.push(run);
      if (useLoop) {
        const [record] = await captured(mw);
        assert.equal(record!.response.body!.size, run.heldAt);
        assert.equal(record!.response.body!.truncated, true);
      }
    }
    for (const run of runs) {
      assert.ok(run.heldAt < LIMIT, 'the paused client held the server back');
      assert.ok(run.falses >= 1);
      assert.equal(run.endCallback, true);
      assert.ok(run.received > run.heldAt, 'client got every body byte (plus headers and chunk framing)');
    }
    const [bare, looped] = runs as [Run, Run];
    assert.ok(looped.heldAt <= bare.heldAt * 2 && bare.heldAt <= looped.heldAt * 2, `held at ${bare.heldAt} bare vs ${looped.heldAt} bytes with loop()`);
  });

  it('streams server-sent events without holding the first byte', async () => {
    const handler: Handler = (req, res) => {
      res.writeHead(503, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: first\n\n');
      setTimeout(() => res.end('data: last\n\n'), 400);
    };
    const { looped, mw } = await pair(handler);
    const started = Date.now();
    const firstByteAfter = await new Promise<number>((resolve, reject) => {
      http
        .get(looped, (res) => {
          res.once('data', () => resolve(Date.now() - started));
          res.resume();
        })
        .on('error', reject);
    });
    assert.ok(firstByteAfter < 300, `first event arrived after ${firstByteAfter} ms, before the stream ended`);
    const [record] = await captured(mw);
    assert.equal(record!.response.body!.data, 'data: first\n\ndata: last\n\n');
  });

  it('answers HEAD, 204 and 304 exactly as without loop()', async () => {
    const app = () => {
      const a = express();
      a.set('etag', 'strong');
      a.get('/doc', (_req, res) => res.status(200).send('a body with an etag'));
      a.delete('/doc', (_req, res) => res.status(204).end());
      a.get('/broken', (_req, res) => res.status(500).send('x'.repeat(100)));
      return a;
    };
    const bareApp = app();
    const loopedApp = express();
    const mw = watched();
    loopedApp.use(mw);
    loopedApp.use(app());
    const bareServer = http.createServer(bareApp);
    const loopedServer = http.createServer(loopedApp);
    servers.push(bareServer, loopedServer);
    const bare = await listen(bareServer);
    const looped = await listen(loopedServer);
    const etag = (await httpRequest(bare + '/doc')).rawHeaders.find(([k]) => k.toLowerCase() === 'etag')![1];
    const cases = [
      { path: '/doc', method: 'HEAD' },
      { path: '/broken', method: 'HEAD' },
      { path: '/doc', method: 'DELETE' },
      { path: '/doc', method: 'GET', headers: { 'if-none-match': etag } },
    ];
    for (const c of cases) {
      const a = await httpRequest(bare + c.path, c);
      const b = await httpRequest(looped + c.path, c);
      assert.equal(b.status, a.status, `${c.method} ${c.path}`);
      assert.deepEqual(stable(withoutTraceresponse(b.rawHeaders)), stable(a.rawHeaders), `${c.method} ${c.path}`);
      assert.equal(b.body.length, 0);
    }
    // The HEAD of a 500 is captured, with no body: none was sent.
    const [record] = await captured(mw);
    assert.equal(record!.request.method, 'HEAD');
    assert.equal(record!.response.status, 500);
    assert.equal(record!.response.body, null);
  });

  it('captures an exchange the client aborted mid-body, with aborted: true', async () => {
    let serverSawClose!: () => void;
    const closed = new Promise<void>((r) => (serverSawClose = r));
    const handler: Handler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.write('partial ');
      res.on('close', () => serverSawClose());
      const timer = setInterval(() => res.write('more '), 20);
      res.on('close', () => clearInterval(timer));
    };
    const { looped, mw } = await pair(handler);
    await new Promise<void>((resolve) => {
      const req = http.get(looped, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    await closed;
    const [record] = await captured(mw);
    assert.equal(record!.response.aborted, true);
    assert.equal(record!.response.status, 500);
    assert.ok(record!.response.body!.data.startsWith('partial '));
  });

  it('sends every byte of a 5 MiB body and keeps a truncated capture of it', async () => {
    const big = randomBytes(5 * 1024 * 1024);
    const handler: Handler = (req, res) => {
      const hash = createHash('sha256');
      req.on('data', (d: Buffer) => hash.update(d));
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'application/octet-stream', 'x-request-sha256': hash.digest('hex') });
        // In pieces, as a stream would.
        for (let i = 0; i < big.length; i += 256 * 1024) res.write(big.subarray(i, i + 256 * 1024));
        res.end();
      });
    };
    const { looped, mw } = await pair(handler);
    const upload = randomBytes(5 * 1024 * 1024);
    const r = await httpRequest(looped, { method: 'POST', body: upload, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 500);
    assert.equal(r.body.length, big.length);
    assert.ok(r.body.equals(big), 'client got the exact bytes');
    const sha = r.rawHeaders.find(([k]) => k === 'x-request-sha256')![1];
    assert.equal(sha, createHash('sha256').update(upload).digest('hex'), 'app got the exact upload');
    const [record] = await captured(mw);
    for (const [body, full] of [
      [record!.request.body!, upload],
      [record!.response.body!, big],
    ] as const) {
      assert.equal(body.truncated, true);
      assert.equal(body.size, 5 * 1024 * 1024);
      assert.equal(body.encoding, 'base64');
      assert.deepEqual(Buffer.from(body.data, 'base64'), full.subarray(0, 64 * 1024));
    }
  });

  it('keeps binary bodies byte-exact', async () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0xc3]);
    const handler: Handler = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        res.writeHead(502, { 'content-type': 'image/png' });
        res.end(Buffer.concat([bytes, Buffer.concat(chunks)]));
      });
    };
    const { looped, mw } = await pair(handler);
    const sent = Buffer.from([0x00, 0x01, 0xff, 0xc0, 0xaf]);
    const r = await httpRequest(looped, { method: 'PUT', body: sent, headers: { 'content-type': 'application/octet-stream' } });
    assert.deepEqual(r.body, Buffer.concat([bytes, sent]));
    const [record] = await captured(mw);
    assert.deepEqual(record!.request.body, { encoding: 'base64', data: sent.toString('base64'), size: 5, truncated: false });
    assert.deepEqual(Buffer.from(record!.response.body!.data, 'base64'), Buffer.concat([bytes, sent]));
  });

  it('lets a raw-body HMAC check after loop() pass, even when the app reads late', async () => {
    const key = 'webhook-key';
    const app = express();
    const mw = watched();
    app.use(mw);
    // The body is read 50 ms later, as a slow middleware would: loop() must not have consumed it.
    app.use((_req, _res, next) => setTimeout(next, 50));
    app.post('/hook', express.raw({ type: '*/*' }), (req, res) => {
      const expected = createHmac('sha256', key).update(req.body as Buffer).digest('hex');
      const ok = expected === req.headers['x-signature'];
      res.status(ok ? 500 : 401).json({ ok });
    });
    const server = http.createServer(app);
    servers.push(server);
    const url = await listen(server);
    const body = JSON.stringify({ event: 'paid', amount: 12 });
    const signature = createHmac('sha256', key).update(body).digest('hex');
    const r = await httpRequest(url + '/hook', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-signature': signature } });
    assert.equal(JSON.parse(r.body.toString()).ok, true);
    const [record] = await captured(mw);
    assert.equal(record!.request.body!.data, body);
    assert.equal(record!.route, '/hook');
  });

  it('keeps its own failures from the app: counted, the response untouched', async () => {
    const app = express();
    const mw = watched();
    app.use(mw);
    app.get('/odd', (req, res) => {
      // An app object that throws when read: building the capture fails, the app must not notice.
      Object.defineProperty(req, 'route', { get: () => ({ get path(): string { throw new Error('odd route'); } }) });
      res.status(500).send('still fine');
    });
    const server = http.createServer(app);
    servers.push(server);
    const url = await listen(server);
    const before = mw.stats().internalErrors;
    const r = await httpRequest(url + '/odd');
    assert.equal(r.status, 500);
    assert.equal(r.body.toString(), 'still fine');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(mw.stats().internalErrors, before + 1);
    assert.equal(mw.stats().captured, 0);
  });
});
