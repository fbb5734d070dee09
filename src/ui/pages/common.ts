/** Helpers shared by the page objects: waiting for a state, switch rows. Only UiDriver is used. */
import {
  UiError,
  describeTarget,
  pollUntil,
  type Locator,
  type UiDriver,
  type UiElement,
} from '../driver.ts';
import { inside, loadLocators, targetOf, type LocatorData } from './locators.ts';

export interface PageOptions {
  /** Locator data (default: the shipped locators.json). */
  locators?: LocatorData;
  /** Timeout for each wait of a page step (ms); default: the driver's. */
  timeoutMs?: number;
}

export abstract class Page {
  protected readonly data: LocatorData;
  protected readonly timeoutMs: number;

  constructor(
    protected readonly ui: UiDriver,
    opts: PageOptions = {},
  ) {
    this.data = opts.locators ?? loadLocators();
    this.timeoutMs = opts.timeoutMs ?? ui.timeoutMs;
  }

  /** Locator entry `key` with this page's placeholder values (and `vars`). */
  protected t(key: string, vars: Record<string, string> = {}): Locator[] {
    return targetOf(this.data, key, { ...this.vars(), ...vars });
  }

  protected vars(): Record<string, string> {
    return {};
  }

  protected find(key: string, vars?: Record<string, string>): Promise<UiElement> {
    return this.ui.find(this.t(key, vars), { timeoutMs: this.timeoutMs });
  }

  protected async tapOn(key: string, vars?: Record<string, string>): Promise<void> {
    await this.ui.tap(await this.find(key, vars), { timeoutMs: this.timeoutMs });
  }

  /** Waits until the target is there and `ok(element)` holds. */
  protected async waitForState(
    target: Locator[],
    ok: (el: UiElement) => boolean,
    what: string,
  ): Promise<UiElement> {
    const deadline = Date.now() + this.timeoutMs;
    let last: UiElement | null = null;
    const el = await pollUntil(deadline, 150, async () => {
      last = await this.ui.query(target, { timeoutMs: Math.max(1000, deadline - Date.now()) });
      return last && ok(last) ? last : null;
    });
    if (el) return el;
    throw new UiError({
      serial: this.ui.serial,
      operation: `wait for ${what} (${describeTarget(target)})`,
      problem: last ? `not reached within ${this.timeoutMs} ms` : `found nothing within ${this.timeoutMs} ms`,
      hint: 'Check the phone is on the expected screen and the locators in src/ui/pages/locators.json',
    });
  }

  /** The switch widget inside a switch row. */
  protected switchIn(row: Locator[]): Locator[] {
    return inside(targetOf(this.data, 'widget.switch'), row);
  }

  /** Whether the switch of `row` is on. */
  protected async switchState(row: Locator[]): Promise<boolean> {
    return (await this.ui.find(this.switchIn(row), { timeoutMs: this.timeoutMs })).checked;
  }

  /** Turns the switch of `row` on or off (a tap on the row); returns the state it had. */
  protected async setSwitch(row: Locator[], on: boolean, what: string): Promise<boolean> {
    const before = await this.switchState(row);
    if (before !== on) {
      await this.ui.tap(await this.ui.find(row, { timeoutMs: this.timeoutMs }), {
        timeoutMs: this.timeoutMs,
      });
      await this.waitForState(this.switchIn(row), (el) => el.checked === on, `${what} ${on ? 'on' : 'off'}`);
    }
    return before;
  }
}
