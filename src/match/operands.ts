/**
 * How each operand reads an exchange, and from which phase on it can. Accessors are made once per rule;
 * on evaluation they only call the view.
 */
import type { OperandNode } from './parser.js';
import type { ExchangeView, Phase } from './rule.js';

export interface Operand {
  /** As written in rules, for messages. */
  readonly label: string;
  /** The first phase at which the value is known. */
  readonly phase: Phase;
  /** `status` and `duration`: compared as numbers, matched as their decimal text. */
  readonly numeric: boolean;
  /** `method` and `:method`: string literals compared with it are upper-cased once, at compile time. */
  readonly upperCase: boolean;
  /** The value as text; undefined when absent. */
  readonly text: (view: ExchangeView) => string | undefined;
  /** The value as a number; NaN when absent or not a decimal number. */
  readonly number: (view: ExchangeView) => number;
}

/** Decimal numbers only: Number() would also take '', ' ', '0x1f' and 'Infinity'. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export function isDecimal(text: string): boolean {
  return DECIMAL.test(text);
}

export function toNumber(text: string | undefined): number {
  return text !== undefined && DECIMAL.test(text) ? Number(text) : NaN;
}

// Status codes and most durations are small integers: their text comes from this table, so matching
// `status == prefix("5")` allocates nothing.
const SMALL_INTS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i));

function numberText(n: number): string | undefined {
  if (Number.isNaN(n)) return undefined;
  return n >= 0 && n < 1000 && Number.isInteger(n) ? SMALL_INTS[n] : String(n);
}

/** 0 means "not known" (the response never started), which reads as absent. */
function statusNumber(view: ExchangeView): number {
  const status = view.status;
  return status > 0 ? status : NaN;
}

function statusText(view: ExchangeView): string | undefined {
  return numberText(statusNumber(view));
}

function make(
  label: string,
  phase: Phase,
  text: (view: ExchangeView) => string | undefined,
  extra?: Partial<Pick<Operand, 'numeric' | 'upperCase' | 'number'>>,
): Operand {
  return {
    label,
    phase,
    numeric: extra?.numeric ?? false,
    upperCase: extra?.upperCase ?? false,
    text,
    number: extra?.number ?? ((view) => toNumber(text(view))),
  };
}

function header(node: OperandNode, name: string): Operand {
  const label = `${node.name}["${name}"]`;
  if (node.name === 'responseHeaders') {
    if (name === ':status') return make(label, 2, statusText, { number: statusNumber });
    return make(label, 2, (view) => view.responseHeader(name));
  }
  switch (name) {
    case ':method':
      return make(label, 0, (view) => view.method, { upperCase: true });
    case ':path':
      return make(label, 0, (view) => view.url);
    case ':authority':
      // HTTP/2 requests carry :authority instead of Host.
      return make(label, 0, (view) => view.requestHeader('host') ?? view.requestHeader(':authority'));
    case ':scheme':
      return make(label, 0, (view) => view.requestHeader(':scheme') ?? 'http');
    default:
      return make(label, 0, (view) => view.requestHeader(name));
  }
}

export function resolveOperand(node: OperandNode): Operand {
  switch (node.name) {
    case 'requestHeaders':
    case 'responseHeaders':
      return header(node, node.header!);
    case 'requestTrailers': {
      // Node sets req.trailers when the body has been read to its end.
      const name = node.header!;
      return make(`requestTrailers["${name}"]`, 1, (view) => view.requestTrailer(name));
    }
    case 'responseTrailers': {
      const name = node.header!;
      return make(`responseTrailers["${name}"]`, 3, (view) => view.responseTrailer(name));
    }
    case 'method':
      return make('method', 0, (view) => view.method, { upperCase: true });
    case 'path':
      return make('path', 0, (view) => view.path);
    case 'service':
      return make('service', 0, (view) => view.service);
    case 'requestBody':
      return make('requestBody', 1, (view) => view.requestBody());
    case 'status':
      return make('status', 2, statusText, { numeric: true, number: statusNumber });
    case 'route':
      return make('route', 2, (view) => view.route);
    case 'duration':
      return make('duration', 3, (view) => numberText(view.durationMs), {
        numeric: true,
        number: (view) => view.durationMs,
      });
    case 'responseBody':
      return make('responseBody', 3, (view) => view.responseBody());
  }
}
