// `npm run bench:ingest`: how many captures a collector stores per second, over HTTP (1 KiB captures,
// gzip batches of 500, 4 connections, into a real `loopctl serve`), printed next to the raw insert
// rate of the same store measured in the same run (the store's insert() called directly, same batches,
// as many in flight as there are connections).
// The gap between the two is what HTTP, gzip, JSON parsing and validation cost. Budget (DESIGN.md):
// >= 40 000 captures/s on SQLite; PostgreSQL is reported as measured.
//
// Flags: --duration S (per phase, default 5), --backend sqlite|pg|both (default both), --pg URL
// (default postgres://postgres@127.0.0.1:5432/test; a fresh schema is created and dropped), --cpu-prof DIR
// (the `loopctl serve` process writes a V8 CPU profile there when it stops).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { PostgresStore, SqliteStore, captureId } from '../dist/collector/index.js';
import { LOOPCTL, stop } from './collector.mjs';
import { freePort } from './free-port.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const DURATION_S = Number(args.duration ?? 5);
const BACKENDS = args.backend === undefined || args.backend === 'both' ? ['sqlite', 'pg'] : [args.backend];
const PG_URL = args.pg ?? process.env.LOOP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BATCH = 500;
const CONNECTIONS = 4;
const BUDGET = 40_000;
// The load generator shares the machine's cores with the collector: node:http on kept-alive sockets
// costs it less than half the CPU of fetch (on the 2-core VM, 2.5 µs a capture against 6.5: 7.7 % of a
// core at 31 400 captures/s against 16 % at 24 700), which the collector then has.
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const PROFILE = args['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof']];

/** A capture of about 1 KiB as JSON, with its own id. */
function capture(i) {
  return {
    schema: 1,
    id: captureId(),
    service: `svc-${i % 8}`,
    instance: 'bench-host:1',
    startedAt: new Date(Date.UTC(2026, 11, 1) + i).toISOString(),
    durationMs: 12.5,
    destination: 'web:9090',
    outbound: [],
    rules: ['default'],
    redacted: ['request.headers.authorization'],
    // A trace id of its own, random as in production: one fixed id would flatter the trace index.
    trace: { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') },
    request: {
      method: 'POST',
      url: `/api/orders/${i}?expand=items`,
      httpVersion: '1.1',
      headers: [
        ['Host', 'web:9090'],
        ['User-Agent', 'bench/1.0'],
        ['Accept', 'application/json'],
        ['Content-Type', 'application/json'],
        ['Authorization', '[REDACTED]'],
      ],
      body: { encoding: 'utf8', data: JSON.stringify({ order: i, items: [{ sku: 'a-1', qty: 2 }, { sku: 'b-2', qty: 1 }], note: 'x'.repeat(200) }), size: 280, truncated: false },
      remoteAddress: '127.0.0.1',
    },
    response: {
      status: 500,
      headers: [['Content-Type', 'application/json'], ['Content-Length', '31']],
      aborted: false,
      body: { encoding: 'utf8', data: '{"error":"payments timed out"}', size: 30, truncated: false },
    },
  };
}

function batches(count, offset) {
  return Array.from({ length: count }, (_, b) => Array.from({ length: BATCH }, (_, i) => capture(offset + b * BATCH + i)));
}

async function rawRate(store) {
  // Enough fresh batches for the phase at a generous rate; generated before the clock starts.
  const todo = batches(Math.ceil((200_000 * DURATION_S) / BATCH / 4), 0);
  // As many inserts in flight as the HTTP phase has connections, so both phases give the store the
  // same chance to commit batches together.
  const start = performance.now();
  let stored = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < todo.length && performance.now() - start <= DURATION_S * 1000) {
        const { inserted } = await store.insert(todo[next++]);
        stored += inserted;
      }
    }),
  );
  return (stored / (performance.now() - start)) * 1000;
}

/** POSTs one gzip batch; resolves with the status and the parsed answer. */
function post(url, body) {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length };
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, answer: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function httpRate(url) {
  const bodies = batches(Math.ceil((120_000 * DURATION_S) / BATCH), 10_000_000).map((b) => gzipSync(JSON.stringify(b)));
  const sizeKiB = JSON.stringify(capture(0)).length / 1024;
  let next = 0;
  let stored = 0;
  let refused = 0;
  const start = performance.now();
  const deadline = start + DURATION_S * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline && next < bodies.length) {
        const body = bodies[next++];
        const { status, answer } = await post(`${url}/v1/captures`, body);
        if (status === 200) stored += answer.inserted;
        else refused++;
      }
    }),
  );
  const elapsed = performance.now() - start;
  if (next >= bodies.length) process.stderr.write('bench: ran out of prepared batches; the rate is a lower bound\n');
  return { rate: (stored / elapsed) * 1000, refused, sizeKiB };
}

async function serve(argv) {
  const port = await freePort();
  const child = spawn(process.execPath, [...PROFILE, LOOPCTL, 'serve', '--port', String(port), ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { child, url };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill('SIGKILL');
  throw new Error('loopctl serve did not come up');
}

async function runSqlite() {
  const dir = mkdtempSync(join(tmpdir(), 'httploop-ingest-'));
  try {
    const store = new SqliteStore(join(dir, 'raw.db'));
    const raw = await rawRate(store);
    await store.close();
    const { child, url } = await serve(['--db', join(dir, 'http.db')]);
    try {
      return { raw, ...(await httpRate(url)) };
    } finally {
      await stop(child);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runPg() {
  const schema = `bench_ingest_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const withSchema = (name) => `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${name}`)}`;
  try {
    await admin.query(`CREATE SCHEMA ${schema}_raw`);
    await admin.query(`CREATE SCHEMA ${schema}_http`);
    const store = new PostgresStore(withSchema(`${schema}_raw`));
    await store.ready();
    const raw = await rawRate(store);
    await store.close();
    const { child, url } = await serve(['--pg', withSchema(`${schema}_http`)]);
    try {
      return { raw, ...(await httpRate(url)) };
    } finally {
      await stop(child);
    }
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema}_raw CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema}_http CASCADE`);
    await admin.end();
  }
}

const results = {};
for (const backend of BACKENDS) {
  const r = backend === 'sqlite' ? await runSqlite() : await runPg();
  results[backend] = r;
  const verdict = backend === 'sqlite' ? (r.rate >= BUDGET ? `met (>= ${BUDGET})` : `MISSED (>= ${BUDGET})`) : 'as measured';
  console.log(
    `${backend.padEnd(6)} over HTTP ${Math.round(r.rate).toLocaleString('en')} captures/s (${r.sizeKiB.toFixed(2)} KiB each, gzip batches of ${BATCH}, ${CONNECTIONS} connections${r.refused ? `, ${r.refused} batches refused` : ''})` +
      `  | raw insert ${Math.round(r.raw).toLocaleString('en')} captures/s  | ${verdict}`,
  );
}
agent.destroy();
