/**
 * The MIUI launcher (com.miui.home/.launcher.Launcher): workspace pages of app icons and folders,
 * the dock (hotseat), the page indicator, an open folder, and the recents view MIUI draws inside
 * the launcher window.
 *
 * Items are typed (`LauncherItem`: apps and folders); pages are plain arrays the app layer may
 * rearrange, then call `screen.invalidate()`. `configure()` sets the default folders and the number
 * of home screens (kept across reboots); `listener` hears what the launcher reports to telemetry
 * (src/virtual/apps/ turns it into SystemEvents).
 */
import type { ActivityRegistration, HomeApp, Screen } from '../display/screen.ts';
import type { Profile } from '../profiles/load.ts';
import type { Task } from '../display/activity.ts';
import type { Bounds, UiNode } from '../display/node.ts';
import { parseComponent } from '../os/component.ts';
import { launcherIntent } from '../display/activity.ts';
import { grid, inset, node, rect } from '../display/node.ts';
import { appLabel } from '../display/labels.ts';

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

export interface LauncherFolder {
  kind: 'folder';
  label: string;
  apps: LauncherApp[];
}

export type LauncherItem = LauncherApp | LauncherFolder;

/** A default folder: its label and the packages it collects (in this order, those installed). */
export interface FolderSpec {
  label: string;
  packages: string[];
}

export interface LauncherConfig {
  /** Folders put first on the first home screen; a folder none of whose packages is installed is left out. */
  folders: FolderSpec[];
  /** Home screens there are at least (MIUI keeps empty screens the user added). */
  minPages: number;
}

/**
 * What the launcher reports (pages are 0-based workspace indexes). App starts are not among them:
 * src/virtual/apps/ reports app_open for every app that comes to the foreground, whether from an
 * icon, `am start`, a VIEW intent or recents.
 */
export type LauncherEvent =
  { type: 'folder_open'; folder: string } | { type: 'home_screen_swipe'; from: number; to: number };

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

