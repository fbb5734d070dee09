/**
 * Locator overrides per firmware (issue 11 §1): a JSON file, named by devices.json's
 * `locatorOverrides` (resolved relative to devices.json) or `locator-overrides.json` beside
 * devices.json, whose entries match a phone's fingerprint and add (prepend) or replace the candidates
 * of locators.json keys:
 *
 *   {"overrides": [{
 *     "match": {"model": "2201117TG", "os": "MIUI", "osVersion": "14", "package": "com.mi.globalbrowser",
 *               "appVersion": "14.*"},
 *     "locators": {"browser.addressBar": {"mode": "prepend", "locators": [{"id": "{browser}:id/url_field"}],
 *                                         "source": "ui locate on a Redmi Note 11, 2026-12-05"}},
 *     "source": "lab notes"}]}
 *
 * Every `match` field given must hold: `model` (ro.product.model or the market name, exact ignoring
 * case, or a glob with `*`), `os` (MIUI, HyperOS, Android), `osVersion` and `appVersion` (a version
 * prefix: "14" matches 14, 14.0 and 14.0.5 but not 140; or a glob), `package` (installed on the
 * phone; `appVersion` is that package's versionName). Entries apply in file order: a later `prepend`
 * goes before an earlier one's candidates, a later `replace` replaces them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import type { Device, Fingerprint } from '../../device/index.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import { packageVersion } from '../../device/packages.ts';
import type { Locator } from '../driver.ts';
import { loadLocators, type LocatorData, type LocatorEntry } from './locators.ts';

/** The default file name beside devices.json. */
export const DEFAULT_OVERRIDES_NAME = 'locator-overrides.json';

const text = (what: string) => z.string({ error: `expected ${what} as a string` }).min(1, `${what} is empty`);

export const overrideLocatorSchema: z.ZodType<Locator> = z.lazy(() =>
  z
    .strictObject({
      id: text('a resource-id').optional().describe('resource-id with its package; {browser} is filled in'),
      text: text('a text').optional().describe("The node's text, exactly"),
      textContains: text('a text').optional().describe("A substring of the node's text"),
      desc: text('a content-desc').optional().describe('content-desc, exactly'),
      class: text('a class name').optional().describe('Class name, e.g. android.widget.EditText'),
      within: overrideLocatorSchema.optional().describe('An ancestor the node lies inside'),
    })
    .refine((l) => Object.keys(l).some((k) => k !== 'within'), {
      message: 'a locator needs at least one of id, text, textContains, desc, class',
    })
    .describe('One way to recognise a node; every criterion given must hold'),
);

export const overrideMatchSchema = z
  .strictObject({
    model: text('a model')
      .optional()
      .describe('ro.product.model or the market name (exact ignoring case, or a glob)'),
    os: z.enum(['MIUI', 'HyperOS', 'Android']).optional().describe('Firmware family'),
    osVersion: text('a version')
      .optional()
      .describe('MIUI/HyperOS version: a prefix ("14" matches 14.0.5, not 140) or a glob ("14.0.*")'),
    package: text('a package name').optional().describe('An app package installed on the phone'),
    appVersion: text('a version')
      .optional()
      .describe("That package's versionName: a prefix or a glob (needs package)"),
  })
  .refine((m) => m.appVersion === undefined || m.package !== undefined, {
    message: 'appVersion needs package (whose versionName it is)',
    path: ['appVersion'],
  })
  .describe('Which phones the entry is for: every field given must hold');

export const overrideEntrySchema = z
  .strictObject({
    match: overrideMatchSchema,
    locators: z
      .record(
        z.string(),
        z
          .strictObject({
            mode: z.enum(['prepend', 'replace']).describe('prepend: tried before the shipped candidates'),
            locators: z.array(overrideLocatorSchema).min(1, 'needs at least one locator'),
            source: text('a source').describe(
              'Where the ids/texts come from (e.g. `phonehome ui locate` on which phone)',
            ),
          })
          .describe('New candidates for one locators.json key'),
      )
      .describe('By locators.json key, e.g. "browser.addressBar"'),
    source: z.string().optional().describe('Where this entry comes from'),
  })
  .describe('One firmware or app version and its locators');

