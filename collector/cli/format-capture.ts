import type { CapturedBody, CaptureRecord, HeaderList } from '../../src/capture/record.js';
import { asJson, asText, asTruncatedText, decodeBody } from '../../src/replay/body.js';

const HEX_PREVIEW_BYTES = 32;

function header(headers: HeaderList, name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/**
 * A body for people: JSON pretty-printed, text as is, binary or compressed bytes as a size and a hex
 * preview; a note when the capture kept only the start.
 */
export function formatBody(body: CapturedBody | null | undefined, headers: HeaderList = []): string[] {
  if (!body) return ['(no body)'];
  if (body.size === 0 && body.data === '') return ['(empty body)'];
  const bytes = decodeBody(body);
  const lines: string[] = [];
  const text = body.contentEncoding ? undefined : body.truncated ? asTruncatedText(bytes) : asText(bytes);
  if (text === undefined) {
    const kind = body.contentEncoding ? `${body.contentEncoding}-encoded` : 'binary';
    const hex = [...bytes.subarray(0, HEX_PREVIEW_BYTES)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`<${body.size} bytes ${kind}>`);
    if (hex) lines.push(`hex: ${hex}${bytes.length > HEX_PREVIEW_BYTES ? ' …' : ''}`);
  } else {
    const json = body.truncated ? undefined : asJson(bytes);
    const looksJson = /json/i.test(header(headers, 'content-type') ?? '') || /^\s*[[{]/.test(text);
    const shown = json && looksJson ? JSON.stringify(json.value, null, 2) : text.replace(/\n$/, '');
    lines.push(...shown.split('\n'));
  }
  if (body.truncated) lines.push(`(first ${bytes.length} of ${body.size} bytes)`);
  return lines;
}

function field(label: string, value: string): string {
  return `${`${label}:`.padEnd(13)}${value}`;
}

/** A duration in ms for people, to a tenth: `312.4 ms`, `3000 ms`. */
export function ms(value: number): string {
  return `${Math.round(value * 10) / 10} ms`;
}

/** `loopctl show`: the whole capture, readable top to bottom, curl -v style for the exchange. */
export function formatCapture(record: CaptureRecord): string {
  const out: string[] = [];
  out.push(`capture ${record.seq ?? '?'} (${record.id})`);
  out.push(field('time', record.startedAt));
  out.push(field('service', `${record.service} (instance ${record.instance})`));
  out.push(field('duration', ms(record.durationMs)));
  if (record.trace) {
    const parent = record.trace.parentSpanId ? `, parent ${record.trace.parentSpanId}` : '';
    out.push(field('trace', `${record.trace.traceId} (span ${record.trace.spanId}${parent})`));
  }
  out.push(field('route', record.route ?? '(none)'));
  out.push(field('destination', record.destination || '(unknown)'));
  if (record.rules?.length) out.push(field('rules', record.rules.join(', ')));
  if (record.replayOf) out.push(field('replay of', record.replayOf));
  if (record.response.aborted) out.push(field('aborted', 'yes (the exchange did not complete)'));
  if (record.request.remoteAddress) out.push(field('client', record.request.remoteAddress));

  const { request, response } = record;
  out.push('', `> ${request.method} ${request.url} HTTP/${request.httpVersion ?? '1.1'}`);
  for (const [name, value] of request.headers) out.push(`> ${name}: ${value}`);
  out.push('>', ...formatBody(request.body, request.headers));

  const reason = response.statusMessage ? ` ${response.statusMessage}` : '';
  out.push('', `< HTTP/${request.httpVersion ?? '1.1'} ${response.status}${reason}`);
  for (const [name, value] of response.headers) out.push(`< ${name}: ${value}`);
  out.push('<', ...formatBody(response.body, response.headers));

  if (record.error) {
    const { name, message, stack, code } = record.error;
    const title = `${name}: ${message}`;
    out.push('', `error: ${title}${code ? ` (code ${code})` : ''}`);
    if (stack) {
      const lines = stack.split('\n');
      out.push(...(lines[0] === title ? lines.slice(1) : lines));
    }
  }

  if (record.outbound?.length) {
    out.push('', 'outbound calls:');
    for (const call of record.outbound) {
      const result = call.error
        ? `error ${call.error.name}: ${call.error.message}`
        : `${call.status ?? '?'}${call.durationMs !== undefined ? ` in ${ms(call.durationMs)}` : ''}`;
      out.push(`  ${call.method} ${call.url} → ${result}`);
    }
  }
  if (record.redacted?.length) out.push('', `redacted: ${record.redacted.join(', ')}`);
  return `${out.join('\n')}\n`;
}
