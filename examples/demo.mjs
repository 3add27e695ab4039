// `npm run demo`: the seed's walkthrough (Gloo Loop's "Debugging in production with Loop") end to end,
// with no manual steps. An embedded collector (`loopctl serve`, SQLite in a temp dir) runs as a child
// process; the Express example (web → payments, which never answers) runs in this process with loop()
// pointing at it. Some requests fail, loopctl lists, shows and replays the failure, and everything is
// shut down again, also when a step fails.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, freePort, loopctl, onCleanup, requireBuild, runDemo, say, startCollector, tempDir } from './demo-support.mjs';

const TAP = fileURLToPath(new URL('./tap.yaml', import.meta.url));

async function main() {
  requireBuild();
  // Imported here so that a missing build is reported by the check above, not as a module error.
  const { start } = await import('./express/app.mjs');

  const db = join(tempDir('httploop-demo-'), 'loop.db');
  const port = await freePort();
  const collector = `http://${HOST}:${port}`;
  const env = { ...process.env, LOOP_COLLECTOR: collector };
  delete env.LOOP_TOKEN;

  await startCollector({ port, db, env });

  say('# Listing existing loop captures: there are none yet');
  await loopctl(['list'], env);

  say('# Configure what Loop captures: the seed\'s TapConfig (every 5xx), examples/tap.yaml');
  console.log(readFileSync(TAP, 'utf8').trimEnd());
  await loopctl(['apply', '-f', TAP], env);

  say('# Start the web service with app.use(loop()); its payments backend never answers');
  const web = await start({ collector, log: (line) => console.log(`  [${line}]`) });
  onCleanup(() => web.close());
  console.log(`web on ${web.url} (payments on port ${web.paymentsPort}), captures go to ${collector}`);
  // loop() starts from its own rules and follows the collector's as soon as its first poll is answered.
  for (let i = 0; web.loop.stats().ruleSet.source !== 'collector'; i++) {
    if (i === 200) throw new Error('the web service did not pick up the applied TapConfig within 2 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  await loopctl(['get', 'tapconfigs'], env);

  say('# Send traffic: /health succeeds, / times out calling payments and fails');
  for (const path of ['/health', '/', '/health', '/', '/health']) {
    const res = await fetch(`${web.url}${path}`);
    const body = await res.text();
    console.log(`$ curl ${web.url}${path}  ->  HTTP ${res.status} ${body}`);
  }
  await web.loop.flush();
  const stats = web.loop.stats();
  console.log(`(loop: ${stats.captured} captured, ${stats.sent} shipped; 200s are not captured)`);

  say('# Only the failing requests were captured');
  const listed = await loopctl(['list'], env);
  if (!/\|\s+1 \| \/\s+\| GET\s+\|\s+500 \|/.test(listed.stdout)) {
    throw new Error('loopctl list does not show capture 1 (GET / 500)');
  }

  say('# What capture 1 holds: request, response, route, the error the handler threw, the rule (gloo)');
  await loopctl(['show', '--id', '1'], env);

  say('# Replay it against the web service (same app: the replay fails the same way, "same" exits 0)');
  await loopctl(['replay', '--id', '1', '--destination', `${HOST}:${web.port}`], env);

  say('# Done: shutting down the web service and the collector');
}

await runDemo(main);
