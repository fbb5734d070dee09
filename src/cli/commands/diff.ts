/**
 * `phonehome diff RUN_A RUN_B` (issue 6 §3): what changed between two runs, per scenario × phone:
 * verdicts, hosts and trackers newly seen or gone, and scenarios or phones in one run only. A terminal
 * table by default, `--json` for one JSON document, `--html FILE` for a self-contained page.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { diffRuns, formatDiffHtml, formatDiffJson, formatDiffTable } from '../../report/diff.ts';
import { loadRun, resolveRun } from '../../report/summary.ts';
import { UserError } from '../errors.ts';

interface DiffOptions {
  json?: boolean;
  html?: string;
  all?: boolean;
  reports: string;
}

const HELP = `
RUN_A and RUN_B are each a run folder (reports/<run-id>), a run id under the reports folder, or
\`latest\`. Runs are read from their results.json (summary.json alone gives verdicts only).

Phones are matched by serial, then the rest by profile (virtual phones) or model (real ones), so a
re-flashed lab phone that came back under another serial is still compared with itself; within one
profile the leftover phones are paired in serial order. Scenarios are matched by name.

Exit codes: 0 when both runs were read (whatever changed), 2 for a bad run argument or options.

Examples:
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
    .argument('<RUN_A>', 'the earlier run: a run folder, a run id, or latest')
    .argument('<RUN_B>', 'the later run: a run folder, a run id, or latest')
    .option('--json', 'print the diff as one JSON document')
    .option('--html <FILE>', 'also write a self-contained HTML page to FILE')
    .option('--all', 'list unchanged scenario × phone pairs in the table too')
    .option('--reports <DIR>', 'where run ids and latest are looked up', 'reports')
    .addHelpText('after', HELP)
    .action((a: string, b: string, o: DiffOptions) => {
      const d = diffRuns(loadRun(resolveRun(a, o.reports)), loadRun(resolveRun(b, o.reports)));
      if (o.html) {
        try {
          writeFileSync(o.html, formatDiffHtml(d));
        } catch (err) {
          throw new UserError(
            `cannot write ${o.html}: ${err instanceof Error ? err.message : String(err)}`,
            'give --html a path in a folder that exists and that you can write',
            2,
          );
        }
      }
      process.stdout.write(o.json ? formatDiffJson(d) : `${formatDiffTable(d, { all: o.all ?? false })}\n`);
      if (o.html && !o.json) process.stdout.write(`HTML: ${o.html}\n`);
    });
}
