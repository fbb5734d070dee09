/**
 * Firmware profiles: data files in profiles/*.json, one per profile, each value with its source.
 * The loader validates them and fails with the file and field named.
 *
 * (Loader and data: see profiles/README.md.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProfilePackage {
  /** e.g. com.mi.globalbrowser */
  name: string;
  versionName: string;
  versionCode: number;
  /** APK path shown by `pm path` / `pm list packages -f`, e.g. /system/app/MiBrowserGlobal/MiBrowserGlobal.apk */
  path: string;
  /** System app (not listed by `pm list packages -3`). */
  system: boolean;
  /** Launcher activity, `pkg/.Activity` or `pkg/full.class.Name`; absent for apps with none. */
  launcher?: string;
  /** Further activities `am start -n` accepts (same notation as `launcher`). */
  activities?: string[];
  /** Services reported running (foreground) by `dumpsys activity services` while the app runs. */
  services?: string[];
  /** Linux uid; default: system apps from 10050 upwards in file order, as the platform would assign. */
  uid?: number;
  minSdk?: number;
  targetSdk?: number;
}

export interface Profile {
  /** File name without .json, e.g. redmi-note-8-leaky. */
  name: string;
  description: string;
  rooted: boolean;
  /** System properties at boot (ro.*, persist.*, sys.boot_completed …). */
  props: Record<string, string>;
  settings: {
    global: Record<string, string>;
    secure: Record<string, string>;
    system: Record<string, string>;
  };
  packages: ProfilePackage[];
  /** Package that handles http(s) VIEW intents (the ROM's browser); must be in `packages`, with a launcher. */
  browser: string;
  /** App processes running after boot besides the native daemons (package or process names). */
  bootProcesses?: string[];
  display: { width: number; height: number; density: number };
  /** Where apps read system CAs from: /system/etc/security/cacerts, or the APEX path on Android 14+. */
  systemCaDir: string;
  /** Provenance of the values: what, and where it comes from. */
  sources: Array<{ what: string; source: string }>;
  /** What the phone uploads, per event and toggle state (src/virtual/telemetry); absent = nothing. */
  telemetry?: ProfileTelemetry;
}

/** Telemetry channels (xiaomi-telemetry.md §2): Sensors Analytics, com.miui.analytics, MiStat, splash ads. */
export const TELEMETRY_EMITTERS = ['sensors', 'tracking', 'mistat', 'ads'] as const;
export type TelemetryEmitter = (typeof TELEMETRY_EMITTERS)[number];

/**
 * The toggle state a rule can test. `incognito`: the browser tab (AppEventContext; false for system
 * events); `incognitoDataCollection`: the browser's incognito data-collection ("enhanced incognito")
 * switch; `uep`: secure upload_log_pref; `diagnostics`: secure upload_debug_log_pref;
 * `personalizedAds`: bit 0 of global personalized_ad_enabled.
 */
export const TELEMETRY_TOGGLES = [
  'incognito',
  'incognitoDataCollection',
  'uep',
  'diagnostics',
  'personalizedAds',
] as const;
export type TelemetryToggle = (typeof TELEMETRY_TOGGLES)[number];

/** Event names per source, as in src/virtual/apps/events.ts. */
export const TELEMETRY_EVENTS = {
  browser: ['page_load_event_start', 'page_load_event_finish', 'search'],
  system: ['folder_open', 'home_screen_swipe', 'status_bar_pull', 'settings_page_open', 'app_open'],
} as const;
export type TelemetrySource = keyof typeof TELEMETRY_EVENTS;

/** Identifiers a rule can strip from what it sends. */
export const TELEMETRY_OMIT = ['adId', 'androidId'] as const;
export type TelemetryOmit = (typeof TELEMETRY_OMIT)[number];

/** One row of the behaviour table: the first row whose `when` matches decides. */
export interface TelemetryRule {
  when: { source?: TelemetrySource; events?: string[] } & Partial<Record<TelemetryToggle, boolean>>;
  /** Emitters that upload the event (empty: nothing is sent). */
  send: TelemetryEmitter[];
  omit?: TelemetryOmit[];
  note?: string;
}

