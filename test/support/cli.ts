/**
 * Test support for the `phonehome` command: runs bin/phonehome.js in a child process (always
 * asynchronously, and resolving on 'close' so stdout is complete: shared/facts/adb-protocol.md §11
 * items 7 and 8), and checks the shape of user-facing errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/phonehome.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Environment variables added to (or, when undefined, removed from) the test's environment. */
  env: Record<string, string | undefined>;
  /** Working directory: a temp dir, so relative defaults (devices.json, reports/) never land in the repo. */
  cwd: string;
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /**
   * Programs that exec the command, e.g. `ip netns exec NS` (a lab host in a network namespace,
   * test/support/netns.ts). Each must exec its argument, so the pid stays the phonehome process.
   */
  prefix?: string[];
}

/** Runs `node bin/phonehome.js ...args` and resolves its exit code, signal, stdout and stderr. */
export function runCli(args: string[], opts: CliOptions): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const [cmd, ...pre] = opts.prefix?.length ? opts.prefix : [process.execPath];
    const argv = opts.prefix?.length ? [...pre, process.execPath, BIN, ...args] : [BIN, ...args];
    const child = spawn(cmd!, argv, {
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timeoutMs = opts.timeoutMs ?? 30_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        reject(
          new Error(
            `phonehome ${args.join(' ')} did not finish within ${timeoutMs} ms\n` +
              `stdout: ${result.stdout}\nstderr: ${result.stderr}`,
          ),
        );
        return;
      }
      resolve(result);
    });
  });
}

/** Everything about a result, for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** Parses stdout as JSON, failing with the whole output when it is not. */
export function parseJson<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch (err) {
    assert.fail(`stdout is not JSON (${(err as Error).message}):\n${show(r)}`);
  }
}

/**
 * A clean user-facing failure: exit code `code` (or any non-zero), no stack trace, no "internal
 * error", and a message of one line (`phonehome: …` or commander's `error: …`), optionally followed by
 * one hint line (`  fix: …`, or commander's `(run with --help for usage)`). Returns the message line
 * and the hint line ('' when there is none).
 */
export function assertCleanFailure(r: CliResult, code?: number): { message: string; hint: string } {
  if (code === undefined) assert.ok(r.code !== 0 && r.code !== null, `expected a non-zero exit\n${show(r)}`);
  else assert.equal(r.code, code, `expected exit ${code}\n${show(r)}`);
  const all = `${r.stdout}\n${r.stderr}`;
  assert.ok(!/^\s{4}at /m.test(all), `stack trace in the output\n${show(r)}`);
  assert.ok(!/internal error/i.test(all), `reported as an internal error\n${show(r)}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length >= 1 && lines.length <= 2, `expected a one-line message (+ hint)\n${show(r)}`);
  const [message = '', hint = ''] = lines;
  assert.match(message, /^(phonehome|error): \S/, show(r));
  if (hint) assert.match(hint, /^( {2}fix: \S|\(run with --help for usage\)$)/, show(r));
  return { message, hint };
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `${what}: not reached within ${timeoutMs} ms${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/**
 * The process state letter from /proc (Linux): 'R', 'S', 'Z' (zombie: dead, not yet reaped) …, or
 * undefined when no such process exists.
 */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) STATE …; comm may contain spaces and parentheses, so split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** True while `pid` is a live (not zombie) process. */
export function isRunning(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}
