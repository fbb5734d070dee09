/**
 * The parent's side of the worker processes (worker.ts): a pool of child processes started with
 * child_process.fork through tsx's ESM loader (as bin/phonehome.js runs the CLI), each serving up to
 * `phonesPerWorker` phones (`phonehome run --phones-per-worker`, default 16), spoken to over the IPC
 * channel. The scheduler sees one `PhoneWorker` per phone (`PhoneSlot`); a slot is gone when its
 * phone reported `ended` (restored) or its process exited. A process with no phone left is told to
 * exit; a new phone (a replacement after a lost one) goes to a process with room, or a new one.
 *
 * Logs: what the worker says about a phone goes to `<run>/logs/<phone>.log`; a process's own stdout
 * and stderr to `<run>/logs/worker-<n>.log`, whose last lines are kept for error messages.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobSpec, ParentMessage, PhoneMessage, PhoneSpec, WorkerInit, WorkerMessage } from './ipc.ts';
import { slug } from '../report/run-folder.ts';
import { notRunResult, type JobOutcome, type PhoneWorker } from './scheduler.ts';

const WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** How long a stopped phone gets to be restored before its process is killed (the run's 5 s bound). */
export const STOP_GRACE_MS = 4000;
/** How long a finishing phone gets (restore after the last job) before it is given up. */
export const FINISH_GRACE_MS = 30_000;
/** How long a process told to exit (no phone left) gets before it is killed. */
const EXIT_GRACE_MS = 5000;
/**
 * Phones per worker process by default. A process costs ~2 s of CPU to start and compiles the same
 * hot code again: bench/lab-scaling on 16 phones used 25 s of worker CPU in one process, 33 s in two
 * of 8 (bench/README.md). One process on 16 phones keeps its event loop about a quarter busy.
 */
export const DEFAULT_PHONES_PER_WORKER = 16;

export interface ForkOptions extends Omit<WorkerInit, 'type' | 'phone'> {
  onMessage?: (phone: string, m: WorkerMessage) => void;
}

function tsxLoaderUrl(): string {
  return import.meta.resolve('tsx/esm');
}

/**
 * PHONEHOME_WORKER_CPU_PROF=DIR: a V8 CPU profile of each worker into DIR (Node refuses --cpu-prof in
 * NODE_OPTIONS, and workers get their own execArgv), to see where the harness's CPU per phone goes.
 */
