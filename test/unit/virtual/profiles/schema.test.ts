/**
 * The profile format's one description (src/virtual/profiles/schema.ts) against the loader: every
 * profile the loader accepts validates against the schema, a profile using every optional field is
 * accepted by both, unknown fields are rejected by both, and the JSON Schema lets extending files be
 * partial. (The committed schemas/profile.schema.json is checked in test/unit/scenario/schema.test.ts.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  emitterSchemas,
  fieldsOf,
  profileJsonSchema,
  profileSchema,
} from '../../../../src/virtual/profiles/schema.ts';
import {
  EXAMPLE_DIR,
  listExampleProfiles,
  listProfiles,
  loadProfile,
  mergeProfileJson,
  parseProfile,
  PROFILE_DIR,
} from '../../../../src/virtual/profiles/load.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- profile JSON, patched freely
type Json = any;

const KEY16 = '000102030405060708090a0b0c0d0e0f';

function raw(name: string): Json {
  return JSON.parse(readFileSync(join(PROFILE_DIR, `${name}.json`), 'utf8'));
}

/** A profile setting every optional field the format has. */
function maximal(): Json {
  const json = raw('redmi-note-8-fixed-rooted');
  const transport = {
    scheme: 'https',
    carrier: 'query:d',
    wrap: ['gzip', 'base64url'],
    proxy: 'direct',
    pinning: true,
    $comment: 'every transport field',
  };
  const flush = { count: 10, intervalMs: 1000, onBackground: false, persist: false, $comment: 'x' };
  return mergeProfileJson(json, {
    $schema: '../schemas/profile.schema.json',
    $comment: 'maximal',
    settings: { $comment: 'x' },
    display: { $comment: 'x' },
    root: {
      su: 'magisk',
      version: '26.4',
      versionCode: 26400,
      grant: 'prompt-timeout',
      promptTimeoutMs: 100,
      mountNamespaceMode: 'isolated',
      $comment: 'x',
    },
    filesystem: { absent: ['/system/etc/security/cacerts'], $comment: 'x' },
    sources: [{ what: 'a', source: 'b', $comment: 'x' }],
    packages: json.packages.map((p: Json, i: number) =>
      i === 0
        ? { ...p, activities: [], services: [], uid: 10100, minSdk: 21, targetSdk: 29, $comment: 'x' }
        : p,
    ),
    telemetry: {
      $comment: 'x',
      defaults: { $comment: 'x' },
      browser: { $comment: 'x' },
      emitters: {
        $comment: 'x',
        sensors: { ...transport, encrypt: { cipher: 'aes-128-cbc', key: KEY16, $comment: 'x' }, flush },
        tracking: { ...transport, encrypt: { cipher: 'aes-256-gcm', key: KEY16 + KEY16 }, flush },
        mistat: { ...transport, encrypt: { cipher: 'aes-128-cbc', key: KEY16 }, flush },
        ads: { ...transport, carrier: 'cookie:c' },
      },
      rules: json.telemetry.rules.map((r: Json) => ({ ...r, omit: ['adId'], note: 'n', $comment: 'x' })),
      sources: [{ what: 'a', source: 'b', $comment: 'x' }],
    },
  });
}

