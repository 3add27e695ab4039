// `npm run bench -- --only rules` (also part of the full run): what deciding a rule costs on an exchange it
// does not match, in nanoseconds. The real Exchange class and compiled rules, evaluated as loop()
// does for a GET answered 200: once when the request headers are known (the seed rule cannot tell yet)
// and once when the status is (no). Run with tsx: these are internals, not the package's API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Exchange, type CaptureSettings } from '../src/capture/exchange.js';
import { contextFor } from '../src/trace/context.js';
import { compileRule, DEFAULT_RULE, type Phase } from '../src/match/index.js';
// @ts-expect-error: a plain .mjs module without types, shared with the bench servers.
import { TEN_RULES } from './ten-rules.mjs';

const BUDGET_NS = 200;
const ITERATIONS = 2_000_000;
const SAMPLES = 7;

const req = {
  method: 'GET',
  url: '/',
  headers: { host: '127.0.0.1:3000', 'user-agent': 'autocannon', accept: '*/*' },
} as unknown as IncomingMessage;
const res = { statusCode: 200, getHeader: () => undefined, _header: null } as unknown as ServerResponse;

function exchange(): Exchange {
  return new Exchange(req, res, '/', { service: 'bench' } as CaptureSettings, contextFor(undefined, undefined));
}

type Evaluate = (view: Exchange, phase: Phase) => boolean | undefined;

/** ns per exchange: evaluate every rule at phase 0, then at phase 2, as decide() does. */
function measure(rules: Evaluate[]): number {
  const ex = exchange();
  let sink = 0;
  const run = (n: number): number => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      ex.phase = 0;
      for (let r = 0; r < rules.length; r++) if (rules[r]!(ex, 0) === true) sink++;
      ex.phase = 2;
      for (let r = 0; r < rules.length; r++) if (rules[r]!(ex, 2) === true) sink++;
    }
    return Number(process.hrtime.bigint() - started) / n;
  };
  run(ITERATIONS); // warm-up: let the JIT settle
  const samples = Array.from({ length: SAMPLES }, () => run(ITERATIONS)).sort((a, b) => a - b);
  if (sink !== 0) throw new Error('a rule matched a 200; the bench measures the wrong thing');
  return samples[SAMPLES >> 1]!;
}

const seed = compileRule(DEFAULT_RULE);
const ten = (TEN_RULES as Array<{ metadata: { name: string }; spec: { match: string } }>).map((t) =>
  compileRule(t.spec.match, t.metadata.name),
);
const seedNs = measure([seed.evaluate]);
const tenNs = measure(ten.map((r) => r.evaluate));
console.log(`\n## rules: deciding rules on an exchange they do not match (GET answered 200), median of ${SAMPLES} x ${ITERATIONS}`);
console.log(`  seed rule ${DEFAULT_RULE}: ${seedNs.toFixed(1)} ns per exchange, budget < ${BUDGET_NS} ns: ${seedNs < BUDGET_NS ? 'PASS' : 'MISS'}`);
console.log(`  ten rules (bench/ten-rules.mjs): ${tenNs.toFixed(1)} ns per exchange`);
if (process.send) process.send({ rules: { seedNs, tenNs, budgetNs: BUDGET_NS, pass: seedNs < BUDGET_NS } });
