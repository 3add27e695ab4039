// The seed's scenario on Koa: `web` calls `payments`, which never answers, so `/` answers 500.
// `node examples/koa/app.mjs` runs it; tests and the demo call start().
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import Router from '@koa/router';
import Koa from 'koa';
import { loop } from 'httploop/koa';
import { startPayments } from '../payments.mjs';

/** Builds the `web` app without listening: loop() first, then the router (so the route is captured). */
export function createApp({ paymentsUrl, collector, timeoutMs = 300, log = console.error }) {
  const mw = loop({ service: 'web', ...(collector !== undefined && { collector }) });
  const app = new Koa();
  app.use(mw);

  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/', async (ctx) => {
    const answer = await fetch(`${paymentsUrl}/charge`, { signal: AbortSignal.timeout(timeoutMs) }).catch((err) => {
      // Koa answers 500 with its status text (the message is not exposed); loop() records the error.
      throw new Error(`payments did not answer within ${timeoutMs} ms`, { cause: err });
    });
    ctx.body = await answer.json();
  });
  app.use(router.routes()).use(router.allowedMethods());

  app.on('error', (err, ctx) => log(`web: ${ctx?.method} ${ctx?.url} failed: ${err.message}`));
  return { app, loop: mw };
}

/** Starts `payments` and `web` on 127.0.0.1; close() stops both and flushes the captures. */
export async function start({ port = 0, paymentsPort = 0, collector, host = '127.0.0.1', log } = {}) {
  const payments = await startPayments({ port: paymentsPort, host });
  const { app, loop: mw } = createApp({ paymentsUrl: `http://${host}:${payments.port}`, collector, log });
  const server = http.createServer(app.callback());
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const { port: webPort } = server.address();
  return {
    port: webPort,
    paymentsPort: payments.port,
    url: `http://${host}:${webPort}`,
    loop: mw,
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await payments.close();
      await mw.close(); // sends what is still queued
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const web = await start({
    port: Number(process.env.PORT ?? 9090),
    paymentsPort: Number(process.env.PAYMENTS_PORT ?? 0),
    host: process.env.HOST ?? '127.0.0.1',
  });
  console.log(`web listening on ${web.url} (payments on port ${web.paymentsPort}), captures go to ${process.env.LOOP_COLLECTOR ?? 'http://127.0.0.1:5678'}`);
  const stop = () => web.close().then(() => process.exit(0), () => process.exit(1));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
