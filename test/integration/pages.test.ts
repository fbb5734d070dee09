/**
 * The page objects (src/ui/pages/) on real drivers against every virtual Xiaomi profile (they all
 * ship Mi Browser or the China ROM browser, MIUI Settings, the MIUI launcher and SystemUI), through
 * the real adb server on a private port. Effects are checked the way a lab engineer would, with the
 * adb CLI and not with the driver under test: `settings get`, the browser's SharedPreferences (root
 * profiles), `dumpsys window`, an independent `uiautomator dump` parser (test/support/xiaomi.ts), and
 * what a host HTTP server reached through `adb reverse` received.
 *
 * The same suite runs on the ADB-only driver and on the Appium driver (one Appium server for the
 * file, the UiAutomator2 driver from .appium, the virtual phones' UiAutomator2 server).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdbClient, type PhonehomeAdbClient } from '../../src/device/adb-client.ts';
import { Device } from '../../src/device/device.ts';
import { AdbUiDriver } from '../../src/ui/adb/driver.ts';
import { AppiumUiDriver } from '../../src/ui/appium/driver.ts';
import { AppiumServer } from '../../src/ui/appium/server.ts';
import { UiError, type UiDriver } from '../../src/ui/driver.ts';
import { LocatorMissError } from '../../src/ui/miss.ts';
import { Launcher, MiBrowser, MiuiSettings, StatusBar } from '../../src/ui/pages/index.ts';
import { AdbPhone, allNodes, byId, byIdText, XIAOMI_PROFILES } from '../support/xiaomi.ts';
import { startLab, type TestLab } from '../support/lab.ts';

const SETTINGS = 'com.android.settings';
const HOME = 'com.miui.home';
const SYSUI = 'com.android.systemui';

const PRIVACY_KEYS = [
  ['secure', 'upload_log_pref'],
  ['secure', 'upload_debug_log_pref'],
  ['global', 'personalized_ad_enabled'],
  ['global', 'personalized_ad_time'],
] as const;

const token = (): string => randomBytes(4).toString('hex');

/** A host HTTP server answering every GET with a page titled after its path; records the paths. */
async function pageServer(): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    paths.push(path);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<html><head><title>Page ${path.slice(1)}</title></head><body>hello</body></html>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, paths };
}

interface Env {
  lab: TestLab;
  client: PhonehomeAdbClient;
}

