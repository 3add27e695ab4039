export {
  compileRule,
  compileMatch,
  describeMatch,
  formatRule,
  DEFAULT_RULE,
  PHASE_REQUEST_HEADERS,
  PHASE_REQUEST_BODY,
  PHASE_RESPONSE_HEADERS,
  PHASE_RESPONSE_END,
  RuleSyntaxError,
  PredicateError,
} from './rule.js';
export type { CompiledRule, ExchangeView, Phase } from './rule.js';
