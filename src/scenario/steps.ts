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
import type { Locator } from '../ui/driver.ts';
import { StepBroken } from './errors.ts';
import type { StepRuntime, StepTimings } from './runtime.ts';
import {
  LINK_TYPES,
  SEVERITIES,
  STEP_NAMES,
  TOGGLE_NAMES,
  type Step,
  type StepName,
  type ToggleName,
} from './types.ts';

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

const uploadShape = {
  to: enumOf(UPLOAD_TARGETS)
    .optional()
    .describe(
      'Where it went: a tracker (catalogue id in value), a vendor or a host pattern; omitted: any third party (every host but those the scenario opened or searched with)',
    ),
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
};

const CONTROL_ID = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const controlRef = text('control')
  .regex(CONTROL_ID, 'a control name is letters, digits, _ . and -')
  .describe(
    'The positive control that proves this channel: the id of an assertUpload earlier in this scenario, or in another scenario of the suite run on the same phone before this one',
  );

function uploadRules(
  a: { to?: string; value?: string; containing: string; identifier?: string },
  ctx: z.RefinementCtx,
): void {
  if ((a.to === 'vendor' || a.to === 'host') && a.value === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['value'],
      message: `value is required with to: ${a.to} (the ${a.to === 'vendor' ? 'vendor name' : 'host pattern'})`,
    });
  }
  if (a.to === undefined && a.value !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['value'], message: 'value needs to: tracker, vendor or host' });
  }
  if (a.to === undefined && a.containing === 'any') {
    ctx.addIssue({
      code: 'custom',
      path: ['to'],
      message:
        'containing: any needs a destination (to: tracker, vendor or host): every third party receives something',
    });
  }
  if (a.identifier !== undefined && a.containing !== 'identifier') {
    ctx.addIssue({
      code: 'custom',
      path: ['identifier'],
      message: 'identifier is only allowed with containing: identifier',
    });
  }
}

const assertNoUploadArgs = z
  .strictObject({ ...uploadShape, control: controlRef.optional() })
  .superRefine(uploadRules);

const assertUploadArgs = z
  .strictObject({
    ...uploadShape,
    id: text('id')
      .regex(CONTROL_ID, 'an id is letters, digits, _ . and -')
      .optional()
      .describe('Names this check as a positive control, for `control:` of negative checks'),
  })
  .superRefine(uploadRules);

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

/**
 * One row of the step table: everything about a step in one place. The parser reads `args`, `keys`,
 * `shorthand` and `example`; the JSON Schema `args`, `doc` and `example`; the executor `run`,
 * `extraMs` and `describe`.
 */
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
  /**
   * Runs the step (arguments validated and `${…}` resolved). Flow steps run `step.children` with
   * `vars`, the `${NAME}` values in force.
   */
  run(
    rt: StepRuntime,
    args: Record<string, unknown>,
    step: Step,
    vars: Record<string, string>,
  ): Promise<void>;
  /** Time this step may take beyond the common step limit (its own wait). Default 0. */
  extraMs?(args: Record<string, unknown>, t: StepTimings): number;
  /** The report name without a label. Default: the step name and its argument values. */
  describe?(args: Record<string, unknown>): string;
}

/** `on`/`off` (YAML 1.2 reads them as strings) or true/false. */
const onOff = (value: string | number | boolean): unknown =>
  value === 'on' ? true : value === 'off' ? false : value;

type Row = Omit<StepSpec, 'name' | 'args'> & { args: z.ZodObject | z.ZodType<Record<string, unknown>> };

const s = (key: string, input: z.ZodType, doc: string): Shorthand => ({
  input,
  expand: (value) => ({ [key]: value }),
  doc,
});

const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
const onOffWord = (v: unknown): string => (v === true ? 'on' : v === false ? 'off' : str(v));
const arg = (a: Record<string, unknown>, k: string): string => String(a[k]);

