/**
 * The phone's own loopback network. Servers the phone runs (`nc -l`, later the UiAutomator2 server)
 * listen here; host OPENs of `tcp:N` / `localabstract:NAME` (adb forward) reach them, and `adb reverse`
 * rules listen here too, so that an app connecting to 127.0.0.1:P on the phone reaches the host.
 */
import { Duplex } from 'node:stream';

export type ConnectionHandler = (socket: Duplex) => void;

export class NetError extends Error {
  constructor(
    readonly code: 'ECONNREFUSED' | 'EADDRINUSE' | 'EINVAL',
    message: string,
  ) {
    super(message);
    this.name = 'NetError';
  }
}

/**
 * Two connected in-memory duplex streams: what is written to one is read from the other, with
 * backpressure (a write completes once the peer's reader has room).
 */
export function duplexPair(): [Duplex, Duplex] {
  const waiting = new Map<Duplex, () => void>();
  let b: Duplex | undefined = undefined;
  const make = (peer: () => Duplex | undefined): Duplex => {
    const self: Duplex = new Duplex({
      read() {
        // The peer's blocked write (if any) may go on now.
        const cb = waiting.get(self);
        waiting.delete(self);
        cb?.();
      },
      write(chunk: Buffer, _enc, cb) {
        const p = peer();
        if (!p || p.destroyed || p.readableEnded) return cb();
        if (p.push(chunk)) cb();
        else waiting.set(p, cb);
      },
      final(cb) {
        peer()?.push(null);
        cb();
      },
      destroy(err, cb) {
        // Like a socket closing: the peer reads what is already buffered, then sees end of input.
        const p = peer();
        if (p && !p.destroyed && !p.readableEnded) p.push(null);
        for (const end of [p, self]) {
          const blocked = end ? waiting.get(end) : undefined;
          if (end) waiting.delete(end);
          blocked?.();
        }
        cb(err);
      },
    });
    return self;
  };
  const a = make(() => b);
  b = make(() => a);
  return [a, b];
}

/** Parses `tcp:N` (N may be 0) or `localabstract:NAME`; anything else is EINVAL. */
export function parseSocketSpec(
  spec: string,
): { kind: 'tcp'; port: number } | { kind: 'localabstract'; name: string } {
  const tcp = /^tcp:(\d{1,5})$/.exec(spec);
  if (tcp) {
    const port = Number(tcp[1]);
    if (port <= 65535) return { kind: 'tcp', port };
  }
  const abs = /^localabstract:(.+)$/.exec(spec);
  if (abs?.[1]) return { kind: 'localabstract', name: abs[1] };
  throw new NetError('EINVAL', `unsupported socket spec '${spec}'`);
}

export class PhoneNet {
  private readonly listeners = new Map<string, ConnectionHandler>();
  private nextEphemeral = 32768 + Math.floor(Math.random() * 20000);

  /**
   * Starts listening on `spec`. `tcp:0` takes a free port. Returns the spec actually bound and a
   * function that stops listening.
   */
  listen(spec: string, onConnection: ConnectionHandler): { spec: string; close: () => void } {
    let parsed = parseSocketSpec(spec);
    if (parsed.kind === 'tcp' && parsed.port === 0) parsed = { kind: 'tcp', port: this.freePort() };
    const key = parsed.kind === 'tcp' ? `tcp:${parsed.port}` : `localabstract:${parsed.name}`;
    if (this.listeners.has(key)) throw new NetError('EADDRINUSE', `${key}: Address already in use`);
    this.listeners.set(key, onConnection);
    return {
      spec: key,
      close: () => {
        if (this.listeners.get(key) === onConnection) this.listeners.delete(key);
      },
    };
  }

  isListening(spec: string): boolean {
    return this.listeners.has(spec);
  }

  /** Connects to a listener on the phone. Rejects with ECONNREFUSED when nothing listens there. */
  connect(spec: string): Duplex {
    const parsed = parseSocketSpec(spec);
    const key = parsed.kind === 'tcp' ? `tcp:${parsed.port}` : `localabstract:${parsed.name}`;
    const handler = this.listeners.get(key);
    if (!handler) throw new NetError('ECONNREFUSED', `connect to ${key}: Connection refused`);
    const [client, server] = duplexPair();
    handler(server);
    return client;
  }

  onReboot(): void {
    this.listeners.clear();
  }

  private freePort(): number {
    for (let i = 0; i < 30000; i++) {
      const port = this.nextEphemeral;
      this.nextEphemeral = this.nextEphemeral >= 60999 ? 32768 : this.nextEphemeral + 1;
      if (!this.listeners.has(`tcp:${port}`)) return port;
    }
    throw new NetError('EADDRINUSE', 'no free port');
  }
}
