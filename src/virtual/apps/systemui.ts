/**
 * The SystemUI status bar strip: clock on the left (MIUI style), battery on the right. Built fresh
 * for every read so the clock is current; `systemUiStatusBar` is what apps/index.ts registers with
 * the Screen (setStatusBar).
 *
 * NotificationShade is the pulled-down shade (quick-settings tiles, notifications). The Screen
 * only offers the `onStatusBarPull` hook, so `attach()` also wraps the screen instance's root(),
 * keyevent(), swipe() and onReboot(): while the shade is expanded it is the window the hierarchy
 * shows (as `uiautomator dump` shows the SystemUI window then), BACK / HOME / APP_SWITCH and a
 * swipe up collapse it. The focused app (dumpsys window) does not change.
 */
import type { Screen, StatusBarBuilder } from '../display/screen.ts';
import type { Namespace } from '../os/settings.ts';
import type { UiNode } from '../display/node.ts';
import { grid, node, rect } from '../display/node.ts';
import { KEYCODE } from '../display/keys.ts';

export const SYSTEMUI_PACKAGE = 'com.android.systemui';
const id = (name: string): string => `${SYSTEMUI_PACKAGE}:id/${name}`;

export interface StatusBarState {
  width: number;
  height: number;
  /** Pixels per dp. */
  dp: number;
  clock: string;
  batteryLevel: number;
  charging: boolean;
  /** White text (dark window behind) vs dark text on a light strip. */
  light: boolean;
}

/** SystemUI's BatteryMeterView description. */
export function batteryDescription(level: number, charging: boolean): string {
  return charging ? `Battery charging, ${level} percent.` : `Battery ${level} percent.`;
}

/** "HH:mm" in the given IANA zone (falls back to the host zone when unknown). */
export function formatClock(now: Date, timeZone?: string, hour24 = true): string {
  const opts: Intl.DateTimeFormatOptions = {
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: hour24 ? 'h23' : 'h12',
  };
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', { ...opts, timeZone: timeZone || undefined }).formatToParts(now);
  } catch {
    parts = new Intl.DateTimeFormat('en-US', opts).formatToParts(now);
  }
  const get = (t: string): string => parts.find((p) => p.type === t)?.value ?? '00';
  const hour = hour24 ? get('hour') : String(Number(get('hour')));
  return `${hour}:${get('minute')}`;
}

export function buildStatusBar(s: StatusBarState): UiNode {
  const fg = s.light ? 0xffffff : 0x111111;
  const pad = Math.round(16 * s.dp);
  const h = s.height;
  const clockW = Math.round(64 * s.dp);
  const battW = Math.round(26 * s.dp);
  const battH = Math.max(4, Math.round(12 * s.dp));
  const battTop = Math.floor((h - battH) / 2);
  const clock = node('TextView', {
    resourceId: id('clock'),
    text: s.clock,
    packageName: SYSTEMUI_PACKAGE,
    bounds: rect(pad, 0, pad + clockW, h),
    style: { foreground: fg },
  });
  const battery = node('LinearLayout', {
    resourceId: id('battery'),
    contentDesc: batteryDescription(s.batteryLevel, s.charging),
    packageName: SYSTEMUI_PACKAGE,
    bounds: rect(s.width - pad - battW, battTop, s.width - pad, battTop + battH),
    style: { border: fg },
  });
  const systemIcons = node('LinearLayout', {
    resourceId: id('system_icons'),
    packageName: SYSTEMUI_PACKAGE,
    bounds: rect(s.width - pad - battW, 0, s.width - pad, h),
    children: [battery],
  });
  const contents = node('LinearLayout', {
    resourceId: id('status_bar_contents'),
    packageName: SYSTEMUI_PACKAGE,
    bounds: rect(0, 0, s.width, h),
    children: [clock, systemIcons],
  });
  return node('FrameLayout', {
    resourceId: id('status_bar'),
    packageName: SYSTEMUI_PACKAGE,
    bounds: rect(0, 0, s.width, h),
    style: s.light ? {} : { background: 0xf7f7f7 },
    children: [contents],
  });
}