/** The phone's home app: apps/index.ts registers it with the Screen (setHome). */
export class Launcher implements HomeApp {
  readonly component = HOME_COMPONENT;
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
  /** The folder shown open over the workspace, if any. */
  openFolder: LauncherFolder | null = null;
  /** Default folders and page count; see configure(). */
  config: LauncherConfig = { folders: [], minPages: 1 };
  /** Hears folder opens, page swipes and app starts from icons. */
  listener: ((event: LauncherEvent) => void) | null = null;

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
    let rest: LauncherItem[] = apps.filter((a) => !dock.includes(a));
    const folders: LauncherFolder[] = [];
    for (const spec of this.config.folders) {
      const members = spec.packages
        .map((pkg) => rest.find((a): a is LauncherApp => a.kind === 'app' && a.package === pkg))
        .filter((a): a is LauncherApp => !!a);
      if (!members.length) continue;
      folders.push({ kind: 'folder', label: spec.label, apps: members });
      rest = rest.filter((a) => !members.includes(a as LauncherApp));
    }
    rest = [...folders, ...rest];
    const perPage = this.columns * this.rowsPerPage;
    this.dock = dock;
    this.pages = [];
    for (let i = 0; i < rest.length; i += perPage) this.pages.push(rest.slice(i, i + perPage));
    while (this.pages.length < Math.max(1, this.config.minPages)) this.pages.push([]);
    this.page = 0;
    this.mode = 'workspace';
    this.recentsFrom = null;
    this.openFolder = null;
  }

  /** Reboot: the default layout again, on page 1. */
  onReboot(profile: Profile): void {
    this.layoutApps(profile);
  }

  /** Sets the default folders and page count and lays the apps out again (as after a reboot). */
  configure(profile: Profile, config: Partial<LauncherConfig>): void {
    this.config = { ...this.config, ...config };
    this.layoutApps(profile);
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
        else if (this.openFolder) this.closeFolder();
        return true; // the launcher never finishes on BACK
      },
    };
  }

  /**
   * HOME pressed: leave recents or close the open folder; on the workspace already, go to the default
   * page. That jump is not a swipe and nothing is reported (no source says MIUI tracks it).
   */
  onHomeKey(alreadyHome: boolean): void {
    if (alreadyHome && this.mode === 'workspace' && !this.openFolder) this.setPage(0, false);
    this.mode = 'workspace';
    this.recentsFrom = null;
    this.openFolder = null;
  }

  /** Opens a folder over the workspace (reports folder_open). */
  openFolderView(folder: LauncherFolder): void {
    this.openFolder = folder;
    this.listener?.({ type: 'folder_open', folder: folder.label });
  }

  closeFolder(): void {
    this.openFolder = null;
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
    this.setPage(this.page + delta);
  }

  /** Moves to a workspace page (clamped); a swipe that changes it is reported as home_screen_swipe. */
  private setPage(to: number, swiped = true): void {
    const from = this.page;
    this.page = Math.max(0, Math.min(this.pageCount - 1, to));
    if (swiped && this.page !== from) this.listener?.({ type: 'home_screen_swipe', from, to: this.page });
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
    const folder = item.kind === 'folder';
    return node('TextView', {
      resourceId: homeId(folder ? 'folder_icon' : 'icon_title'),
      text: item.label,
      contentDesc: item.label,
      clickable: true,
      longClickable: true,
      focusable: true,
      bounds: inset(cell, s.dp(2), s.dp(2)),
      style: { icon: folder ? 0x8c8ca0 : iconColour(item.package), foreground: 0xffffff, textScale: 0.75 },
      onTap: folder
        ? () => this.openFolderView(item)
        : () => {
            this.openFolder = null;
            s.startActivity(item.component, launcherIntent(item.component));
          },
    });
  }

  build(): UiNode {
    const s = this.screen;
    const full = rect(0, 0, s.width, s.height);
    const content =
      this.mode === 'recents'
        ? this.buildRecents()
        : this.openFolder
          ? this.buildFolder(this.openFolder)
          : this.buildWorkspace();
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

  /**
   * An open folder: its title and a grid of its apps in a panel in the middle of the screen, the
   * workspace dimmed behind; tapping above or below the panel closes it (as BACK does).
   */
  private buildFolder(folder: LauncherFolder): UiNode[] {
    const s = this.screen;
    const cols = 3;
    const rowCount = Math.max(1, Math.ceil(folder.apps.length / cols));
    const cell = Math.floor((s.width - s.dp(64)) / cols);
    const titleH = s.dp(56);
    const panelH = titleH + rowCount * cell + s.dp(16);
    const top = Math.max(s.statusBarHeight + s.dp(16), Math.round((s.height - panelH) / 2));
    const panel = rect(s.dp(24), top, s.width - s.dp(24), Math.min(s.height - s.dp(16), top + panelH));
    const grid0 = rect(
      panel.left + s.dp(8),
      panel.top + titleH,
      panel.right - s.dp(8),
      panel.top + titleH + rowCount * cell,
    );
    const cells = grid(grid0, cols, rowCount);
    const close = (): void => this.closeFolder();
    return [
      node('FrameLayout', {
        resourceId: homeId('folder_cling'),
        bounds: rect(0, 0, s.width, s.height),
        style: { background: 0x1c2235 },
        children: [
          node('View', {
            resourceId: homeId('folder_outside_top'),
            contentDesc: 'Close folder',
            clickable: true,
            bounds: rect(0, 0, s.width, panel.top),
            onTap: close,
          }),
          node('FrameLayout', {
            resourceId: homeId('folder_container'),
            bounds: panel,
            style: { background: 0xe8e8ee, radius: s.dp(24) },
            children: [
              node('TextView', {
                resourceId: homeId('folder_title'),
                text: folder.label,
                bounds: rect(panel.left + s.dp(16), panel.top, panel.right - s.dp(16), panel.top + titleH),
                style: { textScale: 1.2, align: 'center' },
              }),
              node('GridView', {
                resourceId: homeId('folder_content'),
                bounds: grid0,
                children: folder.apps.map((app, i) => {
                  const n = this.icon(app, cells[i]!);
                  n.style = { ...n.style, foreground: 0x222222 };
                  return n;
                }),
              }),
            ],
          }),
          node('View', {
            resourceId: homeId('folder_outside_bottom'),
            contentDesc: 'Close folder',
            clickable: true,
            bounds: rect(0, panel.bottom, s.width, s.height),
            onTap: close,
          }),
        ],
      }),
    ];
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
