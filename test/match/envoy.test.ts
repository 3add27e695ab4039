// Envoy tap MatchPredicate objects: every combinator and matcher kind, with Envoy's semantics (missing
// headers, inversion, treat_missing_header_as_empty, full-match regexes, [start, end) ranges, body
// patterns), the match blocks of Envoy's tap documentation, and every problem with its field path.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { codes, LoopError } from '../../src/errors.js';
import { PredicateError } from '../../src/match/envoy.js';
import { compileMatch } from '../../src/match/rule.js';
import type { Phase } from '../../src/match/index.js';
import { view, type ViewInit } from './view.js';

const PHASES: Phase[] = [0, 1, 2, 3];
const U = undefined;

function answers(predicate: Record<string, unknown>, init: ViewInit): Array<boolean | undefined> {
  const rule = compileMatch(predicate, 'envoy');
  return PHASES.map((phase) => rule.evaluate(view(init), phase));
}

type Row = [title: string, predicate: Record<string, unknown>, init: ViewInit, expected: Array<boolean | undefined>];

function table(rows: Row[]): void {
  for (const [title, predicate, init, expected] of rows) {
    test(title, () => assert.deepEqual(answers(predicate, init), expected));
  }
}

const reqHeader = (matcher: Record<string, unknown>) => ({ http_request_headers_match: { headers: [matcher] } });
const resHeader = (matcher: Record<string, unknown>) => ({ http_response_headers_match: { headers: [matcher] } });
const withDebug = (value: string): ViewInit => ({ requestHeaders: { 'x-debug': value } });
const ALL = [true, true, true, true];
const NONE = [false, false, false, false];

describe('combinators', () => {
  const get = reqHeader({ name: ':method', string_match: { exact: 'GET' } });
  const is5xx = resHeader({ name: ':status', range_match: { start: 500, end: 600 } });
  table([
    ['any_match: true matches everything', { any_match: true }, {}, ALL],
    ['and_match: all rules', { and_match: { rules: [get, is5xx] } }, { method: 'GET', status: 502 }, [U, U, true, true]],
    ['and_match decides false as soon as one rule does', { and_match: { rules: [get, is5xx] } }, { method: 'POST', status: 502 }, NONE],
    ['or_match: any rule', { or_match: { rules: [get, is5xx] } }, { method: 'GET', status: 200 }, ALL],
    ['or_match waits for the response', { or_match: { rules: [get, is5xx] } }, { method: 'POST', status: 503 }, [U, U, true, true]],
    ['or_match: none', { or_match: { rules: [get, is5xx] } }, { method: 'POST', status: 200 }, [U, U, false, false]],
    ['not_match', { not_match: get }, { method: 'POST' }, ALL],
    ['not_match of not_match', { not_match: { not_match: get } }, { method: 'POST' }, NONE],
    ['not_match: { any_match: true } matches nothing', { not_match: { any_match: true } }, {}, NONE],
    ['camelCase field names (protobuf JSON)', { andMatch: { rules: [{ anyMatch: true }, { httpRequestHeadersMatch: { headers: [{ name: 'x-debug', presentMatch: true }] } }] } }, withDebug('1'), ALL],
    ['a headers match with no headers matches everything', { http_request_headers_match: { headers: [] } }, {}, ALL],
    ['several headers in one match: all of them', { http_request_headers_match: { headers: [{ name: 'a', exact_match: '1' }, { name: 'b', exact_match: '2' }] } }, { requestHeaders: { a: '1', b: '3' } }, NONE],
  ]);
});

