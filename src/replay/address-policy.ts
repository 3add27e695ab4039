import { lookup as dnsLookup } from 'node:dns/promises';
import { LoopError, codes, networkReason, type LoopErrorCode } from '../errors.js';
import { classifyIp, describeClass, parseIp, type AddressClass, type IpAddress } from './address.js';
import type { Destination } from './destination.js';

/** One `host:port` a server-side replay may go to. */
export interface AllowEntry {
  /** A lower-case host name without a trailing dot, or the canonical text of `ip`. */
  host: string;
  /** Set when the entry is an IP address: that address, even loopback or private, is then allowed. */
  ip?: IpAddress;
  port: number;
}

/** Where a checked replay connects: the address that was validated, never a second lookup. */
export interface CheckedAddress {
  address: string;
  family: 4 | 6;
  kind: AddressClass;
}

/** Resolves a name to every address it has; dns.lookup (the system resolver) unless a test gives another. */
export type ResolveAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

const NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const EXAMPLES = 'like staging.internal:8080, 10.0.0.5:8080 or [fd00::5]:8080';

function normalName(host: string): string {
  return host.toLowerCase().replace(/\.$/, '');
}

/**
 * Reads one allowlist entry: `name:port`, `a.b.c.d:port` (dotted decimal only: an entry is written
 * once, by an operator, so it has no reason to use 0x7f.1 or 2130706433) or `[ipv6]:port`. A port is
 * required; there are no wildcards, so every reachable service is named.
 */
export function parseAllowEntry(text: string, label: string, code: LoopErrorCode = codes.INVALID_OPTION): AllowEntry {
  const fail = (why: string): LoopError => new LoopError(code, `bad ${label} entry '${text}': ${why}`);
  const match = /^(\[[^\]]*\]|[^:[\]]*):([^:]*)$/.exec(text.trim());
  if (!match) throw fail(`use host:port, ${EXAMPLES}`);
  const [, rawHost, rawPort] = match as unknown as [string, string, string];
  const port = /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
  if (!(port >= 1 && port <= 65535)) throw fail(`the port must be a number from 1 to 65535 (no wildcards), ${EXAMPLES}`);
  const ip = parseIp(rawHost);
  if (ip === null || (ip === undefined && rawHost.startsWith('['))) throw fail(`'${rawHost}' is not an IP address; use host:port, ${EXAMPLES}`);
  if (ip) {
    const spelled = rawHost.startsWith('[') ? ip.family === 6 : ip.address === rawHost;
    if (!spelled) throw fail(`write the address as ${ip.family === 6 ? `[${ip.address}]` : ip.address}:${port}`);
    return { host: ip.address, ip, port };
  }
  const host = normalName(rawHost);
  if (!NAME.test(host)) throw fail(`'${rawHost}' is not a host name; use host:port, ${EXAMPLES}`);
  return { host, port };
}

/**
 * The destinations a collector may replay to (`loopctl serve --replay-allow`). Entries may be given as
 * separate strings or comma-separated; all are checked here, so a bad one stops the collector starting.
 */
export function parseAllowList(entries: readonly string[], label: string, code: LoopErrorCode = codes.INVALID_OPTION): AllowEntry[] {
  const list: AllowEntry[] = [];
  for (const item of entries) {
    for (const part of item.split(',')) {
      if (part.trim() === '') throw new LoopError(code, `bad ${label}: an empty entry in '${item}'; use host:port[,host:port…], ${EXAMPLES}`);
      list.push(parseAllowEntry(part.trim(), label, code));
    }
  }
  return list;
}

function formatEntry(host: string, family: 4 | 6 | undefined, port: number): string {
  return `${family === 6 ? `[${host}]` : host}:${port}`;
}

function notAllowed(destination: Destination): LoopError {
  const entry = formatEntry(destination.hostname, destination.hostname.includes(':') ? 6 : undefined, destination.port);
  return new LoopError(
    codes.REPLAY_NOT_ALLOWED,
    `the destination ${destination.display} is not on the collector's replay allowlist; start the collector with --replay-allow ${entry} to allow it`,
  );
}

/**
 * Decides whether a server-side replay may go to `destination`, and where it then connects:
 *
 * - an IP address in any form (`0x7f.1`, `2130706433`, `[::ffff:127.0.0.1]`) is read as the address it
 *   is; it must be listed, and when it is loopback, private, link-local or otherwise not public the
 *   refusal says so;
 * - a name must be listed, is resolved once, and every address it resolves to that is not public must
 *   itself be listed (with the same port), so a listed name cannot lead to an internal address;
 * - the connection then goes to the first resolved address, passed to the socket as is, so a DNS answer
 *   that changes between the check and the connection (rebinding) cannot change the target.
 */
export async function checkDestination(
  allow: readonly AllowEntry[],
  destination: Destination,
  resolveAll: ResolveAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true }),
): Promise<CheckedAddress> {
  const { port } = destination;
  const listedIp = (ip: IpAddress): boolean => allow.some((e) => e.ip && e.ip.address === ip.address && e.port === port);
  const literal = parseIp(destination.hostname);
  if (literal === null) {
    throw new LoopError(codes.BAD_DESTINATION, `bad destination '${destination.display}': '${destination.hostname}' is numeric but not a valid IP address`);
  }
  if (literal) {
    const kind = classifyIp(literal);
    if (listedIp(literal)) return { address: literal.address, family: literal.family, kind };
    if (kind === 'public') throw notAllowed(destination);
    const shown = destination.hostname === literal.address ? `${destination.display} is` : `${destination.display} is ${literal.address},`;
    throw new LoopError(
      codes.REPLAY_FORBIDDEN_ADDRESS,
      `the destination ${shown} ${describeClass(kind)} not on the collector's replay allowlist; ` +
        `start the collector with --replay-allow ${formatEntry(literal.address, literal.family, port)} to allow it`,
    );
  }

  const name = normalName(destination.hostname);
  if (!allow.some((e) => !e.ip && e.host === name && e.port === port)) throw notAllowed(destination);
  let answers: Array<{ address: string; family: number }>;
  try {
    answers = await resolveAll(name);
  } catch (err) {
    throw new LoopError(
      codes.DESTINATION_UNREACHABLE,
      `cannot resolve the destination ${destination.display} (${networkReason(err as NodeJS.ErrnoException)})`,
      { cause: err },
    );
  }
  if (!answers.length) throw new LoopError(codes.DESTINATION_UNREACHABLE, `cannot resolve the destination ${destination.display} (no address)`);
  const checked: CheckedAddress[] = [];
  for (const answer of answers) {
    const ip = parseIp(answer.address);
    if (!ip) {
      throw new LoopError(codes.REPLAY_FORBIDDEN_ADDRESS, `the destination ${destination.display} resolves to '${answer.address}', which is not an IP address`);
    }
    const kind = classifyIp(ip);
    if (kind !== 'public' && !listedIp(ip)) {
      throw new LoopError(
        codes.REPLAY_FORBIDDEN_ADDRESS,
        `the destination ${destination.display} resolves to ${ip.address}, ${describeClass(kind)} not on the collector's replay allowlist; ` +
          `start the collector with --replay-allow ${formatEntry(ip.address, ip.family, port)} as well to allow it`,
      );
    }
    checked.push({ address: ip.address, family: ip.family, kind });
  }
  return checked[0]!;
}
