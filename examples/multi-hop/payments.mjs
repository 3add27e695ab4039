// `payments` (Express), the innermost hop: its card processor is down, so every POST /charge answers
// 502. `node examples/multi-hop/payments.mjs` runs it on PAYMENTS_PORT (default 9092).
import express from 'express';
import { loop } from 'httploop';
import { runIfMain, serve } from './listen.mjs';

/** The app, loop() first: with LOOP_DIAG_TOKEN set, it answers diagnostic TRACEs too. */
export function createApp({ collector } = {}) {
  const mw = loop({
    service: 'payments',
    diagnostics: { token: process.env.LOOP_DIAG_TOKEN },
    ...(collector !== undefined && { collector }),
  });
  const app = express();
  app.use(mw);
  app.use(express.json());
  app.post('/charge', (req, res) => {
    res.status(502).json({ error: 'card processor unavailable', order: req.body?.order ?? null });
  });
  return { app, loop: mw };
}

export async function start({ port = 0, host = '127.0.0.1', collector } = {}) {
  const { app, loop: mw } = createApp({ collector });
  return serve(app, mw, { port, host });
}

await runIfMain(import.meta.url, 'payments', start, () => '');
