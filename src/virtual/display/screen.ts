/**
 * The virtual phone's display: an activity/task stack whose front activity's window, with the
 * status bar on top, is what `uiautomator dump`, `screencap` and `input` see.
 *
 * Model:
 * - Tasks are kept front first (z-order). The home task (the home app's activity) always exists;
 *   the focused activity is the top of the front task.
 * - The home app and the status bar are the phone's system apps: apps/ registers MIUI's launcher
 *   (setHome) and SystemUI's strip (setStatusBar) through the small interfaces below, so that
 *   display/ imports nothing from apps/. Until then the home is AOSP's blank FallbackHome and no
 *   status bar is drawn.
 * - Each ActivityRecord owns its window tree, built by the registered builder for its component
 *   (or the generic blank window) on first read and cached until `record.invalidate()`.
 * - Input: tap hit-tests the composed tree and focuses/toggles/fires `onTap`; text and DEL edit
 *   the focused edit field of the front window; BACK/HOME/APP_SWITCH move between activities.
 *
 * Events (EventEmitter): 'activity-start' (record), 'activity-finish' (record), 'focus' (record),
 * 'tap' (node), 'force-stop' (package, before its activities finish).
 */
import { EventEmitter } from 'node:events';
import type { Profile } from '../profiles/load.ts';
import type { ComponentName } from '../os/component.ts';
import {
  flattenComponent,
  parseComponent,
  sameComponent,
  shortClassName,
  shortComponent,
} from '../os/component.ts';
import type { ActivityHooks, Intent } from './activity.ts';
import type { UiNode } from './node.ts';
import {
  ActivityRecord,
  CATEGORY_HOME,
  FLAG_ACTIVITY_CLEAR_TOP,
  FLAG_ACTIVITY_SINGLE_TOP,
  Task,
  intentFilterEquals,
} from './activity.ts';
import { contains, findFocused, hitTest, isEditable, isVisible, setFocus } from './node.ts';
import { KEYCODE, keyChar } from './keys.ts';
import { appWindow, genericActivity } from './window.ts';
import { uiautomatorDumpXml, uia2SourceXml } from './xml.ts';
import { renderTree } from './render.ts';
import { buildDialogWindow, type DialogSpec } from './dialog.ts';

export type { Intent, ActivityHooks } from './activity.ts';
export type { ComponentName } from '../os/component.ts';
export type { UiNode, Bounds, NodeStyle } from './node.ts';
export { ActivityRecord, Task } from './activity.ts';

/** Builds an activity's window: a full-display root node (package may be left '' throughout). */
export type ActivityBuilder = (screen: Screen, intent: Intent, record: ActivityRecord) => UiNode;

export interface ActivityRegistration extends ActivityHooks {
  build: ActivityBuilder;
}

export type StartResult =
  /** A new activity instance was created. */
  | 'started'
  /** An existing task was brought to the front, nothing new started (`Warning: Activity not started, its current task has been brought to the front`). */
  | 'brought-to-front'
  /** The intent went to the running top-most instance (`Warning: Activity not started, intent has been delivered to currently running top-most instance.`). */
  | 'delivered-to-top';

/**
 * The home app at the bottom of the stack (MIUI's launcher, apps/launcher.ts). The display sends it
 * HOME, APP_SWITCH (MIUI draws recents inside the home window) and reboots.
 */
export interface HomeApp {
  /** Its activity, `pkg/.Activity`. */
  readonly component: string;
  /** What the home window shows: 'recents' after APP_SWITCH. */
  readonly mode: 'workspace' | 'recents';
  registration(): ActivityRegistration;
  /** HOME pressed (`alreadyHome`: it was in front); also called with false when another task comes forward. */
  onHomeKey(alreadyHome: boolean): void;
  /** APP_SWITCH: recents, opened over the task `from` (null from home). */
  showRecents(from: Task | null): void;
  /** Leaves recents; with `resume`, brings back the task recents was opened from. */
  closeRecents(resume: boolean): void;
  /** Reboot: the default layout again. */
  onReboot(profile: Profile): void;
}

/** Draws the status bar strip over the front window (SystemUI's, apps/systemui.ts). */
export type StatusBarBuilder = (screen: Screen, opts: { light: boolean }) => UiNode;

/** AOSP's FallbackHome (in Settings): the blank home Android shows while no launcher is there. */
const FALLBACK_HOME: HomeApp = {
  component: 'com.android.settings/.FallbackHome',
  mode: 'workspace',
  registration: () => ({ build: (screen) => appWindow(screen, {}).root }),
  onHomeKey: () => {},
  showRecents: () => {},
  closeRecents: () => {},
  onReboot: () => {},
};

