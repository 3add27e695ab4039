import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { parseAllowList } from '../../../src/replay/address-policy.js';
import { startCollector } from '../../server.js';
import { checkPgUrl } from '../../storage/postgres.js';
import type { CliContext } from '../global-options.js';

interface ServeOptions {
  port: number;
  host: string;
  db: string;
  pg?: string;
  replayAllow?: string[];
}

/** Checks `--replay-allow` as it is read, so a bad entry is a usage error naming the flag. */
function collectAllow(text: string, previous?: string[]): string[] {
  parseAllowList([text], '--replay-allow', codes.USAGE);
  return [...(previous ?? []), text];
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
    .description('run a collector with an embedded SQLite database, or on PostgreSQL shared by several collectors (uses the global --token)')
    .option('--port <port>', 'TCP port (0 picks a free one)', parsePort, 5678)
    .option('--host <host>', 'address to listen on; other than loopback needs --token', '127.0.0.1')
    .option('--db <file>', 'SQLite database file, created when missing', './loop.db')
    .option('--pg <url>', 'PostgreSQL URL (postgres://user@host:5432/db) instead of --db; default LOOP_DATABASE_URL')
    .option(
      '--replay-allow <host:port,…>',
      'destinations replay --via-collector may reach (repeatable); loopback and private addresses only when listed as addresses',
      collectAllow,
    )
    .action(async (options: ServeOptions, command: Command) => {
      const { token } = ctx.globals();
      const dbGiven = command.getOptionValueSource('db') === 'cli';
      if (options.pg !== undefined && dbGiven) {
        throw new LoopError(codes.USAGE, 'give --db (a SQLite file) or --pg (a PostgreSQL URL), not both');
      }
      // A --db on the command line wins over LOOP_DATABASE_URL from the environment.
      const envUrl = process.env.LOOP_DATABASE_URL;
      const pg = options.pg ?? (!dbGiven && envUrl ? envUrl : undefined);
      if (pg !== undefined) checkPgUrl(pg, options.pg !== undefined ? '--pg' : 'LOOP_DATABASE_URL');
      const collector = await startCollector({
        port: options.port,
        host: options.host,
        ...(pg !== undefined ? { pg } : { db: options.db }),
        ...(token && { token }),
        ...(options.replayAllow && { replayAllow: options.replayAllow }),
      });
      const where = collector.backend === 'postgres' ? `pg ${collector.db}` : `db ${collector.db}`;
      process.stdout.write(`loopctl: collector listening on ${collector.url} (${where})\n`);
      await new Promise<void>((resolve) => {
        const first = (): void => {
          process.off('SIGINT', first);
          process.off('SIGTERM', first);
          // Graceful: in-flight batches are answered and committed. A second signal does not wait.
          const again = (): void => process.exit(130);
          process.once('SIGINT', again);
          process.once('SIGTERM', again);
          resolve();
        };
        process.on('SIGINT', first);
        process.on('SIGTERM', first);
      });
      await collector.close();
      ctx.setExitCode(0);
    });
}
