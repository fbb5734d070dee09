/**
 * `phonehome devices`: the phones the adb server knows, what each one is (model, MIUI/HyperOS,
 * Android, region, root), and for unusable ones what to do.
 */
import { InvalidArgumentError, type Command } from 'commander';
import {
  AdbServerError,
  Device,
  createAdbClient,
  listPhones,
  type Fingerprint,
  type PhoneEntry,
} from '../../device/index.ts';
import { UserError } from '../errors.ts';

const DEFAULT_TIMEOUT_MS = 10_000;

export interface DeviceReport {
  serial: string;
  state: string;
  available: boolean;
  /** The fix for an unusable phone, or why its fingerprint could not be read. */
  problem?: string;
  fingerprint?: Fingerprint;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgumentError('must be a port (1–65535)');
  return port;
}

function parseMs(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new InvalidArgumentError('must be a positive number of milliseconds');
  return ms;
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

export function registerDevicesCommand(program: Command, opts: { getAdbPort: () => number }): void {
  program
    .command('devices')
    .description(
      'list the phones connected to the adb server, with model, MIUI/HyperOS, Android, region and root',
    )
    .option('--json', 'print a JSON array of {serial, state, available, problem?, fingerprint?}')
    .option('--adb-port <port>', 'adb server port (default: ANDROID_ADB_SERVER_PORT, else 5037)', parsePort)
    .option('--timeout <ms>', 'adb timeout per phone call, in ms', parseMs, DEFAULT_TIMEOUT_MS)
    .action(async (o: { json?: boolean; adbPort?: number; timeout: number }) => {
      const port = o.adbPort ?? opts.getAdbPort();
      const client = createAdbClient({ port });
      let phones: PhoneEntry[];
      try {
        phones = await listPhones(client, { timeoutMs: o.timeout });
      } catch (err) {
        // The message already says what to do; no stack trace for a missing server.
        if (err instanceof AdbServerError) throw new UserError(err.message);
        throw err;
      }
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
