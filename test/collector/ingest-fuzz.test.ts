// 10 000 malformed ingest payloads against a real collector over keep-alive HTTP: random bytes,
// truncated JSON, a wrong type at every field of a valid capture, huge numbers, deep nesting,
// prototype-pollution keys, bad encodings, wrong shapes, oversized bodies. Every answer must be a 4xx
// (never a 5xx, never a dropped connection), every schema 400 names the field, nothing is stored, and
// the collector goes on taking valid batches. The generator is seeded: LOOP_FUZZ_SEED=<n> replays a run.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { codes } from '../../collector/index.js';
import { httpRequest, ingest, sampleCapture } from '../helpers.js';
import { startTestCollector } from '../helpers.js';

const TOTAL = 10_000;
const MAX_BODY = 64 * 1024;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Payload {
  kind: string;
  body: Buffer;
  headers: Record<string, string>;
  /** A schema error must name this field (or one inside it). */
  field?: string;
}

/** A capture with every optional part present, so that every field gets its turn. */
function fullCapture(): any {
  return sampleCapture({
    route: '/pay/:id',
    error: { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at x', code: 'E_BOOM' },
    trace: { parentSpanId: 'aaaaaaaaaaaaaaaa', tracestate: 'k=v' },
    request: { body: { encoding: 'utf8', data: '{"a":1}', size: 7, truncated: false, contentEncoding: 'identity' } },
    outbound: [
      {
        spanId: 'bbbbbbbbbbbbbbbb',
        method: 'GET',
        url: 'http://payments:8080/charge',
        status: 504,
        durationMs: 3.5,
        remoteAddress: '10.0.0.2:8080',
        request: { headers: [['accept', '*/*']], body: null },
        response: { headers: [['content-type', 'text/plain']], body: { encoding: 'base64', data: 'AA==', size: 1, truncated: false } },
        error: { name: 'Error', message: 'timeout' },
      },
    ],
    outboundOmitted: 2,
    rules: ['default', 'payments'],
    redacted: ['request.headers.cookie'],
    replayOf: 'abc',
  });
}

/** Every path of a value: `request.headers[0][1]`, `outbound[0].request`, … */
function paths(value: unknown, prefix = ''): string[] {
  const out: string[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const p = `${prefix}[${i}]`;
      out.push(p, ...paths(v, p));
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.push(p, ...paths(v, p));
    }
  }
  return out;
}

function setAt(root: any, path: string, value: unknown): void {
  const keys = path.match(/[^.[\]]+/g)!;
  let v = root;
  for (const k of keys.slice(0, -1)) v = v[k];
  v[keys.at(-1)!] = value;
}

function getAt(root: any, path: string): unknown {
  return path.match(/[^.[\]]+/g)!.reduce((v, k) => v[k], root);
}

const HUGE = '1' + '0'.repeat(400); // JSON.parse gives Infinity
/** A placeholder replaced in the serialized JSON by raw text JSON.stringify cannot produce. */
const RAW = '\u0000raw:';

