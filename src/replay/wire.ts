import type { HeaderList } from '../capture/record.js';
import type { ReplayResponse } from './send.js';

/** A replay's response as JSON: what `loopctl replay --json` prints and the collector's replay API answers. */
export interface ReplayResponseJson {
  status: number;
  statusMessage: string;
  headers: HeaderList;
  body: { encoding: 'base64'; data: string; size: number; truncated: boolean };
}

export function replayResponseToJson(response: ReplayResponse): ReplayResponseJson {
  return {
    status: response.status,
    statusMessage: response.statusMessage,
    headers: response.headers,
    body: { encoding: 'base64', data: response.body.toString('base64'), size: response.body.length, truncated: response.truncated },
  };
}

/** The response again, bytes and all, from its JSON and the duration that was measured where it was sent. */
export function replayResponseFromJson(json: ReplayResponseJson, durationMs: number): ReplayResponse {
  return {
    status: json.status,
    statusMessage: json.statusMessage,
    headers: json.headers,
    body: Buffer.from(json.body.data, 'base64'),
    truncated: json.body.truncated,
    durationMs,
  };
}
