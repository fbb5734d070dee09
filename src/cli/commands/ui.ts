/**
 * `phonehome ui snapshot` and `phonehome ui locate` (issue 11 §1): find out what a phone's screen
 * holds and which locators would find an element, without Appium (the ADB-only driver's
 * `uiautomator dump`), to write locator overrides for a firmware the shipped locators.json misses.
 *
 * The locator data is locators.json with the overrides that match this phone (devices.json's
 * `locatorOverrides`, or locator-overrides.json beside devices.json) applied, as `phonehome run` does.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createAdbClient, Device, listPhones, type Fingerprint } from '../../device/index.ts';
import { AdbUiDriver } from '../../ui/adb/driver.ts';
import { describeLocator, type Locator } from '../../ui/driver.ts';
import {
  closestTo,
  countMatches,
  describeSuggestion,
  nodeOfSummary,
  evaluateKey,
  evaluateKeys,
  queryNodes,
  suggestLocators,
  type KeyStatus,
  type Suggestion,
} from '../../ui/locate.ts';
import { describeNode, summariseNode } from '../../ui/miss.ts';
import { loadLocators, type LocatorData } from '../../ui/pages/locators.ts';
import {
  describeFacts,
  factsOf,
  loadOverrides,
  overridesFileFor,
  phoneLocators,
  type OverrideMatch,
} from '../../ui/pages/overrides.ts';
import { parseHierarchy, type XmlNode } from '../../ui/xml.ts';
import { packageVersion } from '../../device/packages.ts';
import { UserFacingError } from '../../util/user-facing.ts';
import { adbPortFlag, adbPortOption, jsonFlag, timeoutFlag } from '../options.ts';

const DEFAULT_TIMEOUT_MS = 20_000;

interface CommonOpts {
  device?: string;
  adbPort?: string;
  devices?: string;
  timeout: number;
  json?: boolean;
}

/** The one phone to look at: --device, or the only usable phone; several without --device is an error. */
async function pickPhone(o: CommonOpts): Promise<Device> {
  const port = adbPortOption(o.adbPort);
  const client = createAdbClient({ port });
  const phones = await listPhones(client, { timeoutMs: o.timeout });
  const usable = phones.filter((p) => p.available);
  const list = phones.map((p) => `${p.serial} (${p.state})`).join(', ');
  if (o.device !== undefined) {
    const p = phones.find((x) => x.serial === o.device);
    if (!p) {
      throw new UserFacingError(
        `phone ${o.device} is not connected to the adb server on port ${port}`,
        phones.length ? `connected: ${list}` : 'connect a phone, or start the virtual lab (phonehome lab up)',
      );
    }
    if (!p.available) throw new UserFacingError(`phone ${p.serial} is ${p.state}`, p.problem);
  } else if (usable.length !== 1) {
    throw new UserFacingError(
      usable.length === 0
        ? `no usable phone on the adb server on port ${port}${phones.length ? ` (${list})` : ''}`
        : `${usable.length} phones are connected: ${usable.map((p) => p.serial).join(', ')}`,
      usable.length === 0
        ? 'connect a phone (phonehome devices), or start the virtual lab (phonehome lab up)'
        : 'choose one with --device SERIAL',
    );
  }
  return new Device(client, o.device ?? usable[0]!.serial, { timeoutMs: o.timeout });
}

