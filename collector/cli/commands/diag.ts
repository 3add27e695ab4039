import http from 'node:http';
import { Command, Option } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { SAFE_METHODS, diagRequestHeaders, sendDiagTrace } from '../../../src/trace/diag-send.js';
import { DIAG_HEADERS, formatTrailText, hasTrail, parseJsonTrail, parseMaxForwards } from '../../../src/trace/diag-trail.js';
import type { CliContext } from '../global-options.js';

interface DiagOptions {
  token?: string;
  method?: string;
  header?: string[];
  json?: boolean;
  maxForwards?: string;
}

/** Headers diag sets itself, each from its own flag; a TRACE carries no body, so no framing headers. */
const OWN_HEADERS: Record<string, string> = {
  [DIAG_HEADERS.addContext]: 'it is always sent',
  [DIAG_HEADERS.l5dAddContext]: `loopctl diag sends ${DIAG_HEADERS.addContext}`,
  [DIAG_HEADERS.token]: 'use --token or LOOP_DIAG_TOKEN',
  [DIAG_HEADERS.method]: 'use --method',
  'max-forwards': 'use --max-forwards',
  'content-length': 'a TRACE request has no body',
  'transfer-encoding': 'a TRACE request has no body',
};

/** User input as echoed in a message: control characters escaped, so the message stays one line. */
function shown(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

function usage(message: string): LoopError {
  return new LoopError(codes.USAGE, message);
}

function parseTarget(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw usage(`bad URL '${shown(text)}': use an http(s) URL like http://127.0.0.1:9090/users/42`);
  }
  return url;
}

function parseHeader(text: string, json: boolean): [string, string] {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  const value = colon > 0 ? text.slice(colon + 1).trim() : '';
  try {
    http.validateHeaderName(name);
    http.validateHeaderValue(name, value);
  } catch {
    throw usage(`bad --header '${shown(text)}': use 'Name: value', on one line`);
  }
  const lower = name.toLowerCase();
  const why = OWN_HEADERS[lower] ?? (json && lower === 'accept' ? '--json sets it' : undefined);
  if (why) throw usage(`--header '${name}' is not allowed: ${why}`);
  return [name, value];
}

/** The URL as named in messages: no user info (it may hold a password), no fragment (never sent). */
function display(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search}`;
}

/**
 * `loopctl diag URL`: sends a diagnostic TRACE and prints the trail every hop added to the answer
 * (Linkerd's `curl -X TRACE -H 'l5d-add-context: true'`). Exit 0 with a trail, 1 when the answer holds
 * none (diagnostics off there, or the token refused), 2 when nothing could be asked.
 */
export function diagCommand(ctx: CliContext): Command {
  return new Command('diag')
    .description('send a diagnostic TRACE through a service and print the trail each hop adds (exit 0 trail, 1 none)')
    .argument('<url>', 'http(s) URL of the service, with the path and query to diagnose')
    .addOption(
      new Option('--token <token>', 'the diagnostic token the services were configured with').env('LOOP_DIAG_TOKEN'),
    )
    .option('--method <method>', 'the method the handlers see instead of TRACE: GET, HEAD or OPTIONS')
    .option("--header <'Name: value'>", 'an extra request header (repeat for several)', (h: string, all?: string[]) => [
      ...(all ?? []),
      h,
    ])
    .option('--max-forwards <n>', 'at most this many hops forward the request (Max-Forwards)')
    .option('--json', 'ask for the JSON trail; print { status, statusMessage, trail }')
    .action(async (target: string, options: DiagOptions, command: Command) => {
      // Everything is checked before the request leaves.
      const url = parseTarget(target);
      const where = display(url);
      let method: string | undefined;
      if (options.method !== undefined) {
        method = options.method.toUpperCase();
        if (!SAFE_METHODS.includes(method)) {
          throw usage(`bad --method '${shown(options.method)}': the handlers really run, so only safe methods: ${SAFE_METHODS.join(', ')}`);
        }
      }
      const extra = (options.header ?? []).map((h) => parseHeader(h, options.json === true));
      let maxForwards: number | undefined;
      if (options.maxForwards !== undefined) {
        const parsed = parseMaxForwards(options.maxForwards);
        if (!parsed.ok || parsed.value === undefined) {
          throw usage(`bad --max-forwards '${shown(options.maxForwards)}': use a whole number, 0 or more`);
        }
        maxForwards = parsed.value;
      }
      // loopctl's global --token (the collector's) is parsed wherever it stands, so a `--token` after
      // `diag` lands there; given on the command line it is meant for diag. LOOP_TOKEN never is.
      const parent = command.parent;
      const token = (parent?.getOptionValueSource('token') === 'cli' ? parent.opts<{ token?: string }>().token : undefined) ?? options.token;
      if (!token) throw usage('no diagnostic token: pass --token or set LOOP_DIAG_TOKEN (the token the services were configured with)');
      try {
        http.validateHeaderValue(DIAG_HEADERS.token, token);
      } catch {
        // Not echoed: it is a secret.
        throw usage('the diagnostic token holds characters a header cannot carry (line breaks, controls)');
      }

      const headers = diagRequestHeaders(url, token, extra, { method, maxForwards, json: options.json === true });

      const answer = await sendDiagTrace(url, headers, where);
      const status = `${answer.status} ${answer.statusMessage}`.trimEnd();
      const text = answer.body.toString('utf8');
      const noTrail = (why: string): void => {
        process.stderr.write(`loopctl: ${where} answered ${status} ${why}\n`);
        ctx.setExitCode(1);
      };
      const off = 'with no diagnostic trail: diagnostics are off there (no token configured) or the token was not accepted';

      if (options.json) {
        const trail = parseJsonTrail(text);
        if (!trail) return noTrail(hasTrail(text) ? 'with a text trail, not JSON; run again without --json' : off);
        const out = { status: answer.status, statusMessage: answer.statusMessage, trail };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return ctx.setExitCode(0);
      }
      if (!hasTrail(text)) return noTrail(off);
      // A hop that answered JSON anyway is shown like the text form.
      const trail = parseJsonTrail(text);
      const body = trail ? Buffer.from(formatTrailText(trail), 'utf8') : answer.body;
      process.stdout.write(`HTTP/${answer.httpVersion} ${status}\n`);
      process.stdout.write(body);
      if (body.length && body[body.length - 1] !== 0x0a) process.stdout.write('\n');
      ctx.setExitCode(0);
    });
}
