// What `npm run bench` measures: frameworks × variants × request shapes, and the budgets of
// ../shared/DESIGN.md (with issue 3's for ten rules) that the results are judged by.

export const FRAMEWORKS = ['express', 'koa'];

/**
 * Every variant is compared with `bare` (the same app, nothing added) in paired runs. failEvery: the
 * bare run it is paired with answers 500 to the same share of requests.
 */
export const VARIANTS = [
  // An A/A control: if the harness favoured one side (warmer process, position in the round), this
  // would show it; on a quiet machine it should sit at 1.0 within the spread.
  { name: 'control', title: 'a second bare app process (A/A control)', failEvery: 0 },
  { name: 'armed', title: 'loop() armed, seed rule, nothing fails', failEvery: 0 },
  { name: 'fail1', title: 'loop(), 1 % of requests fail and are shipped', failEvery: 100 },
  { name: 'capture-all', title: 'loop() capturing 100 %, local collector', failEvery: 0 },
  { name: 'armed10', title: 'loop() with ten rules loaded, none matches', failEvery: 0 },
  { name: 'diag', title: 'loop() with diagnostics enabled, unused', failEvery: 0 },
  { name: 'otel', title: 'OpenTelemetry http + framework instrumentation, BatchSpanProcessor, no-op exporter', failEvery: 0 },
  { name: 'pino', title: 'pino-http to /dev/null', failEvery: 0 },
  { name: 'tusk100', title: 'Tusk Drift RECORD, sampling 1.0, local traces', failEvery: 0 },
  { name: 'tusk1', title: 'Tusk Drift RECORD, sampling 0.01, local traces', failEvery: 0 },
];

const BODY_10K = JSON.stringify({
  items: Array.from({ length: 120 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', 'c'], price: i * 1.25, note: 'n'.repeat(20) })),
});

export const SHAPES = [
  { name: 'get', title: 'small GET (JSON {hello})', method: 'GET', path: '/' },
  { name: 'post10k', title: `10 KiB JSON POST (${BODY_10K.length} bytes)`, method: 'POST', path: '/json', body: BODY_10K, headers: { 'content-type': 'application/json' } },
  { name: 'big1m', title: '1 MiB JSON response', method: 'GET', path: '/big' },
  { name: 'sse', title: 'SSE stream, 16 events', method: 'GET', path: '/sse' },
];

/** Budgets, judged on the small GET (DESIGN.md's "hello-JSON"), for each framework. */
export const BUDGETS = [
  { variant: 'armed', ratio: 0.97, addedP99Ms: 0.5, source: 'DESIGN.md' },
  { variant: 'fail1', ratio: 0.95, source: 'DESIGN.md' },
  { variant: 'capture-all', ratio: 0.75, source: 'DESIGN.md' },
  { variant: 'armed10', ratio: 0.97, source: 'issue 3 part 6 (the armed ratio with ten rules)' },
];
export const BUDGET_SHAPE = 'get';

/** --quick: both frameworks, the small GET, the control, three budgeted variants and one peer. */
export const QUICK = { variants: ['control', 'armed', 'fail1', 'capture-all', 'otel'], shapes: ['get'] };

if (BODY_10K.length < 10 * 1024 || BODY_10K.length > 11 * 1024) throw new Error(`the 10 KiB body is ${BODY_10K.length} bytes`);
