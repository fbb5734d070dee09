/**
 * Errors from the device layer. Each message names the phone, the operation and what to change,
 * in one line a person can act on (the line users paste into issues).
 */

/** `adb [-P port] -s serial <args>`: the command a person can run to check things by hand. */
export function adbCommand(port: number | undefined, serial: string | undefined, args: string): string {
  const p = port !== undefined && port !== 5037 ? `-P ${port} ` : '';
  const s = serial !== undefined ? `-s ${serial} ` : '';
  return `adb ${p}${s}${args}`;
}

/** `host:port` serials are network phones (`adb connect`); anything else is USB. */
export function isNetworkSerial(serial: string): boolean {
  return /^[^\s:]+:\d+$/.test(serial);
}

export interface DeviceErrorInit {
  serial: string;
  /**
   * What was being done, e.g. `shell "getprop ro.product.model"`, `reverse tcp:8080`. Empty when
   * the problem is the phone itself (the message then reads "phone S PROBLEM.").
   */
  operation: string;
  /** What went wrong, completing "phone S: OPERATION …", e.g. `timed out after 10000 ms`. */
  problem: string;
  /** What to change: one or more sentences. */
  hint?: string;
  cause?: unknown;
  /** Replaces the composed message (for problems that are not one operation's). */
  message?: string;
}

export class DeviceError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;
  readonly serial: string;
  readonly operation: string;
  readonly problem: string;
  readonly hint: string | undefined;

  constructor(init: DeviceErrorInit) {
    const problem = init.problem.replace(/[.\s]+$/, '');
    const head = init.operation
      ? `phone ${init.serial}: ${init.operation} ${problem}`
      : `phone ${init.serial} ${problem}`;
    super(init.message ?? (init.hint ? `${head}. ${sentence(init.hint)}` : `${head}.`), {
      cause: init.cause,
    });
    this.name = 'DeviceError';
    this.serial = init.serial;
    this.operation = init.operation;
    this.problem = problem;
    this.hint = init.hint;
  }
}

/** adb states in which a phone cannot be used, as `adb devices` prints them. */
export type UnavailableState =
  | 'offline'
  | 'unauthorized'
  | 'no permissions'
  | 'authorizing'
  | 'connecting'
  | 'bootloader'
  | 'recovery'
  | 'sideload'
  | 'rescue'
  | 'host'
  | 'unknown'
  | (string & {});

/** The fix for a phone adb lists in `state`, or undefined when the state is usable (`device`). */
export function fixForState(state: string, serial: string, port?: number): string | undefined {
  switch (state) {
    case 'device':
    case 'emulator':
      return undefined;
    case 'unauthorized':
      return (
        'unlock the phone and accept the USB debugging prompt (tick "Always allow from this computer"); ' +
        'if no prompt appears, use "Revoke USB debugging authorisations" in Developer options and reconnect'
      );
    case 'offline':
      return isNetworkSerial(serial)
        ? `reconnect it: ${adbCommand(port, undefined, `disconnect ${serial}`)} && ${adbCommand(port, undefined, `connect ${serial}`)} (for a virtual phone: phonehome lab status)`
        : `replug the USB cable or run ${adbCommand(port, undefined, 'reconnect offline')}; check the phone is unlocked and USB debugging is on`;
    case 'no permissions':
      return (
        'the adb server may not open this USB device: add a udev rule for Xiaomi (idVendor 2717) and replug, ' +
        'or run the adb server as a user in the plugdev group (adb devices -l shows the details)'
      );
    case 'authorizing':
    case 'connecting':
      return 'wait a few seconds and retry; if it stays so, unlock the phone and accept the USB debugging prompt';
    case 'bootloader':
    case 'recovery':
    case 'sideload':
    case 'rescue':
      return `the phone is in ${state} mode: boot it into Android (${adbCommand(port, serial, 'reboot')})`;
    default:
      return (
        `adb reports it as "${state}": enable USB debugging and "USB debugging (Security settings)" ` +
        'in Developer options, then reconnect'
      );
  }
}

