/**
 * The MIUI launcher (com.miui.home/.launcher.Launcher): workspace pages of app icons, the dock
 * (hotseat), the page indicator, and the recents view MIUI draws inside the launcher window.
 *
 * Items are typed (`LauncherItem`) so folders and widgets can be added as further kinds; pages are
 * plain arrays the app layer may rearrange, then call `screen.invalidate()`.
 */
import type { Screen } from './screen.ts';
import type { Profile } from '../profiles.ts';
import type { ActivityRegistration, Task } from './activity.ts';
import type { Bounds, UiNode } from './node.ts';
import { parseComponent } from '../component.ts';
import { launcherIntent } from './activity.ts';
import { grid, inset, node, rect } from './node.ts';
import { appLabel } from './labels.ts';

export const HOME_PACKAGE = 'com.miui.home';
export const HOME_COMPONENT = 'com.miui.home/.launcher.Launcher';
export const homeId = (name: string): string => `${HOME_PACKAGE}:id/${name}`;

export interface LauncherApp {
  kind: 'app';
  label: string;
  package: string;
  /** Launcher activity, `pkg/.Activity`. */
  component: string;
}

export type LauncherItem = LauncherApp;

/** Packages MIUI puts in the dock, one per slot, first installed one wins. */
const DOCK_SLOTS: string[][] = [
  ['com.android.contacts', 'com.google.android.dialer', 'com.android.dialer'],
  ['com.android.mms', 'com.google.android.apps.messaging'],
  ['com.mi.globalbrowser', 'com.android.browser', 'com.android.chrome'],
  ['com.android.camera'],
];

const BROWSER_SLOT = 2;

const ICON_COLOURS: Record<string, number> = {
  'com.mi.globalbrowser': 0xff7a1a,
  'com.android.browser': 0x1a8cff,
  'com.android.chrome': 0x34a853,
  'com.android.settings': 0x7d8590,
  'com.android.camera': 0x3c3c46,
  'com.android.contacts': 0x2ecc71,
  'com.android.mms': 0x2e9bff,
  'com.google.android.apps.messaging': 0x1a73e8,
  'com.miui.gallery': 0xff5a7a,
  'com.miui.securitycenter': 0x33c48a,
  'com.xiaomi.market': 0x20b070,
  'com.android.vending': 0x01875f,
};
const PALETTE = [0xe5533d, 0xf39c12, 0x27ae60, 0x2980b9, 0x8e44ad, 0x16a085, 0xd35400, 0x2c3e50, 0xc0392b];

export function iconColour(pkg: string): number {
  const known = ICON_COLOURS[pkg];
  if (known !== undefined) return known;
  let h = 0;
  for (const ch of pkg) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length]!;
}

export class Launcher {
  readonly screen: Screen;
  readonly columns = 4;
  readonly rowsPerPage: number;
  dock: LauncherItem[] = [];
  pages: LauncherItem[][] = [];
  /** Current workspace page. */
  page = 0;
  /** What the launcher window shows. */
  mode: 'workspace' | 'recents' = 'workspace';
  /** The task that was in front when recents opened (BACK returns to it). */
  recentsFrom: Task | null = null;

  constructor(screen: Screen, profile: Profile) {
    this.screen = screen;
    this.rowsPerPage = screen.height / screen.width >= 2 ? 6 : 5;
    this.layoutApps(profile);
  }

  /** Default layout: dock slots first, the other launchable apps in profile order. */
  layoutApps(profile: Profile): void {
    const apps: LauncherApp[] = [];
    for (const p of profile.packages) {
      if (!p.launcher || p.name === HOME_PACKAGE) continue;
      let component: string;
      try {
        component = `${p.name}/${parseComponent(p.launcher).className}`;
      } catch {
        continue;
      }
      apps.push({ kind: 'app', label: appLabel(p.name), package: p.name, component });
    }
    const dock: LauncherItem[] = [];
    const slots = DOCK_SLOTS.map((slot, i) =>
      i === BROWSER_SLOT && profile.browser ? [profile.browser, ...slot] : slot,
    );
    for (const slot of slots) {
      const app = slot.map((pkg) => apps.find((a) => a.package === pkg)).find((a) => a);
      if (app) dock.push(app);
    }
    const rest = apps.filter((a) => !dock.includes(a));
    const perPage = this.columns * this.rowsPerPage;
    this.dock = dock;
    this.pages = [];
    for (let i = 0; i < rest.length; i += perPage) this.pages.push(rest.slice(i, i + perPage));
    if (!this.pages.length) this.pages.push([]);
    this.page = 0;
    this.mode = 'workspace';
    this.recentsFrom = null;
  }

