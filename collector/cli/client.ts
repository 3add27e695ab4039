import http from 'node:http';
import https from 'node:https';
import type { CaptureRecord, CaptureSummary, HeaderList } from '../../src/capture/record.js';
import type { TapConfig } from '../../src/match/tapconfig.js';
import type { ReplayResponseJson } from '../../src/replay/wire.js';
import type { ReplayApiRequest } from '../replay-api.js';
import type { ApplyProblem } from '../rules-api.js';
import type { AgentState, ApplyResult, InsertResult, StoredTapConfig } from '../storage/types.js';
import { LoopError, codes, networkReason, type LoopErrorCode } from '../../src/errors.js';

/** loopctl's view of the collector API: one request per call, no keep-alive. */
export class CollectorClient {
  readonly #base: URL;
  readonly #basePath: string;
  readonly #token: string | undefined;
  /** The collector as named in messages. */
  readonly display: string;

  constructor(collectorUrl: string, token?: string) {
    let base: URL | undefined;
    try {
      base = new URL(collectorUrl);
    } catch {
      base = undefined;
    }
    if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:') || base.search || base.hash) {
      throw new LoopError(
        codes.USAGE,
        `bad collector URL '${collectorUrl}': use an http(s) URL like http://127.0.0.1:5678 (--collector or LOOP_COLLECTOR)`,
      );
    }
    this.#base = base;
    this.#basePath = base.pathname.replace(/\/+$/, '');
    this.#token = token || undefined;
    this.display = `${base.origin}${this.#basePath}`;
  }

  async list(query: Record<string, string | undefined>): Promise<CaptureSummary[]> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value);
    const search = params.size ? `?${params}` : '';
    const body = (await this.#request('GET', `/v1/captures${search}`)) as { captures: CaptureSummary[] };
    return body.captures;
  }

  async get(id: string): Promise<CaptureRecord> {
    return (await this.#request('GET', `/v1/captures/${encodeURIComponent(id)}`, { id })) as CaptureRecord;
  }

  /** Sends one batch to the ingest API (`POST /v1/captures`), as the shipper does; all or none is stored. */
  async ingest(captures: CaptureRecord[]): Promise<InsertResult> {
    return (await this.#request('POST', '/v1/captures', { body: { captures } })) as InsertResult;
  }

  /** Every capture of one trace, by start time (the collector answers the earliest 1000 at most). */
  async trace(traceId: string): Promise<TraceAnswer> {
    return (await this.#request('GET', `/v1/traces/${encodeURIComponent(traceId)}`, { trace: traceId })) as TraceAnswer;
  }

  /** `POST /v1/prune`: removes the oldest captures beyond the limits (or counts them, on a dry run). */
  async prune(request: Record<string, unknown>): Promise<{ deleted: number; bytes: number; dryRun: boolean }> {
    return (await this.#request('POST', '/v1/prune', { body: request, timeoutMs: 600_000 })) as { deleted: number; bytes: number; dryRun: boolean };
  }

  async deleteCapture(id: string): Promise<void> {
    await this.#request('DELETE', `/v1/captures/${encodeURIComponent(id)}`, { id });
  }

  async listTapConfigs(): Promise<TapConfigListing> {
    return (await this.#request('GET', '/v1/tapconfigs')) as TapConfigListing;
  }

  /** Applies all or none; a refusal carries the collector's problems (`ApplyError`). */
  async applyTapConfigs(tapconfigs: TapConfig[], dryRun = false): Promise<ApplyResult> {
    const path = `/v1/tapconfigs${dryRun ? '?dryRun=true' : ''}`;
    return (await this.#request('POST', path, { body: { tapconfigs } })) as ApplyResult;
  }

  async deleteTapConfig(name: string): Promise<number> {
    const body = (await this.#request('DELETE', `/v1/tapconfigs/${encodeURIComponent(name)}`, { tapconfig: name })) as {
      version: number;
    };
    return body.version;
  }

  /**
   * Asks the collector to replay a capture itself (`POST /v1/captures/:id/replay`) and answers what the
   * destination sent back. Its refusals keep their codes (`LOOP_ERR_REPLAY_NOT_ALLOWED`, …).
   */
  async replay(id: string, request: ReplayApiRequest): Promise<ReplayAnswer> {
    // Longer than the collector's own 30 s for the destination, so its answer about a slow one arrives.
    return (await this.#request('POST', `/v1/captures/${encodeURIComponent(id)}/replay`, { id, body: request, replay: true, timeoutMs: 45_000 })) as ReplayAnswer;
  }

  #request(
    method: string,
    path: string,
    about: { id?: string; tapconfig?: string; trace?: string; body?: unknown; replay?: boolean; timeoutMs?: number } = {},
  ): Promise<unknown> {
    const url = new URL(`${this.#base.origin}${this.#basePath}${path}`);
    const transport = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const payload = about.body === undefined ? undefined : Buffer.from(JSON.stringify(about.body));
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const timeoutMs = about.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(this.#unreachable(err, timeoutMs)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(
              new LoopError(
                codes.COLLECTOR_ERROR,
                `${this.display} answered ${status} with something that is not JSON; does --collector point at a loopctl collector?`,
              ),
            );
            return;
          }
          if (status >= 200 && status < 300) resolve(body);
          else reject(this.#failure(status, body, about));
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'LOOP_TIMEOUT' })));
      req.on('error', (err) => reject(this.#unreachable(err, timeoutMs)));
      req.end(payload);
    });
  }

  #unreachable(err: NodeJS.ErrnoException, timeoutMs: number): LoopError {
    const reason = err.code === 'LOOP_TIMEOUT' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : networkReason(err);
    return new LoopError(
      codes.COLLECTOR_UNREACHABLE,
      `cannot reach the collector at ${this.display} (${reason}); start it with 'loopctl serve' or set --collector / LOOP_COLLECTOR`,
      { cause: err },
    );
  }

  #failure(status: number, body: unknown, about: { id?: string; tapconfig?: string; trace?: string; replay?: boolean }): LoopError {
    if (status === 401) {
      return new LoopError(codes.UNAUTHORIZED, 'the collector refused the token; pass --token or set LOOP_TOKEN');
    }
    const error = (body as { error?: { code?: string; message?: string; problems?: ApplyProblem[] } } | null)?.error;
    if (status === 404 && error?.code === codes.NOT_FOUND) {
      if (about.id !== undefined) return new LoopError(codes.NOT_FOUND, `no capture with id ${about.id}`);
      if (about.tapconfig !== undefined) return new LoopError(codes.NOT_FOUND, `no tapconfig named ${about.tapconfig}`);
      if (about.trace !== undefined) return new LoopError(codes.NOT_FOUND, `no capture has trace id ${about.trace}`);
    }
    if (about.replay && error?.message && REPLAY_CODES.has(error.code ?? '')) {
      const prefix = error.code === codes.DESTINATION_UNREACHABLE ? 'the collector says: ' : '';
      return new LoopError(error.code as LoopErrorCode, `${prefix}${error.message}`);
    }
    if (status === 400 && error?.code === codes.INVALID_TAPCONFIG && Array.isArray(error.problems)) {
      return new ApplyError(error.message ?? 'the collector refused the TapConfigs', error.problems);
    }
    return new LoopError(codes.COLLECTOR_ERROR, `the collector answered ${status}: ${error?.message ?? 'no reason given'}`);
  }
}

