// `npm run demo:trace` (node examples/demo-trace.mjs) as a user runs it: three services of
// examples/multi-hop as child processes, one failing request, its three captures linked into one trace,
// a diagnostic TRACE through all three hops; it must succeed on its own and leave no process or port
// behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accepts, isAlive, runDemo } from './run-demo.js';

/** What follows the echoed command `$ loopctl <command>` up to the next blank line. */
function outputOf(stdout: string, command: string): string {
  const start = stdout.indexOf(`$ loopctl ${command}\n`);
  assert.ok(start >= 0, `the demo runs 'loopctl ${command}':\n${stdout}`);
  const rest = stdout.slice(start + `$ loopctl ${command}\n`.length);
  const end = rest.indexOf('\n\n# ');
  return end < 0 ? rest : rest.slice(0, end + 1);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('npm run demo:trace links one failure across gateway → web → payments and cleans up after itself', async () => {
  const { code, stdout, stderr } = await runDemo('examples/demo-trace.mjs', 60_000);
  assert.equal(code, 0, `demo failed:\n${stdout}\n${stderr}`);

  const port = (name: string): number => Number(new RegExp(`\\[${name}\\] ${name} listening on http://127\\.0\\.0\\.1:(\\d+)`).exec(stdout)?.[1]);
  const ports = { gateway: port('gateway'), web: port('web'), payments: port('payments') };
  assert.ok(ports.gateway > 0 && ports.web > 0 && ports.payments > 0, `the services name their ports:\n${stdout}`);

  // The failing request, and the trace id the gateway answered it with.
  const checkout = `http://127.0.0.1:${ports.gateway}/checkout`;
  assert.ok(stdout.includes(`$ curl ${checkout}  ->  HTTP 502 {"error":"checkout failed, try again later"}\n`), stdout);
  const traceId = /^traceresponse: 00-([0-9a-f]{32})-[0-9a-f]{16}-00$/m.exec(stdout)?.[1];
  assert.ok(traceId, 'the gateway answers with a traceresponse');

  // Three captures, one per service, all with the request's trace id.
  const arrived = new RegExp(`\\(3 captures arrived, from ([a-z, ]+); trace ids: ${traceId}\\)\\n`).exec(stdout);
  assert.ok(arrived, `three captures, all with the request's trace id:\n${stdout}`);
  assert.deepEqual(arrived[1]!.split(', ').sort(), ['gateway', 'payments', 'web'], 'one capture per service');
  const list = outputOf(stdout, 'list');
  const rows = list.split('\n').filter((l) => /^\|\s+\d+ \|/.test(l));
  const cells = rows.map((r) => r.split('|').slice(2, 6).map((c) => c.trim()));
  assert.deepEqual(
    cells.sort((a, b) => a[0]!.localeCompare(b[0]!)),
    [
      ['/charge', 'POST', '502', `127.0.0.1:${ports.payments}`],
      ['/checkout', 'GET', '502', `127.0.0.1:${ports.gateway}`],
      ['/orders', 'POST', '500', `127.0.0.1:${ports.web}`],
    ],
    `the table of the three captures:\n${list}`,
  );
  const ids = Object.fromEntries(rows.map((r) => [r.split('|')[2]!.trim(), Number(r.split('|')[1])]));

  // The tree, from the gateway's capture: payments under web under gateway, through the calls.
  const tree = outputOf(stdout, `trace ${ids['/checkout']}`);
  const ms = '\\d+(\\.\\d)? ms';
  const lines = [
    `trace ${traceId}  \\(3 captures, 3 services\\)`,
    `gateway  GET /checkout  → 502  ${ms}  route /checkout  capture ${ids['/checkout']}  error Error: web answered 500`,
    `└─ POST ${escape(`http://127.0.0.1:${ports.web}/orders`)} → 500  ${ms}`,
    `   └─ web  POST /orders  → 500  ${ms}  route /orders  capture ${ids['/orders']}  error Error: payments answered 502`,
    `      └─ POST ${escape(`http://127.0.0.1:${ports.payments}/charge`)} → 502  ${ms}`,
    `         └─ payments  POST /charge  → 502  ${ms}  route /charge  capture ${ids['/charge']}`,
  ];
  assert.match(tree, new RegExp(`^${lines.join('\\n')}\\n$`), `the trace tree:\n${tree}`);

  // The diagnostic trail: the gateway's own answer, then three blocks, innermost first, one trace.
  const diag = outputOf(stdout, `diag ${checkout} --method GET --token "$LOOP_DIAG_TOKEN"`);
  assert.match(diag, /^HTTP\/1\.1 502 Bad Gateway\n\{"error":"checkout failed, try again later"\}\n\n--- Service: payments /);
  const blocks = [...diag.matchAll(/^--- Service: (\S+) \(.+\) ---\nrequest: (\S+ \S+)\n[\s\S]*?\nstatus: (\d+)\n[\s\S]*?\ntrace: ([0-9a-f]{32}) span/gm)].map(
    (m) => [m[1], m[2], m[3], m[4]],
  );
  assert.equal(blocks.length, 3, `three blocks:\n${diag}`);
  assert.deepEqual(
    blocks.map((b) => b.slice(0, 3)),
    [
      ['payments', 'POST /charge', '502'],
      ['web', 'POST /orders', '500'],
      ['gateway', 'GET /checkout', '502'],
    ],
  );
  assert.equal(new Set(blocks.map((b) => b[3])).size, 1, 'the diagnostic request is one trace across the hops');
  assert.match(diag, new RegExp(`--- Service: web [\\s\\S]*outgoing: POST ${escape(`http://127.0.0.1:${ports.payments}/charge`)}\\n[\\s\\S]*--- Service: gateway`));
  assert.match(diag, new RegExp(`--- Service: gateway [\\s\\S]*outgoing: POST ${escape(`http://127.0.0.1:${ports.web}/orders`)}\\n`));
  assert.ok(!stdout.includes('loop-diag-token'), 'the trail never shows the token header');

  // Nothing is left behind: no process, no listener.
  const collectorPort = Number(/loopctl serve --port (\d+)/.exec(stdout)?.[1]);
  const collectorPid = Number(/\(collector pid (\d+)\)/.exec(stdout)?.[1]);
  const pids = [...(/\(service pids: (.+)\)/.exec(stdout)?.[1] ?? '').matchAll(/(\w+) (\d+)/g)].map((m) => Number(m[2]));
  assert.ok(collectorPid > 0 && collectorPort > 0 && pids.length === 3, `the demo names its pids and ports:\n${stdout}`);
  for (const pid of [collectorPid, ...pids]) assert.equal(isAlive(pid), false, `process ${pid} is gone`);
  for (const p of [collectorPort, ports.gateway, ports.web, ports.payments]) {
    assert.equal(await accepts(p), false, `nothing listens on ${p} any more`);
  }
});
