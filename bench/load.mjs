// The load generator, in a process of its own: `node bench/load.mjs`, then jobs over IPC.
// A job is { id, url, method, path, body, headers, connections, duration, overallRate }; the answer
// { id, result } gives req/s, p50 / p99 from every response's own time (float ms: autocannon's
// histogram keeps whole milliseconds), and the counts of non-2xx answers, errors and timeouts.
// Used by run.mjs (one load process for the whole bench) and by soak.mjs.
import autocannon from 'autocannon';

let current = null;

process.on('message', async (job) => {
  if (job === 'stop') {
    current?.stop();
    return;
  }
  const times = [];
  const instance = autocannon({
    url: job.url,
    method: job.method ?? 'GET',
    ...(job.path !== undefined && { requests: [{ method: job.method ?? 'GET', path: job.path, body: job.body, headers: job.headers }] }),
    connections: job.connections ?? 32,
    pipelining: 1,
    duration: job.duration,
    ...(job.overallRate !== undefined && { overallRate: job.overallRate }),
  });
  current = instance;
  instance.on('response', (_client, _status, _bytes, responseTime) => times.push(responseTime));
  let result;
  try {
    result = await instance;
  } catch (err) {
    process.send({ id: job.id, error: err.message });
    return;
  }
  current = null;
  times.sort((a, b) => a - b);
  const p = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  process.send({
    id: job.id,
    result: {
      requests: result.requests.total,
      rps: result.requests.total / result.duration,
      p50: p(0.5),
      p99: p(0.99),
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      bytesPerSec: result.throughput.average,
    },
  });
});
process.send('ready');
