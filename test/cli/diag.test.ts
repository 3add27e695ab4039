import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import {
  appendHopJson,
  appendHopText,
  decrementMaxForwards,
  formatHopText,
  isDiagRequest,
  parseMaxForwards,
  safeEqualToken,
  type HopContext,
} from '../../src/trace/diag-trail.js';
import { refusedUrl, runLoopctl, startHttpServer } from '../helpers.js';

const TOKEN = 's3cret-diag-token';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

function hop(service: string, status: number, outbound: HopContext['outbound'] = []): HopContext {
  return {
    service,
    instance: `${service}-host:1234`,
    durationMs: 22,
    method: 'GET',
    path: '/users/42',
    route: '/users/:id',
    status,
    rules: ['default'],
    traceId: TRACE_ID,
    spanId: '00f067aa0ba902b7',
    outbound,
  };
}

function wantsJson(headers: IncomingHttpHeaders): boolean {
  return /application\/json/.test(headers.accept ?? '');
}

function answerTrail(req: IncomingMessage, res: ServerResponse, status: number, body: Buffer, context: HopContext): void {
  const json = wantsJson(req.headers);
  const out = json ? Buffer.from(appendHopJson(body.length ? body.toString('utf8') : undefined, context)) : appendHopText(body, context);
  res.writeHead(status, {
    'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': out.length,
  });
  res.end(out);
}

/** A diagnostic TRACE with the right token, as a hop with httploop would tell it. */
function isValidDiag(req: IncomingMessage): boolean {
  const token = req.headers['loop-diag-token'];
  return isDiagRequest(req.method, req.headers) && safeEqualToken(typeof token === 'string' ? token : undefined, TOKEN);
}

/** Answers anything else the way plain node:http apps do: 405. */
function refuse(res: ServerResponse): void {
  res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' });
  res.end('Method Not Allowed');
}

interface Chain {
  /** The outer service (`web`), which calls `payments`. */
  url: string;
  paymentsPort: number;
  /** The headers each hop received, outer first. */
  seen: IncomingHttpHeaders[];
}

/**
 * Two services like httploop hops: `web` forwards the diagnostic request to `payments` (Max-Forwards
 * permitting), which answers 500 `invalid response 500`; each appends its block, innermost first.
 */
async function startChain(t: TestContext): Promise<Chain> {
  const seen: IncomingHttpHeaders[] = [];
  const payments = await startHttpServer(t, (req, res) => {
    seen.push(req.headers);
    if (!isValidDiag(req)) return refuse(res);
    answerTrail(req, res, 500, Buffer.from('invalid response 500'), hop('payments', 500));
  });
  const web = await startHttpServer(t, (req, res) => {
    seen.push(req.headers);
    if (!isValidDiag(req)) return refuse(res);
    const maxForwards = parseMaxForwards(req.headers['max-forwards']);
    if (!maxForwards.ok) {
      res.writeHead(400).end('bad Max-Forwards');
      return;
    }
    if (maxForwards.value === 0) {
      answerTrail(req, res, 200, Buffer.alloc(0), hop('web', 200));
      return;
    }
    const next = decrementMaxForwards(maxForwards.value);
    const outgoing = http.request(
      `${payments.url}/charge`,
      {
        method: 'TRACE',
        agent: false,
        headers: {
          'loop-add-context': 'true',
          'loop-diag-token': TOKEN,
          ...(req.headers.accept && { accept: req.headers.accept }),
          ...(next !== undefined && { 'max-forwards': String(next) }),
        },
      },
      (downstream) => {
        const chunks: Buffer[] = [];
        downstream.on('data', (chunk: Buffer) => chunks.push(chunk));
        downstream.on('end', () => {
          const call = {
            method: 'GET',
            destination: `payments:${payments.port}`,
            url: `http://payments:${payments.port}/charge`,
            addresses: [payments.hostPort],
            selectedAddress: payments.hostPort,
            status: downstream.statusCode!,
            durationMs: 31,
          };
          answerTrail(req, res, 500, Buffer.concat(chunks), hop('web', 500, [call]));
        });
      },
    );
    outgoing.end();
  });
  return { url: `${web.url}/users/42?x=1`, paymentsPort: payments.port, seen };
}

