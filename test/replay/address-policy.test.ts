import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { test } from 'node:test';
import { LoopError, codes } from '../../src/errors.js';
import { classifyIp, parseIp } from '../../src/replay/address.js';
import { checkDestination, parseAllowEntry, parseAllowList } from '../../src/replay/address-policy.js';
import { parseDestination } from '../../src/replay/destination.js';
import { buildReplayRequest, sendReplay } from '../../src/replay/send.js';
import { sampleCapture, startHttpServer } from '../helpers.js';

// Every spelling a connection (inet_aton behind getaddrinfo, or the WHATWG URL parser) reads as an
// address, with the canonical address and the class the check must see.
const FORMS: Array<[string, string, string]> = [
  ['127.0.0.1', '127.0.0.1', 'loopback'],
  ['127.0.0.2', '127.0.0.2', 'loopback'],
  ['127.1', '127.0.0.1', 'loopback'],
  ['2130706433', '127.0.0.1', 'loopback'],
  ['0177.0.0.1', '127.0.0.1', 'loopback'],
  ['017700000001', '127.0.0.1', 'loopback'],
  ['0x7f.0.0.1', '127.0.0.1', 'loopback'],
  ['0x7f.1', '127.0.0.1', 'loopback'],
  ['0x7F000001', '127.0.0.1', 'loopback'],
  ['0x7f.0x0.0.01', '127.0.0.1', 'loopback'],
  ['127.0.0.1.', '127.0.0.1', 'loopback'],
  ['::1', '::1', 'loopback'],
  ['[::1]', '::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', '::1', 'loopback'],
  ['::ffff:127.0.0.1', '127.0.0.1', 'loopback'],
  ['[::ffff:127.0.0.1]', '127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', '127.0.0.1', 'loopback'],
  ['0:0:0:0:0:FFFF:7F00:0001', '127.0.0.1', 'loopback'],
  ['64:ff9b::7f00:1', '64:ff9b::7f00:1', 'loopback'],
  ['2002:7f00:1::', '2002:7f00:1::', 'loopback'],
  ['0.0.0.0', '0.0.0.0', 'unspecified'],
  ['0', '0.0.0.0', 'unspecified'],
  ['0x0', '0.0.0.0', 'unspecified'],
  ['0.1.2.3', '0.1.2.3', 'unspecified'],
  ['::', '::', 'unspecified'],
  ['10.0.0.5', '10.0.0.5', 'private'],
  ['167772165', '10.0.0.5', 'private'],
  ['012.0.0.05', '10.0.0.5', 'private'],
  ['0xa.5', '10.0.0.5', 'private'],
  ['::ffff:10.0.0.5', '10.0.0.5', 'private'],
  ['172.16.0.1', '172.16.0.1', 'private'],
  ['172.31.255.255', '172.31.255.255', 'private'],
  ['192.168.1.1', '192.168.1.1', 'private'],
  ['0xc0a80101', '192.168.1.1', 'private'],
  ['100.64.0.1', '100.64.0.1', 'private'],
  ['100.127.255.255', '100.127.255.255', 'private'],
  ['fc00::1', 'fc00::1', 'private'],
  ['fd12:3456::1', 'fd12:3456::1', 'private'],
  ['169.254.169.254', '169.254.169.254', 'link-local'],
  ['2852039166', '169.254.169.254', 'link-local'],
  ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254', 'link-local'],
  ['[::ffff:a9fe:a9fe]', '169.254.169.254', 'link-local'],
  ['fe80::1', 'fe80::1', 'link-local'],
  ['febf::1', 'febf::1', 'link-local'],
  ['224.0.0.1', '224.0.0.1', 'multicast'],
  ['ff02::1', 'ff02::1', 'multicast'],
  ['255.255.255.255', '255.255.255.255', 'broadcast'],
  ['0xffffffff', '255.255.255.255', 'broadcast'],
  ['240.0.0.1', '240.0.0.1', 'reserved'],
  ['192.0.2.1', '192.0.2.1', 'reserved'],
  ['::127.0.0.1', '::7f00:1', 'reserved'],
  ['2001:db8::1', '2001:db8::1', 'reserved'],
  ['8.8.8.8', '8.8.8.8', 'public'],
  ['134744072', '8.8.8.8', 'public'],
  ['172.32.0.1', '172.32.0.1', 'public'],
  ['100.128.0.1', '100.128.0.1', 'public'],
  ['2606:4700:0:0:0:0:0:1111', '2606:4700::1111', 'public'],
  ['64:ff9b::808:808', '64:ff9b::808:808', 'public'],
];

