/**
 * phonehome doctor's phone checks (issue 11 §3): the parsers against the formats Android prints, the
 * virtual phone's `state` knobs that make each problem visible, the checks against in-process virtual
 * phones (a "blocked" and a "clean" fixture profile), the install-once cache, and devices.json's adb
 * servers.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shJoin, type Device, type Fingerprint } from '../../../src/device/index.ts';
import { checkConnectPhones, devicesFileServers } from '../../../src/doctor/adb-servers.ts';
import { freePort as freePortForTest } from '../../support/lab.ts';
import { checkPhoneBlockers, magiskVerdict, type Check } from '../../../src/doctor/phone.ts';
import {
  isLoopbackHost,
  miuiOptimizationFromProp,
  parseAppopsMode,
  parseDeviceIdleWhitelist,
  parseDisplayPower,
  parseKeyguard,
  parseMagiskMntNs,
  parsePackageList,
  parsePackageVersion,
  parseWakefulness,
} from '../../../src/doctor/probes.ts';
import {
  bundledServerVersion,
  forgetServerApks,
  readServerApks,
  sameVersion,
  serverInstallNeeded,
} from '../../../src/ui/appium/server-apks.ts';
import { placeholderApk } from '../../../src/virtual/os/packages.ts';
import type { VirtualPhone } from '../../../src/virtual/phone.ts';
import { preinstallUia2 } from '../../../src/virtual/uia2/index.ts';
import { makePhone, sh } from '../virtual/os/helpers.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/profiles/', import.meta.url));
const BLOCKED = join(FIXTURES, 'doctor-blocked.json');
const CLEAN = join(FIXTURES, 'doctor-clean.json');

/** A Device over an in-process virtual phone (the calls the doctor makes: shell, getProp). */
function deviceOf(phone: VirtualPhone, serial = 'vp0001', calls: string[] = []): Device {
  return {
    serial,
    shell: async (cmd: string | readonly string[]) => {
      const line = typeof cmd === 'string' ? cmd : shJoin(cmd);
      calls.push(line);
      const r = await sh(phone, line);
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.status };
    },
    getProp: async (key: string) => (await sh(phone, `getprop ${key}`)).stdout.trim(),
  } as unknown as Device;
}

const fpOf = (os: Fingerprint['os']['name'], rooted: boolean) =>
  ({ os: { name: os }, rooted }) as Fingerprint;
const by = (checks: Check[], suffix: string) => checks.find((c) => c.name.endsWith(suffix));

// Android 10 `dumpsys window policy`, the keyguard part as PhoneWindowManager prints it through
// KeyguardServiceDelegate.dump() / KeyguardStateMonitor.dump().
const POLICY = (showing: boolean, secure: boolean) => `WINDOW MANAGER POLICY STATE (dumpsys window policy)
    mShowingDream=false mDreamingLockscreen=false
    KeyguardServiceDelegate
      showing=${showing}
      showingAndNotOccluded=${showing}
      inputRestricted=${showing}
      occluded=false
      secure=${secure}
      dreaming=false
      KeyguardStateMonitor
        mIsShowing=${showing}
        mSimSecure=false
        mInputRestricted=${showing}
`;

