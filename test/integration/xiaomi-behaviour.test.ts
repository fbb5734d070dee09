/**
 * Acceptance of issue 3 ("Virtual phones behave like Xiaomi's"), end to end through the real adb
 * server: each firmware profile's behaviour table, row by row, observed at a mockttp HTTPS proxy on
 * the host whose CA is a system CA on the phone; the user-store and no-proxy cases; and the UI as
 * `uiautomator dump`, `input` and `screencap` show it. The phone is driven only the way a lab engineer
 * drives one (adb CLI: `input`, `settings`, `am`, `su`); node positions come from the dumped XML.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadProfile, type TelemetryRule } from '../../src/virtual/profiles/load.ts';
import type { TelemetryEmitter } from '../../src/virtual/profiles/schema.ts';
import {
  decodeMistatBody,
  decodeSensorsBody,
  decodeSplashAdRequest,
  decodeTrackingBody,
} from '../../src/virtual/telemetry/index.ts';
import {
  allNodes,
  byId,
  byIdText,
  checkClickables,
  decodePng,
  describeNode,
  drainTelemetry,
  firstRow,
  installSystemCa,
  installUserCa,
  isTrue,
  pendingTotal,
  planRow,
  rowWithTitle,
  sleep,
  switchState,
  waitUntil,
  within,
  XIAOMI_PROFILES,
  xiaomiRig,
  AdbPhone,
  type RowPlan,
  type Toggles,
  type XiaomiRig,
  type XmlNode,
} from '../support/xiaomi.ts';
import { startLab, type TestLab } from '../support/lab.ts';

const BROWSER_ACTIVITY = 'com.android.browser.BrowserActivity';
const SETTINGS = 'com.android.settings';
const HOME = 'com.miui.home';
const SYSUI = 'com.android.systemui';
const SECURITY = 'com.miui.securitycenter';
/** Every expected upload must arrive within this; then nothing more may come for QUIET_MS. */
const ARRIVAL_MS = 5000;
const QUIET_MS = 400;

/** The tracking header's fields: those of the 2017 upload (xiaomi-telemetry.md §2.2), `st` at send time. */
const TRACKING_HEADER_FIELDS = [
  'aaid',
  'android',
  'bn',
  'cv',
  'device',
  'imei',
  'lang',
  'mac',
  'mi',
  'miui',
  'model',
  'n',
  'product',
  'region',
  'sender',
  'st',
  'userid',
];

const token = (): string => randomBytes(5).toString('hex');

// ------------------------------------------------------------------------------ driving the UI

const bid = (r: XiaomiRig, name: string): string => `${r.profile.browser}:id/${name}`;

async function openBrowser(r: XiaomiRig): Promise<void> {
  await r.phone.sh(`am start -n ${r.profile.browser}/${BROWSER_ACTIVITY}`);
  await r.phone.waitNode(byId(bid(r, 'url')), 'the address bar');
}

/** Incognito on/off through the browser's menu (the indicator in the address bar shows it). */
async function setIncognito(r: XiaomiRig, on: boolean): Promise<void> {
  const root = await r.phone.dump();
  if (!!byId(bid(r, 'incognito_indicator'))(root) === on) return;
  await r.phone.tap(byId(bid(r, 'toolbar_menu'))(root)!);
  const item = await r.phone.waitNode(byId(bid(r, 'menu_incognito')), 'the menu');
  assert.equal(isTrue(item, 'checked'), !on, 'the menu shows the current mode');
  await r.phone.tap(item);
  await r.phone.waitNode(
    (x) => (!!byId(bid(r, 'incognito_indicator'))(x) === on ? byId(bid(r, 'url'))(x) : undefined),
    `incognito ${on ? 'on' : 'off'}`,
  );
}

/** Opens the browser's settings screen through its menu. */
async function openBrowserSettings(r: XiaomiRig): Promise<XmlNode> {
  const root = await r.phone.dump();
  await r.phone.tap(byId(bid(r, 'toolbar_menu'))(root)!);
  await r.phone.tap(await r.phone.waitNode(byId(bid(r, 'menu_settings')), 'menu: Settings'));
  return r.phone.waitNode(byId(bid(r, 'pref_incognito_mode')), 'browser settings');
}

/** The "Enhanced incognito mode" switch through browser settings; back to the page after. */
async function setEnhancedIncognito(r: XiaomiRig, on: boolean): Promise<void> {
  await openBrowserSettings(r);
  const row = await r.phone.waitNode(byId(bid(r, 'pref_enhanced_incognito_mode')), 'enhanced incognito');
  if (switchState(row) !== on) {
    await r.phone.tap(row);
    await r.phone.waitNode((x) => {
      const n = byId(bid(r, 'pref_enhanced_incognito_mode'))(x);
      return n && switchState(n) === on ? n : undefined;
    }, 'the switch flipped');
  }
  await r.phone.key('BACK');
  await r.phone.waitNode(byId(bid(r, 'url')), 'back in the browser');
}

/** Types into the address bar and presses ENTER; waits for the page to have loaded. */
async function addressBar(r: XiaomiRig, text: string, expectTitle: string): Promise<void> {
  await r.phone.tap(await r.phone.waitNode(byId(bid(r, 'url')), 'the address bar'));
  await r.phone.text(text);
  await r.phone.key('ENTER');
  await r.phone.waitNode(
    (x) =>
      allNodes(x).find(
        (n) => n.attrs['resource-id'] === bid(r, 'webview') && n.attrs['content-desc'] === expectTitle,
      ),
    `page '${expectTitle}' loaded`,
    ARRIVAL_MS,
  );
}

