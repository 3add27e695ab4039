import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureId } from '../../src/capture/capture-id.js';

const NANOID_CHARS = /^[A-Za-z0-9_-]{21}$/;
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('captureId', () => {
  it('is 21 characters of nanoid’s alphabet, and unique', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = captureId();
      assert.match(id, NANOID_CHARS);
      ids.add(id);
    }
    assert.equal(ids.size, 100_000);
  });

  it('sorts by time, byte by byte, across the range of dates it covers', () => {
    // Times one apart at the low end, then spread over the 42 bits, in order.
    const times = [0, 1, 2, 63, 64, 65, 4095, 4096, Date.UTC(2026, 11, 2), Date.UTC(2026, 11, 2) + 1, Date.UTC(2070, 0, 1), 2 ** 42 - 1];
    for (let i = 1; i < 2000; i++) times.push(Math.floor((i / 2000) * 2 ** 42));
    times.sort((a, b) => a - b);
    const ids = times.map((t) => captureId(t));
    for (let i = 1; i < ids.length; i++) {
      const order = byteOrder(ids[i - 1].slice(0, 7), ids[i].slice(0, 7));
      assert.ok(times[i - 1] === times[i] ? order === 0 : order < 0, `${times[i - 1]} -> ${ids[i - 1]} should sort before ${times[i]} -> ${ids[i]}`);
    }
  });

  it('made a millisecond later sorts after, whatever the random part', () => {
    const now = Date.UTC(2026, 11, 2, 12);
    for (let i = 0; i < 1000; i++) assert.ok(byteOrder(captureId(now), captureId(now + 1)) < 0);
  });

  it('does not start with "-" for dates this century, so the CLI never takes it for an option', () => {
    for (const t of [Date.UTC(2020, 0, 1), Date.now(), Date.UTC(2099, 11, 31)]) assert.notEqual(captureId(t)[0], '-');
  });

  it('keeps fourteen random characters after the time', () => {
    const now = Date.now();
    const tails = new Set(Array.from({ length: 1000 }, () => captureId(now).slice(7)));
    assert.equal(tails.size, 1000);
  });
});
