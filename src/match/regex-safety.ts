/**
 * Refuses regular expressions that JavaScript's backtracking RegExp can take exponential time on.
 *
 * Rules run on every request, against header values and bodies of up to 64 KiB, and Envoy (whose
 * predicates we accept) runs them on RE2, which has no such cases. Two shapes cause the blow-ups seen in
 * practice (https://owasp.org/www-community/attacks/Regular_expression_Denial_of_Service_-_ReDoS):
 *
 * - backreferences (`\1`, `\k<name>`): matching them is NP-hard, and RE2 refuses them too;
 * - a group repeated without a fixed count (`*`, `+`, `{n,}`, `{n,m}`) that itself holds a variable
 *   quantifier (`*`, `+`, `?`, `{n,}`, `{n,m}`) or an alternation, at any depth: `(a+)+`, `(a*)*`,
 *   `(a|aa)*`, `(.*a){1,100}`. Such a group can split the same text in exponentially many ways, and
 *   a failing match tries them all. `x?` counts because it is the alternation `(x|)`.
 *
 * Exact counts (`(\d{1,3}\.){3}`) and `?` on a group are allowed: they do not multiply the ways. The
 * check is syntactic and conservative, so `(a|b)+` is refused although it is harmless; `[ab]+` is the
 * way to write it. The pattern must already have compiled with these flags (the check leans on that).
 */

/** What a group holds, at any depth. */
interface Contents {
  repeats: boolean;
  optional: boolean;
  alternation: boolean;
}

/** A piece of the pattern, from `pos` up to (not including) `end`. */
type Token = { pos: number; end: number } & (
  | { kind: 'open'; capturing: boolean; named: boolean }
  | { kind: 'close' | 'alternation' | 'atom' | 'namedReference' }
  | { kind: 'quantifier'; min: number; max: number }
  | { kind: 'decimalEscape'; n: number }
);

const BRACES = /\{(\d+)(?:(,)(\d*))?\}/y;

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Up to and including the next `close`, or just `from` if there is none. */
function through(pattern: string, from: number, close: string): number {
  const at = pattern.indexOf(close, from);
  return at === -1 ? from : at + 1;
}

function escape(pattern: string, pos: number, unicode: boolean): Token {
  const c = pattern[pos + 1];
  if (isDigit(c) && c !== '0') {
    let end = pos + 2;
    while (isDigit(pattern[end])) end++;
    return { kind: 'decimalEscape', pos, end, n: Number(pattern.slice(pos + 1, end)) };
  }
  if (c === 'k' && pattern[pos + 2] === '<') {
    const end = through(pattern, pos + 3, '>');
    if (end > pos + 3) return { kind: 'namedReference', pos, end };
  }
  // \p{…} and \u{…} (unicode mode): the braces belong to the escape, not to a quantifier.
  if (unicode && (c === 'p' || c === 'P' || c === 'u') && pattern[pos + 2] === '{') {
    return { kind: 'atom', pos, end: through(pattern, pos + 3, '}') };
  }
  return { kind: 'atom', pos, end: Math.min(pos + 2, pattern.length) };
}

/** `[...]`: a `]` right after `[` or `[^` closes it in JavaScript (`[]` matches nothing). */
function characterClass(pattern: string, pos: number): Token {
  let i = pos + 1;
  if (pattern[i] === '^') i++;
  while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
  return { kind: 'atom', pos, end: Math.min(i + 1, pattern.length) };
}

function group(pattern: string, pos: number): Token {
  if (pattern[pos + 1] !== '?') return { kind: 'open', pos, end: pos + 1, capturing: true, named: false };
  const next = pattern[pos + 2];
  const afterNext = pattern[pos + 3];
  if (next === '<' && afterNext !== '=' && afterNext !== '!') {
    return { kind: 'open', pos, end: through(pattern, pos + 3, '>'), capturing: true, named: true };
  }
  // (?:  (?=  (?!  (?<=  (?<!  and, in later engines, modifier groups such as (?i:
  const end =
    next === '<' ? pos + 4 : next === ':' || next === '=' || next === '!' ? pos + 3 : through(pattern, pos + 2, ':');
  return { kind: 'open', pos, end, capturing: false, named: false };
}

function quantifier(pattern: string, pos: number): Token | undefined {
  const c = pattern[pos];
  let min: number;
  let max: number;
  let end = pos + 1;
  if (c === '*' || c === '+' || c === '?') {
    min = c === '+' ? 1 : 0;
    max = c === '?' ? 1 : Infinity;
  } else {
    BRACES.lastIndex = pos;
    const m = BRACES.exec(pattern);
    if (m === null) return undefined; // outside unicode mode a stray `{` is a literal
    min = Number(m[1]);
    max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    end = BRACES.lastIndex;
  }
  if (pattern[end] === '?') end++; // lazy: the same ways to try, in another order
  return { kind: 'quantifier', pos, end, min, max };
}

