/**
 * Parses a rule into a syntax tree. Precedence, tightest first: `!`, comparisons and `in`, `&&`, `||`.
 */
import { Lexer, type Fail, type Token } from './lexer.js';

export type OperandName =
  | 'requestHeaders'
  | 'responseHeaders'
  | 'method'
  | 'path'
  | 'status'
  | 'duration'
  | 'route'
  | 'service'
  | 'requestBody'
  | 'responseBody'
  | 'requestTrailers'
  | 'responseTrailers';

/** Operands that take a name in brackets: `requestHeaders["content-type"]`. */
export type NamedOperandName = 'requestHeaders' | 'responseHeaders' | 'requestTrailers' | 'responseTrailers';

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type MatcherName = 'prefix' | 'suffix' | 'contains' | 'regex' | 'exact' | 'present';

export interface OperandNode {
  readonly kind: 'operand';
  readonly name: OperandName;
  /** For header and trailer operands, the field name in lower case. */
  readonly header: string | undefined;
  readonly pos: number;
}
export interface StringNode {
  readonly kind: 'string';
  readonly value: string;
  readonly pos: number;
}
export interface NumberNode {
  readonly kind: 'number';
  readonly value: number;
  readonly pos: number;
}
export interface BoolNode {
  readonly kind: 'bool';
  readonly value: boolean;
  readonly pos: number;
}
export interface NotNode {
  readonly kind: 'not';
  readonly expr: Expr;
  readonly pos: number;
}
export interface LogicNode {
  readonly kind: 'and' | 'or';
  readonly items: Expr[];
  readonly pos: number;
}
export interface CompareNode {
  readonly kind: 'compare';
  readonly op: CompareOp;
  readonly left: Expr;
  readonly right: Expr | MatcherNode;
  /** Offset of the left side. */
  readonly pos: number;
  /** Offset of the operator. */
  readonly opPos: number;
}
export interface InNode {
  readonly kind: 'in';
  readonly left: Expr;
  readonly items: Literal[];
  readonly pos: number;
}
export interface PresentNode {
  readonly kind: 'present';
  readonly operand: OperandNode;
  readonly pos: number;
}
/** `prefix("5")` and friends: only ever the right side of `==` / `!=`. */
export interface MatcherNode {
  readonly kind: 'matcher';
  readonly fn: MatcherName;
  readonly arg: string;
  readonly flags: string;
  readonly pos: number;
  readonly argPos: number;
  /**
   * Compare without regard to case (Envoy's `ignore_case`). The text language has no syntax for it;
   * only predicates translated from Envoy set it.
   */
  readonly ignoreCase?: boolean;
}
/**
 * Every pattern occurs, as bytes, within the first `limit` bytes of a body (0: all that was kept).
 * Envoy's `http_{request,response}_generic_body_match`; the text language has no syntax for it.
 */
export interface BodyContainsNode {
  readonly kind: 'bodyContains';
  readonly side: 'request' | 'response';
  readonly patterns: readonly Uint8Array[];
  readonly limit: number;
  readonly pos: number;
}

export type Literal = StringNode | NumberNode | BoolNode;
export type Expr = OperandNode | Literal | NotNode | LogicNode | CompareNode | InNode | PresentNode | BodyContainsNode;

export const OPERANDS: readonly OperandName[] = [
  'requestHeaders',
  'responseHeaders',
  'method',
  'path',
  'status',
  'duration',
  'route',
  'service',
  'requestBody',
  'responseBody',
  'requestTrailers',
  'responseTrailers',
];
const MATCHERS: readonly MatcherName[] = ['prefix', 'suffix', 'contains', 'regex', 'exact', 'present'];
const COMPARE_OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const REQUEST_PSEUDO = new Set([':method', ':path', ':authority', ':scheme']);
const RESPONSE_PSEUDO = new Set([':status']);
const KEYWORD_HINTS: Record<string, string> = { and: '&&', or: '||', not: '!' };
/** Deep enough for any rule a person writes, shallow enough to keep parsing and evaluation off the stack limit. */
const MAX_DEPTH = 100;

const OPERAND_LIST = OPERANDS.map((o) => (isNamedOperand(o) ? `${o}["name"]` : o)).join(', ');
const FUNCTION_LIST = MATCHERS.join(', ');

