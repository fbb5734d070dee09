import assert from 'node:assert/strict';
import type { AppEvent } from '../../../../src/virtual/apps/events.ts';
import { BROWSER_PREF_INCOGNITO_DATA_COLLECTION } from '../../../../src/virtual/telemetry/index.ts';
import { browse, decodeAll, makeHub, T0, type Seen } from './helpers.ts';

const URL1 = 'https://example.org/page?q=1';
const WORD = 'privacy test';
const BROWSED = [`page_load_event_finish ${URL1}`, `page_load_event_start ${URL1}`, `search ${WORD}`];

type SystemName = 'app_open' | 'folder_open' | 'status_bar_pull' | 'settings_page_open';
const SYSTEM: Record<SystemName, { event: AppEvent; pkg: string }> = {
  // The launcher reports an app start (as MIUI's does); the app that opened is the property.
  app_open: {
    event: { source: 'system', name: 'app_open', properties: { package: 'com.android.settings' } },
    pkg: 'com.miui.home',
  },
  settings_page_open: {
    event: { source: 'system', name: 'settings_page_open', properties: { page: 'privacy' } },
    pkg: 'com.android.settings',
  },
  folder_open: {
    event: { source: 'system', name: 'folder_open', properties: { folder: 'Tools' } },
    pkg: 'com.miui.home',
  },
  status_bar_pull: {
    event: { source: 'system', name: 'status_bar_pull', properties: { expanded: true } },
    pkg: 'com.android.systemui',
  },
};

interface Case {
  row: number;
  title: string;
  /** secure upload_log_pref; null = deleted. */
  uep?: '0' | '1' | null;
  /** global personalized_ad_enabled. */
  ads?: string;
  /** The browser's incognito data-collection switch. */
  incognitoDataCollection?: boolean;
  incognito?: boolean;
  /** Browse (3 browser events) or these system events. */
  run: 'browse' | SystemName[];
  expect: Partial<Seen> & { adId?: boolean };
}

const SYSTEM_BASE = {
  tracking: [] as string[],
  sensors: [] as string[],
  mistat: 0,
};

const LEAKY: Case[] = [
  {
    row: 0,
    title: 'browser events are sent in incognito, with UEP off and the switch off',
    incognito: true,
    uep: '0',
    incognitoDataCollection: false,
    run: 'browse',
    expect: { sensors: BROWSED, mistat: 1, tracking: [], ads: [] },
  },
  {
    row: 1,
    title:
      'UEP off: an app start still sends the ad request, with the ad id although personalised ads are off',
    uep: '0',
    ads: '0',
    run: ['app_open'],
    expect: { ...SYSTEM_BASE, adId: true },
  },
  {
    row: 2,
    title: 'UEP on: an app start sends a tracking event and the ad request',
    uep: '1',
    run: ['app_open'],
    expect: { ...SYSTEM_BASE, tracking: ['com.miui.home app_open'], adId: true },
  },
  {
    row: 3,
    title: 'UEP off: system UI events are not sent',
    uep: '0',
    run: ['folder_open', 'status_bar_pull', 'settings_page_open'],
    expect: { ...SYSTEM_BASE, ads: [] },
  },
  {
    row: 4,
    title: 'UEP on: folders, status bar and settings pages go to tracking.intl.miui.com/track/spock',
    uep: '1',
    run: ['folder_open', 'status_bar_pull', 'settings_page_open'],
    expect: {
      ...SYSTEM_BASE,
      ads: [],
      tracking: [
        'com.android.settings settings_page_open',
        'com.android.systemui status_bar_pull',
        'com.miui.home folder_open',
      ],
      trackingUrls: Array(3).fill('https://tracking.intl.miui.com/track/spock'),
    },
  },
];

/** The fixed profile's system rows are the leaky ones shifted by one browser row. */
const shift = (cases: Case[], by: number): Case[] => cases.map((c) => ({ ...c, row: c.row + by }));

