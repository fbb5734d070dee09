/**
 * devices.json as a zod schema (issue 6 §2): the phones the harness may use, plus the multi-host
 * fields the runner uses. The same schema gives the JSON Schema (`phonehome schema`, devices.schema.json)
 * and `validateDevicesFile`, which reports every problem with file:line:col (ScenarioError's format,
 * exit code 2). It is the file's one contract: the types below, and src/config/devices-file.ts, which
 * reads (through this schema) and writes the file for `lab` and `devices`.
 *
 *   {
 *     "adbServers": [{"host": "127.0.0.1", "port": 5037}, {"host": "127.0.0.1", "port": 5038}],
 *     "phones": [
 *       {"serial": "emulator-5554", "label": "Redmi Note 8", "ui": "adb", "adbServer": "127.0.0.1:5038"},
 *       {"serial": "10.0.4.17:5555", "label": "Redmi 9 (rack 2)", "connect": true}
 *     ]
 *   }
 *
 * A phone without `adbServer` is on the first of `adbServers`, or on the default adb server (the
 * ADB_SERVER_SOCKET / --adb-port the CLI is given) when there is no list. With a list, a phone's
 * `adbServer` must be one of it. Unknown keys are kept (other tools may add their own).
 *
 * An adb server must be on this host (loopback): `adb reverse` opens a phone's tunnel on the host that
 * runs its adb server, so `phonehome run` refuses any other (src/runner/phones.ts). A phone on another
 * host is listed with `"connect": true` and serial "HOST:PORT" (adbd over TCP): the runner
 * `adb connect`s it to its own adb server.
 */
import { z } from 'zod';
import { JsonFileError, parseJsonFile, readJsonFile, type FileProblem } from './json-file.ts';

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

const HOST_PORT_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const port = z
  .number({ error: 'expected a port number' })
  .int('expected a whole port number')
  .min(1, 'a port is 1 to 65535')
  .max(65535, 'a port is 1 to 65535');

export const adbServerSchema = z
  .strictObject({
    host: z.string({ error: 'expected a host name or address' }).min(1, 'host is empty').describe('Lab host'),
    port: port.describe("Its adb server's port (adb's default: 5037)"),
  })
  .describe('An adb server on this host that the runner drives (one on another host is refused)');

export const devicesPhoneSchema = z
  .looseObject({
    serial: z
      .string({ error: 'expected the serial as a string' })
      .min(1, 'serial is empty')
      .describe('adb serial'),
    label: z.string({ error: 'expected a string' }).optional().describe('Shown in reports'),
    lab: z
      .looseObject({
        profile: z.string({ error: 'expected a profile name' }),
        port: port,
        adbPort: port,
      })
      .optional()
      .describe('Set on phones started by `phonehome lab up`'),
    ui: z.enum(UI_KINDS).optional().describe('UI driver: appium (default) or adb'),
    adbServer: z
      .string({ error: 'expected "host:port"' })
      .regex(HOST_PORT_RE, 'expected "host:port", e.g. "127.0.0.1:5037"')
      .optional()
      .describe('The adb server this phone is on, "host:port" (default: the first of adbServers)'),
    connect: z
      .boolean({ error: 'expected true or false' })
      .optional()
      .describe(
        'adbd over TCP (serial "HOST:PORT", e.g. DeviceFarmer STF remote connect): the runner `adb connect`s it to its adb server, re-connects it after a drop, and names it when unreachable',
      ),
  })
  .describe('A phone');

export const devicesFileSchema = z
  .looseObject({
    adbServers: z
      .array(adbServerSchema)
      .optional()
      .describe(
        "This host's adb servers (loopback: localhost, 127.0.0.0/8, ::1); phones on other hosts are listed with connect: true, or run as a shard on their host",
      ),
    phones: z.array(devicesPhoneSchema, { error: 'expected a list of phones' }).describe('The phones'),
    locatorOverrides: z
      .string({ error: 'expected a file name' })
      .min(1, 'locatorOverrides is empty')
      .optional()
      .describe(
        'Locator override file, relative to devices.json (default: locator-overrides.json beside it, if it exists): candidates per firmware and app version for locators.json keys',
      ),
  })
  .superRefine((file, ctx) => {
    const servers = file.adbServers?.map((s) => `${s.host}:${s.port}`);
    const seen = new Map<string, number>();
    file.phones.forEach((p, i) => {
      if (p.connect === true && !HOST_PORT_RE.test(p.serial)) {
        ctx.addIssue({
          code: 'custom',
          path: ['phones', i, 'serial'],
          message: `a phone with "connect": true needs its serial as "HOST:PORT" (where its adbd listens), got ${JSON.stringify(p.serial)}`,
        });
      }
      if (servers && p.adbServer !== undefined && !servers.includes(p.adbServer)) {
        ctx.addIssue({
          code: 'custom',
          path: ['phones', i, 'adbServer'],
          message: `"${p.adbServer}" is not one of adbServers (${servers.join(', ')})`,
        });
      }
      const key = `${p.adbServer ?? servers?.[0] ?? ''} ${p.serial}`;
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['phones', i, 'serial'],
          message: `serial "${p.serial}" is listed twice for the same adb server (also phones[${first}])`,
        });
      } else seen.set(key, i);
    });
  })
  .describe('phonehome devices.json: the phones the harness may use');

export interface AdbServerEntry {
  host: string;
  port: number;
}

export type ValidatedDevicesFile = DevicesFile & {
  adbServers?: AdbServerEntry[];
  phones: Array<DevicesFilePhone & { adbServer?: string }>;
};

export type DevicesProblem = FileProblem;

/** A bad devices.json (exit code 2), every problem with file:line:col. */
export class DevicesFileError extends JsonFileError {}

/**
 * Reads and validates devices.json: JSON syntax errors with line:col, schema errors with the field
 * path and line:col (src/config/json-file.ts). Throws DevicesFileError (exit code 2) listing every
 * problem.
 */
export function validateDevicesFile(path: string): ValidatedDevicesFile {
  const file = readJsonFile(path, DevicesFileError, {
    missingFix: 'start the virtual lab (`phonehome lab up`) or write {"phones": [{"serial": "…"}]}',
  });
  return parseJsonFile(devicesFileSchema, file, path, DevicesFileError);
}
