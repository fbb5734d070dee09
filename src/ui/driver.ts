/**
 * The UI driver seam: what page objects may do to a phone's screen. Two implementations: ADB-only
 * (src/ui/adb/: `uiautomator dump` + `input`) and Appium (src/ui/appium/: a webdriverio session on a
 * UiAutomator2 server). Page objects use only this interface; nothing here knows which phones are
 * virtual.
 *
 * Elements are found by a Target: a list of Locators tried in order (fallbacks), each a set of
 * criteria that must all hold (resource-id, exact text, text substring, content-desc, class, and
 * optionally an ancestor that matches another locator). Every call takes a timeout; every error is a
 * UiError naming the phone, the operation and a fix.
 */
import { AM_ERROR } from '../device/activities.ts';
import { DeviceError, type DeviceErrorInit } from '../device/errors.ts';

/** One way to recognise a node; every criterion given must hold. */
export interface Locator {
  /** resource-id, with its package: `com.android.settings:id/recycler_view`. */
  id?: string;
  /** The node's text, exactly. */
  text?: string;
  /** A substring of the node's text. */
  textContains?: string;
  /** content-desc (accessibility label), exactly. */
  desc?: string;
  /** The class name, e.g. `android.widget.Switch`. */
  class?: string;
  /** The node lies inside (is a descendant of) a node matching this locator. */
  within?: Locator;
}

/** Fallbacks: the first locator that matches anything wins. A single Locator is a list of one. */
export type Target = Locator | readonly Locator[];

export interface Bounds {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface Point {
  x: number;
  y: number;
}

export type Direction = 'left' | 'right' | 'up' | 'down';

/** What the driver read about a found node, at the time it was found. */
export interface UiElement {
  /** The locator (of the target's fallbacks) that found it. */
  readonly matched: Locator;
  /** Index of that locator in the target's list. */
  readonly fallback: number;
  readonly text: string;
  readonly resourceId: string;
  readonly contentDesc: string;
  readonly className: string;
  readonly checked: boolean;
  readonly enabled: boolean;
  readonly bounds: Bounds;
  /** Driver-private handle (an Appium element id; a node snapshot for ADB). */
  readonly handle: unknown;
}

export interface CallOptions {
  /** Deadline for this call in ms; the driver's default otherwise. */
  timeoutMs?: number;
}

export interface StartActivityOptions extends CallOptions {
  /** `-a`, e.g. android.intent.action.VIEW. */
  action?: string;
  /** `-d`: a URI. */
  data?: string;
  /** String extras (`--es KEY VALUE`). */
  extras?: Record<string, string>;
  /** Intent flags (`-f`), e.g. INTENT_FLAG.CLEAR_TOP. */
  flags?: number;
}

/** Intent flags the page objects use (android.content.Intent). */
export const INTENT_FLAG = {
  /** Brings an existing instance of the activity to the top of its task (finishing those above it). */
  CLEAR_TOP: 0x04000000,
  NEW_TASK: 0x10000000,
} as const;

/** Android KeyEvent codes the page objects use. */
export const KEYCODE = {
  HOME: 3,
  BACK: 4,
  DPAD_CENTER: 23,
  ENTER: 66,
  DEL: 67,
  MENU: 82,
  MOVE_END: 123,
  APP_SWITCH: 187,
} as const;

export interface UiDriver {
  /** The phone's adb serial. */
  readonly serial: string;
  /** Which implementation (for reports and benchmarks only; page objects must not branch on it). */
  readonly kind: 'adb' | 'appium';
  /** The default per-call timeout in ms. */
  readonly timeoutMs: number;

  /** Waits until one of the target's locators matches; throws a UiError naming the target otherwise. */
  find(target: Target, opts?: CallOptions): Promise<UiElement>;
  /** One look (no waiting): the first match, or null. */
  query(target: Target, opts?: CallOptions): Promise<UiElement | null>;
  /** Waits until none of the target's locators matches. */
  waitGone(target: Target, opts?: CallOptions): Promise<void>;

