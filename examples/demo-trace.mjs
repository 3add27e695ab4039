// `npm run demo:trace`: one failing request across three services, found again by its trace. A
// collector (`loopctl serve`, SQLite in a temp dir) and the three services of examples/multi-hop
// (gateway → web → payments, payments answers 502) run as child processes, each service with
// loop({ service, diagnostics: { token } }). One request to the gateway fails at every hop; the three
// captures share its trace id, `loopctl trace` prints them as one tree, and `loopctl diag` sends a
// diagnostic TRACE that comes back with every hop's context block. Everything is shut down again, also
// when a step fails.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HOST, freePorts, loopctl, requireBuild, runDemo, say, spawnChild, startCollector, tempDir } from './demo-support.mjs';

const MULTI_HOP = fileURLToPath(new URL('./multi-hop/', import.meta.url));
// Started innermost first, so that nobody calls a service that is not listening yet.
const SERVICES = ['payments', 'web', 'gateway'];

/** Starts one service of examples/multi-hop and resolves once it says it listens. */
function startService(name, env) {
  // Stopped (SIGTERM: it flushes its captures, then exits) before the collector.
  const child = spawnChild([join(MULTI_HOP, `${name}.mjs`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // What the services print goes on, prefixed with their name: listening lines and errors (stderr).
  createInterface({ input: child.stderr }).on('line', (line) => process.stderr.write(`  [${name}] ${line}\n`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start listening within 10 s`)), 10_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      process.stdout.write(`  [${name}] ${line}\n`);
      if (line.startsWith(`${name} listening on `)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening`));
    });
  });
}

/** Polls `loopctl list --json` until `n` captures are there; returns them. */
async function waitForCaptures(n, env, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let captures = [];
  while (Date.now() < deadline) {
    const { stdout } = await loopctl(['list', '--json'], env, { quiet: true });
    captures = JSON.parse(stdout).captures;
    if (captures.length >= n) return captures;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`only ${captures.length} of ${n} captures reached the collector within ${timeoutMs / 1000} s`);
}

async function main() {
  requireBuild();

  const db = join(tempDir('httploop-demo-trace-'), 'loop.db');
  // Chosen together, so the collector and the three services never get the same port.
  const [port, gatewayPort, webPort, paymentsPort] = await freePorts(4);
  const collector = `http://${HOST}:${port}`;
  const ports = { gateway: gatewayPort, web: webPort, payments: paymentsPort };
  // The diagnostic token every service is configured with (at least 16 characters); new each run.
  const diagToken = randomBytes(16).toString('hex');
  const env = { ...process.env, LOOP_COLLECTOR: collector, LOOP_DIAG_TOKEN: diagToken };
  delete env.LOOP_TOKEN;
  const serviceEnv = {
    ...env,
    HOST,
    GATEWAY_PORT: String(ports.gateway),
    WEB_PORT: String(ports.web),
    PAYMENTS_PORT: String(ports.payments),
  };
  delete serviceEnv.WEB_URL;
  delete serviceEnv.PAYMENTS_URL;
  delete serviceEnv.LOOP_SERVICE;

  await startCollector({ port, db, env });

  say('# Start the three services of examples/multi-hop, each with loop({ service, diagnostics: { token } })');
  console.log('# gateway (Express) → web (Koa) → payments (Express); payments answers 502 on POST /charge');
  const pids = [];
  for (const name of SERVICES) {
    const child = await startService(name, serviceEnv);
    pids.push(`${name} ${child.pid}`);
  }
  console.log(`(service pids: ${pids.join(', ')})`);

  const checkout = `http://${HOST}:${ports.gateway}/checkout`;
  say('# One request to the gateway: it fails at every hop');
  const res = await fetch(checkout);
  const body = await res.text();
  console.log(`$ curl ${checkout}  ->  HTTP ${res.status} ${body}`);
  const traceresponse = res.headers.get('traceresponse');
  console.log(`traceresponse: ${traceresponse}`);
  const traceId = /^00-([0-9a-f]{32})-/.exec(traceresponse ?? '')?.[1];
  if (traceId === undefined) throw new Error(`the gateway's answer has no traceresponse header (${traceresponse})`);

  say('# Each service ships its capture; the collector holds three, one per hop');
  const captures = await waitForCaptures(SERVICES.length, env);
  const traces = [...new Set(captures.map((c) => c.traceId))];
  console.log(`(${captures.length} captures arrived, from ${captures.map((c) => c.service).join(', ')}; trace ids: ${traces.join(', ')})`);
  if (traces.length !== 1 || traces[0] !== traceId) {
    throw new Error(`the captures do not share the request's trace ${traceId}: ${traces.join(', ')}`);
  }
  await loopctl(['list'], env);

  const gateway = captures.find((c) => c.service === 'gateway');
  if (gateway === undefined) throw new Error('no capture from the gateway');
  say(`# The whole trace from the gateway's capture (${gateway.seq}): every hop, and the call that led to the next`);
  const tree = await loopctl(['trace', String(gateway.seq)], env);
  if (!tree.stdout.startsWith(`trace ${traceId}  (3 captures, 3 services)\n`)) {
    throw new Error('loopctl trace does not link the three captures into one tree');
  }

  say('# A diagnostic TRACE through all three: each hop adds its context block, innermost first');
  console.log(`# (the handlers run as GET; the token is the one the services got in LOOP_DIAG_TOKEN)`);
  const diag = await loopctl(['diag', checkout, '--method', 'GET', '--token', diagToken], env, {
    shown: ['diag', checkout, '--method', 'GET', '--token', '"$LOOP_DIAG_TOKEN"'],
  });
  const blocks = [...diag.stdout.matchAll(/^--- Service: (\S+) /gm)].map((m) => m[1]);
  if (blocks.join(' ') !== 'payments web gateway') {
    throw new Error(`the diagnostic trail has the blocks [${blocks.join(', ')}], not payments, web, gateway`);
  }

  say('# Done: shutting down the three services and the collector');
}

await runDemo(main);
