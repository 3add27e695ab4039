// `npm run demo`: the seed's walkthrough (Gloo Loop's "Debugging in production with Loop") end to end,
// with no manual steps. An embedded collector (`loopctl serve`, SQLite in a temp dir) runs as a child
// process; the Express example (web → payments, which never answers) runs in this process with loop()
// pointing at it. Some requests fail, loopctl lists, shows and replays the failure, and everything is
// shut down again, also when a step fails.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LOOPCTL = fileURLToPath(new URL('../dist/collector/cli/loopctl.js', import.meta.url));
const TAP = fileURLToPath(new URL('./tap.yaml', import.meta.url));
const HOST = '127.0.0.1';

const cleanups = [];
let collectorChild;

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

async function waitForHealth(url, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`loopctl serve exited early (${child.exitCode ?? child.signalCode})`);
    }
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

/** Runs loopctl (asynchronously: the app it replays against lives in this process). */
function loopctl(args, env, okCodes = [0]) {
  console.log(`$ loopctl ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [LOOPCTL, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      process.stdout.write(stdout);
      if (stderr) process.stderr.write(stderr);
      if (!okCodes.includes(code)) {
        reject(new Error(`'loopctl ${args.join(' ')}' exited with ${code ?? err?.signal ?? err?.message}`));
      } else {
        resolve({ code, stdout });
      }
    });
  });
}

function stopChild(child) {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function main() {
  if (!existsSync(LOOPCTL)) {
    throw new Error(`${LOOPCTL} is missing: build first with 'npm ci' (or 'npx tsup')`);
  }
  // Imported here so that a missing build is reported by the check above, not as a module error.
  const { start } = await import('./express/app.mjs');

  const dir = mkdtempSync(join(tmpdir(), 'httploop-demo-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'loop.db');
  const port = await freePort();
  const collector = `http://${HOST}:${port}`;
  const env = { ...process.env, LOOP_COLLECTOR: collector };
  delete env.LOOP_TOKEN;

  say('# Start the loop server (the collector): loopctl serve, SQLite in a temp dir');
  console.log(`$ loopctl serve --port ${port} --db ${db}`);
  collectorChild = spawn(process.execPath, [LOOPCTL, 'serve', '--port', String(port), '--host', HOST, '--db', db], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  cleanups.push(() => stopChild(collectorChild));
  await waitForHealth(collector, collectorChild);
  console.log(`(collector pid ${collectorChild.pid})`);

  say('# Listing existing loop captures: there are none yet');
  await loopctl(['list'], env);

  say('# Configure what Loop captures: the seed\'s TapConfig (every 5xx), examples/tap.yaml');
  console.log(readFileSync(TAP, 'utf8').trimEnd());
  await loopctl(['apply', '-f', TAP], env);

  say('# Start the web service with app.use(loop()); its payments backend never answers');
  const web = await start({ collector, log: (line) => console.log(`  [${line}]`) });
  cleanups.push(() => web.close());
  console.log(`web on ${web.url} (payments on port ${web.paymentsPort}), captures go to ${collector}`);
  // loop() starts from its own rules and follows the collector's as soon as its first poll is answered.
  for (let i = 0; web.loop.stats().ruleSet.source !== 'collector'; i++) {
    if (i === 200) throw new Error('the web service did not pick up the applied TapConfig within 2 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  await loopctl(['get', 'tapconfigs'], env);

  say('# Send traffic: /health succeeds, / times out calling payments and fails');
  for (const path of ['/health', '/', '/health', '/', '/health']) {
    const res = await fetch(`${web.url}${path}`);
    const body = await res.text();
    console.log(`$ curl ${web.url}${path}  ->  HTTP ${res.status} ${body}`);
  }
  await web.loop.flush();
  const stats = web.loop.stats();
  console.log(`(loop: ${stats.captured} captured, ${stats.sent} shipped; 200s are not captured)`);

  say('# Only the failing requests were captured');
  const listed = await loopctl(['list'], env);
  if (!/\|\s+1 \| \/\s+\| GET\s+\|\s+500 \|/.test(listed.stdout)) {
    throw new Error('loopctl list does not show capture 1 (GET / 500)');
  }

  say('# What capture 1 holds: request, response, route, the error the handler threw, the rule (gloo)');
  await loopctl(['show', '--id', '1'], env);

  say('# Replay it against the web service (same app: the replay fails the same way, "same" exits 0)');
  await loopctl(['replay', '--id', '1', '--destination', `${HOST}:${web.port}`], env);

  say('# Done: shutting down the web service and the collector');
}

async function cleanup() {
  // Last registered first: the app (flushes its captures) before the collector, then the temp dir.
  while (cleanups.length > 0) {
    const step = cleanups.pop();
    try {
      await step();
    } catch (err) {
      console.error(`demo: cleanup step failed: ${err.message}`);
    }
  }
}

// Whatever happens, no collector is left running.
process.once('exit', () => {
  if (collectorChild !== undefined && collectorChild.exitCode === null && collectorChild.signalCode === null) {
    collectorChild.kill('SIGKILL');
  }
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
