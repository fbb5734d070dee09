/**
 * The step registry (issue 6 §1): one table row per step of the scenario language, in the manner of
 * uiautomator2's execute-method map (STYLE.md D3). Each row gives
 *
 * - `args`: the zod schema of the step's arguments (strict: unknown keys are errors);
 * - `shorthand`: how a scalar value expands (`openUrl: X` → `{url: X}`), with the scalar's own zod
 *   schema for the JSON Schema; steps without one need the map form;
 * - `doc` (one line) and `example` (YAML, as it sits in a steps list).
 *
 * A step with no required arguments (`background`) may also be written bare. Every map step also takes
 * the per-step options `label` (its name in reports) and `optional` (a failure is reported and the
 * scenario goes on); parse.ts strips those before validating `args`.
 *
 * String arguments may hold `${NAME}`, `${env.NAME}` and `${canary.NAME}` references (parse.ts checks
 * them; the executor resolves them). Enum arguments (engine, direction, toggle names…) may not.
 */
import { z } from 'zod';
import { STEP_NAMES, TOGGLE_NAMES, type StepName } from './types.ts';

/** Settings pages `openSettings` knows: the `settingsPages` of src/ui/pages/locators.json (a test keeps them equal). */
export const SETTINGS_PAGES = ['privacy', 'ad_services', 'passwords_security', 'about'] as const;
export type SettingsPage = (typeof SETTINGS_PAGES)[number];

/** Search engines `search` knows: the `searchEngines` of src/ui/pages/locators.json. */
export const SEARCH_ENGINES = ['google', 'duckduckgo', 'bing'] as const;

/** Apps `launchApp` knows by name; anything else must be a package name. */
export const APP_NAMES = ['browser', 'settings'] as const;

/** Identifiers `assertNoUpload … containing: identifier` can narrow to (src/detect/identifiers.ts). */
export const IDENTIFIER_NAMES = ['android_id', 'serial', 'ad_id', 'model', 'mi_account'] as const;

export const UPLOAD_TARGETS = ['tracker', 'vendor', 'host'] as const;
export const UPLOAD_CONTENTS = ['canary', 'identifier', 'any'] as const;
export const DIRECTIONS = ['left', 'right', 'up', 'down'] as const;
export const STATUS_BAR_ACTIONS = ['down', 'up'] as const;

/** Per-step options every map step takes besides its arguments. */
export const STEP_OPTIONS = ['label', 'optional'] as const;

const hasRef = (s: string) => s.includes('${');
const PACKAGE_RE = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/;
const HOST_RE = /^[A-Za-z0-9*]([A-Za-z0-9*.-]*[A-Za-z0-9*])?$/;

const text = (what: string) =>
  z.string({ error: `expected a string for ${what}` }).min(1, `${what} is empty`);
const bool = (what: string) => z.boolean({ error: `expected true or false for ${what}` });
const enumOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values);
/** A list of nested steps; parse.ts validates each item as a step (the JSON Schema refers to Step). */
export const COMMANDS = z
  .array(z.unknown(), { error: 'expected a list of steps' })
  .min(1, 'expected at least one step in commands');

const assertUploadArgs = z
  .strictObject({
    to: enumOf(UPLOAD_TARGETS).describe('What received it: a tracker (catalogue id), a vendor or a host'),
    value: text('value')
      .optional()
      .describe(
        'Tracker id (e.g. miui-analytics), vendor name or host pattern; omit with to: tracker for any tracker',
      ),
    containing: enumOf(UPLOAD_CONTENTS).describe(
      "What the upload carries: one of this run's canaries, a phone identifier, or anything",
    ),
    identifier: enumOf(IDENTIFIER_NAMES)
      .optional()
      .describe('With containing: identifier, only this identifier (default: any of them)'),
  })
  .superRefine((a, ctx) => {
    if (a.to !== 'tracker' && a.value === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `value is required with to: ${a.to} (the ${a.to === 'vendor' ? 'vendor name' : 'host pattern'})`,
      });
    }
    if (a.identifier !== undefined && a.containing !== 'identifier') {
      ctx.addIssue({
        code: 'custom',
        path: ['identifier'],
        message: 'identifier is only allowed with containing: identifier',
      });
    }
  });

