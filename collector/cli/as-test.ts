import path from 'node:path';
import type { CaptureRecord } from '../../src/capture/record.js';

/** The runners `loopctl export --as-test` writes for, each with a file its zero-config run picks up. */
export const RUNNERS = ['node', 'vitest', 'jest'] as const;
export type Runner = (typeof RUNNERS)[number];

/**
 * node:test and vitest run ES modules as they are; jest runs CommonJS without flags (its ESM support
 * needs `--experimental-vm-modules`), so its test is a `.test.cjs` using `require`.
 */
const EXTENSIONS: Record<Runner, string> = { node: '.test.mjs', vitest: '.test.mjs', jest: '.test.cjs' };

/** How the written test is run, for the line loopctl prints. */
export function runHint(runner: Runner, file: string): string {
  return runner === 'node' ? `node --test ${file}` : runner === 'vitest' ? `npx vitest run ${file}` : `npx jest ${file}`;
}

export interface AsTestOptions {
  runner: Runner;
  /** File names without extensions: `<name>.capture.json` and `<name>.test.mjs`. */
  name: string;
  /** The module specifier of the app, as the test imports it; undefined: the user fills it in. */
  appModule?: string;
  /** The export of that module holding the app: an identifier, or `default`. */
  appExport: string;
}

export interface AsTestFiles {
  fixture: string;
  test: string;
  /** The test's source. */
  code: string;
}

