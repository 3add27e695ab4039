import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { codes } from '../src/errors.js';
import type { AllowEntry } from '../src/replay/address-policy.js';
import { filterFromQuery } from './filter-params.js';
import { createTokenCheck } from './http/auth.js';
import { HttpError, sendError, sendJson } from './http/http-error.js';
import { IngestBudget } from './http/ingest-budget.js';
import { parseIngestBody } from './ingest-body.js';
import { readBody } from './http/read-body.js';
import { CollectorMetrics, type RejectReason } from './metrics.js';
import { RuleWatch } from './rule-watch.js';
import { errorFields, requestFields, type CollectorLogger } from './log.js';
import { createReplayHandler } from './replay-api.js';
import { badPrune, checkLimits, hasLimit } from './retention.js';
import { createRuleHandlers } from './rules-api.js';
import type { CaptureStore } from './storage/types.js';
import { createTraceHandler } from './trace-api.js';
import { validateBatch } from './validate-capture.js';
import { createConsole } from './web/routes.js';

export interface AppOptions {
  store: CaptureStore;
  token?: string | undefined;
  maxBodyBytes: number;
  /** Most ingest requests in progress at once; more are answered 429. */
  maxPendingBatches: number;
  /** Most ingest body bytes held at once; more are answered 429. */
  maxInflightBytes: number;
  /** Where log lines go (ingest rejections, prunes, internal errors). Default: none. */
  log?: CollectorLogger;
  /** Destinations server-side replay may reach (`--replay-allow`); none turns it off. */
  replayAllow?: readonly AllowEntry[];
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

interface Route {
  pattern: RegExp;
  /** Whether the bearer token (when one is set) is required. */
  auth: boolean;
  methods: Partial<Record<string, Handler>>;
}

/**
 * The collector's HTTP API as a plain node:http request listener: no port, no process. `server.ts`
 * listens; tests may call the handler on any server.
 */
export function createApp(options: AppOptions): { handler: RequestListener; metrics: CollectorMetrics; close(): void } {
  const { store, maxBodyBytes } = options;
  const metrics = new CollectorMetrics();
  const budget = new IngestBudget(options);
  const watch = new RuleWatch(store);
  const rules = createRuleHandlers(store, watch, maxBodyBytes);
  const tokenOk = options.token ? createTokenCheck(options.token) : undefined;
  const replay = createReplayHandler({ store, allow: options.replayAllow ?? [], metrics, maxBodyBytes, maxResponseBytes: maxBodyBytes });
  // The web console (collector/web/); POST /v1/diag obeys the replay allowlist.
  const web = createConsole({ store, maxBodyBytes, allow: () => options.replayAllow ?? [] });

  const ingest: Handler = async (req, res) => {
    let ticket;
    try {
      ticket = budget.admit(req);
    } catch (err) {
      metrics.reject('overloaded');
      options.log?.warn({ ...requestFields(req), reason: 'overloaded' }, 'ingest rejected');
      throw err;
    }
    try {
      let records;
      let json: string[] | undefined;
      try {
        const parsed = parseIngestBody(await readBody(req, maxBodyBytes, { onKeep: ticket.take }));
        records = validateBatch(parsed.body);
        json = parsed.json;
      } catch (err) {
        if (err instanceof HttpError) {
          metrics.reject(rejectReason(err));
          options.log?.warn({ ...requestFields(req), reason: rejectReason(err), status: err.status }, 'ingest rejected');
        }
        throw err;
      }
      // Answered only after the store has committed: a 200 means the batch is durable.
      const result = await store.insert(records, json);
      metrics.ingested += result.inserted;
      metrics.duplicates += result.duplicates;
      if (result.inserted > 0) web.events.announce(records);
      sendJson(res, 200, result);
    } finally {
      ticket.release();
    }
  };

  const list: Handler = async (_req, res, url) => {
    const filter = filterFromQuery(url.searchParams);
    sendJson(res, 200, { captures: await store.list(filter) });
  };

  const get: Handler = async (_req, res, _url, [id]) => {
    const record = await store.get(id!);
    if (!record) throw notFound(id!);
    sendJson(res, 200, record);
  };

  const trace = createTraceHandler(store);

  const remove: Handler = async (_req, res, _url, [id]) => {
    if (!(await store.delete(id!))) throw notFound(id!);
    sendJson(res, 200, { deleted: true });
  };

  // Kubernetes-style: /healthz says the process is up and answering (a liveness probe must not restart
  // a collector because its database is away); /readyz says it can do its work (the database answers).
  const healthz: Handler = async (_req, res) => {
    sendJson(res, 200, { status: 'ok' });
  };

  const readyz: Handler = async (_req, res) => {
    let ok = false;
    try {
      ok = await store.ping();
    } catch {
      ok = false;
    }
    if (ok) sendJson(res, 200, { status: 'ready' });
    else sendJson(res, 503, { status: 'unavailable', reason: 'the database does not answer' });
  };

  // POST /v1/prune { maxAge?, maxCount?, maxBytes?, service?, dryRun? }: `loopctl prune`.
  const prune: Handler = async (req, res) => {
    const bytes = await readBody(req, 64 * 1024);
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8') || '{}');
    } catch (err) {
      throw new HttpError(400, codes.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, codes.BAD_REQUEST, "send an object like { maxAge: '7d', maxCount: 1000, maxBytes: '1GiB', service: 'web', dryRun: true }");
    }
    const { service, dryRun = false, ...rest } = body as Record<string, unknown>;
    let limits;
    try {
      limits = checkLimits(rest, 'prune', badPrune);
    } catch (err) {
      throw new HttpError(400, codes.BAD_REQUEST, (err as Error).message);
    }
    if (!hasLimit(limits)) throw new HttpError(400, codes.BAD_REQUEST, 'prune: give at least one of maxAge, maxCount and maxBytes');
    if (service !== undefined && (typeof service !== 'string' || service === '')) {
      throw new HttpError(400, codes.BAD_REQUEST, 'prune: service must be a non-empty string');
    }
    if (typeof dryRun !== 'boolean') throw new HttpError(400, codes.BAD_REQUEST, 'prune: dryRun must be true or false');
    const result = await store.prune({ ...limits, ...(service !== undefined && { service }) }, { dryRun });
    if (!dryRun) metrics.pruned(result);
    options.log?.info({ ...result, dryRun, ...(service !== undefined && { service }), by: 'api' }, dryRun ? 'prune dry run' : 'pruned');
    sendJson(res, 200, { ...result, dryRun });
  };

