/**
 * In-memory streams for the shell: pipes with backpressure, fixed inputs, collectors, and a line
 * reader. All implement the userland InStream / OutStream contracts.
 */
import { BrokenPipeError, type InStream, type OutStream } from '../commands/types.ts';

export function toBuffer(chunk: string | Uint8Array): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Gives other tasks (timers, sockets, abort events) a turn. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A bounded pipe: `write` waits while more than `capacity` bytes are buffered, and rejects with
 * BrokenPipeError once the reading side has been closed. `read` resolves to null after the writing
 * side closed and the buffer drained.
 */
export class Pipe implements InStream, OutStream {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private writerClosed = false;
  private readerClosed = false;
  private readWaiter: (() => void) | undefined;
  private writeWaiters: Array<() => void> = [];

  constructor(private readonly capacity = 64 * 1024) {}

  async write(chunk: string | Uint8Array): Promise<void> {
    if (this.readerClosed) throw new BrokenPipeError();
    const buf = toBuffer(chunk);
    if (buf.length === 0) return;
    if (this.writerClosed) throw new BrokenPipeError();
    // Copy: the caller may reuse its buffer once write resolves.
    this.chunks.push(Buffer.from(buf));
    this.buffered += buf.length;
    this.wakeReader();
    while (this.buffered > this.capacity && !this.readerClosed) {
      await new Promise<void>((resolve) => this.writeWaiters.push(resolve));
    }
    if (this.readerClosed) throw new BrokenPipeError();
  }

  async read(): Promise<Buffer | null> {
    while (this.chunks.length === 0) {
      if (this.writerClosed || this.readerClosed) return null;
      await new Promise<void>((resolve) => (this.readWaiter = resolve));
    }
    const c = this.chunks.shift()!;
    this.buffered -= c.length;
    this.wakeWriters();
    return c;
  }

  /** The writing side is done: the reader sees end of input once drained. */
  closeWrite(): void {
    this.writerClosed = true;
    this.wakeReader();
  }

  /** The reading side is gone: pending and future writes fail with BrokenPipeError. */
  closeRead(): void {
    this.readerClosed = true;
    this.chunks = [];
    this.buffered = 0;
    this.wakeWriters();
    this.wakeReader();
  }

  private wakeReader(): void {
    const w = this.readWaiter;
    this.readWaiter = undefined;
    w?.();
  }

  private wakeWriters(): void {
    if (this.buffered > this.capacity && !this.readerClosed) return;
    const ws = this.writeWaiters;
    this.writeWaiters = [];
    for (const w of ws) w();
  }
}

/** Input from a fixed buffer, handed out in chunks of at most 64 KiB. */
export class BufferInStream implements InStream {
  private offset = 0;
  private readonly data: Buffer;

  constructor(data: string | Buffer) {
    this.data = typeof data === 'string' ? Buffer.from(data) : data;
  }

  async read(): Promise<Buffer | null> {
    if (this.offset >= this.data.length) return null;
    const end = Math.min(this.data.length, this.offset + 64 * 1024);
    const c = this.data.subarray(this.offset, end);
    this.offset = end;
    return c;
  }
}

export const EMPTY_IN: InStream = { read: async () => null };

/** Discards everything (yields to the event loop now and then so tight loops stay abortable). */
export class NullOutStream implements OutStream {
  private count = 0;
  async write(_chunk: string | Uint8Array): Promise<void> {
    if (++this.count % 256 === 0) await yieldToEventLoop();
  }
}

/** Collects everything written. */
export class CollectOutStream implements OutStream {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = Infinity) {}

  async write(chunk: string | Uint8Array): Promise<void> {
    const b = toBuffer(chunk);
    if (this.size + b.length > this.limit) throw new BrokenPipeError();
    this.chunks.push(Buffer.from(b));
    this.size += b.length;
  }

  buffer(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  text(): string {
    return this.buffer().toString('utf8');
  }
}

/**
 * An input with push-back, so the `read` builtin (and line readers) can take exactly one line
 * and leave the rest for the next reader of the same stream.
 */
export class PushbackInStream implements InStream {
  private pending: Buffer[] = [];

  constructor(readonly inner: InStream) {}

  unread(chunk: Buffer): void {
    if (chunk.length) this.pending.unshift(chunk);
  }

  async read(): Promise<Buffer | null> {
    const p = this.pending.shift();
    if (p) return p;
    return this.inner.read();
  }
}

/** Reads a stream line by line; lines are returned without the trailing newline. */
export class LineReader {
  private buf: Buffer = Buffer.alloc(0);
  /** Earlier chunks of the current (unterminated) line. */
  private parts: Buffer[] = [];
  private eof = false;

  constructor(private readonly input: InStream) {}

  /** The next line (without '\n'), or null at end of input. `sawNewline` tells whether it was terminated. */
  async readLine(): Promise<{ line: Buffer; sawNewline: boolean } | null> {
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0) {
        const head = this.buf.subarray(0, nl);
        this.buf = this.buf.subarray(nl + 1);
        const line = this.parts.length ? Buffer.concat([...this.parts, head]) : head;
        this.parts = [];
        return { line, sawNewline: true };
      }
      if (this.eof) {
        const line = this.rest();
        this.parts = [];
        this.buf = Buffer.alloc(0);
        return line.length ? { line, sawNewline: false } : null;
      }
      if (this.buf.length) this.parts.push(this.buf);
      this.buf = Buffer.alloc(0);
      const c = await this.input.read();
      if (c === null) this.eof = true;
      else this.buf = c;
    }
  }

  /** Whatever was read but not yet consumed. */
  rest(): Buffer {
    return this.parts.length ? Buffer.concat([...this.parts, this.buf]) : this.buf;
  }
}

/** Reads a whole stream. */
export async function readAll(input: InStream, limit = Infinity): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const c = await input.read();
    if (c === null) break;
    chunks.push(c);
    size += c.length;
    if (size > limit) break;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** Writes a buffer in chunks of at most 64 KiB (so pipes apply backpressure). */
export async function writeChunked(out: OutStream, data: Buffer): Promise<void> {
  const step = 64 * 1024;
  if (data.length <= step) {
    if (data.length) await out.write(data);
    return;
  }
  for (let off = 0; off < data.length; off += step) {
    await out.write(data.subarray(off, Math.min(data.length, off + step)));
  }
}