describe('doctor: parsers', () => {
  it('reads the keyguard from the delegate, the state monitor or the legacy lines, and says when it cannot', () => {
    assert.deepEqual(parseKeyguard(POLICY(true, false)), { showing: true, secure: false });
    assert.deepEqual(parseKeyguard(POLICY(true, true)), { showing: true, secure: true });
    assert.deepEqual(parseKeyguard(POLICY(false, false)), { showing: false, secure: false });
    assert.deepEqual(parseKeyguard('    mShowingLockscreen=true mShowingDream=false\n'), {
      showing: true,
      secure: null,
    });
    assert.equal(parseKeyguard('WINDOW MANAGER POLICY STATE\n  mSafeMode=false\n'), null);
  });

  it('reads the wakefulness and the display power state', () => {
    const power =
      'Power Manager State:\n  mWakefulness=Asleep\n  mIsPowered=true\nDisplay Power: state=OFF\n';
    assert.equal(parseWakefulness(power), 'Asleep');
    assert.equal(parseWakefulness('  getWakefulnessLocked()=Dozing\n'), 'Dozing');
    assert.equal(parseWakefulness('nothing'), null);
    assert.equal(parseDisplayPower(power), 'OFF');
  });

  it('reads an app op mode, "No operations." as unset, anything else as unknown', () => {
    assert.equal(
      parseAppopsMode('RUN_ANY_IN_BACKGROUND: ignore; time=+2h3m ago\n', 'RUN_ANY_IN_BACKGROUND'),
      'ignore',
    );
    assert.equal(parseAppopsMode('RUN_ANY_IN_BACKGROUND: allow\n', 'RUN_ANY_IN_BACKGROUND'), 'allow');
    assert.equal(parseAppopsMode('No operations.\n', 'RUN_ANY_IN_BACKGROUND'), 'unset');
    assert.equal(parseAppopsMode('Error: Unknown package: x\n', 'RUN_ANY_IN_BACKGROUND'), null);
  });

  it('reads package versions, package lists and the Doze allow-list', () => {
    const dump =
      'Packages:\n  Package [io.appium.uiautomator2.server] (4a7c1e2):\n    versionCode=278 minSdk=21\n    versionName=10.6.6\n';
    assert.deepEqual(parsePackageVersion(dump, 'io.appium.uiautomator2.server'), {
      versionName: '10.6.6',
      versionCode: 278,
    });
    assert.equal(
      parsePackageVersion(
        'Unable to find package: io.appium.uiautomator2.server\n',
        'io.appium.uiautomator2.server',
      ),
      null,
    );
    assert.deepEqual(
      [
        ...parsePackageList(
          'package:io.appium.uiautomator2.server\npackage:io.appium.uiautomator2.server.test versionCode:1\n',
        ),
      ],
      ['io.appium.uiautomator2.server', 'io.appium.uiautomator2.server.test'],
    );
    assert.deepEqual(
      [...parseDeviceIdleWhitelist('system-excidle,com.android.phone,1001\nuser,io.appium.settings,10200\n')],
      ['com.android.phone', 'io.appium.settings'],
    );
  });

  it("reads Magisk's mnt_ns row, an empty answer as unset, and rejects anything else", () => {
    assert.equal(parseMagiskMntNs('value=2\n'), 2);
    assert.equal(parseMagiskMntNs('value=0'), 0);
    assert.equal(parseMagiskMntNs(''), 'unset');
    assert.equal(parseMagiskMntNs('magisk: not found'), null);
  });

  it('reads MIUI optimisation and loopback hosts', () => {
    assert.equal(miuiOptimizationFromProp('false'), 'off');
    assert.equal(miuiOptimizationFromProp('0'), 'off');
    assert.equal(miuiOptimizationFromProp('true'), 'on');
    assert.equal(miuiOptimizationFromProp(''), 'unset');
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['lab-2.local', '10.0.0.5', '128.0.0.1']) assert.ok(!isLoopbackHost(h), h);
  });
});

describe('doctor: magisk verdicts', () => {
  it('Isolated is a problem with the fix; Inherit, Global and unset are fine; a denial says so', () => {
    const iso = magiskVerdict('p', { stdout: 'value=2\n', stderr: '', exitCode: 0 });
    assert.equal(iso.status, 'ok', 'the CA install uses su -mm, which works in Isolated mode');
    assert.match(iso.detail, /Isolated.*su -mm.*Mount namespace mode/);
    assert.equal(
      magiskVerdict('p', { stdout: 'value=1\n', stderr: '', exitCode: 0 }).detail,
      'Inherit (mnt_ns=1)',
    );
    assert.equal(magiskVerdict('p', { stdout: 'value=0\n', stderr: '', exitCode: 0 }).status, 'ok');
    assert.match(magiskVerdict('p', { stdout: '', stderr: '', exitCode: 0 }).detail, /default/);
    const denied = magiskVerdict('p', { stdout: '', stderr: 'Permission denied\n', exitCode: 13 });
    assert.equal(denied.status, 'warn');
    assert.match(denied.fix ?? '', /grant root to Shell/);
    assert.match(
      magiskVerdict('p', { stdout: '', stderr: 'magisk: not found', exitCode: 127 }).detail,
      /not Magisk/,
    );
  });
});

