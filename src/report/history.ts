/**
 * Allure history across runs (issue 12 §2). Allure 2 carries history from one report to the next
 * through files: a report generated from results that hold `history/*.json` (the previous report's
 * history) shows Trend charts, a History tab per test and "new failed" markers, and writes the
 * updated history into its own `history/` folder. The lab keeps that folder between runs (default
 * `<reports>/history`, `--history DIR`):
 *
 *   lab history ──copy──▶ <run>/allure-results/history/ ──allure generate──▶ html/index.html
 *        ▲                                                                        │
 *        └──────────────────────── the report's new history ──────────────────────┘
 *
 * allure-commandline 2's `--single-file` report writes no `history/` folder, but it embeds the same
 * files as the multi-file report writes (`d('history/history.json','<base64>')` in index.html), so the
 * new history is read from there; when a future Allure stops embedding them, a multi-file generate
 * into a temporary folder gives them (one more Java run, ~2 s). The run keeps its input history in
 * allure-results/history, so `phonehome report RUN` regenerates the same report later, without the
 * lab history.
 *
 * History entries are keyed by Allure's historyId (set per result by the worker: scenario × profile or
 * model), so a firmware update shows as passed → failed on the same entry and a replaced phone keeps
 * its history. Two runs finishing at once on the same history folder take turns (a lock file), so
 * neither loses the other's entry.
 */
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';

/** The files Allure 2 reads from and writes to `history/`. */
export const HISTORY_FILES = [
  'history.json',
  'history-trend.json',
  'duration-trend.json',
  'categories-trend.json',
  'retry-trend.json',
] as const;

export type HistoryFiles = Partial<Record<(typeof HISTORY_FILES)[number], string>>;

/** Reads the history files in `dir` that are valid JSON; `bad` gets the names of those that are not. */
export function readHistory(dir: string, bad?: (file: string, why: string) => void): HistoryFiles {
  const out: HistoryFiles = {};
  for (const name of HISTORY_FILES) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    try {
      const text = readFileSync(file, 'utf8');
      JSON.parse(text);
      out[name] = text;
    } catch (err) {
      bad?.(file, err instanceof Error ? err.message : String(err));
    }
  }
  return out;
}

/**
 * Replaces `<resultsDir>/history` with the history in `historyDir` (nothing there: no history/ folder,
 * so a merged run does not inherit its shards' own histories). Returns how many files were copied.
 */
export function importHistory(historyDir: string, resultsDir: string, warn?: (line: string) => void): number {
  const files = readHistory(historyDir, (file, why) =>
    warn?.(`phonehome: warning: ${file} is not valid JSON (${why}); the report starts without it`),
  );
  const target = join(resultsDir, 'history');
  rmSync(target, { recursive: true, force: true });
  const names = Object.keys(files) as Array<keyof HistoryFiles>;
  if (!names.length) return 0;
  mkdirSync(target, { recursive: true });
  for (const name of names) writeFileAtomic(join(target, name), files[name]!);
  return names.length;
}

