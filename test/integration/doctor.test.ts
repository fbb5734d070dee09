/**
 * `phonehome doctor` through the real adb server against virtual phones, one of them with MIUI's
 * "USB debugging (Security settings)" and "Install via USB" off: the doctor must find exactly that
 * phone by what the switches deny, print the menu path, and leave every phone as it was.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADB_INPUT_PROP, ADB_INSTALL_PROP } from '../../src/virtual/android/miui-security.ts';
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

  before(async () => {
    lab = await startLab(['redmi-note-8-leaky', 'xiaomi-13-hyperos-rooted']);
    good = lab.phones[0]!.serial;
    locked = lab.phones[1]!.serial;
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

  it('says what to do when no adb server answers', async () => {
    const port = await freePort();
    const r = await runCli(['doctor', '--json', '--adb-port', String(port)], { env: env(), cwd });
    assert.equal(r.code, 1);
    const adb = (JSON.parse(r.stdout) as Check[]).find((c) => c.name === 'adb server');
    assert.equal(adb?.status, 'fail');
    assert.match(adb.fix ?? '', new RegExp(`adb -P ${port} start-server`));
  });
});
