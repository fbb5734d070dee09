import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CatalogueError,
  DEFAULT_CATALOGUE_FILE,
  loadCatalogue,
  matchTracker,
  parseCatalogue,
} from '../../../src/detect/index.ts';

const id = (host: string, path: string): string | null => matchTracker(host, path)?.id ?? null;

/** A minimal valid entry. */
const base = { id: 'ok', vendor: 'V', category: 'ads', decoder: null, hosts: ['a.example.com'], source: 's' };

describe('detect: tracker catalogue', () => {
  it('loads the shipped file once and names it', () => {
    const c = loadCatalogue();
    assert.equal(c.file, DEFAULT_CATALOGUE_FILE);
    assert.ok(c.entries.length >= 15);
    assert.equal(loadCatalogue(), c, 'the default catalogue is cached');
    for (const e of c.entries) assert.ok(e.source.length > 10, `${e.id} cites its source`);
  });

  it('matches the MIUI analytics family, host+path before host-only, longest path first', () => {
    for (const host of [
      'tracking.miui.com',
      'tracking.intl.miui.com',
      'tracking.india.miui.com',
      'tracking.rus.miui.com',
      'fcanr.tracking.miui.com',
      'mitv.tracking.intl.miui.com',
    ]) {
      assert.equal(id(host, '/track/v1'), 'miui-analytics', host);
      assert.equal(id(host, '/track/spock'), 'miui-analytics', host);
      assert.equal(id(host, '/something/else'), 'miui-tracking-host', host);
    }
    assert.equal(id('tracking.miui.com', '/track/v4'), 'miui-analytics');
    assert.equal(id('tracking.miui.com', '/track/v4/o'), 'miui-onetrack');
    assert.equal(id('tracking.miui.com', '/track/v4/o?app_id=1'), 'miui-onetrack');
    // Segment boundary: /track/v40 is not /track/v4.
    assert.equal(id('tracking.miui.com', '/track/v40'), 'miui-tracking-host');
    const info = matchTracker('tracking.intl.miui.com', '/track/spock');
    assert.deepEqual(
      { ...info, source: undefined },
      {
        id: 'miui-analytics',
        vendor: 'Xiaomi',
        category: 'analytics',
        decoder: 'miui-envelope',
        host: 'tracking.intl.miui.com',
        path: '/track/spock',
        source: undefined,
      },
    );
    assert.equal(matchTracker('tracking.intl.miui.com', '/x')?.path, null);
  });

  it('matches MiStat uploads, key exchange, config and A/B hosts', () => {
    for (const region of ['', 'intl.', 'india.', 'rus.']) {
      const host = `data.mistat.${region}xiaomi.com`;
      assert.equal(id(host, '/mistats/v3'), 'mistat-upload', host);
      assert.equal(id(host, '/key_get'), 'mistat-key', host);
      assert.equal(id(host, '/get_all_config?region=INTL'), 'mistat-config', host);
      assert.equal(id(host, '/micrash'), 'mistat-host', host);
    }
    assert.equal(matchTracker('data.mistat.intl.xiaomi.com', '/mistats/v3')?.decoder, 'mistat');
    assert.equal(id('abtest.mistat.xiaomi.com', '/experiments'), 'mistat-abtest');
    assert.equal(id('abtest.mistat.intl.xiaomi.com', '/'), 'mistat-abtest');
  });

  it('matches the Xiaomi ad hosts', () => {
    assert.equal(id('api.ad.intl.xiaomi.com', '/getSplashScreenAds'), 'xiaomi-splash-ads');
    assert.equal(id('api.ad.intl.xiaomi.com', '/other'), 'xiaomi-ads');
    for (const host of [
      'api.ad.xiaomi.com',
      'globalapi.ad.xiaomi.com',
      'zeus.ad.xiaomi.com',
      'zeus.ad.intl.xiaomi.com',
    ])
      assert.equal(id(host, '/'), 'xiaomi-ads', host);
    for (const host of [
      'sdkconfig.ad.xiaomi.com',
      'sdkconfig.ad.intl.xiaomi.com',
      'sdkconfig.ad.india.xiaomi.com',
    ])
      assert.equal(id(host, '/'), 'xiaomi-ads-config', host);
    for (const host of ['log.ad.xiaomi.com', 'track.ad.xiaomi.com', 'diagnosis.ad.intl.xiaomi.com'])
      assert.equal(id(host, '/'), 'xiaomi-ads-tracking', host);
    assert.equal(matchTracker('log.ad.xiaomi.com', '/')?.category, 'ads');
  });

  it('matches Sensors collectors, security-app and location hosts', () => {
    assert.equal(id('sa.api.intl.miui.com', '/sa?project=global_browser_mini&r=GB'), 'miui-sensors');
    assert.equal(id('sa.api.intl.miui.com', '/sa.gif'), 'miui-sensors');
    assert.equal(id('sa.api.intl.miui.com', '/debug'), 'miui-sensors');
    assert.equal(id('sa.api.intl.miui.com', '/other'), 'miui-sensors-host');
    assert.equal(id('sensorsdata.cn', '/sa.gif'), 'sensorsdata-cloud');
    assert.equal(id('static.sensorsdata.cn', '/sa.gif'), 'sensorsdata-cloud');
    assert.equal(
      id('static.sensorsdata.cn', '/index.html'),
      null,
      'path-only entry: other paths do not match',
    );
    assert.equal(id('notsensorsdata.cn', '/sa.gif'), null, 'a wildcard needs a label boundary');
    assert.equal(id('api.sec.intl.miui.com', '/'), 'miui-security-cloud');
    assert.equal(id('adv.sec.intl.miui.com', '/'), 'miui-security-ads');
    assert.equal(id('mqs-log.miui.com', '/'), 'miui-logging');
    assert.equal(matchTracker('apilocate.amap.com', '/mobile/binary')?.category, 'location');
  });

  it('ignores case, a port and a trailing dot; unknown hosts give null', () => {
    assert.equal(id('Tracking.Intl.MIUI.com:443', '/track/v1'), 'miui-analytics');
    assert.equal(id('tracking.intl.miui.com.', '/track/v1'), 'miui-analytics');
    assert.equal(id('example.com', '/sa'), null);
    assert.equal(id('[::1]:8080', '/sa'), null);
  });

  it('ranks an exact host over a wildcard, and a longer wildcard over a shorter one', () => {
    const c = parseCatalogue(
      {
        trackers: [
          { id: 'wide', vendor: 'V', category: 'ads', decoder: null, hosts: ['*.example.com'], source: 's' },
          {
            id: 'narrow',
            vendor: 'V',
            category: 'ads',
            decoder: null,
            hosts: ['*.a.example.com'],
            source: 's',
          },
          {
            id: 'exact',
            vendor: 'V',
            category: 'ads',
            decoder: null,
            hosts: ['x.a.example.com'],
            source: 's',
          },
          {
            id: 'path',
            vendor: 'V',
            category: 'analytics',
            decoder: 'json',
            hosts: ['*.example.com'],
            paths: ['/t'],
            source: 's',
          },
        ],
      },
      'mem.json',
    );
    assert.equal(matchTracker('x.a.example.com', '/', c)?.id, 'exact');
    assert.equal(matchTracker('y.a.example.com', '/', c)?.id, 'narrow');
    assert.equal(matchTracker('b.example.com', '/', c)?.id, 'wide');
    // One meaning of `*.suffix` everywhere (src/util/hosts.ts): the suffix itself is covered too.
    assert.equal(matchTracker('example.com', '/', c)?.id, 'wide', '*.suffix covers the suffix itself');
    assert.equal(matchTracker('notexample.com', '/', c), null, 'but not a name that merely ends with it');
    assert.equal(
      matchTracker('x.a.example.com', '/t/1', c)?.id,
      'path',
      'host+path beats an exact host-only rule',
    );
  });

  describe('validation', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'phonehome-detect-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const good = {
      id: 'ok',
      vendor: 'V',
      category: 'ads',
      decoder: null,
      hosts: ['a.example.com'],
      source: 's',
    };

    function loadBad(name: string, content: unknown): CatalogueError {
      const file = join(dir, name);
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      try {
        loadCatalogue(file);
      } catch (e) {
        assert.ok(e instanceof CatalogueError, String(e));
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        return e;
      }
      assert.fail(`${name} was accepted`);
    }

    it('reads a named file on every call', () => {
      const file = join(dir, 'named.json');
      writeFileSync(file, JSON.stringify({ trackers: [good] }));
      assert.equal(loadCatalogue(file).entries[0]?.id, 'ok');
      writeFileSync(file, JSON.stringify({ trackers: [{ ...good, id: 'changed' }] }));
      assert.equal(loadCatalogue(file).entries[0]?.id, 'changed');
    });

    it('rejects unreadable files and bad JSON', () => {
      assert.throws(() => loadCatalogue(join(dir, 'missing.json')), /missing\.json: cannot read/);
      assert.match(loadBad('syntax.json', '{"trackers": [').message, /invalid JSON/);
      assert.match(loadBad('shape.json', []).message, /"trackers" array/);
      assert.match(loadBad('shape2.json', { trackers: {} }).message, /field "trackers" must be an array/);
    });

    it('names the entry index and the field, and says how to fix it', () => {
      const cases: Array<[unknown, RegExp]> = [
        [
          { ...good, category: 'analytic' },
          /trackers\[1\] \(id "ok"\): field "category" must be one of analytics, ads/,
        ],
        [{ ...good, id: 'Bad Id' }, /trackers\[1\] \(id "Bad Id"\): field "id" is required: lower-case/],
        [{ ...good, id: undefined }, /trackers\[1\]: field "id" is required/],
        [
          { ...good, vendor: '' },
          /trackers\[1\] \(id "ok"\): field "vendor" is required: a non-empty string; got ""/,
        ],
        [{ ...good, source: undefined }, /field "source" is required/],
        [
          { ...good, decoder: 'protobuf' },
          /field "decoder" must be null or one of sensors, miui-envelope, mistat, json/,
        ],
        [{ ...good, hosts: ['Bad Host'] }, /field "hosts\[0\]" must be lower-case host names/],
        [{ ...good, hosts: [] }, /field "hosts" must be a non-empty array/],
        [{ ...good, paths: ['track'] }, /field "paths\[0\]" must be path prefixes starting with "\/"/],
        [{ ...good, hosts: undefined }, /needs field "hosts" \(host patterns\) or "layers"/],
        [
          { ...good, layers: ['json'] },
          /field "layers\[0\]" must be layer kinds \(sensors, miui-envelope, mistat\)/,
        ],
        [{ ...good, path: '/x' }, /unknown field "path"; allowed fields: id, vendor/],
        ['not an object', /trackers\[1\]: must be an object/],
      ];
      for (const [entry, re] of cases) {
        const e = loadBad('entry.json', { trackers: [{ ...good, id: 'first' }, entry] });
        assert.match(e.message, re);
      }
    });

    it('rejects duplicate ids and a host+path claimed twice', () => {
      const dup = loadBad('dup.json', { trackers: [good, { ...good, hosts: ['b.example.com'] }] });
      assert.match(dup.message, /trackers\[1\] \(id "ok"\): field "id" duplicates trackers\[0\]/);
      const twice = loadBad('twice.json', { trackers: [good, { ...good, id: 'other' }] });
      assert.match(
        twice.message,
        /trackers\[1\] \(id "other"\): host "a.example.com" with path "\(any path\)" is already claimed by trackers\[0\]/,
      );
      // Same host with different paths is fine.
      const file = join(dir, 'paths.json');
      writeFileSync(file, JSON.stringify({ trackers: [good, { ...good, id: 'p', paths: ['/x'] }] }));
      assert.equal(loadCatalogue(file).entries.length, 2);
    });
  });
  describe('upload timings, sender apps and vendors (issue 10)', () => {
    it('the shipped file gives every entry an upload timing with a source, and a default', () => {
      const c = loadCatalogue();
      assert.ok(c.defaultUpload.source.length > 20, 'defaults.upload cites its source');
      assert.ok(c.defaultUpload.delayMs > 0);
      assert.equal(c.defaultUpload.persistentQueue, true);
      for (const e of c.entries) {
        const u = c.uploadOf(e.id);
        assert.ok(u.source.trim().length > 10, `${e.id}: upload.source`);
        assert.ok(Number.isInteger(u.delayMs) && u.delayMs >= 0 && u.delayMs <= 3_600_000, e.id);
        assert.equal(typeof u.persistentQueue, 'boolean', e.id);
        assert.equal(typeof u.flushOnBackground, 'boolean', e.id);
      }
      assert.equal(c.uploadOf('miui-analytics').delayMs, 30_000);
      assert.equal(c.uploadOf('no-such-entry'), c.defaultUpload);
      assert.equal(c.uploadOf(undefined), c.defaultUpload);
    });

    it('vendors: the registrable domains of Xiaomi and Sensors Data; vendorOfHost', () => {
      const c = loadCatalogue();
      const xiaomi = c.vendors.find((v) => v.name === 'Xiaomi')!;
      assert.deepEqual([...xiaomi.domains].sort(), ['mi.com', 'miui.com', 'xiaomi.com', 'xiaomi.net']);
      assert.ok(xiaomi.source.length > 10);
      assert.equal(c.vendorOfHost('t.browser.miui.com')?.name, 'Xiaomi');
      assert.equal(c.vendorOfHost('data.mistat.intl.xiaomi.com:443')?.name, 'Xiaomi');
      assert.equal(c.vendorOfHost('static.sensorsdata.cn')?.name, 'Sensors Data');
      assert.equal(c.vendorOfHost('notmiui.com'), undefined);
      assert.equal(c.vendorOfHost('news.example.com'), undefined);
      // Every entry's host falls under its vendor's domains where the vendor lists domains.
      for (const e of c.entries) {
        const v = c.vendors.find((x) => x.name === e.vendor);
        if (!v) continue;
        for (const h of e.hosts)
          assert.equal(c.vendorOfHost(h.replace(/^\*\./, ''))?.name, e.vendor, `${e.id} ${h}`);
      }
    });

    it('senderApps lists every package an entry names, once, sorted', () => {
      const c = loadCatalogue();
      const apps = c.senderApps();
      assert.ok(apps.includes('com.miui.analytics'));
      assert.deepEqual(apps, [...new Set(apps)].sort());
      const m = parseCatalogue(
        {
          trackers: [
            { ...base, id: 'a', hosts: ['a.example.com'], apps: ['com.b.app', 'com.a.app'] },
            { ...base, id: 'b', hosts: ['b.example.com'], apps: ['com.a.app'] },
            { ...base, id: 'c', hosts: ['c.example.com'] },
          ],
        },
        'mem.json',
      );
      assert.deepEqual(m.senderApps(), ['com.a.app', 'com.b.app']);
      assert.deepEqual(m.entry('c')?.apps, []);
    });

    it('a file without defaults or vendors still loads (built-in default timing, no vendors)', () => {
      const m = parseCatalogue({ trackers: [{ ...base, id: 'a', hosts: ['a.example.com'] }] }, 'mem.json');
      assert.ok(m.defaultUpload.source.length > 10);
      assert.deepEqual(m.vendors, []);
      assert.equal(m.vendorOfHost('t.browser.miui.com'), undefined);
      const own = parseCatalogue(
        {
          defaults: { upload: { delayMs: 5, persistentQueue: false, flushOnBackground: false, source: 'x' } },
          trackers: [
            {
              ...base,
              id: 'a',
              hosts: ['a.example.com'],
              upload: { delayMs: 7, persistentQueue: true, flushOnBackground: true, source: 'y' },
            },
            { ...base, id: 'b', hosts: ['b.example.com'] },
          ],
        },
        'mem.json',
      );
      assert.deepEqual(own.uploadOf('a'), {
        delayMs: 7,
        persistentQueue: true,
        flushOnBackground: true,
        source: 'y',
      });
      assert.deepEqual(own.uploadOf('b'), {
        delayMs: 5,
        persistentQueue: false,
        flushOnBackground: false,
        source: 'x',
      });
    });

    it('validation names the file and the field: upload, defaults, vendors, apps', () => {
      const upload = { delayMs: 1000, persistentQueue: true, flushOnBackground: true, source: 'src' };
      const cases: Array<[unknown, RegExp]> = [
        [
          { trackers: [{ ...base, upload: { ...upload, source: undefined } }] },
          /^mem\.json: trackers\[0\] \(id "ok"\): field "upload": field "source" must say where the timing comes from$/,
        ],
        [
          { trackers: [{ ...base, upload: { ...upload, delay: 5 } }] },
          /^mem\.json: trackers\[0\] \(id "ok"\): field "upload": unknown field "delay"; allowed: delayMs, persistentQueue, flushOnBackground, source$/,
        ],
        [
          { trackers: [{ ...base, upload: { ...upload, delayMs: -1 } }] },
          /field "upload": field "delayMs" must be a whole number of milliseconds from 0 to 3600000/,
        ],
        [
          { trackers: [{ ...base, upload: { ...upload, persistentQueue: 'yes' } }] },
          /field "upload": field "persistentQueue" must be true or false/,
        ],
        [{ trackers: [{ ...base, upload: 60 }] }, /field "upload": must be an object with delayMs/],
        [
          { trackers: [{ ...base, apps: ['not a package'] }] },
          /^mem\.json: trackers\[0\] \(id "ok"\): field "apps\[0\]" must be package names; got "not a package"$/,
        ],
        [
          { defaults: { upload: { ...upload, source: '' } }, trackers: [] },
          /^mem\.json: defaults\.upload: field "source" must say where/,
        ],
        [
          { defaults: { timeout: 1 }, trackers: [] },
          /^mem\.json: defaults: unknown field "timeout"; allowed: upload$/,
        ],
        [{ defaults: [], trackers: [] }, /^mem\.json: field "defaults" must be an object with "upload"$/],
        [
          { vendors: {}, trackers: [] },
          /^mem\.json: field "vendors" must be an array of \{name, domains, source\}$/,
        ],
        [
          { vendors: [{ name: 'X', domains: ['*.x.com'], source: 's' }], trackers: [] },
          /^mem\.json: vendors\[0\]: field "domains\[0\]" must be a lower-case domain name \(no "\*\."\); got "\*\.x\.com"$/,
        ],
        [
          { vendors: [{ name: 'X', domains: ['Bad Domain'], source: 's' }], trackers: [] },
          /vendors\[0\]: field "domains\[0\]" must be a lower-case domain name/,
        ],
        [
          { vendors: [{ name: 'X', domains: ['x.com'] }], trackers: [] },
          /^mem\.json: vendors\[0\]: field "source" must be a non-empty string$/,
        ],
        [
          { vendors: [{ name: 'X', domains: [], source: 's' }], trackers: [] },
          /^mem\.json: vendors\[0\]: field "domains" must be a non-empty array of domain names$/,
        ],
        [
          { vendors: [{ name: '', domains: ['x.com'], source: 's' }], trackers: [] },
          /^mem\.json: vendors\[0\]: field "name" must be a non-empty string$/,
        ],
        [
          { vendors: [{ name: 'X', domains: ['x.com'], source: 's', owner: 'y' }], trackers: [] },
          /^mem\.json: vendors\[0\]: unknown field "owner"; allowed: name, domains, source$/,
        ],
      ];
      for (const [json, re] of cases) {
        let message = '';
        try {
          parseCatalogue(json, 'mem.json');
        } catch (e) {
          assert.ok(e instanceof CatalogueError, String(e));
          message = e.message;
        }
        assert.match(message, re, JSON.stringify(json));
      }
    });
  });
});
