/**
 * Helpers shared by the whole suite: ports, temp dirs, a real collector, the real loopctl binary, plain
 * HTTP servers and clients, sample capture records. Everything started here is closed in `t.after`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingHttpHeaders, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nanoid } from 'nanoid';
import { createCollector, type Collector, type CollectorOptions } from '../collector/index.js';
import type { CaptureRecord, CapturedRequest, CapturedResponse, CaptureTrace } from '../src/capture/record.js';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
/** The built bin (`npx tsup` first; `npm test` builds). */
export const loopctlPath = path.join(repoRoot, 'dist', 'collector', 'cli', 'loopctl.js');

/** A TCP port free on 127.0.0.1 right now. Prefer port 0 where the code under test allows it. */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The URL of a port nobody listens on, for "unreachable" tests. On 127.0.0.254, which no test listens
 * on, so another test that picked the same port number on 127.0.0.1 cannot answer in its place.
 */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.254', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.254:${port}`;
}

/** A new empty directory under os.tmpdir(), removed after the test. */
export async function tempDir(t: TestContext, prefix = 'httploop-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CaptureOverrides extends Partial<Omit<CaptureRecord, 'request' | 'response' | 'trace'>> {
  request?: Partial<CapturedRequest>;
  response?: Partial<CapturedResponse>;
  trace?: Partial<CaptureTrace>;
}

/**
 * A valid schema-v1 capture of `GET /` answered 500, with a fresh id; `overrides` replace top-level
 * fields and are merged into `request`, `response` and `trace`.
 */
export function sampleCapture(overrides: CaptureOverrides = {}): CaptureRecord {
  const { request, response, trace, ...rest } = overrides;
  const body = '{"error":"payments timed out"}';
  return {
    schema: 1,
    id: nanoid(),
    service: 'web',
    instance: 'test-host:1234',
    startedAt: new Date('2025-06-01T10:00:00.000Z').toISOString(),
    durationMs: 12.5,
    destination: 'web:9090',
    outbound: [],
    rules: ['default'],
    redacted: [],
    ...rest,
    trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', ...trace },
    request: {
      method: 'GET',
      url: '/',
      httpVersion: '1.1',
      headers: [
        ['Host', 'web:9090'],
        ['User-Agent', 'curl/8.5.0'],
        ['Accept', '*/*'],
      ],
      body: null,
      remoteAddress: '127.0.0.1',
      ...request,
    },
    response: {
      status: 500,
      statusMessage: 'Internal Server Error',
      headers: [
        ['Content-Type', 'application/json'],
        ['Content-Length', String(Buffer.byteLength(body))],
      ],
      body: { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false },
      aborted: false,
      ...response,
    },
  };
}

export interface TestCollector {
  collector: Collector;
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** The SQLite file in a temp dir. */
  db: string;
}

/** A real collector with a SQLite file in a temp dir, on 127.0.0.1 and a free port; closed after the test. */
export async function startTestCollector(
  t: TestContext,
  options: Omit<CollectorOptions, 'db' | 'store'> = {},
): Promise<TestCollector> {
  const db = path.join(await tempDir(t, 'httploop-collector-'), 'loop.db');
  const collector = createCollector({ db, ...options });
  const { port, url } = await collector.listen(0, '127.0.0.1');
  t.after(() => collector.close());
  return { collector, url, port, db };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `loopctl` with `args` (and `input` on its standard input). LOOP_COLLECTOR and
 * LOOP_TOKEN from the outer environment are dropped, so only `env` decides them.
 */
export function runLoopctl(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000, input?: string): Promise<RunResult> {
  const base = { ...process.env };
  delete base.LOOP_COLLECTOR;
  delete base.LOOP_TOKEN;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loopctlPath, ...args], {
      env: { ...base, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`loopctl ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface TestServer {
  server: http.Server;
  port: number;
  /** `127.0.0.1:<port>`, as a replay destination. */
  hostPort: string;
  url: string;
}

/** A plain node:http server on 127.0.0.1 and a free port; closed after the test. */
export async function startHttpServer(t: TestContext, handler: RequestListener): Promise<TestServer> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { server, port, hostPort: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` };
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** The headers as they arrived: names as sent, in order, repeats kept. */
  rawHeaders: Array<[string, string]>;
  body: Buffer;
  text: string;
  /** The body parsed as JSON (throws when it is not). */
  json(): any;
}

/** One request without keep-alive; resolves with the whole answer. */
export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        const rawHeaders: Array<[string, string]> = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) rawHeaders.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders, body, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Posts captures to a collector the way the shipper does. */
export function ingest(collectorUrl: string, captures: CaptureRecord[], token?: string): Promise<HttpResult> {
  return httpRequest(`${collectorUrl}/v1/captures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ captures }),
  });
}
