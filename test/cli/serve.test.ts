import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { httpRequest, ingest, loopctlPath, runLoopctl, sampleCapture, tempDir } from '../helpers.js';

test('serve prints where it listens, serves the API, and exits 0 on SIGTERM and SIGINT', async (t) => {
  const dir = await tempDir(t);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const db = path.join(dir, `${signal}.db`);
    const child = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', '--db', db], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const match = /^loopctl: collector listening on (http:\/\/127\.0\.0\.1:(\d+)) \(db (.*)\)\n$/.exec(line);
    assert.ok(match, line);
    assert.equal(match[3], db);
    const url = match[1]!;
    assert.deepEqual((await ingest(url, [sampleCapture()])).json(), { inserted: 1, duplicates: 0 });
    assert.equal((await runLoopctl(['list', '--json'], { LOOP_COLLECTOR: url })).code, 0);
    assert.deepEqual((await httpRequest(`${url}/healthz`)).json(), { status: 'ok' });

    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill(signal);
    assert.equal(await exited, 0, stderr);
    assert.equal(stderr, '');
    assert.ok(existsSync(db));
  }
});

test('serve refuses a non-loopback host without a token, and creates no database', async (t) => {
  const db = path.join(await tempDir(t), 'loop.db');
  const result = await runLoopctl(['serve', '--host', '0.0.0.0', '--port', '0', '--db', db]);
  assert.deepEqual(result, {
    code: 2,
    stdout: '',
    stderr:
      'loopctl: refusing to listen on 0.0.0.0 without a token: captures would be readable by anyone who can reach it; pass --token (or set LOOP_TOKEN), or listen on 127.0.0.1\n',
  });
  assert.equal(existsSync(db), false);
});

test('serve explains a port in use', async (t) => {
  const dir = await tempDir(t);
  const first = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', '--db', path.join(dir, 'a.db')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (first.exitCode === null) first.kill('SIGKILL');
  });
  const port = await new Promise<string>((resolve) => {
    first.stdout.setEncoding('utf8').on('data', (chunk: string) => resolve(/:(\d+) /.exec(chunk)![1]!));
  });
  const result = await runLoopctl(['serve', '--port', port, '--db', path.join(dir, 'b.db')]);
  assert.deepEqual(result, {
    code: 2,
    stdout: '',
    stderr: `loopctl: cannot listen on 127.0.0.1:${port} (address already in use; pick another --port)\n`,
  });
});
