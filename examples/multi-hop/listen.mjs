// What the three services of the multi-hop example share: listening, the settings read from the
// environment, and running a service directly (`node examples/multi-hop/gateway.mjs`).
import http from 'node:http';
import { pathToFileURL } from 'node:url';

/** Ports and addresses, from the environment, with the defaults the README uses. */
export function settings(env = process.env) {
  const host = env.HOST ?? '127.0.0.1';
  const ports = {
    gateway: Number(env.GATEWAY_PORT ?? 9090),
    web: Number(env.WEB_PORT ?? 9091),
    payments: Number(env.PAYMENTS_PORT ?? 9092),
  };
  return {
    host,
    ports,
    webUrl: env.WEB_URL ?? `http://${host}:${ports.web}`,
    paymentsUrl: env.PAYMENTS_URL ?? `http://${host}:${ports.payments}`,
    collector: env.LOOP_COLLECTOR ?? 'http://127.0.0.1:5678',
  };
}

/**
 * Serves `listener` on host:port; close() stops taking requests, then flushes the service's captures.
 * `mw` is the service's loop().
 */
export async function serve(listener, mw, { port, host }) {
  const server = http.createServer(listener);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://${host}:${actual}`,
    loop: mw,
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await mw.close(); // sends what is still queued
    },
  };
}

/**
 * When `moduleUrl` is the script node was started with: starts the service, prints one line once it
 * listens, and on SIGTERM / SIGINT stops it (flushing its captures) and exits.
 */
export async function runIfMain(moduleUrl, name, start, describe) {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const s = settings();
  const service = await start({ port: s.ports[name], host: s.host });
  console.log(`${name} listening on ${service.url}${describe(s)}, captures go to ${s.collector}`);
  const stop = () => service.close().then(() => process.exit(0), () => process.exit(1));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