const FIXED: Case[] = [
  {
    row: 0,
    title: 'incognito with the data-collection switch off: no browser event leaves',
    incognito: true,
    incognitoDataCollection: false,
    run: 'browse',
    expect: { sensors: [], mistat: 0, tracking: [], ads: [] },
  },
  {
    row: 1,
    title: 'incognito with the switch on (the default): browser events are still sent',
    incognito: true,
    run: 'browse',
    expect: { sensors: BROWSED, mistat: 1 },
  },
  {
    row: 1,
    title: 'switch off but a normal tab: browser events are sent',
    incognito: false,
    incognitoDataCollection: false,
    uep: '0',
    run: 'browse',
    expect: { sensors: BROWSED, mistat: 1 },
  },
  ...shift(LEAKY.slice(1), 1),
];

const HYPER: Case[] = [
  FIXED[0]!,
  FIXED[1]!,
  {
    row: 2,
    title: 'UEP and personalised ads off: the ad request goes without the ad id, no tracking',
    uep: '0',
    ads: '2',
    run: ['app_open'],
    expect: { ...SYSTEM_BASE, adId: false },
  },
  {
    row: 3,
    title: 'UEP off, personalised ads on: the ad request carries the ad id, no tracking',
    uep: '0',
    ads: '3',
    run: ['app_open'],
    expect: { ...SYSTEM_BASE, adId: true },
  },
  {
    row: 4,
    title: 'UEP on, personalised ads off: tracking and an ad request without the ad id',
    uep: '1',
    ads: '0',
    run: ['app_open'],
    expect: { ...SYSTEM_BASE, tracking: ['com.miui.home app_open'], adId: false },
  },
  {
    row: 5,
    title: 'UEP on, personalised ads on: tracking and an ad request with the ad id',
    uep: '1',
    ads: '1',
    run: ['app_open'],
    expect: { ...SYSTEM_BASE, tracking: ['com.miui.home app_open'], adId: true },
  },
  {
    row: 6,
    title: 'UEP off: system UI events are not sent',
    uep: '0',
    run: ['folder_open', 'status_bar_pull'],
    expect: { ...SYSTEM_BASE, ads: [] },
  },
  {
    row: 6,
    title: 'UEP unset: the profile default (off on a stable build) applies',
    uep: null,
    run: ['folder_open'],
    expect: { ...SYSTEM_BASE, ads: [] },
  },
  {
    row: 7,
    title: 'UEP on: system UI events go to tracking',
    uep: '1',
    run: ['folder_open', 'status_bar_pull'],
    expect: {
      ...SYSTEM_BASE,
      ads: [],
      tracking: ['com.android.systemui status_bar_pull', 'com.miui.home folder_open'],
    },
  },
];

const CHINA: Case[] = [
  {
    row: 0,
    title: 'browser events: nothing modelled',
    run: 'browse',
    expect: { sensors: [], mistat: 0, tracking: [], ads: [], other: [] },
  },
  {
    row: 1,
    title: 'UEP off (the shipped opt-out): system apps report to tracking.miui.com/track/v4 anyway',
    uep: '0',
    ads: '0',
    run: ['app_open', 'settings_page_open', 'folder_open'],
    expect: {
      ...SYSTEM_BASE,
      ads: [],
      tracking: [
        'com.android.settings settings_page_open',
        'com.miui.home app_open',
        'com.miui.home folder_open',
      ],
      trackingUrls: ['https://tracking.miui.com/track/v4', 'https://tracking.miui.com/track/v4'],
    },
  },
  {
    row: 1,
    title: 'UEP on: the same uploads',
    uep: '1',
    run: ['status_bar_pull'],
    expect: { ...SYSTEM_BASE, ads: [], tracking: ['com.android.systemui status_bar_pull'] },
  },
];

const TABLES: Record<string, Case[]> = {
  'redmi-note-8-leaky': LEAKY,
  'redmi-note-8-leaky-rooted': LEAKY,
  'redmi-note-8-fixed-rooted': FIXED,
  'xiaomi-13-hyperos-rooted': HYPER,
  'redmi-note-11-china': CHINA,
};

