/**
 * Issue 11 §1 in units: the closest elements of a miss, LocatorMissError, locator overrides (schema,
 * matching, applying, the file beside devices.json), ranked locator suggestions, and the page objects'
 * find with overrides, the "matched" log and the interstitials hook, over the real ADB-only driver on
 * a scripted device.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdbUiDriver } from '../../../src/ui/adb/driver.ts';
import { UiError, type UiDriver } from '../../../src/ui/driver.ts';
import { evaluateKey, queryNodes, suggestLocators, xpathOf } from '../../../src/ui/locate.ts';
import { LocatorMissError, closestNodes, editDistance, similarity } from '../../../src/ui/miss.ts';
import { Page, type PageOptions } from '../../../src/ui/pages/common.ts';
import { loadLocators, type LocatorData } from '../../../src/ui/pages/locators.ts';
import {
  LocatorOverridesError,
  applyOverrides,
  matchHolds,
  overridesFileFor,
  validateOverrides,
  versionMatches,
  type PhoneFacts,
} from '../../../src/ui/pages/overrides.ts';
import { parseHierarchy, type XmlNode } from '../../../src/ui/xml.ts';
import { FakeDevice, dumpOf, type N } from './fakes.ts';

const B = 'com.mi.globalbrowser';

/** A browser-like screen whose address bar has a renamed id (url_field, inside top_bar). */
const renamed: N = {
  cls: 'android.widget.FrameLayout',
  bounds: [0, 0, 1080, 2340],
  kids: [
    {
      cls: 'android.widget.FrameLayout',
      id: `${B}:id/top_bar`,
      bounds: [0, 77, 1080, 231],
      kids: [
        {
          cls: 'android.widget.EditText',
          id: `${B}:id/url_field`,
          text: 'Search or type URL',
          bounds: [33, 99, 1047, 209],
        },
      ],
    },
    {
      cls: 'android.widget.ImageView',
      id: `${B}:id/toolbar_menu`,
      desc: 'Menu',
      bounds: [900, 2200, 1000, 2300],
    },
    { cls: 'android.widget.TextView', text: 'News', bounds: [0, 300, 500, 400] },
    { cls: 'android.widget.TextView', text: 'News', bounds: [0, 400, 500, 500] },
  ],
};

const rootOf = (n: N): XmlNode => parseHierarchy(dumpOf(n).replace(/^UI hierchary dumped to: \S+\n/, ''));

const facts = (over: Partial<PhoneFacts> = {}): PhoneFacts => ({
  model: 'Redmi Note 8',
  os: 'MIUI',
  osVersion: '12.5',
  packages: { [B]: '12.1.4' },
  ...over,
});

describe('closest elements and LocatorMissError', () => {
  it('edit distance and similarity', () => {
    assert.equal(editDistance('url', 'url_bar'), 4);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(similarity('abc', 'abc'), 1);
    assert.equal(similarity('', ''), 1);
  });

  it('ranks the renamed id above the container and unrelated nodes, and leaves out nodes with nothing in common', () => {
    const root = rootOf(renamed);
    const candidates = [
      { id: `${B}:id/url` },
      { id: `${B}:id/url_bar` },
      { class: 'android.widget.EditText', within: { id: `${B}:id/title_bar` } },
    ];
    const closest = closestNodes(root, candidates);
    assert.equal(closest[0]!.id, `${B}:id/url_field`, JSON.stringify(closest));
    assert.ok(!closest.some((c) => c.text === 'News'), 'the News rows resemble no candidate');
  });

  it('an id in another package counts as close (same part after :id/), a text ignoring case too', () => {
    const root = rootOf({
      bounds: [0, 0, 100, 100],
      kids: [
        { id: 'com.android.browser:id/url', bounds: [0, 0, 10, 10] },
        { text: 'SETTINGS', bounds: [0, 10, 10, 20] },
        { text: 'Something else', bounds: [0, 20, 10, 30] },
      ],
    });
    const byId = closestNodes(root, [{ id: `${B}:id/url` }]);
    assert.equal(byId[0]!.id, 'com.android.browser:id/url');
    const byText = closestNodes(root, [{ text: 'Settings' }]);
    assert.equal(byText[0]!.text, 'SETTINGS');
  });

  it('names the key, every candidate (with its override file) and the closest elements; withKey keeps them', () => {
    const root = rootOf(renamed);
    const driverMiss = new LocatorMissError({
      serial: 'S1',
      operation: 'find',
      problem: 'found nothing within 50 ms',
      candidates: [{ id: `${B}:id/url` }, { id: `${B}:id/url_bar` }],
      root,
    });
    assert.match(
      driverMiss.message,
      /^phone S1: find \[id=com.mi.globalbrowser:id\/url\] or \[id=.*url_bar\] found nothing/,
    );
    const e = driverMiss.withKey('browser.addressBar', ['over.json', undefined]);
    assert.ok(e instanceof UiError);
    assert.equal(e.key, 'browser.addressBar');
    assert.match(e.message, /find locator browser\.addressBar found nothing within 50 ms/);
    assert.match(
      e.message,
      /\[0\] id=com\.mi\.globalbrowser:id\/url \(override over\.json\); \[1\] id=com\.mi\.globalbrowser:id\/url_bar\./,
    );
    assert.match(
      e.message,
      /Closest on screen \(\d+ nodes\): id=com\.mi\.globalbrowser:id\/url_field text="Search or type URL"/,
    );
    assert.match(e.message, /phonehome ui locate browser\.addressBar --device S1/);
    assert.deepEqual(e.closest, driverMiss.closest);
  });

  it('says so when the screen could not be read', () => {
    const e = new LocatorMissError({
      serial: 'S',
      key: 'k',
      operation: 'find',
      problem: 'x',
      candidates: [{ id: 'a' }],
    });
    assert.match(e.message, /The screen could not be read/);
  });
});

