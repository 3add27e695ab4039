// Acknowledged means committed. The real `loopctl serve` (built: `npx tsup` first) is killed with
// SIGKILL at a random moment while several clients ingest, 50 times, restarted each time on the same
// database; every batch not acknowledged is sent again (idempotent on capture id). At the end every
// acknowledged capture is stored, none twice, every record is there, and SQLite's integrity_check says
// ok. Then SIGTERM with a batch in flight: the batch is answered 200 and committed, new connections
// are refused, the process exits 0 and the database is closed. Both for SQLite and for PostgreSQL.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { loopctlPath, sampleCapture, tempDir } from '../helpers.js';
import { freshPgSchema } from '../pg-schema.js';

const ROUNDS = 50;
const CLIENTS = 4;
const BATCH = 50;

interface Backend {
  name: string;
  /** A new, empty database; `serveArgs` point `loopctl serve` at it. */
  setup(t: TestContext): Promise<Database_>;
}

interface Database_ {
  serveArgs: string[];
  /** Every stored capture id, once per row. */
  storedIds(): Promise<string[]>;
  /** Captures without their record (must be none). */
  orphans(): Promise<number>;
  /** The kept totals (capture_totals, what /metrics reports) and what the captures table really holds. */
  totals(): Promise<{ kept: [number, number]; actual: [number, number] }>;
  /**
   * Checks what only this backend shows after a clean close (SQLite: integrity_check, no WAL left).
   * PostgreSQL has nothing more to show than the exit code 0, which comes after its pool has ended.
   */
  checkClosed?(): Promise<void>;
}

const sqlite: Backend = {
  name: 'SQLite',
  async setup(t) {
    const file = path.join(await tempDir(t, 'httploop-durability-'), 'loop.db');
    const open = <T>(fn: (db: Database.Database) => T): T => {
      const db = new Database(file, { readonly: true });
      try {
        return fn(db);
      } finally {
        db.close();
      }
    };
    return {
      serveArgs: ['--db', file],
      storedIds: async () => open((db) => db.prepare('SELECT id FROM captures').pluck().all() as string[]),
      orphans: async () =>
        open((db) => db.prepare('SELECT COUNT(*) FROM captures c LEFT JOIN capture_records r ON r.seq = c.seq WHERE r.seq IS NULL').pluck().get() as number),
      totals: async () =>
        open((db) => {
          const kept = db.prepare('SELECT captures, bytes FROM capture_totals').raw().get() as [number, number];
          const actual = db.prepare('SELECT COUNT(*), COALESCE(SUM(size), 0) FROM captures').raw().get() as [number, number];
          return { kept, actual };
        }),
      checkClosed: async () => {
        // A clean close checkpoints the WAL into the database file and removes it.
        const wal = `${file}-wal`;
        assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'no WAL left behind');
        assert.equal(open((db) => db.pragma('integrity_check', { simple: true })), 'ok');
      },
    };
  },
};

const postgres: Backend = {
  name: 'PostgreSQL',
  async setup(t) {
    const schema = await freshPgSchema(t, 'httploop_durability');
    return {
      serveArgs: ['--pg', schema.url],
      storedIds: async () => (await schema.query<{ id: string }>('SELECT id FROM captures')).map((r) => r.id),
      orphans: async () =>
        Number(
          (await schema.query<{ n: string }>('SELECT COUNT(*) AS n FROM captures c LEFT JOIN capture_records r ON r.seq = c.seq WHERE r.seq IS NULL'))[0]!.n,
        ),
      totals: async () => {
        const [kept] = await schema.query<{ n: string; b: string }>('SELECT SUM(captures) AS n, SUM(bytes) AS b FROM capture_totals');
        const [actual] = await schema.query<{ n: string; b: string }>('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM captures');
        return { kept: [Number(kept!.n), Number(kept!.b)], actual: [Number(actual!.n), Number(actual!.b)] };
      },
    };
  },
};

interface Serve {
  child: ChildProcess;
  url: string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function serve(db: Database_): Promise<Serve> {
  const child = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', ...db.serveArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOOP_COLLECTOR: undefined, LOOP_TOKEN: undefined, LOOP_DATABASE_URL: undefined },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`loopctl serve did not start within 15 s; stderr: ${stderr}`)), 15_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`loopctl serve exited (${code ?? signal}) before listening; stderr: ${stderr}`));
    });
  });
  return { child, url, port: Number(new URL(url).port), exited };
}

interface Answer {
  status: number;
  json: any;
}

