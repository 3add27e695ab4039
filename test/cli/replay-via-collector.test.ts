import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFile, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { codes } from '../../src/errors.js';
import { httpRequest, ingest, loopctlPath, runLoopctl, sampleCapture, startHttpServer, tempDir } from '../helpers.js';

interface Served {
  url: string;
  db: string;
}

/** `loopctl serve --port 0 …` as a real process, stopped with SIGTERM after the test. */
async function serve(t: TestContext, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const db = path.join(await tempDir(t, 'httploop-via-'), 'loop.db');
  const base = { ...process.env };
  delete base.LOOP_COLLECTOR;
  delete base.LOOP_TOKEN;
  delete base.LOOP_DATABASE_URL;
  const child = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', '--db', db, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`loopctl serve exited ${code}: ${stderr}`)));
  });
  return { url, db };
}

interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  body: string;
}

/** A stand-in for the app: records what arrives, answers `status` with `headers` and `body`. */
async function startApp(t: TestContext, status: number, body: string, headers: Record<string, string> = {}) {
  const received: Received[] = [];
  const app = await startHttpServer(t, (req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.setEncoding('utf8').on('data', (c: string) => (text += c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, body: text });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    });
  });
  return { ...app, received };
}

const CAPTURED = '{"error":"payments timed out"}';

