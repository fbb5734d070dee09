/**
 * An SDK upload queue: events wait until N are queued, T ms have passed since the first, or the app
 * goes to the background; uploads go out in batches of at most `maxBatch`, oldest first. A failed
 * upload keeps its events and retries with exponential backoff. Timers are unref'd; stop() ends them.
 */

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
  { ok: true; count: number } | { ok: false; count: number; error: Error; retryInMs: number };

export class UploadQueue<T> {
  private entries: Array<QueueEntry<T>> = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private consecutiveFailures = 0;
  private stopped = false;

  constructor(
    readonly name: string,
    private readonly timings: QueueTimings,
    private readonly send: (entries: Array<QueueEntry<T>>) => Promise<void>,
    private readonly onOutcome: (o: QueueOutcome) => void = () => {},
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Whether an upload is in flight. */
  get busy(): boolean {
    return this.running !== undefined;
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
    if (this.backingOff) return;
    if (this.entries.length >= this.timings.flushCount) void this.flush();
    else if (!this.flushTimer)
      this.flushTimer = this.timer(this.timings.flushIntervalMs, () => void this.flush());
  }

  /** Uploads everything queued now (also during a backoff: the app asked). Resolves when done. */
  flush(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.clearTimers();
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped && !this.backingOff) {
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

  private async drain(): Promise<void> {
    while (this.entries.length > 0 && !this.stopped) {
      const batch = this.entries.slice(0, this.timings.maxBatch);
      try {
        await this.send(batch);
      } catch (err) {
        for (const e of batch) e.failures++;
        this.consecutiveFailures++;
        const retryInMs = Math.min(
          this.timings.retryBaseMs * 2 ** (this.consecutiveFailures - 1),
          this.timings.retryMaxMs,
        );
        if (!this.stopped) this.retryTimer = this.timer(retryInMs, () => this.retry());
        this.onOutcome({ ok: false, count: batch.length, error: asError(err), retryInMs });
        return;
      }
      this.consecutiveFailures = 0;
      const sent = new Set(batch);
      this.entries = this.entries.filter((e) => !sent.has(e));
      this.onOutcome({ ok: true, count: batch.length });
    }
  }

  private retry(): void {
    this.retryTimer = undefined;
    void this.flush();
  }

  /** After a drain: events queued meanwhile wait for the count or the interval. */
  private armAfterDrain(): void {
    if (this.stopped || this.backingOff || this.entries.length === 0) return;
    if (this.entries.length >= this.timings.flushCount) void this.flush();
    else if (!this.flushTimer)
      this.flushTimer = this.timer(this.timings.flushIntervalMs, () => void this.flush());
  }

  private timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      if (this.flushTimer === t) this.flushTimer = undefined;
      fn();
    }, ms);
    t.unref();
    return t;
  }

  private clearTimers(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.flushTimer = undefined;
    this.retryTimer = undefined;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
