/**
 * Runs a toybox applet (Android's own grep, sed …, the Debian build on the host) as a child process
 * for a virtual phone's command. Every phone of the lab shares one event loop, so a regex typed by a
 * user (`grep -E '(a+)+$'`) must not run on it: a backtracking JavaScript RegExp would freeze every
 * phone, while a child process only costs its own CPU, is killed when the command is aborted, and
 * is killed when it has used more CPU than any honest filter needs.
 *
 * The child never sees a host path: argv goes as an array (no host shell), input comes on stdin
 * (the caller reads the phone's files through the Vfs, with the phone's permissions), and the
 * callers refuse the options and sed commands that would open files. In case a caller misses one,
 * a lab running as root starts the child as nobody, in an empty directory of its own, so it cannot
 * write the lab's files.
 */
import { spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandContext } from '../commands/types.ts';

/** The host's toybox (scripts/setup installs Debian's `toybox` package). */
export const TOYBOX = '/usr/bin/toybox';

/**
 * CPU seconds one applet may use. A CPU budget, not a wall-clock one: `logcat | grep x` legitimately
 * runs for hours while idle, whereas a catastrophic regex burns CPU without pause.
 */
export const TOYBOX_CPU_SECONDS = 10;

/** How often the CPU budget is checked. */
const CPU_CHECK_MS = 250;

/** Exit status of an applet killed for its CPU budget (as `timeout` reports). */
const CPU_KILLED = 124;

/** nobody / nogroup: who the child runs as when the lab runs as root. */
export const TOYBOX_UID = 65534;

let sandbox: Promise<{ uid?: number; gid?: number; cwd: string }> | undefined;

/**
 * The child's identity and working directory. As root: nobody, in an empty directory only nobody
 * may enter (mode 0700), made once per process. Otherwise the lab's own user, in `/`.
 */
export function toyboxSandbox(): Promise<{ uid?: number; gid?: number; cwd: string }> {
  sandbox ??= (async () => {
    if (process.getuid?.() !== 0) return { cwd: '/' };
    const cwd = await mkdtemp(join(tmpdir(), 'phonehome-toybox-'));
    await chown(cwd, TOYBOX_UID, TOYBOX_UID);
    await chmod(cwd, 0o700);
    return { uid: TOYBOX_UID, gid: TOYBOX_UID, cwd };
  })();
  return sandbox;
}

export interface ToyboxRun {
  /** Chunks written to the child's stdin, which closes after the last one. */
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Receives stdout; default: the command's stdout. */
  stdout?: (chunk: Buffer) => Promise<void>;
  /** Receives stderr; default: the command's stderr. */
  stderr?: (chunk: Buffer) => Promise<void>;
}

/** The command's stdin as chunks, up to its end. */
export async function* stdinChunks(ctx: CommandContext): AsyncGenerator<Buffer> {
  for (;;) {
    const c = await ctx.stdin.read();
    if (c === null) return;
    yield c;
  }
}

/** Clock ticks of user + system CPU a Linux process has used; null where /proc cannot tell. */
async function cpuTicks(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

/**
 * Runs `toybox APPLET ARGS…`, feeding `run.input`, streaming stdout and stderr back with
 * backpressure, and returns the exit status. A write to a closed stdout (BrokenPipeError) kills the
 * child and is rethrown, as a JS command would let it propagate.
 */
export async function runToybox(
  ctx: CommandContext,
  args: readonly string[],
  run: ToyboxRun,
): Promise<number> {
  const name = args[0] ?? 'toybox';
  // LC_ALL: UTF-8 aware matching as on a phone; nothing else of the host environment leaks in.
  const child = spawn(TOYBOX, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { LC_ALL: 'C.UTF-8' },
    ...(await toyboxSandbox()),
  });
  let failure: Error | undefined;
  const fail = (e: unknown) => {
    failure ??= e instanceof Error ? e : new Error(String(e));
    kill();
  };
  let overBudget = false;
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onAbort = () => kill();
  ctx.signal.addEventListener('abort', onAbort);
  if (ctx.signal.aborted) kill();

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );

  const budget = setInterval(() => {
    if (child.pid === undefined) return;
    void cpuTicks(child.pid).then((t) => {
      // 100 ticks a second on Linux (USER_HZ).
      if (t !== null && t / 100 > TOYBOX_CPU_SECONDS) {
        overBudget = true;
        kill();
      }
    });
  }, CPU_CHECK_MS);
  budget.unref();

  const pipeOut = (stream: NodeJS.ReadableStream, write: (chunk: Buffer) => Promise<void>) =>
    stream.on('data', (chunk: Buffer) => {
      stream.pause();
      write(chunk).then(
        () => stream.resume(),
        (e: unknown) => {
          fail(e);
          stream.resume();
        },
      );
    });
  pipeOut(child.stdout, run.stdout ?? ((c) => ctx.stdout.write(c)));
  pipeOut(child.stderr, run.stderr ?? ((c) => ctx.stderr.write(c)));

  // Input is fed in the background: the child may finish before reading it all (grep -q, sed q),
  // and an endless producer (`logcat | grep -m1 x`) must not keep the command alive.
  child.stdin.on('error', () => undefined);
  void (async () => {
    try {
      for await (const chunk of run.input) {
        if (child.exitCode !== null || child.signalCode !== null || child.stdin.destroyed) break;
        if (!child.stdin.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              child.stdin.off('drain', done);
              child.off('close', done);
              resolve();
            };
            child.stdin.once('drain', done);
            child.once('close', done);
          });
        }
      }
    } catch (e) {
      fail(e);
    } finally {
      child.stdin.end();
    }
  })();

  const r = await exited;
  clearInterval(budget);
  ctx.signal.removeEventListener('abort', onAbort);
  if (failure !== undefined) throw failure;
  if (r.error) {
    await ctx.stderr.write(`${name}: cannot run ${TOYBOX}: ${r.error.message}\n`);
    return 127;
  }
  if (overBudget) {
    await ctx.stderr.write(`${name}: killed after ${TOYBOX_CPU_SECONDS} s of CPU (pattern too costly)\n`);
    return CPU_KILLED;
  }
  if (ctx.signal.aborted) return 130;
  return r.code ?? 128 + 9;
}
