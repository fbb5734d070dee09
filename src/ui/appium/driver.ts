/**
 * The Appium UiDriver: a webdriverio `remote()` session through an Appium server (ours, see
 * server.ts) on the UiAutomator2 driver. Only plain WebDriver protocol commands and the `mobile:`
 * executes the driver documents are used (facts appium-uia2.md §3b):
 * find → `POST /elements` (id, accessibility id, class name, xpath), tap → element click, type →
 * element value (any Unicode), clear → element clear, keys → `mobile: pressKey`, back → `POST /back`,
 * swipes → W3C pointer actions, activities and URLs → `mobile: startActivity` (the driver runs
 * `am start-activity` with its own quoting), source, screenshot, window rect, delete session.
 *
 * Waiting is done here, not with Appium's implicit wait (0), so that every fallback of a target is
 * tried in each round.
 */
import { remote } from 'webdriverio';
import { adbCommand } from '../../device/errors.ts';
import {
  SwipeGestures,
  UiError,
  checkAmOutput,
  describeLocator,
  describeTarget,
  pollUntil,
  targetList,
  withDeadline,
  type Bounds,
  type CallOptions,
  type Locator,
  type Point,
  type StartActivityOptions,
  type Target,
  type UiDriver,
  type UiElement,
} from '../driver.ts';
import {
  allocateSystemPort,
  appiumCapabilities,
  releaseSystemPort,
  type CapabilityOptions,
} from './capabilities.ts';
import { findMiss, tryParse } from '../miss.ts';
import { strategyFor } from './selectors.ts';

type Browser = Awaited<ReturnType<typeof remote>>;

const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';

export interface AppiumUiDriverOptions extends CapabilityOptions {
  /** The Appium server, e.g. `http://127.0.0.1:4723/`. */
  serverUrl: string;
  serial: string;
  /** The adb server port the harness uses. */
  adbPort: number;
  /** The adb server's host (`appium:remoteAdbHost` when it is not loopback). */
  adbHost?: string;
  /** Default: a free port (allocateSystemPort()). */
  systemPort?: number;
  /** Default per-call timeout (ms). Default 20000. */
  timeoutMs?: number;
  /** Session start timeout (ms). Default 60000. */
  sessionTimeoutMs?: number;
  /** Pause between two looks while waiting for an element (ms). Default 200. */
  pollMs?: number;
  /** Duration of swipes (ms). Default 300. */
  swipeMs?: number;
}

function errorText(err: unknown): string {
  const e = err as { message?: string; name?: string } | undefined;
  return (e?.message ?? String(err)).split('\n')[0]!.trim();
}

function isStale(err: unknown): boolean {
  return /stale element|no such element|StaleElementReference/i.test(
    `${(err as Error | undefined)?.name ?? ''} ${errorText(err)}`,
  );
}

export class AppiumUiDriver extends SwipeGestures implements UiDriver {
  readonly kind = 'appium' as const;
  readonly serial: string;
  readonly timeoutMs: number;
  readonly systemPort: number;
  readonly serverUrl: string;
  private readonly pollMs: number;
  private readonly swipeMs: number;
  private closed = false;
  private readonly releasePort: boolean;

  private constructor(
    private readonly browser: Browser,
    opts: AppiumUiDriverOptions & { systemPort: number },
    releasePort: boolean,
  ) {
    super();
    this.serial = opts.serial;
    this.serverUrl = opts.serverUrl;
    this.systemPort = opts.systemPort;
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.pollMs = opts.pollMs ?? 200;
    this.swipeMs = opts.swipeMs ?? 300;
    this.releasePort = releasePort;
  }

  /** Opens a session on the phone (capabilities from capabilities.ts). */
  static async open(opts: AppiumUiDriverOptions): Promise<AppiumUiDriver> {
    const own = opts.systemPort === undefined;
    const systemPort = opts.systemPort ?? (await allocateSystemPort());
    const url = new URL(opts.serverUrl);
    const sessionMs = opts.sessionTimeoutMs ?? 60_000;
    const capabilities = appiumCapabilities(
      {
        serial: opts.serial,
        adbPort: opts.adbPort,
        ...(opts.adbHost !== undefined ? { adbHost: opts.adbHost } : {}),
        systemPort,
      },
      opts,
    );
    let browser: Browser;
    try {
      browser = await withDeadline(
        opts.serial,
        `open an Appium session at ${opts.serverUrl}`,
        sessionMs,
        'Check the phone is listed by `adb devices` and the Appium server log',
        () =>
          remote({
            protocol: url.protocol.replace(':', ''),
            hostname: url.hostname,
            port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
            path: url.pathname || '/',
            capabilities,
            logLevel: 'silent',
            connectionRetryCount: 0,
            connectionRetryTimeout: sessionMs,
          }),
      );
    } catch (err) {
      if (own) releaseSystemPort(systemPort);
      if (err instanceof UiError) throw err;
      const text = errorText(err);
      throw new UiError({
        serial: opts.serial,
        operation: `open an Appium session at ${opts.serverUrl}`,
        problem: `failed: ${text}`,
        hint: /ECONNREFUSED|fetch failed|Failed to fetch|connect/i.test(text)
          ? `No Appium server answers at ${opts.serverUrl}; start one (\`phonehome appium up\`)`
          : /not in the list of connected devices|Could not find a connected/i.test(text)
            ? `The adb server on port ${opts.adbPort} does not list the phone; check \`${adbCommand(opts.adbPort, undefined, 'devices')}\``
            : /driver.*not.*installed|Could not find a driver|automationName/i.test(text)
              ? 'The uiautomator2 driver is not installed for this Appium server; run scripts/setup'
              : /instrumentation|UiAutomator2 server/i.test(text)
                ? 'The UiAutomator2 server did not start on the phone; on MIUI enable "USB debugging (Security settings)" and "Install via USB"'
                : 'See the Appium server log',
        cause: err,
      });
    }
    return new AppiumUiDriver(browser, { ...opts, systemPort }, own);
  }