describe('doctor: the virtual phone shows each state both ways', () => {
  it('a profile without `state` is awake, unlocked and unrestricted (as before)', async () => {
    const phone = makePhone();
    assert.equal(parseWakefulness((await sh(phone, 'dumpsys power')).stdout), 'Awake');
    assert.deepEqual(parseKeyguard((await sh(phone, 'dumpsys window policy')).stdout), {
      showing: false,
      secure: false,
    });
    const op = await sh(phone, 'cmd appops get com.mi.globalbrowser RUN_ANY_IN_BACKGROUND');
    assert.equal(parseAppopsMode(op.stdout, 'RUN_ANY_IN_BACKGROUND'), 'allow');
  });

  it('the blocked fixture is asleep and locked, its browser restricted; dismiss-keyguard and appops set undo it', async () => {
    const phone = makePhone(BLOCKED);
    const power = (await sh(phone, 'dumpsys power')).stdout;
    assert.equal(parseWakefulness(power), 'Asleep');
    assert.equal(parseDisplayPower(power), 'OFF');
    assert.deepEqual(parseKeyguard((await sh(phone, 'dumpsys window')).stdout), {
      showing: true,
      secure: false,
    });
    const get = 'cmd appops get com.mi.globalbrowser RUN_ANY_IN_BACKGROUND';
    assert.equal(parseAppopsMode((await sh(phone, get)).stdout, 'RUN_ANY_IN_BACKGROUND'), 'ignore');
    assert.equal((await sh(phone, 'getprop persist.sys.miui_optimization')).stdout.trim(), 'true');

    await sh(phone, 'wm dismiss-keyguard');
    assert.equal(parseKeyguard((await sh(phone, 'dumpsys window policy')).stdout)?.showing, false);
    await sh(phone, 'cmd appops set com.mi.globalbrowser RUN_ANY_IN_BACKGROUND allow');
    assert.equal(parseAppopsMode((await sh(phone, get)).stdout, 'RUN_ANY_IN_BACKGROUND'), 'allow');
    await sh(phone, 'input keyevent KEYCODE_WAKEUP');
    assert.equal(parseWakefulness((await sh(phone, 'dumpsys power')).stdout), 'Awake');
  });
});

