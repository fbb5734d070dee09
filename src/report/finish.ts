/**
 * Finishing a run folder's report (issue 12 §2), for `phonehome run` (src/runner/run.ts) and
 * `phonehome merge`: environment.properties, categories.json and executor.json next to the Allure
 * results, the lab's Allure history imported into allure-results/history, the single-file HTML
 * report, and the report's new history saved back to the lab history for the next run (history.ts).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { AllureCategory } from '../config/project.ts';
import { writeJsonAtomic } from '../util/atomic.ts';
import {
  ALLURE_CATEGORIES,
  generateAllureHtml,
  writeAllureCategories,
  writeAllureEnvironment,
  type GenerateOptions,
} from './allure.ts';
import { executorFor, type AllureExecutor } from './executor.ts';
import {
  historyFromFolder,
  historyFromSingleFile,
  importHistory,
  lastBuildOrder,
  readHistory,
  saveHistory,
  withHistoryLock,
  type HistoryFiles,
} from './history.ts';
import type { JobResult } from './run-folder.ts';

export interface FinishOptions {
  results: readonly JobResult[];
  /** Extra environment.properties entries (fingerprints, adb servers…); B adds phonehome's own. */
  environment: Record<string, string>;
  /** Where the lab's Allure history is kept between runs (default: join(dirname(runDir), 'history')), `--history`. */
  historyDir?: string;
  /** User categories (owner C's ProjectConfig.categories), put before phonehome's own. */
  categories?: AllureCategory[];
  /** false for an interrupted run: files are written, no HTML, history not updated. */
  html: boolean;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  warn?: (line: string) => void;
  /** allure-commandline options (tests: a fake launcher, a timeout). */
  generate?: Pick<GenerateOptions, 'allureBin' | 'timeoutMs'>;
}

/** The lab history folder for a run folder: `<reports>/history`. */
export function defaultHistoryDir(runDir: string): string {
  return join(dirname(resolve(runDir)), 'history');
}

/** Writes `allure-results/executor.json`. */
export function writeAllureExecutor(runDir: string, executor: AllureExecutor): string {
  const file = join(runDir, 'allure-results', 'executor.json');
  writeJsonAtomic(file, executor);
  return file;
}

/**
 * Writes environment.properties, categories.json, executor.json; imports the lab history into
 * allure-results/history; generates html/index.html (single file); saves the new history back to
 * historyDir. Returns the report path (html/index.html, or runDir when there is no HTML). Never throws
 * for a failed HTML generation: it warns and returns runDir.
 */
export async function finishReport(runDir: string, o: FinishOptions): Promise<string> {
  const dir = resolve(runDir);
  const runId = basename(dir);
  const results = join(dir, 'allure-results');
  const historyDir = resolve(o.historyDir ?? defaultHistoryDir(dir));
  const env = o.env ?? process.env;
  const warn = o.warn ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const log = o.log ?? ((l: string) => void process.stderr.write(`${l}\n`));

  writeAllureEnvironment(dir, {
    'phonehome.run': runId,
    'phonehome.host': hostname(),
    ...o.environment,
    'phonehome.history': historyDir,
  });
  writeAllureCategories(dir, [...(o.categories ?? []), ...ALLURE_CATEGORIES]);

  /** The history in, executor.json (numbered on from that history). */
  const prepare = (): void => {
    try {
      importHistory(historyDir, results, warn);
    } catch (err) {
      // An unreadable history folder costs the Trend, not the report.
      warn(
        `phonehome: warning: the report starts without the lab history (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    const previous = lastBuildOrder(readHistory(join(results, 'history'))['history-trend.json']);
    writeAllureExecutor(
      dir,
      executorFor(env, { runId, ...(previous !== undefined ? { previousBuildOrder: previous } : {}) }),
    );
  };

  if (!o.html) {
    // Interrupted: the run keeps the history it would have started from (so `phonehome report RUN`
    // shows it), and the lab history is left as it was.
    prepare();
    return dir;
  }

  const generate = async (): Promise<string> => {
    prepare();
    const index = await generateAllureHtml(dir, { ...o.generate, env, log });
    const fresh = await newHistory(dir, index, { ...o.generate, env, log }, warn);
    if (fresh) {
      try {
        saveHistory(historyDir, fresh);
        log(`phonehome: Allure history: ${historyDir}`);
      } catch (err) {
        warn(
          `phonehome: warning: the lab history is not updated (${err instanceof Error ? err.message : String(err)})`,
        );
      }
    }
    return index;
  };

  try {
    const locked = await withHistoryLock(historyDir, generate);
    if ('value' in locked) return locked.value;
    warn(`phonehome: warning: the lab history is not updated: ${locked.unavailable}`);
    prepare();
    return await generateAllureHtml(dir, { ...o.generate, env, log });
  } catch (err) {
    warn(
      `phonehome: warning: no HTML report (${err instanceof Error ? err.message : String(err)}); ` +
        `summary.json, results.json, junit.xml and allure-results/ are in ${dir}`,
    );
    return dir;
  }
}

/**
 * Above this size the single-file report is not read as one string for its embedded history: V8's
 * string limit (~512 MB) would throw, and a quarter of a gigabyte of base64 is slow to search anyway.
 */
export const MAX_EMBEDDED_HISTORY_READ = 256 * 1024 * 1024;

/**
 * The history embedded in the single-file report at `index`; undefined (the multi-file path then
 * gives it) when the file is larger than `maxBytes`, cannot be read as one string, or embeds none.
 */
export function embeddedHistory(
  index: string,
  maxBytes = MAX_EMBEDDED_HISTORY_READ,
): HistoryFiles | undefined {
  try {
    if (statSync(index).size > maxBytes) return undefined;
    return historyFromSingleFile(readFileSync(index, 'utf8'));
  } catch {
    // ERR_STRING_TOO_LONG and the like: the report itself is written; only this shortcut is lost.
    return undefined;
  }
}

/**
 * The history the report just generated: embedded in the single file, else from a multi-file
 * generate into a temporary folder. undefined (with a warning) when neither gives it.
 */
async function newHistory(
  runDir: string,
  index: string,
  gen: GenerateOptions,
  warn: (line: string) => void,
): Promise<HistoryFiles | undefined> {
  const embedded = embeddedHistory(index);
  if (embedded) return embedded;
  const tmp = mkdtempSync(join(tmpdir(), 'phonehome-allure-history-'));
  try {
    await generateAllureHtml(runDir, { ...gen, multiFileTo: tmp });
    const files = historyFromFolder(join(tmp, 'history'));
    if (!files)
      warn('phonehome: warning: allure-commandline wrote no history; the lab history is not updated');
    return files;
  } catch (err) {
    warn(
      `phonehome: warning: the lab history is not updated (${err instanceof Error ? err.message : String(err)})`,
    );
    return undefined;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
