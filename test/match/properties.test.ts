/**
 * Property-based tests (fast-check) of the rule language in src/match: lexer, parser, printer and
 * compiler together, through compileRule and formatRule.
 *
 * 1. Any input compiles or fails with a well-formed RuleSyntaxError, in bounded time: never a
 *    TypeError, never a stack overflow, whatever the text (random unicode, soups of the language's own
 *    tokens, mutated valid rules, deep nesting, 10 000-character chains).
 * 2. Printing is canonical: formatRule is idempotent, and the printed rule compiles to the same
 *    verdicts as the rule as written, at every phase, on generated exchanges.
 * 3. Evaluation is decided as early as data allows: it never fails, answers only true, false or
 *    undefined, is decided at `lastPhase` (and so at the response end), and never changes its mind.
 *
 * When a property fails, fast-check prints the seed and the shrunk counterexample: that is a bug in
 * src/match, not in the property.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { internalErrorCount } from '../../src/debug.js';
import { codes, LoopError } from '../../src/errors.js';
import { compileRule, formatRule, RuleSyntaxError, type CompiledRule, type Phase } from '../../src/match/index.js';
import { view, type ViewInit } from './view.js';

const PHASES: readonly Phase[] = [0, 1, 2, 3];
/** The longest input the properties feed to the compiler, in UTF-16 code units. */
const MAX_INPUT = 10_000;
/** Generous: one 10 000-character rule compiles in a few milliseconds. */
const TIME_LIMIT_MS = 1000;
/** The parser's MAX_DEPTH (src/match/parser.ts). */
const MAX_DEPTH = 100;

/** fc.assert, with the assertion that failed shown next to the counterexample. */
function check<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, numRuns: number): void {
  fc.assert(property, { numRuns, includeErrorInReport: true });
}

// ---------------------------------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------------------------------

