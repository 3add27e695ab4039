// `npm run demo` (node examples/demo.mjs) as a user runs it: it must succeed on its own, print the
// seed's tables and the replay, and leave no process or port behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { repoRoot } from '../helpers.js';

function run(timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.LOOP_COLLECTOR;
  delete env.LOOP_TOKEN;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['examples/demo.mjs'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`the demo did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('npm run demo walks through the seed and cleans up after itself', async () => {
  const { code, stdout, stderr } = await run(60_000);
  assert.equal(code, 0, `demo failed:\n${stdout}\n${stderr}`);

  const border = '+----+------+------+--------+-------------+';
  const emptyTable = [border, '| ID | PATH | VERB | STATUS | DESTINATION |', border, border].join('\n');
  assert.ok(stdout.includes(`$ loopctl list\n${emptyTable}\n`), 'the empty table comes first');

  const webPort = Number(/web on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]);
  const dest = `127.0.0.1:${webPort}`;
  const line = `+----+------+------+--------+-${'-'.repeat(dest.length)}-+`;
  const table = [
    line,
    `| ID | PATH | VERB | STATUS | ${'DESTINATION'.padEnd(dest.length)} |`,
    line,
    `|  1 | /    | GET  |    500 | ${dest} |`,
    `|  2 | /    | GET  |    500 | ${dest} |`,
    line,
  ].join('\n');
  assert.ok(stdout.includes(`$ loopctl list\n${table}\n`), `the table of the two failures:\n${stdout}`);
  assert.match(stdout, /\$ loopctl show --id 1\n[\s\S]*payments did not answer within 300 ms/);
  // The seed's TapConfig is applied, the app follows it, and the captures name it.
  assert.match(stdout, /\$ loopctl apply -f \S+examples\/tap\.yaml\ntapconfig\/gloo created\n/);
  assert.match(stdout, /\| gloo \| responseHeaders\[":status"\] == prefix\("5"\) \| all +\| +1 \| +0 \|/);
  assert.match(stdout, /\| web +\| +1 \| 1 +\| collector \|/);
  assert.match(stdout, /\$ loopctl show --id 1\n[\s\S]*rules: +gloo\n/);
  assert.match(stdout, new RegExp(`\\$ loopctl replay --id 1 --destination ${dest}\\n[\\s\\S]*same`));

  const collectorPort = Number(/loopctl serve --port (\d+)/.exec(stdout)?.[1]);
  const pid = Number(/\(collector pid (\d+)\)/.exec(stdout)?.[1]);
  const paymentsPort = Number(/payments on port (\d+)/.exec(stdout)?.[1]);
  assert.ok(pid > 0 && collectorPort > 0 && webPort > 0 && paymentsPort > 0, 'the demo names its pid and ports');
  assert.equal(isAlive(pid), false, 'the collector process is gone');
  for (const port of [collectorPort, webPort, paymentsPort]) {
    assert.equal(await accepts(port), false, `nothing listens on ${port} any more`);
  }
});
