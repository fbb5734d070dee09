/**
 * The UiAutomator2 server APKs on a phone (io.appium.uiautomator2.server and its instrumentation
 * package io.appium.uiautomator2.server.test), compared with the version the installed driver
 * bundles: what `phonehome doctor` reports, and what decides whether a session lets the driver
 * install them ("once per phone and version", issue 11 §1).
 *
 * What the driver does by itself (appium-uiautomator2-driver 8.7.0, lib/uiautomator2-server/core.ts
 * installServerApk(), appium-uia2.md §2 "Server install decision"): unless `skipServerInstallation`,
 * every session runs `dumpsys package`, `cmd package list packages`, `pm list instrumentation` and
 * three `dumpsys deviceidle whitelist +…` calls, and reinstalls only when a package is missing or the
 * installed server is older than the bundled APK. It reads the bundled APK's version with the host's
 * `aapt2`; without aapt2 (phonehome's setup installs none) the state is UNKNOWN and an installed
 * server of ANY version is kept: an old server left from another Appium stays. So the driver already
 * avoids reinstalling at every job; what phonehome adds is a check of its own, once per phone per
 * process, that skips those per-session calls when both packages are at the bundled version
 * (`appium:skipServerInstallation`) and names a version mismatch the driver cannot see.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device } from '../../device/index.ts';
import { parsePackageList, parsePackageVersion } from '../../device/packages.ts';
import { DEFAULT_APPIUM_HOME, UIA2_DRIVER_PACKAGE } from './server.ts';

export const UIA2_SERVER_PACKAGE = 'io.appium.uiautomator2.server';
export const UIA2_TEST_PACKAGE = 'io.appium.uiautomator2.server.test';
const SERVER_NPM_PACKAGE = 'appium-uiautomator2-server';

/**
 * The server version the installed driver bundles: appium-uiautomator2-server's package.json (whose
 * apks/ hold `appium-uiautomator2-server-v<version>.apk`), nested under the driver or hoisted into
 * APPIUM_HOME's node_modules. Null when the driver is not installed.
 */
export function bundledServerVersion(appiumHome: string = DEFAULT_APPIUM_HOME): string | null {
  const candidates = [
    join(appiumHome, 'node_modules', UIA2_DRIVER_PACKAGE, 'node_modules', SERVER_NPM_PACKAGE, 'package.json'),
    join(appiumHome, 'node_modules', SERVER_NPM_PACKAGE, 'package.json'),
  ];
  for (const file of candidates) {
    try {
      const v = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
      if (typeof v === 'string' && v) return v;
    } catch {
      // not there: try the next place
    }
  }
  return null;
}

export interface ServerApks {
  /** The installed server's versionName, or null when the server package is not installed. */
  server: { versionName?: string; versionCode?: number } | null;
  /** Whether the instrumentation (test) package is installed (it carries no useful version). */
  testInstalled: boolean;
  /** The version the driver bundles (null: driver not installed, cannot compare). */
  bundled: string | null;
  /** Both installed and the server at the bundled version. */
  current: boolean;
}

/** Reads both packages' state from the phone (two shell calls, each with the device's timeout). */
export async function readServerApks(
  device: Device,
  opts: { bundled?: string | null; timeoutMs?: number } = {},
): Promise<ServerApks> {
  const t = opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs };
  const bundled = opts.bundled === undefined ? bundledServerVersion() : opts.bundled;
  const [dump, list] = await Promise.all([
    device.shell(['dumpsys', 'package', UIA2_SERVER_PACKAGE], t),
    device.shell(['pm', 'list', 'packages', UIA2_SERVER_PACKAGE], t),
  ]);
  const listed = parsePackageList(list.stdout);
  const server = parsePackageVersion(dump.stdout, UIA2_SERVER_PACKAGE);
  const testInstalled = listed.has(UIA2_TEST_PACKAGE);
  return {
    server,
    testInstalled,
    bundled,
    current: !!server && testInstalled && !!bundled && sameVersion(server.versionName, bundled),
  };
}

/** `10.6.6` = `10.6.6`; a versionName with a suffix (`10.6.6-debug`) compares by its numeric part. */
export function sameVersion(installed: string | undefined, bundled: string): boolean {
  const core = (v: string) => /^\d+(?:\.\d+)*/.exec(v.trim())?.[0] ?? v.trim();
  return installed !== undefined && core(installed) === core(bundled);
}

/** Per process: the answer for each phone (serial), so a run checks each phone once. */
const checked = new Map<string, Promise<boolean>>();

/**
 * Whether the next Appium session on this phone should let the driver check and install its server
 * APKs: false once both are at the bundled version (the session then sets
 * `appium:skipServerInstallation`). Checked once per phone per process; a failed check answers true
 * (the driver's own check then runs, as before).
 */
export function serverInstallNeeded(device: Device): Promise<boolean> {
  let answer = checked.get(device.serial);
  if (!answer) {
    answer = readServerApks(device).then(
      (s) => !s.current,
      () => true,
    );
    checked.set(device.serial, answer);
  }
  return answer;
}

/**
 * After a session in which the driver checked (and maybe installed) its server: the next session in
 * this process reads the phone again (the install may have happened, or, without aapt2, not).
 */
export function forgetServerApks(serial?: string): void {
  if (serial === undefined) checked.clear();
  else checked.delete(serial);
}
