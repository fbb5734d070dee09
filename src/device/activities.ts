/**
 * Activities by intent action, through the phone's own package manager and activity manager
 * (android-realities.md §7): resolve first, `cmd package resolve-activity --brief -a ACTION [-p PKG]`
 * (its last line is `pkg/.Activity`, or `No activity found`), then `am start -W -a ACTION [-p PKG]`.
 * Arguments go through Device.shell's argv quoting: nothing reaches the phone's shell unquoted.
 */
import type { Device } from './device.ts';
import { DeviceError } from './errors.ts';

export type ActivityShell = Pick<Device, 'shell' | 'serial'>;

export interface ActionIntent {
  action: string;
  /** Only activities of this package (`-p`). */
  package?: string;
}

/** AOSP's chooser: several activities handle the intent and none is the default. */
export const RESOLVER_ACTIVITY_CLASS = 'com.android.internal.app.ResolverActivity';

export type Resolution =
  | { kind: 'activity'; component: string }
  | { kind: 'none' }
  /** Several handlers, no default: `am start` would show a chooser. */
  | { kind: 'ambiguous'; component: string };

function intentArgs(i: ActionIntent): string[] {
  return ['-a', i.action, ...(i.package ? ['-p', i.package] : [])];
}

/** Which activity the phone would start for `intent`. */
export async function resolveActivity(
  device: ActivityShell,
  intent: ActionIntent,
  opts: { timeoutMs?: number } = {},
): Promise<Resolution> {
  const argv = ['cmd', 'package', 'resolve-activity', '--brief', ...intentArgs(intent)];
  const r = await device.shell(argv, opts);
  const lines = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  if (r.exitCode === 0 && /^No activity found/.test(last)) return { kind: 'none' };
  if (r.exitCode === 0 && /^[\w.]+\/[\w.$]+$/.test(last)) {
    return last.endsWith(RESOLVER_ACTIVITY_CLASS) || last.endsWith('.ResolverActivity')
      ? { kind: 'ambiguous', component: last }
      : { kind: 'activity', component: last };
  }
  const output = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ');
  throw new DeviceError({
    serial: device.serial,
    operation: `cmd package resolve-activity -a ${intent.action}`,
    problem: `gave no activity line (exit ${r.exitCode}${output ? `: ${output}` : ''})`,
    hint: 'Android 7 or later is needed for `cmd package resolve-activity`',
  });
}

/**
 * A line of `am start` output that reports a failure (`Error: …`, `Error type 3`, `…Exception…`): am
 * exits 0 on many Android versions even when nothing started. Also read by both UI drivers.
 */
export const AM_ERROR = /^(Error[: ].*|.*Exception.*|Error type \d+)$/m;

/**
 * `am start -W -a ACTION [-p PKG] [-f FLAGS]`. am exits 0 even when nothing started; its errors
 * (`Error: …`, `Exception occurred …`, `java.lang.SecurityException …`) are on stdout with -W or on
 * stderr, so both are read (cmd-am.ts on the virtual phone models the same).
 */
export async function startActivityByAction(
  device: ActivityShell,
  intent: ActionIntent & { flags?: number },
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  const argv = ['am', 'start', '-W', ...intentArgs(intent)];
  if (intent.flags !== undefined) argv.push('-f', `0x${intent.flags.toString(16)}`);
  const r = await device.shell(argv, opts);
  const text = `${r.stdout}\n${r.stderr}`;
  const m = AM_ERROR.exec(text);
  if (r.exitCode !== 0 || m) {
    throw new DeviceError({
      serial: device.serial,
      operation: `am start -a ${intent.action}`,
      problem: `failed: ${(m?.[0] ?? `exit ${r.exitCode}`).trim()}`,
      hint: 'Check what the action resolves to: adb shell cmd package resolve-activity --brief -a ACTION',
    });
  }
}
