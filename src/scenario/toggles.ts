/**
 * The privacy switches `setToggle` / `assertToggle` know (types.ts TOGGLE_NAMES):
 *
 * | name                              | set through                                   | read from                         |
 * |-----------------------------------|-----------------------------------------------|-----------------------------------|
 * | browser.incognitoDataCollection   | Mi Browser settings, "Enhanced incognito mode" | the same switch (page object)     |
 * | miui.userExperienceProgram        | Settings › … › Privacy (MiuiSettings)          | secure upload_log_pref            |
 * | miui.diagnosticData               | Settings › … › Privacy                         | secure upload_debug_log_pref      |
 * | miui.personalisedAds              | Settings › … › Privacy › Ad services           | global personalized_ad_enabled    |
 *
 * Semantics of the settings keys: xiaomi-telemetry.md §4.3. upload_log_pref: on iff 1; unset (or -1)
 * means the firmware default, off on stable builds and on on development builds. upload_debug_log_pref:
 * 1/0; unset follows the UEP value. personalized_ad_enabled: a bit field, bit0 = on; unset = on.
 *
 * The browser switch exists from Mi Browser 12.1.4 on ("Enhanced incognito mode": data collection while
 * incognito; facts §3); older versions always collect, and setting it there fails with the page
 * object's UiError, which names the version.
 */
import type { Device } from '../device/index.ts';
import type { MiBrowser, MiuiSettings, PrivacyToggle } from '../ui/pages/index.ts';
import type { ToggleName } from './types.ts';

export const MIUI_TOGGLES: Record<Exclude<ToggleName, 'browser.incognitoDataCollection'>, PrivacyToggle> = {
  'miui.userExperienceProgram': 'uep',
  'miui.diagnosticData': 'diagnostic',
  'miui.personalisedAds': 'personalizedAds',
};

/** The settings key behind each MIUI toggle (xiaomi-telemetry.md §4.3), for exact restoration. */
export const MIUI_TOGGLE_KEYS: Record<keyof typeof MIUI_TOGGLES, { ns: 'secure' | 'global'; key: string }> = {
  'miui.userExperienceProgram': { ns: 'secure', key: 'upload_log_pref' },
  'miui.diagnosticData': { ns: 'secure', key: 'upload_debug_log_pref' },
  'miui.personalisedAds': { ns: 'global', key: 'personalized_ad_enabled' },
};

/** Development builds are dated (`20.10.22`); stable ones are `V12.0.3.0.QCOMIXM` / `OS2.0.…`. */
export function isDevelopmentBuild(incremental: string): boolean {
  return /^\d+\.\d+\.\d+/.test(incremental.trim());
}

export interface ToggleReading {
  on: boolean;
  /** Where the state came from, for messages. */
  source: string;
}

/** A MIUI toggle's state from its settings key (§4.3). */
export async function readMiuiToggle(
  device: Pick<Device, 'getSetting' | 'getProp'>,
  name: keyof typeof MIUI_TOGGLES,
): Promise<ToggleReading> {
  const uep = async (): Promise<ToggleReading> => {
    const v = await device.getSetting('secure', 'upload_log_pref');
    if (v === '1' || v === '0') return { on: v === '1', source: `secure upload_log_pref=${v}` };
    if (v !== null && v !== '-1') return { on: false, source: `secure upload_log_pref=${v} (only 1 is on)` };
    const dev = isDevelopmentBuild(await device.getProp('ro.build.version.incremental'));
    return {
      on: dev,
      source: `secure upload_log_pref ${v ?? 'unset'}: the ${dev ? 'development' : 'stable'} build default`,
    };
  };
  switch (name) {
    case 'miui.userExperienceProgram':
      return uep();
    case 'miui.diagnosticData': {
      const v = await device.getSetting('secure', 'upload_debug_log_pref');
      if (v === null) {
        const u = await uep();
        return { on: u.on, source: `secure upload_debug_log_pref unset: follows UEP (${u.source})` };
      }
      return { on: v === '1', source: `secure upload_debug_log_pref=${v}` };
    }
    case 'miui.personalisedAds': {
      const v = await device.getSetting('global', 'personalized_ad_enabled');
      if (v === null) return { on: true, source: 'global personalized_ad_enabled unset (default on)' };
      const n = Number(v);
      if (!Number.isInteger(n))
        return { on: true, source: `global personalized_ad_enabled=${v} (not a number: default on)` };
      return { on: (n & 1) === 1, source: `global personalized_ad_enabled=${v} (bit0)` };
    }
  }
}

/** Sets a toggle through its settings screen; returns the state it had. */
export async function setToggle(
  name: ToggleName,
  on: boolean,
  pages: { browser: () => Promise<MiBrowser>; settings: MiuiSettings },
): Promise<boolean> {
  if (name === 'browser.incognitoDataCollection') return (await pages.browser()).setEnhancedIncognito(on);
  return pages.settings.set(MIUI_TOGGLES[name], on);
}

/** Reads a toggle: MIUI ones from their settings key, the browser switch from its settings screen. */
export async function readToggle(
  name: ToggleName,
  device: Pick<Device, 'getSetting' | 'getProp'>,
  browser: () => Promise<MiBrowser>,
): Promise<ToggleReading | { on: undefined; source: string }> {
  if (name !== 'browser.incognitoDataCollection') return readMiuiToggle(device, name);
  const b = await browser();
  const s = await b.dataSwitches();
  if (s.enhancedIncognito === undefined)
    return {
      on: undefined,
      source: `${b.packageName} has no "Enhanced incognito mode" switch (Mi Browser before 12.1.4 always collects)`,
    };
  return { on: s.enhancedIncognito, source: `${b.packageName} settings, "Enhanced incognito mode"` };
}
