import { CommanderError } from 'commander';
import { LoopError, codes } from '../../src/errors.js';

/** Nothing matched what was asked for (DESIGN.md: exit 1, not an error of usage or of the run). */
export class NothingMatchedError extends LoopError {
  constructor(message: string) {
    super(codes.NOT_FOUND, message);
    this.name = 'NothingMatchedError';
  }
}

/**
 * The CLI's one exit point for errors: one line on stderr, `loopctl: <what happened and the fix>` (a
 * line per problem when there are several), and the exit code (0 for --help/--version, 1 when nothing
 * matched, else 2).
 */
export function handleError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // Help already printed because no command was given: a usage error without another line.
    if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') return 2;
    const message = err.message
      .replace(/^error: /, '')
      // Commander puts its suggestion on a second line: keep the promise of one line.
      .replace(/\s*\n\(Did you mean (.*)\?\)/, '; did you mean $1?')
      .replace(/\s*\n\s*/g, ' ');
    stderr.write(`loopctl: ${message} (see loopctl --help)\n`);
    return 2;
  }
  if (err instanceof NothingMatchedError) {
    stderr.write(`loopctl: ${err.message}\n`);
    return 1;
  }
  if (err instanceof LoopError) {
    // Several problems (an apply with many mistakes) are one line each, each on its own.
    stderr.write(`${err.message.split('\n').map((line) => `loopctl: ${line}`).join('\n')}\n`);
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  stderr.write(`loopctl: unexpected error: ${message}; run again with LOOP_DEBUG=1 for details\n`);
  if (process.env.LOOP_DEBUG && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  return 2;
}