/** Search engines' hosts: a search sends the query to them, so they are not third parties for it. */
export const SEARCH_ENGINE_HOSTS: Record<(typeof SEARCH_ENGINES)[number], readonly string[]> = {
  google: ['*.google.com'],
  duckduckgo: ['*.duckduckgo.com'],
  bing: ['*.bing.com'],
};

const uploadDescribe =
  (name: string) =>
  (a: Record<string, unknown>): string =>
    `${name} to ${a.to !== undefined ? str(a.to) : 'any third party'}${a.value !== undefined ? ` ${str(a.value)}` : ''} containing ${str(a.containing)}${a.identifier !== undefined ? ` ${str(a.identifier)}` : ''}${a.control !== undefined ? ` (control ${str(a.control)})` : ''}${a.id !== undefined ? ` (control ${str(a.id)})` : ''}`;

const assertionExtra = (_: Record<string, unknown>, t: StepTimings): number =>
  t.settleTimeoutMs * 3 + t.probeTimeoutMs + t.maxTrailingMs + t.stepTimeoutMs;

const ROWS: { readonly [K in StepName]: Row } = {
  launchApp: {
    kind: 'action',
    doc: 'Start an app from scratch: `browser` (Mi Browser, whichever package the phone has), `settings`, or a package name.',
    args: z.strictObject({
      app: text('app')
        .refine((v) => hasRef(v) || (APP_NAMES as readonly string[]).includes(v) || PACKAGE_RE.test(v), {
          message: `expected ${APP_NAMES.join(' or ')} or a package name like com.mi.globalbrowser`,
        })
        .describe('browser, settings, or a package name'),
    }),
    keys: ['app'],
    example: '- launchApp: browser',
    shorthand: s('app', z.string(), 'launchApp: browser|settings|PACKAGE'),
    run: (rt, a) => rt.launchApp(arg(a, 'app')),
  },
  openUrl: {
    kind: 'action',
    doc: 'Open a URL in the browser (in the current tab, incognito or not).',
    args: z.strictObject({
      url: text('url')
        .refine((v) => /^https?:\/\/\S+$/.test(v) || (hasRef(v) && /^(https?:\/\/|\$\{)/.test(v)), {
          message: 'expected an http:// or https:// URL',
        })
        .describe('http(s) URL; may hold ${canary.NAME}'),
    }),
    keys: ['url'],
    example: '- openUrl: https://news.example.com/story/${canary.url}',
    shorthand: s('url', z.string(), 'openUrl: URL'),
    run: async (rt, a) => {
      try {
        rt.address(new URL(arg(a, 'url')).hostname);
      } catch {
        // the browser reports a bad URL itself
      }
      const b = await rt.browserInFront();
      await b.openUrl(arg(a, 'url'));
      await rt.pageLoaded(b);
    },
  },
  search: {
    kind: 'action',
    doc: "Search from the browser's address bar, with the given engine or the browser's default.",
    args: z.strictObject({
      query: text('query').describe('What to type; may hold ${canary.NAME}'),
      engine: enumOf(SEARCH_ENGINES).optional().describe("Search engine (default: the browser's)"),
    }),
    keys: ['query', 'engine'],
    example: '- search:\n    query: weather ${canary.search}\n    engine: duckduckgo',
    shorthand: s('query', z.string(), 'search: QUERY'),
    run: async (rt, a) => {
      // With the browser's default engine any of them may receive the query.
      const engines = a.engine === undefined ? SEARCH_ENGINES : [a.engine as (typeof SEARCH_ENGINES)[number]];
      for (const e of engines) for (const h of SEARCH_ENGINE_HOSTS[e]) rt.address(h);
      const b = await rt.browserInFront();
      await b.search(arg(a, 'query'), a.engine === undefined ? {} : { engine: arg(a, 'engine') });
      await rt.pageLoaded(b);
    },
    describe: (a) => `search ${str(a.query)}${a.engine !== undefined ? ` (${str(a.engine)})` : ''}`,
  },
  incognito: {
    kind: 'action',
    doc: 'Turn Mi Browser incognito mode on or off.',
    args: z.strictObject({ on: bool('on').describe('true: incognito on') }),
    keys: ['on'],
    example: '- incognito: on',
    shorthand: {
      input: z.union([z.enum(['on', 'off']), z.boolean()]),
      expand: (value) => ({ on: onOff(value) }),
      doc: 'incognito: on|off',
    },
    run: async (rt, a) => {
      await (await rt.browserInFront()).setIncognito(a.on === true);
    },
    describe: (a) => `incognito ${onOffWord(a.on)}`,
  },
  setToggle: {
    kind: 'action',
    doc: 'Set a privacy switch (through its settings page) and check that it took.',
    args: toggleArgs,
    keys: ['name', 'on'],
    example: '- setToggle:\n    name: browser.incognitoDataCollection\n    on: false',
    run: (rt, a) => rt.setToggle(a.name as ToggleName, a.on === true),
    describe: (a) => `setToggle ${str(a.name)} ${onOffWord(a.on)}`,
  },
  tapOn: {
    kind: 'action',
    doc: 'Tap the element with this text (or resource id, or content description); index picks among several matches.',
    args: z
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
    keys: ['text', 'id', 'desc', 'index'],
    example: '- tapOn: Tools',
    shorthand: s('text', z.string(), 'tapOn: TEXT'),
    run: async (rt, a) => {
      if (a.index !== undefined && Number(a.index) > 0)
        throw new StepBroken(
          `tapOn index ${Number(a.index)}: the UI driver finds the first match only; make the target unique (id, desc or exact text)`,
        );
      const loc: Locator = {
        ...(a.text !== undefined ? { text: arg(a, 'text') } : {}),
        ...(a.id !== undefined ? { id: arg(a, 'id') } : {}),
        ...(a.desc !== undefined ? { desc: arg(a, 'desc') } : {}),
      };
      await rt.ui.tap(await rt.ui.find(loc));
    },
    describe: (a) =>
      `tapOn ${[a.text, a.id, a.desc]
        .filter((v) => v !== undefined)
        .map(str)
        .join(' ')}${a.index !== undefined ? ` #${str(a.index)}` : ''}`,
  },
  inputText: {
    kind: 'action',
    doc: 'Type text into the focused field.',
    args: z.strictObject({ text: text('text').describe('What to type; may hold ${canary.NAME}') }),
    keys: ['text'],
    example: '- inputText: ${canary.search}',
    shorthand: s('text', z.string(), 'inputText: TEXT'),
    run: async (rt, a) => {
      // The driver seam has no "focused" criterion: the first edit field on screen takes the text.
      const field = await rt.ui.find({ class: 'android.widget.EditText' });
      await rt.ui.type(field, arg(a, 'text'));
    },
  },
  swipe: {
    kind: 'action',
    doc: 'Swipe across the screen (on the home screen: to the next page).',
    args: z.strictObject({ direction: enumOf(DIRECTIONS).describe('left, right, up or down') }),
    keys: ['direction'],
    example: '- swipe: left',
    shorthand: s('direction', z.enum(DIRECTIONS), 'swipe: left|right|up|down'),
    run: (rt, a) => rt.swipe(a.direction as (typeof DIRECTIONS)[number]),
  },
  openFolder: {
    kind: 'action',
    doc: 'Open a folder on the home screen by its name (and leave it open).',
    args: z.strictObject({ name: text('name').describe("The folder's name as the home screen shows it") }),
    keys: ['name'],
    example: '- openFolder: Tools',
    shorthand: s('name', z.string(), 'openFolder: NAME'),
    run: (rt, a) => rt.openFolder(arg(a, 'name')),
  },
  statusBar: {
    kind: 'action',
    doc: 'Pull the notification shade down, or put it back up.',
    args: z.strictObject({
      action: enumOf(STATUS_BAR_ACTIONS).describe('down: pull it down, up: put it back'),
    }),
    keys: ['action'],
    example: '- statusBar: down',
    shorthand: s('action', z.enum(STATUS_BAR_ACTIONS), 'statusBar: down|up'),
    run: async (rt, a) => {
      rt.use('com.android.systemui');
      if (a.action === 'down') await rt.statusBar.pullDown();
      else await rt.statusBar.putBack();
    },
  },
  openSettings: {
    kind: 'action',
    doc: `Open a Settings page: ${SETTINGS_PAGES.join(', ')}.`,
    args: z.strictObject({
      page: enumOf(SETTINGS_PAGES).describe('The page (settingsPages in src/ui/pages/locators.json)'),
    }),
    keys: ['page'],
    example: '- openSettings: privacy',
    shorthand: s('page', z.enum(SETTINGS_PAGES), `openSettings: ${SETTINGS_PAGES.join('|')}`),
    run: async (rt, a) => {
      for (const p of rt.locators.apps.settings?.packages ?? []) rt.use(p);
      await rt.settings.openPage(arg(a, 'page'));
    },
  },
  wait: {
    kind: 'action',
    doc: 'Wait this many milliseconds.',
    args: z.strictObject({
      ms: z
        .number({ error: 'expected a number of milliseconds' })
        .int('expected a whole number of milliseconds')
        .min(1, 'ms must be at least 1')
        .max(600_000, 'ms must be at most 600000 (10 minutes)')
        .describe('Milliseconds'),
    }),
    keys: ['ms'],
    example: '- wait: 500',
    shorthand: s('ms', z.number(), 'wait: MS'),
    run: (rt, a) => rt.sleep(Number(a.ms)),
    extraMs: (a) => Number(a.ms),
  },
  background: {
    kind: 'action',
    doc: "Send the app to the background (home), so the SDKs' queued events flush, then wait for the uploads to settle.",
    args: z.strictObject({}),
    keys: [],
    example: '- background',
    run: (rt) => rt.background(),
    extraMs: (_, t) => t.settleTimeoutMs,
  },
  startEvidence: {
    kind: 'action',
    doc: 'Assertions after this step look only at what the phone sends from here on (run `background` first, so what the SDKs queued before goes out before it).',
    args: z.strictObject({}),
    keys: [],
    example: '- startEvidence',
    run: (rt) => rt.startEvidence(),
    extraMs: (_, t) => t.settleTimeoutMs,
  },
  assertNoUpload: {
    kind: 'assertion',
    doc:
      'Fail if the phone sent a canary of this run, an identifier, or anything to the destination (default: any third party). ' +
      'Never `passed` without proof: a liveness probe, no traffic around the capture, every upload in scope decoded, the channel given time to flush (relaunching apps whose SDK keeps a persistent queue), and, with `control:`, a positive control that showed the channel.',
    args: assertNoUploadArgs,
    keys: ['to', 'value', 'containing', 'identifier', 'control'],
    example: '- assertNoUpload:\n    containing: canary\n    control: incognito-reported',
    run: (rt, a, step) => rt.negative(step, a),
    extraMs: assertionExtra,
    describe: uploadDescribe('assertNoUpload'),
  },
  assertUpload: {
    kind: 'assertion',
    doc: 'The positive control: fail unless the destination received such an upload. With `id:`, negative checks can name it as their `control:`.',
    args: assertUploadArgs,
    keys: ['to', 'value', 'containing', 'identifier', 'id'],
    example:
      '- assertUpload:\n    to: tracker\n    value: miui-analytics\n    containing: any\n    id: uep-reported',
    run: (rt, a, step) => rt.positive(step, a),
    extraMs: assertionExtra,
    describe: uploadDescribe('assertUpload'),
  },
  assertNoRequest: {
    kind: 'assertion',
    doc: 'Fail if the phone sent any request to this host (`*.suffix`: the suffix and every name below it; `*` alone: one label). Never `passed` without proof, as assertNoUpload.',
    args: z.strictObject({
      host: text('host')
        .refine((v) => hasRef(v) || HOST_RE.test(v), {
          message: 'expected a host name like tracking.miui.com or *.miui.com',
        })
        .describe('Host or pattern, e.g. *.miui.com'),
      control: controlRef.optional(),
    }),
    keys: ['host', 'control'],
    example: '- assertNoRequest: mqs-log.miui.com',
    shorthand: s('host', z.string(), 'assertNoRequest: HOST'),
    run: (rt, a, step) => rt.negative(step, a),
    extraMs: assertionExtra,
  },
  assertToggle: {
    kind: 'assertion',
    doc: 'Fail unless the privacy switch is in this state (as its settings page shows it).',
    args: toggleArgs,
    keys: ['name', 'on'],
    example: '- assertToggle:\n    name: miui.diagnosticData\n    on: false',
    run: (rt, a) => rt.assertToggle(a.name as ToggleName, a.on === true),
    describe: (a) => `assertToggle ${str(a.name)} ${onOffWord(a.on)}`,
  },
  runFlow: {
    kind: 'flow',
    doc: "Run another file's steps here (path relative to this file), with extra env values.",
    args: z.strictObject({
      file: text('file').describe('Path of the sub-flow, relative to this file'),
      env: z
        .record(z.string(), z.union([z.string(), z.number(), z.boolean()]), {
          error: 'expected a map of NAME: value',
        })
        .optional()
        .describe('Values for ${NAME} in the sub-flow'),
    }),
    keys: ['file', 'env'],
    example: '- runFlow: _open-privacy.yaml',
    shorthand: s('file', z.string(), 'runFlow: FILE'),
    run: (rt, a, step, vars) =>
      rt.list(step.children ?? [], { ...vars, ...((a.env ?? {}) as Record<string, string>) }),
    describe: (a) => `runFlow ${str(a.file)}`,
  },
  repeat: {
    kind: 'flow',
    doc: 'Run the commands this many times.',
    args: z.strictObject({
      times: z
        .number({ error: 'expected a number of times' })
        .int('expected a whole number of times')
        .min(1, 'times must be at least 1')
        .max(1000, 'times must be at most 1000')
        .describe('How many times'),
      commands: COMMANDS.describe('The steps to repeat'),
    }),
    keys: ['times', 'commands'],
    example: '- repeat:\n    times: 3\n    commands:\n      - swipe: left',
    run: async (rt, a, step, vars) => {
      const times = Number(a.times);
      for (let i = 1; i <= times; i++)
        await rt.reportStep(`${i}/${times}`, () => rt.list(step.children ?? [], vars));
    },
    describe: (a) => `repeat ${str(a.times)} times`,
  },
  retry: {
    kind: 'flow',
    doc: 'Run the commands; if one fails, run them all again, up to maxRetries more times.',
    args: z.strictObject({
      maxRetries: z
        .number({ error: 'expected a number of retries' })
        .int('expected a whole number of retries')
        .min(0, 'maxRetries must be 0 or more')
        .max(10, 'maxRetries must be at most 10')
        .describe('Extra attempts after the first'),
      commands: COMMANDS.describe('The steps to retry together'),
    }),
    keys: ['maxRetries', 'commands'],
    example: '- retry:\n    maxRetries: 2\n    commands:\n      - tapOn: Privacy',
    run: async (rt, a, step, vars) => {
      const max = Number(a.maxRetries);
      for (let attempt = 0; ; attempt++) {
        try {
          await rt.reportStep(`attempt ${attempt + 1}/${max + 1}`, () => rt.list(step.children ?? [], vars));
          if (attempt > 0) rt.log(`${step.path}: passed on attempt ${attempt + 1}`);
          return;
        } catch (err) {
          if (attempt >= max || !rt.retryable(err)) throw err;
          rt.log(`${step.path}: attempt ${attempt + 1} did not pass, retrying`);
        }
      }
    },
    describe: (a) => `retry up to ${str(a.maxRetries)} times`,
  },
};

/** The registry, in STEP_NAMES order. */
export const STEPS: { readonly [K in StepName]: StepSpec } = Object.fromEntries(
  STEP_NAMES.map((name) => [name, { name, ...ROWS[name] }]),
) as { readonly [K in StepName]: StepSpec };

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

/** The keys of a header link: one of issue, tms or url, and an optional name. */
export const LINK_KEYS = [...LINK_TYPES, 'url', 'name'] as const;

const linkId = (what: string) =>
  z
    .union([z.string().min(1, `the ${what} id is empty`), z.number().int()], {
      error: `expected an id for ${what}, e.g. PRIV-12`,
    })
    .transform(String);

/** `{issue: ID}`, `{tms: ID}` or `{url: https://…}`, each with an optional `name`. */
const linkSchema = z
  .strictObject({
    issue: linkId('issue')
      .optional()
      .describe('An issue id, expanded with report.links.issue of phonehome.json'),
    tms: linkId('tms')
      .optional()
      .describe('A test-management id, expanded with report.links.tms of phonehome.json'),
    url: z
      .string({ error: 'expected an http(s) URL' })
      .refine(isHttpUrl, 'expected an absolute http:// or https:// URL')
      .optional()
      .describe('A plain link: its absolute http(s) URL'),
    name: text('name').optional().describe('The link text (default: the id or the URL)'),
  })
  .superRefine((l, ctx) => {
    const kinds = (['issue', 'tms', 'url'] as const).filter((k) => l[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          kinds.length === 0
            ? 'a link needs one of issue, tms or url'
            : `a link has one of issue, tms or url, not ${kinds.join(' and ')}`,
      });
    }
  })
  .describe('A link: {issue: ID}, {tms: ID} or {url: https://…, name: …}');

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
  } catch {
    return false;
  }
}

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
  // Allure's behaviour labels, severity, owner and links (issue 12 §2).
  epic: listOf(text('epic'), 'an epic').optional().describe("Allure's epic label(s) (Behaviors tab)"),
  feature: listOf(text('feature'), 'a feature').optional().describe("Allure's feature label(s)"),
  story: listOf(text('story'), 'a story').optional().describe("Allure's story label(s)"),
  severity: z
    .enum(SEVERITIES)
    .optional()
    .describe("Allure's severity: blocker, critical, normal (Allure's default), minor or trivial"),
  owner: text('owner').optional().describe('Who to ask about this scenario (Allure owner label)'),
  links: z
    .array(linkSchema, { error: 'expected a list of links, e.g. [{issue: PRIV-12}, {url: https://…}]' })
    .optional()
    .describe(
      'Links shown in the report: {issue: ID} and {tms: ID} (expanded with the URL templates of phonehome.json report.links), or {url: https://…, name: …}',
    ),
});
export const HEADER_KEYS = Object.keys(headerSchema.shape);

/** A sub-flow's optional header: only its name, description and env defaults. */
export const subflowHeaderSchema = headerSchema.pick({ name: true, description: true, env: true });
export const SUBFLOW_HEADER_KEYS = Object.keys(subflowHeaderSchema.shape);

/** A step's report name: its label, else the row's `describe`, else the step and its argument values. */
export function describeStep(step: {
  name: StepName;
  args: Record<string, unknown>;
  label?: string;
}): string {
  if (step.label) return step.label;
  const spec = STEPS[step.name];
  if (spec.describe) return spec.describe(step.args);
  const values = Object.entries(step.args)
    .filter(([k]) => k !== 'env' && k !== 'commands')
    .map(([, v]) => str(v));
  return [step.name, ...values].join(' ');
}
