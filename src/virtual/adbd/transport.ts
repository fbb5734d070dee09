/**
 * One ADB transport: a TCP connection from the adb server to the virtual phone. Handles the CNXN
 * handshake, the stream table, host OPENs (dispatched to services) and phone-initiated OPENs for
 * `adb reverse`. The reverse table lives here, so it dies with the connection, as adbd's does.
 */
import type { Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import {
  A_CLSE,
  A_CNXN,
  A_OKAY,
  A_OPEN,
  A_VERSION,
  A_WRTE,
  commandName,
  encodePacket,
  HOST_MAX_PAYLOAD,
  PacketReader,
  type Packet,
} from './packet.ts';
import { AdbStream, type StreamSink } from './stream.ts';

/** A service handler takes an accepted stream. Returning null refuses the OPEN (CLSE(0, id)). */
export type ServiceResolver = (
  service: string,
  transport: AdbTransport,
) => ((stream: AdbStream) => void) | null;

export interface TransportOptions {
  banner: string;
  maxPayload: number;
  resolve: ServiceResolver;
  /** Milliseconds added before each packet we send (fault: slow). */
  delayMs: () => number;
  /** When true we read nothing and answer nothing (fault: silent / offline). */
  muted: () => boolean;
  log?: (msg: string) => void;
}

export class AdbTransport extends EventEmitter implements StreamSink {
  private readonly reader = new PacketReader();
  private readonly streams = new Map<number, AdbStream>();
  private readonly pendingOpens = new Map<
    number,
    { resolve: (s: AdbStream) => void; reject: (e: Error) => void; stream: AdbStream }
  >();
  private nextId = 1;
  private connected = false;
  private closed = false;
  private hostMaxPayload = HOST_MAX_PAYLOAD;
  private sendChain: Promise<void> = Promise.resolve();
  private delayedPackets = 0;
  private corked = false;
  /** `adb reverse` listeners on this connection: bound phone-side spec → host-side spec + unlisten. */
  readonly reverses = new Map<string, { local: string; close: () => void }>();
  /**
   * The adb server's own allow-list for this connection, mirrored: remote spec *as the client sent
   * it* (so `tcp:0` stays `tcp:0`) → local spec, updated from every relayed reverse request exactly as
   * upstream `atransport::UpdateReverseConfig` does, whatever the phone answered. The server aborts
   * on an OPEN whose target is not a value here, so the phone checks this, not its own listeners.
   */
  readonly hostReverseRules = new Map<string, string>();
  private paused = false;
  private resumeWaiters: Array<() => void> = [];
  readonly name: string;

  constructor(
    readonly socket: Socket,
    private readonly opts: TransportOptions,
    index: number,
  ) {
    super();
    this.name = `host-${index}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => this.teardown());
    socket.on('error', () => this.teardown());
  }

  get isOnline(): boolean {
    return this.connected && !this.closed;
  }

  /** Payload size we may send: what we advertised, capped by what the host accepts. */
  get maxPayload(): number {
    return Math.min(this.opts.maxPayload, this.hostMaxPayload);
  }

  close(): void {
    this.socket.destroy();
    this.teardown();
  }

  /**
   * Opens a stream toward the host (a connection arriving on an `adb reverse` listener). Only targets
   * present in this connection's reverse table may be opened: adb 29 aborts the whole server on any
   * other target (shared/facts/adb-protocol.md §5).
   */
  openToHost(localSpec: string): Promise<AdbStream> {
    if (!this.reverseAllowed(localSpec)) {
      return Promise.reject(new Error(`refusing to open '${localSpec}': not an adb reverse target`));
    }
    if (!this.isOnline) return Promise.reject(new Error('transport is not online'));
    const id = this.allocId();
    const stream = new AdbStream(id, 0, localSpec, this, this.maxPayload);
    return new Promise((resolve, reject) => {
      this.pendingOpens.set(id, { resolve, reject, stream });
      // Re-checked when the packet is really written: under the slow or silent fault a
      // killforward relayed meanwhile may have removed the target on the server.
      void this.send(A_OPEN, id, 0, Buffer.from(`${localSpec}\0`), () => {
        if (this.reverseAllowed(localSpec)) return true;
        this.pendingOpens.delete(id);
        reject(new Error(`refusing to open '${localSpec}': the reverse was removed`));
        return false;
      });
    });
  }

  /** True when the adb server would accept an OPEN of `localSpec` on this connection. */
  reverseAllowed(localSpec: string): boolean {
    for (const local of this.hostReverseRules.values()) if (local === localSpec) return true;
    return false;
  }

  /** Fault "silent": stop reading (TCP buffers what the host sends) and hold what we would send. */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // First take in what the host sent during the silence (a killforward may have removed a target
    // we are holding an OPEN for): read() of a paused socket emits it to onData synchronously.
    while (!this.socket.destroyed && this.socket.read() !== null);
    this.socket.resume();
    // Release held packets a turn later, after bytes still in flight from the kernel were read.
    setImmediate(() => {
      const waiters = this.resumeWaiters;
      this.resumeWaiters = [];
      for (const w of waiters) w();
    });
  }

  // ---- StreamSink -------------------------------------------------------------------------------

  sendWrite(stream: AdbStream, data: Buffer): Promise<void> {
    return this.send(A_WRTE, stream.localId, stream.remoteId, data);
  }

  sendOkay(stream: AdbStream): void {
    void this.send(A_OKAY, stream.localId, stream.remoteId);
  }

  sendClose(stream: AdbStream): void {
    if (this.streams.get(stream.localId) === stream) this.streams.delete(stream.localId);
    if (stream.remoteId !== 0) void this.send(A_CLSE, stream.localId, stream.remoteId);
  }

  // ---- internals --------------------------------------------------------------------------------

  private allocId(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    return id;
  }

  private send(
    command: number,
    arg0: number,
    arg1: number,
    data?: Buffer,
    guard?: () => boolean,
  ): Promise<void> {
    const packet = encodePacket(command, arg0, arg1, data);
    const delay = this.opts.delayMs();
    if (delay === 0 && this.delayedPackets === 0 && !this.paused) {
      if (!guard || guard()) this.write(packet);
      return Promise.resolve();
    }
    // Faults "slow" and "silent": packets still leave in order, after the delay or the pause.
    this.delayedPackets++;
    this.sendChain = this.sendChain.then(async () => {
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      while (this.paused && !this.closed) await new Promise<void>((r) => this.resumeWaiters.push(r));
      this.delayedPackets--;
      if (!guard || guard()) this.write(packet);
    });
    return this.sendChain;
  }

  /** Packets sent in the same tick leave in one TCP write (fewer syscalls, as adbd's own batching). */
  private write(packet: Buffer): void {
    if (this.closed || this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(packet);
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.opts.muted()) return;
    let packets: Packet[];
    try {
      packets = this.reader.push(chunk);
    } catch (err) {
      this.opts.log?.(`dropping connection: ${(err as Error).message}`);
      this.close();
      return;
    }
    for (const p of packets) this.onPacket(p);
  }

  private onPacket(p: Packet): void {
    switch (p.command) {
      case A_CNXN:
        this.hostMaxPayload = Math.min(p.arg1 || HOST_MAX_PAYLOAD, HOST_MAX_PAYLOAD);
        // A second CNXN on a live connection means the host restarted its side: start afresh.
        if (this.connected) this.resetStreams();
        this.connected = true;
        void this.send(A_CNXN, A_VERSION, this.opts.maxPayload, Buffer.from(this.opts.banner));
        this.emit('online');
        return;
      case A_OPEN:
        if (this.connected) this.onOpen(p);
        return;
      case A_OKAY:
        this.onOkay(p);
        return;
      case A_WRTE: {
        const s = this.streams.get(p.arg1);
        if (s && s.remoteId === p.arg0) s.deliver(p.data);
        return;
      }
      case A_CLSE:
        this.onClse(p);
        return;
      default:
        this.opts.log?.(`ignoring ${commandName(p.command)}`);
    }
  }

  private onOpen(p: Packet): void {
    const hostId = p.arg0;
    const service = p.data.toString('utf8').replace(/\0+$/, '');
    let handler: ((stream: AdbStream) => void) | null = null;
    try {
      handler = this.opts.resolve(service, this);
    } catch (err) {
      this.opts.log?.(`service '${service}' failed: ${(err as Error).message}`);
    }
    if (!handler) {
      void this.send(A_CLSE, 0, hostId);
      return;
    }
    const id = this.allocId();
    const stream = new AdbStream(id, hostId, service, this, this.maxPayload);
    this.streams.set(id, stream);
    // Our OKAY must precede any WRTE on the stream.
    void this.send(A_OKAY, id, hostId);
    try {
      handler(stream);
    } catch (err) {
      this.opts.log?.(`service '${service}' crashed: ${(err as Error).stack ?? String(err)}`);
      stream.destroy();
    }
  }

  private onOkay(p: Packet): void {
    const pending = this.pendingOpens.get(p.arg1);
    if (pending) {
      // First OKAY for a phone-initiated OPEN: it carries the host's id for the stream.
      this.pendingOpens.delete(p.arg1);
      pending.stream.remoteId = p.arg0;
      this.streams.set(p.arg1, pending.stream);
      pending.resolve(pending.stream);
      return;
    }
    const s = this.streams.get(p.arg1);
    if (s && s.remoteId === p.arg0) s.acked();
  }

  private onClse(p: Packet): void {
    const pending = this.pendingOpens.get(p.arg1);
    if (pending) {
      // CLSE before any OKAY: the host could not connect (refused).
      this.pendingOpens.delete(p.arg1);
      pending.reject(new Error(`host refused connection to '${pending.stream.service}'`));
      return;
    }
    const s = this.streams.get(p.arg1);
    if (!s) return; // packets after close are normal
    if (p.arg0 !== 0 && s.remoteId !== p.arg0) return;
    this.streams.delete(p.arg1);
    s.hostClosed();
  }

  private resetStreams(): void {
    for (const p of this.pendingOpens.values()) p.reject(new Error('the host reconnected'));
    this.pendingOpens.clear();
    for (const s of this.streams.values()) s.hostClosed();
    this.streams.clear();
    for (const r of this.reverses.values()) r.close();
    this.reverses.clear();
    this.hostReverseRules.clear();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pendingOpens.values()) p.reject(new Error('transport closed'));
    this.pendingOpens.clear();
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s.hostClosed();
    for (const r of this.reverses.values()) r.close();
    this.reverses.clear();
    this.hostReverseRules.clear();
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w();
    this.emit('close');
  }
}