interface Browsed {
  url: string;
  word: string;
  searchUrl: string;
}

async function browse(r: XiaomiRig, tok: string): Promise<Browsed> {
  const url = `https://canary-${tok}.example.com/visit/canary-${tok}`;
  const word = `canaryword${tok}`;
  const searchUrl = `https://www.google.com/search?q=${word}`;
  r.capture.pageHosts.add(`canary-${tok}.example.com`).add('www.google.com');
  await addressBar(r, url, `Canary ${tok}`);
  await addressBar(r, word, 'Canary page');
  return { url, word, searchUrl };
}

async function display(r: XiaomiRig): Promise<{ width: number; height: number }> {
  const m = /Physical size: (\d+)x(\d+)/.exec(await r.phone.sh('wm size'));
  assert.ok(m, 'wm size');
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Folder, two home-screen swipes, the status bar down and up, two Settings pages. */
async function systemUi(r: XiaomiRig): Promise<void> {
  const d = await display(r);
  const root = await r.phone.dump();
  await r.phone.tap(byIdText(`${HOME}:id/folder_icon`, 'Tools')(root)!);
  await r.phone.waitNode(byIdText(`${HOME}:id/folder_title`, 'Tools'), 'the Tools folder open');
  await r.phone.key('BACK');
  const y = Math.round(d.height / 2);
  await r.phone.swipe(Math.round(d.width * 0.85), y, Math.round(d.width * 0.1), y);
  await r.phone.waitNode(
    (x) => allNodes(x).find((n) => /^Page 2 of/.test(n.attrs['content-desc'] ?? '')),
    'home screen 2',
  );
  await r.phone.swipe(Math.round(d.width * 0.1), y, Math.round(d.width * 0.85), y);
  await r.phone.waitNode(
    (x) => allNodes(x).find((n) => /^Page 1 of/.test(n.attrs['content-desc'] ?? '')),
    'home screen 1',
  );
  const mid = Math.round(d.width / 2);
  await r.phone.swipe(mid, 5, mid, Math.round(d.height * 0.6));
  await r.phone.waitNode(byId(`${SYSUI}:id/notification_panel`), 'the notification shade');
  await r.phone.swipe(mid, Math.round(d.height * 0.8), mid, Math.round(d.height * 0.1));
  await r.phone.waitNode(
    (x) => (byId(`${SYSUI}:id/notification_panel`)(x) ? undefined : x),
    'the shade closed',
  );
  await r.phone.sh(`am start -n ${SETTINGS}/.Settings`);
  await r.phone.tap(await r.phone.waitNode(rowWithTitle('Passwords & security'), 'Settings'));
  await r.phone.waitNode(rowWithTitle('Privacy'), 'Passwords & security');
}

async function appOpen(r: XiaomiRig): Promise<void> {
  const icon = await r.phone.waitNode(byIdText(`${HOME}:id/icon_title`, 'Security'), 'the Security icon');
  await r.phone.tap(icon);
  assert.ok(await focusLeaves(r.phone, (f) => f.startsWith(`${SECURITY}/`)), 'Security is in front');
}

/** Polls `dumpsys window` (bounded, 1 s) until the focused component satisfies `ok`. */
async function focusLeaves(phone: AdbPhone, ok: (focus: string) => boolean): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (ok(await phone.focus())) return true;
    await sleep(20);
  }
  return false;
}

// ------------------------------------------------------------------------------ expectations

interface Expected {
  kinds: Set<TelemetryEmitter>;
  /** `event value` per Sensors event. */
  sensors: string[];
  /** `sender key` per tracking entry (`sender key package` for app_open). */
  tracking: string[];
  /** The app named by each splash-ad request (the app that opened), sorted. */
  ads: string[];
  mistat: boolean;
  /** Whether the splash-ad requests drop the ad id (the app_open row's `omit`). */
  adsOmitAdId: boolean;
}

/** The row that decides `event` in this plan's toggle state. */
const ruleOf = (r: XiaomiRig, plan: RowPlan, event: string): TelemetryRule => {
  const i = plan.decided[event];
  assert.ok(i !== undefined && i >= 0, `no row decides ${event} in the plan of row ${plan.index}`);
  return r.profile.telemetry!.rules[i]!;
};

const trackingKey = (sender: string, key: string, pkg: unknown): string =>
  key === 'app_open' ? `${sender} ${key} ${String(pkg)}` : `${sender} ${key}`;

