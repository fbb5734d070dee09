/**
 * Firmware profiles: data files in profiles/*.json, one per profile, each value with its source.
 * The loader validates them and fails with the file and field named. A profile file may also live
 * anywhere (an argument ending in `.json`) and `extend` another profile (JSON Merge Patch). The
 * format's one description is the zod schema in src/virtual/profiles/schema.ts (which also gives
 * schemas/profile.schema.json, and whose module is the home of the format's names: TELEMETRY_*, CIPHERS,
 * WRAP_ENCODINGS, REQUIRED_PROPS); this file words its issues and checks what relates fields.
 *
 * (Loader and data: see profiles/README.md.)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  CIPHERS,
  COMPONENT_PATTERN,
  fieldsOf,
  HEADER_SAFE_WRAPS,
  NAME_PATTERN,
  profileSchema,
  TELEMETRY_EMITTERS,
  TELEMETRY_EVENTS,
  TELEMETRY_TOGGLES,
  WRAP_ENCODINGS,
  type CipherName,
  type TelemetryEmitter,
  type TelemetryOmit,
  type TelemetrySource,
  type TelemetryToggle,
  type WrapEncoding,
} from './schema.ts';

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
  /** Root refinements (needs `rooted`); absent: Magisk 27.0, allow, inherit (src/virtual/commands/su.ts). */
  root?: ProfileRoot;
  /** Test-only changes to the firmware image. */
  filesystem?: { absent?: string[] };
  /** A synthetic first-launch dialog (virtual lab only; schema.ts firstLaunchDialog). */
  firstLaunchDialog?: FirstLaunchDialog;
  /** Device state at boot that `phonehome doctor` checks (schema.ts `state`); absent = today's. */
  state?: ProfileState;
  /** UI test knobs (schema.ts `ui`): browser view ids renamed (virtual lab only). */
  ui?: { renameIds?: Record<string, string> };
}

/** schema.ts `state`: screen, keyguard and background restrictions at boot. */
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

/** The profile's `root` object (schema.ts rootSchema). */
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
   * (src/virtual/telemetry/switches.ts); `incognitoDataCollection` is the browser switch's value when
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
export const PROFILE_DIR = fileURLToPath(new URL('../../../profiles/', import.meta.url));

export class ProfileError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;

  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const NAME_RE = new RegExp(NAME_PATTERN);
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
  if (isPlainObject(json) && json.extends !== undefined)
    fail('extends', 'must be resolved before parsing (loadProfile and loadProfileFile do)');
  // The schema is the format's one description; the loader only words its first issue for people
  // and adds the checks that relate fields to each other (checkProfile).
  const r = profileSchema.safeParse(json);
  if (!r.success) {
    const { field, problem } = problemOf(firstIssue(r.error.issues), json);
    return fail(field, problem);
  }
  const profile = withoutComments(r.data, profileSchema) as Profile & { $schema?: string };
  delete profile.$schema;
  checkProfile(profile, fail);
  return profile;
}

type Fail = (field: string, problem: string) => never;
type Path = ReadonlyArray<PropertyKey>;

/** `a.b[0].c`, as the loader's messages name a field; the whole file is `(root)`. */
function fieldPath(path: Path): string {
  const out = path.reduce<string>(
    (s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)),
    '',
  );
  return out || '(root)';
}

