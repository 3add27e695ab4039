/**
 * Sending a diagnostic TRACE and reading the whole answer: `loopctl diag` and the collector's
 * `POST /v1/diag` (the console's diagnostics view) both send it this way.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupAllOptions, LookupOneOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { LoopError, codes, networkReason } from '../errors.js';
import { DIAG_HEADERS } from './diag-trail.js';

/** Methods the handlers may run as (RFC 9110 section 9.2.1, safe methods): a diagnostic changes nothing. */
export const SAFE_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS'];

/**
 * The headers of a diagnostic TRACE, in order: Host (unless `extra` has one), the extra ones, then
 * the diagnostic headers. The caller has checked the values (safe method, header syntax).
 */
export function diagRequestHeaders(
  url: URL,
  token: string,
  extra: ReadonlyArray<[string, string]>,
  options: { method?: string | undefined; maxForwards?: number | undefined; json?: boolean } = {},
): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  if (!extra.some(([name]) => name.toLowerCase() === 'host')) headers.push(['Host', url.host]);
  headers.push(...extra, [DIAG_HEADERS.addContext, 'true'], [DIAG_HEADERS.token, token]);
  if (options.method) headers.push([DIAG_HEADERS.method, options.method]);
  if (options.maxForwards !== undefined) headers.push(['Max-Forwards', String(options.maxForwards)]);
  if (options.json) headers.push(['Accept', 'application/json']);
  return headers;
}

const TIMEOUT_MS = 30_000;
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export interface DiagAnswer {
  httpVersion: string;
  status: number;
  statusMessage: string;
  body: Buffer;
}

/** A `lookup` for net.connect that answers one given address, whether asked for one or for all. */
function fixedLookup(to: { address: string; family: 4 | 6 }): LookupFunction {
  return ((_hostname: string, options: LookupOneOptions | LookupAllOptions, callback: (...args: unknown[]) => void) => {
    if ((options as LookupAllOptions).all) callback(null, [{ address: to.address, family: to.family }]);
    else callback(null, to.address, to.family);
  }) as unknown as LookupFunction;
}

/**
 * Sends one diagnostic TRACE: no keep-alive, no redirects followed, the answer bounded and timed out.
 * `connectTo` pins the address to connect to: a caller that checked where the name points (the
 * collector, against its allowlist) connects there and nowhere else.
 */
export function sendDiagTrace(
  url: URL,
  headers: Array<[string, string]>,
  where: string,
  connectTo?: { address: string; family: 4 | 6 },
): Promise<DiagAnswer> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<DiagAnswer>((resolve, reject) => {
    let settled = false;
    const fail = (message: string, cause?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new LoopError(codes.DESTINATION_UNREACHABLE, message, { cause }));
    };
    const req = transport.request({
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      method: 'TRACE',
      path: `${url.pathname}${url.search}`,
      // A flat raw array is written as given: order and spelling kept, and no header added by Node.
      headers: headers.flat(),
      setHost: false,
      agent: false,
      ...(connectTo && { lookup: fixedLookup(connectTo) }),
    });
    const timer = setTimeout(() => fail(`${where} sent no complete answer within ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
    req.on('error', (err: NodeJS.ErrnoException) => fail(`cannot reach ${where} (${networkReason(err)})`, err));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) fail(`the answer from ${where} is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
        else chunks.push(chunk);
      });
      res.on('aborted', () => fail(`${where} closed the connection before the whole answer arrived`));
      res.on('error', (err: NodeJS.ErrnoException) => fail(`${where} closed the connection before the whole answer arrived (${networkReason(err)})`, err));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        resolve({
          httpVersion: res.httpVersion,
          status,
          statusMessage: res.statusMessage || http.STATUS_CODES[status] || '',
          body: Buffer.concat(chunks, size),
        });
      });
    });
    req.end();
  });
}
