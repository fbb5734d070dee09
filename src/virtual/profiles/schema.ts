/**
 * The firmware profile format (profiles/*.json) described once, as a zod schema: the loader
 * (src/virtual/profiles/load.ts parseProfile) validates with it, wording its first issue as
 * `<file>: field "<path>" <problem>` and adding only the checks that relate fields to each other
 * (a package's components, the browser, the behaviour table, a transport's chain); it also gives the
 * JSON Schema for editors (`phonehome schema` → schemas/profile.schema.json).
 *
 * An extending file (`"extends": "<profile>"`) is a JSON Merge Patch (RFC 7396) over its base: in the
 * JSON Schema such a file is checked against a copy of the profile schema whose object fields are all
 * optional (array items, which replace the base's arrays whole, stay complete).
 */
import { z } from 'zod';

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

/**
 * Encodings an emitter's `wrap` applies, in order, to its payload (src/virtual/telemetry/transport.ts
 * defines each exactly).
 */
export const WRAP_ENCODINGS = [
  'base64',
  'base64url',
  'hex',
  'base32',
  'percent',
  'gzip',
  'deflate',
  'json-string',
] as const;
export type WrapEncoding = (typeof WRAP_ENCODINGS)[number];

/** Encodings whose output is header-safe text (what `header:` and `cookie:` carriers need last). */
export const HEADER_SAFE_WRAPS: readonly WrapEncoding[] = ['base64', 'base64url', 'hex', 'base32', 'percent'];

/** Ciphers an emitter's `encrypt` may name, with their key length in bytes. */
export const CIPHERS = { 'aes-128-cbc': 16, 'aes-256-gcm': 32 } as const;
export type CipherName = keyof typeof CIPHERS;

/** `carrier`: where the payload travels. NAME: a query parameter, or a header / cookie name (RFC 7230 token). */
export const CARRIER_RE =
  /^(body|query:[A-Za-z0-9._~-]+|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/;

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

export const NAME_PATTERN = '^[a-z0-9][a-z0-9._-]*$';
export const PACKAGE_PATTERN = '^[A-Za-z][\\w]*(\\.[A-Za-z_][\\w]*)+$';
export const COMPONENT_PATTERN =
  '^([A-Za-z][\\w]*(?:\\.[A-Za-z_][\\w]*)+)\\/(\\.?[A-Za-z_$][\\w$]*(?:\\.[A-Za-z_$][\\w$]*)*)$';

const comment = z.string().optional().describe('A note for people; ignored by the loader');

/** A strict object that also takes a `$comment` (every profile object does). */
function obj<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject({ ...shape, $comment: comment });
}

const sourceSchema = obj({
  what: z.string().describe('The value(s) this entry is about'),
  source: z
    .string()
    .describe(
      'Where they come from: a facts-sheet section, a public document, or "synthetic" for invented values',
    ),
}).meta({ id: 'Source', description: 'Provenance of a value: what, and where it comes from' });

const component = z.string().regex(new RegExp(COMPONENT_PATTERN));
const nonNegInt = z.int().min(0);

export const packageSchema = obj({
  name: z.string().regex(new RegExp(PACKAGE_PATTERN)).describe('Package name, e.g. com.mi.globalbrowser'),
  versionName: z.string().describe('versionName, e.g. 12.1.4'),
  versionCode: nonNegInt.describe('versionCode'),
  path: z
    .string()
    .regex(/^\/.*\.apk$/)
    .describe('APK path shown by `pm path` / `pm list packages -f`, e.g. /system/app/X/X.apk'),
  system: z.boolean().describe('System app (not listed by `pm list packages -3`)'),
  launcher: component
    .optional()
    .describe('Launcher activity, `pkg/.Activity` or `pkg/full.class.Name` (of this package); absent: none'),
  activities: z
    .array(component)
    .optional()
    .describe('Further activities `am start -n` accepts (same notation as launcher)'),
  services: z
    .array(component)
    .optional()
    .describe('Services reported running (foreground) by `dumpsys activity services` while the app runs'),
  // Intent filters and export state as a manifest declares them (AOSP PackageManager: an activity
  // with an intent filter is exported by default; one without, e.g. AOSP Settings' SubSettings, is
  // not, so `am start -n` from the shell (uid 2000) gets "Permission Denial … not exported").
  intentFilters: z
    .array(
      obj({
        action: z.string().min(1).describe('The action, e.g. android.settings.PRIVACY_SETTINGS'),
        activity: component.describe(
          'The activity that handles it (of this package; same notation as launcher)',
        ),
        source: z.string().min(1).describe('Where this filter is documented (AOSP manifest, facts sheet …)'),
      }),
    )
    .optional()
    .describe(
      'Exported activities reachable by an action (`am start -a`, `cmd package resolve-activity -a`); ' +
        'they are added to the activities',
    ),
  notExported: z
    .array(component)
    .optional()
    .describe(
      'Activities of `activities` that are not exported: only root, the system uid and the app itself may ' +
        'start them (the shell gets a SecurityException, as AOSP ActivityTaskSupervisor.checkStartAnyActivityPermission does)',
    ),
  uid: nonNegInt.optional().describe('Linux uid; default: 10050 upwards in file order'),
  minSdk: nonNegInt.optional().describe('minSdkVersion'),
  targetSdk: nonNegInt.optional().describe('targetSdkVersion'),
}).meta({ id: 'Package', description: 'An installed package' });

