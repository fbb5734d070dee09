/**
 * What a job's Allure result says about itself beyond its steps (issue 12 §2): the scenario header's
 * behaviour labels (epic, feature, story), severity, owner and links, and the keys Allure's history
 * is built on.
 *
 - History: one entry per scenario and kind of phone (profile, or model for real phones), not per
 *   serial, so a replaced phone of the same profile keeps the history and a firmware or app update
 *   shows as passed → failed on the same entry. allure-commandline 2.46 IGNORES a result's
 *   `historyId`: it keys history (and groups retries) by md5(testCaseId) "." md5(the parameters not
 *   `excluded`) (checked on its output: test/integration/report-labels.test.ts). So:
 *   - `testCaseId` = md5(scenario name);
 *   - `profile` is a parameter that counts; the serial, the firmware (os, build) and the versions of
 *     the apps under test are parameters with `excluded: true` (shown, not part of the key;
 *     allure-js-commons' ParameterOptions);
 *   - a second (third…) phone of the same profile in one run gets a counting `same-profile phone`
 *     parameter (2, 3…, by serial order): else Allure would take the two results for retries of one
 *     test, show only the later one and count only it, and a failure on one phone could hide behind
 *     a pass on the other;
 *   - `historyId` = md5(scenario \0 profile [\0 slot]) is set as well, for tools that read it (Allure
 *     3, merge.ts's results for jobs no shard ran).
 *
 * Links: `{issue: ID}` / `{tms: ID}` become Allure links of that type with the URL from phonehome.json's
 * template (`{}` replaced by the URL-encoded id); `{url, name}` become plain links. The runner checks
 * before any job that every issue/tms link has a template (src/scenario/links.ts checkScenarioLinks).
 */
import { createHash } from 'node:crypto';
import type { Device } from '../device/index.ts';
import { packageVersion } from '../device/packages.ts';
import type { ScenarioConfig, ScenarioLink } from '../scenario/types.ts';

export interface AllureLabel {
  name: string;
  value: string;
}
export interface AllureLink {
  url: string;
  name?: string;
  type: string;
}
export interface AllureParameter {
  name: string;
  value: string;
  excluded: boolean;
}

export interface AllureMeta {
  labels: AllureLabel[];
  links: AllureLink[];
  parameters: AllureParameter[];
  historyId: string;
  testCaseId: string;
}

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

/**
 * The history key of a job: the scenario on one kind of phone (profile, or model for real phones);
 * `slot` ≥ 2 for a further phone of the same profile in the run.
 */
export function historyIdOf(scenario: string, profile: string, slot = 1): string {
  return md5(`${scenario}\0${profile}${slot > 1 ? `\0${slot}` : ''}`);
}

/**
 * The parameters that make Allure 2's history key (with testCaseId): the profile, and the slot of a
 * further phone of the same profile. Every other parameter must be `excluded`.
 */
export function keyParameters(profile: string, slot = 1): AllureParameter[] {
  return [
    { name: 'profile', value: profile, excluded: false },
    ...(slot > 1 ? [{ name: 'same-profile phone', value: String(slot), excluded: false }] : []),
  ];
}

/**
 * Slot of each phone among those of its profile (1, 2…, by serial): serial → slot. The runner gives
 * it to each worker (WorkerInit.profileSlots; a job keeps the slot of the phone it was scheduled on).
 */
export function profileSlots(
  phones: ReadonlyArray<{ serial: string; profile: string }>,
): Map<string, number> {
  const slots = new Map<string, number>();
  const byProfile = new Map<string, string[]>();
  for (const p of phones) byProfile.set(p.profile, [...(byProfile.get(p.profile) ?? []), p.serial]);
  for (const serials of byProfile.values()) {
    [...serials].sort().forEach((serial, i) => slots.set(serial, i + 1));
  }
  return slots;
}

/** Allure's test case id: the scenario, whatever the phone. */
export function testCaseIdOf(scenario: string): string {
  return md5(scenario);
}

