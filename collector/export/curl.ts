/**
 * A captured request as one `curl` command line (bash): `loopctl export --format curl` and the console's
 * "copy as curl". Pure.
 */
import type { CaptureRecord } from '../../src/capture/record.js';
import { decodeBody } from '../../src/replay/body.js';
import { absoluteUrl } from './har.js';
import { HOP_BY_HOP } from '../../src/replay/send.js';

/** Connection-level headers (RFC 9110 section 7.6.1), plus Host, which curl computes from the URL. */
const LEFT_OUT: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'host']);

/** Methods sent without a body unless the capture had one. */
const BODYLESS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Single-quoted for any POSIX shell: nothing inside is interpreted. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Bash ANSI-C quoting (`$'…'`) of UTF-8 text without NUL: control bytes escaped, the rest literal. */
function ansiC(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `$'${out}'`;
}

/** A printf format (single-quoted) that writes exactly these bytes: octal escapes for all but plain ASCII. */
function printfFormat(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    if (byte >= 0x20 && byte < 0x7f && ch !== "'" && ch !== '\\' && ch !== '%') out += ch;
    else out += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return `'${out}'`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function textOf(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * One command line reproducing the captured request: same method, target (path and raw query, to the
 * capture's destination), headers in order (minus hop-by-hop ones, Host and Content-Length, which curl
 * writes), body bytes. Headers curl would add on its own (User-Agent, Accept, Content-Type for a body)
 * are turned off when the capture did not have them. Redacted values stay `[REDACTED]`.
 */
export function captureToCurl(record: CaptureRecord): string {
  const { request } = record;
  const method = request.method.toUpperCase();
  const nominated = new Set<string>();
  let framed = false;
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    if (lower === 'connection') for (const token of value.split(',')) nominated.add(token.trim().toLowerCase());
    if (lower === 'content-length' || lower === 'transfer-encoding') framed = true;
  }
  const body = decodeBody(request.body);
  const sendBody = body.length > 0 || (framed && !BODYLESS.has(method));

  const args: string[] = ['curl', '--http1.1', '--globoff', '--path-as-is', '--silent', '--show-error'];
  args.push(method === 'HEAD' ? '--head' : `-X ${/^[A-Z0-9_-]+$/.test(method) ? method : shellQuote(method)}`);
  const present = new Set<string>();
  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    if (LEFT_OUT.has(lower) || nominated.has(lower)) continue;
    present.add(lower);
    // `Name;` is curl's way to send a header with an empty value (`Name:` would remove it).
    args.push(`-H ${shellQuote(value === '' ? `${name};` : `${name}: ${value}`)}`);
  }
  const off = ['User-Agent', 'Accept'];
  if (sendBody) off.push('Content-Type', 'Expect');
  for (const name of off) if (!present.has(name.toLowerCase())) args.push(`-H ${shellQuote(`${name}:`)}`);

  let prefix = '';
  if (sendBody) {
    const text = textOf(body);
    // --data-binary reads a file for a value starting with '@': such bodies go through standard input.
    if (text !== undefined && !text.startsWith('@')) {
      args.push(`--data-binary ${ansiC(text)}`);
    } else {
      prefix = `printf ${printfFormat(body)} | `;
      args.push('--data-binary @-');
    }
  }
  args.push(shellQuote(absoluteUrl(record)));
  return `${prefix}${args.join(' ')}`;
}
