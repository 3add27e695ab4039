import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  appendHopJson,
  appendHopText,
  decrementMaxForwards,
  formatHopText,
  formatTrailText,
  hasTrail,
  isDiagRequest,
  MAX_TRAIL_OUTBOUND,
  parseJsonTrail,
  parseMaxForwards,
  redactDiagHeaders,
  safeEqualToken,
  type HopContext,
} from '../../src/trace/diag-trail.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

function webHop(overrides: Partial<HopContext> = {}): HopContext {
  return {
    service: 'web',
    instance: 'host:1234',
    durationMs: 22,
    method: 'GET',
    path: '/users/42',
    route: '/users/:id',
    status: 500,
    rules: ['default'],
    traceId: TRACE_ID,
    spanId: '00f067aa0ba902b7',
    outbound: [
      {
        method: 'GET',
        destination: 'payments:9091',
        url: 'http://payments:9091/charge',
        addresses: ['127.0.0.1:9091'],
        selectedAddress: '127.0.0.1:9091',
        status: 502,
        durationMs: 31,
      },
    ],
    ...overrides,
  };
}

test('formatHopText: a Linkerd-style block, exactly', () => {
  const cases: Array<[string, HopContext, string]> = [
    [
      'a hop with one outgoing call answered',
      webHop(),
      [
        '',
        '--- Service: web (host:1234) ---',
        'request: GET /users/42',
        'request duration: 22 ms',
        'route: /users/:id',
        'status: 500',
        'rules that would capture: default',
        `trace: ${TRACE_ID} span 00f067aa0ba902b7`,
        'outgoing: GET http://payments:9091/charge',
        '  destination name: payments:9091',
        '  addresses: [127.0.0.1:9091]',
        '  selected address: 127.0.0.1:9091',
        '  status: 502',
        '  duration: 31 ms',
        '',
      ].join('\n'),
    ],
    [
      'no route, no rules, no trace, no outgoing calls, fractional duration',
      webHop({ route: undefined, rules: [], traceId: undefined, spanId: undefined, outbound: [], durationMs: 0.4321, status: 200 }),
      [
        '',
        '--- Service: web (host:1234) ---',
        'request: GET /users/42',
        'request duration: 0.4 ms',
        'route: (none)',
        'status: 200',
        'rules that would capture: (none)',
        'trace: (none)',
        'outgoing: (none)',
        '',
      ].join('\n'),
    ],
    [
      'a refused call, a call that never answered, several rules and addresses',
      webHop({
        rules: ['default', 'slow-payments'],
        spanId: undefined,
        outbound: [
          {
            method: 'POST',
            destination: 'payments:9091',
            url: 'http://payments:9091/charge',
            addresses: ['10.0.0.1:9091', '10.0.0.2:9091'],
            selectedAddress: '10.0.0.2:9091',
            error: 'ECONNREFUSED',
            durationMs: 1.26,
          },
          { method: 'GET', destination: 'ledger:80', url: 'http://ledger/balance', addresses: [] },
        ],
      }),
      [
        '',
        '--- Service: web (host:1234) ---',
        'request: GET /users/42',
        'request duration: 22 ms',
        'route: /users/:id',
        'status: 500',
        'rules that would capture: default, slow-payments',
        `trace: ${TRACE_ID}`,
        'outgoing: POST http://payments:9091/charge',
        '  destination name: payments:9091',
        '  addresses: [10.0.0.1:9091, 10.0.0.2:9091]',
        '  selected address: 10.0.0.2:9091',
        '  error: ECONNREFUSED',
        '  duration: 1.3 ms',
        'outgoing: GET http://ledger/balance',
        '  destination name: ledger:80',
        '  addresses: []',
        '  selected address: (none)',
        '  status: (no answer)',
        '',
      ].join('\n'),
    ],
  ];
  for (const [name, hop, expected] of cases) assert.strictEqual(formatHopText(hop), expected, name);
});

