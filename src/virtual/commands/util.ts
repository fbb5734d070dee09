/** Helpers shared by the Android commands. */
import { posix } from 'node:path';
import type { VirtualPhone } from '../phone.ts';
import type { CommandContext } from './types.ts';
import { type LogBuffer, type Priority, recordBoot } from '../os/logcat.ts';

export async function out(ctx: CommandContext, text: string | Uint8Array): Promise<void> {
  await ctx.stdout.write(text);
}

export async function err(ctx: CommandContext, text: string): Promise<void> {
  await ctx.stderr.write(text);
}

/**
 * ShellCommand's default handling of a sub-command: none, `help` or `-h` print the help text,
 * anything else is an unknown command; both exit 255.
 */
export async function helpOrUnknown(
  ctx: CommandContext,
  sub: string | undefined,
  help: string,
): Promise<number> {
  await out(ctx, sub === undefined || sub === 'help' || sub === '-h' ? help : `Unknown command: ${sub}\n`);
  return 255;
}

/** Writes lines (each followed by \n) to stdout in one chunk. */
export async function lines(ctx: CommandContext, rows: string[]): Promise<void> {
  if (rows.length) await ctx.stdout.write(rows.join('\n') + '\n');
}

export function sdkOf(phone: VirtualPhone): number {
  return Number(phone.props.get('ro.build.version.sdk')) || 29;
}

/** Resolves `p` against the command's working directory. */
export function resolvePath(ctx: CommandContext, p: string): string {
  return posix.resolve(ctx.cwd || '/', p);
}

/** Reads all of stdin (or up to `limit` bytes, when given). */
export async function readStdin(ctx: CommandContext, limit?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  while (limit === undefined || total < limit) {
    if (ctx.signal.aborted) break;
    const chunk = await ctx.stdin.read();
    if (chunk === null) break;
    chunks.push(chunk);
    total += chunk.length;
  }
  const all = Buffer.concat(chunks);
  return limit === undefined ? all : all.subarray(0, limit);
}

const ERRNO: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EPERM: 'Operation not permitted',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EINVAL: 'Invalid argument',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EEXIST: 'File exists',
  EROFS: 'Read-only file system',
  ENOTEMPTY: 'Directory not empty',
  ENOSPC: 'No space left on device',
};

/** The strerror() text for an error carrying an errno `code` (VfsError), else its message. */
export function errnoText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && ERRNO[code]) return ERRNO[code];
  return e instanceof Error ? e.message : String(e);
}

/** Parses a decimal (or 0x hex) integer; undefined when malformed. */
export function parseIntArg(s: string | undefined): number | undefined {
  if (s === undefined || !/^-?(0x[0-9a-f]+|\d+)$/i.test(s.trim())) return undefined;
  return Number.parseInt(s.trim(), s.trim().toLowerCase().includes('0x') ? 16 : 10);
}

/**
 * The phone's log, with this boot's boot messages recorded on first use (the phone clears the log
 * at every boot, so they are added lazily here).
 */
export function phoneLog(phone: VirtualPhone): LogBuffer {
  const log = phone.logcat;
  if (log.bootStamp !== phone.bootedAt) recordBoot(log, phone.profile, phone.processes, phone.bootedAt);
  return log;
}

/** Appends a line as system_server would log it (pid of system_server). */
export function systemLog(phone: VirtualPhone, priority: Priority, tag: string, message: string): void {
  const pid = phone.processes.byName('system_server')[0]?.pid ?? 0;
  const tid = pid ? pid + 17 + (tag.length % 40) : 0;
  phoneLog(phone).append({ pid, tid, priority, tag, message, buffer: 'system' });
}

/** Per-phone state the Android commands keep that no state class owns; reset at every boot. */
export interface DeviceState {
  bootedAt: number;
  awake: boolean;
  selinuxEnforcing: boolean;
  /** deviceidle whitelist additions. */
  idleWhitelist: Set<string>;
  /** Running `am instrument` sessions, by component. */
  instrumentations: Map<string, { targetPackage: string; abort: AbortController }>;
  battery: { level: number; plugged: boolean };
  /** The keyguard (lock screen without a PIN) is showing; from the profile's `state.keyguard`. */
  keyguard: boolean;
  /** App-op modes set per package (`cmd appops set`), `pkg op` → mode; seeded from `state.backgroundRestricted`. */
  appops: Map<string, string>;
}

const states = new WeakMap<VirtualPhone, DeviceState>();

export function deviceState(phone: VirtualPhone): DeviceState {
  let s = states.get(phone);
  if (!s || s.bootedAt !== phone.bootedAt) {
    for (const run of s?.instrumentations.values() ?? []) run.abort.abort();
    s = {
      bootedAt: phone.bootedAt,
      awake: phone.profile.state?.screenOn ?? true,
      selinuxEnforcing: true,
      idleWhitelist: new Set(),
      instrumentations: new Map(),
      battery: { level: 87, plugged: true },
      keyguard: phone.profile.state?.keyguard ?? false,
      appops: new Map(
        (phone.profile.state?.backgroundRestricted ?? []).map((p) => [
          `${p} RUN_ANY_IN_BACKGROUND`,
          'ignore',
        ]),
      ),
    };
    states.set(phone, s);
  }
  return s;
}
