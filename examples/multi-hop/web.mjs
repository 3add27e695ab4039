// `web` (Koa), the middle hop: POST /orders charges the order with `payments` (fetch) and answers
// 500 when payments fails. `node examples/multi-hop/web.mjs` runs it on WEB_PORT (default 9091),
// calling payments on PAYMENTS_URL (default http://127.0.0.1:PAYMENTS_PORT, port 9092).
import Router from '@koa/router';
import Koa from 'koa';
import { loop } from 'httploop/koa';
import { runIfMain, serve, settings } from './listen.mjs';

/** The app, loop() first, then the router (so the route is captured). */
export function createApp({ paymentsUrl, collector, log = console.error }) {
  const mw = loop({
    service: 'web',
    diagnostics: { token: process.env.LOOP_DIAG_TOKEN },
    ...(collector !== undefined && { collector }),
  });
  const app = new Koa();
  app.use(mw);

  const router = new Router();
  router.post('/orders', async (ctx) => {
    // fetch carries this request's trace context on to payments (loop() adds traceparent).
    const answer = await fetch(`${paymentsUrl}/charge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ order: 'A-1001', amount: 1299 }),
      signal: AbortSignal.timeout(5000),
    });
    await answer.arrayBuffer();
    // Koa answers 500 (its status text, not the message); loop() records the error.
    if (!answer.ok) throw new Error(`payments answered ${answer.status}`);
    ctx.body = { order: 'A-1001', paid: true };
  });
  app.use(router.routes()).use(router.allowedMethods());

  app.on('error', (err, ctx) => log(`web: ${ctx?.method} ${ctx?.url} failed: ${err.message}`));
  return { app, loop: mw };
}

export async function start({ port = 0, host = '127.0.0.1', paymentsUrl = settings().paymentsUrl, collector, log } = {}) {
  const { app, loop: mw } = createApp({ paymentsUrl, collector, log });
  return serve(app.callback(), mw, { port, host });
}

await runIfMain(import.meta.url, 'web', start, (s) => ` (calls payments at ${s.paymentsUrl})`);
