/**
 * The runner's parent: schedules (scenario × phone) jobs over phone workers, the WDIO launcher's
 * model (../shared/STYLE.md §A3). Each phone has a lane, a p-queue of concurrency 1 (one job per
 * phone at a time), whose tasks wait for a slot of the global p-queue (the global limit). A phone's
 * jobs run in one PhoneWorker (its own mocha, in a worker process shared with other phones: fork.ts,
 * worker.ts); this module only sees that interface, so tests drive it with fake workers.
 *
 * Rules:
 * - Infrastructure failures (the phone stopped answering, the worker crashed or could not set the
 *   phone up) give `broken` for the job at hand. After `quarantineAfter` consecutive ones (default
 *   2) the phone is quarantined: its remaining jobs, and the job that broke, move to a phone with
 *   the same fingerprint key (model + OS version + build + profile) when the scenario says
 *   `portable: true`; otherwise they are `broken` with "phone quarantined". A move after a run is
 *   an attempt of its own and does not use up `--retries`.
 * - `retries`: a failed or broken job runs again on its phone (or, if that is quarantined, on a
 *   twin when portable) up to `retries` more times; the last attempt's result stands.
 * - `bail`: after the first final failed/broken result no new job starts; jobs not started are
 *   `skipped` ("not run: --bail").
 * - An abort (SIGINT) stops scheduling and stops every worker (which restores its phone); the job
 *   at hand is `broken` ("interrupted"), the jobs not started are `skipped`.
 */
import PQueue from 'p-queue';
import type { Scenario, Verdict } from '../scenario/types.ts';
import type { JobSpec, PhoneSpec } from './ipc.ts';
import type { JobResult } from '../report/run-folder.ts';

export interface JobOutcome {
  result: JobResult;
  /** The phone (or its worker) was lost: an infrastructure failure; the worker is gone. */
  phoneLost: boolean;
  /**
   * The worker process failed for all of its phones (it crashed or hit an uncaught error), not this
   * phone: the job is broken and the worker replaced, but it does not count towards quarantining
   * the phone (a process serves up to 16 phones; one fault must not quarantine them all).
   */
  workerFault?: boolean;
}

/** One phone's worker, as the scheduler uses it. */
export interface PhoneWorker {
  /** Runs one job. Never rejects: a crash or a failed set-up is a `broken` result with phoneLost. */
  run(job: JobSpec): Promise<JobOutcome>;
  /** No more jobs: the worker restores its phone and exits. */
  finish(): Promise<void>;
  /** Interrupted: the worker abandons its job, restores its phone and exits (bounded in time). */
  stop(): Promise<void>;
  /** Resolves once the worker is gone (after phoneLost, before a new worker takes the phone). */
  readonly exited: Promise<void>;
}

export type WorkerFactory = (phone: PhoneSpec) => PhoneWorker;

export type RunEvent =
  | { type: 'start'; job: JobSpec }
  | { type: 'end'; job: JobSpec; result: JobResult; final: boolean }
  | { type: 'retry'; job: JobSpec; reason: string }
  | { type: 'moved'; job: JobSpec; from: string; to: string }
  | { type: 'quarantined'; phone: string; reason: string }
  | { type: 'bail'; job: JobSpec }
  | { type: 'interrupted' };

export interface ScheduleOptions {
  scenarios: Scenario[];
  phones: PhoneSpec[];
  /** Which scenario × phone pairs to run (default: all), e.g. this host's `--shard`. */
  include?: (scenario: Scenario, phone: PhoneSpec) => boolean;
  startWorker: WorkerFactory;
  /** Jobs running at once over all phones (default: the number of phones). */
  concurrency?: number;
  retries?: number;
  bail?: boolean;
  /** Consecutive infrastructure failures before a phone is quarantined (default 2). */
  quarantineAfter?: number;
  onEvent?: (e: RunEvent) => void;
  /** Aborting it interrupts the run. */
  signal?: AbortSignal;
}

