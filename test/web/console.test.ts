// The web console end to end, in headless Chromium (playwright-core, /usr/bin/chromium): a real
// collector with a token and a SQLite file, real Express apps with loop() shipping to it, and a user
// who signs in, watches a capture arrive, filters, reads it, replays it, edits rules, follows a
// three-hop trace and sends a diagnostic TRACE. Screenshots of every view go to test/artifacts/.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import express from 'express';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { CaptureRecord, CaptureSummary } from '../../src/capture/record.js';
import { startCollector, type RunningCollector } from '../../collector/server.js';
import { loop } from '../../middleware/index.js';
import { freePort, repoRoot } from '../helpers.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

const TOKEN = 'console-test-token';
const DIAG_TOKEN = 'diag-test-token-0123456789';
const artifacts = path.join(repoRoot, 'test', 'artifacts');

let dir: string;
let collector: RunningCollector;
let browser: Browser;
let page: Page;
const closers: Array<() => Promise<void>> = [];
const ports = { shop: 0, gateway: 0, web: 0, payments: 0 };
const pageErrors: string[] = [];
let attempt = 0;

function listen(app: express.Express, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      closers.push(
        () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      );
      resolve();
    });
  });
}

function withLoop(service: string): { app: express.Express; mw: ReturnType<typeof loop> } {
  const mw = loop({
    service,
    collector: collector.url,
    token: TOKEN,
    queue: { flushIntervalMs: 20 },
    remoteRules: false,
    diagnostics: { token: DIAG_TOKEN },
  });
  closers.push(() => mw.close());
  const app = express();
  app.use(mw);
  app.use(express.json());
  return { app, mw };
}