test('CR, LF and other controls from the request never start a line of their own', () => {
  const hop = webHop({
    path: '/a\r\n--- Service: evil (x) ---\r\nstatus: 200',
    route: '/a\n',
    method: 'G\rET',
    service: 'we\u2028b',
    outbound: [
      {
        method: 'GET',
        destination: 'pay\nments:9091',
        url: 'http://payments:9091/x\r\nSet-Cookie: a=b',
        addresses: ['127.0.0.1:9091\n'],
        error: 'boom\r\nstatus: 200\u001b[2J',
      },
    ],
  });
  const text = formatHopText(hop);
  assert.strictEqual(
    text,
    [
      '',
      '--- Service: web (host:1234) ---',
      'request: GET /a--- Service: evil (x) ---status: 200',
      'request duration: 22 ms',
      'route: /a',
      'status: 500',
      'rules that would capture: default',
      `trace: ${TRACE_ID} span 00f067aa0ba902b7`,
      'outgoing: GET http://payments:9091/xSet-Cookie: a=b',
      '  destination name: payments:9091',
      '  addresses: [127.0.0.1:9091]',
      '  selected address: (none)',
      '  error: boomstatus: 200[2J',
      '',
    ].join('\n'),
  );
  // The JSON form carries the same cleaned values.
  const trail = JSON.parse(appendHopJson(undefined, hop));
  assert.strictEqual(trail.hops[0].path, '/a--- Service: evil (x) ---status: 200');
  assert.strictEqual(trail.hops[0].outbound[0].url, 'http://payments:9091/xSet-Cookie: a=b');
  assert.strictEqual(trail.hops[0].outbound[0].error, 'boomstatus: 200[2J');
});

test('values and outgoing calls are bounded', () => {
  const many = Array.from({ length: MAX_TRAIL_OUTBOUND + 5 }, (_, i) => ({
    method: 'GET',
    destination: 'cache:6379',
    url: `http://cache:6379/${i}`,
    addresses: ['127.0.0.1:6379'],
    status: 200,
  }));
  const hop = webHop({ path: `/${'x'.repeat(5000)}`, outbound: many });
  const text = formatHopText(hop);
  assert.strictEqual(text.split('\n').filter((line) => line.startsWith('outgoing: GET')).length, MAX_TRAIL_OUTBOUND);
  assert.ok(text.endsWith('outgoing: … 5 more not shown\n'));
  assert.ok(text.includes(`request: GET /${'x'.repeat(2047)}…\n`));
  const json = JSON.parse(appendHopJson(undefined, hop)).hops[0];
  assert.strictEqual(json.outbound.length, MAX_TRAIL_OUTBOUND);
  assert.strictEqual(json.outboundOmitted, 5);
});

test('appendHopText: innermost block first, a blank line before every block', () => {
  const inner = webHop({ service: 'payments', instance: 'pay-1:7', outbound: [] });
  const outer = webHop({ outbound: [] });
  const once = appendHopText(Buffer.from('invalid response 500'), inner);
  const twice = appendHopText(once, outer);
  assert.strictEqual(twice.toString('utf8'), `invalid response 500\n${formatHopText(inner)}${formatHopText(outer)}`);
  assert.ok(twice.toString('utf8').startsWith('invalid response 500\n\n--- Service: payments (pay-1:7) ---\n'));
  // A body that already ends with a newline gets no second one; an empty body gets none at all.
  assert.strictEqual(appendHopText(Buffer.from('ok\n'), inner).toString(), `ok\n${formatHopText(inner)}`);
  assert.strictEqual(appendHopText(Buffer.alloc(0), inner).toString(), formatHopText(inner));
  // Bytes that are not UTF-8 stay as they were.
  const binary = Buffer.from([0xff, 0xfe, 0x00]);
  assert.deepStrictEqual(appendHopText(binary, inner).subarray(0, 3), binary);
});

test('appendHopText over a JSON trail from further in gives one text trail', () => {
  const inner = webHop({ service: 'payments', outbound: [] });
  const outer = webHop({ outbound: [] });
  const json = appendHopJson('invalid response 500', inner);
  assert.strictEqual(
    appendHopText(Buffer.from(json), outer).toString(),
    `invalid response 500\n${formatHopText(inner)}${formatHopText(outer)}`,
  );
});

