// `npm run bench:list`: how fast a collector lists captures with filters when it holds 1 000 000 of
// them (issue 6, part 5: under 50 ms at p95 on both backends). A benchmark, not a test: it fills a fresh
// temp SQLite file and a fresh PostgreSQL schema with realistic captures through the store's own
// insert() (so the rows, the rule index and the totals are exactly what a collector would have), then
// times list() for every filter shape that `loopctl list` and the console send (limit 100, newest
// first, as GET /v1/captures?...&limit=&order=desc asks), and count() / storedBytes() (what /metrics
// reads on every scrape), services() (what the background pruner reads) and trace() (a trace's captures).
//
// Flags: --backend sqlite|pg|both (default both), --count N (default 1000000), --runs R (timed rounds
// per shape, default 30), --pg URL (default postgres://postgres@127.0.0.1:5432/test; a fresh schema is
// created and dropped), --keep (keep the filled database and print where it is), --db FILE /
// --schema NAME (use a database filled before with --keep instead of filling one; opening it applies
// any newer migrations, and the time that takes is printed).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore, SqliteStore } from '../dist/collector/index.js';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => {
    if (!a.startsWith('--')) return pairs;
    const value = all[i + 1] !== undefined && !all[i + 1].startsWith('--') ? all[i + 1] : 'true';
    return [...pairs, [a.slice(2), value]];
  }, []),
);
const COUNT = Number(args.count ?? 1_000_000);
const RUNS = Number(args.runs ?? 30);
const BACKENDS = args.backend === undefined || args.backend === 'both' ? ['sqlite', 'pg'] : [args.backend];
const PG_URL = args.pg ?? process.env.LOOP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const KEEP = args.keep === 'true';
const BUDGET_MS = 50;
const LIMIT = 100;
const BATCH = 1000;
const DAY = 86_400_000;

// ---- realistic captures ----------------------------------------------------------------------------

/** Deterministic, so that two runs (before and after a change) list the same database. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Services by share of traffic, each with its request paths ({n} is an id). `legacy-billing` was
// switched off long ago: it only has old captures, the hard case for "the newest N".
const SERVICES = [
  { name: 'web', weight: 30, paths: ['/', '/products/{n}', '/static/app.{n}.js', '/cart', '/search?q={n}'] },
  { name: 'api-gateway', weight: 20, paths: ['/api/v1/session', '/api/v1/feed?page={n}', '/api/v1/products/{n}'] },
  { name: 'orders', weight: 12, paths: ['/api/orders/{n}', '/api/orders/{n}/items', '/api/orders?page={n}'], post: 0.3 },
  { name: 'users', weight: 10, paths: ['/api/users/{n}', '/api/users/{n}/addresses', '/api/users/me'] },
  { name: 'search', weight: 8, paths: ['/api/search?q={n}', '/api/suggest?q={n}'] },
  { name: 'payments', weight: 5, paths: ['/api/payments/{n}', '/api/refunds/{n}', '/api/payments/{n}/capture'], post: 0.5, errors: 0.15 },
  { name: 'inventory', weight: 5, paths: ['/api/stock/{n}', '/api/warehouses/{n}/stock'] },
  { name: 'notifications', weight: 4, paths: ['/api/notify', '/api/templates/{n}'], post: 0.8 },
  { name: 'auth', weight: 3, paths: ['/oauth/token', '/oauth/authorize', '/.well-known/jwks.json'], post: 0.5 },
  { name: 'reports', weight: 2, paths: ['/api/reports/{n}', '/api/reports/{n}/export.csv'] },
  { name: 'admin', weight: 0.7, paths: ['/admin/users', '/admin/audit?from={n}', '/admin/flags/{n}'], post: 0.2 },
  { name: 'legacy-billing', weight: 0.3, paths: ['/billing/invoice/{n}', '/billing/v0/charge'], post: 0.5, until: 0.1 },
];
const TOTAL_WEIGHT = SERVICES.reduce((n, s) => n + s.weight, 0);
const STATUS_5XX = [500, 502, 503, 504];
const STATUS_4XX = [400, 401, 403, 404, 404, 404, 409, 422, 429];

function pickService(random, i) {
  for (;;) {
    let r = random() * TOTAL_WEIGHT;
    for (const s of SERVICES) {
      r -= s.weight;
      if (r <= 0) {
        if (s.until !== undefined && i / COUNT > s.until) break; // switched off by now: pick again
        return s;
      }
    }
  }
}

function pickStatus(random, service) {
  const r = random();
  const errors = service.errors ?? 0.05;
  if (r < errors) return STATUS_5XX[Math.floor(random() * STATUS_5XX.length)];
  if (r < errors + 0.13) return STATUS_4XX[Math.floor(random() * STATUS_4XX.length)];
  if (r < errors + 0.16) return random() < 0.5 ? 301 : 304;
  return random() < 0.9 ? 200 : 201;
}

function body(random, min, max) {
  const size = Math.floor(min + random() * (max - min));
  return JSON.stringify({ data: 'x'.repeat(Math.max(0, size - 12)) });
}

/**
 * The captures numbered [from, to): spread over the last 7 days in arrival order, in traces of 1-4
 * captures across services. Rules: most captures come from a 10% sampling rule, every 5xx from
 * `errors`, slow ones from `slow`, and `checkout-debug` only captured a short while in the middle.
 */