const strMap = (doc: string) => z.record(z.string(), z.string()).describe(doc);

const propsShape: Record<string, z.ZodString> = {};
for (const key of REQUIRED_PROPS) propsShape[key] = z.string().describe('required');
propsShape['ro.build.version.sdk'] = z.string().regex(/^\d+$/).describe('required; the API level (decimal)');
propsShape['ro.miui.ui.version.code'] = z.string().regex(/^\d+$/).describe('required; decimal');

export const encryptSchema = obj({
  cipher: z
    .enum(Object.keys(CIPHERS) as [CipherName, ...CipherName[]])
    .describe(
      'aes-128-cbc: IV(16) ‖ AES-CBC-PKCS7; aes-256-gcm: IV(12) ‖ ciphertext ‖ tag(16). MiStat: aes-128-cbc only',
    ),
  key: z
    .string()
    .regex(/^([0-9a-fA-F]{32}|[0-9a-fA-F]{64})$/)
    .describe('The key in hex: 32 digits (16 bytes) for aes-128-cbc, 64 (32 bytes) for aes-256-gcm'),
}).meta({ id: 'Encrypt', description: 'A symmetric cipher and its key' });

export const flushSchema = obj({
  count: z
    .int()
    .min(1)
    .optional()
    .describe(
      'Flush when this many events are queued (overrides the SDK default: Sensors 100, tracking 30, MiStat 50)',
    ),
  intervalMs: nonNegInt
    .optional()
    .describe(
      'Flush this long after an event enters an empty queue (default: Sensors 15000, tracking and MiStat 60000)',
    ),
  onBackground: z
    .boolean()
    .optional()
    .describe(
      'Flush when the app goes to the background (default true); false: only the count or the interval',
    ),
  persist: z
    .boolean()
    .optional()
    .describe(
      'true: queued events survive a force-stop of the owning app and go out at its next start; false: ' +
        'they die with the process. Default true (Sensors: SQLite events table; tracking, MiStat: assumed like Sensors)',
    ),
}).meta({ id: 'Flush', description: 'When the queue uploads (queued emitters only; not ads)' });

/** The transport fields every emitter takes (their meaning: profiles/README.md, transport.ts). */
const transportShape = {
  url: z
    .string()
    .describe(
      'Destination, http(s), any host; sensors may contain {country} (ro.miui.region, percent-encoded)',
    ),
  scheme: z.enum(['http', 'https']).optional().describe("Replaces the url's scheme; absent: the url's own"),
  carrier: z
    .string()
    .regex(CARRIER_RE)
    .optional()
    .describe(
      'Where the payload travels: body (default: POST), query:NAME (GET url?NAME=<payload>, ' +
        'percent-encoded with encodeURIComponent unless the last wrap is percent), header:NAME (GET, header ' +
        'NAME: <payload>), cookie:NAME (GET, Cookie: NAME=<payload>). header/cookie need a header-safe last ' +
        'wrap (base64, base64url, hex, base32, percent); query needs text',
    ),
  wrap: z
    .array(z.enum(WRAP_ENCODINGS))
    .optional()
    .describe(
      "Encodings applied in order to the emitter's native payload (after encrypt): base64 (RFC 4648 §4, " +
        'padded), base64url (§5, unpadded), hex (lower case), base32 (§6, padded), percent (every byte but ' +
        'A-Za-z0-9-_.~ as %XX), gzip, deflate (raw), json-string (the text as a JSON string literal; needs text)',
    ),
  encrypt: encryptSchema
    .optional()
    .describe(
      'Encrypts the native payload before the wraps. sensors: the SDK encrypted mode gzip=9 (one payload per ' +
        'event); mistat: this key as its session key; tracking, ads: cipher output of the native body',
    ),
  proxy: z
    .enum(['system', 'direct'])
    .optional()
    .describe('system (default): follow global http_proxy; direct: ignore it and connect straight out'),
  pinning: z
    .boolean()
    .optional()
    .describe('true: the app trusts only its pinned certificate (an intercepting CA is rejected)'),
};