function paymentsCall(port: number): HopContext['outbound'][number] {
  return {
    method: 'GET',
    destination: `payments:${port}`,
    url: `http://payments:${port}/charge`,
    addresses: [`127.0.0.1:${port}`],
    selectedAddress: `127.0.0.1:${port}`,
    status: 500,
    durationMs: 31,
  };
}

test('diag prints the status line and the trail, innermost hop first; exit 0', async (t) => {
  const chain = await startChain(t);
  const result = await runLoopctl(['diag', chain.url, '--token', TOKEN]);
  assert.deepStrictEqual(result, {
    code: 0,
    stdout: [
      'HTTP/1.1 500 Internal Server Error',
      'invalid response 500',
      '',
      '--- Service: payments (payments-host:1234) ---',
      'request: GET /users/42',
      'request duration: 22 ms',
      'route: /users/:id',
      'status: 500',
      'rules that would capture: default',
      `trace: ${TRACE_ID} span 00f067aa0ba902b7`,
      'outgoing: (none)',
      '',
      '--- Service: web (web-host:1234) ---',
      'request: GET /users/42',
      'request duration: 22 ms',
      'route: /users/:id',
      'status: 500',
      'rules that would capture: default',
      `trace: ${TRACE_ID} span 00f067aa0ba902b7`,
      `outgoing: GET http://payments:${chain.paymentsPort}/charge`,
      `  destination name: payments:${chain.paymentsPort}`,
      `  addresses: [127.0.0.1:${chain.paymentsPort}]`,
      `  selected address: 127.0.0.1:${chain.paymentsPort}`,
      '  status: 500',
      '  duration: 31 ms',
      '',
    ].join('\n'),
    stderr: '',
  });
  // What went out: the diagnostic headers, nothing for the methods or forwards not asked for.
  const web = chain.seen[0]!;
  assert.strictEqual(web['loop-add-context'], 'true');
  assert.strictEqual(web['loop-diag-token'], TOKEN);
  assert.strictEqual(web['loop-diag-method'], undefined);
  assert.strictEqual(web['max-forwards'], undefined);
  assert.strictEqual(web.accept, undefined);
  assert.strictEqual(web.host, new URL(chain.url).host);
});

test('diag --json asks for the JSON trail and prints { status, statusMessage, trail }', async (t) => {
  const chain = await startChain(t);
  const result = await runLoopctl(['diag', chain.url, '--json'], { LOOP_DIAG_TOKEN: TOKEN });
  assert.strictEqual(result.stderr, '');
  assert.strictEqual(result.code, 0);
  assert.deepStrictEqual(JSON.parse(result.stdout), {
    status: 500,
    statusMessage: 'Internal Server Error',
    trail: { body: 'invalid response 500', hops: [hop('payments', 500), hop('web', 500, [paymentsCall(chain.paymentsPort)])] },
  });
  assert.strictEqual(chain.seen[0]!.accept, 'application/json');
  assert.strictEqual(chain.seen[1]!.accept, 'application/json');
});

test('--method, --header and --max-forwards are sent; Max-Forwards 0 stops at the first hop', async (t) => {
  const chain = await startChain(t);
  const result = await runLoopctl([
    'diag',
    chain.url,
    '--token',
    TOKEN,
    '--method',
    'head',
    '--header',
    'X-Request-Id: abc-123',
    '--header',
    'Host: web.internal',
    '--max-forwards',
    '0',
  ]);
  assert.deepStrictEqual(result, {
    code: 0,
    stdout: `HTTP/1.1 200 OK\n${formatHopText(hop('web', 200))}`,
    stderr: '',
  });
  assert.strictEqual(chain.seen.length, 1, 'payments was not called');
  const web = chain.seen[0]!;
  assert.strictEqual(web['loop-diag-method'], 'HEAD');
  assert.strictEqual(web['x-request-id'], 'abc-123');
  assert.strictEqual(web.host, 'web.internal');
  assert.strictEqual(web['max-forwards'], '0');
});

