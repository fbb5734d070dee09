/**
 * Firmware profiles: data files in profiles/*.json, one per profile, each value with its source.
 * The loader validates them and fails with the file and field named. A profile file may also live
 * anywhere (an argument ending in `.json`) and `extend` another profile (JSON Merge Patch); the
 * field lists come from the format's one description, src/virtual/profile-schema.ts, which also gives
 * schemas/profile.schema.json.
 *
 * (Loader and data: see profiles/README.md.)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CARRIER_RE,
  CIPHERS,
  COMPONENT_PATTERN,
  emitterSchemas,
  encryptSchema,
  fieldsOf,
  filesystemSchema,
  flushSchema,
  HEADER_SAFE_WRAPS,
  NAME_PATTERN,
  PACKAGE_PATTERN,
  profileSchema,
  REQUIRED_PROPS,
  packageSchema,
  rootSchema,
  ruleSchema,
  telemetrySchema,
  TELEMETRY_EMITTERS,
  TELEMETRY_EVENTS,
  TELEMETRY_OMIT,
  TELEMETRY_TOGGLES,
  WRAP_ENCODINGS,
  type CipherName,
  type TelemetryEmitter,
  type TelemetryOmit,
  type TelemetrySource,
  type TelemetryToggle,
  type WrapEncoding,
} from './profile-schema.ts';

export {
  CIPHERS,
  HEADER_SAFE_WRAPS,
  REQUIRED_PROPS,
  TELEMETRY_EMITTERS,
  TELEMETRY_EVENTS,
  TELEMETRY_OMIT,
  TELEMETRY_TOGGLES,
  WRAP_ENCODINGS,
  type CipherName,
  type TelemetryEmitter,
  type TelemetryOmit,
  type TelemetrySource,
  type TelemetryToggle,
  type WrapEncoding,
};

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
  /** Exported activities reachable by an action (they count as activities too). */
  intentFilters?: Array<{ action: string; activity: string; source: string }>;
  /** Activities only root, the system uid and the app itself may start (AOSP: no intent filter, not exported). */
  notExported?: string[];
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
  /** Root refinements (needs `rooted`); absent: Magisk 27.0, allow, inherit (src/virtual/android/su.ts). */
  root?: ProfileRoot;
  /** Test-only changes to the firmware image. */
  filesystem?: { absent?: string[] };
  /** A synthetic first-launch dialog (virtual lab only; profile-schema.ts firstLaunchDialog). */
  firstLaunchDialog?: FirstLaunchDialog;
  /** Device state at boot that `phonehome doctor` checks (profile-schema.ts `state`); absent = today's. */
  state?: ProfileState;
  /** UI test knobs (profile-schema.ts `ui`): browser view ids renamed (virtual lab only). */
  ui?: { renameIds?: Record<string, string> };
}

/** profile-schema.ts `state`: screen, keyguard and background restrictions at boot. */
export interface ProfileState {
  screenOn?: boolean;
  keyguard?: boolean;
  backgroundRestricted?: string[];
}

/** A modal dialog over `package` on its first start (test knob, always synthetic). */
export interface FirstLaunchDialog {
  package: string;
  title: string;
  message: string;
  /** Positive, negative, neutral (android:id/button1, button2, button3). */
  buttons: string[];
  synthetic: true;
}

/** The profile's `root` object (profile-schema.ts rootSchema). */
export interface ProfileRoot {
  su?: 'magisk' | 'kernelsu' | 'aosp';
  version?: string;
  versionCode?: number;
  grant?: 'allow' | 'deny' | 'prompt-timeout';
  promptTimeoutMs?: number;
  mountNamespaceMode?: 'global' | 'inherit' | 'isolated';
}

/** One row of the behaviour table: the first row whose `when` matches decides. */
export interface TelemetryRule {
  when: { source?: TelemetrySource; events?: string[] } & Partial<Record<TelemetryToggle, boolean>>;
  /** Emitters that upload the event (empty: nothing is sent). */
  send: TelemetryEmitter[];
  omit?: TelemetryOmit[];
  note?: string;
}

