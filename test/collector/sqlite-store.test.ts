import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, codes } from '../../collector/index.js';
import { migrations } from '../../collector/storage/sqlite-migrations.js';
import { sampleCapture, tempDir } from '../helpers.js';

// What only SQLite has: the file, its pragmas, its migrations. Behaviour shared with PostgreSQL is in
// store-conformance.test.ts, run against both.

test('reopening an existing file keeps data and does not re-run migrations', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const first = new SqliteStore(file);
  const record = sampleCapture();
  await first.insert([record]);
  await first.close();

  const second = new SqliteStore(file);
  t.after(() => second.close());
  assert.equal(second.get(1)?.id, record.id);
  assert.ok(second.ping());

  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  assert.deepEqual(raw.prepare('SELECT version, name FROM schema_migrations').all(), [
    { version: 1, name: 'captures' },
    { version: 2, name: 'tapconfigs' },
    { version: 3, name: 'list indexes and totals' },
    { version: 4, name: 'trace index by bucket' },
  ]);
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
});

test('a database of schema 1 is migrated: its captures are indexed by the rules that matched', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const old = new Database(file);
  old.exec(migrations[0]!.sql);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  old.prepare("INSERT INTO schema_migrations VALUES (1, 'captures', 0)").run();
  const record = sampleCapture({ rules: ['errors', 'slow'] });
  old
    .prepare(`INSERT INTO captures (id, service, instance, started_at, duration_ms, method, path, url, status, destination,
      trace_id, aborted, size, received_at) VALUES (?, 'web', 'h:1', 0, 1, 'GET', '/', '/', 500, 'web:9090', 't', 0, 10, 0)`)
    .run(record.id);
  old.prepare('INSERT INTO capture_records (seq, record) VALUES (1, ?)').run(JSON.stringify(record));
  old.close();

  const store = new SqliteStore(file);
  t.after(() => store.close());
  assert.deepEqual(store.countByRule(), { errors: 1, slow: 1 });
  assert.equal(store.rulesVersion(), 0);
  assert.deepEqual(store.listTapConfigs(), []);
  assert.equal(store.get(1)?.id, record.id);
});

test('a database of schema 2 with captures is migrated: the totals count them, the list indexes are there', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const old = new Database(file);
  old.exec(migrations[0]!.sql);
  old.exec(migrations[1]!.sql);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  old.prepare("INSERT INTO schema_migrations VALUES (1, 'captures', 0), (2, 'tapconfigs', 0)").run();
  const records = [sampleCapture({ service: 'web' }), sampleCapture({ service: 'payments', request: { url: '/pay/1' } })];
  for (const record of records) {
    const json = JSON.stringify(record);
    const { lastInsertRowid } = old
      .prepare(`INSERT INTO captures (id, service, instance, started_at, duration_ms, method, path, url, status, destination,
        trace_id, aborted, size, received_at) VALUES (?, ?, 'h:1', 0, 1, 'GET', ?, ?, 500, 'web:9090', 't', 0, ?, 0)`)
      .run(record.id, record.service, record.request.url, record.request.url, Buffer.byteLength(json));
    old.prepare('INSERT INTO capture_records (seq, record) VALUES (?, ?)').run(lastInsertRowid, json);
  }
  old.close();

  const store = new SqliteStore(file);
  t.after(() => store.close());
  const bytes = (c: (typeof records)[number]): number => Buffer.byteLength(JSON.stringify(c));
  assert.equal(store.count(), 2);
  assert.equal(store.storedBytes(), bytes(records[0]!) + bytes(records[1]!));
  assert.deepEqual(store.services(), ['payments', 'web']);
  assert.deepEqual(store.list({ service: 'payments', status: { min: 500, max: 599 }, path: '/pay', limit: 5 }).map((c) => c.id), [records[1]!.id]);
  const added = sampleCapture();
  await store.insert([added]);
  assert.equal(store.delete(1), true);
  assert.equal(store.count(), 2);
  assert.equal(store.storedBytes(), bytes(records[1]!) + bytes(added));

  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  const indexes = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'captures' AND sql IS NOT NULL ORDER BY name").pluck().all();
  assert.deepEqual(indexes, [
    'captures_received_at',
    'captures_service',
    'captures_service_status_path',
    'captures_started_at',
    'captures_status',
    'captures_status_path',
    'captures_trace',
  ]);
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
});