/** The foreground package and activity: the resumed activity, else the focused window. */
export function foregroundOf(
  activities: string,
  windows: string,
): { package: string; activity: string } | undefined {
  const rec =
    /(?:topResumedActivity|mResumedActivity)[=:]\s*ActivityRecord\{\S+\s+u\d+\s+([\w.]+)\/([\w.$]+)/.exec(
      activities,
    ) ?? /mCurrentFocus=Window\{\S+\s+u\d+\s+([\w.]+)\/([\w.$]+)\}/.exec(windows);
  if (!rec) return undefined;
  const pkg = rec[1]!;
  const cls = rec[2]!;
  return { package: pkg, activity: cls.startsWith('.') ? `${pkg}${cls}` : cls };
}

const FINGERPRINT_PROPS = [
  'ro.product.model',
  'ro.product.marketname',
  'ro.build.fingerprint',
  'ro.build.version.incremental',
  'ro.build.version.release',
  'ro.build.version.sdk',
  'ro.miui.ui.version.name',
  'ro.miui.ui.version.code',
  'ro.mi.os.version.name',
  'ro.mi.os.version.incremental',
  'ro.miui.region',
];

interface Look {
  device: Device;
  xml: string;
  root: XmlNode;
  fingerprint: Fingerprint;
  /** Installed browser package(s) and their versionName. */
  browsers: Record<string, string>;
  data: LocatorData;
  overridesFile: string | undefined;
  vars: Record<string, string>;
  notes: string[];
}

/** One look at the phone: hierarchy, fingerprint, browser versions, locator data with overrides. */
async function look(o: CommonOpts): Promise<Look & { ui: AdbUiDriver }> {
  const devicesFile = o.devices ?? (existsSync('devices.json') ? 'devices.json' : undefined);
  const overridesFile = overridesFileFor(devicesFile);
  const overrides = overridesFile ? loadOverrides(overridesFile) : undefined;
  const device = await pickPhone(o);
  const ui = new AdbUiDriver(device, { timeoutMs: o.timeout });
  try {
    const xml = await ui.source();
    const root = parseHierarchy(xml);
    const fingerprint = await device.fingerprint({ timeoutMs: o.timeout });
    const base = loadLocators();
    const browsers: Record<string, string> = {};
    for (const pkg of base.apps.browser?.packages ?? []) {
      const v = await packageVersion(device, pkg, o.timeout);
      if (v !== undefined) browsers[pkg] = v;
    }
    const notes: string[] = [];
    const data = await phoneLocators(device, fingerprint, overrides, { base, log: (l) => notes.push(l) });
    const browser = Object.keys(browsers)[0];
    return {
      ui,
      device,
      xml,
      root,
      fingerprint,
      browsers,
      data,
      overridesFile,
      vars: browser ? { browser } : {},
      notes,
    };
  } catch (err) {
    await ui.close();
    throw err;
  }
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[:]/g, '').replace(/\..*$/, '');
}

function statusLine(s: KeyStatus): string {
  if (s.status === 'match') {
    return `  match  ${s.key} [${s.index}] ${describeLocator(s.locator)}${s.origin ? ` (override ${s.origin})` : ''} → ${describeNode(s.node)}`;
  }
  if (s.status === 'needs') return `  needs  ${s.key}: ${s.needs.map((n) => `{${n}}`).join(', ')}`;
  return `  miss   ${s.key}`;
}

async function snapshot(o: CommonOpts & { out?: string }): Promise<void> {
  const l = await look(o);
  try {
    const serial = l.device.serial;
    const dir = resolve(o.out ?? join('snapshots', `${serial.replace(/[^\w.-]+/g, '_')}-${stamp()}`));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'hierarchy.xml'), l.xml);
    const png = await l.ui.screenshot();
    writeFileSync(join(dir, 'screenshot.png'), png);
    const [acts, wins, props] = await Promise.all([
      l.device.shell(['dumpsys', 'activity', 'activities'], { timeoutMs: o.timeout }),
      l.device.shell(['dumpsys', 'window'], { timeoutMs: o.timeout }),
      l.device.getProps({ timeoutMs: o.timeout }),
    ]);
    const foreground = foregroundOf(acts.stdout, wins.stdout);
    const keys = evaluateKeys(l.root, l.data, l.vars);
    const fingerprint = {
      serial,
      label: l.fingerprint.label,
      model: l.fingerprint.model,
      ...(l.fingerprint.marketName ? { marketName: l.fingerprint.marketName } : {}),
      os: l.fingerprint.os,
      android: l.fingerprint.android,
      region: l.fingerprint.region,
      props: Object.fromEntries(FINGERPRINT_PROPS.filter((k) => props[k]).map((k) => [k, props[k]!])),
      browsers: l.browsers,
    };
    const summary = {
      dir,
      files: ['hierarchy.xml', 'screenshot.png', 'foreground.json', 'fingerprint.json', 'locators.json'],
      foreground: foreground ?? null,
      fingerprint,
      overrides: l.overridesFile ?? null,
      notes: l.notes,
      locators: keys,
    };
    writeFileSync(join(dir, 'foreground.json'), `${JSON.stringify(foreground ?? null, null, 2)}\n`);
    writeFileSync(join(dir, 'fingerprint.json'), `${JSON.stringify(fingerprint, null, 2)}\n`);
    writeFileSync(join(dir, 'locators.json'), `${JSON.stringify(keys, null, 2)}\n`);
    if (o.json) {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      return;
    }
    const count = (s: KeyStatus['status']) => keys.filter((k) => k.status === s).length;
    const lines = [
      `phone ${serial}: ${l.fingerprint.label}`,
      `foreground: ${foreground ? `${foreground.package} / ${foreground.activity}` : 'unknown (dumpsys said neither a resumed activity nor a focused window)'}`,
      `saved to ${dir}: hierarchy.xml, screenshot.png, foreground.json, fingerprint.json, locators.json`,
      ...l.notes,
      `locators (${count('match')} match, ${count('miss')} miss, ${count('needs')} need a value):`,
      ...keys.filter((k) => k.status === 'match').map(statusLine),
      ...keys.filter((k) => k.status === 'miss').map(statusLine),
      ...keys.filter((k) => k.status === 'needs').map(statusLine),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await l.ui.close();
  }
}

