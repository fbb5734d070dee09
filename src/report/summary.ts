/**
 * The run folder's contract files (issue 6 §3, src/report/run-folder.ts): `summary.json`
 * (`{"run","results":[{scenario,phone,profile,status}]}`, nothing more), `results.json` (JobResult[]
 * in full, for `phonehome diff` and `phonehome report`), and the `reports/latest` pointer.
 *
 * `reports/latest` is a relative symlink (`latest -> <run-id>`), replaced atomically: a new link is
 * made under a temporary name and renamed over the old one, so a reader sees the old run or the new
 * one, never nothing. Where symlinks cannot be made (Windows without the privilege, some network or
 * FAT file systems) `reports/latest.json` (`{"run": id, "path": "<run-id>"}`) points at the run instead;
 * readers (`resolveRun('latest')`) try the link first, then the file.
 */
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { EXIT, type JobResult, type RunSummary } from './run-folder.ts';
import type { Verdict } from '../scenario/types.ts';
import { writeJsonAtomic } from '../util/atomic.ts';
import { ReportError } from './allure.ts';

const VERDICTS: readonly Verdict[] = ['passed', 'failed', 'broken', 'skipped'];

/** A run id: UTC time to the millisecond, then 6 random hex digits; ids sort by start time. */
export const RUN_ID_RE = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{6}$/;