function shown(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** Runs `run`, asserting that it returned or threw within TIME_LIMIT_MS. */
function timed<T>(what: string, source: string, run: () => T): T {
  const start = performance.now();
  let failure: { err: unknown } | undefined;
  let result: T | undefined;
  try {
    result = run();
  } catch (err) {
    failure = { err };
  }
  const ms = performance.now() - start;
  assert.ok(ms < TIME_LIMIT_MS, `${what} took ${ms.toFixed(0)} ms on ${source.length} characters`);
  if (failure !== undefined) throw failure.err;
  return result as T;
}

/** Asserts that `err` is the RuleSyntaxError that `source` deserves: code, line, column, caret. */
function assertSyntaxError(source: string, err: unknown): RuleSyntaxError {
  if (!(err instanceof RuleSyntaxError)) assert.fail(`expected a RuleSyntaxError, got ${shown(err)}`);
  assert.ok(err instanceof LoopError);
  assert.equal(err.code, codes.RULE_SYNTAX);
  assert.equal(err.code, 'LOOP_ERR_RULE_SYNTAX');
  const { line, column } = err;
  assert.ok(Number.isInteger(line) && line >= 1, `line ${line}`);
  assert.ok(Number.isInteger(column) && column >= 1, `column ${column}`);
  const lines = source.split('\n');
  assert.ok(line <= lines.length, `line ${line} of a ${lines.length}-line rule`);
  const sourceLine = lines[line - 1]!;
  assert.ok(column <= sourceLine.length + 1, `column ${column} of a ${sourceLine.length}-character line`);
  assert.ok(
    err.message.startsWith(`httploop: rule syntax error at ${line}:${column}: `),
    `message starts with the spot: ${err.message.slice(0, 200)}`,
  );
  // The message ends with the line of the spot and a caret under it.
  const messageLines = err.message.split('\n');
  assert.ok(messageLines.length >= 3, 'the message shows the line and a caret');
  const shownLine = sourceLine.replace(/\r$/, '');
  assert.equal(messageLines[messageLines.length - 2], `  ${shownLine}`);
  const caret = messageLines[messageLines.length - 1]!;
  assert.match(caret, /^ {2}[ \t]*\^$/, 'the last line of the message is a caret');
  assert.equal(caret.length - 3, Math.min(column - 1, shownLine.length), 'the caret stands under the spot');
  return err;
}

type Outcome = { rule: CompiledRule; error?: undefined } | { rule?: undefined; error: RuleSyntaxError };

/** compileRule(source): a rule, or a well-formed RuleSyntaxError; anything else fails the property. */
function compileOutcome(source: string): Outcome {
  try {
    return { rule: timed('compileRule', source, () => compileRule(source)) };
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return { error: assertSyntaxError(source, err) };
  }
}

/** A rule's answers at the four phases; asserts that evaluation raised no internal error. */
function answers(rule: CompiledRule, init: ViewInit): Array<boolean | undefined> {
  const v = view(init);
  const before = internalErrorCount();
  const result = PHASES.map((phase) => rule.evaluate(v, phase));
  assert.equal(internalErrorCount(), before, `evaluating ${JSON.stringify(rule.source)} raised an internal error`);
  return result;
}

/** Property 3: three-valued, decided at lastPhase (so at the response end), and never changing its mind. */
function assertDecidedAsEarlyAsDataAllows(rule: CompiledRule, init: ViewInit): void {
  const got = answers(rule, init);
  const where = `${JSON.stringify(rule.source)} on ${JSON.stringify(init)}: ${JSON.stringify(got.map(String))}`;
  for (const a of got) assert.ok(a === true || a === false || a === undefined, where);
  assert.ok(rule.lastPhase >= 0 && rule.lastPhase <= 3 && Number.isInteger(rule.lastPhase), where);
  assert.equal(typeof got[3], 'boolean', `undecided at the response end: ${where}`);
  assert.equal(typeof got[rule.lastPhase], 'boolean', `undecided at lastPhase ${rule.lastPhase}: ${where}`);
  for (let p = 0; p < 4; p++) {
    if (got[p] === undefined) continue;
    for (let q = p + 1; q < 4; q++) assert.equal(got[q], got[p], `changed its mind after phase ${p}: ${where}`);
  }
}

/**
 * Property 2: the canonical form is a fixed point of formatRule, and compiles to a rule that reads the
 * same data and gives the same verdicts at every phase.
 */
function assertPrintsFaithfully(source: string, rule: CompiledRule, inits: readonly ViewInit[]): void {
  const printed = timed('formatRule', source, () => formatRule(source));
  let reprinted: string;
  try {
    reprinted = formatRule(printed);
  } catch (err) {
    return assert.fail(`the printed rule ${JSON.stringify(printed)} of ${JSON.stringify(source)} does not parse: ${shown(err)}`);
  }
  assert.equal(reprinted, printed, `formatRule is not idempotent on ${JSON.stringify(source)}`);
  let again: CompiledRule;
  try {
    again = compileRule(printed);
  } catch (err) {
    return assert.fail(`the printed rule ${JSON.stringify(printed)} of ${JSON.stringify(source)} does not compile: ${shown(err)}`);
  }
  const what = `${JSON.stringify(source)} printed as ${JSON.stringify(printed)}`;
  assert.equal(again.lastPhase, rule.lastPhase, `lastPhase of ${what}`);
  assert.equal(again.needsRequestBody, rule.needsRequestBody, `needsRequestBody of ${what}`);
  assert.equal(again.needsResponseBody, rule.needsResponseBody, `needsResponseBody of ${what}`);
  for (const init of inits) {
    assert.deepEqual(answers(again, init), answers(rule, init), `verdicts of ${what} on ${JSON.stringify(init)}`);
  }
}

/** Property 1, and 2 and 3 for whatever happens to compile. */
function assertCompilesOrFailsCleanly(source: string, inits: readonly ViewInit[] = FIXED_VIEWS): Outcome {
  const outcome = compileOutcome(source);
  if (outcome.error !== undefined) {
    // formatRule throws the error compileRule does.
    let formatted: string | undefined;
    try {
      formatted = timed('formatRule', source, () => formatRule(source));
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assertSyntaxError(source, err);
      assert.equal((err as Error).message, outcome.error.message);
    }
    assert.equal(formatted, undefined, `formatRule printed a rule that compileRule refuses: ${JSON.stringify(source)}`);
    return outcome;
  }
  assertPrintsFaithfully(source, outcome.rule, inits);
  for (const init of inits) assertDecidedAsEarlyAsDataAllows(outcome.rule, init);
  return outcome;
}

// ---------------------------------------------------------------------------------------------------
// Exchanges
// ---------------------------------------------------------------------------------------------------

// Small pools shared by views and rules, so that rules match generated exchanges some of the time.
const METHODS = ['GET', 'POST', 'get', 'DELETE', 'HEAD'];
const PATHS = ['/', '/api/orders', '/orders/7', '/api/:id', '/json'];
const ROUTES = ['/api/:id', '/orders/:id', ''];
const SERVICES = ['orders', 'billing', ''];
const HEADER_VALUES = ['1', 'true', 'GET', 'application/json', 'text/html; charset=utf-8', '500', 'abc', '', 'example.com', 'https', '2.5'];
const REQUEST_HEADER_NAMES = ['x-debug', 'content-type', 'host', ':scheme', ':authority', 'content-length', 'x-a'];
const RESPONSE_HEADER_NAMES = ['content-type', 'x-debug', 'retry-after', 'x-a'];
const TRAILER_NAMES = ['grpc-status', 'x-debug'];
const BODIES = ['', 'abc', '{"a":1}', 'GET', '500'];

const headerValue = fc.constantFrom(...HEADER_VALUES);
const fieldsNamed = (names: string[]) => fc.dictionary(fc.constantFrom(...names), headerValue, { maxKeys: 3 });
const body = fc.oneof(fc.constantFrom(...BODIES), fc.string({ maxLength: 20 }));

/** A plain-object exchange for test/match/view.ts, every field optional. */
const exchangeViewInit: fc.Arbitrary<ViewInit> = fc.record(
  {
    method: fc.constantFrom(...METHODS),
    path: fc.constantFrom(...PATHS),
    url: fc.constantFrom('/api/orders?full=1', '/', '/orders/7'),
    service: fc.constantFrom(...SERVICES),
    // 0: the response never started.
    status: fc.constantFrom(0, 200, 204, 404, 500, 503),
    durationMs: fc.oneof(fc.constantFrom(0, 1.5, 2.5, 500, 2000), fc.double()),
    route: fc.constantFrom(...ROUTES),
    requestHeaders: fieldsNamed(REQUEST_HEADER_NAMES),
    responseHeaders: fieldsNamed(RESPONSE_HEADER_NAMES),
    requestTrailers: fieldsNamed(TRAILER_NAMES),
    responseTrailers: fieldsNamed(TRAILER_NAMES),
    requestBody: body,
    responseBody: body,
  },
  { requiredKeys: [] },
);

const someExchanges = fc.array(exchangeViewInit, { minLength: 1, maxLength: 4 });

/** For the properties over arbitrary text: a few exchanges, fixed. */
const FIXED_VIEWS: readonly ViewInit[] = [
  {},
  {
    method: 'POST',
    path: '/api/orders',
    status: 500,
    durationMs: 2000,
    route: '/api/:id',
    requestHeaders: { 'x-debug': '1', 'content-type': 'application/json' },
    responseHeaders: { 'content-type': 'application/json' },
    requestTrailers: { 'grpc-status': '1' },
    responseTrailers: { 'x-debug': 'true' },
    requestBody: '{"a":1}',
    responseBody: 'abc',
  },
  { method: 'get', status: 404, durationMs: 1.5, route: '', requestHeaders: { 'x-debug': '' } },
];

// ---------------------------------------------------------------------------------------------------
// Valid rules, from the grammar (src/match/parser.ts, lexer.ts)
// ---------------------------------------------------------------------------------------------------

/** What the lexer skips between tokens: any \s, line breaks included. */
const whitespace = fc.constantFrom('', '', '', ' ', ' ', '  ', '\t', '\n', '\r\n', ' \n\t ', '\u00a0', '\u2028', '\ufeff');

/** `parts` in order, with random whitespace between and around them. */
function spaced(...parts: Array<fc.Arbitrary<string> | string>): fc.Arbitrary<string> {
  const arbs = parts.map((p) => (typeof p === 'string' ? fc.constant(p) : p));
  return fc
    .tuple(fc.tuple(...arbs), fc.array(whitespace, { minLength: arbs.length + 1, maxLength: arbs.length + 1 }))
    .map(([texts, gaps]) => texts.map((t, i) => gaps[i] + t).join('') + gaps[texts.length]);
}

/** `value` as a string literal in `quote`, with the lexer's escapes (\" \' \\ \n \t); never a raw line break. */
function quoteAs(value: string, quote: '"' | "'", escapeOptional: boolean): string {
  let out = quote;
  for (const c of value) {
    if (c === quote || c === '\\') out += `\\${c}`;
    else if (c === '\n') out += '\\n';
    else if (c === '\t' && escapeOptional) out += '\\t';
    else if ((c === '"' || c === "'") && escapeOptional) out += `\\${c}`;
    else out += c;
  }
  return out + quote;
}

/** A string literal for one of `values`, in single or double quotes, escaped more or less. */
function stringLiteral(values: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(values, fc.constantFrom<'"' | "'">('"', "'"), fc.boolean())
    .map(([value, quote, escapeOptional]) => quoteAs(value.replace(/\r/g, ''), quote, escapeOptional));
}

/** Text for literals and matcher arguments: the pools, the characters that need escaping, anything. */
const textValue = fc.oneof(
  { arbitrary: fc.constantFrom(...METHODS, ...PATHS, ...ROUTES, ...HEADER_VALUES, ...BODIES, 'json', '5', '/api', 'x'), weight: 6 },
  { arbitrary: fc.string({ unit: fc.constantFrom('"', "'", '\\', '\n', '\t', 'a', 'é', '😀', '\u2028', ' '), maxLength: 6 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 4 }), weight: 1 },
);

/** Number literals as the lexer reads them: -?digits[.digits], huge ones (Infinity as a double) included. */
const numberLiteral = fc.oneof(
  { arbitrary: fc.constantFrom('0', '1', '200', '404', '500', '503', '2000', '1.5', '2.50', '-1', '-0', '0.0001'), weight: 6 },
  { arbitrary: fc.stringMatching(/^-?\d{1,25}(?:\.\d{1,25})?$/), weight: 3 },
  { arbitrary: fc.integer({ min: 300, max: 400 }).map((zeros) => `1${'0'.repeat(zeros)}`), weight: 1 },
);

/** Strings that numeric operands accept as numbers (src/match/operands.ts, isDecimal). */
const decimalStringLiteral = stringLiteral(fc.constantFrom('500', '5e2', '+500', '.5', '5.', '1E3', '-0', '404.0', '2000'));

const boolLiteral = fc.constantFrom('true', 'false');
const equalityOperator = fc.constantFrom('==', '!=');
const comparisonOperator = fc.constantFrom('==', '!=', '<', '<=', '>', '>=');

/** Field names as written: any case, the side's own pseudo-headers, odd characters. */
const requestHeaderName = fc.oneof(
  fc.constantFrom(...REQUEST_HEADER_NAMES, 'X-Debug', 'Content-Type', ':method', ':path', ':METHOD'),
  textValue.filter((s) => s.replace(/\r/g, '') !== '' && !s.startsWith(':')).map((s) => `x-${s}`),
);
const responseHeaderName = fc.constantFrom(...RESPONSE_HEADER_NAMES, ':status', 'X-A', ':STATUS');
const trailerName = fc.constantFrom(...TRAILER_NAMES, 'Grpc-Status');

const namedOperand = (operand: string, names: fc.Arbitrary<string>) => spaced(operand, '[', stringLiteral(names), ']');

/** Operands whose value is text (responseHeaders[":status"] included: it is not flagged numeric). */
const textOperand = fc.oneof(
  fc.constantFrom('method', 'path', 'route', 'service', 'requestBody', 'responseBody'),
  namedOperand('requestHeaders', requestHeaderName),
  namedOperand('responseHeaders', responseHeaderName),
  namedOperand('requestTrailers', trailerName),
  namedOperand('responseTrailers', trailerName),
);
const numericOperand = fc.constantFrom('status', 'duration');
const anyOperand = fc.oneof(textOperand, numericOperand);

/** Regex pieces that src/match/regex-safety.ts accepts: no group repeats without a fixed count. */
const regexAtom = fc.constantFrom('a', 'b', 'x', '/', 'api', '5', 'json', 'GET', '\\d', '\\w', '.', '[a-z]', '[0-9]', '[^/]', '\\.', 'é');
const regexQuantifier = fc.constantFrom('', '', '', '*', '+', '?', '{1,3}', '{2}', '+?');
const quantifiedAtom = fc.tuple(regexAtom, regexQuantifier).map(([atom, q]) => atom + q);
const regexPiece = fc.oneof(
  { arbitrary: quantifiedAtom, weight: 4 },
  {
    arbitrary: fc
      .tuple(fc.array(quantifiedAtom, { minLength: 1, maxLength: 3 }), fc.constantFrom('', '?', '{2}'))
      .map(([inside, q]) => `(${inside.join('')})${q}`),
    weight: 1,
  },
  {
    arbitrary: fc
      .tuple(fc.array(regexAtom, { minLength: 2, maxLength: 3 }), fc.constantFrom('', '?'))
      .map(([alternatives, q]) => `(?:${alternatives.join('|')})${q}`),
    weight: 1,
  },
);
const safeRegexPattern = fc
  .tuple(fc.boolean(), fc.array(regexPiece, { maxLength: 4 }), fc.boolean())
  .map(([start, pieces, end]) => (start ? '^' : '') + pieces.join('') + (end ? '$' : ''));
const regexFlags = fc.shuffledSubarray(['i', 'm', 's', 'u']).map((flags) => flags.join(''));

/** The right side of `==` / `!=` that is a function: prefix("..") and friends. */
const matcherCall = fc.oneof(
  spaced(fc.constantFrom('prefix', 'suffix', 'contains', 'exact'), '(', stringLiteral(textValue), ')'),
  spaced('regex', '(', stringLiteral(safeRegexPattern), ')'),
  spaced('regex', '(', stringLiteral(safeRegexPattern), ',', stringLiteral(regexFlags), ')'),
  spaced('present', '(', ')'),
);

/** `[a, b, c]`, maybe with a trailing comma. */
function listOf(item: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(spaced(item), { maxLength: 5 }), fc.boolean(), whitespace)
    .map(([items, trailingComma, gap]) => `[${items.join(',')}${trailingComma && items.length > 0 ? ',' : ''}${gap}]`);
}