function expectedFor(r: XiaomiRig, plan: RowPlan, b: Browsed | undefined): Expected {
  const ev: Array<{ name: string; pkg: string; value: string }> = [];
  if (plan.action === 'browse') {
    // The browser is already in front (opened by the setup, whose traffic was drained): no app_open.
    const pkg = r.profile.browser;
    ev.push(
      { name: 'page_load_event_start', pkg, value: b!.url },
      { name: 'page_load_event_finish', pkg, value: b!.url },
      { name: 'search', pkg, value: b!.word },
      { name: 'page_load_event_start', pkg, value: b!.searchUrl },
      { name: 'page_load_event_finish', pkg, value: b!.searchUrl },
    );
  } else if (plan.action === 'system-ui') {
    ev.push(
      { name: 'folder_open', pkg: HOME, value: 'Tools' },
      { name: 'home_screen_swipe', pkg: HOME, value: '0>1' },
      { name: 'home_screen_swipe', pkg: HOME, value: '1>0' },
      { name: 'status_bar_pull', pkg: SYSUI, value: 'true' },
      { name: 'status_bar_pull', pkg: SYSUI, value: 'false' },
      // `am start -n` Settings: the launcher reports the app that came to the foreground.
      { name: 'app_open', pkg: HOME, value: SETTINGS },
      { name: 'settings_page_open', pkg: SETTINGS, value: 'settings' },
      { name: 'settings_page_open', pkg: SETTINGS, value: 'passwords_security' },
    );
  } else ev.push({ name: 'app_open', pkg: HOME, value: SECURITY });
  const x: Expected = {
    kinds: new Set(),
    sensors: [],
    tracking: [],
    ads: [],
    mistat: false,
    adsOmitAdId: false,
  };
  for (const e of ev) {
    const rule = ruleOf(r, plan, e.name);
    for (const k of rule.send) x.kinds.add(k);
    if (rule.send.includes('sensors')) x.sensors.push(`${e.name} ${e.value}`);
    if (rule.send.includes('tracking')) x.tracking.push(trackingKey(e.pkg, e.name, e.value));
    if (rule.send.includes('ads')) {
      assert.equal(e.name, 'app_open', `row ${plan.index}: only an app start asks for a splash ad`);
      x.ads.push(e.value);
      x.adsOmitAdId = rule.omit?.includes('adId') ?? false;
    }
    if (rule.send.includes('mistat')) x.mistat = true;
  }
  x.sensors.sort();
  x.tracking.sort();
  x.ads.sort();
  return x;
}

function sensorsSeen(r: XiaomiRig): string[] {
  return r.capture
    .of('sensors')
    .flatMap((s) => decodeSensorsBody(s.body).events)
    .map((e) => {
      const p = e.properties as Record<string, unknown>;
      return `${String(e.event)} ${String(e.event === 'search' ? p.search_word : p.url)}`;
    })
    .sort();
}

function trackingSeen(r: XiaomiRig): string[] {
  return r.capture
    .of('tracking')
    .flatMap((s) => {
      const d = decodeTrackingBody(s.body);
      return d.payload.B.map((b) => trackingKey(d.payload.H.sender!, b.H.key, b.B.package));
    })
    .sort();
}

/** The app each splash-ad request asks for. */
function adsSeen(r: XiaomiRig): string[] {
  return r.capture
    .of('ads')
    .map((s) => decodeSplashAdRequest(s.body).appInfo.packageName.join(','))
    .sort();
}

function arrived(r: XiaomiRig, x: Expected): boolean {
  return (
    sensorsSeen(r).length >= x.sensors.length &&
    trackingSeen(r).length >= x.tracking.length &&
    r.capture.of('ads').length >= x.ads.length &&
    (!x.mistat || r.capture.of('mistat').length > 0)
  );
}

/** versionName of an installed package, as `dumpsys package` reports it. */
async function versionOf(r: XiaomiRig, pkg: string): Promise<string> {
  const out = await r.phone.sh(`dumpsys package ${pkg}`);
  const m = /versionName=(\S+)/.exec(out);
  assert.ok(m, `dumpsys package ${pkg}: versionName\n${out}`);
  return m[1]!;
}

