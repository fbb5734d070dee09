/**
 * Installed packages and their versions as the phone's package manager prints them: `dumpsys
 * package PKG` and `pm list packages`. One reading for doctor, the UiAutomator2 server check and
 * the locator overrides' version match.
 */
import type { Device } from './device.ts';

export interface InstalledVersion {
  versionName?: string;
  versionCode?: number;
}

/**
 * `dumpsys package PKG` → its version, or null when not installed. The same markers appium-adb's
 * getPackageInfo matches (appium-uia2.md §2): `Package [PKG] (hash):`, `versionName=…`,
 * `versionCode=N`.
 */
export function parsePackageVersion(dump: string, pkg: string): InstalledVersion | null {
  const header = new RegExp(`^\\s*Package\\s+\\[${pkg.replace(/\./g, '\\.')}\\][^:]+:$`, 'm').exec(dump);
  if (!header) return null;
  const rest = dump.slice(header.index);
  const out: InstalledVersion = {};
  const name = /versionName=(\S+)/.exec(rest)?.[1];
  const code = /versionCode=(\d+)/.exec(rest)?.[1];
  if (name) out.versionName = name;
  if (code) out.versionCode = Number(code);
  return out;
}

/** `pm list packages [FILTER]` / `cmd package list packages` → the package names. */
export function parsePackageList(out: string): Set<string> {
  const pkgs = new Set<string>();
  for (const m of out.matchAll(/^package:(\S+?)(?:\s+versionCode:\d+)?\s*$/gm)) pkgs.add(m[1]!);
  return pkgs;
}

/** versionName of an installed package ('' when dumpsys does not say; undefined when not installed). */
export async function packageVersion(
  device: Pick<Device, 'shell'>,
  pkg: string,
  timeoutMs = 10_000,
): Promise<string | undefined> {
  const r = await device.shell(['dumpsys', 'package', pkg], { timeoutMs });
  // dumpsys prints "Unable to find package: X" (or nothing) for a package that is not installed.
  if (r.exitCode !== 0) return undefined;
  const v = parsePackageVersion(r.stdout, pkg);
  return v ? (v.versionName ?? '') : undefined;
}
