import { Command } from 'commander';
import { parseLimit, parseSince, parseStatusFilter } from '../../filter-params.js';
import { CollectorClient } from '../client.js';
import type { CaptureFilterOptions, CliContext } from '../global-options.js';
import { renderTable, type Column } from '../table.js';

interface ListOptions extends CaptureFilterOptions {
  json?: boolean;
}

const COLUMNS: Column[] = [
  { header: 'ID', align: 'right' },
  { header: 'PATH', align: 'left' },
  { header: 'VERB', align: 'left' },
  { header: 'STATUS', align: 'right' },
  { header: 'DESTINATION', align: 'left' },
];

/** `loopctl list`: the seed's table of captures, in arrival order. */
export function listCommand(ctx: CliContext): Command {
  return new Command('list')
    .description('list captures as a table (or --json)')
    .option('--status <status>', 'a status class like 5xx, or an exact status like 500')
    .option('--service <name>', 'only captures of this service')
    .option('--path <prefix>', 'only requests whose path starts with this')
    .option('--since <when>', 'only captures since a duration ago (1h, 30m), an ISO time or epoch ms')
    .option('--trace <id>', 'only captures of this trace id')
    .option('--limit <n>', 'at most the newest n captures (default 1000)')
    .option('--json', 'print { "captures": [...] } summaries as JSON')
    .action(async (options: ListOptions) => {
      // Checked here too, so a typo gets the same one-line message without a round trip.
      if (options.status !== undefined) parseStatusFilter(options.status);
      if (options.since !== undefined) parseSince(options.since);
      if (options.limit !== undefined) parseLimit(options.limit);
      const { collector, token } = ctx.globals();
      const captures = await new CollectorClient(collector, token).list({
        status: options.status,
        service: options.service,
        path: options.path,
        since: options.since,
        trace: options.trace,
        limit: options.limit,
      });
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ captures }, null, 2)}\n`);
      } else {
        const rows = captures.map((c) => [String(c.seq), c.path, c.method, String(c.status), c.destination]);
        process.stdout.write(renderTable(COLUMNS, rows));
      }
      ctx.setExitCode(0);
    });
}
