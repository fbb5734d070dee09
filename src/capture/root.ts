/**
 * Root on a phone (issue 11 §2), as ../shared/facts/android-realities.md §2 describes it:
 *
 * - adbd already root (`adb root` on userdebug builds): the plain shell is root.
 * - MagiskSU: `su -v` prints `<version>:MAGISKSU` (su.cpp). Scripts run as `su -mm -c <cmd>`:
 *   `-mm` (mount master) puts the root shell in the global mount namespace whatever the user's
 *   "Mount namespace mode" (Global / Inherit / Isolated), so a tmpfs it mounts reaches the zygotes
 *   and apps by propagation. `-c` takes every remaining argument, joined with spaces, so it goes
 *   last. Never probe with `su 0 id`: MagiskSU ignores arguments after the uid and opens a shell that
 *   reads stdin.
 * - KernelSU: `su -v` prints `<version>:KernelSU` (userspace/ksud/src/su.rs); `-M`/`--mount-master`
 *   switches to PID 1's namespace; `-c` joins the rest as in Magisk.
 * - AOSP userdebug `su` (system/extras su/su.cpp): `usage: su [WHO [COMMAND...]]`, rejects `-v`
 *   (`su: invalid uid/gid '-v'`); runs `su 0 sh -c <cmd>`.
 * - Any other `su` that answers `-v`: `su -c <cmd>`.
 *
 * The first root use raises MagiskSU's grant prompt on the phone, which auto-denies after 10 s by
 * default (`su_request_timeout`); the confirmation waits {@link ROOT_PROMPT_WAIT_MS} and says on
 * screen, before waiting, that the phone is asking. A refusal is stderr `Permission denied`, exit 13.
 */
import type { Device, ShellResult } from '../device/index.ts';
import type { Root } from '../device/root.ts';

export { probeRoot, suKindFromVersion, type Root, type RootKind } from '../device/root.ts';
import { UserFacingError } from '../util/user-facing.ts';

/** Wiring a phone failed; the message names the phone and the step, the hint the fix. */
export class WiringError extends UserFacingError {}

/** Longer than MagiskSU's default prompt timeout (10 s), so a person has time to tap Grant. */
export const ROOT_PROMPT_WAIT_MS = 15_000;
/** A root script once root is granted. */
export const ROOT_SCRIPT_MS = 30_000;

/** Magisk's / KernelSU's exit status for a refused request (su.cpp, daemon.rs). */
export const SU_DENIED_EXIT = 13;

/** The argv that runs `cmd` (one sh command line) as root in the global mount namespace where possible. */
export function rootArgv(root: Root, cmd: string): string[] {
  switch (root.kind) {
    case 'adbd':
      return ['sh', '-c', cmd];
    case 'magisk':
      return ['su', '-mm', '-c', cmd];
    case 'kernelsu':
      return ['su', '-M', '-c', cmd];
    case 'su':
      return ['su', '-c', cmd];
    case 'aosp-su':
      return ['su', '0', 'sh', '-c', cmd];
  }
}

export function describeRoot(root: Root | null): string {
  if (!root) return 'no root';
  switch (root.kind) {
    case 'adbd':
      return 'adbd runs as root';
    case 'magisk':
      return `MagiskSU ${root.version ?? ''} (su -mm -c: global mount namespace)`.replace('  ', ' ');
    case 'kernelsu':
      return `KernelSU ${root.version ?? ''} (su -M -c: global mount namespace)`.replace('  ', ' ');
    case 'su':
      return `su ${root.version ?? ''} (su -c)`.replace('  ', ' ');
    case 'aosp-su':
      return 'AOSP su (su 0 sh -c)';
  }
}

const GRANT_FIX =
  'on the phone open Magisk › Superuser and allow Shell (com.android.shell), or tap Grant when the prompt shows; ' +
  'or capture without decryption: --ca-method none';

/** Why a root call failed, as a WiringError naming the step; null when it did not fail for root. */
export function rootRefusal(serial: string, r: ShellResult, step = 'getting root (su)'): WiringError | null {
  // MagiskSU prints exactly `Permission denied` (strerror(EACCES)); a script's own errors that
  // mention it (`mount: permission denied`) are not a refusal.
  if (r.exitCode === SU_DENIED_EXIT || r.stderr.trim() === 'Permission denied') {
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ');
    return new WiringError(
      `${serial}: ${step}: root was refused (exit ${r.exitCode}${said ? `: ${said}` : ''})`,
      GRANT_FIX,
    );
  }
  return null;
}

/**
 * The first root use: asks for root (a person may have to tap Grant on the phone: the line goes out
 * before the wait) and checks that the answer is uid 0. Throws a WiringError naming the step and
 * the fix when root is refused or nobody answers in time.
 */
export async function confirmRoot(
  device: Device,
  root: Root,
  log: (line: string) => void,
  waitMs = ROOT_PROMPT_WAIT_MS,
): Promise<Root> {
  if (root.kind === 'adbd') return root;
  log(
    `phone ${device.serial}: asking for root (${describeRoot(root)}) — if a Magisk prompt shows on the phone, ` +
      `tap Grant (it auto-denies in 10 s)`,
  );
  let r: ShellResult;
  try {
    r = await device.shell(rootArgv(root, 'id'), { timeoutMs: waitMs });
  } catch (err) {
    throw new WiringError(
      `${device.serial}: getting root (su): no answer in ${Math.round(waitMs / 1000)} s ` +
        `(${err instanceof Error ? err.message : String(err)})`,
      GRANT_FIX,
    );
  }
  const refused = rootRefusal(device.serial, r);
  if (refused) throw refused;
  if (r.exitCode !== 0 || !/\buid=0\(/.test(r.stdout)) {
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' / ');
    throw new WiringError(
      `${device.serial}: getting root (su): \`${rootArgv(root, 'id').join(' ')}\` did not give uid 0 ` +
        `(exit ${r.exitCode}${said ? `: ${said}` : ''})`,
      GRANT_FIX,
    );
  }
  return root;
}
