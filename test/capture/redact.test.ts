import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { Redactor, redactJson } from '../../src/capture/redact.js';
import type { CapturedBody } from '../../src/capture/record.js';

const r = new Redactor();
const R = '"[REDACTED]"';

function json(text: string) {
  const redacted: string[] = [];
  return { out: redactJson(text, r, 'request.body', redacted), redacted };
}

describe('redaction', () => {
  it('replaces the default headers, keeps names and order, and redacts URLs in Referer/Location', () => {
    const redacted: string[] = [];
    const out = r.headers(
      [
        ['Host', 'web:9090'],
        ['Authorization', 'Bearer abc'],
        ['Cookie', 'sid=1'],
        ['X-Api-Key', 'k'],
        ['Proxy-Authorization', 'Basic x'],
        ['Referer', 'http://a/b?token=t1&q=2'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ],
      'request.headers',
      redacted,
    );
    assert.deepEqual(out, [
      ['Host', 'web:9090'],
      ['Authorization', '[REDACTED]'],
      ['Cookie', '[REDACTED]'],
      ['X-Api-Key', '[REDACTED]'],
      ['Proxy-Authorization', '[REDACTED]'],
      ['Referer', 'http://a/b?token=[REDACTED]&q=2'],
      ['Set-Cookie', '[REDACTED]'],
      ['Set-Cookie', '[REDACTED]'],
    ]);
    assert.deepEqual(redacted, [
      'request.headers.authorization',
      'request.headers.cookie',
      'request.headers.x-api-key',
      'request.headers.proxy-authorization',
      'request.headers.referer.query.token',
      'request.headers.set-cookie',
    ]);
  });

  it('redacts query parameters named like secrets, encoded names included, keeping the rest byte for byte', () => {
    const redacted: string[] = [];
    assert.equal(
      r.url('/pay?x=%20a&access_token=abc&API-KEY=1&user%5Fpassword=p&page=2', 'request.url', redacted),
      '/pay?x=%20a&access_token=[REDACTED]&API-KEY=[REDACTED]&user%5Fpassword=[REDACTED]&page=2',
    );
    assert.deepEqual(redacted, [
      'request.url.query.access_token',
      'request.url.query.API-KEY',
      'request.url.query.user_password',
    ]);
    assert.equal(r.url('/plain', 'request.url', []), '/plain');
    assert.equal(r.url('/x?flag', 'request.url', []), '/x?flag');
  });

  it('replaces JSON values of secret keys at any depth, keeping formatting elsewhere', () => {
    const text = '{\n  "user": { "name": "ann", "password": "p\\"w" },\n  "items": [{"token": 12}, {"ok": true}],\n  "clientSecret": {"a": [1,2]}\n}';
    const { out, redacted } = json(text);
    assert.equal(
      out,
      `{\n  "user": { "name": "ann", "password": ${R} },\n  "items": [{"token": ${R}}, {"ok": true}],\n  "clientSecret": ${R}\n}`,
    );
    assert.deepEqual(redacted, ['request.body.user.password', 'request.body.items[0].token', 'request.body.clientSecret']);
    assert.doesNotThrow(() => JSON.parse(out));
  });

  it('redacts JSON cut short by the body limit, up to the end when the secret itself is cut', () => {
    assert.equal(json('{"a": 1, "password": "hunter2", "b": "xy').out, `{"a": 1, "password": ${R}, "b": "xy`);
    assert.equal(json('{"a": 1, "password": "hunt').out, `{"a": 1, "password": ${R}`);
    assert.equal(json('{"nested": {"secret": {"deep": [1, 2').out, `{"nested": {"secret": ${R}`);
  });

  it('falls back to a pattern scan for text that is not JSON', () => {
    const { out, redacted } = json("{'a': 1, \"password\": \"x\", oops}");
    assert.equal(out, `{'a': 1, "password": ${R}, oops}`);
    assert.deepEqual(redacted, ['request.body.password']);
  });

  it('redacts urlencoded bodies and leaves binary bodies alone', () => {
    const form: CapturedBody = { encoding: 'utf8', data: 'user=ann&passwd=x&remember=1', size: 28, truncated: false };
    const redacted: string[] = [];
    const out = r.body(form, 'application/x-www-form-urlencoded', 'request.body', redacted);
    assert.equal(out!.data, 'user=ann&passwd=[REDACTED]&remember=1');
    assert.deepEqual(redacted, ['request.body.passwd']);
    const bin: CapturedBody = { encoding: 'base64', data: 'AAEC', size: 3, truncated: false };
    assert.equal(r.body(bin, 'application/octet-stream', 'response.body', []), bin);
  });

  it('decodes a compressed JSON body to find secrets and stores it decoded only when it held one', () => {
    const plain = JSON.stringify({ access_token: 'eyJ.secret', expires: 3600 });
    const gz = gzipSync(plain);
    const body: CapturedBody = { encoding: 'base64', data: gz.toString('base64'), size: gz.length, truncated: false, contentEncoding: 'gzip' };
    const redacted: string[] = [];
    const out = r.body(body, 'application/json', 'response.body', redacted);
    assert.deepEqual(out, { encoding: 'utf8', data: `{"access_token":${R},"expires":3600}`, size: gz.length, truncated: false });
    assert.deepEqual(redacted, ['response.body.access_token', 'response.body (stored decoded, was gzip)']);
    const harmless = gzipSync('{"ok":true}');
    const keep: CapturedBody = { encoding: 'base64', data: harmless.toString('base64'), size: harmless.length, truncated: false, contentEncoding: 'gzip' };
    assert.equal(r.body(keep, 'application/json', 'response.body', []), keep);
  });

  it('extends the defaults with configured headers and fields', () => {
    const custom = new Redactor({ headers: ['X-Session'], fields: ['ssn'] });
    const redacted: string[] = [];
    assert.deepEqual(custom.headers([['x-session', 'abc'], ['authorization', 'x']], 'request.headers', redacted), [
      ['x-session', '[REDACTED]'],
      ['authorization', '[REDACTED]'],
    ]);
    assert.equal(redactJson('{"ssn":"123","password":"p","name":"n"}', custom, 'b', redacted), `{"ssn":${R},"password":${R},"name":"n"}`);
  });
});
