/**
 * An SDK upload queue: events wait until N are queued, T ms have passed since the first, or the app
 * goes to the background; uploads go out in batches of at most `maxBatch`, oldest first. The sender
 * says what became of a batch: `ok` (delivered), `drop` (the SDK deletes it, e.g. Sensors on a 400) or
 * `keep` (kept and retried with exponential backoff; a thrown error counts as `keep`). Timers come
 * from a Scheduler (real, unref'd timers by default; tests inject a manual one); stop() ends them.
 *
 * When the app that owns the queue is force-stopped, its process dies: suspend() keeps the events
 * (an SDK that stores them, e.g. in SQLite) without timers or uploads until resume() (its next
 * start); discard() drops them (an in-memory queue dies with the process).
 */

/** Where the queue's timers come from. */
export interface Scheduler {
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Real timers, unref'd so that a queue never keeps the process alive. */
export const REAL_SCHEDULER: Scheduler = {
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** What became of one upload attempt. */
export type SendResult = 'ok' | 'keep' | 'drop';

export interface QueueTimings {
  /** Flush when this many events are queued (Sensors Android: flushBulkSize 100). */
  flushCount: number;
  /** Flush this long after an event was queued into an empty queue (Sensors Android: 15 s). */
  flushIntervalMs: number;
  /** Events per POST (Sensors Android: 50). */
  maxBatch: number;
  /** First retry delay after a failure; doubles per consecutive failure up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Oldest events are dropped beyond this (the SDK's database cap). */
  maxQueued: number;
}

export interface QueueEntry<T> {
  value: T;
  /** Upload attempts that failed so far. */
  failures: number;
}

export type QueueOutcome =
  | { ok: true; count: number }
  | { ok: false; count: number; error: Error; retryInMs: number; dropped?: false }
  /** The batch was deleted without delivery (the SDK does not retry this answer). */
  | { ok: false; count: number; error: Error; dropped: true };

export class UploadQueue<T> {
  private entries: Array<QueueEntry<T>> = [];
  private flushTimer: unknown;
  private retryTimer: unknown;
  private running: Promise<void> | undefined;
  private again = false;
  private consecutiveFailures = 0;
  private stopped = false;
  private _suspended = false;

  constructor(
    readonly name: string,
    private readonly timings: QueueTimings,
    /** Uploads a batch; resolves to what became of it (a rejection means `keep`). */
    private readonly send: (
      entries: Array<QueueEntry<T>>,
    ) => Promise<SendResult | { result: SendResult; reason: string }>,
    private readonly onOutcome: (o: QueueOutcome) => void = () => {},
    private readonly scheduler: Scheduler = REAL_SCHEDULER,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Whether an upload is in flight. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Whether the owner's process is gone (suspend()) and the queue waits for resume(). */
  get suspended(): boolean {
    return this._suspended;
  }

  /** Whether a retry is scheduled after a failure. */
  get backingOff(): boolean {
    return this.retryTimer !== undefined;
  }

  push(value: T): void {
    if (this.stopped) return;
    this.entries.push({ value, failures: 0 });
    if (this.entries.length > this.timings.maxQueued)
      this.entries.splice(0, this.entries.length - this.timings.maxQueued);
    if (this.backingOff || this._suspended) return;
    if (this.entries.length >= this.timings.flushCount) void this.flush();
    else if (this.flushTimer === undefined)
      this.flushTimer = this.timer(this.timings.flushIntervalMs, () => void this.flush());
  }

  /** Uploads everything queued now (also during a backoff: the app asked). Resolves when done. */
  flush(): Promise<void> {
    if (this.stopped || this._suspended) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.clearTimers();
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped && !this._suspended && !this.backingOff) {
        this.again = false;
        void this.flush();
      } else {
        this.again = false;
        this.armAfterDrain();
      }
    });
    return this.running;
  }

  /** Resolves once no upload is in flight. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
  }

  /**
   * The owner's process died, its events are kept: no timers, no uploads (an upload in flight ends
   * its current batch) until resume(). Returns how many events wait.
   */
  suspend(): number {
    this._suspended = true;
    this.again = false;
    this.clearTimers();
    return this.entries.length;
  }

  /** The owner runs again: uploads what was kept (a fresh start: no backoff). Resolves when done. */
  resume(): Promise<void> {
    if (!this._suspended) return Promise.resolve();
    this._suspended = false;
    this.consecutiveFailures = 0;
    if (this.entries.length === 0) return Promise.resolve();
    return this.flush();
  }

  /** The owner's process died with the queue in memory: drops every event and timer. Returns how many. */
  discard(): number {
    const n = this.entries.length;
    this.entries = [];
    this.again = false;
    this.consecutiveFailures = 0;
    this.clearTimers();
    return n;
  }

  private async drain(): Promise<void> {
    while (this.entries.length > 0 && !this.stopped && !this._suspended) {
      const batch = this.entries.slice(0, this.timings.maxBatch);
      let result: SendResult;
      let error: Error | undefined;
      try {
        const r = await this.send(batch);
        result = typeof r === 'string' ? r : r.result;
        if (typeof r !== 'string') error = new Error(r.reason);
      } catch (err) {
        result = 'keep';
        error = asError(err);
      }
      if (result === 'keep') {
        for (const e of batch) e.failures++;
        this.consecutiveFailures++;
        const retryInMs = Math.min(
          this.timings.retryBaseMs * 2 ** (this.consecutiveFailures - 1),
          this.timings.retryMaxMs,
        );
        if (!this.stopped && !this._suspended) this.retryTimer = this.timer(retryInMs, () => this.retry());
        this.onOutcome({
          ok: false,
          count: batch.length,
          error: error ?? new Error('upload failed'),
          retryInMs,
        });
        return;
      }
      this.consecutiveFailures = 0;
      const done = new Set(batch);
      this.entries = this.entries.filter((e) => !done.has(e));
      if (result === 'ok') this.onOutcome({ ok: true, count: batch.length });
      else
        this.onOutcome({
          ok: false,
          count: batch.length,
          error: error ?? new Error('rejected'),
          dropped: true,
        });
    }
  }

  private retry(): void {
    this.retryTimer = undefined;
    void this.flush();
  }

  /** After a drain: events queued meanwhile wait for the count or the interval. */
  private armAfterDrain(): void {
    if (this.stopped || this._suspended || this.backingOff || this.entries.length === 0) return;
    if (this.entries.length >= this.timings.flushCount) void this.flush();
    else if (this.flushTimer === undefined)
      this.flushTimer = this.timer(this.timings.flushIntervalMs, () => void this.flush());
  }

  private timer(ms: number, fn: () => void): unknown {
    const t: unknown = this.scheduler.setTimer(() => {
      if (this.flushTimer === t) this.flushTimer = undefined;
      fn();
    }, ms);
    return t;
  }

  private clearTimers(): void {
    if (this.flushTimer !== undefined) this.scheduler.clearTimer(this.flushTimer);
    if (this.retryTimer !== undefined) this.scheduler.clearTimer(this.retryTimer);
    this.flushTimer = undefined;
    this.retryTimer = undefined;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