  get pageCount(): number {
    return this.pages.length;
  }

  registration(): ActivityRegistration {
    return {
      build: () => this.build(),
      volatile: true,
      lightStatusBar: true,
      launchMode: 'singleTask',
      onBack: () => {
        if (this.mode === 'recents') this.closeRecents(true);
        return true; // the launcher never finishes on BACK
      },
    };
  }

  /** HOME pressed: leave recents; on the workspace already, go to the default page. */
  onHomeKey(alreadyHome: boolean): void {
    if (alreadyHome && this.mode === 'workspace') this.page = 0;
    this.mode = 'workspace';
    this.recentsFrom = null;
  }

  showRecents(from: Task | null): void {
    this.mode = 'recents';
    this.recentsFrom = from;
  }

  /** Leaves recents; with `resume`, brings back the app recents was opened from. */
  closeRecents(resume: boolean): void {
    const from = this.recentsFrom;
    this.mode = 'workspace';
    this.recentsFrom = null;
    if (resume && from && this.screen.taskList().includes(from)) this.screen.moveTaskToFront(from);
  }

  scrollPage(delta: number): void {
    this.page = Math.max(0, Math.min(this.pageCount - 1, this.page + delta));
  }

  // ---- layout ------------------------------------------------------------------------------

  private get metrics(): {
    workspace: Bounds;
    indicator: Bounds;
    dock: Bounds;
  } {
    const s = this.screen;
    const dp = (v: number): number => s.dp(v);
    const dockBottom = s.height - dp(20);
    const dockTop = dockBottom - dp(96);
    const indicatorTop = dockTop - dp(28);
    return {
      workspace: rect(0, s.statusBarHeight, s.width, indicatorTop),
      indicator: rect(
        Math.round(s.width / 2) - dp(40),
        indicatorTop + dp(8),
        Math.round(s.width / 2) + dp(40),
        indicatorTop + dp(20),
      ),
      dock: rect(0, dockTop, s.width, dockBottom),
    };
  }

  private icon(item: LauncherItem, cell: Bounds): UiNode {
    const s = this.screen;
    return node('TextView', {
      resourceId: homeId('icon_title'),
      text: item.label,
      contentDesc: item.label,
      clickable: true,
      longClickable: true,
      focusable: true,
      bounds: inset(cell, s.dp(2), s.dp(2)),
      style: { icon: iconColour(item.package), foreground: 0xffffff, textScale: 0.75 },
      onTap: () => {
        s.startActivity(item.component, launcherIntent(item.component));
      },
    });
  }

  build(): UiNode {
    const s = this.screen;
    const full = rect(0, 0, s.width, s.height);
    const content = this.mode === 'recents' ? this.buildRecents() : this.buildWorkspace();
    return node('FrameLayout', {
      bounds: full,
      style: { gradient: [0x23395d, 0x6a4c93] },
      children: [
        node('FrameLayout', {
          resourceId: homeId('launcher'),
          bounds: full,
          children: [
            node('FrameLayout', { resourceId: homeId('drag_layer'), bounds: full, children: content }),
          ],
        }),
      ],
    });
  }

  private buildWorkspace(): UiNode[] {
    const s = this.screen;
    const m = this.metrics;
    const page = Math.min(this.page, this.pageCount - 1);
    const cellArea = rect(
      m.workspace.left + s.dp(8),
      m.workspace.top + s.dp(12),
      m.workspace.right - s.dp(8),
      m.workspace.bottom,
    );
    const cells = grid(cellArea, this.columns, this.rowsPerPage);
    const items = this.pages[page] ?? [];
    const cellLayout = node('ViewGroup', {
      resourceId: homeId('cell_layout'),
      bounds: cellArea,
      children: items.map((item, i) => this.icon(item, cells[i]!)),
    });
    const workspace = node('FrameLayout', {
      resourceId: homeId('workspace'),
      bounds: m.workspace,
      scrollable: this.pageCount > 1,
      children: [cellLayout],
      onScroll: (dx) => {
        if (Math.abs(dx) >= s.dp(48)) this.scrollPage(dx < 0 ? 1 : -1);
      },
    });
    const indicator = node('LinearLayout', {
      resourceId: homeId('page_indicator'),
      contentDesc: `Page ${page + 1} of ${this.pageCount}`,
      bounds: m.indicator,
      children: this.indicatorDots(m.indicator, page),
    });
    const dockCells = grid(inset(m.dock, s.dp(8), 0), this.columns, 1);
    const hotseat = node('FrameLayout', {
      resourceId: homeId('hotseat'),
      bounds: m.dock,
      children: this.dock.slice(0, this.columns).map((item, i) => this.icon(item, dockCells[i]!)),
    });
    return [workspace, indicator, hotseat];
  }

