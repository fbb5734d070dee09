/**
 * A scripted stand-in for the adb server's client side (smart-socket requests: hex4 length +
 * service; replies OKAY / FAIL + hex4 message), for unit tests of timeouts, fallbacks and errors
 * that a real server cannot be made to produce on demand.
 */
import { createServer, type Server, type Socket } from 'node:net';

export class FakeConn {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => undefined);
  }

  private async need(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next request's service string, or undefined if the client closed. */
  async request(): Promise<string | undefined> {
    const len = await this.need(4);
    if (!len) return undefined;
    const body = await this.need(Number.parseInt(len.toString('ascii'), 16));
    return body?.toString('utf8');
  }

  /** Raw bytes the client sent after its requests (e.g. v2 stdin packets). */
  async bytes(n: number): Promise<Buffer | undefined> {
    return this.need(n);
  }

  okay(): void {
    this.socket.write('OKAY');
  }

  value(text: string): void {
    const b = Buffer.from(text);
    this.socket.write(
      Buffer.concat([Buffer.from('OKAY'), Buffer.from(b.length.toString(16).padStart(4, '0')), b]),
    );
  }

  fail(message: string): void {
    const b = Buffer.from(message);
    this.socket.write(
      Buffer.concat([Buffer.from('FAIL'), Buffer.from(b.length.toString(16).padStart(4, '0')), b]),
    );
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  end(): void {
    this.socket.end();
  }

  /** Resolves when the client has closed its socket. */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }
}

export interface FakeAdbServer {
  port: number;
  connections: FakeConn[];
  close(): Promise<void>;
}

export async function startFakeAdbServer(script: (conn: FakeConn) => Promise<void>): Promise<FakeAdbServer> {
  const connections: FakeConn[] = [];
  const server: Server = createServer((socket) => {
    const conn = new FakeConn(socket);
    connections.push(conn);
    script(conn).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    connections,
    close: async () => {
      for (const c of connections) c.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One v2 shell packet. */
export function v2(id: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = Buffer.from(data);
  const head = Buffer.alloc(5);
  head.writeUInt8(id, 0);
  head.writeUInt32LE(body.length, 1);
  return Buffer.concat([head, body]);
}