function assertUploads(r: XiaomiRig, plan: RowPlan, x: Expected, b: Browsed | undefined, tok: string): void {
  const cap = r.capture;
  const t = r.profile.telemetry!;
  assert.deepEqual(cap.tlsErrors, [], 'every TLS handshake succeeded (the CA is a system CA)');
  assert.deepEqual(cap.of('other'), [], 'nothing but pages and known upload endpoints');
  const kinds = new Set(cap.uploads().map((u) => u.kind));
  assert.deepEqual([...kinds].sort(), [...x.kinds].sort(), `endpoints of row ${plan.index}`);

  // Pages: exactly the canary page and the search results (browser rows), nothing in the others.
  const pages = cap.of('page').map((p) => `${p.method} ${p.url}`);
  assert.deepEqual(pages, b ? [`GET ${b.url}`, `GET ${b.searchUrl}`] : []);

  // Sensors Analytics: the visited URL and the search word, decoded.
  assert.deepEqual(sensorsSeen(r), x.sensors, 'Sensors events');
  for (const s of cap.of('sensors')) {
    assert.equal(s.method, 'POST');
    const u = new URL(s.url);
    assert.equal(`${u.protocol}//${u.host}${u.pathname}`, 'https://sa.api.intl.miui.com/sa');
    assert.equal(u.searchParams.get('project'), new URL(t.emitters.sensors!.url).searchParams.get('project'));
    assert.match(u.searchParams.get('r') ?? '', /^[A-Z]{2}$/);
    const d = decodeSensorsBody(s.body);
    assert.ok(d.crcValid, 'Sensors crc');
    assert.equal(d.gzip, '1');
    for (const e of d.events) {
      const p = e.properties as Record<string, unknown>;
      assert.equal(p.$app_id, r.profile.browser);
      assert.equal(p.uuid, e.anonymous_id, 'the anonymous uuid super-property');
      assert.equal(typeof p.miui_version, 'string');
      if (e.event === 'search') assert.equal(p.used_searchengine, 'google');
    }
  }

  // Tracking: who reported which event (app_open by the launcher, naming the app), signed envelope,
  // exactly the researched header fields, the ad id as the deciding rows say.
  assert.deepEqual(trackingSeen(r), x.tracking, 'tracking events');
  for (const s of cap.of('tracking')) {
    assert.equal(s.method, 'POST');
    assert.equal(s.url, t.emitters.tracking!.url);
    const d = decodeTrackingBody(s.body);
    assert.ok(d.signValid, 'tracking sign');
    assert.deepEqual(Object.keys(d.payload.H).sort(), TRACKING_HEADER_FIELDS, 'tracking header fields');
    assert.ok(!('android_id' in d.payload.H), 'no android_id in the tracking header');
    const omit = d.payload.B.some((e) => ruleOf(r, plan, e.H.key).omit?.includes('adId') ?? false);
    assert.equal(d.payload.H.aaid === '', omit, `tracking aaid '${d.payload.H.aaid}'`);
    for (const e of d.payload.B) {
      if (e.H.key === 'app_open') assert.equal(d.payload.H.sender, HOME, 'app_open is sent by the launcher');
      if (e.H.key === 'folder_open') assert.equal(e.B.folder, 'Tools');
    }
  }

  // MiStat: opaque (encrypted); the canary never shows in clear.
  assert.equal(cap.of('mistat').length > 0, x.mistat, 'MiStat uploads');
  for (const s of cap.of('mistat')) {
    assert.equal(s.method, 'POST');
    assert.equal(s.url, t.emitters.mistat!.url);
    const f = decodeMistatBody(s.body).fields;
    assert.equal(f.ai, t.emitters.mistat!.appId);
    assert.ok((f.p ?? '').length > 20, 'an encrypted payload');
    assert.ok(!s.body.toString('latin1').includes(tok), 'no canary in clear in MiStat');
  }

  // The splash-ad request: plain HTTP, one per app start, with or without the ad id.
  assert.equal(cap.of('ads').length, x.ads.length, 'splash-ad requests');
  for (const s of cap.of('ads')) {
    assert.equal(s.method, 'POST');
    assert.equal(s.url, t.emitters.ads!.url);
    assert.ok(s.url.startsWith('http://'), 'the ad request is plain HTTP');
    const req = decodeSplashAdRequest(s.body);
    assert.equal('idfa' in req.userInfo, !x.adsOmitAdId, `ad id ${x.adsOmitAdId ? 'dropped' : 'sent'}`);
    if (!x.adsOmitAdId) assert.match(String(req.userInfo.idfa), /\w{8,}/);
  }
}

/**
 * Last, so that a wrong app name does not hide the checks above: the splash ad is asked for the app
 * that opened and its installed version (xiaomi-telemetry.md §2.5), not for the launcher that
 * reported the start.
 */
async function assertAdsNameTheOpenedApp(r: XiaomiRig, x: Expected): Promise<void> {
  assert.deepEqual(adsSeen(r), x.ads, 'splash ads for the apps opened');
  for (const s of r.capture.of('ads')) {
    const info = decodeSplashAdRequest(s.body).appInfo;
    const pkg = info.packageName[0]!;
    assert.deepEqual(info.version, [await versionOf(r, pkg)], `splash ad: the version of ${pkg}`);
  }
}

// ------------------------------------------------------------------------------ state

const KEYS = [
  ['secure', 'upload_log_pref', 'uep'],
  ['secure', 'upload_debug_log_pref', 'diagnostics'],
  ['global', 'personalized_ad_enabled', 'personalizedAds'],
] as const;

async function readSettings(r: XiaomiRig): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [ns, key] of KEYS) out.set(key, (await r.phone.sh(`settings get ${ns} ${key}`)).trim());
  return out;
}

async function writeSettings(r: XiaomiRig, values: Map<string, string>): Promise<void> {
  for (const [ns, key] of KEYS) {
    const v = values.get(key)!;
    await r.phone.sh(v === 'null' ? `settings delete ${ns} ${key}` : `settings put ${ns} ${key} ${v}`);
  }
}

/** Row plan → the phone: settings through `settings put`, the browser switches through its UI. */
async function applyToggles(r: XiaomiRig, plan: RowPlan, enhanced: boolean): Promise<void> {
  const v = new Map<string, string>();
  for (const [, key, toggle] of KEYS) v.set(key, plan.toggles[toggle] ? '1' : '0');
  await writeSettings(r, v);
  assert.deepEqual(await readSettings(r), v);
  if (plan.action === 'browse') {
    await openBrowser(r);
    if (enhanced) await setEnhancedIncognito(r, plan.toggles.incognitoDataCollection);
    await setIncognito(r, plan.toggles.incognito);
  }
}

async function resetPhone(r: XiaomiRig, originals: Map<string, string>, enhanced: boolean): Promise<void> {
  await r.phone.key('HOME');
  await writeSettings(r, originals);
  await openBrowser(r);
  await setIncognito(r, false);
  if (enhanced) await setEnhancedIncognito(r, true);
  for (const pkg of [r.profile.browser, SETTINGS, SECURITY]) await r.phone.sh(`am force-stop ${pkg}`);
  await r.phone.key('HOME');
}