describe('telemetry behaviour per profile', () => {
  for (const [name, cases] of Object.entries(TABLES)) {
    describe(name, () => {
      it('has a test for every row of its behaviour table', () => {
        const { profile } = makeHub(name);
        const rows = profile.telemetry?.rules.length ?? 0;
        assert.ok(rows > 0);
        assert.deepEqual(
          [...new Set(cases.map((c) => c.row))].sort((a, b) => a - b),
          [...Array(rows).keys()],
        );
      });

      for (const c of cases) {
        it(`row ${c.row}: ${c.title}`, async () => {
          const { hub, http, settings, prefs, profile } = makeHub(name);
          if (c.uep === null) settings.delete('secure', 'upload_log_pref');
          else if (c.uep !== undefined) settings.put('secure', 'upload_log_pref', c.uep);
          if (c.ads !== undefined) settings.put('global', 'personalized_ad_enabled', c.ads);
          if (c.incognitoDataCollection !== undefined)
            prefs.values.set(BROWSER_PREF_INCOGNITO_DATA_COLLECTION, c.incognitoDataCollection);
          const rules = profile.telemetry!.rules;
          if (c.run === 'browse') {
            const ev: AppEvent = { source: 'browser', name: 'search', properties: {} as never };
            const rule = hub.decide(ev, {
              package: profile.browser,
              incognito: c.incognito === true,
              time: T0,
            });
            assert.equal(rule && rules.indexOf(rule), c.row, 'the case exercises its row');
            browse(hub, profile.browser, c.incognito === true, URL1, WORD);
          } else {
            for (const n of c.run) {
              const { event, pkg } = SYSTEM[n];
              const rule = hub.decide(event, { package: pkg, time: T0 });
              assert.equal(rule && rules.indexOf(rule), c.row, `${n} exercises row ${c.row}`);
              hub.track(event, { package: pkg, time: T0 });
            }
          }
          await hub.flush();
          await hub.idle();
          const seen = decodeAll(http.requests);
          const { adId, ...exact } = c.expect;
          for (const [k, v] of Object.entries(exact)) {
            assert.deepEqual(seen[k as keyof Seen], v, `${k}: ${JSON.stringify(seen)}`);
          }
          if (adId !== undefined) {
            assert.equal(seen.ads.length, 1, 'one ad request');
            assert.deepEqual(seen.adsFor, [['com.android.settings']], 'for the app that opened');
            if (adId) assert.match(seen.ads[0] ?? '', /^[0-9a-f-]{36}$/);
            else assert.equal(seen.ads[0], null);
          }
          if (c.run === 'browse' && seen.sensors.length > 0) {
            for (const h of seen.sensorsHosts)
              assert.equal(h, 'sa.api.intl.miui.com/sa?project=global_browser&r=GB');
          }
          assert.deepEqual(seen.other, []);
          hub.stop();
        });
      }
    });
  }

  it('signed in: the Mi account becomes the Sensors distinct_id and the uuid never changes', async () => {
    const a = makeHub('redmi-note-8-leaky', { account: '6123456789' });
    browse(a.hub, 'com.mi.globalbrowser', false, URL1, WORD);
    await a.hub.flush();
    const b = makeHub('redmi-note-8-leaky');
    browse(b.hub, 'com.mi.globalbrowser', false, URL1, WORD);
    await b.hub.flush();
    const { decodeSensorsBody } = await import('../../../../src/virtual/telemetry/index.ts');
    const ea = decodeSensorsBody(a.http.requests.find((r) => r.url.includes('sa.api'))!.body!).events[0]!;
    const eb = decodeSensorsBody(b.http.requests.find((r) => r.url.includes('sa.api'))!.body!).events[0]!;
    assert.equal(ea.distinct_id, '6123456789');
    assert.equal(
      (ea.properties as Record<string, unknown>).uuid,
      (eb.properties as Record<string, unknown>).uuid,
    );
    assert.equal(eb.distinct_id, (eb.properties as Record<string, unknown>).uuid);
    a.hub.stop();
    b.hub.stop();
  });
});