  private indicatorDots(b: Bounds, page: number): UiNode[] {
    const s = this.screen;
    const n = this.pageCount;
    const size = s.dp(6);
    const gap = s.dp(6);
    const total = n * size + (n - 1) * gap;
    let x = Math.round((b.left + b.right - total) / 2);
    const top = Math.round((b.top + b.bottom - size) / 2);
    const dots: UiNode[] = [];
    for (let i = 0; i < n; i++) {
      const bounds = rect(Math.max(b.left, x), top, Math.min(b.right, x + size), top + size);
      dots.push(
        node('ImageView', {
          bounds,
          selected: i === page,
          style: { background: i === page ? 0xffffff : 0x9a9ab0, radius: size / 2 },
        }),
      );
      x += size + gap;
    }
    return dots;
  }

  private buildRecents(): UiNode[] {
    const s = this.screen;
    const tasks = s.taskList().filter((t) => t !== s.homeTask && t.top);
    const clearSize = s.dp(56);
    const clearTop = s.height - s.dp(40) - clearSize;
    const listArea = rect(s.dp(12), s.statusBarHeight + s.dp(24), s.width - s.dp(12), clearTop - s.dp(16));
    const children: UiNode[] = [];
    if (!tasks.length) {
      children.push(
        node('TextView', {
          resourceId: homeId('recents_empty'),
          text: 'No recent items',
          bounds: rect(0, Math.round(s.height / 2) - s.dp(20), s.width, Math.round(s.height / 2) + s.dp(20)),
          style: { foreground: 0xffffff, align: 'center' },
        }),
      );
    } else {
      const cells = grid(listArea, 2, 3);
      const cards = tasks.slice(0, cells.length).map((task, i) => {
        const cell = inset(cells[i]!, s.dp(6), s.dp(6));
        const label = appLabel(task.affinity);
        const titleH = s.dp(32);
        return node('FrameLayout', {
          resourceId: homeId('task_view'),
          contentDesc: label,
          clickable: true,
          longClickable: true,
          bounds: cell,
          style: { background: 0xf2f2f2, radius: s.dp(12) },
          onTap: () => {
            this.mode = 'workspace';
            this.recentsFrom = null;
            s.moveTaskToFront(task);
          },
          children: [
            node('TextView', {
              resourceId: homeId('title'),
              text: label,
              bounds: rect(cell.left + s.dp(12), cell.top, cell.right - s.dp(12), cell.top + titleH),
            }),
            node('ImageView', {
              resourceId: homeId('snapshot'),
              bounds: rect(
                cell.left + s.dp(8),
                cell.top + titleH,
                cell.right - s.dp(8),
                cell.bottom - s.dp(8),
              ),
              style: { background: 0xffffff, radius: s.dp(8) },
            }),
          ],
        });
      });
      children.push(
        node('androidx.recyclerview.widget.RecyclerView', {
          resourceId: homeId('recents_view'),
          scrollable: tasks.length > cells.length,
          bounds: listArea,
          children: cards,
        }),
      );
    }
    const left = Math.round((s.width - clearSize) / 2);
    children.push(
      node('ImageView', {
        resourceId: homeId('clearAnimView'),
        contentDesc: 'Clear all',
        clickable: true,
        bounds: rect(left, clearTop, left + clearSize, clearTop + clearSize),
        style: { background: 0xe0e0e0, radius: clearSize / 2 },
        onTap: () => {
          for (const t of s.taskList().filter((x) => x !== s.homeTask)) s.removeTask(t);
          this.mode = 'workspace';
          this.recentsFrom = null;
        },
      }),
    );
    return [
      node('FrameLayout', {
        resourceId: homeId('recents_container'),
        bounds: rect(0, 0, s.width, s.height),
        style: { background: 0x2a2a33 },
        children,
      }),
    ];
  }
}
