/** Sending a capture again and comparing the answer; framework-free, used by loopctl and the test helpers. */
export { parseDestination, type Destination } from './destination.js';
export { buildReplayRequest, sendReplay, type ReplayRequest, type ReplayResponse, type SendOptions } from './send.js';
export { diffResponse, type ResponseDiff } from './diff.js';
export { redactedInRequest } from './redacted.js';
export { decodeBody } from './body.js';
