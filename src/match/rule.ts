/**
 * The rule language: which exchanges get captured.
 *
 *     responseHeaders[":status"] == prefix("5")
 *     method == "POST" && (status >= 500 || duration > 2000)
 *     path == prefix("/api/") && requestHeaders["x-debug"] in ["1", "true"]
 *
 * A rule is compiled once into a tree of closures. An exchange is evaluated as it unfolds, in Envoy's
 * order (request headers, request body, response headers, response end), and the answer is three-valued:
 * `undefined` means "needs a later phase", so the middleware stops buffering the moment the outcome is
 * known (`method == "POST" && status >= 500` is already false at request headers for a GET).
 */
import { compile, type Compiled } from './compile.js';
import { isEnvoyPredicate, predicateFail, translatePredicate } from './envoy.js';
import { parseRule, type Expr } from './parser.js';
import { printRule } from './print.js';
import { ruleSyntaxError } from './syntax-error.js';
import { internalError } from '../debug.js';
import { codes, LoopError } from '../errors.js';

export { RuleSyntaxError } from './syntax-error.js';
export { PredicateError } from './envoy.js';

/** Request headers are known: `method`, `path`, `service`, `requestHeaders[...]`. */
export const PHASE_REQUEST_HEADERS = 0;
/** The request body is complete: `requestBody`, `requestTrailers[...]`. */
export const PHASE_REQUEST_BODY = 1;
/** The response status and headers are known: `status`, `responseHeaders[...]`, `route`. */
export const PHASE_RESPONSE_HEADERS = 2;
/** The response is complete: `duration`, `responseBody`, `responseTrailers[...]`. */
export const PHASE_RESPONSE_END = 3;

export type Phase = 0 | 1 | 2 | 3;

/** What a rule can see of an exchange; implemented by the middleware. */
export interface ExchangeView {
  readonly method: string;
  /** Without the query. */
  readonly path: string;
  /** The request target including the query (the `:path` pseudo-header). */
  readonly url: string;
  readonly service: string;
  /** 0 until known. */
  readonly status: number;
  readonly durationMs: number;
  readonly route: string | undefined;
  /** Repeated headers are joined with ", ". */
  requestHeader(lowercaseName: string): string | undefined;
  responseHeader(lowercaseName: string): string | undefined;
  /** Trailer fields (chunked bodies only); undefined until the body has ended, or when absent. */
  requestTrailer(lowercaseName: string): string | undefined;
  responseTrailer(lowercaseName: string): string | undefined;
  /** The UTF-8 text of the kept bytes; undefined if there are none. */
  requestBody(): string | undefined;
  responseBody(): string | undefined;
  /** The kept bytes themselves (no copy); undefined if there are none. */
  requestBodyBytes(): Uint8Array | undefined;
  responseBodyBytes(): Uint8Array | undefined;
}

export interface CompiledRule {
  /** The rule as written. */
  readonly source: string;
  /** The name given to compileRule; 'default' if none. */
  readonly name: string;
  /** The last phase whose data the rule reads (0..3); once evaluated there the answer is final. */
  readonly lastPhase: Phase;
  /** True when the rule reads `requestBody`, so the body must be kept until the rule is decided. */
  readonly needsRequestBody: boolean;
  /** True when the rule reads `responseBody`. */
  readonly needsResponseBody: boolean;
  /**
   * Whether the exchange matches, as far as `phase` allows to say: true, false, or undefined when the
   * answer needs data of a later phase. Never throws: a view that throws counts as no match.
   */
  evaluate(view: ExchangeView, phase: Phase): boolean | undefined;
}

/** Parses and compiles `source`, throwing the RuleSyntaxError that says what is wrong. */
function check(source: string, name: string): { tree: Expr; compiled: Compiled } {
  if (typeof source !== 'string') {
    throw new LoopError(codes.RULE_SYNTAX, `httploop: a rule must be a string, got ${typeof source}`);
  }
  const fail = (pos: number, problem: string, cause?: unknown): never => {
    throw ruleSyntaxError(source, name, pos, problem, cause);
  };
  const tree = parseRule(source, fail);
  return { tree, compiled: compile(tree, fail) };
}

/** Capture every server error; the seed's rule. */
export const DEFAULT_RULE = 'responseHeaders[":status"] == prefix("5")';

/**
 * Compiles a rule. Throws a LoopError with code `LOOP_ERR_RULE_SYNTAX` (a RuleSyntaxError, with `line`
 * and `column`) when the rule is not valid; the message shows the spot with a caret and what was
 * expected there.
 */
export function compileRule(source: string, name: string = 'default'): CompiledRule {
  return finish(source, name, check(source, name).compiled);
}

/**
 * Compiles what a `match` holds: a rule expression, or an Envoy tap `MatchPredicate` object (see
 * envoy.ts), onto the same engine. Throws a RuleSyntaxError for an expression that does not compile,
 * a PredicateError (code `LOOP_ERR_INVALID_PREDICATE`, every problem with its field path) for a
 * predicate that does not.
 */
export function compileMatch(match: string | Record<string, unknown>, name: string = 'default'): CompiledRule {
  if (!isEnvoyPredicate(match)) return compileRule(match, name);
  const { tree, paths } = translatePredicate(match, name);
  return finish(JSON.stringify(match), name, compile(tree, predicateFail(name, paths)));
}

function finish(source: string, name: string, compiled: Compiled): CompiledRule {
  const root = compiled.evaluate;
  const where = `rule "${name}"`;
  return {
    source,
    name,
    lastPhase: compiled.lastPhase,
    needsRequestBody: compiled.needsRequestBody,
    needsResponseBody: compiled.needsResponseBody,
    evaluate(view: ExchangeView, phase: Phase): boolean | undefined {
      try {
        return root(view, phase);
      } catch (err) {
        // Nothing thrown here may reach the app (DESIGN.md, rules of the hot path): a failing view is
        // a non-match, counted and reported once.
        internalError(where, err);
        return false;
      }
    },
  };
}

/**
 * The rule in canonical form, as `loopctl get tapconfigs` shows it: double quotes, single spaces around
 * operators, lower-case header names, only the parentheses that precedence needs.
 * `formatRule(formatRule(s)) === formatRule(s)`, and the result compiles to a rule with the same verdicts.
 * Throws the RuleSyntaxError compileRule would, with `name` in its message, for a rule that does not compile.
 */
export function formatRule(source: string, name: string = 'default'): string {
  return printRule(check(source, name).tree);
}

/**
 * A `match` on one line for tables (`loopctl get tapconfigs`): an expression with its spacing folded,
 * an Envoy predicate as the rule it compiles to, after `envoy:` (display only: some predicate forms,
 * such as body patterns, have no text syntax). A match that does not compile is shown as written.
 */
export function describeMatch(match: string | Record<string, unknown>): string {
  if (!isEnvoyPredicate(match)) return String(match).replace(/\s+/g, ' ').trim();
  try {
    return `envoy: ${printRule(translatePredicate(match, 'default').tree)}`;
  } catch {
    return `envoy: ${JSON.stringify(match)}`;
  }
}
