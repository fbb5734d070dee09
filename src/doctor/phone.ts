/**
 * `phonehome doctor`'s checks of what stops Appium or the capture on a phone (issue 11 §3), each with
 * the fix and, on a phone, the menu path: MIUI's install confirmation and MIUI optimisation, a lock
 * screen, the screen off, background restrictions, the UiAutomator2 server APKs, Magisk's mount
 * namespace mode. They only read: dumpsys, getprop, appops get, pm list; the root probe runs only on a
 * phone that has `su`, with a bounded timeout.
 *
 * Menu paths are those of MIUI 12–14 Developer options (Settings › Additional settings › Developer
 * options; xiaomi-telemetry.md §4.4, appium/appium#15796); other paths are marked unverified.
 */
import type { Device, Fingerprint } from '../device/index.ts';
import { appsUnderTest } from '../runner/packages.ts';
import {
  UIA2_SERVER_PACKAGE,
  UIA2_TEST_PACKAGE,
  readServerApks,
  type ServerApks,
} from '../ui/appium/server-apks.ts';
import {
  MAGISK_MNT_NS,
  miuiOptimizationFromProp,
  parseAppopsMode,
  parseDisplayPower,
  parseKeyguard,
  parsePackageList,
  parseMagiskMntNs,
  parseWakefulness,
} from './probes.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  /** What was checked, e.g. `adb server` or `127.0.0.1:40103 USB debugging (Security settings)`. */
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export const DEV_OPTIONS = 'Settings › Additional settings › Developer options';
export const MIUI_OPTIMIZATION_PROP = 'persist.sys.miui_optimization';
/** MagiskSU's first-use prompt waits 10 s (android-realities.md §2.1): a little more than that. */
const ROOT_PROBE_TIMEOUT_MS = 12_000;
const MNT_NS_QUERY = "SELECT value FROM settings WHERE key='mnt_ns'";
const PKG_RE = /^[A-Za-z][\w]*(?:\.[A-Za-z_][\w]*)+$/;

const text = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

export interface PhoneProbeOptions {
  /** The packages whose background restriction matters (default: the apps the suites drive). */
  apps?: string[];
  /** The server version the driver bundles (default: read from .appium). */
  bundled?: string | null;
  /**
   * Read Magisk's mount namespace mode, which asks for root (a grant prompt may show on the phone,
   * and Magisk denies when nobody answers). Off by default: doctor changes nothing on a phone.
   */
  askRoot?: boolean;
  /** Where "asking for root" goes before the wait (default: stderr). */
  say?: (line: string) => void;
}

/** The issue 11 §3 checks for one phone that answers (after its state and security-settings rows). */
export async function checkPhoneBlockers(
  device: Device,
  fp: Fingerprint,
  opts: PhoneProbeOptions = {},
): Promise<Check[]> {
  const who = device.serial;
  const miui = fp.os.name === 'MIUI' || fp.os.name === 'HyperOS';
  const [apks, optimisation, screen, background, magisk] = await Promise.all([
    readServerApks(device, opts.bundled === undefined ? {} : { bundled: opts.bundled }).catch(
      (err: unknown) => err as Error,
    ),
    miui ? device.getProp(MIUI_OPTIMIZATION_PROP).catch(() => null) : Promise.resolve(null),
    screenChecks(device, who),
    backgroundCheck(device, who, opts.apps ?? safeAppsUnderTest()),
    fp.rooted ? magiskCheck(device, who, opts) : Promise.resolve(null),
  ]);
  const checks: Check[] = [];
  checks.push(serverApksCheck(who, apks));
  if (miui) checks.push(installConfirmationCheck(who, optimisation, apks));
  checks.push(...screen, background);
  if (magisk) checks.push(magisk);
  return checks;
}

function safeAppsUnderTest(): string[] {
  try {
    return appsUnderTest();
  } catch {
    return [];
  }
}

// ------------------------------------------------------------------ UiAutomator2 server APKs

const uninstallFix = (who: string) =>
  `remove both, and the next Appium session installs the bundled version: adb -s ${who} uninstall ` +
  `${UIA2_TEST_PACKAGE}; adb -s ${who} uninstall ${UIA2_SERVER_PACKAGE}`;

