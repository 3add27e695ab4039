import type { IncomingMessage } from 'node:http';
import { codes } from '../../src/errors.js';
import { HttpError } from './http-error.js';

/** Seconds a refused shipper is told to wait: long enough for a busy database to catch up. */
export const OVERLOAD_RETRY_AFTER_S = 1;

export interface IngestBudgetLimits {
  /** Most ingest requests being read, checked or stored at once. */
  maxPendingBatches: number;
  /** Most body bytes held by those requests together (as sent, or decoded when compressed). */
  maxInflightBytes: number;
}

/** One admitted ingest request's share of the budget; `release()` gives it back (once). */
export interface IngestTicket {
  /** Counts `bytes` more held by this request; throws the 429 when the budget is spent. */
  take(bytes: number): void;
  release(): void;
}

function overloaded(what: string): HttpError {
  return new HttpError(
    429,
    codes.OVERLOADED,
    `the collector is overloaded (${what}); retry after ${OVERLOAD_RETRY_AFTER_S} s`,
    { 'retry-after': String(OVERLOAD_RETRY_AFTER_S) },
  );
}

/**
 * Bounds the ingest work a collector takes on at once, so that a burst (or a slow database) is answered
 * with 429 and Retry-After, which shippers honour, instead of growing memory until the process dies.
 * Like an OpenTelemetry Collector's memory limiter, it refuses early rather than queue.
 */
export class IngestBudget {
  pending = 0;
  bytes = 0;

  constructor(private readonly limits: IngestBudgetLimits) {}

  /**
   * Admits a request or throws the 429. An identity body's Content-Length is reserved at once, so
   * a request that cannot fit is refused before its body is read.
   */
  admit(req: IncomingMessage): IngestTicket {
    const { maxPendingBatches, maxInflightBytes } = this.limits;
    if (this.pending >= maxPendingBatches) throw overloaded(`${this.pending} batches in progress`);
    const declared = Number(req.headers['content-length']);
    const encoded = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const reserve = Number.isSafeInteger(declared) && declared > 0 && (encoded === 'identity' || encoded === '') ? declared : 0;
    if (this.bytes + reserve > maxInflightBytes) throw overloaded(`${this.bytes} body bytes in progress`);
    this.pending++;
    this.bytes += reserve;
    let held = reserve;
    let counted = 0;
    let released = false;
    return {
      take: (n) => {
        if (released) return;
        counted += n;
        // Bytes within the reservation are already counted.
        const more = counted - held;
        if (more <= 0) return;
        if (this.bytes + more > maxInflightBytes) throw overloaded(`${this.bytes} body bytes in progress`);
        this.bytes += more;
        held += more;
      },
      release: () => {
        if (released) return;
        released = true;
        this.pending--;
        this.bytes -= held;
      },
    };
  }
}