/** The override entry `phonehome ui locate` prints: this phone's fingerprint as the match. */
function overrideSnippet(l: Look, key: string, locators: Locator[]): unknown {
  const f = l.fingerprint;
  const match: OverrideMatch = { model: f.model, os: f.os.name };
  if (f.os.version) match.osVersion = f.os.version;
  const browser = Object.keys(l.browsers)[0];
  if (key.startsWith('browser.') && browser) {
    match.package = browser;
    if (l.browsers[browser]) match.appVersion = l.browsers[browser];
  }
  return {
    overrides: [
      {
        match,
        locators: {
          [key]: {
            mode: 'prepend',
            locators,
            source: `phonehome ui locate on ${f.label}, ${new Date().toISOString().slice(0, 10)}`,
          },
        },
      },
    ],
  };
}

interface LocateOpts extends CommonOpts {
  text?: string;
  id?: string;
  desc?: string;
}

async function locate(key: string | undefined, o: LocateOpts): Promise<void> {
  const given = [o.text, o.id, o.desc].filter((x) => x !== undefined).length;
  if ((key === undefined) === (given === 0)) {
    throw new UserFacingError(
      key === undefined
        ? 'ui locate needs a locator KEY or one of --text, --id, --desc'
        : 'give a KEY or --text/--id/--desc, not both',
      'e.g. `phonehome ui locate browser.addressBar` or `phonehome ui locate --text Settings`',
    );
  }
  if (key !== undefined && !loadLocators().locators[key]) {
    const keys = Object.keys(loadLocators().locators);
    const near = keys.filter((k) => k.split('.')[0] === key.split('.')[0]);
    throw new UserFacingError(
      `no locator key ${key} in locators.json`,
      `known keys: ${(near.length ? near : keys).join(', ')}`,
    );
  }
  const l = await look(o);
  try {
    const out: string[] = [];
    const report: Record<string, unknown> = {
      serial: l.device.serial,
      phone: describeFacts(factsOf(l.fingerprint, l.browsers)),
    };
    let targets: XmlNode[] = [];
    if (key !== undefined) {
      const s = evaluateKey(l.root, l.data, key, l.vars);
      report.key = s;
      if (s.status === 'needs') {
        out.push(
          `${key} needs ${s.needs.map((n) => `{${n}}`).join(', ')}: its candidates cannot be tried without a value`,
        );
        // Still useful: the nodes closest to its candidates with the placeholders left as they are.
        const raw = l.data.locators[key]!.locators;
        const closest = closestTo(l.root, raw);
        report.closest = closest;
        out.push('closest on screen:', ...closest.map((c) => `  ${describeNode(c)}`));
      } else if (s.status === 'match') {
        out.push(
          `${key} matches with candidate [${s.index}] ${describeLocator(s.locator)}${s.origin ? ` (override ${s.origin})` : ''}: ${describeNode(s.node)}`,
        );
        const first = countMatches(l.root, s.locator).first;
        targets = first ? [first] : [];
      } else {
        out.push(`${key}: no candidate matches this screen; tried:`);
        s.candidates.forEach((c, i) =>
          out.push(
            `  [${i}] ${describeLocator(c)}${l.data.locators[key]!.origins?.[i] ? ` (override ${l.data.locators[key]!.origins[i]})` : ''}`,
          ),
        );
        const closest = closestTo(l.root, s.candidates);
        report.closest = closest;
        out.push(
          closest.length ? 'closest on screen:' : 'nothing on screen resembles them',
          ...closest.map((c) => `  ${describeNode(c)}`),
        );
        // Suggestions for the closest node: the likely renamed element.
        const best = closest[0];
        const node = best && nodeOfSummary(l.root, best);
        if (node) targets = [node];
      }
    } else {
      const q = {
        ...(o.text !== undefined ? { text: o.text } : {}),
        ...(o.id !== undefined ? { id: o.id } : {}),
        ...(o.desc !== undefined ? { desc: o.desc } : {}),
      };
      const r = queryNodes(l.root, q);
      targets = r.nodes.slice(0, 5);
      if (!r.nodes.length) {
        out.push(`nothing on screen matches ${JSON.stringify(q)} (exactly or ignoring case)`);
        process.exitCode = 1;
      } else if (!r.exact)
        out.push(`no exact match for ${JSON.stringify(q)}; ${r.nodes.length} node(s) contain it:`);
      else out.push(`${r.nodes.length} node(s) match ${JSON.stringify(q)}:`);
    }
    const elements: Array<{
      node: ReturnType<typeof summariseNode>;
      suggestions: Suggestion[];
      override: unknown;
    }> = [];
    for (const n of targets) {
      const suggestions = suggestLocators(l.root, n);
      const pasteable = suggestions.filter((s) => s.locator && s.unique).map((s) => s.locator!);
      const best = pasteable.length
        ? pasteable.slice(0, 2)
        : suggestions
            .filter((s) => s.locator)
            .slice(0, 1)
            .map((s) => s.locator!);
      const override = overrideSnippet(l, key ?? '<key>', best);
      elements.push({ node: summariseNode(n), suggestions, override });
      out.push(
        '',
        `element ${describeNode(summariseNode(n))}`,
        'candidate locators, most robust first:',
        ...suggestions.map((s, i) => `  ${i + 1}. ${describeSuggestion(s)}`),
        `override (paste into ${l.overridesFile ?? 'locator-overrides.json beside devices.json'}${key ? '' : ', with the locators.json key for <key>'}):`,
        JSON.stringify(override, null, 2),
      );
    }
    report.elements = elements;
    if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await l.ui.close();
  }
}

