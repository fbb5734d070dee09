/**
 * What the runner's parent and its worker processes say to each other over the fork() IPC channel.
 * A worker process serves one or more phones (`phonehome run --phones-per-worker`), so every message
 * about a phone names it by serial; `exit` is for the process. Scenarios travel as parsed data
 * (Scenario is plain JSON), so a worker never re-reads the files.
 */
import type { Scenario } from '../scenario/types.ts';
import type { JobResult } from '../report/run-folder.ts';
import type { CaMethod } from '../capture/journal.ts';

/** One phone as the runner drives it. */
export interface PhoneSpec {
  serial: string;
  /** The adb server this phone is attached to (multi-host labs: one per lab host). */
  adb: { host: string; port: number };
  /** devices.json `ui` (default appium). */
  ui: 'appium' | 'adb';
  /**
   * devices.json `connect: true`: adbd over TCP (serial HOST:PORT) that the runner `adb connect`s to
   * its adb server, and re-connects while it waits for the phone after a drop.
   */
  connect?: boolean;
  /** Profile (virtual phones) or model (real ones): JobResult.profile. */
  profile: string;
  /** Jobs may move between phones with the same key (model + OS version + build + profile). */
  fingerprintKey: string;
  /** For Allure's environment and the JobResults. */
  fingerprint: Record<string, string>;
}

/** One (scenario × phone) job. */
export interface JobSpec {
  /** Stable across retries and moves: `<scenario index>:<original phone serial>`. */
  id: string;
  scenario: Scenario;
  /** The phone it runs on now (changes when a portable job moves). */
  phone: string;
  /** 1 for the first run, 2 for the first retry or move, … */
  attempt: number;
}

export interface WorkerInit {
  type: 'init';
  phone: PhoneSpec;
  runDir: string;
  runId: string;
  caDir: string;
  stateDir: string;
  /** `phonehome run --ca-method` (default auto). */
  caMethod?: CaMethod | 'auto';
  appiumUrl?: string;
  stepTimeoutMs?: number;
  adbTimeoutMs?: number;
  /** The locator override file (devices.json `locatorOverrides`, or locator-overrides.json beside it). */
  locatorOverrides?: string;
  /** Decryption keys, hex by name (`phonehome run --key`). */
  keys?: Record<string, string>;
  /** URL templates of the scenario headers' issue/tms links (phonehome.json report.links). */
  links?: Record<string, string>;
  /**
   * Slots among the run's phones of one profile, by serial, for the phones past the first (Allure's
   * history key; absent: 1). A job keeps the slot of the phone it was scheduled on, also when it moves
   * to a twin, so that it never shares an Allure key (and so a retry row) with the twin's own job.
   */
  profileSlots?: Record<string, number>;
  /** `phonehome run --screenshots`: `steps` adds a screenshot after every scenario step (default failures). */
  screenshots?: 'failures' | 'steps';
}

export type ParentMessage =
  /** Take this phone: set it up, then wait for its jobs. */
  | WorkerInit
  | { type: 'job'; serial: string; job: JobSpec }
  /** No more jobs for this phone: finish, restore it and report `ended`. */
  | { type: 'done'; serial: string }
  /** Interrupted: abandon this phone's job, restore it now and report `ended`. */
  | { type: 'stop'; serial: string }
  /** The process has no phone left (every one reported `ended`): exit. */
  | { type: 'exit' };

/**
 * Every message of the worker is about one phone (its serial), but `closing`: the process is
 * stopping all its phones and exiting, so it takes no new phone.
 */
export type WorkerMessage = { type: 'closing' } | PhoneMessage;

export type PhoneMessage = { serial: string } & (
  | { type: 'ready' }
  /**
   * The phone could not be set up (an infrastructure failure); it is restored, then `ended`.
   * `workerFault`: refused by a process that was exiting (scheduler.ts JobOutcome).
   */
  | { type: 'setup-failed'; message: string; workerFault?: boolean }
  | { type: 'step'; jobId: string; name: string; status: string }
  | { type: 'log'; line: string }
  /**
   * `phoneLost`: the phone stopped answering during the job (it is restored, then `ended`);
   * `workerFault`: the process failed for all its phones (scheduler.ts JobOutcome).
   */
  | { type: 'result'; jobId: string; result: JobResult; phoneLost: boolean; workerFault?: boolean }
  /** The phone is restored (or its restore gave up) and the worker holds nothing of it any more. */
  | { type: 'ended' }
);
