/**
 * A line diff: the shortest edit script between two lists of lines (Myers, "An O(ND) Difference
 * Algorithm and Its Variations", 1986), as hunks. Common leading and trailing lines are skipped first;
 * beyond `maxEdits` edits the rest of the middle counts as one replaced block, so a body that
 * changed completely costs no more than one that changed a little.
 */

/** Lines `a[aStart..aEnd)` of the first list were replaced by `b[bStart..bEnd)` of the second (0-based). */
export interface Hunk {
  aStart: number;
  aEnd: number;
  bStart: number;
  bEnd: number;
}

const DEFAULT_MAX_EDITS = 1000;

export function diffLines(a: readonly string[], b: readonly string[], maxEdits = DEFAULT_MAX_EDITS): Hunk[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  if (start === endA && start === endB) return [];
  const path = shortestPath(a, b, start, endA, start, endB, maxEdits);
  if (!path) return [{ aStart: start, aEnd: endA, bStart: start, bEnd: endB }];
  return hunksOf(path, start, start);
}

type Step = 'same' | 'del' | 'ins';

/** The edit script from (x0, y0) to (x1, y1), or undefined when it needs more than `maxEdits` edits. */
function shortestPath(
  a: readonly string[],
  b: readonly string[],
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  maxEdits: number,
): Step[] | undefined {
  const n = x1 - x0;
  const m = y1 - y0;
  const limit = Math.min(n + m, maxEdits);
  const offset = limit + 1;
  // v[k + offset]: the furthest x reached on diagonal k; one snapshot per d to walk back.
  const v = new Int32Array(2 * offset + 1);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= limit; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[k - 1 + offset]! < v[k + 1 + offset]!) ? v[k + 1 + offset]! : v[k - 1 + offset]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x0 + x] === b[y0 + y]) {
        x++;
        y++;
      }
      v[k + offset] = x;
      if (x >= n && y >= m) return walkBack(trace, offset, n, m, d);
    }
  }
  return undefined;
}

function walkBack(trace: Int32Array[], offset: number, n: number, m: number, last: number): Step[] {
  const steps: Step[] = [];
  let x = n;
  let y = m;
  for (let d = last; d > 0; d--) {
    const v = trace[d]!;
    const k = x - y;
    const down = k === -d || (k !== d && v[k - 1 + offset]! < v[k + 1 + offset]!);
    const prevK = down ? k + 1 : k - 1;
    const prevX = v[prevK + offset]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      steps.push('same');
      x--;
      y--;
    }
    steps.push(down ? 'ins' : 'del');
    if (down) y--;
    else x--;
  }
  while (x > 0 && y > 0) {
    steps.push('same');
    x--;
    y--;
  }
  return steps.reverse();
}

function hunksOf(steps: Step[], x: number, y: number): Hunk[] {
  const hunks: Hunk[] = [];
  let open: Hunk | undefined;
  for (const step of steps) {
    if (step === 'same') {
      if (open) hunks.push(open);
      open = undefined;
      x++;
      y++;
      continue;
    }
    open ??= { aStart: x, aEnd: x, bStart: y, bEnd: y };
    if (step === 'del') open.aEnd = ++x;
    else open.bEnd = ++y;
  }
  if (open) hunks.push(open);
  return hunks;
}