/**
 * How an emitter's upload travels (profiles/README.md; src/virtual/telemetry/transport.ts). Every
 * field but `url` is optional; without them an emitter sends exactly what the SDK it plays sends.
 */
export interface EmitterTransport {
  /** Destination; any host. */
  url: string;
  /** Replaces the url's scheme; absent: the url's own. */
  scheme?: 'http' | 'https';
  /** `body` (default: POST), `query:NAME`, `header:NAME` or `cookie:NAME` (GET). */
  carrier?: string;
  /** Encodings applied in order to the native payload (after `encrypt`). */
  wrap?: WrapEncoding[];
  /** Applied to the native payload before the wraps (per emitter: transport.ts). */
  encrypt?: { cipher: CipherName; key: string };
  /** `system` (default): follow global http_proxy; `direct`: ignore it. */
  proxy?: 'system' | 'direct';
  /** The app accepts only its pinned certificate. */
  pinning?: boolean;
}

/** When a queued emitter uploads; each field overrides the SDK's default (telemetry/hub.ts). */
export interface EmitterFlush {
  count?: number;
  intervalMs?: number;
  /** Flush when the owning app goes to the background (default true). */
  onBackground?: boolean;
  /** Keep the queue across a force-stop and send it at the app's next start (default true). */
  persist?: boolean;
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
    sensors?: EmitterTransport & { libVersion: string; flush?: EmitterFlush };
    /** Uploaded by `app` (com.miui.analytics) on behalf of the event's package. */
    tracking?: EmitterTransport & { app: string; flush?: EmitterFlush };
    mistat?: EmitterTransport & { appId: string; region: string; flush?: EmitterFlush };
    /** One splash-ad request per app start, sent at once: no queue, hence no `flush`. */
    ads?: EmitterTransport & { app: string };
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

export class ProfileError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;

  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const NAME_RE = new RegExp(NAME_PATTERN);
const SOURCE_FIELDS = ['what', 'source'];
const PACKAGE_RE = new RegExp(PACKAGE_PATTERN);
const COMPONENT_RE = new RegExp(COMPONENT_PATTERN);

/** Example (hostile) profiles: profiles/examples/*.json, loaded by path (`--profile profiles/examples/x.json`). */
export const EXAMPLE_DIR = join(PROFILE_DIR, 'examples');

/** Whether a profile argument is a file path (it ends in `.json`) rather than a shipped profile's name. */
export function isProfilePath(arg: string): boolean {
  return arg.endsWith('.json');
}

/** How errors name a file: relative to the working directory when it is inside it, else absolute. */
export function profileFileLabel(file: string): string {
  const abs = resolve(file);
  const rel = relative(process.cwd(), abs);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

/**
 * Reads and validates a profile: `<dir>/<name>.json` for a name, or the file for an argument ending
 * in `.json` (a path, relative to the working directory; see loadProfileFile).
 */
export function loadProfile(nameOrPath: string, dir: string = PROFILE_DIR): Profile {
  if (isProfilePath(nameOrPath)) return loadProfileFile(nameOrPath, dir);
  const name = nameOrPath;
  if (!NAME_RE.test(name)) throw new ProfileError(`invalid profile name '${name}'`);
  const file = join(dir, `${name}.json`);
  const label = `profiles/${name}.json`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ProfileError(`unknown profile '${name}' (no ${label}); known: ${knownProfiles(dir)}`);
  }
  const json = parseJson(text, label);
  const profile = parseProfile(resolveExtends(json, { file, label, dir, chain: [resolve(file)] }), label);
  if (profile.name !== name) {
    throw new ProfileError(
      `${label}: field "name" must equal the file name ('${name}'), got '${profile.name}'`,
    );
  }
  return profile;
}

/**
 * Reads and validates a profile file anywhere (`path` relative to the working directory). It may
 * `extend` a shipped profile (a name, looked up in `dir`) or another file (a `.json` path relative to
 * it), in chains; errors name this file and the field. Its `name` need not equal the file name.
 */
export function loadProfileFile(path: string, dir: string = PROFILE_DIR): Profile {
  const file = resolve(path);
  const label = profileFileLabel(file);
  const json = parseJson(readProfileText(file, label), label);
  return parseProfile(resolveExtends(json, { file, label, dir, chain: [file] }), label);
}

function readProfileText(file: string, label: string): string {
  try {
    if (statSync(file).isDirectory()) throw new Error('it is a directory');
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ProfileError(
      e.code === 'ENOENT' ? `no profile file ${label}` : `${label}: cannot read it (${e.message})`,
    );
  }
}

function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ProfileError(`${label}: invalid JSON: ${(err as Error).message}`);
  }
}

