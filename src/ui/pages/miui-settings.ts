/**
 * MIUI Settings: open a Settings page (by its activity, or by tapping the menu path from the main
 * screen) and the privacy toggles of xiaomi-telemetry.md §4.3: User Experience Program, diagnostic
 * data (both under Passwords & security > Privacy) and personalised ads (… > Privacy > Ad services).
 * Locators: locators.json `settings.*`, pages: `settingsPages`.
 */
import { INTENT_FLAG, UiError, type UiDriver } from '../driver.ts';
import { Page, type PageOptions } from './common.ts';

export type PrivacyToggle = 'uep' | 'diagnostic' | 'personalizedAds';

/** Which page holds each toggle and which locator entry is its row. */
const TOGGLES: Record<PrivacyToggle, { page: string; row: string; label: string }> = {
  uep: { page: 'privacy', row: 'settings.uep', label: 'User Experience Program' },
  diagnostic: { page: 'privacy', row: 'settings.diagnostic', label: 'Send diagnostic data automatically' },
  personalizedAds: {
    page: 'ad_services',
    row: 'settings.personalizedAds',
    label: 'Personalised ad recommendations',
  },
};

export class MiuiSettings extends Page {
  constructor(ui: UiDriver, opts: PageOptions = {}) {
    super(ui, opts);
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

  /** Opens a Settings page directly by its activity (and fragment extra); waits for its title. */
  async openPage(name: string): Promise<void> {
    const p = this.page(name);
    // CLEAR_TOP: without it `am start` only brings an existing Settings task to the front, showing
    // whatever page is on top of it.
    await this.ui.startActivity(p.component, {
      extras: p.extras,
      flags: INTENT_FLAG.CLEAR_TOP,
      timeoutMs: this.timeoutMs,
    });
    await this.find('settings.pageTitle', { title: p.title });
  }

  /** Opens the main Settings screen. */
  async openMain(): Promise<void> {
    const app = this.data.apps.settings!;
    await this.ui.startActivity(`${app.packages[0]}/${app.activity}`, {
      flags: INTENT_FLAG.CLEAR_TOP,
      timeoutMs: this.timeoutMs,
    });
    await this.find('settings.pageTitle', { title: 'Settings' });
  }

  /** Opens a page the way a person does: from the main screen, tapping each row of its menu path. */
  async navigateTo(name: string): Promise<void> {
    const p = this.page(name);
    await this.openMain();
    for (const title of p.path) {
      await this.tapOn('settings.row', { title });
      await this.find('settings.pageTitle', { title });
    }
  }

  /** Whether a privacy toggle is on, as its switch shows (opens its page). */
  async isOn(toggle: PrivacyToggle): Promise<boolean> {
    const t = TOGGLES[toggle];
    await this.openPage(t.page);
    return this.switchState(this.t(t.row));
  }

  /** Turns a privacy toggle on or off with a tap on its row (opens its page); returns the previous state. */
  async set(toggle: PrivacyToggle, on: boolean): Promise<boolean> {
    const t = TOGGLES[toggle];
    await this.openPage(t.page);
    return this.setSwitch(this.t(t.row), on, `"${t.label}"`);
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
