import path from 'node:path';
import { Command } from 'commander';
import type { CaptureRecord } from '../../../src/capture/record.js';
import { LoopError, codes } from '../../../src/errors.js';
import { CollectorClient } from '../client.js';
import type { CliContext } from '../global-options.js';
import { harToCaptures } from '../../export/har.js';
import { readInput } from '../read-input.js';

/** A batch stays well under the collector's default 16 MiB ingest limit. */
const BATCH_COUNT = 200;
const BATCH_BYTES = 4 * 1024 * 1024;


function batches(records: CaptureRecord[]): CaptureRecord[][] {
  const out: CaptureRecord[][] = [];
  let current: CaptureRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = Buffer.byteLength(JSON.stringify(record));
    if (current.length > 0 && (current.length >= BATCH_COUNT || bytes + size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** `4..9`, or `4..6, 9` when others arrived in between. */
function ranges(seqs: number[]): string {
  const sorted = [...seqs].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}..${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

/**
 * `loopctl import FILE.har`: every HAR entry becomes a capture (redacted with the default redaction,
 * new trace ids), sent to the collector's ingest API. The whole file is checked first: a bad entry
 * imports nothing.
 */
export function importCommand(ctx: CliContext): Command {
  return new Command('import')
    .description('import the entries of a HAR file as captures (- reads standard input)')
    .argument('<file>', 'a HAR file, or - for standard input')
    .option('--service <name>', 'service name of the imported captures', 'import')
    .action(async (file: string, options: { service: string }) => {
      const name = file === '-' ? 'stdin' : path.basename(file);
      const shown = file === '-' ? '<stdin>' : file;
      const text = await readInput(file);
      const { captures: records, skipped } = harToCaptures(text, { file: shown, service: options.service, instance: `import:${name}` });
      if (skipped.length > 0) {
        process.stderr.write(
          `loopctl: skipped ${skipped.length} ${skipped.length === 1 ? 'entry' : 'entries'} with status 0 (no answer: cancelled or blocked in the browser): log.entries[${skipped.join(', ')}]\n`,
        );
      }
      const { collector, token } = ctx.globals();
      const client = new CollectorClient(collector, token);
      let sent = 0;
      for (const batch of batches(records)) {
        try {
          await client.ingest(batch);
        } catch (err) {
          if (sent > 0 && err instanceof LoopError) {
            throw new LoopError(err.code, `${err.message}; the first ${sent} of ${records.length} captures were imported`, { cause: err });
          }
          throw err;
        }
        sent += batch.length;
      }
      // Ingest answers counts only: the display ids come from the stored records.
      const seqs: number[] = [];
      for (const record of records) {
        const stored = await client.get(record.id);
        if (stored.seq !== undefined) seqs.push(stored.seq);
      }
      const noun = records.length === 1 ? 'capture' : 'captures';
      const ids = seqs.length === 0 ? '' : ` (${seqs.length === 1 ? 'id' : 'ids'} ${ranges(seqs)})`;
      process.stdout.write(`imported ${records.length} ${noun}${ids}\n`);
      ctx.setExitCode(0);
    });
}