test('the token: --token after diag or before it, else LOOP_DIAG_TOKEN; never LOOP_TOKEN (the collector’s)', async (t) => {
  const chain = await startChain(t);
  assert.strictEqual((await runLoopctl(['--token', TOKEN, 'diag', chain.url])).code, 0);
  assert.strictEqual((await runLoopctl(['diag', chain.url], { LOOP_DIAG_TOKEN: TOKEN, LOOP_TOKEN: 'collector' })).code, 0);
  assert.strictEqual(chain.seen.at(-2)!['loop-diag-token'], TOKEN);
  const seenBefore = chain.seen.length;
  assert.deepStrictEqual(await runLoopctl(['diag', chain.url], { LOOP_TOKEN: TOKEN }), {
    code: 2,
    stdout: '',
    stderr: 'loopctl: no diagnostic token: pass --token or set LOOP_DIAG_TOKEN (the token the services were configured with)\n',
  });
  assert.deepStrictEqual(await runLoopctl(['diag', chain.url, '--token', 'a\nb']), {
    code: 2,
    stdout: '',
    stderr: 'loopctl: the diagnostic token holds characters a header cannot carry (line breaks, controls)\n',
  });
  assert.strictEqual(chain.seen.length, seenBefore, 'nothing was sent');
});

test('no trail in the answer: exit 1 with one line, for a wrong token and for a service that ignores TRACE', async (t) => {
  const chain = await startChain(t);
  const web = new URL(chain.url);
  const where = `http://${web.host}/users/42?x=1`;
  const off = 'with no diagnostic trail: diagnostics are off there (no token configured) or the token was not accepted';
  assert.deepStrictEqual(await runLoopctl(['diag', chain.url, '--token', 'wrong']), {
    code: 1,
    stdout: '',
    stderr: `loopctl: ${where} answered 405 Method Not Allowed ${off}\n`,
  });

  // A server without httploop that answers TRACE as RFC 9110 section 9.3.8 says: it echoes the request.
  const echo = await startHttpServer(t, (req, res) => {
    const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    res.writeHead(200, { 'content-type': 'message/http' });
    res.end(`${lines.join('\r\n')}\r\n\r\n`);
  });
  assert.deepStrictEqual(await runLoopctl(['diag', `${echo.url}/`, '--token', TOKEN]), {
    code: 1,
    stdout: '',
    stderr: `loopctl: ${echo.url}/ answered 200 OK ${off}\n`,
  });
  assert.deepStrictEqual(await runLoopctl(['diag', `${echo.url}/`, '--token', TOKEN, '--json']), {
    code: 1,
    stdout: '',
    stderr: `loopctl: ${echo.url}/ answered 200 OK ${off}\n`,
  });
});

test('--json against a hop that answers only in text: exit 1, says to run without --json', async (t) => {
  const textOnly = await startHttpServer(t, (req, res) => {
    if (!isValidDiag(req)) return refuse(res);
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(appendHopText(Buffer.from('bad gateway'), hop('web', 502)));
  });
  assert.deepStrictEqual(await runLoopctl(['diag', textOnly.url, '--token', TOKEN, '--json']), {
    code: 1,
    stdout: '',
    stderr: `loopctl: ${textOnly.url}/ answered 502 Bad Gateway with a text trail, not JSON; run again without --json\n`,
  });
});

test('a JSON trail is shown as text without --json', async (t) => {
  const jsonOnly = await startHttpServer(t, (req, res) => {
    if (!isValidDiag(req)) return refuse(res);
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(appendHopJson('bad gateway', hop('web', 502)));
  });
  assert.deepStrictEqual(await runLoopctl(['diag', jsonOnly.url, '--token', TOKEN]), {
    code: 0,
    stdout: `HTTP/1.1 502 Bad Gateway\nbad gateway\n${formatHopText(hop('web', 502))}`,
    stderr: '',
  });
});

test('a closed port: exit 2, one line', async () => {
  const url = `${await refusedUrl()}/x`;
  assert.deepStrictEqual(await runLoopctl(['diag', url, '--token', TOKEN]), {
    code: 2,
    stdout: '',
    stderr: `loopctl: cannot reach ${url} (connection refused)\n`,
  });
});