describe('header matchers', () => {
  table([
    ['exact_match', reqHeader({ name: 'x-debug', exact_match: 'on' }), withDebug('on'), ALL],
    ['exact_match is case-sensitive', reqHeader({ name: 'x-debug', exact_match: 'on' }), withDebug('ON'), NONE],
    ['header names in any case', reqHeader({ name: 'X-Debug', exact_match: 'on' }), withDebug('on'), ALL],
    ['an empty exact_match matches any value (Envoy: HeaderMatchType::Value)', reqHeader({ name: 'x-debug', exact_match: '' }), withDebug('x'), ALL],
    ['prefix_match', reqHeader({ name: 'x-debug', prefix_match: 'tr' }), withDebug('true'), ALL],
    ['suffix_match', reqHeader({ name: 'x-debug', suffix_match: 'ue' }), withDebug('true'), ALL],
    ['contains_match', reqHeader({ name: 'x-debug', contains_match: 'ru' }), withDebug('true'), ALL],
    ['contains_match, no', reqHeader({ name: 'x-debug', contains_match: 'zz' }), withDebug('true'), NONE],
    ['safe_regex_match is a full match', reqHeader({ name: 'x-debug', safe_regex_match: { google_re2: {}, regex: '[0-9]+' } }), withDebug('123'), ALL],
    ['safe_regex_match does not match a part', reqHeader({ name: 'x-debug', safe_regex_match: { regex: '[0-9]+' } }), withDebug('a123'), NONE],
    ['safe_regex with an alternation is anchored as a whole', reqHeader({ name: 'x-debug', safe_regex_match: { regex: 'a|b' } }), withDebug('ab'), NONE],
    ["RE2's (?i) and (?P<name>)", reqHeader({ name: 'x-debug', safe_regex_match: { regex: '(?i)(?P<word>yes)' } }), withDebug('YES'), ALL],
    ['range_match: start is in', resHeader({ name: ':status', range_match: { start: 500, end: 600 } }), { status: 500 }, [U, U, true, true]],
    ['range_match: end is out', resHeader({ name: ':status', range_match: { start: 500, end: 600 } }), { status: 600 }, [U, U, false, false]],
    ['range_match: int64 as a string (protobuf JSON)', resHeader({ name: ':status', range_match: { start: '400', end: '500' } }), { status: 404 }, [U, U, true, true]],
    ['range_match: only integers', reqHeader({ name: 'x-n', range_match: { start: 0, end: 10 } }), { requestHeaders: { 'x-n': '5.5' } }, NONE],
    ['range_match: negative integers', reqHeader({ name: 'x-n', range_match: { start: -10, end: 0 } }), { requestHeaders: { 'x-n': '-3' } }, ALL],
    ['present_match: true', reqHeader({ name: 'x-debug', present_match: true }), withDebug(''), ALL],
    ['present_match: true, absent', reqHeader({ name: 'x-debug', present_match: true }), {}, NONE],
    ['present_match: false matches an absent header', reqHeader({ name: 'x-debug', present_match: false }), {}, ALL],
    ['a name alone tests presence', reqHeader({ name: 'x-debug' }), withDebug('0'), ALL],
    ['string_match exact', reqHeader({ name: 'x-debug', string_match: { exact: 'on' } }), withDebug('on'), ALL],
    ['string_match exact with ignore_case', reqHeader({ name: 'x-debug', string_match: { exact: 'On', ignore_case: true } }), withDebug('oN'), ALL],
    ['string_match prefix with ignore_case', reqHeader({ name: 'content-type', string_match: { prefix: 'Application/', ignore_case: true } }), { requestHeaders: { 'content-type': 'application/json' } }, ALL],
    ['string_match suffix', reqHeader({ name: 'content-type', string_match: { suffix: '+json' } }), { requestHeaders: { 'content-type': 'application/problem+json' } }, ALL],
    ['string_match contains, ignore_case', reqHeader({ name: 'user-agent', string_match: { contains: 'CURL', ignore_case: true } }), { requestHeaders: { 'user-agent': 'curl/8.0' } }, ALL],
    ['string_match safe_regex', reqHeader({ name: 'x-debug', string_match: { safe_regex: { regex: 'o[nf]+' } } }), withDebug('off'), ALL],
    ['pseudo-header :method', reqHeader({ name: ':method', string_match: { exact: 'POST' } }), { method: 'POST' }, ALL],
    ['pseudo-header :path holds the query', reqHeader({ name: ':path', string_match: { prefix: '/orders/7?' } }), {}, ALL],
    ['pseudo-header :authority is the Host', reqHeader({ name: ':authority', exact_match: 'shop:9090' }), { requestHeaders: { host: 'shop:9090' } }, ALL],
    ['pseudo-header :status, as in the seed', resHeader({ name: ':status', string_match: { prefix: '5' } }), { status: 503 }, [U, U, true, true]],
  ]);
});

