/**
 * MIUI Settings: open a Settings page and the privacy toggles of xiaomi-telemetry.md §4.3: User
 * Experience Program, diagnostic data (both under Passwords & security > Privacy) and personalised
 * ads (… > Privacy > Ad services). Locators: locators.json `settings.*`; pages: `settingsPages`;
 * texts in the phone's UI language: `texts` and each page's `title`.
 *
 * A page opens by the first of its exported `actions` the phone resolves (`cmd package
 * resolve-activity`, then `am start -a`), else by tapping its menu `path` from the main screen
 * (android-realities.md §7). Never by a `SubSettings` fragment: it is not exported, and the shell
 * gets "Permission Denial … not exported". Resolving needs the phone's shell (`device`); without
 * it the menu path is walked. Every choice goes to the step log (PageOptions `log`).
 *
 * With `device`, set() reads the stored setting back after the switch and logs both; a switch that
 * disagrees with the stored value is a UiError naming both.
 */
import { INTENT_FLAG, UiError, type UiDriver } from '../driver.ts';
import { resolveActivity, startActivityByAction, type ActivityShell } from '../../device/activities.ts';
import { DeviceError, DeviceUnavailableError } from '../../device/index.ts';
import { Page, type PageOptions } from './common.ts';
import { languageOf, textIn, textsIn } from './locators.ts';

export type PrivacyToggle = 'uep' | 'diagnostic' | 'personalizedAds';

/** Where a toggle is stored (xiaomi-telemetry.md §4.3) and how the value reads. */
export interface StoredSetting {
  ns: 'secure' | 'global';
  key: string;
  /** The state the stored value means; undefined when it does not say (unset: a firmware default). */
  read: (raw: string | null) => boolean | undefined;
}

/** Which page holds each toggle, which locator entry is its row, and where it is stored. */
export const PRIVACY_TOGGLES: Record<
  PrivacyToggle,
  { page: string; row: string; label: string; stored: StoredSetting }
> = {
  uep: {
    page: 'privacy',
    row: 'settings.uep',
    label: 'User Experience Program',
    // On iff 1; unset or -1: the build's default (isUserExperienceProgramEnable).
    stored: {
      ns: 'secure',
      key: 'upload_log_pref',
      read: (v) => (v === null || v === '-1' ? undefined : v === '1'),
    },
  },
  diagnostic: {
    page: 'privacy',
    row: 'settings.diagnostic',
    label: 'Send diagnostic data automatically',
    // 1/0; unset follows the UEP value.
    stored: { ns: 'secure', key: 'upload_debug_log_pref', read: (v) => (v === null ? undefined : v === '1') },
  },
  personalizedAds: {
    page: 'ad_services',
    row: 'settings.personalizedAds',
    label: 'Personalised ad recommendations',
    // A bit field, bit0 = on; unset = on.
    stored: {
      ns: 'global',
      key: 'personalized_ad_enabled',
      read: (v) => {
        if (v === null) return true;
        const n = Number(v);
        return Number.isInteger(n) ? (n & 1) === 1 : undefined;
      },
    },
  },
};

export interface MiuiSettingsOptions extends PageOptions {
  /** The phone's shell: resolves actions, reads the language and the stored settings. */
  device?: ActivityShell;
  /** UI language (`en`, `zh` …); default: the phone's persist.sys.locale, else ro.product.locale, else en. */
  language?: string;
}

export class MiuiSettings extends Page {
  private readonly device: ActivityShell | undefined;
  private language: string | undefined;

  constructor(ui: UiDriver, opts: MiuiSettingsOptions = {}) {
    super(ui, opts);
    this.device = opts.device;
    this.language = opts.language;
  }

  protected override vars(): Record<string, string> {
    return textsIn(this.data, this.language ?? 'en');
  }

  /** The phone's UI language, read once (getprop persist.sys.locale, else ro.product.locale). */
  async uiLanguage(): Promise<string> {
    if (this.language) return this.language;
    let lang = 'en';
    if (this.device) {
      for (const prop of ['persist.sys.locale', 'ro.product.locale']) {
        const r = await this.device.shell(['getprop', prop], { timeoutMs: this.timeoutMs });
        const v = r.stdout.trim();
        if (r.exitCode === 0 && v) {
          lang = languageOf(v);
          break;
        }
      }
    }
    return (this.language = lang);
  }

  private page(name: string) {
    const p = this.data.settingsPages[name];
    if (!p) {
      throw new UiError({
        serial: this.ui.serial,
        operation: `open Settings page ${name}`,
        problem: 'failed: unknown page',
        hint: `Use one of ${Object.keys(this.data.settingsPages).join(', ')} (settingsPages in src/ui/pages/locators.json)`,
      });
    }
    return p;
  }

  private title(name: string): string {
    return textIn(this.page(name).title, this.language ?? 'en');
  }

