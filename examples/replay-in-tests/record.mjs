// Records the failure of examples/replay-in-tests as it would happen in production, then turns it into
// a test: a collector (SQLite in a temp dir) and the `pricing` service start, the orders app (app.cjs,
// without the fix) listens behind loop(), one order without a coupon gets a 500 and is captured with
// pricing's answer, and `loopctl export --as-test node` writes test/<name>.capture.json and
// test/<name>.test.mjs.
//
//   node examples/replay-in-tests/record.mjs [--out DIR]    (default: test/ next to this file)
//
// PRICING_URL (default http://127.0.0.1:4100) is where pricing listens; the test's app must call the
// same address, as the recorded call is matched by host, port and path.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const require = createRequire(import.meta.url);

// The loopctl of the httploop this example uses (the repository's build, or an installed package).
const pkgFile = require.resolve('httploop/package.json');
const loopctl = path.join(path.dirname(pkgFile), require(pkgFile).bin.loopctl);
const { createCollector } = await import('httploop/collector');

const pricingUrl = new URL(process.env.PRICING_URL ?? 'http://127.0.0.1:4100');
const PRICES = { 'A-100': 1250, 'B-200': 399 };

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

function closeServer(server) {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const temp = mkdtempSync(path.join(tmpdir(), 'httploop-record-'));
const collector = createCollector({ db: path.join(temp, 'loop.db') });
const pricing = http.createServer((req, res) => {
  const skus = new URL(req.url, 'http://pricing').searchParams.get('skus')?.split(',') ?? [];
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(Object.fromEntries(skus.map((sku) => [sku, PRICES[sku] ?? 0]))));
});
let web;
try {
  const { url: collectorUrl } = await collector.listen(0, '127.0.0.1');
  await listen(pricing, Number(pricingUrl.port || 80));
  // The app reads its settings from the environment when it is loaded, as in production.
  process.env.LOOP_COLLECTOR = collectorUrl;
  process.env.PRICING_URL = pricingUrl.origin;
  delete process.env.FIXED;
  const { app, loop } = require('./app.cjs');
  web = http.createServer(app);
  const port = await listen(web, 0);

  // A customer's order without a coupon, sent with credentials loop() redacts before they leave the app.
  const answer = await fetch(`http://127.0.0.1:${port}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer customer-4711-secret' },
    body: JSON.stringify({ customer: 'c-4711', items: [{ sku: 'A-100', quantity: 2 }, { sku: 'B-200', quantity: 1 }] }),
  });
  console.log(`POST /orders -> ${answer.status} ${await answer.text()}`);
  if (answer.status !== 500) throw new Error(`expected the order to fail with 500, got ${answer.status}`);
  await loop.flush();

  const out = values.out ?? (path.relative(process.cwd(), path.join(here, 'test')) || '.');
  const args = ['export', '--id', '1', '--as-test', 'node', '--out', out, '--app', '../app.cjs', '--force'];
  console.log(`$ loopctl ${args.join(' ')}`);
  const printed = await new Promise((resolve, reject) => {
    execFile(process.execPath, [loopctl, ...args], { env: { ...process.env, LOOP_COLLECTOR: collectorUrl } }, (err, stdout, stderr) =>
      err ? reject(new Error(`loopctl export failed: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
  process.stdout.write(printed);
  await loop.close();
} finally {
  if (web !== undefined) await closeServer(web);
  await closeServer(pricing);
  await collector.close();
  rmSync(temp, { recursive: true, force: true });
}