const toggleArgs = z.strictObject({
  name: enumOf(TOGGLE_NAMES).describe('The privacy switch'),
  on: bool('on').describe('true: on, false: off'),
});

/** The scalar shorthand of a step: the scalar's schema (for the JSON Schema) and its expansion. */
export interface Shorthand {
  /** What the scalar may be, for editors (the expanded args are validated by `args`). */
  input: z.ZodType;
  /** The scalar → the argument map (not validated yet). */
  expand(value: string | number | boolean): Record<string, unknown>;
  /** How the docs write it, e.g. `openUrl: URL`. */
  doc: string;
}

export interface StepSpec {
  name: StepName;
  kind: 'action' | 'assertion' | 'flow';
  doc: string;
  args: z.ZodType<Record<string, unknown>>;
  /** The keys `args` takes (for "unknown key" errors and docs). */
  keys: readonly string[];
  shorthand?: Shorthand;
  /** YAML as it sits in a steps list. */
  example: string;
}

/** `on`/`off` (YAML 1.2 reads them as strings) or true/false. */
const onOff = (value: string | number | boolean): unknown =>
  value === 'on' ? true : value === 'off' ? false : value;

function spec(
  name: StepName,
  kind: StepSpec['kind'],
  doc: string,
  args: z.ZodObject | z.ZodType<Record<string, unknown>>,
  keys: readonly string[],
  example: string,
  shorthand?: Shorthand,
): StepSpec {
  return {
    name,
    kind,
    doc,
    args: args,
    keys,
    example,
    ...(shorthand && { shorthand }),
  };
}

const s = (key: string, input: z.ZodType, doc: string): Shorthand => ({
  input,
  expand: (value) => ({ [key]: value }),
  doc,
});