export class Screen extends EventEmitter {
  readonly profile: Profile;
  readonly width: number;
  readonly height: number;
  readonly density: number;
  /** Body text scale of the bitmap font. */
  readonly textScale: number;
  readonly statusBarHeight: number;
  /** The home app (setHome). */
  private _home: HomeApp = FALLBACK_HOME;
  private statusBarBuilder: StatusBarBuilder | null = null;
  /** Battery shown by the status bar. */
  battery = { level: 100, charging: false };
  /** 24-hour clock in the status bar (Settings > Additional settings > Date & time). */
  clock24 = true;
  /** Time source for the status bar clock. */
  now: () => Date = () => new Date();
  /** Swipe down from the status bar: the later notification-shade model hooks in here. */
  onStatusBarPull: ((screen: Screen) => void) | null = null;
  /** Display rotation (Surface.ROTATION_*), reported by the dump. */
  rotation = 0;

  private readonly registry = new Map<string, ActivityRegistration>();
  /** Dialogs over activities (dialog.ts): shown while their activity is in front, gone with it. */
  private readonly dialogs = new Map<ActivityRecord, { spec: DialogSpec; window: UiNode }>();
  private tasks: Task[] = [];
  private lastFocus: ActivityRecord | null = null;
  private _homeTask!: Task;

  constructor(profile: Profile) {
    super();
    this.profile = profile;
    this.width = profile.display.width;
    this.height = profile.display.height;
    this.density = profile.display.density;
    this.textScale = Math.max(1, Math.round((this.density / 160) * 1.4));
    this.statusBarHeight = this.dp(28);
    this.registry.set(flattenComponent(this.homeComponent), FALLBACK_HOME.registration());
    this.resetStack();
  }

  get home(): HomeApp {
    return this._home;
  }

  get homeComponent(): ComponentName {
    return parseComponent(this._home.component);
  }

  /** Makes `home` the home app: registered for its component, the stack reset to it alone. */
  setHome(home: HomeApp): void {
    this.registry.delete(flattenComponent(this.homeComponent));
    this._home = home;
    this.registry.set(flattenComponent(this.homeComponent), home.registration());
    this.resetStack();
  }

  /** The status bar drawn over every window that is not fullscreen (null: none). */
  setStatusBar(build: StatusBarBuilder | null): void {
    this.statusBarBuilder = build;
  }

  /** dp -> px at the display density. */
  dp(v: number): number {
    return Math.round((v * this.density) / 160);
  }

  // ---- registration ----------------------------------------------------------------------

  /** Registers the window builder (and optional hooks) for a component, `pkg/.Act` or `pkg/full.Act`. */
  registerActivity(component: string, build: ActivityBuilder, hooks: ActivityHooks = {}): void {
    this.registry.set(flattenComponent(parseComponent(component)), { ...hooks, build });
  }

  isRegistered(component: string): boolean {
    return this.registry.has(flattenComponent(parseComponent(component)));
  }

  private registrationFor(c: ComponentName): ActivityRegistration {
    return this.registry.get(flattenComponent(c)) ?? { build: genericActivity };
  }

  // ---- stack -----------------------------------------------------------------------------

  get homeTask(): Task {
    return this._homeTask;
  }

  /** Tasks, front first (read-only view; for dumpsys activity/recents). */
  taskList(): readonly Task[] {
    return this.tasks;
  }

  /** The focused (resumed) activity. */
  resumed(): ActivityRecord {
    const top = this.tasks[0]?.top;
    if (!top) throw new Error('screen: no activity in front');
    return top;
  }

  /** Focused activity as `{ package, activity }`; activity in the short `.launcher.Launcher` form. */
  focused(): { package: string; activity: string } {
    const r = this.resumed();
    return { package: r.packageName, activity: shortClassName(r.component) };
  }

  /** `com.miui.home/.launcher.Launcher` */
  focusedComponent(): string {
    return shortComponent(this.resumed().component);
  }

  isHome(): boolean {
    return this.tasks[0] === this._homeTask;
  }

