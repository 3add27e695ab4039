import { Command } from 'commander';
import { CollectorClient } from '../client.js';
import { formatCapture } from '../format-capture.js';
import type { CliContext } from '../global-options.js';

/** `loopctl show --id N`: one whole capture, readable, or the record as JSON. */
export function showCommand(ctx: CliContext): Command {
  return new Command('show')
    .description('print one capture: summary, request, response, error')
    .requiredOption('--id <id>', 'display id (from loopctl list) or capture id')
    .option('--json', 'print the capture record as JSON')
    .action(async (options: { id: string; json?: boolean }) => {
      const { collector, token } = ctx.globals();
      const record = await new CollectorClient(collector, token).get(options.id);
      process.stdout.write(options.json ? `${JSON.stringify(record, null, 2)}\n` : formatCapture(record));
      ctx.setExitCode(0);
    });
}