describe('telemetry: what the hub reads', () => {
  it('the splash ad is for the app that opened, with its installed version, whoever reported it', async () => {
    const versions = new Map([['com.android.settings', { versionName: '99.0-updated' }]]);
    const { hub, http } = makeHub('redmi-note-8-leaky', { packages: versions });
    hub.track(
      { source: 'system', name: 'app_open', properties: { package: 'com.android.settings' } },
      { package: 'com.miui.home', time: T0 },
    );
    await hub.idle();
    const { decodeSplashAdRequest } = await import('../../../../src/virtual/telemetry/index.ts');
    const ad = decodeSplashAdRequest(http.requests.find((r) => r.url.includes('getSplashScreenAds'))!.body!);
    assert.deepEqual(ad.appInfo, { packageName: ['com.android.settings'], version: ['99.0-updated'] });
    hub.stop();
  });

  it('Sensors $app_version follows the package manager (a pm install of a new browser version)', async () => {
    const versions = new Map([['com.mi.globalbrowser', { versionName: '12.1.5' }]]);
    const { hub, http } = makeHub('redmi-note-8-leaky', { packages: versions });
    browse(hub, 'com.mi.globalbrowser', false, URL1, WORD);
    await hub.flush();
    const { decodeSensorsBody } = await import('../../../../src/virtual/telemetry/index.ts');
    const e = decodeSensorsBody(http.requests.find((r) => r.url.includes('sa.api'))!.body!).events[0]!;
    assert.equal((e.properties as Record<string, unknown>).$app_version, '12.1.5');
    hub.stop();
  });

  it('the browser switch counts only where the profile says the browser has it', () => {
    const incognito = { incognito: true };
    // 12.1.3: no switch; a stray pref value is ignored and the default applies.
    const leaky = makeHub('redmi-note-8-leaky');
    leaky.prefs.values.set(BROWSER_PREF_INCOGNITO_DATA_COLLECTION, false);
    assert.equal(leaky.hub.toggles(incognito).incognitoDataCollection, true);
    // 12.1.4: the switch decides; unset → the default.
    const fixed = makeHub('redmi-note-8-fixed-rooted');
    assert.equal(fixed.hub.toggles(incognito).incognitoDataCollection, true);
    fixed.prefs.values.set(BROWSER_PREF_INCOGNITO_DATA_COLLECTION, false);
    assert.equal(fixed.hub.toggles(incognito).incognitoDataCollection, false);
    leaky.hub.stop();
    fixed.hub.stop();
  });

  it('reads the privacy settings as the Settings screen does: only "1" is on; unset and -1 take the default', () => {
    const { hub, settings, profile } = makeHub('redmi-note-8-leaky');
    assert.equal(profile.telemetry?.defaults.uep, false, 'stable build: unset reads as off');
    const uep = (v: string | null): boolean => {
      if (v === null) settings.delete('secure', 'upload_log_pref');
      else settings.put('secure', 'upload_log_pref', v);
      return hub.toggles().uep;
    };
    assert.deepEqual(['1', '0', '2', '-1', '', null, ' 1 '].map(uep), [
      true,
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
    settings.put('secure', 'upload_log_pref', '1');
    settings.delete('secure', 'upload_debug_log_pref');
    assert.equal(hub.toggles().diagnostics, true, 'diagnostics unset → the UEP value');
    settings.put('secure', 'upload_debug_log_pref', '-1');
    assert.equal(hub.toggles().diagnostics, true, 'diagnostics -1 → the UEP value');
    settings.put('secure', 'upload_debug_log_pref', '2');
    assert.equal(hub.toggles().diagnostics, false);
    const ads = (v: string | null): boolean => {
      if (v === null) settings.delete('global', 'personalized_ad_enabled');
      else settings.put('global', 'personalized_ad_enabled', v);
      return hub.toggles().personalizedAds;
    };
    assert.deepEqual(['1', '3', '2', '0', null, 'x'].map(ads), [true, true, false, false, true, true]);
    hub.stop();
  });
});
