import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codes, LoopError } from '../../src/errors.js';
import {
  addTracestateMember,
  isValidTracestateKey,
  isValidTracestateValue,
  limitTracestate,
  parseTracestate,
} from '../../src/trace/tracestate.js';

type Input = Parameters<typeof parseTracestate>[0];

function members(count: number, from = 1): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(from + i).padStart(2, '0');
    return `bar${n}=${n}`;
  });
}

// The w3c suite's test_tracestate_all_allowed_characters.
const ALL_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
const ALL_VALUE = [
  [0x20, 0x2b],
  [0x2d, 0x3c],
  [0x3e, 0x7e],
]
  .map(([a, b]) => Array.from({ length: b! - a! + 1 }, (_, i) => String.fromCharCode(a! + i)).join(''))
  .join('');

const kept: [string, Input, string][] = [
  ['one member', 'foo=1', 'foo=1'],
  ['two members, order kept', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'],
  ['an array of one value', ['foo=1,bar=2'], 'foo=1,bar=2'],
  ['several header values combined in order', ['foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'], 'foo=1,bar=2,rojo=1,congo=2,baz=3'],
  ['header values joined by Node with ", "', 'foo=1,bar=2, rojo=1', 'foo=1,bar=2,rojo=1'],
  ['an empty header value before another', ['', 'foo=1'], 'foo=1'],
  ['an empty header value after another', ['foo=1', ''], 'foo=1'],
  ['empty members in the middle', 'foo=1,,bar=2', 'foo=1,bar=2'],
  ['a leading comma', ',foo=1', 'foo=1'],
  ['a trailing comma', 'foo=1,', 'foo=1'],
  ['whitespace-only members', 'foo=1, ,\t, \t ,bar=2', 'foo=1,bar=2'],
  ['OWS around commas', 'foo=1 \t , \t bar=2, \t baz=3', 'foo=1,bar=2,baz=3'],
  ['tabs and spaces around commas', 'foo=1\t \t,\t \tbar=2,\t \tbaz=3', 'foo=1,bar=2,baz=3'],
  ['a leading space', ' foo=1', 'foo=1'],
  ['a leading tab', '\tfoo=1', 'foo=1'],
  ['a trailing space (OWS, not part of the value)', 'foo=1 ', 'foo=1'],
  ['a trailing tab', 'foo=1\t', 'foo=1'],
  ['OWS both sides', '\t foo=1 \t', 'foo=1'],
  ['a padded member after clean ones', 'a=1,b=2, c=3', 'a=1,b=2,c=3'],
  ['leading spaces of a value are kept', 'foo=  1', 'foo=  1'],
  ['a space inside a value', 'foo=a b', 'foo=a b'],
  ['every allowed key and value character', `${ALL_KEY}=${ALL_VALUE}`, `${ALL_KEY}=${ALL_VALUE}`],
  ['every allowed character, multi-tenant key', `${ALL_KEY}@a-z0-9_-*/=${ALL_VALUE}`, `${ALL_KEY}@a-z0-9_-*/=${ALL_VALUE}`],
  ['a simple key of 256 characters', ['foo=1', `${'z'.repeat(256)}=1`], `foo=1,${'z'.repeat(256)}=1`],
  ['a multi-tenant key', 'tenant@vendor=1', 'tenant@vendor=1'],
  ['a tenant id starting with a digit', '0tenant@vendor=1', '0tenant@vendor=1'],
  ['one-character tenant and system', 'a@b=1', 'a@b=1'],
  ['tenant 241 + system 14 characters', ['foo=1', `${'t'.repeat(241)}@${'v'.repeat(14)}=1`], `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`],
  ['a value of 256 characters', `foo=${'x'.repeat(256)}`, `foo=${'x'.repeat(256)}`],
  ['the same tenant under two systems is no duplicate', 'foo=1,foo@a=2,foo@b=3', 'foo=1,foo@a=2,foo@b=3'],
  ['32 members over four headers', [members(10).join(','), members(10, 11).join(','), members(10, 21).join(','), members(2, 31).join(',')], members(32).join(',')],
  ['32 members with empty ones between (empties do not count)', members(32).join(', ,'), members(32).join(',')],
];

const discarded: [string, Input][] = [
  ['absent', undefined],
  ['empty', ''],
  ['only OWS', ' \t '],
  ['only commas and OWS', ' , ,\t,'],
  ['an empty array', []],
  ['two empty header values', ['', '']],
  ['33 members over four headers', [members(10).join(','), members(10, 11).join(','), members(10, 21).join(','), members(3, 31).join(',')]],
  ['33 members in one header', members(33).join(',')],
  ['a duplicated key, same value', 'foo=1,foo=1'],
  ['a duplicated key, other value', 'foo=1,foo=2'],
  ['a duplicated key across header values', ['foo=1', 'foo=2']],
  ['a duplicated key across equal header values', ['foo=1', 'foo=1']],
  ['a duplicated multi-tenant key', 'a@x=1,b=2,a@x=3'],
  ['an upper-case key', 'FOO=1'],
  ['a mixed-case key', 'fOo=1'],
  ['a simple key starting with a digit', '1foo=1'],
  ['a key starting with "_"', '_foo=1'],
  ['a space before "="', 'foo =1'],
  ['a dot in a key', 'foo.bar=1'],
  ['a non-ASCII key', 'föo=1'],
  ['an empty key', '=1'],
  ['a simple key of 257 characters', ['foo=1', `${'z'.repeat(257)}=1`]],
  ['a tenant id of 242 characters', ['foo=1', `${'t'.repeat(242)}@v=1`]],
  ['a system id of 15 characters', ['foo=1', `t@${'v'.repeat(15)}=1`]],
  ['an empty system id', 'foo@=1,bar=2'],
  ['an empty tenant id', '@foo=1,bar=2'],
  ['two "@" in a row', 'foo@@bar=1,bar=2'],
  ['two "@"', 'foo@bar@baz=1,bar=2'],
  ['a system id starting with a digit', 'foo@1bar=1'],
  ['an upper-case system id', 'foo@Bar=1'],
  ['a tenant id starting with "-"', '-foo@bar=1'],
  ['a member without "="', 'foo=1,bar'],
  ['"=" inside a value', 'foo=bar=baz'],
  ['an empty value', 'foo=,bar=3'],
  ['an empty value at the end', 'foo='],
  ['a value of spaces only (empty once OWS is dropped)', 'foo=   ,bar=3'],
  ['a value of 257 characters', `foo=${'x'.repeat(257)}`],
  ['a tab inside a value', 'foo=a\tb'],
  ['a control character in a value', 'foo=a\u0001b'],
  ['DEL in a value', 'foo=a\u007fb'],
  ['a non-ASCII value', 'foo=é'],
  ['a bad member after good ones', 'a=1,b=2,c=3,D=4'],
];

describe('parseTracestate', () => {
  for (const [name, input, expected] of kept) {
    it(`keeps ${name}`, () => {
      assert.deepStrictEqual(parseTracestate(input), expected);
    });
  }
  for (const [name, input] of discarded) {
    it(`discards ${name}`, () => {
      assert.deepStrictEqual(parseTracestate(input), undefined);
    });
  }

  it('returns a normalized input string itself', () => {
    const value = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';
    assert.equal(parseTracestate(value), value);
  });
});

describe('isValidTracestateKey / isValidTracestateValue', () => {
  const keys: [string, boolean][] = [
    ['foo', true],
    ['f', true],
    ['z'.repeat(256), true],
    ['z'.repeat(257), false],
    ['a1_-*/', true],
    ['1a', false],
    ['Foo', false],
    ['', false],
    ['0@a', true],
    ['t@', false],
    ['@v', false],
    ['foo=bar', false],
  ];
  const values: [string, boolean][] = [
    ['1', true],
    [' leading', true],
    ['in side', true],
    ['trailing ', false],
    ['', false],
    ['x'.repeat(256), true],
    ['x'.repeat(257), false],
    ['a,b', false],
    ['a=b', false],
    ['a\tb', false],
  ];
  it('validates keys by the Level 1 grammar', () => {
    assert.deepStrictEqual(
      keys.map(([k]) => [k, isValidTracestateKey(k)]),
      keys,
    );
  });
  it('validates values', () => {
    assert.deepStrictEqual(
      values.map(([v]) => [v, isValidTracestateValue(v)]),
      values,
    );
  });
});

describe('limitTracestate', () => {
  const m = (key: string, length: number) => `${key}=${'x'.repeat(length - key.length - 1)}`;
  const cases: [string, string, number | undefined, string | undefined][] = [
    ['keeps a short value as is', 'foo=1,bar=2', undefined, 'foo=1,bar=2'],
    ['keeps exactly 512 characters', [m('a', 256), m('b', 255)].join(','), undefined, [m('a', 256), m('b', 255)].join(',')],
    [
      'drops the right-most member over 128 characters first, and stops once it fits',
      [m('a', 100), m('l1', 200), m('b', 100), m('l2', 200), m('c', 100)].join(','),
      undefined,
      [m('a', 100), m('l1', 200), m('b', 100), m('c', 100)].join(','),
    ],
    [
      'drops every long member, then right-most members',
      [m('l1', 200), m('a', 120), m('b', 120), m('l2', 200), m('c', 120), m('d', 120), m('e', 120)].join(','),
      undefined,
      [m('a', 120), m('b', 120), m('c', 120), m('d', 120)].join(','),
    ],
    [
      'drops right-most members when none is long',
      [m('a', 120), m('b', 120), m('c', 120), m('d', 120), m('e', 120)].join(','),
      undefined,
      [m('a', 120), m('b', 120), m('c', 120), m('d', 120)].join(','),
    ],
    [
      'does not count a member of exactly 128 characters as long',
      [m('s', 128), m('m', 129), m('t', 128), m('u', 128)].join(','),
      undefined,
      [m('s', 128), m('t', 128), m('u', 128)].join(','),
    ],
    ['returns undefined when a single member is too long', m('k', 513), undefined, undefined],
    ['takes another limit', 'a=1,b=2,c=3', 7, 'a=1,b=2'],
    ['returns undefined for an empty value', '', undefined, undefined],
  ];
  for (const [name, value, max, expected] of cases) {
    it(name, () => {
      assert.deepStrictEqual(max === undefined ? limitTracestate(value) : limitTracestate(value, max), expected);
    });
  }

  it('fits the result in 512 characters', () => {
    const value = members(32).map((b, i) => `${b}${'y'.repeat(i % 3 === 0 ? 130 : 20)}`).join(',');
    const out = limitTracestate(value);
    assert.ok(out !== undefined && out.length <= 512 && value.length > 512);
  });
});

describe('addTracestateMember', () => {
  const cases: [string, string | undefined, string, string, string][] = [
    ['starts a tracestate', undefined, 'loop', '1', 'loop=1'],
    ['adds a new key at the left', 'foo=1,bar=2', 'loop', 'abc', 'loop=abc,foo=1,bar=2'],
    ['moves an updated key to the left', 'foo=1,loop=old,bar=2', 'loop', 'new', 'loop=new,foo=1,bar=2'],
    ['updates the left-most key in place', 'loop=old,foo=1', 'loop', 'new', 'loop=new,foo=1'],
    ['updates the right-most key', 'foo=1,loop=old', 'loop', 'new', 'loop=new,foo=1'],
    ['does not take a longer key for its own', 'loopy=1,loop@t=2', 'loop', 'n', 'loop=n,loopy=1,loop@t=2'],
    ['handles multi-tenant keys', 'foo=1,loop@t=2', 'loop@t', '3', 'loop@t=3,foo=1'],
    ['drops the right-most member past 32', members(32).join(','), 'loop', '1', ['loop=1', ...members(31)].join(',')],
    ['drops nothing when updating in a full list', members(32).join(','), 'bar32', 'new', ['bar32=new', ...members(31)].join(',')],
    ['drops nothing when updating the right-most of 32', members(32).join(','), 'bar01', 'new', ['bar01=new', ...members(32).slice(1)].join(',')],
  ];
  for (const [name, value, key, memberValue, expected] of cases) {
    it(name, () => {
      assert.deepStrictEqual(addTracestateMember(value, key, memberValue), expected);
    });
  }

  it('works on what parseTracestate returns', () => {
    assert.deepStrictEqual(addTracestateMember(parseTracestate([' foo=1 ,, loop=0', 'bar=2']), 'loop', '1'), 'loop=1,foo=1,bar=2');
  });

  const bad: [string, string, string, RegExp][] = [
    ['an upper-case key', 'Loop', '1', /Invalid tracestate key "Loop"/],
    ['an empty key', '', '1', /Invalid tracestate key ""/],
    ['a value with "="', 'loop', 'a=b', /Invalid tracestate value "a=b"/],
    ['an empty value', 'loop', '', /Invalid tracestate value ""/],
    ['a value ending in a space', 'loop', 'a ', /Invalid tracestate value "a "/],
  ];
  for (const [name, key, memberValue, message] of bad) {
    it(`throws LOOP_ERR_INVALID_OPTION for ${name}`, () => {
      assert.throws(
        () => addTracestateMember('foo=1', key, memberValue),
        (err: unknown) => err instanceof LoopError && err.code === codes.INVALID_OPTION && message.test(err.message),
      );
    });
  }
});
