/**
 * Phones reached over adb's TCP transport (adbd listening on HOST:PORT, as `adb tcpip`, a
 * remote-connect service such as DeviceFarmer STF, or a virtual phone give it): `adb connect` on the
 * runner's own adb server, then a short wait for the `device` state. The adb server then carries
 * `adb reverse` over that transport back to this host, so the capture works as for a USB phone.
 *
 * adb 29 (adb-protocol.md §8): `host:connect:H:P` answers OKAY + "connected to H:P" or "already
 * connected to H:P" on success, OKAY + "failed to connect to …" / "unable to connect to …" on
 * failure; a phone whose TCP connection dropped stays `offline` (adb retries every ~10 s, gives up
 * after 60 s and forgets it), and while it is offline `adb connect` says "already connected": the
 * quick way back is `disconnect` then `connect`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdbClient } from './adb-client.ts';
import { hostQuery, listPhones, type PhoneEntry } from './discovery.ts';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** How long a connected phone may take to reach the `device` state. */
export const DEFAULT_DEVICE_WAIT_MS = 5_000;

export interface ConnectResult {
  serial: string;
  /** True when the adb server lists the phone as `device` (usable). */
  ok: boolean;
  /** Its state as the adb server lists it at the end (`absent` when not listed). */
  state: string;
  /** Why it is not usable: the adb server's answer, or its state. */
  problem?: string;
}

/** HOST:PORT (HOST may be a bracketed IPv6 address) → parts; undefined for any other serial. */
export function splitNetworkSerial(serial: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(serial);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined;
}

function deadlineLeft(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

/**
 * `adb connect SERIAL` on the client's adb server (unless the server already lists it as `device`),
 * then waits up to `deviceWaitMs` for the `device` state. `reconnect`: a phone listed but not
 * `device` (offline after a drop) is disconnected first, so it comes back at once. Never throws for
 * the phone's own problems (they are in the result); throws AdbServerError when the server does not
 * answer.
 */
export async function connectPhone(
  client: AdbClient,
  serial: string,
  opts: { timeoutMs?: number; deviceWaitMs?: number; reconnect?: boolean } = {},
): Promise<ConnectResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  if (!splitNetworkSerial(serial)) {
    return { serial, ok: false, state: 'absent', problem: `"${serial}" is not HOST:PORT` };
  }
  const stateOf = (phones: PhoneEntry[]): string =>
    phones.find((p) => p.serial === serial)?.state ?? 'absent';
  const before = stateOf(await listPhones(client, { timeoutMs: deadlineLeft(deadline) }));
  if (before === 'device') return { serial, ok: true, state: before };
  if (opts.reconnect && before !== 'absent') {
    await hostQuery(client, `host:disconnect:${serial}`, deadlineLeft(deadline)).catch(() => undefined);
  }
  let answer: string;
  try {
    answer = (await hostQuery(client, `host:connect:${serial}`, deadlineLeft(deadline))).trim();
  } catch (err) {
    // The server is down (AdbServerError with the socket error as its cause): that is not the phone's.
    if ((err as Error).name === 'AdbServerError' && (err as Error).cause !== undefined) throw err;
    return {
      serial,
      ok: false,
      state: before,
      problem: `adb connect ${serial} did not finish within ${timeoutMs} ms`,
    };
  }
  if (!/connected to/.test(answer) || /failed|unable|cannot/i.test(answer)) {
    return { serial, ok: false, state: before, problem: `adb connect ${serial}: ${answer || 'no answer'}` };
  }
  const waitUntil = Math.min(deadline, Date.now() + (opts.deviceWaitMs ?? DEFAULT_DEVICE_WAIT_MS));
  let state: string;
  for (;;) {
    state = stateOf(await listPhones(client, { timeoutMs: deadlineLeft(deadline) }));
    if (state === 'device') return { serial, ok: true, state };
    if (Date.now() >= waitUntil) break;
    await sleep(150);
  }
  return {
    serial,
    ok: false,
    state,
    problem: `connected, but the adb server lists it as ${state} (not device) after ${opts.deviceWaitMs ?? DEFAULT_DEVICE_WAIT_MS} ms`,
  };
}

/** connectPhone for several phones at once (each with its own deadline). */
export function connectPhones(
  client: AdbClient,
  serials: readonly string[],
  opts: { timeoutMs?: number; deviceWaitMs?: number; reconnect?: boolean } = {},
): Promise<ConnectResult[]> {
  return Promise.all(serials.map((s) => connectPhone(client, s, opts)));
}