  /**
   * Starts an activity as `am start` / a launcher tap would (NEW_TASK semantics): a task of the
   * same package is brought to the front; if its root was started by an equal intent nothing new
   * starts; singleTop/singleTask (or FLAG_ACTIVITY_SINGLE_TOP/CLEAR_TOP) deliver to an existing
   * instance; otherwise a new instance is pushed. Unregistered components get a generic window.
   */
  startActivity(component: string, intent: Intent = {}): StartResult {
    const cn = parseComponent(component);
    const full: Intent = { ...intent, component: flattenComponent(cn) };
    if (sameComponent(cn, this.homeComponent) || full.categories?.includes(CATEGORY_HOME)) {
      this.goHome();
      return 'brought-to-front';
    }
    const reg = this.registrationFor(cn);
    const mode = reg.launchMode ?? 'standard';
    const flags = full.flags ?? 0;
    let task = this.tasks.find((t) => t !== this._homeTask && t.affinity === cn.package);
    if (task) {
      const root = task.root!;
      const top = task.top!;
      if (sameComponent(root.component, cn) && intentFilterEquals(root.intent, full)) {
        if (!(flags & FLAG_ACTIVITY_CLEAR_TOP) && mode !== 'singleTask') {
          this.moveTaskToFront(task);
          return 'brought-to-front';
        }
      }
      const existing = task.activities.find((a) => sameComponent(a.component, cn));
      if (existing && (mode === 'singleTask' || flags & FLAG_ACTIVITY_CLEAR_TOP)) {
        while (task.top !== existing) this.finishRecord(task.top!, false);
        this.deliverNewIntent(existing, full);
        this.moveTaskToFront(task);
        return 'delivered-to-top';
      }
      if (sameComponent(top.component, cn) && (mode === 'singleTop' || flags & FLAG_ACTIVITY_SINGLE_TOP)) {
        this.deliverNewIntent(top, full);
        this.moveTaskToFront(task);
        return 'delivered-to-top';
      }
    } else {
      task = new Task();
      this.tasks.unshift(task);
    }
    const record = this.newRecord(cn, full, reg, task);
    task.activities.push(record);
    this.moveTaskToFront(task, false);
    this.emit('activity-start', record);
    this.checkFocus();
    return 'started';
  }

  /** A record whose window is built by `reg` on this screen, from the intent it holds then. */
  private newRecord(
    cn: ComponentName,
    intent: Intent,
    reg: ActivityRegistration,
    task: Task,
  ): ActivityRecord {
    return new ActivityRecord(cn, intent, reg, (r) => reg.build(this, r.intent, r), task);
  }

  private deliverNewIntent(record: ActivityRecord, intent: Intent): void {
    if (record.hooks.onNewIntent) record.hooks.onNewIntent(record, intent);
    else {
      record.intent = intent;
      record.invalidate({ keepInputs: false });
    }
  }

  /** Brings a task to the front (leaves recents if another task comes forward). */
  moveTaskToFront(task: Task, notify = true): void {
    const i = this.tasks.indexOf(task);
    if (i < 0) throw new Error('screen: unknown task');
    this.tasks.splice(i, 1);
    this.tasks.unshift(task);
    if (task !== this._homeTask) this._home.onHomeKey(false);
    if (notify) this.checkFocus();
  }

  /** Removes a task and its activities (recents "clear", force-stop). */
  removeTask(task: Task): void {
    if (task === this._homeTask) return;
    const i = this.tasks.indexOf(task);
    if (i < 0) return;
    this.tasks.splice(i, 1);
    for (const a of [...task.activities].reverse()) this.emit('activity-finish', a);
    task.activities.length = 0;
    this.checkFocus();
  }

  /** Finishes one activity (an app's own "up"/close button); its task goes when emptied. */
  finish(record: ActivityRecord): void {
    this.finishRecord(record, true);
  }

  private finishRecord(record: ActivityRecord, notify: boolean): void {
    this.dialogs.delete(record);
    const task = record.task;
    if (task === this._homeTask && task.activities.length <= 1) return;
    const i = task.activities.indexOf(record);
    if (i < 0) return;
    task.activities.splice(i, 1);
    this.emit('activity-finish', record);
    if (!task.activities.length) {
      const ti = this.tasks.indexOf(task);
      if (ti >= 0) this.tasks.splice(ti, 1);
    }
    if (notify) this.checkFocus();
  }

  /**
   * `am force-stop pkg`: every activity of the package goes; the launcher just resets. Emits
   * `force-stop` (pkg) first, before any activity finishes or the focus moves: the process is gone.
   */
  forceStop(pkg: string): void {
    this.emit('force-stop', pkg);
    if (pkg === this.homeComponent.package) {
      this._home.onHomeKey(true);
      return;
    }
    for (const task of [...this.tasks]) {
      for (const a of [...task.activities].reverse()) if (a.packageName === pkg) this.finishRecord(a, false);
    }
    this.checkFocus();
  }

  /** HOME: the launcher to the front (default page when already there), recents closed. */
  goHome(): void {
    const already = this.isHome();
    this._home.onHomeKey(already);
    if (!already) this.moveTaskToFront(this._homeTask);
  }