export function serverApksCheck(who: string, apks: ServerApks | Error): Check {
  const name = `${who} UiAutomator2 server`;
  if (apks instanceof Error) return { name, status: 'warn', detail: `cannot read: ${errText(apks)}` };
  const bundled = apks.bundled ?? 'unknown (driver not installed)';
  const installed = apks.server
    ? `server ${apks.server.versionName ?? '(no versionName)'}${apks.testInstalled ? ' + test package' : ', test package missing'}`
    : apks.testInstalled
      ? 'test package only'
      : 'not installed';
  if (apks.current) {
    return {
      name,
      status: 'ok',
      detail: `${installed}, the version the driver bundles: sessions skip the install (appium:skipServerInstallation)`,
    };
  }
  if (!apks.server && !apks.testInstalled) {
    return {
      name,
      status: 'ok',
      detail: `not installed; the first Appium session installs ${bundled} (once per phone and version)`,
    };
  }
  if (!apks.server || !apks.testInstalled) {
    return {
      name,
      status: 'warn',
      detail: `${installed}; the driver reinstalls both at the next session (bundled: ${bundled})`,
    };
  }
  if (!apks.bundled) {
    return {
      name,
      status: 'warn',
      detail: `${installed}; cannot compare: the UiAutomator2 driver is not installed (see its row)`,
    };
  }
  return {
    name,
    status: 'warn',
    detail:
      `${installed}, but the driver bundles ${bundled}. Without aapt2 on this host the driver cannot ` +
      'compare versions and keeps the installed server (appium-adb getApplicationInstallState → UNKNOWN)',
    fix: uninstallFix(who),
  };
}

// ------------------------------------------------------------------ MIUI install confirmation

/**
 * With "Install via USB" on, MIUI still shows its own install confirmation for each adb install while
 * MIUI optimisation is on; the install waits for a tap (appium/appium#10761, #15796;
 * koush/vysor.io#748; appium/appium-uiautomator2-server#174). Read from persist.sys.miui_optimization
 * (the property apps read, e.g. Tachiyomi's DeviceUtil.kt); unset = cannot tell.
 */
export function installConfirmationCheck(
  who: string,
  optimisationProp: string | null,
  apks: ServerApks | Error,
): Check {
  const name = `${who} MIUI install confirmation`;
  const state = optimisationProp === null ? 'unset' : miuiOptimizationFromProp(optimisationProp);
  const pending = apks instanceof Error || !apks.current;
  const fix =
    'during the first Appium session, watch the phone and tap "Install" on MIUI\'s confirmation (once per ' +
    `server version); or ${DEV_OPTIONS} › turn off "Turn on MIUI optimisation" (MIUI resets some app ` +
    "permissions when it is turned off; the switch's name on HyperOS is unverified)";
  if (state === 'off') {
    return {
      name,
      status: 'ok',
      detail: `MIUI optimisation is off (${MIUI_OPTIMIZATION_PROP}=${optimisationProp})`,
    };
  }
  const what =
    state === 'on'
      ? `MIUI optimisation is on (${MIUI_OPTIMIZATION_PROP}=${optimisationProp})`
      : `MIUI optimisation: cannot tell (${MIUI_OPTIMIZATION_PROP} is not set; on by default, unverified)`;
  if (!pending) {
    return { name, status: 'ok', detail: `${what}; nothing to install (the UiAutomator2 server is current)` };
  }
  return {
    name,
    status: 'warn',
    detail:
      `${what}: installing the UiAutomator2 server shows MIUI's install confirmation even with "Install via ` +
      'USB" on, and the Appium session waits for a tap on the phone',
    fix,
  };
}

// ------------------------------------------------------------------ screen and keyguard

const WAKE_FIX = (who: string) =>
  `wake it: adb -s ${who} shell input keyevent KEYCODE_WAKEUP; to keep a lab phone awake while charging: ` +
  `${DEV_OPTIONS} › turn on "Stay awake"`;

async function screenChecks(device: Device, who: string): Promise<Check[]> {
  const [power, window] = await Promise.all([
    device.shell(['dumpsys', 'power']).catch((err: unknown) => err as Error),
    device.shell(['dumpsys', 'window', 'policy']).catch((err: unknown) => err as Error),
  ]);
  return [
    screenCheck(who, power instanceof Error ? power : power.stdout),
    keyguardCheck(who, window instanceof Error ? window : window.stdout),
  ];
}

