import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { CollectorClient } from '../client.js';
import type { CliContext } from '../global-options.js';

const KINDS = ['tapconfig', 'tapconfigs', 'tc'];

/** `loopctl delete tapconfig NAME…` removes rules (every loop() follows); `loopctl delete --id N` a capture. */
export function deleteCommand(ctx: CliContext): Command {
  return new Command('delete')
    .description('delete TapConfigs (loopctl delete tapconfig NAME) or a capture (--id N)')
    .argument('[kind]', 'tapconfig')
    .argument('[names...]', 'TapConfig names')
    .option('--id <id>', 'a capture to delete (repeat for several)', (id: string, ids?: string[]) => [...(ids ?? []), id])
    .action(async (kind: string | undefined, names: string[], options: { id?: string[] }) => {
      const ids = options.id ?? [];
      if (kind === undefined && ids.length === 0) {
        throw new LoopError(codes.USAGE, 'say what to delete: loopctl delete tapconfig NAME, or loopctl delete --id N');
      }
      if (kind !== undefined && !KINDS.includes(kind)) {
        throw new LoopError(codes.USAGE, `loopctl delete knows tapconfig NAME and --id N, not '${kind}'`);
      }
      if (kind !== undefined && names.length === 0) {
        throw new LoopError(codes.USAGE, 'name the TapConfig to delete: loopctl delete tapconfig NAME');
      }
      const { collector, token } = ctx.globals();
      const client = new CollectorClient(collector, token);
      for (const name of names) {
        await client.deleteTapConfig(name);
        process.stdout.write(`tapconfig/${name} deleted\n`);
      }
      for (const id of ids) {
        await client.deleteCapture(id);
        process.stdout.write(`capture ${id} deleted\n`);
      }
      ctx.setExitCode(0);
    });
}