const numericComparison = fc.oneof(
  spaced(numericOperand, comparisonOperator, fc.oneof(numberLiteral, decimalStringLiteral)),
  spaced(fc.oneof(numberLiteral, decimalStringLiteral), comparisonOperator, numericOperand),
);
const textComparison = fc.oneof(
  spaced(textOperand, comparisonOperator, fc.oneof(stringLiteral(textValue), numberLiteral)),
  spaced(fc.oneof(stringLiteral(textValue), numberLiteral), comparisonOperator, textOperand),
  spaced(textOperand, equalityOperator, boolLiteral),
  spaced(boolLiteral, equalityOperator, textOperand),
);
const operandComparison = spaced(anyOperand, comparisonOperator, anyOperand);
const matcherComparison = spaced(anyOperand, equalityOperator, matcherCall);
const membership = fc.oneof(
  spaced(textOperand, ' in', listOf(fc.oneof(stringLiteral(textValue), numberLiteral, boolLiteral))),
  spaced(numericOperand, ' in', listOf(fc.oneof(numberLiteral, decimalStringLiteral))),
);
const presentCondition = spaced('present', '(', anyOperand, ')');

/** Conditions that are neither an operand nor a literal, so they can be compared with a condition. */
const simpleConditionNotAValue = fc.oneof(
  { arbitrary: numericComparison, weight: 3 },
  { arbitrary: textComparison, weight: 3 },
  { arbitrary: operandComparison, weight: 1 },
  { arbitrary: matcherComparison, weight: 3 },
  { arbitrary: membership, weight: 2 },
  { arbitrary: presentCondition, weight: 1 },
);
/** Conditions without && || ! or parentheses; a bare operand holds when present and not empty. */
const simpleCondition = fc.oneof(
  { arbitrary: simpleConditionNotAValue, weight: 10 },
  { arbitrary: spaced(anyOperand), weight: 1 },
  { arbitrary: spaced(boolLiteral), weight: 1 },
);

