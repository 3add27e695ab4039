/**
 * Turns a syntax tree into a tree of closures, checking types on the way. Evaluation is three-valued
 * (Kleene): a node answers `undefined` while it needs data of a later phase, and `&&` / `||` decide
 * as soon as one side does.
 *
 * The closures allocate nothing: literals are converted (numbers parsed, method names upper-cased,
 * regexes built) here, once.
 */
import type { Fail } from './lexer.js';
import { isDecimal, resolveOperand, type Operand } from './operands.js';
import { regexHazard } from './regex-safety.js';
import type {
  BodyContainsNode,
  CompareNode,
  CompareOp,
  Expr,
  InNode,
  Literal,
  MatcherNode,
  OperandNode,
} from './parser.js';
import type { ExchangeView, Phase } from './rule.js';

export type Eval = (view: ExchangeView, phase: Phase) => boolean | undefined;

export interface Compiled {
  readonly evaluate: Eval;
  readonly lastPhase: Phase;
  readonly needsRequestBody: boolean;
  readonly needsResponseBody: boolean;
}

const FLIPPED: Record<CompareOp, CompareOp> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

const alwaysTrue: Eval = () => true;
const alwaysFalse: Eval = () => false;

function not(inner: Eval): Eval {
  return (view, phase) => {
    const r = inner(view, phase);
    return r === undefined ? undefined : !r;
  };
}

function and(items: Eval[]): Eval {
  if (items.length === 2) {
    const [a, b] = items as [Eval, Eval];
    return (view, phase) => {
      const x = a(view, phase);
      if (x === false) return false;
      const y = b(view, phase);
      if (y === false) return false;
      return x === undefined || y === undefined ? undefined : true;
    };
  }
  return (view, phase) => {
    let unknown = false;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!(view, phase);
      if (r === false) return false;
      if (r === undefined) unknown = true;
    }
    return unknown ? undefined : true;
  };
}

function or(items: Eval[]): Eval {
  if (items.length === 2) {
    const [a, b] = items as [Eval, Eval];
    return (view, phase) => {
      const x = a(view, phase);
      if (x === true) return true;
      const y = b(view, phase);
      if (y === true) return true;
      return x === undefined || y === undefined ? undefined : false;
    };
  }
  return (view, phase) => {
    let unknown = false;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!(view, phase);
      if (r === true) return true;
      if (r === undefined) unknown = true;
    }
    return unknown ? undefined : false;
  };
}

function numberTest(op: CompareOp, ph: Phase, get: (view: ExchangeView) => number, n: number): Eval {
  switch (op) {
    case '==':
      return (view, phase) => (phase < ph ? undefined : get(view) === n);
    case '!=':
      return (view, phase) => (phase < ph ? undefined : get(view) !== n);
    case '<':
      return (view, phase) => (phase < ph ? undefined : get(view) < n);
    case '<=':
      return (view, phase) => (phase < ph ? undefined : get(view) <= n);
    case '>':
      return (view, phase) => (phase < ph ? undefined : get(view) > n);
    case '>=':
      return (view, phase) => (phase < ph ? undefined : get(view) >= n);
  }
}

function textTest(op: CompareOp, ph: Phase, get: (view: ExchangeView) => string | undefined, s: string): Eval {
  switch (op) {
    case '==':
      return (view, phase) => (phase < ph ? undefined : get(view) === s);
    case '!=':
      return (view, phase) => (phase < ph ? undefined : get(view) !== s);
    case '<':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const t = get(view);
        return t !== undefined && t < s;
      };
    case '<=':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const t = get(view);
        return t !== undefined && t <= s;
      };
    case '>':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const t = get(view);
        return t !== undefined && t > s;
      };
    case '>=':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const t = get(view);
        return t !== undefined && t >= s;
      };
  }
}

function operandsTest(op: CompareOp, a: Operand, b: Operand): Eval {
  const ph = Math.max(a.phase, b.phase) as Phase;
  if (a.numeric || b.numeric) {
    const x = a.number;
    const y = b.number;
    switch (op) {
      case '==':
        return (view, phase) => (phase < ph ? undefined : x(view) === y(view));
      case '!=':
        return (view, phase) => (phase < ph ? undefined : x(view) !== y(view));
      case '<':
        return (view, phase) => (phase < ph ? undefined : x(view) < y(view));
      case '<=':
        return (view, phase) => (phase < ph ? undefined : x(view) <= y(view));
      case '>':
        return (view, phase) => (phase < ph ? undefined : x(view) > y(view));
      case '>=':
        return (view, phase) => (phase < ph ? undefined : x(view) >= y(view));
    }
  }
  const x = a.text;
  const y = b.text;
  const test = (s: string | undefined, t: string | undefined): boolean => {
    if (s === undefined || t === undefined) return false;
    switch (op) {
      case '==':
      case '!=':
        return s === t;
      case '<':
        return s < t;
      case '<=':
        return s <= t;
      case '>':
        return s > t;
      case '>=':
        return s >= t;
    }
  };
  // Absent is equal to nothing, so `!=` is true when either side is absent.
  const negate = op === '!=';
  return (view, phase) => (phase < ph ? undefined : test(x(view), y(view)) !== negate);
}