test('appendHopJson: three hops appended in order, innermost first', () => {
  const hops = ['ledger', 'payments', 'web'].map((service, i) =>
    webHop({ service, instance: `${service}-host:${i + 1}`, outbound: [], route: undefined }),
  );
  let body: string | undefined = '{"error":"ledger down"}';
  for (const hop of hops) body = appendHopJson(body, hop);
  assert.deepStrictEqual(JSON.parse(body), {
    body: '{"error":"ledger down"}',
    hops: hops.map(({ route: _route, ...hop }) => hop),
  });
  assert.deepStrictEqual(parseJsonTrail(body)?.hops.map((hop) => hop.service), ['ledger', 'payments', 'web']);
  assert.strictEqual(
    formatTrailText(parseJsonTrail(body)!),
    `{"error":"ledger down"}\n${hops.map(formatHopText).join('')}`,
  );
});

test('appendHopJson wraps anything that is not a trail; no body is null', () => {
  const hop = webHop({ outbound: [] });
  const cleaned = JSON.parse(appendHopJson(undefined, hop)).hops[0];
  assert.deepStrictEqual(cleaned, hop);
  assert.strictEqual(JSON.stringify(cleaned), JSON.stringify(hop), 'fields in the order of HopContext');
  const cases: Array<[string | undefined, string | null]> = [
    [undefined, null],
    ['', null],
    ['plain text', 'plain text'],
    ['{"hops":[{"service":"x"}]}', '{"hops":[{"service":"x"}]}'], // an app's JSON without `body`
    ['{"body":null,"hops":[],"x":1}', '{"body":null,"hops":[],"x":1}'], // extra keys
    ['{"body":null,"hops":[]}', '{"body":null,"hops":[]}'], // no hop
    ['{"body":3,"hops":[{}]}', '{"body":3,"hops":[{}]}'], // body not text
    ['{"body":null,"hops":[1]}', '{"body":null,"hops":[1]}'],
    ['{"body":null,"hops":', '{"body":null,"hops":'], // not JSON at all
  ];
  for (const [downstream, expectedBody] of cases) {
    assert.deepStrictEqual(JSON.parse(appendHopJson(downstream, hop)), { body: expectedBody, hops: [cleaned] }, String(downstream));
  }
});

test('hasTrail finds either form, and only a trail', () => {
  const hop = webHop();
  assert.strictEqual(hasTrail(appendHopText(Buffer.from('x'), hop).toString()), true);
  assert.strictEqual(hasTrail(appendHopJson('x', hop)), true);
  assert.strictEqual(hasTrail('TRACE / HTTP/1.1\r\nhost: web\r\nloop-add-context: true\r\n\r\n'), false);
  assert.strictEqual(hasTrail('{"body":null,"hops":[]}'), false);
  assert.strictEqual(hasTrail(''), false);
});

test('parseMaxForwards: RFC 9110 section 7.6.2, 1*DIGIT', () => {
  const cases: Array<[string | string[] | undefined, ReturnType<typeof parseMaxForwards>]> = [
    [undefined, { ok: true }],
    [[], { ok: true }],
    ['0', { ok: true, value: 0 }],
    ['5', { ok: true, value: 5 }],
    [' 7\t', { ok: true, value: 7 }],
    ['007', { ok: true, value: 7 }],
    ['4294967295', { ok: true, value: 4294967295 }],
    [['3', '3'], { ok: true, value: 3 }],
    ['3, 3', { ok: true, value: 3 }],
    ['', { ok: false }],
    ['   ', { ok: false }],
    ['-1', { ok: false }],
    ['+1', { ok: false }],
    ['1.5', { ok: false }],
    ['1e3', { ok: false }],
    ['0x10', { ok: false }],
    ['1 2', { ok: false }],
    ['five', { ok: false }],
    ['١٢', { ok: false }], // Arabic-Indic digits are not DIGIT
    ['12345678901', { ok: false }],
    ['9'.repeat(400), { ok: false }],
    [['3', '4'], { ok: false }],
    ['3, 4', { ok: false }],
    ['3,', { ok: false }],
    [['3', ''], { ok: false }],
  ];
  for (const [value, expected] of cases) assert.deepStrictEqual(parseMaxForwards(value), expected, JSON.stringify(value));
});

test('decrementMaxForwards', () => {
  const cases: Array<[number | undefined, number | undefined]> = [
    [undefined, undefined],
    [0, 0],
    [1, 0],
    [10, 9],
  ];
  for (const [value, expected] of cases) assert.strictEqual(decrementMaxForwards(value), expected, String(value));
});