export interface ProfileTelemetry {
  /**
   * Values used when the setting or switch is unset: `uep` is what an unset (or `-1`) secure
   * upload_log_pref means on this firmware, for the hub and the Settings screen alike
   * (src/virtual/telemetry/toggles.ts); `incognitoDataCollection` is the browser switch's value when
   * the browser has no such switch or it was never touched.
   */
  defaults: { uep: boolean; incognitoDataCollection: boolean };
  /**
   * What the profile's browser package (Profile.browser) offers, as shipped. `incognitoDataCollectionSwitch`:
   * the browser has the incognito data-collection ("Enhanced incognito mode") switch (Mi Browser /
   * Pro 12.1.4, Mint 3.4.3: xiaomi-telemetry.md summary 3); absent = no such switch.
   */
  browser?: { incognitoDataCollectionSwitch?: boolean };
  emitters: {
    /** `url` may contain `{country}` (ro.miui.region); the uploading app is the event's package. */
    sensors?: { url: string; libVersion: string };
    /** Uploaded by `app` (com.miui.analytics) on behalf of the event's package. */
    tracking?: { url: string; app: string };
    mistat?: { url: string; appId: string; region: string };
    ads?: { url: string; app: string };
  };
  rules: TelemetryRule[];
  sources: Array<{ what: string; source: string }>;
}

/** The situation a behaviour table is asked about. */
export interface TelemetrySituation extends Record<TelemetryToggle, boolean> {
  source: TelemetrySource;
  event: string;
}

/** The first rule matching the situation, with its index, or undefined. */
export function telemetryRuleFor(
  t: Pick<ProfileTelemetry, 'rules'>,
  s: TelemetrySituation,
): { index: number; rule: TelemetryRule } | undefined {
  for (const [index, rule] of t.rules.entries()) {
    const w = rule.when;
    if (w.source !== undefined && w.source !== s.source) continue;
    if (w.events !== undefined && !w.events.includes(s.event)) continue;
    if (TELEMETRY_TOGGLES.some((k) => w[k] !== undefined && w[k] !== s[k])) continue;
    return { index, rule };
  }
  return undefined;
}

/** Every situation a table must answer: each event × each combination of toggles. */
export function telemetrySituations(): TelemetrySituation[] {
  const out: TelemetrySituation[] = [];
  for (const source of Object.keys(TELEMETRY_EVENTS) as TelemetrySource[]) {
    for (const event of TELEMETRY_EVENTS[source]) {
      for (let bits = 0; bits < 1 << TELEMETRY_TOGGLES.length; bits++) {
        const s = { source, event } as TelemetrySituation;
        TELEMETRY_TOGGLES.forEach((k, i) => (s[k] = (bits & (1 << i)) !== 0));
        // System events come from no browser tab.
        if (source === 'system' && s.incognito) continue;
        out.push(s);
      }
    }
  }
  return out;
}

/** Directory holding the shipped profiles (`<repo>/profiles`). */
export const PROFILE_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));

/** Properties every profile must define (xiaomi-telemetry.md §4.1 plus what adbkit/Appium read). */
export const REQUIRED_PROPS = [
  'ro.product.model',
  'ro.product.brand',
  'ro.product.manufacturer',
  'ro.product.marketname',
  'ro.product.device',
  'ro.product.name',
  'ro.product.mod_device',
  'ro.product.cpu.abi',
  'ro.build.version.release',
  'ro.build.version.sdk',
  'ro.build.version.incremental',
  'ro.build.fingerprint',
  'ro.build.type',
  'ro.build.tags',
  'ro.miui.ui.version.name',
  'ro.miui.ui.version.code',
  'ro.miui.region',
  'ro.miui.build.region',
  'ro.product.locale.region',
  'ro.serialno',
  'ro.debuggable',
  'ro.secure',
  'sys.boot_completed',
  'persist.sys.timezone',
] as const;

export class ProfileError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;

  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
