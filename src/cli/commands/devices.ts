/**
 * `phonehome devices`: the phones the adb server knows, what each one is (model, MIUI/HyperOS,
 * Android, region, root), and for unusable ones what to do. Phones devices.json lists with
 * `"connect": true` (adbd over TCP) on this adb server are `adb connect`ed first; the unreachable
 * ones are listed with state `unreachable` and the adb server's answer.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import {
  Device,
  connectPhones,
  createAdbClient,
  listPhones,
  type Fingerprint,
  type PhoneEntry,
} from '../../device/index.ts';
import { validateDevicesFile } from '../../config/devices-schema.ts';
import { isLoopbackHost } from '../../util/hosts.ts';
import { adbPortFlag, adbPortOption, jsonFlag, timeoutFlag } from '../options.ts';

const DEFAULT_TIMEOUT_MS = 10_000;

export interface DeviceReport {
  serial: string;
  state: string;
  available: boolean;
  /** The fix for an unusable phone, or why its fingerprint could not be read. */
  problem?: string;
  fingerprint?: Fingerprint;
}

async function describe(entry: PhoneEntry, device: Device): Promise<DeviceReport> {
  const base: DeviceReport = { serial: entry.serial, state: entry.state, available: entry.available };
  if (!entry.available) return { ...base, ...(entry.problem ? { problem: entry.problem } : {}) };
  try {
    return { ...base, fingerprint: await device.fingerprint() };
  } catch (err) {
    return { ...base, problem: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The devices.json `connect` phones whose adb server is the loopback one on `port`. `clientHost` is
 * the host the adb client talks to (ANDROID_ADB_SERVER_ADDRESS, else 127.0.0.1): when it is not
 * loopback, none (`adb connect` there would attach the phones to another host's adb server, from
 * which adb reverse cannot come back here).
 */
export function connectPhonesFor(
  file: ReturnType<typeof validateDevicesFile>,
  port: number,
  clientHost = '127.0.0.1',
): string[] {
  if (!isLoopbackHost(clientHost)) return [];
  const first = file.adbServers?.[0];
  return file.phones
    .filter((p) => {
      if (p.connect !== true) return false;
      const m = typeof p.adbServer === 'string' ? /^(.*):(\d+)$/.exec(p.adbServer) : null;
      const adb = m
        ? { host: m[1]!, port: Number(m[2]) }
        : p.lab
          ? { host: '127.0.0.1', port: p.lab.adbPort }
          : (first ?? { host: clientHost, port });
      return isLoopbackHost(adb.host) && adb.port === port;
    })
    .map((p) => p.serial);
}

function table(rows: DeviceReport[]): string {
  const lines = rows.map((r) => [
    r.serial,
    r.state,
    r.fingerprint ? r.fingerprint.label : r.problem ? `${r.available ? 'error' : 'fix'}: ${r.problem}` : '',
  ]);
  const header = ['SERIAL', 'STATE', 'PHONE'];
  const widths = [0, 1].map((i) => Math.max(header[i]!.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...lines.map(fmt)].join('\n');
}

export function registerDevicesCommand(program: Command): void {
  program
    .command('devices')
    .description(
      'list the phones connected to the adb server, with model, MIUI/HyperOS, Android, region and root',
    )
    .addOption(jsonFlag('print a JSON array of {serial, state, available, problem?, fingerprint?}'))
    .addOption(adbPortFlag())
    .option(
      '--devices <file>',
      'devices.json whose "connect": true phones (adbd over TCP) are adb connected first (default: ./devices.json if it exists)',
    )
    .addOption(timeoutFlag('adb timeout per phone call, in ms', DEFAULT_TIMEOUT_MS))
    .action(async (o: { json?: boolean; adbPort?: string; devices?: string; timeout: number }) => {
      const port = adbPortOption(o.adbPort);
      const client = createAdbClient({ port });
      // Phones on adb's TCP transport that devices.json asks to connect: connected before listing.
      let toConnect: string[] = [];
      const devicesFile = o.devices ?? (existsSync('devices.json') ? 'devices.json' : undefined);
      if (devicesFile) {
        try {
          const file = validateDevicesFile(devicesFile);
          toConnect = connectPhonesFor(file, port, client.host);
          const asked = file.phones.filter((p) => p.connect === true).length;
          if (asked && !isLoopbackHost(client.host)) {
            process.stderr.write(
              `phonehome: warning: ANDROID_ADB_SERVER_ADDRESS (${client.host}) is not this host: ` +
                `not adb connecting the ${asked} "connect" phone(s) of ${devicesFile} on that adb server\n`,
            );
          }
        } catch (err) {
          if (o.devices) throw err; // the file asked for must be right (exit 2, file:line:col)
          process.stderr.write(`phonehome: ignoring ${devicesFile}: ${(err as Error).message}\n`);
        }
      }
      const connected = toConnect.length
        ? await connectPhones(client, toConnect, { timeoutMs: o.timeout })
        : [];
      // An AdbServerError says what to do; the CLI prints it without a stack trace.
      const phones = await listPhones(client, { timeoutMs: o.timeout });
      const reports = await Promise.all(
        phones.map((p) => describe(p, new Device(client, p.serial, { timeoutMs: o.timeout }))),
      );
      for (const r of connected) {
        if (r.ok) continue;
        const listed = reports.find((x) => x.serial === r.serial);
        const problem = `unreachable (${devicesFile} "connect"): ${r.problem ?? r.state}`;
        if (listed) listed.problem = problem;
        else reports.push({ serial: r.serial, state: 'unreachable', available: false, problem });
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
      } else if (reports.length === 0) {
        process.stdout.write(`no phones connected to the adb server on port ${port}\n`);
      } else {
        process.stdout.write(`${table(reports)}\n`);
      }
    });
}
