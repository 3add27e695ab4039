// The ingest body splitter (collector/ingest-body.ts): bodies of the usual shape are cut into their
// captures by bytes, and every other body is parsed whole; either way the result is JSON.parse's, and
// a bad body gets the same 400 as before. End to end, what the store keeps of a capture reads back as
// the capture that was sent.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { test } from 'node:test';
import { captureSpans, parseIngestBody } from '../../collector/ingest-body.js';
import { codes } from '../../src/errors.js';
import { httpRequest, sampleCapture, startTestCollector } from '../helpers.js';

/** What parseIngestBody must agree with: the captures of JSON.parse of the whole body. */
function capturesOf(body: unknown): unknown {
  return Array.isArray(body) ? body : (body as { captures?: unknown }).captures;
}

const tricky = [
  '{"a":"}","b":"{[","c":"\\"}\\\\","d":[1,{"e":"]"}]}',
  '{"s":"caf\u00e9 \u2603 \ud83d\ude00","t":"\\u007d\\u005d"}',
  '{"nested":{"x":[[[]]],"y":{}},"z":null}',
  '{}',
];

test('bodies of the usual shape are cut into captures, each kept as its own text', () => {
  const cases = [
    `{"captures":[${tricky.join(',')}]}`,
    `[${tricky.join(',')}]`,
    ` \n\t{ "captures" :\r\n [ ${tricky.join(' ,\n ')} ] } \n`,
    '{"captures":[]}',
    '[]',
  ];
  for (const text of cases) {
    const bytes = Buffer.from(text);
    const spans = captureSpans(bytes);
    assert.ok(spans, text);
    const { body, json } = parseIngestBody(bytes);
    assert.deepEqual(body, capturesOf(JSON.parse(text)), text);
    assert.ok(json, text);
    assert.equal(json.length, (body as unknown[]).length);
    for (let i = 0; i < json.length; i++) assert.deepEqual(JSON.parse(json[i]!), (body as unknown[])[i]);
    if ((body as unknown[]).length === tricky.length) assert.deepEqual(json, tricky);
  }
});

test('every other body is parsed whole, as JSON.parse parses it', () => {
  const cases = [
    '{"captures":[{"a":1}],"agent":"x"}', // another key
    '{"agent":"x","captures":[{"a":1}]}',
    '{"capt\\u0075res":[{"a":1}]}', // the key written with an escape
    '{"captures":[{"a":1}],"captures":[{"b":2}]}', // a duplicate key: the last one wins
    '{"captures":[1,"x",null]}', // elements that are not objects
    '{"captures":{"a":1}}',
    '{"other":[]}',
    '"captures"',
    '42',
    '{"captures":[{"a":1}  ,  {"b":[2]}]}',
  ];
  for (const text of cases) {
    const { body, json } = parseIngestBody(Buffer.from(text));
    const whole = JSON.parse(text);
    if (json === undefined) assert.deepEqual(body, whole, text);
    else assert.deepEqual(body, capturesOf(whole), text);
  }
  assert.equal(captureSpans(Buffer.from('{"captures":[{"a":1}],"agent":"x"}')), undefined);
  assert.equal(captureSpans(Buffer.from('{"captures":[1]}')), undefined);
});

test('a bad body gets the 400 it got when bodies were parsed whole', () => {
  const bad = [
    '{"captures":[{"a":1},]}', // trailing comma
    '{"captures":[{"a":01}]}', // a number JSON does not allow
    '{"captures":[{"a":1}', // cut short
    '{"captures":[{"a":"1}]}', // an unterminated string
    '{"captures":[{"a":1}]} x', // something after the end
    '{"captures":[{"a":1]}]}', // brackets that do not pair
    '',
  ];
  for (const text of bad) {
    let whole: string | undefined;
    try {
      JSON.parse(text);
    } catch (err) {
      whole = `request body is not valid JSON: ${(err as Error).message}`;
    }
    assert.ok(whole, `not a bad body: ${text}`);
    assert.throws(
      () => parseIngestBody(Buffer.from(text)),
      (err: Error & { status?: number; code?: string }) => err.status === 400 && err.code === codes.BAD_REQUEST && err.message === whole,
      text,
    );
  }
  // Invalid UTF-8 inside a capture's string: refused, not stored as U+FFFD.
  const invalid = Buffer.concat([Buffer.from('{"captures":[{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
  assert.throws(
    () => parseIngestBody(invalid),
    (err: Error & { status?: number }) => err.status === 400 && err.message === 'request body is not valid UTF-8',
  );
});

test('through a collector, the stored record is the capture sent, from any body shape', async (t) => {
  const { url, db } = await startTestCollector(t);
  const plain = sampleCapture({ service: 'caf\u00e9' });
  const pretty = sampleCapture();
  const withSeq = { ...sampleCapture(), seq: 999 };
  const post = (body: string) =>
    httpRequest(`${url}/v1/captures`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  // A space JSON.stringify would not write: it shows that the text as sent is what is kept.
  const plainText = JSON.stringify(plain).replace(/^\{/, '{ ');
  assert.equal((await post(`{"captures":[${plainText}]}`)).status, 200);
  assert.equal((await post(JSON.stringify([pretty], null, 2))).status, 200);
  assert.equal((await post(JSON.stringify({ captures: [withSeq] }))).status, 200);

  const conn = new Database(db, { readonly: true });
  t.after(() => conn.close());
  const stored = new Map(
    (conn.prepare('SELECT c.id AS id, r.record AS record FROM captures c JOIN capture_records r ON r.seq = c.seq').all() as Array<{ id: string; record: string }>).map(
      (row) => [row.id, row.record],
    ),
  );
  // As sent, byte for byte, when the text is what would be stored anyway.
  assert.equal(stored.get(plain.id), plainText);
  // Serialized again when the text has newlines in it (PostgreSQL's insert joins records by newline)
  // or a display id (which the store assigns).
  assert.equal(stored.get(pretty.id), JSON.stringify(pretty));
  const { seq: _seq, ...withoutSeq } = withSeq;
  assert.equal(stored.get(withSeq.id), JSON.stringify(withoutSeq));

  const shown = (await httpRequest(`${url}/v1/captures/${plain.id}`)).json() as { capture?: unknown };
  const record = (shown.capture ?? shown) as Record<string, unknown>;
  assert.equal(record.service, 'caf\u00e9');
  assert.equal(record.id, plain.id);
});
