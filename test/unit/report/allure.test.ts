import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ALLURE_CATEGORIES,
  allureBinary,
  LEAN_JVM_OPTS,
  withLeanJvm,
  environmentProperties,
  escapeProperty,
  findJava,
  fingerprintEntries,
  generateAllureHtml,
  JAVA_FIX,
  PERSONAL_DATA_LINE,
  phonehomeVersion,
  writeAllureCategories,
  writeAllureEnvironment,
} from '../../../src/report/allure.ts';
import { job, tempDir } from './fixtures.ts';

/** java.util.Properties.load, for what escapeProperty writes (one logical line per entry). */
function loadProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const unescape = (s: string) =>
    s.replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) => {
      if (e.startsWith('u') && e.length === 5) return String.fromCharCode(parseInt(e.slice(1), 16));
      return ({ n: '\n', r: '\r', t: '\t', f: '\f' } as Record<string, string>)[e] ?? e;
    });
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^((?:\\.|[^\\=: ])*)\s*[=:]\s*(.*)$/.exec(line);
    assert.ok(m, `bad line ${line}`);
    out[unescape(m[1]!)] = unescape(m[2]!);
  }
  return out;
}

describe('report/allure', () => {
  let run: string;
  beforeEach(() => {
    run = tempDir();
  });
  afterEach(() => rmSync(run, { recursive: true, force: true }));

  it('escapes .properties keys and values so Java reads them back unchanged', () => {
    const entries = {
      'emulator-5554.os': 'MIUI 12.0.3 (Android 10)',
      'key with spaces=and:colons#!': ' leading space, = : # ! \\ tab\there\nnewline',
      'unicode.中文': 'Xiaomi 小米 😀 é',
    };
    const text = environmentProperties(entries);
    assert.ok(/^[\x20-\x7e\n]*$/.test(text), 'ASCII only');
    assert.equal(text.split('\n').filter(Boolean).length, 3);
    assert.deepEqual(loadProperties(text), entries);
    assert.equal(escapeProperty('a b', true), 'a\\ b');
    assert.equal(escapeProperty('a b', false), 'a b');
  });

  it('writes environment.properties with the versions, phonehome version and the personal-data line', () => {
    const results = [job(), job({ phone: 'p2', profile: 'fixed', fingerprint: { os: 'HyperOS 1.0' } })];
    const file = writeAllureEnvironment(run, {
      'ca.method': 'root + tmpfs (APEX)',
      ...fingerprintEntries(results),
    });
    assert.equal(file, join(run, 'allure-results', 'environment.properties'));
    const props = loadProperties(readFileSync(file, 'utf8'));
    assert.equal(props['phonehome.version'], phonehomeVersion());
    assert.match(props['phonehome.version'], /^\d+\.\d+\.\d+/);
    assert.equal(props['ca.method'], 'root + tmpfs (APEX)');
    assert.equal(props['emulator-5554.os'], 'MIUI 12.0.3');
    assert.equal(props['emulator-5554.browser'], '12.10.5-go');
    assert.equal(props['p2.os'], 'HyperOS 1.0');
    assert.equal(props['p2.profile'], 'fixed');
    assert.equal(props['captures.personalData'], PERSONAL_DATA_LINE);
    assert.match(PERSONAL_DATA_LINE, /personal data/);
  });

  it('writes categories.json: leaks for failed assertion messages, infrastructure for broken', () => {
    const file = writeAllureCategories(run);
    const cats = JSON.parse(readFileSync(file, 'utf8')) as typeof ALLURE_CATEGORIES;
    const leak = cats.find((c) => c.name === 'Upload leaked in private mode')!;
    assert.deepEqual(leak.matchedStatuses, ['failed']);
    const infra = cats.find((c) => c.name === 'Infrastructure (broken)')!;
    assert.deepEqual(infra.matchedStatuses, ['broken']);
    // Java and JS agree on these constructs ((?is) flags aside): check the regexes on sample messages.
    const js = (re: string) => new RegExp(`^(?:${re.replace('(?is)', '')})$`, 'is');
    const other = cats.find((c) => c.name === 'Other failed assertions')!;
    for (const m of [
      'assertNoUpload: 2 uploads to tracking.intl.miui.com contain the canary',
      'a request to data.mistat.xiaomi.com\nwith the query',
      'the search query LEAKED to sensors',
    ]) {
      assert.ok(js(leak.messageRegex!).test(m), m);
      assert.ok(!js(other.messageRegex!).test(m), m);
    }
    assert.ok(!js(leak.messageRegex!).test('toggle miui.diagnosticData is on, expected off'));
    assert.ok(js(other.messageRegex!).test('toggle miui.diagnosticData is on, expected off'));
  });

  it('finds the allure-commandline launcher', () => {
    assert.ok(existsSync(allureBinary()), allureBinary());
  });

  it('fails clearly when Java is missing', async () => {
    mkdirSync(join(run, 'allure-results'));
    assert.equal(findJava({ PATH: '/nonexistent' }), undefined);
    assert.equal(findJava({ PATH: '/usr/bin', JAVA_HOME: '/nonexistent' }), undefined);
    await assert.rejects(
      generateAllureHtml(run, { env: { PATH: '/nonexistent' }, log: () => {} }),
      (e: Error & { hint?: string; exitCode?: number }) =>
        /needs Java/.test(e.message) &&
        e.hint === JAVA_FIX &&
        /apt-get install -y default-jre-headless/.test(e.hint) &&
        e.exitCode === 3,
    );
    // the launcher's own complaint is recognised too
    const bin = join(run, 'fake-allure');
    writeFileSync(
      bin,
      '#!/bin/sh\necho "ERROR: JAVA_HOME is not set and no \'java\' command could be found in your PATH." >&2\nexit 1\n',
    );
    chmodSync(bin, 0o755);
    await assert.rejects(
      generateAllureHtml(run, { allureBin: bin, log: () => {} }),
      (e: Error & { hint?: string }) => e.hint === JAVA_FIX,
    );
  });

  it('runs allure-commandline with lean JVM options unless JAVA_OPTS or ALLURE_OPTS are set', () => {
    assert.equal(withLeanJvm({ PATH: '/usr/bin' }).ALLURE_OPTS, LEAN_JVM_OPTS);
    assert.equal(withLeanJvm({ ALLURE_OPTS: '' }).ALLURE_OPTS, LEAN_JVM_OPTS);
    assert.equal(withLeanJvm({ ALLURE_OPTS: '-Xmx2g' }).ALLURE_OPTS, '-Xmx2g');
    const theirs = withLeanJvm({ JAVA_OPTS: '-XX:+UseG1GC' });
    assert.equal(theirs.ALLURE_OPTS, undefined);
    assert.equal(theirs.JAVA_OPTS, '-XX:+UseG1GC');
  });

  it('the launcher gets them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-allure-opts-'));
    try {
      mkdirSync(join(dir, 'allure-results'));
      // A stand-in launcher that writes what it was given where the report goes (args: generate R -o H …).
      const bin = join(dir, 'allure');
      writeFileSync(bin, '#!/bin/sh\nmkdir -p "$4" && printf %s "$ALLURE_OPTS" > "$4/index.html"\n');
      chmodSync(bin, 0o755);
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...(process.env.JAVA_HOME ? { JAVA_HOME: process.env.JAVA_HOME } : {}),
      };
      const index = await generateAllureHtml(dir, { allureBin: bin, env, log: () => {} });
      assert.equal(readFileSync(index, 'utf8'), LEAN_JVM_OPTS);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs allure-results (exit 2), reports allure failures and stops a hung allure', async function () {
    await assert.rejects(
      generateAllureHtml(run, { log: () => {} }),
      (e: Error & { exitCode?: number }) => e.exitCode === 2 && /no allure-results/.test(e.message),
    );
    mkdirSync(join(run, 'allure-results'));
    const failing = join(run, 'failing');
    writeFileSync(failing, '#!/bin/sh\necho "boom: bad results" >&2\nexit 4\n');
    chmodSync(failing, 0o755);
    await assert.rejects(
      generateAllureHtml(run, { allureBin: failing, log: () => {} }),
      (e: Error & { exitCode?: number }) =>
        /exit code 4/.test(e.message) && /boom: bad results/.test(e.message) && e.exitCode === 3,
    );
    const hung = join(run, 'hung');
    writeFileSync(hung, '#!/bin/sh\nsleep 30 &\nsleep 30\n');
    chmodSync(hung, 0o755);
    const t0 = Date.now();
    await assert.rejects(
      generateAllureHtml(run, { allureBin: hung, timeoutMs: 300, log: () => {} }),
      /did not finish within/,
    );
    assert.ok(Date.now() - t0 < 5000);
  });
});
