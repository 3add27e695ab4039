// `gateway` (Express), the outermost hop: GET /checkout places the order with `web` (axios, over
// node:http) and answers 502 when web fails. `node examples/multi-hop/gateway.mjs` runs it on
// GATEWAY_PORT (default 9090), calling web on WEB_URL (default http://127.0.0.1:WEB_PORT, port 9091).
import axios from 'axios';
import express from 'express';
import { loop } from 'httploop';
import { traceAxios } from 'httploop/axios';
import { runIfMain, serve, settings } from './listen.mjs';

/** The app, loop() first. */
export function createApp({ webUrl, collector, log = console.error }) {
  const mw = loop({
    service: 'gateway',
    diagnostics: { token: process.env.LOOP_DIAG_TOKEN },
    ...(collector !== undefined && { collector }),
  });
  // axios in Node goes through node:http, which loop() hooks anyway; traceAxios() sets traceparent on
  // config.headers as well, so the header is there for the instance's own interceptors to see.
  const web = axios.create({ baseURL: webUrl, timeout: 5000, validateStatus: () => true });
  traceAxios(web);

  const app = express();
  app.use(mw);
  app.get('/checkout', async (req, res) => {
    const answer = await web.post('/orders', { item: 'book', amount: 1299 });
    // Express 5 passes the rejection to the error handler below; loop() records the error.
    if (answer.status >= 500) throw new Error(`web answered ${answer.status}`);
    res.json(answer.data);
  });
  app.use((err, req, res, next) => {
    log(`gateway: ${req.method} ${req.originalUrl} failed: ${err.message}`);
    res.status(502).json({ error: 'checkout failed, try again later' });
  });
  return { app, loop: mw };
}

export async function start({ port = 0, host = '127.0.0.1', webUrl = settings().webUrl, collector, log } = {}) {
  const { app, loop: mw } = createApp({ webUrl, collector, log });
  return serve(app, mw, { port, host });
}

await runIfMain(import.meta.url, 'gateway', start, (s) => ` (calls web at ${s.webUrl})`);
