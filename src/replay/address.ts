/**
 * IP addresses as an SSRF check must see them. A host like `0x7f.1`, `2130706433` or `0177.0.0.1` is
 * not a name: the C library's inet_aton (behind getaddrinfo, so behind Node's dns.lookup) reads it as
 * 127.0.0.1, and so does the WHATWG URL parser. This module reads every such form the same way, so a
 * check can never see a name where the connection will see loopback.
 */

/** What kind of address it is; everything but `public` is refused unless explicitly listed. */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

/** An IP address in one canonical spelling. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is its IPv4 address. */
export interface IpAddress {
  family: 4 | 6;
  /** Dotted decimal for IPv4; RFC 5952 text (lower case, longest zero run as `::`) for IPv6. */
  address: string;
  /** 4 or 16 bytes. */
  bytes: Uint8Array;
}

/**
 * One part of an inet_aton address: decimal, octal with a leading 0, or hex with 0x. Returns
 * undefined when the text is no such number (then the whole host is a name).
 */
function atonPart(text: string): number | undefined {
  let value: number;
  if (/^0x[0-9a-f]*$/i.test(text)) value = text.length === 2 ? 0 : parseInt(text.slice(2), 16);
  else if (/^0[0-7]*$/.test(text)) value = text.length === 1 ? 0 : parseInt(text.slice(1), 8);
  else if (/^[1-9][0-9]*$/.test(text)) value = Number(text);
  else return undefined;
  // Long runs of digits are still numbers (out of range), not names: refuse to call them names.
  return Number.isFinite(value) ? value : Number.POSITIVE_INFINITY;
}

/**
 * Reads IPv4 the way inet_aton does: 1 to 4 parts, each decimal, octal or hex, the last filling the
 * remaining bytes (`127.1` is 127.0.0.1, `2130706433` is 127.0.0.1). A single trailing dot is allowed,
 * as in a fully qualified name. Returns undefined for anything else, and also `null` when the text is
 * numeric but out of range (neither a valid address nor a name).
 */
export function parseIpv4(text: string): Uint8Array | undefined | null {
  const bare = text.endsWith('.') ? text.slice(0, -1) : text;
  const parts = bare.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = atonPart(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return null;
  const lastBytes = 4 - numbers.length;
  if (last >= 2 ** (8 * lastBytes)) return null;
  const bytes = new Uint8Array(4);
  numbers.forEach((n, i) => (bytes[i] = n));
  for (let i = 0; i < lastBytes; i++) bytes[3 - i] = Math.floor(last / 2 ** (8 * i)) % 256;
  return bytes;
}

/** Reads IPv6 text (with `::`, with a trailing dotted IPv4, without brackets or zone) into 16 bytes. */
export function parseIpv6(text: string): Uint8Array | undefined {
  const noZone = text.replace(/%.*$/, '');
  if (!/^[0-9a-f:.]+$/i.test(noZone) || !noZone.includes(':')) return undefined;
  const halves = noZone.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const pieces = half.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        if (!/^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/.test(piece)) return undefined;
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
        out.push(a * 256 + b, c * 256 + d);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes[i]! * 256 + bytes[i + 1]!);
  // RFC 5952 section 4.2: the longest run of two or more zero groups (the first of equals) becomes ::.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function ipv4(bytes: Uint8Array): IpAddress {
  return { family: 4, address: Array.from(bytes).join('.'), bytes };
}

/**
 * The IP address a host stands for, when it is an address in any form a connection would accept: dotted
 * or inet_aton IPv4 (`10.1`, `0xa.0.0.1`, `167772161`), IPv6 with or without brackets. Undefined for a
 * name. `null` for numeric text no resolver would read as a valid address (`256.1.1.1`): a check must
 * refuse it rather than pass it on as a name.
 */
export function parseIp(host: string): IpAddress | undefined | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.includes(':')) {
    const bytes = parseIpv6(bare);
    if (!bytes) return null;
    if (isMapped(bytes)) return ipv4(bytes.slice(12));
    return { family: 6, address: formatIpv6(bytes), bytes };
  }
  const bytes = parseIpv4(bare);
  if (bytes === null) return null;
  return bytes ? ipv4(bytes) : undefined;
}

