/**
 * The SystemUI status bar strip: clock on the left (MIUI style), battery on the right. Built fresh
 * for every read so the clock is current.
 */
import type { UiNode } from './node.ts';
import { node, rect } from './node.ts';

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