export const locatorOverridesSchema = z
  .strictObject({
    $schema: z.string().optional(),
    overrides: z.array(overrideEntrySchema, { error: 'expected a list of override entries' }),
  })
  .describe('phonehome locator overrides: locators.json candidates per firmware and app version');

export type LocatorOverridesFile = z.infer<typeof locatorOverridesSchema>;
export type OverrideMatch = z.infer<typeof overrideMatchSchema>;

export interface LoadedOverrides {
  file: string;
  data: LocatorOverridesFile;
}

/** A bad override file (exit code 2): names the file and the field. */
export class LocatorOverridesError extends UserFacingError {
  constructor(file: string, problems: string[], hint = 'fix the file (README: "Locators and overrides")') {
    super(
      problems.length === 1
        ? `${file}: ${problems[0]}`
        : `${problems.length} problems in ${file}:\n${problems.map((p) => `  ${p}`).join('\n')}`,
      hint,
      2,
    );
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) =>
      typeof p === 'number'
        ? `[${p}]`
        : /^[A-Za-z_$][\w$]*$/.test(String(p))
          ? `${i ? '.' : ''}${String(p)}`
          : `[${JSON.stringify(String(p))}]`,
    )
    .join('');
}

/** Validates parsed JSON as an override file; every key must exist in `base` (locators.json). */
export function validateOverrides(
  data: unknown,
  file: string,
  base: LocatorData = loadLocators(),
): LoadedOverrides {
  const r = locatorOverridesSchema.safeParse(data);
  if (!r.success) {
    throw new LocatorOverridesError(
      file,
      r.error.issues.map((i) => `${fieldPath(i.path) || 'the file'}: ${i.message}`),
    );
  }
  const problems: string[] = [];
  r.data.overrides.forEach((e, i) => {
    for (const key of Object.keys(e.locators)) {
      if (!base.locators[key]) {
        const known = Object.keys(base.locators).filter((k) => k.split('.')[0] === key.split('.')[0]);
        problems.push(
          `overrides[${i}].locators["${key}"]: no such key in ${base.file}${known.length ? ` (known: ${known.join(', ')})` : ''}`,
        );
      }
    }
  });
  if (problems.length) throw new LocatorOverridesError(file, problems);
  return { file, data: r.data };
}

export function loadOverrides(file: string, base?: LocatorData): LoadedOverrides {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new LocatorOverridesError(file, [`cannot be read as JSON (${(err as Error).message})`]);
  }
  return validateOverrides(data, file, base);
}

/**
 * The override file of a devices.json: its `locatorOverrides` field (relative to the devices file;
 * an error when that file is missing), else `locator-overrides.json` beside it when it exists.
 */
export function overridesFileFor(devicesFile: string | undefined): string | undefined {
  const dir = devicesFile ? dirname(devicesFile) : '.';
  let named: unknown;
  if (devicesFile && existsSync(devicesFile)) {
    try {
      named = (JSON.parse(readFileSync(devicesFile, 'utf8')) as { locatorOverrides?: unknown })
        .locatorOverrides;
    } catch {
      named = undefined; // validateDevicesFile reports a broken devices.json
    }
  }
  if (typeof named === 'string' && named !== '') {
    const path = isAbsolute(named) ? named : join(dir, named);
    if (!existsSync(path)) {
      throw new LocatorOverridesError(
        path,
        [`no such file (named by ${devicesFile} locatorOverrides)`],
        `create it (\`phonehome ui locate KEY\` prints entries) or remove locatorOverrides from ${devicesFile}`,
      );
    }
    return path;
  }
  const beside = join(dir, DEFAULT_OVERRIDES_NAME);
  return existsSync(beside) ? beside : undefined;
}

// ------------------------------------------------------------------------------------ matching

/** What `match` is checked against. */
export interface PhoneFacts {
  model: string;
  marketName?: string;
  os: string;
  osVersion?: string;
  /** Installed packages the overrides name, with their versionName ('' when unknown). */
  packages: Record<string, string>;
}

export function factsOf(f: Fingerprint, packages: Record<string, string> = {}): PhoneFacts {
  return {
    model: f.model,
    ...(f.marketName ? { marketName: f.marketName } : {}),
    os: f.os.name,
    ...(f.os.version ? { osVersion: f.os.version } : {}),
    packages,
  };
}

