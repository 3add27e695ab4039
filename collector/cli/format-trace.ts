import { ms } from './format-capture.js';
import type { TraceCall, TraceError, TraceHop, TraceTree } from './trace-tree.js';

const MAX_MESSAGE = 120;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** An error message on one line, cut when long: a tree line must stay one line. */
function oneLine(error: TraceError): string {
  const first = error.message.split('\n')[0]!;
  const message = first.length > MAX_MESSAGE ? `${first.slice(0, MAX_MESSAGE - 1)}…` : first;
  return `${error.name}: ${message}`;
}

/** `web  GET /  → 500  312.4 ms  route /  capture 2` */
function hopLine(hop: TraceHop): string {
  const parts = [hop.service, `${hop.method} ${hop.url}`, `→ ${hop.status}${hop.aborted ? ' (aborted)' : ''}`, ms(hop.durationMs)];
  if (hop.route !== undefined) parts.push(`route ${hop.route}`);
  parts.push(`capture ${hop.seq}`);
  if (hop.replayOf !== undefined) parts.push(`replay of ${hop.replayOf}`);
  if (hop.error) parts.push(`error ${oneLine(hop.error)}`);
  return parts.join('  ');
}

/** `GET http://127.0.0.1:9091/charge → 502  300.1 ms`, `… → error ECONNREFUSED` */
function callLine(call: TraceCall): string {
  const result = call.error
    ? `error ${call.error.code ?? oneLine(call.error)}`
    : call.status !== undefined
      ? String(call.status)
      : 'no response';
  return `${call.method} ${call.url} → ${result}${call.durationMs !== undefined ? `  ${ms(call.durationMs)}` : ''}`;
}

function branches<T>(items: T[], prefix: string, line: (item: T) => string, below: (item: T, prefix: string) => void, out: string[]): void {
  items.forEach((item, i) => {
    const last = i === items.length - 1;
    out.push(`${prefix}${last ? '└─ ' : '├─ '}${line(item)}`);
    below(item, `${prefix}${last ? '   ' : '│  '}`);
  });
}

/**
 * `loopctl trace`: a header, then each root hop and, `tree`-style, its outgoing calls, each with the
 * hops it led to downstream. Roots are separated by a blank line.
 */
export function formatTrace(tree: TraceTree): string {
  const count = (hop: TraceHop): number =>
    1 + hop.calls.reduce((n, call) => n + call.downstream.reduce((m, child) => m + count(child), 0), 0);
  const shown = tree.roots.reduce((n, root) => n + count(root), 0);
  const out = [`trace ${tree.traceId}  (${plural(shown, 'capture')}, ${plural(tree.services.length, 'service')})`];
  if (tree.truncated) {
    out.push(`showing the earliest ${shown} of ${tree.total} captures: the collector answers at most ${shown} per trace`);
  }
  const hopBelow = (hop: TraceHop, prefix: string): void => branches(hop.calls, prefix, callLine, callBelow, out);
  const callBelow = (call: TraceCall, prefix: string): void => branches(call.downstream, prefix, hopLine, hopBelow, out);
  tree.roots.forEach((root, i) => {
    if (i > 0) out.push('');
    out.push(hopLine(root));
    hopBelow(root, '');
  });
  return `${out.join('\n')}\n`;
}