function token(pattern: string, pos: number, unicode: boolean): Token {
  const c = pattern[pos];
  switch (c) {
    case '\\':
      return escape(pattern, pos, unicode);
    case '[':
      return characterClass(pattern, pos);
    case '(':
      return group(pattern, pos);
    case ')':
      return { kind: 'close', pos, end: pos + 1 };
    case '|':
      return { kind: 'alternation', pos, end: pos + 1 };
    case '*':
    case '+':
    case '?':
    case '{':
      return quantifier(pattern, pos) ?? { kind: 'atom', pos, end: pos + 1 };
    default:
      return { kind: 'atom', pos, end: pos + 1 };
  }
}

function* tokens(pattern: string, unicode: boolean): Generator<Token> {
  // Every token ends after it starts, so this visits each character once.
  for (let pos = 0; pos < pattern.length; ) {
    const t = token(pattern, pos, unicode);
    yield t;
    pos = Math.max(t.end, pos + 1);
  }
}

function backreference(pattern: string, flags: string, ref: string): string {
  return (
    `regex /${pattern}/${flags} uses a backreference (${ref}), which can take exponential time on some inputs; ` +
    `rules run on every request, so write it without the backreference`
  );
}

const NESTING: Record<keyof Contents, { what: string; fix: string }> = {
  repeats: { what: 'a repeated group that itself repeats', fix: 'write it without the nested repetition' },
  alternation: {
    what: 'a repeated group with alternatives inside',
    fix: 'write it without alternatives inside the repetition (a character class often does: [ab]+ rather than (a|b)+)',
  },
  optional: {
    what: 'a repeated group with an optional part inside',
    fix: 'write it without the optional part inside the repetition',
  },
};

function nesting(pattern: string, flags: string, why: keyof Contents, piece: string): string {
  const { what, fix } = NESTING[why];
  const where = piece === pattern ? '' : `, in ${piece}`;
  return (
    `regex /${pattern}/${flags} could take exponential time on some inputs (${what}${where}); ` +
    `rules run on every request, so ${fix}`
  );
}

/** The first reason a repeated group with these contents is refused, if any. */
function hazardOf(contents: Contents): keyof Contents | undefined {
  if (contents.repeats) return 'repeats';
  if (contents.alternation) return 'alternation';
  if (contents.optional) return 'optional';
  return undefined;
}

function captureGroups(pattern: string, unicode: boolean): { count: number; named: boolean } {
  let count = 0;
  let named = false;
  for (const token of tokens(pattern, unicode)) {
    if (token.kind !== 'open' || !token.capturing) continue;
    count++;
    if (token.named) named = true;
  }
  return { count, named };
}

/**
 * Why `pattern` (already known to compile with `flags`) could take exponential time, as a message for
 * the rule's author with the fix; undefined when it passes.
 */
export function regexHazard(pattern: string, flags: string): string | undefined {
  const unicode = flags.includes('u');
  const groups = captureGroups(pattern, unicode);
  const empty = (): Contents => ({ repeats: false, optional: false, alternation: false });
  const frames: Array<{ start: number; contents: Contents }> = [{ start: 0, contents: empty() }];
  // What a quantifier would apply to: its start, and for a group what the group holds.
  let last: { start: number; contents: Contents | undefined } | undefined;
  for (const token of tokens(pattern, unicode)) {
    const top = frames[frames.length - 1]!.contents;
    switch (token.kind) {
      case 'open':
        frames.push({ start: token.pos, contents: empty() });
        last = undefined;
        break;
      case 'close': {
        const closed = frames.length > 1 ? frames.pop()! : { start: token.pos, contents: empty() };
        const parent = frames[frames.length - 1]!.contents;
        parent.repeats ||= closed.contents.repeats;
        parent.optional ||= closed.contents.optional;
        parent.alternation ||= closed.contents.alternation;
        last = closed;
        break;
      }
      case 'alternation':
        top.alternation = true;
        last = undefined;
        break;
      case 'decimalEscape':
        // Outside unicode mode, \N with fewer than N groups is an octal escape (ECMA-262 Annex B).
        if (token.n <= groups.count) return backreference(pattern, flags, pattern.slice(token.pos, token.end));
        last = { start: token.pos, contents: undefined };
        break;
      case 'namedReference':
        // Without named groups (and outside unicode mode) \k is just the letter k.
        if (unicode || groups.named) return backreference(pattern, flags, pattern.slice(token.pos, token.end));
        last = { start: token.pos, contents: undefined };
        break;
      case 'atom':
        last = { start: token.pos, contents: undefined };
        break;
      case 'quantifier': {
        const repeating = token.max > token.min && token.max >= 2;
        const why = repeating && last?.contents !== undefined ? hazardOf(last.contents) : undefined;
        if (why !== undefined) return nesting(pattern, flags, why, pattern.slice(last!.start, token.end));
        if (repeating) top.repeats = true;
        else if (token.max > token.min) top.optional = true;
        last = undefined;
        break;
      }
    }
  }
  return undefined;
}
