/**
 * Several collectors, one database: three real `loopctl serve --pg` processes on one fresh PostgreSQL
 * schema behave as one. Ingest through all three, list through one, a rule applied through one reaches
 * the long polls held by the others within 2 s (LISTEN/NOTIFY), show and replay through a third.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { CaptureRecord } from '../../src/capture/record.js';
import { RuleFeed } from '../../src/ship/rule-feed.js';
import { ingest, loopctlPath, runLoopctl, sampleCapture, startHttpServer, tempDir } from '../helpers.js';
import { freshPgSchema } from '../pg-schema.js';

interface Served {
  url: string;
  /** What the process printed on stderr so far. */
  stderr(): string;
}

/** `loopctl serve --pg <url> --port 0` as a child process, killed after the test. */
async function serve(t: TestContext, pgUrl: string): Promise<Served> {
  const child = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', '--pg', pgUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
  });
  const match = /^loopctl: collector listening on (http:\/\/127\.0\.0\.1:\d+) \(pg (.*)\)\n$/.exec(line);
  assert.ok(match, line);
  assert.equal(match[2], pgUrl, 'the URL is printed as given when it holds no password');
  return { url: match[1]!, stderr: () => stderr };
}

/** A loop()'s rules long poll (the real RuleFeed) on `collector`; each answer is recorded with its time. */
function follow(t: TestContext, collector: string, instance: string) {
  const answers: Array<{ version: number; names: string[]; at: number }> = [];
  let inForce = 0;
  const feed = new RuleFeed({
    collector: new URL(collector),
    token: undefined,
    service: 'web',
    instance,
    onRules(configs, version) {
      inForce = version;
      answers.push({ version, names: configs.map((c) => c.metadata.name), at: Date.now() });
    },
    state: () => ({ version: inForce, source: 'collector' }),
  });
  feed.start();
  t.after(() => feed.close());
  return answers;
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('three collectors on one PostgreSQL behave as one', async (t) => {
  const { url: pgUrl } = await freshPgSchema(t, 'httploop_multi');
  // Started together: the migrations run once, under the advisory lock, whoever comes first.
  const collectors = await Promise.all([serve(t, pgUrl), serve(t, pgUrl), serve(t, pgUrl)]);
  const [first, second, third] = collectors as [Served, Served, Served];

  // Ingest through all three at once: 3 collectors × 4 batches × 25 captures.
  const sent: CaptureRecord[][] = collectors.flatMap((_, c) =>
    Array.from({ length: 4 }, (_, b) => Array.from({ length: 25 }, (_, i) => sampleCapture({ service: `svc${c}`, request: { url: `/c${c}/b${b}/i${i}` } }))),
  );
  const answers = await Promise.all(sent.map((batch, i) => ingest(collectors[i % 3]!.url, batch)));
  for (const answer of answers) assert.deepEqual([answer.status, answer.json()], [200, { inserted: 25, duplicates: 0 }]);
  // A batch retried through another collector (its first answer was lost): acknowledged, not stored twice.
  const retried = await ingest(second.url, sent[0]!);
  assert.deepEqual(retried.json(), { inserted: 0, duplicates: 25 });

  // List through one: every capture, each once, display ids 1..300 from the database.
  const listed = await runLoopctl(['list', '--json', '--limit', '1000'], { LOOP_COLLECTOR: first.url });
  assert.equal(listed.code, 0, listed.stderr);
  const summaries = JSON.parse(listed.stdout).captures as Array<{ seq: number; id: string; path: string }>;
  assert.deepEqual(
    summaries.map((s) => s.seq),
    Array.from({ length: 300 }, (_, i) => i + 1),
  );
  assert.deepEqual(new Set(summaries.map((s) => s.id)), new Set(sent.flat().map((r) => r.id)));
  // Within a batch the display ids follow the batch order.
  for (const batch of sent) {
    const seqs = batch.map((r) => summaries.find((s) => s.id === r.id)!.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  }
  const filtered = await runLoopctl(['list', '--json', '--path', '/c2/b3/'], { LOOP_COLLECTOR: third.url });
  assert.deepEqual(
    JSON.parse(filtered.stdout).captures.map((s: { path: string }) => s.path).sort(),
    sent[11]!.map((r) => r.request.url).sort(),
    'listing with a filter through another collector',
  );

  // Rule push: loop()-style long polls held by the second and third collectors; apply through the first.
  const onSecond = follow(t, second.url, 'host-a:1');
  const onThird = follow(t, third.url, 'host-b:2');
  // Both polls are held (version 0 is what they have, and what the database has): a poll is recorded as
  // an agent before it is held, so wait until both are listed, then a little more.
  const agentsSeen = async (): Promise<string[]> => {
    const got = await runLoopctl(['get', 'tapconfigs', '-o', 'json'], { LOOP_COLLECTOR: first.url });
    assert.equal(got.code, 0, got.stderr);
    return (JSON.parse(got.stdout).agents as Array<{ instance: string }>).map((a) => a.instance).sort();
  };
  for (let seen: string[] = []; seen.length < 2; seen = await agentsSeen()) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual([onSecond.length, onThird.length], [0, 0], 'nothing to answer before the apply');
  const file = path.join(await tempDir(t), 'tap.yaml');
  await writeFile(
    file,
    `apiVersion: httploop/v1\nkind: TapConfig\nmetadata:\n  name: checkout-errors\nspec:\n  match: 'method == "POST" && status >= 500'\n`,
  );
  const applied = await runLoopctl(['apply', '-f', file], { LOOP_COLLECTOR: first.url });
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(applied.stdout, 'tapconfig/checkout-errors created\n');
  const appliedAt = Date.now();
  await until(() => onSecond.length === 1 && onThird.length === 1, 2000, 'the apply through the first collector reaches polls on the others');
  for (const feed of [onSecond, onThird]) {
    assert.deepEqual([feed[0]!.version, feed[0]!.names], [1, ['checkout-errors']]);
    assert.ok(feed[0]!.at - appliedAt < 2000, `pushed ${feed[0]!.at - appliedAt} ms after the apply`);
  }
  // And a delete through the third reaches the poll on the second.
  const deleted = await runLoopctl(['delete', 'tapconfig', 'checkout-errors'], { LOOP_COLLECTOR: third.url });
  assert.equal(deleted.code, 0, deleted.stderr);
  await until(() => onSecond.length === 2, 2000, 'the delete through the third collector reaches the poll on the second');
  assert.deepEqual([onSecond[1]!.version, onSecond[1]!.names], [2, []]);
  // What the agents reported through the second and third is listed through the first.
  assert.deepEqual(await agentsSeen(), ['host-a:1', 'host-b:2']);

  // Show and replay through the third a capture ingested through the first.
  const record = sent[0]![3]!;
  const seq = summaries.find((s) => s.id === record.id)!.seq;
  const shown = await runLoopctl(['show', '--id', String(seq), '--json'], { LOOP_COLLECTOR: third.url });
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepStrictEqual(JSON.parse(shown.stdout), { ...record, seq });
  const received: string[] = [];
  const app = await startHttpServer(t, (req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":"payments timed out"}');
  });
  const replayed = await runLoopctl(['replay', '--id', record.id, '--destination', app.hostPort], { LOOP_COLLECTOR: third.url });
  assert.equal(replayed.code, 0, `${replayed.stdout}${replayed.stderr}`);
  assert.match(replayed.stdout, /same as captured/);
  assert.deepEqual(received, [`GET ${record.request.url}`]);

  for (const c of collectors) assert.equal(c.stderr(), '', 'no collector logged an error');
});

test('serve --pg: a URL that is not postgres:// is a usage error, and the password is never printed', async () => {
  const bad = await runLoopctl(['serve', '--port', '0', '--pg', 'mysql://root:hunter2@127.0.0.1/db']);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    "loopctl: --pg: 'mysql://root:***@127.0.0.1/db' is not a PostgreSQL URL; use one like postgres://user@host:5432/database (a SQLite database is a file path instead: --db, or createCollector({ db }))\n",
  );
  const both = await runLoopctl(['serve', '--port', '0', '--pg', 'postgres://h/db', '--db', 'x.db']);
  assert.deepEqual([both.code, both.stderr], [2, 'loopctl: give --db (a SQLite file) or --pg (a PostgreSQL URL), not both\n']);
  // Nothing listens on port 1: the start fails, with the reason and without the password.
  const down = await runLoopctl(['serve', '--port', '0'], { LOOP_DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/test' });
  assert.equal(down.code, 2);
  assert.match(down.stderr, /^loopctl: cannot connect to PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
  assert.doesNotMatch(down.stderr, /hunter2/);
});

test('LOOP_DATABASE_URL selects PostgreSQL, with the password hidden in the banner; --db on the command line wins', async (t) => {
  const schema = await freshPgSchema(t, 'httploop_env');
  const secretUrl = new URL(schema.url);
  secretUrl.password = 'not-needed-with-trust';
  const child = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOOP_DATABASE_URL: secretUrl.href },
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out);
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code})`)));
  });
  const banner = /^loopctl: collector listening on (http:\/\/127\.0\.0\.1:\d+) \(pg (.*)\)\n$/.exec(line);
  assert.ok(banner, line);
  assert.equal(banner[2], schema.url.replace('postgres://postgres@', 'postgres://postgres:***@'));
  assert.deepEqual((await ingest(banner[1]!, [sampleCapture()])).json(), { inserted: 1, duplicates: 0 });
  assert.deepEqual(await schema.query('SELECT COUNT(*)::int AS n FROM captures'), [{ n: 1 }]);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const db = path.join(await tempDir(t), 'chosen.db');
  const sqlite = spawn(process.execPath, [loopctlPath, 'serve', '--port', '0', '--db', db], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOOP_DATABASE_URL: schema.url },
  });
  t.after(() => {
    if (sqlite.exitCode === null) sqlite.kill('SIGKILL');
  });
  const sqliteLine = await new Promise<string>((resolve) => {
    let out = '';
    sqlite.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) resolve(out);
    });
  });
  assert.match(sqliteLine, new RegExp(`\\(db ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)\\n$`));
  sqlite.kill('SIGTERM');
});
