/**
 * The parent's side of a phone worker: a child process (worker.ts) started with child_process.fork
 * through tsx's ESM loader (as bin/phonehome.js runs the CLI), spoken to over the IPC channel.
 * Its stdout and stderr go to `<run>/logs/<phone>.log`; the last lines are kept for error messages.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobSpec, ParentMessage, PhoneSpec, WorkerInit, WorkerMessage } from './ipc.ts';
import { slug } from '../report/run-folder.ts';
import { notRunResult, type JobOutcome, type PhoneWorker } from './scheduler.ts';

const WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** How long a stopped worker gets to restore its phone before it is killed (the run's 5 s bound). */
export const STOP_GRACE_MS = 4000;
/** How long a finishing worker gets (restore after the last job). */
export const FINISH_GRACE_MS = 30_000;

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

export class ForkedWorker implements PhoneWorker {
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private readonly tail: string[] = [];
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private state: 'starting' | 'ready' | 'failed' = 'starting';
  private setupError = '';
  private readyWaiters: Array<() => void> = [];
  private current: { job: JobSpec; resolve: (o: JobOutcome) => void } | undefined;

  constructor(
    readonly phone: PhoneSpec,
    private readonly opts: ForkOptions,
  ) {
    const logs = join(opts.runDir, 'logs');
    mkdirSync(logs, { recursive: true });
    this.log = createWriteStream(join(logs, `${slug(phone.serial)}.log`), { flags: 'a' });
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
    this.child.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.child.on('error', (err) => keep(Buffer.from(`worker error: ${err.message}\n`)));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        this.log.end();
        if (this.state === 'starting') {
          this.state = 'failed';
          this.setupError ||= `the worker exited (${this.exitText()}) before the phone was ready`;
        }
        this.wakeReady();
        this.current?.resolve(this.lostOutcome(this.current.job, `the worker exited (${this.exitText()})`));
        this.current = undefined;
        resolve();
      });
    });
    const init: WorkerInit = { type: 'init', phone, ...withoutOnMessage(opts) };
    this.send(init);
  }

  private exitText(): string {
    if (!this.exit) return 'running';
    const how = this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`;
    const last = this.tail.slice(-3).join(' | ');
    return last ? `${how}; last output: ${last}` : how;
  }

  private send(m: ParentMessage): void {
    if (this.exit || !this.child.connected) return;
    try {
      this.child.send(m);
    } catch {
      /* the exit handler reports it */
    }
  }

  private wakeReady(): void {
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private onMessage(m: WorkerMessage): void {
    this.opts.onMessage?.(this.phone.serial, m);
    switch (m.type) {
      case 'ready':
        this.state = 'ready';
        this.wakeReady();
        break;
      case 'setup-failed':
        this.state = 'failed';
        this.setupError = m.message;
        this.wakeReady();
        break;
      case 'result':
        if (this.current && this.current.job.id === m.jobId) {
          const { resolve } = this.current;
          this.current = undefined;
          resolve({ result: m.result, phoneLost: m.phoneLost });
        }
        break;
      case 'log':
        this.log.write(`${m.line}\n`);
        break;
      case 'step':
        break;
    }
  }

  private lostOutcome(job: JobSpec, why: string): JobOutcome {
    return {
      result: { ...notRunResult(job, this.phone, 'broken', why), attempts: job.attempt },
      phoneLost: true,
    };
  }

  async run(job: JobSpec): Promise<JobOutcome> {
    if (this.state === 'starting') await new Promise<void>((r) => this.readyWaiters.push(r));
    if (this.state === 'failed') {
      return this.lostOutcome(job, `the phone could not be set up: ${this.setupError}`);
    }
    if (this.exit) return this.lostOutcome(job, `the worker exited (${this.exitText()})`);
    return new Promise<JobOutcome>((resolve) => {
      this.current = { job, resolve };
      this.send({ type: 'job', job });
    });
  }

  private async endWith(message: ParentMessage, graceMs: number): Promise<void> {
    if (this.exit) return;
    this.send(message);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  finish(): Promise<void> {
    return this.endWith({ type: 'done' }, FINISH_GRACE_MS);
  }

  stop(): Promise<void> {
    return this.endWith({ type: 'stop' }, STOP_GRACE_MS);
  }

  /** Kills the worker at once (a second Ctrl-C); the journal restores its phone at the next start. */
  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

function withoutOnMessage(o: ForkOptions): Omit<WorkerInit, 'type' | 'phone'> {
  const { onMessage: _ignored, ...rest } = o;
  return rest;
}