// ------------------------------------------------------------------------------ the rows

for (const name of XIAOMI_PROFILES) {
  const profile = loadProfile(name);
  const t = profile.telemetry;
  const browserVersion = profile.packages.find((p) => p.name === profile.browser)?.versionName ?? '0';
  // The incognito data-collection ("Enhanced incognito mode") switch exists where the profile says.
  const enhanced = t?.browser?.incognitoDataCollectionSwitch === true;

  describe(`Xiaomi behaviour: ${name} (Mi Browser ${browserVersion}), every row at a mockttp proxy`, function () {
    this.timeout(20_000);
    let r: XiaomiRig;
    let originals: Map<string, string>;

    before(async () => {
      r = await xiaomiRig(name);
      await installSystemCa(r);
      originals = await readSettings(r);
      // The switch is in the UI exactly on the profiles whose browser has it.
      await openBrowser(r);
      await openBrowserSettings(r);
      assert.equal(
        !!byId(bid(r, 'pref_enhanced_incognito_mode'))(await r.phone.dump()),
        enhanced,
        'enhanced incognito switch in browser settings',
      );
      await r.phone.key('BACK');
      await r.phone.sh(`am force-stop ${r.profile.browser}`);
      await r.phone.key('HOME');
    });
    after(async () => {
      await r?.stop();
    });
    afterEach(async () => {
      if (r) await resetPhone(r, originals, enhanced);
    });

    assert.ok(t, `${name} has a telemetry table`);
    t.rules.forEach((_, i) => {
      const plan = planRow(t, i, { enhancedSwitch: enhanced });
      it(plan.title, async () => {
        const tok = token();
        await r.phone.key('HOME');
        await applyToggles(r, plan, enhanced);
        // The setup's own traffic (the browser's app_open, the previous row's reset) is delivered and
        // forgotten: the row's expectations are about the row's actions only. Browser rows stay in the
        // browser the setup opened, so that their actions start no app.
        if (plan.action === 'browse')
          assert.ok((await r.phone.focus()).startsWith(`${r.profile.browser}/`), 'the browser in front');
        else await r.phone.key('HOME');
        await drainTelemetry(r);
        r.capture.clear();
        assert.equal(pendingTotal(r), 0, 'nothing queued before the row');

        let b: Browsed | undefined;
        if (plan.action === 'browse') b = await browse(r, tok);
        else if (plan.action === 'system-ui') await systemUi(r);
        else await appOpen(r);
        await r.phone.key('HOME');

        const x = expectedFor(r, plan, b);
        // The phone's own batching (timers, HOME backgrounding the app) must deliver everything;
        // then nothing more may come.
        await waitUntil(() => arrived(r, x) && pendingTotal(r) === 0, ARRIVAL_MS);
        await within(r.labPhone.phone.telemetry.idle(), ARRIVAL_MS, 'uploads in flight answered');
        await sleep(QUIET_MS);
        assertUploads(r, plan, x, b, tok);
        assert.equal(pendingTotal(r), 0, 'everything queued was delivered');
        await assertAdsNameTheOpenedApp(r, x);
      });
    });
  });
}

// ------------------------------------------------------------------------------ user store