/** The strip for the Screen: its size, the phone's time zone and clock, the battery it shows. */
export const systemUiStatusBar: StatusBarBuilder = (screen, { light }) => {
  let tz = screen.profile.props['persist.sys.timezone'];
  if (!tz) tz = undefined;
  return buildStatusBar({
    width: screen.width,
    height: screen.statusBarHeight,
    dp: screen.density / 160,
    clock: formatClock(screen.now(), tz, screen.clock24),
    batteryLevel: screen.battery.level,
    charging: screen.battery.charging,
    light,
  });
};

// ---- the notification shade -------------------------------------------------------------------

/** The settings a quick-settings tile reads and writes. */
export interface ShadeSettings {
  get(ns: Namespace, key: string): string | undefined;
  put(ns: Namespace, key: string, value: string): void;
}

interface TileSpec {
  id: string;
  label: string;
  /** Setting behind the tile: on/off values and the default when unset; none = local state only. */
  setting?: { ns: Namespace; key: string; on: string; off: string; unset: boolean };
}

/** A tile's setting that reads `on` when enabled and '0' when not; `unset`: its state while unset. */
function onOff(ns: Namespace, key: string, unset: boolean, on = '1'): NonNullable<TileSpec['setting']> {
  return { ns, key, on, off: '0', unset };
}

/** MIUI's default quick-settings tiles (first two rows). */
const TILES: TileSpec[] = [
  { id: 'wifi', label: 'Wi-Fi', setting: onOff('global', 'wifi_on', true) },
  { id: 'cell', label: 'Mobile data', setting: onOff('global', 'mobile_data', true) },
  { id: 'flashlight', label: 'Flashlight' },
  { id: 'bt', label: 'Bluetooth', setting: onOff('global', 'bluetooth_on', false) },
  { id: 'airplane', label: 'Airplane mode', setting: onOff('global', 'airplane_mode_on', false) },
  { id: 'location', label: 'Location', setting: onOff('secure', 'location_mode', true, '3') },
  { id: 'rotation', label: 'Auto-rotate', setting: onOff('system', 'accelerometer_rotation', false) },
  { id: 'dnd', label: 'Do not disturb', setting: onOff('global', 'zen_mode', false) },
];

export class NotificationShade {
  expanded = false;
  /** Called after every expand/collapse (status_bar_pull). */
  onChange: ((expanded: boolean) => void) | null = null;
  private readonly local = new Map<string, boolean>();
  private restore: (() => void) | null = null;

  constructor(
    readonly screen: Screen,
    private readonly settings: ShadeSettings | null = null,
  ) {}

  expand(): void {
    if (this.expanded) return;
    this.expanded = true;
    this.onChange?.(true);
  }

  collapse(): void {
    if (!this.expanded) return;
    this.expanded = false;
    this.onChange?.(false);
  }

  /** Hooks the shade into its screen (once): see the module comment. */
  attach(): void {
    if (this.restore) return;
    const screen = this.screen;
    const keys = ['root', 'keyevent', 'swipe', 'onReboot'] as const;
    const target = screen as unknown as Record<string, unknown>;
    const own = new Map(keys.map((k) => [k, Object.getOwnPropertyDescriptor(screen, k)]));
    const pull = screen.onStatusBarPull;
    this.restore = () => {
      for (const k of keys) {
        const d = own.get(k);
        if (d) Object.defineProperty(screen, k, d);
        else delete target[k];
      }
      screen.onStatusBarPull = pull;
    };
    const root = screen.root.bind(screen);
    const keyevent = screen.keyevent.bind(screen);
    const swipe = screen.swipe.bind(screen);
    const onReboot = screen.onReboot.bind(screen);
    screen.onStatusBarPull = () => this.expand();
    screen.root = () => (this.expanded ? this.build() : root());
    screen.keyevent = (code: number) => {
      if (this.expanded && (code === KEYCODE.BACK || code === KEYCODE.HOME || code === KEYCODE.APP_SWITCH)) {
        this.collapse();
        if (code === KEYCODE.BACK) return;
      }
      keyevent(code);
    };
    screen.swipe = (x1: number, y1: number, x2: number, y2: number, durationMs = 300) => {
      const moved = Math.hypot(x2 - x1, y2 - y1) >= screen.dp(8);
      if (this.expanded && moved) {
        if (y2 < y1) this.collapse();
        return;
      }
      swipe(x1, y1, x2, y2, durationMs);
    };
    screen.onReboot = () => {
      this.expanded = false;
      onReboot();
    };
  }