export function registerUiCommand(program: Command): void {
  const ui = program
    .command('ui')
    .description('look at a phone screen: save its hierarchy and find locators (ADB only, no Appium needed)');
  const common = (c: Command): Command =>
    c
      .option('--device <serial>', 'the phone (optional when only one is connected)')
      .addOption(adbPortFlag())
      .option('--devices <file>', 'devices.json naming the locator override file (default: ./devices.json)')
      .addOption(timeoutFlag('timeout of each phone call, in ms', DEFAULT_TIMEOUT_MS))
      .addOption(jsonFlag('print JSON'));
  common(
    ui
      .command('snapshot')
      .description(
        "save the screen's UI hierarchy, a screenshot, the foreground activity and the phone's fingerprint, and list which locators.json keys match",
      )
      .option('--out <dir>', 'folder to save into (default: snapshots/<serial>-<time>)'),
  ).action((o: CommonOpts & { out?: string }) => snapshot(o));
  common(
    ui
      .command('locate [key]')
      .description(
        'find an element on the live screen (by locators.json KEY, --text, --id or --desc) and print locators for it, most robust first, as an override entry',
      )
      .option('--text <text>', "the element's text")
      .option('--id <id>', 'its resource-id (or the part after :id/)')
      .option('--desc <desc>', 'its content-desc'),
  ).action((key: string | undefined, o: LocateOpts) => locate(key, o));
}
