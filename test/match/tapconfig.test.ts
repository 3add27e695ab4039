// TapConfig resources and files: the normal form of valid ones, and every problem of invalid ones at
// its file:line:column.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkMatch } from '../../src/match/check-match.js';
import { formatFileProblem, loadTapConfigText } from '../../src/match/tapconfig-file.js';
import { validateTapConfig } from '../../src/match/tapconfig.js';

/** The problems of a file as the CLI prints them. */
function problems(text: string, file = 'tap.yaml'): string[] {
  return loadTapConfigText(text, file, checkMatch).problems.map(formatFileProblem);
}

function configs(text: string, file = 'tap.yaml') {
  const loaded = loadTapConfigText(text, file, checkMatch);
  assert.deepEqual(loaded.problems, []);
  return loaded.configs;
}

describe('valid TapConfigs', () => {
  test("the seed's TapConfig, verbatim", () => {
    const text = `apiVersion: loop.solo.io/v1
kind: TapConfig
metadata:
  name: gloo
  namespace: loop-system
spec:
  match: responseHeaders[":status"] == prefix("5")
`;
    assert.deepEqual(configs(text), [
      {
        apiVersion: 'loop.solo.io/v1',
        kind: 'TapConfig',
        metadata: { name: 'gloo', namespace: 'loop-system' },
        spec: { match: 'responseHeaders[":status"] == prefix("5")' },
      },
    ]);
  });

  test('every field, several resources per file, an empty trailing document', () => {
    const text = `apiVersion: httploop/v1
kind: TapConfig
metadata:
  name: checkout-errors
  labels: { team: payments }
  annotations: { owner: "ops@example.com" }
spec:
  match: |
    method == "POST"
      && status >= 500
  services: [checkout, web]
  sample: 0.25
  maxPerMinute: 60
  body:
    maxBytes: { request: 8192, response: 65536 }
  redact:
    headers: [x-session]
    fields: [ssn]
    query: [sig]
  outbound: false
---
apiVersion: httploop/v1
kind: TapConfig
metadata: { name: slow }
spec: { match: duration > 2000, body: { maxBytes: 0 } }
---
`;
    assert.deepEqual(configs(text), [
      {
        apiVersion: 'httploop/v1',
        kind: 'TapConfig',
        metadata: { name: 'checkout-errors', labels: { team: 'payments' }, annotations: { owner: 'ops@example.com' } },
        spec: {
          match: 'method == "POST"\n  && status >= 500\n',
          services: ['checkout', 'web'],
          sample: 0.25,
          maxPerMinute: 60,
          body: { maxBytes: { request: 8192, response: 65536 } },
          redact: { headers: ['x-session'], fields: ['ssn'], query: ['sig'] },
          outbound: false,
        },
      },
      { apiVersion: 'httploop/v1', kind: 'TapConfig', metadata: { name: 'slow' }, spec: { match: 'duration > 2000', body: { maxBytes: 0 } } },
    ]);
  });

  test('JSON files, a list of resources, and kind: List with items', () => {
    const one = { apiVersion: 'httploop/v1', kind: 'TapConfig', metadata: { name: 'a' }, spec: { match: 'status >= 500' } };
    const two = { ...one, metadata: { name: 'b' } };
    assert.deepEqual(configs(JSON.stringify(one), 'tap.json'), [one]);
    assert.deepEqual(configs(JSON.stringify([one, two], null, 2), 'tap.json'), [one, two]);
    assert.deepEqual(configs(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [one, two] })), [one, two]);
  });

  test('an Envoy match predicate as spec.match', () => {
    const text = `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: envoy-style }
spec:
  match:
    http_response_headers_match:
      headers:
        - name: ":status"
          string_match: { prefix: "5" }
`;
    assert.deepEqual(configs(text)[0]!.spec.match, {
      http_response_headers_match: { headers: [{ name: ':status', string_match: { prefix: '5' } }] },
    });
  });
});

