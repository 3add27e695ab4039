/**
 * TapConfig files: YAML (several resources, `---` apart) or JSON, checked with every problem reported
 * as `file:line:column: message`, the way compilers and kubectl do. A document may also be a list of
 * resources, or a `kind: List` with `items` (what `kubectl get -o yaml` prints).
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Node } from 'yaml';
import { formatPath, validateTapConfig, type FieldPath, type TapConfig, type TapConfigProblem } from './tapconfig.js';

export interface FileProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  message: string;
}

/** `tap.yaml:7:3: unknown field 'smaple' in spec; did you mean 'sample'?` */
export function formatFileProblem(p: FileProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

/** What a rule engine says about `spec.match`; see validateTapConfig. */
export type MatchCheck = (match: string | Record<string, unknown>, name: string) => TapConfigProblem[];

interface Located {
  value: unknown;
  /** Where a field of this resource is in the file. */
  at(path: FieldPath, problem: TapConfigProblem): { line: number; column: number };
}

/**
 * Reads every TapConfig in `text`. Nothing is returned as valid unless the whole file is: `configs`
 * is empty whenever `problems` is not, so that an apply is all or nothing.
 */
export function loadTapConfigText(
  text: string,
  file: string,
  checkMatch: MatchCheck,
): { configs: TapConfig[]; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const resources = readResources(text, file, problems);
  const configs: TapConfig[] = [];
  const seen = new Map<string, number>();
  for (const resource of resources) {
    const result = validateTapConfig(resource.value, checkMatch);
    if (result.config === undefined) {
      const found = result.problems.map((p) => ({ file, ...resource.at(p.path, p), message: withPath(p) }));
      // In the order they stand in the file, as a reader goes through it.
      found.sort((a, b) => a.line - b.line || a.column - b.column);
      problems.push(...found);
      continue;
    }
    const name = result.config.metadata.name;
    const first = seen.get(name);
    if (first !== undefined) {
      const { line, column } = resource.at(['metadata', 'name'], { path: [], message: '' });
      problems.push({ file, line, column, message: `metadata.name '${name}' is used twice in this file (first at line ${first})` });
      continue;
    }
    seen.set(name, resource.at(['metadata', 'name'], { path: [], message: '' }).line);
    configs.push(result.config);
  }
  return problems.length > 0 ? { configs: [], problems } : { configs, problems };
}

/** Messages already start with the field they are about; others get it in front. */
function withPath(p: TapConfigProblem): string {
  const path = formatPath(p.path);
  return path === '' || p.message.startsWith(path) || p.message.startsWith('unknown field') ? p.message : `${path}: ${p.message}`;
}

function readResources(text: string, file: string, problems: FileProblem[]): Located[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const out: Located[] = [];
  const position = (offset: number): { line: number; column: number } => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const { line, column } = position(err.pos[0]);
        problems.push({ file, line, column, message: `not valid YAML or JSON: ${firstLine(err.message)}` });
      }
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    // An empty document, as after a trailing `---`.
    if (doc.contents === null || value === null || value === undefined) continue;
    const root = doc.contents as Node;
    const items = itemsOf(root, value);
    if (items === undefined) {
      out.push(located(root, value, position, text));
      continue;
    }
    items.forEach(({ node, value: item }) => out.push(located(node, item, position, text)));
  }
  if (out.length === 0 && problems.length === 0) {
    problems.push({ file, line: 1, column: 1, message: 'no TapConfig in this file' });
  }
  return out;
}

/** The resources of a list document (`- …` or `kind: List` with `items`), or undefined for one resource. */
function itemsOf(root: Node, value: unknown): Array<{ node: Node; value: unknown }> | undefined {
  let seq: Node | undefined;
  let values: unknown[] | undefined;
  if (isSeq(root) && Array.isArray(value)) {
    seq = root;
    values = value;
  } else if (isMap(root) && typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'List') {
    const items = root.get('items', true);
    const list = (value as { items?: unknown }).items;
    if (isSeq(items) && Array.isArray(list)) {
      seq = items;
      values = list;
    }
  }
  if (seq === undefined || values === undefined || !isSeq(seq)) return undefined;
  return seq.items.map((node, i) => ({ node: node as Node, value: values![i] }));
}

function located(
  root: Node,
  value: unknown,
  position: (offset: number) => { line: number; column: number },
  text: string,
): Located {
  return {
    value,
    at(path, problem) {
      // The deepest node on the path that exists: an unknown field points at its key, a missing one
      // at the mapping that lacks it.
      let node: Node = root;
      let key: Node | undefined;
      for (const part of path) {
        if (!isMap(node) && !isSeq(node)) break;
        let next: Node | undefined;
        let nextKey: Node | undefined;
        if (isMap(node)) {
          const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === part);
          if (pair) {
            nextKey = pair.key as Node;
            next = (pair.value as Node | null) ?? undefined;
          }
        } else if (typeof part === 'number') next = (node.items[part] as Node | undefined) ?? undefined;
        if (next === undefined && nextKey === undefined) break;
        key = nextKey;
        if (next === undefined) {
          node = nextKey!;
          break;
        }
        node = next;
      }
      if (problem.atKey && key?.range) return position(key.range[0]);
      const start = node.range?.[0] ?? 0;
      if (problem.ruleLine !== undefined && problem.ruleColumn !== undefined && isScalar(node)) {
        const inside = ruleOffset(node, text, problem.ruleLine, problem.ruleColumn);
        if (inside !== undefined) return position(inside);
      }
      return position(start);
    },
  };
}

/**
 * Where a spot of a rule is in the file, when the rule is written so that its text stands in the file
 * as is: a plain or quoted scalar on one line without escapes, or a literal block (`|`).
 */
function ruleOffset(node: Node, text: string, ruleLine: number, ruleColumn: number): number | undefined {
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return undefined;
  const [start, end] = node.range;
  const raw = text.slice(start, end);
  const value = node.value;
  switch (node.type) {
    case 'PLAIN':
      return ruleLine === 1 && raw === value ? start + ruleColumn - 1 : undefined;
    case 'QUOTE_DOUBLE':
    case 'QUOTE_SINGLE':
      return ruleLine === 1 && raw.slice(1, -1) === value ? start + ruleColumn : undefined;
    case 'BLOCK_LITERAL': {
      // The header line (`|`, `|-`, …) comes first; each rule line is a file line with the block's indent.
      const lines = raw.split('\n');
      const content = lines.slice(1);
      const indent = Math.min(...content.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
      if (!Number.isFinite(indent) || ruleLine > content.length) return undefined;
      let offset = start + lines[0]!.length + 1;
      for (let i = 0; i < ruleLine - 1; i++) offset += content[i]!.length + 1;
      return offset + indent + ruleColumn - 1;
    }
    default:
      return undefined;
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
