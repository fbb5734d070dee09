/**
 * `phonehome demo` (`npm run demo`): the out-of-the-box demo, end to end through the real parts.
 * It starts virtual phones of the leaky, fixed, HyperOS and China firmware profiles on the adb
 * server, runs the shipped suites (scenarios/) with `phonehome run`'s runner (mocha + Allure per phone
 * in shared worker processes, capture through mockttp, the UI through Appium or ADB only), generates the Allure
 * report and prints its path, then stops the phones and checks that each was left clean (no wiring
 * left in the journal). On the leaky firmware the incognito scenarios fail; on the fixed and HyperOS
 * firmware they pass: that is the demo working, so the demo exits 0 unless the run itself broke.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { Journal } from '../../capture/journal.ts';
import { runSuites } from '../../runner/run.ts';
import { Lab } from '../../virtual/lab/virtual-lab.ts';
import { runAdb } from '../../virtual/lab/adb-client.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import { adbPortFlag, adbPortOption } from '../options.ts';
import { caDir, stateDir } from '../state.ts';
import { chooseProfiles } from './lab.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const DEMO_PROFILES = [
  'redmi-note-8-leaky-rooted',
  'redmi-note-8-fixed-rooted',
  'xiaomi-13-hyperos-rooted',
  'redmi-note-11-china',
];

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'start virtual phones (leaky, fixed, HyperOS and China firmware), run the shipped suites on them, ' +
        'generate the Allure report and print its path, then stop the phones',
    )
    .addOption(adbPortFlag())
    .option('--out <dir>', 'where run folders go', 'reports')
    .addOption(
      new Option('--ui <driver>', 'how the phones are driven').choices(['appium', 'adb']).default('appium'),
    )
    .option(
      '--profile <name|file.json>',
      'a firmware profile to start (repeatable; default: the four of the story)',
      (v: string, p: string[] = []) => [...p, v],
    )
    .option('--tags <tags>', 'run only scenarios with one of these tags (comma-separated)')
    .action(
      async (opts: {
        adbPort?: string;
        out: string;
        ui: 'appium' | 'adb';
        profile?: string[];
        tags?: string;
      }) => {
        const adbPort = adbPortOption(opts.adbPort);
        const profiles = chooseProfiles(opts.profile ?? DEMO_PROFILES, undefined);
        // `adb version` talks to no server: a missing adb client fails here, before any progress line.
        await runAdb(adbPort, ['version'], { timeoutMs: 10000 });
        const step = (msg: string) => process.stderr.write(`• ${msg}\n`);
        step(`starting the adb server on port ${adbPort} (if it is not running)`);
        await runAdb(adbPort, ['start-server'], { timeoutMs: 20000 });
        // The UiAutomator2 server APKs come preinstalled, as on a lab phone after its first session.
        const lab = new Lab({ adbPort, phone: { uia2Preinstalled: true } });
        const tmp = mkdtempSync(join(tmpdir(), 'phonehome-demo-'));
        let code: number | undefined;
        let left: string[];
        try {
          step(`starting ${profiles.length} virtual phones: ${profiles.join(', ')}`);
          for (const p of profiles) await lab.addPhone(p);
          const devicesFile = join(tmp, 'devices.json');
          writeFileSync(
            devicesFile,
            `${JSON.stringify({ phones: lab.phones.map((p) => ({ serial: p.serial, label: p.profile.name, ui: opts.ui })) }, null, 2)}\n`,
          );
          step(
            `running the shipped suites (scenarios/) on them, the UI through ${opts.ui === 'adb' ? 'ADB only' : 'Appium'}`,
          );
          const outcome = await runSuites({
            paths: [join(REPO, 'scenarios')],
            devicesFile,
            ...(opts.tags
              ? {
                  tags: opts.tags
                    .split(',')
                    .map((t) => t.trim())
                    .filter(Boolean),
                }
              : {}),
            retries: 0,
            bail: false,
            json: false,
            out: resolve(opts.out),
            defaultServer: { host: '127.0.0.1', port: adbPort },
            stateDir: stateDir(),
            caDir: caDir(),
          });
          process.stdout.write(`\nAllure report: ${join(outcome.runDir, 'html', 'index.html')}\n`);
          process.stdout.write(`run folder:    ${outcome.runDir} (summary.json, junit.xml, evidence/)\n`);
          process.stdout.write(
            'Captures and reports hold personal data of the phones they came from; keep them private.\n',
          );
          // Failed scenarios are the demo's point (the leaky firmware); only a broken run is an error.
          code = outcome.exitCode <= 1 ? 0 : outcome.exitCode;
        } finally {
          step('stopping the virtual phones');
          const serials = new Set(lab.phones.map((p) => p.serial));
          await lab.stop();
          rmSync(tmp, { recursive: true, force: true });
          left = new Journal(stateDir())
            .list()
            .filter((e) => serials.has(e.serial))
            .map((e) => e.serial);
        }
        if (left.length) {
          throw new UserFacingError(
            `${left.length} phone(s) still have wiring in the journal: ${left.join(', ')}`,
            'run any phonehome command with the phones connected to restore them',
          );
        }
        step('every phone was left clean (no proxy, reverse rule or CA left behind)');
        process.exitCode = code ?? 0;
      },
    );
}