/** The profile files in `dir` by name (unvalidated: validating could come back here). */
function knownProfiles(dir: string): string {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    // none
  }
  return (
    files
      .sort()
      .map((f) => f.slice(0, -5))
      .join(', ') || 'none'
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * JSON Merge Patch (RFC 7396): objects merge by key, recursively; `null` deletes a key; anything
 * else (arrays included) replaces the base's value whole.
 */
export function mergeProfileJson(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergeProfileJson(out[k], v);
  }
  return out;
}

/**
 * A profile file's JSON with its `extends` chain applied (the result has no `extends`). A shipped
 * base (a name) is validated on its own first, so that a broken base is reported as that file.
 */
function resolveExtends(
  json: unknown,
  at: { file: string; label: string; dir: string; chain: string[] },
): unknown {
  if (!isPlainObject(json) || json.extends === undefined) return json;
  const fail = (field: string, problem: string): never => {
    throw new ProfileError(`${at.label}: field "${field}" ${problem}`);
  };
  const ext = json.extends;
  if (typeof ext !== 'string' || ext === '')
    return fail('extends', 'must be a shipped profile name or a .json path');
  if (json.name === undefined) fail('name', 'is required (a file that extends another profile names itself)');
  let baseFile: string;
  let baseLabel: string;
  const named = !isProfilePath(ext);
  if (named) {
    if (!NAME_RE.test(ext)) fail('extends', `must be a shipped profile name or a .json path, got '${ext}'`);
    baseFile = join(at.dir, `${ext}.json`);
    baseLabel = `profiles/${ext}.json`;
    let exists = false;
    try {
      exists = statSync(baseFile).isFile();
    } catch {
      // not there
    }
    if (!exists) fail('extends', `names unknown profile '${ext}'; known: ${knownProfiles(at.dir)}`);
  } else {
    baseFile = resolve(dirname(at.file), ext);
    baseLabel = profileFileLabel(baseFile);
  }
  baseFile = resolve(baseFile);
  if (at.chain.includes(baseFile)) {
    const names = [...at.chain, baseFile].map((f) => profileFileLabel(f));
    fail('extends', `makes a cycle: ${names.join(' → ')}`);
  }
  const baseJson = parseJson(readProfileText(baseFile, baseLabel), baseLabel);
  const base = resolveExtends(baseJson, {
    file: baseFile,
    label: baseLabel,
    dir: at.dir,
    chain: [...at.chain, baseFile],
  });
  if (named) {
    const checked = parseProfile(base, baseLabel);
    if (checked.name !== ext)
      throw new ProfileError(
        `${baseLabel}: field "name" must equal the file name ('${ext}'), got '${checked.name}'`,
      );
  }
  const patch: Record<string, unknown> = { ...json };
  delete patch.extends;
  return mergeProfileJson(base, patch);
}

