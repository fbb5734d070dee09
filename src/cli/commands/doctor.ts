/**
 * `phonehome doctor`: checks a lab and prints, for each problem, the exact fix (on a phone, the menu
 * path). It changes nothing: the probes are a key event that does nothing (KEYCODE_UNKNOWN) and a
 * secure setting written back with the value it already has; the rest only reads (src/doctor/: the
 * screen, lock screen, background restrictions, MIUI's install confirmation, the UiAutomator2 server
 * APKs, Magisk's namespace mode, and the adb servers devices.json names).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  createAdbClient,
  Device,
  listPhones,
  type Fingerprint,
  type PhoneEntry,
} from '../../device/index.ts';
import { checkConnectPhones, devicesFileServers } from '../../doctor/adb-servers.ts';
import { checkPhoneBlockers, type Check, type PhoneProbeOptions } from '../../doctor/phone.ts';
import { adbPortFlag, adbPortOption, jsonFlag, portParser, timeoutFlag } from '../options.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const DEFAULT_TIMEOUT_MS = 10_000;
export const APPIUM_VERSION = '3.8.0';
export const UIA2_DRIVER_VERSION = '8.7.0';

export type { Check, CheckStatus } from '../../doctor/phone.ts';

const SECURITY_SETTINGS_FIX =
  'on the phone: Settings › Additional settings › Developer options › turn on "USB debugging (Security ' +
  'settings)" (MIUI asks for a SIM card and a signed-in Mi account; some phones need a reboot after)';
const INSTALL_VIA_USB_FIX =
  'on the phone: Settings › Additional settings › Developer options › turn on "Install via USB" (needs a ' +
  'signed-in Mi account); or install the Appium server APKs once by hand';

function versionOf(pkgJson: string): string | null {
  try {
    return (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (error, stdout, stderr) =>
      resolve({ ok: !error, out: `${stdout}${stderr}` }),
    );
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The phone-side checks: state, then MIUI's developer switches, probed by what they deny. */
export async function checkPhone(
  entry: PhoneEntry,
  device: Device | null,
  probe: PhoneProbeOptions = {},
): Promise<Check[]> {
  const checks: Check[] = [];
  const who = entry.serial;
  if (!entry.available || !device) {
    checks.push({
      name: `${who} state`,
      status: 'fail',
      detail: entry.state,
      ...(entry.problem ? { fix: entry.problem } : {}),
    });
    return checks;
  }
  let fp: Fingerprint;
  try {
    fp = await device.fingerprint();
    checks.push({ name: `${who} state`, status: 'ok', detail: `device: ${fp.label}` });
  } catch (err) {
    checks.push({
      name: `${who} state`,
      status: 'fail',
      detail: err instanceof Error ? err.message : String(err),
      fix: 'reconnect the phone and run phonehome doctor again',
    });
    return checks;
  }
  // INJECT_EVENTS: KEYCODE_UNKNOWN goes through the permission check and does nothing.
  const input = await device.shell(['input', 'keyevent', '0']);
  const inputText = `${input.stdout}\n${input.stderr}`;
  // WRITE_SECURE_SETTINGS: write adb_enabled back with the value it already has.
  const adbEnabled = (await device.getSetting('global', 'adb_enabled')) ?? '1';
  const put = await device.shell(['settings', 'put', 'global', 'adb_enabled', adbEnabled]);
  const putText = `${put.stdout}\n${put.stderr}`;
  const injectDenied = /INJECT_EVENTS/.test(inputText);
  const secureDenied = /WRITE_SECURE_SETTINGS/.test(putText);
  if (injectDenied || secureDenied) {
    checks.push({
      name: `${who} USB debugging (Security settings)`,
      status: 'fail',
      detail: [
        injectDenied ? 'input is denied (INJECT_EVENTS)' : '',
        secureDenied ? 'settings writes are denied (WRITE_SECURE_SETTINGS)' : '',
      ]
        .filter(Boolean)
        .join('; '),
      fix: SECURITY_SETTINGS_FIX,
    });
  } else if (input.exitCode !== 0 || put.exitCode !== 0) {
    checks.push({
      name: `${who} USB debugging (Security settings)`,
      status: 'warn',
      detail: `the probes failed for another reason: ${(inputText + putText).trim().split('\n')[0] ?? ''}`,
    });
  } else {
    checks.push({
      name: `${who} USB debugging (Security settings)`,
      status: 'ok',
      detail: 'input and secure settings are allowed',
    });
  }
  const install = (await device.getProp('persist.security.adbinstall')).trim();
  const uia2 = await device.shell(['pm', 'list', 'packages', 'io.appium.uiautomator2.server']);
  const serverInstalled = /package:io\.appium\.uiautomator2\.server\b/.test(uia2.stdout);
  checks.push(
    install === '0'
      ? {
          name: `${who} Install via USB`,
          status: serverInstalled ? 'warn' : 'fail',
          detail: `off${serverInstalled ? ' (the Appium server is installed already, so Appium can still start)' : ': Appium cannot install its server'}`,
          fix: INSTALL_VIA_USB_FIX,
        }
      : install === '1'
        ? { name: `${who} Install via USB`, status: 'ok', detail: 'on' }
        : {
            name: `${who} Install via USB`,
            status: 'warn',
            detail:
              'cannot tell (persist.security.adbinstall is not set); if Appium fails with INSTALL_FAILED_USER_RESTRICTED, turn it on',
            fix: INSTALL_VIA_USB_FIX,
          },
  );
  checks.push(...(await checkPhoneBlockers(device, fp, probe)));
  return checks;
}

