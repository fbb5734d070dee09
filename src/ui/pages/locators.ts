/**
 * The page objects' locators as data: locators.json, validated once at load against its zod schema
 * (locatorDataSchema, the one contract; driver.ts checkLocator for each locator) with errors naming
 * the file, the entry and the field. Every entry carries its `source`. Strings may hold `{name}`
 * placeholders that the page objects fill in (the browser package, a title, a folder name …).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { fieldPath, firstIssue } from '../../util/field-path.ts';
import { checkLocator, type Locator } from '../driver.ts';

export const DEFAULT_LOCATORS_FILE = fileURLToPath(new URL('./locators.json', import.meta.url));

export interface LocatorEntry {
  locators: Locator[];
  source: string;
  /**
   * Per candidate (same index): the override file it came from, undefined for locators.json's own
   * (overrides.ts applyOverrides; absent when no override touched the key).
   */
  origins?: Array<string | undefined>;
}

export interface AppEntry {
  packages: string[];
  activity: string;
  source: string;
}

/** A text in each UI language it is known in (`en` always; others where a source gives them). */
export type LocalizedText = { en: string } & Record<string, string>;

/** An exported action that may open a Settings page, tried in order (android-realities.md §7). */
export interface SettingsAction {
  action: string;
  /** Restricts the resolution to this package (`-p`). */
  package?: string;
  source: string;
}

export interface SettingsPageEntry {
  /** Tried in order: the first the phone resolves is started; none → `path`. */
  actions: SettingsAction[];
  title: LocalizedText;
  /** settingsPages keys: the rows to tap from the main Settings screen, each on the page before. */
  path: string[];
  source: string;
}

/** A `texts` entry as the file has it: the text per language, and its source. */
export type TextEntry = LocalizedText & { source: string };

export interface LocatorData {
  file: string;
  apps: Record<string, AppEntry>;
  searchEngines: Record<string, string>;
  settingsPages: Record<string, SettingsPageEntry>;
  /** Texts the page objects put into `{name}` placeholders, per UI language. */
  texts: Record<string, TextEntry>;
  locators: Record<string, LocatorEntry>;
}

export class LocatorDataError extends Error {
  readonly userFacing = true;
  constructor(file: string, where: string, problem: string) {
    super(`${file}: ${where}: ${problem}`);
    this.name = 'LocatorDataError';
  }
}

type Json = unknown;

/** The language of a locale string (`zh-CN`, `zh_CN`, `en-US` → `zh`, `en`); `en` when empty. */
export function languageOf(locale: string): string {
  const m = /^([a-zA-Z]{2,3})(?:[-_]|$)/.exec(locale.trim());
  return m ? m[1]!.toLowerCase() : 'en';
}

/** A text in `lang`, else in English. */
export function textIn(t: LocalizedText, lang: string): string {
  return t[lang] ?? t.en;
}

/** Every `texts` entry in `lang` (English where `lang` has none), for placeholders. */
export function textsIn(data: LocatorData, lang: string): Record<string, string> {
  return Object.fromEntries(Object.entries(data.texts).map(([k, e]) => [k, textIn(e, lang)]));
}

/** The data's one contract. Messages are worded for people; the file's own keys (`//`) are ignored. */
const nonEmpty = z.string().regex(/\S/, 'must be a non-empty string');
const nonEmptyList = z
  .array(nonEmpty, { error: 'must be a non-empty array' })
  .min(1, 'must be a non-empty array');

/** Fields not in `shape` refused, listed (`unknown fields a, b`), with `hint` when it applies. */
function strict<S extends z.ZodRawShape>(shape: S, hint: (keys: string[]) => string = () => '') {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `unknown fields ${iss.keys.join(', ')}${hint(iss.keys)}` : undefined,
  });
}

/**
 * `{ "en": …, "zh": … }`: language codes (ISO 639-1) to non-empty strings; `en` required. `fields`:
 * further required string fields beside the languages (a text's `source`).
 */
function localized(fields: string[] = []) {
  const key = new RegExp(`^(?:[a-z]{2,3}${fields.map((f) => `|${f}`).join('')})$`);
  return z
    .record(z.string().regex(key, 'must be a language code such as en or zh'), nonEmpty)
    .superRefine((o, ctx) => {
      if (o.en === undefined)
        ctx.addIssue({ code: 'custom', path: ['en'], message: 'is required (the fallback language)' });
      for (const f of fields)
        if (o[f] === undefined)
          ctx.addIssue({ code: 'custom', path: [f], message: 'must be a non-empty string' });
    });
}

const settingsActionSchema = strict({
  action: nonEmpty.regex(/^[A-Za-z][\w.]*$/, {
    error: (iss) => `must be an intent action, got ${String(iss.input)}`,
  }),
  package: nonEmpty
    .regex(/^[A-Za-z]\w*(\.[A-Za-z_]\w*)+$/, {
      error: (iss) => `must be a package name, got ${String(iss.input)}`,
    })
    .optional(),
  source: nonEmpty,
});

