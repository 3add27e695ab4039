/** Why an ingest request was refused; each reason is a label value of the rejected counter. */
export type RejectReason = 'invalid' | 'malformed' | 'too_large' | 'unsupported_encoding' | 'unauthorized' | 'overloaded';

const REASONS: RejectReason[] = ['invalid', 'malformed', 'too_large', 'unsupported_encoding', 'unauthorized', 'overloaded'];

/** How a server-side replay ended: an answer came back, the collector refused it, or it got no answer. */
export type ReplayOutcome = 'sent' | 'refused' | 'failed';

const REPLAY_OUTCOMES: ReplayOutcome[] = ['sent', 'refused', 'failed'];

/** The collector's counters, rendered in the Prometheus text exposition format (version 0.0.4). */
export class CollectorMetrics {
  ingested = 0;
  duplicates = 0;
  readonly rejected = new Map<RejectReason, number>(REASONS.map((r) => [r, 0]));

  reject(reason: RejectReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }

  readonly replays = new Map<ReplayOutcome, number>(REPLAY_OUTCOMES.map((o) => [o, 0]));

  replay(outcome: ReplayOutcome): void {
    this.replays.set(outcome, (this.replays.get(outcome) ?? 0) + 1);
  }

  prunedCaptures = 0;
  prunedBytes = 0;

  pruned(result: { deleted: number; bytes: number }): void {
    this.prunedCaptures += result.deleted;
    this.prunedBytes += result.bytes;
  }

  /** Stored bytes and the rules version, when the caller has them (rendered as gauges). */
  render(stored: number, extra: { storedBytes?: number; rulesVersion?: number } = {}): string {
    const lines = [
      '# HELP httploop_collector_captures_ingested_total Captures stored by ingest requests.',
      '# TYPE httploop_collector_captures_ingested_total counter',
      `httploop_collector_captures_ingested_total ${this.ingested}`,
      '# HELP httploop_collector_captures_duplicate_total Captures received again (retried batches) and not stored twice.',
      '# TYPE httploop_collector_captures_duplicate_total counter',
      `httploop_collector_captures_duplicate_total ${this.duplicates}`,
      '# HELP httploop_collector_ingest_rejected_total Ingest requests refused, by reason.',
      '# TYPE httploop_collector_ingest_rejected_total counter',
      ...[...this.rejected].map(([reason, n]) => `httploop_collector_ingest_rejected_total{reason="${reason}"} ${n}`),
      '# HELP httploop_collector_replays_total Server-side replays (POST /v1/captures/:id/replay), by outcome.',
      '# TYPE httploop_collector_replays_total counter',
      ...[...this.replays].map(([outcome, n]) => `httploop_collector_replays_total{outcome="${outcome}"} ${n}`),
      '# HELP httploop_collector_captures_stored Captures in the database now.',
      '# TYPE httploop_collector_captures_stored gauge',
      `httploop_collector_captures_stored ${stored}`,
      '# HELP httploop_collector_captures_pruned_total Captures removed by retention (background and loopctl prune).',
      '# TYPE httploop_collector_captures_pruned_total counter',
      `httploop_collector_captures_pruned_total ${this.prunedCaptures}`,
      '# HELP httploop_collector_pruned_bytes_total Stored bytes removed by retention.',
      '# TYPE httploop_collector_pruned_bytes_total counter',
      `httploop_collector_pruned_bytes_total ${this.prunedBytes}`,
    ];
    if (extra.storedBytes !== undefined) {
      lines.push(
        '# HELP httploop_collector_stored_bytes Bytes of the whole records of the captures in the database now.',
        '# TYPE httploop_collector_stored_bytes gauge',
        `httploop_collector_stored_bytes ${extra.storedBytes}`,
      );
    }
    if (extra.rulesVersion !== undefined) {
      lines.push(
        '# HELP httploop_collector_rules_version The rules (TapConfigs) version in force.',
        '# TYPE httploop_collector_rules_version gauge',
        `httploop_collector_rules_version ${extra.rulesVersion}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
}
