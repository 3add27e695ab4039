// `npm run demo` (node examples/demo.mjs) as a user runs it: it must succeed on its own, print the
// seed's tables and the replay, and leave no process or port behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accepts, isAlive, runDemo } from './run-demo.js';

test('npm run demo walks through the seed and cleans up after itself', async () => {
  const { code, stdout, stderr } = await runDemo('examples/demo.mjs', 60_000);
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
