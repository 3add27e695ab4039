/** Sending a capture again and comparing the answer; framework-free, used by loopctl and the test helpers. */
export { parseDestination, type Destination } from './destination.js';
export {
  buildReplayRequest,
  sendReplay,
  type BuildOptions,
  type ReplayRequest,
  type ReplayResponse,
  type SendOptions,
} from './send.js';
export {
  VOLATILE_HEADERS,
  bodyDifferences,
  diffResponse,
  headerDifferences,
  type DiffOptions,
  type ResponseDiff,
} from './diff.js';
export { formatJsonPath, parseJsonPath, pathMatches, type PathSegment } from './json-path.js';
export { learnNoise, withNoise, type Noise } from './noise.js';
export { Pacer, parseRate, runPool } from './pace.js';
export { parseSecrets, restoreSecrets, type Secrets } from './secrets.js';
export { redactedInRequest } from './redacted.js';
export { decodeBody } from './body.js';
