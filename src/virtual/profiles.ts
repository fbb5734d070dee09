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
  return profile;
}

/** The Android API level of a profile (ro.build.version.sdk). */
export function sdkOf(profile: Profile): number {
  return Number(profile.props['ro.build.version.sdk'] ?? '0');
}
