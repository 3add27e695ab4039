/**
 * Prints a syntax tree back as rule text, in one canonical form: double quotes, single spaces around
 * operators, lower-case header names, and only the parentheses that precedence needs.
 */
import type { BodyContainsNode, CompareNode, Expr, Literal, MatcherNode, OperandNode } from './parser.js';

/** Binding strength, loosest first; the parser's precedence (parser.ts). */
const OR = 1;
const AND = 2;
const COMPARISON = 3;
const UNARY = 4;
const ATOM = 5;

/** The lexer's escapes (lexer.ts); every other character but CR and LF may stand in a string as it is. */
const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\t': '\\t' };

/**
 * Prints `expr` as rule text that parses back to the same tree: `parseRule(printRule(t))` equals `t`
 * but for positions. Strings are re-escaped, numbers printed in plain decimals (the lexer reads no
 * exponents), header names quoted.
 *
 * Some trees only Envoy predicates produce have no text form, and come out in a form for display only,
 * which will not parse: matchers with `ignoreCase` (`prefix("abc", ignoreCase)`), body searches
 * (`bytes(requestBody) contains ["abc", 0x00ff] within 1024 bytes`), strings holding a carriage return
 * (shown as `\r`, which the lexer does not know), and `NaN`. (Infinities do come from text, as a literal
 * too long for a double, and print as such a literal.)
 */
export function printRule(expr: Expr): string {
  return print(expr, OR);
}

/** `expr`, in parentheses if it binds more loosely than its place needs. */
function print(expr: Expr, needs: number): string {
  const text = render(expr);
  return strength(expr) < needs ? `(${text})` : text;
}

function strength(expr: Expr): number {
  switch (expr.kind) {
    case 'or':
    case 'and':
      // Logic nodes of fewer than two items (Envoy's) print as their item or as a constant.
      if (expr.items.length === 1) return strength(expr.items[0]!);
      return expr.items.length === 0 ? ATOM : expr.kind === 'or' ? OR : AND;
    case 'compare':
    case 'in':
    case 'bodyContains':
      return COMPARISON;
    case 'not':
      return UNARY;
    default:
      return ATOM;
  }
}

function render(expr: Expr): string {
  switch (expr.kind) {
    case 'or':
    case 'and': {
      // An empty && holds and an empty || does not, as compile.ts evaluates them.
      if (expr.items.length === 0) return String(expr.kind === 'and');
      if (expr.items.length === 1) return render(expr.items[0]!);
      const each = expr.kind === 'or' ? AND : COMPARISON;
      return expr.items.map((item) => print(item, each)).join(expr.kind === 'or' ? ' || ' : ' && ');
    }
    case 'compare':
      return `${print(expr.left, UNARY)} ${expr.op} ${rightSide(expr)}`;
    case 'in':
      return `${print(expr.left, UNARY)} in [${expr.items.map(literal).join(', ')}]`;
    case 'not':
      return `!${print(expr.expr, UNARY)}`;
    case 'present':
      return `present(${operand(expr.operand)})`;
    case 'operand':
      return operand(expr);
    case 'bodyContains':
      return bodyContains(expr);
    default:
      return literal(expr);
  }
}

function rightSide(node: CompareNode): string {
  const right = node.right;
  if (right.kind === 'matcher') return matcher(right);
  // After '<' and friends a bare present(...) reads as a misplaced matcher; the parser only takes it
  // in parentheses there.
  if (right.kind === 'present' && node.op !== '==' && node.op !== '!=') return `(${render(right)})`;
  return print(right, UNARY);
}

function matcher(m: MatcherNode): string {
  if (m.fn === 'present') return 'present()';
  const args = [quote(m.arg)];
  if (m.flags !== '') args.push(quote(m.flags));
  if (m.ignoreCase === true) args.push('ignoreCase'); // display only: the text language cannot say it
  return `${m.fn}(${args.join(', ')})`;
}

function operand(node: OperandNode): string {
  return node.header === undefined ? node.name : `${node.name}[${quote(node.header)}]`;
}

function literal(node: Literal): string {
  switch (node.kind) {
    case 'string':
      return quote(node.value);
    case 'number':
      return number(node.value);
    case 'bool':
      return String(node.value);
  }
}

function quote(s: string): string {
  let out = '"';
  for (const c of s) {
    // The lexer takes no raw line break in a string and has no escape for CR: \r is for display only.
    out += ESCAPES[c] ?? (c === '\r' ? '\\r' : c);
  }
  return `${out}"`;
}

/**
 * Plain decimal digits, as the lexer reads them (`-?digits[.digits]`): `1e21` prints as
 * `1000000000000000000000`, `1e-7` as `0.0000001`. The shortest digits that String() finds read back
 * to the same double in any notation, since they name the same decimal value. The lexer reads a literal
 * beyond the largest double (`1` and 400 zeros) as Infinity: infinities print as the shortest such
 * literal, `1e309` in plain digits, so that they read back.
 */
function number(n: number): string {
  if (n === Infinity || n === -Infinity) return `${n < 0 ? '-' : ''}1${'0'.repeat(309)}`;
  if (Number.isNaN(n)) return String(n);
  if (Object.is(n, -0)) return '-0';
  const sign = n < 0 ? '-' : '';
  const shortest = String(Math.abs(n));
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(shortest);
  if (m === null) return sign + shortest;
  const fraction = m[2] ?? '';
  const digits = m[1]! + fraction;
  // The value is digits × 10^shift.
  const shift = Number(m[3]) - fraction.length;
  if (shift >= 0) return sign + digits + '0'.repeat(shift);
  const padded = digits.padStart(-shift + 1, '0');
  return `${sign}${padded.slice(0, shift)}.${padded.slice(shift)}`;
}

/** Display only: Envoy's generic body match has no text form. */
function bodyContains(node: BodyContainsNode): string {
  const patterns = node.patterns.map(bytes).join(', ');
  const within = node.limit > 0 ? ` within ${node.limit} bytes` : '';
  return `bytes(${node.side}Body) contains [${patterns}]${within}`;
}

// ignoreBOM keeps a leading U+FEFF in the text rather than dropping it.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Text in quotes when the bytes are UTF-8 without control characters, hex digits otherwise. */
function bytes(pattern: Uint8Array): string {
  try {
    const text = UTF8.decode(pattern);
    if (!CONTROL.test(text)) return quote(text);
  } catch {
    // not UTF-8: shown in hex below
  }
  return `0x${Buffer.from(pattern.buffer, pattern.byteOffset, pattern.byteLength).toString('hex')}`;
}
