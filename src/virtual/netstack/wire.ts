/**
 * HTTP/1.1 on a byte stream, as much as the phone's apps need: a request with `Connection: close`,
 * the response read by Content-Length, chunked encoding or end of stream, and the CONNECT handshake.
 *
 * The write side is never ended before the answer arrived: through `adb reverse` a half-close
 * closes the stream both ways (README, "The virtual lab").
 */
import type { Duplex } from 'node:stream';

export interface ResponseHead {
  status: number;
  reason: string;
  headers: Record<string, string>;
}

export class WireError extends Error {
  constructor(
    readonly kind: 'closed' | 'malformed',
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/** Reads from a stream chunk by chunk; what is left over can be handed back with `release`. */
export class StreamReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly onData = (c: Buffer): void => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
    this.notify();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };
  private readonly onError = (e: Error): void => {
    this.failure = e;
    this.notify();
  };
  private readonly onClose = (): void => {
    this.ended = true;
    this.notify();
  };

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
  }

  /** Bytes read so far and not consumed. */
  get buffered(): Buffer {
    return this.buf;
  }

  /** Waits for more input; false at end of stream. Rejects on a stream error. */
  async more(): Promise<boolean> {
    this.check();
    if (this.ended) return false;
    await new Promise<void>((resolve) => (this.wake = resolve));
    this.check();
    return !this.ended || this.buf.length > 0;
  }

  private check(): void {
    const e = this.failure;
    if (e) throw e;
  }

  consume(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Reads up to and including the blank line ending an HTTP head. */
  async readHead(): Promise<ResponseHead> {
    for (;;) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i >= 0) return parseHead(this.consume(i + 4).toString('latin1'));
      if (this.buf.length > 64 * 1024) throw new WireError('malformed', 'response head too large');
      if (!(await this.more())) throw new WireError('closed', 'connection closed before the response');
    }
  }

  /** Stops listening; unread bytes go back into the stream (for TLS over a CONNECT tunnel). */
  release(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('error', this.onError);
    this.stream.off('close', this.onClose);
    this.stream.pause();
    if (this.buf.length) this.stream.unshift(this.buf);
    this.buf = Buffer.alloc(0);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n').filter((l) => l !== '');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new WireError('malformed', `bad status line '${(lines[0] ?? '').slice(0, 80)}'`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) throw new WireError('malformed', `bad header line '${line.slice(0, 80)}'`);
    const k = line.slice(0, c).trim().toLowerCase();
    const v = line.slice(c + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers };
}

/** Reads a response body as its head says (`noBody` for HEAD, 1xx, 204, 304). */
export async function readBody(reader: StreamReader, head: ResponseHead, noBody: boolean): Promise<Buffer> {
  if (noBody || head.status === 204 || head.status === 304 || head.status < 200) return Buffer.alloc(0);
  const te = head.headers['transfer-encoding'];
  if (te && /chunked/i.test(te)) {
    const parts: Buffer[] = [];
    for (;;) {
      let i: number;
      while ((i = reader.buffered.indexOf('\r\n')) < 0) {
        if (!(await reader.more())) throw new WireError('closed', 'connection closed inside a chunk');
      }
      const size = Number.parseInt(reader.consume(i + 2).toString('latin1'), 16);
      if (!Number.isFinite(size) || size < 0) throw new WireError('malformed', 'bad chunk size');
      if (size === 0) {
        // Trailers, then the final blank line.
        for (;;) {
          while ((i = reader.buffered.indexOf('\r\n')) < 0) {
            if (!(await reader.more())) return Buffer.concat(parts);
          }
          if (reader.consume(i + 2).length === 2) return Buffer.concat(parts);
        }
      }
      while (reader.buffered.length < size + 2) {
        if (!(await reader.more())) throw new WireError('closed', 'connection closed inside a chunk');
      }
      parts.push(Buffer.from(reader.consume(size)));
      reader.consume(2);
    }
  }
  const cl = head.headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (!Number.isInteger(n) || n < 0) throw new WireError('malformed', `bad Content-Length '${cl}'`);
    while (reader.buffered.length < n) {
      if (!(await reader.more())) throw new WireError('closed', 'connection closed inside the body');
    }
    return Buffer.from(reader.consume(n));
  }
  while (await reader.more());
  return Buffer.from(reader.consume(reader.buffered.length));
}

/** Serialises a request head and body. `target` is the request-target (origin or absolute form). */
export function requestBytes(
  method: string,
  target: string,
  headers: Array<[string, string]>,
  body: Buffer | undefined,
): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return body && body.length
    ? Buffer.concat([Buffer.from(head, 'latin1'), body])
    : Buffer.from(head, 'latin1');
}

export function writeAll(stream: Duplex, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (e) => (e ? reject(e) : resolve()));
  });
}
