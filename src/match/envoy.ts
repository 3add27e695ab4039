/**
 * Envoy tap `MatchPredicate` objects, translated into the rule language's syntax tree so that they run
 * on the same engine as text rules. A user can paste the `match` block of an Envoy tap config:
 *
 *     and_match:
 *       rules:
 *         - http_request_headers_match:
 *             headers: [{ name: ":method", string_match: { exact: POST } }]
 *         - http_response_headers_match:
 *             headers: [{ name: ":status", range_match: { start: 500, end: 600 } }]
 *
 * Field names are taken in snake_case (YAML, as in Envoy's docs) or camelCase (protobuf JSON). The
 * semantics are Envoy's (envoy/config/tap/v3/common.proto, envoy/config/route/v3/route_components.proto
 * HeaderMatcher, and HeaderUtility::matchHeaders):
 *
 * - a header matcher with only a `name` is a presence test;
 * - a value matcher on a missing header does not match, even with `invert_match`, unless
 *   `treat_missing_header_as_empty` makes the header's value "";
 * - `safe_regex` is a full match (RE2's FullMatch); `range_match` is `[start, end)` over an integer value;
 * - the generic body matches look for every pattern within the first `bytes_limit` bytes of the body
 *   (0: all of it) — here, of the bytes the capture keeps.
 *
 * Every problem is reported at once, each with its field path (`match.and_match.rules[1].headers[0]`).
 */
import { codes, LoopError } from '../errors.js';
import { suggest } from '../suggest.js';
import { describeValue } from './tapconfig.js';
import type { Fail } from './lexer.js';
import {
  headerNameProblem,
  type BodyContainsNode,
  type Expr,
  type MatcherName,
  type MatcherNode,
  type NamedOperandName,
  type OperandNode,
} from './parser.js';

export interface PredicateProblem {
  /** Where in the predicate, starting with `match`: `match.or_match.rules[0].any_match`. */
  path: string;
  message: string;
  /** The problem is the field's name (an unknown field), not its value. */
  atKey?: boolean;
}

/** An Envoy match predicate that cannot be used; `problems` lists every field that is wrong. */
export class PredicateError extends LoopError {
  readonly problems: readonly PredicateProblem[];

  constructor(name: string, problems: PredicateProblem[]) {
    const which = name === 'default' ? 'rule' : `rule "${name}"`;
    const list = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    super(codes.INVALID_PREDICATE, `httploop: ${which} is not a valid Envoy match predicate: ${list}`);
    this.problems = problems;
  }
}

/** Whether `value` has the shape of a predicate (an object); whether it is a valid one is for compile time. */
export function isEnvoyPredicate(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const PREDICATE_KEYS = [
  'and_match',
  'or_match',
  'not_match',
  'any_match',
  'http_request_headers_match',
  'http_request_trailers_match',
  'http_response_headers_match',
  'http_response_trailers_match',
  'http_request_generic_body_match',
  'http_response_generic_body_match',
] as const;
type PredicateKey = (typeof PREDICATE_KEYS)[number];

const HEADERS_SIDE: Partial<Record<PredicateKey, NamedOperandName>> = {
  http_request_headers_match: 'requestHeaders',
  http_request_trailers_match: 'requestTrailers',
  http_response_headers_match: 'responseHeaders',
  http_response_trailers_match: 'responseTrailers',
};

const HEADER_SPECIFIERS = [
  'exact_match',
  'safe_regex_match',
  'range_match',
  'present_match',
  'prefix_match',
  'suffix_match',
  'contains_match',
  'string_match',
] as const;
const HEADER_KEYS = ['name', ...HEADER_SPECIFIERS, 'invert_match', 'treat_missing_header_as_empty'];
const STRING_SPECIFIERS = ['exact', 'prefix', 'suffix', 'safe_regex', 'contains'] as const;
type StringSpecifier = (typeof STRING_SPECIFIERS)[number];
const STRING_KEYS = [...STRING_SPECIFIERS, 'ignore_case'];
const REGEX_KEYS = ['regex', 'google_re2'];
const RANGE_KEYS = ['start', 'end'];
const BODY_KEYS = ['patterns', 'bytes_limit'];
const PATTERN_KEYS = ['string_match', 'binary_match'];

/** Fields of Envoy's that this engine has no equivalent for, with what to write instead. */
const UNSUPPORTED: Record<string, string> = {
  regex_match: "'regex_match' was removed from Envoy's API; use safe_regex_match: { regex: ... }",
  custom: 'custom string matchers (extensions) are not supported; use exact, prefix, suffix, contains or safe_regex',
};

/** How deep predicates may nest: as for text rules, far deeper than any config a person writes. */
const MAX_DEPTH = 100;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const INTEGER_TEXT = '^[+-]?[0-9]+$';

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}


