/**
 * The ADB-only UiDriver: `uiautomator dump` for the hierarchy, `input` for touches and keys,
 * `am start` for activities and `screencap -p` for screenshots, all through a Device (argv arrays,
 * quoted by the device layer; scenario text never reaches the phone's shell unquoted).
 *
 * The dump goes to a file under /data/local/tmp (unique per driver) and is read back with `cat` in the
 * same shell command: `uiautomator dump /dev/tty` needs a terminal, which adb's exec/shell-v2 streams do
 * not give on every phone. Real phones take 1-3 s per dump and refuse while animating ("could not get
 * idle state"); find() keeps dumping until its deadline, so such failures are retried.
 *
 * Limits (facts appium-uia2.md §5): `input text` types printable ASCII only (see input.ts); there is no
 * wait-for-idle, so callers wait for the element they expect next.
 */
import { randomBytes } from 'node:crypto';
import type { Device } from '../../device/device.ts';
import { adbCommand } from '../../device/errors.ts';
import { shJoin } from '../../device/quote.ts';
import {
  KEYCODE,
  SwipeGestures,
  UiError,
  centreOf,
  checkAmOutput,
  describeTarget,
  pollUntil,
  targetList,
  type CallOptions,
  type Point,
  type StartActivityOptions,
  type Target,
  type UiDriver,
  type UiElement,
} from '../driver.ts';
import { findMiss, screenSummary } from '../miss.ts';
import { extractXml, findNode, parseHierarchy, type XmlNode } from '../xml.ts';
import { describeChar, inputTextCommands, untypable } from './input.ts';

/** The part of Device this driver uses (tests pass a fake). */
export type UiDevice = Pick<Device, 'serial' | 'shell' | 'screenshot'>;

export interface AdbUiDriverOptions {
  /** Default per-call timeout (ms). Default 20000: a real phone's dump alone can take 3 s. */
  timeoutMs?: number;
  /** Pause between two dumps while waiting for an element (ms). Default 150. */
  pollMs?: number;
  /** Duration of swipes (ms). Default 300. */
  swipeMs?: number;
}

const DUMP_DIR = '/data/local/tmp';

export class AdbUiDriver extends SwipeGestures implements UiDriver {
  readonly kind = 'adb' as const;
  readonly serial: string;
  readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly swipeMs: number;
  private readonly dumpFile: string;
  private closed = false;
  private dumped = false;

  constructor(
    private readonly device: UiDevice,
    opts: AdbUiDriverOptions = {},
  ) {
    super();
    this.serial = device.serial;
    this.timeoutMs = opts.timeoutMs ?? 20_000;
    this.pollMs = opts.pollMs ?? 150;
    this.swipeMs = opts.swipeMs ?? 300;
    this.dumpFile = `${DUMP_DIR}/phonehome-ui-${randomBytes(4).toString('hex')}.xml`;
  }

  private ms(opts?: CallOptions): number {
    return opts?.timeoutMs ?? this.timeoutMs;
  }

  private checkOpen(operation: string): void {
    if (this.closed) {
      throw new UiError({
        serial: this.serial,
        operation,
        problem: 'failed: the UI driver was closed',
        hint: 'Open a new driver for this phone',
      });
    }
  }

  /** Runs argv on the phone; a non-zero exit becomes a UiError naming the operation. */
  private async run(operation: string, argv: readonly string[], timeoutMs: number): Promise<string> {
    this.checkOpen(operation);
    const r = await this.device.shell(argv, { timeoutMs });
    if (r.exitCode !== 0) {
      const output = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ');
      throw new UiError({
        serial: this.serial,
        operation,
        problem: `failed: \`${shJoin(argv)}\` exited with ${r.exitCode}${output ? `: ${output}` : ''}`,
        hint: /INJECT_EVENTS/.test(output)
          ? 'On MIUI turn on Settings > Additional settings > Developer options > "USB debugging (Security settings)"'
          : `Run \`${adbCommand(undefined, this.serial, `shell ${shJoin(argv)}`)}\` by hand to see why`,
      });
    }
    return r.stdout;
  }

  // ------------------------------------------------------------------------------ hierarchy

