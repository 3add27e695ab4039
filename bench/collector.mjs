// A real `loopctl serve` for the bench and the soak (SQLite at `dir`/bench.db), killed with the parent
// process whatever ends it. `port` lets the soak start it again where the apps expect it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';

/** stop(child): SIGTERM, SIGKILL after 5 s; resolves once the child has exited. */
export { stopChild as stop } from '../examples/demo-support.mjs';

export const LOOPCTL = fileURLToPath(new URL('../dist/collector/cli/loopctl.js', import.meta.url));

export async function startCollector(dir, { port, pinCore } = {}) {
  if (!existsSync(LOOPCTL)) throw new Error(`${LOOPCTL} is missing: build with 'npx tsup --silent' first`);
  port ??= await freePort();
  const args = [LOOPCTL, 'serve', '--port', String(port), '--db', join(dir, 'bench.db')];
  const [cmd, argv] = pinCore === undefined ? [process.execPath, args] : ['/usr/bin/taskset', ['-c', String(pinCore), process.execPath, ...args]];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url, port, db: join(dir, 'bench.db') };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  kill();
  throw new Error('loopctl serve did not come up');
}
