// How the SQLite store writes captures: one transaction for one or more prepared batches. Run by the
// writer thread (sqlite-writer.ts), or on the store's own connection for an in-memory database, which
// a second connection cannot see.
import type Database from 'better-sqlite3';

/** The listed fields of one capture, in the column order of INSERT_CAPTURE (capture-fields.ts listedValues), without received_at. */
export type ListedValues = Array<string | number | null>;

/** One insert() call, prepared by the store's thread: what the writer binds, nothing to compute. */
export interface WriterBatch {
  id: number;
  ids: string[];
  listed: ListedValues[];
  /** The record as stored (storedJson), per capture. */
  json: string[];
  /** Per capture, the rules it matched (deduplicated), or null. */
  rules: Array<string[] | null>;
  /** Stored bytes per capture. */
  sizes: number[];
}

export type WriterAnswer = { id: number; inserted: number; duplicates: number } | { id: number; error: string };

/**
 * What every connection of the store runs with, the store's own and the writer's: WAL, a commit that
 * has reached the disk before it returns (`synchronous=FULL`: acknowledged means committed), a wait
 * for another connection's write lock, and foreign keys.
 *
 * A new file gets pages of 16 KiB rather than SQLite's 4 KiB (it must be set before the first table,
 * and before WAL mode, which fixes it): a capture of about a kilobyte and its index entries then touch
 * a quarter as many pages, and each commit writes a quarter as many WAL frames. On the bench machine
 * the writer stored a capture in 19 µs instead of 22. An existing file keeps the size it was made with.
 */
export function configureConnection(db: Database.Database, busyTimeoutMs: number): void {
  db.pragma('page_size = 16384');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  db.pragma('foreign_keys = ON');
}

const INSERT_CAPTURE = `INSERT INTO captures
  (id, service, instance, started_at, duration_ms, method, path, url, status, destination, route,
   trace_id, aborted, error, size, received_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * Prepares the insert statements on `db` and returns the function that stores a group of batches in
 * one IMMEDIATE transaction (the write lock taken up front, so a concurrent writer waits with
 * busy_timeout instead of failing half-way on lock upgrade) and answers each batch with its counts.
 * Throws what SQLite throws; nothing of the group is stored then.
 */
export function createGroupInsert(db: Database.Database): (group: WriterBatch[]) => WriterAnswer[] {
  const insertCapture = db.prepare(INSERT_CAPTURE);
  // Looked up first rather than INSERT OR IGNORE: an ignored insert still uses up an AUTOINCREMENT
  // value, and display ids should stay 1, 2, 3 when batches are retried. One lookup per transaction
  // (the ids as a JSON array), not one statement per capture.
  const existing = db.prepare('SELECT id FROM captures WHERE id IN (SELECT value FROM json_each(?))').pluck();
  const insertRecord = db.prepare('INSERT INTO capture_records (seq, record) VALUES (?, ?)');
  const insertCaptureRule = db.prepare('INSERT INTO capture_rules (rule, seq) VALUES (?, ?)');
  // capture_totals moves in every insert's transaction (here) and every delete's (trigger, migration 3).
  const addTotals = db.prepare('UPDATE capture_totals SET captures = captures + ?, bytes = bytes + ? WHERE id = 1');

  const insertGroup = db.transaction((group: WriterBatch[]): WriterAnswer[] => {
    const receivedAt = Date.now();
    const ids: string[] = [];
    for (const batch of group) for (const id of batch.ids) ids.push(id);
    // Stored ids, and those of this group once inserted: a second copy, in one batch or a later one of
    // the group, is a duplicate too, as when the batches commit one after the other.
    const seen = new Set(existing.all(JSON.stringify(ids)) as string[]);
    let inserted = 0;
    let bytes = 0;
    const answers: WriterAnswer[] = [];
    for (const batch of group) {
      let batchInserted = 0;
      let duplicates = 0;
      for (let i = 0; i < batch.ids.length; i++) {
        const id = batch.ids[i]!;
        if (seen.has(id)) {
          duplicates++;
          continue;
        }
        seen.add(id);
        const { lastInsertRowid: seq } = insertCapture.run(...batch.listed[i]!, receivedAt);
        insertRecord.run(seq, batch.json[i]);
        const rules = batch.rules[i];
        if (rules !== null && rules !== undefined) for (const rule of rules) insertCaptureRule.run(rule, seq);
        bytes += batch.sizes[i]!;
        batchInserted++;
      }
      inserted += batchInserted;
      answers.push({ id: batch.id, inserted: batchInserted, duplicates });
    }
    // The totals (count, stored bytes) move in the same transaction.
    if (inserted > 0) addTotals.run(inserted, bytes);
    return answers;
  });
  return (group) => insertGroup.immediate(group);
}
