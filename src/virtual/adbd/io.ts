/** Adapters between ADB streams (Node Duplex) and the userland's InStream/OutStream. */
import type { Duplex, Readable } from 'node:stream';
import { BrokenPipeError, type InStream, type OutStream } from '../commands/types.ts';

export const EMPTY_INPUT: InStream = { read: async () => null };

export function inStreamOf(readable: Readable): InStream {
  const it = readable[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let done = false;
  return {
    async read() {
      if (done) return null;
      try {
        const r = await it.next();
        if (r.done) {
          done = true;
          return null;
        }
        return r.value;
      } catch {
        done = true;
        return null;
      }
    },
  };
}

/** Writes to a duplex with backpressure; rejects with BrokenPipeError once the peer has gone. */
export function outStreamOf(stream: Duplex, frame?: (data: Buffer) => Buffer): OutStream {
  return {
    write(chunk) {
      if (stream.destroyed || stream.writableEnded) return Promise.reject(new BrokenPipeError());
      const data =
        typeof chunk === 'string'
          ? Buffer.from(chunk)
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      if (data.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const ok = stream.write(frame ? frame(data) : data);
        if (ok) return resolve();
        const onDrain = () => {
          stream.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          stream.off('drain', onDrain);
          reject(new BrokenPipeError());
        };
        stream.once('drain', onDrain);
        stream.once('close', onClose);
      });
    },
  };
}

/**
 * Reads exact byte counts from a stream (sync and shell v2 are byte streams: one WRTE may hold
 * several messages and one message may span several WRTEs).
 */
export class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private waiter: (() => void) | undefined;

  /** Above this many unread bytes the reader stops pulling, so the ADB stream withholds its OKAY. */
  static readonly HIGH_WATER = 256 * 1024;

  constructor(private readonly readable: Readable) {
    readable.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.size += c.length;
      if (this.size > ByteReader.HIGH_WATER) readable.pause();
      this.wake();
    });
    readable.on('end', () => this.finish());
    readable.on('close', () => this.finish());
  }

  /** Resolves to exactly n bytes, or null if the stream ended first. */
  async readExact(n: number): Promise<Buffer | null> {
    while (this.size < n) {
      if (this.ended) return null;
      if (this.readable.isPaused()) this.readable.resume();
      await new Promise<void>((r) => (this.waiter = r));
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    if (this.size <= ByteReader.HIGH_WATER && this.readable.isPaused() && !this.ended) this.readable.resume();
    return out;
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