test('isDiagRequest: TRACE with loop-add-context or l5d-add-context true, any case of the value', () => {
  const cases: Array<[string | undefined, Record<string, string | string[] | undefined>, boolean]> = [
    ['TRACE', { 'loop-add-context': 'true' }, true],
    ['TRACE', { 'l5d-add-context': 'true' }, true],
    ['TRACE', { 'loop-add-context': 'TRUE' }, true],
    ['TRACE', { 'l5d-add-context': ' True ' }, true],
    ['TRACE', { 'loop-add-context': 'true, true' }, true],
    ['TRACE', { 'loop-add-context': ['true', 'true'] }, true],
    ['TRACE', { 'loop-add-context': 'false', 'l5d-add-context': 'true' }, true],
    ['TRACE', {}, false],
    ['TRACE', { 'loop-add-context': 'false' }, false],
    ['TRACE', { 'loop-add-context': '1' }, false],
    ['TRACE', { 'loop-add-context': '' }, false],
    ['TRACE', { 'loop-add-context': 'true, false' }, false],
    ['TRACE', { 'loop-add-context': [] }, false],
    ['GET', { 'loop-add-context': 'true' }, false],
    ['trace', { 'loop-add-context': 'true' }, false],
    [undefined, { 'loop-add-context': 'true' }, false],
  ];
  for (const [method, headers, expected] of cases) {
    assert.strictEqual(isDiagRequest(method, headers), expected, `${method} ${JSON.stringify(headers)}`);
  }
});

test('safeEqualToken: equal strings only, any lengths', () => {
  const cases: Array<[string | undefined, string, boolean]> = [
    ['s3cret', 's3cret', true],
    ['s3cret', 's3cre', false],
    ['s3cre', 's3cret', false],
    ['S3cret', 's3cret', false],
    ['s3cret ', 's3cret', false],
    ['', 's3cret', false],
    [undefined, 's3cret', false],
    ['', '', false], // no token configured: never a match
    ['x'.repeat(10_000), 'x'.repeat(10_000), true],
    ['tökén', 'tökén', true],
  ];
  for (const [given, expected, result] of cases) assert.strictEqual(safeEqualToken(given, expected), result, `${given} vs ${expected}`);
});

test('redactDiagHeaders: credentials never echoed, names and order kept', () => {
  const headers: Array<[string, string]> = [
    ['Host', 'web:9090'],
    ['Cookie', 'sid=abc'],
    ['Authorization', 'Bearer abc'],
    ['proxy-authorization', 'Basic abc'],
    ['Set-Cookie', 'sid=abc'],
    ['LOOP-DIAG-TOKEN', 's3cret'],
    ['X-Api-Key', 'k'],
    ['X-Internal-Secret', 'shh'],
    ['loop-add-context', 'true'],
  ];
  const original = structuredClone(headers);
  assert.deepStrictEqual(redactDiagHeaders(headers, ['x-internal-secret']), [
    ['Host', 'web:9090'],
    ['Cookie', '[REDACTED]'],
    ['Authorization', '[REDACTED]'],
    ['proxy-authorization', '[REDACTED]'],
    ['Set-Cookie', '[REDACTED]'],
    ['LOOP-DIAG-TOKEN', '[REDACTED]'],
    ['X-Api-Key', '[REDACTED]'],
    ['X-Internal-Secret', '[REDACTED]'],
    ['loop-add-context', 'true'],
  ]);
  assert.deepStrictEqual(redactDiagHeaders(headers)[7], ['X-Internal-Secret', 'shh']);
  assert.deepStrictEqual(headers, original, 'the input is not changed');
});

test('odd input from a buggy caller never throws', () => {
  const junk = { service: 'web', outbound: [null, 5, { addresses: 'x' }], rules: 'default', durationMs: NaN } as unknown as HopContext;
  assert.doesNotThrow(() => formatHopText(junk));
  assert.doesNotThrow(() => appendHopJson('{"body":null,"hops":[{"outbound":[null]}]}', junk));
  assert.doesNotThrow(() => formatTrailText({ body: null, hops: [{} as HopContext] }));
});