type Grammar = {
  condition: string;
  conditionNotAValue: string;
  unaryTerm: string;
  negation: string;
  comparisonTerm: string;
  conjunction: string;
  disjunction: string;
  parenthesized: string;
  conditionSide: string;
  conditionEquality: string;
};

const depth = { depthIdentifier: 'rule', depthSize: 'small', maxDepth: 6 } as const;

/** Valid rules, with random spacing and quoting; parentheses and '!' nest far less than MAX_DEPTH. */
const validRule = fc.letrec<Grammar>((tie) => ({
  condition: fc.oneof(
    depth,
    simpleCondition,
    tie('negation'),
    tie('conjunction'),
    tie('disjunction'),
    tie('parenthesized'),
    tie('conditionEquality'),
  ),
  conditionNotAValue: fc.oneof(
    depth,
    simpleConditionNotAValue,
    tie('negation'),
    tie('conjunction'),
    tie('disjunction'),
    tie('conditionEquality'),
  ),
  // What '!' applies to: it binds tighter than comparisons.
  unaryTerm: fc.oneof(depth, presentCondition, spaced(boolLiteral), spaced(anyOperand), tie('parenthesized'), tie('negation')),
  negation: spaced('!', tie('unaryTerm')),
  // An item of '&&'.
  comparisonTerm: fc.oneof(depth, simpleCondition, tie('negation'), tie('parenthesized'), tie('conditionEquality')),
  conjunction: fc.array(tie('comparisonTerm'), { minLength: 2, maxLength: 4 }).map((items) => items.join('&&')),
  disjunction: fc
    .array(fc.oneof(depth, tie('comparisonTerm'), tie('conjunction')), { minLength: 2, maxLength: 4 })
    .map((items) => items.join('||')),
  parenthesized: spaced('(', tie('condition'), ')'),
  // `(a) == (b)`: conditions compared with each other or with true / false.
  conditionSide: fc.oneof(depth, presentCondition, spaced('(', tie('conditionNotAValue'), ')'), tie('negation')),
  conditionEquality: fc.oneof(
    depth,
    spaced(tie('conditionSide'), equalityOperator, fc.oneof(tie('conditionSide'), boolLiteral)),
    spaced(boolLiteral, equalityOperator, tie('conditionSide')),
  ),
})).condition;

