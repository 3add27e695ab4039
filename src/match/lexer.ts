/**
 * Splits a rule into tokens, one at a time, so that errors are reported in source order.
 */

export type TokenKind = 'ident' | 'string' | 'number' | 'punct' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** The identifier or punctuation as written; for literals, the raw source text. */
  readonly text: string;
  /** The decoded value of a string or number literal. */
  readonly value: string | number;
  /** Offset of the first character in the source. */
  readonly pos: number;
}

export type Fail = (pos: number, problem: string, cause?: unknown) => never;

const TWO_CHAR = new Set(['==', '!=', '<=', '>=', '&&', '||']);
// '.' is no operator, but as a token it lets the parser say what was expected (`requestHeaders.host`).
const ONE_CHAR = new Set(['<', '>', '!', '(', ')', '[', ']', ',', '.']);
const ESCAPES: Record<string, string> = { '"': '"', "'": "'", '\\': '\\', n: '\n', t: '\t' };

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isIdentPart(c: string): boolean {
  return isIdentStart(c) || isDigit(c);
}

export class Lexer {
  private pos = 0;

  constructor(
    private readonly source: string,
    private readonly fail: Fail,
  ) {}

  next(): Token {
    const src = this.source;
    while (this.pos < src.length && /\s/.test(src[this.pos]!)) this.pos++;
    const start = this.pos;
    if (start >= src.length) return { kind: 'eof', text: '', value: '', pos: start };
    const c = src[start]!;
    if (c === '"' || c === "'") return this.string(c);
    if (isDigit(c) || (c === '-' && isDigit(src[start + 1] ?? ''))) return this.number();
    if (isIdentStart(c)) {
      let end = start + 1;
      while (end < src.length && isIdentPart(src[end]!)) end++;
      this.pos = end;
      const text = src.slice(start, end);
      return { kind: 'ident', text, value: text, pos: start };
    }
    const two = src.slice(start, start + 2);
    if (two === '==' && src[start + 2] === '=') this.fail(start, "there is no '===' in rules; use '=='");
    if (two === '!=' && src[start + 2] === '=') this.fail(start, "there is no '!==' in rules; use '!='");
    if (TWO_CHAR.has(two)) {
      this.pos = start + 2;
      return { kind: 'punct', text: two, value: two, pos: start };
    }
    if (ONE_CHAR.has(c)) {
      this.pos = start + 1;
      return { kind: 'punct', text: c, value: c, pos: start };
    }
    if (c === '=') this.fail(start, "unexpected '='; did you mean '=='?");
    if (c === '&') this.fail(start, "unexpected '&'; did you mean '&&'?");
    if (c === '|') this.fail(start, "unexpected '|'; did you mean '||'?");
    const shown = src.codePointAt(start)!;
    return this.fail(start, `unexpected character '${String.fromCodePoint(shown)}'`);
  }

  private string(quote: string): Token {
    const src = this.source;
    const start = this.pos;
    let value = '';
    let i = start + 1;
    for (;;) {
      if (i >= src.length || src[i] === '\n' || src[i] === '\r') {
        this.fail(start, `unterminated string: expected a closing ${quote}`);
      }
      const c = src[i]!;
      if (c === quote) break;
      if (c === '\\') {
        const e = src[i + 1] ?? '';
        const decoded = ESCAPES[e];
        if (decoded === undefined) {
          const shown = e === '' || e === '\n' ? '\\' : `\\${e}`;
          this.fail(
            i,
            `unknown escape '${shown}' in a string; strings know \\" \\' \\\\ \\n \\t ` +
              `(a backslash itself is \\\\, as in regex("\\\\d+"))`,
          );
        }
        value += decoded;
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    this.pos = i + 1;
    return { kind: 'string', text: src.slice(start, this.pos), value, pos: start };
  }

  private number(): Token {
    const src = this.source;
    const start = this.pos;
    let end = src[start] === '-' ? start + 1 : start;
    while (end < src.length && isDigit(src[end]!)) end++;
    if (src[end] === '.' && isDigit(src[end + 1] ?? '')) {
      end++;
      while (end < src.length && isDigit(src[end]!)) end++;
    }
    if (end < src.length && (isIdentPart(src[end]!) || src[end] === '.')) {
      let wordEnd = end;
      while (wordEnd < src.length && (isIdentPart(src[wordEnd]!) || src[wordEnd] === '.')) wordEnd++;
      this.fail(start, `'${src.slice(start, wordEnd)}' is not a number; put text in quotes`);
    }
    this.pos = end;
    const text = src.slice(start, end);
    return { kind: 'number', text, value: Number(text), pos: start };
  }
}
