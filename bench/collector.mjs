// A real `loopctl serve` for the bench (SQLite in `dir`), killed with the bench process whatever ends it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';

/** stop(child): SIGTERM, SIGKILL after 5 s; resolves once the child has exited. */
export { stopChild as stop } from '../examples/demo-support.mjs';

const LOOPCTL = fileURLToPath(new URL('../dist/collector/cli/loopctl.js', import.meta.url));

export async function startCollector(dir) {
  if (!existsSync(LOOPCTL)) throw new Error(`${LOOPCTL} is missing: build with 'npx tsup' first`);
  const port = await freePort();
  const child = spawn(process.execPath, [LOOPCTL, 'serve', '--port', String(port), '--db', join(dir, 'bench.db')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  kill();
  throw new Error('loopctl serve did not come up');
}
