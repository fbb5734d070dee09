/**
 * Parsers for the options the commands share. Each fails with a UserFacingError naming the option and
 * the value it got; ports go through the device layer's one port parser.
 */
import { Option } from 'commander';
import { parsePort, resolveAdbPort } from '../device/adb-client.ts';
import { CA_METHODS, type CaMethod } from '../capture/wiring.ts';
import { UserFacingError } from '../util/user-facing.ts';

/** The adb server port: --adb-port, else ANDROID_ADB_SERVER_PORT, else 5037. */
export function adbPortOption(value: string | undefined): number {
  return resolveAdbPort(value, { option: '--adb-port' });
}

// The option definitions the commands share: one spelling of each flag and its parser. Descriptions
// that differ on purpose (`run`'s per-phone default, a command's own timeout) are passed in.

/** `--adb-port <port>`, kept as text: the action resolves it with adbPortOption (env, then 5037). */
export function adbPortFlag(
  description = 'adb server port (default: $ANDROID_ADB_SERVER_PORT or 5037)',
): Option {
  return new Option('--adb-port <port>', description);
}

/** `--json`: what the command prints instead of its text. */
export function jsonFlag(description: string): Option {
  return new Option('--json', description);
}

/** `--timeout <ms>` in milliseconds (timeoutMsParser), with its default. */
export function timeoutFlag(description: string, defaultMs: number): Option {
  return new Option('--timeout <ms>', description).default(defaultMs).argParser(timeoutMsParser('--timeout'));
}

/** A commander argParser for a port option (`--appium-port` …): 1–65535. */
export function portParser(option: string): (value: string) => number {
  return (value) => {
    const port = parsePort(value);
    if (port === undefined)
      throw new UserFacingError(`${option} must be a port number from 1 to 65535 (got '${value}')`);
    return port;
  };
}

/** setTimeout's limit: a longer delay fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** A commander argParser for a `--timeout <ms>`-style option: a whole number of milliseconds ≥ 1. */
export function timeoutMsParser(option: string): (value: string) => number {
  return (value) => {
    const ms = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_TIMEOUT_MS) {
      throw new UserFacingError(
        `${option} must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (got '${value}')`,
      );
    }
    return ms;
  };
}

/** `--phones`: 1–64. */
export function parsePhoneCount(value: string): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new UserFacingError(`--phones must be a whole number from 1 to 64 (got '${value}')`);
  }
  return n;
}

/** Phone ports: unprivileged, below the ephemeral range, and outside the adb server's emulator ports. */
export const PHONE_PORT_MIN = 1024;
export const PHONE_PORT_MAX = 65000;
export const EMULATOR_PORT_FIRST = 5555;
export const EMULATOR_PORT_LAST = 5585;

const EMULATOR_HINT = `the adb server treats ${EMULATOR_PORT_FIRST}–${EMULATOR_PORT_LAST} as emulator ports`;

/** `--base-port` on its own (the range it starts is checked by checkPhonePorts once the count is known). */
export function parseBasePort(value: string): number {
  const n = parsePort(value);
  if (
    n === undefined ||
    n < PHONE_PORT_MIN ||
    n > PHONE_PORT_MAX ||
    (n >= EMULATOR_PORT_FIRST && n <= EMULATOR_PORT_LAST)
  ) {
    throw new UserFacingError(
      `--base-port must be ${PHONE_PORT_MIN}–${PHONE_PORT_MAX} and outside ` +
        `${EMULATOR_PORT_FIRST}–${EMULATOR_PORT_LAST} (got '${value}')`,
      EMULATOR_HINT,
    );
  }
  return n;
}

/**
 * The phones get ports base … base+count−1: all of them must be ≤ 65000 and outside 5555–5585
 * (a base below 5555 can run into the emulator range).
 */
export function checkPhonePorts(base: number, count: number): void {
  const last = base + count - 1;
  const phones = `${count} phone${count === 1 ? '' : 's'}`;
  if (last > PHONE_PORT_MAX) {
    throw new UserFacingError(
      `--base-port ${base} with ${phones} needs ports ${base}–${last}, beyond ${PHONE_PORT_MAX}`,
      `use a --base-port of at most ${PHONE_PORT_MAX - count + 1}`,
    );
  }
  if (base <= EMULATOR_PORT_LAST && last >= EMULATOR_PORT_FIRST) {
    const below = EMULATOR_PORT_FIRST - count;
    throw new UserFacingError(
      `--base-port ${base} with ${phones} needs ports ${base}–${last}, which overlap ` +
        `${EMULATOR_PORT_FIRST}–${EMULATOR_PORT_LAST}`,
      `${EMULATOR_HINT}: use a --base-port ` +
        `${below >= PHONE_PORT_MIN ? `of at most ${below} or ` : ''}from ${EMULATOR_PORT_LAST + 1}`,
    );
  }
}

/** `--ca-method`: auto or one of the wiring's methods (usage error, exit 2, otherwise). */
export function parseCaMethod(v: string): CaMethod | 'auto' {
  if (v === 'auto' || (CA_METHODS as readonly string[]).includes(v)) return v as CaMethod | 'auto';
  throw new UserFacingError(
    `--ca-method must be one of auto, ${CA_METHODS.join(', ')}; not ${JSON.stringify(v)}`,
    undefined,
    2,
  );
}

/** The `--ca-method` option `phonehome capture` and `phonehome run` share (parsed by the action: parseCaMethod). */
export function caMethodOption(): Option {
  return new Option(
    '--ca-method <method>',
    `how to make phones trust the lab CA: auto (preinstalled, else system-tmpfs with root, else none; ` +
      `never remounts /system), ${CA_METHODS.join(', ')}; system-remount writes into /system and is run only when named`,
  ).default('auto');
}