/** `20260315-142233-417-3fa9c1`: sortable as a string (time first), unique (random suffix). */
export function newRunId(now: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const date = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
  const time = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${date}-${time}-${p(now.getUTCMilliseconds(), 3)}-${randomBytes(3).toString('hex')}`;
}

/** summary.json's object: exactly these four keys per result, in this order. */
export function runSummary(runId: string, results: readonly JobResult[]): RunSummary {
  return {
    run: runId,
    results: results.map((r) => ({
      scenario: r.scenario,
      phone: r.phone,
      profile: r.profile,
      status: r.status,
    })),
  };
}

/**
 * Writes summary.json and results.json into `runDir` and points `<runDir>/../latest` at it.
 * Returns how `latest` was pointed ('symlink' or 'file').
 */
export function writeRunFiles(
  runDir: string,
  runId: string,
  results: readonly JobResult[],
): 'symlink' | 'file' {
  writeJsonAtomic(join(runDir, 'summary.json'), runSummary(runId, results));
  writeJsonAtomic(join(runDir, 'results.json'), results);
  return pointLatest(dirname(resolve(runDir)), runDir);
}

export interface PointOptions {
  /** The symlink call (tests make it fail); default fs.symlinkSync. */
  symlink?: (target: string, path: string) => void;
}

/**
 * Points `<reportsDir>/latest` at `runDir` with a relative symlink replaced atomically, or, where a
 * symlink cannot be made, with `<reportsDir>/latest.json`.
 */
export function pointLatest(reportsDir: string, runDir: string, opts: PointOptions = {}): 'symlink' | 'file' {
  const link = join(reportsDir, 'latest');
  const target = relative(resolve(reportsDir), resolve(runDir)) || '.';
  const tmp = join(reportsDir, `.latest-${process.pid}-${randomBytes(4).toString('hex')}`);
  const makeLink = opts.symlink ?? ((t: string, p: string) => symlinkSync(t, p, 'dir'));
  try {
    makeLink(target, tmp);
    try {
      renameSync(tmp, link); // atomic over an existing symlink
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    rmSync(join(reportsDir, 'latest.json'), { force: true }); // a stale fallback must not disagree
    return 'symlink';
  } catch {
    const pointer = { run: basename(resolve(runDir)), path: target };
    writeJsonAtomic(join(reportsDir, 'latest.json'), pointer);
    return 'file';
  }
}

/** The run folder `reports/latest` points at (symlink, else latest.json), or undefined. */
export function resolveLatest(reportsDir: string): string | undefined {
  const link = join(reportsDir, 'latest');
  try {
    if (lstatSync(link).isSymbolicLink()) {
      const t = readlinkSync(link);
      const dir = isAbsolute(t) ? t : join(reportsDir, t);
      if (existsSync(dir)) return dir;
    } else if (statSync(link).isDirectory()) {
      return link;
    }
  } catch {
    // no link: try the pointer file
  }
  try {
    const p = JSON.parse(readFileSync(join(reportsDir, 'latest.json'), 'utf8')) as { path?: unknown };
    if (typeof p.path === 'string') {
      const dir = isAbsolute(p.path) ? p.path : join(reportsDir, p.path);
      if (existsSync(dir)) return dir;
    }
  } catch {
    // neither
  }
  return undefined;
}

/** Run ids under `reportsDir`, newest first (folders with a summary.json or results.json). */
export function listRuns(reportsDir: string): string[] {
  try {
    return readdirSync(reportsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'latest')
      .filter((d) => ['summary.json', 'results.json'].some((f) => existsSync(join(reportsDir, d.name, f))))
      .map((d) => d.name)
      .sort()
      .reverse();
  } catch {
    return [];
  }
}

function badRun(reportsDir: string, why: string): ReportError {
  const runs = listRuns(reportsDir).slice(0, 5);
  return new ReportError(
    why,
    `give a run folder (e.g. ${join(reportsDir, runs[0] ?? '<run-id>')}), a run id under ${reportsDir}/` +
      (runs.length ? ` (recent: ${runs.join(', ')})` : ' (there are none yet: run `phonehome run` first)') +
      ', or `latest`',
    EXIT.usage,
  );
}

/**
 * A run argument to its folder: `latest`, a path to a run folder, or a run id under `reportsDir`.
 * Throws a ReportError (exit 2) naming the choices when it is none of them.
 */
export function resolveRun(arg: string, reportsDir = 'reports'): string {
  if (arg === 'latest') {
    const dir = resolveLatest(reportsDir);
    if (!dir)
      throw badRun(reportsDir, `there is no latest run under ${reportsDir}/ (no latest link or latest.json)`);
    return dir;
  }
  const candidates = [arg, join(reportsDir, arg)];
  for (const c of candidates) {
    try {
      if (!statSync(c).isDirectory()) continue;
    } catch {
      continue;
    }
    if (['summary.json', 'results.json', 'allure-results'].some((f) => existsSync(join(c, f)))) return c;
    throw badRun(reportsDir, `${c} is not a run folder (no results.json, summary.json or allure-results/)`);
  }
  throw badRun(
    reportsDir,
    `no run ${JSON.stringify(arg)}: neither a folder nor a run id under ${reportsDir}/`,
  );
}

export interface LoadedRun {
  id: string;
  dir: string;
  results: JobResult[];
  /** True when only summary.json was there: no hosts, trackers or steps to compare. */
  summaryOnly: boolean;
}

function isJobLike(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return (
    typeof r.scenario === 'string' &&
    typeof r.phone === 'string' &&
    typeof r.status === 'string' &&
    (VERDICTS as readonly string[]).includes(r.status)
  );
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];

/** Reads a run folder's results.json (else summary.json); a ReportError (exit 2) when neither is usable. */
export function loadRun(dir: string): LoadedRun {
  const fail = (why: string) =>
    new ReportError(
      `${dir}: ${why}`,
      'give a run folder written by `phonehome run` (it has results.json and summary.json)',
      EXIT.usage,
    );
  let id = basename(resolve(dir));
  const summaryFile = join(dir, 'summary.json');
  if (existsSync(summaryFile)) {
    try {
      const s = JSON.parse(readFileSync(summaryFile, 'utf8')) as Partial<RunSummary>;
      if (typeof s.run === 'string') id = s.run;
    } catch {
      // results.json may still be fine
    }
  }
  const resultsFile = join(dir, 'results.json');
  if (existsSync(resultsFile)) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(resultsFile, 'utf8'));
    } catch (err) {
      throw fail(`results.json is not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!Array.isArray(data) || !data.every(isJobLike)) {
      throw fail('results.json is not a list of job results ({scenario, phone, status, …})');
    }
    const results = data.map((r) => ({
      ...(r as unknown as JobResult),
      profile: typeof r.profile === 'string' ? r.profile : '',
      file: typeof r.file === 'string' ? r.file : '',
      hosts: strings(r.hosts),
      trackers: strings(r.trackers),
      steps: Array.isArray(r.steps) ? (r.steps as JobResult['steps']) : [],
      fingerprint:
        typeof r.fingerprint === 'object' && r.fingerprint ? (r.fingerprint as Record<string, string>) : {},
    }));
    return { id, dir, results, summaryOnly: false };
  }
  if (existsSync(summaryFile)) {
    let s: unknown;
    try {
      s = JSON.parse(readFileSync(summaryFile, 'utf8'));
    } catch (err) {
      throw fail(`summary.json is not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    const list = (s as { results?: unknown }).results;
    if (!Array.isArray(list) || !list.every(isJobLike))
      throw fail('summary.json has no valid "results" list');
    const results: JobResult[] = list.map((r) =>
      bareJobResult({
        scenario: r.scenario as string,
        phone: r.phone as string,
        profile: typeof r.profile === 'string' ? r.profile : '',
        status: r.status as Verdict,
      }),
    );
    return { id, dir, results, summaryOnly: true };
  }
  throw fail('no results.json or summary.json (an interrupted run, or not a run folder)');
}

/**
 * A JobResult that has only a verdict: no steps, hosts, trackers, fingerprint or evidence (a run read
 * from summary.json alone, a job that `phonehome merge` found no run for).
 */
export function bareJobResult(
  r: Pick<JobResult, 'scenario' | 'phone' | 'profile' | 'status'> & Partial<JobResult>,
): JobResult {
  return {
    file: '',
    durationMs: 0,
    steps: [],
    hosts: [],
    trackers: [],
    fingerprint: {},
    evidenceDir: '',
    attempts: 0,
    ...r,
  };
}
