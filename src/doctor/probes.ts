/**
 * Parsers for what `phonehome doctor` reads from a phone's shell. Pure functions over the text, so
 * each is unit-tested against the formats Android 10–14 print; each says where the format comes from.
 * A parser that does not recognise its input returns null ("cannot tell"), never a guess.
 */

export interface KeyguardState {
  /** The keyguard (lock screen) is showing. */
  showing: boolean;
  /** It has a PIN, pattern or password (`wm dismiss-keyguard` cannot remove it); null when not printed. */
  secure: boolean | null;
}

/**
 * `dumpsys window policy` (or all of `dumpsys window`) → the keyguard state, or null when no known
 * line is there. Android 10–14 print the keyguard in PhoneWindowManager.dump() through
 * KeyguardServiceDelegate.dump() (`showing=`, `secure=`, then KeyguardStateMonitor `mIsShowing=`)
 * (AOSP frameworks/base services/core/java/com/android/server/policy/keyguard/); older builds and
 * some OEM ones print `mShowingLockscreen=` / `mDreamingLockscreen=` (the same markers appium-adb's
 * lockmgmt.ts isShowingLockscreen() accepts, appium-uia2.md §2).
 */
export function parseKeyguard(dump: string): KeyguardState | null {
  const flag = (re: RegExp): boolean | null => {
    const m = re.exec(dump);
    return m ? m[1] === 'true' : null;
  };
  const delegate = /KeyguardServiceDelegate\b([\s\S]*?)(?:KeyguardStateMonitor|\n\S|$)/.exec(dump)?.[1] ?? '';
  const showingDelegate = /^\s*showing=(true|false)\s*$/m.exec(delegate);
  const monitor = flag(/KeyguardStateMonitor\s+mIsShowing=(true|false)/);
  const legacy = flag(/mShowingLockscreen=(true|false)/);
  const dreaming = flag(/mDreamingLockscreen=(true|false)/);
  const known = [showingDelegate ? showingDelegate[1] === 'true' : null, monitor, legacy, dreaming];
  if (known.every((v) => v === null)) return null;
  const secureDelegate = /^\s*secure=(true|false)\s*$/m.exec(delegate);
  return {
    showing: known.some((v) => v === true),
    secure: secureDelegate ? secureDelegate[1] === 'true' : null,
  };
}

export type Wakefulness = 'Awake' | 'Asleep' | 'Dreaming' | 'Dozing';

/**
 * `dumpsys power` → the wakefulness, or null. PowerManagerService.dumpInternal() prints
 * `mWakefulness=Awake|Asleep|Dreaming|Dozing` (PowerManagerInternal.wakefulnessToString); some builds
 * print `getWakefulnessLocked()=…` instead (appium-adb lockmgmt.ts isInDozingMode notes both).
 */
export function parseWakefulness(dump: string): Wakefulness | null {
  const m = /^\s*(?:mWakefulness|getWakefulnessLocked\(\))=(Awake|Asleep|Dreaming|Dozing)\s*$/m.exec(dump);
  return (m?.[1] as Wakefulness | undefined) ?? null;
}

/** `dumpsys power` → `Display Power: state=ON|OFF|DOZE…` (PowerManagerService's display group line), or null. */
export function parseDisplayPower(dump: string): string | null {
  return /^Display Power: state=(\w+)/m.exec(dump)?.[1] ?? null;
}

/**
 * `cmd appops get PKG OP` → the op's mode (`allow`, `ignore`, `deny`, `default`, `foreground`), or
 * `unset` when the package has no entry ("No operations."), or null for anything else. AOSP
 * AppOpsService.Shell prints one `OP: mode[; time=…]` line per op (services/core/java/com/android/
 * server/appop/AppOpsService.java onShellCommand "get").
 */
export function parseAppopsMode(out: string, op: string): string | null {
  const m = new RegExp(`^\\s*${op.replace(/[^A-Z0-9_]/gi, '')}:\\s*([a-z_]+)`, 'm').exec(out);
  if (m) return m[1]!;
  return /No operations\./.test(out) ? 'unset' : null;
}

/**
 * `dumpsys deviceidle whitelist` → the package names on Doze's allow-list (lines `kind,package,uid`,
 * DeviceIdleController's shell "whitelist" with no argument).
 */
export function parseDeviceIdleWhitelist(out: string): Set<string> {
  const pkgs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /^\s*[\w-]+,([\w.]+),\d+\s*$/.exec(line);
    if (m) pkgs.add(m[1]!);
  }
  return pkgs;
}

export { parsePackageList, parsePackageVersion, type InstalledVersion } from '../device/packages.ts';

/** MagiskSU's mount namespace modes (android-realities.md §2.1; Magisk's DB key `mnt_ns`). */
export const MAGISK_MNT_NS = { 0: 'Global', 1: 'Inherit', 2: 'Isolated' } as const;
export type MagiskMntNs = keyof typeof MAGISK_MNT_NS;

/**
 * `magisk --sqlite "SELECT value FROM settings WHERE key='mnt_ns'"` → 0, 1 or 2; `unset` for no row
 * (empty output: Magisk then uses its default, Inherit); null for anything else. The row prints as
 * `value=N` (Magisk native/src/core/db.rs prints each row as `column=value` pairs).
 */
export function parseMagiskMntNs(out: string): MagiskMntNs | 'unset' | null {
  const text = out.trim();
  if (text === '') return 'unset';
  const m = /^value=([012])$/m.exec(text);
  return m ? (Number(m[1]) as MagiskMntNs) : null;
}

/**
 * MIUI optimisation from `persist.sys.miui_optimization`: `0`/`false` = off, `1`/`true` = on, unset
 * = cannot tell from the property (apps that check it, e.g. Tachiyomi's DeviceUtil.kt
 * isMiuiOptimizationDisabled, treat unset as on and then ask a hidden MIUI API, which the shell
 * cannot call).
 */
export function miuiOptimizationFromProp(value: string): 'on' | 'off' | 'unset' {
  const v = value.trim().toLowerCase();
  if (v === '0' || v === 'false') return 'off';
  if (v === '1' || v === 'true') return 'on';
  return 'unset';
}

/** A host name or address that is this machine (moved to src/util/hosts.ts, so src/ui can use it too). */
export { isLoopbackHost } from '../util/hosts.ts';