describe('Xiaomi behaviour: CA only in the user store (redmi-note-8-leaky-rooted)', function () {
  this.timeout(20_000);
  let r: XiaomiRig;
  before(async () => {
    r = await xiaomiRig('redmi-note-8-leaky-rooted');
  });
  after(async () => {
    await r?.stop();
  });

  it('browser uploads fail TLS and stay queued, never in clear; once the CA is a system CA the retries deliver them', async () => {
    await installUserCa(r);
    const ls = await r.phone.su(`ls -ln /data/misc/user/0/cacerts-added/${r.caName}`);
    assert.match(ls, /^-rw-r--r-- +\d+ +1000 +1000 /, 'owned by system, 644');
    // Every toggle stated, not assumed: UEP, diagnostics and personalised ads on, a normal tab.
    await r.phone.sh('settings put secure upload_log_pref 1');
    await r.phone.sh('settings put secure upload_debug_log_pref 1');
    await r.phone.sh('settings put global personalized_ad_enabled 1');
    const toggles: Toggles = {
      incognito: false,
      incognitoDataCollection: true,
      uep: true,
      diagnostics: true,
      personalizedAds: true,
    };
    const t = r.profile.telemetry!;
    const browserRule = t.rules[firstRow(t.rules, 'browser', 'page_load_event_start', toggles)]!;
    // Opening the browser is an app start: the launcher reports app_open for it.
    const openRule = t.rules[firstRow(t.rules, 'system', 'app_open', toggles)]!;
    const httpsHosts = (send: TelemetryEmitter[]): string[] =>
      send
        .map((k) => new URL(t.emitters[k]!.url.replace('{country}', 'XX')))
        .filter((u) => u.protocol === 'https:')
        .map((u) => u.host);
    const tok = token();
    const url = `https://canary-${tok}.example.com/visit/canary-${tok}`;
    const word = `canaryword${tok}`;
    r.capture.pageHosts.add(`canary-${tok}.example.com`).add('www.google.com');
    await openBrowser(r);
    await r.phone.tap(await r.phone.waitNode(byId(bid(r, 'url')), 'address bar'));
    await r.phone.text(url);
    await r.phone.key('ENTER');
    await r.phone.waitNode(byId(bid(r, 'reload')), 'the error page (certificate not trusted)');
    await r.phone.tap(await r.phone.waitNode(byId(bid(r, 'url')), 'address bar'));
    await r.phone.text(word);
    await r.phone.key('ENTER');
    await sleep(100);
    await r.phone.key('HOME');

    const hub = r.labPhone.phone.telemetry;
    const failures = (host: string) => r.capture.tlsErrors.filter((e) => e.sni === host).length;
    const expectedHosts = [
      ...new Set([
        `canary-${tok}.example.com`,
        'www.google.com',
        ...httpsHosts(browserRule.send),
        ...httpsHosts(openRule.send),
      ]),
    ].sort();
    assert.ok(
      await waitUntil(
        () => failures('sa.api.intl.miui.com') >= 2 && expectedHosts.every((h) => failures(h) > 0),
        ARRIVAL_MS,
      ),
      `the Sensors upload failed, then its retry; every HTTPS host failed TLS: ${JSON.stringify(r.capture.tlsErrors)}`,
    );
    assert.ok(failures('data.mistat.intl.xiaomi.com') > 0, 'MiStat failed TLS too');
    const hosts = new Set(r.capture.tlsErrors.map((e) => e.sni));
    assert.deepEqual([...hosts].sort(), expectedHosts, 'the proxy saw only the CONNECT/SNI hosts');
    for (const e of r.capture.tlsErrors)
      assert.ok(['cert-rejected', 'closed', 'reset'].includes(e.cause), e.cause);
    // Nothing decrypted: the only request the proxy read is the splash-ad request, which is plain
    // HTTP by design (xiaomi-telemetry.md §2.5) and asks for the browser that opened.
    assert.deepEqual(
      r.capture.requests.filter((q) => q.kind !== 'ads').map((q) => q.url),
      [],
      'no decrypted request, nothing in clear',
    );
    await within(hub.idle(), ARRIVAL_MS, 'uploads in flight answered');
    assert.deepEqual(
      adsSeen(r),
      openRule.send.includes('ads') ? [r.profile.browser] : [],
      'the splash-ad request',
    );
    for (const q of r.capture.of('ads')) {
      assert.ok(q.url.startsWith('http://'), q.url);
      assert.ok(!q.body.toString('latin1').includes(tok), 'no canary in the ad request');
    }
    const pending = hub.pending();
    assert.ok((pending[`sensors:${r.profile.browser}`] ?? 0) >= 5, JSON.stringify(pending));
    assert.ok((pending[`mistat:${r.profile.browser}`] ?? 0) >= 5, JSON.stringify(pending));
    if (openRule.send.includes('tracking'))
      assert.ok((pending[`tracking:${HOME}`] ?? 0) >= 1, JSON.stringify(pending));

    await installSystemCa(r);
    assert.ok(
      await waitUntil(
        () =>
          r.capture.of('sensors').length > 0 &&
          r.capture.of('mistat').length > 0 &&
          (!openRule.send.includes('tracking') || r.capture.of('tracking').length > 0) &&
          pendingTotal(r) === 0,
        ARRIVAL_MS,
      ),
      `the retried uploads arrive: ${JSON.stringify(hub.pending())}`,
    );
    await within(hub.idle(), ARRIVAL_MS, 'uploads in flight answered');
    await sleep(QUIET_MS);
    const events = sensorsSeen(r);
    assert.ok(events.includes(`page_load_event_start ${url}`), events.join('\n'));
    assert.ok(events.includes(`page_load_event_finish ${url}`), events.join('\n'));
    assert.ok(events.includes(`search ${word}`), events.join('\n'));
    if (openRule.send.includes('tracking'))
      assert.deepEqual(trackingSeen(r), [`${HOME} app_open ${r.profile.browser}`], 'tracking, retried');
    assert.deepEqual(r.capture.of('page'), [], 'pages are not re-fetched by the SDK');
    assert.equal(r.capture.of('ads').length, openRule.send.includes('ads') ? 1 : 0, 'the ad request once');
    assert.equal(pendingTotal(r), 0, 'the queue drained');
  });
});

// ------------------------------------------------------------------------------ no proxy