/** A header link as an Allure link; an issue/tms link without a template for its type throws. */
export function expandLink(link: ScenarioLink, templates: Readonly<Record<string, string>>): AllureLink {
  if (link.type === 'link') return { url: link.url, name: link.name ?? link.url, type: 'link' };
  const template = templates[link.type];
  if (template === undefined) {
    // checkScenarioLinks stops the run before this; a caller that skipped it gets a clear error.
    throw new Error(`no URL template for ${link.type} links (phonehome.json report.links.${link.type})`);
  }
  return {
    url: template.replace('{}', encodeURIComponent(link.id)),
    name: link.name ?? link.id,
    type: link.type,
  };
}

export interface JobPhone {
  serial: string;
  profile: string;
  /** Its slot among the run's phones of the same profile (profileSlots; default 1). */
  slot?: number;
  /** PhoneSpec.fingerprint / JobResult.fingerprint: `os`, `build`, … */
  fingerprint: Readonly<Record<string, string>>;
}

/**
 * The labels, links, parameters and history keys of one job. `apps`: versionName by package of the
 * apps under test installed on the phone ('' when the package manager did not say).
 */
export function allureMeta(
  config: ScenarioConfig,
  phone: JobPhone,
  templates: Readonly<Record<string, string>>,
  apps: Readonly<Record<string, string>> = {},
): AllureMeta {
  const labels: AllureLabel[] = [];
  for (const name of ['epic', 'feature', 'story'] as const) {
    for (const value of config[name] ?? []) labels.push({ name, value });
  }
  if (config.severity) labels.push({ name: 'severity', value: config.severity });
  if (config.owner) labels.push({ name: 'owner', value: config.owner });
  const slot = phone.slot ?? 1;
  const parameters: AllureParameter[] = [
    ...keyParameters(phone.profile, slot),
    { name: 'phone', value: phone.serial, excluded: true },
  ];
  if (phone.fingerprint.os) parameters.push({ name: 'os', value: phone.fingerprint.os, excluded: true });
  if (phone.fingerprint.build)
    parameters.push({ name: 'build', value: phone.fingerprint.build, excluded: true });
  for (const [pkg, version] of Object.entries(apps).sort(([a], [b]) => a.localeCompare(b))) {
    parameters.push({ name: pkg, value: version || '(unknown version)', excluded: true });
  }
  return {
    labels,
    links: (config.links ?? []).map((l) => expandLink(l, templates)),
    parameters,
    historyId: historyIdOf(config.name, phone.profile, slot),
    testCaseId: testCaseIdOf(config.name),
  };
}

/** The allure-js-commons calls `applyAllureMeta` makes (the runtime facade, or a fake in tests). */
export interface AllureApi {
  label(name: string, value: string): PromiseLike<void>;
  link(url: string, name?: string, type?: string): PromiseLike<void>;
  parameter(name: string, value: string, options?: { excluded?: boolean }): PromiseLike<void>;
  historyId(value: string): PromiseLike<void>;
  testCaseId(value: string): PromiseLike<void>;
}

/** Puts `meta` on the running test's Allure result. */
export async function applyAllureMeta(meta: AllureMeta, api: AllureApi): Promise<void> {
  await api.historyId(meta.historyId);
  await api.testCaseId(meta.testCaseId);
  for (const p of meta.parameters) await api.parameter(p.name, p.value, { excluded: p.excluded });
  for (const l of meta.labels) await api.label(l.name, l.value);
  for (const l of meta.links) await api.link(l.url, l.name, l.type);
}

/**
 * versionName by package of those of `packages` installed on the phone (dumpsys package; best effort:
 * a package whose reading fails is left out).
 */
export async function readAppVersions(
  device: Pick<Device, 'shell'>,
  packages: readonly string[],
  timeoutMs = 5000,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const pkg of packages) {
    const v = await packageVersion(device, pkg, timeoutMs).catch(() => undefined);
    if (v !== undefined) out[pkg] = v;
  }
  return out;
}
