import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { CaptureRecord, HeaderList } from '../../../src/capture/record.js';
import { REDACTED } from '../../../src/capture/record.js';
import { LoopError, codes } from '../../../src/errors.js';
import { newSpanId, newTraceId } from '../../../src/trace/ids.js';
import { formatTraceparent } from '../../../src/trace/traceparent.js';
import { parseDestination, type Destination } from '../../../src/replay/destination.js';
import { diffResponse, type DiffOptions, type ResponseDiff } from '../../../src/replay/diff.js';
import { parseJsonPath } from '../../../src/replay/json-path.js';
import { learnNoise, withNoise, type Noise } from '../../../src/replay/noise.js';
import { Pacer, parseRate, runPool } from '../../../src/replay/pace.js';
import { redactedInRequest } from '../../../src/replay/redacted.js';
import { decodeBody } from '../../../src/replay/body.js';
import { replayResponseFromJson, replayResponseToJson } from '../../../src/replay/wire.js';
import { parseSecrets, restoreSecrets, type Secrets } from '../../../src/replay/secrets.js';
import { buildReplayRequest, sendReplay, type ReplayRequest, type ReplayResponse } from '../../../src/replay/send.js';
import { parseLimit, parseSince, parseStatusFilter } from '../../filter-params.js';
import { CollectorClient } from '../client.js';
import { formatBulkLine, formatReplay, formatSummary, progressLine, type BulkResult, type ReplaySummary } from '../format-replay.js';
import type { CaptureFilterOptions, CliContext } from '../global-options.js';
import { NothingMatchedError } from '../handle-error.js';

