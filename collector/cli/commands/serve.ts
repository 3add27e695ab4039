import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { parseAllowList } from '../../../src/replay/address-policy.js';
import { startCollector } from '../../server.js';
import { LOG_LEVELS, createLogger, type LogLevel } from '../../log.js';
import { parseCount, parseDuration, parseSize } from '../../retention.js';
import { checkPgUrl } from '../../storage/postgres.js';
import type { CliContext } from '../global-options.js';

interface ServeOptions {
  port: number;
  host: string;
  db: string;
  pg?: string;
  replayAllow?: string[];
  retentionMaxAge?: string;
  retentionMaxCount?: string;
  retentionMaxBytes?: string;
  logLevel: string;
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
    .option('--retention-max-age <duration>', 'remove captures received longer ago than this (7d, 12h, 30m)')
    .option('--retention-max-count <n>', 'keep at most this many captures (the newest)')
    .option('--retention-max-bytes <size>', 'keep at most this many stored bytes (1GiB, 500MB)')
    .option('--log-level <level>', `JSON log lines on stderr from this level (info adds start, stop and prunes): ${LOG_LEVELS.join(', ')}`, 'warn')
    .action(async (options: ServeOptions, command: Command) => {
      if (!(LOG_LEVELS as readonly string[]).includes(options.logLevel)) {
        throw new LoopError(codes.USAGE, `bad --log-level '${options.logLevel}': use one of ${LOG_LEVELS.join(', ')}`);
      }
      const { token } = ctx.globals();
      const usage = (message: string): LoopError => new LoopError(codes.USAGE, message);
      const retention = {
        ...(options.retentionMaxAge !== undefined && { maxAge: parseDuration(options.retentionMaxAge, '--retention-max-age', usage) }),
        ...(options.retentionMaxCount !== undefined && { maxCount: parseCount(options.retentionMaxCount, '--retention-max-count', usage) }),
        ...(options.retentionMaxBytes !== undefined && { maxBytes: parseSize(options.retentionMaxBytes, '--retention-max-bytes', usage) }),
      };
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
        ...(Object.keys(retention).length > 0 && { retention }),
        // JSON lines on stderr: stdout keeps the one human line saying where the collector listens.
        logger: createLogger({ level: options.logLevel as LogLevel, destination: 2 }),
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