export function screenCheck(who: string, power: string | Error): Check {
  const name = `${who} screen`;
  if (power instanceof Error)
    return { name, status: 'warn', detail: `cannot read dumpsys power: ${errText(power)}` };
  const wake = parseWakefulness(power);
  const display = parseDisplayPower(power);
  const seen = [wake ? `mWakefulness=${wake}` : '', display ? `Display Power: state=${display}` : '']
    .filter(Boolean)
    .join(', ');
  if (wake === null && display === null) {
    return { name, status: 'warn', detail: 'cannot tell: dumpsys power printed no wakefulness line' };
  }
  if (wake === 'Awake' || (wake === null && display === 'ON'))
    return { name, status: 'ok', detail: `on (${seen})` };
  return {
    name,
    status: 'fail',
    detail: `off or dozing (${seen}): Appium sessions skip unlocking (skipUnlock), so UI steps fail`,
    fix: WAKE_FIX(who),
  };
}

export function keyguardCheck(who: string, window: string | Error): Check {
  const name = `${who} lock screen`;
  if (window instanceof Error) {
    return { name, status: 'warn', detail: `cannot read dumpsys window policy: ${errText(window)}` };
  }
  const kg = parseKeyguard(window);
  if (!kg)
    return { name, status: 'warn', detail: 'cannot tell: dumpsys window policy printed no keyguard lines' };
  if (!kg.showing) return { name, status: 'ok', detail: 'not showing' };
  return {
    name,
    status: 'fail',
    detail:
      `the keyguard is showing${kg.secure ? ' and is secure (PIN, pattern or password)' : ''}: UI steps ` +
      'would act on the lock screen',
    fix: kg.secure
      ? 'unlock the phone by hand; for a lab phone, set the screen lock to None (on MIUI: Settings › ' +
        'Passwords & security › Screen lock, path unverified), then run phonehome doctor again'
      : `dismiss it: adb -s ${who} shell wm dismiss-keyguard (or swipe it away on the phone)`,
  };
}

// ------------------------------------------------------------------ background restrictions

/**
 * RUN_ANY_IN_BACKGROUND = ignore is Android's "Background restriction" (Settings › Apps › app ›
 * Battery): the app cannot run in the background, so a tracker SDK that flushes when the app goes to
 * the background (android-realities.md §6) may be stopped. MIUI's own per-app battery saver
 * (com.miui.powerkeeper) keeps its state where the shell cannot read it: unknown, said so.
 */
async function backgroundCheck(device: Device, who: string, apps: string[]): Promise<Check> {
  const name = `${who} background restrictions`;
  const wanted = [...new Set([...apps, UIA2_SERVER_PACKAGE, UIA2_TEST_PACKAGE])].filter((p) =>
    PKG_RE.test(p),
  );
  let installed: Set<string>;
  try {
    installed = parsePackageList((await device.shell(['pm', 'list', 'packages'])).stdout);
  } catch (err) {
    return { name, status: 'warn', detail: `cannot list packages: ${errText(err)}` };
  }
  const pkgs = wanted.filter((p) => installed.has(p));
  const modes = await Promise.all(
    pkgs.map(async (p) => {
      try {
        const r = await device.shell(['cmd', 'appops', 'get', p, 'RUN_ANY_IN_BACKGROUND']);
        return [p, parseAppopsMode(text(r), 'RUN_ANY_IN_BACKGROUND')] as const;
      } catch {
        return [p, null] as const;
      }
    }),
  );
  return backgroundVerdict(who, modes);
}

export function backgroundVerdict(
  who: string,
  modes: ReadonlyArray<readonly [string, string | null]>,
): Check {
  const name = `${who} background restrictions`;
  const miuiNote =
    "MIUI's own per-app battery saver (com.miui.powerkeeper) cannot be read over adb: unverified, check it by hand";
  const restricted = modes
    .filter(([, m]) => m === 'ignore' || m === 'deny' || m === 'errored')
    .map(([p]) => p);
  const unknown = modes.filter(([, m]) => m === null).map(([p]) => p);
  if (restricted.length > 0) {
    return {
      name,
      status: 'warn',
      detail: `background restricted (RUN_ANY_IN_BACKGROUND ignore): ${restricted.join(', ')}. ${miuiNote}`,
      fix:
        restricted
          .map((p) => `adb -s ${who} shell cmd appops set ${p} RUN_ANY_IN_BACKGROUND allow`)
          .join('; ') +
        '; or on the phone: Settings › Apps › Manage apps › <app> › Battery saver › No restrictions (MIUI path unverified)',
    };
  }
  return {
    name,
    status: 'ok',
    detail:
      `${modes.length - unknown.length} app(s) checked, none restricted` +
      `${unknown.length ? ` (cannot read: ${unknown.join(', ')})` : ''}. ${miuiNote}`,
  };
}

