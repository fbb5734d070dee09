/**
 * `phonehome merge RUN_DIR…` (issue 12 §1): combines the run folders of a sharded suite (one
 * `phonehome run --shard I/N` per lab host) into one new run folder and one Allure report
 * (src/report/merge.ts). Exit codes as `phonehome run`: 0 all passed, 1 a scenario failed, 2 a bad
 * input or option, 3 a job broke or is missing.
 */
import type { Command } from 'commander';
import { loadProjectConfig } from '../../config/project.ts';
import { mergeRuns } from '../../report/merge.ts';
import { jsonFlag } from '../options.ts';

interface MergeCliOptions {
  out: string;
  history?: string;
  config?: string;
  json?: boolean;
}

const HELP = `
RUN_DIR is a run folder (reports/<run-id>), a run id under the --out folder, or \`latest\`: typically
the run folders of \`phonehome run --shard 1/N\` … \`--shard N/N\`, copied from each lab host (CI
artifacts). The merged run gets a new run id under --out, and --out/latest points at it.

Reported on stderr, in the merged run.json and in --json:
  duplicated jobs  the same scenario × phone fingerprint in two runs (both results are kept)
  missing jobs     in a run's job list (run.json) but in no run's results: a shard not given, or a
                   host with no phone of that fingerprint. Each becomes a broken result, so the
                   merged run never says passed while a job is missing.
  shard counts     runs cut with different N
Phones whose serial appears in several runs are named host/serial in the merged results.

Exit codes: 0 all passed, 1 a scenario failed, 2 an input is not a run folder (each is named),
3 a job broke or is missing.

Examples:
  $ phonehome merge host-a/reports/20260301-101500-000-a1b2c3 host-b/reports/20260301-101502-000-d4e5f6
  $ phonehome merge shard-*/reports/latest --out reports --json > merged.json
`;

export function registerMergeCommand(program: Command): void {
  program
    .command('merge')
    .description(
      'combine the run folders of shards (phonehome run --shard I/N on each lab host) into one run folder and one Allure report',
    )
    .argument('<RUN_DIR...>', 'run folders, run ids under --out, or latest')
    .option('--out <dir>', 'the reports folder the merged run goes into', 'reports')
    .option('--history <dir>', "the lab's Allure history folder (default: <out>/history)")
    .option('--config <file>', 'project config with user categories (default: phonehome.json if present)')
    .addOption(jsonFlag('print what was merged (duplicates, missing jobs, summary) as JSON on stdout'))
    .addHelpText('after', HELP)
    .action(async (inputs: string[], o: MergeCliOptions) => {
      const config = loadProjectConfig(o.config);
      const err = (l: string): void => void process.stderr.write(`${l}\n`);
      const r = await mergeRuns({
        inputs,
        out: o.out,
        ...(o.history ? { historyDir: o.history } : {}),
        ...(config.categories.length ? { categories: config.categories } : {}),
        log: o.json ? err : (l) => void process.stdout.write(`${l}\n`),
        warn: err,
      });
      const counts = { passed: 0, failed: 0, broken: 0, skipped: 0 };
      for (const x of r.summary.results) counts[x.status]++;
      const line =
        `phonehome: merged run ${r.run}: ${r.summary.results.length} job(s) · ${counts.passed} passed · ` +
        `${counts.failed} failed · ${counts.broken} broken · ${counts.skipped} skipped` +
        (r.missing.length ? ` (${r.missing.length} missing)` : '') +
        (r.duplicates.length ? ` (${r.duplicates.length} duplicated)` : '');
      if (o.json) {
        err(line);
        err(`phonehome: report: ${r.report}`);
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      } else {
        process.stdout.write(`${line}\nphonehome: report: ${r.report}\n`);
      }
      process.exitCode = r.exitCode;
    });
}