/** Refusals of a server-side replay that keep their code on the CLI's side. */
const REPLAY_CODES: ReadonlySet<string> = new Set([
  codes.REPLAY_OFF,
  codes.REPLAY_NOT_ALLOWED,
  codes.REPLAY_FORBIDDEN_ADDRESS,
  codes.REPLAY_REDACTED,
  codes.BAD_DESTINATION,
  codes.DESTINATION_UNREACHABLE,
]);

/** What `POST /v1/captures/:id/replay` answers: the request the collector sent and the response it got. */
export interface ReplayAnswer {
  capture: { id: string; seq?: number };
  destination: string;
  /** The address the collector validated and connected to, `ip:port`. */
  address: string;
  request: { method: string; target: string; headers: HeaderList };
  response: ReplayResponseJson & { durationMs: number };
}

/** What `GET /v1/traces/:traceId` answers. */
export interface TraceAnswer {
  traceId: string;
  /** Every stored capture of the trace; more than `captures.length` when the collector's limit cut. */
  total: number;
  /** Whole records, by start time. */
  captures: CaptureRecord[];
}

/** What `GET /v1/tapconfigs` answers. */
export interface TapConfigListing {
  version: number;
  tapconfigs: Array<StoredTapConfig & { captured: number }>;
  agents: AgentState[];
}

/** The collector refused an apply; `problems` say where, by resource index and field path. */
export class ApplyError extends LoopError {
  constructor(
    message: string,
    readonly problems: ApplyProblem[],
  ) {
    super(codes.INVALID_TAPCONFIG, message);
  }
}
