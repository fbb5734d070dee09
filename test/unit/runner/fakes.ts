/** Fake phone workers and hand-built scenarios for the scheduler's unit tests. */
import type { Scenario, Verdict } from '../../../src/scenario/types.ts';
import type { JobSpec, PhoneSpec } from '../../../src/runner/ipc.ts';
import { notRunResult, type JobOutcome, type PhoneWorker } from '../../../src/runner/scheduler.ts';

export function scenario(name: string, opts: { portable?: boolean } = {}): Scenario {
  return {
    file: `scenarios/${name}.yaml`,
    config: { name, tags: [], env: {}, canaries: [], ...(opts.portable ? { portable: true } : {}) },
    steps: [],
  };
}

export function phone(serial: string, key = 'model|MIUI 12|10|V12|leaky'): PhoneSpec {
  return {
    serial,
    adb: { host: '127.0.0.1', port: 5037 },
    ui: 'adb',
    profile: key.split('|').at(-1) ?? 'p',
    fingerprintKey: key,
    fingerprint: { model: 'model' },
  };
}

/** What a fake job does: its verdict, whether the phone is lost, how long it takes. */
export interface Behaviour {
  status: Verdict;
  phoneLost?: boolean;
  /** With phoneLost: the worker process failed for all its phones (JobOutcome.workerFault). */
  workerFault?: boolean;
  ms?: number;
}

export type Script = (job: JobSpec, phone: PhoneSpec) => Behaviour;

export interface FakeLab {
  startWorker: (phone: PhoneSpec) => PhoneWorker;
  /** Every job start, in order: `scenario@phone#attempt`. */
  starts: string[];
  /** Workers started per phone. */
  workers: Map<string, number>;
  /** Highest number of jobs running at once, overall and per phone. */
  maxRunning: number;
  maxPerPhone: Map<string, number>;
  stopped: string[];
  finished: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function fakeLab(script: Script): FakeLab {
  let running = 0;
  const perPhone = new Map<string, number>();
  const lab: FakeLab = {
    starts: [],
    workers: new Map(),
    maxRunning: 0,
    maxPerPhone: new Map(),
    stopped: [],
    finished: [],
    startWorker: (p) => {
      lab.workers.set(p.serial, (lab.workers.get(p.serial) ?? 0) + 1);
      let exit: () => void = () => undefined;
      const exited = new Promise<void>((r) => (exit = r));
      let abort: (() => void) | undefined;
      const w: PhoneWorker = {
        exited,
        async run(job): Promise<JobOutcome> {
          lab.starts.push(`${job.scenario.config.name}@${job.phone}#${job.attempt}`);
          running++;
          lab.maxRunning = Math.max(lab.maxRunning, running);
          const n = (perPhone.get(p.serial) ?? 0) + 1;
          perPhone.set(p.serial, n);
          lab.maxPerPhone.set(p.serial, Math.max(lab.maxPerPhone.get(p.serial) ?? 0, n));
          const b = script(job, p);
          const interrupted = await Promise.race([
            sleep(b.ms ?? 5).then(() => false),
            new Promise<boolean>((r) => (abort = () => r(true))),
          ]);
          running--;
          perPhone.set(p.serial, (perPhone.get(p.serial) ?? 1) - 1);
          const base = notRunResult(
            job,
            p,
            interrupted ? 'broken' : b.status,
            interrupted ? 'interrupted' : b.status,
          );
          if (b.phoneLost && !interrupted) exit();
          return {
            result: { ...base, attempts: job.attempt, durationMs: b.ms ?? 5 },
            phoneLost: Boolean(b.phoneLost) && !interrupted,
            ...(b.workerFault && b.phoneLost && !interrupted ? { workerFault: true } : {}),
          };
        },
        async finish() {
          lab.finished.push(p.serial);
          exit();
        },
        async stop() {
          lab.stopped.push(p.serial);
          abort?.();
          exit();
        },
      };
      return w;
    },
  };
  return lab;
}