// ---------------------------------------------------------------------------------------------------
// Invalid or arbitrary text
// ---------------------------------------------------------------------------------------------------

/** Anything, in graphemes (up to 10 000 code units). */
const unicodeText = fc.string({ unit: 'grapheme', maxLength: MAX_INPUT }).map((s) => s.slice(0, MAX_INPUT));
/** Anything, as code points, lone surrogates included. */
const binaryText = fc.string({ unit: 'binary', maxLength: MAX_INPUT }).map((s) => s.slice(0, MAX_INPUT));
/** Long arbitrary text, so that the 10 000-character end is reached. */
const longUnicodeText = fc
  .string({ unit: 'grapheme-ascii', minLength: MAX_INPUT / 2, maxLength: MAX_INPUT })
  .map((s) => s.slice(0, MAX_INPUT));

/** The language's words and punctuation, right and wrong, and some that are close to right. */
const languageToken = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.constantFrom(
      'status', 'duration', 'method', 'path', 'route', 'service', 'requestBody', 'responseBody',
      'requestHeaders', 'responseHeaders', 'requestTrailers', 'responseTrailers',
      'requestHeaders["x-debug"]', 'responseHeaders[":status"]', "requestTrailers['grpc-status']",
      'requestHeaders[":status"]', 'responseTrailers[":path"]', 'requestHeaders[""]', 'responseHeaders[":bogus"]',
    ),
  },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '==', '!=', '<', '<=', '>', '>=', '&&', '||', '!', '(', ')', '[', ']', ',', '.',
      '=', '&', '|', '===', '!==', 'in', 'and', 'or', 'not',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'prefix', 'suffix', 'contains', 'regex', 'exact', 'present', 'bytes',
      'prefix("5")', 'suffix("/")', 'contains("json")', 'exact("GET")', 'present()', 'present(route)',
      'regex("^/api/")', 'regex("a", "i")', 'regex("a", "g")', 'regex("[")', 'regex("(a+)+")', 'regex("(a)\\\\1")',
    ),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '"x"', "'y'", '"GET"', '"5e2"', '""', '"a\\"b"', "'it\\'s'", '"\\n\\t\\\\"', '"unterminated', '"bad\\q"', '"\\',
      '500', '-1', '1.5', '-', '1.2.3', '12abc', '0x1f', '1e3', 'true', 'false', `1${'0'.repeat(400)}`,
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom(' ', '\n', '\t', '\r\n', '  ', '\r', '\u2028') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }) },
);
const tokenSeparator = fc.constantFrom('', '', ' ', '\n', '\t');
const tokenSoupOf = (tokens: fc.Arbitrary<string[]>) => tokens.map((parts) => parts.join('').slice(0, MAX_INPUT));