const sensorsSchema = obj({
  ...transportShape,
  libVersion: z.string().min(1).describe('Sensors Analytics SDK version ($lib_version), e.g. 3.2.10'),
  flush: flushSchema.optional(),
}).describe('Sensors Analytics (sa.api.intl.miui.com): uploaded by the event’s app');

const appField = z
  .string()
  .regex(new RegExp(PACKAGE_PATTERN))
  .describe('The package that uploads (com.miui.analytics, com.miui.msa.global …)');

const trackingSchema = obj({
  ...transportShape,
  app: appField,
  flush: flushSchema.optional(),
}).describe("com.miui.analytics (tracking.*.miui.com): uploaded by `app` on the event's app's behalf");

const mistatSchema = obj({
  ...transportShape,
  appId: z.string().min(1).describe('MiStat app id (ai)'),
  region: z.string().min(1).describe('MiStat region (rg), e.g. INTL'),
  flush: flushSchema.optional(),
}).describe('MiStat SDK v3 (data.mistat.*): uploaded by the event’s app');

const adsSchema = obj({
  ...transportShape,
  app: appField,
}).describe('The MSA splash-ad request: one per app start, sent at once (no queue, no flush)');

const toggleWhen: Record<string, z.ZodOptional<z.ZodBoolean>> = {};
for (const k of TELEMETRY_TOGGLES) toggleWhen[k] = z.boolean().optional().describe(`the ${k} toggle`);

const allEvents = [...TELEMETRY_EVENTS.browser, ...TELEMETRY_EVENTS.system] as [string, ...string[]];

export const ruleSchema = obj({
  when: obj({
    source: z.enum(['browser', 'system']).optional().describe('Browser or system events'),
    events: z.array(z.enum(allEvents)).min(1).optional().describe('Event names (of the source, if given)'),
    ...toggleWhen,
  }).describe('What the row matches; absent keys match anything'),
  send: z.array(z.enum(TELEMETRY_EMITTERS)).describe('Emitters that upload the event (empty: nothing)'),
  omit: z.array(z.enum(TELEMETRY_OMIT)).optional().describe('Identifiers left out'),
  note: z.string().optional().describe('Why'),
}).meta({
  id: 'TelemetryRule',
  description: 'One row of the behaviour table: the first matching row decides',
});

export const emitterSchemas = {
  sensors: sensorsSchema,
  tracking: trackingSchema,
  mistat: mistatSchema,
  ads: adsSchema,
} as const;

export const telemetrySchema = obj({
  defaults: obj({
    uep: z.boolean().describe('What an unset or -1 secure upload_log_pref means on this firmware'),
    incognitoDataCollection: z
      .boolean()
      .describe("The browser's incognito data-collection switch when it has none or it is unset"),
  }).describe('Values used when a setting or switch is unset'),
  browser: obj({
    incognitoDataCollectionSwitch: z
      .boolean()
      .optional()
      .describe('The browser has the incognito data-collection ("Enhanced incognito mode") switch'),
  })
    .optional()
    .describe("What the profile's browser offers"),
  emitters: obj({
    sensors: sensorsSchema.optional(),
    tracking: trackingSchema.optional(),
    mistat: mistatSchema.optional(),
    ads: adsSchema.optional(),
  }).describe('The upload channels and how each sends'),
  rules: z
    .array(ruleSchema)
    .min(1)
    .describe('The behaviour table: every event × toggle combination must match a row; no row unreachable'),
  sources: z.array(sourceSchema).min(1).describe('Provenance of the telemetry behaviour'),
}).describe('What the phone uploads, per event and toggle state (src/virtual/telemetry); absent: nothing');

