// One benchmarked server, in its own process so the load generator never shares its event loop.
// `node bench/server.mjs <express|koa> <variant>`; reports its port over IPC, then answers IPC
// questions (cpu, rss sampling, loop() stats, heap after a forced GC when run with --expose-gc).
//
// Routes, the same for every variant and both frameworks (bench/shapes.mjs):
//   GET  /       small JSON ({ hello: 'world' })
//   POST /json   a 10 KiB JSON body, parsed by the framework's JSON body parser, answered with a small JSON
//   GET  /big    a 1 MiB JSON response (built once at start)
//   GET  /sse    a text/event-stream of 16 events, one per event-loop turn, then the end
// Every failEvery-th request (0: none) answers 500 instead (BENCH_FAIL_EVERY, or IPC { failEvery }).
//
// Variants (bench/matrix.mjs says what each measures): bare, control (a second bare), armed, fail1, capture-all, armed10,
// diag, otel, pino, tusk100, tusk1. Instrumentation that patches modules (OpenTelemetry, Tusk Drift)
// is set up before the frameworks are required, as their docs ask; so every variant requires them.
import { createRequire } from 'node:module';
import { TEN_RULES } from './ten-rules.mjs';

const require = createRequire(import.meta.url);
const [framework = 'express', variant = 'bare'] = process.argv.slice(2);
let failEvery = Number(process.env.BENCH_FAIL_EVERY ?? (variant === 'fail1' ? 100 : 0));
const collector = process.env.BENCH_COLLECTOR;
if (!['express', 'koa'].includes(framework)) throw new Error(`unknown framework '${framework}': use express or koa`);

// --- instrumentation first ---------------------------------------------------------------------
let otelProvider;
let otelSpans = 0;
if (variant === 'otel') {
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const frameworkInstrumentation =
    framework === 'express'
      ? new (require('@opentelemetry/instrumentation-express').ExpressInstrumentation)()
      : new (require('@opentelemetry/instrumentation-koa').KoaInstrumentation)();
  // A no-op exporter: what remains is the cost of creating, recording and batching the spans.
  // It counts what it is given, so the bench can tell the instrumentation really made spans.
  const noopExporter = {
    export: (spans, done) => {
      otelSpans += spans.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  otelProvider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(noopExporter)] });
  otelProvider.register();
  registerInstrumentations({ instrumentations: [new HttpInstrumentation(), frameworkInstrumentation] });
}
let tusk;
if (variant === 'tusk100' || variant === 'tusk1') {
  // RECORD mode comes from TUSK_DRIFT_MODE, the traces directory from .tusk/config.yaml in the
  // working directory (run.mjs makes a temp dir with both); spans go to local JSONL files there.
  if (process.env.TUSK_DRIFT_MODE !== 'RECORD') throw new Error('the tusk variants need TUSK_DRIFT_MODE=RECORD (run.mjs sets it)');
  ({ TuskDrift: tusk } = require('@use-tusk/drift-node-sdk'));
  tusk.initialize({ apiKey: 'offline-bench', env: 'bench', logLevel: 'error', samplingRate: variant === 'tusk100' ? 1 : 0.01 });
}

// --- the app -------------------------------------------------------------------------------------
const http = require('node:http');
const { PassThrough } = require('node:stream');
const BIG = Buffer.from(JSON.stringify({ data: 'x'.repeat(1024 * 1024 - 11) })); // 1 MiB exactly
if (BIG.length !== 1024 * 1024) throw new Error(`the 1 MiB body is ${BIG.length} bytes`);
const SSE_EVENTS = 16;
const SSE_EVENT = `event: tick\ndata: ${JSON.stringify({ n: 0, payload: 'y'.repeat(64) })}\n\n`;

let n = 0;
const failNow = () => failEvery > 0 && ++n % failEvery === 0;
let served = 0;

let mw;
function loopOptions() {
  const base = { service: 'bench', collector };
  switch (variant) {
    case 'armed':
    case 'fail1':
      return base;
    case 'armed10':
      return { ...base, rules: TEN_RULES };
    case 'capture-all':
      return { ...base, match: 'true' };
    case 'diag':
      return { ...base, diagnostics: { token: 'bench-diagnostics-token-never-sent' } };
    default:
      return undefined;
  }
}
const loopOpts = loopOptions();
if (loopOpts === undefined && !['bare', 'control', 'otel', 'pino', 'tusk100', 'tusk1'].includes(variant)) {
  throw new Error(`unknown variant '${variant}': use bare, control, armed, fail1, capture-all, armed10, diag, otel, pino, tusk100 or tusk1`);
}
function pinoLogger() {
  const pino = require('pino');
  return pino(pino.destination('/dev/null'));
}

