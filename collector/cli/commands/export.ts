import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { CollectorClient } from '../client.js';
import { captureToCurl } from '../curl.js';
import type { CliContext } from '../global-options.js';
import { captureToHar } from '../har.js';

const FORMATS = ['json', 'har', 'curl'] as const;
type Format = (typeof FORMATS)[number];

/** httploop's version from its package.json (found upward from this file, built or not). */
function httploopVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'httploop' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not here: look one folder up.
    }
    dir = path.dirname(dir);
  }
  return '0.0.0';
}

/**
 * `loopctl export --id N --format json|har|curl`: one capture as its JSON record, a HAR 1.2 log, or a
 * curl command line. Values are exported as stored: redacted ones stay `[REDACTED]`.
 */
export function exportCommand(ctx: CliContext): Command {
  return new Command('export')
    .description('print one capture as JSON, a HAR 1.2 log or a curl command line')
    .requiredOption('--id <id>', 'display id (from loopctl list) or capture id')
    .option('--format <format>', 'json, har or curl', 'json')
    .option('--out <file>', 'write to this file instead of standard output')
    .action(async (options: { id: string; format: string; out?: string }) => {
      if (!(FORMATS as readonly string[]).includes(options.format)) {
        throw new LoopError(codes.USAGE, `bad format '${options.format}': use json, har or curl`);
      }
      const format = options.format as Format;
      const { collector, token } = ctx.globals();
      const record = await new CollectorClient(collector, token).get(options.id);
      const text =
        format === 'json'
          ? `${JSON.stringify(record, null, 2)}\n`
          : format === 'har'
            ? `${JSON.stringify(captureToHar(record, httploopVersion()), null, 2)}\n`
            : `${captureToCurl(record)}\n`;
      if (options.out !== undefined) {
        try {
          await writeFile(options.out, text);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const reason = code === 'ENOENT' ? 'no such directory' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
          throw new LoopError(codes.USAGE, `cannot write ${options.out} (${reason})`, { cause: err });
        }
      } else {
        process.stdout.write(text);
      }
      ctx.setExitCode(0);
    });
}
