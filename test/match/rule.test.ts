import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { internalErrorCount } from '../../src/debug.js';
import { codes, LoopError } from '../../src/errors.js';
import {
  compileRule,
  DEFAULT_RULE,
  PHASE_REQUEST_BODY,
  PHASE_REQUEST_HEADERS,
  PHASE_RESPONSE_END,
  PHASE_RESPONSE_HEADERS,
  RuleSyntaxError,
  type ExchangeView,
  type Phase,
} from '../../src/match/index.js';
import { view, type ViewInit } from './view.js';

const PHASES: Phase[] = [0, 1, 2, 3];

/** A rule's answer at each of the four phases. */
function answers(rule: string, init: ViewInit): Array<boolean | undefined> {
  const compiled = compileRule(rule);
  return PHASES.map((phase) => compiled.evaluate(view(init), phase));
}

type Row = [rule: string, init: ViewInit, expected: Array<boolean | undefined>];
const U = undefined;

function table(rows: Row[]): void {
  for (const [rule, init, expected] of rows) {
    test(`${rule} with ${JSON.stringify(init)}`, () => {
      assert.deepEqual(answers(rule, init), expected);
    });
  }
}

test('the phase constants', () => {
  assert.deepEqual(
    [PHASE_REQUEST_HEADERS, PHASE_REQUEST_BODY, PHASE_RESPONSE_HEADERS, PHASE_RESPONSE_END],
    [0, 1, 2, 3],
  );
});

describe('the seed rule', () => {
  test('is the default rule', () => {
    assert.equal(DEFAULT_RULE, 'responseHeaders[":status"] == prefix("5")');
  });
  table([
    [DEFAULT_RULE, { status: 500 }, [U, U, true, true]],
    [DEFAULT_RULE, { status: 503 }, [U, U, true, true]],
    [DEFAULT_RULE, { status: 200 }, [U, U, false, false]],
    [DEFAULT_RULE, { status: 404 }, [U, U, false, false]],
    // The response never started (client gone): no status, no match.
    [DEFAULT_RULE, { status: 0 }, [U, U, false, false]],
  ]);
});

describe('numbers', () => {
  table([
    ['status >= 500', { status: 500 }, [U, U, true, true]],
    ['status >= 500', { status: 499 }, [U, U, false, false]],
    ['status >= 500', { status: 0 }, [U, U, false, false]],
    ['status < 500', { status: 0 }, [U, U, false, false]],
    ['status == 500', { status: 500 }, [U, U, true, true]],
    ['status == "500"', { status: 500 }, [U, U, true, true]],
    ['status != 500', { status: 502 }, [U, U, true, true]],
    ['status > 499.5', { status: 500 }, [U, U, true, true]],
    ['500 <= status', { status: 500 }, [U, U, true, true]],
    ['500 > status', { status: 500 }, [U, U, false, false]],
    ['status == prefix("5")', { status: 502 }, [U, U, true, true]],
    ['status == suffix("04")', { status: 404 }, [U, U, true, true]],
    ['responseHeaders[":status"] >= 500', { status: 503 }, [U, U, true, true]],
    ['responseHeaders[":status"] == 503', { status: 503 }, [U, U, true, true]],
    ['responseHeaders[":status"] == "503"', { status: 503 }, [U, U, true, true]],
    ['duration > 1000', { durationMs: 1500 }, [U, U, U, true]],
    ['duration > 1000', { durationMs: 999 }, [U, U, U, false]],
    ['duration > -1', { durationMs: 0 }, [U, U, U, true]],
    ['duration <= 2.5', { durationMs: 2.5 }, [U, U, U, true]],
    ['requestHeaders["content-length"] > 1000', { requestHeaders: { 'content-length': '1001' } }, [true, true, true, true]],
    ['requestHeaders["content-length"] > 1000', { requestHeaders: { 'content-length': 'lots' } }, [false, false, false, false]],
    ['requestHeaders["content-length"] > 1000', {}, [false, false, false, false]],
    ['requestHeaders["content-length"] == 0', { requestHeaders: { 'content-length': '' } }, [false, false, false, false]],
  ]);
});

