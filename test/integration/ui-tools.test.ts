/**
 * Issue 11 §1 acceptance, through the real CLI on one lab (a private real adb server):
 * - `phonehome ui snapshot` and `phonehome ui locate` on every shipped profile (one phone each);
 * - a test profile whose browser renamed its address bar ids (test/fixtures/profiles/renamed-url-bar.json)
 *   makes the shipped positive-control suite broken without an override file, with the locator key, its
 *   candidates, the closest elements and the hierarchy XML in the Allure result; and pass with an
 *   override file beside devices.json that prepends the new id, the step log saying which candidate
 *   matched and that it came from the override.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseJson, runCli, show, type CliResult } from '../support/cli.ts';
import { startLab, type LabPhone, type TestLab } from '../support/lab.ts';
import { AdbPhone } from '../support/xiaomi.ts';
import { loadLocators } from '../../src/ui/pages/locators.ts';
import { validateOverrides } from '../../src/ui/pages/overrides.ts';
import { parseHierarchy } from '../../src/ui/xml.ts';

const SHIPPED = readdirSync(resolve('profiles'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();
const RENAMED = resolve('test/fixtures/profiles/renamed-url-bar.json');
const SUITE = resolve('scenarios/incognito-data-collection-switch.yaml');

interface AllureItem {
  name?: string;
  status?: string;
  statusDetails?: { message?: string };
  attachments?: Array<{ name: string; type: string; source: string }>;
  steps?: AllureItem[];
}

function attachmentsOf(item: AllureItem): Array<{ name: string; type: string; source: string }> {
  return [...(item.attachments ?? []), ...(item.steps ?? []).flatMap(attachmentsOf)];
}

describe('phonehome ui snapshot / ui locate and locator overrides (CLI, virtual lab)', function () {
  this.timeout(120_000);
  let lab: TestLab;
  let tmp: string;
  let env: Record<string, string>;
  const shipped = (): LabPhone[] => lab.phones.filter((p) => SHIPPED.includes(p.profile.name));
  const cli = (args: string[], cwd = tmp, extra: Record<string, string> = {}): Promise<CliResult> =>
    runCli(args, { env: { ...env, ...extra }, cwd, timeoutMs: 90_000 });

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-ui-tools-'));
    lab = await startLab([...SHIPPED, RENAMED, RENAMED]);
    env = {
      ANDROID_ADB_SERVER_PORT: String(lab.adb.port),
      PHONEHOME_HOME: join(tmp, 'home'),
      CI: '1',
      // The Allure results are what is checked: no HTML report (allure-commandline needs Java).
      JAVA_HOME: join(tmp, 'no-java'),
    };
  });
  after(async () => {
    await lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ui snapshot, on every shipped profile: hierarchy, screenshot, foreground, fingerprint and the keys that match', async () => {
    assert.ok(SHIPPED.length >= 5, SHIPPED.join(', '));
    const results = await Promise.all(
      shipped().map(async (p) => {
        const out = join(tmp, 'snap', p.profile.name);
        return { p, out, r: await cli(['ui', 'snapshot', '--device', p.serial, '--out', out, '--json']) };
      }),
    );
    for (const { p, out, r } of results) {
      assert.equal(r.code, 0, `${p.profile.name}\n${show(r)}`);
      const s = parseJson<{
        foreground: { package: string; activity: string } | null;
        fingerprint: { model: string; props: Record<string, string>; browsers: Record<string, string> };
        locators: Array<{ key: string; status: string; needs?: string[] }>;
      }>(r);
      parseHierarchy(readFileSync(join(out, 'hierarchy.xml'), 'utf8'));
      assert.deepEqual(
        [...readFileSync(join(out, 'screenshot.png')).subarray(0, 4)],
        [0x89, 0x50, 0x4e, 0x47],
      );
      for (const f of ['foreground.json', 'fingerprint.json', 'locators.json'])
        assert.ok(existsSync(join(out, f)), `${p.profile.name}: ${f}`);
      // Every phone boots to MIUI's launcher.
      assert.equal(s.foreground?.package, 'com.miui.home', `${p.profile.name}\n${show(r)}`);
      assert.equal(s.fingerprint.model, p.profile.props['ro.product.model']);
      assert.equal(s.fingerprint.props['ro.build.fingerprint'], p.profile.props['ro.build.fingerprint']);
      assert.ok(
        s.fingerprint.browsers[p.profile.browser] !== undefined,
        `${p.profile.name}: browser version`,
      );
      const by = Object.fromEntries(s.locators.map((k) => [k.key, k]));
      assert.equal(by['launcher.workspace']?.status, 'match', `${p.profile.name}\n${show(r)}`);
      assert.equal(by['browser.addressBar']?.status, 'miss', p.profile.name);
      assert.deepEqual(by['browser.page']?.needs, ['title'], p.profile.name);
    }
  });

  it('ui locate, on every shipped profile: a key that matches, ranked candidates and a valid override entry', async () => {
    const results = await Promise.all(
      shipped().map(async (p) => ({
        p,
        r: await cli(['ui', 'locate', 'launcher.workspace', '--device', p.serial, '--json']),
      })),
    );
    for (const { p, r } of results) {
      assert.equal(r.code, 0, `${p.profile.name}\n${show(r)}`);
      const j = parseJson<{
        key: { status: string; index: number };
        elements: Array<{ suggestions: Array<{ kind: string; unique: boolean }>; override: unknown }>;
      }>(r);
      assert.equal(j.key.status, 'match', p.profile.name);
      const first = j.elements[0]!;
      assert.deepEqual(first.suggestions[0], { ...first.suggestions[0], kind: 'resource-id', unique: true });
      assert.equal(first.suggestions.at(-1)!.kind, 'xpath');
      // What it prints is accepted as an override file as it is.
      validateOverrides(first.override, 'printed', loadLocators());
    }
  });

  it('a renamed address bar: broken without an override (key, candidates, closest and hierarchy in Allure), passed with one', async () => {
    const [bare, fixed] = lab.phones.filter((p) => p.profile.name === 'renamed-url-bar');
    const setUp = (name: string, phone: LabPhone): string => {
      const dir = join(tmp, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'devices.json'),
        JSON.stringify({ phones: [{ serial: phone.serial, ui: 'adb' }] }),
      );
      return dir;
    };
    const withoutDir = setUp('without', bare!);
    const withDir = setUp('with', fixed!);
    // The override as `ui locate` prints it for the renamed phone (the browser in front).
    await new AdbPhone(lab.adb.port, fixed!.serial).sh(
      'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity',
    );
    const located = await cli(
      ['ui', 'locate', 'browser.addressBar', '--device', fixed!.serial, '--json'],
      withDir,
    );
    assert.equal(located.code, 0, show(located));
    const loc = parseJson<{
      key: { status: string };
      closest: Array<{ id: string }>;
      elements: Array<{ override: unknown }>;
    }>(located);
    assert.equal(loc.key.status, 'miss');
    assert.equal(loc.closest[0]!.id, 'com.mi.globalbrowser:id/url_field', show(located));
    writeFileSync(
      join(withDir, 'locator-overrides.json'),
      JSON.stringify(loc.elements[0]!.override, null, 2),
    );

    const run = (dir: string, extra: string[]) =>
      cli(['run', SUITE, '--json', '--out', 'reports', ...extra], dir, {
        PHONEHOME_HOME: join(dir, 'home'),
        PHONEHOME_CA_DIR: join(dir, 'ca'),
      });
    // The step limit bounds the page waits to half of it: the miss is reported as a miss, sooner.
    const [without, withOverride] = await Promise.all([
      run(withoutDir, ['--step-timeout', '12000']),
      run(withDir, []),
    ]);

    assert.equal(without.code, 3, `broken expected\n${show(without)}`);
    const wrun = parseJson<{ run: string }>(without).run;
    const wdir = join(withoutDir, 'reports', wrun);
    const results = readdirSync(join(wdir, 'allure-results')).filter((f) => f.endsWith('-result.json'));
    assert.equal(results.length, 1);
    const result = JSON.parse(readFileSync(join(wdir, 'allure-results', results[0]!), 'utf8')) as AllureItem;
    assert.equal(result.status, 'broken');
    const message = result.statusDetails?.message ?? '';
    assert.match(message, /locator browser\.addressBar found nothing/, message);
    assert.match(
      message,
      /\[0\] id=com\.mi\.globalbrowser:id\/url; \[1\] id=com\.mi\.globalbrowser:id\/url_bar; \[2\] class=android\.widget\.EditText within\(id=com\.mi\.globalbrowser:id\/title_bar\)/,
    );
    assert.match(message, /Closest on screen \(\d+ nodes\): id=com\.mi\.globalbrowser:id\/url_field/);
    const xmls = attachmentsOf(result).filter((a) => a.type === 'application/xml');
    assert.deepEqual(xmls.map((a) => a.name).sort(), ['hierarchy steps_0_.xml', 'hierarchy.xml']);
    for (const a of xmls) {
      const xml = readFileSync(join(wdir, 'allure-results', a.source), 'utf8');
      assert.match(xml, /resource-id="com\.mi\.globalbrowser:id\/url_field"/);
    }
    const evidence = readdirSync(join(wdir, 'evidence'), { recursive: true }) as string[];
    assert.ok(
      evidence.some((f) => f.endsWith('hierarchy.xml')),
      evidence.join(', '),
    );

    assert.equal(withOverride.code, 0, `passed expected\n${show(withOverride)}`);
    const prun = parseJson<{ run: string }>(withOverride).run;
    const logs = readdirSync(join(withDir, 'reports', prun, 'logs')).map((f) =>
      readFileSync(join(withDir, 'reports', prun, 'logs', f), 'utf8'),
    );
    assert.match(
      logs.join('\n'),
      /locator browser\.addressBar matched \[0\] id=com\.mi\.globalbrowser:id\/url_field \(override .*locator-overrides\.json\)/,
    );
  });
});