// ------------------------------------------------------------------ Magisk mount namespace

/**
 * Magisk's "Mount namespace mode" (android-realities.md §2.1; DB key mnt_ns, read with
 * `magisk --sqlite`, which prints `value=N`, Magisk native/src/core/db.rs db_exec_for_cli): Isolated
 * keeps mounts made from `su` in the shell out of every app, so the CA injection needs `su -mm`. Runs
 * only when `which su` finds one, and reads the mode only with `askRoot` (`--ask-root`): reading it
 * asks for root, and the fingerprint's probe (`su -v`) does not, so this would be the phone's first
 * grant prompt.
 */
async function magiskCheck(device: Device, who: string, opts: PhoneProbeOptions): Promise<Check | null> {
  const name = `${who} Magisk mount namespace`;
  try {
    const which = await device.shell(['which', 'su'], { timeoutMs: 5000 });
    if (which.exitCode !== 0 || !which.stdout.trim()) return null;
    if (!opts.askRoot) {
      return {
        name,
        status: 'ok',
        detail:
          'not read: reading it asks for root (a grant prompt on the phone); `phonehome doctor --ask-root` reads it. ' +
          'The CA install uses su -mm (mount master), which works in every mode',
      };
    }
    (opts.say ?? ((l: string) => process.stderr.write(`${l}\n`)))(
      `phonehome: ${who}: asking for root to read Magisk's mount namespace mode — if a Magisk prompt shows on the phone, tap Grant (it auto-denies in 10 s)`,
    );
    const r = await device.shell(['su', '-c', `magisk --sqlite "${MNT_NS_QUERY}"`], {
      timeoutMs: ROOT_PROBE_TIMEOUT_MS,
    });
    return magiskVerdict(who, r);
  } catch (err) {
    return {
      name,
      status: 'warn',
      detail: `cannot read it (${errText(err)}); the phone may be showing Magisk's grant prompt`,
      fix: 'grant root to Shell in the Magisk app, then run phonehome doctor again',
    };
  }
}

export function magiskVerdict(who: string, r: { stdout: string; stderr: string; exitCode: number }): Check {
  const name = `${who} Magisk mount namespace`;
  const out = text(r);
  if (r.exitCode === 13 || /Permission denied/.test(out)) {
    return {
      name,
      status: 'warn',
      detail: 'root was refused (Permission denied): cannot read the mode',
      fix: 'grant root to Shell in the Magisk app (Superuser tab), then run phonehome doctor again',
    };
  }
  if (r.exitCode !== 0 || /not found|No such file/.test(out)) {
    return {
      name,
      status: 'ok',
      detail:
        'not Magisk (no `magisk --sqlite`): namespace mode unknown; the CA method uses su -mm where supported',
    };
  }
  const mode = parseMagiskMntNs(r.stdout);
  if (mode === null) {
    return { name, status: 'warn', detail: `cannot read Magisk's answer: ${r.stdout.trim().slice(0, 80)}` };
  }
  if (mode === 'unset') return { name, status: 'ok', detail: "Inherit (not set: Magisk's default)" };
  if (mode === 2) {
    // Not a problem for phonehome, which runs its scripts with `su -mm`; worth knowing for anything
    // else run through plain `su` (the classic recipes).
    return {
      name,
      status: 'ok',
      detail:
        'Isolated (mnt_ns=2): mounts made by plain `su` from the shell reach no app; the CA install uses ' +
        '`su -mm` (mount master), which works here. For hand-run recipes: Magisk › Settings › Mount namespace mode › Inherit or Global',
    };
  }
  return { name, status: 'ok', detail: `${MAGISK_MNT_NS[mode]} (mnt_ns=${mode})` };
}
