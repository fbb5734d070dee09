/**
 * `phonehome doctor` through the real adb server against virtual phones, one of them with MIUI's
 * "USB debugging (Security settings)" and "Install via USB" off: the doctor must find exactly that
 * phone by what the switches deny, print the menu path, and leave every phone as it was. Two more
 * phones from test fixture profiles (issue 11 §3): one asleep behind its lock screen with MIUI
 * optimisation on and an app background-restricted, one with nothing wrong and the UiAutomator2
 * server current; and a devices.json naming an adb server on another host.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADB_INPUT_PROP, ADB_INSTALL_PROP } from '../../src/virtual/os/miui-security.ts';
import { bundledServerVersion } from '../../src/ui/appium/server-apks.ts';
import { preinstallUia2 } from '../../src/virtual/uia2/index.ts';
import { runCli } from '../support/cli.ts';
import { adbRun, freePort, startLab, type TestLab } from '../support/lab.ts';

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

describe('phonehome doctor on virtual phones', function () {
  this.timeout(120_000);
  let lab: TestLab;
  let cwd: string;
  let good: string;
  let locked: string;
  let blocked: string;
  let clean: string;
  const fixture = (f: string) => fileURLToPath(new URL(`../fixtures/profiles/${f}`, import.meta.url));

  before(async () => {
    lab = await startLab([
      'redmi-note-8-leaky',
      'xiaomi-13-hyperos-rooted',
      fixture('doctor-blocked.json'),
      fixture('doctor-clean.json'),
    ]);
    good = lab.phones[0]!.serial;
    locked = lab.phones[1]!.serial;
    blocked = lab.phones[2]!.serial;
    clean = lab.phones[3]!.serial;
    preinstallUia2(lab.phones[3]!.phone);
    lab.phones[1]!.phone.props.set(ADB_INPUT_PROP, '0');
    lab.phones[1]!.phone.props.set(ADB_INSTALL_PROP, '0');
    lab.phones[0]!.phone.props.set(ADB_INSTALL_PROP, '1');
    cwd = mkdtempSync(join(tmpdir(), 'phonehome-doctor-'));
  });

  after(async () => {
    await lab?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  const env = () => ({ ANDROID_ADB_SERVER_PORT: String(lab.adb.port), PHONEHOME_HOME: join(cwd, 'home') });

  it('the switches deny what MIUI denies: input, secure settings and installs, for the shell user only', async () => {
    const input = await adbRun(lab.adb.port, ['-s', locked, 'shell', 'input', 'tap', '10', '10']);
    assert.match(input.stderr, /SecurityException: Injecting input events requires .*INJECT_EVENTS/);
    const put = await adbRun(lab.adb.port, [
      '-s',
      locked,
      'shell',
      'settings',
      'put',
      'global',
      'http_proxy',
      'x:1',
    ]);
    assert.match(put.stderr, /WRITE_SECURE_SETTINGS/);
    const get = await adbRun(lab.adb.port, [
      '-s',
      locked,
      'shell',
      'settings',
      'get',
      'global',
      'http_proxy',
    ]);
    assert.equal(get.stdout.toString().trim(), 'null', 'a denied put changed nothing');
    const rootPut = await adbRun(lab.adb.port, [
      '-s',
      locked,
      'shell',
      "su -c 'settings put system phonehome_probe 1'",
    ]);
    assert.equal(rootPut.stderr, '', 'root is not affected');
    const install = await adbRun(lab.adb.port, [
      '-s',
      locked,
      'shell',
      'echo x > /data/local/tmp/p.apk && pm install /data/local/tmp/p.apk',
    ]);
    assert.match(install.stdout.toString(), /Failure \[INSTALL_FAILED_USER_RESTRICTED/);
    const other = await adbRun(lab.adb.port, ['-s', good, 'shell', 'input', 'keyevent', '0']);
    assert.equal(other.stderr, '');
  });

  it('names the phone whose switches are off, with the menu path, and exits 1', async () => {
    const before = await adbRun(lab.adb.port, ['-s', good, 'shell', 'settings', 'list', 'global']);
    const r = await runCli(['doctor', '--json', '--appium-port', String(await freePort())], {
      env: env(),
      cwd,
    });
    assert.equal(r.code, 1, r.stderr);
    const checks = JSON.parse(r.stdout) as Check[];
    const by = (name: string) => checks.find((c) => c.name === name);
    assert.equal(by('adb server')?.status, 'ok');
    assert.equal(by(`${good} state`)?.status, 'ok');
    assert.equal(by(`${good} USB debugging (Security settings)`)?.status, 'ok');
    assert.equal(by(`${good} Install via USB`)?.status, 'ok');
    const sec = by(`${locked} USB debugging (Security settings)`);
    assert.equal(sec?.status, 'fail');
    assert.match(sec.detail, /INJECT_EVENTS/);
    assert.match(sec.detail, /WRITE_SECURE_SETTINGS/);
    assert.match(sec.fix ?? '', /Developer options › turn on "USB debugging \(Security settings\)"/);
    const install = by(`${locked} Install via USB`);
    assert.equal(install?.status, 'fail');
    assert.match(install.fix ?? '', /Install via USB/);
    assert.ok(by('Appium') && by('UiAutomator2 driver') && by('Java (for Allure reports)'));
    const after = await adbRun(lab.adb.port, ['-s', good, 'shell', 'settings', 'list', 'global']);
    assert.equal(after.stdout.toString(), before.stdout.toString(), 'the probes changed no setting');
  });

  it('prints a table with the fix under each problem', async () => {
    const r = await runCli(['doctor', '--appium-port', String(await freePort())], { env: env(), cwd });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      new RegExp(`FAIL  ${locked.replace(/\./g, '\\.')} USB debugging \\(Security settings\\)`),
    );
    assert.match(r.stdout, /\n {6}fix: on the phone: Settings › Additional settings › Developer options/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  it("names the blocked phone's screen, lock screen, background restriction and MIUI install confirmation, finds nothing on the clean one, and calls a remote adb server unsupported", async () => {
    const devices = join(cwd, 'devices-remote.json');
    writeFileSync(
      devices,
      JSON.stringify({
        adbServers: [
          { host: '127.0.0.1', port: lab.adb.port },
          { host: 'lab-2.example', port: 5037 },
        ],
        phones: [{ serial: clean }, { serial: 'far-away', adbServer: 'lab-2.example:5037' }],
      }),
    );
    const r = await runCli(
      ['doctor', '--json', '--ask-root', '--devices', devices, '--appium-port', String(await freePort())],
      { env: env(), cwd },
    );
    assert.equal(r.code, 1, r.stderr);
    const checks = JSON.parse(r.stdout) as Check[];
    const by = (name: string) => checks.find((c) => c.name === name);
    assert.equal(by(`${blocked} screen`)?.status, 'fail');
    assert.match(by(`${blocked} screen`)?.fix ?? '', /KEYCODE_WAKEUP/);
    assert.equal(by(`${blocked} lock screen`)?.status, 'fail');
    assert.match(by(`${blocked} lock screen`)?.fix ?? '', /wm dismiss-keyguard/);
    assert.equal(by(`${blocked} background restrictions`)?.status, 'warn');
    assert.match(by(`${blocked} background restrictions`)?.detail ?? '', /com\.mi\.globalbrowser/);
    assert.equal(by(`${blocked} MIUI install confirmation`)?.status, 'warn');
    assert.match(by(`${blocked} MIUI install confirmation`)?.fix ?? '', /Turn on MIUI optimisation/);
    assert.equal(by(`${blocked} Magisk mount namespace`)?.status, 'ok');
    assert.match(by(`${blocked} Magisk mount namespace`)?.detail ?? '', /Isolated/);
    assert.match(r.stderr, /asking for root to read Magisk's mount namespace mode/);
    for (const suffix of ['screen', 'lock screen', 'background restrictions', 'MIUI install confirmation']) {
      assert.equal(by(`${clean} ${suffix}`)?.status, 'ok', `${clean} ${suffix}`);
    }
    assert.equal(by(`${clean} Magisk mount namespace`), undefined, 'no root probe on an unrooted phone');
    // With the driver installed (scripts/setup), the preinstalled server is the bundled version.
    const server = by(`${clean} UiAutomator2 server`);
    if (bundledServerVersion() === '10.6.6') assert.equal(server?.status, 'ok', server?.detail);
    else assert.match(server?.detail ?? '', /cannot compare/);
    const remote = by(`adb server lab-2.example:5037 (${devices})`);
    assert.equal(remote?.status, 'fail');
    assert.match(remote.detail, /on another host.*far-away.*adb reverse/);
    assert.match(remote.fix ?? '', /phonehome run --shard I\/N[\s\S]*phonehome merge[\s\S]*adb connect/);
    assert.equal(checks.filter((c) => c.name === 'adb server').length, 1, 'the local server is checked once');
  });

  it('says what to do when no adb server answers', async () => {
    const port = await freePort();
    const r = await runCli(['doctor', '--json', '--adb-port', String(port)], { env: env(), cwd });
    assert.equal(r.code, 1);
    const adb = (JSON.parse(r.stdout) as Check[]).find((c) => c.name === 'adb server');
    assert.equal(adb?.status, 'fail');
    assert.match(adb.fix ?? '', new RegExp(`adb -P ${port} start-server`));
  });
});