function matcherTest(o: Operand, m: MatcherNode, fail: Fail): Eval {
  const ph = o.phase;
  const raw = o.text;
  const fold = m.ignoreCase === true;
  // Case-insensitive matchers (from Envoy's ignore_case) compare lower-cased text; the argument is
  // lower-cased here, once.
  const get = fold ? (view: ExchangeView) => raw(view)?.toLowerCase() : raw;
  const arg = fold ? m.arg.toLowerCase() : o.upperCase ? m.arg.toUpperCase() : m.arg;
  switch (m.fn) {
    case 'prefix':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const s = get(view);
        return s !== undefined && s.startsWith(arg);
      };
    case 'suffix':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const s = get(view);
        return s !== undefined && s.endsWith(arg);
      };
    case 'contains':
      return (view, phase) => {
        if (phase < ph) return undefined;
        const s = get(view);
        return s !== undefined && s.includes(arg);
      };
    case 'exact':
      return (view, phase) => (phase < ph ? undefined : get(view) === arg);
    case 'present':
      return (view, phase) => (phase < ph ? undefined : raw(view) !== undefined);
    case 'regex': {
      let re: RegExp;
      try {
        // Without the g and y flags (refused by the parser) test() keeps no state between calls.
        re = new RegExp(m.arg, m.flags);
      } catch (err) {
        const detail = (err as Error).message.replace(/^Invalid regular expression: /, '');
        return fail(m.argPos, `invalid regular expression ${detail}`, err);
      }
      // JavaScript's RegExp backtracks (Envoy's RE2 does not): refuse the shapes that can hang a request.
      const hazard = regexHazard(m.arg, m.flags);
      if (hazard !== undefined) return fail(m.argPos, hazard);
      return (view, phase) => {
        if (phase < ph) return undefined;
        const s = raw(view);
        return s !== undefined && re.test(s);
      };
    }
  }
}

/** Envoy's generic body match: every pattern occurs in the first `limit` kept bytes (0: all of them). */
function bodyContainsTest(node: BodyContainsNode): Eval {
  const ph: Phase = node.side === 'request' ? 1 : 3;
  const request = node.side === 'request';
  const patterns = node.patterns.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  const limit = node.limit;
  return (view, phase) => {
    if (phase < ph) return undefined;
    const bytes = request ? view.requestBodyBytes() : view.responseBodyBytes();
    if (bytes === undefined) return patterns.length === 0;
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = limit > 0 && limit < buf.length ? limit : buf.length;
    for (let i = 0; i < patterns.length; i++) {
      const p = patterns[i]!;
      const at = buf.indexOf(p);
      if (at === -1 || at + p.length > end) return false;
    }
    return true;
  };
}

/** `in [...]`: numbers compare as numbers, strings as text; true and false as the text "true" and "false". */
function inTest(o: Operand, items: Literal[], fail: Fail): Eval {
  const ph = o.phase;
  const numbers: number[] = [];
  const texts: string[] = [];
  for (const item of items) {
    if (item.kind === 'number') numbers.push(item.value);
    else if (o.numeric) {
      if (item.kind === 'bool' || !isDecimal(item.value)) {
        fail(item.pos, `${o.label} is a number; the list may only hold numbers`);
      }
      numbers.push(Number(item.value));
    } else {
      const s = item.kind === 'bool' ? String(item.value) : item.value;
      texts.push(o.upperCase ? s.toUpperCase() : s);
    }
  }
  const num = o.number;
  const text = o.text;
  if (o.numeric) {
    return (view, phase) => {
      if (phase < ph) return undefined;
      const n = num(view);
      for (let i = 0; i < numbers.length; i++) if (numbers[i] === n) return true;
      return false;
    };
  }
  return (view, phase) => {
    if (phase < ph) return undefined;
    const s = text(view);
    if (s === undefined) return false;
    for (let i = 0; i < texts.length; i++) if (texts[i] === s) return true;
    if (numbers.length === 0) return false;
    const n = num(view);
    for (let i = 0; i < numbers.length; i++) if (numbers[i] === n) return true;
    return false;
  };
}

class Compiler {
  lastPhase: Phase = 0;
  needsRequestBody = false;
  needsResponseBody = false;

  constructor(private readonly fail: Fail) {}

  operand(node: OperandNode): Operand {
    const o = resolveOperand(node);
    if (o.phase > this.lastPhase) this.lastPhase = o.phase;
    if (node.name === 'requestBody') this.needsRequestBody = true;
    if (node.name === 'responseBody') this.needsResponseBody = true;
    return o;
  }