export interface ScheduleResult {
  results: JobResult[];
  interrupted: boolean;
  quarantined: string[];
}

export const DEFAULT_QUARANTINE_AFTER = 2;

interface Lane {
  phone: PhoneSpec;
  queue: PQueue;
  worker: PhoneWorker | undefined;
  /** The previous worker's exit: a new worker waits for it (the old one may still be restoring). */
  previousExit: Promise<void>;
  infraFailures: number;
  quarantined: boolean;
}

interface Track {
  /** --retries used so far. */
  retriesUsed: number;
}

/** A JobResult for a job that did not run (this time). */
export function notRunResult(
  job: JobSpec,
  phone: PhoneSpec | undefined,
  status: Verdict,
  message: string,
): JobResult {
  return {
    scenario: job.scenario.config.name,
    file: job.scenario.file,
    phone: job.phone,
    profile: phone?.profile ?? '',
    status,
    message,
    durationMs: 0,
    steps: [],
    hosts: [],
    trackers: [],
    fingerprint: phone?.fingerprint ?? {},
    evidenceDir: '',
    attempts: job.attempt - 1,
  };
}

export async function schedule(opts: ScheduleOptions): Promise<ScheduleResult> {
  const quarantineAfter = opts.quarantineAfter ?? DEFAULT_QUARANTINE_AFTER;
  const retries = opts.retries ?? 0;
  const emit = opts.onEvent ?? (() => undefined);
  const global = new PQueue({ concurrency: Math.max(1, opts.concurrency ?? opts.phones.length) });
  const lanes = new Map<string, Lane>();
  for (const phone of opts.phones) {
    lanes.set(phone.serial, {
      phone,
      queue: new PQueue({ concurrency: 1 }),
      worker: undefined,
      previousExit: Promise.resolve(),
      infraFailures: 0,
      quarantined: false,
    });
  }
  const order: string[] = [];
  const final = new Map<string, JobResult>();
  const tracks = new Map<string, Track>();
  const quarantined: string[] = [];
  let bailed = false;
  let interrupted = false;
  let outstanding = 0;
  let allDone: () => void = () => undefined;
  const finished = new Promise<void>((r) => (allDone = r));

  const settle = (job: JobSpec, result: JobResult): void => {
    final.set(job.id, result);
    emit({ type: 'end', job, result, final: true });
    if (opts.bail && !bailed && (result.status === 'failed' || result.status === 'broken')) {
      bailed = true;
      emit({ type: 'bail', job });
    }
  };

  const enqueue = (job: JobSpec, lane: Lane): void => {
    outstanding++;
    void lane.queue
      .add(() => global.add(() => runJob(job, lane)))
      .catch((err: unknown) => {
        // runJob handles its own errors; this is a bug, but the run still ends with a verdict.
        settle(job, notRunResult(job, lane.phone, 'broken', `runner error: ${String(err)}`));
      })
      .finally(() => {
        if (--outstanding === 0) allDone();
      });
  };

  /** A twin of `lane` (same fingerprint key, not quarantined) with the least work queued. */
  const twinOf = (lane: Lane): Lane | undefined =>
    [...lanes.values()]
      .filter((l) => l !== lane && !l.quarantined && l.phone.fingerprintKey === lane.phone.fingerprintKey)
      .sort((a, b) => a.queue.size + a.queue.pending - (b.queue.size + b.queue.pending))[0];

  /** The job cannot run on `lane` (quarantined): move it to a twin if portable, else broken. */
  const relocate = (job: JobSpec, lane: Lane, last?: JobResult): void => {
    const twin = job.scenario.config.portable ? twinOf(lane) : undefined;
    if (twin) {
      const moved: JobSpec = { ...job, phone: twin.phone.serial };
      emit({ type: 'moved', job: moved, from: lane.phone.serial, to: twin.phone.serial });
      enqueue(moved, twin);
      return;
    }
    const why = job.scenario.config.portable
      ? 'phone quarantined (no other phone with the same fingerprint)'
      : 'phone quarantined';
    const base = last ?? notRunResult(job, lane.phone, 'broken', why);
    settle(job, {
      ...base,
      status: 'broken',
      message: last?.message ? `${why}; last attempt: ${last.message}` : why,
    });
  };

  const quarantine = (lane: Lane, reason: string): void => {
    if (lane.quarantined) return;
    lane.quarantined = true;
    quarantined.push(lane.phone.serial);
    emit({ type: 'quarantined', phone: lane.phone.serial, reason });
  };

  const runJob = async (job: JobSpec, lane: Lane): Promise<void> => {
    if (interrupted) return settle(job, notRunResult(job, lane.phone, 'skipped', 'not run: interrupted'));
    if (bailed) {
      return settle(job, notRunResult(job, lane.phone, 'skipped', 'not run: --bail after a failure'));
    }
    if (lane.quarantined) return relocate(job, lane);
    if (!lane.worker) {
      await lane.previousExit;
      lane.worker = opts.startWorker(lane.phone);
    }
    const worker = lane.worker;
    emit({ type: 'start', job });
    const { result, phoneLost, workerFault } = await worker.run(job);
    const ran: JobSpec = { ...job, attempt: job.attempt + 1 };
    if (phoneLost) {
      lane.worker = undefined;
      lane.previousExit = worker.exited;
      if (!workerFault) lane.infraFailures++;
      if (lane.infraFailures >= quarantineAfter && !interrupted) {
        quarantine(
          lane,
          `${lane.infraFailures} infrastructure failures in a row; last: ${result.message ?? ''}`,
        );
      }
    } else {
      lane.infraFailures = 0;
    }
    const bad = result.status === 'failed' || result.status === 'broken';
    if (!bad || interrupted || bailed) return settle(job, result);
    if (phoneLost && lane.quarantined) {
      emit({ type: 'end', job, result, final: false });
      return relocate(ran, lane, result);
    }
    const track = tracks.get(job.id) ?? { retriesUsed: 0 };
    tracks.set(job.id, track);
    if (track.retriesUsed < retries) {
      track.retriesUsed++;
      emit({ type: 'end', job, result, final: false });
      emit({ type: 'retry', job: ran, reason: result.message ?? result.status });
      enqueue(ran, lane);
      return;
    }
    settle(job, result);
  };

  // Queued tasks are not cleared on abort (a cleared p-queue task never settles): they run, see
  // `interrupted` and settle as not run at once.
  const onAbort = (): void => {
    if (interrupted) return;
    interrupted = true;
    emit({ type: 'interrupted' });
    void Promise.allSettled([...lanes.values()].map((l) => (l.worker ? l.worker.stop() : Promise.resolve())));
  };
  const jobs: JobSpec[] = [];
  opts.scenarios.forEach((scenario, i) => {
    for (const phone of opts.phones) {
      if (opts.include && !opts.include(scenario, phone)) continue;
      const job: JobSpec = { id: `${i}:${phone.serial}`, scenario, phone: phone.serial, attempt: 1 };
      order.push(job.id);
      jobs.push(job);
    }
  });
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  for (const job of jobs) {
    const lane = lanes.get(job.phone);
    if (lane) enqueue(job, lane);
  }
  if (outstanding === 0) allDone();
  await finished;
  opts.signal?.removeEventListener('abort', onAbort);
  await Promise.allSettled(
    [...lanes.values()].map((l) => {
      if (!l.worker) return Promise.resolve();
      return interrupted ? l.worker.stop() : l.worker.finish();
    }),
  );
  await Promise.allSettled([...lanes.values()].map((l) => l.previousExit));

  const results = order.map((id) => {
    const r = final.get(id);
    if (r) return r;
    const job = jobs.find((j) => j.id === id)!;
    return notRunResult(job, lanes.get(job.phone)?.phone, 'skipped', 'not run: interrupted');
  });
  return { results, interrupted, quarantined };
}