describe('strings', () => {
  table([
    ['method == "POST"', { method: 'POST' }, [true, true, true, true]],
    ['method == "post"', { method: 'POST' }, [true, true, true, true]],
    ['method != "POST"', { method: 'GET' }, [true, true, true, true]],
    ['path == "/orders/7"', {}, [true, true, true, true]],
    ['path < "/p"', {}, [true, true, true, true]],
    ['path >= "/p"', {}, [false, false, false, false]],
    ['service == "orders"', {}, [true, true, true, true]],
    ['route == "/orders/:id"', { route: '/orders/:id' }, [U, U, true, true]],
    ['route != "/orders/:id"', {}, [U, U, true, true]],
    ['requestHeaders["x-a"] == "it\'s"', { requestHeaders: { 'x-a': "it's" } }, [true, true, true, true]],
    ["requestHeaders['x-a'] == 'it\\'s'", { requestHeaders: { 'x-a': "it's" } }, [true, true, true, true]],
    ['requestHeaders["x-a"] == "a\\"b\\\\c\\td\\ne"', { requestHeaders: { 'x-a': 'a"b\\c\td\ne' } }, [true, true, true, true]],
    ['requestHeaders["x-debug"] == true', { requestHeaders: { 'x-debug': 'true' } }, [true, true, true, true]],
    ['requestHeaders["x-debug"] == false', { requestHeaders: { 'x-debug': 'true' } }, [false, false, false, false]],
    ['requestHeaders["x-a"] == responseHeaders["x-a"]', { requestHeaders: { 'x-a': '1' }, responseHeaders: { 'x-a': '1' } }, [U, U, true, true]],
    ['requestHeaders["x-a"] == responseHeaders["x-a"]', { requestHeaders: { 'x-a': '1' } }, [U, U, false, false]],
    ['requestHeaders["x-a"] != responseHeaders["x-a"]', { requestHeaders: { 'x-a': '1' } }, [U, U, true, true]],
    ['requestHeaders["x-limit"] < duration', { requestHeaders: { 'x-limit': '100' }, durationMs: 250 }, [U, U, U, true]],
  ]);
});

describe('case-insensitive header names', () => {
  table([
    ['requestHeaders["Content-Type"] == "application/json"', { requestHeaders: { 'content-type': 'application/json' } }, [true, true, true, true]],
    ['requestHeaders["content-type"] == "Application/JSON"', { requestHeaders: { 'content-type': 'application/json' } }, [false, false, false, false]],
    ['responseHeaders["X-Cache"] == "MISS"', { responseHeaders: { 'x-cache': 'MISS' } }, [U, U, true, true]],
    ['responseHeaders[":STATUS"] == "200"', { status: 200 }, [U, U, true, true]],
  ]);
});

describe('pseudo-headers', () => {
  table([
    ['requestHeaders[":method"] == "DELETE"', { method: 'DELETE' }, [true, true, true, true]],
    ['requestHeaders[":method"] == "delete"', { method: 'DELETE' }, [true, true, true, true]],
    ['requestHeaders[":path"] == "/orders/7?full=1"', {}, [true, true, true, true]],
    ['requestHeaders[":path"] == contains("full=1")', {}, [true, true, true, true]],
    ['path == contains("full=1")', {}, [false, false, false, false]],
    ['requestHeaders[":authority"] == "shop.example:8080"', { requestHeaders: { host: 'shop.example:8080' } }, [true, true, true, true]],
    ['requestHeaders[":authority"] == "h2.example"', { requestHeaders: { ':authority': 'h2.example' } }, [true, true, true, true]],
    ['requestHeaders[":scheme"] == "http"', {}, [true, true, true, true]],
    ['requestHeaders[":scheme"] == "https"', { requestHeaders: { ':scheme': 'https' } }, [true, true, true, true]],
    ['responseHeaders[":status"] == "404"', { status: 404 }, [U, U, true, true]],
  ]);
});

