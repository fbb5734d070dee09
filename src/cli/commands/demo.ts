/**
 * `phonehome demo`: the out-of-the-box demo. Until the scenario runner exists it starts the virtual
 * lab, reads every phone through the device layer (the same code that drives real phones), writes
 * what it found to reports/demo/, prints that path, and stops the lab again.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import type { Command } from 'commander';
import { Lab } from '../../virtual/lab.ts';
import { runAdb } from '../../virtual/adb-cli.ts';
import { createAdbClient } from '../../device/adb-client.ts';
import { Device } from '../../device/device.ts';
import { adbPortOption, timeoutMsParser } from '../options.ts';
import { chooseProfiles } from './lab.ts';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start the virtual lab, read every phone through the device layer, and write a report')
    .option('--adb-port <port>', 'adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)')
    .option('--out <dir>', 'where to write the report', 'reports/demo')
    .option('--timeout <ms>', 'adb timeout per phone call, in ms', timeoutMsParser('--timeout'), 10000)
    .action(async (opts: { adbPort?: string; out: string; timeout: number }) => {
      const adbPort = adbPortOption(opts.adbPort);
      // One phone of each profile; a broken profile file fails here, naming the file and field.
      const profiles = chooseProfiles([], undefined);
      // `adb version` talks to no server: a missing adb client fails here, before any progress line.
      await runAdb(adbPort, ['version'], { timeoutMs: 10000 });
      const step = (msg: string) => process.stderr.write(`• ${msg}\n`);
      step(`starting the adb server on port ${adbPort} (if it is not running)`);
      await runAdb(adbPort, ['start-server'], { timeoutMs: 20000 });
      const lab = new Lab({ adbPort });
      const stop = () => void lab.stop().finally(() => process.exit(130));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        step(`starting ${profiles.length} virtual phones: ${profiles.join(', ')}`);
        for (const p of profiles) await lab.addPhone(p);
        const client = createAdbClient({ port: adbPort });
        const rows = [];
        for (const entry of lab.phones) {
          const device = new Device(client, entry.serial, { timeoutMs: opts.timeout });
          const fingerprint = await device.fingerprint();
          const proxy = await device.getSetting('global', 'http_proxy');
          const uep = await device.getSetting('secure', 'upload_log_pref');
          rows.push({
            serial: entry.serial,
            profile: entry.profile.name,
            fingerprint,
            settings: { http_proxy: proxy, upload_log_pref: uep },
          });
          step(`${entry.serial}  ${fingerprint.label}`); // the label already says 'rooted'
        }
        const dir = resolve(opts.out);
        mkdirSync(dir, { recursive: true });
        const file = join(dir, 'phones.json');
        writeFileSync(
          file,
          `${JSON.stringify({ generatedAt: new Date().toISOString(), adbPort, phones: rows }, null, 2)}\n`,
        );
        process.stdout.write(`\ndemo report: ${file}\n`);
        process.stdout.write(
          'The scenario suites and the Allure report come with the scenario runner; until then the demo\n' +
            'shows the virtual lab driven through the real adb server and adbkit.\n',
        );
      } finally {
        step('stopping the virtual phones');
        await lab.stop();
      }
    });
}
