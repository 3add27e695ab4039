/**
 * SqliteStore.list's planner (collector/storage/sqlite-list.ts) with a window of a few display ids, so
 * that a small database goes through every index it can choose (a real collector's window is thousands
 * of rows, which the conformance suite's databases never leave). Every filter combination is checked
 * against the same filter applied in JavaScript to every stored capture.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../collector/index.js';
import { SqliteLister } from '../../collector/storage/sqlite-list.js';
import type { CaptureFilter } from '../../collector/storage/types.js';
import { sampleCapture, tempDir } from '../helpers.js';

interface Stored {
  seq: number;
  service: string;
  status: number;
  path: string;
  startedAt: number;
  traceId: string;
  rules: string[];
}

function matches(c: Stored, f: CaptureFilter): boolean {
  return (
    (!f.status || (c.status >= f.status.min && c.status <= f.status.max)) &&
    (f.service === undefined || c.service === f.service) &&
    (f.path === undefined || c.path.startsWith(f.path)) &&
    (f.since === undefined || c.startedAt >= f.since) &&
    (f.traceId === undefined || c.traceId === f.traceId) &&
    (f.rule === undefined || c.rules.includes(f.rule)) &&
    (f.beforeSeq === undefined || c.seq < f.beforeSeq)
  );
}

test('every filter combination lists the newest matches, whichever index answers, with a window of a few rows', async (t) => {
  const file = path.join(await tempDir(t), 'loop.db');
  const store = new SqliteStore(file);
  t.after(() => store.close());
  const services = ['web', 'payments', 'admin'];
  const statuses = [200, 404, 500, 503];
  const paths = ['/api/orders/1', '/api/orders/2?x=1', '/api/refunds/7', '/admin/users', '/a*b[1]/c'];
  const stored: Stored[] = [];
  // 240 captures in batches, with patterns that drift (admin only early, 503 only late), so that
  // matches are sometimes all old and sometimes all new.
  for (let batch = 0; batch < 8; batch++) {
    const records = Array.from({ length: 30 }, (_, i) => {
      const n = batch * 30 + i;
      const service = n < 60 ? services[n % 3]! : services[n % 2]!;
      const status = n > 180 ? statuses[n % 4]! : statuses[n % 3]!;
      const url = paths[(n * 7) % paths.length]!;
      const rules = [...(status >= 500 ? ['errors'] : []), ...(n % 5 === 0 ? ['sampled'] : []), ...(n < 40 && n % 2 ? ['debug'] : [])];
      const startedAt = Date.UTC(2026, 0, 1) + ((n * 37) % 240) * 1000;
      const traceId = `trace-${n % 17}`;
      return sampleCapture({
        service,
        rules,
        startedAt: new Date(startedAt).toISOString(),
        trace: { traceId },
        request: { url },
        response: { status },
      });
    });
    await store.insert(records);
    for (const r of records) {
      stored.push({
        seq: stored.length + 1,
        service: r.service,
        status: r.response.status,
        path: r.request.url.split('?')[0]!,
        startedAt: Date.parse(r.startedAt),
        traceId: r.trace!.traceId,
        rules: r.rules,
      });
    }
  }
  assert.ok(store.delete(100) && store.delete(101) && store.delete(7), 'gaps in the display ids');
  const kept = stored.filter((c) => ![7, 100, 101].includes(c.seq));

  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  const listers = [new SqliteLister(db, { window: 5 }), new SqliteLister(db, { window: 50 }), new SqliteLister(db)];
  const options = {
    status: [undefined, { min: 500, max: 599 }, { min: 404, max: 404 }, { min: 100, max: 199 }],
    service: [undefined, 'web', 'admin', 'nobody'],
    path: [undefined, '/api/orders', '/api/refunds/7', '/a*b[1]', '/admin'],
    since: [undefined, Date.UTC(2026, 0, 1) + 200_000],
    traceId: [undefined, 'trace-3'],
    rule: [undefined, 'errors', 'debug'],
    beforeSeq: [undefined, 200, 50],
  };
  let checked = 0;
  let nonEmpty = 0;
  for (const status of options.status)
    for (const service of options.service)
      for (const p of options.path)
        for (const since of options.since)
          for (const traceId of options.traceId)
            for (const rule of options.rule)
              for (const beforeSeq of options.beforeSeq) {
                const filter: CaptureFilter = { status, service, path: p, since, traceId, rule, beforeSeq };
                for (const key of Object.keys(filter) as Array<keyof CaptureFilter>) if (filter[key] === undefined) delete filter[key];
                const all = kept.filter((c) => matches(c, filter)).map((c) => c.seq);
                for (const limit of [1, 7, 1000]) {
                  const expected = all.slice(-limit);
                  for (const lister of listers) {
                    const asc = lister.list({ ...filter, limit }).map((r) => r.seq);
                    assert.deepEqual(asc, expected, JSON.stringify({ ...filter, limit }));
                    const desc = lister.list({ ...filter, limit, order: 'desc' }).map((r) => r.seq);
                    assert.deepEqual(desc, [...expected].reverse());
                  }
                  checked++;
                  if (expected.length > 0) nonEmpty++;
                }
                assert.deepEqual(listers[0]!.list(filter).map((r) => r.seq), all, 'without a limit: all, in table order');
              }
  assert.ok(nonEmpty >= 1000, `enough combinations match something to mean anything (${nonEmpty} of ${checked})`);
});
