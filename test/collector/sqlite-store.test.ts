import assert from 'node:assert/strict';
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
  first.insert([record]);
  first.close();

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
  store.insert([added]);
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
    'captures_trace_id',
  ]);
  assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
});

test('a database from a newer schema is refused with the fix in the message', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  new SqliteStore(file).close();
  const raw = new Database(file);
  raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
  raw.close();
  assert.throws(() => new SqliteStore(file), {
    code: codes.STORAGE,
    message: `the database ${file} has schema version 99, newer than this httploop knows (3); upgrade httploop or use another --db file`,
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
