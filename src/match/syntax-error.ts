import { codes, LoopError } from '../errors.js';

/**
 * A rule that could not be compiled. The message points at the spot with a caret; `line` and `column`
 * (both 1-based) say the same for tools that show the rule themselves.
 */
export class RuleSyntaxError extends LoopError {
  /** 1-based line of the spot in the rule source. */
  readonly line: number;
  /** 1-based column of the spot in the rule source, in UTF-16 code units. */
  readonly column: number;

  constructor(message: string, line: number, column: number, options?: { cause?: unknown }) {
    super(codes.RULE_SYNTAX, message, options);
    this.line = line;
    this.column = column;
  }
}

/**
 * Builds the error for `pos` (an offset into `source`):
 *
 *     httploop: rule syntax error at 1:31: expected a string, number or function after '=='
 *       responseHeaders[":status"] ==
 *                                     ^
 */
export function ruleSyntaxError(
  source: string,
  name: string,
  pos: number,
  problem: string,
  cause?: unknown,
): RuleSyntaxError {
  const lineStart = source.lastIndexOf('\n', pos - 1) + 1;
  let lineEnd = source.indexOf('\n', lineStart);
  if (lineEnd === -1) lineEnd = source.length;
  let line = 1;
  for (let i = source.indexOf('\n'); i !== -1 && i < pos; i = source.indexOf('\n', i + 1)) line++;
  const column = pos - lineStart + 1;
  const text = source.slice(lineStart, lineEnd).replace(/\r$/, '');
  // Keep tabs in the caret's indent so that it lines up under tabbed source in a terminal.
  const indent = text.slice(0, pos - lineStart).replace(/[^\t]/g, ' ');
  const which = name === 'default' ? 'rule' : `rule "${name}"`;
  const message = `httploop: ${which} syntax error at ${line}:${column}: ${problem}\n  ${text}\n  ${indent}^`;
  return new RuleSyntaxError(message, line, column, cause === undefined ? undefined : { cause });
}