  /** Taps (clicks) the element. */
  tap(el: UiElement, opts?: CallOptions): Promise<void>;
  /**
   * Types text into an edit field (appending to what the field holds once it has focus; clear() first
   * to replace). Appium types any Unicode; ADB-only types printable ASCII (see src/ui/adb/input.ts).
   */
  type(el: UiElement, text: string, opts?: CallOptions): Promise<void>;
  /** Empties an edit field. */
  clear(el: UiElement, opts?: CallOptions): Promise<void>;

  /** Presses a key (KEYCODE.*). */
  pressKey(keycode: number, opts?: CallOptions): Promise<void>;
  /** The BACK key. */
  back(opts?: CallOptions): Promise<void>;
  /** A finger swipe between two screen points. */
  swipe(from: Point, to: Point, opts?: CallOptions & { durationMs?: number }): Promise<void>;
  /**
   * A swipe across the middle of the screen; `direction` is where the finger moves (`left` shows the
   * next home screen).
   */
  swipeScreen(direction: Direction, opts?: CallOptions): Promise<void>;
  /** Pulls the status bar down (a swipe from the top edge). */
  openNotifications(opts?: CallOptions): Promise<void>;
  /** `am start -n COMPONENT` with an optional action, data URI, string extras and flags. */
  startActivity(component: string, opts?: StartActivityOptions): Promise<void>;
  /** A VIEW intent for `url`, to `packageName` if given. */
  openUrl(url: string, opts?: CallOptions & { packageName?: string }): Promise<void>;