  /** Undoes attach(): the screen's own methods and hook again, the shade collapsed. */
  detach(): void {
    this.restore?.();
    this.restore = null;
    this.expanded = false;
  }

  private tileOn(t: TileSpec): boolean {
    const st = t.setting;
    if (!st || !this.settings) return this.local.get(t.id) ?? false;
    const v = this.settings.get(st.ns, st.key);
    return v === undefined ? st.unset : v !== st.off;
  }

  private toggle(t: TileSpec): void {
    const on = !this.tileOn(t);
    const st = t.setting;
    if (!st || !this.settings) this.local.set(t.id, on);
    else this.settings.put(st.ns, st.key, on ? st.on : st.off);
  }

  /** The expanded shade: header with clock and date, the tiles, the (empty) notification list. */
  build(): UiNode {
    const s = this.screen;
    const now = s.now();
    let tz: string | undefined = s.profile.props['persist.sys.timezone'] || undefined;
    let date: string;
    try {
      date = now.toLocaleDateString('en-US', {
        weekday: 'short',
        month: 'short',
        day: 'numeric',
        timeZone: tz,
      });
    } catch {
      tz = undefined;
      date = now.toLocaleDateString('en-US', { weekday: 'short', month: 'short', day: 'numeric' });
    }
    const headerTop = s.statusBarHeight;
    const headerH = s.dp(72);
    const pad = s.dp(16);
    const tilesArea = rect(pad, headerTop + headerH, s.width - pad, headerTop + headerH + s.dp(200));
    const cells = grid(tilesArea, 4, 2);
    const tiles = TILES.map((t, i) => {
      const on = this.tileOn(t);
      return node('Switch', {
        resourceId: id(`qs_tile_${t.id}`),
        text: t.label,
        contentDesc: t.label,
        checkable: true,
        checked: on,
        clickable: true,
        focusable: true,
        packageName: SYSTEMUI_PACKAGE,
        bounds: rect(
          cells[i]!.left + s.dp(4),
          cells[i]!.top + s.dp(4),
          cells[i]!.right - s.dp(4),
          cells[i]!.bottom - s.dp(4),
        ),
        style: {
          background: on ? 0x2f7dff : 0x3a3a44,
          foreground: 0xffffff,
          radius: s.dp(16),
          textScale: 0.75,
        },
        onTap: () => this.toggle(t),
      });
    });
    const full = rect(0, 0, s.width, s.height);
    return node('FrameLayout', {
      resourceId: id('notification_panel'),
      packageName: SYSTEMUI_PACKAGE,
      bounds: full,
      style: { background: 0x1e1e24 },
      children: [
        node('TextView', {
          resourceId: id('big_time'),
          text: formatClock(now, tz, s.clock24),
          packageName: SYSTEMUI_PACKAGE,
          bounds: rect(pad, headerTop, Math.round(s.width / 2), headerTop + headerH),
          style: { foreground: 0xffffff, textScale: 2 },
        }),
        node('TextView', {
          resourceId: id('date'),
          text: date,
          packageName: SYSTEMUI_PACKAGE,
          bounds: rect(Math.round(s.width / 2), headerTop, s.width - pad, headerTop + headerH),
          style: { foreground: 0xd0d0d8 },
        }),
        node('ViewGroup', {
          resourceId: id('quick_settings_panel'),
          packageName: SYSTEMUI_PACKAGE,
          bounds: tilesArea,
          children: tiles,
        }),
        node('TextView', {
          resourceId: id('no_notifications'),
          text: 'No notifications',
          packageName: SYSTEMUI_PACKAGE,
          bounds: rect(pad, tilesArea.bottom + s.dp(24), s.width - pad, tilesArea.bottom + s.dp(72)),
          style: { foreground: 0xa0a0a8, align: 'center' },
        }),
      ],
    });
  }
}
