/**
 * Mi Browser (com.mi.globalbrowser; the China ROM's com.android.browser): open a URL, type into the
 * address bar, search with a chosen engine, incognito on/off, and the data-collection switches of its
 * settings ("Incognito mode", and "Enhanced incognito mode" where the installed version has it).
 * Locators: locators.json `browser.*`.
 */
import { KEYCODE, UiError, type UiDriver } from '../driver.ts';
import { Page, type PageOptions } from './common.ts';

export interface MiBrowserOptions extends PageOptions {
  /** The browser's package (default: the first of apps.browser.packages). */
  packageName?: string;
}

/** The browser's data-collection switches as its settings screen shows them. */
export interface BrowserDataSwitches {
  incognitoMode: boolean;
  /** undefined where this browser version has no such switch. */
  enhancedIncognito: boolean | undefined;
}

export class MiBrowser extends Page {
  readonly packageName: string;

  constructor(ui: UiDriver, opts: MiBrowserOptions = {}) {
    super(ui, opts);
    this.packageName = opts.packageName ?? this.data.apps.browser!.packages[0]!;
  }

  protected override vars(): Record<string, string> {
    return { browser: this.packageName };
  }

  /** Starts the browser's main activity and waits for its address bar. */
  async launch(): Promise<void> {
    const app = this.data.apps.browser!;
    await this.ui.startActivity(`${this.packageName}/${app.activity}`, { timeoutMs: this.timeoutMs });
    await this.find('browser.addressBar');
  }

  /** Opens `url` with a VIEW intent to the browser (a new tab) and waits for the address bar. */
  async openUrl(url: string): Promise<void> {
    await this.ui.openUrl(url, { packageName: this.packageName, timeoutMs: this.timeoutMs });
    await this.find('browser.addressBar');
  }

  /** Types `text` into the address bar and presses Enter (a URL loads, anything else searches). */
  async go(text: string): Promise<void> {
    await this.tapOn('browser.addressBar');
    const field = await this.find('browser.addressBar');
    await this.ui.clear(field, { timeoutMs: this.timeoutMs });
    await this.ui.type(field, text, { timeoutMs: this.timeoutMs });
    await this.ui.pressKey(KEYCODE.ENTER, { timeoutMs: this.timeoutMs });
  }

  /** Searches for `words`, first choosing `engine` (google, duckduckgo, bing) in settings if given. */
  async search(words: string, opts: { engine?: string } = {}): Promise<void> {
    if (opts.engine !== undefined) await this.setSearchEngine(opts.engine);
    await this.go(words);
  }

  /** The address bar's text (the URL of the shown tab). */
  async address(): Promise<string> {
    return (await this.find('browser.addressBar')).text;
  }

  /** Waits until the shown page has finished loading with this title. */
  async waitForPage(title: string): Promise<void> {
    await this.find('browser.page', { title });
  }

  async isIncognito(): Promise<boolean> {
    await this.find('browser.addressBar');
    return (
      (await this.ui.query(this.t('browser.incognitoIndicator'), { timeoutMs: this.timeoutMs })) !== null
    );
  }

  /** Incognito mode on or off through the browser's menu; returns the mode it was in. */
  async setIncognito(on: boolean): Promise<boolean> {
    const was = await this.isIncognito();
    if (was === on) return was;
    await this.tapOn('browser.menuButton');
    await this.tapOn('browser.menuIncognito');
    if (on) await this.find('browser.incognitoIndicator');
    else await this.ui.waitGone(this.t('browser.incognitoIndicator'), { timeoutMs: this.timeoutMs });
    return was;
  }

  /** Opens the browser's settings through its menu (the browser must be in front). */
  async openSettings(): Promise<void> {
    await this.tapOn('browser.menuButton');
    await this.tapOn('browser.menuSettings');
    await this.find('browser.settingsScreen');
  }

  /** Leaves the settings screen with BACK, back to the address bar. */
  async closeSettings(): Promise<void> {
    await this.ui.back({ timeoutMs: this.timeoutMs });
    await this.find('browser.addressBar');
  }

  private engineLabel(engine: string): string {
    const label = this.data.searchEngines[engine];
    if (!label) {
      throw new UiError({
        serial: this.ui.serial,
        operation: `choose search engine ${engine}`,
        problem: 'failed: unknown engine',
        hint: `Use one of ${Object.keys(this.data.searchEngines).join(', ')}`,
      });
    }
    return label;
  }

  /** Chooses the default search engine in the browser's settings and returns to the page. */
  async setSearchEngine(engine: string): Promise<void> {
    const label = this.engineLabel(engine);
    await this.openSettings();
    await this.tapOn('browser.prefSearchEngine');
    await this.tapOn('browser.engineOption', { engine: label });
    await this.waitForState(
      this.summaryOf(this.t('browser.prefSearchEngine')),
      (el) => el.text === label,
      `search engine ${label}`,
    );
    await this.closeSettings();
  }

  /** The default search engine's label as the settings screen shows it; returns to the page. */
  async searchEngine(): Promise<string> {
    await this.openSettings();
    const summary = await this.ui.find(this.summaryOf(this.t('browser.prefSearchEngine')), {
      timeoutMs: this.timeoutMs,
    });
    await this.closeSettings();
    return summary.text;
  }

  private summaryOf(row: ReturnType<Page['t']>) {
    return this.t('widget.summary').flatMap((s) => row.map((r) => ({ ...s, within: r })));
  }

  /** The data-collection switches as the settings screen shows them; returns to the page. */
  async dataSwitches(): Promise<BrowserDataSwitches> {
    await this.openSettings();
    const incognitoMode = await this.switchState(this.t('browser.prefIncognito'));
    const row = await this.ui.query(this.t('browser.prefEnhancedIncognito'), { timeoutMs: this.timeoutMs });
    const enhancedIncognito = row
      ? await this.switchState(this.t('browser.prefEnhancedIncognito'))
      : undefined;
    await this.closeSettings();
    return { incognitoMode, enhancedIncognito };
  }

  /**
   * "Enhanced incognito mode" (usage statistics while incognito) on or off in settings; returns the
   * state it had. Throws a UiError where the installed version has no such switch.
   */
  async setEnhancedIncognito(on: boolean): Promise<boolean> {
    await this.openSettings();
    const target = this.t('browser.prefEnhancedIncognito');
    if (!(await this.ui.query(target, { timeoutMs: this.timeoutMs }))) {
      await this.closeSettings();
      throw new UiError({
        serial: this.ui.serial,
        operation: `set "Enhanced incognito mode" ${on ? 'on' : 'off'}`,
        problem: `failed: ${this.packageName} has no such switch in its settings`,
        hint: 'Only Mi Browser 12.1.4 and later have it; update the browser or leave this toggle out of the scenario',
      });
    }
    const was = await this.setSwitch(target, on, '"Enhanced incognito mode"');
    await this.closeSettings();
    return was;
  }

  /** "Incognito mode" through the settings switch (the same preference as the menu). */
  async setIncognitoInSettings(on: boolean): Promise<boolean> {
    await this.openSettings();
    const was = await this.setSwitch(this.t('browser.prefIncognito'), on, '"Incognito mode"');
    await this.closeSettings();
    return was;
  }
}