describe('doctor: phone checks on virtual phones', () => {
  const apps = ['com.mi.globalbrowser', 'com.example.not.installed'];

  it('names every problem on the blocked phone, each with its fix', async () => {
    const phone = makePhone(BLOCKED);
    const said: string[] = [];
    const checks = await checkPhoneBlockers(deviceOf(phone), fpOf('MIUI', true), {
      apps,
      bundled: '10.6.6',
      askRoot: true,
      say: (l) => said.push(l),
    });
    assert.equal(by(checks, ' screen')?.status, 'fail');
    assert.match(by(checks, ' screen')?.fix ?? '', /KEYCODE_WAKEUP.*Stay awake/);
    const lock = by(checks, ' lock screen');
    assert.equal(lock?.status, 'fail');
    assert.match(lock.fix ?? '', /wm dismiss-keyguard/);
    const bg = by(checks, ' background restrictions');
    assert.equal(bg?.status, 'warn');
    assert.match(bg.detail, /com\.mi\.globalbrowser/);
    assert.doesNotMatch(bg.detail, /not\.installed/);
    assert.match(bg.detail, /powerkeeper.*unverified/);
    assert.match(bg.fix ?? '', /cmd appops set com\.mi\.globalbrowser RUN_ANY_IN_BACKGROUND allow/);
    const confirm = by(checks, ' MIUI install confirmation');
    assert.equal(confirm?.status, 'warn');
    assert.match(confirm.fix ?? '', /Developer options › turn off "Turn on MIUI optimisation"/);
    assert.match(
      by(checks, ' UiAutomator2 server')?.detail ?? '',
      /not installed; the first Appium session installs 10\.6\.6/,
    );
    // Read through the virtual MagiskSU (`su -c magisk --sqlite …`; src/virtual/commands/su.ts).
    const magisk = by(checks, ' Magisk mount namespace');
    assert.equal(magisk?.status, 'ok');
    assert.match(magisk.detail, /Isolated \(mnt_ns=2\).*su -mm/);
    assert.match(said.join('\n'), /asking for root.*tap Grant/);
    // Without askRoot nothing asks for root: the row says how to read it.
    const quiet = await checkPhoneBlockers(deviceOf(phone), fpOf('MIUI', true), { apps, bundled: '10.6.6' });
    assert.match(by(quiet, ' Magisk mount namespace')?.detail ?? '', /not read: .*--ask-root/);
  });

  it('finds nothing on the clean phone with the current server installed', async () => {
    const phone = makePhone(CLEAN);
    preinstallUia2(phone);
    const checks = await checkPhoneBlockers(deviceOf(phone), fpOf('MIUI', false), {
      apps,
      bundled: '10.6.6',
    });
    for (const c of checks) assert.equal(c.status, 'ok', `${c.name}: ${c.detail}`);
    assert.match(by(checks, ' UiAutomator2 server')?.detail ?? '', /skipServerInstallation/);
    assert.equal(by(checks, ' Magisk mount namespace'), undefined, 'no root probe on an unrooted phone');
    assert.match(by(checks, ' MIUI install confirmation')?.detail ?? '', /off/);
  });

  it('an old server is named with the uninstall fix; only the server APKs of the bundled version count as current', async () => {
    const phone = makePhone(CLEAN);
    // What another Appium left behind: an older server and its test package.
    for (const [name, versionName] of [
      ['io.appium.uiautomator2.server', '7.0.0'],
      ['io.appium.uiautomator2.server.test', '1.0'],
    ] as const) {
      phone.packages.install(
        '/data/local/tmp/old.apk',
        placeholderApk({ name, versionName, versionCode: 100 }),
      );
    }
    const apks = await readServerApks(deviceOf(phone), { bundled: '10.6.6' });
    assert.equal(apks.server?.versionName, '7.0.0');
    assert.equal(apks.current, false);
    const checks = await checkPhoneBlockers(deviceOf(phone), fpOf('MIUI', false), {
      apps,
      bundled: '10.6.6',
    });
    const server = by(checks, ' UiAutomator2 server');
    assert.equal(server?.status, 'warn');
    assert.match(server.detail, /7\.0\.0.*10\.6\.6/);
    assert.match(
      server.fix ?? '',
      /uninstall io\.appium\.uiautomator2\.server\.test; .*uninstall io\.appium\.uiautomator2\.server$/,
    );
    assert.equal(by(checks, ' MIUI install confirmation')?.status, 'ok', 'optimisation off: no confirmation');
    assert.ok(
      sameVersion('10.6.6', '10.6.6') &&
        sameVersion('10.6.6-debug', '10.6.6') &&
        !sameVersion('10.6.5', '10.6.6'),
    );
  });
});