  condition(node: Expr): Eval {
    switch (node.kind) {
      case 'bool':
        return node.value ? alwaysTrue : alwaysFalse;
      case 'string':
      case 'number':
        return this.fail(
          node.pos,
          `a ${node.kind} alone is not a condition; compare it with an operand, as in status == 500`,
        );
      case 'operand': {
        // A bare operand holds when it is present and not empty.
        const o = this.operand(node);
        const ph = o.phase;
        const text = o.text;
        return (view, phase) => {
          if (phase < ph) return undefined;
          const s = text(view);
          return s !== undefined && s.length > 0;
        };
      }
      case 'present': {
        const o = this.operand(node.operand);
        const ph = o.phase;
        const text = o.text;
        return (view, phase) => (phase < ph ? undefined : text(view) !== undefined);
      }
      case 'not':
        return not(this.condition(node.expr));
      case 'and':
        return and(node.items.map((item) => this.condition(item)));
      case 'or':
        return or(node.items.map((item) => this.condition(item)));
      case 'compare':
        return this.compare(node);
      case 'in':
        return this.in(node);
      case 'bodyContains':
        if (node.side === 'request') {
          this.needsRequestBody = true;
          if (this.lastPhase < 1) this.lastPhase = 1;
        } else {
          this.needsResponseBody = true;
          this.lastPhase = 3;
        }
        return bodyContainsTest(node);
    }
  }

  private in(node: InNode): Eval {
    if (node.left.kind !== 'operand') {
      return this.fail(node.left.pos, `'in' needs an operand on its left, as in method in ["GET", "HEAD"]`);
    }
    return inTest(this.operand(node.left), node.items, this.fail);
  }

  private compare(node: CompareNode): Eval {
    const { op, left, right } = node;
    if (right.kind === 'matcher') {
      if (left.kind !== 'operand') {
        return this.fail(left.pos, `${right.fn}() matches an operand, as in path == prefix("/api")`);
      }
      const test = matcherTest(this.operand(left), right, this.fail);
      return op === '!=' ? not(test) : test;
    }
    if (left.kind === 'operand' && right.kind === 'operand') {
      return operandsTest(op, this.operand(left), this.operand(right));
    }
    if (left.kind === 'operand' && isLiteral(right)) return this.operandLiteral(op, left, right);
    if (right.kind === 'operand' && isLiteral(left)) return this.operandLiteral(FLIPPED[op], right, left);
    if (isLiteral(left) && isLiteral(right)) {
      return this.fail(left.pos, 'both sides are constants; compare an operand, as in status == 500');
    }
    // What is left involves a condition on one side, which can only be compared with another condition.
    const leftIsCondition = !isValue(left);
    const rightIsCondition = !isValue(right);
    if (leftIsCondition && (rightIsCondition || right.kind === 'bool')) {
      return this.conditionEquality(node, this.condition(left), this.condition(right));
    }
    if (rightIsCondition && left.kind === 'bool') {
      return this.conditionEquality(node, this.condition(left), this.condition(right));
    }
    if (left.kind === 'not') {
      return this.fail(
        left.pos,
        `'!' applies to ${describeNode(left.expr)} alone; ` +
          `to negate the comparison, put it in parentheses: !(a ${op} b)`,
      );
    }
    const condition = leftIsCondition ? left : right;
    return this.fail(condition.pos, `a condition can only be compared with true, false or another condition`);
  }

  private conditionEquality(node: CompareNode, a: Eval, b: Eval): Eval {
    if (node.op !== '==' && node.op !== '!=') {
      return this.fail(node.opPos, `'${node.op}' compares numbers or strings, not conditions`);
    }
    const negate = node.op === '!=';
    return (view, phase) => {
      const x = a(view, phase);
      if (x === undefined) return undefined;
      const y = b(view, phase);
      return y === undefined ? undefined : (x === y) !== negate;
    };
  }

  private operandLiteral(op: CompareOp, node: OperandNode, literal: Literal): Eval {
    const o = this.operand(node);
    if (literal.kind === 'bool') {
      if (o.numeric) return this.fail(literal.pos, `${o.label} is a number, not true or false`);
      if (op !== '==' && op !== '!=') {
        return this.fail(literal.pos, `'${op}' compares numbers or strings, not true or false`);
      }
      return textTest(op, o.phase, o.text, String(literal.value));
    }
    if (literal.kind === 'number') return numberTest(op, o.phase, o.number, literal.value);
    if (o.numeric) {
      if (!isDecimal(literal.value)) {
        const hint = o.label === 'status' ? `; for a class of statuses use status == prefix("5")` : '';
        return this.fail(literal.pos, `${o.label} is a number and "${literal.value}" is not${hint}`);
      }
      return numberTest(op, o.phase, o.number, Number(literal.value));
    }
    return textTest(op, o.phase, o.text, o.upperCase ? literal.value.toUpperCase() : literal.value);
  }
}

function isLiteral(node: Expr): node is Literal {
  return node.kind === 'string' || node.kind === 'number' || node.kind === 'bool';
}

/** Operands and literals are values; everything else is a condition. */
function isValue(node: Expr): boolean {
  return node.kind === 'operand' || node.kind === 'string' || node.kind === 'number';
}

function describeNode(node: Expr): string {
  return node.kind === 'operand' ? `'${node.name}'` : 'the term after it';
}

export function compile(tree: Expr, fail: Fail): Compiled {
  const compiler = new Compiler(fail);
  const evaluate = compiler.condition(tree);
  return {
    evaluate,
    lastPhase: compiler.lastPhase,
    needsRequestBody: compiler.needsRequestBody,
    needsResponseBody: compiler.needsResponseBody,
  };
}