test('every spelling of an address is read as that address and classified', () => {
  const seen = FORMS.map(([host]) => {
    const ip = parseIp(host);
    return [host, ip ? ip.address : String(ip), ip ? classifyIp(ip) : '-'];
  });
  assert.deepStrictEqual(seen, FORMS);
});

test('names stay names, and numeric text that is no valid address is neither', () => {
  assert.deepStrictEqual(
    ['localhost', 'staging.internal', '1.2.3.4.5', '08.1.1.1', '0x7f.example', 'a1b2'].map((h) => parseIp(h)),
    [undefined, undefined, undefined, undefined, undefined, undefined],
  );
  assert.deepStrictEqual(['256.0.0.1', '4294967296', '1.2.65536', '[1:2:3]', '::1::', '1:2:3:4:5:6:7:8:9'].map((h) => parseIp(h)), [
    null, null, null, null, null, null,
  ]);
});

test('allowlist entries: names, dotted IPv4, bracketed IPv6, comma lists', () => {
  assert.deepStrictEqual(parseAllowList(['Staging.Internal.:8080,10.0.0.5:80', '[FD00::0005]:443'], '--replay-allow'), [
    { host: 'staging.internal', port: 8080 },
    { host: '10.0.0.5', ip: parseIp('10.0.0.5'), port: 80 },
    { host: 'fd00::5', ip: parseIp('fd00::5'), port: 443 },
  ]);
});

test('a bad allowlist entry is refused with a coded error that shows how to write it', () => {
  const cases: Array<[string, RegExp]> = [
    ['staging', /^bad --replay-allow entry 'staging': use host:port, like staging\.internal:8080/],
    ['staging:*', /the port must be a number from 1 to 65535 \(no wildcards\)/],
    ['staging:0', /the port must be a number from 1 to 65535/],
    ['staging:70000', /the port must be a number from 1 to 65535/],
    ['::1:80', /use host:port/],
    ['[nope]:80', /'\[nope\]' is not an IP address/],
    ['0x7f.1:80', /write the address as 127\.0\.0\.1:80$/],
    ['2130706433:80', /write the address as 127\.0\.0\.1:80$/],
    ['127.1:80', /write the address as 127\.0\.0\.1:80$/],
    ['[::ffff:127.0.0.1]:80', /write the address as 127\.0\.0\.1:80$/],
    ['256.1.1.1:80', /'256\.1\.1\.1' is not an IP address/],
    ['http://staging:80', /use host:port/],
    ['bad_host-:80', /'bad_host-' is not a host name/],
  ];
  for (const [entry, message] of cases) {
    assert.throws(
      () => parseAllowEntry(entry, '--replay-allow', codes.USAGE),
      (err: unknown) => err instanceof LoopError && err.code === codes.USAGE && message.test(err.message),
      entry,
    );
  }
  assert.throws(() => parseAllowList(['a:1,,b:2'], 'replayAllow'), (err: LoopError) => err.code === codes.INVALID_OPTION && /an empty entry/.test(err.message));
});

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof LoopError) return { code: err.code, message: err.message };
    throw err;
  }
  assert.fail('expected a refusal');
}

const noLookup = async (): Promise<never> => assert.fail('an address must never be looked up');