test('usage errors: exit 2 before anything is sent', async (t) => {
  let requests = 0;
  const server = await startHttpServer(t, (_req, res) => {
    requests++;
    res.end();
  });
  const url = server.url;
  const cases: Array<[string[], string]> = [
    [['diag', 'not a url'], "loopctl: bad URL 'not a url': use an http(s) URL like http://127.0.0.1:9090/users/42\n"],
    [['diag', 'ftp://127.0.0.1/x'], "loopctl: bad URL 'ftp://127.0.0.1/x': use an http(s) URL like http://127.0.0.1:9090/users/42\n"],
    [['diag', '127.0.0.1:9090'], "loopctl: bad URL '127.0.0.1:9090': use an http(s) URL like http://127.0.0.1:9090/users/42\n"],
    [['diag', url, '--method', 'POST'], "loopctl: bad --method 'POST': the handlers really run, so only safe methods: GET, HEAD, OPTIONS\n"],
    [['diag', url, '--method', 'DELETE'], "loopctl: bad --method 'DELETE': the handlers really run, so only safe methods: GET, HEAD, OPTIONS\n"],
    [['diag', url, '--max-forwards', '-1'], "loopctl: bad --max-forwards '-1': use a whole number, 0 or more\n"],
    [['diag', url, '--max-forwards', 'two'], "loopctl: bad --max-forwards 'two': use a whole number, 0 or more\n"],
    [['diag', url, '--header', 'no colon'], "loopctl: bad --header 'no colon': use 'Name: value', on one line\n"],
    [['diag', url, '--header', 'Bad Name: x'], "loopctl: bad --header 'Bad Name: x': use 'Name: value', on one line\n"],
    [['diag', url, '--header', 'X-A: b\r\nX-B: c'], "loopctl: bad --header 'X-A: b\\r\\nX-B: c': use 'Name: value', on one line\n"],
    [['diag', url, '--method', 'GET\nX'], "loopctl: bad --method 'GET\\nX': the handlers really run, so only safe methods: GET, HEAD, OPTIONS\n"],
    [['diag', url, '--header', 'loop-diag-token: x'], "loopctl: --header 'loop-diag-token' is not allowed: use --token or LOOP_DIAG_TOKEN\n"],
    [['diag', url, '--header', 'Max-Forwards: 3'], "loopctl: --header 'Max-Forwards' is not allowed: use --max-forwards\n"],
    [['diag', url, '--header', 'Content-Length: 5'], "loopctl: --header 'Content-Length' is not allowed: a TRACE request has no body\n"],
    [['diag', url, '--json', '--header', 'Accept: text/plain'], "loopctl: --header 'Accept' is not allowed: --json sets it\n"],
    [['diag'], "loopctl: missing required argument 'url' (see loopctl --help)\n"],
  ];
  for (const [args, stderr] of cases) {
    assert.deepStrictEqual(await runLoopctl([...args, '--token', TOKEN]), { code: 2, stdout: '', stderr }, args.join(' '));
  }
  assert.strictEqual(requests, 0);
});

test('an answer cut short or without end in size: exit 2, one line', async (t) => {
  const cut = await startHttpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('only ten b');
    setTimeout(() => res.socket?.destroy(), 50);
  });
  assert.deepStrictEqual(await runLoopctl(['diag', cut.url, '--token', TOKEN]), {
    code: 2,
    stdout: '',
    stderr: `loopctl: ${cut.url}/ closed the connection before the whole answer arrived\n`,
  });
  const huge = await startHttpServer(t, (_req, res) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let sent = 0;
    const more = (): void => {
      while (sent < 17) {
        sent++;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    res.on('error', () => {});
    more();
  });
  assert.deepStrictEqual(await runLoopctl(['diag', huge.url, '--token', TOKEN]), {
    code: 2,
    stdout: '',
    stderr: `loopctl: the answer from ${huge.url}/ is larger than 16 MiB\n`,
  });
});