describe('in [...]', () => {
  table([
    ['method in ["GET", "HEAD"]', { method: 'HEAD' }, [true, true, true, true]],
    ['method in ["get", "head"]', { method: 'HEAD' }, [true, true, true, true]],
    ['method in ["GET", "HEAD",]', { method: 'POST' }, [false, false, false, false]],
    ['method in []', { method: 'GET' }, [false, false, false, false]],
    ['status in [500, 502, "503"]', { status: 503 }, [U, U, true, true]],
    ['status in [500, 502, "503"]', { status: 504 }, [U, U, false, false]],
    ['responseHeaders[":status"] in [500, 503]', { status: 503 }, [U, U, true, true]],
    ['requestHeaders["x-n"] in [1, 2]', { requestHeaders: { 'x-n': '2' } }, [true, true, true, true]],
    ['requestHeaders["x-n"] in ["a", 2]', { requestHeaders: { 'x-n': 'a' } }, [true, true, true, true]],
    ['requestHeaders["x-n"] in [1, 2]', {}, [false, false, false, false]],
    ['requestHeaders["x-debug"] in [true, "1"]', { requestHeaders: { 'x-debug': 'true' } }, [true, true, true, true]],
    ['!(method in ["GET"])', { method: 'GET' }, [false, false, false, false]],
  ]);
});

describe('functions', () => {
  const h = (value: string): ViewInit => ({ requestHeaders: { 'x-v': value } });
  table([
    ['requestHeaders["x-v"] == prefix("ab")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == prefix("bc")', h('abc'), [false, false, false, false]],
    ['requestHeaders["x-v"] != prefix("bc")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == suffix("bc")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == suffix("ab")', h('abc'), [false, false, false, false]],
    ['requestHeaders["x-v"] == contains("b")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == contains("B")', h('abc'), [false, false, false, false]],
    ['requestHeaders["x-v"] == exact("abc")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == exact("ab")', h('abc'), [false, false, false, false]],
    ['requestHeaders["x-v"] == regex("^a.c$")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == regex("b")', h('abc'), [true, true, true, true]],
    ['requestHeaders["x-v"] == regex("^B", "i")', h('bcd'), [true, true, true, true]],
    ['requestHeaders["x-v"] == regex("\\\\d+")', h('a12'), [true, true, true, true]],
    ['requestHeaders["x-v"] != regex("^a")', h('abc'), [false, false, false, false]],
    ['requestHeaders["x-v"] == present()', h(''), [true, true, true, true]],
    ['requestHeaders["x-v"] != present()', h(''), [false, false, false, false]],
    ['present(requestHeaders["x-v"])', h(''), [true, true, true, true]],
    ['!present(requestHeaders["x-v"])', h(''), [false, false, false, false]],
    ['present(requestHeaders["x-v"]) == false', h(''), [false, false, false, false]],
    ['present(route)', { route: '/x' }, [U, U, true, true]],
    ['present(status)', { status: 0 }, [U, U, false, false]],
    // An absent header matches no function, so != holds.
    ['requestHeaders["x-v"] == prefix("")', {}, [false, false, false, false]],
    ['requestHeaders["x-v"] != contains("a")', {}, [true, true, true, true]],
    ['requestHeaders["x-v"] == present()', {}, [false, false, false, false]],
    ['present(requestHeaders["x-v"])', {}, [false, false, false, false]],
    ['method == prefix("po")', { method: 'POST' }, [true, true, true, true]],
  ]);

  test('a regex keeps no state between evaluations', () => {
    const rule = compileRule('path == regex("o")');
    for (let i = 0; i < 3; i++) assert.equal(rule.evaluate(view(), 0), true);
  });
});

