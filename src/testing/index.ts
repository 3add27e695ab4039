/**
 * httploop/testing: turn a captured production failure into a regression test. Works with node:test,
 * vitest and jest (no runner-specific imports; failures are node:assert AssertionErrors).
 */
export { loadCapture, validateCapture, CaptureFormatError } from './load.js';
export { fetchCapture, fetchCaptures, CollectorRequestError, type CollectorOptions, type CaptureFilter } from './fetch.js';
export { replay, ReplayOutboundError, type ReplayApp, type ReplayOptions, type ReplayResult } from './replay.js';
export { OutboundStubError } from './stub.js';
export { expectReplayToMatch, replayDifferences, VOLATILE_HEADERS, type Difference, type MatchOptions } from './expect.js';
export type { CaptureRecord, OutboundCall, HeaderList, CapturedBody } from '../capture/record.js';
