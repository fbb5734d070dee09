/** Live-process checks for records left by other phonehome processes (lab state, the wiring journal). */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/** Fields 3 (state) and 22 (start time) of a /proc/PID/stat line; undefined when it is not one. */
export function parseProcStat(text: string): { state: string; startTime: string } | undefined {
  // pid (comm) state ppid …: comm may contain spaces and parentheses, so count after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const startTime = fields[22 - 3];
  if (!state || !startTime || !/^\d+$/.test(startTime)) return undefined;
  return { state, startTime };
}

/** What the OS says about a live process: its command line and (on Linux) its start time. */
export interface ProcessInfo {
  /** undefined when it cannot be read (another user's process, a kernel thread). */
  argv: string[] | undefined;
  startTime: string | undefined;
}

/**
 * The live process `pid`, or undefined when there is none (or only a zombie: killed, not yet
 * reaped). Linux reads /proc; elsewhere signal 0 tells whether it exists and `ps` its command line.
 */
export function inspectProcess(pid: number): ProcessInfo | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (existsSync('/proc/self/stat')) {
    let stat: ReturnType<typeof parseProcStat>;
    try {
      stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return undefined;
    }
    if (!stat || stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return undefined;
    let argv: string[] | undefined;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      argv = undefined;
    }
    return { argv, startTime: stat.startTime };
  }
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  let argv: string[] | undefined;
  try {
    argv = execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
  } catch {
    argv = undefined;
  }
  return { argv, startTime: undefined };
}