interface Range {
  /** Network bytes (4 or 16), compared on the first `bits`. */
  net: number[];
  bits: number;
  kind: AddressClass;
}

function inRange(bytes: Uint8Array, range: Range): boolean {
  for (let bit = 0; bit < range.bits; bit += 8) {
    const left = Math.min(8, range.bits - bit);
    const mask = (0xff << (8 - left)) & 0xff;
    if ((bytes[bit / 8]! & mask) !== ((range.net[bit / 8] ?? 0) & mask)) return false;
  }
  return true;
}

// IANA special-purpose registries (RFC 6890 and updates). First match wins, so narrow ranges go first.
const V4_RANGES: Range[] = [
  { net: [255, 255, 255, 255], bits: 32, kind: 'broadcast' },
  { net: [0, 0, 0, 0], bits: 32, kind: 'unspecified' },
  { net: [0], bits: 8, kind: 'unspecified' }, // "this network": Linux connects 0.x.y.z to the local host
  { net: [127], bits: 8, kind: 'loopback' },
  { net: [10], bits: 8, kind: 'private' },
  { net: [172, 16], bits: 12, kind: 'private' },
  { net: [192, 168], bits: 16, kind: 'private' },
  { net: [100, 64], bits: 10, kind: 'private' }, // carrier-grade NAT, RFC 6598
  { net: [169, 254], bits: 16, kind: 'link-local' },
  { net: [192, 0, 0], bits: 24, kind: 'reserved' },
  { net: [192, 0, 2], bits: 24, kind: 'reserved' },
  { net: [198, 51, 100], bits: 24, kind: 'reserved' },
  { net: [203, 0, 113], bits: 24, kind: 'reserved' },
  { net: [198, 18], bits: 15, kind: 'reserved' },
  { net: [224], bits: 4, kind: 'multicast' },
  { net: [240], bits: 4, kind: 'reserved' },
];

const V6_RANGES: Range[] = [
  { net: [], bits: 128, kind: 'unspecified' },
  { net: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], bits: 128, kind: 'loopback' },
  { net: [], bits: 96, kind: 'reserved' }, // IPv4-compatible (::a.b.c.d), deprecated by RFC 4291
  { net: [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], bits: 48, kind: 'private' }, // local-use NAT64, RFC 8215
  { net: [0x01, 0x00, 0, 0, 0, 0, 0, 0], bits: 64, kind: 'reserved' }, // discard-only, RFC 6666
  { net: [0x20, 0x01, 0x0d, 0xb8], bits: 32, kind: 'reserved' }, // documentation
  { net: [0x20, 0x01, 0, 0], bits: 32, kind: 'reserved' }, // Teredo: the IPv4 inside is obfuscated
  { net: [0xfc], bits: 7, kind: 'private' }, // unique local
  { net: [0xfe, 0x80], bits: 10, kind: 'link-local' },
  { net: [0xfe, 0xc0], bits: 10, kind: 'private' }, // site-local, deprecated
  { net: [0xff], bits: 8, kind: 'multicast' },
];

/** The IPv4 address an IPv6 address carries to an IPv4 network (NAT64 64:ff9b::/96, 6to4 2002::/16). */
function embeddedIpv4(bytes: Uint8Array): Uint8Array | undefined {
  if (inRange(bytes, { net: [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], bits: 96, kind: 'public' })) return bytes.slice(12);
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6);
  return undefined;
}

/** Loopback, private, link-local, …, or public. */
export function classifyIp(ip: IpAddress): AddressClass {
  if (ip.family === 4) return V4_RANGES.find((r) => inRange(ip.bytes, r))?.kind ?? 'public';
  const kind = V6_RANGES.find((r) => inRange(ip.bytes, r))?.kind;
  if (kind) return kind;
  const inner = embeddedIpv4(ip.bytes);
  return inner ? classifyIp(ipv4(inner)) : 'public';
}

/** `a loopback address`, `an unspecified address`: for messages. */
export function describeClass(kind: AddressClass): string {
  return `${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} address`;
}