function isOperandName(s: string): s is OperandName {
  return (OPERANDS as readonly string[]).includes(s);
}

export function isNamedOperand(s: OperandName): s is NamedOperandName {
  return s.endsWith('Headers') || s.endsWith('Trailers');
}

function isMatcherName(s: string): s is MatcherName {
  return (MATCHERS as readonly string[]).includes(s);
}

function describe(tok: Token): string {
  return tok.kind === 'eof' ? 'the end of the rule' : `'${tok.text}'`;
}

export function parseRule(source: string, fail: Fail): Expr {
  return new Parser(source, fail).parse();
}

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly fail: Fail,
  ) {
    this.lexer = new Lexer(source, fail);
    this.tok = this.lexer.next();
  }

  parse(): Expr {
    if (this.tok.kind === 'eof') {
      this.fail(this.tok.pos, 'the rule is empty; expected a condition, as in status >= 500');
    }
    const expr = this.or();
    const tok = this.tok;
    if (tok.kind !== 'eof') {
      this.fail(tok.pos, `expected '&&', '||' or the end of the rule, found ${describe(tok)}`);
    }
    return expr;
  }

  private advance(): Token {
    const tok = this.tok;
    this.tok = this.lexer.next();
    return tok;
  }

  private isPunct(text: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === text;
  }

  private expectPunct(text: string, problem: string): Token {
    if (!this.isPunct(text)) this.fail(this.tok.pos, problem);
    return this.advance();
  }

  private enter(pos: number): void {
    if (++this.depth > MAX_DEPTH) this.fail(pos, `the rule nests deeper than ${MAX_DEPTH} levels`);
  }

  private or(): Expr {
    const first = this.and(undefined);
    if (!this.isPunct('||')) return first;
    const items = [first];
    while (this.isPunct('||')) {
      this.advance();
      items.push(this.and("'||'"));
    }
    return { kind: 'or', items, pos: first.pos };
  }

  private and(after: string | undefined): Expr {
    const first = this.comparison(after);
    if (!this.isPunct('&&')) return first;
    const items = [first];
    while (this.isPunct('&&')) {
      this.advance();
      items.push(this.comparison("'&&'"));
    }
    return { kind: 'and', items, pos: first.pos };
  }

  private unary(after: string | undefined): Expr {
    if (this.isPunct('!')) {
      const bang = this.advance();
      this.enter(bang.pos);
      const expr = this.unary("'!'");
      this.depth--;
      return { kind: 'not', expr, pos: bang.pos };
    }
    return this.primary(after);
  }

  private comparison(after: string | undefined): Expr {
    const left = this.unary(after);
    const tok = this.tok;
    let expr = left;
    if (tok.kind === 'punct' && COMPARE_OPS.has(tok.text)) {
      this.advance();
      const op = tok.text as CompareOp;
      expr = { kind: 'compare', op, left, right: this.rightSide(op), pos: left.pos, opPos: tok.pos };
    } else if (tok.kind === 'ident' && tok.text === 'in') {
      this.advance();
      expr = { kind: 'in', left, items: this.list(), pos: left.pos };
    } else return left;
    const next = this.tok;
    if ((next.kind === 'punct' && COMPARE_OPS.has(next.text)) || (next.kind === 'ident' && next.text === 'in')) {
      this.fail(next.pos, `comparisons cannot be chained; join them with '&&'`);
    }
    return expr;
  }

  private rightSide(op: CompareOp): Expr | MatcherNode {
    const tok = this.tok;
    if (tok.kind === 'ident' && isMatcherName(tok.text)) {
      if (op !== '==' && op !== '!=') {
        this.fail(tok.pos, `${tok.text}() can only follow '==' or '!=', not '${op}'`);
      }
      return this.matcher();
    }
    const startsTerm =
      tok.kind === 'string' ||
      tok.kind === 'number' ||
      tok.kind === 'ident' ||
      (tok.kind === 'punct' && (tok.text === '(' || tok.text === '!'));
    if (!startsTerm) {
      const what = op === '==' || op === '!=' ? 'a string, number or function' : 'a number or string';
      this.fail(tok.pos, `expected ${what} after '${op}'`);
    }
    return this.unary(`'${op}'`);
  }

  /** `prefix("5")`, `regex("^a", "i")`, `present()`; also `present(operand)`, which is a condition. */
  private matcher(): MatcherNode | PresentNode {
    const nameTok = this.advance();
    const fn = nameTok.text as MatcherName;
    this.expectPunct('(', `expected '(' after '${fn}'`);
    if (fn === 'present') {
      if (this.isPunct(')')) {
        this.advance();
        return { kind: 'matcher', fn, arg: '', flags: '', pos: nameTok.pos, argPos: nameTok.pos };
      }
      const operand = this.operandArgument();
      this.expectPunct(')', `expected ')' after the operand of present()`);
      return { kind: 'present', operand, pos: nameTok.pos };
    }
    const usage = fn === 'regex' ? `regex("pattern") or regex("pattern", "flags")` : `${fn}("text")`;
    const argTok = this.tok;
    if (argTok.kind !== 'string') this.fail(argTok.pos, `expected a string in quotes: ${usage}`);
    this.advance();
    let flags = '';
    if (fn === 'regex' && this.isPunct(',')) {
      this.advance();
      const flagsTok = this.tok;
      if (flagsTok.kind !== 'string') this.fail(flagsTok.pos, `expected the flags as a string: ${usage}`);
      this.advance();
      flags = flagsTok.value as string;
      const bad = /[^imsu]/.exec(flags);
      if (bad) {
        this.fail(flagsTok.pos, `regex() flag '${bad[0]}' is not allowed; use any of i, m, s, u`);
      }
    }
    this.expectPunct(')', `expected ')' after the argument: ${usage}`);
    return { kind: 'matcher', fn, arg: argTok.value as string, flags, pos: nameTok.pos, argPos: argTok.pos };
  }

  private operandArgument(): OperandNode {
    const tok = this.tok;
    if (tok.kind === 'ident' && isOperandName(tok.text)) return this.operand();
    if (tok.kind === 'ident' && !isMatcherName(tok.text) && !['true', 'false', 'in'].includes(tok.text)) {
      return this.operand(); // reports the unknown name with the list of operands
    }
    return this.fail(tok.pos, `expected an operand inside present(), as in present(requestHeaders["x-debug"])`);
  }

  private list(): Literal[] {
    this.expectPunct('[', `expected '[' after 'in', as in method in ["GET", "HEAD"]`);
    const items: Literal[] = [];
    while (!this.isPunct(']')) {
      const tok = this.tok;
      if (tok.kind === 'string') items.push({ kind: 'string', value: tok.value as string, pos: tok.pos });
      else if (tok.kind === 'number') items.push({ kind: 'number', value: tok.value as number, pos: tok.pos });
      else if (tok.kind === 'ident' && (tok.text === 'true' || tok.text === 'false')) {
        items.push({ kind: 'bool', value: tok.text === 'true', pos: tok.pos });
      } else this.fail(tok.pos, `expected a string or number in the list, found ${describe(tok)}`);
      this.advance();
      if (this.isPunct(',')) this.advance();
      else if (!this.isPunct(']')) {
        this.fail(this.tok.pos, `expected ',' or ']' in the list, found ${describe(this.tok)}`);
      }
    }
    this.advance();
    return items;
  }

  private primary(after: string | undefined): Expr {
    const tok = this.tok;
    switch (tok.kind) {
      case 'string':
        this.advance();
        return { kind: 'string', value: tok.value as string, pos: tok.pos };
      case 'number':
        this.advance();
        return { kind: 'number', value: tok.value as number, pos: tok.pos };
      case 'ident':
        return this.identifier();
      case 'punct':
        if (tok.text === '(') {
          this.advance();
          this.enter(tok.pos);
          const expr = this.or();
          this.depth--;
          const open = this.lineColumn(tok.pos);
          this.expectPunct(')', `expected ')' to close the '(' at ${open}, found ${describe(this.tok)}`);
          return expr;
        }
        break;
      case 'eof':
        break;
    }
    const where = after === undefined ? '' : ` after ${after}`;
    return this.fail(tok.pos, `expected an operand, a value, '!' or '('${where}, found ${describe(tok)}`);
  }

  private identifier(): Expr {
    const tok = this.tok;
    const word = tok.text;
    if (word === 'true' || word === 'false') {
      this.advance();
      return { kind: 'bool', value: word === 'true', pos: tok.pos };
    }
    if (word === 'in') this.fail(tok.pos, `expected an operand before 'in'`);
    if (isMatcherName(word)) {
      this.advance();
      if (word === 'present' && this.isPunct('(')) {
        this.advance();
        if (this.isPunct(')')) {
          this.fail(tok.pos, `present() needs an operand here, as in present(requestHeaders["x-debug"])`);
        }
        const operand = this.operandArgument();
        this.expectPunct(')', `expected ')' after the operand of present()`);
        return { kind: 'present', operand, pos: tok.pos };
      }
      const example = word === 'regex' ? 'regex("^/api/")' : `${word}("/api")`;
      return this.fail(
        tok.pos,
        `${word}() is a matcher: put it on the right of '==' or '!=', as in path == ${example}`,
      );
    }
    return this.operand();
  }

  private operand(): OperandNode {
    const tok = this.advance();
    const word = tok.text;
    if (!isOperandName(word)) {
      if (this.isPunct('(')) {
        this.fail(tok.pos, `unknown function '${word}'; functions are ${FUNCTION_LIST}`);
      }
      const hint = KEYWORD_HINTS[word];
      if (hint !== undefined) this.fail(tok.pos, `unknown operand '${word}'; did you mean '${hint}'?`);
      this.fail(tok.pos, `unknown operand '${word}'; operands are ${OPERAND_LIST}`);
    }
    if (this.isPunct('(')) this.fail(this.tok.pos, `'${word}' is an operand, not a function`);
    if (!isNamedOperand(word)) {
      if (this.isPunct('[')) {
        this.fail(this.tok.pos, `'${word}' has no [...]; only the headers and trailers operands do`);
      }
      return { kind: 'operand', name: word, header: undefined, pos: tok.pos };
    }
    this.expectPunct('[', `expected '[' after '${word}', as in ${word}["content-type"]`);
    const nameTok = this.tok;
    if (nameTok.kind !== 'string') {
      this.fail(nameTok.pos, `expected a header name in quotes, as in ${word}["content-type"]`);
    }
    this.advance();
    const header = (nameTok.value as string).toLowerCase();
    this.checkHeaderName(word, header, nameTok.pos);
    this.expectPunct(']', `expected ']' after the header name, found ${describe(this.tok)}`);
    return { kind: 'operand', name: word, header, pos: tok.pos };
  }

  private checkHeaderName(side: NamedOperandName, header: string, pos: number): void {
    const problem = headerNameProblem(side, header);
    if (problem !== undefined) this.fail(pos, problem);
  }

  private lineColumn(pos: number): string {
    const before = this.source.slice(0, pos);
    const line = before.split('\n').length;
    return `${line}:${pos - (before.lastIndexOf('\n') + 1) + 1}`;
  }
}

/**
 * What is wrong with a lower-case field name on one side, or undefined. As in Envoy: the request
 * carries :method :path :authority :scheme, the response carries :status, trailers have none.
 */
export function headerNameProblem(side: NamedOperandName, header: string): string | undefined {
  if (header === '') return `the ${side.endsWith('Trailers') ? 'trailer' : 'header'} name is empty`;
  if (!header.startsWith(':')) return undefined;
  if (side === 'requestTrailers' || side === 'responseTrailers') {
    return `trailers have no pseudo-headers; '${header}' is in ${side === 'requestTrailers' ? 'requestHeaders' : 'responseHeaders'}`;
  }
  const own = side === 'requestHeaders' ? REQUEST_PSEUDO : RESPONSE_PSEUDO;
  if (own.has(header)) return undefined;
  const other = side === 'requestHeaders' ? 'responseHeaders' : 'requestHeaders';
  if ((side === 'requestHeaders' ? RESPONSE_PSEUDO : REQUEST_PSEUDO).has(header)) {
    return `${side} has no '${header}'; use ${other}["${header}"]`;
  }
  return `unknown pseudo-header '${header}'; ${side} has ${[...own].join(' ')}`;
}