describe('Xiaomi behaviour: proxy cleared with :0 (redmi-note-8-leaky-rooted)', function () {
  this.timeout(20_000);
  let r: XiaomiRig;
  before(async () => {
    r = await xiaomiRig('redmi-note-8-leaky-rooted');
    await installSystemCa(r);
  });
  after(async () => {
    await r?.stop();
  });

  it('after UI actions nothing reaches the proxy; the sink refused every connection (logcat NetworkSink)', async () => {
    const tok = token();
    // The path works while the proxy is set.
    r.capture.pageHosts.add(`canary-${tok}.example.com`);
    await openBrowser(r);
    await addressBar(r, `https://canary-${tok}.example.com/before`, `Canary ${tok}`);
    await r.phone.key('HOME');
    assert.ok(
      await waitUntil(() => r.capture.of('sensors').length > 0, ARRIVAL_MS),
      'uploads with the proxy',
    );
    // Everything the first part queued (the browser's app_open too) is delivered before the switch.
    await drainTelemetry(r);

    await r.phone.sh('settings put global http_proxy :0');
    assert.equal((await r.phone.sh('settings get global http_proxy')).trim(), ':0');
    await r.phone.sh('logcat -c');
    r.capture.clear();
    await r.phone.sh('settings put secure upload_log_pref 1');
    await openBrowser(r);
    await r.phone.tap(await r.phone.waitNode(byId(bid(r, 'url')), 'address bar'));
    await r.phone.text(`https://canary-${tok}.example.com/after`);
    await r.phone.key('ENTER');
    await r.phone.waitNode(byId(bid(r, 'reload')), 'the error page (connection refused)');
    await r.phone.tap(await r.phone.waitNode(byId(bid(r, 'url')), 'address bar'));
    await r.phone.text(`canaryword${tok}`);
    await r.phone.key('ENTER');
    await r.phone.waitNode(byId(bid(r, 'reload')), 'the error page (connection refused)');
    await r.phone.key('HOME');
    await systemUi(r);
    await r.phone.key('HOME');
    await appOpen(r);
    await r.phone.key('HOME');
    await sleep(800);

    assert.deepEqual(r.capture.requests, [], 'nothing reached the proxy');
    assert.deepEqual(r.capture.tlsErrors, [], 'not even a CONNECT');
    const log = await r.phone.sh('logcat -d -s NetworkSink');
    for (const target of [
      `canary-${tok}.example.com:443`,
      'www.google.com:443',
      'sa.api.intl.miui.com:443',
      'data.mistat.intl.xiaomi.com:443',
      'tracking.intl.miui.com:443',
      'api.ad.intl.xiaomi.com:80',
    ])
      assert.match(
        log,
        new RegExp(`${target.replace(/\./g, '\\.')} \\(direct\\) refused`),
        `${target}\n${log}`,
      );
    assert.doesNotMatch(log, /handed to the sink/, 'nothing left the machine');
    assert.ok(pendingTotal(r) > 0, 'the SDKs keep the events to retry');
  });
});

// ------------------------------------------------------------------------------ UI