  /** BACK: the front activity may consume it, else it finishes (the launcher never does). */
  back(): void {
    const front = this.resumed();
    if (front.hooks.onBack?.(front)) {
      this.checkFocus();
      return;
    }
    if (front.task === this._homeTask) return;
    this.finishRecord(front, true);
  }

  /** APP_SWITCH: recents (inside the launcher); pressed again in recents, the last app. */
  appSwitch(): void {
    if (this.isHome() && this._home.mode === 'recents') {
      const last = this.tasks.find((t) => t !== this._homeTask);
      this._home.closeRecents(false);
      if (last) this.moveTaskToFront(last);
      return;
    }
    const from = this.isHome() ? null : (this.tasks[0] ?? null);
    this.moveTaskToFront(this._homeTask, false);
    this._home.showRecents(from);
    this.checkFocus();
  }

  /** Forces the front window (or all windows) to rebuild on the next read. */
  invalidate(all = false): void {
    const records = all ? this.tasks.flatMap((t) => t.activities) : [this.resumed()];
    for (const r of records) r.invalidate();
  }

  // ---- dialogs ---------------------------------------------------------------------------

  /** Shows a modal dialog over `record` (its window replaces the activity's while it is in front). */
  showDialog(record: ActivityRecord, spec: DialogSpec): void {
    const window = buildDialogWindow(this, spec, (button) => {
      if (this.dialogs.get(record)?.window !== window) return;
      this.dialogs.delete(record);
      spec.onButton?.(button);
    });
    this.dialogs.set(record, { spec, window });
  }

  /** The dialog over the front activity, if any. */
  frontDialog(): DialogSpec | undefined {
    return this.dialogs.get(this.resumed())?.spec;
  }

  /** Whether some activity of `pkg` has a dialog up. */
  hasDialog(pkg: string): boolean {
    return [...this.dialogs.keys()].some((r) => r.packageName === pkg);
  }

  private resetStack(): void {
    this.dialogs.clear();
    for (const t of this.tasks)
      for (const a of t.activities) if (t !== this._homeTask) this.emit('activity-finish', a);
    const home = new Task();
    const reg = this.registrationFor(this.homeComponent);
    const rec = this.newRecord(
      this.homeComponent,
      {
        action: 'android.intent.action.MAIN',
        categories: [CATEGORY_HOME],
        component: flattenComponent(this.homeComponent),
      },
      reg,
      home,
    );
    home.activities.push(rec);
    this._homeTask = home;
    this.tasks = [home];
    this.lastFocus = null;
    this.checkFocus();
  }

  /** Reboot: back to the home screen, stack and recents cleared, launcher on page 1. */
  onReboot(): void {
    this._home.onReboot(this.profile);
    this.resetStack();
  }

  private checkFocus(): void {
    const now = this.tasks[0]?.top ?? null;
    if (now && now !== this.lastFocus) {
      this.lastFocus = now;
      this.emit('focus', now);
    }
  }

  // ---- what is on screen -----------------------------------------------------------------

  private statusBar(front: ActivityRecord): UiNode | null {
    if (front.hooks.fullscreen || !this.statusBarBuilder) return null;
    return this.statusBarBuilder(this, { light: !!front.hooks.lightStatusBar });
  }

  /**
   * The current hierarchy: the focused window's root with the status bar as its last (topmost)
   * child. The top node is a shallow copy; everything below it is the live window tree.
   */
  root(): UiNode {
    const front = this.resumed();
    const win = this.dialogs.get(front)?.window ?? front.root();
    const bar = this.statusBar(front);
    return bar ? { ...win, children: [...win.children, bar] } : win;
  }

  /** `uiautomator dump` XML of the current hierarchy. */
  dumpXml(): string {
    return uiautomatorDumpXml(this.root(), {
      width: this.width,
      height: this.height,
      rotation: this.rotation,
    });
  }

  /** UiAutomator2 `GET /source` XML of the current hierarchy. */
  sourceXml(): string {
    return uia2SourceXml(this.root(), { width: this.width, height: this.height, rotation: this.rotation });
  }

  /** `screencap -p`: PNG at display resolution, RGBA like SurfaceFlinger's capture (alpha: false for RGB). */
  renderPng(opts: { alpha?: boolean } = {}): Buffer {
    return renderTree(this.root(), this.width, this.height, {
      textScale: this.textScale,
      dp: this.density / 160,
      alpha: opts.alpha ?? true,
    }).toPng();
  }

  // ---- input -----------------------------------------------------------------------------