describe('locator overrides', () => {
  const base = loadLocators();
  const entry = (match: object, mode = 'prepend', key = 'browser.addressBar') => ({
    overrides: [
      { match, locators: { [key]: { mode, locators: [{ id: '{browser}:id/url_field' }], source: 'test' } } },
    ],
  });

  it('validates with errors naming the file and the field', () => {
    assert.throws(
      () => validateOverrides({ overrides: [{ match: { os: 'MIUX' }, locators: {} }] }, 'o.json', base),
      (e: Error) =>
        e instanceof LocatorOverridesError && /^o\.json: overrides\[0\]\.match\.os: /.test(e.message),
    );
    assert.throws(
      () => validateOverrides(entry({ appVersion: '12' }), 'o.json', base),
      /o\.json: overrides\[0\]\.match\.appVersion: appVersion needs package/,
    );
    assert.throws(
      () => validateOverrides(entry({}, 'append'), 'o.json', base),
      /overrides\[0\]\.locators\["browser\.addressBar"\]\.mode/,
    );
    assert.throws(
      () => validateOverrides(entry({}, 'prepend', 'browser.adressBar'), 'o.json', base),
      /overrides\[0\]\.locators\["browser\.adressBar"\]: no such key in .*locators\.json \(known: browser\.addressBar/,
    );
    assert.throws(
      () =>
        validateOverrides(
          {
            overrides: [
              {
                match: {},
                locators: {
                  'browser.addressBar': { mode: 'prepend', locators: [{ within: { id: 'x' } }], source: 's' },
                },
              },
            ],
          },
          'o.json',
          base,
        ),
      /locators\[0\]: a locator needs at least one of id/,
    );
  });

  it('matches model (ignoring case or glob), os, version prefixes on dot boundaries and globs, installed package', () => {
    assert.ok(versionMatches('12', '12.5'));
    assert.ok(versionMatches('12.5', '12.5'));
    assert.ok(!versionMatches('1', '12.5'));
    assert.ok(versionMatches('12.*', '12.1.4'));
    assert.ok(!versionMatches('13*', '12.1.4'));
    assert.ok(!versionMatches('12', undefined));
    assert.ok(matchHolds({ model: 'redmi note 8' }, facts()));
    assert.ok(matchHolds({ model: 'Redmi*' }, facts()));
    assert.ok(!matchHolds({ model: 'Redmi Note 9' }, facts()));
    assert.ok(!matchHolds({ os: 'HyperOS' }, facts()));
    assert.ok(matchHolds({ os: 'MIUI', osVersion: '12' }, facts()));
    assert.ok(matchHolds({ package: B, appVersion: '12.1' }, facts()));
    assert.ok(!matchHolds({ package: B, appVersion: '12.2' }, facts()));
    assert.ok(!matchHolds({ package: 'com.android.browser' }, facts()));
  });

  it('prepends or replaces candidates only where every match field holds, recording origins', () => {
    const o = validateOverrides(entry({ model: 'Redmi Note 8', package: B }), 'o.json', base);
    const { data, applied } = applyOverrides(base, o, facts());
    assert.deepEqual(applied, ['overrides[0] prepend browser.addressBar']);
    const e = data.locators['browser.addressBar']!;
    assert.deepEqual(e.locators[0], { id: '{browser}:id/url_field' });
    assert.equal(e.locators.length, base.locators['browser.addressBar']!.locators.length + 1);
    assert.deepEqual(e.origins?.slice(0, 2), ['o.json', undefined]);
    assert.equal(base.locators['browser.addressBar']!.origins, undefined, 'the shipped data is not changed');

    const none = applyOverrides(base, o, facts({ model: 'Xiaomi 13' }));
    assert.equal(none.data, base);
    assert.deepEqual(none.applied, []);

    const r = applyOverrides(base, validateOverrides(entry({}, 'replace'), 'r.json', base), facts());
    assert.deepEqual(r.data.locators['browser.addressBar']!.locators, [{ id: '{browser}:id/url_field' }]);
    assert.deepEqual(r.data.locators['browser.addressBar']!.origins, ['r.json']);
  });

  it('finds the file named by devices.json, else locator-overrides.json beside it; a named missing file is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-overrides-'));
    try {
      const devices = join(dir, 'devices.json');
      writeFileSync(devices, JSON.stringify({ phones: [] }));
      assert.equal(overridesFileFor(devices), undefined);
      writeFileSync(join(dir, 'locator-overrides.json'), '{"overrides": []}');
      assert.equal(overridesFileFor(devices), join(dir, 'locator-overrides.json'));
      writeFileSync(devices, JSON.stringify({ phones: [], locatorOverrides: 'lab/o.json' }));
      assert.throws(
        () => overridesFileFor(devices),
        /lab\/o\.json: no such file \(named by .*devices\.json locatorOverrides\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ui locate: suggestions and key evaluation', () => {
  it('ranks unique resource-id first, then desc/text, id+text, within, and the XPath last', () => {
    const root = rootOf(renamed);
    const field = queryNodes(root, { id: 'url_field' });
    assert.ok(field.exact);
    const s = suggestLocators(root, field.nodes[0]!);
    assert.deepEqual(
      s.map((x) => x.kind),
      ['resource-id', 'text', 'id+text', 'within', 'xpath'],
    );
    assert.ok(s.slice(0, 4).every((x) => x.unique));
    assert.deepEqual(s[3]!.locator, {
      class: 'android.widget.EditText',
      text: 'Search or type URL',
      within: { id: `${B}:id/top_bar` },
    });
    assert.equal(s[4]!.xpath, xpathOf(field.nodes[0]!));
    assert.match(s[4]!.xpath, /^\/hierarchy\/node\/node\[1\]\/node$/);
  });

  it('puts a text shared by two rows after the unique locators', () => {
    const root = rootOf(renamed);
    const news = queryNodes(root, { text: 'News' }).nodes;
    assert.equal(news.length, 2);
    const s = suggestLocators(root, news[1]!);
    const text = s.find((x) => x.kind === 'text')!;
    assert.equal(text.unique, false);
    assert.equal(text.count, 2);
  });

  it('falls back to a case-insensitive substring when nothing matches exactly', () => {
    const r = queryNodes(rootOf(renamed), { text: 'search or' });
    assert.equal(r.exact, false);
    assert.equal(r.nodes.length, 1);
  });

  it('evaluates a key: match (with the override origin), miss, or the placeholders it needs', () => {
    const root = rootOf(renamed);
    const base = loadLocators();
    assert.equal(evaluateKey(root, base, 'browser.addressBar', { browser: B }).status, 'miss');
    const o = validateOverrides(
      {
        overrides: [
          {
            match: {},
            locators: {
              'browser.addressBar': {
                mode: 'prepend',
                locators: [{ id: '{browser}:id/url_field' }],
                source: 't',
              },
            },
          },
        ],
      },
      'o.json',
      base,
    );
    const hit = evaluateKey(root, applyOverrides(base, o, facts()).data, 'browser.addressBar', {
      browser: B,
    });
    assert.equal(hit.status, 'match');
    assert.equal(hit.status === 'match' && hit.origin, 'o.json');
    const needs = evaluateKey(root, base, 'browser.page', { browser: B });
    assert.deepEqual(needs, { key: 'browser.page', status: 'needs', needs: ['title'] });
  });
});

/** A page exposing Page.find and waitForState for the tests. */
class TestPage extends Page {
  protected override vars(): Record<string, string> {
    return { browser: B };
  }
  findKey(key: string) {
    return this.find(key);
  }
  waitChecked(key: string) {
    return this.waitForState(this.t(key), (el) => el.checked, `${key} checked`, key);
  }
}

describe('Page.find: overrides first, the matched log, the interstitials hook, misses naming the key', () => {
  let device: FakeDevice;
  let ui: UiDriver;
  let lines: string[];
  let data: LocatorData;
  const dialog: N = {
    bounds: [0, 0, 1080, 2340],
    kids: [
      { id: 'android:id/alertTitle', text: 'Welcome', bounds: [100, 800, 980, 900] },
      { id: 'android:id/button1', text: 'Agree', bounds: [100, 1200, 980, 1300] },
    ],
  };
  const page = (opts: PageOptions = {}) =>
    new TestPage(ui, { locators: data, log: (l) => lines.push(l), ...opts });

  beforeEach(() => {
    device = new FakeDevice();
    ui = new AdbUiDriver(device, { timeoutMs: 60, pollMs: 5 });
    lines = [];
    const base = loadLocators();
    data = applyOverrides(
      base,
      validateOverrides(
        {
          overrides: [
            {
              match: {},
              locators: {
                'browser.addressBar': {
                  mode: 'prepend',
                  locators: [{ id: '{browser}:id/url_field' }],
                  source: 't',
                },
              },
            },
          ],
        },
        'over.json',
        base,
      ),
      facts(),
    ).data;
  });

  it('tries the override candidate first and logs which candidate matched and where it came from', async () => {
    device.dumps = [{ stdout: dumpOf(renamed) }];
    const el = await page().findKey('browser.addressBar');
    assert.equal(el.resourceId, `${B}:id/url_field`);
    assert.deepEqual(lines, [
      `locator browser.addressBar matched [0] id=${B}:id/url_field (override over.json)`,
    ]);
  });

  it('a miss asks the hook once; a dismissed dialog gets one more find with the full time limit', async () => {
    device.dumps = [{ stdout: dumpOf(dialog) }];
    let calls = 0;
    const p = page({
      interstitials: async (_ui, log) => {
        calls++;
        log('dismissed "Welcome" with "Agree"');
        device.dumps = [{ stdout: dumpOf(renamed) }];
        return true;
      },
    });
    const el = await p.findKey('browser.addressBar');
    assert.equal(el.resourceId, `${B}:id/url_field`);
    assert.equal(calls, 1);
    assert.equal(lines[0], 'dismissed "Welcome" with "Agree"');
  });

  it('lets the hook’s error (an unknown dialog) through', async () => {
    device.dumps = [{ stdout: dumpOf(dialog) }];
    await assert.rejects(
      page({
        interstitials: async () => {
          throw new Error('unknown dialog "Welcome" [Agree]');
        },
      }).findKey('browser.addressBar'),
      /unknown dialog "Welcome" \[Agree\]/,
    );
  });

  it('a final miss is a LocatorMissError with the key, every candidate with its origin, and the closest elements', async () => {
    device.dumps = [{ stdout: dumpOf(dialog) }];
    let calls = 0;
    const err = await page({
      interstitials: async () => {
        calls++;
        return false;
      },
    })
      .findKey('browser.addressBar')
      .then(
        () => assert.fail('found'),
        (e: unknown) => e,
      );
    assert.equal(calls, 1);
    assert.ok(err instanceof LocatorMissError, String(err));
    assert.equal(err.key, 'browser.addressBar');
    assert.equal(err.candidates.length, loadLocators().locators['browser.addressBar']!.locators.length + 1);
    assert.match(
      err.message,
      /\[0\] id=com\.mi\.globalbrowser:id\/url_field \(override over\.json\); \[1\] id=com\.mi\.globalbrowser:id\/url;/,
    );
  });

  it('waitForState: a state never reached names the key and what was found', async () => {
    device.dumps = [
      {
        stdout: dumpOf({
          bounds: [0, 0, 100, 100],
          kids: [{ id: 'android:id/switch_widget', checked: false, bounds: [0, 0, 10, 10] }],
        }),
      },
    ];
    await assert.rejects(page().waitChecked('widget.switch'), (e: unknown) => {
      assert.ok(e instanceof LocatorMissError);
      assert.equal(e.key, 'widget.switch');
      assert.match(
        e.message,
        /wait for widget\.switch checked: locator widget\.switch not reached within 60 ms \(found id=android:id\/switch_widget, state unchecked\)/,
      );
      assert.match(e.message, /Closest on screen/);
      return true;
    });
  });
});
