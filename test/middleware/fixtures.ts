import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { CaptureRecord } from '../../src/capture/record.js';

export async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Receives what the shipper sends, like the collector's ingest does, and keeps the records so a test
 * can look at them. `answer` decides the status of each batch (default 200).
 */
export async function captureReceiver(answer?: (batch: number) => { status: number; headers?: Record<string, string> } | 'hang') {
  const records: CaptureRecord[] = [];
  const batches: Array<{ at: number; count: number; status: number }> = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = http.createServer((req, res) => {
    // Only ingest: a loop()'s poll for rules gets what a collector without the rules API would say.
    if (req.method !== 'POST' || req.url !== '/v1/captures') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"LOOP_ERR_ROUTE_NOT_FOUND","message":"not here"}}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const verdict = answer?.(batches.length) ?? { status: 200 };
      const body = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as { captures: CaptureRecord[] };
      if (verdict === 'hang') {
        batches.push({ at: Date.now(), count: body.captures.length, status: 0 });
        return;
      }
      batches.push({ at: Date.now(), count: body.captures.length, status: verdict.status });
      if (verdict.status === 200) records.push(...body.captures);
      res.writeHead(verdict.status, { 'content-type': 'application/json', ...verdict.headers });
      res.end('{}');
      for (const w of [...waiters]) {
        if (records.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  const url = await listen(server);
  return {
    url,
    records,
    batches,
    server,
    /** Resolves once `n` records arrived (or rejects after `ms`). */
    waitFor(n: number, ms = 5000): Promise<void> {
      if (records.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${records.length} of ${n} captures arrived`)), ms);
        waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
      });
    },
    close: () => close(server),
  };
}

/** Headers that legitimately differ between two runs of the same response. */
export function stable(headers: Array<[string, string]>): Array<[string, string]> {
  return headers.filter(([k]) => !['date', 'keep-alive'].includes(k.toLowerCase()));
}

const TRACERESPONSE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/;

/**
 * What loop() adds to every response is one `traceresponse` header, last (W3C Trace Context Level 2);
 * the headers without it, after checking it is there exactly once and well-formed.
 */
export function withoutTraceresponse(headers: Array<[string, string]>): Array<[string, string]> {
  const found = headers.filter(([k]) => k.toLowerCase() === 'traceresponse');
  if (found.length !== 1 || !TRACERESPONSE.test(found[0]![1])) {
    throw new Error(`expected one well-formed traceresponse header, got ${JSON.stringify(found)}`);
  }
  return headers.filter(([k]) => k.toLowerCase() !== 'traceresponse');
}