const PACKAGE_RE = /^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$/;
const COMPONENT_RE = /^([A-Za-z][\w]*(?:\.[A-Za-z_][\w]*)+)\/(\.?[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)$/;

/** Reads and validates `<dir>/<name>.json`. */
export function loadProfile(name: string, dir: string = PROFILE_DIR): Profile {
  if (!NAME_RE.test(name)) throw new ProfileError(`invalid profile name '${name}'`);
  const file = join(dir, `${name}.json`);
  const label = `profiles/${name}.json`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    const known = listProfiles(dir)
      .map((p) => p.name)
      .join(', ');
    throw new ProfileError(`unknown profile '${name}' (no ${label}); known: ${known || 'none'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`${label}: invalid JSON: ${(err as Error).message}`);
  }
  const profile = parseProfile(json, label);
  if (profile.name !== name) {
    throw new ProfileError(
      `${label}: field "name" must equal the file name ('${name}'), got '${profile.name}'`,
    );
  }
  return profile;
}

/** A profile file as listProfiles() sees it. */
export interface ProfileListing {
  /** File name without .json. */
  name: string;
  /** '' for a broken file. */
  description: string;
  /** For a file loadProfile() rejects: its ProfileError message (file and field). */
  error?: string;
}

/**
 * Every profile file in `dir`, sorted by name, each validated as loadProfile() would: a broken
 * file is listed with its `error` (never skipped), so that asking for it reports what is wrong
 * with it instead of "unknown profile".
 */
export function listProfiles(dir: string = PROFILE_DIR): ProfileListing[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const out: ProfileListing[] = [];
  for (const f of files.sort()) {
    const name = f.slice(0, -5);
    try {
      // Read it here first: loadProfile() lists the profiles when it cannot read a file, and an
      // unreadable entry (a directory named x.json) must not send the two round in circles.
      readFileSync(join(dir, f));
    } catch (err) {
      out.push({ name, description: '', error: `profiles/${f}: cannot read it (${(err as Error).message})` });
      continue;
    }
    try {
      out.push({ name, description: loadProfile(name, dir).description });
    } catch (err) {
      const error = err instanceof ProfileError ? err.message : `profiles/${f}: ${(err as Error).message}`;
      out.push({ name, description: '', error });
    }
  }
  return out;
}

/** Validates parsed JSON as a Profile; errors read `<label>: field "<path>" <problem>`. */
export function parseProfile(json: unknown, label: string): Profile {
  const fail = (field: string, problem: string): never => {
    throw new ProfileError(`${label}: field "${field}" ${problem}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(field, 'must be an object');
    return v as Record<string, unknown>;
  };
  const str = (o: Record<string, unknown>, key: string, field: string, opt = false): string | undefined => {
    const v = o[key];
    if (v === undefined && opt) return undefined;
    if (v === undefined) return fail(field, 'is required');
    if (typeof v !== 'string') return fail(field, 'must be a string');
    return v;
  };
  const int = (o: Record<string, unknown>, key: string, field: string, opt = false): number | undefined => {
    const v = o[key];
    if (v === undefined && opt) return undefined;
    if (v === undefined) return fail(field, 'is required');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      return fail(field, 'must be a non-negative integer');
    return v;
  };
  const bool = (o: Record<string, unknown>, key: string, field: string): boolean => {
    const v = o[key];
    if (v === undefined) return fail(field, 'is required');
    if (typeof v !== 'boolean') return fail(field, 'must be true or false');
    return v;
  };
  const strMap = (v: unknown, field: string): Record<string, string> => {
    const o = obj(v, field);
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      if (typeof val !== 'string') fail(`${field}.${k}`, 'must be a string');
      out[k] = val as string;
    }
    return out;
  };
  const strList = (v: unknown, field: string): string[] => {
    if (!Array.isArray(v)) return fail(field, 'must be an array of strings');
    return v.map((x, i) => (typeof x === 'string' ? x : fail(`${field}[${i}]`, 'must be a string')));
  };

  const root = obj(json, '(root)');
  const name = str(root, 'name', 'name') as string;
  if (!NAME_RE.test(name)) fail('name', 'must be lower-case letters, digits, dots and dashes');
  const description = str(root, 'description', 'description') as string;
  const rooted = bool(root, 'rooted', 'rooted');

  if (root.props === undefined) fail('props', 'is required');
  const props = strMap(root.props, 'props');
  for (const key of REQUIRED_PROPS) {
    if (props[key] === undefined) fail(`props.${key}`, 'is required');
  }
  for (const key of ['ro.build.version.sdk', 'ro.miui.ui.version.code']) {
    if (!/^\d+$/.test(props[key] ?? '')) fail(`props.${key}`, 'must be a decimal number');
  }
  if (props['ro.mi.os.version.name'] && !props['ro.mi.os.version.code']) {
    fail('props.ro.mi.os.version.code', 'is required when ro.mi.os.version.name is set (HyperOS)');
  }

  if (root.settings === undefined) fail('settings', 'is required');
  const s = obj(root.settings, 'settings');
  const settings = {
    global: strMap(s.global ?? fail('settings.global', 'is required'), 'settings.global'),
    secure: strMap(s.secure ?? fail('settings.secure', 'is required'), 'settings.secure'),
    system: strMap(s.system ?? fail('settings.system', 'is required'), 'settings.system'),
  };
  const androidId = settings.secure.android_id;
  if (androidId !== undefined && !/^[0-9a-f]{16}$/.test(androidId)) {
    fail('settings.secure.android_id', 'must be 16 lower-case hex digits');
  }

  if (!Array.isArray(root.packages)) fail('packages', 'must be an array');
  const seen = new Set<string>();
  const packages = (root.packages as unknown[]).map((raw, i): ProfilePackage => {
    const f = `packages[${i}]`;
    const p = obj(raw, f);
    const pkgName = str(p, 'name', `${f}.name`) as string;
    if (!PACKAGE_RE.test(pkgName)) fail(`${f}.name`, `must be a package name, got '${pkgName}'`);
    if (seen.has(pkgName)) fail(`${f}.name`, `duplicates package '${pkgName}'`);
    seen.add(pkgName);
    const path = str(p, 'path', `${f}.path`) as string;
    if (!path.startsWith('/') || !path.endsWith('.apk'))
      fail(`${f}.path`, 'must be an absolute path to an .apk');
    const pkg: ProfilePackage = {
      name: pkgName,
      versionName: str(p, 'versionName', `${f}.versionName`) as string,
      versionCode: int(p, 'versionCode', `${f}.versionCode`) as number,
      path,
      system: bool(p, 'system', `${f}.system`),
    };
    const component = (c: string, field: string): string => {
      const m = COMPONENT_RE.exec(c);
      if (!m) return fail(field, `must be 'package/.Activity' or 'package/full.ClassName', got '${c}'`);
      if (m[1] !== pkgName) fail(field, `must belong to package '${pkgName}', got '${c}'`);
      return c;
    };
    const launcher = str(p, 'launcher', `${f}.launcher`, true);
    if (launcher !== undefined) pkg.launcher = component(launcher, `${f}.launcher`);
    if (p.activities !== undefined) {
      pkg.activities = strList(p.activities, `${f}.activities`).map((c, j) =>
        component(c, `${f}.activities[${j}]`),
      );
    }
    if (p.services !== undefined) {
      pkg.services = strList(p.services, `${f}.services`).map((c, j) => component(c, `${f}.services[${j}]`));
    }
    const uid = int(p, 'uid', `${f}.uid`, true);
    if (uid !== undefined) pkg.uid = uid;
    const minSdk = int(p, 'minSdk', `${f}.minSdk`, true);
    if (minSdk !== undefined) pkg.minSdk = minSdk;
    const targetSdk = int(p, 'targetSdk', `${f}.targetSdk`, true);
    if (targetSdk !== undefined) pkg.targetSdk = targetSdk;
    return pkg;
  });

  const browser = str(root, 'browser', 'browser') as string;
  const browserPkg = packages.find((p) => p.name === browser);
  if (!browserPkg) fail('browser', `must name a package listed in "packages", got '${browser}'`);
  if (!browserPkg?.launcher) fail('browser', `package '${browser}' needs a launcher activity`);

  const bootProcesses =
    root.bootProcesses === undefined ? undefined : strList(root.bootProcesses, 'bootProcesses');

  const d = obj(root.display ?? fail('display', 'is required'), 'display');
  const display = {
    width: int(d, 'width', 'display.width') as number,
    height: int(d, 'height', 'display.height') as number,
    density: int(d, 'density', 'display.density') as number,
  };
  for (const k of ['width', 'height', 'density'] as const) {
    if (display[k] === 0) fail(`display.${k}`, 'must be positive');
  }

  const systemCaDir = str(root, 'systemCaDir', 'systemCaDir') as string;
  if (!systemCaDir.startsWith('/')) fail('systemCaDir', 'must be an absolute path');

  if (!Array.isArray(root.sources) || root.sources.length === 0) fail('sources', 'must be a non-empty array');
  const sources = (root.sources as unknown[]).map((raw, i) => {
    const o = obj(raw, `sources[${i}]`);
    return {
      what: str(o, 'what', `sources[${i}].what`) as string,
      source: str(o, 'source', `sources[${i}].source`) as string,
    };
  });

  const known = new Set([
    'name',
    'description',
    'rooted',
    'props',
    'settings',
    'packages',
    'browser',
    'bootProcesses',
    'display',
    'systemCaDir',
    'sources',
    'telemetry',
    '$comment',
  ]);
  for (const key of Object.keys(root)) if (!known.has(key)) fail(key, 'is not a known profile field');

  const profile: Profile = {
    name,
    description,
    rooted,
    props,
    settings,
    packages,
    browser,
    display,
    systemCaDir,
    sources,
  };
  if (bootProcesses) profile.bootProcesses = bootProcesses;
  if (root.telemetry !== undefined) profile.telemetry = parseTelemetry(root.telemetry, fail);
  return profile;
}