  private ms(opts?: CallOptions): number {
    return opts?.timeoutMs ?? this.timeoutMs;
  }

  /** One protocol step under a deadline; failures become UiErrors naming the operation. */
  private async call<T>(operation: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    if (this.closed) {
      throw new UiError({
        serial: this.serial,
        operation,
        problem: 'failed: the Appium session was closed',
        hint: 'Open a new driver for this phone',
      });
    }
    try {
      return await withDeadline(
        this.serial,
        operation,
        timeoutMs,
        'Check the phone is awake and the Appium server is running',
        fn,
      );
    } catch (err) {
      if (err instanceof UiError) throw err;
      const text = errorText(err);
      throw new UiError({
        serial: this.serial,
        operation,
        problem: `failed: ${text}`,
        hint: /invalid session|session.*(terminated|not started|deleted)|A session is either terminated/i.test(
          text,
        )
          ? 'The Appium session ended (phone disconnected or UiAutomator2 server crashed); open a new driver'
          : /ECONNREFUSED|fetch failed/i.test(text)
            ? `The Appium server at ${this.serverUrl} is gone; start it again`
            : 'See the Appium server log',
        cause: err,
      });
    }
  }

  // ------------------------------------------------------------------------------ finding

  private async firstMatch(l: Locator): Promise<string | undefined> {
    const s = strategyFor(l);
    const refs = (await this.browser.findElements(s.using, s.value)) as unknown as Array<
      Record<string, string>
    >;
    const ref = refs[0];
    return ref ? (ref[ELEMENT_KEY] ?? ref.ELEMENT) : undefined;
  }

  private async snapshot(id: string, matched: Locator, fallback: number): Promise<UiElement> {
    const b = this.browser;
    const [text, resourceId, contentDesc, className, checked, enabled, rect] = await Promise.all([
      b.getElementAttribute(id, 'text'),
      b.getElementAttribute(id, 'resource-id'),
      b.getElementAttribute(id, 'content-desc'),
      b.getElementAttribute(id, 'class'),
      b.getElementAttribute(id, 'checked'),
      b.getElementAttribute(id, 'enabled'),
      b.getElementRect(id),
    ]);
    const bounds: Bounds = {
      left: rect.x,
      top: rect.y,
      right: rect.x + rect.width,
      bottom: rect.y + rect.height,
    };
    return {
      matched,
      fallback,
      text: text ?? '',
      resourceId: resourceId ?? '',
      contentDesc: contentDesc ?? '',
      className: className ?? '',
      checked: checked === 'true',
      enabled: enabled !== 'false',
      bounds,
      handle: id,
    };
  }

  /** Tries each fallback once; an element that vanishes while being read counts as not found. */
  private async look(target: Target): Promise<UiElement | null> {
    const list = targetList(target);
    for (let i = 0; i < list.length; i++) {
      const id = await this.firstMatch(list[i]!);
      if (id === undefined) continue;
      try {
        return await this.snapshot(id, list[i]!, i);
      } catch (err) {
        if (isStale(err)) continue;
        throw err;
      }
    }
    return null;
  }

  async find(target: Target, opts?: CallOptions): Promise<UiElement> {
    const ms = this.ms(opts);
    const operation = `find ${describeTarget(target)}`;
    const found = await this.call(operation, ms + 5000, () =>
      pollUntil(Date.now() + ms, this.pollMs, () => this.look(target)),
    );
    if (found) return found;
    // The page source for the closest elements (best effort: the miss is the error either way).
    const xml = await this.source({ timeoutMs: 5000 }).catch(() => undefined);
    throw findMiss(this.serial, target, ms, tryParse(xml));
  }

  async query(target: Target, opts?: CallOptions): Promise<UiElement | null> {
    return this.call(`query ${describeTarget(target)}`, this.ms(opts), () => this.look(target));
  }

