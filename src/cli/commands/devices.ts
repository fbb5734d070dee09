/**
 * `phonehome devices`: the phones the adb server knows, what each one is (model, MIUI/HyperOS,
 * Android, region, root), and for unusable ones what to do.
 */
import type { Command } from 'commander';
import {
  Device,
  createAdbClient,
  listPhones,
  type Fingerprint,
  type PhoneEntry,
} from '../../device/index.ts';
import { adbPortOption, timeoutMsParser } from '../options.ts';

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
    .option('--json', 'print a JSON array of {serial, state, available, problem?, fingerprint?}')
    .option('--adb-port <port>', 'adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)')
    .option(
      '--timeout <ms>',
      'adb timeout per phone call, in ms',
      timeoutMsParser('--timeout'),
      DEFAULT_TIMEOUT_MS,
    )
    .action(async (o: { json?: boolean; adbPort?: string; timeout: number }) => {
      const port = adbPortOption(o.adbPort);
      const client = createAdbClient({ port });
      // An AdbServerError says what to do; the CLI prints it without a stack trace.
      const phones = await listPhones(client, { timeoutMs: o.timeout });
      const reports = await Promise.all(
        phones.map((p) => describe(p, new Device(client, p.serial, { timeoutMs: o.timeout }))),
      );
      if (o.json) {
        process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
      } else if (reports.length === 0) {
        process.stdout.write(`no phones connected to the adb server on port ${port}\n`);
      } else {
        process.stdout.write(`${table(reports)}\n`);
      }
    });
}
