import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KEYCODE,
  UiError,
  targetList,
  type Locator,
  type Point,
  type StartActivityOptions,
  type Target,
  type UiDriver,
  type UiElement,
} from '../../../../src/ui/driver.ts';
import { findNode, parseHierarchy, type XmlNode } from '../../../../src/ui/xml.ts';
import {
  DEFAULT_LOCATORS_FILE,
  LocatorDataError,
  inside,
  loadLocators,
  targetOf,
} from '../../../../src/ui/pages/locators.ts';
import { MiBrowser, MiuiSettings, StatusBar } from '../../../../src/ui/pages/index.ts';
import { parseIndicator } from '../../../../src/ui/pages/launcher.ts';
import { dumpOf, type N } from '../fakes.ts';

/** A UiDriver over a scripted screen: `screen` is rebuilt by the handlers the test sets. */
class FakeUi implements UiDriver {
  readonly serial = 'fake-ui';
  readonly kind = 'adb' as const;
  readonly timeoutMs = 50;
  log: string[] = [];
  screen: N = { bounds: [0, 0, 100, 100] };
  onTap: (el: UiElement) => void = () => undefined;
  onSwipe: (from: Point, to: Point) => void = () => undefined;

  private root(): XmlNode {
    return parseHierarchy(dumpOf(this.screen).replace(/^UI hierchary dumped to: \S+\n/, ''));
  }
  async query(target: Target): Promise<UiElement | null> {
    const list = targetList(target);
    const root = this.root();
    for (let i = 0; i < list.length; i++) {
      const n = findNode(root, list[i]!);
      if (n) {
        return {
          matched: list[i]!,
          fallback: i,
          text: n.attrs.text ?? '',
          resourceId: n.attrs['resource-id'] ?? '',
          contentDesc: n.attrs['content-desc'] ?? '',
          className: n.attrs.class ?? '',
          checked: n.attrs.checked === 'true',
          enabled: true,
          bounds: n.bounds,
          handle: n,
        };
      }
    }
    return null;
  }
  async find(target: Target): Promise<UiElement> {
    const el = await this.query(target);
    if (!el) throw new UiError({ serial: this.serial, operation: 'find', problem: 'found nothing' });
    this.log.push(`find#${el.fallback} ${el.resourceId || el.text}`);
    return el;
  }
  async waitGone(target: Target): Promise<void> {
    if (await this.query(target))
      throw new UiError({ serial: this.serial, operation: 'gone', problem: 'still there' });
  }
  async tap(el: UiElement): Promise<void> {
    this.log.push(`tap ${el.resourceId || el.text}`);
    this.onTap(el);
  }
  async type(_el: UiElement, text: string): Promise<void> {
    this.log.push(`type ${text}`);
  }
  async clear(): Promise<void> {
    this.log.push('clear');
  }
  async pressKey(code: number): Promise<void> {
    this.log.push(`key ${code}`);
  }
  async back(): Promise<void> {
    this.log.push('back');
  }
  async swipe(from: Point, to: Point): Promise<void> {
    this.onSwipe(from, to);
  }
  async swipeScreen(d: string): Promise<void> {
    this.log.push(`swipe ${d}`);
    this.onSwipe({ x: 50, y: 80 }, { x: 50, y: 20 });
  }
  async openNotifications(): Promise<void> {
    this.log.push('pull');
    this.onSwipe({ x: 25, y: 5 }, { x: 25, y: 60 });
  }
  async startActivity(c: string, o?: StartActivityOptions): Promise<void> {
    this.log.push(`start ${c} ${JSON.stringify(o?.extras ?? {})} ${o?.flags ?? ''}`);
  }
  async openUrl(url: string): Promise<void> {
    this.log.push(`open ${url}`);
  }
  async source(): Promise<string> {
    return dumpOf(this.screen);
  }
  async screenshot(): Promise<Buffer> {
    return Buffer.alloc(0);
  }
  async windowSize() {
    return { width: 100, height: 100 };
  }
  async close(): Promise<void> {}
}

describe('ui/pages/locators.json: locators as data with sources', () => {
  const data = loadLocators();

  it('validates, and every entry names its source', () => {
    assert.ok(Object.keys(data.locators).length >= 20);
    for (const [k, e] of Object.entries(data.locators)) {
      assert.ok(e.source.length > 20, `${k}: a real source`);
      assert.ok(
        /src\/virtual\/|AOSP|xiaomi-telemetry/.test(e.source),
        `${k}: names the virtual screen or a public source`,
      );
      for (const l of e.locators) assert.equal(typeof l, 'object');
    }
    for (const [k, p] of Object.entries(data.settingsPages)) assert.ok(p.source.includes('src/virtual/'), k);
  });

  it('fills placeholders and refuses a missing one', () => {
    assert.deepEqual(targetOf(data, 'browser.page', { browser: 'b.pkg', title: 'T' }), [
      { id: 'b.pkg:id/webview', desc: 'T' },
    ]);
    assert.throws(
      () => targetOf(data, 'browser.page', { browser: 'b' }),
      /locators\.browser\.page: needs a value for \{title\}/,
    );
    assert.throws(() => targetOf(data, 'nope'), LocatorDataError);
  });

  it('inside() nests every target locator in every container', () => {
    const sw: Locator[] = [{ class: 'S' }, { id: 'w', within: { id: 'f' } }];
    assert.deepEqual(inside(sw, [{ id: 'row' }]), [
      { class: 'S', within: { id: 'row' } },
      { id: 'w', within: { id: 'f', within: { id: 'row' } } },
    ]);
  });

  it('a broken file is refused with the file, the entry and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-loc-'));
    try {
      const f = join(dir, 'l.json');
      const good = JSON.parse(JSON.stringify({ ...data, file: undefined }));
      good.locators['x.y'] = { locators: [{ idd: 'a' }], source: 'somewhere in src/virtual/x.ts' };
      writeFileSync(f, JSON.stringify(good));
      assert.throws(() => loadLocators(f), /l\.json: locators\.x\.y\.locators\[0\]: .*unknown keys: idd/);
      good.locators['x.y'] = { locators: [{ id: 'a' }] };
      writeFileSync(f, JSON.stringify(good));
      assert.throws(() => loadLocators(f), /locators\.x\.y\.source: must be a non-empty string/);
      writeFileSync(f, '{');
      assert.throws(() => loadLocators(f), /cannot be read as JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(DEFAULT_LOCATORS_FILE.endsWith('locators.json'));
  });
});