/** `match.and_match.rules[1].headers[0]` → `headers[0]`: the mapping a field is in, for messages. */
function lastField(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/**
 * An object's fields under their snake_case names, each with the key the user wrote (for paths);
 * `unknown` says whether it also had fields that were reported as unknown.
 */
type Fields = Map<string, { key: string; value: unknown }> & { unknown?: boolean };

/** The syntax tree of a predicate; node positions index `paths`, so that compile errors name a field. */
export interface PredicateTree {
  tree: Expr;
  /** Field paths, by node position. */
  paths: string[];
}

/**
 * Translates a predicate into a syntax tree, or throws a PredicateError listing every problem. A
 * predicate wrapped in its own `match:` (or `match_config:`) key, as when a whole tap config block is
 * pasted, is unwrapped.
 */
export function translatePredicate(value: Record<string, unknown>, name: string): PredicateTree {
  const t = new Translator();
  let path = 'match';
  let inner: unknown = value;
  const keys = Object.keys(value);
  if (keys.length === 1 && ['match', 'match_config'].includes(snake(keys[0]!))) {
    path = `match.${keys[0]}`;
    inner = value[keys[0]!];
  }
  const tree = t.predicate(inner, path, 0);
  if (t.problems.length > 0) throw new PredicateError(name, t.problems);
  return { tree, paths: t.paths };
}

/** The `fail` for compiling a translated tree: a problem the compiler finds is placed at its field. */
export function predicateFail(name: string, paths: readonly string[]): Fail {
  return (pos, problem) => {
    throw new PredicateError(name, [{ path: paths[pos] ?? 'match', message: problem }]);
  };
}

/** `&&` of `items`, with nested `&&`s spliced in (so that the rule prints without extra parentheses). */
function allOf(items: Expr[], pos: number): Expr {
  if (items.length === 1) return items[0]!;
  const flat: Expr[] = [];
  for (const item of items) {
    if (item.kind === 'and') flat.push(...item.items);
    else flat.push(item);
  }
  return { kind: 'and', items: flat, pos };
}

class Translator {
  readonly problems: PredicateProblem[] = [];
  readonly paths: string[] = [];

  problem(path: string, message: string, atKey = false): void {
    this.problems.push(atKey ? { path, message, atKey } : { path, message });
  }

  /** A node position standing for `path`. */
  at(path: string): number {
    this.paths.push(path);
    return this.paths.length - 1;
  }

  /** The fields of a mapping, checked against `known` (snake_case); undefined if it is no mapping. */
  fields(value: unknown, path: string, known: readonly string[], example: string): Fields | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.problem(path, `must be a mapping, as in ${example}; got ${describeValue(value)}`);
      return undefined;
    }
    const out: Fields = new Map();
    for (const [key, v] of Object.entries(value)) {
      const s = snake(key);
      if (known.includes(s)) {
        out.set(s, { key, value: v });
        continue;
      }
      const unsupported = UNSUPPORTED[s];
      if (unsupported !== undefined) {
        out.unknown = true;
        this.problem(`${path}.${key}`, unsupported, true);
        continue;
      }
      out.unknown = true;
      const near = suggest(s, known);
      this.problem(
        `${path}.${key}`,
        `unknown field '${key}' in ${lastField(path)}${near ? `; did you mean '${near}'?` : ''} (known: ${known.join(', ')})`,
        true,
      );
    }
    return out;
  }

  /** Exactly one of `choices` must be set; returns it (or undefined, with a problem). */
  oneOf(fields: Fields, choices: readonly string[], path: string, what: string): string | undefined {
    // In the order written, so that the second one is the one pointed at.
    const set = [...fields.keys()].filter((k) => choices.includes(k));
    if (set.length === 1) return set[0];
    if (set.length === 0) {
      // A mistyped field (already reported, with a suggestion) is most likely the missing one.
      if (!fields.unknown) this.problem(path, `${what} needs one of: ${choices.join(', ')}`);
    } else {
      const [a, b] = set.map((c) => fields.get(c)!.key);
      this.problem(`${path}.${b}`, `${what} has both '${a}' and '${b}'; it takes one of them`, true);
    }
    return undefined;
  }

  predicate(value: unknown, path: string, depth: number): Expr {
    const pos = this.at(path);
    if (depth > MAX_DEPTH) {
      this.problem(path, `the predicate nests deeper than ${MAX_DEPTH} levels`);
      return { kind: 'bool', value: false, pos };
    }
    const fields = this.fields(value, path, PREDICATE_KEYS, '{ any_match: true }');
    if (fields === undefined) return { kind: 'bool', value: false, pos };
    const which = this.oneOf(fields, PREDICATE_KEYS, path, 'a match predicate') as PredicateKey | undefined;
    if (which === undefined) return { kind: 'bool', value: false, pos };
    const { key, value: v } = fields.get(which)!;
    const here = `${path}.${key}`;
    switch (which) {
      case 'and_match':
        return allOf(this.rules(v, here, depth), pos);
      case 'or_match':
        return { kind: 'or', items: this.rules(v, here, depth), pos };
      case 'not_match':
        return { kind: 'not', expr: this.predicate(v, here, depth + 1), pos };
      case 'any_match':
        if (v !== true) {
          this.problem(here, `any_match must be true; to match nothing, write not_match: { any_match: true }; got ${describeValue(v)}`);
        }
        return { kind: 'bool', value: true, pos };
      case 'http_request_generic_body_match':
      case 'http_response_generic_body_match':
        return this.body(v, here, which === 'http_request_generic_body_match' ? 'request' : 'response');
      default:
        return this.headers(v, here, HEADERS_SIDE[which]!);
    }
  }

  /** `{ rules: [...] }` of and_match / or_match. */
  private rules(value: unknown, path: string, depth: number): Expr[] {
    const fields = this.fields(value, path, ['rules'], '{ rules: [{ any_match: true }] }');
    const rules = fields?.get('rules');
    if (fields === undefined) return [];
    if (rules === undefined || !Array.isArray(rules.value) || rules.value.length === 0) {
      this.problem(path, `needs rules: a non-empty list of predicates; got ${describeValue(rules?.value)}`);
      return [];
    }
    const here = `${path}.${rules.key}`;
    return rules.value.map((item, i) => this.predicate(item, `${here}[${i}]`, depth + 1));
  }

  /** `{ headers: [HeaderMatcher, …] }`: all of them must match; none matches everything. */
  private headers(value: unknown, path: string, side: NamedOperandName): Expr {
    const pos = this.at(path);
    const fields = this.fields(value, path, ['headers'], '{ headers: [{ name: ":status", string_match: { prefix: "5" } }] }');
    const headers = fields?.get('headers');
    if (headers === undefined || (Array.isArray(headers.value) && headers.value.length === 0)) {
      return { kind: 'bool', value: true, pos };
    }
    if (!Array.isArray(headers.value)) {
      this.problem(`${path}.${headers.key}`, `must be a list of header matchers; got ${describeValue(headers.value)}`);
      return { kind: 'bool', value: false, pos };
    }
    const here = `${path}.${headers.key}`;
    return allOf(headers.value.map((h, i) => this.header(h, `${here}[${i}]`, side)), pos);
  }

  /** One HeaderMatcher, with Envoy's rules for missing headers, inversion and empty values. */
  private header(value: unknown, path: string, side: NamedOperandName): Expr {
    const pos = this.at(path);
    const never: Expr = { kind: 'bool', value: false, pos };
    const fields = this.fields(value, path, HEADER_KEYS, '{ name: x-debug, string_match: { exact: "1" } }');
    if (fields === undefined) return never;
    const nameField = fields.get('name');
    const rawName = nameField?.value;
    if (typeof rawName !== 'string') {
      this.problem(path, `a header matcher needs a name, as in name: x-debug; got ${describeValue(rawName)}`);
      return never;
    }
    const header = rawName.toLowerCase();
    const nameProblem = headerNameProblem(side, header);
    if (nameProblem !== undefined) this.problem(`${path}.${nameField!.key}`, nameProblem);
    const operand: OperandNode = { kind: 'operand', name: side, header, pos };
    const invert = this.flag(fields, 'invert_match', path);
    const treatMissing = this.flag(fields, 'treat_missing_header_as_empty', path);
    const present: Expr = { kind: 'present', operand, pos };

    const specifiers = [...fields.keys()].filter((k) => (HEADER_SPECIFIERS as readonly string[]).includes(k)) as Array<
      (typeof HEADER_SPECIFIERS)[number]
    >;
    if (specifiers.length > 1) {
      const [a, b] = specifiers.map((s) => fields.get(s)!.key);
      this.problem(`${path}.${b}`, `a header matcher has both '${a}' and '${b}'; it takes one of them`, true);
      return never;
    }
    const specifier = specifiers[0];
    if (specifier === undefined || specifier === 'present_match') {
      // A name alone tests presence. With treat_missing_header_as_empty every header is "present".
      let wanted = true;
      if (specifier === 'present_match') {
        const f = fields.get('present_match')!;
        if (typeof f.value !== 'boolean') this.problem(`${path}.${f.key}`, `must be true or false; got ${describeValue(f.value)}`);
        else wanted = f.value;
      }
      const test: Expr = treatMissing ? { kind: 'bool', value: wanted, pos } : wanted ? present : { kind: 'not', expr: present, pos };
      return invert ? { kind: 'not', expr: test, pos } : test;
    }

    const spec = fields.get(specifier)!;
    const matched = this.valueTest(specifier, spec.value, `${path}.${spec.key}`, operand);
    if (matched === undefined) return never;
    const { test, matchesEmpty } = matched;
    // A missing header: no match whatever invert says, unless it counts as "" (HeaderUtility::matchHeaders).
    const absentVerdict = treatMissing && matchesEmpty !== invert;
    if (absentVerdict) {
      const whenPresent: Expr = invert ? { kind: 'not', expr: test, pos } : test;
      return { kind: 'or', items: [{ kind: 'not', expr: present, pos }, whenPresent], pos };
    }
    return invert ? { kind: 'and', items: [present, { kind: 'not', expr: test, pos }], pos } : test;
  }

  private flag(fields: Fields, key: string, path: string): boolean {
    const f = fields.get(key);
    if (f === undefined) return false;
    if (typeof f.value === 'boolean') return f.value;
    this.problem(`${path}.${f.key}`, `must be true or false; got ${describeValue(f.value)}`);
    return false;
  }

  /**
   * The test for a present header's value, and whether it holds for "" (what a missing header is
   * with treat_missing_header_as_empty). A value test is false when the header is missing.
   */
  private valueTest(
    specifier: (typeof HEADER_SPECIFIERS)[number],
    value: unknown,
    path: string,
    operand: OperandNode,
  ): { test: Expr; matchesEmpty: boolean } | undefined {
    switch (specifier) {
      case 'exact_match': {
        const s = this.string(value, path);
        if (s === undefined) return undefined;
        // The deprecated exact_match with an empty value matches any value (HeaderMatchType::Value).
        if (s === '') return { test: { kind: 'present', operand, pos: this.at(path) }, matchesEmpty: true };
        return this.matcher(operand, 'exact', s, false, path);
      }
      case 'prefix_match':
      case 'suffix_match':
      case 'contains_match': {
        const s = this.string(value, path, true);
        if (s === undefined) return undefined;
        return this.matcher(operand, specifier.slice(0, -'_match'.length) as MatcherName, s, false, path);
      }
      case 'safe_regex_match':
        return this.regex(operand, value, path);
      case 'range_match':
        return this.range(operand, value, path);
      case 'string_match':
        return this.stringMatcher(operand, value, path);
      case 'present_match':
        return undefined; // handled by the caller
    }
  }

  private string(value: unknown, path: string, nonEmpty = false): string | undefined {
    if (typeof value === 'string' && (!nonEmpty || value !== '')) return value;
    this.problem(path, `must be a ${nonEmpty ? 'non-empty ' : ''}string; got ${describeValue(value)}`);
    return undefined;
  }

  private matcher(
    operand: OperandNode,
    fn: MatcherName,
    arg: string,
    ignoreCase: boolean,
    path: string,
    flags = '',
  ): { test: Expr; matchesEmpty: boolean } {
    const pos = this.at(path);
    const node: MatcherNode = ignoreCase
      ? { kind: 'matcher', fn, arg, flags, pos, argPos: pos, ignoreCase: true }
      : { kind: 'matcher', fn, arg, flags, pos, argPos: pos };
    let matchesEmpty: boolean;
    switch (fn) {
      case 'exact':
        matchesEmpty = arg === '';
        break;
      case 'regex':
        try {
          matchesEmpty = new RegExp(arg, flags).test('');
        } catch {
          matchesEmpty = false; // the compiler reports the regex at this path
        }
        break;
      default:
        matchesEmpty = arg === '';
    }
    return { test: { kind: 'compare', op: '==', left: operand, right: node, pos, opPos: pos }, matchesEmpty };
  }

  /** `{ google_re2: {}, regex: "..." }`: a full match, as RE2::FullMatch. */
  private regex(operand: OperandNode, value: unknown, path: string): { test: Expr; matchesEmpty: boolean } | undefined {
    const fields = this.fields(value, path, REGEX_KEYS, '{ regex: "5[0-9]{2}" }');
    if (fields === undefined) return undefined;
    const re = fields.get('regex');
    if (re === undefined) {
      this.problem(path, 'safe_regex needs regex, as in { regex: "5[0-9]{2}" }');
      return undefined;
    }
    const google = fields.get('google_re2');
    if (google !== undefined && (typeof google.value !== 'object' || google.value === null || Array.isArray(google.value))) {
      this.problem(`${path}.${google.key}`, `must be a mapping (usually {}); got ${describeValue(google.value)}`);
    }
    const source = this.string(re.value, `${path}.${re.key}`, true);
    if (source === undefined) return undefined;
    // RE2 spells named groups (?P<name>…) and takes a leading (?i); JavaScript spells them (?<name>…)
    // and takes flags apart.
    let pattern = source.replace(/\(\?P</g, '(?<');
    let flags = '';
    if (pattern.startsWith('(?i)')) {
      pattern = pattern.slice(4);
      flags = 'i';
    }
    return this.matcher(operand, 'regex', `^(?:${pattern})$`, false, `${path}.${re.key}`, flags);
  }

  /** `{ start, end }`: an integer value in [start, end), as Envoy's Int64Range. */
  private range(operand: OperandNode, value: unknown, path: string): { test: Expr; matchesEmpty: boolean } | undefined {
    const fields = this.fields(value, path, RANGE_KEYS, '{ start: 500, end: 600 }');
    if (fields === undefined) return undefined;
    const bound = (key: 'start' | 'end'): number | undefined => {
      const f = fields.get(key);
      // Protobuf JSON writes int64 as a string.
      const n = typeof f?.value === 'string' && /^-?\d+$/.test(f.value) ? Number(f.value) : f?.value;
      if (typeof n === 'number' && Number.isSafeInteger(n)) return n;
      this.problem(f === undefined ? path : `${path}.${f.key}`, `${key} must be a whole number, as in { start: 500, end: 600 }; got ${describeValue(f?.value)}`);
      return undefined;
    };
    const start = bound('start');
    const end = bound('end');
    if (start === undefined || end === undefined) return undefined;
    const pos = this.at(path);
    const items: Expr[] = [
      { kind: 'compare', op: '>=', left: operand, right: { kind: 'number', value: start, pos }, pos, opPos: pos },
      { kind: 'compare', op: '<', left: operand, right: { kind: 'number', value: end, pos }, pos, opPos: pos },
    ];
    // Int64Range takes integers only; the rule language's numbers also read "5.5". A status always is one.
    const isStatus = operand.name === 'responseHeaders' && operand.header === ':status';
    if (!isStatus) items.unshift(this.matcher(operand, 'regex', INTEGER_TEXT, false, path).test);
    return { test: { kind: 'and', items, pos }, matchesEmpty: false };
  }

  /** Envoy's StringMatcher: `{ exact | prefix | suffix | contains | safe_regex, ignore_case }`. */
  private stringMatcher(operand: OperandNode, value: unknown, path: string): { test: Expr; matchesEmpty: boolean } | undefined {
    const fields = this.fields(value, path, STRING_KEYS, '{ prefix: "5" }');
    if (fields === undefined) return undefined;
    const ignoreCase = this.flag(fields, 'ignore_case', path);
    const which = this.oneOf(fields, STRING_SPECIFIERS, path, 'a string matcher') as StringSpecifier | undefined;
    if (which === undefined) return undefined;
    const f = fields.get(which)!;
    const here = `${path}.${f.key}`;
    // ignore_case does not apply to safe_regex (Envoy ignores it there too).
    if (which === 'safe_regex') return this.regex(operand, f.value, here);
    const s = this.string(f.value, here, which !== 'exact');
    if (s === undefined) return undefined;
    return this.matcher(operand, which, s, ignoreCase, here);
  }

  /** `{ patterns: [{ string_match } | { binary_match }], bytes_limit }`: every pattern occurs in the body. */
  private body(value: unknown, path: string, side: 'request' | 'response'): Expr {
    const pos = this.at(path);
    const fields = this.fields(value, path, BODY_KEYS, '{ patterns: [{ string_match: timeout }] }');
    if (fields === undefined) return { kind: 'bool', value: false, pos };
    let limit = 0;
    const limitField = fields.get('bytes_limit');
    if (limitField !== undefined) {
      const n = limitField.value;
      if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff) limit = n;
      else this.problem(`${path}.${limitField.key}`, `bytes_limit must be a whole number of bytes (0: no limit); got ${describeValue(n)}`);
    }
    const patternsField = fields.get('patterns');
    const list = patternsField?.value;
    if (!Array.isArray(list) || list.length === 0) {
      this.problem(
        patternsField === undefined ? path : `${path}.${patternsField.key}`,
        `needs patterns: a non-empty list, as in [{ string_match: timeout }]; got ${describeValue(list)}`,
      );
      return { kind: 'bool', value: false, pos };
    }
    const patterns: Uint8Array[] = [];
    list.forEach((item, i) => {
      const here = `${path}.${patternsField!.key}[${i}]`;
      const p = this.fields(item, here, PATTERN_KEYS, '{ string_match: timeout }');
      if (p === undefined) return;
      const which = this.oneOf(p, PATTERN_KEYS, here, 'a body pattern');
      if (which === undefined) return;
      const f = p.get(which)!;
      const s = this.string(f.value, `${here}.${f.key}`, true);
      if (s === undefined) return;
      if (which === 'string_match') {
        patterns.push(Buffer.from(s, 'utf8'));
      } else if (BASE64.test(s)) {
        patterns.push(Buffer.from(s, 'base64'));
      } else {
        this.problem(`${here}.${f.key}`, `binary_match must be base64, as in "3q2+7w=="; got ${describeValue(s)}`);
      }
    });
    const node: BodyContainsNode = { kind: 'bodyContains', side, patterns, limit, pos };
    return node;
  }
}