/** The registry, in STEP_NAMES order. */
export const STEPS: { readonly [K in StepName]: StepSpec } = {
  launchApp: spec(
    'launchApp',
    'action',
    'Start an app from scratch: `browser` (Mi Browser, whichever package the phone has), `settings`, or a package name.',
    z.strictObject({
      app: text('app')
        .refine((v) => hasRef(v) || (APP_NAMES as readonly string[]).includes(v) || PACKAGE_RE.test(v), {
          message: `expected ${APP_NAMES.join(' or ')} or a package name like com.mi.globalbrowser`,
        })
        .describe('browser, settings, or a package name'),
    }),
    ['app'],
    '- launchApp: browser',
    s('app', z.string(), 'launchApp: browser|settings|PACKAGE'),
  ),
  openUrl: spec(
    'openUrl',
    'action',
    'Open a URL in the browser (in the current tab, incognito or not).',
    z.strictObject({
      url: text('url')
        .refine((v) => /^https?:\/\/\S+$/.test(v) || (hasRef(v) && /^(https?:\/\/|\$\{)/.test(v)), {
          message: 'expected an http:// or https:// URL',
        })
        .describe('http(s) URL; may hold ${canary.NAME}'),
    }),
    ['url'],
    '- openUrl: https://news.example.com/story/${canary.url}',
    s('url', z.string(), 'openUrl: URL'),
  ),
  search: spec(
    'search',
    'action',
    "Search from the browser's address bar, with the given engine or the browser's default.",
    z.strictObject({
      query: text('query').describe('What to type; may hold ${canary.NAME}'),
      engine: enumOf(SEARCH_ENGINES).optional().describe("Search engine (default: the browser's)"),
    }),
    ['query', 'engine'],
    '- search:\n    query: weather ${canary.search}\n    engine: duckduckgo',
    s('query', z.string(), 'search: QUERY'),
  ),
  incognito: spec(
    'incognito',
    'action',
    'Turn Mi Browser incognito mode on or off.',
    z.strictObject({ on: bool('on').describe('true: incognito on') }),
    ['on'],
    '- incognito: on',
    {
      input: z.union([z.enum(['on', 'off']), z.boolean()]),
      expand: (value) => ({ on: onOff(value) }),
      doc: 'incognito: on|off',
    },
  ),
  setToggle: spec(
    'setToggle',
    'action',
    'Set a privacy switch (through its settings page) and check that it took.',
    toggleArgs,
    ['name', 'on'],
    '- setToggle:\n    name: browser.incognitoDataCollection\n    on: false',
  ),
  tapOn: spec(
    'tapOn',
    'action',
    'Tap the element with this text (or resource id, or content description); index picks among several matches.',
    z
      .strictObject({
        text: text('text').optional().describe('Visible text'),
        id: text('id').optional().describe('Resource id, e.g. com.android.settings:id/title'),
        desc: text('desc').optional().describe('Content description'),
        index: z
          .number({ error: 'expected a whole number for index' })
          .int('expected a whole number for index')
          .min(0, 'index must be 0 or more')
          .optional()
          .describe('Which match (0 = the first)'),
      })
      .refine((a) => a.text !== undefined || a.id !== undefined || a.desc !== undefined, {
        message: 'give text, id or desc',
      }),
    ['text', 'id', 'desc', 'index'],
    '- tapOn: Tools',
    s('text', z.string(), 'tapOn: TEXT'),
  ),
  inputText: spec(
    'inputText',
    'action',
    'Type text into the focused field.',
    z.strictObject({ text: text('text').describe('What to type; may hold ${canary.NAME}') }),
    ['text'],
    '- inputText: ${canary.search}',
    s('text', z.string(), 'inputText: TEXT'),
  ),
  swipe: spec(
    'swipe',
    'action',
    'Swipe across the screen (on the home screen: to the next page).',
    z.strictObject({ direction: enumOf(DIRECTIONS).describe('left, right, up or down') }),
    ['direction'],
    '- swipe: left',
    s('direction', z.enum(DIRECTIONS), 'swipe: left|right|up|down'),
  ),
  openFolder: spec(
    'openFolder',
    'action',
    'Open a folder on the home screen by its name (and leave it open).',
    z.strictObject({ name: text('name').describe("The folder's name as the home screen shows it") }),
    ['name'],
    '- openFolder: Tools',
    s('name', z.string(), 'openFolder: NAME'),
  ),
  statusBar: spec(
    'statusBar',
    'action',
    'Pull the notification shade down, or put it back up.',
    z.strictObject({ action: enumOf(STATUS_BAR_ACTIONS).describe('down: pull it down, up: put it back') }),
    ['action'],
    '- statusBar: down',
    s('action', z.enum(STATUS_BAR_ACTIONS), 'statusBar: down|up'),
  ),
  openSettings: spec(
    'openSettings',
    'action',
    `Open a Settings page: ${SETTINGS_PAGES.join(', ')}.`,
    z.strictObject({
      page: enumOf(SETTINGS_PAGES).describe('The page (settingsPages in src/ui/pages/locators.json)'),
    }),
    ['page'],
    '- openSettings: privacy',
    s('page', z.enum(SETTINGS_PAGES), `openSettings: ${SETTINGS_PAGES.join('|')}`),
  ),
  wait: spec(
    'wait',
    'action',
    'Wait this many milliseconds.',
    z.strictObject({
      ms: z
        .number({ error: 'expected a number of milliseconds' })
        .int('expected a whole number of milliseconds')
        .min(1, 'ms must be at least 1')
        .max(600_000, 'ms must be at most 600000 (10 minutes)')
        .describe('Milliseconds'),
    }),
    ['ms'],
    '- wait: 500',
    s('ms', z.number(), 'wait: MS'),
  ),
  background: spec(
    'background',
    'action',
    "Send the app to the background (home), so the SDKs' queued events flush, then wait for the uploads to settle.",
    z.strictObject({}),
    [],
    '- background',
  ),
  startEvidence: spec(
    'startEvidence',
    'action',
    'Assertions after this step look only at what the phone sends from here on (run `background` first, so what the SDKs queued before goes out before it).',
    z.strictObject({}),
    [],
    '- startEvidence',
  ),
  assertNoUpload: spec(
    'assertNoUpload',
    'assertion',
    'Fail if, since the scenario started, the given tracker, vendor or host received an upload containing a canary, an identifier or anything. Preceded by a liveness probe: no capture, no pass.',
    assertUploadArgs,
    ['to', 'value', 'containing', 'identifier'],
    '- assertNoUpload:\n    to: tracker\n    containing: canary',
  ),
  assertUpload: spec(
    'assertUpload',
    'assertion',
    'The positive control: fail unless the given tracker, vendor or host received such an upload.',
    assertUploadArgs,
    ['to', 'value', 'containing', 'identifier'],
    '- assertUpload:\n    to: tracker\n    value: miui-analytics\n    containing: any',
  ),
  assertNoRequest: spec(
    'assertNoRequest',
    'assertion',
    'Fail if the phone sent any request to this host (pattern, `*` for a label) since the scenario started.',
    z.strictObject({
      host: text('host')
        .refine((v) => hasRef(v) || HOST_RE.test(v), {
          message: 'expected a host name like tracking.miui.com or *.miui.com',
        })
        .describe('Host or pattern, e.g. *.miui.com'),
    }),
    ['host'],
    '- assertNoRequest: mqs-log.miui.com',
    s('host', z.string(), 'assertNoRequest: HOST'),
  ),
  assertToggle: spec(
    'assertToggle',
    'assertion',
    'Fail unless the privacy switch is in this state (as its settings page shows it).',
    toggleArgs,
    ['name', 'on'],
    '- assertToggle:\n    name: miui.diagnosticData\n    on: false',
  ),
  runFlow: spec(
    'runFlow',
    'flow',
    "Run another file's steps here (path relative to this file), with extra env values.",
    z.strictObject({
      file: text('file').describe('Path of the sub-flow, relative to this file'),
      env: z
        .record(z.string(), z.union([z.string(), z.number(), z.boolean()]), {
          error: 'expected a map of NAME: value',
        })
        .optional()
        .describe('Values for ${NAME} in the sub-flow'),
    }),
    ['file', 'env'],
    '- runFlow: _open-privacy.yaml',
    s('file', z.string(), 'runFlow: FILE'),
  ),
  repeat: spec(
    'repeat',
    'flow',
    'Run the commands this many times.',
    z.strictObject({
      times: z
        .number({ error: 'expected a number of times' })
        .int('expected a whole number of times')
        .min(1, 'times must be at least 1')
        .max(1000, 'times must be at most 1000')
        .describe('How many times'),
      commands: COMMANDS.describe('The steps to repeat'),
    }),
    ['times', 'commands'],
    '- repeat:\n    times: 3\n    commands:\n      - swipe: left',
  ),
  retry: spec(
    'retry',
    'flow',
    'Run the commands; if one fails, run them all again, up to maxRetries more times.',
    z.strictObject({
      maxRetries: z
        .number({ error: 'expected a number of retries' })
        .int('expected a whole number of retries')
        .min(0, 'maxRetries must be 0 or more')
        .max(10, 'maxRetries must be at most 10')
        .describe('Extra attempts after the first'),
      commands: COMMANDS.describe('The steps to retry together'),
    }),
    ['maxRetries', 'commands'],
    '- retry:\n    maxRetries: 2\n    commands:\n      - tapOn: Privacy',
  ),
};

export function isStepName(name: string): name is StepName {
  return (STEP_NAMES as readonly string[]).includes(name);
}

/** Whether the step may be written bare (`- background`): its args accept an empty map. */
export function allowsBare(name: StepName): boolean {
  return STEPS[name].args.safeParse({}).success;
}

// --- the config header ------------------------------------------------------------------------------

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A value or a list of them; a single value becomes a one-item list. */
const listOf = <T extends z.ZodType<string>>(item: T, what: string) =>
  z
    .union([item, z.array(item)], { error: `expected ${what} or a list of them` })
    .transform((v): Array<z.output<T>> => (Array.isArray(v) ? v : [v]));

const envSchema = z
  .record(
    z.string().regex(NAME_RE, 'env names are letters, digits and _, not starting with a digit'),
    z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string (or number) value' }),
    { error: 'expected a map of NAME: value' },
  )
  .describe('Values for ${NAME} references in the steps (literal; no references)');

/** The scenario header (the first YAML document). */
export const headerSchema = z.strictObject({
  name: text('name').optional().describe('Shown in reports (default: the file name)'),
  description: z.string({ error: 'expected a string' }).optional().describe('What the scenario proves'),
  tags: listOf(text('tag'), 'a tag').optional().describe('For `phonehome run --tags`'),
  env: envSchema.optional(),
  canary: listOf(
    z.string({ error: 'expected a canary name' }).regex(NAME_RE, 'canary names are letters, digits and _'),
    'a canary name',
  )
    .optional()
    .describe('Canaries planted per run, referenced as ${canary.NAME}; each run gets fresh values'),
  when: z
    .strictObject({
      profiles: listOf(text('profile'), 'a profile name').optional().describe('Virtual-lab profile names'),
      os: listOf(z.enum(['MIUI', 'HyperOS']), 'MIUI or HyperOS')
        .optional()
        .describe('MIUI, HyperOS'),
      region: listOf(text('region'), 'a region').optional().describe('ROM regions, e.g. global, cn'),
      rooted: bool('rooted').optional().describe('Only rooted (true) or unrooted (false) phones'),
      app: text('app')
        .regex(PACKAGE_RE, 'expected a package name like com.mi.globalbrowser')
        .optional()
        .describe('A package that must be installed'),
    })
    .optional()
    .describe('Run only on phones matching all of these; others report the scenario as skipped'),
  portable: bool('portable')
    .optional()
    .describe('A job may move to another phone with the same fingerprint if its phone is lost'),
});
export const HEADER_KEYS = Object.keys(headerSchema.shape);

/** A sub-flow's optional header: only its name, description and env defaults. */
export const subflowHeaderSchema = headerSchema.pick({ name: true, description: true, env: true });
export const SUBFLOW_HEADER_KEYS = Object.keys(subflowHeaderSchema.shape);

/** A step's report name when it has no label, e.g. `openUrl https://…`, `setToggle miui.diagnosticData off`. */
const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function describeStep(step: {
  name: StepName;
  args: Record<string, unknown>;
  label?: string;
}): string {
  if (step.label) return step.label;
  const a = step.args;
  const onOffWord = (v: unknown) => (v === true ? 'on' : v === false ? 'off' : str(v));
  switch (step.name) {
    case 'incognito':
      return `incognito ${onOffWord(a.on)}`;
    case 'setToggle':
    case 'assertToggle':
      return `${step.name} ${str(a.name)} ${onOffWord(a.on)}`;
    case 'assertNoUpload':
    case 'assertUpload':
      return `${step.name} to ${str(a.to)}${a.value !== undefined ? ` ${str(a.value)}` : ''} containing ${str(a.containing)}${a.identifier !== undefined ? ` ${str(a.identifier)}` : ''}`;
    case 'repeat':
      return `repeat ${str(a.times)} times`;
    case 'retry':
      return `retry up to ${str(a.maxRetries)} times`;
    case 'search':
      return `search ${str(a.query)}${a.engine !== undefined ? ` (${str(a.engine)})` : ''}`;
    case 'tapOn':
      return `tapOn ${[a.text, a.id, a.desc]
        .filter((v) => v !== undefined)
        .map(str)
        .join(' ')}${a.index !== undefined ? ` #${str(a.index)}` : ''}`;
    default: {
      const values = Object.entries(a)
        .filter(([k]) => k !== 'env')
        .map(([, v]) => str(v));
      return [step.name, ...values].join(' ');
    }
  }
}