function describeState(state: string): string {
  switch (state) {
    case 'offline':
    case 'unauthorized':
    case 'authorizing':
    case 'connecting':
      return `is ${state}`;
    case 'no permissions':
      return 'cannot be opened by the adb server (no permissions)';
    case 'bootloader':
    case 'recovery':
    case 'sideload':
    case 'rescue':
      return `is in ${state} mode`;
    default:
      return `is listed by adb as "${state}"`;
  }
}

/** A phone that adb lists but cannot be used in its current state (offline, unauthorized, …). */
export class DeviceUnavailableError extends DeviceError {
  readonly state: UnavailableState;

  constructor(init: {
    serial: string;
    state: UnavailableState;
    operation?: string;
    port?: number;
    cause?: unknown;
  }) {
    const fix = fixForState(init.state, init.serial, init.port);
    super({
      serial: init.serial,
      operation: init.operation ?? '',
      problem: init.operation ? `failed: the phone ${describeState(init.state)}` : describeState(init.state),
      ...(fix ? { hint: fix } : {}),
      cause: init.cause,
    });
    this.name = 'DeviceUnavailableError';
    this.state = init.state;
  }
}

/** The adb server does not answer at all (refused), or not in time. */
export class AdbServerError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;
  readonly host: string;
  readonly port: number;

  constructor(init: { host: string; port: number; timeoutMs?: number; cause?: unknown }) {
    const { host, port } = init;
    super(
      init.timeoutMs === undefined
        ? `cannot reach the adb server on ${host}:${port}: start it with \`adb -P ${port} start-server\` ` +
            'or set ANDROID_ADB_SERVER_PORT'
        : `the adb server on ${host}:${port} did not answer within ${init.timeoutMs} ms: ` +
            `check it with \`adb -P ${port} devices\`; if that hangs too, restart it (\`adb -P ${port} kill-server\`)`,
      { cause: init.cause },
    );
    this.name = 'AdbServerError';
    this.host = init.host;
    this.port = init.port;
  }
}

/**
 * An adb server port that is not a TCP port, naming where it came from (an option, or
 * ANDROID_ADB_SERVER_PORT) and, in `hint`, how to fix it.
 */
export class AdbPortError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;
  readonly value: string;
  /** Where the value came from: an option name (`--adb-port`) or `ANDROID_ADB_SERVER_PORT`. */
  readonly source: string;
  readonly hint: string;

  constructor(init: { value: string | number; source: string; fromEnv?: boolean }) {
    const value = String(init.value);
    super(
      `invalid adb server port '${value}' ${init.fromEnv ? 'in' : 'given as'} ${init.source}: ` +
        'it must be a whole number from 1 to 65535',
    );
    this.name = 'AdbPortError';
    this.value = value;
    this.source = init.source;
    this.hint = init.fromEnv
      ? `set ${init.source} to the port your adb server listens on, or unset it to use 5037`
      : `give ${init.source} the port your adb server listens on (adb's default is 5037)`;
  }
}

/**
 * The Xiaomi developer-option traps, recognised in command output (xiaomi-telemetry.md §4.4).
 * Returns the fix, or undefined.
 */
export function hintForDeviceOutput(output: string): string | undefined {
  if (/WRITE_SECURE_SETTINGS|INJECT_EVENTS/.test(output)) {
    return (
      'Enable "USB debugging (Security settings)" in Developer options (MIUI/HyperOS may ask for a Mi account ' +
      'sign-in and a reboot before it takes effect).'
    );
  }
  if (/INSTALL_FAILED_USER_RESTRICTED/.test(output)) {
    return 'Enable "Install via USB" in Developer options (and turn off "MIUI optimization" if a confirmation pops up).';
  }
  return undefined;
}

/** Capitalised, ending in a full stop. */
function sentence(s: string): string {
  const text = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