/** A profile file as listProfiles() sees it. */
export interface ProfileListing {
  /** File name without .json. */
  name: string;
  /** '' for a broken file. */
  description: string;
  /** For a file loadProfile() rejects: its ProfileError message (file and field). */
  error?: string;
  /** Example profiles (listExampleProfiles): the file, relative to the repository, to pass as --profile. */
  path?: string;
  /** An example profile (profiles/examples/), not a shipped one. */
  example?: true;
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

/**
 * The example profiles (profiles/examples/*.json, sorted), each loaded by path with its `extends`
 * resolved in `baseDir`; `name` is the profile's name (the file name for a broken file), `path` the
 * file relative to the repository.
 */
export function listExampleProfiles(
  dir: string = EXAMPLE_DIR,
  baseDir: string = PROFILE_DIR,
): ProfileListing[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const repo = dirname(resolve(PROFILE_DIR));
  return files.sort().map((f): ProfileListing => {
    const file = join(dir, f);
    const path = relative(repo, file);
    try {
      const p = loadProfileFile(file, baseDir);
      return { name: p.name, description: p.description, path, example: true };
    } catch (err) {
      return { name: f.slice(0, -5), description: '', error: (err as Error).message, path, example: true };
    }
  });
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

  /** Unknown keys: the schema (profile-schema.ts) lists the fields; `$comment` is allowed everywhere. */
  const only = (o: Record<string, unknown>, keys: string[], field: string): void => {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k) && k !== '$comment')
        fail(`${field}.${k}`, `is not a known field (${keys.join(', ')})`);
    }
  };

  const root = obj(json, '(root)');
  if (root.extends !== undefined)
    fail('extends', 'must be resolved before parsing (loadProfile and loadProfileFile do)');
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
  only(s, fieldsOf(profileSchema.shape.settings), 'settings');
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
    only(p, fieldsOf(packageSchema), f);
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
    if (p.intentFilters !== undefined) {
      if (!Array.isArray(p.intentFilters)) fail(`${f}.intentFilters`, 'must be an array');
      pkg.intentFilters = (p.intentFilters as unknown[]).map((raw, j) => {
        const ff = `${f}.intentFilters[${j}]`;
        const o = obj(raw, ff);
        only(o, ['action', 'activity', 'source'], ff);
        const action = str(o, 'action', `${ff}.action`) as string;
        if (!action) fail(`${ff}.action`, 'must not be empty');
        return {
          action,
          activity: component(str(o, 'activity', `${ff}.activity`) as string, `${ff}.activity`),
          source: str(o, 'source', `${ff}.source`) as string,
        };
      });
    }
    if (p.notExported !== undefined) {
      pkg.notExported = strList(p.notExported, `${f}.notExported`).map((c, j) =>
        component(c, `${f}.notExported[${j}]`),
      );
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
  only(d, fieldsOf(profileSchema.shape.display), 'display');
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
    only(o, SOURCE_FIELDS, `sources[${i}]`);
    return {
      what: str(o, 'what', `sources[${i}].what`) as string,
      source: str(o, 'source', `sources[${i}].source`) as string,
    };
  });

  const known = new Set(fieldsOf(profileSchema).filter((k) => k !== 'extends'));
  known.add('$comment');
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
  if (root.root !== undefined) profile.root = parseRoot(root.root, rooted, fail);
  if (root.filesystem !== undefined) profile.filesystem = parseFilesystem(root.filesystem, fail);
  if (root.telemetry !== undefined) profile.telemetry = parseTelemetry(root.telemetry, fail);
  if (root.firstLaunchDialog !== undefined) {
    const fd = obj(root.firstLaunchDialog, 'firstLaunchDialog');
    only(fd, fieldsOf(profileSchema.shape.firstLaunchDialog.unwrap()), 'firstLaunchDialog');
    const dpkg = str(fd, 'package', 'firstLaunchDialog.package') as string;
    if (!PACKAGE_RE.test(dpkg)) fail('firstLaunchDialog.package', `must be a package name, got '${dpkg}'`);
    const buttons = strList(
      fd.buttons ?? fail('firstLaunchDialog.buttons', 'is required'),
      'firstLaunchDialog.buttons',
    );
    if (buttons.length < 1 || buttons.length > 3 || buttons.some((b) => b === ''))
      fail('firstLaunchDialog.buttons', 'must hold 1 to 3 non-empty labels');
    if (fd.synthetic !== true)
      fail(
        'firstLaunchDialog.synthetic',
        'must be true: the dialog is the virtual lab’s invention, not firmware',
      );
    profile.firstLaunchDialog = {
      package: dpkg,
      title: str(fd, 'title', 'firstLaunchDialog.title') as string,
      message: str(fd, 'message', 'firstLaunchDialog.message') as string,
      buttons,
      synthetic: true,
    };
  }
  if (root.state !== undefined) {
    const st = obj(root.state, 'state');
    only(st, fieldsOf(profileSchema.shape.state.unwrap()), 'state');
    const state: ProfileState = {};
    for (const k of ['screenOn', 'keyguard'] as const) {
      if (st[k] !== undefined) state[k] = bool(st, k, `state.${k}`);
    }
    if (st.backgroundRestricted !== undefined) {
      state.backgroundRestricted = strList(st.backgroundRestricted, 'state.backgroundRestricted');
      state.backgroundRestricted.forEach((p, i) => {
        if (!PACKAGE_RE.test(p))
          fail(`state.backgroundRestricted[${i}]`, `must be a package name, got '${p}'`);
      });
    }
    profile.state = state;
  }
  if (root.ui !== undefined) {
    const u = obj(root.ui, 'ui');
    only(u, fieldsOf(profileSchema.shape.ui.unwrap()), 'ui');
    if (u.renameIds !== undefined) {
      const ids = obj(u.renameIds, 'ui.renameIds');
      const renameIds: Record<string, string> = {};
      for (const [from, to] of Object.entries(ids)) {
        if (!/^[a-z_][a-z0-9_]*$/.test(from))
          fail(`ui.renameIds.${from}`, 'must be a view id name (a-z, 0-9, _)');
        if (typeof to !== 'string' || !/^[a-z_][a-z0-9_]*$/.test(to))
          return fail(`ui.renameIds.${from}`, 'must be a view id name (a-z, 0-9, _)');
        renameIds[from] = to;
      }
      profile.ui = { renameIds };
    } else profile.ui = {};
  }
  return profile;
}

