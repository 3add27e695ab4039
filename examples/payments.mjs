import http from 'node:http';

/**
 * The `payments` service of the seed's scenario, in its broken "green" version: it accepts every
 * request and never answers, so whoever calls it runs into their own timeout.
 */
export async function startPayments({ port = 0, host = '127.0.0.1' } = {}) {
  const server = http.createServer(() => {
    // Never answers on purpose.
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    server,
    port: server.address().port,
    close() {
      // The hanging requests would keep close() waiting forever: cut them.
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
