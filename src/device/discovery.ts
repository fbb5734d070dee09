/**
 * Which phones the adb server knows, in which state, and what to do about unusable ones.
 * `offline`, `unauthorized` and `no permissions` phones are listed but not available.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { openConnection, type AdbClient, type AdbConnection } from './adb-client.ts';
import { Device, type DeviceOptions } from './device.ts';
import {
  AdbServerError,
  DeviceError,
  DeviceUnavailableError,
  adbCommand,
  fixForState,
  isNetworkSerial,
} from './errors.ts';
import { AdbClosedError, queryValue, readHexValue, request } from './service.ts';

export const DEFAULT_LIST_TIMEOUT_MS = 10_000;

export interface PhoneEntry {
  serial: string;
  /** As `adb devices` prints it: `device`, `offline`, `unauthorized`, `no permissions`, `recovery` … */
  state: string;
  available: boolean;
  /** For unavailable phones: the fix. */
  problem?: string;
}

/** One `adb devices` line (`serial\tstate`); `no permissions (…udev…)` is cut to `no permissions`. */
export function parseDeviceList(text: string): Array<{ serial: string; state: string }> {
  return text
    .split('\n')
    .map((line) => line.replace(/\r$/, ''))
    .filter((line) => line.includes('\t'))
    .map((line) => {
      const [serial = '', rawState = ''] = line.split('\t');
      const state = rawState.startsWith('no permissions') ? 'no permissions' : rawState.trim();
      return { serial, state };
    });
}

function toEntry(d: { serial: string; state: string }, port: number): PhoneEntry {
  const problem = fixForState(d.state, d.serial, port);
  return problem === undefined
    ? { serial: d.serial, state: d.state, available: true }
    : { serial: d.serial, state: d.state, available: false, problem };
}

function isServerDown(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EADDRNOTAVAIL'
  );
}

/** One host request (`host:devices`, …) with a deadline; the connection is always destroyed. */
export async function hostQuery(client: AdbClient, service: string, timeoutMs: number): Promise<string> {
  const port = Number(client.port);
  let conn: AdbConnection | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      conn?.socket.destroy();
      reject(new AdbServerError({ host: client.host, port, timeoutMs }));
    }, timeoutMs);
  });
  const work = (async () => {
    const c = await openConnection(client);
    conn = c;
    if (timedOut) c.socket.destroy();
    return queryValue(c, service);
  })();
  try {
    return await Promise.race([work, deadline]);
  } catch (err) {
    if (isServerDown(err)) throw new AdbServerError({ host: client.host, port, cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
    conn?.socket.destroy();
  }
}

/**
 * Every phone the adb server lists, with its state and, when unusable, the fix.
 * Throws AdbServerError when the server does not answer.
 */
export async function listPhones(
  client: AdbClient,
  opts: { timeoutMs?: number } = {},
): Promise<PhoneEntry[]> {
  const text = await hostQuery(client, 'host:devices', opts.timeoutMs ?? DEFAULT_LIST_TIMEOUT_MS);
  const port = Number(client.port);
  return parseDeviceList(text).map((d) => toEntry(d, port));
}

/**
 * A Device for `serial`, after checking the adb server lists it as usable. Fails with a
 * DeviceUnavailableError naming the state and the fix, or a DeviceError listing the phones that
 * are connected.
 */
export async function getDevice(
  client: AdbClient,
  serial: string,
  opts: DeviceOptions & { listTimeoutMs?: number } = {},
): Promise<Device> {
  const port = Number(client.port);
  const phones = await listPhones(client, {
    timeoutMs: opts.listTimeoutMs ?? opts.timeoutMs ?? DEFAULT_LIST_TIMEOUT_MS,
  });
  const entry = phones.find((p) => p.serial === serial);
  if (!entry) {
    const connected = phones.length ? phones.map((p) => `${p.serial} (${p.state})`).join(', ') : 'none';
    const fix = isNetworkSerial(serial)
      ? `run \`phonehome lab status\` or \`${adbCommand(port, undefined, `connect ${serial}`)}\``
      : 'check the cable, the serial and that USB debugging is on';
    throw new DeviceError({
      serial,
      operation: '',
      problem: `is not connected to the adb server on port ${port}`,
      message: `no phone with serial ${serial} on the adb server at ${client.host}:${port}; connected: ${connected}. Fix: ${fix}.`,
    });
  }
  if (!entry.available) throw new DeviceUnavailableError({ serial, state: entry.state, port });
  return new Device(client, serial, opts);
}

export interface PhoneTracker {
  /** The phones as last reported. */
  readonly phones: PhoneEntry[];
  stop(): void;
}

export interface TrackOptions {
  /** Called when the adb server goes away or tracking fails; tracking resumes on its own. */
  onError?: (err: Error) => void;
  /** Pause before re-subscribing after the server connection ended. Default 1000 ms. */
  retryMs?: number;
}

/**
 * Follows `host:track-devices`: calls `onChange` with the full list whenever it changes. When the
 * server connection ends (adb server restarted or killed) it reports an empty list, then subscribes
 * again on a new connection and reports what that one sees.
 *
 * The protocol sends the whole list on every change, so this reads it directly instead of using
 * adbkit's Tracker, which emits only differences and starts reading before a caller can attach
 * listeners (the first list can be lost).
 *
 * adb 29 reports a dropped network phone only when it reconnects or after 60 s (adb-protocol.md §8):
 * do not rely on this for prompt drop detection.
 */
export function trackPhones(
  client: AdbClient,
  onChange: (phones: PhoneEntry[]) => void,
  opts: TrackOptions = {},
): PhoneTracker {
  const port = Number(client.port);
  const retryMs = opts.retryMs ?? 1000;
  let stopped = false;
  let current: AdbConnection | undefined;
  let phones: PhoneEntry[] = [];

  const publish = (next: PhoneEntry[]) => {
    phones = next;
    onChange(phones);
  };

  const follow = async (): Promise<void> => {
    while (!stopped) {
      let conn: AdbConnection | undefined;
      try {
        conn = await openConnection(client);
        current = conn;
        if (stopped) return;
        await request(conn, 'host:track-devices');
        for (;;) {
          const text = (await readHexValue(conn, 'while tracking devices')).toString('utf8');
          publish(parseDeviceList(text).map((d) => toEntry(d, port)));
        }
      } catch (err) {
        if (stopped) return;
        // The server connection is gone, and with it what we know; the next one tells again.
        if (phones.length > 0) publish([]);
        const down = isServerDown(err) || err instanceof AdbClosedError;
        opts.onError?.(down ? new AdbServerError({ host: client.host, port, cause: err }) : (err as Error));
      } finally {
        conn?.socket.destroy();
        current = undefined;
      }
      if (!stopped) await sleep(retryMs);
    }
  };
  void follow();

  return {
    get phones() {
      return phones;
    },
    stop() {
      stopped = true;
      current?.socket.destroy();
    },
  };
}
