import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { CapturedResponse } from '../../src/capture/record.js';
import { diffResponse } from '../../src/replay/index.js';
import { diffLines, type Hunk } from '../../src/replay/line-diff.js';

function text(body: string): CapturedResponse {
  return { status: 200, headers: [], aborted: false, body: { encoding: 'utf8', data: body, size: Buffer.byteLength(body), truncated: false } };
}

/** Applies the hunks to `a`; a correct diff gives back `b`. */
function apply(a: string[], b: string[], hunks: Hunk[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const h of hunks) {
    out.push(...a.slice(at, h.aStart), ...b.slice(h.bStart, h.bEnd));
    at = h.aEnd;
  }
  return [...out, ...a.slice(at)];
}

test('diffLines: one inserted line is one hunk, not every line after it', () => {
  const a = ['a', 'b', 'c', 'd'];
  const b = ['new', 'a', 'b', 'c', 'd'];
  assert.deepEqual(diffLines(a, b), [{ aStart: 0, aEnd: 0, bStart: 0, bEnd: 1 }]);
  assert.deepEqual(diffLines(b, a), [{ aStart: 0, aEnd: 1, bStart: 0, bEnd: 0 }]);
  assert.deepEqual(diffLines(a, a), []);
  assert.deepEqual(diffLines([], ['x']), [{ aStart: 0, aEnd: 0, bStart: 0, bEnd: 1 }]);
});

test('diffLines: changes apart are separate hunks; a change in place pairs the lines', () => {
  const a = ['1', '2', '3', '4', '5', '6'];
  const b = ['1', 'two', '3', '4', '5', 'six', '7'];
  assert.deepEqual(diffLines(a, b), [
    { aStart: 1, aEnd: 2, bStart: 1, bEnd: 2 },
    { aStart: 5, aEnd: 6, bStart: 5, bEnd: 7 },
  ]);
});

test('diffLines: the hunks turn a into b and are minimal (property)', () => {
  const lines = fc.array(fc.constantFrom('a', 'b', 'c', 'd', ''), { maxLength: 40 });
  fc.assert(
    fc.property(lines, lines, (a, b) => {
      const hunks = diffLines(a, b);
      assert.deepEqual(apply(a, b, hunks), b);
      // Minimal: the removed lines are exactly what is not in a longest common subsequence.
      const removed = hunks.reduce((n, h) => n + h.aEnd - h.aStart, 0);
      assert.equal(removed, a.length - lcsLength(a, b));
    }),
    { numRuns: 500 },
  );
});

test('diffLines: beyond the edit budget the middle is one replaced block, still correct', () => {
  const a = Array.from({ length: 3000 }, (_, i) => `a${i}`);
  const b = Array.from({ length: 3000 }, (_, i) => `b${i}`);
  a[0] = b[0] = 'same start';
  const hunks = diffLines(a, b, 100);
  assert.deepEqual(hunks, [{ aStart: 1, aEnd: 3000, bStart: 1, bEnd: 3000 }]);
  assert.deepEqual(apply(a, b, hunks), b);
});

test('diffResponse on text: an added line is reported once, with line numbers of each side', () => {
  const captured = text('first\nsecond\nthird\nfourth');
  const diff = diffResponse(captured, { status: 200, body: Buffer.from('banner\nfirst\nsecond\nthird\nFOURTH') });
  assert.deepEqual(diff.body?.details, ['line 1 added: "banner"', 'line 4 (now 5): "fourth" → "FOURTH"']);
  const removed = diffResponse(captured, { status: 200, body: Buffer.from('first\nthird\nfourth') });
  assert.deepEqual(removed.body?.details, ['line 2 removed: "second"']);
});

test('diffResponse on text: ignoreLines leaves out the changes that touch only those captured lines', () => {
  const captured = text('id 1\nbody\nat 10:00');
  const replayed = { status: 200, body: Buffer.from('id 2\nbody\nat 10:01') };
  assert.equal(diffResponse(captured, replayed).same, false);
  assert.deepEqual(diffResponse(captured, replayed, { ignoreLines: [1, 3] }), { same: true });
  const partly = diffResponse(captured, replayed, { ignoreLines: [1] });
  assert.deepEqual(partly.body?.details, ['line 3: "at 10:00" → "at 10:01"']);
});

function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}
