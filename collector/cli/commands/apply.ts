import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { checkMatch } from '../../../src/match/check-match.js';
import { formatFileProblem, loadTapConfigText, type FileProblem } from '../../../src/match/tapconfig-file.js';
import type { TapConfig } from '../../../src/match/tapconfig.js';
import { ApplyError, CollectorClient } from '../client.js';
import { readInput } from '../read-input.js';
import type { CliContext } from '../global-options.js';

interface ApplyOptions {
  filename: string[];
  dryRun?: boolean;
  json?: boolean;
}

/**
 * `loopctl apply -f FILE`: every TapConfig in the files, checked here first (each problem reported as
 * file:line:column), then applied by the collector all together or not at all. Every running loop()
 * follows the change within seconds.
 */
export function applyCommand(ctx: CliContext): Command {
  return new Command('apply')
    .description('apply TapConfigs from YAML or JSON files: all of them, or none if any is invalid')
    .requiredOption(
      '-f, --filename <file>',
      "a TapConfig file, or - for standard input (repeat for several)",
      (file: string, files?: string[]) => [...(files ?? []), file],
    )
    .option('--dry-run', 'check the files (here and on the collector) without applying them')
    .option('--json', 'print the result as JSON')
    .action(async (options: ApplyOptions) => {
      const configs: TapConfig[] = [];
      const origin: string[] = [];
      const problems: FileProblem[] = [];
      for (const file of options.filename) {
        const text = await readInput(file);
        const name = file === '-' ? '<stdin>' : file;
        const loaded = loadTapConfigText(text, name, checkMatch);
        problems.push(...loaded.problems);
        for (const config of loaded.configs) {
          const twice = configs.findIndex((c) => c.metadata.name === config.metadata.name);
          if (twice !== -1) {
            problems.push({ file: name, line: 1, column: 1, message: `metadata.name '${config.metadata.name}' is also in ${origin[twice]}` });
          }
          configs.push(config);
          origin.push(name);
        }
      }
      if (problems.length > 0) {
        const lines = problems.map(formatFileProblem);
        lines.push(`nothing was applied (${problems.length} problem${problems.length === 1 ? '' : 's'})`);
        throw new LoopError(codes.INVALID_TAPCONFIG, lines.join('\n'));
      }
      const { collector, token } = ctx.globals();
      let result;
      try {
        result = await new CollectorClient(collector, token).applyTapConfigs(configs, options.dryRun);
      } catch (err) {
        // The collector checks again (it may be a newer or older httploop): say which resource of which file.
        if (err instanceof ApplyError) {
          const lines = err.problems.map((p) => {
            const config = configs[p.index];
            const where = config ? `${origin[p.index]}: tapconfig/${config.metadata.name}` : `tapconfigs[${p.index}]`;
            return `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
          });
          lines.push('the collector refused the TapConfigs; nothing was applied');
          throw new LoopError(codes.INVALID_TAPCONFIG, lines.join('\n'), { cause: err });
        }
        throw err;
      }
      if (options.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        for (const { name, action } of result.results) {
          process.stdout.write(`tapconfig/${name} ${options.dryRun ? 'valid (dry run)' : action}\n`);
        }
      }
      ctx.setExitCode(0);
    });
}