describe('problems, each at its file:line:column', () => {
  const rows: Array<[title: string, text: string, expected: string[]]> = [
    [
      'an unknown field points at its name, with a suggestion',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec:
  match: status >= 500
  smaple: 0.5
`,
      [
        "tap.yaml:6:3: unknown field 'smaple' in spec; did you mean 'sample'? (known: match, services, sample, maxPerMinute, body, redact, outbound)",
      ],
    ],
    [
      'every problem of every resource, not just the first',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec:
  match: status >= 500
  sample: 1.5
  maxPerMinute: 0
  services: [web, ""]
---
apiVersion: loop.solo.io/v2
kind: Tapconfig
metadata: { name: b, nmespace: x }
spec: { match: "status >= 500", outbound: "yes", body: { maxBytes: { req: 1 } } }
`,
      [
        'tap.yaml:6:11: spec.sample must be a number from 0 to 1 (0.1 keeps one matching exchange in ten); got 1.5',
        'tap.yaml:7:17: spec.maxPerMinute must be a whole number from 1 to 1000000 (to capture nothing, use sample: 0); got 0',
        "tap.yaml:8:19: spec.services[1] must be a non-empty service name; got ''",
        "tap.yaml:10:13: apiVersion must be httploop/v1 or loop.solo.io/v1; got 'loop.solo.io/v2'",
        "tap.yaml:11:7: kind must be TapConfig; got 'Tapconfig'",
        "tap.yaml:12:22: unknown field 'nmespace' in metadata; did you mean 'namespace'? (known: name, namespace, labels, annotations)",
        "tap.yaml:13:43: spec.outbound must be true or false; got 'yes'",
        "tap.yaml:13:70: unknown field 'req' in spec.body.maxBytes; did you mean 'request'? (known: request, response)",
      ],
    ],
    [
      'a rule syntax error points into the rule, in a plain scalar',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec:
  match: responseHeaders[":status"] = prefix("5")
`,
      ["tap.yaml:5:37: spec.match: rule syntax error at 1:28: unexpected '='; did you mean '=='?"],
    ],
    [
      'in a quoted scalar',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec:
  match: 'status >= 500 &&'
`,
      ["tap.yaml:5:27: spec.match: rule syntax error at 1:17: expected an operand, a value, '!' or '(' after '&&', found the end of the rule"],
    ],
    [
      'in a literal block, on its own line',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec:
  match: |
    method == "POST"
      && statsu >= 500
`,
      [
        'tap.yaml:7:10: spec.match: rule syntax error at 2:6: unknown operand \'statsu\'; operands are requestHeaders["name"], responseHeaders["name"], method, path, status, duration, route, service, requestBody, responseBody, requestTrailers["name"], responseTrailers["name"]',
      ],
    ],
    [
      'missing parts point at the mapping that lacks them',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: {}
spec: {}
`,
      [
        "tap.yaml:3:11: metadata.name must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters), as in checkout-errors; got nothing",
        'tap.yaml:4:7: spec.match is missing: say what to capture, as in match: responseHeaders[":status"] == prefix("5")',
      ],
    ],
    [
      'one name twice in a file',
      `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec: { match: "true" }
---
apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec: { match: "false" }
`,
      ["tap.yaml:8:19: metadata.name 'a' is used twice in this file (first at line 3)"],
    ],
    ['YAML that does not parse', 'spec: [1,\nkind: x\n', ['tap.yaml:2:1: not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ]']],
    ['a duplicated key', 'kind: TapConfig\nkind: TapConfig\n', ['tap.yaml:2:1: not valid YAML or JSON: Map keys must be unique']],
    ['an empty file', '', ['tap.yaml:1:1: no TapConfig in this file']],
    ['not a mapping', '- 1\n', ['tap.yaml:1:3: a TapConfig must be a mapping with apiVersion, kind, metadata and spec; got 1']],
  ];
  for (const [title, text, expected] of rows) {
    test(title, () => {
      assert.deepEqual(problems(text), expected);
      assert.deepEqual(loadTapConfigText(text, 'tap.yaml', checkMatch).configs, [], 'nothing is valid when anything is not');
    });
  }

  test('an Envoy predicate problem points at its field', () => {
    const text = `apiVersion: httploop/v1
kind: TapConfig
metadata: { name: a }
spec:
  match:
    and_match:
      rules:
        - any_match: true
        - http_request_headers_match:
            headers:
              - name: x-debug
                string_match: { exactly: "1" }
`;
    const found = problems(text);
    assert.deepEqual(found, [
      "tap.yaml:12:33: unknown field 'exactly' in string_match; did you mean 'exact'? (known: exact, prefix, suffix, safe_regex, contains, ignore_case)",
    ]);
  });
});

test('validateTapConfig drops nothing it was given and adds no defaults', () => {
  const value = { apiVersion: 'httploop/v1', kind: 'TapConfig', metadata: { name: 'a' }, spec: { match: 'true', sample: 0 } };
  assert.deepEqual(validateTapConfig(value, checkMatch), { config: value, problems: [] });
});