describe('Xiaomi UI through adb: uiautomator dump, input tap, screencap', function () {
  this.timeout(30_000);
  let lab: TestLab;
  before(async () => {
    lab = await startLab([...XIAOMI_PROFILES]);
  });
  after(async () => {
    await lab?.stop();
  });

  for (const [i, name] of XIAOMI_PROFILES.entries()) {
    it(`${name}: launcher, shade, Settings privacy and the browser: XML parses, clickables hit, PNG decodes`, async () => {
      const lp = lab.phones[i]!;
      const phone = new AdbPhone(lab.adb.port, lp.serial);
      const m = /Physical size: (\d+)x(\d+)/.exec(await phone.sh('wm size'));
      const d = { width: Number(m![1]), height: Number(m![2]) };
      const browser = lp.profile.browser;

      const screen = async (label: string): Promise<XmlNode> => {
        const root = await phone.dump();
        assert.deepEqual(
          root.bounds,
          { left: 0, top: 0, right: d.width, bottom: d.height },
          `${label}: root`,
        );
        checkClickables(root, `${name} ${label}`, d);
        const png = await phone.adb(['exec-out', 'screencap -p']);
        assert.equal(png.code, 0, png.stderr);
        const img = decodePng(png.stdout);
        assert.deepEqual([img.width, img.height], [d.width, d.height], `${label}: PNG size = display`);
        const first = img.pixels.subarray(0, img.channels);
        let varied = false;
        for (let p = 0; p < img.pixels.length && !varied; p += img.channels * 97)
          varied = !img.pixels.subarray(p, p + img.channels).equals(first);
        assert.ok(varied, `${label}: the PNG shows something`);
        return root;
      };
      const changed = async (before: string, what: string): Promise<void> => {
        const after = JSON.stringify(allNodes(await phone.dump()).map((n) => n.attrs));
        assert.notEqual(after, before, `${name}: tapping ${what} changed the screen`);
      };

      // Launcher: every icon and folder, tapped at its centre, opens what it shows.
      await phone.key('HOME');
      const home = await screen('launcher');
      const icons = allNodes(home).filter((n) =>
        [`${HOME}:id/icon_title`, `${HOME}:id/folder_icon`].includes(n.attrs['resource-id'] ?? ''),
      );
      assert.ok(icons.length >= 4);
      for (const icon of icons) {
        await phone.tap(icon);
        if (icon.attrs['resource-id'] === `${HOME}:id/folder_icon`) {
          const folder = await phone.waitNode(
            byIdText(`${HOME}:id/folder_title`, icon.attrs.text!),
            `${name}: folder ${icon.attrs.text}`,
          );
          assert.ok(folder);
          await screen(`folder ${icon.attrs.text}`);
          await phone.key('BACK');
        } else {
          assert.ok(
            await focusLeaves(phone, (f) => f !== '' && !f.startsWith(`${HOME}/`)),
            `${name}: ${describeNode(icon)} started an app`,
          );
          await phone.key('HOME');
        }
      }

      // Status bar: the shade; checkable tiles flip on tap and back.
      await phone.swipe(Math.round(d.width / 2), 5, Math.round(d.width / 2), Math.round(d.height * 0.6));
      await phone.waitNode(byId(`${SYSUI}:id/notification_panel`), 'shade');
      const shade = await screen('shade');
      for (const tile of allNodes(shade).filter((n) => isTrue(n, 'clickable') && isTrue(n, 'checkable'))) {
        const id = tile.attrs['resource-id']!;
        const was = isTrue(tile, 'checked');
        await phone.tap(tile);
        assert.equal(
          isTrue(byId(id)(await phone.dump())!, 'checked'),
          !was,
          `${name}: ${describeNode(tile)} flips`,
        );
        await phone.tap(tile);
        assert.equal(
          isTrue(byId(id)(await phone.dump())!, 'checked'),
          was,
          `${name}: ${describeNode(tile)} back`,
        );
      }
      await phone.key('BACK');

      // Settings > Passwords & security > Privacy: each switch row flips its Switch and its setting.
      await phone.sh(`am start -n ${SETTINGS}/.Settings`);
      await screen('settings');
      await phone.tap(await phone.waitNode(rowWithTitle('Passwords & security'), 'settings'));
      await phone.tap(await phone.waitNode(rowWithTitle('Privacy'), 'passwords & security'));
      // By id: the switch titles are per language (Chinese on the China ROM).
      const UEP_ID = `${SETTINGS}:id/user_experience_program`;
      await phone.waitNode(byId(UEP_ID), 'privacy');
      const privacy = await screen('privacy');
      const uepBefore = (await phone.sh('settings get secure upload_log_pref')).trim();
      for (const row of allNodes(privacy).filter(
        (n) => isTrue(n, 'clickable') && n.children.some((c) => c.attrs.class === 'android.widget.Switch'),
      )) {
        const title = row.children.find((c) => c.attrs['resource-id'] === 'android:id/title')!.attrs.text!;
        const was = switchState(row);
        await phone.tap(row);
        assert.equal(
          switchState(rowWithTitle(title)(await phone.dump())!),
          !was,
          `${name}: '${title}' flips`,
        );
        if (row.attrs['resource-id'] === UEP_ID)
          assert.equal((await phone.sh('settings get secure upload_log_pref')).trim(), was ? '0' : '1');
        await phone.tap(row);
        assert.equal(switchState(rowWithTitle(title)(await phone.dump())!), was, `${name}: '${title}' back`);
      }
      // Unset or -1 (OneTrack's "unset") shows the firmware default: off on these stable builds.
      const uepRow = (x: XmlNode): XmlNode | undefined => byId(UEP_ID)(x);
      for (const cmd of [
        'settings delete secure upload_log_pref',
        'settings put secure upload_log_pref -1',
      ]) {
        await phone.sh(cmd);
        assert.equal(switchState(uepRow(await phone.dump())!), false, `${name}: UEP after '${cmd}'`);
      }
      await phone.sh(
        uepBefore === 'null'
          ? 'settings delete secure upload_log_pref'
          : `settings put secure upload_log_pref ${uepBefore}`,
      );
      assert.equal(switchState(uepRow(await phone.dump())!), uepBefore === '1', `${name}: UEP restored`);
      assert.equal((await phone.sh('settings get secure upload_log_pref')).trim(), uepBefore);
      const adRow = rowWithTitle('Ad services')(privacy)!;
      let before = JSON.stringify(allNodes(privacy).map((n) => n.attrs));
      await phone.tap(adRow);
      await changed(before, 'Ad services');
      await screen('ad services');
      await phone.key('HOME');

      // Browser: the page, the menu, its settings.
      await phone.sh(`am start -n ${browser}/${BROWSER_ACTIVITY}`);
      await phone.waitNode(byId(`${browser}:id/url`), 'browser');
      const page = await screen('browser');
      before = JSON.stringify(allNodes(page).map((n) => n.attrs));
      await phone.tap(byId(`${browser}:id/toolbar_menu`)(page)!);
      await changed(before, 'Menu');
      const menu = await screen('browser menu');
      before = JSON.stringify(allNodes(menu).map((n) => n.attrs));
      await phone.tap(byId(`${browser}:id/menu_outside`)(menu)!);
      await changed(before, 'outside the menu');
      await phone.tap(byId(`${browser}:id/toolbar_tabs`)(await phone.dump())!);
      await phone.waitNode(byId(`${browser}:id/tab_switcher`), 'tab switcher');
      await screen('browser tabs');
      await phone.key('BACK');
      await phone.tap(byId(`${browser}:id/toolbar_menu`)(await phone.dump())!);
      await phone.tap(await phone.waitNode(byId(`${browser}:id/menu_settings`), 'menu'));
      const prefs = await phone.waitNode(byId(`${browser}:id/pref_incognito_mode`), 'browser settings');
      assert.ok(prefs);
      const bset = await screen('browser settings');
      for (const row of allNodes(bset).filter(
        (n) => isTrue(n, 'clickable') && n.children.some((c) => c.attrs.class === 'android.widget.Switch'),
      )) {
        const id = row.attrs['resource-id']!;
        const was = switchState(row);
        await phone.tap(row);
        assert.equal(switchState(byId(id)(await phone.dump())!), !was, `${name}: ${id} flips`);
        await phone.tap(byId(id)(await phone.dump())!);
        assert.equal(switchState(byId(id)(await phone.dump())!), was, `${name}: ${id} back`);
      }
      await phone.key('BACK');
      await phone.sh(`am force-stop ${browser}`);
      await phone.key('HOME');
    });
  }
});
