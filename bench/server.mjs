// One benchmarked server, run in its own process so the load generator does not share its event loop.
// `node bench/server.mjs <bare|loop|loop10> [failEvery]`: Express 5 hello-JSON, optionally with
// app.use(loop()) first (loop10: with the ten rules of ten-rules.mjs), optionally answering 500 to
// every failEvery-th request. Reports its port over IPC.
import http from 'node:http';
import express from 'express';
import { loop } from 'httploop';
import { TEN_RULES } from './ten-rules.mjs';

const [variant = 'bare', failEveryText = '0'] = process.argv.slice(2);
const failEvery = Number(failEveryText);

const app = express();
let mw;
if (variant === 'loop' || variant === 'loop10') {
  mw = loop({ service: 'bench', collector: process.env.BENCH_COLLECTOR, ...(variant === 'loop10' && { rules: TEN_RULES }) });
  app.use(mw);
} else if (variant !== 'bare') {
  throw new Error(`unknown variant '${variant}': use bare, loop or loop10`);
}

let n = 0;
app.get('/', (req, res) => {
  n++;
  if (failEvery > 0 && n % failEvery === 0) {
    res.status(500).json({ error: 'planned failure' });
    return;
  }
  res.json({ hello: 'world' });
});

const server = http.createServer(app);
server.listen(0, '127.0.0.1', () => {
  process.send({ port: server.address().port });
});

process.on('message', (msg) => {
  if (msg === 'stats') process.send({ stats: mw?.stats() });
  // CPU time spent and requests served so far: CPU per request is less disturbed by other load than req/s.
  if (msg === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send({ cpu: { us: user + system, requests: n } });
  }
});
process.once('SIGTERM', async () => {
  server.close();
  server.closeAllConnections();
  await mw?.close();
  process.exit(0);
});
