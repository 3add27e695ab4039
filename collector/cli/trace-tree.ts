import type { CapturedError, CaptureRecord, OutboundCall } from '../../src/capture/record.js';

/** One hop of a trace: a capture, with the outgoing calls its handler made. */
export interface TraceHop {
  seq: number;
  id: string;
  service: string;
  instance: string;
  startedAt: string;
  durationMs: number;
  method: string;
  url: string;
  status: number;
  aborted: boolean;
  route?: string;
  destination: string;
  spanId: string;
  /** The span id the caller sent; on a root it matches no outgoing call of this trace. */
  parentSpanId?: string;
  error?: TraceError;
  replayOf?: string;
  calls: TraceCall[];
}

/** An outgoing call of a hop, with the captures it led to downstream (none when the callee made none). */
export interface TraceCall {
  spanId?: string;
  method: string;
  url: string;
  status?: number;
  durationMs?: number;
  error?: TraceError;
  downstream: TraceHop[];
}

export interface TraceError {
  name: string;
  message: string;
  code?: string;
}

/** What `loopctl trace --json` prints. */
export interface TraceTree {
  traceId: string;
  /** Captures of this trace at the collector. */
  total: number;
  /** True when the collector answered only the earliest of them (its limit). */
  truncated: boolean;
  /** Services in the order they first appear. */
  services: string[];
  /** Hops whose caller is not among the captures, by start time. */
  roots: TraceHop[];
}

function traceError(error: CapturedError): TraceError {
  return { name: error.name, message: error.message, ...(error.code !== undefined && { code: error.code }) };
}

function toCall(call: OutboundCall): TraceCall {
  return {
    ...(call.spanId !== undefined && { spanId: call.spanId }),
    method: call.method,
    url: call.url,
    ...(call.status !== undefined && { status: call.status }),
    ...(call.durationMs !== undefined && { durationMs: call.durationMs }),
    ...(call.error && { error: traceError(call.error) }),
    downstream: [],
  };
}

function toHop(record: CaptureRecord): TraceHop {
  return {
    seq: record.seq!,
    id: record.id,
    service: record.service,
    instance: record.instance,
    startedAt: record.startedAt,
    durationMs: record.durationMs,
    method: record.request.method,
    url: record.request.url,
    status: record.response.status,
    aborted: record.response.aborted,
    ...(record.route !== undefined && { route: record.route }),
    destination: record.destination,
    spanId: record.trace.spanId,
    ...(record.trace.parentSpanId !== undefined && { parentSpanId: record.trace.parentSpanId }),
    ...(record.error && { error: traceError(record.error) }),
    ...(record.replayOf !== undefined && { replayOf: record.replayOf }),
    calls: (record.outbound ?? []).map(toCall),
  };
}

/**
 * Links the captures of one trace into trees. Every loop() gives each outgoing call a span id of its
 * own and sends it in that call's traceparent, so a capture whose `trace.parentSpanId` is the
 * `spanId` of another capture's outgoing call hangs under that call. A capture whose parent span
 * matches no call (its caller had no loop(), or was not captured) is a root. Captures come in by
 * start time; children and roots keep that order.
 */
export function buildTraceTree(traceId: string, total: number, records: CaptureRecord[]): TraceTree {
  const sorted = [...records].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt) || (a.seq ?? 0) - (b.seq ?? 0));
  const hops = sorted.map(toHop);
  const order = new Map(hops.map((hop, index) => [hop, index]));

  // A span id is unique per call; should two calls share one anyway, the earlier call keeps it.
  const callBySpan = new Map<string, { hop: TraceHop; call: TraceCall }>();
  for (const hop of hops) {
    for (const call of hop.calls) {
      if (call.spanId !== undefined && !callBySpan.has(call.spanId)) callBySpan.set(call.spanId, { hop, call });
    }
  }

  const parentCall = new Map<TraceHop, TraceCall>();
  const roots: TraceHop[] = [];
  for (const hop of hops) {
    const parent = hop.parentSpanId !== undefined ? callBySpan.get(hop.parentSpanId) : undefined;
    if (parent && parent.hop !== hop) {
      parent.call.downstream.push(hop);
      parentCall.set(hop, parent.call);
    } else {
      roots.push(hop);
    }
  }

  // Links that go round in a circle (only inconsistent records can do that) reach no root: the
  // earliest hop of each circle becomes one, so that every capture is printed exactly once.
  const reached = new Set<TraceHop>();
  const visit = (hop: TraceHop): void => {
    if (reached.has(hop)) return;
    reached.add(hop);
    for (const call of hop.calls) for (const child of call.downstream) visit(child);
  };
  roots.forEach(visit);
  for (const hop of hops) {
    if (reached.has(hop)) continue;
    const call = parentCall.get(hop)!;
    call.downstream.splice(call.downstream.indexOf(hop), 1);
    roots.push(hop);
    visit(hop);
  }
  roots.sort((a, b) => order.get(a)! - order.get(b)!);

  const services = [...new Set(hops.map((hop) => hop.service))];
  return { traceId, total, truncated: hops.length < total, services, roots };
}
