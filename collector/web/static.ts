/**
 * The console's files, served by the collector at `/`, `/console.js` and `/console.css`. They are
 * strings compiled into the collector (collector/web/assets/), so the same console is served from the
 * repo (`npx loopctl serve`, tsx) and from an installed package, with no file to find at run time.
 * The page holds no data, so it is served without the token; every API call it makes sends it.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CAPTURES_JS } from './assets/captures-js.js';
import { CORE_JS } from './assets/core-js.js';
import { INDEX_HTML } from './assets/page.js';
import { CONSOLE_CSS } from './assets/style.js';
import { VIEWS_JS } from './assets/views-js.js';

interface Asset {
  type: string;
  bytes: Buffer;
  etag: string;
}

function asset(type: string, text: string): Asset {
  const bytes = Buffer.from(text, 'utf8');
  return { type, bytes, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"` };
}

const ASSETS: Record<string, Asset> = {
  '/': asset('text/html; charset=utf-8', INDEX_HTML),
  '/console.js': asset('text/javascript; charset=utf-8', `(function () {\n${CORE_JS}${CAPTURES_JS}${VIEWS_JS}})();\n`),
  '/console.css': asset('text/css; charset=utf-8', CONSOLE_CSS),
};

/** Bytes of the console as served (page, script, style sheet). */
export const CONSOLE_SIZE = Object.values(ASSETS).reduce((sum, a) => sum + a.bytes.length, 0);

// Only our own script and style; nothing from elsewhere; no framing (clickjacking), no referrer.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export async function serveConsoleFile(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const file = ASSETS[url.pathname]!;
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': file.type,
    etag: file.etag,
    // Revalidated every time: a new collector version serves a new console at once.
    'cache-control': 'no-cache',
  };
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': String(file.bytes.length) });
  res.end(req.method === 'HEAD' ? undefined : file.bytes);
}
