import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newSpanId, newTraceId } from '../../src/trace/ids.js';
import {
  formatTraceparent,
  formatTraceresponse,
  parseTraceparent,
  type ParsedTraceparent,
} from '../../src/trace/traceparent.js';

// The ids of the w3c/trace-context test suite (test/test.py), so its cases read the same here.
const T = '12345678901234567890123456789012';
const P = '1234567890123456';
const V00 = `00-${T}-${P}-01`;

function parsed(version: string, flags: string, sampled: boolean, traceId = T, parentId = P): ParsedTraceparent {
  return { version, traceId, parentId, flags, sampled };
}

type Input = Parameters<typeof parseTraceparent>[0];

const valid: [string, Input, ParsedTraceparent][] = [
  ['version 00, sampled', V00, parsed('00', '01', true)],
  ['version 00, not sampled', `00-${T}-${P}-00`, parsed('00', '00', false)],
  [
    'the spec example',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    parsed('00', '01', true, '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7'),
  ],
  ['flags are a bit field: 09 is sampled', `00-${T}-${P}-09`, parsed('00', '09', true)],
  ['flags are a bit field: 08 is not sampled', `00-${T}-${P}-08`, parsed('00', '08', false)],
  ['flags ff are read (sampled)', `00-${T}-${P}-ff`, parsed('00', 'ff', true)],
  ['flags fe are read (not sampled)', `00-${T}-${P}-fe`, parsed('00', 'fe', false)],
  ['flags 0b: the sampled bit of a letter digit', `00-${T}-${P}-0b`, parsed('00', '0b', true)],
  ['future version cc, 55 characters', `cc-${T}-${P}-01`, parsed('cc', '01', true)],
  [
    'future version cc with extra fields after a dash',
    `cc-${T}-${P}-01-what-the-future-will-be-like`,
    parsed('cc', '01', true),
  ],
  ['future version with unknown flags and fields', `cc-${T}-${P}-ff-x-y`, parsed('cc', 'ff', true)],
  ['future version with an empty extra field', `cc-${T}-${P}-00-`, parsed('cc', '00', false)],
  ['version 01', `01-${T}-${P}-01`, parsed('01', '01', true)],
  ['version fe (the highest allowed)', `fe-${T}-${P}-00`, parsed('fe', '00', false)],
  ['leading space', ` ${V00}`, parsed('00', '01', true)],
  ['leading tab', `\t${V00}`, parsed('00', '01', true)],
  ['trailing space', `${V00} `, parsed('00', '01', true)],
  ['trailing tab', `${V00}\t`, parsed('00', '01', true)],
  ['OWS both sides', `\t ${V00} \t`, parsed('00', '01', true)],
  ['OWS after future fields', `  cc-${T}-${P}-01-x \t`, parsed('cc', '01', true)],
  ['an array of one value', [V00], parsed('00', '01', true)],
  ['ids of a single non-zero digit', `00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-00`, parsed('00', '00', false, `${'0'.repeat(31)}1`, `${'0'.repeat(15)}1`)],
];