describe('missing headers, invert_match and treat_missing_header_as_empty (HeaderUtility::matchHeaders)', () => {
  table([
    ['a value matcher on a missing header does not match', reqHeader({ name: 'x-debug', exact_match: 'on' }), {}, NONE],
    ['invert_match', reqHeader({ name: 'x-debug', exact_match: 'on', invert_match: true }), withDebug('off'), ALL],
    ['invert_match of a match', reqHeader({ name: 'x-debug', exact_match: 'on', invert_match: true }), withDebug('on'), NONE],
    ['invert_match does not make a missing header match', reqHeader({ name: 'x-debug', exact_match: 'on', invert_match: true }), {}, NONE],
    ['invert_match of present_match: true matches a missing header', reqHeader({ name: 'x-debug', present_match: true, invert_match: true }), {}, ALL],
    ['treat_missing_header_as_empty: "" matches a prefix of ""?', reqHeader({ name: 'x-debug', string_match: { exact: '' }, treat_missing_header_as_empty: true }), {}, ALL],
    ['treat_missing_header_as_empty with invert_match', reqHeader({ name: 'x-debug', exact_match: 'on', invert_match: true, treat_missing_header_as_empty: true }), {}, ALL],
    ['treat_missing_header_as_empty, present header still compared', reqHeader({ name: 'x-debug', exact_match: 'on', invert_match: true, treat_missing_header_as_empty: true }), withDebug('on'), NONE],
    ['treat_missing_header_as_empty and a regex that takes ""', reqHeader({ name: 'x-debug', safe_regex_match: { regex: '[0-9]*' }, treat_missing_header_as_empty: true }), {}, ALL],
    ['treat_missing_header_as_empty and a range ("" is no integer)', reqHeader({ name: 'x-n', range_match: { start: 0, end: 10 }, treat_missing_header_as_empty: true }), {}, NONE],
  ]);
});

describe('trailers and bodies', () => {
  table([
    ['http_request_trailers_match', { http_request_trailers_match: { headers: [{ name: 'x-checksum', exact_match: 'abc' }] } }, { requestTrailers: { 'x-checksum': 'abc' } }, [U, true, true, true]],
    ['http_response_trailers_match', { http_response_trailers_match: { headers: [{ name: 'grpc-status', exact_match: '14' }] } }, { responseTrailers: { 'grpc-status': '14' } }, [U, U, U, true]],
    ['request body: every pattern', { http_request_generic_body_match: { patterns: [{ string_match: 'card' }, { string_match: 'declined' }] } }, { requestBody: '{"card":"declined"}' }, [U, true, true, true]],
    ['request body: one pattern missing', { http_request_generic_body_match: { patterns: [{ string_match: 'card' }, { string_match: 'ok' }] } }, { requestBody: '{"card":"declined"}' }, [U, false, false, false]],
    ['response body: binary_match (base64)', { http_response_generic_body_match: { patterns: [{ binary_match: '3q2+7w==' }] } }, { responseBody: Buffer.from([0x00, 0xde, 0xad, 0xbe, 0xef]) }, [U, U, U, true]],
    ['bytes_limit: the pattern must end within the limit', { http_response_generic_body_match: { bytes_limit: 8, patterns: [{ string_match: 'timeout' }] } }, { responseBody: 'upstream timeout' }, [U, U, U, false]],
    ['bytes_limit: within', { http_response_generic_body_match: { bytes_limit: 8, patterns: [{ string_match: 'timeout' }] } }, { responseBody: 'timeout!' }, [U, U, U, true]],
    ['no body, no match', { http_request_generic_body_match: { patterns: [{ string_match: 'x' }] } }, {}, [U, false, false, false]],
  ]);
});

