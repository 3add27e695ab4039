import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loop } from '../../middleware/index.js';
import { loop as koaLoop } from '../../adapters/koa.js';
import { resolveOptions } from '../../src/options.js';

describe('loop() options', () => {
  // Every invalid option fails at construction, with a coded error whose message names the fix.
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', 'web', /loop\(\) takes an options object, got 'web'/],
    ['unknown key', { servcie: 'x' }, /unknown option 'servcie' in loop\(\); did you mean 'service'\?/],
    ['empty service', { service: ' ' }, /'service' must be a non-empty string/],
    ['bad collector', { collector: 'not a url' }, /'collector' must be an http\(s\) URL such as http:\/\/127\.0\.0\.1:5678/],
    ['ftp collector', { collector: 'ftp://x' }, /'collector' must use http: or https:/],
    ['token with newline', { token: 'a\nb' }, /'token' must be a non-empty string on one line/],
    [
      'match neither a rule nor a predicate',
      { match: 500 },
      /'match' must be a rule expression such as 'status >= 500', or an Envoy match predicate object, got 500/,
    ],
    ['rule syntax', { match: 'status >=' }, /rule "match" syntax error at 1:10: expected a number or string after '>='/],
    ['negative body limit', { maxBodyBytes: -1 }, /'maxBodyBytes' must be a whole number of bytes >= 0/],
    ['body limit key', { maxBodyBytes: { req: 1 } }, /unknown option 'req' in 'maxBodyBytes'; did you mean 'request'\?/],
    ['redact list', { redact: { headers: 'authorization' } }, /'redact.headers' must be an array of names/],
    ['redact key', { redact: { body: [] } }, /unknown option 'body' in 'redact'/],
    ['enabled', { enabled: 'yes' }, /'enabled' must be true or false/],
    ['queue zero', { queue: { maxCaptures: 0 } }, /'queue.maxCaptures' must be a whole number >= 1/],
    ['diagnostics not an object', { diagnostics: 'secret' }, /'diagnostics' must be \{ token: '<at least 16 characters>' \}, got 'secret'/],
    ['diagnostics key', { diagnostics: { tokn: 'x' } }, /unknown option 'tokn' in 'diagnostics'; did you mean 'token'\?/],
    ['short diagnostics token', { diagnostics: { token: 'short' } }, /'diagnostics.token' must be a string of at least 16 characters .*got 5 characters/],
    ['traceResponse', { traceResponse: 'no' }, /'traceResponse' must be true or false/],
  ];
  for (const [name, options, message] of cases) {
    it(`rejects ${name}`, () => {
      for (const make of [loop, koaLoop]) {
        assert.throws(
          () => make(options as never),
          (err: Error & { code?: string }) => {
            assert.match(err.message, message);
            assert.match(err.code ?? '', /^LOOP_ERR_(INVALID_OPTION|RULE_SYNTAX)$/);
            return true;
          },
        );
      }
    });
  }

  it('takes defaults from the environment', () => {
    const r = resolveOptions({}, { LOOP_COLLECTOR: 'http://127.0.0.1:7000', LOOP_TOKEN: 't', LOOP_SERVICE: 'svc', LOOP_DISABLED: '1' });
    assert.equal(r.collector.href, 'http://127.0.0.1:7000/');
    assert.equal(r.token, 't');
    assert.equal(r.service, 'svc');
    assert.equal(r.enabled, false);
    const d = resolveOptions(undefined, {});
    assert.equal(d.collector.href, 'http://127.0.0.1:5678/');
    assert.equal(d.enabled, true);
    assert.equal(d.maxRequestBodyBytes, 65536);
    assert.equal(d.service, 'httploop', 'the name in ./package.json');
    assert.equal(resolveOptions({ enabled: true }, { LOOP_DISABLED: '1' }).enabled, true, 'an explicit option wins');
    assert.equal(d.diagToken, undefined, 'diagnostics are off by default');
    assert.equal(d.traceResponse, true);
    assert.equal(resolveOptions({}, { LOOP_DIAG_TOKEN: 'x'.repeat(16) }).diagToken, 'x'.repeat(16));
    assert.throws(() => resolveOptions({}, { LOOP_DIAG_TOKEN: 'short' }), /at least 16 characters/);
  });
});