test('a database of schema 3 is migrated: a trace is found across buckets of display ids, before and after old captures go', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const apply = (migration: (typeof migrations)[number]): void => {
    old.exec(migration.sql);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(migration.version, migration.name);
  };
  apply(migrations[0]!);
  apply(migrations[1]!);
  // 3000 captures, three buckets of 1024 display ids; trace "a" has one in each bucket.
  const traceOf = (seq: number): string => ([5, 1500, 2999].includes(seq) ? 'a'.repeat(32) : seq.toString(16).padStart(32, '0'));
  const insertCapture = old.prepare(`INSERT INTO captures (id, service, instance, started_at, duration_ms, method, path, url, status,
    destination, trace_id, aborted, size, received_at) VALUES (?, 'web', 'h:1', ?, 1, 'GET', '/', '/', 500, 'web:9090', ?, 0, 2, 0)`);
  const insertRecord = old.prepare('INSERT INTO capture_records (seq, record) VALUES (?, ?)');
  old.transaction(() => {
    for (let seq = 1; seq <= 3000; seq++) {
      insertCapture.run(`c${seq}`, seq, traceOf(seq));
      insertRecord.run(seq, JSON.stringify({ id: `c${seq}` }));
    }
  })();
  // Migration 3 counts the captures there are into capture_totals, as it did for a real file.
  apply(migrations[2]!);
  old.close();

  const store = new SqliteStore(file);
  t.after(() => store.close());
  const trace = 'a'.repeat(32);
  const ids = (filter: Parameters<SqliteStore['list']>[0]): string[] => store.list(filter).map((c) => c.id);
  assert.deepEqual((store.trace(trace, 10) as { captures: Array<{ id: string }> }).captures.map((c) => c.id), ['c5', 'c1500', 'c2999']);
  assert.equal(store.trace(trace, 2).total, 3);
  assert.deepEqual(ids({ traceId: trace, limit: 10, order: 'desc' }), ['c2999', 'c1500', 'c5']);
  // Below the newest window (older than display id 1600), bucket by bucket.
  assert.deepEqual(ids({ traceId: trace, limit: 10, order: 'desc', beforeSeq: 1600 }), ['c1500', 'c5']);
  assert.deepEqual(ids({ traceId: '0'.repeat(29) + 'bb8', limit: 10 }), ['c3000']);
  // A capture stored now goes into the new index; the oldest bucket emptied, the rest is still found.
  const added = sampleCapture({ trace: { traceId: trace, spanId: '00f067aa0ba902b7' } });
  await store.insert([added]);
  assert.equal((await store.prune({ maxCount: 2000 })).deleted, 1001);
  assert.deepEqual(ids({ traceId: trace, limit: 10, order: 'desc' }), [added.id, 'c2999', 'c1500']);
  assert.equal(store.trace(trace, 10).total, 3);
  assert.equal(store.trace('f'.repeat(32), 10).total, 0);

  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  // The file keeps the page size it was made with; new files get 16 KiB (sqlite-insert.ts).
  assert.equal(raw.pragma('page_size', { simple: true }), 4096);
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
});

test('a new database file has pages of 16 KiB', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  await store.insert([sampleCapture()]);
  await store.close();
  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  assert.equal(raw.pragma('page_size', { simple: true }), 16384);
});

test('a database from a newer schema is refused with the fix in the message', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  new SqliteStore(file).close();
  const raw = new Database(file);
  raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
  raw.close();
  assert.throws(() => new SqliteStore(file), {
    code: codes.STORAGE,
    message: `the database ${file} has schema version 99, newer than this httploop knows (4); upgrade httploop or use another --db file`,
  });
});

test('an unopenable path is a coded storage error', async (t) => {
  const dir = await tempDir(t);
  assert.throws(() => new SqliteStore(path.join(dir, 'missing', 'loop.db')), (err: any) => {
    assert.equal(err.code, codes.STORAGE);
    assert.match(err.message, /^cannot open the database .*missing\/loop\.db: /);
    return true;
  });
});

// Captures are written by a thread of the store's own (sqlite-writer.ts), several batches to a
// transaction when they arrive together. Each insert must still answer for itself.

test('batches sent together are answered each with its own counts; a repeat in a later batch is a duplicate', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  const batches = Array.from({ length: 12 }, () => Array.from({ length: 40 }, () => sampleCapture()));
  // Batch k also carries the first capture of batch k - 1: 11 duplicates in all, one per later batch.
  const sent = batches.map((batch, k) => (k === 0 ? batch : [...batch, batches[k - 1]![0]!]));
  const results = await Promise.all(sent.map((batch) => store.insert(batch)));
  assert.deepEqual(results, sent.map((_, k) => ({ inserted: 40, duplicates: k === 0 ? 0 : 1 })));
  assert.equal(store.count(), 480);
  const seqs = store.list({ limit: 1000 }).map((c) => c.seq).sort((a, b) => a - b);
  assert.deepEqual(seqs, Array.from({ length: 480 }, (_, i) => i + 1), 'display ids unique and dense');
  // In order within each batch, batches in the order they were sent.
  for (const [k, batch] of batches.entries()) assert.equal(store.get(batch[0]!.id)?.seq, k * 40 + 1);
  const bytes = batches.flat().reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)), 0);
  assert.equal(store.storedBytes(), bytes);
});

test('a batch the database refuses fails alone: the batches committed with it are stored', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  // service is NOT NULL: a record that slipped past validation, as a direct caller could send it.
  const bad = sampleCapture({ service: null as unknown as string });
  const good = [[sampleCapture()], [sampleCapture(), sampleCapture()], [sampleCapture()]];
  const outcomes = await Promise.allSettled([store.insert(good[0]!), store.insert([sampleCapture(), bad]), store.insert(good[1]!), store.insert(good[2]!)]);
  assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  const refused = (outcomes[1] as PromiseRejectedResult).reason;
  assert.equal(refused.code, codes.STORAGE);
  assert.match(refused.message, /^cannot store captures in .*loop\.db: NOT NULL constraint failed: captures\.service$/);
  assert.equal(store.count(), 4, 'the refused batch left nothing behind, the others are all there');
  for (const record of good.flat()) assert.ok(store.get(record.id));
  // The writer goes on.
  assert.deepEqual(await store.insert([sampleCapture()]), { inserted: 1, duplicates: 0 });
});

