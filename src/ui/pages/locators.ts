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
}

export interface AppEntry {
  packages: string[];
  activity: string;
  source: string;
}

export interface SettingsPageEntry {
  component: string;
  extras: Record<string, string>;
  title: string;
  /** Row titles to tap from the main Settings screen. */
  path: string[];
  source: string;
}

export interface LocatorData {
  file: string;
  apps: Record<string, AppEntry>;
  searchEngines: Record<string, string>;
  settingsPages: Record<string, SettingsPageEntry>;
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
  const settingsPages: Record<string, SettingsPageEntry> = {};
  for (const [k, v] of Object.entries(obj(top.settingsPages, file, 'settingsPages'))) {
    const e = obj(v, file, `settingsPages.${k}`);
    const extras: Record<string, string> = {};
    for (const [ek, ev] of Object.entries(obj(e.extras, file, `settingsPages.${k}.extras`))) {
      extras[ek] = str(ev, file, `settingsPages.${k}.extras.${ek}`);
    }
    const component = str(e.component, file, `settingsPages.${k}.component`);
    if (!/^[\w.]+\/[\w.$]+$/.test(component)) {
      throw new LocatorDataError(
        file,
        `settingsPages.${k}.component`,
        `must be pkg/.Activity, got ${component}`,
      );
    }
    settingsPages[k] = {
      component,
      extras,
      title: str(e.title, file, `settingsPages.${k}.title`),
      path: strList(e.path, file, `settingsPages.${k}.path`),
      source: str(e.source, file, `settingsPages.${k}.source`),
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
  return { file, apps, searchEngines, settingsPages, locators };
}

let cached: LocatorData | undefined;

/** The shipped locators.json (read once), or a named file (read every call). */
export function loadLocators(file?: string): LocatorData {
  if (file === undefined && cached) return cached;
  const path = file ?? DEFAULT_LOCATORS_FILE;
  let data: Json;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LocatorDataError(path, 'the file', `cannot be read as JSON (${(err as Error).message})`);
  }
  const out = validateLocatorData(data, path);
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