const invalid: [string, Input][] = [
  ['absent', undefined],
  ['empty', ''],
  ['only OWS', ' \t '],
  ['an empty array', []],
  ['duplicated: an array of two', [V00, `00-${T.replace('2', '3')}-${P}-01`]],
  ['duplicated: an array of two equal values', [V00, V00]],
  ['duplicated: joined by Node with ", "', `00-12345678901234567890123456789011-${P}-01, ${V00}`],
  ['duplicated: joined without a space', `${V00},${V00}`],
  ['duplicated future versions joined', `cc-${T}-${P}-01-x, cc-${T}-${P}-01`],
  ['a comma in a future version field', `cc-${T}-${P}-01-a,b`],
  ['version ff', `ff-${T}-${P}-01`],
  ['version 00 with an extra character', `${V00}.`],
  ['version 00 with extra fields', `${V00}-what-the-future-will-be-like`],
  ['version 00 with a trailing dash', `${V00}-`],
  ['future version, extra data without a dash', `cc-${T}-${P}-01.what-the-future-will-be-like`],
  ['future version, flags run on', `cc-${T}-${P}-011`],
  ['version with an illegal first character', `.0-${T}-${P}-01`],
  ['version with an illegal second character', `0.-${T}-${P}-01`],
  ['version with a non-hex letter', `g0-${T}-${P}-01`],
  ['version upper-case hex', `CC-${T}-${P}-01`],
  ['version upper-case FF', `FF-${T}-${P}-01`],
  ['version too long (3)', `000-${T}-${P}-01`],
  ['version too long (4)', `0000-${T}-${P}-01`],
  ['version too short', `0-${T}-${P}-01`],
  ['trace-id all zeros', `00-${'0'.repeat(32)}-${P}-01`],
  ['trace-id with an illegal first character', `00-.2345678901234567890123456789012-${P}-01`],
  ['trace-id with an illegal last character', `00-1234567890123456789012345678901.-${P}-01`],
  ['trace-id upper-case hex', `00-4BF92F3577B34DA6A3CE929D0E0E4736-${P}-01`],
  ['trace-id with one upper-case digit', `00-1234567890123456789012345678901A-${P}-01`],
  ['trace-id too long', `00-123456789012345678901234567890123-${P}-01`],
  ['trace-id too short', `00-1234567890123456789012345678901-${P}-01`],
  ['parent-id all zeros', `00-${T}-0000000000000000-01`],
  ['parent-id with an illegal first character', `00-${T}-.234567890123456-01`],
  ['parent-id with an illegal last character', `00-${T}-123456789012345.-01`],
  ['parent-id upper-case hex', `00-${T}-00F067AA0BA902B7-01`],
  ['parent-id too long', `00-${T}-12345678901234567-01`],
  ['parent-id too short', `00-${T}-123456789012345-01`],
  ['flags with an illegal first character', `00-${T}-${P}-.0`],
  ['flags with an illegal second character', `00-${T}-${P}-0.`],
  ['flags upper-case hex', `00-${T}-${P}-0A`],
  ['flags too long', `00-${T}-${P}-001`],
  ['flags too short', `00-${T}-${P}-1`],
  ['dash after version missing', `00_${T}-${P}-01`],
  ['dash after trace-id missing', `00-${T}_${P}-01`],
  ['dash after parent-id missing', `00-${T}-${P}_01`],
  ['no dashes at all', `00${T}${P}01`],
  ['space in place of a dash', `00 ${T} ${P} 01`],
  ['whitespace inside a field', `00-${T}-${P}- 1`],
  ['a newline is not OWS', `\n${V00}`],
  ['non-ASCII digit', `00-${T.slice(0, 31)}\u0661-${P}-01`],
];

describe('parseTraceparent', () => {
  for (const [name, input, expected] of valid) {
    it(`accepts ${name}`, () => {
      assert.deepStrictEqual(parseTraceparent(input), expected);
    });
  }
  for (const [name, input] of invalid) {
    it(`rejects ${name}`, () => {
      assert.deepStrictEqual(parseTraceparent(input), undefined);
    });
  }
});

describe('formatTraceparent / formatTraceresponse', () => {
  const cases: [string, string, string, boolean, string][] = [
    ['sampled', T, P, true, `00-${T}-${P}-01`],
    ['not sampled', T, P, false, `00-${T}-${P}-00`],
    [
      'the spec example',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      '00f067aa0ba902b7',
      true,
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    ],
  ];
  for (const [name, traceId, spanId, sampled, expected] of cases) {
    it(`formats ${name}`, () => {
      assert.deepStrictEqual(
        [formatTraceparent(traceId, spanId, sampled), formatTraceresponse(traceId, spanId, sampled)],
        [expected, expected],
      );
    });
  }

  // A child keeps the trace id and the sampled bit, gets a new parent id, is written as version 00,
  // and the reserved flags go to zero (#other-flags, #versioning-of-traceparent).
  const children: [string, string, string][] = [
    ['a sampled 00 parent', `00-${T}-${P}-01`, '01'],
    ['an unsampled 00 parent', `00-${T}-${P}-00`, '00'],
    ['a 00 parent with reserved flags set', `00-${T}-${P}-fe`, '00'],
    ['a future version with all flags and extra fields', `cc-${T}-${P}-ff-extra`, '01'],
  ];
  for (const [name, incoming, flags] of children) {
    it(`passes on ${name}`, () => {
      const parent = parseTraceparent(incoming);
      assert.ok(parent);
      const child = formatTraceparent(parent.traceId, 'abcdef0123456789', parent.sampled);
      assert.deepStrictEqual(child, `00-${T}-abcdef0123456789-${flags}`);
    });
  }

  it('round-trips fresh ids through parse', () => {
    for (const sampled of [true, false]) {
      const traceId = newTraceId();
      const spanId = newSpanId();
      assert.deepStrictEqual(parseTraceparent(formatTraceparent(traceId, spanId, sampled)), {
        version: '00',
        traceId,
        parentId: spanId,
        flags: sampled ? '01' : '00',
        sampled,
      });
    }
  });
});
