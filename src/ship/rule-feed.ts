import http from 'node:http';
import https from 'node:https';
import { debug } from '../debug.js';
import type { RuleSource } from '../match/rule-set.js';
import type { TapConfig } from '../match/tapconfig.js';
import { internalAgents, kInternalRequest } from './transport.js';

export interface RuleFeedOptions {
  collector: URL;
  token: string | undefined;
  service: string;
  instance: string;
  /** How long the collector may hold a poll open when nothing changes, in seconds. Default 25. */
  waitSeconds?: number;
  /** The collector's TapConfigs for this service, at `version`. */
  onRules(configs: TapConfig[], version: number): void;
  /** What is in force now, reported with every poll so `loopctl get tapconfigs` can show it. */
  state(): { version: number; source: RuleSource };
}

/** What the collector answers on `GET /v1/rules`. */
export interface RulesAnswer {
  version: number;
  tapconfigs: TapConfig[];
}

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
/** A collector without the rules API (404) is asked again rarely. */
const NOT_SUPPORTED_BACKOFF_MS = 60_000;

/**
 * Follows the collector's rules with a long poll: `GET /v1/rules` with `If-None-Match: "<version>"`
 * is held by the collector until the rules change (200 with the new set) or the wait ends (304), and
 * is sent again at once. A change therefore arrives as soon as it is applied, with one request in
 * flight per process, not a tight poll. When the collector cannot be reached the feed retries with
 * backoff (at most 5 s apart) and the rules in force stay as they are. Sockets and timers are unref'd:
 * the feed never keeps a process alive.
 */
export class RuleFeed {
  private readonly agent: http.Agent;
  private readonly client: typeof http | typeof https;
  private readonly url: URL;
  private readonly waitSeconds: number;
  private request: http.ClientRequest | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  /** The last rules version the collector sent, taken or refused. */
  private seen = 0;
  private closed = false;
  private warned = new Set<string>();
  /** Polls answered, and failures, for stats(). */
  readonly counts = { updates: 0, failures: 0 };

  constructor(private readonly options: RuleFeedOptions) {
    const base = options.collector.href.endsWith('/') ? options.collector.href : `${options.collector.href}/`;
    this.url = new URL('v1/rules', base);
    this.client = this.url.protocol === 'https:' ? https : http;
    this.agent = new this.client.Agent({ keepAlive: true, maxSockets: 1 });
    internalAgents.add(this.agent);
    this.waitSeconds = options.waitSeconds ?? 25;
  }

  start(): void {
    if (this.closed || this.request !== null || this.timer !== null) return;
    this.poll();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.request?.destroy();
    this.request = null;
    this.agent.destroy();
  }

  private poll(): void {
    if (this.closed) return;
    const { version, source } = this.options.state();
    // The poll waits on the last version received, even when it was refused (a set this version of
    // httploop cannot compile): asking with the version in force would be answered at once, again and
    // again. The version in force is reported apart, for `loopctl get tapconfigs`.
    const waitOn = this.seen > 0 ? this.seen : version;
    const url = new URL(this.url);
    url.searchParams.set('service', this.options.service);
    url.searchParams.set('instance', this.options.instance);
    url.searchParams.set('source', source);
    url.searchParams.set('version', String(version));
    url.searchParams.set('wait', String(this.waitSeconds));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'httploop-rules' };
    if (waitOn > 0) headers['if-none-match'] = `"${waitOn}"`;
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;

    const started = Date.now();
    const req = this.client.request(url, { method: 'GET', headers, agent: this.agent, timeout: (this.waitSeconds + 15) * 1000 });
    (req as unknown as Record<symbol, boolean>)[kInternalRequest] = true;
    this.request = req;
    req.on('socket', (socket) => socket.unref());
    req.on('timeout', () => req.destroy(new Error('no answer from the collector in time')));
    req.on('error', (err) => this.failed(req, `cannot reach the collector for rules: ${err.message}`));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // Rules are small; an answer this large is not one.
        if (size > 8 * 1024 * 1024) req.destroy(new Error('the rules answer is larger than 8 MiB'));
        else chunks.push(chunk);
      });
      res.on('error', (err) => this.failed(req, `reading the rules failed: ${err.message}`));
      res.on('end', () => {
        if (this.request !== req) return;
        this.request = null;
        const status = res.statusCode ?? 0;
        if (status === 304) {
          this.attempt = 0;
          // Normally the collector held this poll for the whole wait; one that answers at once (a proxy,
          // a collector shutting down) is not asked again more than once a second.
          this.next(Math.max(0, 1000 - (Date.now() - started)));
        } else if (status === 200) {
          this.answered(Buffer.concat(chunks));
        } else {
          this.fail(`the collector answered ${status} to a rules poll`, status);
        }
      });
    });
    req.end();
  }

  private answered(body: Buffer): void {
    let answer: RulesAnswer;
    try {
      answer = JSON.parse(body.toString('utf8')) as RulesAnswer;
      if (!Number.isSafeInteger(answer.version) || !Array.isArray(answer.tapconfigs)) throw new Error('not a rules answer');
    } catch (err) {
      this.fail(`the collector's rules answer could not be read: ${(err as Error).message}`);
      return;
    }
    this.attempt = 0;
    this.counts.updates++;
    this.seen = answer.version;
    this.options.onRules(answer.tapconfigs, answer.version);
    this.next(0);
  }

  private failed(req: http.ClientRequest, message: string, status?: number): void {
    // Only the poll in flight counts: an error after its answer was handled must not start a second loop.
    if (this.request !== req) return;
    this.request = null;
    if (this.closed) return;
    this.fail(message, status);
  }

  private fail(message: string, status?: number): void {
    this.counts.failures++;
    // Reported once per kind of failure: a collector that is down for an hour is one message.
    const kind = status === undefined ? message.replace(/:.*/, '') : String(status);
    if (!this.warned.has(kind)) {
      this.warned.add(kind);
      debug(`${message}; the rules in force stay as they are, retrying`);
    }
    this.attempt++;
    const ceiling = status === 404 ? NOT_SUPPORTED_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(this.attempt - 1, 10));
    this.next(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private next(delayMs: number): void {
    if (this.closed) return;
    if (delayMs <= 0) {
      // A fresh turn of the event loop, so a collector answering 304 at once cannot make a tight loop
      // of this; setImmediate would keep the process alive, an unref'd timer does not.
      delayMs = 1;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll();
    }, delayMs);
    this.timer.unref();
  }
}
