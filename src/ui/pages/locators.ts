/**
 * The page objects' locators as data: locators.json, validated once at load with errors naming the
 * file, the entry and the field. Every entry carries its `source`. Strings may hold `{name}`
 * placeholders that the page objects fill in (the browser package, a title, a folder name …).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

function obj(v: Json, file: string, where: string): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new LocatorDataError(file, where, 'must be an object');
  }
  return v as Record<string, Json>;
}

function str(v: Json, file: string, where: string): string {
  if (typeof v !== 'string' || v.trim() === '')
    throw new LocatorDataError(file, where, 'must be a non-empty string');
  return v;
}

function strList(v: Json, file: string, where: string): string[] {
  if (!Array.isArray(v) || v.length === 0)
    throw new LocatorDataError(file, where, 'must be a non-empty array');
  return v.map((x, i) => str(x, file, `${where}[${i}]`));
}

/** `{ "en": …, "zh": … }`: language codes (ISO 639-1) to non-empty strings; `en` required. */
function localized(o: Record<string, Json>, file: string, where: string): LocalizedText {
  const out: Record<string, string> = {};
  for (const [lang, v] of Object.entries(o)) {
    if (!/^[a-z]{2,3}$/.test(lang))
      throw new LocatorDataError(file, `${where}.${lang}`, 'must be a language code such as en or zh');
    out[lang] = str(v, file, `${where}.${lang}`);
  }
  if (out.en === undefined)
    throw new LocatorDataError(file, `${where}.en`, 'is required (the fallback language)');
  return out as LocalizedText;
}

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

/** Validates parsed JSON as locator data. */
export function validateLocatorData(data: Json, file: string): LocatorData {
  const top = obj(data, file, 'the file');
  const apps: Record<string, AppEntry> = {};
  for (const [k, v] of Object.entries(obj(top.apps, file, 'apps'))) {
    const e = obj(v, file, `apps.${k}`);
    apps[k] = {
      packages: strList(e.packages, file, `apps.${k}.packages`),
      activity: str(e.activity, file, `apps.${k}.activity`),
      source: str(e.source, file, `apps.${k}.source`),
    };
  }
  const searchEngines: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(top.searchEngines, file, 'searchEngines'))) {
    searchEngines[k] = str(v, file, `searchEngines.${k}`);
  }
  const texts: Record<string, TextEntry> = {};
  for (const [k, v] of Object.entries(top.texts === undefined ? {} : obj(top.texts, file, 'texts'))) {
    const e = obj(v, file, `texts.${k}`);
    if (!/^\w+$/.test(k))
      throw new LocatorDataError(file, `texts.${k}`, 'the name must be letters, digits or _');
    const { source, ...langs } = e;
    texts[k] = { ...localized(langs, file, `texts.${k}`), source: str(source, file, `texts.${k}.source`) };
  }
  const settingsPages: Record<string, SettingsPageEntry> = {};
  const pages = obj(top.settingsPages, file, 'settingsPages');
  for (const [k, v] of Object.entries(pages)) {
    const e = obj(v, file, `settingsPages.${k}`);
    const where = `settingsPages.${k}`;
    const unknown = Object.keys(e).filter((x) => !['actions', 'title', 'path', 'source'].includes(x));
    if (unknown.length) {
      const old = unknown.includes('component') || unknown.includes('extras');
      throw new LocatorDataError(
        file,
        where,
        `unknown fields ${unknown.join(', ')}${old ? ' (pages open by `actions` or their menu `path`, never by a component and fragment extras: a SubSettings fragment is not exported to the shell)' : ''}`,
      );
    }
    if (!Array.isArray(e.actions))
      throw new LocatorDataError(file, `${where}.actions`, 'must be an array (may be empty)');
    const actions = e.actions.map((a, i): SettingsAction => {
      const o = obj(a, file, `${where}.actions[${i}]`);
      const extra = Object.keys(o).filter((x) => !['action', 'package', 'source'].includes(x));
      if (extra.length)
        throw new LocatorDataError(file, `${where}.actions[${i}]`, `unknown fields ${extra.join(', ')}`);
      const action = str(o.action, file, `${where}.actions[${i}].action`);
      if (!/^[A-Za-z][\w.]*$/.test(action))
        throw new LocatorDataError(
          file,
          `${where}.actions[${i}].action`,
          `must be an intent action, got ${action}`,
        );
      const out: SettingsAction = { action, source: str(o.source, file, `${where}.actions[${i}].source`) };
      if (o.package !== undefined) {
        const pkg = str(o.package, file, `${where}.actions[${i}].package`);
        if (!/^[A-Za-z]\w*(\.[A-Za-z_]\w*)+$/.test(pkg))
          throw new LocatorDataError(
            file,
            `${where}.actions[${i}].package`,
            `must be a package name, got ${pkg}`,
          );
        out.package = pkg;
      }
      return out;
    });
    const path = strList(e.path, file, `${where}.path`);
    path.forEach((p, i) => {
      if (!(p in pages))
        throw new LocatorDataError(
          file,
          `${where}.path[${i}]`,
          `must name a settingsPages entry (${Object.keys(pages).join(', ')}), got ${p}`,
        );
    });
    if (path[path.length - 1] !== k)
      throw new LocatorDataError(file, `${where}.path`, `must end with the page itself (${k})`);
    settingsPages[k] = {
      actions,
      title: localized(obj(e.title, file, `${where}.title`), file, `${where}.title`),
      path,
      source: str(e.source, file, `${where}.source`),
    };
  }
  const locators: Record<string, LocatorEntry> = {};
  for (const [k, v] of Object.entries(obj(top.locators, file, 'locators'))) {
    const e = obj(v, file, `locators.${k}`);
    const unknown = Object.keys(e).filter((x) => x !== 'locators' && x !== 'source');
    if (unknown.length)
      throw new LocatorDataError(file, `locators.${k}`, `unknown fields ${unknown.join(', ')}`);
    if (!Array.isArray(e.locators) || e.locators.length === 0) {
      throw new LocatorDataError(file, `locators.${k}.locators`, 'must be a non-empty array of locators');
    }
    const list = e.locators as Locator[];
    list.forEach((l, i) => {
      try {
        checkLocator(l, `locators.${k}.locators[${i}]`);
      } catch (err) {
        throw new LocatorDataError(file, `locators.${k}.locators[${i}]`, (err as Error).message);
      }
    });
    locators[k] = { locators: list, source: str(e.source, file, `locators.${k}.source`) };
  }
  return { file, apps, searchEngines, settingsPages, texts, locators };
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