/** The capture as `loopctl export --format json` writes it (values redacted at capture time stay so). */
export function captureJson(record: CaptureRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/**
 * `capture-7-post-orders`: the display id and the path, readable and safe as a file name. Without a
 * display id, the end of the capture id: its random part (the start encodes the time, alike for
 * captures made close together).
 */
export function defaultTestName(record: CaptureRecord): string {
  const id = record.seq !== undefined ? String(record.seq) : record.id.replace(/[^A-Za-z0-9]/g, '').slice(-8);
  const pathOnly = record.request.url.split('?')[0] ?? '';
  const slug = pathOnly
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `capture-${id}-${record.request.method.toLowerCase().replace(/[^a-z0-9]/g, '')}-${slug || 'root'}`;
}

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const EXPORT_PATTERN = /^[A-Za-z_$][\w$]*$/;

/**
 * What the test imports for `--app MODULE`, MODULE being relative to the test's directory: a path
 * starting with `./`, `../` or `/` is kept (an absolute one made relative, so the test can move with
 * its directory); a path with a file extension gets `./`; anything else is a package name.
 */
export function appSpecifier(module: string, dir: string): string {
  if (path.isAbsolute(module)) {
    const rel = path.relative(path.resolve(dir), module).split(path.sep).join('/');
    return rel.startsWith('../') ? rel : `./${rel}`;
  }
  if (module.startsWith('./') || module.startsWith('../')) return module;
  if (/\.[cm]?[jt]s$/.test(module)) return `./${module}`;
  return module;
}

/** Text for a `//` comment: one line whatever the capture holds. */
function commentText(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ');
}

function shortTarget(record: CaptureRecord): string {
  const url = record.request.url;
  return url.length > 80 ? `${url.slice(0, 77)}...` : url;
}

/** A single-quoted JavaScript string literal, as the rest of the generated code is written. */
function js(value: string): string {
  const inner = JSON.stringify(value).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
  return `'${inner}'`;
}

function appLines(options: AsTestOptions, cjs: boolean): string[] {
  const kind = '// The app under test: an Express, Connect or Koa app, or a (req, res) request listener.';
  if (options.appModule === undefined) {
    const example = cjs ? "const { app } = require('../src/app.js');" : "import { app } from '../src/app.js';";
    return [
      kind,
      '// Replace the next line with its import, for example',
      `//   ${example}`,
      '// (or export the test again with loopctl export --app MODULE [--app-export NAME]).',
      'const app = undefined;',
    ];
  }
  const spec = js(options.appModule);
  const name = options.appExport;
  if (cjs) return [kind, name === 'default' ? `const app = require(${spec});` : `const { ${name === 'app' ? 'app' : `${name}: app`} } = require(${spec});`];
  return [kind, name === 'default' ? `import app from ${spec};` : `import { ${name === 'app' ? 'app' : `${name} as app`} } from ${spec};`];
}

/** `text` as `//` comment lines of at most `width` characters, each starting with `indent`. */
function wrapComment(text: string, indent: string, width = 104): string[] {
  const lines: string[] = [];
  let line = `${indent}//`;
  for (const word of commentText(text).split(' ').filter(Boolean)) {
    if (line.length + 1 + word.length > width && line !== `${indent}//`) {
      lines.push(line);
      line = `${indent}//`;
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** Where the capture holds redaction placeholders the app may need: how to give it real values. */
function redactionLines(record: CaptureRecord): string[] {
  const inRequest = (record.redacted ?? []).filter((where) => where.startsWith('request.'));
  if (inRequest.length === 0) return [];
  const header = inRequest.find((where) => where.startsWith('request.headers.'))?.slice('request.headers.'.length);
  const lines = wrapComment(`Redacted at capture time, so replayed as "[REDACTED]": ${inRequest.join(', ')}.`, '  ');
  if (header === undefined) return lines;
  const env = `TEST_${header.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
  const key = EXPORT_PATTERN.test(header) ? header : js(header);
  return [
    ...lines,
    '  // If the app needs a real header value, give it from outside this file, for example',
    `  //   replay(capture, { app, stubOutbound: true, headers: { ${key}: process.env.${env} } })`,
  ];
}

/**
 * The assertion: a captured 5xx must not be a 5xx any more (the GoReplay/Keploy question "is it
 * fixed?"); any other capture must be answered as it was (volatile headers aside).
 */
function assertionLines(record: CaptureRecord, runner: Runner): string[] {
  const status = record.response.status;
  if (status >= 500) {
    const check =
      runner === 'node'
        ? "assert.ok(result.status < 500, `the replay still answers ${result.status}: ${result.text()}`);"
        : runner === 'vitest'
          ? 'expect(result.status, `the replay answered: ${result.text()}`).toBeLessThan(500);'
          : 'expect(result.status).toBeLessThan(500);';
    return [
      `  // The captured request got ${status}: once fixed, it must not fail with a server error any more.`,
      '  // To assert the right answer as well, add for example',
      runner === 'node' ? '  //   assert.equal(result.status, 200);' : '  //   expect(result.status).toBe(200);',
      runner === 'node' ? '  //   assert.deepEqual(result.json(), { ... });' : '  //   expect(result.json()).toEqual({ ... });',
      '  // or, against a capture of the right answer, expectReplayToMatch(result, capture, { ignore: [\'$.id\'] }).',
      `  ${check}`,
    ];
  }
  return [
    `  // The capture got ${status}: the replay must answer the same (status, headers other than volatile`,
    "  // ones, body). Leave out fields that change on every run with { ignore: ['$.createdAt'] }; if the",
    '  // captured answer is itself the bug, assert the right answer instead.',
    '  expectReplayToMatch(result, capture);',
  ];
}

/** The fixture's and the test's file names, and the test's source. */
export function renderTest(record: CaptureRecord, options: AsTestOptions): AsTestFiles {
  const { runner, name } = options;
  const fixture = `${name}.capture.json`;
  const test = `${name}${EXTENSIONS[runner]}`;
  const cjs = runner === 'jest';
  const status = record.response.status;
  const failing = status >= 500;
  const target = `${record.request.method} ${shortTarget(record)}`;
  const id = record.seq !== undefined ? String(record.seq) : record.id;
  const title = failing ? `capture ${id}: ${target} no longer answers ${status}` : `capture ${id}: ${target} answers as captured (${status})`;
  const helpers = failing ? ['loadCapture', 'replay'] : ['expectReplayToMatch', 'loadCapture', 'replay'];
  const command = `loopctl export --id ${id} --as-test ${runner}`;
  const what = `${record.response.status}${record.response.statusMessage ? ` ${record.response.statusMessage}` : ''}`;
  // No time or id in the code: exporting the same capture again writes the same test.
  const where = record.service ? `service ${record.service}` : '';

  const lines = [
    ...wrapComment(`Regression test for capture ${id}: ${target} answered ${what}${where ? ` (${where})` : ''}.`, ''),
    `// Written by \`${command}\`; run it with \`${runHint(runner, test)}\`.`,
    '//',
    '// The captured request is replayed in-process against the app (no port), and the outgoing calls the',
    `// app makes are answered from the capture's recording (stubOutbound), so it needs no other service.`,
    '// A call that was not recorded fails the test, naming what was.',
  ];
  if (runner === 'node') {
    lines.push("import assert from 'node:assert/strict';", "import { test } from 'node:test';");
    lines.push(`import { ${helpers.join(', ')} } from 'httploop/testing';`);
  } else if (runner === 'vitest') {
    lines.push(failing ? "import { expect, test } from 'vitest';" : "import { test } from 'vitest';");
    lines.push(`import { ${helpers.join(', ')} } from 'httploop/testing';`);
  } else {
    lines.push("const path = require('node:path');", `const { ${helpers.join(', ')} } = require('httploop/testing');`);
  }
  lines.push('', ...appLines(options, cjs), '');
  lines.push(cjs ? `const fixture = path.join(__dirname, ${js(fixture)});` : `const fixture = new URL(${js(`./${fixture}`)}, import.meta.url);`);
  lines.push('', `test(${js(title)}, async () => {`);
  if (options.appModule === undefined) {
    lines.push(`  if (app === undefined) throw new Error(${js(`no app to replay against: import it at the top of ${test}`)});`);
  } else if (cjs) {
    lines.push(`  if (app === undefined) throw new Error(${js(`${options.appModule} has no export '${options.appExport}' (loopctl export --app-export NAME names another)`)});`);
  }
  lines.push('  const capture = await loadCapture(fixture);');
  lines.push(...redactionLines(record));
  lines.push('  const result = await replay(capture, { app, stubOutbound: true });');
  lines.push(...assertionLines(record, runner));
  lines.push('});', '');
  return { fixture, test, code: lines.join('\n') };
}