function kindOf(v: unknown): string {
  if (typeof v === 'string' && v.startsWith(RAW)) return v.includes('[') ? 'array' : 'number';
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Values of another JSON type than `original`, or out of range for its type: all invalid at `path`. */
function wrongValues(path: string, original: unknown): unknown[] {
  const deep = `${RAW}${'['.repeat(40)}${']'.repeat(40)}`;
  const candidates: unknown[] = [null, 0, -1, `${RAW}${HUGE}`, `${RAW}-${HUGE}`, 'x', '', true, [], {}, [1, 'a'], { a: 1 }, deep];
  const kind = kindOf(original);
  return candidates.filter((v) => {
    if (/\.body$/.test(path) && v === null) return false; // null is a valid body
    if (kindOf(v) !== kind) return true;
    // Same type: numbers are >= 0 and finite (statuses 100-999); some strings must not be empty.
    if (kind === 'number') return v === -1 || typeof v === 'string' || (/status$/.test(path) && v === 0);
    if (kind === 'string') return v === '' && /(^|\.)(id|method|encoding)$/.test(path);
    return false;
  });
}

function serialize(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000raw:([^"]*)"/g, (_m, raw: string) => raw);
}

function generate(random: () => number): Payload[] {
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  const json = { 'content-type': 'application/json' };
  const batchOf = (n: number): any[] => Array.from({ length: n }, () => fullCapture());
  const fields = paths(fullCapture());
  const out: Payload[] = [];

  const generators: Array<[weight: number, make: () => Payload]> = [
    [10, () => ({ kind: 'random bytes', body: Buffer.from(Array.from({ length: int(2000) }, () => int(256))), headers: json })],
    [
      10,
      () => {
        const full = Buffer.from(JSON.stringify({ captures: batchOf(1 + int(3)) }));
        return { kind: 'truncated JSON', body: full.subarray(0, int(full.length)), headers: json };
      },
    ],
    [
      45,
      () => {
        const batch = batchOf(1 + int(4));
        const index = int(batch.length);
        const field = pick(fields);
        const value = pick(wrongValues(field, getAt(batch[index], field)));
        setAt(batch[index], field, value);
        return { kind: `wrong type at ${field}`, body: Buffer.from(serialize({ captures: batch })), headers: json, field: `captures[${index}].${field}` };
      },
    ],
    [
      5,
      () => {
        const capture = fullCapture();
        const field = pick(['durationMs', 'response.status', 'outbound[0].status', 'outboundOmitted', 'request.body.size']);
        setAt(capture, field, `${RAW}${pick([HUGE, `-${HUGE}`, '-0.5e3', '1e309', '-1'])}`);
        if (field === 'response.status') setAt(capture, field, `${RAW}${pick([HUGE, '99', '1000', '200.5', '1e3'])}`);
        return { kind: `huge number at ${field}`, body: Buffer.from(serialize([capture])), headers: json, field: `captures[0].${field}` };
      },
    ],
    [
      5,
      () => {
        const depth = pick([33, 100, 1000, 50_000]);
        const capture = fullCapture();
        const where = pick(['extra', 'outbound', 'error.details', 'request.extra']);
        setAt(capture, where, `${RAW}${'['.repeat(depth)}${']'.repeat(depth)}`);
        const body = int(4) === 0 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : serialize({ captures: [capture] });
        return { kind: `nesting ${depth} deep`, body: Buffer.from(body), headers: json };
      },
    ],
    [
      8,
      () => {
        const key = pick(['__proto__', 'constructor', 'prototype']);
        const valid = JSON.stringify(fullCapture());
        const bodies = [
          `{"${key}":{"captures":[${valid}]}}`,
          `{"captures":[{"${key}":${valid}}]}`,
          `{"captures":[{"${key}":{"polluted":true,"schema":1}}]}`,
          `[{"schema":1,"${key}":{"polluted":true},"id":7}]`,
          `{"captures":[${valid.slice(0, -1)},"request":{"${key}":{"method":"GET","polluted":true}}}]}`,
          `{"captures":{"${key}":[${valid}],"length":1}}`,
        ];
        return { kind: `key ${key}`, body: Buffer.from(pick(bodies)), headers: json };
      },
    ],
    [
      10,
      () => {
        const valid = Buffer.from(JSON.stringify({ captures: batchOf(1) }));
        const invalid = Buffer.from(serialize({ captures: [{ ...fullCapture(), id: 5 }] }));
        const choices: Array<() => Payload> = [
          () => ({ kind: 'gzip header, garbage', body: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from(Array.from({ length: int(500) }, () => int(256)))]), headers: { ...json, 'content-encoding': 'gzip' } }),
          () => ({ kind: 'truncated gzip', body: gzipSync(valid).subarray(0, 10 + int(30)), headers: { ...json, 'content-encoding': 'gzip' } }),
          () => ({ kind: 'plain body said gzip', body: valid, headers: { ...json, 'content-encoding': pick(['gzip', 'deflate', 'br']) } }),
          () => ({ kind: 'raw deflate said deflate', body: deflateRawSync(valid), headers: { ...json, 'content-encoding': 'deflate' } }),
          () => ({ kind: 'gzip said br', body: gzipSync(valid), headers: { ...json, 'content-encoding': 'br' } }),
          () => ({ kind: 'unknown encoding', body: valid, headers: { ...json, 'content-encoding': pick(['zstd', 'compress', 'gzip, br', 'GZIP2', 'x-custom', 'br;q=1']) } }),
          () => ({ kind: 'invalid capture, gzip', body: gzipSync(invalid), headers: { ...json, 'content-encoding': 'gzip' }, field: 'captures[0].id' }),
          () => ({ kind: 'invalid capture, deflate', body: deflateSync(invalid), headers: { ...json, 'content-encoding': 'deflate' }, field: 'captures[0].id' }),
          () => ({ kind: 'invalid capture, br', body: brotliCompressSync(invalid), headers: { ...json, 'content-encoding': 'br' }, field: 'captures[0].id' }),
          () => {
            const text = valid.toString('latin1');
            const at = text.indexOf('payments timed out');
            return { kind: 'not UTF-8', body: Buffer.concat([valid.subarray(0, at), Buffer.from([pick([0xc3, 0xe9, 0xff, 0xed])]), valid.subarray(at)]), headers: json };
          },
          () => ({ kind: 'UTF-16', body: Buffer.from(valid.toString(), 'utf16le'), headers: json }),
          () => ({ kind: 'gzip bomb', body: gzipSync(Buffer.alloc(MAX_BODY * 4, 0x20)), headers: { ...json, 'content-encoding': 'gzip' } }),
        ];
        return pick(choices)();
      },
    ],
    [
      5,
      () => ({
        kind: 'wrong shape',
        body: Buffer.from(pick(['null', '1', '"captures"', '{}', '{"captures":{}}', '{"captures":null}', '[1,2]', '[[]]', '[null]', 'true', '{"captures":"[]"}', ''])),
        headers: json,
      }),
    ],
    [2, () => ({ kind: 'too large', body: Buffer.alloc(MAX_BODY + 1 + int(MAX_BODY), 0x20), headers: json })],
  ];
  const totalWeight = generators.reduce((n, [w]) => n + w, 0);
  for (let i = 0; i < TOTAL; i++) {
    let r = random() * totalWeight;
    const [, make] = generators.find(([w]) => (r -= w) < 0) ?? generators.at(-1)!;
    out.push(make());
  }
  return out;
}

