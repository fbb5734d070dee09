/**
 * Reads the phone's own identifiers, so the detector can look for them in uploads (issue 4 §4): the
 * values an opt-out should keep off the wire. The source is a three-method interface that the real
 * `Device` (src/device) satisfies as it is, and that tests and the virtual phone can fake.
 *
 * | name         | read with                                      | notes                                  |
 * |--------------|------------------------------------------------|----------------------------------------|
 * | `android_id` | `settings get secure android_id`               | per app signing key since Android 8    |
 * | `serial`     | `getprop ro.serialno`, else `ro.boot.serialno` |                                        |
 * | `ad_id`      | `settings get global ad_aaid`                  | MIUI ad id (xiaomi-telemetry.md §4.3)  |
 * | `model`      | `getprop ro.product.model`                     | e.g. M2007J3SG; not unique, but telling |
 * | `mi_account` | `dumpsys account`, `Account {name=…, type=com.xiaomi}` | one per signed-in Mi account   |
 *
 * Values that cannot identify anything are skipped: unset (`null`, empty), placeholders (`unknown`,
 * `null`, all zeros) and values shorter than MIN_IDENTIFIER_LENGTH characters, which would match by
 * chance everywhere. Failures of getprop/settings propagate (a harness that silently looked for no
 * identifiers would "prove" that none leaked); a phone without the `account` dumpsys service (the
 * virtual phone prints "Can't find service") just has no Mi account.
 */
import type { Identifier } from './detector.ts';

/** What readIdentifiers needs from a phone; src/device's Device fits structurally. */
export interface IdentifierSource {
  /** `settings get NS KEY`; null when unset. */
  getSetting(ns: 'global' | 'secure' | 'system', key: string): Promise<string | null>;
  /** `getprop KEY`; '' when unset. */
  getProp(key: string): Promise<string>;
  shell(cmd: string): Promise<{ stdout: string; exitCode: number }>;
}

export const MIN_IDENTIFIER_LENGTH = 4;

const PLACEHOLDERS = new Set(['unknown', 'null', 'undefined']);

/** The value, trimmed, if it can identify the phone; otherwise null. */
export function meaningfulIdentifier(value: string | null | undefined): string | null {
  const v = value?.trim() ?? '';
  if (v.length < MIN_IDENTIFIER_LENGTH) return null;
  if (PLACEHOLDERS.has(v.toLowerCase()) || /^[0-]+$/.test(v)) return null;
  return v;
}

/** Mi account ids from `dumpsys account` output, in order, without duplicates. */
export function parseMiAccounts(dumpsys: string): string[] {
  const out = new Set<string>();
  for (const m of dumpsys.matchAll(/Account \{name=([^,}]+), type=com\.xiaomi\}/g)) out.add(m[1]!.trim());
  return [...out];
}

export async function readIdentifiers(device: IdentifierSource): Promise<Identifier[]> {
  const [androidId, serial, bootSerial, adId, model, accounts] = await Promise.all([
    device.getSetting('secure', 'android_id'),
    device.getProp('ro.serialno'),
    device.getProp('ro.boot.serialno'),
    device.getSetting('global', 'ad_aaid'),
    device.getProp('ro.product.model'),
    device.shell('dumpsys account'),
  ]);
  const raw: Array<[string, string | null]> = [
    ['android_id', androidId],
    ['serial', meaningfulIdentifier(serial) ?? bootSerial],
    ['ad_id', adId],
    ['model', model],
    ...parseMiAccounts(accounts.exitCode === 0 ? accounts.stdout : '').map((a): [string, string] => [
      'mi_account',
      a,
    ]),
  ];
  const out: Identifier[] = [];
  for (const [name, value] of raw) {
    const v = meaningfulIdentifier(value);
    if (v !== null) out.push({ name, value: v });
  }
  return out;
}
