/**
 * One behaviour, two backends: every test in the first part runs against SQLite (a temp file) and
 * PostgreSQL (a fresh schema in database `test`). What only one backend has (pragmas, files, the
 * PostgreSQL migrations lock, LISTEN/NOTIFY) is tested after it, and in sqlite-store.test.ts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { PostgresStore, SqliteStore, codes, createCollector, startCollector, type CaptureStore } from '../../collector/index.js';
import { listedValues } from '../../collector/storage/capture-fields.js';
import { pgMigrations } from '../../collector/storage/postgres-migrations.js';
import { INSERT_CAPTURES, insertCapturesParams } from '../../collector/storage/postgres.js';
import type { TapConfig } from '../../src/match/tapconfig.js';
import { httpRequest, ingest, sampleCapture, tempDir } from '../helpers.js';
import { freshPgSchema, schemaUrl } from '../pg-schema.js';

interface Backend {
  name: string;
  /**
   * A new, empty database; `open()` gives a store on it (each one closed after the test), so a test
   * can have two stores on one database, as two collectors would.
   */
  database(t: TestContext): Promise<{ open(): Promise<CaptureStore> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async database(t) {
      const file = path.join(await tempDir(t), 'loop.db');
      return {
        async open() {
          const store = new SqliteStore(file);
          t.after(() => store.close());
          return store;
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    async database(t) {
      const { url } = await freshPgSchema(t);
      return {
        async open() {
          const store = new PostgresStore(url);
          t.after(() => store.close());
          await store.ready();
          return store;
        },
      };
    },
  },
];

function tapconfig(name: string, spec: Partial<TapConfig['spec']> = {}, namespace?: string): TapConfig {
  return {
    apiVersion: 'httploop/v1',
    kind: 'TapConfig',
    metadata: { name, ...(namespace !== undefined && { namespace }) },
    spec: { match: 'status >= 500', ...spec },
  };
}

for (const backend of backends) {
  describe(`store conformance: ${backend.name}`, () => {
    const openStore = async (t: TestContext): Promise<CaptureStore> => (await backend.database(t)).open();

    test('insert stores a batch, is idempotent on id, and gives seq in arrival order', async (t) => {
      const store = await openStore(t);
      const a = sampleCapture();
      const b = sampleCapture({ request: { url: '/b' } });
      assert.deepEqual(await store.insert([a, b]), { inserted: 2, duplicates: 0 });
      // A retried batch, and a duplicate inside one batch, are acknowledged without a second copy.
      const c = sampleCapture();
      assert.deepEqual(await store.insert([b, c, c]), { inserted: 1, duplicates: 2 });
      assert.deepEqual(await store.insert([]), { inserted: 0, duplicates: 0 });
      assert.equal(await store.count(), 3);
      assert.deepEqual(
        (await store.list({})).map((s) => [s.seq, s.id]),
        [
          [1, a.id],
          [2, b.id],
          [3, c.id],
        ],
      );
    });

    test('get accepts seq, numeric string and nanoid, and returns the whole record with seq', async (t) => {
      const store = await openStore(t);
      const record = sampleCapture({
        route: '/users/:id',
        error: { name: 'Error', message: 'boom', stack: 'Error: boom\n    at x' },
        outbound: [{ spanId: 'aaaaaaaaaaaaaaaa', method: 'POST', url: 'http://payments/charge', status: 502, durationMs: 3.25 }],
        request: { body: { encoding: 'utf8', data: 'héllo \u0000 wörld ✓ "quoted" \\ back', size: 30, truncated: false } },
      });
      await store.insert([record]);
      const expected = { ...record, seq: 1 };
      assert.deepStrictEqual(await store.get(1), expected);
      assert.deepStrictEqual(await store.get('1'), expected);
      assert.deepStrictEqual(await store.get(record.id), expected);
      assert.equal(await store.get(2), undefined);
      assert.equal(await store.get('nope'), undefined);
      assert.equal(await store.get(0), undefined);
      assert.equal(await store.get(1.5), undefined);
    });

    test('list returns summaries without bodies', async (t) => {
      const store = await openStore(t);
      const record = sampleCapture({
        request: { url: '/pay?amount=3' },
        route: '/pay',
        error: { name: 'TimeoutError', message: 'payments timed out' },
      });
      const plain = sampleCapture({ response: { status: 502, aborted: true }, trace: { traceId: '' } });
      delete (plain as { route?: string }).route;
      await store.insert([record, plain]);
      assert.deepStrictEqual(await store.list({}), [
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
        {
          seq: 2,
          id: plain.id,
          service: 'web',
          instance: 'test-host:1234',
          startedAt: '2025-06-01T10:00:00.000Z',
          durationMs: 12.5,
          method: 'GET',
          path: '/',
          status: 502,
          destination: 'web:9090',
          traceId: '',
          aborted: true,
        },
      ]);
    });

    test('filters: status class and exact, service, path prefix, since, trace, limit, order', async (t) => {
      const store = await openStore(t);
      const at = (minute: number): string => new Date(Date.UTC(2025, 5, 1, 10, minute)).toISOString();
      await store.insert([
        sampleCapture({ startedAt: at(0), response: { status: 500 }, request: { url: '/api/users?x=1' } }),
        sampleCapture({ startedAt: at(1), response: { status: 503 }, service: 'payments', request: { url: '/pay' } }),
        sampleCapture({ startedAt: at(2), response: { status: 404 }, request: { url: '/api/items' } }),
        sampleCapture({ startedAt: at(3), response: { status: 599 }, trace: { traceId: 'abc' }, request: { url: '/ap*i' } }),
        sampleCapture({ startedAt: at(4), response: { status: 500 }, request: { url: 'http://web:9090/a%_b\\c?q=/api' } }),
        sampleCapture({ startedAt: at(5), response: { status: 500 }, request: { url: '/API/upper' } }),
      ]);
      const seqs = async (filter: Parameters<CaptureStore['list']>[0]): Promise<number[]> => (await store.list(filter)).map((s) => s.seq);
      assert.deepEqual(await seqs({ status: { min: 500, max: 599 } }), [1, 2, 4, 5, 6]);
      assert.deepEqual(await seqs({ status: { min: 500, max: 500 } }), [1, 5, 6]);
      assert.deepEqual(await seqs({ service: 'payments' }), [2]);
      assert.deepEqual(await seqs({ path: '/api' }), [1, 3], 'prefix of the path, case-sensitive, never the query');
      assert.deepEqual(await seqs({ path: '/api/users' }), [1]);
      assert.deepEqual(await seqs({ path: '/ap*' }), [4], 'glob characters in the prefix are literal');
      assert.deepEqual(await seqs({ path: '/a%_' }), [5], 'LIKE characters in the prefix are literal, absolute-form targets give their path');
      assert.deepEqual(await seqs({ path: '/a%_b/' }), [5]);
      assert.deepEqual(await seqs({ path: '/a_' }), []);
      assert.deepEqual(await seqs({ path: '/' }), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(await seqs({ since: Date.parse(at(2)) }), [3, 4, 5, 6]);
      assert.deepEqual(await seqs({ traceId: 'abc' }), [4]);
      assert.deepEqual(await seqs({ limit: 2 }), [5, 6], 'a limit keeps the newest, shown in arrival order');
      assert.deepEqual(await seqs({ limit: 2, order: 'desc' }), [6, 5]);
      assert.deepEqual(await seqs({ order: 'desc' }), [6, 5, 4, 3, 2, 1]);
      assert.deepEqual(await seqs({ status: { min: 500, max: 599 }, service: 'web', limit: 1 }), [6]);
      assert.deepEqual(await seqs({ status: { min: 500, max: 599 }, service: 'web', path: '/api', since: Date.parse(at(0)), limit: 10 }), [1]);
      assert.deepEqual(await seqs({ service: 'nobody' }), []);
      // A backslash in the prefix is itself too (LIKE's escape character in PostgreSQL).
      await store.insert([sampleCapture({ request: { url: '/b\\%x' } }), sampleCapture({ request: { url: '/b%x' } })]);
      assert.deepEqual(await seqs({ path: '/b\\' }), [7]);
      assert.deepEqual(await seqs({ path: '/b\\%' }), [7]);
      assert.deepEqual(await seqs({ path: '/b%' }), [8]);
    });

    test('filters: by rule, and the page before a display id', async (t) => {
      const store = await openStore(t);
      await store.insert([
        sampleCapture({ rules: ['errors'] }),
        sampleCapture({ rules: ['errors', 'slow'] }),
        sampleCapture({ rules: ['slow'] }),
        sampleCapture({ rules: ['errors'], service: 'payments' }),
      ]);
      const seqs = async (filter: Parameters<CaptureStore['list']>[0]): Promise<number[]> => (await store.list(filter)).map((s) => s.seq);
      assert.deepEqual(await seqs({ rule: 'errors' }), [1, 2, 4]);
      assert.deepEqual(await seqs({ rule: 'slow' }), [2, 3]);
      assert.deepEqual(await seqs({ rule: 'nothing' }), []);
      assert.deepEqual(await seqs({ rule: 'errors', service: 'web' }), [1, 2]);
      assert.deepEqual(await seqs({ beforeSeq: 3 }), [1, 2]);
      assert.deepEqual(await seqs({ beforeSeq: 4, limit: 2, order: 'desc' }), [3, 2], 'the next older page');
      assert.deepEqual(await seqs({ beforeSeq: 1 }), []);
    });

    test('delete by seq or id; display ids are never given again', async (t) => {
      const store = await openStore(t);
      const [a, b, c] = [sampleCapture({ rules: ['x'] }), sampleCapture(), sampleCapture()];
      await store.insert([a, b, c]);
      assert.equal(await store.delete(3), true);
      assert.equal(await store.delete(a.id), true);
      assert.equal(await store.delete('1'), false);
      assert.equal(await store.delete('nope'), false);
      assert.equal(await store.get(a.id), undefined);
      assert.equal(await store.count(), 1);
      assert.deepEqual(await store.countByRule(), { default: 1 }, 'a deleted capture counts for its rules no more');
      const d = sampleCapture();
      await store.insert([d]);
      assert.equal((await store.get(d.id))?.seq, 4);
      // Deleted, then sent again (a late retry): stored again, under a new display id.
      assert.deepEqual(await store.insert([a]), { inserted: 1, duplicates: 0 });
      assert.equal((await store.get(a.id))?.seq, 5);
    });

    test('trace gives the whole records of one trace id by start time, then arrival, up to a limit, and the count', async (t) => {
      const store = await openStore(t);
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const at = (time: string, spanId: string) => sampleCapture({ startedAt: `2025-06-01T10:00:0${time}Z`, trace: { traceId, spanId } });
      const late = at('2.000', 'cccccccccccccccc');
      const early = at('0.500', 'aaaaaaaaaaaaaaaa');
      const tie = at('0.500', 'bbbbbbbbbbbbbbbb');
      const other = sampleCapture();
      await store.insert([late, early, other, tie]);
      assert.deepStrictEqual(await store.trace(traceId, 1000), {
        total: 3,
        captures: [
          { ...early, seq: 2 },
          { ...tie, seq: 4 },
          { ...late, seq: 1 },
        ],
      });
      assert.deepStrictEqual(await store.trace(traceId, 2), { total: 3, captures: [{ ...early, seq: 2 }, { ...tie, seq: 4 }] });
      assert.deepStrictEqual(await store.trace('ffffffffffffffffffffffffffffffff', 1000), { total: 0, captures: [] });
    });

    test('countByRule counts each capture once per rule that matched', async (t) => {
      const store = await openStore(t);
      assert.deepEqual(await store.countByRule(), {});
      await store.insert([
        sampleCapture({ rules: ['errors', 'slow'] }),
        sampleCapture({ rules: ['errors', 'errors'] }),
        sampleCapture({ rules: [] }),
      ]);
      assert.deepEqual(await store.countByRule(), { errors: 2, slow: 1 });
    });

    test('tapconfigs: created, configured, unchanged; one version bump per change; listed by name', async (t) => {
      const store = await openStore(t);
      assert.equal(await store.rulesVersion(), 0);
      assert.deepEqual(await store.listTapConfigs(), []);
      const before = Date.now();
      assert.deepEqual(await store.applyTapConfigs([tapconfig('b'), tapconfig('a', {}, 'team')]), {
        version: 1,
        results: [
          { name: 'b', action: 'created' },
          { name: 'a', action: 'created' },
        ],
      });
      assert.deepEqual(await store.applyTapConfigs([tapconfig('a', {}, 'team'), tapconfig('b')]), {
        version: 1,
        results: [
          { name: 'a', action: 'unchanged' },
          { name: 'b', action: 'unchanged' },
        ],
      });
      assert.deepEqual(await store.applyTapConfigs([tapconfig('a', {}, 'team'), tapconfig('b', { services: ['web'] }), tapconfig('B')]), {
        version: 2,
        results: [
          { name: 'a', action: 'unchanged' },
          { name: 'b', action: 'configured' },
          { name: 'B', action: 'created' },
        ],
      });
      assert.equal(await store.rulesVersion(), 2);
      const stored = await store.listTapConfigs();
      // By name in code-point order ('B' before 'a'), whatever the database's collation.
      assert.deepStrictEqual(
        stored.map((s) => [s.resource, s.version]),
        [
          [tapconfig('B'), 2],
          [tapconfig('a', {}, 'team'), 1],
          [tapconfig('b', { services: ['web'] }), 2],
        ],
      );
      for (const s of stored) {
        assert.ok(s.createdAt >= before && s.createdAt <= Date.now(), 'createdAt is epoch ms');
        assert.ok(s.updatedAt >= s.createdAt);
      }
      const b = stored.find((s) => s.resource.metadata.name === 'b')!;
      const a = stored.find((s) => s.resource.metadata.name === 'a')!;
      assert.equal(a.updatedAt, a.createdAt);
      assert.ok(b.updatedAt >= b.createdAt);

      assert.equal(await store.deleteTapConfig('b'), 3);
      assert.equal(await store.deleteTapConfig('b'), undefined);
      assert.equal(await store.rulesVersion(), 3, 'deleting nothing changes nothing');
      assert.deepEqual(
        (await store.listTapConfigs()).map((s) => s.resource.metadata.name),
        ['B', 'a'],
      );
    });

    test('agents: the newest state of each instance, seen since a time, by service then instance', async (t) => {
      const store = await openStore(t);
      await store.recordAgent({ service: 'web', instance: 'h:2', version: 1, source: 'collector', seenAt: 1000 });
      await store.recordAgent({ service: 'web', instance: 'h:1', version: 0, source: 'local', seenAt: 2000 });
      await store.recordAgent({ service: 'api', instance: 'h:3', version: 2, source: 'collector', seenAt: 3000 });
      await store.recordAgent({ service: 'Web', instance: 'h:4', version: 2, source: 'collector', seenAt: 3000 });
      await store.recordAgent({ service: 'web', instance: 'h:2', version: 3, source: 'collector', seenAt: 4000 });
      assert.deepStrictEqual(await store.listAgents(0), [
        { service: 'Web', instance: 'h:4', version: 2, source: 'collector', seenAt: 3000 },
        { service: 'api', instance: 'h:3', version: 2, source: 'collector', seenAt: 3000 },
        { service: 'web', instance: 'h:1', version: 0, source: 'local', seenAt: 2000 },
        { service: 'web', instance: 'h:2', version: 3, source: 'collector', seenAt: 4000 },
      ]);
      assert.deepStrictEqual(await store.listAgents(3500), [{ service: 'web', instance: 'h:2', version: 3, source: 'collector', seenAt: 4000 }]);
    });

    test('a second store on the same database sees everything; concurrent batches get unique, dense display ids', async (t) => {
      const database = await backend.database(t);
      const [one, two] = [await database.open(), await database.open()];
      await one.applyTapConfigs([tapconfig('shared')]);
      assert.equal(await two.rulesVersion(), 1);
      const batches = Array.from({ length: 8 }, (_, i) => Array.from({ length: 25 }, () => sampleCapture({ service: `s${i}` })));
      const results = await Promise.all(batches.map((batch, i) => (i % 2 === 0 ? one : two).insert(batch)));
      assert.deepEqual(results, batches.map(() => ({ inserted: 25, duplicates: 0 })));
      // The same batches again, through the other store: all duplicates.
      const again = await Promise.all(batches.map((batch, i) => (i % 2 === 0 ? two : one).insert(batch)));
      assert.deepEqual(again, batches.map(() => ({ inserted: 0, duplicates: 25 })));
      const listed = await two.list({});
      assert.deepEqual(
        listed.map((s) => s.seq),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(new Set(listed.map((s) => s.id)).size, 200);
      // Within a batch, arrival order is kept.
      for (const batch of batches) {
        const seqs = batch.map((r) => listed.find((s) => s.id === r.id)!.seq);
        assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
      }
      assert.equal(await one.count(), 200);
    });

    test('ping is true while open, false once closed; close twice is harmless', async (t) => {
      const store = await openStore(t);
      assert.equal(await store.ping(), true);
      await store.close();
      assert.equal(await store.ping(), false);
      await store.close();
    });

    const seqs = async (store: CaptureStore): Promise<number[]> => (await store.list({})).map((s) => s.seq);
    const sizeOf = (c: ReturnType<typeof sampleCapture>): number => Buffer.byteLength(JSON.stringify(c));

    test('prune by count: the newest N stay, overall and per service, in small batches; dry run removes nothing', async (t) => {
      const store = await openStore(t);
      const web = Array.from({ length: 7 }, () => sampleCapture({ service: 'web' }));
      const pay = Array.from({ length: 3 }, () => sampleCapture({ service: 'payments' }));
      await store.insert([...web.slice(0, 4), ...pay, ...web.slice(4)]); // seq 1-4 web, 5-7 payments, 8-10 web
      const bytes = [...web.slice(0, 4), ...pay].reduce((n, c) => n + sizeOf(c), 0);
      assert.deepEqual(await store.prune({ maxCount: 3 }, { dryRun: true }), { deleted: 7, bytes });
      assert.equal(await store.count(), 10);
      // Per service: only web's older captures go.
      assert.deepEqual(await store.prune({ maxCount: 5, service: 'web' }, { batchSize: 1 }), {
        deleted: 2,
        bytes: sizeOf(web[0]!) + sizeOf(web[1]!),
      });
      assert.deepEqual(await seqs(store), [3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(await store.prune({ maxCount: 3 }, { batchSize: 2 }), { deleted: 5, bytes: bytes - sizeOf(web[0]!) - sizeOf(web[1]!) });
      assert.deepEqual(await seqs(store), [8, 9, 10]);
      assert.deepEqual(await store.prune({ maxCount: 3 }), { deleted: 0, bytes: 0 });
      assert.equal(await store.get(3), undefined, 'the whole record goes with the listed fields');
    });

    test('prune by bytes keeps the newest captures that fit; storedBytes counts what is left', async (t) => {
      const store = await openStore(t);
      const small = Array.from({ length: 4 }, () => sampleCapture());
      await store.insert(small);
      const each = sizeOf(small[0]!);
      assert.equal(await store.storedBytes(), small.reduce((n, c) => n + sizeOf(c), 0));
      // Room for two and a half: two stay.
      const result = await store.prune({ maxBytes: Math.floor(each * 2.5) });
      assert.equal(result.deleted, 2);
      assert.deepEqual(await seqs(store), [3, 4]);
      assert.equal(await store.storedBytes(), sizeOf(small[2]!) + sizeOf(small[3]!));
      assert.deepEqual(await store.prune({ maxBytes: 1, service: 'nobody' }), { deleted: 0, bytes: 0 });
      assert.equal((await store.prune({ maxBytes: 0 })).deleted, 2);
      assert.equal(await store.count(), 0);
    });

    test('prune by age goes by when the collector received a capture; per service', async (t) => {
      const store = await openStore(t);
      await store.insert([sampleCapture({ service: 'web' }), sampleCapture({ service: 'payments' })]);
      const between = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 15));
      await store.insert([sampleCapture({ service: 'web' })]);
      // Older than 0 ms as seen at `between`: the first batch only.
      assert.equal((await store.prune({ maxAgeMs: 0, service: 'web' }, { now: between + 1 })).deleted, 1);
      assert.deepEqual(await seqs(store), [2, 3]);
      assert.equal((await store.prune({ maxAgeMs: 0 }, { now: between + 1 })).deleted, 1);
      assert.deepEqual(await seqs(store), [3]);
      assert.equal((await store.prune({ maxAgeMs: 60_000 })).deleted, 0);
    });

    test('count and storedBytes stay exact through retried batches, deletes, prunes and a second store', async (t) => {
      const database = await backend.database(t);
      const [a, b] = [await database.open(), await database.open()];
      const stored: Array<ReturnType<typeof sampleCapture>> = [];
      const check = async (why: string): Promise<void> => {
        for (const store of [a, b]) {
          assert.equal(await store.count(), stored.length, `count after ${why}`);
          assert.equal(await store.storedBytes(), stored.reduce((n, c) => n + sizeOf(c), 0), `storedBytes after ${why}`);
        }
      };
      await check('nothing');
      const first = Array.from({ length: 5 }, (_, i) => sampleCapture({ service: i % 2 ? 'web' : 'payments' }));
      await a.insert([...first, first[0]!]);
      stored.push(...first);
      await check('a batch with a duplicate inside');
      const extra = sampleCapture();
      await b.insert([first[1]!, extra]);
      stored.push(extra);
      await check('a retried capture next to a new one');
      // Two stores inserting at once, as two collectors would.
      const more = Array.from({ length: 40 }, () => sampleCapture({ service: 'orders' }));
      await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).insert(more.slice(i * 5, i * 5 + 5))));
      stored.push(...more);
      await check('concurrent batches through two stores');
      assert.equal(await a.delete(2), true);
      stored.splice(1, 1);
      await check('a delete');
      assert.equal((await b.prune({ maxCount: 10 }, { batchSize: 3 })).deleted, stored.length - 10);
      stored.splice(0, stored.length - 10);
      await check('a prune');
    });

    test('services lists each service that has captures once, by code point', async (t) => {
      const store = await openStore(t);
      assert.deepEqual(await store.services(), []);
      await store.insert(['web', 'Zeta', 'api', 'web', '\u00e4rger', 'api-gateway'].map((service) => sampleCapture({ service })));
      assert.deepEqual(await store.services(), ['Zeta', 'api', 'api-gateway', 'web', '\u00e4rger']);
      await store.prune({ maxCount: 0, service: 'Zeta' });
      assert.deepEqual(await store.services(), ['api', 'api-gateway', 'web', '\u00e4rger']);
    });

    test('two prunes and a listing at once: each capture removed once, the newest kept', async (t) => {
      const database = await backend.database(t);
      const [a, b] = [await database.open(), await database.open()];
      await a.insert(Array.from({ length: 300 }, () => sampleCapture()));
      const [ra, rb, listed] = await Promise.all([
        a.prune({ maxCount: 50 }, { batchSize: 10 }),
        b.prune({ maxCount: 50 }, { batchSize: 10 }),
        a.list({ limit: 1000 }),
      ]);
      assert.equal(ra.deleted + rb.deleted, 250);
      assert.ok(listed.length >= 50);
      assert.deepEqual(await seqs(a), Array.from({ length: 50 }, (_, i) => 251 + i));
    });
  });
}

describe('PostgreSQL only', () => {
  test('migrations from an empty schema: recorded once, re-opening runs none', async (t) => {
    const schema = await freshPgSchema(t);
    const first = new PostgresStore(schema.url);
    await first.ready();
    await first.insert([sampleCapture()]);
    await first.close();
    const second = new PostgresStore(schema.url);
    t.after(() => second.close());
    await second.ready();
    assert.equal(await second.count(), 1);
    assert.deepEqual(
      await schema.query('SELECT version, name FROM schema_migrations ORDER BY version'),
      pgMigrations.map((m) => ({ version: m.version, name: m.name })),
    );
    const tables = await schema.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [schema.schema],
    );
    assert.deepEqual(
      tables.map((r) => r.table_name),
      ['agents', 'capture_records', 'capture_rules', 'capture_totals', 'captures', 'rules_version', 'schema_migrations', 'tapconfigs'],
    );
  });

  test('a schema of version 1 with captures is migrated: the totals count them and stay exact', async (t) => {
    const schema = await freshPgSchema(t);
    await schema.query(pgMigrations[0]!.sql);
    await schema.query('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    await schema.query(`INSERT INTO schema_migrations VALUES (1, $1, 0)`, [pgMigrations[0]!.name]);
    const old = [sampleCapture({ service: 'web' }), sampleCapture({ service: 'payments' })];
    for (const record of old) {
      const json = JSON.stringify(record);
      await schema.query(
        `WITH c AS (INSERT INTO captures (id, service, instance, started_at, duration_ms, method, path, url, status, destination,
           trace_id, aborted, size, received_at) VALUES ($1, $2, 'h:1', 0, 1, 'GET', '/', '/', 500, 'web:9090', 't', false, $3, 0) RETURNING seq)
         INSERT INTO capture_records (seq, record) SELECT seq, $4 FROM c`,
        [record.id, record.service, Buffer.byteLength(json), json],
      );
    }
    const store = new PostgresStore(schema.url);
    t.after(() => store.close());
    await store.ready();
    const bytes = old.reduce((n, c) => n + Buffer.byteLength(JSON.stringify(c)), 0);
    assert.equal(await store.count(), 2);
    assert.equal(await store.storedBytes(), bytes);
    assert.deepEqual(await store.services(), ['payments', 'web']);
    assert.deepEqual((await store.list({ status: { min: 500, max: 599 }, limit: 10 })).map((c) => c.id), old.map((c) => c.id));
    const added = sampleCapture();
    await store.insert([added]);
    assert.equal(await store.delete(1), true);
    assert.equal(await store.count(), 2);
    assert.equal(await store.storedBytes(), bytes - Buffer.byteLength(JSON.stringify(old[0])) + Buffer.byteLength(JSON.stringify(added)));
    assert.deepEqual(
      (await schema.query('SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version),
      pgMigrations.map((m) => m.version),
    );
  });

  test('three stores opening an empty schema at once: one applies the migrations, all work', async (t) => {
    const schema = await freshPgSchema(t);
    const stores = [1, 2, 3].map(() => new PostgresStore(schema.url));
    t.after(() => Promise.all(stores.map((s) => s.close())));
    await Promise.all(stores.map((s) => s.ready()));
    assert.deepEqual(await schema.query('SELECT COUNT(*)::int AS n FROM schema_migrations'), [{ n: pgMigrations.length }]);
    await Promise.all(stores.map((s) => s.insert([sampleCapture()])));
    assert.deepEqual((await stores[0]!.list({})).map((s) => s.seq), [1, 2, 3]);
  });

  test('a schema from a newer httploop is refused with the fix in the message', async (t) => {
    const schema = await freshPgSchema(t);
    const opened = new PostgresStore(schema.url);
    await opened.ready();
    await opened.close();
    await schema.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)");
    const store = new PostgresStore(schema.url);
    t.after(() => store.close());
    await assert.rejects(store.ready(), {
      code: codes.STORAGE,
      message: `the database ${store.url} has schema version 99, newer than this httploop knows (${pgMigrations.length}); upgrade httploop or point --pg at another database or schema`,
    });
    await assert.rejects(store.count(), { code: codes.STORAGE });
    assert.equal(await store.ping(), false);
  });

  test('a URL that is not postgres:// is refused at construction; the password never shows', async (t) => {
    for (const url of ['mysql://u:hunter2@h/db', './loop.db', '', 'postgres//nope']) {
      assert.throws(() => new PostgresStore(url), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, codes.BAD_DATABASE_URL);
        assert.match(err.message, /^httploop: PostgresStore: .*postgres:\/\/user@host:5432\/database/);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      });
    }
    // Nothing listens on port 1: the reason is given, with the password hidden.
    const store = new PostgresStore('postgresql://user:hunter2@127.0.0.1:1/test', { connectTimeoutMs: 2000 });
    t.after(() => store.close());
    assert.equal(store.url, 'postgresql://user:***@127.0.0.1:1/test');
    await assert.rejects(store.ready(), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, codes.STORAGE);
      assert.match(err.message, /^cannot connect to PostgreSQL at postgresql:\/\/user:\*\*\*@127\.0\.0\.1:1\/test: /);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  });

  test('a rule change through one store is announced to the others on the same schema, not to other schemas', async (t) => {
    const schema = await freshPgSchema(t);
    const other = await freshPgSchema(t);
    const [writer, reader, elsewhere] = [new PostgresStore(schema.url), new PostgresStore(schema.url), new PostgresStore(other.url)];
    t.after(() => Promise.all([writer, reader, elsewhere].map((s) => s.close())));
    await Promise.all([writer.ready(), reader.ready(), elsewhere.ready()]);
    let heard = 0;
    let heardElsewhere = 0;
    const subscription = reader.watchRules(() => heard++);
    const otherSubscription = elsewhere.watchRules(() => heardElsewhere++);
    t.after(() => {
      subscription.close();
      otherSubscription.close();
    });
    await until(() => subscription.live && otherSubscription.live && heard === 1 && heardElsewhere === 1, 5000, 'the subscriptions go live');
    await writer.applyTapConfigs([tapconfig('pushed')]);
    await until(() => heard === 2, 2000, 'the reader hears of the apply');
    await writer.deleteTapConfig('pushed');
    await until(() => heard === 3, 2000, 'the reader hears of the delete');
    await writer.applyTapConfigs([tapconfig('pushed')]);
    await writer.applyTapConfigs([tapconfig('pushed')]); // unchanged: no bump, no notification
    await until(() => heard === 4, 2000, 'the reader hears of the second apply');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(heard, 4);
    assert.equal(heardElsewhere, 1, 'another schema is not told');
    assert.equal(await reader.rulesVersion(), 3);
  });

  test('the listening connection comes back after it is cut, and says so', async (t) => {
    const schema = await freshPgSchema(t);
    // Its own application_name (the URL's wins over the store's), so only this test's connection is cut.
    const name = `httploop-cut-${schema.schema}`.slice(0, 63);
    const store = new PostgresStore(`${schema.url}&application_name=${name}`);
    t.after(() => store.close());
    await store.ready();
    let heard = 0;
    const subscription = store.watchRules(() => heard++);
    t.after(() => subscription.close());
    await until(() => subscription.live && heard === 1, 5000, 'the subscription goes live');
    // Cut it from the server's side, as a restart or a proxy would.
    const cut = await schema.query(
      "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND query = 'LISTEN httploop_rules'",
      [name],
    );
    assert.deepEqual(cut, [{ ok: true }]);
    await until(() => !subscription.live || heard >= 2, 5000, 'the cut is noticed');
    await until(() => subscription.live && heard >= 2, 5000, 'it listens again and reports a possible change');
  });

  test('a search_path naming no existing schema is refused with the fix', async (t) => {
    const store = new PostgresStore(schemaUrl('httploop_no_such_schema'));
    t.after(() => store.close());
    await assert.rejects(store.ready(), {
      code: codes.STORAGE,
      message: `the search_path of ${store.url} (httploop_no_such_schema) names no schema that exists; create it (CREATE SCHEMA ...) or fix the URL's options=-c search_path=...`,
    });
  });

  test('createCollector({ pg }) and startCollector({ pg }): validated at construction, waited for before listening', async (t) => {
    assert.throws(() => createCollector({ pg: 'mysql://u:hunter2@h/db' }), {
      code: codes.BAD_DATABASE_URL,
      message:
        "httploop: createCollector(): pg: 'mysql://u:***@h/db' is not a PostgreSQL URL; use one like postgres://user@host:5432/database (a SQLite database is a file path instead: --db, or createCollector({ db }))",
    });
    assert.throws(() => createCollector({ pg: 'postgres://h/db', db: ':memory:' }), {
      code: codes.INVALID_OPTION,
      message: 'httploop: createCollector(): give one of store, db (a SQLite file) and pg (a PostgreSQL URL), not several',
    });
    await assert.rejects(startCollector({ port: 0, pg: 'postgres://h/db', db: 'x.db' }), { code: codes.INVALID_OPTION });

    const down = createCollector({ pg: 'postgres://u:hunter2@127.0.0.1:1/test' });
    await assert.rejects(down.listen(0), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, codes.STORAGE);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
    await down.close();

    const schema = await freshPgSchema(t);
    const running = await startCollector({ port: 0, pg: schema.url });
    t.after(() => running.close());
    assert.deepEqual([running.backend, running.db], ['postgres', schema.url]);
    assert.deepEqual((await ingest(running.url, [sampleCapture()])).json(), { inserted: 1, duplicates: 0 });
    assert.equal((await httpRequest(`${running.url}/v1/captures`)).json().captures.length, 1);
    assert.deepEqual((await httpRequest(`${running.url}/healthz`)).json(), { status: 'ok' });
    assert.deepEqual(await schema.query('SELECT seq FROM captures'), [{ seq: '1' }]);
  });

  test('an insert finds the ids already stored through captures_id_key, whatever the table holds', async (t) => {
    // As a join, the planner hashed every stored id for each batch while the table looked small enough
    // (a sequential scan of captures, 40 ms a batch at 30 000 rows). The plan is checked, not a time.
    const schema = await freshPgSchema(t);
    const store = new PostgresStore(schema.url);
    t.after(() => store.close());
    await store.ready();
    for (let b = 0; b < 10; b++) await store.insert(Array.from({ length: 500 }, () => sampleCapture()));
    await schema.query('ANALYZE captures');
    const params = insertCapturesParams(
      Array.from({ length: 500 }, () => listedValues(sampleCapture(), 100)),
      Date.now(),
    );
    const plan = (await schema.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${INSERT_CAPTURES}`, params))
      .map((row) => row['QUERY PLAN'])
      .join('\n');
    assert.match(plan, /Index (Only )?Scan using captures_id_key on captures c/, plan);
    assert.doesNotMatch(plan, /Seq Scan on captures/, plan);
    assert.equal(await store.count(), 5000);
  });

  test('schemaUrl puts the schema in the connection options', () => {
    assert.equal(schemaUrl('s1', 'postgres://u@h:5432/db'), 'postgres://u@h:5432/db?options=-c+search_path%3Ds1');
  });
});

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
