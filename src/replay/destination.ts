import { LoopError, codes } from '../errors.js';

/** Where a replay goes. */
export interface Destination {
  protocol: 'http:' | 'https:';
  /** Host name or IP address to connect to (IPv6 without brackets). */
  hostname: string;
  port: number;
  /** The value of the Host header sent: `host:port` as given, or the URL's host. */
  host: string;
  /** A path prefix from a URL destination (`https://staging.example/api` → `/api`), else empty. */
  basePath: string;
  /** How the destination is named in messages. */
  display: string;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?):([0-9]{1,5})$/;

function bad(text: string): LoopError {
  return new LoopError(codes.BAD_DESTINATION, `bad destination '${text}': use host:port or an http(s) URL`);
}

/** `host:port`, `[::1]:port`, or `http(s)://host[:port][/base]`. */
export function parseDestination(text: string): Destination {
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw bad(text);
    }
    if (url.username || url.password || url.search || url.hash || !url.hostname) throw bad(text);
    const protocol = url.protocol as 'http:' | 'https:';
    const port = url.port ? Number(url.port) : protocol === 'https:' ? 443 : 80;
    const basePath = url.pathname.replace(/\/+$/, '');
    return {
      protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port,
      host: url.host,
      basePath,
      display: `${protocol}//${url.host}${basePath}`,
    };
  }
  const match = HOST_PORT.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) throw bad(text);
  return {
    protocol: 'http:',
    hostname: match[1]!.replace(/^\[(.*)\]$/, '$1'),
    port,
    host: text,
    basePath: '',
    display: text,
  };
}
