import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import type { CaptureRecord } from '../../../src/capture/record.js';
import { LoopError, codes } from '../../../src/errors.js';
import { captureToCurl } from '../../export/curl.js';
import { captureToHar } from '../../export/har.js';
import { httploopVersion } from '../../export/version.js';
import { EXPORT_PATTERN, NAME_PATTERN, RUNNERS, appSpecifier, captureJson, defaultTestName, renderTest, runHint, type Runner } from '../as-test.js';
import { CollectorClient } from '../client.js';
import type { CliContext } from '../global-options.js';

const FORMATS = ['json', 'har', 'curl'] as const;
type Format = (typeof FORMATS)[number];

interface ExportOptions {
  id: string;
  format: string;
  out?: string;
  asTest?: string;
  app?: string;
  appExport?: string;
  name?: string;
  force?: boolean;
}

const usage = (message: string): LoopError => new LoopError(codes.USAGE, message);

function writeError(file: string, err: unknown): LoopError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? 'no such directory' : code === 'EISDIR' ? 'it is a directory' : code === 'ENOTDIR' ? 'a part of the path is a file' : (err as Error).message;
  return new LoopError(codes.USAGE, `cannot write ${file} (${reason})`, { cause: err });
}

/** The --as-test options, checked before the collector is asked anything. */
function checkAsTest(options: ExportOptions, formatGiven: boolean): Runner | undefined {
  if (options.asTest === undefined) {
    for (const [flag, value] of [['--app', options.app], ['--app-export', options.appExport], ['--name', options.name], ['--force', options.force]] as const) {
      if (value !== undefined) throw usage(`${flag} is for --as-test only: loopctl export --id N --as-test node|vitest|jest --out DIR ${flag}`);
    }
    return undefined;
  }
  if (!(RUNNERS as readonly string[]).includes(options.asTest)) throw usage(`bad --as-test '${options.asTest}': use node, vitest or jest`);
  if (formatGiven) throw usage('--as-test and --format cannot be used together: --as-test writes the capture as JSON next to the test');
  if (options.out === undefined) throw usage('--as-test needs --out DIR: the directory to write the test and its capture to');
  if (options.name !== undefined && !NAME_PATTERN.test(options.name)) {
    throw usage(`bad --name '${options.name}': use letters, digits, '.', '_' and '-' (the files are NAME.capture.json and NAME.test.*)`);
  }
  if (options.appExport !== undefined && options.appExport !== 'default' && !EXPORT_PATTERN.test(options.appExport)) {
    throw usage(`bad --app-export '${options.appExport}': give the name the app module exports the app under, or default`);
  }
  if (options.appExport !== undefined && options.app === undefined) throw usage('--app-export needs --app MODULE: the module that exports the app');
  if (options.app !== undefined && options.app.trim() === '') throw usage('--app needs a module: a path relative to --out DIR, like ../src/app.js');
  return options.asTest as Runner;
}

/**
 * `--as-test`: the capture (redacted as stored) and a regression test next to it. Existing files are
 * kept unless `--force`: a test someone edited is not overwritten by accident.
 */
async function writeAsTest(record: CaptureRecord, runner: Runner, options: ExportOptions): Promise<string> {
  const dir = options.out!;
  const rendered = renderTest(record, {
    runner,
    name: options.name ?? defaultTestName(record),
    appModule: options.app === undefined ? undefined : appSpecifier(options.app, dir),
    appExport: options.appExport ?? 'app',
  });
  try {
    if (!(await stat(dir)).isDirectory()) throw usage(`cannot write to ${dir}: it is a file, not a directory`);
  } catch (err) {
    if (err instanceof LoopError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(dir, err);
    try {
      await mkdir(dir, { recursive: true });
    } catch (mkdirErr) {
      throw writeError(dir, mkdirErr);
    }
  }
  const files: Array<[string, string]> = [
    [path.join(dir, rendered.fixture), captureJson(record)],
    [path.join(dir, rendered.test), rendered.code],
  ];
  if (!options.force) {
    // Both checked before either is written: never half an export.
    for (const [file] of files) {
      const exists = await stat(file).then(
        () => true,
        () => false,
      );
      if (exists) throw usage(`${file} exists: pass --force to overwrite it, or --name NAME to write other files`);
    }
  }
  for (const [file, text] of files) {
    try {
      await writeFile(file, text);
    } catch (err) {
      throw writeError(file, err);
    }
  }
  return `${files.map(([file]) => `wrote ${file}`).join('\n')}\nrun it: ${runHint(runner, files[1]![0])}\n`;
}

/**
 * `loopctl export --id N --format json|har|curl`: one capture as its JSON record, a HAR 1.2 log, or a
 * curl command line. `--as-test node|vitest|jest --out DIR` writes the capture and a regression test
 * that replays it against the app. Values are exported as stored: redacted ones stay `[REDACTED]`, and
 * nothing else (no token, no secrets file) is ever written.
 */
export function exportCommand(ctx: CliContext): Command {
  return new Command('export')
    .description('print one capture as JSON, a HAR 1.2 log or a curl command line, or write it as a regression test')
    .requiredOption('--id <id>', 'display id (from loopctl list) or capture id')
    .option('--format <format>', 'json, har or curl', 'json')
    .option('--out <path>', 'write to this file instead of standard output (with --as-test: the directory, created if missing)')
    .option('--as-test <runner>', 'write DIR/NAME.capture.json and a regression test for node (node:test), vitest or jest')
    .option('--app <module>', 'with --as-test: the module the test imports the app from, relative to DIR (../src/app.js)')
    .option('--app-export <name>', 'with --as-test: the export holding the app (default: app; default for a default export)')
    .option('--name <name>', 'with --as-test: the file names, NAME.capture.json and NAME.test.* (default: capture-ID-METHOD-PATH)')
    .option('--force', 'with --as-test: overwrite the files if they exist')
    .action(async (options: ExportOptions, command: Command) => {
      const runner = checkAsTest(options, command.getOptionValueSource('format') === 'cli');
      if (runner === undefined && !(FORMATS as readonly string[]).includes(options.format)) {
        throw new LoopError(codes.USAGE, `bad format '${options.format}': use json, har or curl`);
      }
      const format = options.format as Format;
      const { collector, token } = ctx.globals();
      const record = await new CollectorClient(collector, token).get(options.id);
      if (runner !== undefined) {
        process.stdout.write(await writeAsTest(record, runner, options));
        ctx.setExitCode(0);
        return;
      }
      const text =
        format === 'json'
          ? captureJson(record)
          : format === 'har'
            ? `${JSON.stringify(captureToHar(record, httploopVersion()), null, 2)}\n`
            : `${captureToCurl(record)}\n`;
      if (options.out !== undefined) {
        try {
          await writeFile(options.out, text);
        } catch (err) {
          throw writeError(options.out, err);
        }
      } else {
        process.stdout.write(text);
      }
      ctx.setExitCode(0);
    });
}