function glob(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** A version prefix on dot boundaries ("14" ⊃ "14.0.5", not "140"), or a glob. */
export function versionMatches(pattern: string, version: string | undefined): boolean {
  if (version === undefined || version === '') return false;
  if (/[*?]/.test(pattern)) return glob(pattern).test(version);
  return version === pattern || version.startsWith(`${pattern}.`);
}

function modelMatches(pattern: string, facts: PhoneFacts): boolean {
  const names = [facts.model, facts.marketName].filter((x): x is string => !!x);
  if (/[*?]/.test(pattern)) return names.some((n) => glob(pattern).test(n));
  return names.some((n) => n.toLowerCase() === pattern.toLowerCase());
}

/** Whether every field of `m` holds for the phone; `packages` need not be known for a device-only match. */
export function matchHolds(m: OverrideMatch, facts: PhoneFacts): boolean {
  if (m.model !== undefined && !modelMatches(m.model, facts)) return false;
  if (m.os !== undefined && m.os !== facts.os) return false;
  if (m.osVersion !== undefined && !versionMatches(m.osVersion, facts.osVersion)) return false;
  if (m.package !== undefined && !(m.package in facts.packages)) return false;
  if (m.appVersion !== undefined && !versionMatches(m.appVersion, facts.packages[m.package!])) return false;
  return true;
}

/**
 * locators.json with the entries of `overrides` that hold for the phone applied: each touched key's
 * candidates gain `origins` (the override file for theirs, undefined for the shipped ones).
 */
export function applyOverrides(
  base: LocatorData,
  overrides: LoadedOverrides | undefined,
  facts: PhoneFacts,
): { data: LocatorData; applied: string[] } {
  if (!overrides) return { data: base, applied: [] };
  const locators: Record<string, LocatorEntry> = { ...base.locators };
  const applied: string[] = [];
  overrides.data.overrides.forEach((e, i) => {
    if (!matchHolds(e.match, facts)) return;
    for (const [key, o] of Object.entries(e.locators)) {
      const now = locators[key];
      if (!now) continue; // validateOverrides rejected unknown keys
      const origins = now.origins ?? now.locators.map(() => undefined);
      const mine = o.locators.map(() => overrides.file);
      locators[key] =
        o.mode === 'replace'
          ? { locators: [...o.locators], source: o.source, origins: mine }
          : {
              locators: [...o.locators, ...now.locators],
              source: `${o.source}; ${now.source}`,
              origins: [...mine, ...origins],
            };
      applied.push(`overrides[${i}] ${o.mode} ${key}`);
    }
  });
  return { data: applied.length ? { ...base, locators } : base, applied };
}

/**
 * The locator data for one phone: locators.json plus the override entries that hold for its
 * fingerprint and the versions of the packages they name (read from the phone).
 */
export async function phoneLocators(
  device: Pick<Device, 'shell'>,
  fingerprint: Fingerprint,
  overrides: LoadedOverrides | undefined,
  opts: { base?: LocatorData; log?: (line: string) => void } = {},
): Promise<LocatorData> {
  const base = opts.base ?? loadLocators();
  if (!overrides) return base;
  const facts = factsOf(fingerprint);
  const named = new Set(
    overrides.data.overrides
      .filter(
        (e) =>
          e.match.package !== undefined &&
          matchHolds({ ...e.match, package: undefined, appVersion: undefined }, facts),
      )
      .map((e) => e.match.package!),
  );
  for (const pkg of named) {
    const v = await packageVersion(device, pkg).catch(() => undefined);
    if (v !== undefined) facts.packages[pkg] = v;
  }
  const { data, applied } = applyOverrides(base, overrides, facts);
  opts.log?.(
    applied.length
      ? `locator overrides from ${overrides.file}: ${applied.join(', ')}`
      : `locator overrides from ${overrides.file}: none applies to this phone (${describeFacts(facts)})`,
  );
  return data;
}

export function describeFacts(f: PhoneFacts): string {
  const apps = Object.entries(f.packages).map(([p, v]) => `${p} ${v || '?'}`);
  return [f.model, `${f.os}${f.osVersion ? ` ${f.osVersion}` : ''}`, ...apps].join(', ');
}
