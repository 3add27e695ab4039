import { Command } from 'commander';
import type { CaptureRecord } from '../../../src/capture/record.js';
import { REDACTED } from '../../../src/capture/record.js';
import { LoopError, codes } from '../../../src/errors.js';
import { parseDestination, type Destination } from '../../../src/replay/destination.js';
import { diffResponse } from '../../../src/replay/diff.js';
import { redactedInRequest } from '../../../src/replay/redacted.js';
import { buildReplayRequest, sendReplay } from '../../../src/replay/send.js';
import { CollectorClient } from '../client.js';
import { formatReplay } from '../format-replay.js';
import type { CliContext } from '../global-options.js';

interface ReplayOptions {
  id: string[];
  destination?: string;
  allowRedacted?: boolean;
  json?: boolean;
}

function destinationOf(record: CaptureRecord, override: Destination | undefined): Destination {
  if (override) return override;
  try {
    return parseDestination(record.destination);
  } catch {
    throw new LoopError(
      codes.BAD_DESTINATION,
      `capture ${record.seq} has no usable destination ('${record.destination}'); pass --destination host:port or an http(s) URL`,
    );
  }
}

/**
 * `loopctl replay --id N`: sends each captured request again and compares the answer with the captured
 * one. Exit 0 when every replay answered the same, 1 when any differs.
 */
export function replayCommand(ctx: CliContext): Command {
  return new Command('replay')
    .description('send captured requests again and compare the answers (exit 0 same, 1 differs)')
    .requiredOption('--id <id>', 'capture to replay (repeat for several)', (id: string, ids?: string[]) => [...(ids ?? []), id])
    .option('--destination <dest>', "host:port or http(s) URL (default: the capture's own destination)")
    .option('--allow-redacted', `send requests even when they hold the redaction placeholder ${REDACTED}`)
    .option('--json', 'print the replays as JSON')
    .action(async (options: ReplayOptions) => {
      // Everything is checked before the first request leaves: a bad flag or id sends nothing.
      const override = options.destination !== undefined ? parseDestination(options.destination) : undefined;
      const { collector, token } = ctx.globals();
      const client = new CollectorClient(collector, token);
      const records: CaptureRecord[] = [];
      for (const id of options.id) records.push(await client.get(id));
      for (const record of records) {
        const places = redactedInRequest(record);
        if (places.length && !options.allowRedacted) {
          throw new LoopError(
            codes.REPLAY_REDACTED,
            `capture ${record.seq}'s request holds redacted values (${places.join(', ')}), so the replay would send ` +
              `${REDACTED} instead of them; pass --allow-redacted to send it anyway`,
          );
        }
      }

      let differs = false;
      const results: unknown[] = [];
      for (const record of records) {
        const destination = destinationOf(record, override);
        const body = record.request.body;
        if (body?.truncated) {
          process.stderr.write(
            `loopctl: warning: capture ${record.seq}'s request body was truncated; sending the ${Buffer.byteLength(body.data, body.encoding === 'base64' ? 'base64' : 'utf8')} kept bytes of ${body.size}\n`,
          );
        }
        const request = buildReplayRequest(record, destination);
        const response = await sendReplay(destination, request);
        const diff = diffResponse(record.response, response);
        differs ||= !diff.same;
        if (options.json) {
          results.push({
            seq: record.seq,
            id: record.id,
            destination: destination.display,
            request: { method: request.method, target: request.target, headers: request.headers },
            response: {
              status: response.status,
              statusMessage: response.statusMessage,
              headers: response.headers,
              body: { encoding: 'base64', data: response.body.toString('base64'), size: response.body.length, truncated: response.truncated },
            },
            durationMs: response.durationMs,
            same: diff.same,
            diff,
          });
        } else {
          if (records.length > 1 && record !== records[0]) process.stdout.write('\n');
          process.stdout.write(formatReplay(record, destination, response, diff));
        }
      }
      if (options.json) process.stdout.write(`${JSON.stringify({ replays: results }, null, 2)}\n`);
      ctx.setExitCode(differs ? 1 : 0);
    });
}