async function api<T>(pathname: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${collector.url}${pathname}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...init.headers } });
  assert.ok(res.ok, `${pathname}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function capturesOf(query: string): Promise<CaptureSummary[]> {
  return (await api<{ captures: CaptureSummary[] }>(`/v1/captures?${query}`)).captures;
}

/**
 * Visible text whose contrast with its background is below WCAG AA's 4.5:1. Plain JavaScript in a
 * string: tsx would add helpers to a function that do not exist in the page.
 */
const LOW_CONTRAST = `(() => {
  const channels = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const luminance = (css) => {
    const [r, g, b] = channels(css).slice(0, 3).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      const v = channels(c);
      if (v.length === 3 || (v.length === 4 && v[3] > 0.5)) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || el.closest('[disabled], .sr-only, .skip, [hidden], option')) continue;
    if (!el.getClientRects().length) continue;
    const a = luminance(getComputedStyle(el).color);
    const b = luminance(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push({ text: node.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100 });
  }
  return bad;
})()`;

async function lowContrast(): Promise<Array<{ text: string; ratio: number }>> {
  return page.evaluate(LOW_CONTRAST);
}

/** A screenshot of the view, after checking its text is readable (contrast). */
async function shot(name: string): Promise<void> {
  // New rows fade from a highlight: wait for it to end before measuring.
  await page.waitForTimeout(name.includes('live') || name.includes('filtered') ? 3100 : 0);
  assert.deepEqual(await lowContrast(), [], `${name}: all text has a contrast of at least 4.5:1`);
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

before(async () => {
  await mkdir(artifacts, { recursive: true });
  dir = await mkdtemp(path.join(tmpdir(), 'httploop-web-'));
  for (const name of Object.keys(ports) as Array<keyof typeof ports>) ports[name] = await freePort();
  collector = await startCollector({
    port: 0,
    token: TOKEN,
    db: path.join(dir, 'loop.db'),
    replayAllow: Object.values(ports).map((p) => `127.0.0.1:${p}`),
  });

  // shop: a failing order with a nested JSON body; every answer counts its attempt, so a replay differs.
  const shop = withLoop('shop');
  shop.app.get('/orders/:id', (req, res) => {
    attempt++;
    res.status(500).set('x-shop-region', 'eu-west').json({
      error: 'inventory unavailable',
      attempt,
      order: { id: req.params.id, items: [{ sku: 'A-1', qty: 2, price: { amount: 1299, currency: 'EUR' } }], note: 'line one\nline two' },
    });
  });
  shop.app.post('/pay', (_req, res) => {
    res.status(503).type('text/plain').send('payments are down for maintenance');
  });
  await listen(shop.app, ports.shop);

  // gateway → web → payments, each with loop(), calls made with fetch (trace context passed on).
  const payments = withLoop('payments');
  payments.app.post('/charge', (_req, res) => {
    res.status(502).json({ error: 'card processor timeout' });
  });
  await listen(payments.app, ports.payments);
  const web = withLoop('web');
  // Express's own handler answers the thrown error; 'test' keeps it from printing the stack.
  web.app.set('env', 'test');
  web.app.post('/orders', async (_req, res) => {
    const answer = await fetch(`http://127.0.0.1:${ports.payments}/charge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 1299 }),
    });
    await answer.arrayBuffer();
    // Express answers 500; loop() records the error with its stack.
    throw new Error(`payments answered ${answer.status}`);
  });
  await listen(web.app, ports.web);
  const gateway = withLoop('gateway');
  gateway.app.get('/checkout', async (_req, res) => {
    const answer = await fetch(`http://127.0.0.1:${ports.web}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await answer.arrayBuffer();
    res.status(502).json({ error: 'checkout failed' });
  });
  await listen(gateway.app, ports.gateway);

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) pageErrors.push(msg.text());
  });
});

after(async () => {
  await browser?.close();
  for (const close of closers.reverse()) await close();
  await collector?.close();
  await rm(dir, { recursive: true, force: true });
});

let orderCapture: CaptureRecord;

test('sign in: a wrong token is refused, the right one is kept in the session and never in the URL', async () => {
  await page.goto(`${collector.url}/`);
  await page.fill('#token', 'not-the-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('#signin-error:not([hidden])');
  assert.equal(await page.textContent('#signin-error'), 'Wrong token: the collector refused it.');
  await shot('01-sign-in-refused');
  assert.equal(await page.isVisible('nav[aria-label=Sections]'), false, 'not signed in');

  // By keyboard: the field keeps the focus after a refusal; Enter signs in.
  await page.fill('#token', TOKEN);
  await page.press('#token', 'Enter');
  await page.waitForSelector('table.captures');
  await page.waitForSelector('#live.on');
  assert.ok(!page.url().includes(TOKEN), `the token is not in the URL: ${page.url()}`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('httploop.token')), TOKEN);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  assert.equal(await page.textContent('table.captures tbody'), 'No captures match.');
});

test('a capture made by the real app appears live, without a reload', async () => {
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  // Twenty request headers, one of them a credential that loop() redacts.
  const headers: Record<string, string> = { authorization: 'Bearer app-user-secret', accept: 'application/json' };
  for (let i = 1; i <= 17; i++) headers[`x-extra-${i}`] = `value ${i}`;
  const res = await fetch(`http://127.0.0.1:${ports.shop}/orders/42?expand=items`, { headers });
  assert.equal(res.status, 500);
  // The page's periodic refresh is every 15 s: within 10 s only the event stream can have brought it.
  await page.waitForSelector('table.captures tbody tr[data-id]:has-text("/orders/42")', { timeout: 10_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page was not reloaded');
  const [summary] = await capturesOf('path=/orders/42');
  assert.ok(summary);
  const cells = await page.$$eval('table.captures tbody tr[data-id] td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells.slice(2), ['shop', 'GET', summary.path, '500', cells[6], `127.0.0.1:${ports.shop}`]);
  assert.match(summary.path, /^\/orders\/42/);
  assert.equal(cells[0], String(summary.seq));
  assert.match(cells[6]!, /^[0-9.]+ (ms|s)$/);
  orderCapture = await api<CaptureRecord>(`/v1/captures/${summary.id}`);
  await shot('02-captures-live');
});

test('filters: path, service and status class narrow the list, and are kept in the address', async () => {
  const res = await fetch(`http://127.0.0.1:${ports.shop}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"card":"4111"}' });
  assert.equal(res.status, 503);
  await page.waitForSelector('table.captures tbody tr[data-id]:has-text("/pay")', { timeout: 10_000 });
  assert.equal(await page.locator('table.captures tbody tr[data-id]').count(), 2);

  await page.fill('#f-path', '/orders');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('table.captures tbody tr[data-id]').length === 1);
  assert.match((await page.textContent('table.captures tbody tr[data-id] .c-path'))!, /^\/orders\/42/);
  assert.match(page.url(), /#\/captures\?path=%2Forders$/);
  await shot('03-captures-filtered');

  await page.fill('#f-path', '');
  await page.fill('#f-service', 'nobody');
  await page.click('form.filters button[type=submit]');
  await page.waitForSelector('td.empty');

  await page.fill('#f-service', 'shop');
  await page.selectOption('#f-status', '5xx');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('table.captures tbody tr[data-id]').length === 2);
  await page.selectOption('#f-status', '4xx');
  await page.click('form.filters button[type=submit]');
  await page.waitForSelector('td.empty');
  await page.click('text=Clear');
  await page.waitForFunction(() => document.querySelectorAll('table.captures tbody tr[data-id]').length === 2);
});

test('capture detail shows what the capture holds: status, headers with redaction, the JSON body, curl and HAR', async () => {
  // Keyboard: j moves to the first row (newest first: /pay), j again to /orders/42, Enter opens it.
  await page.locator('main h1').click();
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#detail-status');
  assert.match(page.url(), new RegExp(`#/capture/${orderCapture.seq}$`));

  assert.equal(await page.textContent('#detail-status'), `${orderCapture.response.status} ${orderCapture.response.statusMessage}`);
  const rows = async (section: string): Promise<string[][]> =>
    page.$$eval(`section[aria-labelledby=${section}] > table.headers tr`, (trs) =>
      trs.map((tr) => [tr.querySelector('th')!.textContent!, tr.querySelector('td > span')!.textContent!]),
    );
  assert.deepEqual(await rows('s-request'), orderCapture.request.headers);
  assert.deepEqual(await rows('s-response'), orderCapture.response.headers);
  assert.ok(orderCapture.request.headers.length >= 20, 'a twenty-header request');
  assert.ok(orderCapture.redacted.includes('request.headers.authorization'));
  const marked = await page.$$eval('section[aria-labelledby=s-request] tr.redacted-row th', (ths) => ths.map((th) => th.textContent));
  assert.deepEqual(marked, ['authorization']);
  assert.equal(await page.textContent('section[aria-labelledby=s-request] tr.redacted-row .marker'), 'redacted');

  // The response body: JSON, pretty-printed as a foldable tree whose values are the capture's.
  const body = JSON.parse(orderCapture.response.body!.data) as { order: { items: Array<{ sku: string }> } };
  assert.equal(body.order.items[0]!.sku, 'A-1');
  const tree = page.locator('section[aria-labelledby=s-response] .json');
  assert.equal(await tree.count(), 1);
  const text = (await tree.innerText()).replace(/\s+/g, ' ');
  for (const piece of ['"error": "inventory unavailable"', '"sku": "A-1"', '"amount": 1299', '"currency": "EUR"']) {
    assert.ok(text.includes(piece), `the tree shows ${piece}: ${text}`);
  }
  const fold = tree.locator('details.j-node').first();
  assert.equal(await fold.getAttribute('open'), '');
  await fold.locator('> summary').click();
  assert.equal(await fold.getAttribute('open'), null, 'a JSON node folds');
  await fold.locator('> summary').click();
  assert.ok(text.includes('"note": "line one\\nline two"'), 'strings are shown as JSON');
  const facts = await page.$$eval('dl.facts dt', (dts) => dts.map((dt) => [dt.textContent, dt.nextElementSibling!.textContent]));
  assert.deepEqual(Object.fromEntries(facts).Route, '/orders/:id');
  assert.deepEqual(Object.fromEntries(facts).Trace, orderCapture.trace.traceId);

  await page.click('#copy-curl');
  await page.waitForSelector('pre.curl:not([hidden])');
  const curl = await (await fetch(`${collector.url}/v1/captures/${orderCapture.id}/export?format=curl`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  assert.equal(await page.textContent('pre.curl'), curl.trim());
  assert.match(curl, /^curl .*'http:\/\/127\.0\.0\.1:\d+\/orders\/42\?expand=items'\n$/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-har')]);
  assert.equal(download.suggestedFilename(), `capture-${orderCapture.seq}.har`);
  const har = JSON.parse(await readFile((await download.path())!, 'utf8')) as { log: { entries: Array<{ response: { status: number } }> } };
  assert.equal(har.log.entries[0]!.response.status, 500);
  await shot('04-capture-detail');
});

test('replay from the console: refused while redacted, then sent by the collector, with a side-by-side diff', async () => {
  await page.click('a.button:has-text("Replay")');
  await page.waitForSelector('#r-destination');
  assert.equal(await page.inputValue('#r-destination'), orderCapture.destination);
  await page.click('form.replay-form button[type=submit]');
  await page.waitForSelector('#replay-result .error');
  assert.match((await page.textContent('#replay-result .error'))!, /redacted values \(request\.headers\.authorization\)/);

  await page.check('#r-allow-redacted');
  await page.fill('#r-headers', 'X-Debug: console');
  await page.click('form.replay-form button[type=submit]');
  await page.waitForSelector('#verdict');
  assert.equal(await page.textContent('#verdict'), 'Differs from the capture.');
  const details = await page.$$eval('.diff-details li', (lis) => lis.map((li) => li.textContent));
  assert.deepEqual(details, [`$.attempt: 1 → 2`]);
  // Side by side: the same lines, the attempt marked on both sides.
  const changed = async (side: string): Promise<string[]> =>
    page.$$eval(`section[aria-label=${side}] ol.lines li.changed`, (lis) => lis.map((li) => li.textContent!.trim()));
  assert.deepEqual(await changed('Captured'), ['"attempt": 1,']);
  assert.deepEqual(await changed('Replayed'), ['"attempt": 2,']);
  // Volatile headers (date, etag, content-length…) are not counted as differences.
  assert.equal(await page.locator('section.side tr.changed').count(), 0);
  await shot('05-replay-diff');
});

test('rules: an invalid TapConfig is shown at its line, a valid one is applied, listed with its count, and deleted', async () => {
  await page.click('nav >> text=Rules');
  await page.waitForSelector('#yaml');
  const invalid = [
    'apiVersion: httploop/v1',
    'kind: TapConfig',
    'metadata:',
    '  name: slow-orders',
    'spec:',
    '  match: path == prefix("/orders") &&',
    '',
  ].join('\n');
  await page.fill('#yaml', invalid);
  await page.click('form.rule-form button[type=submit]');
  await page.waitForSelector('ul.problems');
  const problem = (await page.textContent('ul.problems li'))!;
  assert.match(problem, /^line 6, column \d+: /);
  assert.equal(await page.textContent('.gutter .bad'), '6\n');
  await shot('06-rules-invalid');

  await page.fill('#yaml', invalid.replace(' &&', ''));
  await page.click('form.rule-form button[type=submit]');
  await page.waitForSelector('p.ok');
  assert.match((await page.textContent('p.ok'))!, /^tapconfig\/slow-orders created \(rules version \d+\)$/);
  await page.waitForSelector('tr[data-name=slow-orders]');
  const cells = await page.$$eval('tr[data-name=slow-orders] > *', (els) => els.map((el) => el.textContent));
  const stored = await api<{ version: number; captured: number }>('/v1/tapconfigs/slow-orders');
  assert.deepEqual(cells.slice(0, 4), ['slow-orders', 'path == prefix("/orders")', String(stored.version), String(stored.captured)]);
  await shot('07-rules-applied');

  await page.click('tr[data-name=slow-orders] button.danger');
  assert.equal(await page.textContent('tr[data-name=slow-orders] button.danger'), 'Confirm delete');
  await page.click('tr[data-name=slow-orders] button.danger');
  await page.waitForSelector('tr[data-name=slow-orders]', { state: 'detached' });
  const res = await fetch(`${collector.url}/v1/tapconfigs/slow-orders`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 404);
});

test('a three-hop trace as a waterfall, each hop linked to its capture', async () => {
  const res = await fetch(`http://127.0.0.1:${ports.gateway}/checkout`);
  assert.equal(res.status, 502);
  const traceId = /^00-([0-9a-f]{32})-/.exec(res.headers.get('traceresponse') ?? '')?.[1];
  assert.ok(traceId, 'the gateway answers with a traceresponse');
  const captures = await waitFor('three captures of the trace', async () => {
    const list = await capturesOf(`trace=${traceId}`);
    return list.length === 3 ? list : undefined;
  });
  await page.goto(`${collector.url}/#/trace/${traceId}`);
  await page.waitForSelector('.waterfall .wf-row[data-service]');
  const hops = await page.$$eval('.waterfall .wf-row[data-service]', (rows) =>
    rows.map((row) => ({
      service: row.getAttribute('data-service'),
      indent: parseFloat((row.querySelector('.wf-label') as HTMLElement).style.paddingLeft),
      href: row.querySelector('a')!.getAttribute('href'),
      status: row.querySelector('.st')!.textContent,
      width: parseFloat((row.querySelector('.wf-bar') as HTMLElement).style.width),
    })),
  );
  const seq = Object.fromEntries(captures.map((c) => [c.service, c.seq]));
  assert.deepEqual(
    hops.map(({ service, href, status }) => ({ service, href, status })),
    [
      { service: 'gateway', href: `#/capture/${seq.gateway}`, status: '502' },
      { service: 'web', href: `#/capture/${seq.web}`, status: '500' },
      { service: 'payments', href: `#/capture/${seq.payments}`, status: '502' },
    ],
  );
  assert.ok(hops[0]!.indent < hops[1]!.indent && hops[1]!.indent < hops[2]!.indent, 'each hop under its caller');
  assert.ok(hops[0]!.width >= hops[2]!.width, 'the outermost hop lasts longest');
  assert.match((await page.textContent('p.summary'))!, /^3 hops across 3 services \(gateway, web, payments\)/);
  await shot('08-trace-waterfall');

  // The middle hop: its error with the stack, and its call to payments with its own detail.
  const webCapture = await api<CaptureRecord>(`/v1/captures/${seq.web}`);
  assert.ok(webCapture.error?.stack, 'the capture holds the stack');
  await page.click(`.wf-row[data-service=web] a`);
  await page.waitForSelector('section[aria-labelledby=s-error]');
  assert.equal(await page.textContent('section[aria-labelledby=s-error] pre.stack'), webCapture.error!.stack);
  assert.equal(await page.textContent('section[aria-labelledby=s-error] strong'), 'Error: ');
  assert.equal(webCapture.outbound.length, 1);
  const call = page.locator('ol.outbound > li > details');
  assert.equal(await call.count(), 1);
  assert.match((await call.locator('summary').textContent())!, new RegExp(`^POST http://127\\.0\\.0\\.1:${ports.payments}/charge 502`));
  await call.locator('summary').click();
  const sent = await call.locator('table.headers').first().locator('tr').evaluateAll((trs) =>
    trs.map((tr) => [tr.querySelector('th')!.textContent, tr.querySelector('td > span')!.textContent]),
  );
  assert.deepEqual(sent, webCapture.outbound[0]!.request!.headers);
  // Its two bodies as the capture holds them: shown when kept, "No body." when not.
  const kept = [webCapture.outbound[0]!.request?.body, webCapture.outbound[0]!.response?.body].filter((b) => b && b.size > 0).length;
  assert.equal(await call.locator('.body').count(), kept);
  assert.equal(await call.locator('p.muted:text-is("No body.")').count(), 2 - kept);
  await shot('09-capture-error-outbound');
});

test('diagnostics: the collector sends a TRACE to an allowed URL and the console shows the hop trail', async () => {
  await page.click('nav >> text=Diagnostics');
  await page.fill('#d-url', `http://127.0.0.1:${await freePort()}/checkout`);
  await page.fill('#d-token', DIAG_TOKEN);
  await page.click('form.diag-form button[type=submit]');
  await page.waitForSelector('#diag-result .error');
  assert.match((await page.textContent('#diag-result .error'))!, /not on the collector's replay allowlist; start the collector with --replay-allow 127\.0\.0\.1:\d+/);

  await page.fill('#d-url', `http://127.0.0.1:${ports.gateway}/checkout`);
  await page.selectOption('#d-method', 'GET');
  await page.click('form.diag-form button[type=submit]');
  await page.waitForSelector('ol.hops');
  const hops = await page.$$eval('ol.hops > li h3', (h3s) => h3s.map((h3) => h3.textContent));
  assert.equal(hops.length, 3);
  assert.match(hops[0]!, /^Hop 1: gateway 502/);
  assert.match(hops[1]!, /^Hop 2: web 500/);
  assert.match(hops[2]!, /^Hop 3: payments 502/);
  assert.match((await page.textContent('#diag-result p.summary'))!, /answered 502 Bad Gateway$/);
  await shot('10-diagnostics');
});

test('a narrow window: one column, nothing wider than the screen', async () => {
  await page.setViewportSize({ width: 400, height: 800 });
  for (const [hash, name] of [
    ['#/captures', '11-narrow-captures'],
    [`#/capture/${orderCapture.seq}`, '12-narrow-detail'],
  ] as const) {
    await page.goto(`${collector.url}/${hash}`);
    await page.waitForSelector(hash === '#/captures' ? 'table.captures tr[data-id]' : '#detail-status');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${hash}: the page is ${overflow}px wider than the window`);
    await shot(name);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  // The contrast check itself finds pale text.
  // (Styled through the CSSOM: the page's CSP refuses style attributes.)
  await page.evaluate(`{ const p = document.createElement('p'); p.textContent = 'pale text'; p.style.color = '#aaa'; document.querySelector('main').append(p); }`);
  assert.deepEqual(await lowContrast(), [{ text: 'pale text', ratio: 2.32 }]);
  assert.deepEqual(pageErrors, [], 'no script errors in the page');
});