/** Random sequences of the language's tokens: mostly wrong, often deep before they go wrong. */
const tokenSoup = tokenSoupOf(
  fc.array(fc.tuple(languageToken, tokenSeparator).map(([t, s]) => t + s), { maxLength: 60 }),
);
const longTokenSoup = tokenSoupOf(
  fc.array(fc.tuple(languageToken, tokenSeparator).map(([t, s]) => t + s), { minLength: 500, maxLength: 2500 }),
);

/** A valid rule with a few characters deleted and tokens inserted: errors deep in valid-looking rules. */
const mutatedValidRule = fc
  .tuple(
    validRule,
    fc.array(fc.record({ at: fc.nat(), remove: fc.nat(3), insert: fc.oneof(fc.constant(''), languageToken) }), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([rule, edits]) =>
    edits.reduce((s, edit) => {
      const at = edit.at % (s.length + 1);
      return s.slice(0, at) + edit.insert + s.slice(at + edit.remove);
    }, rule),
  );

/** Towers of '(' and '!' up to 10 000 characters, around a condition, closed or not. */
const deepNesting = fc
  .record({
    opener: fc.constantFrom('(', '!', '!(', ' ( ', '(\n', '!!', '( !'),
    count: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 90, max: 110 }), fc.integer({ min: 1, max: 5000 })),
    core: fc.constantFrom('status >= 500', 'route', 'true', 'present(route)', '', ')', 'prefix("5")', 'status =='),
    closed: fc.boolean(),
  })
  .map(({ opener, count, core, closed }) => {
    const parens = [...opener].filter((c) => c === '(').length;
    const n = Math.max(1, Math.min(count, Math.floor((MAX_INPUT - core.length) / (opener.length + parens))));
    const levels = [...opener].filter((c) => c === '(' || c === '!').length * n;
    const source = opener.repeat(n) + core + (closed ? ')'.repeat(parens * n) : '');
    // '!' binds tighter than comparisons: `!status >= 500` compares a condition with a number.
    const valid = closed && (opener.includes('!') ? ['route', 'true', 'present(route)'] : ['status >= 500', 'route', 'true', 'present(route)']).includes(core);
    return { source, levels, valid };
  });

