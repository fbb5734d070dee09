/**
 * The privacy toggles as every reader on the phone sees them: the telemetry hub and the MIUI Settings
 * screens call these, so a value can never read as on in one place and off in the other
 * (xiaomi-telemetry.md §4.3, §2.3):
 * - User Experience Program, secure `upload_log_pref`: on only for exactly `1`, off for `0` (and any
 *   other value: `isUserExperienceProgramEnable` is true iff the value is 1). Unset, empty or `-1`
 *   (OneTrack's marker for unset) → the profile's `telemetry.defaults.uep`, which documents the
 *   firmware's default (1 on development builds, 0 on stable builds); without a telemetry section the
 *   same rule is applied to `ro.build.version.incremental`.
 * - Diagnostics, secure `upload_debug_log_pref`: `1` on, `0` (or any other value) off; unset, empty
 *   or `-1` → the UEP value.
 * - Personalised ads, global `personalized_ad_enabled`: bit 0 of the integer; unset or not a number → 1.
 */
import type { Profile } from '../profiles/load.ts';

export interface SettingsReader {
  get(ns: 'global' | 'secure' | 'system', key: string): string | undefined;
}

export const KEY_UEP = 'upload_log_pref';
export const KEY_DIAGNOSTICS = 'upload_debug_log_pref';
export const KEY_PERSONALIZED_AD = 'personalized_ad_enabled';

/** A 0/1 flag: true/false, or undefined for unset (absent, empty, `-1`). */
function flag(v: string | undefined): boolean | undefined {
  const t = v?.trim();
  if (t === undefined || t === '' || t === '-1') return undefined;
  return t === '1';
}

/** Development builds (`20.5.7`, `…DEV…`) default the UEP on; stable MIUI/HyperOS builds off (§4.3). */
export function uepBuildDefault(incremental: string): boolean {
  return /^\d+\.\d+\.\d+/.test(incremental) || /DEV/i.test(incremental);
}

/** What an unset `upload_log_pref` means on this firmware. */
export function uepDefault(profile: Profile): boolean {
  return (
    profile.telemetry?.defaults.uep ?? uepBuildDefault(profile.props['ro.build.version.incremental'] ?? '')
  );
}

export function readUep(settings: SettingsReader, profile: Profile): boolean {
  return flag(settings.get('secure', KEY_UEP)) ?? uepDefault(profile);
}

export function readDiagnostics(settings: SettingsReader, profile: Profile): boolean {
  return flag(settings.get('secure', KEY_DIAGNOSTICS)) ?? readUep(settings, profile);
}

/** The raw bit field (unset or unparsable → 1, "enabled"). */
export function readPersonalizedAdBits(settings: SettingsReader): number {
  const v = Number.parseInt(settings.get('global', KEY_PERSONALIZED_AD)?.trim() ?? '', 10);
  return Number.isFinite(v) ? v : 1;
}

export function readPersonalizedAds(settings: SettingsReader): boolean {
  return (readPersonalizedAdBits(settings) & 1) === 1;
}

/**
 * The installed versionName of a package: the package manager's live state when given (so a
 * `pm install` of a new version counts), else the profile's list; '' when not installed. The browser
 * (User-Agent, settings) and the telemetry hub (`$app_version`, `av`, ad `appInfo`) both use it.
 */
export function installedVersion(
  pkg: string,
  profile: Profile,
  packages?: { get(name: string): { versionName: string } | undefined },
): string {
  if (packages) return packages.get(pkg)?.versionName ?? '';
  return profile.packages.find((p) => p.name === pkg)?.versionName ?? '';
}