  /** One `uiautomator dump`, as XML. Throws a UiError when the phone gives no hierarchy. */
  private async dumpXml(timeoutMs: number): Promise<string> {
    this.checkOpen('uiautomator dump');
    const f = this.dumpFile;
    const cmd = `${shJoin(['rm', '-f', f])} && ${shJoin(['uiautomator', 'dump', f])} && ${shJoin(['cat', f])}`;
    this.dumped = true;
    const r = await this.device.shell(cmd, { timeoutMs });
    const xml = extractXml(r.stdout);
    if (!xml) {
      const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ') || 'no output';
      throw new UiError({
        serial: this.serial,
        operation: 'uiautomator dump',
        problem: `gave no hierarchy (exit ${r.exitCode}: ${said})`,
        hint: /idle state/i.test(said)
          ? 'The screen kept animating; turn off animations (Developer options > Window/Transition/Animator scale)'
          : /null root node/i.test(said)
            ? 'Wake and unlock the phone (`input keyevent WAKEUP`, then swipe the lock screen away)'
            : `Run \`${adbCommand(undefined, this.serial, 'shell uiautomator dump')}\` by hand to see why`,
      });
    }
    return xml;
  }

  /** One `uiautomator dump`, parsed. */
  private async dump(timeoutMs: number): Promise<XmlNode> {
    const xml = await this.dumpXml(timeoutMs);
    try {
      return parseHierarchy(xml);
    } catch (err) {
      throw new UiError({
        serial: this.serial,
        operation: 'uiautomator dump',
        problem: `returned XML phonehome cannot read: ${(err as Error).message}`,
        hint: 'Please report it with the dump attached',
        cause: err,
      });
    }
  }

  private element(n: XmlNode, fallback: number, matched: UiElement['matched']): UiElement {
    const a = n.attrs;
    return {
      matched,
      fallback,
      text: a.text ?? '',
      resourceId: a['resource-id'] ?? '',
      contentDesc: a['content-desc'] ?? '',
      className: a.class ?? n.tag,
      checked: a.checked === 'true',
      enabled: a.enabled !== 'false',
      bounds: n.bounds,
      handle: n,
    };
  }

  private look(root: XmlNode, target: Target): UiElement | null {
    const list = targetList(target);
    for (let i = 0; i < list.length; i++) {
      const n = findNode(root, list[i]!);
      if (n) return this.element(n, i, list[i]!);
    }
    return null;
  }

  /**
   * Dumps until `accept(root)` returns non-null or the deadline passes. Dump failures (animations,
   * a screen in transition) count as "not yet"; the last one is reported if no dump ever worked.
   */
  private async waitFor<T>(
    timeoutMs: number,
    accept: (root: XmlNode) => T | null,
  ): Promise<{ result: T | null; last: XmlNode | undefined }> {
    const deadline = Date.now() + timeoutMs;
    let last: XmlNode | undefined;
    let failure: UiError | undefined;
    const result = await pollUntil(deadline, this.pollMs, async () => {
      try {
        last = await this.dump(Math.max(1000, deadline - Date.now()));
      } catch (err) {
        if (!(err instanceof UiError) || this.closed) throw err;
        failure = err;
        return null;
      }
      return accept(last);
    });
    if (result === null && !last && failure) throw failure;
    return { result, last };
  }

  async find(target: Target, opts?: CallOptions): Promise<UiElement> {
    const ms = this.ms(opts);
    const { result, last } = await this.waitFor(ms, (root) => this.look(root, target));
    if (result) return result;
    throw findMiss(this.serial, target, ms, last);
  }

  async query(target: Target, opts?: CallOptions): Promise<UiElement | null> {
    targetList(target);
    return this.look(await this.dump(this.ms(opts)), target);
  }

  async waitGone(target: Target, opts?: CallOptions): Promise<void> {
    const ms = this.ms(opts);
    const operation = `wait until gone ${describeTarget(target)}`;
    const { result, last } = await this.waitFor(ms, (root) => (this.look(root, target) ? null : true));
    if (result) return;
    throw new UiError({
      serial: this.serial,
      operation,
      problem: `still there after ${ms} ms`,
      hint: `The screen showed ${summarise(last)}`,
    });
  }

  async source(opts?: CallOptions): Promise<string> {
    return this.dumpXml(this.ms(opts));
  }

  // ------------------------------------------------------------------------------ input

  async tap(el: UiElement, opts?: CallOptions): Promise<void> {
    const c = centreOf(el.bounds);
    await this.run(`tap ${describeElement(el)}`, ['input', 'tap', String(c.x), String(c.y)], this.ms(opts));
  }

  private focused(el: UiElement): boolean {
    return (el.handle as XmlNode | undefined)?.attrs?.focused === 'true';
  }

