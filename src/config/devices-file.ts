/**
 * devices.json as `lab` and `devices` read and write it: `phonehome lab up` records its virtual phones
 * here (entries with a "lab" key) and `lab down` removes them again; other entries are left alone.
 * The file's contract is the zod schema (devices-schema.ts); this module only adds what these commands
 * need around it: a missing file reads as no phones, and the write is atomic.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { z } from 'zod';
import { writeJsonAtomic } from '../util/atomic.ts';
import { UserFacingError } from '../util/user-facing.ts';
import {
  DevicesFileError,
  UI_KINDS,
  devicesFileSchema,
  type DevicesFile,
  type DevicesFilePhone,
} from './devices-schema.ts';
import { zodProblems } from './json-file.ts';

/**
 * Reads devices.json through the schema; a missing file is `{phones: []}` (the lab creates it). The
 * problems `lab` has always named in one line (not JSON, "phones" not a list, a bad serial or "ui")
 * keep that wording (exit code 1); any other problem is the schema's DevicesFileError (file:line:col,
 * exit code 2), as `phonehome run` reports it. The file is returned as parsed, so a rewrite keeps the
 * user's keys and their order.
 */
export function readDevicesFile(path: string): DevicesFile {
  if (!existsSync(path)) return { phones: [] };
  const text = readFileSync(path, 'utf8');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserFacingError(
      `${path}: not valid JSON (${(err as Error).message})`,
      `fix the file or delete it`,
    );
  }
  const r = devicesFileSchema.safeParse(data, { reportInput: true });
  if (r.success) return data as DevicesFile;
  for (const issue of r.error.issues) {
    const named = namedProblem(path, data, issue);
    if (named) throw named;
  }
  throw new DevicesFileError(zodProblems(r.error.issues, text, path));
}

/** The one-line error for a problem `lab` has always worded itself; undefined for any other. */
function namedProblem(path: string, data: unknown, issue: z.core.$ZodIssue): UserFacingError | undefined {
  const [top, i, field] = issue.path;
  if (issue.path.length === 0 || (top === 'phones' && issue.path.length === 1)) {
    return new UserFacingError(`${path}: field "phones" must be an array`, `write it as {"phones": []}`);
  }
  if (top !== 'phones' || typeof i !== 'number' || issue.code === 'custom') return undefined;
  if (issue.path.length === 2 || field === 'serial') {
    return new UserFacingError(`${path}: field "phones[${i}].serial" must be a non-empty string`);
  }
  if (field === 'ui' && issue.path.length === 3) {
    const p = (data as DevicesFile).phones[i]!;
    return new UserFacingError(
      `${path}: field "phones[${i}].ui" (${p.serial}) must be ${UI_KINDS.map((k) => `"${k}"`).join(' or ')}, got ${JSON.stringify(p.ui)}`,
      `write "ui": "appium" (UiAutomator2 through Appium, the default) or "ui": "adb" (uiautomator dump + input), or leave the field out`,
    );
  }
  return undefined;
}

/** Writes atomically (temp file + rename) so a crash never leaves half a file. */
export function writeDevicesFile(path: string, file: DevicesFile): void {
  writeJsonAtomic(path, file);
}

/** Replaces the lab entries for `adbPort` with `phones`, keeping everything else. */
export function recordLabPhones(path: string, adbPort: number, phones: DevicesFilePhone[]): void {
  const file = readDevicesFile(path);
  file.phones = [...file.phones.filter((p) => p.lab?.adbPort !== adbPort), ...phones];
  writeDevicesFile(path, file);
}