/** The `root` object: which `su` a rooted phone has and how it answers (src/virtual/commands/su.ts). */
export const rootSchema = obj({
  su: z
    .enum(['magisk', 'kernelsu', 'aosp'])
    .optional()
    .describe('MagiskSU (default), KernelSU, or AOSP userdebug su (android-realities.md §2.1–2.3)'),
  version: z
    .string()
    .regex(/^v?\d+(\.\d+)*$/)
    .optional()
    .describe('Version name `su -v` prints before `:MAGISKSU`/`:KernelSU` (default Magisk 27.0)'),
  versionCode: z.int().min(0).optional().describe('`su -V` (default for Magisk: 27.0 → 27000)'),
  grant: z
    .enum(['allow', 'deny', 'prompt-timeout'])
    .optional()
    .describe(
      'How the shell uid is answered: allow (default), deny (policy), prompt-timeout (nobody answers the ' +
        'on-device prompt: denied after promptTimeoutMs). deny/prompt-timeout: Magisk only',
    ),
  promptTimeoutMs: z
    .int()
    .min(0)
    .optional()
    .describe("How long the prompt waits before denying (Magisk's su_request_timeout, default 10000)"),
  mountNamespaceMode: z
    .enum(['global', 'inherit', 'isolated'])
    .optional()
    .describe(
      "Magisk's mount namespace mode (DB mnt_ns 0/1/2); set: `magisk --sqlite` shows the row; absent: no " +
        'row, the default inherit',
    ),
}).describe(
  'Root refinements for a rooted profile (needs rooted: true); absent: Magisk 27.0, allow, inherit',
);

/** The `filesystem` object (test-only knobs). */
export const filesystemSchema = obj({
  absent: z
    .array(z.string().regex(/^\/[^\0]*[^/]$/))
    .optional()
    .describe(
      'Test-only: absolute paths removed from the firmware image after it is built (e.g. ' +
        '"/system/etc/security/cacerts", a phone without the target folder); not a real firmware variant',
    ),
}).describe('Test-only changes to the firmware image');

