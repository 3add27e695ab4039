// What the two demos (`npm run demo`, examples/demo.mjs; `npm run demo:trace`, examples/demo-trace.mjs)
// share: the built loopctl, running it and echoing what it prints, the embedded collector, child
// processes that are always stopped again, and the run itself (cleanup steps, last registered first,
// also on SIGINT/SIGTERM or a failed step; exit code 0 or 1). bench/collector.mjs uses stopChild too.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOOPCTL = fileURLToPath(new URL('../dist/collector/cli/loopctl.js', import.meta.url));
export const HOST = '127.0.0.1';

/** What runDemo does when the demo ends or is interrupted, last registered first. */
const cleanups = [];
/** Every child process started with spawnChild: killed when this process exits, whatever ends it. */
const children = [];

export function say(text) {
  console.log(`\n${text}`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `n` distinct free ports: each listener stays open until all are chosen, so two calls cannot be given
 * the same port back (which separate freePort() calls can, before anything listens on the first).
 */
export async function freePorts(n) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, HOST, resolve);
      });
    }
    return servers.map((srv) => srv.address().port);
  } finally {
    await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(() => resolve()))));
  }
}

export function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. */
export function stopChild(child) {
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

/** Registers a step for the end of the run (see runDemo). */
export function onCleanup(step) {
  cleanups.push(step);
}

/** Throws a readable error when the build is missing. */
export function requireBuild() {
  if (!existsSync(LOOPCTL)) {
    throw new Error(`${LOOPCTL} is missing: build first with 'npm ci' (or 'npx tsup')`);
  }
}

/** A new temp dir, removed at the end of the run. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `node <args>`; the child is stopped at the end of the run (stopChild), killed if this process exits. */
export function spawnChild(args, options) {
  const child = spawn(process.execPath, args, options);
  children.push(child);
  onCleanup(() => stopChild(child));
  return child;
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

/** Starts `loopctl serve` on HOST:port with SQLite at `db`, says so, and resolves once it is healthy. */
export async function startCollector({ port, db, env }) {
  const collector = `http://${HOST}:${port}`;
  say('# Start the loop server (the collector): loopctl serve, SQLite in a temp dir');
  console.log(`$ loopctl serve --port ${port} --db ${db}`);
  const child = spawnChild([LOOPCTL, 'serve', '--port', String(port), '--host', HOST, '--db', db], {
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitForHealth(collector, child);
  console.log(`(collector pid ${child.pid})`);
  return child;
}

/**
 * Runs loopctl (asynchronously: an app it replays against may live in this process) and prints the
 * command and what it printed, unless `quiet`. `shown` replaces arguments in the echoed command line
 * (demo-trace shows the diagnostic token as "$LOOP_DIAG_TOKEN", which the children's env holds).
 */
export function loopctl(args, env, { okCodes = [0], quiet = false, shown = args } = {}) {
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

async function cleanup() {
  // Last registered first: the apps and services (each flushes its captures) before the collector,
  // then the temp dir.
  while (cleanups.length > 0) {
    const step = cleanups.pop();
    try {
      await step();
    } catch (err) {
      console.error(`demo: cleanup step failed: ${err.message}`);
    }
  }
}

/** Runs `main`, then the cleanup steps (also on SIGINT/SIGTERM), and exits: 0, or 1 if `main` failed. */
export async function runDemo(main) {
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
}
