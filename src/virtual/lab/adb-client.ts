/**
 * Runs the real `adb` client against a given adb server port. Always asynchronous: a synchronous
 * spawn would block the event loop that the virtual phones in this process need to answer the
 * server (shared/facts/adb-protocol.md §11 item 7).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** An `adb` command that failed: the message names the command and what it printed. */
export class AdbCliError extends Error {
  /** The message is meant for people (the CLI prints it without a stack trace). */
  readonly userFacing = true;

  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | null,
    /** What to do about it, when we know. */
    readonly hint?: string,
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
                `the adb client was not found (${adbBinary()})`,
                '',
                '',
                null,
                'install it with `apt-get install -y adb`, or set ADB=/path/to/adb',
              ),
            );
            return;
          }
          const what = e.killed ? `timed out after ${timeoutMs} ms` : `failed (${String(e.code)})`;
          const output = (stderr || stdout).trim();
          reject(
            new AdbCliError(
              `adb -P ${adbPort} ${args.join(' ')} ${what}${output ? `: ${output}` : ''}`,
              stdout,
              stderr,
              typeof e.code === 'number' ? e.code : null,
              e.killed
                ? `check the adb server (\`adb -P ${adbPort} devices\`); if that hangs too, restart it (\`adb -P ${adbPort} kill-server\`)`
                : undefined,
            ),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/**
 * True when something accepts a TCP connection on 127.0.0.1:`port` within `timeoutMs`: the adb
 * server is up. Probe before an `adb` command that must not start a server where none runs
 * (`adb devices`, `adb disconnect` and `adb connect` all start one).
 */
export function adbServerListening(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const done = (up: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(up);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
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
