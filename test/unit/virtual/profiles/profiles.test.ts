import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  listProfiles,
  loadProfile,
  PROFILE_DIR,
  ProfileError,
  type Profile,
} from '../../../../src/virtual/profiles/load.ts';
import { REQUIRED_PROPS } from '../../../../src/virtual/profiles/schema.ts';

/** Every profile file shipped in profiles/: a new one is tested without editing this list. */
const NAMES = listProfiles().map((p) => p.name);

describe('virtual profiles', () => {
  it('lists the shipped profiles with descriptions', () => {
    const list = listProfiles();
    for (const name of NAMES) {
      const p = list.find((x) => x.name === name);
      assert.ok(p, `missing ${name}`);
      assert.ok(p.description.length > 10);
      assert.equal(p.error, undefined, p.error);
    }
  });

  for (const name of NAMES) {
    it(`loads and validates ${name}`, () => {
      const p = loadProfile(name);
      assert.equal(p.name, name);
      for (const key of REQUIRED_PROPS) assert.equal(typeof p.props[key], 'string', key);
      assert.equal(p.props['sys.boot_completed'], '1');
      assert.ok(p.packages.some((x) => x.name === p.browser && x.launcher));
      for (const pkg of [
        'com.android.settings',
        'com.miui.home',
        'com.android.systemui',
        'com.miui.analytics',
      ]) {
        assert.ok(
          p.packages.some((x) => x.name === pkg),
          `${name} lacks ${pkg}`,
        );
      }
      assert.equal(
        p.packages.find((x) => x.name === 'com.android.settings')?.launcher,
        'com.android.settings/.Settings',
      );
      assert.equal(
        p.packages.find((x) => x.name === 'com.miui.home')?.launcher,
        'com.miui.home/.launcher.Launcher',
      );
      assert.equal(p.settings.global.http_proxy, undefined);
      assert.equal(p.settings.global.personalized_ad_enabled, '1');
      assert.equal(p.settings.global.adb_enabled, '1');
      assert.ok(p.settings.global.device_name);
      assert.ok(p.settings.secure.upload_log_pref);
      assert.ok(p.settings.secure.upload_debug_log_pref);
      assert.ok(p.settings.system.screen_brightness);
      // Fingerprint brand/name/device:release/id/incremental:type/tags
      const fp = p.props['ro.build.fingerprint'] ?? '';
      assert.ok(fp.includes(`:${p.props['ro.build.version.release']}/`), fp);
      assert.ok(fp.includes(`/${p.props['ro.build.version.incremental']}:`), fp);
      assert.ok(fp.endsWith(`${p.props['ro.build.type']}/${p.props['ro.build.tags']}`), fp);
      assert.ok(
        p.sources.some((s) => /synthetic/i.test(s.source)),
        'synthetic values are marked',
      );
      assert.ok(
        p.sources.some((s) => /xiaomi-telemetry\.md §4/.test(s.source)),
        'facts sheet cited',
      );
    });
  }

  it('has the firmware facts each profile stands for', () => {
    const leaky = loadProfile('redmi-note-8-leaky');
    const rooted = loadProfile('redmi-note-8-leaky-rooted');
    const fixed = loadProfile('redmi-note-8-fixed-rooted');
    const hyper = loadProfile('xiaomi-13-hyperos-rooted');
    const cn = loadProfile('redmi-note-11-china');
    const browser = (p: Profile) => p.packages.find((x) => x.name === p.browser);

    assert.equal(leaky.props['ro.product.device'], 'ginkgo');
    assert.equal(leaky.props['ro.product.mod_device'], 'ginkgo_global');
    assert.equal(leaky.props['ro.miui.ui.version.name'], 'V12');
    assert.equal(leaky.props['ro.miui.ui.version.code'], '10');
    assert.equal(leaky.props['ro.build.version.sdk'], '29');
    assert.equal(leaky.props['ro.miui.build.region'], 'global');
    assert.equal(leaky.props['ro.mi.os.version.name'], undefined);
    assert.equal(leaky.rooted, false);
    assert.equal(rooted.rooted, true);
    assert.equal(browser(leaky)?.name, 'com.mi.globalbrowser');
    assert.equal(browser(leaky)?.launcher, 'com.mi.globalbrowser/com.android.browser.BrowserActivity');
    assert.equal(browser(leaky)?.versionName, '12.1.3');
    assert.equal(browser(rooted)?.versionName, '12.1.3');
    assert.equal(browser(fixed)?.versionName, '12.1.4');
    assert.equal(fixed.rooted, true);
    assert.deepEqual(leaky.display, { width: 1080, height: 2340, density: 440 });

    assert.equal(hyper.props['ro.mi.os.version.name'], 'OS2.0');
    assert.equal(hyper.props['ro.mi.os.version.code'], '2');
    assert.match(hyper.props['ro.mi.os.version.incremental'] ?? '', /^OS2\.0\.\d+\.0\.UMCMIXM$/);
    assert.equal(hyper.props['ro.miui.ui.version.name'], 'V816');
    assert.equal(hyper.props['ro.miui.ui.version.code'], '816');
    assert.equal(hyper.props['ro.build.version.sdk'], '34');
    assert.equal(hyper.systemCaDir, '/apex/com.android.conscrypt/cacerts');
    assert.deepEqual(hyper.display, { width: 1080, height: 2400, density: 440 });

    assert.equal(cn.props['ro.miui.ui.version.name'], 'V130');
    assert.equal(cn.props['ro.miui.ui.version.code'], '13');
    assert.equal(cn.props['ro.build.version.sdk'], '30');
    assert.equal(cn.props['ro.miui.build.region'], 'cn');
    assert.ok(!cn.props['ro.product.mod_device']?.endsWith('_global'));
    assert.equal(cn.browser, 'com.android.browser');
    assert.equal(cn.rooted, false);
  });

  describe('validation errors name the file and the field', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'phonehome-profiles-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const broken = (name: string, mutate: (json: Record<string, unknown>) => void): void => {
      const json = JSON.parse(readFileSync(join(PROFILE_DIR, 'redmi-note-8-leaky.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      json.name = name;
      mutate(json);
      writeFileSync(join(dir, `${name}.json`), JSON.stringify(json));
    };

    it('a non-string property', () => {
      broken('x', (j) => {
        (j.props as Record<string, unknown>)['ro.product.model'] = 5;
      });
      assert.throws(
        () => loadProfile('x', dir),
        (e: unknown) =>
          e instanceof ProfileError &&
          e.message === 'profiles/x.json: field "props.ro.product.model" must be a string',
      );
    });

    it('a missing required property, a bad package, an unknown browser, an unknown field', () => {
      broken('a', (j) => {
        delete (j.props as Record<string, unknown>)['ro.build.fingerprint'];
      });
      assert.throws(
        () => loadProfile('a', dir),
        /profiles\/a\.json: field "props\.ro\.build\.fingerprint" is required/,
      );
      broken('b', (j) => {
        ((j.packages as Array<Record<string, unknown>>)[1] as Record<string, unknown>).versionCode = '29';
      });
      assert.throws(
        () => loadProfile('b', dir),
        /profiles\/b\.json: field "packages\[1\]\.versionCode" must be a non-negative integer/,
      );
      broken('c', (j) => {
        j.browser = 'com.example.nothere';
      });
      assert.throws(() => loadProfile('c', dir), /profiles\/c\.json: field "browser" must name a package/);
      broken('d', (j) => {
        j.colour = 'blue';
      });
      assert.throws(
        () => loadProfile('d', dir),
        /profiles\/d\.json: field "colour" is not a known profile field/,
      );
      broken('e', (j) => {
        ((j.packages as Array<Record<string, unknown>>)[0] as Record<string, unknown>).launcher =
          'com.other/.Main';
      });
      assert.throws(() => loadProfile('e', dir), /field "packages\[0\]\.launcher" must belong to package/);
    });

    it('listProfiles lists a broken file with what is wrong with it instead of skipping it', () => {
      copyFileSync(join(PROFILE_DIR, 'redmi-note-8-leaky.json'), join(dir, 'redmi-note-8-leaky.json'));
      broken('bad-field', (j) => {
        j.rooted = 'yes';
      });
      writeFileSync(join(dir, 'bad-json.json'), '{ nope');
      broken('other-name', (j) => {
        j.name = 'something-else';
      });
      mkdirSync(join(dir, 'a-directory.json'));
      const list = listProfiles(dir);
      assert.deepEqual(
        list.map((p) => [p.name, p.error]),
        [
          ['a-directory', list[0]?.error],
          ['bad-field', 'profiles/bad-field.json: field "rooted" must be true or false'],
          ['bad-json', list[2]?.error],
          ['other-name', list[3]?.error],
          ['redmi-note-8-leaky', undefined],
        ],
      );
      assert.match(list[0]?.error ?? '', /^profiles\/a-directory\.json: cannot read it/);
      assert.match(list[2]?.error ?? '', /^profiles\/bad-json\.json: invalid JSON/);
      assert.match(
        list[3]?.error ?? '',
        /^profiles\/other-name\.json: field "name" must equal the file name/,
      );
      assert.equal(list[1]?.description, '');
      assert.ok((list[4]?.description.length ?? 0) > 10);
      // Loading the broken one reports the same; an unknown one lists every file without recursing.
      assert.throws(() => loadProfile('bad-field', dir), /field "rooted" must be true or false/);
      assert.throws(() => loadProfile('nope', dir), /unknown profile 'nope' .*known: a-directory, bad-field/);
      assert.equal(new ProfileError('x').userFacing, true);
    });

    it('invalid JSON, wrong file name, unknown profile', () => {
      writeFileSync(join(dir, 'j.json'), '{ nope');
      assert.throws(() => loadProfile('j', dir), /profiles\/j\.json: invalid JSON/);
      broken('k', (j) => {
        j.name = 'other';
      });
      assert.throws(() => loadProfile('k', dir), /profiles\/k\.json: field "name" must equal the file name/);
      assert.throws(() => loadProfile('nope', dir), /unknown profile 'nope'/);
      assert.throws(() => loadProfile('../etc/passwd', dir), /invalid profile name/);
    });
  });
});
