// The collector's rules API on a real collector with a real SQLite file: TapConfigs applied all or
// nothing, versions, capture counts per rule, and the long poll agents follow the rules with.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { codes } from '../../collector/index.js';
import { SqliteStore } from '../../collector/storage/sqlite.js';
import { httpRequest, ingest, sampleCapture, startTestCollector, type HttpResult } from '../helpers.js';

function tapconfig(name: string, spec: Record<string, unknown> = { match: 'status >= 500' }): Record<string, unknown> {
  return { apiVersion: 'httploop/v1', kind: 'TapConfig', metadata: { name }, spec };
}

function apply(url: string, tapconfigs: unknown[], query = ''): Promise<HttpResult> {
  return httpRequest(`${url}/v1/tapconfigs${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tapconfigs }),
  });
}

function poll(url: string, query: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return httpRequest(`${url}/v1/rules?${query}`, { headers });
}

describe('TapConfigs', () => {
  test('apply creates, reports unchanged, configures; each change bumps the version once', async (t) => {
    const { url } = await startTestCollector(t);
    let res = await apply(url, [tapconfig('a'), tapconfig('b', { match: 'status == 404', services: ['web'] })]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), {
      version: 1,
      results: [
        { name: 'a', action: 'created' },
        { name: 'b', action: 'created' },
      ],
    });
    res = await apply(url, [tapconfig('a'), tapconfig('b', { match: 'status == 404', services: ['web'] })]);
    assert.deepEqual(res.json(), {
      version: 1,
      results: [
        { name: 'a', action: 'unchanged' },
        { name: 'b', action: 'unchanged' },
      ],
    });
    res = await apply(url, [tapconfig('a', { match: 'status >= 500', sample: 0.5 })]);
    assert.deepEqual(res.json(), { version: 2, results: [{ name: 'a', action: 'configured' }] });

    const listing = (await httpRequest(`${url}/v1/tapconfigs`)).json();
    assert.equal(listing.version, 2);
    assert.deepEqual(
      listing.tapconfigs.map((s: { resource: unknown; version: number; captured: number }) => [s.resource, s.version, s.captured]),
      [
        [tapconfig('a', { match: 'status >= 500', sample: 0.5 }), 2, 0],
        [tapconfig('b', { match: 'status == 404', services: ['web'] }), 1, 0],
      ],
    );

    const one = await httpRequest(`${url}/v1/tapconfigs/b`);
    assert.deepEqual(one.json().resource, tapconfig('b', { match: 'status == 404', services: ['web'] }));
    assert.equal((await httpRequest(`${url}/v1/tapconfigs/nope`)).status, 404);
  });

  test('an invalid resource applies nothing; every problem is listed with its resource and field', async (t) => {
    const { url } = await startTestCollector(t);
    const res = await apply(url, [
      tapconfig('good'),
      { apiVersion: 'httploop/v2', kind: 'TapConfig', metadata: { name: 'Bad Name' }, spec: { match: 'status >=', smaple: 1 } },
    ]);
    assert.equal(res.status, 400);
    const error = res.json().error;
    assert.equal(error.code, codes.INVALID_TAPCONFIG);
    assert.deepEqual(error.problems, [
      { index: 1, path: 'apiVersion', message: "apiVersion must be httploop/v1 or loop.solo.io/v1; got 'httploop/v2'" },
      {
        index: 1,
        path: 'metadata.name',
        message:
          "metadata.name must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters), as in checkout-errors; got 'Bad Name'",
      },
      {
        index: 1,
        path: 'spec.smaple',
        message: "unknown field 'smaple' in spec; did you mean 'sample'? (known: match, services, sample, maxPerMinute, body, redact, outbound)",
      },
      { index: 1, path: 'spec.match', message: "rule syntax error at 1:10: expected a number or string after '>='" },
    ]);
    assert.equal(error.message, `tapconfigs[1].apiVersion: apiVersion must be httploop/v1 or loop.solo.io/v1; got 'httploop/v2' (and 3 more)`);
    assert.deepEqual((await httpRequest(`${url}/v1/tapconfigs`)).json().tapconfigs, []);
    assert.equal((await httpRequest(`${url}/v1/tapconfigs`)).json().version, 0);
  });

  test('dryRun checks without applying', async (t) => {
    const { url } = await startTestCollector(t);
    const res = await apply(url, [tapconfig('a')], '?dryRun=true');
    assert.deepEqual(res.json(), { version: 0, results: [{ name: 'a', action: 'valid' }] });
    assert.deepEqual((await httpRequest(`${url}/v1/tapconfigs`)).json().tapconfigs, []);
  });

  test('two resources with one name are refused', async (t) => {
    const { url } = await startTestCollector(t);
    const res = await apply(url, [tapconfig('a'), tapconfig('a')]);
    assert.equal(res.status, 400);
    assert.deepEqual(res.json().error.problems, [{ index: 1, path: 'metadata.name', message: "metadata.name 'a' is given twice" }]);
  });

  test('delete bumps the version; deleting what is not there is 404', async (t) => {
    const { url } = await startTestCollector(t);
    await apply(url, [tapconfig('a')]);
    const res = await httpRequest(`${url}/v1/tapconfigs/a`, { method: 'DELETE' });
    assert.deepEqual(res.json(), { version: 2, deleted: 'a' });
    const again = await httpRequest(`${url}/v1/tapconfigs/a`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.deepEqual(again.json().error, { code: codes.NOT_FOUND, message: 'no tapconfig named a' });
  });

  test('CAPTURED counts the stored captures each rule was among the reasons for', async (t) => {
    const { url } = await startTestCollector(t);
    await apply(url, [tapconfig('errors'), tapconfig('slow', { match: 'duration > 1000' })]);
    await ingest(url, [
      sampleCapture({ rules: ['errors'] }),
      sampleCapture({ rules: ['errors', 'slow'] }),
      sampleCapture({ rules: ['default'] }),
    ]);
    const listing = (await httpRequest(`${url}/v1/tapconfigs`)).json();
    assert.deepEqual(
      listing.tapconfigs.map((s: { resource: { metadata: { name: string } }; captured: number }) => [s.resource.metadata.name, s.captured]),
      [
        ['errors', 2],
        ['slow', 1],
      ],
    );
  });

  test('the API needs the token when the collector has one', async (t) => {
    const { url } = await startTestCollector(t, { token: 's3cret' });
    assert.equal((await httpRequest(`${url}/v1/tapconfigs`)).status, 401);
    assert.equal((await apply(url, [tapconfig('a')])).status, 401);
    assert.equal((await poll(url, 'service=web')).status, 401);
    const ok = await httpRequest(`${url}/v1/tapconfigs`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
  });
});

describe('the rules long poll', () => {
  test('answers at once with the rules for the service, filtered by spec.services', async (t) => {
    const { url } = await startTestCollector(t);
    await apply(url, [tapconfig('all'), tapconfig('web-only', { match: 'status == 404', services: ['web'] }), tapconfig('api-only', { match: 'true', services: ['api'] })]);
    const res = await poll(url, 'service=web&instance=h:1&version=0');
    assert.equal(res.status, 200);
    assert.equal(res.headers.etag, '"1"');
    assert.deepEqual(res.json(), {
      version: 1,
      tapconfigs: [tapconfig('all'), tapconfig('web-only', { match: 'status == 404', services: ['web'] })],
    });
  });

  test('holds a poll that has the current version, and answers 304 when the wait ends', async (t) => {
    const { url } = await startTestCollector(t);
    await apply(url, [tapconfig('a')]);
    const started = Date.now();
    const res = await poll(url, 'service=web&wait=1', { 'if-none-match': '"1"' });
    assert.equal(res.status, 304);
    assert.equal(res.headers.etag, '"1"');
    assert.ok(Date.now() - started >= 900, `held for ${Date.now() - started} ms`);
  });

  test('a held poll is answered as soon as a rule is applied, and as soon as one is deleted', async (t) => {
    const { url } = await startTestCollector(t);
    await apply(url, [tapconfig('a')]);
    let pending = poll(url, 'service=web&wait=30', { 'if-none-match': '"1"' });
    await new Promise((r) => setTimeout(r, 100));
    let started = Date.now();
    await apply(url, [tapconfig('b', { match: 'status == 418' })]);
    let res = await pending;
    assert.ok(Date.now() - started < 1000, `answered after ${Date.now() - started} ms`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { version: 2, tapconfigs: [tapconfig('a'), tapconfig('b', { match: 'status == 418' })] });

    pending = poll(url, 'service=web&wait=30', { 'if-none-match': '"2"' });
    await new Promise((r) => setTimeout(r, 100));
    started = Date.now();
    await httpRequest(`${url}/v1/tapconfigs/a`, { method: 'DELETE' });
    res = await pending;
    assert.ok(Date.now() - started < 1000);
    assert.deepEqual(res.json(), { version: 3, tapconfigs: [tapconfig('b', { match: 'status == 418' })] });
  });

  test('a change made by another process on the same database wakes the poll within a second or so', async (t) => {
    const { url, db } = await startTestCollector(t);
    const pending = poll(url, 'service=web&wait=30&version=0');
    await new Promise((r) => setTimeout(r, 100));
    const other = new SqliteStore(db);
    t.after(() => other.close());
    const started = Date.now();
    other.applyTapConfigs([tapconfig('from-elsewhere') as never]);
    const res = await pending;
    assert.ok(Date.now() - started < 2000, `answered after ${Date.now() - started} ms`);
    assert.equal(res.json().version, 1);
  });

  test('polls are recorded as agents: which version and source each instance has', async (t) => {
    const { url } = await startTestCollector(t);
    await apply(url, [tapconfig('a')]);
    await poll(url, 'service=web&instance=host-a:1&version=1&source=collector');
    await poll(url, 'service=web&instance=host-b:2&version=0&source=local');
    await poll(url, 'service=api&instance=host-c:3&version=1&source=collector');
    const agents = (await httpRequest(`${url}/v1/tapconfigs`)).json().agents;
    assert.deepEqual(
      agents.map((a: { service: string; instance: string; version: number; source: string }) => [a.service, a.instance, a.version, a.source]),
      [
        ['api', 'host-c:3', 1, 'collector'],
        ['web', 'host-a:1', 1, 'collector'],
        ['web', 'host-b:2', 0, 'local'],
      ],
    );
  });

  test('bad polls are refused with the fix', async (t) => {
    const { url } = await startTestCollector(t);
    let res = await poll(url, 'wait=1');
    assert.equal(res.status, 400);
    assert.equal(res.json().error.message, "the 'service' query parameter is required: /v1/rules?service=web");
    res = await poll(url, 'service=web&wait=600');
    assert.equal(res.json().error.message, "bad wait '600': use whole seconds from 0 to 60");
  });

  test('closing the collector ends held polls at once', async (t) => {
    const { collector, url } = await startTestCollector(t);
    const pending = poll(url, 'service=web&wait=30&version=0');
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await collector.close();
    const res = await pending;
    assert.equal(res.status, 304);
    assert.equal(res.headers.connection, 'close');
    assert.ok(Date.now() - started < 2000, `closed after ${Date.now() - started} ms`);
  });
});
