/**
 * Profile files outside profiles/ and `extends`: JSON Merge Patch over a shipped profile or another
 * file, chains, cycles, unknown bases, errors naming the extending file; and the example profiles.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  EXAMPLE_DIR,
  listExampleProfiles,
  listProfiles,
  loadProfile,
  loadProfileFile,
  mergeProfileJson,
  parseProfile,
  PROFILE_DIR,
  ProfileError,
} from '../../../../src/virtual/profiles/load.ts';

const SHIPPED = listProfiles().map((p) => p.name);

describe('profile files and extends', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-extends-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, json: unknown): string => {
    const file = join(dir, name);
    writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
    return file;
  };
  const throwsProfile = (fn: () => unknown, message: string | RegExp): void =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof ProfileError, String(err));
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    });

  it('mergeProfileJson is RFC 7396: objects merge deeply, null deletes, arrays and values replace', () => {
    assert.deepEqual(
      mergeProfileJson(
        { a: 'b', c: { d: 'e', f: 'g' }, l: [1, 2], k: { x: 1 } },
        { a: 'z', c: { f: null, h: 'i' }, l: [3], k: 'flat', n: { o: 1 } },
      ),
      { a: 'z', c: { d: 'e', h: 'i' }, l: [3], k: 'flat', n: { o: 1 } },
    );
    assert.deepEqual(mergeProfileJson([1], { a: 1 }), { a: 1 });
    assert.deepEqual(mergeProfileJson({ a: 1 }, [2]), [2]);
  });

  it('a file extending a shipped profile: objects merge by key, arrays are replaced whole', () => {
    const file = write('mine.json', {
      extends: 'redmi-note-8-fixed-rooted',
      name: 'my-variant',
      rooted: false,
      props: { 'ro.product.model': 'Redmi Note 8 (test)' },
      sources: [{ what: 'everything', source: 'the base' }],
      telemetry: {
        emitters: { sensors: { url: 'https://t.browser.miui.com/v1/events', proxy: 'direct' } },
        rules: [
          { when: { source: 'browser' }, send: ['sensors'] },
          { when: { source: 'system' }, send: [] },
        ],
      },
    });
    const base = loadProfile('redmi-note-8-fixed-rooted');
    const p = loadProfile(file);
    assert.equal(p.name, 'my-variant', 'need not equal the file name');
    assert.equal(p.rooted, false);
    assert.equal(p.props['ro.product.model'], 'Redmi Note 8 (test)');
    assert.equal(p.props['ro.product.device'], 'ginkgo', 'other props kept');
    assert.deepEqual(p.packages, base.packages);
    assert.deepEqual(p.sources, [{ what: 'everything', source: 'the base' }], 'array replaced');
    const t = p.telemetry!;
    assert.deepEqual(t.emitters.sensors, {
      url: 'https://t.browser.miui.com/v1/events',
      libVersion: base.telemetry!.emitters.sensors!.libVersion,
      proxy: 'direct',
    });
    assert.deepEqual(t.emitters.tracking, base.telemetry!.emitters.tracking);
    assert.equal(t.rules.length, 2, 'rules replaced');
    assert.deepEqual(t.sources, base.telemetry!.sources, 'telemetry.sources kept (an object key not given)');
    assert.deepEqual(t.browser, base.telemetry!.browser);
    // loadProfileFile is the same; a relative path works from the working directory.
    assert.deepEqual(loadProfileFile(file), p);
    assert.deepEqual(loadProfile(relative(process.cwd(), file)), p);
  });

  it('null deletes a key of the base', () => {
    const file = write('x.json', {
      extends: 'redmi-note-8-leaky',
      name: 'no-mistat',
      telemetry: { emitters: { mistat: null } },
    });
    throwsProfile(
      () => loadProfile(file),
      `${file}: field "telemetry.rules[0].send[1]" names emitter 'mistat', which telemetry.emitters does not configure`,
    );
  });

  it('chains of files, relative to each other, and a shipped base at the end', () => {
    write('a.json', { extends: 'redmi-note-8-leaky', name: 'a', description: 'a', rooted: true });
    write('b.json', { extends: './a.json', name: 'b', props: { 'persist.sys.timezone': 'UTC' } });
    const c = write('c.json', { extends: 'b.json', name: 'c', description: 'c' });
    const p = loadProfile(c);
    assert.equal(p.name, 'c');
    assert.equal(p.description, 'c');
    assert.equal(p.rooted, true, 'from a');
    assert.equal(p.props['persist.sys.timezone'], 'UTC', 'from b');
    assert.equal(p.browser, 'com.mi.globalbrowser', 'from the shipped base');
  });

  it('cycles are reported with the chain', () => {
    const a = write('a.json', { extends: 'b.json', name: 'a' });
    const b = write('b.json', { extends: 'a.json', name: 'b' });
    // Reported at the file whose extends closes the cycle, with the whole chain.
    throwsProfile(() => loadProfile(a), `${b}: field "extends" makes a cycle: ${a} → ${b} → ${a}`);
    const self = write('self.json', { extends: './self.json', name: 'self' });
    throwsProfile(() => loadProfile(self), /field "extends" makes a cycle: .*self\.json → .*self\.json$/);
  });

  it('an unknown base names the known profiles; a bad extends, a missing name, a bad name name the field', () => {
    const u = write('u.json', { extends: 'redmi-note-99', name: 'u' });
    throwsProfile(
      () => loadProfile(u),
      `${u}: field "extends" names unknown profile 'redmi-note-99'; known: ${SHIPPED.join(', ')}`,
    );
    const f = write('f.json', { extends: 'nothere.json', name: 'f' });
    throwsProfile(() => loadProfile(f), `no profile file ${join(dir, 'nothere.json')}`);
    throwsProfile(
      () => loadProfile(write('n.json', { extends: 5, name: 'n' })),
      /field "extends" must be a shipped profile name or a \.json path$/,
    );
    throwsProfile(
      () => loadProfile(write('m.json', { extends: 'redmi-note-8-leaky' })),
      /m\.json: field "name" is required \(a file that extends another profile names itself\)/,
    );
    throwsProfile(
      () => loadProfile(write('up.json', { extends: 'redmi-note-8-leaky', name: 'Upper' })),
      /up\.json: field "name" must be lower-case letters, digits, dots and dashes/,
    );
    throwsProfile(
      () => loadProfile(join(dir, 'missing.json')),
      `no profile file ${join(dir, 'missing.json')}`,
    );
    throwsProfile(
      () => loadProfile(write('j.json', '{ nope')),
      new RegExp(`^${join(dir, 'j.json')}: invalid JSON`),
    );
  });

  it('errors in the merged profile name the extending file and the field', () => {
    const file = write('bad.json', {
      extends: 'redmi-note-8-fixed-rooted',
      name: 'bad',
      telemetry: { emitters: { sensors: { carrier: 'header:X-Ctx' } } },
    });
    throwsProfile(
      () => loadProfile(file),
      new RegExp(
        `^${file}: field "telemetry\\.emitters\\.sensors\\.carrier" header:X-Ctx needs header-safe text`,
      ),
    );
    const rooted = write('r.json', { extends: 'redmi-note-8-leaky', name: 'r', rooted: 'no' });
    throwsProfile(() => loadProfile(rooted), `${rooted}: field "rooted" must be true or false`);
    // parseProfile takes resolved profiles only.
    throwsProfile(
      () => parseProfile({ extends: 'redmi-note-8-leaky', name: 'x' }, 'profiles/x.json'),
      'profiles/x.json: field "extends" must be resolved before parsing (loadProfile and loadProfileFile do)',
    );
  });

  it('a broken shipped base is reported as the base file; shipped profiles may extend too', () => {
    const leaky = JSON.parse(readFileSync(join(PROFILE_DIR, 'redmi-note-8-leaky.json'), 'utf8'));
    write('base.json', { ...leaky, name: 'base', rooted: 'yes' });
    write('child.json', { extends: 'base', name: 'child' });
    const outside = write('outside.json', { extends: 'base', name: 'outside' });
    throwsProfile(
      () => loadProfileFile(outside, dir),
      'profiles/base.json: field "rooted" must be true or false',
    );
    write('base.json', { ...leaky, name: 'base' });
    assert.equal(loadProfile('child', dir).name, 'child', 'a named profile extending another');
    assert.equal(loadProfileFile(outside, dir).description, leaky.description);
    write('wrong.json', { extends: 'base', name: 'other' });
    throwsProfile(
      () => loadProfile('wrong', dir),
      `profiles/wrong.json: field "name" must equal the file name ('wrong'), got 'other'`,
    );
    assert.deepEqual(
      listProfiles(dir).map((p) => [p.name, p.error ?? 'ok']),
      [
        ['base', 'ok'],
        ['child', 'ok'],
        ['outside', 'ok'],
        ['wrong', `profiles/wrong.json: field "name" must equal the file name ('wrong'), got 'other'`],
      ],
    );
  });
});

describe('example profiles (profiles/examples)', () => {
  const examples = listExampleProfiles();
  const readme = readFileSync(join(EXAMPLE_DIR, 'README.md'), 'utf8');
  const KEY = '6d692d6c61622d73656e736f72732121';

  it('at least six, all loading, none among the shipped profiles, each in the README table', () => {
    assert.ok(examples.length >= 6, `${examples.length} examples`);
    for (const e of examples) {
      assert.equal(e.error, undefined, e.error);
      assert.equal(e.example, true);
      assert.equal(e.path, `profiles/examples/${e.name}.json`);
      assert.ok(e.description.length > 20, e.name);
      assert.ok(!SHIPPED.includes(e.name), `${e.name} is not a shipped profile name`);
      assert.ok(readme.includes(`\`${e.name}.json\``), `README lists ${e.name}.json`);
    }
  });

  for (const e of listExampleProfiles()) {
    it(`${e.name}: extends a shipped profile, says what it plays and what the harness should conclude`, () => {
      const raw = JSON.parse(readFileSync(join(EXAMPLE_DIR, `${e.name}.json`), 'utf8'));
      assert.ok(SHIPPED.includes(raw.extends), raw.extends);
      const p = loadProfile(join(EXAMPLE_DIR, `${e.name}.json`));
      assert.ok(p.sources.some((s) => s.source.includes(`profiles/${raw.extends}.json`)));
      assert.ok(p.sources.some((s) => /^what the harness should conclude/.test(s.what)));
      assert.ok(p.telemetry);
    });
  }

  it('each plays what the README says', () => {
    const load = (n: string) => loadProfile(join(EXAMPLE_DIR, `${n}.json`));
    const enc = load('encrypted-sensors');
    assert.deepEqual(enc.telemetry!.emitters.sensors!.encrypt, { cipher: 'aes-128-cbc', key: KEY });
    assert.ok(readme.includes(`--key sensors=${KEY}`));
    const unlisted = load('unlisted-host');
    assert.equal(unlisted.telemetry!.emitters.sensors!.url, 'https://t.browser.miui.com/v1/events');
    const bypass = load('bypass-proxy');
    const bypassRooted = load('bypass-proxy-rooted');
    assert.equal(bypass.rooted, false);
    assert.equal(bypassRooted.rooted, true);
    for (const b of [bypass, bypassRooted]) {
      assert.equal(b.telemetry!.emitters.sensors!.proxy, 'direct');
      assert.equal(b.telemetry!.emitters.tracking!.proxy, 'direct', 'the UEP side is hostile too');
      assert.ok(
        b.telemetry!.rules.every((r) => r.when.uep === undefined),
        'system events are sent whatever UEP says',
      );
    }
    assert.deepEqual(load('late-flush').telemetry!.emitters.sensors!.flush, {
      intervalMs: 20000,
      onBackground: false,
      persist: true,
    });
    const chain = load('header-chain').telemetry!.emitters.sensors!;
    assert.equal(chain.carrier, 'header:X-MI-Ctx');
    assert.deepEqual(chain.wrap, ['json-string', 'gzip', 'base64url']);
    const api33 = load('api33');
    assert.equal(api33.props['ro.build.version.sdk'], '33');
    assert.equal(api33.props['ro.build.version.release'], '13');
    assert.equal(api33.systemCaDir, '/system/etc/security/cacerts');
    assert.ok(api33.packages.every((x) => (x.targetSdk ?? 0) <= 33));
    // Browser events go out even in incognito with the switch off (the incognito suites' case).
    for (const n of ['unlisted-host', 'bypass-proxy', 'bypass-proxy-rooted', 'late-flush', 'header-chain']) {
      const rule = load(n).telemetry!.rules.find((r) => r.when.source === 'browser');
      assert.deepEqual(rule?.when, { source: 'browser' }, n);
      assert.deepEqual(rule?.send, ['sensors'], n);
    }
  });
});
