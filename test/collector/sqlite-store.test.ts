import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, codes } from '../../collector/index.js';
import { migrations } from '../../collector/storage/sqlite-migrations.js';
import { sampleCapture, tempDir } from '../helpers.js';

async function openStore(t: import('node:test').TestContext): Promise<{ store: SqliteStore; file: string }> {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  return { store, file };
}

test('insert stores a batch, is idempotent on id, and gives seq in arrival order', async (t) => {
  const { store } = await openStore(t);
  const a = sampleCapture();
  const b = sampleCapture({ request: { url: '/b' } });
  assert.deepEqual(store.insert([a, b]), { inserted: 2, duplicates: 0 });
  // A retried batch, and a duplicate inside one batch, are acknowledged without a second copy.
  const c = sampleCapture();
  assert.deepEqual(store.insert([b, c, c]), { inserted: 1, duplicates: 2 });
  assert.equal(store.count(), 3);
  assert.deepEqual(
    store.list({}).map((s) => [s.seq, s.id]),
    [
      [1, a.id],
      [2, b.id],
      [3, c.id],
    ],
  );
});

test('get accepts seq, numeric string and nanoid, and returns the record with seq', async (t) => {
  const { store } = await openStore(t);
  const record = sampleCapture({ route: '/users/:id', error: { name: 'Error', message: 'boom', stack: 'Error: boom\n    at x' } });
  store.insert([record]);
  const expected = { ...record, seq: 1 };
  assert.deepStrictEqual(store.get(1), expected);
  assert.deepStrictEqual(store.get('1'), expected);
  assert.deepStrictEqual(store.get(record.id), expected);
  assert.equal(store.get(2), undefined);
  assert.equal(store.get('nope'), undefined);
  assert.equal(store.get(0), undefined);
});

test('list returns summaries without bodies', async (t) => {
  const { store } = await openStore(t);
  const record = sampleCapture({
    request: { url: '/pay?amount=3' },
    route: '/pay',
    error: { name: 'TimeoutError', message: 'payments timed out' },
  });
  store.insert([record]);
  assert.deepStrictEqual(store.list({}), [
    {
      seq: 1,
      id: record.id,
      service: 'web',
      instance: 'test-host:1234',
      startedAt: '2025-06-01T10:00:00.000Z',
      durationMs: 12.5,
      method: 'GET',
      path: '/pay?amount=3',
      status: 500,
      destination: 'web:9090',
      route: '/pay',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      aborted: false,
      error: 'payments timed out',
    },
  ]);
});

test('filters: status class and exact, service, path prefix, since, trace, limit, order', async (t) => {
  const { store } = await openStore(t);
  const at = (minute: number): string => new Date(Date.UTC(2025, 5, 1, 10, minute)).toISOString();
  store.insert([
    sampleCapture({ startedAt: at(0), response: { status: 500 }, request: { url: '/api/users?x=1' } }),
    sampleCapture({ startedAt: at(1), response: { status: 503 }, service: 'payments', request: { url: '/pay' } }),
    sampleCapture({ startedAt: at(2), response: { status: 404 }, request: { url: '/api/items' } }),
    sampleCapture({ startedAt: at(3), response: { status: 599 }, trace: { traceId: 'abc' }, request: { url: '/ap*i' } }),
  ]);
  const seqs = (filter: Parameters<SqliteStore['list']>[0]): number[] => store.list(filter).map((s) => s.seq);
  assert.deepEqual(seqs({ status: { min: 500, max: 599 } }), [1, 2, 4]);
  assert.deepEqual(seqs({ status: { min: 500, max: 500 } }), [1]);
  assert.deepEqual(seqs({ service: 'payments' }), [2]);
  assert.deepEqual(seqs({ path: '/api' }), [1, 3]);
  assert.deepEqual(seqs({ path: '/api/users' }), [1]);
  assert.deepEqual(seqs({ path: '/ap*' }), [4], 'glob characters in the prefix are literal');
  assert.deepEqual(seqs({ since: Date.parse(at(2)) }), [3, 4]);
  assert.deepEqual(seqs({ traceId: 'abc' }), [4]);
  assert.deepEqual(seqs({ limit: 2 }), [3, 4], 'a limit keeps the newest, shown in arrival order');
  assert.deepEqual(seqs({ limit: 2, order: 'desc' }), [4, 3]);
  assert.deepEqual(seqs({ status: { min: 500, max: 599 }, service: 'web', limit: 1 }), [4]);
  assert.deepEqual(seqs({ service: 'nobody' }), []);
});

test('delete by seq or id; display ids are never given again', async (t) => {
  const { store } = await openStore(t);
  const [a, b, c] = [sampleCapture(), sampleCapture(), sampleCapture()];
  store.insert([a, b, c]);
  assert.equal(store.delete(3), true);
  assert.equal(store.delete(a.id), true);
  assert.equal(store.delete('1'), false);
  assert.equal(store.get(a.id), undefined);
  assert.equal(store.count(), 1);
  const d = sampleCapture();
  store.insert([d]);
  assert.equal(store.get(d.id)?.seq, 4);
});

test('trace gives the whole records of one trace id by start time, then arrival, up to a limit, and the count', async (t) => {
  const { store } = await openStore(t);
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const at = (time: string, spanId: string) => sampleCapture({ startedAt: `2025-06-01T10:00:0${time}Z`, trace: { traceId, spanId } });
  const late = at('2.000', 'cccccccccccccccc');
  const early = at('0.500', 'aaaaaaaaaaaaaaaa');
  const tie = at('0.500', 'bbbbbbbbbbbbbbbb');
  const other = sampleCapture();
  store.insert([late, early, other, tie]);
  assert.deepStrictEqual(store.trace(traceId, 1000), {
    total: 3,
    captures: [
      { ...early, seq: 2 },
      { ...tie, seq: 4 },
      { ...late, seq: 1 },
    ],
  });
  assert.deepStrictEqual(store.trace(traceId, 2), { total: 3, captures: [{ ...early, seq: 2 }, { ...tie, seq: 4 }] });
  assert.deepStrictEqual(store.trace('ffffffffffffffffffffffffffffffff', 1000), { total: 0, captures: [] });
});

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

test('a database from a newer schema is refused with the fix in the message', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  new SqliteStore(file).close();
  const raw = new Database(file);
  raw.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, 0)').run('future');
  raw.close();
  assert.throws(() => new SqliteStore(file), {
    code: codes.STORAGE,
    message: `the database ${file} has schema version 99, newer than this httploop knows (2); upgrade httploop or use another --db file`,
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
