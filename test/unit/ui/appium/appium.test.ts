import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  allocateSystemPort,
  appiumCapabilities,
  releaseSystemPort,
} from '../../../../src/ui/appium/capabilities.ts';
import { locatorXpath, strategyFor, xpathLiteral } from '../../../../src/ui/appium/selectors.ts';
import {
  AppiumServer,
  AppiumServerError,
  checkAppiumInstalled,
  resolveAndroidHome,
} from '../../../../src/ui/appium/server.ts';

describe('ui/appium/capabilities: one place for the session capabilities', () => {
  it('the minimal caps of facts §1a plus udid, adbPort, suppressKillServer and systemPort', () => {
    assert.deepEqual(appiumCapabilities({ serial: '127.0.0.1:6520', adbPort: 5137, systemPort: 8201 }), {
      platformName: 'Android',
      'appium:automationName': 'UiAutomator2',
      'appium:udid': '127.0.0.1:6520',
      'appium:adbPort': 5137,
      'appium:suppressKillServer': true,
      'appium:skipServerInstallation': true,
      'appium:skipDeviceInitialization': true,
      'appium:skipUnlock': true,
      'appium:skipLogcatCapture': true,
      'appium:mockLocationApp': '',
      'appium:ignoreHiddenApiPolicyError': true,
      'appium:systemPort': 8201,
      'appium:autoLaunch': false,
      'appium:newCommandTimeout': 600,
    });
    const install = appiumCapabilities(
      { serial: 's', adbPort: 1, systemPort: 2 },
      { installServer: true, serverLaunchTimeoutMs: 5000 },
    );
    assert.equal(install['appium:skipServerInstallation'], false);
    assert.equal(install['appium:uiautomator2ServerLaunchTimeout'], 5000);
    assert.throws(() => appiumCapabilities({ serial: 's', adbPort: 0, systemPort: 2 }), /adbPort/);
    assert.throws(() => appiumCapabilities({ serial: '', adbPort: 1, systemPort: 2 }), /serial/);
  });

  it('systemPorts are unique per phone and outside adb’s emulator range', async () => {
    const ports = await Promise.all(Array.from({ length: 8 }, () => allocateSystemPort()));
    assert.equal(new Set(ports).size, ports.length);
    for (const p of ports) {
      assert.ok(p < 5555 || p > 5585);
      releaseSystemPort(p);
    }
  });
});

describe('ui/appium/selectors: locators as WebDriver strategies', () => {
  it('bare id, desc and class use the native strategies; the rest XPath', () => {
    assert.deepEqual(strategyFor({ id: 'a:id/b' }), { using: 'id', value: 'a:id/b' });
    assert.deepEqual(strategyFor({ desc: 'Menu' }), { using: 'accessibility id', value: 'Menu' });
    assert.deepEqual(strategyFor({ class: 'android.widget.Switch' }), {
      using: 'class name',
      value: 'android.widget.Switch',
    });
    assert.deepEqual(strategyFor({ id: 'a:id/t', text: 'Privacy' }), {
      using: 'xpath',
      value: '//*[@resource-id="a:id/t" and @text="Privacy"]',
    });
    assert.equal(
      locatorXpath({ class: 'android.widget.Switch', within: { id: 'r', within: { textContains: 'x' } } }),
      '//*[contains(@text, "x")]//*[@resource-id="r"]//*[@class="android.widget.Switch"]',
    );
  });

  it('XPath literals hold any quotes', () => {
    assert.equal(xpathLiteral('plain'), '"plain"');
    assert.equal(xpathLiteral('say "hi"'), `'say "hi"'`);
    assert.equal(xpathLiteral(`it's "x"`), `concat("it's ", '"', "x", '"', "")`);
  });
});

describe('ui/appium/server: installation checks and ANDROID_HOME', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-uitest-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const sdkWithAdb = (name: string): string => {
    const sdk = join(dir, name);
    mkdirSync(join(sdk, 'platform-tools'), { recursive: true });
    writeFileSync(join(sdk, 'platform-tools', 'adb'), '');
    return sdk;
  };

  it('$ANDROID_HOME first, when it has platform-tools/adb', () => {
    const home = sdkWithAdb('home');
    const debian = sdkWithAdb('debian');
    const stateDir = join(dir, 'state');
    assert.deepEqual(resolveAndroidHome({ env: { ANDROID_HOME: home }, stateDir, debianSdk: debian }), {
      path: home,
      source: 'ANDROID_HOME',
    });
    assert.deepEqual(
      resolveAndroidHome({ env: { ANDROID_HOME: join(dir, 'empty') }, stateDir, debianSdk: debian }),
      { path: debian, source: 'debian' },
    );
  });

  it('else a generated folder whose platform-tools/adb links to the adb on PATH', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'adb'), '');
    const stateDir = join(dir, 'state');
    const r = resolveAndroidHome({
      env: { PATH: `/nonexistent:${bin}` },
      stateDir,
      debianSdk: join(dir, 'no'),
    });
    assert.deepEqual(r, { path: join(stateDir, 'android-sdk'), source: 'generated' });
    const link = join(stateDir, 'android-sdk', 'platform-tools', 'adb');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), join(bin, 'adb'));
    // Idempotent, and it follows a moved adb.
    resolveAndroidHome({ env: { PATH: bin }, stateDir, debianSdk: join(dir, 'no') });
    const bin2 = join(dir, 'bin2');
    mkdirSync(bin2);
    writeFileSync(join(bin2, 'adb'), '');
    resolveAndroidHome({ env: { PATH: bin2 }, stateDir, debianSdk: join(dir, 'no') });
    assert.equal(readlinkSync(link), join(bin2, 'adb'));
  });

  it('no adb anywhere: says so and how to fix it', () => {
    assert.throws(
      () => resolveAndroidHome({ env: { PATH: '' }, stateDir: dir, debianSdk: join(dir, 'no') }),
      (e: unknown) =>
        e instanceof AppiumServerError && /no adb for the Appium driver.*scripts\/setup/s.test(e.message),
    );
    assert.ok(!existsSync(join(dir, 'android-sdk')));
  });

  it('a missing driver or Appium is a clear error naming scripts/setup; start() refuses too', async () => {
    assert.throws(
      () => checkAppiumInstalled(dir),
      /uiautomator2 driver is not installed in .*Run scripts\/setup/,
    );
    assert.throws(
      () => checkAppiumInstalled(dir, join(dir, 'nope.js')),
      /Appium is not installed.*scripts\/setup/,
    );
    await assert.rejects(AppiumServer.start({ appiumHome: dir, stateDir: dir }), AppiumServerError);
  });
});