/** Valid rules as long as 10 000 characters: long chains, lists, strings, whitespace. */
const longValidRule = fc.oneof(
  fc
    .tuple(validRule, fc.constantFrom('&&', '||', ' && ', '\n|| '), fc.integer({ min: 1, max: 2000 }))
    .map(([item, joiner, count]) => {
      const each = `(${item})`;
      const n = Math.max(1, Math.min(count, Math.floor(MAX_INPUT / (each.length + joiner.length))));
      return Array.from({ length: n }, () => each).join(joiner);
    }),
  fc
    .tuple(fc.integer({ min: 1, max: MAX_DEPTH }), fc.constantFrom('||', '&&'), fc.integer({ min: 1, max: 2000 }))
    .map(([levels, joiner, count]) => {
      const each = `${'!'.repeat(levels)}route`;
      const n = Math.max(1, Math.min(count, Math.floor(MAX_INPUT / (each.length + joiner.length))));
      return Array.from({ length: n }, () => each).join(joiner);
    }),
  fc
    .tuple(fc.constantFrom('status', 'method', 'requestHeaders["x-a"]'), fc.integer({ min: 1, max: 1600 }))
    .map(([operand, count]) => `${operand} in [${Array.from({ length: count }, (_, i) => String(i)).join(',')}]`),
  fc
    .tuple(fc.constantFrom('path == ', 'path == prefix(', 'requestBody != contains('), fc.string({ unit: 'grapheme-ascii', minLength: 5000, maxLength: 9000 }))
    .map(([start, text]) => `${start}${quoteAs(text.replace(/\r/g, ''), '"', false)}${start.endsWith('(') ? ')' : ''}`),
  fc.integer({ min: 1, max: 9900 }).map((n) => `${' \n\t'.repeat(n).slice(0, n)}status >= 500${'\n'.repeat(Math.min(n, MAX_INPUT - n - 20))}`),
).filter((s) => s.length <= MAX_INPUT);

