/**
 * The status bar: pull the notification shade down and put it back. Locators: `statusBar.*`.
 */
import type { UiDriver } from '../driver.ts';
import { Page, type PageOptions } from './common.ts';

export class StatusBar extends Page {
  constructor(ui: UiDriver, opts: PageOptions = {}) {
    super(ui, opts);
  }

  async isPulledDown(): Promise<boolean> {
    return (await this.ui.query(this.t('statusBar.shade'), { timeoutMs: this.timeoutMs })) !== null;
  }

  /** Swipes down from the top edge and waits for the shade. */
  async pullDown(): Promise<void> {
    await this.ui.openNotifications({ timeoutMs: this.timeoutMs });
    await this.find('statusBar.shade');
  }

  /** Swipes the shade back up and waits until it is gone. */
  async putBack(): Promise<void> {
    await this.ui.swipeScreen('up', { timeoutMs: this.timeoutMs });
    await this.ui.waitGone(this.t('statusBar.shade'), { timeoutMs: this.timeoutMs });
  }
}
