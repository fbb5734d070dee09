/**
 * Helpers shared by the page objects: finding by locator key (override candidates first, as the
 * locator data lists them), waiting for a state, switch rows. Only UiDriver is used.
 *
 * A miss (nothing matched within the time limit) first asks the interstitials hook, if any, whether a
 * dialog stood in front (it dismisses it and says true: the find is tried once more with the full
 * time limit; it throws for a dialog it does not know); a final miss is a LocatorMissError naming
 * the key, every candidate and the closest elements on screen.
 */
import {
  UiError,
  describeLocator,
  pollUntil,
  type Locator,
  type UiDriver,
  type UiElement,
} from '../driver.ts';
import { LocatorMissError, tryParse } from '../miss.ts';
import { inside, loadLocators, targetOf, type LocatorData } from './locators.ts';

/**
 * Called when a page step's target is missing: dismisses a dialog standing in front and returns true
 * (the step is retried once), returns false when there is none, throws for a dialog no rule knows.
 */
export type InterstitialsHook = (ui: UiDriver, log: (line: string) => void) => Promise<boolean>;

export interface PageOptions {
  /** Locator data (default: the shipped locators.json); with a phone's overrides applied: phoneLocators(). */
  locators?: LocatorData;
  /** Timeout for each wait of a page step (ms); default: the driver's. */
  timeoutMs?: number;
  /** The step log: which candidate of a key matched (and from which override file); passed to the hook. */
  log?: (line: string) => void;
  /** Dialogs between a step and its screen (src/ui/pages/interstitials.ts). */
  interstitials?: InterstitialsHook;
}

/** Whether a driver error means "not found in time" (as opposed to a broken session or phone). */
export function isMiss(err: unknown): boolean {
  return err instanceof LocatorMissError || (err instanceof UiError && /^timed out after/.test(err.problem));
}

export abstract class Page {
  protected readonly data: LocatorData;
  protected readonly timeoutMs: number;
  protected readonly log: (line: string) => void;
  private readonly interstitials: InterstitialsHook | undefined;

  constructor(
    protected readonly ui: UiDriver,
    opts: PageOptions = {},
  ) {
    this.data = opts.locators ?? loadLocators();
    this.timeoutMs = opts.timeoutMs ?? ui.timeoutMs;
    this.log = opts.log ?? (() => undefined);
    this.interstitials = opts.interstitials;
  }

  /** Locator entry `key` with this page's placeholder values (and `vars`). */
  protected t(key: string, vars: Record<string, string> = {}): Locator[] {
    return targetOf(this.data, key, { ...this.vars(), ...vars });
  }

  protected vars(): Record<string, string> {
    return {};
  }

  protected find(key: string, vars?: Record<string, string>): Promise<UiElement> {
    return this.locate(this.t(key, vars), key);
  }

  protected async tapOn(key: string, vars?: Record<string, string>): Promise<void> {
    await this.ui.tap(await this.find(key, vars), { timeoutMs: this.timeoutMs });
  }

  /**
   * Finds `target` (when `key` is given, `target` is that key's candidates: this.t(key)): on a miss asks
   * the interstitials hook and tries once more; logs which candidate matched.
   */
  protected async locate(target: Locator[], key?: string): Promise<UiElement> {
    const origins = key !== undefined ? this.data.locators[key]?.origins : undefined;
    const once = () => this.ui.find(target, { timeoutMs: this.timeoutMs });
    let el: UiElement;
    try {
      el = await once();
    } catch (err) {
      if (!isMiss(err)) throw err;
      if (!(await this.dialogDismissed())) throw await this.missError(err, target, 'find', key, origins);
      try {
        el = await once();
      } catch (again) {
        if (!isMiss(again)) throw again;
        throw await this.missError(again, target, 'find', key, origins);
      }
    }
    if (key !== undefined) {
      const from = origins?.[el.fallback];
      this.log(
        `locator ${key} matched [${el.fallback}] ${describeLocator(el.matched)}${from ? ` (override ${from})` : ''}`,
      );
    }
    return el;
  }

  /** Runs the interstitials hook, if any (true: a dialog was dismissed). Its errors go through. */
  private async dialogDismissed(): Promise<boolean> {
    if (!this.interstitials) return false;
    return this.interstitials(this.ui, this.log);
  }

  /** A LocatorMissError for `key` out of a driver's miss (the driver's closest elements, else a fresh look). */
  private async missError(
    err: unknown,
    target: Locator[],
    operation: string,
    key: string | undefined,
    origins: ReadonlyArray<string | undefined> | undefined,
    problem?: string,
  ): Promise<LocatorMissError> {
    if (err instanceof LocatorMissError && problem === undefined) {
      return key !== undefined ? err.withKey(key, origins) : err;
    }
    const root = tryParse(await this.ui.source({ timeoutMs: 5000 }).catch(() => undefined));
    return new LocatorMissError({
      serial: this.ui.serial,
      ...(key !== undefined ? { key } : {}),
      operation,
      problem: problem ?? (err instanceof UiError ? err.problem : `failed: ${String(err)}`),
      candidates: target,
      ...(root ? { root } : {}),
      ...(origins ? { origins } : {}),
      cause: err,
    });
  }

  /**
   * Waits until the target is there and `ok(element)` holds. When nothing matched in time the
   * interstitials hook is asked once (a dismissed dialog: the wait starts again).
   */
  protected async waitForState(
    target: Locator[],
    ok: (el: UiElement) => boolean,
    what: string,
    key?: string,
  ): Promise<UiElement> {
    const attempt = async (): Promise<{ el: UiElement | null; last: UiElement | null }> => {
      const deadline = Date.now() + this.timeoutMs;
      let last: UiElement | null = null;
      const el = await pollUntil(deadline, 150, async () => {
        last = await this.ui.query(target, { timeoutMs: Math.max(1000, deadline - Date.now()) });
        return last && ok(last) ? last : null;
      });
      return { el, last };
    };
    let r = await attempt();
    if (r.el) return r.el;
    if (!r.last && (await this.dialogDismissed())) {
      r = await attempt();
      if (r.el) return r.el;
    }
    const problem = r.last
      ? `not reached within ${this.timeoutMs} ms (found ${describeLocator(r.last.matched)}, state ${r.last.checked ? 'checked' : 'unchecked'}${r.last.text ? `, text ${JSON.stringify(r.last.text)}` : ''})`
      : `found nothing within ${this.timeoutMs} ms`;
    throw await this.missError(undefined, target, `wait for ${what}:`, key, undefined, problem);
  }

  /** The switch widget inside a switch row. */
  protected switchIn(row: Locator[]): Locator[] {
    return inside(targetOf(this.data, 'widget.switch'), row);
  }

  /** Whether the switch of `row` is on. */
  protected async switchState(row: Locator[]): Promise<boolean> {
    return (await this.locate(this.switchIn(row))).checked;
  }

  /** Turns the switch of `row` on or off (a tap on the row); returns the state it had. */
  protected async setSwitch(row: Locator[], on: boolean, what: string): Promise<boolean> {
    const before = await this.switchState(row);
    if (before !== on) {
      await this.ui.tap(await this.locate(row), { timeoutMs: this.timeoutMs });
      await this.waitForState(this.switchIn(row), (el) => el.checked === on, `${what} ${on ? 'on' : 'off'}`);
    }
    return before;
  }
}
