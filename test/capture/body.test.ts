import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyTap } from '../../src/capture/body.js';

describe('BodyTap', () => {
  it('keeps the first max bytes, counts all, copies what it keeps', () => {
    const tap = new BodyTap(10);
    const chunk = Buffer.from('hello ');
    tap.push(chunk);
    chunk.fill(0); // the app reusing its buffer must not change the capture
    tap.push('wörld and more', 'utf8');
    assert.equal(tap.size, 6 + Buffer.byteLength('wörld and more'));
    assert.deepEqual(tap.toBody(undefined), { encoding: 'utf8', data: 'hello wör', size: 21, truncated: true });
  });

  it('stores text that was cut inside a character as text, binary as base64', () => {
    const tap = new BodyTap(2);
    tap.push('é€');
    assert.deepEqual(tap.toBody(undefined), { encoding: 'utf8', data: 'é', size: 5, truncated: true });
    const bin = new BodyTap(100);
    bin.push(Buffer.from([0xff, 0x00, 0x80]));
    assert.deepEqual(bin.toBody(undefined), { encoding: 'base64', data: '/wCA', size: 3, truncated: false });
  });

  it('keeps compressed bytes as base64 with their content encoding; an empty body is null', () => {
    const tap = new BodyTap(100);
    tap.push(new Uint8Array([31, 139, 8]));
    assert.deepEqual(tap.toBody('gzip'), { encoding: 'base64', data: Buffer.from([31, 139, 8]).toString('base64'), size: 3, truncated: false, contentEncoding: 'gzip' });
    assert.equal(new BodyTap(100).toBody(undefined), null);
  });

  it('honours string encodings (latin1, hex, base64)', () => {
    const tap = new BodyTap(100);
    tap.push('ff00', 'hex');
    tap.push('AQI=', 'base64');
    assert.deepEqual([...tap.bytes()], [0xff, 0x00, 0x01, 0x02]);
  });
});