/** Validates the `root` object (profile-schema.ts rootSchema; src/virtual/android/su.ts). */
function parseRoot(
  json: unknown,
  rooted: boolean,
  fail: (field: string, problem: string) => never,
): ProfileRoot {
  const r = rootSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return fail(['root', ...issue.path.map(String)].join('.'), issue.message);
  }
  const v = r.data;
  if (!rooted) fail('root', 'needs "rooted": true (a phone without su has no root settings)');
  const su = v.su ?? 'magisk';
  if (su !== 'magisk' && v.grant !== undefined && v.grant !== 'allow') {
    fail(
      'root.grant',
      `only "allow" is modelled for ${su} (its refusal is unverified; android-realities.md §8)`,
    );
  }
  if (su === 'aosp' && v.mountNamespaceMode !== undefined) {
    fail('root.mountNamespaceMode', 'AOSP su has no namespace setting: remove it');
  }
  if (v.promptTimeoutMs !== undefined && v.grant !== 'prompt-timeout') {
    fail('root.promptTimeoutMs', 'applies only with "grant": "prompt-timeout"');
  }
  const { $comment: _c, ...out } = v;
  return out;
}

/** Validates the test-only `filesystem` object. */
function parseFilesystem(
  json: unknown,
  fail: (field: string, problem: string) => never,
): { absent?: string[] } {
  const r = filesystemSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return fail(
      ['filesystem', ...issue.path.map(String)].join('.'),
      `${issue.message} (absolute paths without a trailing /)`,
    );
  }
  return r.data.absent ? { absent: r.data.absent } : {};
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
  only(t, fieldsOf(telemetrySchema), 'telemetry');

  const d = obj(t.defaults ?? fail('telemetry.defaults', 'is required'), 'telemetry.defaults');
  only(d, fieldsOf(telemetrySchema.shape.defaults), 'telemetry.defaults');
  const defaults = {
    uep: bool(d, 'uep', 'telemetry.defaults'),
    incognitoDataCollection: bool(d, 'incognitoDataCollection', 'telemetry.defaults'),
  };

  let browser: ProfileTelemetry['browser'];
  if (t.browser !== undefined) {
    const b = obj(t.browser, 'telemetry.browser');
    only(b, fieldsOf(telemetrySchema.shape.browser.unwrap()), 'telemetry.browser');
    browser = {};
    if (b.incognitoDataCollectionSwitch !== undefined)
      browser.incognitoDataCollectionSwitch = bool(b, 'incognitoDataCollectionSwitch', 'telemetry.browser');
  }

  const e = obj(t.emitters ?? fail('telemetry.emitters', 'is required'), 'telemetry.emitters');
  only(e, fieldsOf(telemetrySchema.shape.emitters), 'telemetry.emitters');
  const emitters: ProfileTelemetry['emitters'] = {};
  if (e.sensors !== undefined) {
    const f = 'telemetry.emitters.sensors';
    const o = obj(e.sensors, f);
    only(o, fieldsOf(emitterSchemas.sensors), f);
    emitters.sensors = {
      url: url(o, f),
      libVersion: str(o, 'libVersion', f),
      ...parseTransport('sensors', o, f, fail),
    };
  }
  if (e.tracking !== undefined) {
    const f = 'telemetry.emitters.tracking';
    const o = obj(e.tracking, f);
    only(o, fieldsOf(emitterSchemas.tracking), f);
    emitters.tracking = { url: url(o, f), app: pkg(o, f), ...parseTransport('tracking', o, f, fail) };
  }
  if (e.mistat !== undefined) {
    const f = 'telemetry.emitters.mistat';
    const o = obj(e.mistat, f);
    only(o, fieldsOf(emitterSchemas.mistat), f);
    emitters.mistat = {
      url: url(o, f),
      appId: str(o, 'appId', f),
      region: str(o, 'region', f),
      ...parseTransport('mistat', o, f, fail),
    };
  }
  if (e.ads !== undefined) {
    const f = 'telemetry.emitters.ads';
    const o = obj(e.ads, f);
    if (o.flush !== undefined)
      fail(`${f}.flush`, 'is not allowed: splash-ad requests are sent at once, never queued');
    only(o, fieldsOf(emitterSchemas.ads), f);
    emitters.ads = { url: url(o, f), app: pkg(o, f), ...parseTransport('ads', o, f, fail) };
  }

  if (!Array.isArray(t.rules) || t.rules.length === 0) fail('telemetry.rules', 'must be a non-empty array');
  const rules = (t.rules as unknown[]).map((raw, i): TelemetryRule => {
    const f = `telemetry.rules[${i}]`;
    const r = obj(raw, f);
    only(r, fieldsOf(ruleSchema), f);
    const w = obj(r.when ?? fail(`${f}.when`, 'is required'), `${f}.when`);
    only(w, fieldsOf(ruleSchema.shape.when), `${f}.when`);
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
    only(o, SOURCE_FIELDS, `telemetry.sources[${i}]`);
    return {
      what: str(o, 'what', `telemetry.sources[${i}]`),
      source: str(o, 'source', `telemetry.sources[${i}]`),
    };
  });
  return { defaults, ...(browser ? { browser } : {}), emitters, rules, sources };
}