/** The highest buildOrder in a history-trend.json text (undefined when there is none). */
export function lastBuildOrder(trendJson: string | undefined): number | undefined {
  if (!trendJson) return undefined;
  try {
    const items = JSON.parse(trendJson) as unknown;
    if (!Array.isArray(items)) return undefined;
    const orders = items
      .map((i) => (i && typeof i === 'object' ? (i as { buildOrder?: unknown }).buildOrder : undefined))
      .filter((o): o is number => typeof o === 'number' && Number.isFinite(o));
    return orders.length ? Math.max(...orders) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The history files a single-file Allure report embeds (`d('history/<file>','<base64>')`).
 * undefined unless all five are there and are JSON.
 */
export function historyFromSingleFile(html: string): HistoryFiles | undefined {
  const out: HistoryFiles = {};
  for (const name of HISTORY_FILES) {
    const m = new RegExp(
      `\\bd\\(\\s*'history/${name.replace('.', '\\.')}'\\s*,\\s*'([A-Za-z0-9+/=]*)'\\s*\\)`,
    ).exec(html);
    if (!m) return undefined;
    const text = Buffer.from(m[1]!, 'base64').toString('utf8');
    try {
      JSON.parse(text);
    } catch {
      return undefined;
    }
    out[name] = text;
  }
  return out;
}

/** Writes the history files into `historyDir`, each atomically (a reader never sees half a file). */
export function saveHistory(historyDir: string, files: HistoryFiles): void {
  mkdirSync(historyDir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileAtomic(join(historyDir, name), text);
}

/** History files in a folder Allure wrote (a multi-file report's `history/`). */
export function historyFromFolder(dir: string): HistoryFiles | undefined {
  const files = readHistory(dir);
  return HISTORY_FILES.every((n) => files[n] !== undefined) ? files : undefined;
}

// ---------------------------------------------------------------------------------------------
// the lock: one report at a time per history folder

export interface LockOptions {
  /** Give up waiting after this long (default 150 s: longer than one allure-commandline run may take). */
  waitMs?: number;
  /** A lock older than this is taken over whoever holds it (default 10 min). */
  staleMs?: number;
  /**
   * A lock that names no holder (empty: its creator died between creating and writing it) is taken
   * over once its mtime is this old (default 30 s).
   */
  emptyGraceMs?: number;
  pollMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True when the lock file's holder is gone (a dead process on this host), the lock is too old, or it
 * names no holder (`host pid …` unreadable: a crash between open and write) past a short grace.
 */
function staleLock(file: string, o: { staleMs: number; emptyGraceMs: number }): boolean {
  try {
    const age = Date.now() - statSync(file).mtimeMs;
    if (age > o.staleMs) return true;
    const [host, pid] = readFileSync(file, 'utf8').trim().split(' ');
    if (!host || !pid || !Number.isSafeInteger(Number(pid))) return age > o.emptyGraceMs;
    return host === hostname() && !alive(Number(pid));
  } catch {
    return false;
  }
}

/** The lock's content, or undefined when there is no lock file (or it cannot be read). */
function lockContent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Takes a stale lock out of the way: renamed to a name of our own (only one waiter's rename of a
 * given file succeeds), then checked again. When what was moved is no longer stale (another waiter
 * took the stale lock over and made its own in between), it is put back (link: only where no lock
 * is) instead of deleted. Either way the caller then competes for the lock with O_EXCL. Exported for
 * the tests (the race it closes needs two processes between a staleness check and a rename).
 */
export function moveStaleLock(
  file: string,
  token: string,
  o: { staleMs: number; emptyGraceMs: number },
): void {
  const aside = `${file}.stale-${token.replace(/[^A-Za-z0-9]+/g, '-')}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // gone already: another waiter moved it, or its holder released it
  }
  try {
    if (!staleLock(aside, o)) linkSync(aside, file);
  } catch {
    // a lock is there again: it is the one that counts
  } finally {
    rmSync(aside, { force: true });
  }
}

/**
 * Runs `fn` holding `<historyDir>/.lock` (created exclusively; taken over when its holder died).
 * Resolves `{unavailable}` without running `fn` when another holder keeps it longer than `waitMs` or
 * the lock cannot be created (a read-only folder…), saying why. The lock holds a token of its own
 * (host, pid, random): it is removed afterwards only while it still holds that token, so a lock
 * taken over as stale in the meantime stays with its new holder.
 */
export async function withHistoryLock<T>(
  historyDir: string,
  fn: () => Promise<T>,
  o: LockOptions = {},
): Promise<{ value: T } | { unavailable: string }> {
  const file = join(historyDir, '.lock');
  const deadline = Date.now() + (o.waitMs ?? 150_000);
  const staleness = { staleMs: o.staleMs ?? 600_000, emptyGraceMs: o.emptyGraceMs ?? 30_000 };
  const token = `${hostname()} ${process.pid} ${randomBytes(8).toString('hex')}\n`;
  try {
    mkdirSync(historyDir, { recursive: true });
    for (;;) {
      try {
        const fd = openSync(file, 'wx');
        try {
          writeSync(fd, token);
        } catch (err) {
          rmSync(file, { force: true }); // ours, still empty
          throw err;
        } finally {
          closeSync(fd);
        }
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (staleLock(file, staleness)) {
          moveStaleLock(file, token, staleness);
          continue;
        }
        if (Date.now() > deadline)
          return {
            unavailable: `another report has held ${file} for over ${Math.round((o.waitMs ?? 150_000) / 1000)} s (remove it if no phonehome is running)`,
          };
        await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
      }
    }
  } catch (err) {
    return { unavailable: `cannot lock ${file}: ${err instanceof Error ? err.message : String(err)}` };
  }
  try {
    return { value: await fn() };
  } finally {
    // Only while it is still ours: a holder that outlived staleMs may have lost it to another run.
    if (lockContent(file) === token) {
      try {
        unlinkSync(file);
      } catch {
        // removed by someone else in between
      }
    }
  }
}
