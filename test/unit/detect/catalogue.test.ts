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
    assert.equal(matchTracker('example.com', '/', c), null, '*.suffix does not match the suffix itself');
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
});