interface Answer {
  status: number;
  body: string;
}

function send(agent: http.Agent, url: string, payload: Payload): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/v1/captures`,
      { method: 'POST', agent, headers: { ...payload.headers, 'content-length': String(payload.body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload.body);
  });
}

const FIELD_MESSAGE = /^(captures\[\d+\](?:\.[A-Za-z_$][\w$]*|\[\d+\])*): (?:expected |nested deeper than )/;

test('10 000 malformed payloads: only 4xx answers, every schema 400 names the field, nothing stored', { timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.LOOP_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`seed ${seed} (LOOP_FUZZ_SEED=${seed} replays this run)`);
  const payloads = generate(prng(seed));
  const { url, collector } = await startTestCollector(t, { maxBodyBytes: MAX_BODY });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < payloads.length && failures.length < 5) {
      const payload = payloads[next++]!;
      let answer: Answer;
      try {
        answer = await send(agent, url, payload);
      } catch (err) {
        failures.push(`${payload.kind}: connection error ${(err as Error).message}`);
        continue;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status < 400 || answer.status > 499) {
        failures.push(`${payload.kind}: answered ${answer.status} ${answer.body.slice(0, 200)}`);
        continue;
      }
      const error = JSON.parse(answer.body).error as { code: string; message: string };
      if (error.code === codes.INVALID_CAPTURE && !/^expected a JSON body/.test(error.message)) {
        const named = FIELD_MESSAGE.exec(error.message)?.[1];
        if (named === undefined) failures.push(`${payload.kind}: 400 without a field: ${error.message}`);
        else if (payload.field && !(named === payload.field || payload.field.startsWith(`${named}.`) || payload.field.startsWith(`${named}[`) || named.startsWith(payload.field))) {
          failures.push(`${payload.kind}: expected the error to name ${payload.field}, got: ${error.message}`);
        }
      } else if (payload.field) {
        failures.push(`${payload.kind}: expected a schema error naming ${payload.field}, got ${answer.status} ${error.code}: ${error.message}`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  assert.deepEqual(failures, [], `seed ${seed}`);
  assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), TOTAL);

  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys, 'Object.prototype untouched');
  assert.equal(({} as any).polluted, undefined);
  assert.equal(await collector.store.count(), 0, 'no malformed payload was stored');
  assert.deepEqual((await httpRequest(`${url}/healthz`)).json(), { status: 'ok' });
  const valid = [sampleCapture(), fullCapture()];
  assert.deepEqual((await ingest(url, valid)).json(), { inserted: 2, duplicates: 0 });
  assert.deepStrictEqual((await httpRequest(`${url}/v1/captures/${valid[1].id}`)).json(), { ...valid[1], seq: 2 });
});
