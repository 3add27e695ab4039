import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { startCollector } from '../../server.js';
import type { CliContext } from '../global-options.js';

interface ServeOptions {
  port: number;
  host: string;
  db: string;
}

function parsePort(text: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new LoopError(codes.USAGE, `bad port '${text}': use a number from 0 to 65535 (0 picks a free port)`);
  }
  return port;
}

/** `loopctl serve`: runs a collector until SIGINT or SIGTERM, then shuts down gracefully (exit 0). */
export function serveCommand(ctx: CliContext): Command {
  return new Command('serve')
    .description('run a collector with an embedded SQLite database (uses the global --token)')
    .option('--port <port>', 'TCP port (0 picks a free one)', parsePort, 5678)
    .option('--host <host>', 'address to listen on; other than loopback needs --token', '127.0.0.1')
    .option('--db <file>', 'SQLite database file, created when missing', './loop.db')
    .action(async (options: ServeOptions) => {
      const { token } = ctx.globals();
      const collector = await startCollector({
        port: options.port,
        host: options.host,
        db: options.db,
        ...(token && { token }),
      });
      process.stdout.write(`loopctl: collector listening on ${collector.url} (db ${collector.db})\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await collector.close();
      ctx.setExitCode(0);
    });
}