  const metricsRoute: Handler = async (_req, res) => {
    const text = Buffer.from(
      metrics.render(await store.count(), { storedBytes: await store.storedBytes(), rulesVersion: await store.rulesVersion() }),
    );
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': String(text.length),
      'cache-control': 'no-store',
    });
    res.end(text);
  };

  const routes: Route[] = [
    { pattern: /^\/healthz$/, auth: false, methods: { GET: healthz, HEAD: healthz } },
    { pattern: /^\/readyz$/, auth: false, methods: { GET: readyz, HEAD: readyz } },
    { pattern: /^\/v1\/prune$/, auth: true, methods: { POST: prune } },
    { pattern: /^\/metrics$/, auth: true, methods: { GET: metricsRoute, HEAD: metricsRoute } },
    { pattern: /^\/v1\/captures$/, auth: true, methods: { GET: list, HEAD: list, POST: ingest } },
    { pattern: /^\/v1\/captures\/([^/]+)$/, auth: true, methods: { GET: get, HEAD: get, DELETE: remove } },
    { pattern: /^\/v1\/captures\/([^/]+)\/replay$/, auth: true, methods: { POST: replay } },
    { pattern: /^\/v1\/traces\/([^/]+)$/, auth: true, methods: { GET: trace, HEAD: trace } },
    {
      pattern: /^\/v1\/tapconfigs$/,
      auth: true,
      methods: { GET: rules.listTapConfigs, HEAD: rules.listTapConfigs, POST: rules.applyTapConfigs },
    },
    {
      pattern: /^\/v1\/tapconfigs\/([^/]+)$/,
      auth: true,
      methods: { GET: rules.getTapConfig, HEAD: rules.getTapConfig, DELETE: rules.deleteTapConfig },
    },
    { pattern: /^\/v1\/rules$/, auth: true, methods: { GET: rules.pollRules } },
    ...web.routes,
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://collector.invalid');
    const route = routes.find((r) => r.pattern.test(url.pathname));
    if (!route) {
      throw new HttpError(404, codes.ROUTE_NOT_FOUND, `no route ${url.pathname}: the API is under /v1/ (and /healthz, /metrics; the console is at /)`);
    }
    const method = req.method ?? 'GET';
    const run = route.methods[method];
    if (!run) {
      const allow = Object.keys(route.methods).join(', ');
      throw new HttpError(405, codes.METHOD_NOT_ALLOWED, `method ${method} is not allowed on ${url.pathname}; use ${allow}`, {
        allow,
      });
    }
    if (route.auth && tokenOk && !tokenOk(req)) {
      if (run === ingest) {
        metrics.reject('unauthorized');
        options.log?.warn({ ...requestFields(req), reason: 'unauthorized' }, 'ingest rejected');
      }
      throw new HttpError(401, codes.UNAUTHORIZED, 'missing or wrong bearer token; send Authorization: Bearer <token>', {
        'www-authenticate': 'Bearer',
      });
    }
    const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeParam);
    await run(req, res, url, params);
  }

  const handler: RequestListener = (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        sendError(req, res, err);
        return;
      }
      if (err instanceof Error && 'code' in err && err.code === codes.BAD_REQUEST) {
        sendError(req, res, new HttpError(400, codes.BAD_REQUEST, err.message));
        return;
      }
      // Only a safe message leaves the collector; the detail goes to its own log.
      if (options.log) options.log.error({ ...requestFields(req), err: errorFields(err) }, 'request failed');
      else console.error(`httploop collector: ${req.method} ${requestFields(req).path} failed:`, err);
      sendError(req, res, new HttpError(500, codes.INTERNAL, 'internal error'));
    });
  };
  // close() ends the long polls and event streams at once, so that a shutdown does not wait for them.
  return {
    handler,
    metrics,
    close: () => {
      watch.close();
      web.close();
    },
  };
}

function notFound(id: string): HttpError {
  return new HttpError(404, codes.NOT_FOUND, `no capture with id ${id}`);
}

function decodeParam(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, codes.BAD_REQUEST, `bad percent-encoding in '${text}'`);
  }
}

function rejectReason(err: HttpError): RejectReason {
  switch (err.code) {
    case codes.PAYLOAD_TOO_LARGE:
      return 'too_large';
    case codes.UNSUPPORTED_ENCODING:
      return 'unsupported_encoding';
    case codes.INVALID_CAPTURE:
      return 'invalid';
    case codes.OVERLOADED:
      return 'overloaded';
    default:
      return 'malformed';
  }
}
