// One server for instruction counting: Express 5 hello-JSON, bare or behind loop() (armed, default
// rule, nothing fails), exiting by itself after `total` requests so valgrind writes its counts.
// `node bench/count-server.mjs <bare|loop> <total> <port>`; prints "ready" once listening.
import http from 'node:http';
import express from 'express';
import { loop } from 'httploop';

const [variant, totalText, portText] = process.argv.slice(2);
const total = Number(totalText);
const app = express();
if (variant === 'loop') app.use(loop({ service: 'bench', collector: 'http://127.0.0.1:9' }));
else if (variant !== 'bare') throw new Error(`unknown variant '${variant}': use bare or loop`);

let n = 0;
app.get('/', (req, res) => {
  res.json({ hello: 'world' });
  if (++n === total) setImmediate(() => process.exit(0));
});
http.createServer(app).listen(Number(portText), '127.0.0.1', () => console.log('ready'));