  async waitGone(target: Target, opts?: CallOptions): Promise<void> {
    const ms = this.ms(opts);
    const operation = `wait until gone ${describeTarget(target)}`;
    const list = targetList(target);
    const gone = await this.call(operation, ms + 5000, () =>
      pollUntil(Date.now() + ms, this.pollMs, async () => {
        for (const l of list) if ((await this.firstMatch(l)) !== undefined) return null;
        return true;
      }),
    );
    if (gone) return;
    throw new UiError({ serial: this.serial, operation, problem: `still there after ${ms} ms` });
  }

  /** The element's id, or a fresh one found with the same locator when it went stale. */
  private async withElement(el: UiElement, fn: (id: string) => Promise<unknown>): Promise<void> {
    try {
      await fn(el.handle as string);
    } catch (err) {
      if (!isStale(err)) throw err;
      const again = await this.firstMatch(el.matched);
      if (again === undefined) throw err;
      await fn(again);
    }
  }

  // ------------------------------------------------------------------------------ input

  async tap(el: UiElement, opts?: CallOptions): Promise<void> {
    await this.call(`tap ${describeLocator(el.matched)}`, this.ms(opts), () =>
      this.withElement(el, (id) => this.browser.elementClick(id)),
    );
  }

  async type(el: UiElement, text: string, opts?: CallOptions): Promise<void> {
    if (text === '') return;
    await this.call(`type into ${describeLocator(el.matched)}`, this.ms(opts), () =>
      this.withElement(el, (id) => this.browser.elementSendKeys(id, text)),
    );
  }

  async clear(el: UiElement, opts?: CallOptions): Promise<void> {
    await this.call(`clear ${describeLocator(el.matched)}`, this.ms(opts), () =>
      this.withElement(el, (id) => this.browser.elementClear(id)),
    );
  }

  async pressKey(keycode: number, opts?: CallOptions): Promise<void> {
    if (!Number.isInteger(keycode) || keycode < 0) throw new TypeError(`bad key code ${keycode}`);
    await this.call(`press key ${keycode}`, this.ms(opts), () =>
      this.browser.execute('mobile: pressKey', { keycode }),
    );
  }

  async back(opts?: CallOptions): Promise<void> {
    await this.call('back', this.ms(opts), () => this.browser.back());
  }

  async swipe(from: Point, to: Point, opts?: CallOptions & { durationMs?: number }): Promise<void> {
    const r = (v: number) => Math.round(v);
    const duration = r(opts?.durationMs ?? this.swipeMs);
    await this.call(`swipe (${r(from.x)},${r(from.y)}) → (${r(to.x)},${r(to.y)})`, this.ms(opts), () =>
      this.browser.performActions([
        {
          type: 'pointer',
          id: 'finger1',
          parameters: { pointerType: 'touch' },
          actions: [
            { type: 'pointerMove', duration: 0, origin: 'viewport', x: r(from.x), y: r(from.y) },
            { type: 'pointerDown', button: 0 },
            { type: 'pointerMove', duration, origin: 'viewport', x: r(to.x), y: r(to.y) },
            { type: 'pointerUp', button: 0 },
          ],
        },
      ]),
    );
  }

  private async startIntent(
    operation: string,
    args: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<void> {
    const out = await this.call(operation, timeoutMs, () =>
      this.browser.execute('mobile: startActivity', args),
    );
    checkAmOutput(this.serial, operation, typeof out === 'string' ? out : '');
  }

  async startActivity(component: string, opts: StartActivityOptions = {}): Promise<void> {
    const args: Record<string, unknown> = { component };
    if (opts.action) args.action = opts.action;
    if (opts.data) args.uri = opts.data;
    const extras = Object.entries(opts.extras ?? {}).map(([k, v]) => ['s', k, v]);
    if (extras.length) args.extras = extras;
    if (opts.flags !== undefined) args.flags = `0x${opts.flags.toString(16)}`;
    await this.startIntent(`start ${component}`, args, this.ms(opts));
  }

  async openUrl(url: string, opts: CallOptions & { packageName?: string } = {}): Promise<void> {
    const args: Record<string, unknown> = { action: 'android.intent.action.VIEW', uri: url };
    if (opts.packageName) args.package = opts.packageName;
    await this.startIntent(`open ${url}`, args, this.ms(opts));
  }

  // ------------------------------------------------------------------------------ screen

  async source(opts?: CallOptions): Promise<string> {
    return this.call('page source', this.ms(opts), () => this.browser.getPageSource());
  }

  async screenshot(opts?: CallOptions): Promise<Buffer> {
    const b64 = await this.call('screenshot', this.ms(opts), () => this.browser.takeScreenshot());
    return Buffer.from(b64, 'base64');
  }

  async windowSize(opts?: CallOptions): Promise<{ width: number; height: number }> {
    const r = await this.call('window size', this.ms(opts), () => this.browser.getWindowRect());
    return { width: r.width, height: r.height };
  }

  /** Deletes the session (the driver stops the UiAutomator2 server and removes the forward). */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await withDeadline(this.serial, 'delete the Appium session', 30_000, 'See the Appium server log', () =>
        this.browser.deleteSession(),
      );
    } finally {
      this.closed = true;
      if (this.releasePort) releaseSystemPort(this.systemPort);
    }
  }
}
