import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ingest, refusedUrl, runLoopctl, sampleCapture, startTestCollector } from '../helpers.js';

test('collector unreachable: one line with the fix, exit 2', async () => {
  const url = await refusedUrl();
  const result = await runLoopctl(['list'], { LOOP_COLLECTOR: url });
  assert.deepEqual(result, {
    code: 2,
    stdout: '',
    stderr: `loopctl: cannot reach the collector at ${url} (connection refused); start it with 'loopctl serve' or set --collector / LOOP_COLLECTOR\n`,
  });
});

test('the default collector address is http://127.0.0.1:5678', async () => {
  const result = await runLoopctl(['--help']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /default:\s+"http:\/\/127\.0\.0\.1:5678", env:\s+LOOP_COLLECTOR/);
});

test('401: the collector refused the token, with or without one; LOOP_TOKEN and --token work', async (t) => {
  const { url } = await startTestCollector(t, { token: 'right' });
  const refused = {
    code: 2,
    stdout: '',
    stderr: 'loopctl: the collector refused the token; pass --token or set LOOP_TOKEN\n',
  };
  assert.deepEqual(await runLoopctl(['list'], { LOOP_COLLECTOR: url }), refused);
  assert.deepEqual(await runLoopctl(['list', '--token', 'wrong'], { LOOP_COLLECTOR: url }), refused);
  assert.equal((await runLoopctl(['list', '--json'], { LOOP_COLLECTOR: url, LOOP_TOKEN: 'right' })).code, 0);
  assert.equal((await runLoopctl(['--token', 'right', 'list', '--json'], { LOOP_COLLECTOR: url })).code, 0);
});

test('unknown id: show and replay say so, exit 2', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [sampleCapture()]);
  const expected = { code: 2, stdout: '', stderr: 'loopctl: no capture with id 42\n' };
  assert.deepEqual(await runLoopctl(['show', '--id', '42'], { LOOP_COLLECTOR: url }), expected);
  assert.deepEqual(await runLoopctl(['replay', '--id', '42', '--destination', '127.0.0.1:9'], { LOOP_COLLECTOR: url }), expected);
  assert.deepEqual(await runLoopctl(['show', '--id', 'nosuchnanoid'], { LOOP_COLLECTOR: url }), {
    ...expected,
    stderr: 'loopctl: no capture with id nosuchnanoid\n',
  });
});

test('bad destination: exit 2 before anything is sent', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [sampleCapture()]);
  for (const destination of ['x y', 'web', 'web:0', 'ftp://web:21', 'web:99999']) {
    assert.deepEqual(await runLoopctl(['replay', '--id', '1', '--destination', destination], { LOOP_COLLECTOR: url }), {
      code: 2,
      stdout: '',
      stderr: `loopctl: bad destination '${destination}': use host:port or an http(s) URL\n`,
    });
  }
});

test('connection refused at the destination: exit 2', async (t) => {
  const { url } = await startTestCollector(t);
  await ingest(url, [sampleCapture()]);
  const refused = new URL(await refusedUrl()).host;
  assert.deepEqual(await runLoopctl(['replay', '--id', '1', '--destination', refused], { LOOP_COLLECTOR: url }), {
    code: 2,
    stdout: '',
    stderr: `loopctl: cannot connect to the destination ${refused} (connection refused)\n`,
  });
});

test('usage errors are one line and exit 2', async () => {
  const cases: Array<[string[], string]> = [
    [['list', '--bogus'], "loopctl: unknown option '--bogus' (see loopctl --help)\n"],
    [['frobnicate'], "loopctl: unknown command 'frobnicate' (see loopctl --help)\n"],
    [['lsit'], "loopctl: unknown command 'lsit'; did you mean list? (see loopctl --help)\n"],
    [['show'], "loopctl: required option '--id <id>' not specified (see loopctl --help)\n"],
    [['replay'], 'loopctl: say which captures: --id N (repeatable) or filters (--status 5xx, --service, --path, --since, --trace, --limit) (see loopctl --help)\n'],
    [['list', '--status', 'bad'], "loopctl: bad status 'bad': use a class like 5xx or an exact status like 500\n"],
    [['list', '--limit', '-3'], "loopctl: bad limit '-3': use a whole number from 1 to 100000\n"],
    [['list', '--collector', 'nope'], "loopctl: bad collector URL 'nope': use an http(s) URL like http://127.0.0.1:5678 (--collector or LOOP_COLLECTOR)\n"],
    [['serve', '--port', 'http'], "loopctl: bad port 'http': use a number from 0 to 65535 (0 picks a free port)\n"],
  ];
  for (const [args, stderr] of cases) {
    assert.deepEqual(await runLoopctl(args), { code: 2, stdout: '', stderr }, args.join(' '));
  }
});

test('prune without a limit, or with a bad one, is a usage error', async () => {
  const cases: Array<[string[], string]> = [
    [['prune'], 'loopctl: say what to keep: --max-age 7d, --max-count N or --max-bytes 1GiB\n'],
    [['prune', '--max-age', '7x'], "loopctl: --max-age: bad duration '7x'; use a number of ms or a number with ms, s, m, h, d or w, like 7d\n"],
    [['prune', '--max-count', '-1'], "loopctl: --max-count: bad count '-1'; use a whole number >= 0\n"],
    [['prune', '--max-bytes', '1XB'], "loopctl: --max-bytes: bad size '1XB'; use a number of bytes or a number with B, KB, MB, GB, KiB, MiB or GiB, like 1GiB\n"],
  ];
  for (const [args, stderr] of cases) {
    assert.deepEqual(await runLoopctl(args), { code: 2, stdout: '', stderr }, args.join(' '));
  }
});
