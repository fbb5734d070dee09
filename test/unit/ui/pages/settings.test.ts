/**
 * MiuiSettings against a scripted phone (the real ADB-only driver over a fake Device): a page opens by
 * the first action the phone resolves, else by its menu path; the stored setting is read back; the
 * interstitial rules dismiss a known dialog and report an unknown one.
 */
import assert from 'node:assert/strict';
import { AdbUiDriver } from '../../../../src/ui/adb/driver.ts';
import { UiError } from '../../../../src/ui/driver.ts';
import { MiuiSettings } from '../../../../src/ui/pages/miui-settings.ts';
import { loadLocators, validateLocatorData } from '../../../../src/ui/pages/locators.ts';
import {
  clearInterstitial,
  loadInterstitials,
  validateInterstitials,
  type InterstitialRule,
} from '../../../../src/ui/pages/interstitials.ts';
import { FakeDevice, dumpOf, type N } from '../fakes.ts';

const TITLE = 'com.android.settings:id/action_bar_title';
type Page = 'home' | 'settings' | 'passwords_security' | 'privacy' | 'ad_services';
const TITLES: Record<Page, string> = {
  home: '',
  settings: 'Settings',
  passwords_security: 'Passwords & security',
  privacy: 'Privacy',
  ad_services: 'Ad services',
};
const NEXT: Partial<Record<Page, { row: string; to: Page }>> = {
  settings: { row: 'Passwords & security', to: 'passwords_security' },
  passwords_security: { row: 'Privacy', to: 'privacy' },
  privacy: { row: 'Ad services', to: 'ad_services' },
};

/** A phone with Settings pages: resolves the actions in `handlers`, stores the UEP setting. */
class Phone extends FakeDevice {
  page: Page = 'home';
  uep: string | null = '0';
  /** What the switch shows, when it lies about the stored value. */
  shownOverride: boolean | undefined;
  locale = 'en-US';
  dialog: N | undefined;

  constructor(readonly handlers: Record<string, { component: string; page: Page }>) {
    super();
    this.dumps = [() => ({ stdout: dumpOf(this.screen()) })];
    this.answers = {
      cmd: (c) => {
        const a = [...c];
        const h = this.handlers[a[a.indexOf('-a') + 1]!];
        return {
          stdout: h ? `priority=0 preferredOrder=0 match=0x108000\n${h.component}\n` : 'No activity found\n',
        };
      },
      am: (c) => {
        const a = [...c];
        if (a.includes('-n')) this.page = 'settings';
        else this.page = this.handlers[a[a.indexOf('-a') + 1]!]!.page;
        return { stdout: 'Status: ok\nComplete\n' };
      },
      getprop: (c) => ({ stdout: c[1] === 'persist.sys.locale' ? `${this.locale}\n` : '\n' }),
      settings: () => ({ stdout: `${this.uep ?? 'null'}\n` }),
      input: (c) => {
        if (c[1] !== 'tap') return {};
        const y = Number(c[3]);
        if (this.dialog) {
          if (y >= 80) this.dialog = undefined;
          return {};
        }
        const next = NEXT[this.page];
        if (y >= 20 && y < 40 && next) this.page = next.to;
        if (y >= 40 && y < 60 && this.page === 'privacy') this.uep = this.uep === '1' ? '0' : '1';
        return {};
      },
    };
  }

  screen(): N {
    if (this.dialog) return this.dialog;
    if (this.page === 'home') return { bounds: [0, 0, 100, 100], id: 'com.miui.home:id/workspace' };
    const kids: N[] = [{ id: TITLE, text: TITLES[this.page], bounds: [0, 0, 100, 10] }];
    const next = NEXT[this.page];
    if (next)
      kids.push({
        bounds: [0, 20, 100, 40],
        kids: [{ id: 'android:id/title', text: next.row, bounds: [0, 20, 100, 40] }],
      });
    if (this.page === 'privacy') {
      const on = this.shownOverride ?? this.uep === '1';
      kids.push({
        id: 'com.android.settings:id/user_experience_program',
        bounds: [0, 40, 100, 60],
        kids: [{ cls: 'android.widget.Switch', checked: on, bounds: [80, 40, 100, 60] }],
      });
    }
    return { bounds: [0, 0, 100, 100], kids };
  }
}

const PRIVACY_DASHBOARD = {
  component: 'com.android.settings/.Settings$PrivacyDashboardActivity',
  page: 'privacy' as Page,
};

function settings(phone: Phone, log: string[]) {
  const ui = new AdbUiDriver(phone, { timeoutMs: 300, pollMs: 1 });
  return new MiuiSettings(ui, { device: phone, log: (l) => log.push(l), timeoutMs: 300 });
}

