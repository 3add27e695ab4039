// One server for instruction counting: Express 5 hello-JSON, bare or behind loop() (loop: armed with
// the default rule; loop10: the ten rules of ten-rules.mjs; both without the collector's rules poll,
// whose cost comes per poll, not per request: see instructions.mjs; loop-feed: armed and following
// the collector's rules; nothing fails), exiting by itself after `total` requests so valgrind writes
// its counts.
// `node bench/count-server.mjs <bare|loop|loop10> <total> <port> <collector URL>`; prints "ready" once
// listening. The collector is a real `loopctl serve`: it receives no capture, and holds the rules poll.
import http from 'node:http';
import express from 'express';
import { loop } from 'httploop';
import { TEN_RULES } from './ten-rules.mjs';

const [variant, totalText, portText, collector] = process.argv.slice(2);
const total = Number(totalText);
const app = express();
if (variant === 'loop') app.use(loop({ service: 'bench', collector, remoteRules: false }));
else if (variant === 'loop10') app.use(loop({ service: 'bench', collector, remoteRules: false, rules: TEN_RULES }));
else if (variant === 'loop-feed') app.use(loop({ service: 'bench', collector }));
else if (variant !== 'bare') throw new Error(`unknown variant '${variant}': use bare, loop, loop10 or loop-feed`);

let n = 0;
app.get('/', (req, res) => {
  res.json({ hello: 'world' });
  if (++n === total) setImmediate(() => process.exit(0));
});
http.createServer(app).listen(Number(portText), '127.0.0.1', () => console.log('ready'));