/** The value at `path` in the JSON (undefined where the path leaves it). */
function valueAt(json: unknown, path: Path): unknown {
  let v = json;
  for (const k of path) v = isPlainObject(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** The schema node that describes `path` (optionals unwrapped; array items, record values followed). */
function schemaAt(path: Path): z.ZodType {
  const bare = (s: z.ZodType): z.ZodType => (s instanceof z.ZodOptional ? bare(s.unwrap() as z.ZodType) : s);
  let s = bare(profileSchema);
  for (const k of path) {
    if (s instanceof z.ZodArray) s = bare(s.element as z.ZodType);
    else if (s instanceof z.ZodRecord) s = bare(s.valueType as z.ZodType);
    else if (s instanceof z.ZodObject) s = bare(s.shape[k as string] as z.ZodType);
  }
  return s;
}

/** The parsed profile without `$comment` (a note for people in every object the schema declares it). */
function withoutComments(v: unknown, schema: z.ZodType): unknown {
  const s = schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
  if (s instanceof z.ZodArray && Array.isArray(v)) return v.map((x) => withoutComments(x, s.element as z.ZodType));
  if (!(s instanceof z.ZodObject) || !isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const field = s.shape[k] as z.ZodType | undefined;
    if (k === '$comment' && field) continue;
    out[k] = field ? withoutComments(x, field) : x;
  }
  return out;
}

const COMPONENT_PROBLEM = "must be 'package/.Activity' or 'package/full.ClassName'";
const BUTTONS_PROBLEM = 'must hold 1 to 3 non-empty labels';
const VIEW_ID_PROBLEM = 'must be a view id name (a-z, 0-9, _)';

/** How a wrong array is worded, by field name. */
function arrayProblem(name: PropertyKey): string {
  switch (name) {
    case 'sources':
    case 'rules':
      return 'must be a non-empty array';
    case 'events':
      return 'must be a non-empty array of event names';
    case 'send':
      return 'must be an array of emitter names';
    case 'wrap':
      return `must be an array of encodings (${WRAP_ENCODINGS.join(', ')})`;
    case 'activities':
    case 'services':
    case 'notExported':
    case 'bootProcesses':
    case 'backgroundRestricted':
    case 'buttons':
      return 'must be an array of strings';
    default:
      return 'must be an array';
  }
}

function intProblem(name: PropertyKey): string {
  if (name === 'count') return 'must be a positive integer';
  if (name === 'intervalMs') return 'must be a non-negative integer (milliseconds)';
  return 'must be a non-negative integer';
}

function keyProblem(cipher: CipherName): string {
  const bytes = CIPHERS[cipher];
  return `must be ${bytes * 2} hex digits (a ${bytes}-byte key) for ${cipher}`;
}

function carrierProblem(value: unknown): string {
  return (
    `must be body, query:NAME, header:NAME or cookie:NAME (NAME: a query parameter or a header/cookie ` +
    `name such as X-Mi-Ctx), got ${JSON.stringify(value)}`
  );
}

/**
 * The issue to tell: the first, unless an object around it (not the file itself, whose unknown
 * fields come after its own) has unknown fields: those are told first, as a misspelt key is the
 * likelier cause of both. (src/util/field-path.ts firstIssue does the same for the harness's files;
 * the virtual lab imports nothing outside src/virtual.)
 */
function firstIssue(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue {
  const first = issues[0]!;
  const around = issues.find(
    (i) => i.code === 'unrecognized_keys' && i.path.length > 0 && i.path.every((k, n) => first.path[n] === k),
  );
  return around ?? first;
}

/** Objects the loader calls missing when they are null. */
const NULL_IS_MISSING = new Set<PropertyKey>(['global', 'secure', 'system', 'display', 'defaults', 'emitters', 'when']);

/** A zod issue in the loader's words: the field it names and the problem (profiles/README.md). */
function problemOf(issue: z.core.$ZodIssue, json: unknown): { field: string; problem: string } {
  const path = issue.path;
  const field = fieldPath(path);
  // root and filesystem were read with zod from the start: their wording is zod's.
  if (path[0] === 'root') return { field: path.map(String).join('.'), problem: issue.message };
  if (path[0] === 'filesystem')
    return {
      field: path.map(String).join('.'),
      problem: `${issue.message} (absolute paths without a trailing /)`,
    };
  const value = valueAt(json, path);
  const last = path[path.length - 1];
  // An array item is worded by its array's name.
  const name = typeof last === 'number' ? path[path.length - 2] : last;
  const inTelemetry = path[0] === 'telemetry';
  const is = (problem: string) => ({ field, problem });

  if (path[0] === 'ui' && path[1] === 'renameIds' && path.length === 3) return is(VIEW_ID_PROBLEM);
  if (field === 'firstLaunchDialog.synthetic')
    return is('must be true: the dialog is the virtual lab’s invention, not firmware');
  if (name === 'buttons' && (issue.code === 'too_small' || issue.code === 'too_big'))
    return { field: 'firstLaunchDialog.buttons', problem: BUTTONS_PROBLEM };
  const expected = issue.code === 'invalid_type' ? issue.expected : undefined;
  if (value === undefined && !(expected === 'array' && last !== 'buttons')) return is('is required');
  if (value === null && (expected === 'object' || expected === 'record') && NULL_IS_MISSING.has(last!))
    return is('is required');

  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0]!;
      if (path.length === 0) return { field: key, problem: 'is not a known profile field' };
      if (field === 'telemetry.emitters.ads' && key === 'flush')
        return {
          field: `${field}.flush`,
          problem: 'is not allowed: splash-ad requests are sent at once, never queued',
        };
      const known = fieldsOf(schemaAt(path) as z.ZodObject).join(', ');
      return { field: `${field}.${key}`, problem: `is not a known field (${known})` };
    }
    case 'invalid_type':
      if (expected === 'array') return is(arrayProblem(name!));
      if (expected === 'object' || expected === 'record') return is('must be an object');
      if (expected === 'boolean') return is('must be true or false');
      if (expected === 'number' || expected === 'int') return is(intProblem(name!));
      if (name === 'carrier') return is(carrierProblem(value));
      if (name === 'key') return is(keyProblem(valueAt(json, [...path.slice(0, -1), 'cipher']) as CipherName));
      if (inTelemetry && name !== 'note') return is('must be a non-empty string');
      return is('must be a string');
    case 'invalid_value': {
      if (name === 'source') return is(`must be 'browser' or 'system', got ${JSON.stringify(value)}`);
      let allowed = issue.values.map(String);
      if (name === 'events') {
        const source = valueAt(json, [...path.slice(0, -2), 'source']) as TelemetrySource | undefined;
        if (source) allowed = [...TELEMETRY_EVENTS[source]];
      }
      return is(`must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    case 'invalid_format':
      if (value === '' && inTelemetry) return is('must be a non-empty string');
      if (field === 'name') return is('must be lower-case letters, digits, dots and dashes');
      if (path[0] === 'props') return is('must be a decimal number');
      if (field === 'systemCaDir') return is('must be an absolute path');
      if (name === 'path') return is('must be an absolute path to an .apk');
      if (name === 'carrier') return is(carrierProblem(value));
      if (name === 'key') return is(keyProblem(valueAt(json, [...path.slice(0, -1), 'cipher']) as CipherName));
      if (['launcher', 'activity', 'activities', 'services', 'notExported'].includes(name as string))
        return is(`${COMPONENT_PROBLEM}, got '${String(value)}'`);
      return is(`must be a package name, got '${String(value)}'`);
    case 'too_small':
      if (issue.origin === 'array') return is(arrayProblem(name!));
      if (issue.origin === 'number' && path[0] === 'display')
        return is((value as number) < 0 ? 'must be a non-negative integer' : 'must be positive');
      if (issue.origin === 'number') return is(intProblem(name!));
      return is(inTelemetry ? 'must be a non-empty string' : 'must not be empty');
    default:
      return is(issue.message);
  }
}

/** The checks that relate fields to each other, which a schema cannot say. */
function checkProfile(profile: Profile, fail: Fail): void {
  const { props } = profile;
  if (props['ro.mi.os.version.name'] && !props['ro.mi.os.version.code']) {
    fail('props.ro.mi.os.version.code', 'is required when ro.mi.os.version.name is set (HyperOS)');
  }
  const androidId = profile.settings.secure.android_id;
  if (androidId !== undefined && !/^[0-9a-f]{16}$/.test(androidId)) {
    fail('settings.secure.android_id', 'must be 16 lower-case hex digits');
  }

  const seen = new Set<string>();
  profile.packages.forEach((p, i) => {
    const f = `packages[${i}]`;
    if (seen.has(p.name)) fail(`${f}.name`, `duplicates package '${p.name}'`);
    seen.add(p.name);
    const own = (c: string, field: string): void => {
      if (COMPONENT_RE.exec(c)![1] !== p.name) fail(field, `must belong to package '${p.name}', got '${c}'`);
    };
    if (p.launcher !== undefined) own(p.launcher, `${f}.launcher`);
    p.activities?.forEach((c, j) => own(c, `${f}.activities[${j}]`));
    p.services?.forEach((c, j) => own(c, `${f}.services[${j}]`));
    p.intentFilters?.forEach((x, j) => own(x.activity, `${f}.intentFilters[${j}].activity`));
    p.notExported?.forEach((c, j) => own(c, `${f}.notExported[${j}]`));
  });

  const browserPkg = profile.packages.find((p) => p.name === profile.browser);
  if (!browserPkg) fail('browser', `must name a package listed in "packages", got '${profile.browser}'`);
  if (!browserPkg?.launcher) fail('browser', `package '${profile.browser}' needs a launcher activity`);

  if (profile.root) checkRoot(profile.root, profile.rooted, fail);
  if (profile.telemetry) checkTelemetry(profile.telemetry, fail);
}

/** The `root` object against `rooted` and the su it names (src/virtual/commands/su.ts). */
function checkRoot(v: ProfileRoot, rooted: boolean, fail: Fail): void {
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
}

/** The `telemetry` section: urls, transports, and a behaviour table that answers every situation once. */
function checkTelemetry(t: ProfileTelemetry, fail: Fail): void {
  for (const emitter of TELEMETRY_EMITTERS) {
    const cfg = t.emitters[emitter];
    if (!cfg) continue;
    const f = `telemetry.emitters.${emitter}`;
    if (cfg.url === '') fail(`${f}.url`, 'must be a non-empty string');
    let parsed: URL | undefined;
    try {
      parsed = new URL(cfg.url.replace('{country}', 'XX'));
    } catch {
      fail(`${f}.url`, `must be an absolute URL, got '${cfg.url}'`);
    }
    if (!/^https?:$/.test(parsed.protocol)) fail(`${f}.url`, `must be http or https, got '${cfg.url}'`);
    checkTransport(emitter, cfg, f, fail);
  }

  t.sources.forEach((x, i) => {
    // Unlike the profile's own sources, telemetry's must say something.
    for (const k of ['what', 'source'] as const)
      if (x[k] === '') fail(`telemetry.sources[${i}].${k}`, 'must be a non-empty string');
  });

  t.rules.forEach((r, i) => {
    const f = `telemetry.rules[${i}]`;
    const { source } = r.when;
    r.when.events?.forEach((x, j) => {
      const allowed: readonly string[] = source ? TELEMETRY_EVENTS[source] : [];
      if (source && !allowed.includes(x))
        fail(`${f}.when.events[${j}]`, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(x)}`);
    });
    r.send.forEach((x, j) => {
      if (t.emitters[x] === undefined)
        fail(`${f}.send[${j}]`, `names emitter '${x}', which telemetry.emitters does not configure`);
    });
  });

  // The table must answer every situation, and every row must be reachable.
  const used = new Set<number>();
  for (const s of telemetrySituations()) {
    const hit = telemetryRuleFor(t, s);
    if (!hit) {
      const toggles = TELEMETRY_TOGGLES.map((k) => `${k}=${s[k]}`).join(' ');
      fail('telemetry.rules', `has no row for ${s.source} event '${s.event}' with ${toggles}`);
    }
    used.add(hit.index);
  }
  t.rules.forEach((_, i) => {
    if (!used.has(i))
      fail(`telemetry.rules[${i}]`, 'is never reached: earlier rows match every case it covers');
  });
}

