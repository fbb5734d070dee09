/**
 * The run folder's contract (issue 6 §2–3): what a run produces, written by the runner (parent and
 * workers) and read by the reports, `phonehome diff`, `merge` and `report`. It lives with report, the
 * reader, so that dependencies point one way: runner imports report, report never imports runner
 * (issue 13).
 *
 * reports/<run-id>/
 *   summary.json        {"run": id, "results": [{scenario, phone, profile, status}]}  (the contract)
 *   results.json        JobResult[] in full (for `phonehome diff` and `phonehome report`)
 *   allure-results/     written by allure-mocha in the workers (steps = scenario steps, attachments)
 *   html/               allure-commandline's report
 *   junit.xml
 *   evidence/<scenario-slug>/<phone-slug>/   capture.har (the capture; src/capture/format.ts),
 *                       findings.json, screenshot.png, logcat.txt, fingerprint.json
 *                       (attempt-N/ below it for a retry or a move: evidenceDirOf)
 * reports/latest -> <run-id>
 */
import type { Scenario, Verdict } from '../scenario/types.ts';

export interface StepResult {
  /** The step's report name (label or description). */
  name: string;
  /** Where it sits in the file, e.g. `steps[3]`. */
  path: string;
  status: Verdict;
  message?: string;
  durationMs: number;
}

export interface JobResult {
  /** The scenario's name (config.name). */
  scenario: string;
  /** The scenario file, relative to the working directory. */
  file: string;
  /** The phone's serial. */
  phone: string;
  /** The profile (virtual phones) or the model (real ones). */
  profile: string;
  status: Verdict;
  /** Why it failed, broke or was skipped. */
  message?: string;
  durationMs: number;
  steps: StepResult[];
  /** Hosts the phone talked to during the job (captured exchanges and TLS failures), sorted. */
  hosts: string[];
  /** Tracker catalogue ids seen during the job, sorted. */
  trackers: string[];
  /** The phone's firmware and app versions, as the Allure environment shows them. */
  fingerprint: Record<string, string>;
  /** The evidence folder, relative to the run folder. */
  evidenceDir: string;
  /** Attempts made (retries of infrastructure failures and --retries). */
  attempts: number;
  /** os.hostname() of the lab host that ran the job (set by the runner's parent; merged runs keep it). */
  host?: string;
  /** The phone's PhoneSpec.fingerprintKey (set by the runner's parent): `phonehome merge` matches jobs by it. */
  fingerprintKey?: string;
}

export interface RunSummary {
  run: string;
  results: Array<{ scenario: string; phone: string; profile: string; status: Verdict }>;
}

/** `phonehome run` exit codes. */
export const EXIT = { passed: 0, failed: 1, usage: 2, infrastructure: 3 } as const;

/** The run's exit code from its verdicts: broken (infrastructure) wins over failed. */
export function exitCodeFor(results: readonly Pick<JobResult, 'status'>[]): number {
  if (results.some((r) => r.status === 'broken')) return EXIT.infrastructure;
  if (results.some((r) => r.status === 'failed')) return EXIT.failed;
  return EXIT.passed;
}

/** File-system-safe name for a scenario or phone (evidence folders, lease files). */
export function slug(s: string): string {
  return (
    s
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 80) || '_'
  );
}

/**
 * The evidence folder of a job attempt, relative to the run folder. Typed structurally (a runner
 * JobSpec fits) so that the contract does not import the runner.
 */
export function evidenceDirOf(job: {
  scenario: { config: Pick<Scenario['config'], 'name'> };
  phone: string;
  attempt: number;
}): string {
  const base = `evidence/${slug(job.scenario.config.name)}/${slug(job.phone)}`;
  return job.attempt > 1 ? `${base}/attempt-${job.attempt}` : base;
}