describe('bare operands hold when present and not empty', () => {
  table([
    ['route', { route: '/orders/:id' }, [U, U, true, true]],
    ['route', { route: '' }, [U, U, false, false]],
    ['route', {}, [U, U, false, false]],
    ['requestHeaders["x-debug"]', { requestHeaders: { 'x-debug': '' } }, [false, false, false, false]],
    ['requestHeaders["x-debug"]', { requestHeaders: { 'x-debug': '0' } }, [true, true, true, true]],
    ['!requestHeaders["x-debug"]', {}, [true, true, true, true]],
    ['status', { status: 200 }, [U, U, true, true]],
    ['true', {}, [true, true, true, true]],
    ['false', {}, [false, false, false, false]],
  ]);
});

describe('bodies', () => {
  table([
    ['requestBody == contains("card")', { requestBody: '{"card":1}' }, [U, true, true, true]],
    ['requestBody == contains("card")', { requestBody: '{}' }, [U, false, false, false]],
    ['requestBody == contains("card")', {}, [U, false, false, false]],
    ['present(requestBody)', {}, [U, false, false, false]],
    ['responseBody == regex("\\"error\\"")', { responseBody: '{"error":"x"}' }, [U, U, U, true]],
    ['responseBody', { responseBody: '' }, [U, U, U, false]],
  ]);
});

describe('Kleene logic', () => {
  // U is `status == 500` before the response: not known yet.
  const terms = { T: 'true', F: 'false', U: 'status == 500' } as const;
  const value = { T: true, F: false, U: undefined } as const;
  type V = keyof typeof terms;
  const AND: Record<`${V}${V}`, V> = { TT: 'T', TF: 'F', TU: 'U', FT: 'F', FF: 'F', FU: 'F', UT: 'U', UF: 'F', UU: 'U' };
  const OR: Record<`${V}${V}`, V> = { TT: 'T', TF: 'T', TU: 'T', FT: 'T', FF: 'F', FU: 'U', UT: 'T', UF: 'U', UU: 'U' };
  const NOT: Record<V, V> = { T: 'F', F: 'T', U: 'U' };
  const at = (rule: string) => compileRule(rule).evaluate(view({ status: 500 }), PHASE_REQUEST_HEADERS);
  for (const a of ['T', 'F', 'U'] as const) {
    test(`!${a} is ${NOT[a]}`, () => assert.equal(at(`!(${terms[a]})`), value[NOT[a]]));
    for (const b of ['T', 'F', 'U'] as const) {
      test(`${a} && ${b} is ${AND[`${a}${b}`]}; ${a} || ${b} is ${OR[`${a}${b}`]}`, () => {
        assert.equal(at(`${terms[a]} && ${terms[b]}`), value[AND[`${a}${b}`]]);
        assert.equal(at(`${terms[a]} || ${terms[b]}`), value[OR[`${a}${b}`]]);
      });
    }
  }
  table([
    ['status == 500 && true && false', { status: 500 }, [false, false, false, false]],
    ['false || status == 500 || false', { status: 500 }, [U, U, true, true]],
    ['(status == 500) == true', { status: 500 }, [U, U, true, true]],
    ['(status == 500) != (method == "GET")', { status: 500 }, [U, U, false, false]],
  ]);
  test('precedence: ! over comparisons over && over ||', () => {
    const v = view({ method: 'GET', status: 500 });
    assert.equal(compileRule('true || false && false').evaluate(v, 3), true);
    assert.equal(compileRule('(true || false) && false').evaluate(v, 3), false);
    assert.equal(compileRule('!false && status == 500').evaluate(v, 3), true);
    assert.equal(compileRule('!(method == "GET") || status in [500]').evaluate(v, 3), true);
  });
});

