/**
 * Runs the `phonehome` command in this process (main(), no child process) with some environment
 * variables set, and captures what it writes. For the unit tests of the CLI; none of them may reach
 * an adb server, so they set ADB to a fake client (fakeAdb) or to a path that does not exist.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.ts';

export interface MainResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runMain(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<MainResult> {
  const savedEnv = new Map<string, string | undefined>();
  for (const [k, v] of Object.entries(env)) {
    savedEnv.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const out: string[] = [];
  const err: string[] = [];
  // Shadow `write` on the two streams with an own property, and put back what was there.
  const saved = [process.stdout, process.stderr].map(
    (stream) => [stream, Object.getOwnPropertyDescriptor(stream, 'write')] as const,
  );
  process.stdout.write = (chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  };
  process.stderr.write = (chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  };
  try {
    const code = await main(['node', 'phonehome', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    for (const [stream, descriptor] of saved) {
      if (descriptor) Object.defineProperty(stream, 'write', descriptor);
      else delete (stream as { write?: unknown }).write;
    }
    for (const [k, v] of savedEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * A fake `adb` in `dir`: records each invocation's arguments (one line each) and prints an empty
 * device list for `devices`. Point ADB at `path`; `calls()` lists what was run.
 */
export function fakeAdb(dir: string): { path: string; calls(): string[] } {
  const path = join(dir, 'adb');
  const log = join(dir, 'adb.log');
  writeFileSync(
    path,
    `#!/bin/sh\necho "$*" >> '${log}'\ncase "$*" in *devices*) printf 'List of devices attached\\n\\n' ;; esac\nexit 0\n`,
  );
  chmodSync(path, 0o755);
  return {
    path,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [],
  };
}
