import { LoopError, codes } from '../errors.js';

/** One step of a JSON path: an object key, an array index, or `*` (any key or index). */
export type PathSegment = string | number | { any: true };

const ANY: PathSegment = { any: true };
const NAME = /^[A-Za-z_$][\w$-]*/;

function bad(text: string): LoopError {
  return new LoopError(
    codes.USAGE,
    `bad JSON path '${text}': use a JSONPath like $.a.b, $.items[*].id, $.items[0] or $["a key"]`,
  );
}

/** `$.a.b`, `$.items[*].id`, `$.items[0]`, `$["a key"]`, `$.a.*` → segments. */
export function parseJsonPath(text: string): PathSegment[] {
  const source = text.trim();
  if (!source.startsWith('$')) throw bad(text);
  const segments: PathSegment[] = [];
  let rest = source.slice(1);
  while (rest.length) {
    if (rest.startsWith('.*')) {
      segments.push(ANY);
      rest = rest.slice(2);
    } else if (rest.startsWith('.')) {
      const name = NAME.exec(rest.slice(1));
      if (!name) throw bad(text);
      segments.push(name[0]);
      rest = rest.slice(1 + name[0].length);
    } else if (rest.startsWith('[*]')) {
      segments.push(ANY);
      rest = rest.slice(3);
    } else if (/^\[[0-9]+\]/.test(rest)) {
      const index = /^\[([0-9]+)\]/.exec(rest)!;
      segments.push(Number(index[1]));
      rest = rest.slice(index[0].length);
    } else if (/^\[(["'])/.test(rest)) {
      const quoted = /^\[("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\]/.exec(rest);
      if (!quoted) throw bad(text);
      const inner = quoted[1]!;
      let key: string;
      try {
        key = inner.startsWith('"') ? (JSON.parse(inner) as string) : (JSON.parse(`"${inner.slice(1, -1).replace(/"/g, '\\"').replace(/\\'/g, "'")}"`) as string);
      } catch {
        throw bad(text);
      }
      segments.push(key);
      rest = rest.slice(quoted[0].length);
    } else {
      throw bad(text);
    }
  }
  return segments;
}

/** The path as text, in the form {@link parseJsonPath} reads back: `$.a[0]["b c"]`. */
export function formatJsonPath(segments: PathSegment[]): string {
  let out = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'object') out += '[*]';
    else out += /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** True when `pattern` names `path` or one of its ancestors (ignoring `$.a` ignores all under it). */
export function pathMatches(pattern: PathSegment[], path: PathSegment[]): boolean {
  if (pattern.length > path.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (typeof p === 'object') continue;
    if (p !== path[i]) return false;
  }
  return true;
}
