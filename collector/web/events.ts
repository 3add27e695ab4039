/**
 * New captures announced to the console as server-sent events (`GET /v1/events`).
 *
 * Only captures ingested by this collector process are announced: with several collectors sharing a
 * PostgreSQL database, a console connected to one of them learns of the others' captures from its
 * periodic refresh instead (the console re-reads its page every 15 s as well).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { codes } from '../../src/errors.js';
import { HttpError } from '../http/http-error.js';

type Listener = (ids: readonly string[]) => void;

/** Most consoles following at once; more are answered 503. */
export const MAX_EVENT_STREAMS = 64;
/** An event is written at most this often per stream; captures arriving in between are announced together. */
const COALESCE_MS = 250;
/** A comment line this often keeps proxies and the browser from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** Ids listed in one event; the console refreshes its page anyway, the ids only mark what is new. */
const MAX_IDS = 200;

export class CaptureEvents {
  readonly #listeners = new Set<Listener>();
  readonly #ends = new Set<() => void>();

  /** Ingest calls it for every stored batch: nothing is done unless a console follows. */
  announce(records: ReadonlyArray<{ id: string }>): void {
    if (this.#listeners.size === 0 || records.length === 0) return;
    const ids = records.map((r) => r.id);
    for (const listener of this.#listeners) listener(ids);
  }

  /** `GET /v1/events`: one `captures` event (`{ "ids": [...], "count": n }`) per burst of ingests. */
  stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.#listeners.size >= MAX_EVENT_STREAMS) {
      throw new HttpError(503, codes.OVERLOADED, `more than ${MAX_EVENT_STREAMS} consoles follow this collector; close one`, {
        'retry-after': '30',
      });
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 3000\n\nevent: ready\ndata: {}\n\n');
    let pending: string[] = [];
    let count = 0;
    let timer: NodeJS.Timeout | undefined;
    let lastWrite = 0;
    const flush = (): void => {
      timer = undefined;
      lastWrite = Date.now();
      res.write(`event: captures\ndata: ${JSON.stringify({ ids: pending, count })}\n\n`);
      pending = [];
      count = 0;
    };
    const listener: Listener = (ids) => {
      count += ids.length;
      for (const id of ids) if (pending.length < MAX_IDS) pending.push(id);
      if (timer) return;
      const wait = Math.max(0, lastWrite + COALESCE_MS - Date.now());
      timer = setTimeout(flush, wait);
    };
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    const end = (): void => {
      this.#listeners.delete(listener);
      this.#ends.delete(end);
      clearInterval(heartbeat);
      clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    this.#listeners.add(listener);
    this.#ends.add(end);
    req.once('close', end);
    res.once('close', end);
  }

  /** Ends every stream at once, so that a shutdown does not wait for them. */
  close(): void {
    for (const end of [...this.#ends]) end();
  }
}
