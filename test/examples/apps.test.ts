// examples/express and examples/koa, run as a user runs them: the built package (`httploop` by name), a real collector
// with SQLite, and the real loopctl binary.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { freePort, httpRequest, repoRoot, runLoopctl, startTestCollector } from '../helpers.js';

interface Example {
  port: number;
  url: string;
  loop: { flush(): Promise<void> };
  close(): Promise<void>;
}

// What a client of `/` gets when payments times out: Express's example answers with its own JSON;
// Koa does not expose the message of a 500, so the client gets the status text.
const examples = [
  { name: 'express', body: '{"error":"payment service unavailable"}' },
  { name: 'koa', body: 'Internal Server Error' },
];

for (const ex of examples) {
  test(`${ex.name} example: / times out calling payments and is captured; /health is not`, async (t) => {
    const { url: collector } = await startTestCollector(t);
    const logged: string[] = [];
    const { start } = (await import(`../../examples/${ex.name}/app.mjs`)) as { start: (o: object) => Promise<Example> };
    const web: Example = await start({ collector, log: (line: string) => logged.push(line) });
    t.after(() => web.close());

    const health = await httpRequest(`${web.url}/health`);
    assert.deepEqual([health.status, health.json()], [200, { status: 'ok' }]);
    const root = await httpRequest(`${web.url}/`);
    assert.deepEqual([root.status, root.text], [500, ex.body]);
    assert.deepEqual(logged, ['web: GET / failed: payments did not answer within 300 ms']);
    await web.loop.flush();

    const list = await httpRequest(`${collector}/v1/captures`);
    const captures = list.json().captures;
    assert.equal(captures.length, 1, 'only the 500 is captured');
    const record = (await httpRequest(`${collector}/v1/captures/${captures[0].id}`)).json();
    assert.deepStrictEqual(
      {
        service: record.service,
        route: record.route,
        destination: record.destination,
        method: record.request.method,
        url: record.request.url,
        status: record.response.status,
        body: record.response.body.data,
        error: { name: record.error.name, message: record.error.message },
        rules: record.rules,
      },
      {
        service: 'web',
        route: '/',
        destination: `127.0.0.1:${web.port}`,
        method: 'GET',
        url: '/',
        status: 500,
        body: ex.body,
        error: { name: 'Error', message: 'payments did not answer within 300 ms' },
        rules: ['default'],
      },
    );
    assert.match(record.error.stack, /payments did not answer within 300 ms\n\s+at /);

    const dest = `127.0.0.1:${web.port}`;
    const listed = await runLoopctl(['list'], { LOOP_COLLECTOR: collector });
    const line = `+----+------+------+--------+-${'-'.repeat(dest.length)}-+`;
    assert.deepEqual(listed, {
      code: 0,
      stdout: [
        line,
        `| ID | PATH | VERB | STATUS | ${'DESTINATION'.padEnd(dest.length)} |`,
        line,
        `|  1 | /    | GET  |    500 | ${dest} |`,
        line,
        '',
      ].join('\n'),
      stderr: '',
    });

    const replay = await runLoopctl(['replay', '--id', '1', '--destination', dest], { LOOP_COLLECTOR: collector });
    assert.equal(replay.code, 0, `replay of a 500 against the same app is "same": ${replay.stdout}${replay.stderr}`);
    assert.match(replay.stdout, /same/);
  });

  test(`${ex.name} example run directly: listens on PORT, logs one line, flushes its captures on SIGTERM`, async (t) => {
    const { url: collector } = await startTestCollector(t);
    const port = await freePort();
    const child = spawn(process.execPath, [`examples/${ex.name}/app.mjs`], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), LOOP_COLLECTOR: collector },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (s: string) => {
        stdout += s;
        if (stdout.includes('\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the example exited (${code}) before listening`)));
    });
    assert.match(stdout, new RegExp(`^web listening on http://127\\.0\\.0\\.1:${port} \\(payments on port \\d+\\), captures go to ${collector}\\n$`));

    assert.equal((await httpRequest(`http://127.0.0.1:${port}/`)).status, 500);
    // At once, before the shipper's 200 ms batch timer: only the shutdown path can have sent it.
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    const { captures } = (await httpRequest(`${collector}/v1/captures`)).json();
    assert.deepEqual(
      captures.map((c: { method: string; path: string; status: number; route: string }) => [c.method, c.path, c.status, c.route]),
      [['GET', '/', 500, '/']],
    );
  });
}
