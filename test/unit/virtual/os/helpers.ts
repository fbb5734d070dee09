/**
 * Test helpers for the Android userland: a virtual phone per profile, and a runner that calls one
 * command function directly with a hand-made CommandContext, collecting stdout and stderr.
 */
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { loadProfile } from '../../../../src/virtual/profiles/load.ts';
import { androidCommands } from '../../../../src/virtual/commands/index.ts';
import type { CommandContext, CommandFn, InStream } from '../../../../src/virtual/commands/types.ts';

export const SHELL = 2000;

export interface RunResult {
  status: number;
  stdout: string;
  /** stdout as bytes (binary output: logcat -B, screencap). */
  bytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  uid?: number;
  stdin?: string | Buffer | InStream;
  signal?: AbortSignal;
  env?: Map<string, string>;
  cwd?: string;
  /** Replaces the child shell (default: phone.exec with the requested uid). */
  runShell?: CommandContext['runShell'];
  /** Called with each stdout chunk as it is written. */
  onStdout?: (chunk: Buffer) => void;
}

export function makePhone(profile = 'redmi-note-8-leaky', serialno = 'vp0001'): VirtualPhone {
  return new VirtualPhone(loadProfile(profile), { serialno });
}

function inStream(input: RunOptions['stdin']): InStream {
  if (input && typeof input === 'object' && 'read' in input) return input;
  let pending: Buffer | null = input === undefined ? null : Buffer.from(input);
  return {
    read: async () => {
      const chunk = pending && pending.length ? pending : null;
      pending = null;
      return chunk;
    },
  };
}

/** Runs `argv` with the command of that name (androidCommands unless `fn` is given). */
export async function run(
  phone: VirtualPhone,
  argv: string[],
  opts: RunOptions = {},
  fn?: CommandFn,
): Promise<RunResult> {
  const cmd = fn ?? androidCommands[argv[0] as string];
  if (!cmd) throw new Error(`no android command ${argv[0]}`);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const toBuf = (c: string | Uint8Array): Buffer => (typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
  const uid = opts.uid ?? SHELL;
  const signal = opts.signal ?? new AbortController().signal;
  const ctx: CommandContext = {
    phone,
    argv,
    env: opts.env ?? phone.defaultEnv(),
    cwd: opts.cwd ?? '/',
    uid,
    stdin: inStream(opts.stdin),
    stdout: {
      write: async (c) => {
        const b = toBuf(c);
        out.push(b);
        opts.onStdout?.(b);
      },
    },
    stderr: { write: async (c) => void err.push(toBuf(c)) },
    signal,
    runShell:
      opts.runShell ??
      ((script, o) =>
        phone.exec(script, {
          stdin: { read: async () => null },
          stdout: { write: async (c) => void out.push(toBuf(c)) },
          stderr: { write: async (c) => void err.push(toBuf(c)) },
          signal,
          uid: o?.uid ?? uid,
          ...(o?.env ? { env: o.env } : {}),
        })),
  };
  const status = await cmd(ctx);
  const bytes = Buffer.concat(out);
  return { status, stdout: bytes.toString('utf8'), bytes, stderr: Buffer.concat(err).toString('utf8') };
}

/** Runs a shell command line on the phone through the real interpreter. */
export async function sh(phone: VirtualPhone, script: string, uid = SHELL): Promise<RunResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const status = await phone.exec(script, {
    stdin: { read: async () => null },
    stdout: { write: async (c) => void out.push(Buffer.from(c)) },
    stderr: { write: async (c) => void err.push(Buffer.from(c)) },
    signal: new AbortController().signal,
    uid,
  });
  const bytes = Buffer.concat(out);
  return { status, stdout: bytes.toString('utf8'), bytes, stderr: Buffer.concat(err).toString('utf8') };
}

/** Waits until `cond()` holds (polling every 5 ms), or fails after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