interface ReplayOptions extends CaptureFilterOptions {
  id?: string[];
  destination?: string;
  concurrency?: string;
  rate?: string;
  header?: string[];
  secrets?: string;
  allowRedacted?: boolean;
  allowUnsafe?: boolean;
  keepHost?: boolean;
  ignoreHeader?: string[];
  ignore?: string[];
  learnNoise?: string;
  viaCollector?: boolean;
  json?: boolean;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const collect = (value: string, previous?: string[]): string[] => [...(previous ?? []), value];

function usage(message: string): LoopError {
  return new LoopError(codes.USAGE, message);
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

function wholeNumber(flag: string, text: string, max: number): number {
  const value = /^[0-9]+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw usage(`bad ${flag} '${text}': use a whole number from 1 to ${max}`);
  return value;
}

function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? '' : text.slice(0, colon).trim();
  if (!TOKEN.test(name)) throw usage(`bad --header '${text}': use 'Name: value'`);
  return [name, text.slice(colon + 1).trim()];
}

function readSecrets(file: string) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usage(`cannot read the --secrets file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSecrets(text, file);
}

function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

interface Outcome {
  record: CaptureRecord;
  destination: Destination;
  traceId: string;
  request?: ReplayRequest;
  response?: ReplayResponse;
  diff?: ResponseDiff;
  noise?: Noise;
  error?: LoopError;
  /** With --via-collector: the address the collector validated and connected to. */
  address?: string;
}

function replayJson(o: Outcome): Record<string, unknown> {
  const base = { seq: o.record.seq, id: o.record.id, destination: o.destination.display, traceId: o.traceId };
  if (o.error) return { ...base, captured: { status: o.record.response.status }, error: { code: o.error.code, message: o.error.message } };
  const { request, response, diff } = o as Required<Outcome>;
  return {
    ...base,
    request: { method: request.method, target: request.target, headers: request.headers },
    captured: { status: o.record.response.status },
    response: replayResponseToJson(response),
    durationMs: response.durationMs,
    ...(o.address && { viaCollector: { address: o.address } }),
    same: diff.same,
    diff,
    ...(o.noise && { noise: o.noise }),
  };
}

function summarize(outcomes: Outcome[]): ReplaySummary {
  const summary: ReplaySummary = { replayed: outcomes.length, same: 0, differs: 0, errors: 0, fixed: 0, stillFailing: 0 };
  for (const o of outcomes) {
    if (o.error || !o.response || !o.diff) {
      summary.errors++;
      continue;
    }
    if (o.diff.same) summary.same++;
    else summary.differs++;
    if (o.record.response.status >= 500) {
      if (o.response.status >= 200 && o.response.status < 400) summary.fixed++;
      else if (o.response.status >= 400) summary.stillFailing++;
    }
  }
  return summary;
}

/**
 * `loopctl replay --id N … | <filters>`: sends captured requests again and compares the answers with
 * the captured ones. Exit 0 when every replay answered the same, 1 when any differs, 2 on an error.
 */
export function replayCommand(ctx: CliContext): Command {
  return new Command('replay')
    .description('send captured requests again and compare the answers (exit 0 same, 1 differs, 2 error)')
    .option('--id <id>', 'capture to replay (repeat for several)', collect)
    .option('--status <status>', 'select by status: a class like 5xx, or an exact status like 500')
    .option('--service <name>', 'select captures of this service')
    .option('--path <prefix>', 'select requests whose path starts with this')
    .option('--since <when>', 'select captures since a duration ago (1h, 30m), an ISO time or epoch ms')
    .option('--trace <id>', 'select captures of this trace id')
    .option('--limit <n>', 'select at most the newest n matches (default 1000)')
    .option('--destination <dest>', "host:port or http(s) URL (default: each capture's own destination)")
    .option('--concurrency <n>', 'replays in flight at once (default 1)')
    .option('--rate <n/s>', 'at most this many requests per second, evenly spaced (like 50/s)')
    .option('--header <header>', "'Name: value' to set on every replay, replacing the captured one (repeatable)", collect)
    .option('--secrets <file>', 'JSON { headers, query, fields } of values to put back where the capture holds [REDACTED]')
    .option('--allow-redacted', `send requests even when they hold the redaction placeholder ${REDACTED}`)
    .option('--allow-unsafe', 'allow POST/PUT/PATCH/DELETE when replaying more than one capture (or with --learn-noise)')
    .option('--keep-host', 'send the captured Host header instead of the destination')
    .option('--ignore-header <name>', 'leave this response header out of the comparison (repeatable)', collect)
    .option('--ignore <path>', 'leave this JSON path out of the body comparison, like $.items[*].id (repeatable)', collect)
    .option('--learn-noise <n>', 'replay each capture n extra times first and ignore what differs between them')
    .option('--via-collector', 'have the collector send the replays, to destinations on its --replay-allow list that only it can reach')
    .option('--json', 'print the replays as JSON')
    .action(async (options: ReplayOptions) => {
      // Everything is checked before the first request leaves: a bad flag or id sends nothing.
      const ids = options.id ?? [];
      const filters = { status: options.status, service: options.service, path: options.path, since: options.since, trace: options.trace, limit: options.limit };
      const filtered = Object.values(filters).some((v) => v !== undefined);
      if (ids.length && filtered) throw usage('select captures with --id or with filters (--status, --service, --path, --since, --trace, --limit), not both');
      if (!ids.length && !filtered) {
        throw new CommanderError(
          2,
          'commander.missingMandatoryOptionValue',
          'error: say which captures: --id N (repeatable) or filters (--status 5xx, --service, --path, --since, --trace, --limit)',
        );
      }
      if (options.status !== undefined) parseStatusFilter(options.status);
      if (options.since !== undefined) parseSince(options.since);
      if (options.limit !== undefined) parseLimit(options.limit);
      const override = options.destination !== undefined ? parseDestination(options.destination) : undefined;
      const concurrency = options.concurrency !== undefined ? wholeNumber('--concurrency', options.concurrency, 1000) : 1;
      const pacer = new Pacer(options.rate !== undefined ? parseRate(options.rate) : undefined);
      const extraHeaders: HeaderList = (options.header ?? []).map(parseHeader);
      const learn = options.learnNoise !== undefined ? wholeNumber('--learn-noise', options.learnNoise, 100) : 0;
      for (const path of options.ignore ?? []) parseJsonPath(path);
      const secrets = options.secrets !== undefined ? readSecrets(options.secrets) : undefined;
      const diffOptions: DiffOptions = { headers: true, ignoreHeaders: options.ignoreHeader ?? [], ignorePaths: options.ignore ?? [] };

      const { collector, token } = ctx.globals();
      const client = new CollectorClient(collector, token);
      let records: CaptureRecord[] = [];
      if (ids.length) {
        for (const id of ids) records.push(await client.get(id));
      } else {
        const summaries = await client.list(filters);
        if (!summaries.length) throw new NothingMatchedError('no capture matches the filters; nothing was replayed');
        records = await runPool(summaries, 8, (s) => client.get(String(s.seq)));
      }
      if (secrets) records = records.map((r) => restoreSecrets(r, secrets));
      for (const record of records) {
        const places = redactedInRequest(record);
        if (places.length && !options.allowRedacted) {
          throw new LoopError(
            codes.REPLAY_REDACTED,
            `capture ${record.seq}'s request holds redacted values (${places.join(', ')}), so the replay would send ` +
              `${REDACTED} instead of them; pass --secrets FILE to put the values back, or --allow-redacted to send it anyway`,
          );
        }
      }
      const bulk = records.length > 1;
      if ((bulk || learn) && !options.allowUnsafe) {
        const unsafe = records.filter((r) => UNSAFE.has(r.request.method.toUpperCase()));
        if (unsafe.length) {
          const first = unsafe[0]!;
          throw usage(
            `${unsafe.length} of the ${records.length} captures ${unsafe.length === 1 ? 'is a' : 'are'} POST/PUT/PATCH/DELETE request${unsafe.length === 1 ? '' : 's'} ` +
              `(capture ${first.seq}: ${first.request.method} ${first.request.url}), which ${bulk ? 'a bulk replay' : '--learn-noise'} would send again with their side effects; ` +
              'pass --allow-unsafe to send them anyway',
          );
        }
      }
      const destinations = records.map((r) => destinationOf(r, override));
      for (const record of records) {
        const body = record.request.body;
        if (body?.truncated) {
          process.stderr.write(
            `loopctl: warning: capture ${record.seq}'s request body was truncated; sending the ${Buffer.byteLength(body.data, body.encoding === 'base64' ? 'base64' : 'utf8')} kept bytes of ${body.size}\n`,
          );
        }
      }

      const replayOne = async (record: CaptureRecord, index: number): Promise<Outcome> => {
        const destination = destinations[index]!;
        const traceId = newTraceId();
        let address: string | undefined;
        const send = async (): Promise<{ request: ReplayRequest; response: ReplayResponse }> => {
          const build = {
            keepHost: options.keepHost,
            traceparent: formatTraceparent(traceId, newSpanId(), true),
            headers: extraHeaders,
          };
          if (options.viaCollector) {
            await pacer.take();
            const answer = await viaCollector(client, record, build, { destination: options.destination, secrets, allowRedacted: options.allowRedacted });
            address = answer.address;
            return answer;
          }
          const request = buildReplayRequest(record, destination, build);
          await pacer.take();
          return { request, response: await sendReplay(destination, request) };
        };
        try {
          const samples: ReplayResponse[] = [];
          for (let n = 0; n < learn; n++) samples.push((await send()).response);
          const { request, response } = await send();
          let noise: Noise | undefined;
          let used = diffOptions;
          if (learn) {
            noise = learnNoise([...samples, response]);
            used = withNoise(diffOptions, noise);
          }
          const diff = diffResponse(record.response, response, used);
          return { record, destination, traceId, request, response, diff, noise, ...(address && { address }) };
        } catch (err) {
          if (!bulk || !(err instanceof LoopError)) throw err;
          return { record, destination, traceId, error: err };
        }
      };

      if (!bulk) {
        const outcome = await replayOne(records[0]!, 0);
        if (options.json) process.stdout.write(`${JSON.stringify({ replays: [replayJson(outcome)] }, null, 2)}\n`);
        else {
          const shown = outcome.address ? { ...outcome.destination, display: `${outcome.destination.display} via the collector` } : outcome.destination;
          process.stdout.write(formatReplay(outcome.record, shown, outcome.response!, outcome.diff!, { color: useColor(), noise: outcome.noise }));
        }
        ctx.setExitCode(outcome.diff!.same ? 0 : 1);
        return;
      }

      // Per-capture lines in capture order, each as soon as it and all before it are done.
      const tty = !options.json && Boolean(process.stdout.isTTY);
      const color = useColor();
      const done: Array<Outcome | undefined> = new Array(records.length);
      let printed = 0;
      let finished = 0;
      const running = { same: 0, differs: 0, errors: 0 };
      const onDone = (index: number, outcome: Outcome): void => {
        done[index] = outcome;
        finished++;
        if (outcome.error) running.errors++;
        else if (outcome.diff!.same) running.same++;
        else running.differs++;
        if (options.json) return;
        let text = '';
        while (printed < records.length && done[printed]) text += formatBulkLine(toBulk(done[printed++]!), color);
        if (tty) process.stdout.write(`\r\x1b[K${text}${progressLine(finished, records.length, running)}`);
        else process.stdout.write(text);
      };
      const outcomes = await runPool(records, concurrency, async (record, index) => {
        const outcome = await replayOne(record, index);
        onDone(index, outcome);
        return outcome;
      });
      const summary = summarize(outcomes);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ results: outcomes.map(replayJson), summary }, null, 2)}\n`);
      } else {
        if (tty) process.stdout.write('\r\x1b[K');
        process.stdout.write(`\n${formatSummary(summary)}`);
      }
      if (summary.errors) {
        const first = outcomes.find((o) => o.error)!;
        process.stderr.write(
          `loopctl: ${summary.errors} of ${outcomes.length} replays failed (first: capture ${first.record.seq}: ${first.error!.message})\n`,
        );
      }
      ctx.setExitCode(summary.errors ? 2 : summary.differs ? 1 : 0);
    });
}

/**
 * One replay sent by the collector (`--via-collector`): the same knobs as a local replay, the request
 * built there from the stored capture. Secrets travel in this one authenticated request and are not
 * stored by the collector.
 */
async function viaCollector(
  client: CollectorClient,
  record: CaptureRecord,
  build: { keepHost?: boolean; traceparent: string; headers: HeaderList },
  extra: { destination?: string; secrets?: Secrets; allowRedacted?: boolean },
): Promise<{ request: ReplayRequest; response: ReplayResponse; address: string }> {
  const answer = await client.replay(record.id, {
    ...(extra.destination !== undefined && { destination: extra.destination }),
    ...(build.keepHost && { keepHost: true }),
    headers: build.headers,
    traceparent: build.traceparent,
    ...(extra.secrets && { secrets: extra.secrets }),
    ...(extra.allowRedacted && { allowRedacted: true }),
  });
  return {
    // The body is the capture's (secrets restored): the collector sends it as stored.
    request: { ...answer.request, body: decodeBody(record.request.body) },
    response: replayResponseFromJson(answer.response, answer.response.durationMs),
    address: answer.address,
  };
}

function toBulk(o: Outcome): BulkResult {
  return {
    seq: o.record.seq ?? o.record.id,
    method: o.record.request.method,
    url: o.record.request.url,
    captured: o.record.response.status,
    ...(o.response && { replayed: o.response.status, durationMs: o.response.durationMs }),
    ...(o.diff && { diff: o.diff }),
    ...(o.error && { error: o.error.message }),
  };
}