describe('ui/pages: Settings pages by action, else by menu path', () => {
  it('starts the first action the phone resolves (am start -W -a, CLEAR_TOP) and waits for the title', async () => {
    const phone = new Phone({ 'android.settings.PRIVACY_SETTINGS': PRIVACY_DASHBOARD });
    const log: string[] = [];
    await settings(phone, log).openPage('privacy');
    assert.equal(phone.page, 'privacy');
    const argv = phone.argvCalls().filter((c) => c[0] === 'cmd' || c[0] === 'am');
    assert.deepEqual(argv, [
      [
        'cmd',
        'package',
        'resolve-activity',
        '--brief',
        '-a',
        'miui.intent.action.PRIVACY_SETTINGS',
        '-p',
        'com.miui.securitycenter',
      ],
      ['cmd', 'package', 'resolve-activity', '--brief', '-a', 'android.settings.PRIVACY_SETTINGS'],
      ['am', 'start', '-W', '-a', 'android.settings.PRIVACY_SETTINGS', '-f', '0x4000000'],
    ]);
    assert.ok(
      log.includes(
        'Settings privacy: miui.intent.action.PRIVACY_SETTINGS (-p com.miui.securitycenter) resolves to no activity on this phone',
      ),
      log.join('\n'),
    );
    assert.ok(
      log.includes(
        'Settings privacy: opened by action android.settings.PRIVACY_SETTINGS → com.android.settings/.Settings$PrivacyDashboardActivity',
      ),
      log.join('\n'),
    );
    assert.ok(!phone.argvCalls().some((c) => c.includes('.SubSettings')), 'never SubSettings');
  });

  it('walks the menu path from the main screen when no action resolves', async () => {
    const phone = new Phone({});
    const log: string[] = [];
    await settings(phone, log).openPage('ad_services');
    assert.equal(phone.page, 'ad_services');
    assert.deepEqual(
      phone
        .argvCalls()
        .filter((c) => c[0] === 'am')
        .map((c) => c.slice(0, 4)),
      [['am', 'start', '-n', 'com.android.settings/.Settings']],
    );
    assert.ok(
      log.includes(
        'Settings ad_services: opened by its menu path Settings › Passwords & security › Privacy › Ad services',
      ),
      log.join('\n'),
    );
  });

  it('an action whose page never shows its title falls through to the menu path', async () => {
    const phone = new Phone({
      'android.settings.PRIVACY_SETTINGS': { component: 'com.android.settings/.Other', page: 'home' },
    });
    const log: string[] = [];
    await settings(phone, log).openPage('privacy');
    assert.equal(phone.page, 'privacy');
    assert.ok(
      log.some((l) =>
        /started com\.android\.settings\/\.Other, but no page titled "Privacy" came up/.test(l),
      ),
      log.join('\n'),
    );
    assert.ok(log.some((l) => /opened by its menu path/.test(l)));
  });

  it('reads the stored setting back after a toggle and logs both; a contradiction is an error naming both', async () => {
    const phone = new Phone({ 'android.settings.PRIVACY_SETTINGS': PRIVACY_DASHBOARD });
    const log: string[] = [];
    const s = settings(phone, log);
    assert.equal(await s.setUserExperienceProgram(true), false);
    assert.equal(phone.uep, '1');
    assert.ok(
      log.includes('User Experience Program: switch on, stored upload_log_pref=1 (secure)'),
      log.join('\n'),
    );
    phone.shownOverride = true;
    phone.uep = '0';
    await assert.rejects(
      s.setUserExperienceProgram(true),
      (e: unknown) =>
        e instanceof UiError &&
        /the switch shows on, but stored upload_log_pref=0 \(secure\) means off/.test(e.message),
    );
  });

  it('reads the UI language from the phone and uses its texts (zh where the data has them)', async () => {
    const phone = new Phone({ 'android.settings.PRIVACY_SETTINGS': PRIVACY_DASHBOARD });
    phone.locale = 'zh-CN';
    const s = settings(phone, []);
    assert.equal(await s.uiLanguage(), 'zh');
    phone.page = 'privacy';
    // The UEP row is found by id; its text fallback is the Chinese title.
    const data = loadLocators();
    assert.equal(data.texts.uepTitle?.zh, '加入"用户体验改进计划"');
    assert.equal(await s.isOn('uep'), false);
  });

  it('refuses the old component/extras form of settingsPages and a path through an unknown page', () => {
    const raw = JSON.parse(JSON.stringify({ ...loadLocators(), file: undefined }));
    raw.settingsPages.privacy = {
      component: 'com.android.settings/.SubSettings',
      extras: {},
      title: { en: 'P' },
      path: ['privacy'],
      source: 'x',
    };
    assert.throws(
      () => validateLocatorData(raw, 'l.json'),
      /settingsPages\.privacy: unknown fields component, extras \(pages open by `actions`/,
    );
    raw.settingsPages.privacy = {
      actions: [],
      title: { en: 'P' },
      path: ['nowhere', 'privacy'],
      source: 'x',
    };
    assert.throws(
      () => validateLocatorData(raw, 'l.json'),
      /settingsPages\.privacy\.path\[0\]: must name a settingsPages entry/,
    );
    raw.settingsPages.privacy = {
      actions: [{ action: 'a b', source: 's' }],
      title: { en: 'P' },
      path: ['privacy'],
      source: 'x',
    };
    assert.throws(() => validateLocatorData(raw, 'l.json'), /actions\[0\]\.action: must be an intent action/);
  });
});

describe('ui/pages/interstitials: dialogs handled by data', () => {
  const dialog = (title: string, buttons: string[]): N => ({
    bounds: [0, 0, 100, 100],
    kids: [
      { id: 'android:id/alertTitle', text: title, bounds: [0, 0, 100, 20] },
      { id: 'android:id/message', text: 'Some words', bounds: [0, 20, 100, 60] },
      ...buttons.map((b, i): N => ({
        id: `android:id/button${i + 1}`,
        cls: 'android.widget.Button',
        text: b,
        bounds: [i * 50, 80, i * 50 + 50, 100],
      })),
    ],
  });
  const rules: InterstitialRule[] = [
    {
      id: 'known',
      match: { id: 'android:id/alertTitle', text: 'Known' },
      action: { tap: { id: 'android:id/button1' } },
      source: 'a test rule, nowhere real',
    },
    {
      id: 'backable',
      match: { id: 'android:id/alertTitle', text: 'Back me' },
      action: { key: 'back' },
      source: 'a test rule, nowhere real',
    },
  ];

  it('a matching rule performs its action and logs the dismissal', async () => {
    const phone = new Phone({});
    phone.dialog = dialog('Known', ['OK', 'Cancel']);
    const ui = new AdbUiDriver(phone, { timeoutMs: 300, pollMs: 1 });
    const log: string[] = [];
    assert.equal(await clearInterstitial(ui, (l) => log.push(l), rules), true);
    assert.equal(phone.dialog, undefined, 'tapped OK');
    assert.deepEqual(log, ['dismissed dialog known (a test rule, nowhere real)']);
    phone.dialog = dialog('Back me', ['OK']);
    assert.equal(await clearInterstitial(ui, () => undefined, rules), true);
    assert.deepEqual(phone.argvCalls().at(-1), ['input', 'keyevent', '4']);
  });

  it('an unknown dialog is reported with its texts and buttons, and nothing is tapped', async () => {
    const phone = new Phone({});
    phone.dialog = dialog('Allow something?', ['Allow', 'Deny']);
    const ui = new AdbUiDriver(phone, { timeoutMs: 300, pollMs: 1 });
    await assert.rejects(
      clearInterstitial(ui, () => undefined, rules),
      (e: unknown) =>
        e instanceof UiError &&
        /unknown dialog of com\.example is in front \(texts: "Allow something\?", "Some words"; buttons: "Allow", "Deny"\)/.test(
          e.message,
        ) &&
        /add a rule to src\/ui\/pages\/interstitials\.json/.test(e.message),
    );
    assert.ok(!phone.argvCalls().some((c) => c[0] === 'input'), 'nothing tapped');
  });

  it('no dialog: false; the shipped rules validate and a broken rule names its field', async () => {
    const phone = new Phone({});
    phone.page = 'settings';
    const ui = new AdbUiDriver(phone, { timeoutMs: 300, pollMs: 1 });
    assert.equal(await clearInterstitial(ui, () => undefined, rules), false);
    const shipped = loadInterstitials();
    assert.ok(shipped.every((r) => r.source.length > 10));
    assert.ok(
      shipped.every((r) => !r.synthetic || /virtual lab only/.test(r.source)),
      'synthetic rules say so',
    );
    assert.throws(
      () =>
        validateInterstitials(
          { rules: [{ id: 'x', match: { idd: 'a' }, action: { key: 'back' }, source: 'somewhere real' }] },
          'i.json',
        ),
      /i\.json: rules\[0\]\.match/,
    );
    assert.throws(
      () =>
        validateInterstitials(
          { rules: [{ id: 'x', match: { id: 'a' }, action: { tap: { id: 'b' } }, source: 'short' }] },
          'i.json',
        ),
      /i\.json: rules\[0\]\.source: say where/,
    );
  });
});
