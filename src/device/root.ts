/**
 * What kind of root a phone offers, read without asking for it (no Magisk grant prompt): the
 * `su -v` answer of each implementation (android-realities.md §2). Used by Device.isRooted (the
 * fingerprint) and by the capture's root handling (src/capture/root.ts).
 */

/**
 * A shell answer and what the probe needs of a Device (its ShellResult and `shell` fit these). Declared
 * here rather than imported because device.ts imports this file: no import cycle (issue 13).
 */
interface ShellAnswer {
  stdout: string;
  stderr: string;
  exitCode: number;
}
interface Shell {
  shell(cmd: readonly string[], opts: { timeoutMs: number }): Promise<ShellAnswer>;
}

/** The probes (`id`, `su -v`) never ask for root, so they never wait on a prompt. */
const PROBE_MS = 5000;

export type RootKind = 'adbd' | 'magisk' | 'kernelsu' | 'su' | 'aosp-su';

export interface Root {
  kind: RootKind;
  /** What `su -v` printed (e.g. `27.0:MAGISKSU`); absent for adbd and AOSP su. */
  version?: string;
}

/**
 * What kind of `su` answered `su -v`, or null when there is none. Pure: unit-tested with the
 * outputs of each implementation.
 */
export function suKindFromVersion(r: ShellAnswer): Root | null {
  const out = r.stdout.trim();
  const all = `${r.stdout}\n${r.stderr}`;
  if (r.exitCode === 0 && /:MAGISK/i.test(out)) return { kind: 'magisk', version: out.split('\n')[0]! };
  if (r.exitCode === 0 && /:KernelSU/i.test(out)) return { kind: 'kernelsu', version: out.split('\n')[0]! };
  if (/invalid uid\/gid/i.test(all) || /usage: su \[WHO/i.test(all)) return { kind: 'aosp-su' };
  if (r.exitCode === 127 || /not found|inaccessible|No such file/i.test(all)) return null;
  if (r.exitCode === 0 && out) return { kind: 'su', version: out.split('\n')[0]! };
  // `su: not allowed` (AOSP su for another uid) and anything unknown: no usable su.
  return null;
}

/**
 * How this phone might give root, without asking for it (no prompt): adbd as root, else the `su`
 * that `su -v` names. null: no root at all.
 */
export async function probeRoot(device: Shell, timeoutMs = PROBE_MS): Promise<Root | null> {
  const [id, version] = await Promise.all([
    device.shell(['id'], { timeoutMs }).catch(() => null),
    device.shell(['su', '-v'], { timeoutMs }).catch(() => null),
  ]);
  if (id && id.exitCode === 0 && /\buid=0\(/.test(id.stdout)) return { kind: 'adbd' };
  return version ? suKindFromVersion(version) : null;
}
