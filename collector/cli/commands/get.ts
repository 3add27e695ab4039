import { Command } from 'commander';
import { stringify } from 'yaml';
import { LoopError, codes } from '../../../src/errors.js';
import { describeMatch } from '../../../src/match/rule.js';
import type { TapConfig } from '../../../src/match/tapconfig.js';
import type { AgentState } from '../../storage/types.js';
import { CollectorClient, type TapConfigListing } from '../client.js';
import type { CliContext } from '../global-options.js';
import { renderTable, type Column } from '../table.js';

interface GetOptions {
  output?: string;
  json?: boolean;
}

const RULE_COLUMNS: Column[] = [
  { header: 'NAME', align: 'left' },
  { header: 'MATCH', align: 'left' },
  { header: 'SERVICES', align: 'left' },
  { header: 'SAMPLE', align: 'right' },
  { header: 'CAPTURED', align: 'right' },
];

const AGENT_COLUMNS: Column[] = [
  { header: 'SERVICE', align: 'left' },
  { header: 'INSTANCES', align: 'right' },
  { header: 'VERSION', align: 'left' },
  { header: 'SOURCE', align: 'left' },
];

const KINDS = ['tapconfigs', 'tapconfig', 'tc'];
/** Long rules are cut in the table; `-o yaml` shows them whole. */
const MATCH_WIDTH = 60;

/**
 * `loopctl get tapconfigs [NAME]`: the rules the collector holds, with how many captures each made,
 * then which rules version each service's running processes have in force and where it came from.
 */
export function getCommand(ctx: CliContext): Command {
  return new Command('get')
    .description('list TapConfigs (loopctl get tapconfigs), and the rules version each service runs')
    .argument('<kind>', 'tapconfigs')
    .argument('[name]', 'one TapConfig')
    .option('-o, --output <format>', 'table (default), yaml or json')
    .option('--json', 'same as -o json')
    .action(async (kind: string, name: string | undefined, options: GetOptions) => {
      if (!KINDS.includes(kind)) {
        throw new LoopError(codes.USAGE, `loopctl get knows tapconfigs, not '${kind}'; for captures use loopctl list`);
      }
      const output = options.json ? 'json' : (options.output ?? 'table');
      if (!['table', 'yaml', 'json'].includes(output)) {
        throw new LoopError(codes.USAGE, `bad --output '${output}': use table, yaml or json`);
      }
      const { collector, token } = ctx.globals();
      const listing = await new CollectorClient(collector, token).listTapConfigs();
      let rows = listing.tapconfigs;
      if (name !== undefined) {
        rows = rows.filter((t) => t.resource.metadata.name === name);
        if (rows.length === 0) throw new LoopError(codes.NOT_FOUND, `no tapconfig named ${name}`);
      }
      if (output === 'yaml') {
        // Resources as `loopctl apply -f` takes them back, `---` apart.
        process.stdout.write(rows.map((t) => stringify(t.resource, { lineWidth: 0 })).join('---\n'));
      } else if (output === 'json') {
        process.stdout.write(`${JSON.stringify(name !== undefined ? rows[0] : { ...listing, tapconfigs: rows }, null, 2)}\n`);
      } else {
        process.stdout.write(renderTable(RULE_COLUMNS, rows.map((t) => ruleRow(t.resource, t.captured))));
        if (name === undefined) process.stdout.write(`\nrules version ${listing.version}\n\n${agentTable(listing)}`);
      }
      ctx.setExitCode(0);
    });
}

function ruleRow(config: TapConfig, captured: number): string[] {
  const { match, services, sample } = config.spec;
  return [
    config.metadata.name,
    cut(describeMatch(match), MATCH_WIDTH),
    services === undefined || services.length === 0 ? 'all' : services.join(','),
    String(sample ?? 1),
    String(captured),
  ];
}

/** One row per service: its processes polling now, the versions they have, and local or collector rules. */
function agentTable(listing: TapConfigListing): string {
  const byService = new Map<string, AgentState[]>();
  for (const agent of listing.agents) byService.set(agent.service, [...(byService.get(agent.service) ?? []), agent]);
  const rows = [...byService].map(([service, agents]) => [
    service,
    String(agents.length),
    [...new Set(agents.map((a) => a.version))].sort((a, b) => b - a).join(','),
    [...new Set(agents.map((a) => a.source))].sort().join(','),
  ]);
  return renderTable(AGENT_COLUMNS, rows);
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
