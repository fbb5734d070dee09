/**
 * bench/ui-step: median latency of the same page-object steps on the Appium driver (a real Appium
 * 3.8 server + UiAutomator2 driver + webdriverio session) and on the ADB-only driver (`uiautomator
 * dump` + `input`), in one run, on two virtual phones of the same profile (one per driver, so the
 * drivers never share a screen). Rounds alternate which driver goes first, so drift hits both.
 *
 *   npm run bench:ui-step [-- --rounds 15 --profile redmi-note-8-leaky]
 *
 * The virtual phones run in this process, so their own work (rendering the dump, the screen) is in
 * both columns; on a real phone `uiautomator dump` takes 1–3 s (appium-uia2.md §5), which this
 * bench cannot show.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAdbClient } from '../src/device/adb-client.ts';
import { Device } from '../src/device/device.ts';
import { AdbUiDriver } from '../src/ui/adb/driver.ts';
import { AppiumUiDriver } from '../src/ui/appium/driver.ts';
import { AppiumServer } from '../src/ui/appium/server.ts';
import type { UiDriver } from '../src/ui/driver.ts';
import { Launcher } from '../src/ui/pages/launcher.ts';
import { MiBrowser } from '../src/ui/pages/mi-browser.ts';
import { StatusBar } from '../src/ui/pages/status-bar.ts';
import { startLab } from '../test/support/lab.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    profile: { type: 'string', default: 'redmi-note-8-leaky' },
  },
});
const rounds = Number(values.rounds);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

type Step = [name: string, run: (ui: UiDriver) => Promise<void>];
const STEPS: Step[] = [
  ['launcher: home', (ui) => new Launcher(ui).goHome()],
  [
    'launcher: open + close folder',
    async (ui) => {
      const l = new Launcher(ui);
      await l.openFolder('Tools');
      await l.closeFolder('Tools');
    },
  ],
  [
    'status bar: pull down + put back',
    async (ui) => {
      const s = new StatusBar(ui);
      await s.pullDown();
      await s.putBack();
    },
  ],
  ['browser: open a URL', (ui) => new MiBrowser(ui).openUrl('http://example.test/phonehome-bench')],
  ['browser: read the address bar', async (ui) => void (await new MiBrowser(ui).address())],
];

const stateDir = mkdtempSync(join(tmpdir(), 'phonehome-ui-step-'));
const lab = await startLab([values.profile, values.profile], {}, { uia2Preinstalled: true });
let appium: AppiumServer | undefined;
let appiumUi: UiDriver | undefined;
try {
  appium = await AppiumServer.start({ stateDir, logFile: join(stateDir, 'appium.log') });
  const client = createAdbClient({ port: lab.adb.port });
  const [a, b] = lab.phones;
  const adbUi = new AdbUiDriver(new Device(client, a!.serial, { timeoutMs: 20_000 }), { timeoutMs: 20_000 });
  appiumUi = await AppiumUiDriver.open({
    serverUrl: appium.url,
    serial: b!.serial,
    adbPort: lab.adb.port,
    timeoutMs: 20_000,
  });
  const drivers: Array<[string, UiDriver]> = [
    ['appium', appiumUi],
    ['adb', adbUi],
  ];
  const times = new Map<string, number[]>();
  // One warm-up round per driver (Appium's first commands, the dump file).
  for (const [, ui] of drivers) for (const [, run] of STEPS) await run(ui);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? drivers : [...drivers].reverse();
    for (const [name, run] of STEPS) {
      for (const [kind, ui] of order) {
        const t0 = process.hrtime.bigint();
        await run(ui);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        const key = `${kind}\0${name}`;
        times.set(key, [...(times.get(key) ?? []), ms]);
      }
    }
  }
  console.log(`bench/ui-step: ${rounds} rounds, profile ${values.profile}, median ms per step\n`);
  console.log(
    `${'step'.padEnd(36)}${'appium'.padStart(10)}${'adb-only'.padStart(10)}${'appium/adb'.padStart(12)}`,
  );
  let logSum = 0;
  for (const [name] of STEPS) {
    const ap = median(times.get(`appium\0${name}`)!);
    const ad = median(times.get(`adb\0${name}`)!);
    logSum += Math.log(ap / ad);
    console.log(
      `${name.padEnd(36)}${ap.toFixed(1).padStart(10)}${ad.toFixed(1).padStart(10)}${(ap / ad).toFixed(2).padStart(11)}×`,
    );
  }
  // Last line, as every bench's. There is no goal (the README's comparison: on real phones the
  // ranking is expected to reverse), so 'met' only says the comparison was made.
  const geo = Math.exp(logSum / STEPS.length);
  console.log(
    `ratio ui-step-appium-vs-adb: ${geo.toFixed(2)} (goal: none, a comparison (geometric mean of the steps' medians, Appium / ADB-only): met)`,
  );
} finally {
  await appiumUi?.close().catch(() => undefined);
  await appium?.stop();
  await lab.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