test('--via-collector: the collector sends the replay to an allowed destination; the CLI diffs and prints as for a local one', async (t) => {
  const app = await startApp(t, 200, '{"ok":true}');
  const { url } = await serve(t, ['--replay-allow', `staging.internal:8080,127.0.0.1:${app.port}`]);
  const record = sampleCapture({ request: { url: '/pay?x=%20y' } });
  await ingest(url, [record]);

  const result = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort, '--via-collector', '--header', 'X-Run: 7'], { LOOP_COLLECTOR: url });
  assert.equal(result.stderr, '');
  assert.equal(result.code, 1);
  assert.match(
    result.stdout,
    new RegExp(
      `^replayed capture 1 \\(GET /pay\\?x=%20y\\) to ${app.hostPort} via the collector: 200 OK in \\d+ ms\n` +
        'differs from captured:\n' +
        '  status: 500 → 200\n' +
        '  body: \\$\\.error: "payments timed out" → \\(missing\\)\n' +
        '  body: \\$\\.ok: \\(missing\\) → true\n\n' +
        '\\{"ok":true\\}\n$',
    ),
  );
  const sent = app.received[0]!.rawHeaders;
  const traceparent = sent[sent.indexOf('traceparent') + 1];
  assert.deepStrictEqual(app.received, [
    {
      method: 'GET',
      url: '/pay?x=%20y',
      // Built by the collector exactly as loopctl builds it locally (test/cli/replay.test.ts).
      rawHeaders: ['Host', app.hostPort, 'User-Agent', 'curl/8.5.0', 'Accept', '*/*', 'traceparent', traceparent, 'loop-replay', record.id, 'X-Run', '7', 'Connection', 'close'],
      body: '',
    },
  ]);
  assert.match(String(traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

  // --json tells where the collector connected; the trace id printed is the one that was sent.
  const json = await runLoopctl(['replay', '--id', '1', '--destination', app.hostPort, '--via-collector', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(json.code, 1, json.stderr);
  const [replay] = JSON.parse(json.stdout).replays;
  assert.deepStrictEqual(
    [replay.viaCollector, replay.response.status, Buffer.from(replay.response.body.data, 'base64').toString(), replay.same],
    [{ address: app.hostPort }, 200, '{"ok":true}', false],
  );
  const second = app.received[1]!.rawHeaders;
  assert.equal(second[second.indexOf('traceparent') + 1]!.slice(3, 35), replay.traceId);

  // The same answer as captured: exit 0.
  const same = await startApp(t, 500, CAPTURED);
  const other = await serve(t, ['--replay-allow', `127.0.0.1:${same.port}`]);
  await ingest(other.url, [sampleCapture({ destination: same.hostPort })]);
  const ok = await runLoopctl(['replay', '--id', '1', '--via-collector'], { LOOP_COLLECTOR: other.url });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /via the collector: 500 Internal Server Error in \d+ ms\nsame as captured\n/);
});

test('--via-collector on a collector without --replay-allow: refused, server-side replay is off', async (t) => {
  const app = await startApp(t, 200, '{}');
  const { url } = await serve(t, []);
  await ingest(url, [sampleCapture({ destination: app.hostPort })]);
  const result = await runLoopctl(['replay', '--id', '1', '--via-collector'], { LOOP_COLLECTOR: url });
  assert.deepStrictEqual([result.code, result.stdout, result.stderr, app.received.length], [
    2,
    '',
    'loopctl: server-side replay is off on this collector; start it with --replay-allow host:port[,host:port…] to allow destinations\n',
    0,
  ]);
  const api = await httpRequest(`${url}/v1/captures/1/replay`, { method: 'POST', body: '{}' });
  assert.deepStrictEqual([api.status, api.json().error.code], [403, codes.REPLAY_OFF]);
});

test('every spelling of a loopback or unspecified address is refused by the address check, though it would reach the app', async (t) => {
  const app = await startApp(t, 200, '{}');
  // Only a name and another port are listed: none of the forms below is on the list.
  const { url } = await serve(t, ['--replay-allow', `staging.internal:${app.port}`, '--replay-allow', `127.0.0.1:${app.port + 1}`]);
  await ingest(url, [sampleCapture()]);
  const p = app.port;
  // [destination, what the refusal says it is, the entry it says to add]
  const forms: Array<[string, string, string]> = [
    [`127.0.0.1:${p}`, `the destination 127.0.0.1:${p} is a loopback address`, `127.0.0.1:${p}`],
    [`127.1:${p}`, `the destination 127.1:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`2130706433:${p}`, `the destination 2130706433:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`0177.0.0.1:${p}`, `the destination 0177.0.0.1:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`0x7f.0.0.1:${p}`, `the destination 0x7f.0.0.1:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`0x7f.1:${p}`, `the destination 0x7f.1:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`0x7f000001:${p}`, `the destination 0x7f000001:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`[::ffff:127.0.0.1]:${p}`, `the destination [::ffff:127.0.0.1]:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`[::ffff:7f00:1]:${p}`, `the destination [::ffff:7f00:1]:${p} is 127.0.0.1, a loopback address`, `127.0.0.1:${p}`],
    [`http://0x7f.1:${p}`, `the destination http://127.0.0.1:${p} is a loopback address`, `127.0.0.1:${p}`],
    [`127.0.0.2:${p}`, `the destination 127.0.0.2:${p} is a loopback address`, `127.0.0.2:${p}`],
    [`[::1]:${p}`, `the destination [::1]:${p} is a loopback address`, `[::1]:${p}`],
    [`0.0.0.0:${p}`, `the destination 0.0.0.0:${p} is an unspecified address`, `0.0.0.0:${p}`],
    [`0:${p}`, `the destination 0:${p} is 0.0.0.0, an unspecified address`, `0.0.0.0:${p}`],
    [`10.0.0.1:${p}`, `the destination 10.0.0.1:${p} is a private address`, `10.0.0.1:${p}`],
    [`169.254.169.254:${p}`, `the destination 169.254.169.254:${p} is a link-local address`, `169.254.169.254:${p}`],
    [`[fe80::1]:${p}`, `the destination [fe80::1]:${p} is a link-local address`, `[fe80::1]:${p}`],
  ];
  const seen = [];
  for (const [destination] of forms) {
    const result = await runLoopctl(['replay', '--id', '1', '--destination', destination, '--via-collector'], { LOOP_COLLECTOR: url });
    seen.push([destination, result.code, result.stdout, result.stderr]);
  }
  assert.deepStrictEqual(
    seen,
    forms.map(([destination, message, entry]) => [
      destination,
      2,
      '',
      `loopctl: ${message} not on the collector's replay allowlist; start the collector with --replay-allow ${entry} to allow it\n`,
    ]),
  );
  assert.equal(app.received.length, 0);

  // The same forms do reach the app when loopctl sends them itself: the refusals above are real.
  for (const destination of [`0x7f.1:${p}`, `2130706433:${p}`, `0177.0.0.1:${p}`]) {
    const local = await runLoopctl(['replay', '--id', '1', '--destination', destination], { LOOP_COLLECTOR: url });
    assert.equal(local.code, 1, local.stderr);
  }
  assert.equal(app.received.length, 3);

  // A public address that is not listed is refused by the list, before any connection.
  const publicOne = await runLoopctl(['replay', '--id', '1', '--destination', '93.184.215.14:80', '--via-collector'], { LOOP_COLLECTOR: url });
  assert.deepStrictEqual([publicOne.code, publicOne.stderr], [
    2,
    "loopctl: the destination 93.184.215.14:80 is not on the collector's replay allowlist; start the collector with --replay-allow 93.184.215.14:80 to allow it\n",
  ]);

  const metrics = await httpRequest(`${url}/metrics`);
  assert.match(metrics.text, /^httploop_collector_replays_total\{outcome="sent"\} 0$/m);
  assert.match(metrics.text, new RegExp(`^httploop_collector_replays_total\\{outcome="refused"\\} ${forms.length + 1}$`, 'm'));
});

test('an allowed address in another spelling is the listed address, and is connected to as listed', async (t) => {
  const app = await startApp(t, 500, CAPTURED);
  const { url } = await serve(t, ['--replay-allow', `127.0.0.1:${app.port}`]);
  await ingest(url, [sampleCapture()]);
  const result = await runLoopctl(['replay', '--id', '1', '--destination', `0x7f.1:${app.port}`, '--via-collector', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0, result.stderr);
  assert.deepStrictEqual(JSON.parse(result.stdout).replays[0].viaCollector, { address: `127.0.0.1:${app.port}` });
  const sent = app.received[0]!.rawHeaders;
  assert.equal(sent[sent.indexOf('Host') + 1], `0x7f.1:${app.port}`);
});

test('a redirect is the result: the collector does not follow Location', async (t) => {
  const elsewhere = await startApp(t, 200, '{"followed":true}');
  const app = await startApp(t, 302, '', { location: `${elsewhere.url}/elsewhere` });
  const { url } = await serve(t, ['--replay-allow', `127.0.0.1:${app.port},127.0.0.1:${elsewhere.port}`]);
  await ingest(url, [sampleCapture({ destination: app.hostPort })]);
  const result = await runLoopctl(['replay', '--id', '1', '--via-collector', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 1, result.stderr);
  const { response } = JSON.parse(result.stdout).replays[0];
  assert.equal(response.status, 302);
  assert.deepStrictEqual(
    response.headers.find(([name]: [string]) => name.toLowerCase() === 'location'),
    ['location', `${elsewhere.url}/elsewhere`],
  );
  assert.deepStrictEqual([app.received.length, elsewhere.received.length], [1, 0]);
});

test('a listed name that resolves to loopback is refused unless its addresses are listed too', async (t) => {
  const [first] = await lookup('localhost', { all: true, verbatim: true });
  // The app listens where `localhost` resolves first, which is where the collector would connect.
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    received.push(req.headers.host!);
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, first!.address, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const refused = await serve(t, ['--replay-allow', `localhost:${port}`]);
  await ingest(refused.url, [sampleCapture({ destination: `localhost:${port}` })]);
  const result = await runLoopctl(['replay', '--id', '1', '--via-collector'], { LOOP_COLLECTOR: refused.url });
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    new RegExp(`^loopctl: the destination localhost:${port} resolves to (127\\.[0-9.]+|::1), a loopback address not on the collector's replay allowlist; start the collector with --replay-allow \\S+:${port} as well to allow it\\n$`),
  );
  assert.deepStrictEqual(received, []);

  const all = await lookup('localhost', { all: true, verbatim: true });
  const entries = [`localhost:${port}`, ...all.map((a) => (a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`))];
  const allowed = await serve(t, ['--replay-allow', entries.join(',')]);
  await ingest(allowed.url, [sampleCapture({ destination: `localhost:${port}` })]);
  const ok = await runLoopctl(['replay', '--id', '1', '--via-collector'], { LOOP_COLLECTOR: allowed.url });
  assert.equal(ok.code, 1, ok.stderr);
  assert.deepStrictEqual(received, [`localhost:${port}`]);
});

test('secrets travel with the replay request and are not stored by the collector; placeholders are still refused', async (t) => {
  const app = await startApp(t, 500, CAPTURED);
  const { url, db } = await serve(t, ['--replay-allow', `127.0.0.1:${app.port}`]);
  await ingest(url, [
    sampleCapture({
      destination: app.hostPort,
      request: { headers: [['Host', 'web:9090'], ['Authorization', '[REDACTED]']] },
      redacted: ['request.headers.authorization'],
    }),
  ]);
  const refused = await runLoopctl(['replay', '--id', '1', '--via-collector'], { LOOP_COLLECTOR: url });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^loopctl: capture 1's request holds redacted values \(request\.headers\.authorization\)/);
  // The collector refuses it too, for API callers other than loopctl.
  const api = await httpRequest(`${url}/v1/captures/1/replay`, { method: 'POST', body: '{}' });
  assert.deepStrictEqual([api.status, api.json().error.code], [409, codes.REPLAY_REDACTED]);

  const secretsFile = path.join(await tempDir(t), 'secrets.json');
  const secret = `Bearer via-collector-${process.pid}-s3cret`;
  await writeFile(secretsFile, JSON.stringify({ headers: { authorization: secret } }));
  const result = await runLoopctl(['replay', '--id', '1', '--via-collector', '--secrets', secretsFile], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 0, result.stderr);
  assert.deepStrictEqual(app.received[0]!.rawHeaders.slice(0, 4), ['Host', app.hostPort, 'Authorization', secret]);
  for (const file of [db, `${db}-wal`]) {
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    assert.equal(bytes.includes(secret), false, `${file} holds the secret`);
  }
});

test('bulk --via-collector: refusals are per capture and counted; the others are replayed', async (t) => {
  const app = await startApp(t, 500, CAPTURED);
  const { url } = await serve(t, ['--replay-allow', `127.0.0.1:${app.port}`]);
  await ingest(url, [
    sampleCapture({ destination: app.hostPort }),
    sampleCapture({ destination: `127.0.0.2:${app.port}` }),
    sampleCapture({ destination: app.hostPort }),
  ]);
  const result = await runLoopctl(['replay', '--status', '5xx', '--via-collector', '--json'], { LOOP_COLLECTOR: url });
  assert.equal(result.code, 2);
  const out = JSON.parse(result.stdout);
  assert.deepStrictEqual(out.summary, { replayed: 3, same: 2, differs: 0, errors: 1, fixed: 0, stillFailing: 2 });
  const refused = out.results.find((r: { error?: unknown }) => r.error);
  assert.deepStrictEqual([refused.seq, refused.error.code], [2, codes.REPLAY_FORBIDDEN_ADDRESS]);
  assert.equal(app.received.length, 2);
  assert.match(result.stderr, /^loopctl: 1 of 3 replays failed \(first: capture 2: the destination 127\.0\.0\.2:\d+ is a loopback address/);
});

test('the replay API: the token is required, and malformed requests are refused with the fix', async (t) => {
  const app = await startApp(t, 500, CAPTURED);
  const { url } = await serve(t, ['--replay-allow', `127.0.0.1:${app.port}`], { LOOP_TOKEN: 't0ken' });
  const auth = { authorization: 'Bearer t0ken' };
  await httpRequest(`${url}/v1/captures`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ captures: [sampleCapture({ destination: app.hostPort })] }),
  });
  const noToken = await httpRequest(`${url}/v1/captures/1/replay`, { method: 'POST', body: '{}' });
  assert.deepStrictEqual([noToken.status, noToken.json().error.code], [401, codes.UNAUTHORIZED]);
  const viaCli = await runLoopctl(['replay', '--id', '1', '--via-collector'], { LOOP_COLLECTOR: url });
  assert.deepStrictEqual([viaCli.code, viaCli.stderr], [2, 'loopctl: the collector refused the token; pass --token or set LOOP_TOKEN\n']);

  const post = (body: string) => httpRequest(`${url}/v1/captures/1/replay`, { method: 'POST', headers: auth, body });
  const cases: Array<[string, number, string, RegExp]> = [
    ['{"dest":"x"}', 400, codes.BAD_REQUEST, /^unknown field 'dest' in the replay request; known fields are destination, keepHost/],
    ['[]', 400, codes.BAD_REQUEST, /must be a JSON object/],
    ['{"headers":[["X-A","1\\r\\nX-B: 2"]]}', 400, codes.BAD_REQUEST, /not a valid header name and value/],
    ['{"traceparent":"nope"}', 400, codes.BAD_REQUEST, /traceparent must be a W3C traceparent/],
    ['{"destination":"not a destination"}', 400, codes.BAD_DESTINATION, /^bad destination 'not a destination'/],
    [`{"destination":"127.0.0.1:${app.port + 1}"}`, 403, codes.REPLAY_FORBIDDEN_ADDRESS, /--replay-allow 127\.0\.0\.1:\d+ to allow it$/],
  ];
  for (const [body, status, code, message] of cases) {
    const res = await post(body);
    assert.equal(res.status, status, body);
    assert.equal(res.json().error.code, code, body);
    assert.match(res.json().error.message, message, body);
  }
  const missing = await httpRequest(`${url}/v1/captures/99/replay`, { method: 'POST', headers: auth, body: '{}' });
  assert.deepStrictEqual([missing.status, missing.json().error.code], [404, codes.NOT_FOUND]);
  const ok = await post('{}');
  assert.equal(ok.status, 200);
  assert.deepStrictEqual([ok.json().address, ok.json().response.status], [app.hostPort, 500]);
  assert.equal(app.received.length, 1);
});