/** One adb server: its version row (named `adb server`, or `adb server 127.0.0.1:PORT` for another) and each phone's rows. */
async function checkAdbServer(
  port: number,
  name: string,
  timeoutMs: number,
  probe: PhoneProbeOptions,
  devicesFile: boolean,
): Promise<Check[]> {
  const checks: Check[] = [];
  const client = createAdbClient({ port });
  let phones: PhoneEntry[] = [];
  try {
    const version = await Promise.race([
      client.version(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer')), timeoutMs).unref()),
    ]);
    checks.push({
      name,
      status: version >= 39 ? 'ok' : 'warn',
      detail: `port ${port}, protocol version ${version}${version >= 39 ? '' : ' (older than adb 1.0.39)'}`,
      ...(version >= 39 ? {} : { fix: 'install a newer adb: apt-get install -y adb' }),
    });
    phones = await listPhones(client, { timeoutMs });
    if (phones.length === 0) {
      checks.push({
        name: name === 'adb server' ? 'phones' : `${name} phones`,
        status: 'warn',
        detail: 'none connected',
        fix: 'connect a phone with USB debugging on, or start the virtual lab: phonehome lab up',
      });
    }
  } catch (err) {
    checks.push({
      name,
      status: 'fail',
      detail: `nothing answers on port ${port} (${err instanceof Error ? err.message : String(err)})`,
      fix: devicesFile
        ? `start it: adb -P ${port} start-server (devices.json names it), or remove it from devices.json`
        : `start it: adb -P ${port} start-server (or set ANDROID_ADB_SERVER_PORT / --adb-port)`,
    });
  }
  const perPhone = await Promise.all(
    phones.map((p) => checkPhone(p, p.available ? new Device(client, p.serial, { timeoutMs }) : null, probe)),
  );
  checks.push(...perPhone.flat());
  return checks;
}

export async function runDoctor(opts: {
  adbPort: number;
  timeoutMs: number;
  appiumPort: number;
  /** devices.json to read adb servers from (undefined: none). */
  devicesFile?: string;
  probe?: PhoneProbeOptions;
}): Promise<Check[]> {
  const probe = opts.probe ?? {};
  const servers = devicesFileServers(opts.devicesFile);
  const checks: Check[] = [
    ...(await checkAdbServer(opts.adbPort, 'adb server', opts.timeoutMs, probe, false)),
  ];
  // Each other loopback adb server devices.json names is checked the same way.
  for (const port of servers.localPorts.filter((p) => p !== opts.adbPort)) {
    checks.push(...(await checkAdbServer(port, `adb server 127.0.0.1:${port}`, opts.timeoutMs, probe, true)));
  }
  checks.push(...servers.checks);
  checks.push(...(await checkConnectPhones(servers.connectPhones, opts.adbPort, opts.timeoutMs)));

  const appium = versionOf(`${REPO}node_modules/appium/package.json`);
  checks.push(
    appium === APPIUM_VERSION
      ? { name: 'Appium', status: 'ok', detail: `appium ${appium}` }
      : {
          name: 'Appium',
          status: 'fail',
          detail: appium ? `appium ${appium}, expected ${APPIUM_VERSION}` : 'not installed',
          fix: 'run scripts/setup (npm ci)',
        },
  );
  const driver = versionOf(`${REPO}.appium/node_modules/appium-uiautomator2-driver/package.json`);
  checks.push(
    driver === UIA2_DRIVER_VERSION
      ? { name: 'UiAutomator2 driver', status: 'ok', detail: `${driver} in ${REPO}.appium` }
      : {
          name: 'UiAutomator2 driver',
          status: 'fail',
          detail: driver ? `${driver}, expected ${UIA2_DRIVER_VERSION}` : 'not installed in .appium',
          fix: 'run scripts/setup (it installs the driver into .appium)',
        },
  );
  const java = await run('java', ['-version'], opts.timeoutMs);
  checks.push(
    java.ok
      ? { name: 'Java (for Allure reports)', status: 'ok', detail: java.out.split('\n')[0]!.trim() }
      : {
          name: 'Java (for Allure reports)',
          status: 'warn',
          detail: 'java not found',
          fix: 'apt-get install -y default-jre-headless',
        },
  );
  const free = await portFree(opts.appiumPort);
  checks.push(
    free
      ? { name: `port ${opts.appiumPort} (Appium)`, status: 'ok', detail: 'free' }
      : {
          name: `port ${opts.appiumPort} (Appium)`,
          status: 'warn',
          detail: 'in use (an Appium server already running, or something else)',
          fix: `stop it (phonehome appium down) or pick another: --appium-port`,
        },
  );
  let systemPorts = 0;
  for (let p = 8200; p < 8300; p++) if (await portFree(p)) systemPorts++;
  checks.push({
    name: 'ports 8200-8299 (UiAutomator2 systemPort)',
    status: systemPorts >= 16 ? 'ok' : 'warn',
    detail: `${systemPorts} free`,
    ...(systemPorts >= 16 ? {} : { fix: 'free some of them: one is needed per phone driven through Appium' }),
  });
  return checks;
}

function table(checks: Check[]): string {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  const width = Math.max(...checks.map((c) => c.name.length));
  return checks
    .map(
      (c) => `${mark[c.status]}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`,
    )
    .join('\n');
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check the lab: adb servers, each phone (state, MIUI developer switches and install confirmation, ' +
        'screen and lock screen, background restrictions, UiAutomator2 server APKs, Magisk namespace mode), ' +
        'Appium and its driver, Java, ports',
    )
    .addOption(adbPortFlag())
    .option('--appium-port <port>', 'the port the Appium server uses', portParser('--appium-port'), 4723)
    .addOption(timeoutFlag('timeout per phone call, in ms', DEFAULT_TIMEOUT_MS))
    .option(
      '--devices <file>',
      'devices file whose adb servers are checked too (default: devices.json if present)',
    )
    .option(
      '--ask-root',
      "also read Magisk's mount namespace mode on rooted phones (asks for root: a grant prompt may show on the phone)",
    )
    .addOption(jsonFlag('print a JSON array of {name, status, detail, fix?}'))
    .action(
      async (o: {
        adbPort?: string;
        appiumPort: number;
        timeout: number;
        json?: boolean;
        devices?: string;
        askRoot?: boolean;
      }) => {
        const devicesFile = o.devices ?? (existsSync('devices.json') ? 'devices.json' : undefined);
        const checks = await runDoctor({
          adbPort: adbPortOption(o.adbPort),
          timeoutMs: o.timeout,
          appiumPort: o.appiumPort,
          ...(devicesFile ? { devicesFile } : {}),
          ...(o.askRoot ? { probe: { askRoot: true } } : {}),
        });
        process.stdout.write(o.json ? `${JSON.stringify(checks, null, 2)}\n` : `${table(checks)}\n`);
        if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
      },
    );
}
