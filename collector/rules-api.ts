/**
 * The rules half of the collector's API: TapConfigs (`loopctl apply / get / delete`) and the long poll
 * every running loop() follows them with.
 *
 *   GET    /v1/tapconfigs          every TapConfig, its capture count, and what each agent has in force
 *   POST   /v1/tapconfigs          { tapconfigs: [...] }: all valid → all applied, else 400 and none
 *   GET    /v1/tapconfigs/:name
 *   DELETE /v1/tapconfigs/:name
 *   GET    /v1/rules?service=S&instance=I&source=local|collector&wait=25   (If-None-Match: "<version>")
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { codes } from '../src/errors.js';
import { checkMatch } from '../src/match/check-match.js';
import { appliesTo, formatPath, validateTapConfig, type TapConfig } from '../src/match/tapconfig.js';
import { HttpError, sendJson } from './http/http-error.js';
import { readBody } from './http/read-body.js';
import type { RuleWatch } from './rule-watch.js';
import type { AgentState, CaptureStore } from './storage/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

/** Agents that polled within this window are listed as running. */
export const AGENT_WINDOW_MS = 2 * 60_000;
/** An agent whose state has not changed is written down at most this often. */
const AGENT_WRITE_EVERY_MS = 30_000;
const MAX_WAIT_SECONDS = 60;
const MAX_AGENTS_REMEMBERED = 10_000;

/** One problem of an apply, for the CLI to place in its file. */
export interface ApplyProblem {
  /** Index of the resource in the request. */
  index: number;
  path: string;
  message: string;
}

export function createRuleHandlers(store: CaptureStore, watch: RuleWatch, maxBodyBytes: number) {
  const lastWritten = new Map<string, { version: number; source: string; at: number }>();

  const listTapConfigs: Handler = async (_req, res) => {
    const [version, stored, counts, agents] = await Promise.all([
      store.rulesVersion(),
      store.listTapConfigs(),
      store.countByRule(),
      store.listAgents(Date.now() - AGENT_WINDOW_MS),
    ]);
    sendJson(res, 200, {
      version,
      tapconfigs: stored.map((s) => ({ ...s, captured: counts[s.resource.metadata.name] ?? 0 })),
      agents,
    });
  };

  const getTapConfig: Handler = async (_req, res, _url, [name]) => {
    const stored = (await store.listTapConfigs()).find((s) => s.resource.metadata.name === name);
    if (!stored) throw notFound(name!);
    const counts = await store.countByRule();
    sendJson(res, 200, { ...stored, captured: counts[name!] ?? 0 });
  };

  const applyTapConfigs: Handler = async (req, res, url) => {
    let body: unknown;
    const bytes = await readBody(req, maxBodyBytes);
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new HttpError(400, codes.BAD_REQUEST, `request body is not valid JSON: ${(err as Error).message}`);
    }
    const list = (body as { tapconfigs?: unknown } | null)?.tapconfigs;
    if (!Array.isArray(list) || list.length === 0) {
      throw new HttpError(400, codes.BAD_REQUEST, 'send { "tapconfigs": [ ... ] } with at least one TapConfig');
    }
    const configs: TapConfig[] = [];
    const problems: ApplyProblem[] = [];
    const names = new Set<string>();
    list.forEach((value, index) => {
      const result = validateTapConfig(value, checkMatch);
      for (const p of result.problems) problems.push({ index, path: formatPath(p.path), message: p.message });
      if (result.config === undefined) return;
      const name = result.config.metadata.name;
      if (names.has(name)) problems.push({ index, path: 'metadata.name', message: `metadata.name '${name}' is given twice` });
      names.add(name);
      configs.push(result.config);
    });
    if (problems.length > 0) {
      const first = problems[0]!;
      throw new HttpError(
        400,
        codes.INVALID_TAPCONFIG,
        `tapconfigs[${first.index}]${first.path ? `.${first.path}` : ''}: ${first.message}` +
          (problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''),
        {},
        { problems },
      );
    }
    if (url.searchParams.get('dryRun') === 'true') {
      sendJson(res, 200, { version: await store.rulesVersion(), results: configs.map((c) => ({ name: c.metadata.name, action: 'valid' })) });
      return;
    }
    const result = await store.applyTapConfigs(configs);
    await watch.changed();
    sendJson(res, 200, result);
  };

  const deleteTapConfig: Handler = async (_req, res, _url, [name]) => {
    const version = await store.deleteTapConfig(name!);
    if (version === undefined) throw notFound(name!);
    await watch.changed();
    sendJson(res, 200, { version, deleted: name });
  };

  const pollRules: Handler = async (req, res, url) => {
    const query = url.searchParams;
    const service = query.get('service');
    if (!service) throw new HttpError(400, codes.BAD_REQUEST, "the 'service' query parameter is required: /v1/rules?service=web");
    const wait = waitSeconds(query.get('wait'));
    const known = knownVersion(req.headers['if-none-match'], query.get('version'));
    const source = query.get('source') === 'collector' ? 'collector' : 'local';
    const instance = query.get('instance') || req.socket.remoteAddress || 'unknown';
    // The version the agent has in force; its If-None-Match can be newer (a set it received and refused).
    const inForce = knownVersion(undefined, query.get('version')) ?? known ?? 0;
    await noteAgent({ service, instance, version: inForce, source, seenAt: Date.now() });

    let version = await store.rulesVersion();
    if (known === version && wait > 0) {
      const aborted = new AbortController();
      res.once('close', () => aborted.abort());
      const outcome = await watch.wait(version, wait * 1000, aborted.signal);
      if (res.destroyed) return;
      if (outcome === 'closed') res.setHeader('connection', 'close');
      version = await store.rulesVersion();
    }
    if (known === version) {
      res.writeHead(304, { etag: `"${version}"`, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const tapconfigs = (await store.listTapConfigs()).map((s) => s.resource).filter((c) => appliesTo(c, service));
    sendJson(res, 200, { version, tapconfigs }, { etag: `"${version}"` });
  };

  /** Written down when something changed, else at most every 30 s: a poll is not a disk write. */
  async function noteAgent(agent: AgentState): Promise<void> {
    const key = `${agent.service}\0${agent.instance}`;
    const last = lastWritten.get(key);
    if (last && last.version === agent.version && last.source === agent.source && agent.seenAt - last.at < AGENT_WRITE_EVERY_MS) return;
    if (lastWritten.size >= MAX_AGENTS_REMEMBERED) lastWritten.clear();
    lastWritten.set(key, { version: agent.version, source: agent.source, at: agent.seenAt });
    await store.recordAgent(agent);
  }

  return { listTapConfigs, getTapConfig, applyTapConfigs, deleteTapConfig, pollRules };
}

function notFound(name: string): HttpError {
  return new HttpError(404, codes.NOT_FOUND, `no tapconfig named ${name}`);
}

function waitSeconds(text: string | null): number {
  if (text === null || text === '') return 0;
  const n = /^[0-9]{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= MAX_WAIT_SECONDS)) {
    throw new HttpError(400, codes.BAD_REQUEST, `bad wait '${text}': use whole seconds from 0 to ${MAX_WAIT_SECONDS}`);
  }
  return n;
}

/** The version the agent has: its If-None-Match (`"12"`, also weak), else the `version` parameter. */
function knownVersion(ifNoneMatch: string | undefined, param: string | null): number | undefined {
  const text = ifNoneMatch ?? (param === null ? undefined : `"${param}"`);
  const m = text === undefined ? null : /^(?:W\/)?"([0-9]{1,15})"$/.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}