test('close waits for the inserts under way; inserts after it are refused', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  const batches = Array.from({ length: 8 }, () => Array.from({ length: 100 }, () => sampleCapture()));
  const inserts = batches.map((batch) => store.insert(batch));
  const closed = store.close();
  await assert.rejects(store.insert([sampleCapture()]), { code: codes.STORAGE, message: `the store ${file} is closed` });
  assert.deepEqual(await Promise.all(inserts), batches.map(() => ({ inserted: 100, duplicates: 0 })));
  await closed;
  const reopened = new SqliteStore(file);
  t.after(() => reopened.close());
  assert.equal(reopened.count(), 800);
  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
});

test('a store that is not closed does not keep the process alive once its inserts are answered', async (t) => {
  const dir = await tempDir(t);
  const script = [
    `import { SqliteStore } from ${JSON.stringify(new URL('../../collector/index.ts', import.meta.url).href)};`,
    `const store = new SqliteStore(${JSON.stringify(path.join(dir, 'loop.db'))});`,
    `const result = await store.insert([{ schema: 1, id: 'left-open-1', service: 'web', instance: 'h:1', startedAt: new Date(0).toISOString(), durationMs: 1,`,
    `  request: { method: 'GET', url: '/', httpVersion: '1.1', headers: [], body: null }, response: { status: 500, headers: [], body: null, aborted: false } }]);`,
    'console.log(JSON.stringify(result));',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(signal ?? c)));
  clearTimeout(timer);
  assert.equal(code, 0, err);
  assert.deepEqual(JSON.parse(out), { inserted: 1, duplicates: 0 });
});

test('a write of the store’s own is not held up by the writer’s whole queue', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  const batches = Array.from({ length: 60 }, () => Array.from({ length: 500 }, () => sampleCapture()));
  // 30 000 captures queued for the writer at once (it takes up to 5 000 per transaction), then a write
  // on this thread, which waits for the lock in busy_timeout, blocking this thread: it must find the
  // lock free between two of the writer's transactions, not only once the whole queue is written
  // (measured: after 6 000-7 500 captures).
  await store.insert([sampleCapture()]); // the writer thread is up
  const inserts = batches.map((batch) => store.insert(batch));
  store.recordAgent({ service: 'web', instance: 'h:1', version: 1, source: 'collector', seenAt: Date.now() });
  const storedWhenWritten = store.count();
  assert.ok(storedWhenWritten < 30_001, `the write waited for all ${storedWhenWritten} captures`);
  assert.deepEqual(await Promise.all(inserts), batches.map(() => ({ inserted: 500, duplicates: 0 })));
  assert.equal(store.count(), 30_001);
  assert.equal(store.listAgents(0).length, 1);
});

test('under ingest at full speed, the store’s own writes (prune, delete, agents) get the lock', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  await store.insert([sampleCapture()]); // the writer thread is up
  let ingesting = true;
  let answered = 0;
  const loops = Array.from({ length: 6 }, async () => {
    while (ingesting) {
      assert.equal((await store.insert(Array.from({ length: 300 }, () => sampleCapture()))).inserted, 300);
      answered++;
    }
  });
  let answeredDuringWrites = 0;
  try {
    const before = answered;
    // 20 rounds of this thread's writes while six clients keep the writer busy: none may fail (a
    // write that never found the lock free would fail with SQLITE_BUSY after busy_timeout).
    for (let round = 0; round < 20; round++) {
      await store.prune({ maxCount: 2000 });
      store.recordAgent({ service: 'web', instance: `h:${round}`, version: round, source: 'collector', seenAt: Date.now() });
      const newest = store.list({ limit: 1 })[0];
      if (newest !== undefined) assert.equal(store.delete(newest.seq), true);
      await new Promise((resolve) => setImmediate(resolve));
    }
    answeredDuringWrites = answered - before;
  } finally {
    ingesting = false;
    await Promise.all(loops);
  }
  assert.ok(answeredDuringWrites > 0, 'inserts were answered while the writes went on');
  assert.equal(store.listAgents(0).length, 20);
});

test('a writer that cannot open the database fails the inserts it was given, coded, and the next insert tries again', async (t) => {
  const dir = path.join(await tempDir(t), 'gone');
  await mkdir(dir);
  const file = path.join(dir, 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  // The store's own connection keeps the file open; the writer, started by the first insert, opens the path.
  await rm(dir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    await assert.rejects(store.insert([sampleCapture()]), (err: any) => {
      assert.equal(err.code, codes.STORAGE);
      assert.match(err.message, /^cannot store captures in .*gone\/loop\.db: /);
      return true;
    });
  }
  assert.equal(store.count(), 0);
});
