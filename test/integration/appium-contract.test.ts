/**
 * Contract test (issue 5, Acceptance): a REAL Appium server (appium 3.8.0, project-local APPIUM_HOME
 * .appium with appium-uiautomator2-driver 8.7.0) and a webdriverio 9.33.1 `remote()` session drive
 * virtual phones through the real Debian adb server, exactly as they drive phones: every UiAutomator2
 * route the issue lists is exercised through webdriverio commands against real screens, and the
 * effects are checked through adb (`uiautomator dump`, `settings get`, `dumpsys window`).
 */
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remote } from 'webdriverio';
import { Lab, type LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { runAdb } from '../../src/virtual/lab/adb-client.ts';
import { preinstallUia2 } from '../../src/virtual/uia2/index.ts';
import { openDevice } from '../../src/device/index.ts';
import { openUiDriver } from '../../src/ui/index.ts';
import { forgetServerApks, readServerApks, serverInstallNeeded } from '../../src/ui/appium/server-apks.ts';
import { freePort, startAdbServer, type TestAdbServer } from '../support/lab.ts';

type Browser = WebdriverIO.Browser;

const APPIUM_HOME = join(process.cwd(), '.appium');
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const HOME = 'com.miui.home/com.miui.home.launcher.Launcher';

interface AppiumServer {
  port: number;
  proc: ChildProcess;
  output: () => string;
}

async function startAppium(androidHome: string): Promise<AppiumServer> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    ['node_modules/appium/index.js', '--address', '127.0.0.1', '--port', String(port), '--log-no-colors'],
    {
      env: { ...process.env, APPIUM_HOME, ANDROID_HOME: androidHome, ANDROID_SDK_ROOT: androidHome },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString('utf8')).slice(-200_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const deadline = Date.now() + 30000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`appium exited early:\n${out}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/status`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`appium did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  return { port, proc, output: () => out };
}

async function stopAppium(a: AppiumServer): Promise<void> {
  if (a.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => a.proc.once('exit', () => r()));
  a.proc.kill('SIGTERM');
  const timer = setTimeout(() => a.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The minimal-emulation caps of appium-uia2.md §1a. */
async function minimalCaps(phone: LabPhone, adbPort: number): Promise<WebdriverIO.Capabilities> {
  return {
    platformName: 'Android',
    'appium:automationName': 'UiAutomator2',
    'appium:udid': phone.serial,
    'appium:adbPort': adbPort,
    'appium:suppressKillServer': true,
    'appium:skipServerInstallation': true,
    'appium:skipDeviceInitialization': true,
    'appium:skipUnlock': true,
    'appium:skipLogcatCapture': true,
    'appium:mockLocationApp': '',
    'appium:ignoreHiddenApiPolicyError': true,
    'appium:systemPort': await freePort(),
    'appium:autoLaunch': false,
  };
}

describe('Appium contract: real Appium + UiAutomator2 + webdriverio against virtual phones', function () {
  this.timeout(60000);
  this.slow(20000);

  let adb: TestAdbServer | undefined;
  let lab: Lab | undefined;
  let appium: AppiumServer | undefined;
  let sdk: string | undefined;
  const sessions = new Set<Browser>();
  let failed = false;

  const shell = async (p: LabPhone, cmd: string): Promise<string> =>
    (await runAdb(adb!.port, ['-s', p.serial, 'shell', cmd], { timeoutMs: 20000 })).stdout;
  const dump = (p: LabPhone): Promise<string> => shell(p, 'uiautomator dump /dev/tty');
  const focus = async (p: LabPhone): Promise<string> =>
    /mCurrentFocus=Window\{\S+ u0 ([^\s}]+)\}/.exec(await shell(p, 'dumpsys window displays'))?.[1] ?? '';

  const open = async (caps: WebdriverIO.Capabilities): Promise<Browser> => {
    const d = await remote({
      hostname: '127.0.0.1',
      port: appium!.port,
      path: '/',
      capabilities: caps,
      logLevel: 'silent',
      connectionRetryCount: 0,
      waitforTimeout: 2000,
    });
    sessions.add(d);
    return d;
  };
  const close = async (d: Browser): Promise<void> => {
    sessions.delete(d);
    await d.deleteSession();
  };

  before(async function () {
    this.timeout(60000);
    adb = await startAdbServer();
    lab = new Lab({ adbPort: adb.port });
    sdk = mkdtempSync(join(tmpdir(), 'phonehome-sdk-'));
    mkdirSync(join(sdk, 'platform-tools'));
    symlinkSync('/usr/bin/adb', join(sdk, 'platform-tools', 'adb'));
    appium = await startAppium(sdk);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });

  after(async function () {
    this.timeout(60000);
    await Promise.allSettled([...sessions].map((d) => d.deleteSession()));
    if (failed && appium) console.log(`--- Appium log (tail) ---\n${appium.output().slice(-8000)}`);
    if (appium) await stopAppium(appium);
    await lab?.stop();
    await adb?.stop();
    if (sdk) rmSync(sdk, { recursive: true, force: true });
  });

  describe('one phone, minimal caps', () => {
    let phone: LabPhone;
    let d: Browser;

    before(async function () {
      phone = await lab!.addPhone('redmi-note-8-leaky');
      preinstallUia2(phone.phone);
      d = await open(await minimalCaps(phone, adb!.port));
      await d.setTimeout({ implicit: 0 });
    });

    it('runs the server under am instrument while the session lives', async () => {
      assert.ok(d.sessionId);
      assert.match(await shell(phone, 'ps -A'), / io\.appium\.uiautomator2\.server\n/);
      assert.ok(phone.phone.uia2.running);
    });

    it('finds on the launcher by id, accessibility id, class name, xpath and UiSelector', async () => {
      await shell(phone, 'input keyevent 3');
      const byId = await d.$$('id=icon_title').getElements();
      assert.equal(byId.length, 3);
      const texts: string[] = [];
      for (const e of byId) texts.push(await e.getText());
      assert.deepEqual(texts, ['Settings', 'Security', 'Mi Browser']);
      assert.equal(await d.$('id=com.miui.home:id/workspace').getAttribute('scrollable'), 'true');
      const browser = d.$('~Mi Browser');
      assert.equal(await browser.getText(), 'Mi Browser');
      assert.equal(await browser.getAttribute('resource-id'), 'com.miui.home:id/icon_title');
      assert.equal(await browser.getAttribute('content-desc'), 'Mi Browser');
      assert.equal(await browser.getAttribute('checked'), 'false');
      assert.equal(await browser.getAttribute('displayed'), 'true');
      assert.equal(await browser.isDisplayed(), true);
      const bounds = await browser.getAttribute('bounds');
      const rect = await d.getElementRect(await browser.elementId);
      // the same node as `uiautomator dump` shows
      const node = /<node [^>]*text="Mi Browser"[^>]*bounds="(\[\d+,\d+\]\[\d+,\d+\])"/.exec(
        await dump(phone),
      );
      assert.equal(bounds, node?.[1]);
      const [x1, y1, x2, y2] = bounds.match(/\d+/g)!.map(Number);
      assert.deepEqual(rect, { x: x1, y: y1, width: x2! - x1!, height: y2! - y1! });
      assert.equal((await d.$$('android.widget.TextView').getElements()).length, 6);
      assert.equal(
        await d.$('//android.widget.TextView[contains(@text, "Secur")]').getAttribute('content-desc'),
        'Security',
      );
      assert.equal(await d.$('//*[@resource-id="com.miui.home:id/cell_layout"]/*[2]').getText(), 'Google');
      assert.equal(
        await d.$('android=new UiSelector().descriptionStartsWith("Page ")').getAttribute('content-desc'),
        'Page 1 of 3',
      );
      const folder = d.$(
        'android=new UiSelector().resourceId("com.miui.home:id/cell_layout").childSelector(new UiSelector().text("Tools"))',
      );
      assert.equal(await folder.getAttribute('resource-id'), 'com.miui.home:id/folder_icon');
    });

    it('reports a missing element as no such element at once (implicit wait 0), and bad selectors', async () => {
      // webdriver hands a 404 `no such element` back as the value (that is how Appium's implicit wait works)
      const missing = (await d.findElement('id', 'no_such_view')) as unknown as { error?: string };
      assert.equal(missing.error, 'no such element');
      assert.equal(await d.$('~nothing here').isExisting(), false);
      assert.deepEqual(await d.findElements('xpath', '//nothing'), []);
      await assert.rejects(d.findElement('xpath', '//x/@text'), (e: Error) => {
        assert.match(`${e.name} ${e.message}`, /invalid selector/);
        return true;
      });
    });

    it('page source, screenshot and window size', async () => {
      const source = await d.getPageSource();
      assert.match(
        source,
        /^<\?xml version='1\.0' encoding='UTF-8' standalone='yes' \?><hierarchy index="0" class="hierarchy"/,
      );
      // the same nodes as `uiautomator dump`, tagged with their class
      const classes = [...(await dump(phone)).matchAll(/<node [^>]*class="([^"]+)"/g)].map((m) => m[1]);
      const tags = [...source.matchAll(/<([\w.]+) index=/g)]
        .map((m) => m[1])
        .filter((t) => t !== 'hierarchy');
      assert.deepEqual(tags, classes);
      const png = Buffer.from(await d.takeScreenshot(), 'base64');
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.equal(png.readUInt32BE(16), 1080);
      assert.equal(png.readUInt32BE(20), 2340);
      assert.deepEqual(await d.getWindowSize(), { width: 1080, height: 2340 });
    });

    it('W3C actions swipe the launcher and tap an icon; mobile: pressKey goes home', async () => {
      await d.performActions([
        {
          type: 'pointer',
          id: 'finger1',
          parameters: { pointerType: 'touch' },
          actions: [
            { type: 'pointerMove', duration: 0, x: 900, y: 1100 },
            { type: 'pointerDown', button: 0 },
            { type: 'pointerMove', duration: 300, x: 150, y: 1100 },
            { type: 'pointerUp', button: 0 },
          ],
        },
      ]);
      assert.match(await dump(phone), /content-desc="Page 2 of 3"/);
      await d.execute('mobile: pressKey', { keycode: 3 });
      assert.match(await dump(phone), /content-desc="Page 1 of 3"/);
      const icon = await d.$('~Mi Browser').elementId;
      await d.performActions([
        {
          type: 'pointer',
          id: 'finger1',
          parameters: { pointerType: 'touch' },
          actions: [
            { type: 'pointerMove', duration: 0, x: 0, y: 0, origin: { [ELEMENT]: icon } },
            { type: 'pointerDown', button: 0 },
            { type: 'pause', duration: 100 },
            { type: 'pointerUp', button: 0 },
          ],
        },
      ]);
      assert.equal(await focus(phone), 'com.mi.globalbrowser/com.android.browser.BrowserActivity');
      // the launcher's icon is gone with its screen
      await assert.rejects(d.getElementText(icon), /stale element reference/);
    });

    it('Mi Browser: types a URL into the address bar (setValue, addValue, clearValue, Enter)', async () => {
      await shell(phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
      const url = d.$('id=url');
      await url.setValue('phone');
      await url.addValue('home');
      assert.equal(await url.getText(), 'phonehome');
      assert.match(await dump(phone), /text="phonehome" resource-id="com\.mi\.globalbrowser:id\/url"/);
      await url.clearValue();
      assert.match(await dump(phone), /resource-id="com\.mi\.globalbrowser:id\/url"/);
      assert.doesNotMatch(await dump(phone), /text="phonehome"/);
      await url.setValue('https://example.com/\n');
      assert.match(await dump(phone), /example\.com/);
      for (let i = 0; i < 4 && (await focus(phone)) !== HOME; i++) await d.back();
      assert.equal(await focus(phone), HOME);
    });

    it('Settings: a click writes the setting; settings of the server; getSettings/updateSettings', async () => {
      await shell(phone, 'settings put secure upload_log_pref 1');
      await shell(phone, 'am start -n com.android.settings/.Settings');
      await d.$('android=new UiSelector().text("Passwords & security")').click();
      await d.$('//*[@text="Privacy"]').click();
      const uep = d.$('id=user_experience_program');
      // the switch inside the row: a search in the context of an element
      const sw = uep.$('android.widget.Switch');
      assert.equal(await sw.getAttribute('checked'), 'true');
      await uep.click();
      assert.equal((await shell(phone, 'settings get secure upload_log_pref')).trim(), '0');
      assert.equal(await sw.getAttribute('checked'), 'false');
      assert.match(
        await dump(phone),
        /resource-id="android:id\/switch_widget" class="android\.widget\.Switch"[^>]* checked="false"/,
      );
      assert.match(await focus(phone), /^com\.android\.settings\/com\.android\.settings\.SubSettings$/);

      const before = await d.getSettings();
      assert.equal(before.waitForIdleTimeout, 10000);
      await d.updateSettings({ waitForIdleTimeout: 50 });
      assert.equal((await d.getSettings()).waitForIdleTimeout, 50);
      await shell(phone, 'input keyevent 3');
    });

    it('deleteSession stops the instrumentation and ends the am instrument stream', async () => {
      await close(d);
      assert.doesNotMatch(await shell(phone, 'ps -A'), / io\.appium\.uiautomator2\.server\n/);
      assert.equal(phone.phone.uia2.running, false);
    });
  });

  describe('two phones through one Appium server', () => {
    it('drives both in parallel, each command landing on its own phone', async () => {
      const a = await lab!.addPhone('redmi-note-8-leaky');
      const b = await lab!.addPhone('xiaomi-13-hyperos-rooted');
      preinstallUia2(a.phone);
      preinstallUia2(b.phone);
      const [da, db] = await Promise.all([
        open(await minimalCaps(a, adb!.port)),
        open(await minimalCaps(b, adb!.port)),
      ]);
      const type = async (d: Browser, p: LabPhone, text: string): Promise<void> => {
        await shell(p, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
        const url = d.$('id=url');
        await url.setValue(text);
        assert.equal(await url.getText(), text);
      };
      await Promise.all([type(da, a, 'first phone'), type(db, b, 'second phone')]);
      assert.match(await dump(a), /text="first phone"/);
      assert.doesNotMatch(await dump(a), /second phone/);
      assert.match(await dump(b), /text="second phone"/);
      assert.doesNotMatch(await dump(b), /first phone/);
      // BACK on one phone leaves the other alone
      for (let i = 0; i < 4 && (await focus(a)) !== HOME; i++) await da.back();
      assert.equal(await focus(a), HOME);
      assert.equal(await focus(b), 'com.mi.globalbrowser/com.android.browser.BrowserActivity');
      const [wa, wb] = await Promise.all([da.getWindowSize(), db.getWindowSize()]);
      assert.deepEqual(wa, { width: a.profile.display.width, height: a.profile.display.height });
      assert.deepEqual(wb, { width: b.profile.display.width, height: b.profile.display.height });
      await Promise.all([close(da), close(db)]);
      assert.equal(a.phone.uia2.running || b.phone.uia2.running, false);
    });
  });

  describe('default caps', () => {
    it('installs the server, test and settings APKs on a fresh phone and starts the app', async () => {
      const p = await lab!.addPhone('redmi-note-8-leaky');
      assert.doesNotMatch(await shell(p, 'pm list packages'), /io\.appium/);
      const d = await open({
        platformName: 'Android',
        'appium:automationName': 'UiAutomator2',
        'appium:udid': p.serial,
        'appium:adbPort': adb!.port,
        'appium:suppressKillServer': true,
        'appium:systemPort': await freePort(),
        'appium:appPackage': 'com.android.settings',
        'appium:appActivity': '.Settings',
      });
      const pkgs = await shell(p, 'pm list packages');
      for (const name of [
        'io.appium.settings',
        'io.appium.uiautomator2.server',
        'io.appium.uiautomator2.server.test',
      ])
        assert.match(pkgs, new RegExp(`^package:${name.replace(/\./g, '\\.')}$`, 'm'));
      assert.equal(await focus(p), 'com.android.settings/com.android.settings.Settings');
      assert.equal(await d.$('id=action_bar_title').getText(), 'Settings');
      await close(d);

      // Installed once per phone and version (issue 11 §1): phonehome reads the APKs the real driver
      // just installed as current, so its next session skips the driver's install step and works.
      const device = openDevice({ port: adb!.port }, p.serial, { timeoutMs: 15_000 });
      forgetServerApks(p.serial);
      const apks = await readServerApks(device);
      assert.ok(apks.bundled, 'the driver bundles a server version');
      assert.equal(apks.server?.versionName, apks.bundled, JSON.stringify(apks));
      assert.equal(apks.current, true, JSON.stringify(apks));
      assert.equal(await serverInstallNeeded(device), false);
      const ui = await openUiDriver({
        kind: 'appium',
        device,
        appiumUrl: `http://127.0.0.1:${appium!.port}`,
        adbPort: adb!.port,
        systemPort: await freePort(),
        installServer: true,
      });
      try {
        await ui.startActivity('com.android.settings/.Settings');
        assert.equal((await ui.find({ id: 'com.android.settings:id/action_bar_title' })).text, 'Settings');
      } finally {
        await ui.close();
      }
    });
  });
});
