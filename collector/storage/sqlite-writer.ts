// The SQLite store's capture writer: a worker thread with a connection of its own that inserts the
// batches the store's thread has prepared (sqlite.ts), several to a transaction when they queue up.
//
// Why a thread: with `synchronous=FULL` every commit waits for the disk, and better-sqlite3 waits on
// the thread that called it. On the collector's one thread that wait stopped everything else: no
// request was read, decompressed or parsed meanwhile, so a second batch never arrived while the first
// committed, and each transaction held one batch. Here the collector's thread goes on parsing while
// this one writes, and the batches that arrived during a transaction go into the next one together
// (group commit): one commit for all of them. Each insert is answered only after its transaction has
// committed.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureConnection, createGroupInsert, type WriterAnswer, type WriterBatch } from './sqlite-insert.js';

export interface WriterOptions {
  file: string;
  busyTimeoutMs: number;
}

/** At most this many captures in one transaction: a long one would hold back the store's other writes. */
const MAX_GROUP_CAPTURES = 5000;

function startWriter(options: WriterOptions, port: NonNullable<typeof parentPort>): void {
  const db = new Database(options.file);
  configureConnection(db, options.busyTimeoutMs);
  const insertGroup = createGroupInsert(db);
  const failed = (batch: WriterBatch, err: unknown): WriterAnswer => ({ id: batch.id, error: (err as Error).message ?? String(err) });

  const queue: WriterBatch[] = [];
  let scheduled = false;
  let closing = false;

  const drain = (): void => {
    scheduled = false;
    const group: WriterBatch[] = [];
    let captures = 0;
    while (queue.length > 0 && (group.length === 0 || captures + queue[0]!.ids.length <= MAX_GROUP_CAPTURES)) {
      const batch = queue.shift()!;
      captures += batch.ids.length;
      group.push(batch);
    }
    try {
      for (const answer of insertGroup(group)) port.postMessage(answer);
    } catch (err) {
      if (group.length === 1) port.postMessage(failed(group[0]!, err));
      // One batch's failure must not fail the others: each alone again.
      else
        for (const batch of group) {
          try {
            port.postMessage(insertGroup([batch])[0]);
          } catch (alone) {
            port.postMessage(failed(batch, alone));
          }
        }
    }
    next();
  };

  // Messages that arrived during a transaction are delivered before the next check phase, so by the
  // time drain runs again they are all in the queue: that is what makes a group.
  const next = (): void => {
    if (queue.length > 0) {
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    } else if (closing) {
      db.close();
      port.close();
    }
  };

  port.on('message', (message: WriterBatch | 'close') => {
    if (message === 'close') closing = true;
    else queue.push(message);
    next();
  });
}

const options = (workerData as { httploopSqliteWriter?: WriterOptions } | null | undefined)?.httploopSqliteWriter;
if (parentPort !== null && options !== undefined) startWriter(options, parentPort);