describe('ui/pages: page objects against a fake UiDriver', () => {
  it('MiBrowser falls back to the next locator when the resource-id differs', async () => {
    const ui = new FakeUi();
    ui.screen = {
      bounds: [0, 0, 100, 100],
      kids: [
        {
          id: 'com.mi.globalbrowser:id/title_bar',
          bounds: [0, 0, 100, 20],
          kids: [
            {
              id: 'com.mi.globalbrowser:id/omnibox',
              cls: 'android.widget.EditText',
              bounds: [0, 0, 100, 20],
            },
          ],
        },
      ],
    };
    const b = new MiBrowser(ui);
    await b.go('hello world');
    assert.deepEqual(ui.log, [
      'find#2 com.mi.globalbrowser:id/omnibox',
      'tap com.mi.globalbrowser:id/omnibox',
      'find#2 com.mi.globalbrowser:id/omnibox',
      'clear',
      'type hello world',
      `key ${KEYCODE.ENTER}`,
    ]);
  });

  it('MiuiSettings: opens the page by its resolved action, taps only when the switch differs', async () => {
    const ui = new FakeUi();
    let on = true;
    const build = () => {
      ui.screen = {
        bounds: [0, 0, 100, 100],
        kids: [
          { id: 'com.android.settings:id/action_bar_title', text: 'Privacy', bounds: [0, 0, 100, 10] },
          {
            id: 'com.android.settings:id/user_experience_program',
            bounds: [0, 10, 100, 30],
            kids: [{ cls: 'android.widget.Switch', checked: on, bounds: [80, 10, 100, 30] }],
          },
        ],
      };
    };
    build();
    ui.onTap = (el) => {
      if (el.resourceId.endsWith('user_experience_program')) {
        on = !on;
        build();
      }
    };
    const shell: string[][] = [];
    const device = {
      serial: 'fake-ui',
      shell: async (cmd: string | readonly string[]) => {
        const argv = [...cmd];
        shell.push(argv);
        const stdout =
          argv[0] === 'cmd'
            ? argv.includes('android.settings.PRIVACY_SETTINGS')
              ? 'com.android.settings/.Settings$PrivacyDashboardActivity\n'
              : 'No activity found\n'
            : argv[0] === 'settings'
              ? `${on ? 1 : 0}\n`
              : '';
        return { stdout, stderr: '', exitCode: 0 };
      },
    };
    const s = new MiuiSettings(ui, { device, language: 'en' });
    assert.equal(await s.setUserExperienceProgram(true), true);
    assert.ok(!ui.log.some((l) => l.startsWith('tap')), 'no tap when already on');
    assert.deepEqual(shell[2], [
      'am',
      'start',
      '-W',
      '-a',
      'android.settings.PRIVACY_SETTINGS',
      '-f',
      '0x4000000',
    ]);
    assert.ok(!shell.flat().some((a) => a.includes('SubSettings')), 'never SubSettings');
    assert.equal(await s.setUserExperienceProgram(false), true);
    assert.equal(on, false);
    assert.equal(await s.isOn('uep'), false);
    await assert.rejects(s.openPage('nope'), /unknown page.*privacy/);
  });

  it('StatusBar: pull down and put back wait for the shade', async () => {
    const ui = new FakeUi();
    const shade: N = { id: 'com.android.systemui:id/notification_panel', bounds: [0, 0, 100, 100] };
    ui.onSwipe = (from, to) => {
      ui.screen = to.y > from.y ? shade : { bounds: [0, 0, 100, 100] };
    };
    const bar = new StatusBar(ui);
    assert.equal(await bar.isPulledDown(), false);
    await bar.pullDown();
    assert.equal(await bar.isPulledDown(), true);
    await bar.putBack();
    assert.equal(await bar.isPulledDown(), false);
    ui.onSwipe = () => undefined;
    await assert.rejects(bar.pullDown(), UiError);
  });

  it('the launcher indicator is read as N of M', () => {
    assert.deepEqual(parseIndicator('Page 2 of 3'), { index: 1, count: 3 });
    assert.deepEqual(parseIndicator('第1页，共3页'), { index: 0, count: 3 });
    assert.equal(parseIndicator('Page'), undefined);
  });
});
