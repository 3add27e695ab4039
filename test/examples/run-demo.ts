// What the tests of the demos (demo.test.ts, multi-hop.test.ts) share: running a demo script as a user
// runs it, and checking that it left no process or port behind.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { repoRoot } from '../helpers.js';

/**
 * Runs `node <script>` (relative to the repo root) without the loop settings of this environment
 * (LOOP_COLLECTOR, LOOP_TOKEN, LOOP_DIAG_TOKEN); rejects if it does not finish within `timeoutMs`.
 */
export function runDemo(script: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.LOOP_COLLECTOR;
  delete env.LOOP_TOKEN;
  delete env.LOOP_DIAG_TOKEN;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Whether a process with this pid still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