describe('doctor: UiAutomator2 server installed once per phone and version', () => {
  afterEach(() => forgetServerApks());

  it('checks a phone once per process, and skips the install when both APKs are current', async () => {
    const phone = makePhone(CLEAN);
    const calls: string[] = [];
    const device = deviceOf(phone, 'vp-once', calls);
    const bundled = bundledServerVersion();
    assert.equal(await serverInstallNeeded(device), true, 'nothing installed: the driver installs');
    const after = calls.length;
    assert.ok(after > 0);
    assert.equal(await serverInstallNeeded(device), true);
    assert.equal(calls.length, after, 'the second session does not ask the phone again');
    preinstallUia2(phone);
    forgetServerApks('vp-once'); // what openUiDriver does after a session that let the driver install
    // With the driver installed (.appium), a current phone skips; without it nothing can be compared.
    assert.equal(await serverInstallNeeded(device), bundled !== '10.6.6');
  });

  it('reads the bundled version from the driver package, nested or hoisted', () => {
    const home = mkdtempSync(join(tmpdir(), 'phonehome-appium-'));
    try {
      assert.equal(bundledServerVersion(home), null);
      const hoisted = join(home, 'node_modules', 'appium-uiautomator2-server');
      mkdirSync(hoisted, { recursive: true });
      writeFileSync(join(hoisted, 'package.json'), '{"version":"10.1.0"}');
      assert.equal(bundledServerVersion(home), '10.1.0');
      const nested = join(
        home,
        'node_modules',
        'appium-uiautomator2-driver',
        'node_modules',
        'appium-uiautomator2-server',
      );
      mkdirSync(nested, { recursive: true });
      writeFileSync(join(nested, 'package.json'), '{"version":"10.6.6"}');
      assert.equal(bundledServerVersion(home), '10.6.6');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('doctor: adb servers in devices.json', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-doctor-devices-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checks loopback servers and calls one on another host unsupported, naming its phones', () => {
    const file = join(dir, 'devices.json');
    writeFileSync(
      file,
      JSON.stringify({
        adbServers: [
          { host: '127.0.0.1', port: 5137 },
          { host: 'lab-2.local', port: 5037 },
        ],
        phones: [{ serial: 'a' }, { serial: 'b', adbServer: 'lab-2.local:5037' }],
      }),
    );
    const r = devicesFileServers(file);
    assert.deepEqual(r.localPorts, [5137]);
    assert.equal(r.checks.length, 1);
    const remote = r.checks[0]!;
    assert.equal(remote.status, 'fail');
    assert.match(remote.name, /lab-2\.local:5037/);
    assert.match(remote.detail, /on another host.*\(b\).*adb reverse/);
    assert.match(remote.fix ?? '', /phonehome run --shard I\/N[\s\S]*phonehome merge[\s\S]*adb connect/);
    assert.deepEqual(r.connectPhones, []);
  });

  it('lists the "connect" phones on loopback servers for the reachability check', async () => {
    const file = join(dir, 'connect.json');
    writeFileSync(
      file,
      JSON.stringify({
        phones: [
          { serial: '10.9.9.9:41001', connect: true },
          { serial: '10.9.9.9:41002', connect: true, adbServer: '127.0.0.1:5137' },
          { serial: 'usb-1' },
        ],
      }),
    );
    const r = devicesFileServers(file);
    assert.deepEqual(r.checks, []);
    assert.deepEqual(r.connectPhones, [
      { serial: '10.9.9.9:41001' },
      { serial: '10.9.9.9:41002', adb: { host: '127.0.0.1', port: 5137 } },
    ]);
    // No adb server on that port: a FAIL row naming the phone, not a crash.
    const closed = await freePortForTest();
    const rows = await checkConnectPhones([{ serial: '10.9.9.9:41001' }], closed, 2000);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.status, 'fail');
    assert.equal(rows[0]!.name, '10.9.9.9:41001 adb connect');
    assert.match(rows[0]!.detail, new RegExp(`cannot reach the adb server on 127\\.0\\.0\\.1:${closed}`));
  });

  it('reports a broken devices file as a problem, not a crash; no file given = nothing to check', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"phones": [}');
    const r = devicesFileServers(file);
    assert.equal(r.checks[0]?.status, 'fail');
    assert.match(r.checks[0]?.detail ?? '', /bad\.json:1:\d+ not valid JSON/);
    assert.deepEqual(devicesFileServers(undefined), { localPorts: [], checks: [], connectPhones: [] });
  });
});
