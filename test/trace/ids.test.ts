import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { describe, it, type TestContext } from 'node:test';
import { newSpanId, newTraceId } from '../../src/trace/ids.js';

const POOL = 4096;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/**
 * Counts the randomFillSync calls ids.ts makes, optionally replacing what they write. ids.ts holds a
 * named import of the built-in, which syncBuiltinESMExports() re-points at the wrapper; restored in
 * t.after.
 */
function spyRandomFill(t: TestContext, fill?: (buf: Buffer) => boolean) {
  const real = crypto.randomFillSync;
  const spy = { calls: 0 };
  crypto.randomFillSync = ((buf: Buffer) => {
    spy.calls++;
    if (fill?.(buf)) return buf;
    return real(buf);
  }) as typeof crypto.randomFillSync;
  syncBuiltinESMExports();
  t.after(() => {
    crypto.randomFillSync = real;
    syncBuiltinESMExports();
  });
  return spy;
}

// Brings the pool to its end (the next id refills it), whatever earlier tests took from it: span ids
// until one refills, then the rest of that pool. Offsets are always multiples of 8.
function drainPool(spy: { calls: number }) {
  const before = spy.calls;
  while (spy.calls === before) newSpanId();
  for (let taken = 8; taken < POOL; taken += 8) newSpanId();
  assert.equal(spy.calls, before + 1);
}

describe('ids', () => {
  it('makes thousands of well-formed, unique, non-zero ids across many pool refills', () => {
    const count = 10_000; // 240,000 bytes: about 59 pools
    const traces = new Set<string>();
    const spans = new Set<string>();
    const malformed: string[] = [];
    for (let i = 0; i < count; i++) {
      const traceId = newTraceId();
      const spanId = newSpanId();
      if (!TRACE_ID.test(traceId) || /^0+$/.test(traceId)) malformed.push(traceId);
      if (!SPAN_ID.test(spanId) || /^0+$/.test(spanId)) malformed.push(spanId);
      traces.add(traceId);
      spans.add(spanId);
    }
    assert.deepStrictEqual({ malformed, traces: traces.size, spans: spans.size }, { malformed: [], traces: count, spans: count });
  });

  it('calls randomFillSync once per 4 KiB pool, never per id', (t) => {
    const spy = spyRandomFill(t);
    drainPool(spy);
    const start = spy.calls;
    const ids: string[] = [];
    for (let i = 0; i < 3 * (POOL / 16); i++) ids.push(newTraceId()); // exactly three pools
    const afterTraces = spy.calls - start;
    for (let i = 0; i < 2 * (POOL / 8); i++) ids.push(newSpanId()); // exactly two more
    assert.deepStrictEqual(
      { afterTraces, total: spy.calls - start, unique: new Set(ids).size },
      { afterTraces: 3, total: 5, unique: ids.length },
    );
  });

  it('never hands out an all-zero id, even from an all-zero pool', (t) => {
    // The fill right after each drain writes zeros: both functions must skip the whole pool of zero
    // ids and take theirs from the next, real one.
    let zeroNext = false;
    const spy = spyRandomFill(t, (buf) => {
      if (!zeroNext) return false;
      zeroNext = false;
      buf.fill(0);
      return true;
    });
    drainPool(spy);
    zeroNext = true;
    const traceId = newTraceId();
    drainPool(spy);
    zeroNext = true;
    const spanId = newSpanId();
    assert.deepStrictEqual(
      {
        trace: TRACE_ID.test(traceId) && !/^0+$/.test(traceId),
        span: SPAN_ID.test(spanId) && !/^0+$/.test(spanId),
        calls: spy.calls,
      },
      { trace: true, span: true, calls: 6 },
    );
  });
});