/** What a payload is after a step: text (safe to read as UTF-8) or binary. */
export type PayloadKind = 'text' | 'binary';

/**
 * The payload's kind after each transform of an emitter, in order: `encrypt` (when set), then each
 * wrap. The native payload (a form body, the ads JSON) is text; `encrypt` keeps it text for sensors
 * (the SDK's gzip=9 form) and mistat (its own form), and makes it binary (the cipher output) for
 * tracking and ads; gzip and deflate make binary, every other wrap text.
 */
export function transportSteps(
  emitter: TelemetryEmitter,
  cfg: Pick<EmitterTransport, 'wrap' | 'encrypt'>,
): Array<{ step: 'encrypt' | WrapEncoding; kind: PayloadKind }> {
  const out: Array<{ step: 'encrypt' | WrapEncoding; kind: PayloadKind }> = [];
  if (cfg.encrypt)
    out.push({ step: 'encrypt', kind: emitter === 'sensors' || emitter === 'mistat' ? 'text' : 'binary' });
  for (const w of cfg.wrap ?? [])
    out.push({ step: w, kind: w === 'gzip' || w === 'deflate' ? 'binary' : 'text' });
  return out;
}

/** A `carrier` value split into its kind and name (`body` has none). */
export function parseCarrier(carrier: string | undefined): {
  kind: 'body' | 'query' | 'header' | 'cookie';
  name: string;
} {
  if (carrier === undefined || carrier === 'body') return { kind: 'body', name: '' };
  const i = carrier.indexOf(':');
  return { kind: carrier.slice(0, i) as 'query' | 'header' | 'cookie', name: carrier.slice(i + 1) };
}

