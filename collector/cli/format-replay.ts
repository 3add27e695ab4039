import type { CaptureRecord, HeaderList } from '../../src/capture/record.js';
import { asText } from '../../src/replay/body.js';
import type { ResponseDiff } from '../../src/replay/diff.js';
import type { Destination } from '../../src/replay/destination.js';
import type { ReplayResponse } from '../../src/replay/send.js';

function contentEncoding(headers: HeaderList): string | undefined {
  const value = headers.find(([n]) => n.toLowerCase() === 'content-encoding')?.[1];
  return value && value.toLowerCase() !== 'identity' ? value : undefined;
}

/** The text block `loopctl replay` prints for one capture: what was sent, the verdict, the body. */
export function formatReplay(
  record: CaptureRecord,
  destination: Destination,
  response: ReplayResponse,
  diff: ResponseDiff,
): string {
  const out: string[] = [];
  const reason = response.statusMessage ? ` ${response.statusMessage}` : '';
  out.push(
    `replayed capture ${record.seq ?? record.id} (${record.request.method} ${record.request.url}) to ${destination.display}: ` +
      `${response.status}${reason} in ${Math.round(response.durationMs)} ms`,
  );
  if (diff.same) {
    out.push('same as captured');
  } else {
    out.push('differs from captured:');
    if (diff.status) out.push(`  status: ${diff.status.captured} → ${diff.status.replayed}`);
    for (const detail of diff.body?.details ?? []) out.push(`  body: ${detail}`);
  }
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
