// `npm run demo:trace`: one failing request across three services, found again by its trace. A
// collector (`loopctl serve`, SQLite in a temp dir) and the three services of examples/multi-hop
// (gateway → web → payments, payments answers 502) run as child processes, each service with
// loop({ service, diagnostics: { token } }). One request to the gateway fails at every hop; the three
// captures share its trace id, `loopctl trace` prints them as one tree, and `loopctl diag` sends a
// diagnostic TRACE that comes back with every hop's context block. Everything is shut down again, also
// when a step fails.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const LOOPCTL = fileURLToPath(new URL('../dist/collector/cli/loopctl.js', import.meta.url));
const MULTI_HOP = fileURLToPath(new URL('./multi-hop/', import.meta.url));
const HOST = '127.0.0.1';
// Started innermost first, so that nobody calls a service that is not listening yet.
const SERVICES = ['payments', 'web', 'gateway'];

const cleanups = [];
const children = [];

function say(text) {
  console.log(`\n${text}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitForHealth(url, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`loopctl serve exited early (${child.exitCode ?? child.signalCode})`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the collector did not answer ${url}/healthz within ${timeoutMs} ms`);
}

/**
 * Runs loopctl and prints the command and what it printed. `shown` replaces arguments in the echoed
 * command line (the diagnostic token is shown as "$LOOP_DIAG_TOKEN", which the children's env holds).
 */
function loopctl(args, env, { okCodes = [0], quiet = false, shown = args } = {}) {
  if (!quiet) console.log(`$ loopctl ${shown.join(' ')}`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [LOOPCTL, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      if (!quiet) {
        process.stdout.write(stdout);
        if (stderr) process.stderr.write(stderr);
      }
      if (!okCodes.includes(code)) {
        reject(new Error(`'loopctl ${shown.join(' ')}' exited with ${code ?? err?.signal ?? err?.message}${quiet ? `: ${stderr}` : ''}`));
      } else {
        resolve({ code, stdout });
      }
    });
  });
}

function stopChild(child) {
  if (child === undefined || exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts one service of examples/multi-hop and resolves once it says it listens. */
function startService(name, env) {
  const child = spawn(process.execPath, [join(MULTI_HOP, `${name}.mjs`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  // Stopped (SIGTERM: it flushes its captures, then exits) before the collector.
  cleanups.push(() => stopChild(child));
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
  if (!existsSync(LOOPCTL)) {
    throw new Error(`${LOOPCTL} is missing: build first with 'npm ci' (or 'npx tsup')`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'httploop-demo-trace-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'loop.db');
  const port = await freePort();
  const collector = `http://${HOST}:${port}`;
  const ports = { gateway: await freePort(), web: await freePort(), payments: await freePort() };
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

  say('# Start the loop server (the collector): loopctl serve, SQLite in a temp dir');
  console.log(`$ loopctl serve --port ${port} --db ${db}`);
  const collectorChild = spawn(process.execPath, [LOOPCTL, 'serve', '--port', String(port), '--host', HOST, '--db', db], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(collectorChild);
  cleanups.push(() => stopChild(collectorChild));
  await waitForHealth(collector, collectorChild);
  console.log(`(collector pid ${collectorChild.pid})`);

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

async function cleanup() {
  // Last registered first: the services (each flushes its captures) before the collector, then the temp dir.
  while (cleanups.length > 0) {
    const step = cleanups.pop();
    try {
      await step();
    } catch (err) {
      console.error(`demo: cleanup step failed: ${err.message}`);
    }
  }
}

// Whatever happens, no child is left running.
process.once('exit', () => {
  for (const child of children) if (!exited(child)) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`demo: ${signal}, stopping`);
    cleanup().finally(() => process.exit(130));
  });
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`\ndemo failed: ${err.message}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