/** The page-object tests for one phone; `open` makes the driver under test. */
function pageSuite(
  env: () => Env,
  index: number,
  profileName: string,
  open: (device: Device) => Promise<UiDriver>,
): void {
  describe(profileName, function () {
    let ui: UiDriver;
    let device: Device;
    let phone: AdbPhone;
    let originals: Map<string, string>;
    let profile: TestLab['phones'][number]['profile'];

    const readSettings = async (): Promise<Map<string, string>> => {
      const m = new Map<string, string>();
      for (const [ns, key] of PRIVACY_KEYS) m.set(key, (await phone.sh(`settings get ${ns} ${key}`)).trim());
      return m;
    };
    const prefsXml = async (): Promise<string> =>
      phone.su(`cat /data/data/${profile.browser}/shared_prefs/${profile.browser}_preferences.xml`);
    const focus = () => phone.focus();

    before(async () => {
      const e = env();
      const p = e.lab.phones[index]!;
      profile = p.profile;
      phone = new AdbPhone(e.lab.adb.port, p.serial);
      device = new Device(e.client, p.serial, { timeoutMs: 15_000 });
      ui = await open(device);
      originals = await readSettings();
    });
    after(async () => {
      await ui?.close();
    });
    afterEach(async () => {
      if (!phone) return;
      for (const [ns, key] of PRIVACY_KEYS) {
        const v = originals.get(key)!;
        await phone.sh(v === 'null' ? `settings delete ${ns} ${key}` : `settings put ${ns} ${key} ${v}`);
      }
      await phone.sh(`am force-stop ${profile.browser}`);
      await phone.sh(`am force-stop ${SETTINGS}`);
      await phone.key('HOME');
    });

    it('MIUI Settings: User Experience Program, diagnostic data and personalised ads, both ways', async () => {
      const settings = new MiuiSettings(ui);
      for (const on of [false, true]) {
        await settings.setUserExperienceProgram(on);
        assert.equal((await phone.sh('settings get secure upload_log_pref')).trim(), on ? '1' : '0');
        assert.equal(await settings.isOn('uep'), on, 'the switch shows the setting');
        await settings.setDiagnosticData(on);
        assert.equal((await phone.sh('settings get secure upload_debug_log_pref')).trim(), on ? '1' : '0');
        await settings.setPersonalisedAds(on);
        const bits = Number((await phone.sh('settings get global personalized_ad_enabled')).trim());
        assert.equal(bits & 1, on ? 1 : 0, `personalized_ad_enabled=${bits}`);
        assert.ok((await focus()).startsWith(`${SETTINGS}/`), 'Settings in front');
      }
      // Setting a toggle to the state it has changes nothing and reports that state.
      assert.equal(await settings.setUserExperienceProgram(true), true);
    });

    it('MIUI Settings: a page opens by its activity and by its menu path', async () => {
      const settings = new MiuiSettings(ui);
      await settings.openPage('ad_services');
      assert.equal(await focus(), `${SETTINGS}/${SETTINGS}.ad.AdServiceSettings`);
      await settings.navigateTo('privacy');
      assert.equal(await focus(), `${SETTINGS}/${SETTINGS}.SubSettings`);
      const root = await phone.dump();
      assert.ok(byIdText(`${SETTINGS}:id/action_bar_title`, 'Privacy')(root), 'the Privacy page is shown');
    });

    it('launcher: opens a folder, swipes to another home screen and back', async () => {
      const launcher = new Launcher(ui);
      await launcher.goHome();
      assert.ok((await focus()).startsWith(`${HOME}/`), 'the launcher in front');
      await launcher.openFolder('Tools');
      assert.ok(byIdText(`${HOME}:id/folder_title`, 'Tools')(await phone.dump()), 'the Tools folder is open');
      await launcher.closeFolder('Tools');
      assert.equal(byId(`${HOME}:id/folder_title`)(await phone.dump()), undefined, 'the folder closed');
      const start = await launcher.currentScreen();
      assert.deepEqual(start.index, 0);
      assert.ok(start.count >= 2, `${start.count} home screens`);
      await launcher.swipeToScreen(1);
      const indicator = () =>
        phone.dump().then((r) => byId(`${HOME}:id/page_indicator`)(r)?.attrs['content-desc'] ?? '');
      assert.match(await indicator(), /^Page 2 of /);
      await launcher.swipeToScreen(0);
      assert.match(await indicator(), /^Page 1 of /);
      await assert.rejects(launcher.swipeToScreen(start.count), UiError);
    });

    it('status bar: pulls the shade down and puts it back', async () => {
      const bar = new StatusBar(ui);
      await phone.key('HOME');
      const before = await focus();
      assert.equal(await bar.isPulledDown(), false);
      await bar.pullDown();
      assert.ok(byId(`${SYSUI}:id/notification_panel`)(await phone.dump()), 'the shade is down');
      assert.equal(await focus(), before, 'the focused app does not change');
      await bar.putBack();
      assert.equal(byId(`${SYSUI}:id/notification_panel`)(await phone.dump()), undefined, 'the shade is up');
    });

    it('Mi Browser: opens a URL (the page comes from the host through adb reverse)', async () => {
      const { server, port, paths } = await pageServer();
      try {
        await device.reverse(`tcp:${port}`, `tcp:${port}`);
        const browser = new MiBrowser(ui, { packageName: profile.browser });
        const tok = token();
        await browser.openUrl(`http://127.0.0.1:${port}/${tok}`);
        await browser.waitForPage(`Page ${tok}`);
        assert.deepEqual(paths, [`/${tok}`], 'the host served the page once');
        assert.ok((await focus()).startsWith(`${profile.browser}/`), 'the browser in front');
        // Typed into the address bar: characters the phone's shell would otherwise interpret.
        const tok2 = token();
        await browser.go(`127.0.0.1:${port}/${tok2}?a=1&b='x'`);
        await browser.waitForPage(`Page ${tok2}`);
        assert.deepEqual(paths, [`/${tok}`, `/${tok2}`]);
      } finally {
        await device.removeReverse(`tcp:${port}`).catch(() => undefined);
        server.close();
      }
    });

    it('Mi Browser: searches with the chosen engine', async () => {
      const browser = new MiBrowser(ui, { packageName: profile.browser });
      await browser.launch();
      const word = `canary${token()}`;
      try {
        await browser.search(word, { engine: 'duckduckgo' });
        const root = await phone.dump();
        const url = allNodes(root).find((n) => n.attrs['resource-id'] === `${profile.browser}:id/url`);
        assert.equal(url?.attrs.text, `https://duckduckgo.com/?q=${word}`, 'the search went to DuckDuckGo');
        assert.equal(await browser.searchEngine(), 'DuckDuckGo');
        if (profile.rooted)
          assert.match(await prefsXml(), /<string name="search_engine">duckduckgo<\/string>/);
      } finally {
        await browser.setSearchEngine('google');
      }
      if (profile.rooted) assert.match(await prefsXml(), /<string name="search_engine">google<\/string>/);
    });

    it('typing: Unicode reaches the address bar on Appium; ADB-only refuses it with the fix', async () => {
      const browser = new MiBrowser(ui, { packageName: profile.browser });
      await browser.launch();
      const word = `café☕${token()}`;
      if (ui.kind === 'adb') {
        await assert.rejects(browser.go(word), /cannot type U\+00E9 "é".*"ui": "appium"/);
        return;
      }
      await browser.go(word);
      const root = await phone.dump();
      const url = allNodes(root).find((n) => n.attrs['resource-id'] === `${profile.browser}:id/url`);
      assert.equal(url?.attrs.text, `https://www.google.com/search?q=${encodeURIComponent(word)}`);
    });

    it('Mi Browser: incognito on and off through the menu', async () => {
      const browser = new MiBrowser(ui, { packageName: profile.browser });
      await browser.launch();
      assert.equal(await browser.setIncognito(true), false);
      assert.ok(byId(`${profile.browser}:id/incognito_indicator`)(await phone.dump()), 'incognito shown');
      if (profile.rooted) assert.match(await prefsXml(), /<boolean name="incognito_mode" value="true" \/>/);
      assert.equal(await browser.setIncognito(false), true);
      assert.equal(byId(`${profile.browser}:id/incognito_indicator`)(await phone.dump()), undefined);
      if (profile.rooted) assert.match(await prefsXml(), /<boolean name="incognito_mode" value="false" \/>/);
    });

    it('Mi Browser: the data-collection switches in its settings', async () => {
      const browser = new MiBrowser(ui, { packageName: profile.browser });
      await browser.launch();
      const hasSwitch = profile.telemetry?.browser?.incognitoDataCollectionSwitch === true;
      const before = await browser.dataSwitches();
      assert.equal(before.incognitoMode, false);
      if (!hasSwitch) {
        assert.equal(before.enhancedIncognito, undefined, 'this browser has no such switch');
        await assert.rejects(browser.setEnhancedIncognito(false), /has no such switch/);
        return;
      }
      assert.equal(before.enhancedIncognito, true, 'on by default');
      try {
        assert.equal(await browser.setEnhancedIncognito(false), true);
        assert.deepEqual(await browser.dataSwitches(), { incognitoMode: false, enhancedIncognito: false });
        if (profile.rooted) {
          assert.match(await prefsXml(), /<boolean name="enhanced_incognito_mode" value="false" \/>/);
        }
        assert.equal(await browser.setIncognitoInSettings(true), false);
        assert.equal(await browser.isIncognito(), true);
      } finally {
        await browser.setIncognitoInSettings(false);
        await browser.setEnhancedIncognito(true);
      }
      assert.deepEqual(await browser.dataSwitches(), { incognitoMode: false, enhancedIncognito: true });
    });

    // Shared code (src/ui/miss.ts) over each driver's hierarchy: one profile per driver is enough.
    if (index === 0) {
      it('a miss names every candidate and the closest elements on screen (issue 11 §1, both drivers)', async () => {
        await phone.key('HOME');
        const err = await ui.find([{ id: `${HOME}:id/workspac` }, { text: 'Nope' }], { timeoutMs: 300 }).then(
          () => assert.fail('found'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof LocatorMissError, String(err));
        assert.match(
          err.message,
          /find \[id=com\.miui\.home:id\/workspac\] or \[text="Nope"\] found nothing within 300 ms/,
        );
        assert.equal(err.closest[0]?.id, `${HOME}:id/workspace`, err.message);
      });
    }
  });
}

describe('page objects (src/ui/pages) on the ADB-only driver, every profile', function () {
  this.timeout(120_000);
  let env: Env | undefined;
  before(async () => {
    const lab = await startLab([...XIAOMI_PROFILES]);
    env = { lab, client: createAdbClient({ port: lab.adb.port }) };
  });
  after(async () => {
    await env?.lab.stop();
  });
  XIAOMI_PROFILES.forEach((name, i) =>
    pageSuite(
      () => env!,
      i,
      name,
      async (device) => new AdbUiDriver(device, { timeoutMs: 10_000 }),
    ),
  );
});

describe('page objects (src/ui/pages) on the Appium driver, every profile', function () {
  this.timeout(180_000);
  let env: Env | undefined;
  let appium: AppiumServer | undefined;
  let stateDir: string | undefined;
  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'phonehome-pages-'));
    // The capabilities skip the server APK install: the phones come with it, as after a first session.
    const lab = await startLab([...XIAOMI_PROFILES], {}, { uia2Preinstalled: true });
    env = { lab, client: createAdbClient({ port: lab.adb.port }) };
    appium = await AppiumServer.start({ stateDir, logFile: join(stateDir, 'appium.log') });
  });
  after(async () => {
    await appium?.stop();
    await env?.lab.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });
  it('two phones through one Appium server in parallel: each step lands on its own phone', async () => {
    const [a, b] = env!.lab.phones;
    const open = (serial: string) =>
      AppiumUiDriver.open({ serverUrl: appium!.url, serial, adbPort: env!.lab.adb.port, timeoutMs: 10_000 });
    const [uiA, uiB] = await Promise.all([open(a!.serial), open(b!.serial)]);
    const phoneA = new AdbPhone(env!.lab.adb.port, a!.serial);
    const phoneB = new AdbPhone(env!.lab.adb.port, b!.serial);
    const uepB = (await phoneB.sh('settings get secure upload_log_pref')).trim();
    const uepA = (await phoneA.sh('settings get secure upload_log_pref')).trim();
    try {
      assert.notEqual(uiA.systemPort, uiB.systemPort);
      await Promise.all([new MiuiSettings(uiA).setUserExperienceProgram(false), new Launcher(uiB).goHome()]);
      await Promise.all([
        new MiuiSettings(uiA).setUserExperienceProgram(true),
        new Launcher(uiB).openFolder('Tools'),
      ]);
      assert.equal((await phoneA.sh('settings get secure upload_log_pref')).trim(), '1');
      assert.equal((await phoneB.sh('settings get secure upload_log_pref')).trim(), uepB, 'B untouched');
      assert.ok((await phoneA.focus()).startsWith(`${SETTINGS}/`), 'Settings on A');
      assert.ok((await phoneB.focus()).startsWith(`${HOME}/`), 'the launcher on B');
      assert.ok(byIdText(`${HOME}:id/folder_title`, 'Tools')(await phoneB.dump()), 'the folder open on B');
      assert.equal(byId(`${HOME}:id/folder_title`)(await phoneA.dump()), undefined, 'no folder on A');
    } finally {
      await Promise.all([uiA.close(), uiB.close()]);
      await phoneA.sh(
        uepA === 'null'
          ? 'settings delete secure upload_log_pref'
          : `settings put secure upload_log_pref ${uepA}`,
      );
      await phoneA.sh(`am force-stop ${SETTINGS}`);
      await phoneB.key('HOME');
      await phoneB.key('HOME');
    }
  });

  XIAOMI_PROFILES.forEach((name, i) =>
    pageSuite(
      () => env!,
      i,
      name,
      async (device) =>
        AppiumUiDriver.open({
          serverUrl: appium!.url,
          serial: device.serial,
          adbPort: env!.lab.adb.port,
          timeoutMs: 10_000,
        }),
    ),
  );
});
