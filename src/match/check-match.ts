/**
 * What is wrong with a TapConfig's `spec.match`, as problems the TapConfig validator can place: a text
 * rule's syntax error keeps its spot in the rule (so a file can point at it), an Envoy predicate's
 * problems keep their field paths.
 */
import { PredicateError } from './envoy.js';
import { compileMatch } from './rule.js';
import { RuleSyntaxError } from './syntax-error.js';
import type { FieldPath, TapConfigProblem } from './tapconfig.js';

export function checkMatch(match: string | Record<string, unknown>, name: string): TapConfigProblem[] {
  try {
    compileMatch(match, name);
    return [];
  } catch (err) {
    if (err instanceof RuleSyntaxError) {
      return [{ path: [], message: ruleProblem(err), ruleLine: err.line, ruleColumn: err.column }];
    }
    if (err instanceof PredicateError) {
      return err.problems.map((p) => ({ path: splitPath(p.path), message: p.message, ...(p.atKey ? { atKey: true } : {}) }));
    }
    throw err;
  }
}

/** `httploop: rule "x" syntax error at 1:31: expected …\n  rule\n  ^` → `rule syntax error at 1:31: expected …` */
function ruleProblem(err: RuleSyntaxError): string {
  const first = err.message.split('\n')[0]!;
  const at = first.indexOf('syntax error at ');
  return at === -1 ? first : `rule ${first.slice(at)}`;
}

/** `match.and_match.rules[1].headers` → ['and_match', 'rules', 1, 'headers'] (the leading `match` is the field's own). */
export function splitPath(path: string): FieldPath {
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(m[1]!);
  }
  if (out[0] === 'match') out.shift();
  return out;
}