describe("the match blocks of Envoy's tap documentation", () => {
  // The admin handler's example POST body (configuration/http/http_filters/tap_filter), whole: the
  // predicate under tap_config.match_config is unwrapped when pasted with its key.
  const adminBody = parseYaml(`
config_id: test_config_id
tap_config:
  match_config:
    and_match:
      rules:
        - http_request_headers_match:
            headers:
              - name: foo
                exact_match: bar
        - http_response_headers_match:
            headers:
              - name: bar
                exact_match: baz
  output_config:
    sinks:
      - streaming_admin: {}
`) as { tap_config: Record<string, unknown> };
  const pasted = { match_config: adminBody.tap_config.match_config };

  test('and_match of a request and a response header', () => {
    const both: ViewInit = { requestHeaders: { foo: 'bar' }, responseHeaders: { bar: 'baz' }, status: 200 };
    assert.deepEqual(answers(pasted, both), [U, U, true, true]);
    assert.deepEqual(answers(pasted, { ...both, requestHeaders: { foo: 'baz' } }), NONE);
    assert.deepEqual(answers(pasted, { ...both, responseHeaders: {} }), [U, U, false, false]);
  });

  test('the same with or_match, and any_match', () => {
    const or = { or_match: (adminBody.tap_config.match_config as { and_match: unknown }).and_match };
    assert.deepEqual(answers(or, { requestHeaders: { foo: 'bar' } }), ALL);
    assert.deepEqual(answers(parseYaml('any_match: true'), {}), ALL);
  });

  test('the generic body match example', () => {
    const predicate = parseYaml(`
http_request_generic_body_match:
  patterns:
    - string_match: test
    - binary_match: 3q2+7w==
  bytes_limit: 128
`);
    const body = Buffer.concat([Buffer.from('a test of '), Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    assert.deepEqual(answers(predicate, { requestBody: body }), [U, true, true, true]);
    assert.deepEqual(answers(predicate, { requestBody: Buffer.concat([Buffer.alloc(200), body]) }), [U, false, false, false]);
  });
});

test('decided as early as the data allows: a request-side predicate needs no response', () => {
  const rule = compileMatch(reqHeader({ name: ':method', exact_match: 'POST' }));
  assert.equal(rule.lastPhase, 0);
  assert.equal(rule.needsRequestBody, false);
  const body = compileMatch({ http_response_generic_body_match: { patterns: [{ string_match: 'x' }] } });
  assert.equal(body.lastPhase, 3);
  assert.equal(body.needsResponseBody, true);
});

describe('problems, all at once, each with its field path', () => {
  const rows: Array<[title: string, predicate: Record<string, unknown>, problems: Array<{ path: string; message: string; atKey?: boolean }>]> = [
    [
      'an unknown field, with a suggestion',
      { and_match: { rules: [{ any_match: true }, reqHeader({ name: 'x', string_match: { exactly: '1' } })] } },
      [
        {
          path: 'match.and_match.rules[1].http_request_headers_match.headers[0].string_match.exactly',
          message: "unknown field 'exactly' in string_match; did you mean 'exact'? (known: exact, prefix, suffix, safe_regex, contains, ignore_case)",
          atKey: true,
        },
      ],
    ],
    ['no predicate at all', {}, [{ path: 'match', message: 'a match predicate needs one of: and_match, or_match, not_match, any_match, http_request_headers_match, http_request_trailers_match, http_response_headers_match, http_response_trailers_match, http_request_generic_body_match, http_response_generic_body_match' }]],
    [
      'two predicates in one',
      { any_match: true, not_match: { any_match: true } },
      [{ path: 'match.not_match', message: "a match predicate has both 'any_match' and 'not_match'; it takes one of them", atKey: true }],
    ],
    ['any_match: false', { any_match: false }, [{ path: 'match.any_match', message: 'any_match must be true; to match nothing, write not_match: { any_match: true }; got false' }]],
    ['empty rules', { or_match: { rules: [] } }, [{ path: 'match.or_match', message: 'needs rules: a non-empty list of predicates; got a list' }]],
    ['a header without a name', reqHeader({ exact_match: 'x' }), [{ path: 'match.http_request_headers_match.headers[0]', message: 'a header matcher needs a name, as in name: x-debug; got nothing' }]],
    [
      'a pseudo-header of the other side',
      resHeader({ name: ':method', exact_match: 'GET' }),
      [{ path: 'match.http_response_headers_match.headers[0].name', message: 'responseHeaders has no \':method\'; use requestHeaders[":method"]' }],
    ],
    [
      'two value matchers',
      reqHeader({ name: 'x', exact_match: 'a', prefix_match: 'b' }),
      [{ path: 'match.http_request_headers_match.headers[0].prefix_match', message: "a header matcher has both 'exact_match' and 'prefix_match'; it takes one of them", atKey: true }],
    ],
    [
      'the removed regex_match',
      reqHeader({ name: 'x', regex_match: 'a.*' }),
      [{ path: 'match.http_request_headers_match.headers[0].regex_match', message: "'regex_match' was removed from Envoy's API; use safe_regex_match: { regex: ... }", atKey: true }],
    ],
    [
      'a regex JavaScript cannot compile',
      reqHeader({ name: 'x', safe_regex_match: { regex: '(unclosed' } }),
      [{ path: 'match.http_request_headers_match.headers[0].safe_regex_match.regex', message: 'invalid regular expression /^(?:(unclosed)$/: Unterminated group' }],
    ],
    [
      'a regex that can backtrack without end',
      reqHeader({ name: 'x', string_match: { safe_regex: { regex: '(a+)+' } } }),
      [{ path: 'match.http_request_headers_match.headers[0].string_match.safe_regex.regex', message: '' }],
    ],
    [
      'a range with a bad bound, a flag that is no boolean',
      reqHeader({ name: 'x', range_match: { start: 1.5, end: 3 }, invert_match: 'yes' }),
      [
        { path: 'match.http_request_headers_match.headers[0].invert_match', message: "must be true or false; got 'yes'" },
        { path: 'match.http_request_headers_match.headers[0].range_match.start', message: 'start must be a whole number, as in { start: 500, end: 600 }; got 1.5' },
      ],
    ],
    [
      'body patterns: none, bad base64, empty string, bad limit',
      { or_match: { rules: [{ http_request_generic_body_match: { patterns: [] } }, { http_response_generic_body_match: { bytes_limit: -1, patterns: [{ binary_match: 'not base64!' }, { string_match: '' }] } }] } },
      [
        { path: 'match.or_match.rules[0].http_request_generic_body_match.patterns', message: 'needs patterns: a non-empty list, as in [{ string_match: timeout }]; got a list' },
        { path: 'match.or_match.rules[1].http_response_generic_body_match.bytes_limit', message: 'bytes_limit must be a whole number of bytes (0: no limit); got -1' },
        { path: 'match.or_match.rules[1].http_response_generic_body_match.patterns[0].binary_match', message: 'binary_match must be base64, as in "3q2+7w=="; got \'not base64!\'' },
        { path: 'match.or_match.rules[1].http_response_generic_body_match.patterns[1].string_match', message: "must be a non-empty string; got ''" },
      ],
    ],
  ];
  for (const [title, predicate, expected] of rows) {
    test(title, () => {
      const err = (() => {
        try {
          compileMatch(predicate, 'bad');
        } catch (e) {
          return e;
        }
        assert.fail('compileMatch did not throw');
      })();
      assert.ok(err instanceof PredicateError);
      assert.ok(err instanceof LoopError);
      assert.equal(err.code, codes.INVALID_PREDICATE);
      assert.match(err.message, /^httploop: rule "bad" is not a valid Envoy match predicate: match/);
      const got = err.problems.map((p) => ({ ...p }));
      // The backtracking message is regex-safety.ts's own; only its place is this test's business.
      for (const [i, p] of expected.entries()) if (p.message === '') got[i]!.message = '';
      assert.deepEqual(got, expected);
    });
  }
});
