/**
 * The Device error classifier: what adb and adbkit throw (a refused adb server, a FAIL with its
 * reason, a closed connection) mapped to phonehome's device errors (src/device/errors.ts), each
 * naming the phone, the operation and the fix. It sits beside errors.ts rather than inside it because
 * it needs adbkit's error classes from adb-client.ts, which itself imports errors.ts (AdbPortError):
 * one file would make an import cycle.
 */
import { AdbParser } from './adb-client.ts';
import {
  AdbServerError,
  DeviceError,
  DeviceUnavailableError,
  adbCommand,
  hintForDeviceOutput,
  isNetworkSerial,
} from './errors.ts';
import { AdbClosedError, AdbFailError } from './service.ts';

/** The phone, the operation and the adb server an error came from. */
export interface AdbErrorContext {
  serial: string;
  operation: string;
  host: string;
  port: number;
}

/** The message of an adb FAIL, from our requests or adbkit's (`Failure: '…'`). */
export function failReason(err: unknown): string | undefined {
  if (err instanceof AdbFailError) return err.reason;
  if (err instanceof AdbParser.FailError) {
    const m = /^Failure: '([\s\S]*)'$/.exec(err.message);
    return m?.[1] ?? err.message;
  }
  return undefined;
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.trim() ?? '';
}

function notConnectedHint(serial: string, port: number): string {
  return isNetworkSerial(serial)
    ? `Run \`phonehome lab status\` or \`${adbCommand(port, undefined, `connect ${serial}`)}\``
    : `Check the cable and that USB debugging is on, then \`${adbCommand(port, undefined, 'devices -l')}\``;
}

/** `err`, thrown while `operation` ran on the phone, as a DeviceError (a DeviceError is kept as is). */
export function toDeviceError(err: unknown, at: AdbErrorContext): DeviceError {
  if (err instanceof DeviceError) return err;
  const { serial, operation, host, port } = at;
  const base = { serial, operation, cause: err };
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'EHOSTUNREACH' ||
    code === 'EADDRNOTAVAIL'
  ) {
    const server = new AdbServerError({ host, port, cause: err });
    return new DeviceError({
      ...base,
      problem: `failed: cannot reach the adb server on ${host}:${port}`,
      hint: `Start it with \`adb -P ${port} start-server\` or set ANDROID_ADB_SERVER_PORT`,
      cause: server,
    });
  }
  const reason = failReason(err);
  if (reason !== undefined) {
    if (/device '.*' not found|device not found|no devices|no emulators/i.test(reason)) {
      return new DeviceError({
        ...base,
        problem: `failed: not connected to the adb server on port ${port}`,
        hint: notConnectedHint(serial, port),
      });
    }
    const state =
      /device (offline|unauthorized)|(no permissions|insufficient permissions)|device still (connecting|authorizing)/i.exec(
        reason,
      );
    if (state) {
      const s = state[1] ?? (state[2] ? 'no permissions' : (state[3] ?? 'unknown'));
      return new DeviceUnavailableError({ ...base, state: s.toLowerCase(), port });
    }
    if (reason.trim() === '') {
      return new DeviceError({
        ...base,
        problem: 'failed: the adb server refused without giving a reason',
        hint: `Check the phone is connected (${adbCommand(port, serial, 'get-state')})`,
      });
    }
    const hint = hintForDeviceOutput(reason);
    return new DeviceError({ ...base, problem: `failed: ${firstLine(reason)}`, ...(hint ? { hint } : {}) });
  }
  if (
    err instanceof AdbClosedError ||
    err instanceof AdbParser.PrematureEOFError ||
    code === 'ECONNRESET' ||
    code === 'EPIPE'
  ) {
    return new DeviceError({
      ...base,
      problem: 'failed: the adb connection closed unexpectedly',
      hint: `Check the phone is still connected (${adbCommand(port, serial, 'get-state')})`,
    });
  }
  return new DeviceError({
    ...base,
    problem: `failed: ${firstLine((err as Error)?.message ?? String(err))}`,
  });
}