describe('deciding early', () => {
  test('a GET is ruled out at request headers, without asking for the status', () => {
    const rule = compileRule('method == "POST" && status >= 500');
    const get = view({ method: 'GET', status: 500 });
    assert.equal(rule.evaluate(get, PHASE_REQUEST_HEADERS), false);
    assert.equal(get.reads, 1);
    const post = view({ method: 'POST', status: 500 });
    assert.equal(rule.evaluate(post, PHASE_REQUEST_HEADERS), undefined);
    assert.equal(rule.evaluate(post, PHASE_RESPONSE_HEADERS), true);
  });

  test('an operand of a later phase is not read', () => {
    const v = view({ status: 500, durationMs: 5, responseBody: 'x', requestBody: 'y' });
    const rules = ['status >= 500', DEFAULT_RULE, 'duration > 1', 'responseBody == contains("x")', 'requestBody', 'route'];
    for (const rule of rules) assert.equal(compileRule(rule).evaluate(v, PHASE_REQUEST_HEADERS), undefined, rule);
    assert.equal(v.reads, 0);
  });

  test('true || <later> is decided at once', () => {
    assert.equal(compileRule('method == "GET" || responseBody == contains("x")').evaluate(view(), 0), true);
  });
});

describe('what a rule reads', () => {
  const rows: Array<[rule: string, lastPhase: Phase, needsRequestBody: boolean, needsResponseBody: boolean]> = [
    ['true', 0, false, false],
    ['method == "POST"', 0, false, false],
    ['requestHeaders[":authority"] == "a"', 0, false, false],
    ['requestBody == contains("x")', 1, true, false],
    [DEFAULT_RULE, 2, false, false],
    ['route == "/a" || method == "GET"', 2, false, false],
    ['method == "POST" && status >= 500', 2, false, false],
    ['duration > 1000', 3, false, false],
    ['present(responseBody)', 3, false, true],
    ['requestBody == contains("a") && responseBody == contains("b")', 3, true, true],
  ];
  for (const [rule, lastPhase, needsRequestBody, needsResponseBody] of rows) {
    test(rule, () => {
      const compiled = compileRule(rule, 'r1');
      assert.deepEqual(
        {
          source: compiled.source,
          name: compiled.name,
          lastPhase: compiled.lastPhase,
          needsRequestBody: compiled.needsRequestBody,
          needsResponseBody: compiled.needsResponseBody,
        },
        { source: rule, name: 'r1', lastPhase, needsRequestBody, needsResponseBody },
      );
    });
  }

  test("the name defaults to 'default'", () => {
    assert.equal(compileRule('true').name, 'default');
  });
});

describe('evaluate never throws', () => {
  const broken: ExchangeView = {
    get method(): string {
      throw new Error('boom');
    },
    get path(): string {
      throw new Error('boom');
    },
    get url(): string {
      throw new Error('boom');
    },
    get service(): string {
      throw new Error('boom');
    },
    get status(): number {
      throw new Error('boom');
    },
    get durationMs(): number {
      throw new Error('boom');
    },
    get route(): string {
      throw new Error('boom');
    },
    requestHeader() {
      throw new Error('boom');
    },
    responseHeader() {
      throw new Error('boom');
    },
    requestBody() {
      throw new Error('boom');
    },
    responseBody() {
      throw new Error('boom');
    },
    requestTrailer() {
      throw new Error('boom');
    },
    responseTrailer() {
      throw new Error('boom');
    },
    requestBodyBytes() {
      throw new Error('boom');
    },
    responseBodyBytes() {
      throw new Error('boom');
    },
  };
  for (const rule of [DEFAULT_RULE, 'method == "GET"', 'requestHeaders["a"] in ["b"]', 'present(responseBody)', 'duration > 1', '!route']) {
    test(rule, () => {
      const before = internalErrorCount();
      assert.equal(compileRule(rule).evaluate(broken, PHASE_RESPONSE_END), false);
      assert.equal(internalErrorCount(), before + 1, 'the failure is counted');
    });
  }
});

