// The processes of a bench or soak run: bench servers, the load generator, and their IPC. Every
// child is killed when the parent exits, whatever ends it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
const LOAD = fileURLToPath(new URL('./load.mjs', import.meta.url));

const children = new Set();
let cleanupInstalled = false;
function track(child) {
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.once('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** With two or more cores (and taskset), servers run on core 1 and the load generator on core 0. */
export function pinning(disabled = false) {
  return !disabled && process.platform === 'linux' && cpus().length >= 2 && existsSync('/usr/bin/taskset');
}

function command(pinCore, args) {
  return pinCore === undefined ? [process.execPath, args] : ['/usr/bin/taskset', ['-c', String(pinCore), process.execPath, ...args]];
}

/** Pins this process (the coordinator: collector starts and IPC) to a core too. */
export function pinSelf(core) {
  spawnSync('/usr/bin/taskset', ['-pc', String(core), String(process.pid)], { stdio: 'ignore' });
}

/**
 * Starts `node [nodeArgs] bench/server.mjs framework variant`; resolves with { child, url, name,
 * stderr() } once it listens. stderr is kept (and echoed when `echo`), for warnings.
 */
export function startServer({ framework, variant, collector, env = {}, cwd, nodeArgs = [], pinCore, echo = true }) {
  return new Promise((resolve, reject) => {
    const [cmd, args] = command(pinCore, [...nodeArgs, SERVER, framework, variant]);
    const child = track(
      spawn(cmd, args, {
        cwd,
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
        env: { ...process.env, BENCH_COLLECTOR: collector, NODE_ENV: 'production', ...env },
      }),
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (echo) process.stderr.write(d);
    });
    const onExit = (code, signal) => reject(new Error(`bench server ${framework}/${variant} exited (${signal ?? code}) before listening:\n${stderr}`));
    child.once('exit', onExit);
    child.once('message', ({ port }) => {
      child.off('exit', onExit);
      resolve({ child, url: `http://127.0.0.1:${port}`, name: `${framework}/${variant}`, stderr: () => stderr });
    });
  });
}

/** Sends `question` (a string or an object) and resolves with the answer under `key` (default: the question). */
export function ask(child, question, key = typeof question === 'string' ? question : Object.keys(question)[0]) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (msg !== null && typeof msg === 'object' && key in msg) {
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(msg[key]);
      }
    };
    const onExit = (code) => reject(new Error(`child exited (${code}) before answering ${JSON.stringify(question)}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(question);
  });
}

/** The load generator process; `run(job)` resolves with its result (see load.mjs). */
export function startLoad({ pinCore } = {}) {
  return new Promise((resolve, reject) => {
    const [cmd, args] = command(pinCore, [LOAD]);
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    let next = 0;
    const waiting = new Map();
    child.on('message', (msg) => {
      if (msg === 'ready') {
        resolve({
          child,
          run(job) {
            const id = ++next;
            return new Promise((res, rej) => {
              waiting.set(id, { res, rej });
              child.send({ ...job, id });
            });
          },
          stopRun() {
            child.send('stop');
          },
          close() {
            child.kill('SIGTERM');
          },
        });
        return;
      }
      const w = waiting.get(msg.id);
      if (w === undefined) return;
      waiting.delete(msg.id);
      if (msg.error !== undefined) w.rej(new Error(`load generator: ${msg.error}`));
      else w.res(msg.result);
    });
    child.once('exit', (code) => {
      for (const w of waiting.values()) w.rej(new Error(`load generator exited (${code})`));
      reject(new Error(`load generator exited (${code})`));
    });
  });
}

/** SIGTERM, SIGKILL after 5 s; resolves once the child has exited. */
export { stopChild as stop } from '../examples/demo-support.mjs';
