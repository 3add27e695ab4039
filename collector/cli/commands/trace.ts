import { Command } from 'commander';
import { LoopError, codes } from '../../../src/errors.js';
import { parseTraceparent } from '../../../src/trace/traceparent.js';
import { isTraceId } from '../../trace-api.js';
import { CollectorClient } from '../client.js';
import { formatTrace } from '../format-trace.js';
import type { CliContext } from '../global-options.js';
import { NothingMatchedError } from '../handle-error.js';
import { buildTraceTree } from '../trace-tree.js';

type Target = { traceId: string } | { capture: string };

/**
 * What the user named: a trace id (any case; a whole traceparent header value too, as copied from a
 * log), else a capture by display id or capture id.
 */
export function parseTraceTarget(text: string): Target {
  const value = text.trim();
  if (/^[0-9a-f]{32}$/i.test(value)) {
    const traceId = value.toLowerCase();
    if (!isTraceId(traceId)) throw new LoopError(codes.USAGE, `bad trace id '${text}': an all-zero trace id is invalid (W3C Trace Context)`);
    return { traceId };
  }
  const traceparent = parseTraceparent(value.toLowerCase());
  if (traceparent) return { traceId: traceparent.traceId };
  // The characters of a nanoid (and of a display id).
  if (/^[A-Za-z0-9_-]{1,256}$/.test(value)) return { capture: value };
  throw new LoopError(
    codes.USAGE,
    `bad id '${text}': give a trace id (32 hex digits), a display id from loopctl list, or a capture id`,
  );
}

/** Turns the collector's 404 into "nothing matched" (exit 1); a missing hex digit gets a hint. */
async function orNothingMatched<T>(lookup: Promise<T>, asked: string): Promise<T> {
  try {
    return await lookup;
  } catch (err) {
    if (!(err instanceof LoopError) || err.code !== codes.NOT_FOUND) throw err;
    const hint =
      /^[0-9a-f]{16,}$/i.test(asked) && asked.length !== 32
        ? `; a trace id has 32 hex digits, and this has ${asked.length}`
        : '';
    throw new NothingMatchedError(`${err.message}${hint}`);
  }
}

async function traceIdOf(client: CollectorClient, id: string): Promise<string> {
  const record = await orNothingMatched(client.get(id), id);
  const traceId = record.trace?.traceId;
  if (traceId === undefined || traceId === '') {
    throw new NothingMatchedError(`capture ${record.seq} has no trace id; loopctl show --id ${record.seq} prints it`);
  }
  if (!isTraceId(traceId)) {
    throw new NothingMatchedError(
      `capture ${record.seq} has trace id '${traceId}', which is not a W3C trace id, so no other capture links to it; ` +
        `loopctl show --id ${record.seq} prints it`,
    );
  }
  return traceId;
}

/**
 * `loopctl trace ID`: the captures of one trace across services, as a tree of hops and the outgoing
 * calls that led from one to the next. Exit 0 when found, 1 when nothing matched.
 */
export function traceCommand(ctx: CliContext): Command {
  return new Command('trace')
    .description('print the captures of one trace across services as a tree (exit 1 when nothing matched)')
    .argument('<id>', 'a trace id (32 hex digits, or a traceparent value), or a capture: display id (from loopctl list) or capture id')
    .option('--json', 'print { traceId, total, truncated, services, roots } with the hops nested as JSON')
    // A capture's nanoid may start with '-': taken as the id, not as an unknown option.
    .allowUnknownOption()
    .addHelpText(
      'after',
      [
        '',
        'Each hop is a capture: service, request, status, duration, route, display id. Under it come the',
        'outgoing calls its handler made, and under a call the capture it led to downstream, if any.',
        '',
        'Examples:',
        '  loopctl trace 4bf92f3577b34da6a3ce929d0e0e4736   a trace id, as in traceparent',
        '  loopctl trace 2                                  the trace of capture 2 (from loopctl list)',
      ].join('\n'),
    )
    .action(async (id: string, options: { json?: boolean }) => {
      const target = parseTraceTarget(id);
      const { collector, token } = ctx.globals();
      const client = new CollectorClient(collector, token);
      const traceId = 'traceId' in target ? target.traceId : await traceIdOf(client, target.capture);
      const answer = await orNothingMatched(client.trace(traceId), traceId);
      const tree = buildTraceTree(answer.traceId, answer.total, answer.captures);
      process.stdout.write(options.json ? `${JSON.stringify(tree, null, 2)}\n` : formatTrace(tree));
      ctx.setExitCode(0);
    });
}
