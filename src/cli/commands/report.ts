/**
 * `phonehome report [RUN] [--open]`: regenerates a run's Allure HTML (`html/index.html`, one
 * self-contained file) from its `allure-results/` with allure-commandline, and prints its path.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { generateAllureHtml } from '../../report/allure.ts';
import { resolveRun } from '../../report/summary.ts';

interface ReportOptions {
  open?: boolean;
  reports: string;
  timeout: string;
}

const HELP = `
RUN is a run folder (reports/<run-id>), a run id under the reports folder, or \`latest\` (the default).
The report is a single HTML file, so it opens straight from disk as well as from a web server.
It is made with the Allure history the run started from (kept in RUN/allure-results/history), so it
shows the same Trend and History as when the run made it; the lab history (reports/history, or
\`phonehome run --history\`) is read and updated only by \`phonehome run\` and \`phonehome merge\`.
allure-commandline needs Java (apt-get install -y default-jre-headless).

Exit codes: 0 report written, 2 bad RUN, 3 Java missing or allure-commandline failed.

Examples:
  $ phonehome report
  $ phonehome report 20260301-101500-000-a1b2c3 --open
`;

/** Opens a file with the desktop's handler, detached; false when there is none. */
function openFile(file: string): Promise<boolean> {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  return new Promise((resolve) => {
    const child = spawn(cmd, [file], { stdio: 'ignore', detached: true });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description("regenerate a run's Allure HTML report from its allure-results and print its path")
    .argument('[RUN]', 'a run folder, a run id, or latest', 'latest')
    .option('--open', 'open the report in the desktop browser')
    .option('--reports <DIR>', 'where run ids and latest are looked up', 'reports')
    .option('--timeout <SECONDS>', 'stop allure-commandline after this long', '120')
    .addHelpText('after', HELP)
    .action(async (run: string, o: ReportOptions) => {
      const dir = resolveRun(run, o.reports);
      const seconds = Number(o.timeout);
      const index = await generateAllureHtml(dir, {
        ...(Number.isFinite(seconds) && seconds > 0 ? { timeoutMs: seconds * 1000 } : {}),
      });
      process.stdout.write(`${index}\n`);
      if (o.open && !(await openFile(index))) {
        process.stderr.write(`phonehome: no desktop browser opener found; open ${index} in a browser\n`);
      }
    });
}