describe('profile schema', () => {
  const profiles: Array<[string, Json]> = [
    ...listProfiles().map((p): [string, Json] => [p.name, raw(p.name)]),
    // Example files as the loader sees them: merged over their base.
    ...listExampleProfiles().map((e): [string, Json] => {
      const file = JSON.parse(readFileSync(join(EXAMPLE_DIR, `${e.name}.json`), 'utf8'));
      const { extends: base, ...patch } = file;
      return [e.path!, mergeProfileJson(raw(base as string), patch)];
    }),
  ];

  for (const [name, json] of profiles) {
    it(`${name}: accepted by the loader and by the schema`, () => {
      parseProfile(json, name);
      const r = profileSchema.safeParse(json);
      assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues, null, 2));
    });
  }

  it('a profile with every optional field: accepted by both', () => {
    const json = maximal();
    const p = parseProfile(json, 'profiles/max.json');
    assert.deepEqual(p.telemetry!.emitters.ads!.carrier, 'cookie:c');
    const r = profileSchema.safeParse(json);
    assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues, null, 2));
  });

  it('an unknown field anywhere: rejected by both', () => {
    const spots: Array<(j: Json) => void> = [
      (j) => (j.colour = 1),
      (j) => (j.settings.colour = 1),
      (j) => (j.display.colour = 1),
      (j) => (j.packages[0].colour = 1),
      (j) => (j.sources[0].colour = 1),
      (j) => (j.telemetry.colour = 1),
      (j) => (j.telemetry.defaults.colour = 1),
      (j) => (j.telemetry.emitters.colour = 1),
      (j) => (j.telemetry.emitters.sensors.colour = 1),
      (j) => (j.telemetry.emitters.tracking.encrypt.colour = 1),
      (j) => (j.telemetry.emitters.mistat.flush.colour = 1),
      (j) => (j.telemetry.rules[0].colour = 1),
      (j) => (j.telemetry.rules[0].when.colour = 1),
      (j) => (j.telemetry.sources[0].colour = 1),
    ];
    for (const [i, spoil] of spots.entries()) {
      const json = maximal();
      spoil(json);
      assert.throws(() => parseProfile(json, 'profiles/x.json'), /colour" is not a known/, `spot ${i}`);
      assert.equal(profileSchema.safeParse(json).success, false, `spot ${i}`);
    }
  });

  it('the emitter fields are the contract', () => {
    const transport = ['url', 'scheme', 'carrier', 'wrap', 'encrypt', 'proxy', 'pinning'];
    assert.deepEqual(fieldsOf(emitterSchemas.sensors), [...transport, 'libVersion', 'flush']);
    assert.deepEqual(fieldsOf(emitterSchemas.tracking), [...transport, 'app', 'flush']);
    assert.deepEqual(fieldsOf(emitterSchemas.mistat), [...transport, 'appId', 'region', 'flush']);
    assert.deepEqual(fieldsOf(emitterSchemas.ads), [...transport, 'app']);
  });

  it('the JSON Schema: a file with extends is checked as a partial override, others as complete profiles', () => {
    const s = profileJsonSchema() as Json;
    assert.deepEqual(s.if, { required: ['extends'] });
    assert.deepEqual(s.then, { $ref: '#/$defs/ProfileOverride' });
    assert.deepEqual(s.else, { $ref: '#/$defs/Profile' });
    const full = s.$defs.Profile;
    const override = s.$defs.ProfileOverride;
    assert.deepEqual(full.required, [
      'name',
      'description',
      'rooted',
      'props',
      'settings',
      'packages',
      'browser',
      'display',
      'systemCaDir',
      'sources',
    ]);
    assert.deepEqual(override.required, ['extends', 'name']);
    const sensors = (d: Json) => d.properties.telemetry.properties.emitters.properties.sensors;
    assert.deepEqual(sensors(full).required, ['url', 'libVersion']);
    assert.equal(sensors(override).required, undefined);
    assert.equal(override.properties.telemetry.properties.defaults.required, undefined);
    assert.equal(override.properties.props.required, undefined);
    // Arrays replace the base's whole: their items stay complete.
    assert.deepEqual(override.properties.packages.items, { $ref: '#/$defs/Package' });
    assert.ok(s.$defs.Package.required.includes('name'));
    assert.deepEqual(sensors(full).properties.wrap.items.enum, [
      'base64',
      'base64url',
      'hex',
      'base32',
      'percent',
      'gzip',
      'deflate',
      'json-string',
    ]);
    assert.ok(JSON.stringify(s).includes('"extends"'));
  });

  it('loadProfile on every shipped profile equals parseProfile on its file (no extends in them)', () => {
    for (const { name } of listProfiles()) assert.deepEqual(loadProfile(name), parseProfile(raw(name), name));
  });
});
