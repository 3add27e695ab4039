import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { parseCount, parseDuration, parseSize } from '../../retention.js';
import { CollectorClient } from '../client.js';
import type { CliContext } from '../global-options.js';

interface PruneOptions {
  maxAge?: string;
  maxCount?: string;
  maxBytes?: string;
  service?: string;
  dryRun?: boolean;
}

/** `loopctl prune --max-age 7d --max-count N --max-bytes 1GiB [--service S] [--dry-run]`: retention now. */
export function pruneCommand(ctx: CliContext): Command {
  return new Command('prune')
    .description('remove the oldest captures beyond an age, a count or a size (overall, or of one --service)')
    .option('--max-age <duration>', 'remove captures received longer ago than this (7d, 12h, 30m, 45s)')
    .option('--max-count <n>', 'keep at most this many captures (the newest)')
    .option('--max-bytes <size>', 'keep at most this many stored bytes (1GiB, 500MB, 64KiB)')
    .option('--service <name>', 'apply the limits to this service only')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .action(async (options: PruneOptions) => {
      const usage = (message: string): LoopError => new LoopError(codes.USAGE, message);
      const request: Record<string, unknown> = {};
      if (options.maxAge !== undefined) request.maxAge = parseDuration(options.maxAge, '--max-age', usage);
      if (options.maxCount !== undefined) request.maxCount = parseCount(options.maxCount, '--max-count', usage);
      if (options.maxBytes !== undefined) request.maxBytes = parseSize(options.maxBytes, '--max-bytes', usage);
      if (Object.keys(request).length === 0) {
        throw usage('say what to keep: --max-age 7d, --max-count N or --max-bytes 1GiB');
      }
      if (options.service !== undefined) request.service = options.service;
      if (options.dryRun) request.dryRun = true;
      const { collector, token } = ctx.globals();
      const result = await new CollectorClient(collector, token).prune(request);
      const scope = options.service !== undefined ? ` of service ${options.service}` : '';
      const what = `${result.deleted} capture${result.deleted === 1 ? '' : 's'}${scope} (${result.bytes} bytes)`;
      process.stdout.write(result.dryRun ? `would remove ${what}\n` : `removed ${what}\n`);
      ctx.setExitCode(0);
    });
}