describe('syntax errors', () => {
  const rows: Array<[rule: string, message: string]> = [
    [
      'responseHeaders[":status"] == ',
      `httploop: rule syntax error at 1:31: expected a string, number or function after '=='
  responseHeaders[":status"] == 
                                ^`,
    ],
    [
      'status >= ',
      `httploop: rule syntax error at 1:11: expected a number or string after '>='
  status >= 
            ^`,
    ],
    [
      '',
      `httploop: rule syntax error at 1:1: the rule is empty; expected a condition, as in status >= 500
  
  ^`,
    ],
    [
      'methd == "GET"',
      `httploop: rule syntax error at 1:1: unknown operand 'methd'; operands are requestHeaders["name"], responseHeaders["name"], method, path, status, duration, route, service, requestBody, responseBody, requestTrailers["name"], responseTrailers["name"]
  methd == "GET"
  ^`,
    ],
    [
      'status >= 500 and method == "GET"',
      `httploop: rule syntax error at 1:15: expected '&&', '||' or the end of the rule, found 'and'
  status >= 500 and method == "GET"
                ^`,
    ],
    [
      'not status',
      `httploop: rule syntax error at 1:1: unknown operand 'not'; did you mean '!'?
  not status
  ^`,
    ],
    [
      'path == startsWith("/a")',
      `httploop: rule syntax error at 1:9: unknown function 'startsWith'; functions are prefix, suffix, contains, regex, exact, present
  path == startsWith("/a")
          ^`,
    ],
    [
      'method = "GET"',
      `httploop: rule syntax error at 1:8: unexpected '='; did you mean '=='?
  method = "GET"
         ^`,
    ],
    [
      'method === "GET"',
      `httploop: rule syntax error at 1:8: there is no '===' in rules; use '=='
  method === "GET"
         ^`,
    ],
    [
      'status >= 500 & method == "GET"',
      `httploop: rule syntax error at 1:15: unexpected '&'; did you mean '&&'?
  status >= 500 & method == "GET"
                ^`,
    ],
    [
      'status >= 500 | method == "GET"',
      `httploop: rule syntax error at 1:15: unexpected '|'; did you mean '||'?
  status >= 500 | method == "GET"
                ^`,
    ],
    [
      'method == "GET" # comment',
      `httploop: rule syntax error at 1:17: unexpected character '#'
  method == "GET" # comment
                  ^`,
    ],
    [
      'method == "GET',
      `httploop: rule syntax error at 1:11: unterminated string: expected a closing "
  method == "GET
            ^`,
    ],
    [
      'path == regex("\\d")',
      `httploop: rule syntax error at 1:16: unknown escape '\\d' in a string; strings know \\" \\' \\\\ \\n \\t (a backslash itself is \\\\, as in regex("\\\\d+"))
  path == regex("\\d")
                 ^`,
    ],
    [
      'status == 5xx',
      `httploop: rule syntax error at 1:11: '5xx' is not a number; put text in quotes
  status == 5xx
            ^`,
    ],
    [
      'status == "5xx"',
      `httploop: rule syntax error at 1:11: status is a number and "5xx" is not; for a class of statuses use status == prefix("5")
  status == "5xx"
            ^`,
    ],
    [
      'duration > "slow"',
      `httploop: rule syntax error at 1:12: duration is a number and "slow" is not
  duration > "slow"
             ^`,
    ],
    [
      'status in [500, "5xx"]',
      `httploop: rule syntax error at 1:17: status is a number; the list may only hold numbers
  status in [500, "5xx"]
                  ^`,
    ],
    [
      'status == true',
      `httploop: rule syntax error at 1:11: status is a number, not true or false
  status == true
            ^`,
    ],
    [
      'requestHeaders["x"] > true',
      `httploop: rule syntax error at 1:23: '>' compares numbers or strings, not true or false
  requestHeaders["x"] > true
                        ^`,
    ],
    [
      'requestHeaders.host == "a"',
      `httploop: rule syntax error at 1:15: expected '[' after 'requestHeaders', as in requestHeaders["content-type"]
  requestHeaders.host == "a"
                ^`,
    ],
    [
      'requestHeaders[host] == "a"',
      `httploop: rule syntax error at 1:16: expected a header name in quotes, as in requestHeaders["content-type"]
  requestHeaders[host] == "a"
                 ^`,
    ],
    [
      'requestHeaders["host" == "a"',
      `httploop: rule syntax error at 1:23: expected ']' after the header name, found '=='
  requestHeaders["host" == "a"
                        ^`,
    ],
    [
      'requestHeaders[""] == "a"',
      `httploop: rule syntax error at 1:16: the header name is empty
  requestHeaders[""] == "a"
                 ^`,
    ],
    [
      'requestHeaders[":status"] == "500"',
      `httploop: rule syntax error at 1:16: requestHeaders has no ':status'; use responseHeaders[":status"]
  requestHeaders[":status"] == "500"
                 ^`,
    ],
    [
      'responseHeaders[":path"] == "/"',
      `httploop: rule syntax error at 1:17: responseHeaders has no ':path'; use requestHeaders[":path"]
  responseHeaders[":path"] == "/"
                  ^`,
    ],
    [
      'requestHeaders[":host"] == "a"',
      `httploop: rule syntax error at 1:16: unknown pseudo-header ':host'; requestHeaders has :method :path :authority :scheme
  requestHeaders[":host"] == "a"
                 ^`,
    ],
    [
      'method["x"] == "a"',
      `httploop: rule syntax error at 1:7: 'method' has no [...]; only the headers and trailers operands do
  method["x"] == "a"
        ^`,
    ],
    [
      'method() == "a"',
      `httploop: rule syntax error at 1:7: 'method' is an operand, not a function
  method() == "a"
        ^`,
    ],
    [
      '(status >= 500 || duration > 10',
      `httploop: rule syntax error at 1:32: expected ')' to close the '(' at 1:1, found the end of the rule
  (status >= 500 || duration > 10
                                 ^`,
    ],
    [
      'status >= 500)',
      `httploop: rule syntax error at 1:14: expected '&&', '||' or the end of the rule, found ')'
  status >= 500)
               ^`,
    ],
    [
      'status >= 500 && ',
      `httploop: rule syntax error at 1:18: expected an operand, a value, '!' or '(' after '&&', found the end of the rule
  status >= 500 && 
                   ^`,
    ],
    [
      '500 < status < 600',
      `httploop: rule syntax error at 1:14: comparisons cannot be chained; join them with '&&'
  500 < status < 600
               ^`,
    ],
    [
      'method in "GET"',
      `httploop: rule syntax error at 1:11: expected '[' after 'in', as in method in ["GET", "HEAD"]
  method in "GET"
            ^`,
    ],
    [
      'method in ["GET" "HEAD"]',
      `httploop: rule syntax error at 1:18: expected ',' or ']' in the list, found '"HEAD"'
  method in ["GET" "HEAD"]
                   ^`,
    ],
    [
      'method in [path]',
      `httploop: rule syntax error at 1:12: expected a string or number in the list, found 'path'
  method in [path]
             ^`,
    ],
    [
      'in ["GET"]',
      `httploop: rule syntax error at 1:1: expected an operand before 'in'
  in ["GET"]
  ^`,
    ],
    [
      '"GET" in ["GET"]',
      `httploop: rule syntax error at 1:1: 'in' needs an operand on its left, as in method in ["GET", "HEAD"]
  "GET" in ["GET"]
  ^`,
    ],
    [
      'prefix("/api")',
      `httploop: rule syntax error at 1:1: prefix() is a matcher: put it on the right of '==' or '!=', as in path == prefix("/api")
  prefix("/api")
  ^`,
    ],
    [
      'status > prefix("5")',
      `httploop: rule syntax error at 1:10: prefix() can only follow '==' or '!=', not '>'
  status > prefix("5")
           ^`,
    ],
    [
      'path == prefix',
      `httploop: rule syntax error at 1:15: expected '(' after 'prefix'
  path == prefix
                ^`,
    ],
    [
      'path == prefix(5)',
      `httploop: rule syntax error at 1:16: expected a string in quotes: prefix("text")
  path == prefix(5)
                 ^`,
    ],
    [
      'path == prefix("a", "b")',
      `httploop: rule syntax error at 1:19: expected ')' after the argument: prefix("text")
  path == prefix("a", "b")
                    ^`,
    ],
    [
      'path == regex("a", "g")',
      `httploop: rule syntax error at 1:20: regex() flag 'g' is not allowed; use any of i, m, s, u
  path == regex("a", "g")
                     ^`,
    ],
    [
      'present()',
      `httploop: rule syntax error at 1:1: present() needs an operand here, as in present(requestHeaders["x-debug"])
  present()
  ^`,
    ],
    [
      'present("x")',
      `httploop: rule syntax error at 1:9: expected an operand inside present(), as in present(requestHeaders["x-debug"])
  present("x")
          ^`,
    ],
    [
      '"x" == prefix("a")',
      `httploop: rule syntax error at 1:1: prefix() matches an operand, as in path == prefix("/api")
  "x" == prefix("a")
  ^`,
    ],
    [
      '"500"',
      `httploop: rule syntax error at 1:1: a string alone is not a condition; compare it with an operand, as in status == 500
  "500"
  ^`,
    ],
    [
      '1 == 1',
      `httploop: rule syntax error at 1:1: both sides are constants; compare an operand, as in status == 500
  1 == 1
  ^`,
    ],
    [
      '!method == "GET"',
      `httploop: rule syntax error at 1:1: '!' applies to 'method' alone; to negate the comparison, put it in parentheses: !(a == b)
  !method == "GET"
  ^`,
    ],
    [
      '(status >= 500) == "yes"',
      `httploop: rule syntax error at 1:2: a condition can only be compared with true, false or another condition
  (status >= 500) == "yes"
   ^`,
    ],
    [
      '(status >= 500) < true',
      `httploop: rule syntax error at 1:17: '<' compares numbers or strings, not conditions
  (status >= 500) < true
                  ^`,
    ],
    [
      'status >= 500 &&\n\tmethod = "GET"',
      `httploop: rule syntax error at 2:9: unexpected '='; did you mean '=='?
  \tmethod = "GET"
  \t       ^`,
    ],
    [
      `${'('.repeat(101)}true${')'.repeat(101)}`,
      `httploop: rule syntax error at 1:101: the rule nests deeper than 100 levels
  ${'('.repeat(101)}true${')'.repeat(101)}
  ${' '.repeat(100)}^`,
    ],
  ];
  for (const [rule, message] of rows) {
    test(JSON.stringify(rule), () => {
      assert.throws(
        () => compileRule(rule),
        (err: unknown) => {
          assert.ok(err instanceof RuleSyntaxError);
          assert.ok(err instanceof LoopError);
          const [, line, column] = /at (\d+):(\d+):/.exec(message)!;
          assert.deepEqual(
            { code: err.code, message: err.message, line: err.line, column: err.column },
            { code: codes.RULE_SYNTAX, message, line: Number(line), column: Number(column) },
          );
          return true;
        },
      );
    });
  }

  test('an invalid regex is refused at compile time, with the cause', () => {
    assert.throws(
      () => compileRule('path == regex("(a")'),
      (err: unknown) => {
        assert.ok(err instanceof RuleSyntaxError);
        assert.equal(
          err.message,
          `httploop: rule syntax error at 1:15: invalid regular expression /(a/: Unterminated group
  path == regex("(a")
                ^`,
        );
        assert.ok(err.cause instanceof SyntaxError);
        return true;
      },
    );
  });

  test('the rule name is in the message', () => {
    assert.throws(() => compileRule('status >', 'slow-posts'), {
      code: codes.RULE_SYNTAX,
      message: `httploop: rule "slow-posts" syntax error at 1:9: expected a number or string after '>'
  status >
          ^`,
    });
  });

  test('a rule that is not a string', () => {
    assert.throws(() => compileRule(42 as unknown as string), {
      code: codes.RULE_SYNTAX,
      message: 'httploop: a rule must be a string, got number',
    });
  });
});
