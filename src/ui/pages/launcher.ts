/**
 * The MIUI launcher (com.miui.home): go home, which home screen is shown, swipe to a screen, open
 * and close a folder, start an app from its icon. Locators: locators.json `launcher.*`.
 */
import { KEYCODE, UiError, type UiDriver } from '../driver.ts';
import { Page, type PageOptions } from './common.ts';

export class Launcher extends Page {
  constructor(ui: UiDriver, opts: PageOptions = {}) {
    super(ui, opts);
  }

  /** HOME, then waits for the workspace. */
  async goHome(): Promise<void> {
    await this.ui.pressKey(KEYCODE.HOME, { timeoutMs: this.timeoutMs });
    await this.find('launcher.workspace');
  }

  /** The shown home screen (0-based) and how many there are, from the page indicator. */
  async currentScreen(): Promise<{ index: number; count: number }> {
    const el = await this.find('launcher.pageIndicator');
    const m = parseIndicator(el.contentDesc);
    if (!m) {
      throw new UiError({
        serial: this.ui.serial,
        operation: 'read the home screen indicator',
        problem: `failed: its description ${JSON.stringify(el.contentDesc)} has no "N of M"`,
        hint: 'Update launcher.pageIndicator in src/ui/pages/locators.json for this launcher',
      });
    }
    return m;
  }

  /** Swipes across the workspace until home screen `index` (0-based) is shown. */
  async swipeToScreen(index: number): Promise<void> {
    let cur = await this.currentScreen();
    if (!Number.isInteger(index) || index < 0 || index >= cur.count) {
      throw new UiError({
        serial: this.ui.serial,
        operation: `swipe to home screen ${index}`,
        problem: `failed: there are ${cur.count} home screens (0-${cur.count - 1})`,
        hint: 'Pick an existing screen',
      });
    }
    for (let step = 0; step < cur.count * 2 && cur.index !== index; step++) {
      const from = cur.index;
      await this.ui.swipeScreen(index > cur.index ? 'left' : 'right', { timeoutMs: this.timeoutMs });
      const next = await this.waitForState(
        this.t('launcher.pageIndicator'),
        (el) => (parseIndicator(el.contentDesc)?.index ?? from) !== from,
        `a home screen other than ${from}`,
      );
      cur = parseIndicator(next.contentDesc)!;
    }
    if (cur.index !== index) {
      throw new UiError({
        serial: this.ui.serial,
        operation: `swipe to home screen ${index}`,
        problem: `failed: still on screen ${cur.index}`,
        hint: 'Check nothing covers the workspace',
      });
    }
  }

  /** Taps a folder on the shown home screen and waits for it to open. */
  async openFolder(name: string): Promise<void> {
    await this.tapOn('launcher.folder', { folder: name });
    await this.find('launcher.openFolderTitle', { folder: name });
  }

  /** Closes the open folder with BACK. */
  async closeFolder(name: string): Promise<void> {
    await this.ui.back({ timeoutMs: this.timeoutMs });
    await this.ui.waitGone(this.t('launcher.openFolderTitle', { folder: name }), {
      timeoutMs: this.timeoutMs,
    });
  }

  /** Taps an app's icon (on the shown screen, the dock or the open folder). */
  async openApp(label: string): Promise<void> {
    await this.tapOn('launcher.appIcon', { label });
  }
}

/** "Page 2 of 3" (any wording with two numbers) → { index: 1, count: 3 }. */
export function parseIndicator(desc: string): { index: number; count: number } | undefined {
  const m = /(\d+)\D+(\d+)/.exec(desc);
  return m ? { index: Number(m[1]) - 1, count: Number(m[2]) } : undefined;
}