  /** The UI hierarchy as XML (uiautomator dump format for ADB, UiAutomator2 page source for Appium). */
  source(opts?: CallOptions): Promise<string>;
  /** A PNG of the screen. */
  screenshot(opts?: CallOptions): Promise<Buffer>;
  /** The display size in pixels. */
  windowSize(opts?: CallOptions): Promise<{ width: number; height: number }>;
  /** Ends the session / removes temporary files. Idempotent. */
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------------ errors

/** A UiError's parts are a DeviceError's (`message` replaces the composed one: LocatorMissError lists candidates). */
export type UiErrorInit = DeviceErrorInit;

/** A UI operation failed: "phone S: OPERATION PROBLEM. FIX". */
export class UiError extends DeviceError {
  constructor(init: UiErrorInit) {
    super(init);
    this.name = 'UiError';
  }
}

/** Throws a UiError when `out` (what `am start` printed) reports a failure (see AM_ERROR). */
export function checkAmOutput(serial: string, operation: string, out: string): void {
  const m = AM_ERROR.exec(out);
  if (m) {
    throw new UiError({
      serial,
      operation,
      problem: `failed: ${m[0].trim()}`,
      hint: 'Check the app is installed and the component exists (`cmd package resolve-activity`)',
    });
  }
}

// ------------------------------------------------------------------------------------ targets

export function targetList(target: Target): readonly Locator[] {
  const list = Array.isArray(target) ? (target as readonly Locator[]) : [target as Locator];
  if (list.length === 0) throw new TypeError('a UI target needs at least one locator');
  for (const l of list) checkLocator(l);
  return list;
}

const LOCATOR_KEYS = new Set(['id', 'text', 'textContains', 'desc', 'class', 'within']);

export function checkLocator(l: Locator, path = 'locator'): void {
  if (typeof l !== 'object' || l === null) throw new TypeError(`${path} must be an object`);
  const keys = Object.keys(l);
  const unknown = keys.filter((k) => !LOCATOR_KEYS.has(k));
  if (unknown.length) throw new TypeError(`${path} has unknown keys: ${unknown.join(', ')}`);
  if (!keys.some((k) => k !== 'within')) {
    throw new TypeError(`${path} needs at least one of id, text, textContains, desc, class`);
  }
  for (const k of ['id', 'text', 'textContains', 'desc', 'class'] as const) {
    const v = l[k];
    if (v !== undefined && (typeof v !== 'string' || v === '')) {
      throw new TypeError(`${path}.${k} must be a non-empty string`);
    }
  }
  if (l.within !== undefined) checkLocator(l.within, `${path}.within`);
}

/** `id=… text="…"` for messages. */
export function describeLocator(l: Locator): string {
  const parts: string[] = [];
  if (l.id) parts.push(`id=${l.id}`);
  if (l.text !== undefined) parts.push(`text=${JSON.stringify(l.text)}`);
  if (l.textContains !== undefined) parts.push(`text~${JSON.stringify(l.textContains)}`);
  if (l.desc !== undefined) parts.push(`desc=${JSON.stringify(l.desc)}`);
  if (l.class) parts.push(`class=${l.class}`);
  if (l.within) parts.push(`within(${describeLocator(l.within)})`);
  return parts.join(' ');
}

export function describeTarget(target: Target): string {
  return targetList(target)
    .map((l) => `[${describeLocator(l)}]`)
    .join(' or ');
}

export function centreOf(b: Bounds): Point {
  return { x: Math.floor((b.left + b.right) / 2), y: Math.floor((b.top + b.bottom) / 2) };
}

/** Swipe end points for a direction on a `width`×`height` display (80 % of the span, centred). */
export function directionPoints(
  direction: Direction,
  size: { width: number; height: number },
): { from: Point; to: Point } {
  const { width: w, height: h } = size;
  const midX = Math.round(w / 2);
  const midY = Math.round(h / 2);
  const near = (span: number) => Math.round(span * 0.1);
  const far = (span: number) => Math.round(span * 0.9);
  switch (direction) {
    case 'left':
      return { from: { x: far(w), y: midY }, to: { x: near(w), y: midY } };
    case 'right':
      return { from: { x: near(w), y: midY }, to: { x: far(w), y: midY } };
    case 'up':
      return { from: { x: midX, y: Math.round(h * 0.8) }, to: { x: midX, y: Math.round(h * 0.2) } };
    case 'down':
      return { from: { x: midX, y: Math.round(h * 0.2) }, to: { x: midX, y: Math.round(h * 0.8) } };
  }
}

/**
 * The status-bar pull: from just below the top edge to 60 % of the height, at a quarter of the width
 * (MIUI 12+ opens the notification shade from the left part of the status bar and its Control centre
 * from the right part; older MIUI opens the shade anywhere).
 */
export function statusBarPullPoints(size: { width: number; height: number }): { from: Point; to: Point } {
  const x = Math.round(size.width / 4);
  return { from: { x, y: 5 }, to: { x, y: Math.round(size.height * 0.6) } };
}

/** Polls `look` until it returns non-null or `deadline` passes (always at least one look). */
export async function pollUntil<T>(
  deadline: number,
  intervalMs: number,
  look: () => Promise<T | null>,
): Promise<T | null> {
  for (;;) {
    const found = await look();
    if (found !== null) return found;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
  }
}

/**
 * Runs `fn` under a deadline: on expiry rejects with a UiError naming the phone, the operation and
 * the limit (the work itself is abandoned; drivers pass the same deadline down to their I/O).
 */
export async function withDeadline<T>(
  serial: string,
  operation: string,
  timeoutMs: number,
  hint: string,
  fn: () => Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new UiError({ serial, operation, problem: `timed out after ${timeoutMs} ms`, hint })),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([fn(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The gestures both drivers build from a plain swipe and the window size: each driver extends this. */
export abstract class SwipeGestures {
  abstract windowSize(opts?: CallOptions): Promise<{ width: number; height: number }>;
  abstract swipe(from: Point, to: Point, opts?: CallOptions & { durationMs?: number }): Promise<void>;

  /** A whole-screen swipe in `direction` (UiDriver.swipeScreen). */
  async swipeScreen(direction: Direction, opts?: CallOptions): Promise<void> {
    const { from, to } = directionPoints(direction, await this.windowSize(opts));
    await this.swipe(from, to, opts);
  }

  /** A pull from the top edge that opens the notification shade (UiDriver.openNotifications). */
  async openNotifications(opts?: CallOptions): Promise<void> {
    const { from, to } = statusBarPullPoints(await this.windowSize(opts));
    await this.swipe(from, to, opts);
  }
}
