import { randomFillSync } from 'node:crypto';

// One crypto call fills ids for 256 requests: a crypto call per request costs ~9% of hello-world
// throughput on this machine (DESIGN.md, micro-costs).
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function take(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** A random 16-byte trace id, 32 lower-case hex digits, never all zeros (W3C Trace Context). */
export function newTraceId(): string {
  let id = take(16);
  while (id === ZERO_TRACE) id = take(16);
  return id;
}

/** A random 8-byte span id, 16 lower-case hex digits, never all zeros. */
export function newSpanId(): string {
  let id = take(8);
  while (id === ZERO_SPAN) id = take(8);
  return id;
}
