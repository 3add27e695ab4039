/**
 * A plain-object ExchangeView for rule tests: what a rule can read of an exchange, from a literal.
 * `reads` counts every call the rule makes into it.
 */
import assert from 'node:assert/strict';
import type { ExchangeView } from '../../src/match/index.js';

export interface ViewInit {
  method?: string;
  path?: string;
  url?: string;
  service?: string;
  status?: number;
  durationMs?: number;
  route?: string;
  requestHeaders?: Record<string, string>;
  responseHeaders?: Record<string, string>;
  requestTrailers?: Record<string, string>;
  responseTrailers?: Record<string, string>;
  /** A string is UTF-8 text; a Buffer is kept as the raw bytes. */
  requestBody?: string | Buffer;
  responseBody?: string | Buffer;
}

function text(body: string | Buffer | undefined): string | undefined {
  return body === undefined || typeof body === 'string' ? body : body.toString('utf8');
}

function bytes(body: string | Buffer | undefined): Uint8Array | undefined {
  return body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
}

export function view(init: ViewInit = {}): ExchangeView & { reads: number } {
  const lower = (name: string): string => {
    assert.equal(name, name.toLowerCase(), 'field names reach the view in lower case');
    return name;
  };
  const v = {
    reads: 0,
    get method() {
      v.reads++;
      return init.method ?? 'GET';
    },
    get path() {
      v.reads++;
      return init.path ?? '/orders/7';
    },
    get url() {
      v.reads++;
      return init.url ?? '/orders/7?full=1';
    },
    get service() {
      v.reads++;
      return init.service ?? 'orders';
    },
    get status() {
      v.reads++;
      return init.status ?? 0;
    },
    get durationMs() {
      v.reads++;
      return init.durationMs ?? 0;
    },
    get route() {
      v.reads++;
      return init.route;
    },
    requestHeader(name: string) {
      v.reads++;
      return init.requestHeaders?.[lower(name)];
    },
    responseHeader(name: string) {
      v.reads++;
      return init.responseHeaders?.[lower(name)];
    },
    requestTrailer(name: string) {
      v.reads++;
      return init.requestTrailers?.[lower(name)];
    },
    responseTrailer(name: string) {
      v.reads++;
      return init.responseTrailers?.[lower(name)];
    },
    requestBody() {
      v.reads++;
      return text(init.requestBody);
    },
    responseBody() {
      v.reads++;
      return text(init.responseBody);
    },
    requestBodyBytes() {
      v.reads++;
      return bytes(init.requestBody);
    },
    responseBodyBytes() {
      v.reads++;
      return bytes(init.responseBody);
    },
  };
  return v;
}
