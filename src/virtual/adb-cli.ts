/**
 * Runs the real `adb` client against a given adb server port. Always asynchronous: a synchronous
 * spawn would block the event loop that the virtual phones in this process need to answer the
 * server (shared/facts/adb-protocol.md §11 item 7).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export class AdbCliError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(message);
    this.name = 'AdbCliError';
  }
}

/** The adb binary: $ADB, else $ANDROID_HOME/platform-tools/adb, else `adb` on PATH. */
export function adbBinary(): string {
  if (process.env.ADB) return process.env.ADB;
  const home = process.env.ANDROID_HOME ?? process.env.ANDROID_SDK_ROOT;
  if (home) {
    const candidate = join(home, 'platform-tools', 'adb');
    if (existsSync(candidate)) return candidate;
  }
  return 'adb';
}

export function runAdb(
  adbPort: number,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? 15000;
  return new Promise((resolve, reject) => {
    execFile(
      adbBinary(),
      ['-P', String(adbPort), ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
          if (e.code === 'ENOENT') {
            reject(
              new AdbCliError(
                `the adb client was not found (${adbBinary()}): install it with \`apt-get install -y adb\` or set ADB=/path/to/adb`,
                '',
                '',
                null,
              ),
            );
            return;
          }
          const what = e.killed ? `timed out after ${timeoutMs} ms` : `failed (${String(e.code)})`;
          reject(
            new AdbCliError(
              `adb ${args.join(' ')} ${what}: ${(stderr || stdout).trim()}`,
              stdout,
              stderr,
              null,
            ),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** Parses `adb devices` output into serial → state. */
export function parseDevices(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m =
      /^(\S+)\s+(device|offline|unauthorized|no permissions|recovery|sideload|bootloader|host|authorizing|connecting)\b/.exec(
        line.trim(),
      );
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}
