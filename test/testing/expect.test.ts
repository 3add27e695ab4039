// expectReplayToMatch on hand-made captures: headers, wildcard ignores, truncated bodies; and stubs for
// node:https and fetch of recordings made by hand.
import assert, { AssertionError } from 'node:assert/strict';
import https from 'node:https';
import { describe, it } from 'node:test';
import { expectReplayToMatch, replay, replayDifferences } from '../../src/testing/index.js';
import { sampleCapture } from '../helpers.js';

describe('expectReplayToMatch', () => {
  it('compares non-volatile headers and ignores the listed ones', async () => {
    const capture = sampleCapture({
      response: {
        status: 200,
        headers: [['Content-Type', 'application/json'], ['X-Version', '1'], ['Date', 'Mon, 01 Jan 2024 00:00:00 GMT'], ['ETag', '"a"']],
        body: { encoding: 'utf8', data: '{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}', size: 51, truncated: false },
      },
    });
    const result = await replay(capture, {
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-version': '2', etag: '"b"', 'x-new': 'y' });
        res.end('{"items":[{"id":7,"name":"a"},{"id":8,"name":"b"}]}');
      },
    });
    const diffs = replayDifferences(result, capture, { ignore: ['$.items[*].id'] });
    assert.deepEqual(diffs.map((d) => d.path), ['headers.x-version', 'headers.x-new']);
    assert.throws(
      () => expectReplayToMatch(result, capture, { ignore: ['$.items[*].id'] }),
      (err: Error) =>
        err instanceof AssertionError &&
        err.message.includes('  headers.x-version:\n    expected "1"\n    actual   "2"') &&
        err.message.includes('  headers.x-new:\n    expected (missing)\n    actual   "y"'),
    );
    expectReplayToMatch(result, capture, { ignore: ['$.items[*].id'], ignoreHeaders: ['X-Version', 'x-new'] });
    assert.deepEqual(
      replayDifferences(result, capture, { ignoreHeaders: ['x-version', 'x-new'] }).map((d) => [d.path, d.expected, d.actual]),
      [
        ['body$.items[0].id', 1, 7],
        ['body$.items[1].id', 2, 8],
      ],
    );
  });

  it('a truncated captured body is compared on its kept start; text bodies as text', async () => {
    const capture = sampleCapture({
      response: { status: 500, headers: [['content-type', 'text/plain']], body: { encoding: 'utf8', data: 'error: ', size: 100, truncated: true } },
    });
    const same = await replay(capture, { handler: (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`error: ${'x'.repeat(93)}`) });
    expectReplayToMatch(same, capture);
    const other = await replay(capture, { handler: (_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('fine') });
    assert.throws(() => expectReplayToMatch(other, capture), /body:\n    expected "error: "… \(the first 7 of 100 bytes were recorded\)\n    actual   "fine"… \(4 bytes\)/);
  });
});

describe('stubOutbound, hand-made recordings', () => {
  it('answers node:https and fetch calls to https URLs, and raises a recorded network error again', async () => {
    const capture = sampleCapture({
      outbound: [
        {
          method: 'GET',
          url: 'https://pay.example:443/charge/7?x=1',
          status: 402,
          request: { headers: [], body: null },
          response: { headers: [['content-type', 'application/json'], ['content-length', '999']], body: { encoding: 'utf8', data: '{"paid":false}', size: 14, truncated: false } },
        },
        { method: 'POST', url: 'https://pay.example/refund', status: 201, request: { headers: [], body: null }, response: { headers: [['x-refund', 'r1']], body: null } },
        { method: 'GET', url: 'http://down.example/x', error: { name: 'Error', message: 'connect ECONNREFUSED 10.0.0.1:80', code: 'ECONNREFUSED' } },
      ],
    });
    const result = await replay(capture, {
      stubOutbound: true,
      handler: (_req, res) => {
        https.get('https://pay.example/charge/7?x=1', (r) => {
          let text = '';
          r.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', async () => {
            const refund = await fetch('https://pay.example/refund', { method: 'POST', body: 'x' });
            const down = await fetch('http://down.example/x').then(
              () => 'reached',
              (e: TypeError) => `${e.message}: ${(e.cause as NodeJS.ErrnoException).code}`,
            );
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ charge: [r.statusCode, r.headers['content-length'], JSON.parse(text)], refund: [refund.status, refund.headers.get('x-refund'), await refund.text()], down }));
          });
        });
      },
    });
    assert.deepEqual(result.json(), { charge: [402, '14', { paid: false }], refund: [201, 'r1', ''], down: 'fetch failed: ECONNREFUSED' });
  });
});