/** The Android API level of a profile (ro.build.version.sdk). */
export function sdkOf(profile: Profile): number {
  return Number(profile.props['ro.build.version.sdk'] ?? '0');
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

/** An emitter's transport fields against each other: the cipher for mistat, the key's length, the carrier, the chain. */
function checkTransport(
  emitter: TelemetryEmitter,
  out: Omit<EmitterTransport, 'url'>,
  f: string,
  fail: Fail,
): void {
  if (out.carrier !== undefined) {
    const c = parseCarrier(out.carrier);
    if (c.kind === 'header' && RESERVED_HEADERS.includes(c.name.toLowerCase()))
      fail(
        `${f}.carrier`,
        c.name.toLowerCase() === 'cookie'
          ? `must not be header:${c.name}: use cookie:NAME for a cookie`
          : `must not be header:${c.name}: the HTTP connection sets that header itself`,
      );
  }
  if (out.encrypt !== undefined) {
    const { cipher, key } = out.encrypt;
    if (emitter === 'mistat' && cipher !== 'aes-128-cbc')
      fail(
        `${f}.encrypt.cipher`,
        `must be aes-128-cbc for mistat: the given key becomes MiStat's AES-128-CBC session key (got ${cipher})`,
      );
    if (key.length !== CIPHERS[cipher] * 2) fail(`${f}.encrypt.key`, keyProblem(cipher));
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
}