let handler;
if (framework === 'express') {
  const express = require('express');
  const app = express();
  if (loopOpts !== undefined) {
    const { loop } = await import('httploop');
    mw = loop(loopOpts);
    app.use(mw);
  }
  if (variant === 'pino') app.use(require('pino-http')({ logger: pinoLogger() }));
  app.use((req, res, next) => {
    served++;
    if (failNow()) res.status(500).json({ error: 'planned failure' });
    else next();
  });
  app.get('/', (req, res) => res.json({ hello: 'world' }));
  app.post('/json', express.json({ limit: '64kb' }), (req, res) => res.json({ items: req.body.items.length }));
  app.get('/big', (req, res) => res.type('json').send(BIG));
  app.get('/sse', (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let i = 0;
    const tick = () => {
      res.write(SSE_EVENT);
      if (++i < SSE_EVENTS) setImmediate(tick);
      else res.end();
    };
    tick();
  });
  handler = app;
} else {
  const Koa = require('koa');
  const { bodyParser } = require('@koa/bodyparser');
  const app = new Koa();
  if (loopOpts !== undefined) {
    const { loop } = await import('httploop/koa');
    mw = loop(loopOpts);
    app.use(mw);
  }
  if (variant === 'pino') {
    const pinoHttp = require('pino-http')({ logger: pinoLogger() });
    app.use((ctx, next) => {
      pinoHttp(ctx.req, ctx.res);
      return next();
    });
  }
  app.use((ctx, next) => {
    served++;
    if (failNow()) {
      ctx.status = 500;
      ctx.body = { error: 'planned failure' };
      return undefined;
    }
    return next();
  });
  const json = bodyParser({ jsonLimit: '64kb', enableTypes: ['json'] });
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/') ctx.body = { hello: 'world' };
    else if (ctx.method === 'POST' && ctx.path === '/json') {
      await json(ctx, async () => {});
      ctx.body = { items: ctx.request.body.items.length };
    } else if (ctx.method === 'GET' && ctx.path === '/big') {
      ctx.type = 'json';
      ctx.body = BIG;
    } else if (ctx.method === 'GET' && ctx.path === '/sse') {
      const stream = new PassThrough();
      ctx.type = 'text/event-stream';
      ctx.set('cache-control', 'no-cache');
      ctx.body = stream;
      let i = 0;
      const tick = () => {
        stream.write(SSE_EVENT);
        if (++i < SSE_EVENTS) setImmediate(tick);
        else stream.end();
      };
      tick();
    } else await next();
  });
  handler = app.callback();
}

const server = http.createServer(handler);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  tusk?.markAppAsReady();
  process.send({ port: server.address().port });
});

// --- IPC: what the bench and the soak read ---------------------------------------------------------
let rssPeak = 0;
let rssTimer = null;
const sampleRss = () => {
  const rss = process.memoryUsage.rss();
  if (rss > rssPeak) rssPeak = rss;
};
const warnings = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));

process.on('message', (msg) => {
  if (msg !== null && typeof msg === 'object' && 'failEvery' in msg) {
    failEvery = Number(msg.failEvery);
    n = 0;
    process.send({ failEvery });
    return;
  }
  switch (msg) {
    case 'cpu': {
      // CPU time spent and requests served so far: CPU per request is less disturbed by other load than req/s.
      const { user, system } = process.cpuUsage();
      process.send({ cpu: { us: user + system, requests: served } });
      break;
    }
    case 'rss-start':
      rssPeak = 0;
      sampleRss();
      clearInterval(rssTimer);
      rssTimer = setInterval(sampleRss, 50);
      rssTimer.unref();
      process.send({ 'rss-start': true });
      break;
    case 'rss-stop':
      clearInterval(rssTimer);
      sampleRss();
      process.send({ 'rss-stop': rssPeak });
      break;
    case 'stats':
      if (otelProvider !== undefined) otelProvider.forceFlush().then(() => process.send({ stats: { exportedSpans: otelSpans } }));
      else process.send({ stats: mw?.stats() ?? null });
      break;
    case 'flush':
      Promise.resolve(mw?.flush()).then(() => process.send({ flush: mw?.stats() ?? null }));
      break;
    case 'heap': {
      // Heap after full collections (needs --expose-gc): what is still reachable, not what waits for GC.
      if (typeof globalThis.gc !== 'function') {
        process.send({ heap: null });
        break;
      }
      globalThis.gc();
      globalThis.gc();
      const m = process.memoryUsage();
      process.send({ heap: { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers } });
      break;
    }
    case 'warnings':
      process.send({ warnings });
      break;
  }
});
process.once('SIGTERM', async () => {
  server.close();
  server.closeAllConnections();
  await mw?.close();
  await otelProvider?.shutdown();
  process.exit(0);
});
