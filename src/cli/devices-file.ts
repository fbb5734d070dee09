/**
 * devices.json: the phones the harness may use. `phonehome lab up` records its virtual phones here
 * (entries with a "lab" key) and `lab down` removes them again; other entries are left alone.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { UserError } from './errors.ts';

export interface DevicesFilePhone {
  serial: string;
  label?: string;
  /** Present on phones started by `phonehome lab up`. */
  lab?: { profile: string; port: number; adbPort: number };
  /** How the harness drives this phone's UI (src/ui/): "appium" (default) or "adb" (ADB-only). */
  ui?: UiKind;
  /** adbd over TCP (serial HOST:PORT) that the runner `adb connect`s (src/device/connect.ts). */
  connect?: boolean;
  [key: string]: unknown;
}

/** The UI drivers a phone may use (devices.json `ui`). */
export const UI_KINDS = ['appium', 'adb'] as const;
export type UiKind = (typeof UI_KINDS)[number];
export const DEFAULT_UI_KIND: UiKind = 'appium';

/** The phone's UI driver: its `ui` field, else the default (appium). */
export function uiKindOf(phone: DevicesFilePhone): UiKind {
  return phone.ui ?? DEFAULT_UI_KIND;
}

export interface DevicesFile {
  phones: DevicesFilePhone[];
  [key: string]: unknown;
}

export function readDevicesFile(path: string): DevicesFile {
  if (!existsSync(path)) return { phones: [] };
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${(err as Error).message})`, `fix the file or delete it`);
  }
  if (typeof data !== 'object' || data === null || !Array.isArray((data as DevicesFile).phones)) {
    throw new UserError(`${path}: field "phones" must be an array`, `write it as {"phones": []}`);
  }
  const phones = (data as DevicesFile).phones;
  phones.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.serial !== 'string' || p.serial === '') {
      throw new UserError(`${path}: field "phones[${i}].serial" must be a non-empty string`);
    }
    if (p.ui !== undefined && !UI_KINDS.includes(p.ui)) {
      throw new UserError(
        `${path}: field "phones[${i}].ui" (${p.serial}) must be ${UI_KINDS.map((k) => `"${k}"`).join(' or ')}, got ${JSON.stringify(p.ui)}`,
        `write "ui": "appium" (UiAutomator2 through Appium, the default) or "ui": "adb" (uiautomator dump + input), or leave the field out`,
      );
    }
  });
  return data as DevicesFile;
}

/** Writes atomically (temp file + rename) so a crash never leaves half a file. */
export function writeDevicesFile(path: string, file: DevicesFile): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(tmp, path);
}

/** Replaces the lab entries for `adbPort` with `phones`, keeping everything else. */
export function recordLabPhones(path: string, adbPort: number, phones: DevicesFilePhone[]): void {
  const file = readDevicesFile(path);
  file.phones = [...file.phones.filter((p) => p.lab?.adbPort !== adbPort), ...phones];
  writeDevicesFile(path, file);
}