  /**
   * Opens a Settings page: by the first of its actions the phone resolves (and whose page shows its
   * title), else by its menu path. Logs which way it went.
   */
  async openPage(name: string): Promise<void> {
    const p = this.page(name);
    await this.uiLanguage();
    const title = this.title(name);
    if (!this.device && p.actions.length) {
      this.log(`Settings ${name}: no phone shell to resolve its actions; walking the menu path`);
    }
    for (const a of this.device ? p.actions : []) {
      const what = `${a.action}${a.package ? ` (-p ${a.package})` : ''}`;
      const r = await resolveActivity(this.device!, a, { timeoutMs: this.timeoutMs });
      if (r.kind === 'none') {
        this.log(`Settings ${name}: ${what} resolves to no activity on this phone`);
        continue;
      }
      if (r.kind === 'ambiguous') {
        this.log(
          `Settings ${name}: ${what} has several handlers and no default (${r.component}); not started`,
        );
        continue;
      }
      try {
        // CLEAR_TOP: without it `am start` only brings an existing Settings task to the front.
        await startActivityByAction(
          this.device!,
          { ...a, flags: INTENT_FLAG.CLEAR_TOP },
          { timeoutMs: this.timeoutMs },
        );
      } catch (err) {
        // A resolved activity the shell may not start (not exported to it on this firmware: unverified
        // for MIUI's, facts §7–8): the next action, or the menu path.
        if (!(err instanceof DeviceError) || err instanceof DeviceUnavailableError) throw err;
        this.log(
          `Settings ${name}: ${what} resolved to ${r.component}, but did not start (${err.message}); trying the next way`,
        );
        continue;
      }
      try {
        await this.find('settings.pageTitle', { title });
        this.log(`Settings ${name}: opened by action ${what} → ${r.component}`);
        return;
      } catch (err) {
        if (!(err instanceof UiError)) throw err;
        this.log(
          `Settings ${name}: ${what} started ${r.component}, but no page titled "${title}" came up; trying the next way`,
        );
      }
    }
    await this.navigateTo(name);
  }

  /** Opens the main Settings screen. */
  async openMain(): Promise<void> {
    await this.uiLanguage();
    const app = this.data.apps.settings!;
    await this.ui.startActivity(`${app.packages[0]}/${app.activity}`, {
      flags: INTENT_FLAG.CLEAR_TOP,
      timeoutMs: this.timeoutMs,
    });
    await this.find('settings.pageTitle', { title: this.vars().settingsTitle ?? 'Settings' });
  }

  /** Opens a page the way a person does: from the main screen, tapping each row of its menu path. */
  async navigateTo(name: string): Promise<void> {
    const p = this.page(name);
    await this.openMain();
    const titles = p.path.map((k) => this.title(k));
    for (const title of titles) {
      await this.tapOn('settings.row', { title });
      await this.find('settings.pageTitle', { title });
    }
    this.log(`Settings ${name}: opened by its menu path ${['Settings', ...titles].join(' › ')}`);
  }

  /** Whether a privacy toggle is on, as its switch shows (opens its page). */
  async isOn(toggle: PrivacyToggle): Promise<boolean> {
    const t = PRIVACY_TOGGLES[toggle];
    await this.openPage(t.page);
    return this.switchState(this.t(t.row));
  }

  /**
   * Turns a privacy toggle on or off with a tap on its row (opens its page); returns the previous
   * state. With `device`, reads the stored setting back and logs both (a disagreement is a UiError).
   */
  async set(toggle: PrivacyToggle, on: boolean): Promise<boolean> {
    const t = PRIVACY_TOGGLES[toggle];
    await this.openPage(t.page);
    const before = await this.setSwitch(this.t(t.row), on, `"${t.label}"`);
    if (this.device) await this.readBack(toggle, on);
    return before;
  }

  /** The stored value of a toggle against what its switch shows: logged; a contradiction throws. */
  async readBack(toggle: PrivacyToggle, shown: boolean): Promise<void> {
    const t = PRIVACY_TOGGLES[toggle];
    const r = await this.device!.shell(['settings', 'get', t.stored.ns, t.stored.key], {
      timeoutMs: this.timeoutMs,
    });
    const out = r.stdout.trim();
    const raw = r.exitCode !== 0 || out === 'null' || out === '' ? null : out;
    const stored = `stored ${t.stored.key}=${raw ?? 'unset'} (${t.stored.ns})`;
    const line = `${t.label}: switch ${shown ? 'on' : 'off'}, ${stored}`;
    const means = t.stored.read(raw);
    if (means !== undefined && means !== shown) {
      throw new UiError({
        serial: this.ui.serial,
        operation: `set "${t.label}" ${shown ? 'on' : 'off'}`,
        problem: `failed: the switch shows ${shown ? 'on' : 'off'}, but ${stored} means ${means ? 'on' : 'off'}`,
        hint: `The Settings screen and the stored setting disagree on this firmware: check \`adb shell settings get ${t.stored.ns} ${t.stored.key}\` and the row locator ${t.row} in src/ui/pages/locators.json`,
      });
    }
    this.log(means === undefined ? `${line}: the firmware default` : line);
  }

  /** Settings > Passwords & security > Privacy > User Experience Program. */
  setUserExperienceProgram(on: boolean): Promise<boolean> {
    return this.set('uep', on);
  }

  /** Settings > Passwords & security > Privacy > Send diagnostic data automatically. */
  setDiagnosticData(on: boolean): Promise<boolean> {
    return this.set('diagnostic', on);
  }

  /** Settings > Passwords & security > Privacy > Ad services > Personalised ad recommendations. */
  setPersonalisedAds(on: boolean): Promise<boolean> {
    return this.set('personalizedAds', on);
  }
}