/** The Android API level of a profile (ro.build.version.sdk). */
export function sdkOf(profile: Profile): number {
  return Number(profile.props['ro.build.version.sdk'] ?? '0');
}

/** Validates the `telemetry` section; `fail(field, problem)` throws with the file named. */
function parseTelemetry(json: unknown, fail: (field: string, problem: string) => never): ProfileTelemetry {
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(field, 'must be an object');
    return v as Record<string, unknown>;
  };
  const only = (o: Record<string, unknown>, keys: string[], field: string): void => {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k) && k !== '$comment')
        fail(`${field}.${k}`, `is not a known field (${keys.join(', ')})`);
    }
  };
  const str = (o: Record<string, unknown>, key: string, field: string): string => {
    const v = o[key];
    if (v === undefined) return fail(`${field}.${key}`, 'is required');
    if (typeof v !== 'string' || v === '') return fail(`${field}.${key}`, 'must be a non-empty string');
    return v;
  };
  const bool = (o: Record<string, unknown>, key: string, field: string): boolean => {
    const v = o[key];
    if (v === undefined) return fail(`${field}.${key}`, 'is required');
    if (typeof v !== 'boolean') return fail(`${field}.${key}`, 'must be true or false');
    return v;
  };
  const url = (o: Record<string, unknown>, field: string, scheme?: string): string => {
    const u = str(o, 'url', field);
    let parsed: URL;
    try {
      parsed = new URL(u.replace('{country}', 'XX'));
    } catch {
      return fail(`${field}.url`, `must be an absolute URL, got '${u}'`);
    }
    if (!/^https?:$/.test(parsed.protocol)) fail(`${field}.url`, `must be http or https, got '${u}'`);
    if (scheme && parsed.protocol !== scheme)
      fail(`${field}.url`, `must use ${scheme.slice(0, -1)}, got '${u}'`);
    return u;
  };
  const pkg = (o: Record<string, unknown>, field: string): string => {
    const p = str(o, 'app', field);
    if (!PACKAGE_RE.test(p)) fail(`${field}.app`, `must be a package name, got '${p}'`);
    return p;
  };

  const t = obj(json, 'telemetry');
  only(t, ['defaults', 'browser', 'emitters', 'rules', 'sources'], 'telemetry');

  const d = obj(t.defaults ?? fail('telemetry.defaults', 'is required'), 'telemetry.defaults');
  only(d, ['uep', 'incognitoDataCollection'], 'telemetry.defaults');
  const defaults = {
    uep: bool(d, 'uep', 'telemetry.defaults'),
    incognitoDataCollection: bool(d, 'incognitoDataCollection', 'telemetry.defaults'),
  };

  let browser: ProfileTelemetry['browser'];
  if (t.browser !== undefined) {
    const b = obj(t.browser, 'telemetry.browser');
    only(b, ['incognitoDataCollectionSwitch'], 'telemetry.browser');
    browser = {};
    if (b.incognitoDataCollectionSwitch !== undefined)
      browser.incognitoDataCollectionSwitch = bool(b, 'incognitoDataCollectionSwitch', 'telemetry.browser');
  }

  const e = obj(t.emitters ?? fail('telemetry.emitters', 'is required'), 'telemetry.emitters');
  only(e, [...TELEMETRY_EMITTERS], 'telemetry.emitters');
  const emitters: ProfileTelemetry['emitters'] = {};
  if (e.sensors !== undefined) {
    const f = 'telemetry.emitters.sensors';
    const o = obj(e.sensors, f);
    only(o, ['url', 'libVersion'], f);
    emitters.sensors = { url: url(o, f), libVersion: str(o, 'libVersion', f) };
  }
  if (e.tracking !== undefined) {
    const f = 'telemetry.emitters.tracking';
    const o = obj(e.tracking, f);
    only(o, ['url', 'app'], f);
    emitters.tracking = { url: url(o, f), app: pkg(o, f) };
  }
  if (e.mistat !== undefined) {
    const f = 'telemetry.emitters.mistat';
    const o = obj(e.mistat, f);
    only(o, ['url', 'appId', 'region'], f);
    emitters.mistat = { url: url(o, f), appId: str(o, 'appId', f), region: str(o, 'region', f) };
  }
  if (e.ads !== undefined) {
    const f = 'telemetry.emitters.ads';
    const o = obj(e.ads, f);
    only(o, ['url', 'app'], f);
    emitters.ads = { url: url(o, f), app: pkg(o, f) };
  }

  if (!Array.isArray(t.rules) || t.rules.length === 0) fail('telemetry.rules', 'must be a non-empty array');
  const rules = (t.rules as unknown[]).map((raw, i): TelemetryRule => {
    const f = `telemetry.rules[${i}]`;
    const r = obj(raw, f);
    only(r, ['when', 'send', 'omit', 'note'], f);
    const w = obj(r.when ?? fail(`${f}.when`, 'is required'), `${f}.when`);
    only(w, ['source', 'events', ...TELEMETRY_TOGGLES], `${f}.when`);
    const when: TelemetryRule['when'] = {};
    if (w.source !== undefined) {
      if (w.source !== 'browser' && w.source !== 'system')
        fail(`${f}.when.source`, `must be 'browser' or 'system', got ${JSON.stringify(w.source)}`);
      when.source = w.source;
    }
    if (w.events !== undefined) {
      if (!Array.isArray(w.events) || w.events.length === 0)
        fail(`${f}.when.events`, 'must be a non-empty array of event names');
      const allowed: readonly string[] = when.source
        ? TELEMETRY_EVENTS[when.source]
        : [...TELEMETRY_EVENTS.browser, ...TELEMETRY_EVENTS.system];
      when.events = (w.events as unknown[]).map((x, j) =>
        typeof x === 'string' && allowed.includes(x)
          ? x
          : fail(`${f}.when.events[${j}]`, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(x)}`),
      );
    }
    for (const k of TELEMETRY_TOGGLES) {
      if (w[k] === undefined) continue;
      if (typeof w[k] !== 'boolean') fail(`${f}.when.${k}`, 'must be true or false');
      when[k] = w[k];
    }
    if (!Array.isArray(r.send)) fail(`${f}.send`, 'must be an array of emitter names');
    const send = (r.send as unknown[]).map((x, j): TelemetryEmitter => {
      if (typeof x !== 'string' || !(TELEMETRY_EMITTERS as readonly string[]).includes(x))
        return fail(
          `${f}.send[${j}]`,
          `must be one of ${TELEMETRY_EMITTERS.join(', ')}, got ${JSON.stringify(x)}`,
        );
      if (emitters[x as TelemetryEmitter] === undefined)
        fail(`${f}.send[${j}]`, `names emitter '${x}', which telemetry.emitters does not configure`);
      return x as TelemetryEmitter;
    });
    const rule: TelemetryRule = { when, send };
    if (r.omit !== undefined) {
      if (!Array.isArray(r.omit)) fail(`${f}.omit`, 'must be an array');
      rule.omit = (r.omit as unknown[]).map((x, j): TelemetryOmit =>
        typeof x === 'string' && (TELEMETRY_OMIT as readonly string[]).includes(x)
          ? (x as TelemetryOmit)
          : fail(`${f}.omit[${j}]`, `must be one of ${TELEMETRY_OMIT.join(', ')}, got ${JSON.stringify(x)}`),
      );
    }
    if (r.note !== undefined) {
      if (typeof r.note !== 'string') fail(`${f}.note`, 'must be a string');
      rule.note = r.note;
    }
    return rule;
  });

  // The table must answer every situation, and every row must be reachable.
  const used = new Set<number>();
  for (const s of telemetrySituations()) {
    const hit = telemetryRuleFor({ rules }, s);
    if (!hit) {
      const toggles = TELEMETRY_TOGGLES.map((k) => `${k}=${s[k]}`).join(' ');
      fail('telemetry.rules', `has no row for ${s.source} event '${s.event}' with ${toggles}`);
    }
    used.add(hit.index);
  }
  rules.forEach((_, i) => {
    if (!used.has(i))
      fail(`telemetry.rules[${i}]`, 'is never reached: earlier rows match every case it covers');
  });

  if (!Array.isArray(t.sources) || t.sources.length === 0)
    fail('telemetry.sources', 'must be a non-empty array');
  const sources = (t.sources as unknown[]).map((raw, i) => {
    const o = obj(raw, `telemetry.sources[${i}]`);
    return {
      what: str(o, 'what', `telemetry.sources[${i}]`),
      source: str(o, 'source', `telemetry.sources[${i}]`),
    };
  });
  return { defaults, ...(browser ? { browser } : {}), emitters, rules, sources };
}