function profileArgs(): string[] {
  const dir = process.env.PHONEHOME_WORKER_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/** One worker process and the phones it serves. */
class WorkerProcess {
  readonly exited: Promise<void>;
  /** Told to exit, or gone: takes no new phone. */
  closing = false;
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private readonly tail: string[] = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The phones it serves that have not ended, by serial. */
  private readonly slots = new Map<string, PhoneSlot>();

  constructor(
    readonly index: number,
    runDir: string,
  ) {
    const logs = join(runDir, 'logs');
    mkdirSync(logs, { recursive: true });
    this.log = createWriteStream(join(logs, `worker-${index}.log`), { flags: 'a' });
    this.child = fork(WORKER_ENTRY, [], {
      execArgv: ['--import', tsxLoaderUrl(), ...profileArgs()],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const keep = (chunk: Buffer): void => {
      this.log.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        this.tail.push(line);
        if (this.tail.length > 20) this.tail.shift();
      }
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('message', (m: WorkerMessage) => {
      if (m.type === 'closing') this.closing = true;
      else this.slots.get(m.serial)?.onMessage(m);
    });
    this.child.on('error', (err) => keep(Buffer.from(`worker error: ${err.message}\n`)));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.closing = true;
        this.log.end();
        for (const slot of [...this.slots.values()]) slot.processExited(this.exitText());
        this.slots.clear();
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get phones(): number {
    return this.slots.size;
  }

  exitText(): string {
    if (!this.exit) return 'running';
    const how = this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`;
    const last = this.tail.slice(-3).join(' | ');
    return last ? `${how}; last output: ${last}` : how;
  }

  send(m: ParentMessage): void {
    if (this.exit || !this.child.connected) return;
    try {
      this.child.send(m);
    } catch {
      /* the exit handler reports it */
    }
  }

  attach(slot: PhoneSlot, init: WorkerInit): void {
    this.slots.set(slot.phone.serial, slot);
    this.send(init);
  }

  /** A phone ended (or was given up): with none left, the process is told to exit. */
  detach(slot: PhoneSlot): void {
    if (this.slots.get(slot.phone.serial) !== slot) return;
    this.slots.delete(slot.phone.serial);
    if (this.slots.size === 0 && !this.closing) {
      this.closing = true;
      this.send({ type: 'exit' });
      const timer = setTimeout(() => this.kill(), EXIT_GRACE_MS);
      void this.exited.then(() => clearTimeout(timer));
    }
  }

  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

/** One phone in a worker process, as the scheduler uses it. */
export class PhoneSlot implements PhoneWorker {
  readonly exited: Promise<void>;
  private exitedResolve!: () => void;
  private gone = false;
  private state: 'starting' | 'ready' | 'failed' = 'starting';
  private setupError = '';
  private readyWaiters: Array<() => void> = [];
  private current: { job: JobSpec; resolve: (o: JobOutcome) => void } | undefined;
  private readonly log: WriteStream;
  /** Why the slot is gone when its process went away. */
  private goneWhy = '';
  /** The worker process failed for all its phones (JobOutcome.workerFault), at set-up or later. */
  private fault = false;

  constructor(
    readonly phone: PhoneSpec,
    private readonly proc: WorkerProcess,
    private readonly opts: ForkOptions,
  ) {
    this.exited = new Promise((r) => (this.exitedResolve = r));
    const logs = join(opts.runDir, 'logs');
    mkdirSync(logs, { recursive: true });
    this.log = createWriteStream(join(logs, `${slug(phone.serial)}.log`), { flags: 'a' });
    this.log.write(
      `phonehome: ${phone.serial} in worker process ${proc.index} (pid ${proc.pid}, logs/worker-${proc.index}.log)\n`,
    );
    proc.attach(this, { type: 'init', phone, ...withoutOnMessage(opts) });
  }

  private wakeReady(): void {
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** The slot is over: the phone ended, was given up, or its process exited (`workerFault`). */
  private close(why: string, workerFault = false): void {
    if (this.gone) return;
    this.gone = true;
    this.goneWhy = why;
    this.fault ||= workerFault;
    if (this.state === 'starting') {
      this.state = 'failed';
      this.setupError ||= `${why} before the phone was ready`;
    }
    this.wakeReady();
    this.current?.resolve(this.lostOutcome(this.current.job, why, workerFault));
    this.current = undefined;
    this.log.end();
    this.proc.detach(this);
    this.exitedResolve();
  }

  processExited(exitText: string): void {
    this.close(`the worker exited (${exitText})`, true);
  }

  onMessage(m: PhoneMessage): void {
    this.opts.onMessage?.(this.phone.serial, m);
    switch (m.type) {
      case 'ready':
        this.state = 'ready';
        this.wakeReady();
        break;
      case 'setup-failed':
        this.state = 'failed';
        this.setupError = m.message;
        this.fault = m.workerFault === true;
        this.wakeReady();
        break;
      case 'result':
        if (this.current && this.current.job.id === m.jobId) {
          const { resolve } = this.current;
          this.current = undefined;
          resolve({
            result: m.result,
            phoneLost: m.phoneLost,
            ...(m.workerFault ? { workerFault: true } : {}),
          });
        }
        break;
      case 'log':
        if (!this.gone) this.log.write(`${m.line}\n`);
        break;
      case 'ended':
        this.close('the phone was released by its worker');
        break;
      case 'step':
        break;
    }
  }

  private lostOutcome(job: JobSpec, why: string, workerFault = false): JobOutcome {
    return {
      result: { ...notRunResult(job, this.phone, 'broken', why), attempts: job.attempt },
      phoneLost: true,
      ...(workerFault ? { workerFault: true } : {}),
    };
  }

  async run(job: JobSpec): Promise<JobOutcome> {
    if (this.state === 'starting') await new Promise<void>((r) => this.readyWaiters.push(r));
    if (this.state === 'failed') {
      return this.lostOutcome(job, `the phone could not be set up: ${this.setupError}`, this.fault);
    }
    if (this.gone) return this.lostOutcome(job, this.goneWhy, this.fault);
    return new Promise<JobOutcome>((resolve) => {
      this.current = { job, resolve };
      this.proc.send({ type: 'job', serial: this.phone.serial, job });
    });
  }

  finish(): Promise<void> {
    if (this.gone) return Promise.resolve();
    this.proc.send({ type: 'done', serial: this.phone.serial });
    // A restore that hangs past the grace is given up here (the journal restores the phone at the
    // next start); the process's other phones go on, and it is killed once it has none left.
    const timer = setTimeout(() => {
      this.log.write(
        `phonehome: ${this.phone.serial} did not finish within ${FINISH_GRACE_MS} ms; given up\n`,
      );
      this.close('the phone did not finish in time');
    }, FINISH_GRACE_MS);
    return this.exited.then(() => clearTimeout(timer));
  }

  stop(): Promise<void> {
    if (this.gone) return Promise.resolve();
    this.proc.send({ type: 'stop', serial: this.phone.serial });
    // Interrupted: every phone is being stopped, so a process that overruns the bound is killed.
    const timer = setTimeout(() => this.proc.kill(), STOP_GRACE_MS);
    return this.exited.then(() => clearTimeout(timer));
  }

  /** Kills its process at once (a second Ctrl-C); the journal restores its phones at the next start. */
  kill(): void {
    this.proc.kill();
  }
}

/** The run's worker processes: phones are placed `phonesPerWorker` to a process. */
export class WorkerPool {
  private readonly procs: WorkerProcess[] = [];
  private next = 1;

  constructor(
    private readonly opts: ForkOptions,
    readonly phonesPerWorker = DEFAULT_PHONES_PER_WORKER,
  ) {
    if (!Number.isInteger(phonesPerWorker) || phonesPerWorker < 1) {
      throw new Error(`phones per worker must be a whole number ≥ 1, not ${phonesPerWorker}`);
    }
  }

  /** A slot for `phone`: in the first process with room, or in a new process. */
  start(phone: PhoneSpec): PhoneSlot {
    // `closing` is also set when a process exits.
    let proc = this.procs.find((p) => !p.closing && p.phones < this.phonesPerWorker);
    if (!proc) {
      proc = new WorkerProcess(this.next++, this.opts.runDir);
      this.procs.push(proc);
      const p = proc;
      void p.exited.then(() => this.procs.splice(this.procs.indexOf(p), 1));
    }
    return new PhoneSlot(phone, proc, this.opts);
  }

  /** Every process's exit (after each was told to, or killed). */
  async closed(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.exited));
  }

  killAll(): void {
    for (const p of this.procs) p.kill();
  }
}

function withoutOnMessage(o: ForkOptions): Omit<WorkerInit, 'type' | 'phone'> {
  const { onMessage: _ignored, ...rest } = o;
  return rest;
}
