import { Command, Option } from 'commander';
import { applyCommand } from './commands/apply.js';
import { deleteCommand } from './commands/delete.js';
import { diagCommand } from './commands/diag.js';
import { exportCommand } from './commands/export.js';
import { getCommand } from './commands/get.js';
import { importCommand } from './commands/import.js';
import { listCommand } from './commands/list.js';
import { pruneCommand } from './commands/prune.js';
import { replayCommand } from './commands/replay.js';
import { serveCommand } from './commands/serve.js';
import { showCommand } from './commands/show.js';
import { traceCommand } from './commands/trace.js';
import { DEFAULT_COLLECTOR, type CliContext, type GlobalOptions } from './global-options.js';
import { handleError } from './handle-error.js';

/** Builds the loopctl command tree; every error leaves through {@link handleError}. */
export function buildProgram(ctx: Omit<CliContext, 'globals'>): Command {
  const program = new Command('loopctl');
  const context: CliContext = { ...ctx, globals: () => program.opts<GlobalOptions>() };
  program
    .description('list, show, replay and trace the requests httploop captured; apply the rules that say what to capture')
    .addOption(
      new Option('--collector <url>', 'collector base URL').env('LOOP_COLLECTOR').default(DEFAULT_COLLECTOR),
    )
    .addOption(new Option('--token <token>', 'bearer token for the collector').env('LOOP_TOKEN'))
    .exitOverride()
    // Commander's own messages go through handleError, as one `loopctl: ...` line.
    .configureOutput({ outputError: () => {} })
    .showHelpAfterError(false);
  const commands = [
    serveCommand(context),
    listCommand(context),
    showCommand(context),
    replayCommand(context),
    traceCommand(context),
    applyCommand(context),
    getCommand(context),
    deleteCommand(context),
    diagCommand(context),
    exportCommand(context),
    importCommand(context),
    pruneCommand(context),
  ];
  for (const command of commands) {
    command.exitOverride().configureOutput({ outputError: () => {} });
    program.addCommand(command);
  }
  return program;
}

/** Runs loopctl with `argv` (as process.argv) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  try {
    const program = buildProgram({ setExitCode: (code) => (exitCode = code) });
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    return handleError(err);
  }
}
