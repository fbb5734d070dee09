/**
 * One ADB stream (a service connection multiplexed on a transport) as a Node Duplex.
 *
 * Flow control, as adbd does it: every WRTE from the host is answered with OKAY once the data has
 * been taken (we hold the OKAY while our read buffer is full); toward the host we keep at most one
 * WRTE in flight and never send more than the negotiated maximum payload.
 */
import { Duplex } from 'node:stream';

export interface StreamSink {
  /** Sends one WRTE of at most maxPayload bytes; resolves when the host OKAYs it. */
  sendWrite(stream: AdbStream, data: Buffer): Promise<void>;
  /** Sends OKAY for one received WRTE. */
  sendOkay(stream: AdbStream): void;
  /** Sends our CLSE (once) and forgets the stream. */
  sendClose(stream: AdbStream): void;
}

export class StreamClosedError extends Error {
  constructor() {
    super('stream closed by the host');
    this.name = 'StreamClosedError';
  }
}

export class AdbStream extends Duplex {
  /** Set once the host has told us its id (OPEN arg0, or its first OKAY for our OPEN). */
  remoteId: number;
  /** True once the host sent CLSE. */
  remoteClosed = false;
  private localClosed = false;
  private okayOwed = false;
  private ackWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  private flushing = false;
  private flushScheduled = false;
  private blockedWrite: ((err?: Error | null) => void) | undefined;
  private sentWaiters: Array<() => void> = [];
  private readonly closeController = new AbortController();

  constructor(
    readonly localId: number,
    remoteId: number,
    readonly service: string,
    private readonly sink: StreamSink,
    private readonly maxPayload: number,
  ) {
    super({ allowHalfOpen: true, highWaterMark: 256 * 1024 });
    this.remoteId = remoteId;
    // Errors surface through the callers' awaits; an unhandled 'error' event must never kill the phone.
    this.on('error', () => undefined);
  }

  /** Aborted when the host closes the stream (or the transport dies). */
  get closedSignal(): AbortSignal {
    return this.closeController.signal;
  }

  /** Data from a host WRTE. */
  deliver(data: Buffer): void {
    if (this.remoteClosed || this.destroyed) return;
    if (this.push(data)) this.sink.sendOkay(this);
    else this.okayOwed = true;
  }

  /** The host's OKAY for our outstanding WRTE. */
  acked(): void {
    const w = this.ackWaiter;
    this.ackWaiter = undefined;
    w?.resolve();
  }

  /** The host sent CLSE (or the transport went away). */
  hostClosed(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.closeController.abort('stream closed');
    const w = this.ackWaiter;
    this.ackWaiter = undefined;
    w?.reject(new StreamClosedError());
    this.queue = [];
    this.queued = 0;
    const blocked = this.blockedWrite;
    this.blockedWrite = undefined;
    blocked?.(new StreamClosedError());
    this.notifySent();
    this.push(null);
    if (!this.localClosed) {
      this.localClosed = true;
      this.sink.sendClose(this);
    }
    this.destroy();
  }

  override _read(): void {
    if (this.okayOwed && !this.remoteClosed) {
      this.okayOwed = false;
      this.sink.sendOkay(this);
    }
  }

  /**
   * Writes are queued and sent by one flush loop: whatever was queued when a WRTE can go out is sent
   * together (up to maxPayload), as adbd sends what it has read from a pipe. So a command's last
   * output and the shell v2 exit packet usually share one WRTE instead of costing an OKAY round trip
   * each.
   */
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.remoteClosed) {
      cb(new StreamClosedError());
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued < this.maxPayload) cb();
    else this.blockedWrite = cb; // backpressure: called again once the queue drains below a WRTE
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushing || this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0 && !this.remoteClosed) {
        const piece = this.takeQueued();
        const blocked = this.blockedWrite;
        if (blocked && this.queued < this.maxPayload) {
          this.blockedWrite = undefined;
          blocked();
        }
        const acked = new Promise<void>((resolve, reject) => {
          this.ackWaiter = { resolve, reject };
        });
        await this.sink.sendWrite(this, piece);
        if (this.queue.length === 0) this.notifySent();
        await acked;
      }
    } catch {
      // The host closed the stream; hostClosed() already failed the writers.
    } finally {
      this.flushing = false;
      this.notifySent();
      if (this.queue.length > 0 && !this.remoteClosed) this.scheduleFlush();
    }
  }

  private takeQueued(): Buffer {
    let size = 0;
    let n = 0;
    while (n < this.queue.length && size + this.queue[n]!.length <= this.maxPayload)
      size += this.queue[n++]!.length;
    if (n === 0) {
      // A single chunk larger than a WRTE: split it.
      const first = this.queue[0]!;
      this.queue[0] = first.subarray(this.maxPayload);
      this.queued -= this.maxPayload;
      return first.subarray(0, this.maxPayload);
    }
    const parts = this.queue.splice(0, n);
    this.queued -= size;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
  }

  private notifySent(): void {
    if (this.queue.length > 0 && !this.remoteClosed) return;
    const waiters = this.sentWaiters;
    this.sentWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once everything queued has been handed to the transport (not necessarily acked). */
  private allSent(): Promise<void> {
    if (this.queue.length === 0 && !this.flushScheduled) return Promise.resolve();
    return new Promise((resolve) => this.sentWaiters.push(resolve));
  }

  override _final(cb: (err?: Error | null) => void): void {
    // ADB has no half-close: once we send CLSE the stream is gone both ways (adbd drops a phone
    // socket's half-close the same way), so the read side ends too. CLSE follows the last WRTE
    // without waiting for its OKAY, as adbd does.
    void this.allSent().then(() => {
      this.closeLocal();
      if (!this.remoteClosed) {
        this.remoteClosed = true;
        this.closeController.abort('stream closed');
        this.push(null);
      }
      cb();
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.closeLocal();
    cb(err);
  }

  private closeLocal(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.sink.sendClose(this);
  }
}