function* captures(from, to, now) {
  const random = prng(from + 1);
  const start = now - 7 * DAY;
  let traceId = '';
  let traceLeft = 0;
  for (let i = from; i < to; i++) {
    if (traceLeft-- <= 0) {
      traceId = Array.from({ length: 4 }, () => Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0')).join('');
      traceLeft = Math.floor(random() * 4);
    }
    const service = pickService(random, i);
    const status = pickStatus(random, service);
    const post = random() < (service.post ?? 0.05);
    const path = service.paths[Math.floor(random() * service.paths.length)].replace('{n}', String(Math.floor(random() * 100_000)));
    const durationMs = Math.round(Math.exp(random() * 8)) / 2;
    const rules = [];
    if (random() < 0.9) rules.push('sample-10pct');
    if (status >= 500) rules.push('errors');
    if (durationMs > 1000) rules.push('slow');
    if (service.name === 'orders' && post && i / COUNT > 0.4 && i / COUNT < 0.405) rules.push('checkout-debug');
    const responseBody = body(random, 30, status >= 400 ? 300 : 1500);
    yield {
      schema: 1,
      id: `bench-${i}-${Math.floor(random() * 2 ** 32).toString(36)}`,
      service: service.name,
      instance: `${service.name}-${Math.floor(random() * 4)}:8080`,
      startedAt: new Date(start + Math.floor(i * ((7 * DAY) / COUNT)) + Math.floor(random() * 2000)).toISOString(),
      durationMs,
      destination: `${service.name}:8080`,
      ...(service.name === 'orders' && { route: path.includes('/items') ? '/api/orders/:id/items' : '/api/orders/:id' }),
      outbound: [],
      rules: rules.length ? rules : ['sample-10pct'],
      redacted: ['request.headers.authorization', 'request.headers.cookie'],
      trace: { traceId, spanId: Math.floor(random() * 2 ** 32).toString(16).padStart(16, '0') },
      request: {
        method: post ? 'POST' : 'GET',
        url: path,
        httpVersion: '1.1',
        headers: [
          ['Host', `${service.name}:8080`],
          ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36'],
          ['Accept', 'application/json'],
          ['Authorization', '[REDACTED]'],
          ['X-Request-Id', `${i}`],
          ...(post ? [['Content-Type', 'application/json']] : []),
        ],
        body: post ? { encoding: 'utf8', data: body(random, 80, 800), size: 400, truncated: false } : null,
        remoteAddress: '10.0.0.12',
      },
      response: {
        status,
        headers: [
          ['Content-Type', 'application/json'],
          ['Content-Length', String(responseBody.length)],
          ['Cache-Control', 'no-store'],
        ],
        aborted: random() < 0.002,
        body: { encoding: 'utf8', data: responseBody, size: responseBody.length, truncated: false },
      },
      ...(status >= 500 && random() < 0.2 && { error: { message: 'upstream timed out after 30000 ms' } }),
    };
  }
}

async function fill(store, now) {
  const started = performance.now();
  let inserted = 0;
  for (let from = 0; from < COUNT; from += BATCH) {
    inserted += (await store.insert([...captures(from, Math.min(COUNT, from + BATCH), now)])).inserted;
    if (from % 100_000 === 0 && from > 0) process.stderr.write(`  ${from.toLocaleString('en')} stored\r`);
  }
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(`  ${inserted.toLocaleString('en')} captures stored in ${seconds.toFixed(1)} s (${Math.round(inserted / seconds).toLocaleString('en')}/s through insert())\n`);
}

// ---- the filter shapes -----------------------------------------------------------------------------

/** Several values per shape (common, rare, old-only, none), so p95 is not one lucky value's. */
function shapes(now, traceIds, maxSeq) {
  const s5 = { min: 500, max: 599 };
  const s4 = { min: 400, max: 499 };
  const at = (f) => Math.max(1, Math.floor(maxSeq * f));
  return [
    ['none', [{}]],
    ['status (5xx, 4xx, 503)', [{ status: s5 }, { status: s4 }, { status: { min: 503, max: 503 } }]],
    ['service', ['web', 'payments', 'admin', 'legacy-billing', 'nosuch'].map((service) => ({ service }))],
    ['path prefix', ['/api/orders', '/api/refunds/', '/admin', '/billing', '/nosuch'].map((path) => ({ path }))],
    ['since (1h, 1d, 7d)', [1, 24, 168].map((h) => ({ since: now - h * 3_600_000 }))],
    ['traceId', [...traceIds, 'ffffffffffffffffffffffffffffffff'].map((traceId) => ({ traceId }))],
    ['rule', ['errors', 'slow', 'checkout-debug', 'sample-10pct', 'nosuch'].map((rule) => ({ rule }))],
    ['beforeSeq paging', [0.99, 0.5, 0.01].map((f) => ({ beforeSeq: at(f) }))],
    ['service+status', [['web', s5], ['payments', s5], ['admin', s4], ['legacy-billing', s5], ['auth', { min: 503, max: 503 }]].map(([service, status]) => ({ service, status }))],
    [
      'service+status+path',
      [
        ['payments', s5, '/api/refunds'],
        ['orders', s5, '/api/orders/1'],
        ['web', s4, '/products'],
        ['admin', s5, '/admin/flags'],
        ['legacy-billing', s5, '/billing/v0'],
      ].map(([service, status, path]) => ({ service, status, path })),
    ],
    [
      'status+path',
      [
        [s5, '/api/refunds'],
        [s4, '/admin'],
        [s5, '/api/orders/12'],
        [s5, '/billing'],
      ].map(([status, path]) => ({ status, path })),
    ],
    ['service+status+before (console page 2+)', [0.9, 0.3].map((f) => ({ service: 'payments', status: s5, beforeSeq: at(f) }))],
  ];
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function time(fn) {
  const start = performance.now();
  const result = await fn();
  return { ms: performance.now() - start, result };
}

function line(label, samples, extra = '') {
  const sorted = [...samples].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p95 = percentile(sorted, 95);
  const verdict = p95 < BUDGET_MS ? 'met' : 'MISSED';
  console.log(`  ${label.padEnd(40)} p50 ${p50.toFixed(2).padStart(8)} ms  p95 ${p95.toFixed(2).padStart(8)} ms  ${verdict.padEnd(6)} ${extra}`);
  return { p50, p95 };
}

async function measure(store, now) {
  const newest = await store.list({ limit: 1, order: 'desc' });
  const maxSeq = newest[0]?.seq ?? 0;
  // Trace ids of captures old and new, found the way a user finds them: in a listing.
  const traceIds = [];
  for (const f of [0.999, 0.7, 0.3, 0.02]) {
    const [c] = await store.list({ beforeSeq: Math.max(2, Math.floor(maxSeq * f)), limit: 1, order: 'desc' });
    if (c) traceIds.push(c.traceId);
  }
  console.log(`  list(filter), limit ${LIMIT}, newest first; ${RUNS} rounds over each shape's values; budget p95 < ${BUDGET_MS} ms`);
  const results = {};
  for (const [name, filters] of shapes(now, traceIds, maxSeq)) {
    const samples = [];
    const perValue = filters.map(() => []);
    const rows = filters.map(() => 0);
    for (let round = -2; round < RUNS; round++) {
      for (const [i, filter] of filters.entries()) {
        const { ms, result } = await time(() => store.list({ ...filter, limit: LIMIT, order: 'desc' }));
        rows[i] = result.length;
        if (round < 0) continue; // warm-up
        samples.push(ms);
        perValue[i].push(ms);
      }
    }
    const worst = perValue
      .map((v, i) => ({ i, p95: percentile([...v].sort((a, b) => a - b), 95) }))
      .sort((a, b) => b.p95 - a.p95)[0];
    results[name] = line(name, samples, `rows ${rows.join('/')}; slowest value ${JSON.stringify(filters[worst.i])} p95 ${worst.p95.toFixed(1)} ms`);
  }
  for (const [name, fn] of [
    ['count()', () => store.count()],
    ['storedBytes()', () => store.storedBytes()],
    ['services()', () => store.services()],
    // GET /v1/traces/:traceId and `loopctl trace`: every capture of one trace, whole.
    ['trace(traceId)', () => store.trace(traceIds[1] ?? traceIds[0] ?? '0'.repeat(32), 1000)],
  ]) {
    const samples = [];
    let value;
    try {
      for (let round = -2; round < RUNS; round++) {
        const { ms, result } = await time(fn);
        value = result;
        if (round >= 0) samples.push(ms);
      }
    } catch (err) {
      console.log(`  ${name.padEnd(40)} FAILED: ${err.message}`);
      results[name] = { p50: NaN, p95: Infinity };
      continue;
    }
    results[name] = line(name, samples, `= ${Array.isArray(value) ? `${value.length} services` : typeof value === 'object' ? `${value.total} captures` : value.toLocaleString('en')}`);
  }
  return results;
}

// ---- the backends ----------------------------------------------------------------------------------

async function runSqlite() {
  const reuse = args.db;
  const dir = reuse ? undefined : mkdtempSync(join(tmpdir(), 'httploop-list-'));
  const file = reuse ?? join(dir, 'loop.db');
  const now = Date.now();
  try {
    if (reuse && !existsSync(reuse)) throw new Error(`--db ${reuse}: no such file`);
    const opened = await time(() => new SqliteStore(file));
    const store = opened.result;
    if (reuse) process.stderr.write(`  opened ${file} in ${opened.ms.toFixed(0)} ms (migrations included)\n`);
    if (store.count() < COUNT) await fill(store, now);
    console.log(`sqlite: ${file}`);
    const results = await measure(store, reuse ? Date.now() : now);
    store.close();
    if (KEEP && !reuse) console.log(`  kept ${file} (use it again with --db ${file})`);
    return results;
  } finally {
    if (dir && !KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

async function runPg() {
  const schema = args.schema ?? `bench_list_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  try {
    if (!args.schema) await admin.query(`CREATE SCHEMA ${schema}`);
    const store = new PostgresStore(url);
    const opened = await time(() => store.ready());
    if (args.schema) process.stderr.write(`  opened schema ${schema} in ${opened.ms.toFixed(0)} ms (migrations included)\n`);
    const now = Date.now();
    if ((await store.count()) < COUNT) {
      await fill(store, now);
      // What autovacuum does on its own soon after a bulk of inserts: statistics for the planner and the
      // visibility map for index-only scans. Timing right after the fill would measure the transient.
      await admin.query(`VACUUM (ANALYZE) ${schema}.captures, ${schema}.capture_rules`);
    }
    console.log(`pg: schema ${schema} at ${PG_URL}`);
    const results = await measure(store, now);
    await store.close();
    if (KEEP && !args.schema) console.log(`  kept schema ${schema} (use it again with --schema ${schema})`);
    return results;
  } finally {
    if (!KEEP && !args.schema) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(`bench list: ${COUNT.toLocaleString('en')} captures`);
let missed = 0;
for (const backend of BACKENDS) {
  const results = backend === 'sqlite' ? await runSqlite() : await runPg();
  for (const [name, r] of Object.entries(results)) if (r.p95 >= BUDGET_MS && name.startsWith('services') === false) missed++;
}
console.log(missed === 0 ? `all shapes met p95 < ${BUDGET_MS} ms` : `${missed} shape(s) MISSED p95 < ${BUDGET_MS} ms`);