// ---------------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------------

describe('property: any text compiles or fails with a RuleSyntaxError, in bounded time', () => {
  test('random unicode, in graphemes', () => {
    check(fc.property(unicodeText, (s) => void assertCompilesOrFailsCleanly(s)), 300);
  });

  test('random code points, lone surrogates included', () => {
    check(fc.property(binaryText, (s) => void assertCompilesOrFailsCleanly(s)), 300);
  });

  test('long random text', () => {
    check(fc.property(longUnicodeText, (s) => void assertCompilesOrFailsCleanly(s)), 50);
  });

  test("soups of the language's own tokens", () => {
    check(fc.property(tokenSoup, (s) => void assertCompilesOrFailsCleanly(s)), 5000);
  });

  test('long soups of tokens, up to 10 000 characters', () => {
    check(fc.property(longTokenSoup, (s) => void assertCompilesOrFailsCleanly(s)), 100);
  });

  test('valid rules with a few edits', () => {
    check(
      fc.property(mutatedValidRule, someExchanges, (s, inits) => void assertCompilesOrFailsCleanly(s, inits)),
      3000,
    );
  });

  test(`nesting deeper than ${MAX_DEPTH} levels is a syntax error, not a stack overflow`, () => {
    check(
      fc.property(deepNesting, ({ source, levels, valid }) => {
        const outcome = assertCompilesOrFailsCleanly(source);
        if (levels > MAX_DEPTH) {
          assert.ok(outcome.error !== undefined, `${levels} levels compiled`);
          assert.match(outcome.error.message, /nests deeper than 100 levels/);
        } else if (valid) {
          assert.equal(outcome.error, undefined, `${levels} levels: ${outcome.error?.message}`);
        }
      }),
      300,
    );
  });

  test('the depth limit, exactly', () => {
    for (const opener of ['(', '!']) {
      const at = (n: number) => `${opener.repeat(n)}route${opener === '(' ? ')'.repeat(n) : ''}`;
      assert.equal(assertCompilesOrFailsCleanly(at(MAX_DEPTH)).error, undefined);
      assert.match(assertCompilesOrFailsCleanly(at(MAX_DEPTH + 1)).error?.message ?? '', /nests deeper/);
      assert.match(assertCompilesOrFailsCleanly(opener.repeat(MAX_INPUT)).error?.message ?? '', /nests deeper/);
    }
  });

  test('long valid rules, up to 10 000 characters, compile', () => {
    check(
      fc.property(longValidRule, (s) => {
        const outcome = assertCompilesOrFailsCleanly(s);
        assert.equal(outcome.error, undefined, outcome.error?.message);
      }),
      60,
    );
  });
});

describe('property: printing and re-parsing gives the same verdicts', () => {
  test('generated rules are valid', () => {
    check(
      fc.property(validRule, (rule) => {
        const outcome = compileOutcome(rule);
        assert.equal(outcome.error, undefined, outcome.error?.message);
      }),
      500,
    );
  });

  test('formatRule is idempotent and keeps every verdict at every phase', () => {
    check(
      fc.property(validRule, someExchanges, (rule, inits) => {
        const compiled = compileRule(rule);
        assertPrintsFaithfully(rule, compiled, inits);
      }),
      3000,
    );
  });
});

describe('property: evaluation is decided as early as data allows', () => {
  test('three-valued, never throwing, decided at lastPhase, never changing its mind', () => {
    check(
      fc.property(validRule, someExchanges, (rule, inits) => {
        const compiled = compileRule(rule);
        for (const init of inits) assertDecidedAsEarlyAsDataAllows(compiled, init);
      }),
      3000,
    );
  });
});
