import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  listProfiles,
  loadProfile,
  parseProfile,
  PROFILE_DIR,
  ProfileError,
} from '../../../../src/virtual/profiles/load.ts';
import { uepBuildDefault } from '../../../../src/virtual/telemetry/index.ts';

/** Every profile file shipped in profiles/: a new one is tested without editing this list. */
const NAMES = listProfiles().map((p) => p.name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- mutated freely to break it
type Json = any;

function raw(name: string): Record<string, Json> {
  return JSON.parse(readFileSync(join(PROFILE_DIR, `${name}.json`), 'utf8'));
}

function rejects(mutate: (t: Record<string, Json>) => void, pattern: RegExp): void {
  const json = raw('xiaomi-13-hyperos-rooted');
  mutate(json.telemetry);
  assert.throws(
    () => parseProfile(json, 'profiles/x.json'),
    (err: unknown) => {
      assert.ok(err instanceof ProfileError);
      assert.match(err.message, /^profiles\/x\.json: field "/);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('telemetry profile sections', () => {
  for (const name of NAMES) {
    it(`${name} has a validated telemetry table with sources`, () => {
      const t = loadProfile(name).telemetry;
      assert.ok(t, 'telemetry section');
      assert.ok(t.rules.length >= 2);
      assert.ok(t.sources.some((s) => /xiaomi-telemetry\.md/.test(s.source)));
    });

    it(`${name}: defaults.uep is the firmware's documented default for its build, with a source`, () => {
      const p = loadProfile(name);
      const t = p.telemetry!;
      assert.equal(t.defaults.uep, uepBuildDefault(p.props['ro.build.version.incremental'] ?? ''));
      assert.ok(t.sources.some((s) => /^defaults\.uep/.test(s.what) && /§4\.3/.test(s.source)));
      assert.ok(t.sources.some((s) => /incognitoDataCollectionSwitch/.test(s.what)));
    });
  }

  it('names the file and the field for broken sections', () => {
    rejects(
      (t) => (t.rules[1].send = ['sensors', 'carrier-pigeon']),
      /"telemetry\.rules\[1\]\.send\[1\]" must be one of/,
    );
    rejects((t) => delete t.emitters.ads, /"telemetry\.rules\[2\]\.send\[0\]" names emitter 'ads'/);
    rejects(
      (t) => (t.rules[0].when.incognito = 'yes'),
      /"telemetry\.rules\[0\]\.when\.incognito" must be true or false/,
    );
    rejects(
      (t) => (t.rules[0].when.colour = true),
      /"telemetry\.rules\[0\]\.when\.colour" is not a known field/,
    );
    rejects(
      (t) => (t.rules[0].when.events = ['folder_open']),
      /"telemetry\.rules\[0\]\.when\.events\[0\]" must be one of/,
    );
    rejects(
      (t) => (t.rules[2].omit = ['imei']),
      /"telemetry\.rules\[2\]\.omit\[0\]" must be one of adId, androidId/,
    );
    rejects(
      (t) => t.rules.pop(),
      /"telemetry\.rules" has no row for system event 'folder_open' with .*uep=true/,
    );
    rejects((t) => t.rules.splice(1, 0, { when: {}, send: [] }), /"telemetry\.rules\[2\]" is never reached/);
    rejects(
      (t) => (t.emitters.sensors.url = 'sa.api.intl.miui.com/sa'),
      /"telemetry\.emitters\.sensors\.url" must be an absolute URL/,
    );
    rejects(
      (t) => (t.emitters.tracking.app = 'not a package'),
      /"telemetry\.emitters\.tracking\.app" must be a package name/,
    );
    rejects((t) => delete t.defaults.uep, /"telemetry\.defaults\.uep" is required/);
    rejects(
      (t) => (t.browser = { incognitoDataCollectionSwitch: 'yes' }),
      /"telemetry\.browser\.incognitoDataCollectionSwitch" must be true or false/,
    );
    rejects((t) => (t.browser = { since: '12.1.4' }), /"telemetry\.browser\.since" is not a known field/);
    rejects((t) => (t.sources = []), /"telemetry\.sources" must be a non-empty array/);
    rejects((t) => (t.rules = {}), /"telemetry\.rules" must be a non-empty array/);
  });

  it('a profile without a telemetry section still loads (its phone sends nothing)', () => {
    const json = raw('redmi-note-8-leaky');
    delete json.telemetry;
    assert.equal(parseProfile(json, 'profiles/x.json').telemetry, undefined);
  });
});