/** Headers a `header:NAME` carrier may not set (the connection's own, or the Cookie carrier's). */
const RESERVED_HEADERS = [
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'proxy-authorization',
  'cookie',
];

/** Validates an emitter's transport fields (scheme … flush); returns those that are set. */
function parseTransport(
  emitter: TelemetryEmitter,
  o: Record<string, unknown>,
  f: string,
  fail: (field: string, problem: string) => never,
): Omit<EmitterTransport, 'url'> & { flush?: EmitterFlush } {
  const out: Omit<EmitterTransport, 'url'> & { flush?: EmitterFlush } = {};
  const oneOf = <T extends string>(v: unknown, allowed: readonly T[], field: string): T =>
    typeof v === 'string' && (allowed as readonly string[]).includes(v)
      ? (v as T)
      : fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  const bool = (v: unknown, field: string): boolean =>
    typeof v === 'boolean' ? v : fail(field, 'must be true or false');
  const only = (x: Record<string, unknown>, keys: string[], field: string): void => {
    for (const k of Object.keys(x)) {
      if (!keys.includes(k) && k !== '$comment')
        fail(`${field}.${k}`, `is not a known field (${keys.join(', ')})`);
    }
  };
  const object = (v: unknown, field: string): Record<string, unknown> =>
    isPlainObject(v) ? v : fail(field, 'must be an object');

  if (o.scheme !== undefined) out.scheme = oneOf(o.scheme, ['http', 'https'] as const, `${f}.scheme`);
  if (o.carrier !== undefined) {
    if (typeof o.carrier !== 'string' || !CARRIER_RE.test(o.carrier))
      fail(
        `${f}.carrier`,
        `must be body, query:NAME, header:NAME or cookie:NAME (NAME: a query parameter or a header/cookie ` +
          `name such as X-Mi-Ctx), got ${JSON.stringify(o.carrier)}`,
      );
    const c = parseCarrier(o.carrier);
    if (c.kind === 'header' && RESERVED_HEADERS.includes(c.name.toLowerCase()))
      fail(
        `${f}.carrier`,
        c.name.toLowerCase() === 'cookie'
          ? `must not be header:${c.name}: use cookie:NAME for a cookie`
          : `must not be header:${c.name}: the HTTP connection sets that header itself`,
      );
    out.carrier = o.carrier;
  }
  if (o.wrap !== undefined) {
    if (!Array.isArray(o.wrap))
      fail(`${f}.wrap`, `must be an array of encodings (${WRAP_ENCODINGS.join(', ')})`);
    out.wrap = (o.wrap as unknown[]).map((w, i) => oneOf(w, WRAP_ENCODINGS, `${f}.wrap[${i}]`));
  }
  if (o.encrypt !== undefined) {
    const ef = `${f}.encrypt`;
    const e = object(o.encrypt, ef);
    only(e, fieldsOf(encryptSchema), ef);
    if (e.cipher === undefined) fail(`${ef}.cipher`, 'is required');
    const cipher = oneOf(e.cipher, Object.keys(CIPHERS) as CipherName[], `${ef}.cipher`);
    if (emitter === 'mistat' && cipher !== 'aes-128-cbc')
      fail(
        `${ef}.cipher`,
        `must be aes-128-cbc for mistat: the given key becomes MiStat's AES-128-CBC session key (got ${cipher})`,
      );
    if (e.key === undefined) fail(`${ef}.key`, 'is required');
    const bytes = CIPHERS[cipher];
    if (typeof e.key !== 'string' || !new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(e.key))
      fail(`${ef}.key`, `must be ${bytes * 2} hex digits (a ${bytes}-byte key) for ${cipher}`);
    out.encrypt = { cipher, key: e.key };
  }
  if (o.proxy !== undefined) out.proxy = oneOf(o.proxy, ['system', 'direct'] as const, `${f}.proxy`);
  if (o.pinning !== undefined) out.pinning = bool(o.pinning, `${f}.pinning`);
  if (o.flush !== undefined) {
    const ff = `${f}.flush`;
    const x = object(o.flush, ff);
    only(x, fieldsOf(flushSchema), ff);
    const flush: EmitterFlush = {};
    if (x.count !== undefined) {
      if (typeof x.count !== 'number' || !Number.isInteger(x.count) || x.count < 1)
        fail(`${ff}.count`, 'must be a positive integer');
      flush.count = x.count;
    }
    if (x.intervalMs !== undefined) {
      if (typeof x.intervalMs !== 'number' || !Number.isInteger(x.intervalMs) || x.intervalMs < 0)
        fail(`${ff}.intervalMs`, 'must be a non-negative integer (milliseconds)');
      flush.intervalMs = x.intervalMs;
    }
    if (x.onBackground !== undefined) flush.onBackground = bool(x.onBackground, `${ff}.onBackground`);
    if (x.persist !== undefined) flush.persist = bool(x.persist, `${ff}.persist`);
    out.flush = flush;
  }

  // The chain: json-string needs text input; query needs text at the end; header and cookie need
  // header-safe text at the end.
  const steps = transportSteps(emitter, out);
  steps.forEach((s, i) => {
    const before = steps[i - 1];
    if (s.step === 'json-string' && before?.kind === 'binary') {
      const w = i - (out.encrypt ? 1 : 0);
      fail(
        `${f}.wrap[${w}]`,
        `json-string needs text, but it follows ${before.step} (binary); put a text encoding such as base64 before it`,
      );
    }
  });
  const carrier = parseCarrier(out.carrier);
  const last = steps[steps.length - 1];
  if (carrier.kind === 'header' || carrier.kind === 'cookie') {
    const safe = HEADER_SAFE_WRAPS.join(', ');
    const lastWrap = out.wrap?.[out.wrap.length - 1];
    if (lastWrap === undefined)
      fail(
        `${f}.carrier`,
        `${out.carrier} needs header-safe text, but the payload would go as it is${out.encrypt ? ' (after encrypt)' : ''}; ` +
          `add "wrap": ["base64"] (or end the wrap with one of ${safe})`,
      );
    else if (!HEADER_SAFE_WRAPS.includes(lastWrap))
      fail(
        `${f}.wrap`,
        `must end with one of ${safe} for carrier ${out.carrier} (header-safe text), but it ends with ${lastWrap}; append one of them`,
      );
  } else if (carrier.kind === 'query' && last?.kind === 'binary') {
    fail(
      out.wrap?.length ? `${f}.wrap` : `${f}.carrier`,
      `${out.carrier} needs text, but the payload ends binary (after ${last.step}); append a text encoding such as base64url to wrap`,
    );
  }
  return out;
}
