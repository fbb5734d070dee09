/**
 * `phonehome diff RUN_A RUN_B` (issue 6 §3): what changed between two runs, per scenario × phone:
 * verdicts, hosts and trackers newly seen or gone, and scenarios or phones in one run only. A terminal
 * table by default, `--json` for one JSON document, `--html FILE` for a self-contained page.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  choosePreviousRun,
  diffRuns,
  formatDiffHtml,
  formatDiffJson,
  formatDiffTable,
} from '../../report/diff.ts';
import { join } from 'node:path';
import { listRuns, loadRun, resolveRun, type LoadedRun } from '../../report/summary.ts';
import { readRunMeta } from '../../report/run-meta.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import { jsonFlag } from '../options.ts';

interface DiffOptions {
  json?: boolean;
  html?: string;
  all?: boolean;
  reports: string;
}

const HELP = `
RUN_A and RUN_B are each a run folder (reports/<run-id>), a run id under the reports folder, or
\`latest\`. Runs are read from their results.json (summary.json alone gives verdicts only); merged
runs (\`phonehome merge\`) are runs like any other.

With one run, it is compared with the previous run of the same phones' firmware: among the runs under
--reports with an older run id, the one whose phones share the most device lines (profile · OS ·
build), the newest on a tie; when none has the same firmware (just after an update), the newest with
the most of the same profiles. A merged run's own shards are not candidates. The choice and why
are printed on stderr (and in --json as "previous"). Exit 2 when no earlier run has any of these
phones.

Phones are matched by serial, then the rest by profile (virtual phones) or model (real ones), so a
re-flashed lab phone that came back under another serial is still compared with itself; within one
profile the leftover phones are paired in serial order. Scenarios are matched by name.

Exit codes: 0 when both runs were read (whatever changed), 2 for a bad run argument or options.

Examples:
  $ phonehome diff latest
  $ phonehome diff 20260301-101500-000-a1b2c3 latest
  $ phonehome diff reports/before reports/after --json
  $ phonehome diff before after --html firmware-diff.html
`;

export function registerDiffCommand(program: Command): void {
  program
    .command('diff')
    .description(
      'compare two runs: changed verdicts, hosts and trackers newly seen or gone, per scenario × phone',
    )
    .argument('<RUN_A>', 'the earlier run (alone: the run to compare with its previous run)')
    .argument('[RUN_B]', 'the later run: a run folder, a run id, or latest')
    .addOption(jsonFlag('print the diff as one JSON document'))
    .option('--html <FILE>', 'also write a self-contained HTML page to FILE')
    .option('--all', 'list unchanged scenario × phone pairs in the table too')
    .option('--reports <DIR>', 'where run ids and latest are looked up', 'reports')
    .addHelpText('after', HELP)
    .action((a: string, b: string | undefined, o: DiffOptions) => {
      let runA: LoadedRun;
      let runB: LoadedRun;
      let previous: { run: string; dir: string; why: string } | undefined;
      if (b === undefined) {
        runB = loadRun(resolveRun(a, o.reports));
        // A merged run's own shards are its parts, not earlier runs of it.
        const parts = new Set(readRunMeta(runB.dir)?.merged?.from.map((f) => f.run) ?? []);
        const choice = choosePreviousRun(
          runB,
          listRuns(o.reports)
            .filter((id) => !parts.has(id))
            .map((id) => ({
              id,
              load: () => {
                try {
                  return loadRun(join(o.reports, id));
                } catch {
                  return undefined; // an unreadable old run is no candidate
                }
              },
            })),
        );
        if (!choice.run) {
          throw new UserFacingError(
            `no previous run to compare ${runB.id} with: ${choice.why}`,
            `give two runs (phonehome diff RUN_A RUN_B), or --reports the folder that holds the earlier runs`,
            2,
          );
        }
        runA = choice.run;
        previous = { run: runA.id, dir: runA.dir, why: choice.why };
        process.stderr.write(`phonehome: comparing with ${runA.id}: ${choice.why}\n`);
      } else {
        runA = loadRun(resolveRun(a, o.reports));
        runB = loadRun(resolveRun(b, o.reports));
      }
      const d = diffRuns(runA, runB);
      if (o.html) {
        try {
          writeFileSync(o.html, formatDiffHtml(d));
        } catch (err) {
          throw new UserFacingError(
            `cannot write ${o.html}: ${err instanceof Error ? err.message : String(err)}`,
            'give --html a path in a folder that exists and that you can write',
            2,
          );
        }
      }
      process.stdout.write(
        o.json
          ? previous
            ? `${JSON.stringify({ ...d, previous }, null, 2)}\n`
            : formatDiffJson(d)
          : `${formatDiffTable(d, { all: o.all ?? false })}\n`,
      );
      if (o.html && !o.json) process.stdout.write(`HTML: ${o.html}\n`);
    });
}