  async type(el: UiElement, text: string, opts?: CallOptions): Promise<void> {
    const operation = `type into ${describeElement(el)}`;
    const bad = untypable(text);
    if (bad !== undefined) {
      throw new UiError({
        serial: this.serial,
        operation,
        problem: `failed: \`input text\` cannot type ${describeChar(bad)} (printable ASCII only)`,
        hint:
          `Drive this phone with Appium (set "ui": "appium" for ${this.serial} in devices.json), ` +
          'or press Enter with pressKey(KEYCODE.ENTER)',
      });
    }
    const deadline = Date.now() + this.ms(opts);
    if (!this.focused(el)) await this.tap(el, { timeoutMs: this.ms(opts) });
    for (const argv of inputTextCommands(text)) {
      await this.run(operation, argv, Math.max(1000, deadline - Date.now()));
    }
  }

  async clear(el: UiElement, opts?: CallOptions): Promise<void> {
    const operation = `clear ${describeElement(el)}`;
    const deadline = Date.now() + this.ms(opts);
    if (!this.focused(el)) await this.tap(el, opts);
    // An empty field reports its hint as text: the extra DELs then hit an empty field, harmlessly.
    let dels = [...el.text].length;
    const keys = [String(KEYCODE.MOVE_END)];
    while (dels > 0) {
      const n = Math.min(dels, 64);
      keys.push(...Array<string>(n).fill(String(KEYCODE.DEL)));
      await this.run(operation, ['input', 'keyevent', ...keys], Math.max(1000, deadline - Date.now()));
      keys.length = 0;
      dels -= n;
    }
  }

  async pressKey(keycode: number, opts?: CallOptions): Promise<void> {
    if (!Number.isInteger(keycode) || keycode < 0) throw new TypeError(`bad key code ${keycode}`);
    await this.run(`press key ${keycode}`, ['input', 'keyevent', String(keycode)], this.ms(opts));
  }

  async back(opts?: CallOptions): Promise<void> {
    await this.run('back', ['input', 'keyevent', String(KEYCODE.BACK)], this.ms(opts));
  }

  async swipe(from: Point, to: Point, opts?: CallOptions & { durationMs?: number }): Promise<void> {
    const pts = [from.x, from.y, to.x, to.y].map((v) => String(Math.round(v)));
    const ms = String(Math.round(opts?.durationMs ?? this.swipeMs));
    await this.run(
      `swipe (${pts[0]},${pts[1]}) → (${pts[2]},${pts[3]})`,
      ['input', 'swipe', ...pts, ms],
      this.ms(opts),
    );
  }

  async startActivity(component: string, opts: StartActivityOptions = {}): Promise<void> {
    const argv = ['am', 'start', '-n', component];
    if (opts.action) argv.push('-a', opts.action);
    if (opts.data) argv.push('-d', opts.data);
    for (const [k, v] of Object.entries(opts.extras ?? {})) argv.push('--es', k, v);
    if (opts.flags !== undefined) argv.push('-f', `0x${opts.flags.toString(16)}`);
    await this.am(`start ${component}`, argv, this.ms(opts));
  }

  async openUrl(url: string, opts: CallOptions & { packageName?: string } = {}): Promise<void> {
    const argv = ['am', 'start', '-a', 'android.intent.action.VIEW', '-d', url];
    if (opts.packageName) argv.push('-p', opts.packageName);
    await this.am(`open ${url}`, argv, this.ms(opts));
  }

  private async am(operation: string, argv: string[], timeoutMs: number): Promise<void> {
    checkAmOutput(this.serial, operation, await this.run(operation, argv, timeoutMs));
  }

  // ------------------------------------------------------------------------------ screen

  async screenshot(opts?: CallOptions): Promise<Buffer> {
    this.checkOpen('screenshot');
    return this.device.screenshot({ timeoutMs: this.ms(opts) });
  }

  async windowSize(opts?: CallOptions): Promise<{ width: number; height: number }> {
    const out = await this.run('window size', ['wm', 'size'], this.ms(opts));
    const m = /Override size: (\d+)x(\d+)/.exec(out) ?? /Physical size: (\d+)x(\d+)/.exec(out);
    if (!m) {
      throw new UiError({
        serial: this.serial,
        operation: 'window size',
        problem: `failed: \`wm size\` printed ${JSON.stringify(out.trim().slice(0, 80))}`,
        hint: 'Please report it with this output',
      });
    }
    return { width: Number(m[1]), height: Number(m[2]) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.dumped) {
      await this.device.shell(['rm', '-f', this.dumpFile], { timeoutMs: 5000 }).catch(() => undefined);
    }
    this.closed = true;
  }
}

export function describeElement(el: UiElement): string {
  const name = el.resourceId || el.contentDesc || el.text || el.className;
  return `${JSON.stringify(name)} at [${el.bounds.left},${el.bounds.top}][${el.bounds.right},${el.bounds.bottom}]`;
}

/** A few texts of the screen, for "found nothing" messages. */
export function summarise(root: XmlNode | undefined): string {
  return screenSummary(root);
}