const settingsPageSchema = strict(
  {
    actions: z.array(settingsActionSchema, { error: 'must be an array (may be empty)' }),
    title: localized(),
    path: nonEmptyList,
    source: nonEmpty,
  },
  (keys) =>
    keys.includes('component') || keys.includes('extras')
      ? ' (pages open by `actions` or their menu `path`, never by a component and fragment extras: a SubSettings fragment is not exported to the shell)'
      : '',
);

/** A locator: driver.ts checkLocator is its one contract (run on each after the parse, naming it). */
const locatorSchema = z.custom<Locator>();

const locatorDataSchema = z.object({
  apps: z.record(z.string(), z.object({ packages: nonEmptyList, activity: nonEmpty, source: nonEmpty })),
  searchEngines: z.record(z.string(), nonEmpty),
  texts: z
    .record(z.string().regex(/^\w+$/, 'the name must be letters, digits or _'), localized(['source']))
    .optional(),
  settingsPages: z.record(z.string(), settingsPageSchema),
  locators: z.record(
    z.string(),
    strict({
      locators: z
        .array(locatorSchema, { error: 'must be a non-empty array of locators' })
        .min(1, 'must be a non-empty array of locators'),
      source: nonEmpty,
    }),
  ),
});

/** Validates parsed JSON as locator data. */
export function validateLocatorData(data: Json, file: string): LocatorData {
  const r = locatorDataSchema.safeParse(data, {
    // What the schema does not word itself: a missing or wrong object or string.
    error: (iss) =>
      iss.code === 'invalid_type' && (iss.expected === 'object' || iss.expected === 'record')
        ? 'must be an object'
        : iss.code === 'invalid_type' && iss.expected === 'string'
          ? 'must be a non-empty string'
          : undefined,
  });
  if (!r.success) {
    const issue = firstIssue(r.error.issues);
    // A record's key: its own check words it.
    const message = issue.code === 'invalid_key' ? issue.issues[0]!.message : issue.message;
    throw new LocatorDataError(file, fieldPath(issue.path) || 'the file', message);
  }
  const { apps, searchEngines, texts = {}, settingsPages, locators } = r.data;
  for (const [k, page] of Object.entries(settingsPages)) {
    const where = `settingsPages.${k}`;
    page.path.forEach((p, i) => {
      if (!(p in settingsPages))
        throw new LocatorDataError(
          file,
          `${where}.path[${i}]`,
          `must name a settingsPages entry (${Object.keys(settingsPages).join(', ')}), got ${p}`,
        );
    });
    if (page.path[page.path.length - 1] !== k)
      throw new LocatorDataError(file, `${where}.path`, `must end with the page itself (${k})`);
  }
  for (const [k, e] of Object.entries(locators)) {
    e.locators.forEach((l, i) => {
      const where = `locators.${k}.locators[${i}]`;
      try {
        checkLocator(l, where);
      } catch (err) {
        throw new LocatorDataError(file, where, (err as Error).message);
      }
    });
  }
  return {
    file,
    apps,
    searchEngines,
    settingsPages: settingsPages as Record<string, SettingsPageEntry>,
    texts: texts as Record<string, TextEntry>,
    locators,
  };
}

/** A JSON data file of the page objects (locators, interstitials), parsed; an error names the file. */
export function readDataFile(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LocatorDataError(path, 'the file', `cannot be read as JSON (${(err as Error).message})`);
  }
}

let cached: LocatorData | undefined;

/** The shipped locators.json (read once), or a named file (read every call). */
export function loadLocators(file?: string): LocatorData {
  if (file === undefined && cached) return cached;
  const path = file ?? DEFAULT_LOCATORS_FILE;
  const out = validateLocatorData(readDataFile(path), path);
  if (file === undefined) cached = out;
  return out;
}

function fill(s: string, vars: Record<string, string>, file: string, key: string): string {
  return s.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new LocatorDataError(file, `locators.${key}`, `needs a value for {${name}}`);
    return v;
  });
}

function fillLocator(l: Locator, vars: Record<string, string>, file: string, key: string): Locator {
  const out: Locator = {};
  for (const k of ['id', 'text', 'textContains', 'desc', 'class'] as const) {
    const v = l[k];
    if (v !== undefined) out[k] = fill(v, vars, file, key);
  }
  if (l.within) out.within = fillLocator(l.within, vars, file, key);
  return out;
}

/** The fallbacks of entry `key`, placeholders filled from `vars`. */
export function targetOf(data: LocatorData, key: string, vars: Record<string, string> = {}): Locator[] {
  const e = data.locators[key];
  if (!e) throw new LocatorDataError(data.file, `locators.${key}`, 'no such entry');
  return e.locators.map((l) => fillLocator(l, vars, data.file, key));
}

/** Every locator of `target` restricted to nodes inside a node matched by one of `container`. */
export function inside(target: readonly Locator[], container: readonly Locator[]): Locator[] {
  const nest = (l: Locator, c: Locator): Locator =>
    l.within ? { ...l, within: nest(l.within, c) } : { ...l, within: c };
  return container.flatMap((c) => target.map((l) => nest(l, c)));
}
