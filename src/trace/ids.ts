import { randomFillSync } from 'node:crypto';

// One crypto call fills ids for 256 requests: a crypto call per request costs ~9% of hello-world
// throughput on this machine (DESIGN.md, micro-costs). The ids stay random, as the spec recommends
// (https://www.w3.org/TR/trace-context/#considerations-for-trace-id-field-generation): every byte
// handed out comes from randomFillSync, and no byte is handed out twice.
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

// All zeros is the one invalid id (#trace-id, #parent-id): a receiver would drop our traceparent.
// It comes up once in 2^64 span ids; drawing again keeps the ids uniform over the valid ones.

/** A random 16-byte trace id, 32 lower-case hex digits, never all zeros (W3C Trace Context #trace-id). */
export function newTraceId(): string {
  let id = take(16);
  while (id === ZERO_TRACE) id = take(16);
  return id;
}

/** A random 8-byte span id, 16 lower-case hex digits, never all zeros (W3C Trace Context #parent-id). */
export function newSpanId(): string {
  let id = take(8);
  while (id === ZERO_SPAN) id = take(8);
  return id;
}
