/** Where phonehome keeps per-user runtime state (lab records, logs): $PHONEHOME_HOME or ~/.phonehome. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

export function stateDir(): string {
  const dir = process.env.PHONEHOME_HOME ?? join(homedir(), '.phonehome');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The adb server port: --adb-port, else ANDROID_ADB_SERVER_PORT (adb's own convention), else 5037. */
export function resolveAdbPortOption(explicit?: string | number): number {
  const raw = explicit ?? process.env.ANDROID_ADB_SERVER_PORT ?? '5037';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw Object.assign(new Error(`invalid adb server port '${raw}'`), {
      userFacing: true,
      hint: 'give --adb-port a number from 1 to 65535, or fix ANDROID_ADB_SERVER_PORT',
    });
  }
  return port;
}
