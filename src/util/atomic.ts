/**
 * The one atomic file write: the text goes to a temporary file beside the target, which is then renamed
 * over it, so a reader (another phonehome process, Allure, a crashed run's recovery) sees the old file
 * or the new one, never half of either. The temporary name carries the pid so two processes writing the
 * same file do not clobber each other's temporary file. No fsync: these files are rewritten by the next
 * run, and a power cut losing the newest copy is acceptable where a torn one is not.
 */
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of a newly created file (e.g. 0o600 for records only the owner may read). */
  mode?: number;
}

/** Writes `data` to `file` via a temporary file and rename; creates the parent folder when missing. */
export function writeFileAtomic(file: string, data: string | Buffer, opts: AtomicWriteOptions = {}): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, opts.mode === undefined ? {} : { mode: opts.mode });
  renameSync(tmp, file);
}

/** Copies `from` to `to` the same way: a temporary copy beside `to`, renamed over it. */
export function copyFileAtomic(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  const tmp = `${to}.${process.pid}.tmp`;
  copyFileSync(from, tmp);
  renameSync(tmp, to);
}

/**
 * `writeFileAtomic` of `JSON.stringify(value, null, 2)`, plus a final newline unless `newline` is false
 * (the lab and Appium state files were written without one; kept byte-identical).
 */
export function writeJsonAtomic(
  file: string,
  value: unknown,
  opts: AtomicWriteOptions & { newline?: boolean } = {},
): void {
  const text = JSON.stringify(value, null, 2);
  writeFileAtomic(file, opts.newline === false ? text : `${text}\n`, opts);
}
