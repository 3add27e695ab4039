// Regression test for capture 1: POST /orders answered 500 Internal Server Error (service orders).
// Written by `loopctl export --id 1 --as-test node`; run it with `node --test capture-1-post-orders.test.mjs`.
//
// The captured request is replayed in-process against the app (no port), and the outgoing calls the
// app makes are answered from the capture's recording (stubOutbound), so it needs no other service.
// A call that was not recorded fails the test, naming what was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadCapture, replay } from 'httploop/testing';

// The app under test: an Express, Connect or Koa app, or a (req, res) request listener.
import { app } from '../app.cjs';

const fixture = new URL('./capture-1-post-orders.capture.json', import.meta.url);

test('capture 1: POST /orders no longer answers 500', async () => {
  const capture = await loadCapture(fixture);
  // Redacted at capture time, so replayed as "[REDACTED]": request.headers.authorization.
  // If the app needs a real header value, give it from outside this file, for example
  //   replay(capture, { app, stubOutbound: true, headers: { authorization: process.env.TEST_AUTHORIZATION } })
  const result = await replay(capture, { app, stubOutbound: true });
  // The captured request got 500: once fixed, it must not fail with a server error any more.
  // To assert the right answer as well, add for example
  //   assert.equal(result.status, 200);
  //   assert.deepEqual(result.json(), { ... });
  // or, against a capture of the right answer, expectReplayToMatch(result, capture, { ignore: ['$.id'] }).
  assert.ok(result.status < 500, `the replay still answers ${result.status}: ${result.text()}`);
});
