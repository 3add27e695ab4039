// One benchmarked server, run in its own process so the load generator does not share its event loop.
// `node bench/server.mjs <bare|loop> [failEvery]`: Express 5 hello-JSON, optionally with app.use(loop())
// first, optionally answering 500 to every failEvery-th request. Reports its port over IPC.
import http from 'node:http';
import express from 'express';
import { loop } from 'httploop';

const [variant = 'bare', failEveryText = '0'] = process.argv.slice(2);
const failEvery = Number(failEveryText);

const app = express();
let mw;
if (variant === 'loop') {
  mw = loop({ service: 'bench', collector: process.env.BENCH_COLLECTOR });
  app.use(mw);
} else if (variant !== 'bare') {
  throw new Error(`unknown variant '${variant}': use bare or loop`);
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