test('an address is reached only when listed; a non-public one not listed is refused as such, in every spelling', async () => {
  const allow = parseAllowList(['127.0.0.1:8080', '10.0.0.5:80', '93.184.215.14:80'], 'replayAllow');
  const check = (dest: string) => checkDestination(allow, parseDestination(dest), noLookup);
  assert.deepStrictEqual(await check('127.0.0.1:8080'), { address: '127.0.0.1', family: 4, kind: 'loopback' });
  // The same address in another spelling is the listed address: it is connected to as 127.0.0.1.
  assert.deepStrictEqual(await check('0x7f.1:8080'), { address: '127.0.0.1', family: 4, kind: 'loopback' });
  assert.deepStrictEqual(await check('[::ffff:127.0.0.1]:8080'), { address: '127.0.0.1', family: 4, kind: 'loopback' });
  assert.deepStrictEqual(await check('http://0xa.5'), { address: '10.0.0.5', family: 4, kind: 'private' });
  assert.deepStrictEqual(await check('93.184.215.14:80'), { address: '93.184.215.14', family: 4, kind: 'public' });

  const forbidden: Array<[string, string]> = [
    ['127.0.0.1:8081', 'the destination 127.0.0.1:8081 is a loopback address'],
    ['127.0.0.2:8080', 'the destination 127.0.0.2:8080 is a loopback address'],
    ['127.2:8080', 'the destination 127.2:8080 is 127.0.0.2, a loopback address'],
    ['2130706434:8080', 'the destination 2130706434:8080 is 127.0.0.2, a loopback address'],
    ['0177.0.0.2:8080', 'the destination 0177.0.0.2:8080 is 127.0.0.2, a loopback address'],
    ['0x7f.2:8080', 'the destination 0x7f.2:8080 is 127.0.0.2, a loopback address'],
    ['0x7f000002:8080', 'the destination 0x7f000002:8080 is 127.0.0.2, a loopback address'],
    ['[::ffff:127.0.0.2]:8080', 'the destination [::ffff:127.0.0.2]:8080 is 127.0.0.2, a loopback address'],
    ['[::ffff:7f00:2]:8080', 'the destination [::ffff:7f00:2]:8080 is 127.0.0.2, a loopback address'],
    ['[::1]:8080', 'the destination [::1]:8080 is a loopback address'],
    ['0.0.0.0:8080', 'the destination 0.0.0.0:8080 is an unspecified address'],
    ['0:8080', 'the destination 0:8080 is 0.0.0.0, an unspecified address'],
    ['[::]:8080', 'the destination [::]:8080 is an unspecified address'],
    ['10.0.0.6:80', 'the destination 10.0.0.6:80 is a private address'],
    ['0xa.6:80', 'the destination 0xa.6:80 is 10.0.0.6, a private address'],
    ['192.168.0.1:80', 'the destination 192.168.0.1:80 is a private address'],
    ['100.64.0.1:80', 'the destination 100.64.0.1:80 is a private address'],
    ['[fd00::1]:80', 'the destination [fd00::1]:80 is a private address'],
    ['169.254.169.254:80', 'the destination 169.254.169.254:80 is a link-local address'],
    ['2852039166:80', 'the destination 2852039166:80 is 169.254.169.254, a link-local address'],
    ['[fe80::1]:80', 'the destination [fe80::1]:80 is a link-local address'],
    ['http://[::ffff:169.254.169.254]', 'the destination http://[::ffff:a9fe:a9fe] is 169.254.169.254, a link-local address'],
    ['224.0.0.1:80', 'the destination 224.0.0.1:80 is a multicast address'],
    ['255.255.255.255:80', 'the destination 255.255.255.255:80 is a broadcast address'],
  ];
  const seen = [];
  for (const [dest] of forbidden) {
    const { code, message } = await refusal(check(dest));
    seen.push([dest, code, message.replace(/ not on the collector's replay allowlist; .*$/, '')]);
  }
  assert.deepStrictEqual(
    seen,
    forbidden.map(([dest, message]) => [dest, codes.REPLAY_FORBIDDEN_ADDRESS, message]),
  );
  assert.deepStrictEqual(await refusal(check('0x7f.2:8080')), {
    code: codes.REPLAY_FORBIDDEN_ADDRESS,
    message:
      "the destination 0x7f.2:8080 is 127.0.0.2, a loopback address not on the collector's replay allowlist; " +
      'start the collector with --replay-allow 127.0.0.2:8080 to allow it',
  });
  // A public address that is not listed is refused by the list alone.
  assert.deepStrictEqual(await refusal(check('93.184.215.15:80')), {
    code: codes.REPLAY_NOT_ALLOWED,
    message: "the destination 93.184.215.15:80 is not on the collector's replay allowlist; start the collector with --replay-allow 93.184.215.15:80 to allow it",
  });
  assert.equal((await refusal(check('256.0.0.1:80'))).code, codes.BAD_DESTINATION);
});

test('a listed name is resolved once, and every non-public address it resolves to must be listed too', async () => {
  const calls: string[] = [];
  const answers: Record<string, Array<{ address: string; family: number }>> = {
    'api.example.com': [{ address: '93.184.215.14', family: 4 }],
    'sneaky.example.com': [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.9', family: 4 },
    ],
    'mapped.example.com': [{ address: '::ffff:169.254.169.254', family: 6 }],
    'staging.internal': [{ address: '10.0.0.5', family: 4 }],
  };
  const resolveAll = async (name: string) => {
    calls.push(name);
    return answers[name] ?? [];
  };
  const allow = parseAllowList(['api.example.com:443,sneaky.example.com:443,mapped.example.com:80,staging.internal:8080,10.0.0.5:8080'], 'replayAllow');
  const check = (dest: string) => checkDestination(allow, parseDestination(dest), resolveAll);

  assert.deepStrictEqual(await check('https://API.example.com'), { address: '93.184.215.14', family: 4, kind: 'public' });
  assert.deepStrictEqual(await check('staging.internal:8080'), { address: '10.0.0.5', family: 4, kind: 'private' });
  assert.deepStrictEqual(await refusal(check('sneaky.example.com:443')), {
    code: codes.REPLAY_FORBIDDEN_ADDRESS,
    message:
      "the destination sneaky.example.com:443 resolves to 10.0.0.9, a private address not on the collector's replay allowlist; " +
      'start the collector with --replay-allow 10.0.0.9:443 as well to allow it',
  });
  assert.match((await refusal(check('mapped.example.com:80'))).message, /resolves to 169\.254\.169\.254, a link-local address/);
  // Not listed: refused before any lookup.
  assert.equal((await refusal(check('other.example.com:443'))).code, codes.REPLAY_NOT_ALLOWED);
  assert.equal((await refusal(check('api.example.com:80'))).code, codes.REPLAY_NOT_ALLOWED);
  assert.deepStrictEqual(calls, ['api.example.com', 'staging.internal', 'sneaky.example.com', 'mapped.example.com']);
});

test('localhost through the system resolver: refused unless its addresses are listed as well', async () => {
  const addresses = await lookup('localhost', { all: true, verbatim: true });
  const listedName = parseAllowList(['localhost:8080'], 'replayAllow');
  const refused = await refusal(checkDestination(listedName, parseDestination('localhost:8080')));
  assert.equal(refused.code, codes.REPLAY_FORBIDDEN_ADDRESS);
  assert.match(refused.message, /^the destination localhost:8080 resolves to (127\.[0-9.]+|::1), a loopback address/);

  const entries = ['localhost:8080', ...addresses.map((a) => (a.family === 6 ? `[${a.address}]:8080` : `${a.address}:8080`))];
  const checked = await checkDestination(parseAllowList(entries, 'replayAllow'), parseDestination('localhost:8080'));
  assert.deepStrictEqual(checked, { address: addresses[0]!.address, family: addresses[0]!.family, kind: 'loopback' });
});

test('the replay connects to the validated address and never looks the name up again', async (t) => {
  const app = await startHttpServer(t, (req, res) => res.end(`${req.headers.host}`));
  // `.invalid` never resolves (RFC 6761): the replay can only arrive if no second lookup happens.
  const name = `rebind-${process.pid}.invalid`;
  const allow = parseAllowList([`${name}:${app.port}`, `127.0.0.1:${app.port}`], 'replayAllow');
  let lookups = 0;
  const destination = parseDestination(`${name}:${app.port}`);
  const address = await checkDestination(allow, destination, async () => {
    lookups++;
    return [{ address: '127.0.0.1', family: 4 }];
  });
  const record = sampleCapture({ request: { url: '/' } });
  const response = await sendReplay(destination, buildReplayRequest(record, destination), { connectTo: address });
  assert.deepStrictEqual([lookups, response.status, response.body.toString()], [1, 200, `${name}:${app.port}`]);
  // Without connectTo the same send looks the name up, and fails: the test above could fail.
  await assert.rejects(sendReplay(destination, buildReplayRequest(record, destination)), (err: LoopError) => err.code === codes.DESTINATION_UNREACHABLE);
});
