/**
 * The record of a background phonehome process (`lab serve`, `appium serve`): spawned detached so it
 * outlives the command that started it, its own JSON state file (pid, start time, …) written
 * atomically, a liveness check that trusts the pid only while it still is that process (command line
 * and start time: after a crash or a reboot the pid may belong to another), and a stop that sends
 * SIGTERM, waits, then SIGKILL. What each record holds beyond the pid, and every message, stay with
 * the command that owns it (src/cli/commands/lab.ts, appium.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from './atomic.ts';
import { inspectProcess, type ProcessInfo } from './process.ts';

export interface DaemonRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat (Linux only): tells the process from a later one with the same pid. */
  procStartTime?: string;
}

/**
 * `running` (alive, its command line is the daemon's, same start time), `gone` (no such process), or
 * `foreign` (the pid now belongs to another process). Only a `running` daemon may be signalled.
 */
export type DaemonStatus = 'running' | 'gone' | 'foreign';

/** The record in `file`, or undefined when there is none or it is unreadable. */
export function readDaemonRecord<T extends DaemonRecord>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes the record atomically (a reader polling for readiness never sees half of it). */
export function writeDaemonRecord(file: string, record: DaemonRecord): void {
  writeJsonAtomic(file, record, { newline: false });
}

/** `procStartTime` for the calling process's own record (empty where the OS does not tell). */
export function ownStartTime(): { procStartTime?: string } {
  const startTime = inspectProcess(process.pid)?.startTime;
  return startTime !== undefined ? { procStartTime: startTime } : {};
}

/**
 * Whether the process `record` names is still the daemon. `isDaemon` judges its command line, which
 * is undefined where the OS does not show it (each daemon decides what that means).
 */
export function daemonStatus(
  record: DaemonRecord,
  isDaemon: (argv: readonly string[] | undefined) => boolean,
  inspect: (pid: number) => ProcessInfo | undefined = inspectProcess,
): DaemonStatus {
  const proc = inspect(record.pid);
  if (!proc) return 'gone';
  if (!isDaemon(proc.argv)) return 'foreign';
  if (
    record.procStartTime !== undefined &&
    proc.startTime !== undefined &&
    proc.startTime !== record.procStartTime
  )
    return 'foreign';
  return 'running';
}

/**
 * Starts `node ARGS…` detached, its stdout and stderr appended to `logPath`, and lets this process exit
 * without waiting for it. The returned handle still reports the child's exit while this process runs.
 */
export function spawnDaemon(args: readonly string[], logPath: string): ChildProcess {
  const out = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...args], {
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  closeSync(out);
  child.unref();
  return child;
}

/** Sends `sig` unless the process is already gone. */
function signalProcess(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * SIGTERM, then waits up to `timeoutMs` while `running()` holds, then SIGKILL. `killed` when it had to
 * be killed. The caller checks first that the pid is the daemon (daemonStatus).
 */
export async function stopDaemon(
  pid: number,
  running: () => boolean,
  timeoutMs: number,
): Promise<'stopped' | 'killed'> {
  signalProcess(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (!running()) return 'stopped';
  signalProcess(pid, 'SIGKILL');
  return 'killed';
}
