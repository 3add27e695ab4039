/**
 * The console's routes, for the collector's routes table (collector/app.ts): the page and its files
 * (no token: they hold no data), and the API parts it needs beyond the rest of /v1 (token required).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AllowEntry, ResolveAll } from '../../src/replay/address-policy.js';
import type { CaptureStore } from '../storage/types.js';
import { createConsoleApi } from './console-api.js';
import { CaptureEvents } from './events.js';
import { serveConsoleFile } from './static.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

export interface ConsoleRoute {
  pattern: RegExp;
  auth: boolean;
  methods: Partial<Record<string, Handler>>;
}

export interface ConsoleOptions {
  store: CaptureStore;
  maxBodyBytes: number;
  /** The replay allowlist, which `POST /v1/diag` obeys as well. */
  allow: () => readonly AllowEntry[];
  resolveAll?: ResolveAll;
}

export function createConsole(options: ConsoleOptions): { routes: ConsoleRoute[]; events: CaptureEvents; close(): void } {
  const events = new CaptureEvents();
  const api = createConsoleApi(options);
  const stream: Handler = async (req, res) => events.stream(req, res);
  const routes: ConsoleRoute[] = [
    { pattern: /^\/(console\.js|console\.css)?$/, auth: false, methods: { GET: serveConsoleFile, HEAD: serveConsoleFile } },
    { pattern: /^\/v1\/events$/, auth: true, methods: { GET: stream } },
    { pattern: /^\/v1\/captures\/([^/]+)\/export$/, auth: true, methods: { GET: api.exportCapture, HEAD: api.exportCapture } },
    { pattern: /^\/v1\/captures\/([^/]+)\/diff$/, auth: true, methods: { POST: api.diff } },
    { pattern: /^\/v1\/tapconfig-check$/, auth: true, methods: { POST: api.checkTapConfigs } },
    { pattern: /^\/v1\/diag$/, auth: true, methods: { POST: api.diag } },
  ];
  return { routes, events, close: () => events.close() };
}