function postBatch(agent: http.Agent, url: string, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/v1/captures`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Batch {
  ids: string[];
  body: Buffer;
}

function newBatch(): Batch {
  const captures = Array.from({ length: BATCH }, () => sampleCapture({ service: 'durability' }));
  return { ids: captures.map((c) => c.id), body: Buffer.from(JSON.stringify({ captures })) };
}

function durabilityTests(backend: Backend): void {
  it(`${ROUNDS} rounds of kill -9 during ingest: no acknowledged capture lost, none stored twice`, { timeout: 180_000 }, async (t) => {
    const db = await backend.setup(t);
    const acked = new Set<string>();
    const sent = new Set<string>();
    /** Batches sent and not (yet) answered 200: sent again after the restart. */
    let unacked: Batch[] = [];
    let cutRounds = 0;
    let duplicatesSeen = 0;

    const deliver = async (agent: http.Agent, url: string, batch: Batch): Promise<boolean> => {
      try {
        const answer = await postBatch(agent, url, batch.body);
        if (answer.status !== 200) throw new Error(`answered ${answer.status}: ${JSON.stringify(answer.json)}`);
        assert.equal(answer.json.inserted + answer.json.duplicates, batch.ids.length);
        duplicatesSeen += answer.json.duplicates;
        for (const id of batch.ids) acked.add(id);
        return true;
      } catch (err) {
        // Only a collector being killed may make a batch fail.
        if (err instanceof assert.AssertionError || /answered/.test((err as Error).message)) throw err;
        unacked.push(batch);
        return false;
      }
    };

    for (let round = 0; round < ROUNDS; round++) {
      const collector = await serve(db);
      const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
      // First what the last kill left unacknowledged: a retry must not store anything twice.
      const retry = unacked;
      unacked = [];
      for (const batch of retry) assert.ok(await deliver(agent, collector.url, batch), 'a retried batch is taken once the collector is back');
      let killed = false;
      const client = async (): Promise<void> => {
        while (!killed) {
          const batch = newBatch();
          for (const id of batch.ids) sent.add(id);
          if (!(await deliver(agent, collector.url, batch))) return;
        }
      };
      const clients = Array.from({ length: CLIENTS }, client);
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 100));
      killed = true;
      collector.child.kill('SIGKILL');
      assert.equal((await collector.exited).signal, 'SIGKILL');
      await Promise.all(clients);
      agent.destroy();
      if (unacked.length > 0) cutRounds++;
    }
    // The last kill's leftovers, then a clean stop.
    const collector = await serve(db);
    const agent = new http.Agent({ keepAlive: true });
    for (const batch of unacked.splice(0)) assert.ok(await deliver(agent, collector.url, batch));
    agent.destroy();
    collector.child.kill('SIGTERM');
    assert.deepEqual(await collector.exited, { code: 0, signal: null });

    t.diagnostic(`${sent.size} captures sent, ${cutRounds} of ${ROUNDS} kills cut batches in flight, ${duplicatesSeen} retried captures were already stored`);
    assert.ok(cutRounds >= ROUNDS / 2, `the kills came during ingest (${cutRounds} of ${ROUNDS} cut a batch)`);
    const stored = await db.storedIds();
    const unique = new Set(stored);
    assert.equal(stored.length, unique.size, 'no capture stored twice');
    const lost = [...acked].filter((id) => !unique.has(id));
    assert.deepEqual(lost, [], 'no acknowledged capture lost');
    assert.deepEqual([...unique].filter((id) => !sent.has(id)), [], 'nothing stored that was not sent');
    // Every batch was acknowledged in the end, so everything sent is stored, exactly once.
    assert.equal(unique.size, sent.size);
    assert.equal(await db.orphans(), 0, 'every stored capture has its record');
    const { kept, actual } = await db.totals();
    assert.deepEqual(kept, actual, 'the kept count and stored bytes (/metrics) match the captures after every kill -9');
    await db.checkClosed?.();
  });

  it('SIGTERM with a batch in flight: answered 200 and committed, new connections refused, exit 0, database closed', { timeout: 60_000 }, async (t) => {
    const db = await backend.setup(t);
    const collector = await serve(db);
    t.after(() => void collector.child.kill('SIGKILL'));
    const captures = Array.from({ length: 2000 }, () => sampleCapture({ service: 'sigterm' }));
    const body = Buffer.from(JSON.stringify({ captures }));
    const socket = net.connect(collector.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    let answer = '';
    socket.setEncoding('latin1').on('data', (c: string) => (answer += c));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(`POST /v1/captures HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    socket.write(body.subarray(0, body.length / 2));
    await new Promise((resolve) => setTimeout(resolve, 200));

    collector.child.kill('SIGTERM');
    // The listening socket closes: a new connection is refused.
    const deadline = Date.now() + 5000;
    let refused = false;
    while (!refused && Date.now() < deadline) {
      refused = await new Promise<boolean>((resolve) => {
        const probe = net.connect(collector.port, '127.0.0.1');
        probe.once('connect', () => {
          probe.destroy();
          setTimeout(() => resolve(false), 20);
        });
        probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
      });
    }
    assert.ok(refused, 'new connections are refused once SIGTERM arrived');
    assert.equal(collector.child.exitCode, null, 'still running while the batch is in flight');

    socket.write(body.subarray(body.length / 2));
    await closed; // answered with Connection: close
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.match(answer, /[Cc]onnection: close/);
    assert.match(answer, /\{"inserted":2000,"duplicates":0\}\n$/);
    assert.deepEqual(await collector.exited, { code: 0, signal: null });

    const stored = new Set(await db.storedIds());
    assert.equal(stored.size, 2000);
    assert.ok(captures.every((c) => stored.has(c.id)));
    await db.checkClosed?.();
  });
}

describe('durability, SQLite', () => {
  durabilityTests(sqlite);

  it('a second signal during a graceful shutdown ends the process at once (exit 130)', { timeout: 30_000 }, async (t) => {
    const db = await sqlite.setup(t);
    const collector = await serve(db);
    t.after(() => void collector.child.kill('SIGKILL'));
    // An upload that never finishes would hold a graceful shutdown for its 10 s grace.
    const socket = net.connect(collector.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /v1/captures HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[');
    await new Promise((resolve) => setTimeout(resolve, 200));
    collector.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(collector.child.exitCode, null, 'the first signal waits for the upload');
    const t0 = Date.now();
    collector.child.kill('SIGINT');
    assert.deepEqual(await collector.exited, { code: 130, signal: null });
    assert.ok(Date.now() - t0 < 3000);
    socket.destroy();
  });
});
describe('durability, PostgreSQL', () => durabilityTests(postgres));