export const profileSchema = obj({
  $schema: z
    .string()
    .optional()
    .describe('This JSON Schema, for editors (e.g. "../schemas/profile.schema.json"); ignored by the loader'),
  extends: z
    .string()
    .min(1)
    .optional()
    .describe(
      'A profile this file overrides: a shipped profile name (profiles/NAME.json) or a .json path relative ' +
        'to this file. Objects merge by key (null deletes a key), arrays and values replace the base’s whole',
    ),
  name: z
    .string()
    .regex(new RegExp(NAME_PATTERN))
    .describe('Lower-case name; for a file in profiles/, its file name without .json'),
  description: z.string().describe('One line: phone, firmware, what it plays'),
  rooted: z.boolean().describe('`su` exists and works only when true'),
  props: z
    .object(propsShape)
    .catchall(z.string())
    .describe('System properties at boot (ro.*, persist.*, sys.boot_completed …)'),
  settings: obj({
    global: strMap('settings global'),
    secure: strMap('settings secure (android_id, if given: 16 lower-case hex digits)'),
    system: strMap('settings system'),
  }).describe('Initial settings provider tables'),
  packages: z.array(packageSchema).describe('Installed packages'),
  browser: z
    .string()
    .describe('Package that handles http(s) VIEW intents; listed in packages, with a launcher'),
  bootProcesses: z
    .array(z.string())
    .optional()
    .describe('App processes running after boot besides the native daemons'),
  display: obj({
    width: z.int().min(1).describe('pixels'),
    height: z.int().min(1).describe('pixels'),
    density: z.int().min(1).describe('dpi'),
  }).describe('wm size / wm density'),
  systemCaDir: z
    .string()
    .regex(/^\//)
    .describe(
      'Where apps read system CAs: /system/etc/security/cacerts, or the conscrypt APEX path on Android 14+',
    ),
  sources: z.array(sourceSchema).min(1).describe('Provenance of the values'),
  telemetry: telemetrySchema.optional(),
  // Root refinements (android-realities.md §2; src/virtual/commands/su.ts): MagiskSU su.cpp / db.rs,
  // KernelSU ksud su.rs, AOSP system/extras su. Absent with `rooted: true`: Magisk 27.0, allow, Inherit.
  root: rootSchema.optional(),
  // Test-only: firmware paths removed from the image, e.g. a phone without the system CA folder.
  filesystem: filesystemSchema.optional(),
  // A test knob, not firmware: no public source says which first-run dialogs MIUI apps show
  // (android-realities.md §8), so the dialog must say it is synthetic.
  firstLaunchDialog: obj({
    package: z.string().regex(new RegExp(PACKAGE_PATTERN)).describe('The app whose first start shows it'),
    title: z.string().min(1).describe('android:id/alertTitle'),
    message: z.string().describe('android:id/message'),
    buttons: z
      .array(z.string().min(1))
      .min(1)
      .max(3)
      .describe('Button labels: positive (android:id/button1), negative (button2), neutral (button3)'),
    synthetic: z.literal(true).describe('Always true: the dialog is the virtual lab’s invention'),
  })
    .optional()
    .describe(
      'A modal AlertDialog-like window over the app on its first start on a fresh phone, after an install ' +
        'or `pm clear`; any button dismisses it (virtual lab only: tests the interstitial rules)',
    ),
  // What the phone looks like to `phonehome doctor` at boot (issue 11 §3). Absent fields keep today's
  // behaviour: screen on, no keyguard, no app restricted. MIUI's developer switches are properties
  // (persist.security.adbinput / adbinstall, persist.sys.miui_optimization), set them in `props`.
  state: obj({
    screenOn: z
      .boolean()
      .optional()
      .describe(
        'Screen on at boot (default true): `dumpsys power` mWakefulness=Awake|Asleep, Display Power ' +
          'state=ON|OFF (AOSP PowerManagerService.dumpInternal)',
      ),
    keyguard: z
      .boolean()
      .optional()
      .describe(
        'Keyguard (lock screen, no PIN) showing at boot (default false): `dumpsys window policy` ' +
          'KeyguardServiceDelegate showing=true and KeyguardStateMonitor mIsShowing=true (AOSP ' +
          'policy/keyguard/KeyguardServiceDelegate.java and KeyguardStateMonitor.java dump()); ' +
          '`wm dismiss-keyguard` or unlocking clears it',
      ),
    backgroundRestricted: z
      .array(z.string().regex(new RegExp(PACKAGE_PATTERN)))
      .optional()
      .describe(
        'Packages whose RUN_ANY_IN_BACKGROUND app op is "ignore" (Android\'s "Background restriction"; ' +
          'AOSP AppOpsManager OP_RUN_ANY_IN_BACKGROUND): `cmd appops get PKG RUN_ANY_IN_BACKGROUND`',
      ),
  })
    .optional()
    .describe(
      'Device state at boot that phonehome doctor checks (absent: screen on, unlocked, nothing restricted)',
    ),
  // A test knob, not firmware (issue 11 §1): app updates do rename view ids, which is what locator
  // overrides are for; this lets a test profile play such a version. Applied where the virtual
  // browser names its views (src/virtual/apps/browser/model.ts id()).
  ui: obj({
    renameIds: z
      .record(z.string().regex(/^[a-z_][a-z0-9_]*$/), z.string().regex(/^[a-z_][a-z0-9_]*$/))
      .optional()
      .describe(
        'Browser view ids renamed, by the name after ":id/": {"url": "url_field"} gives {browser}:id/url_field ' +
          'where the shipped browser has {browser}:id/url (virtual lab only: tests locator overrides)',
      ),
  })
    .optional()
    .describe('UI test knobs of the virtual apps (virtual lab only)'),
}).meta({
  id: 'Profile',
  title: 'phonehome firmware profile',
  description: 'A virtual phone’s firmware: profiles/*.json (profiles/README.md)',
});

/** The field names of a profile object (without `$comment`), which the loader lists for an unknown field. */
export function fieldsOf(schema: z.ZodObject): string[] {
  return Object.keys(schema.shape).filter((k) => k !== '$comment');
}

type JsonObject = Record<string, unknown>;

/**
 * A copy of an object schema with every object reachable through `properties` made optional (what an
 * extending file may leave out); array items, records and $refs are left complete.
 */
function relaxed(schema: JsonObject): JsonObject {
  const out: JsonObject = { ...schema };
  delete out.required;
  if (out.properties && typeof out.properties === 'object') {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as JsonObject).map(([k, v]) => [
        k,
        v && typeof v === 'object' && (v as JsonObject).type === 'object' ? relaxed(v as JsonObject) : v,
      ]),
    );
  }
  return out;
}

/**
 * profiles/*.json's JSON Schema (draft 2020-12): a file with `extends` is checked against
 * ProfileOverride (every object field optional), any other against Profile.
 */
export function profileJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(profileSchema, { io: 'input', target: 'draft-2020-12' }) as JsonObject;
  const { $schema, $defs, ...root } = generated;
  const defs = { ...($defs as JsonObject) };
  const full = (defs.Profile as JsonObject | undefined) ?? root;
  delete defs.Profile;
  const { title, description, ...profile } = full;
  const override = relaxed(profile);
  override.required = ['extends', 'name'];
  override.description = 'A file that extends another profile: only name and extends are required';
  return {
    $schema,
    title,
    description,
    if: { required: ['extends'] },
    then: { $ref: '#/$defs/ProfileOverride' },
    else: { $ref: '#/$defs/Profile' },
    $defs: {
      Profile: { description: 'A complete profile', ...profile },
      ProfileOverride: override,
      ...defs,
    },
  };
}
