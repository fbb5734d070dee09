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
    this.closeController.abort();
    const w = this.ackWaiter;
    this.ackWaiter = undefined;
    w?.reject(new StreamClosedError());
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

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunks(chunk).then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  private async writeChunks(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length; off += this.maxPayload) {
      if (this.remoteClosed) throw new StreamClosedError();
      const piece = chunk.subarray(off, Math.min(chunk.length, off + this.maxPayload));
      const acked = new Promise<void>((resolve, reject) => {
        this.ackWaiter = { resolve, reject };
      });
      await this.sink.sendWrite(this, piece);
      await acked;
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    // ADB has no half-close: once we send CLSE the stream is gone both ways (adbd drops a phone
    // socket's half-close the same way), so the read side ends too.
    this.closeLocal();
    if (!this.remoteClosed) {
      this.remoteClosed = true;
      this.closeController.abort();
      this.push(null);
    }
    cb();
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
