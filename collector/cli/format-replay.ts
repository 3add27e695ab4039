import type { CaptureRecord, HeaderList } from '../../src/capture/record.js';
import { asText } from '../../src/replay/body.js';
import type { ResponseDiff } from '../../src/replay/diff.js';
import type { Destination } from '../../src/replay/destination.js';
import type { Noise } from '../../src/replay/noise.js';
import type { ReplayResponse } from '../../src/replay/send.js';
import { renderTable, type Column } from './table.js';

const paint = (code: string) => (text: string, on: boolean) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
const red = paint('31');
const green = paint('32');
const yellow = paint('33');

function contentEncoding(headers: HeaderList): string | undefined {
  const value = headers.find(([n]) => n.toLowerCase() === 'content-encoding')?.[1];
  return value && value.toLowerCase() !== 'identity' ? value : undefined;
}

function show(value: string | undefined): string {
  return value === undefined ? '(missing)' : JSON.stringify(value);
}

/** The indented lines naming each difference: status, headers, body. */
export function diffLines(diff: ResponseDiff, color = false): string[] {
  const out: string[] = [];
  if (diff.status) out.push(`  status: ${red(String(diff.status.captured), color)} → ${green(String(diff.status.replayed), color)}`);
  for (const h of diff.headers ?? []) out.push(`  header ${h.name}: ${red(show(h.captured), color)} → ${green(show(h.replayed), color)}`);
  for (const detail of diff.body?.details ?? []) out.push(`  body: ${detail}`);
  return out;
}

function noiseLine(noise: Noise): string | undefined {
  const parts = [
    ...noise.headers.map((h) => `header ${h}`),
    ...noise.paths,
    ...noise.lines.map((n) => `line ${n}`),
    ...(noise.body ? ['body'] : []),
  ];
  return parts.length ? `ignored as noise: ${parts.join(', ')}` : undefined;
}

/** The text block `loopctl replay` prints for one capture: what was sent, the verdict, the body. */
export function formatReplay(
  record: CaptureRecord,
  destination: Destination,
  response: ReplayResponse,
  diff: ResponseDiff,
  options: { color?: boolean; noise?: Noise } = {},
): string {
  const color = options.color ?? false;
  const out: string[] = [];
  const reason = response.statusMessage ? ` ${response.statusMessage}` : '';
  out.push(
    `replayed capture ${record.seq ?? record.id} (${record.request.method} ${record.request.url}) to ${destination.display}: ` +
      `${response.status}${reason} in ${Math.round(response.durationMs)} ms`,
  );
  if (diff.same) {
    out.push(green('same as captured', color));
  } else {
    out.push(red('differs from captured:', color));
    out.push(...diffLines(diff, color));
  }
  const noise = options.noise && noiseLine(options.noise);
  if (noise) out.push(noise);
  if (response.body.length > 0) {
    const encoding = contentEncoding(response.headers);
    const text = encoding ? undefined : asText(response.body);
    out.push('');
    if (text !== undefined) out.push(text.replace(/\n$/, ''));
    else out.push(`<${response.body.length} bytes ${encoding ? `${encoding}-encoded` : 'binary'}>`);
    if (response.truncated) out.push(`(first ${response.body.length} bytes of a longer body)`);
  }
  return `${out.join('\n')}\n`;
}

/** One capture of a bulk replay, as its line needs it. */
export interface BulkResult {
  seq: number | string;
  method: string;
  url: string;
  captured: number;
  replayed?: number;
  durationMs?: number;
  diff?: ResponseDiff;
  error?: string;
}

/** `capture 3 GET /pay: 500 → 200 differs (4 ms)` and the differences under it. */
export function formatBulkLine(r: BulkResult, color = false): string {
  const head = `capture ${r.seq} ${r.method} ${r.url}:`;
  if (r.error !== undefined || !r.diff) return `${head} ${yellow('error', color)}: ${r.error ?? 'no answer'}\n`;
  const verdict = r.diff.same ? green('same', color) : red('differs', color);
  const lines = [`${head} ${r.captured} → ${r.replayed} ${verdict} (${Math.round(r.durationMs ?? 0)} ms)`];
  if (!r.diff.same) lines.push(...diffLines(r.diff, color));
  return `${lines.join('\n')}\n`;
}

/** The one-line progress indicator of a bulk replay on a terminal (no newline: redrawn in place). */
export function progressLine(finished: number, total: number, counts: { same: number; differs: number; errors: number }): string {
  return `[${finished}/${total}] ${counts.same} same, ${counts.differs} differ, ${counts.errors} errors`;
}

export interface ReplaySummary {
  replayed: number;
  same: number;
  differs: number;
  errors: number;
  /** Captured with a 5xx, now answered 2xx/3xx. */
  fixed: number;
  /** Captured with a 5xx, now answered 4xx/5xx. */
  stillFailing: number;
}

const SUMMARY_COLUMNS: Column[] = ['REPLAYED', 'SAME', 'DIFFERS', 'ERRORS', 'FIXED', 'STILL FAILING'].map((header) => ({
  header,
  align: 'right',
}));

export function formatSummary(s: ReplaySummary): string {
  return renderTable(SUMMARY_COLUMNS, [[s.replayed, s.same, s.differs, s.errors, s.fixed, s.stillFailing].map(String)]);
}
