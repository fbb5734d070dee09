/**
 * Activities and tasks: intents, the per-activity window tree and the hooks an app module
 * registers for a component (component names live in ../os/component.ts). The window builder an app
 * registers takes the Screen, so its type (ActivityBuilder, ActivityRegistration) lives in
 * screen.ts: a record is handed its builder already bound, and this module needs nothing of Screen.
 */
import type { ComponentName } from '../os/component.ts';
import { flattenComponent, parseComponent, shortClassName, shortComponent } from '../os/component.ts';
import type { UiNode } from './node.ts';
import { fillPackage, findAll, isEditable } from './node.ts';

export interface Intent {
  action?: string;
  data?: string;
  component?: string;
  extras?: Record<string, string>;
  categories?: string[];
  /** Intent.FLAG_ACTIVITY_* bits (`am start -f`). */
  flags?: number;
}

export const ACTION_MAIN = 'android.intent.action.MAIN';
export const ACTION_VIEW = 'android.intent.action.VIEW';
export const CATEGORY_LAUNCHER = 'android.intent.category.LAUNCHER';
export const CATEGORY_HOME = 'android.intent.category.HOME';
export const FLAG_ACTIVITY_NEW_TASK = 0x10000000;
export const FLAG_ACTIVITY_SINGLE_TOP = 0x20000000;
export const FLAG_ACTIVITY_CLEAR_TOP = 0x04000000;
export const FLAG_ACTIVITY_RESET_TASK_IF_NEEDED = 0x00200000;

/** The intent a launcher icon sends (and `am start-activity -a MAIN -c LAUNCHER -f 0x10200000`). */
export function launcherIntent(component: string): Intent {
  return {
    action: ACTION_MAIN,
    categories: [CATEGORY_LAUNCHER],
    component: flattenComponent(parseComponent(component)),
    flags: FLAG_ACTIVITY_NEW_TASK | FLAG_ACTIVITY_RESET_TASK_IF_NEEDED,
  };
}

/** Intent.filterEquals without the component: action, data, categories. */
export function intentFilterEquals(a: Intent, b: Intent): boolean {
  const cats = (i: Intent): string => [...(i.categories ?? [])].sort().join('\n');
  return (a.action ?? '') === (b.action ?? '') && (a.data ?? '') === (b.data ?? '') && cats(a) === cats(b);
}

export interface SwipeGesture {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  durationMs: number;
}

export interface ActivityHooks {
  /** BACK while this activity is in front; return true when handled (e.g. web history, dialogs). */
  onBack?: (record: ActivityRecord) => boolean;
  /** Any key before the system handles it; return true when consumed. */
  onKey?: (record: ActivityRecord, code: number) => boolean;
  /** A swipe (not a tap) before scrollable nodes see it; return true when consumed. */
  onSwipe?: (record: ActivityRecord, swipe: SwipeGesture) => boolean;
  /** An intent delivered to this existing instance (singleTop/singleTask). Default: rebuild. */
  onNewIntent?: (record: ActivityRecord, intent: Intent) => void;
  /** Manifest launchMode. */
  launchMode?: 'standard' | 'singleTop' | 'singleTask';
  /** Hide the status bar (immersive). */
  fullscreen?: boolean;
  /** White status bar text/icons (the window is dark behind the status bar). */
  lightStatusBar?: boolean;
  /** Rebuild the tree on every read instead of caching it (for screens derived from outside state). */
  volatile?: boolean;
}

let nextActivityId = 1;
let nextTaskId = 1;

export class ActivityRecord {
  readonly id = nextActivityId++;
  readonly component: ComponentName;
  intent: Intent;
  /** The hooks registered for its component. */
  readonly hooks: ActivityHooks;
  task: Task;
  /** Free-form per-instance state for app modules (survives rebuilds). */
  readonly state = new Map<string, unknown>();
  /** Builds the window tree (the registered builder, bound to the screen by Screen). */
  private readonly build: (record: ActivityRecord) => UiNode;
  private tree: UiNode | null = null;
  private previous: UiNode | null = null;

  constructor(
    component: ComponentName,
    intent: Intent,
    hooks: ActivityHooks,
    build: (record: ActivityRecord) => UiNode,
    task: Task,
  ) {
    this.component = component;
    this.intent = intent;
    this.hooks = hooks;
    this.build = build;
    this.task = task;
  }

  get packageName(): string {
    return this.component.package;
  }

  /** `.launcher.Launcher` style. */
  get shortClassName(): string {
    return shortClassName(this.component);
  }

  /** `com.miui.home/.launcher.Launcher` style. */
  get shortComponent(): string {
    return shortComponent(this.component);
  }

  /** The window tree, built on first use and cached until invalidate(). */
  root(): UiNode {
    if (!this.tree || this.hooks.volatile) {
      const old = this.tree ?? this.previous;
      const tree = this.build(this);
      fillPackage(tree, this.packageName);
      if (old) carryInputs(old, tree);
      this.tree = tree;
      this.previous = null;
    }
    return this.tree;
  }

  /** Was the tree built already (without building it)? */
  get built(): boolean {
    return this.tree !== null;
  }

  /**
   * Drops the cached tree; the next root() rebuilds it. Like a view-state restore, edit fields
   * keep their text and focus across the rebuild (matched by resource-id) unless keepInputs=false.
   */
  invalidate(opts: { keepInputs?: boolean } = {}): void {
    this.previous = opts.keepInputs === false ? null : (this.tree ?? this.previous);
    this.tree = null;
  }
}

/** Copies text/focus of resource-id'd edit fields from an old tree into its rebuilt successor. */
function carryInputs(from: UiNode, to: UiNode): void {
  const old = new Map(findAll(from, (n) => isEditable(n) && !!n.resourceId).map((n) => [n.resourceId, n]));
  for (const n of findAll(to, (x) => isEditable(x) && !!x.resourceId)) {
    const o = old.get(n.resourceId);
    if (!o) continue;
    n.text = o.text;
    n.focused = o.focused;
  }
}

export class Task {
  readonly id = nextTaskId++;
  readonly activities: ActivityRecord[] = [];

  get root(): ActivityRecord | undefined {
    return this.activities[0];
  }

  get top(): ActivityRecord | undefined {
    return this.activities[this.activities.length - 1];
  }

  /** Package of the root activity (the task's affinity). */
  get affinity(): string {
    return this.root?.packageName ?? '';
  }
}