  /** `input tap x y`: returns the node that took the touch (null outside the display). */
  tap(x: number, y: number): UiNode | null {
    const front = this.resumed();
    const hit = hitTest(this.root(), x, y);
    if (!hit) return null;
    if (hit.enabled) {
      if (hit.focusable || isEditable(hit)) setFocus(front.root(), hit);
      if (hit.checkable) hit.checked = !hit.checked;
      hit.onTap?.();
    }
    this.emit('tap', hit);
    this.checkFocus();
    return hit;
  }

  /** Long press (`input swipe x y x y 1000`): fires onLongTap of the node under the finger. */
  longPress(x: number, y: number): UiNode | null {
    const hit = hitTest(this.root(), x, y);
    if (hit?.enabled && hit.longClickable) hit.onLongTap?.();
    this.checkFocus();
    return hit;
  }

  /**
   * `input swipe x1 y1 x2 y2 [ms]`: a short move is a tap (or a long press when >= 500 ms);
   * from the status bar downward it pulls the shade (`onStatusBarPull`); otherwise the front
   * activity's onSwipe hook, then the deepest scrollable node under the start point (`onScroll`).
   */
  swipe(x1: number, y1: number, x2: number, y2: number, durationMs = 300): void {
    const dx = x2 - x1;
    const dy = y2 - y1;
    if (Math.hypot(dx, dy) < this.dp(8)) {
      if (durationMs >= 500) this.longPress(x1, y1);
      else this.tap(x1, y1);
      return;
    }
    const front = this.resumed();
    if (this.dialogs.has(front)) {
      // Modal: only the status bar still takes a pull.
      if (y1 < this.statusBarHeight && dy > 0 && this.onStatusBarPull) this.onStatusBarPull(this);
      this.checkFocus();
      return;
    }
    if (front.hooks.onSwipe?.(front, { x1, y1, x2, y2, durationMs })) {
      this.checkFocus();
      return;
    }
    if (!front.hooks.fullscreen && y1 < this.statusBarHeight && dy > 0 && this.onStatusBarPull) {
      this.onStatusBarPull(this);
      this.checkFocus();
      return;
    }
    const scroller = (n: UiNode): UiNode | null => {
      if (!isVisible(n) || !contains(n.bounds, x1, y1)) return null;
      for (let i = n.children.length - 1; i >= 0; i--) {
        const s = scroller(n.children[i]!);
        if (s) return s;
      }
      return n.scrollable && n.onScroll ? n : null;
    };
    scroller(this.root())?.onScroll?.(dx, dy);
    this.checkFocus();
  }

  /** The edit field with input focus in the front window, if any. */
  focusedInput(): UiNode | undefined {
    if (this.dialogs.has(this.resumed())) return undefined;
    const f = findFocused(this.resumed().root());
    return f && isEditable(f) && f.enabled ? f : undefined;
  }

  /** `input text`: appends to the focused edit field; false when nothing has input focus. */
  text(s: string): boolean {
    const f = this.focusedInput();
    if (!f) return false;
    f.text += s;
    f.onTextChange?.(f.text);
    return true;
  }

  /**
   * `input keyevent`: HOME(3), BACK(4), APP_SWITCH(187), ENTER(66) (the field's onEnter), DEL(67)
   * (last character of the focused field), and character keys (digits, letters, punctuation, SPACE)
   * typed into the focused field. The front activity's onKey sees every key first. Others: ignored.
   */
  keyevent(code: number): void {
    const front = this.resumed();
    const dialog = this.dialogs.get(front);
    if (dialog && code !== KEYCODE.HOME && code !== KEYCODE.APP_SWITCH) {
      // The dialog has the key focus: BACK cancels a cancelable one (AOSP Dialog.onBackPressed), the
      // rest goes nowhere the test could see.
      if (code === KEYCODE.BACK && dialog.spec.cancelable) this.dialogs.delete(front);
      return;
    }
    if (front.hooks.onKey?.(front, code)) {
      this.checkFocus();
      return;
    }
    switch (code) {
      case KEYCODE.HOME:
        this.goHome();
        return;
      case KEYCODE.BACK:
        this.back();
        return;
      case KEYCODE.APP_SWITCH:
        this.appSwitch();
        return;
      case KEYCODE.ENTER:
      case KEYCODE.NUMPAD_ENTER:
        this.focusedInput()?.onEnter?.();
        this.checkFocus();
        return;
      case KEYCODE.DEL: {
        const f = this.focusedInput();
        if (f && f.text) {
          f.text = [...f.text].slice(0, -1).join('');
          f.onTextChange?.(f.text);
        }
        return;
      }
      default: {
        const ch = keyChar(code);
        if (ch !== undefined) this.text(ch);
      }
    }
  }
}
