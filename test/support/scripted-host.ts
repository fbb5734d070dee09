/**
 * A scripted adb SERVER (the host side of the ADB wire protocol) over a raw TCP socket, for
 * conformance tests of the virtual phone's adbd. Unlike the real adb 29 server it tolerates
 * nothing silently: every packet the phone sends is checked against the rules of
 * shared/facts/adb-protocol.md §1–3 as it arrives, and each breach is recorded in `violations`
 * (tests assert that list is empty). Streams can OKAY the phone's WRTEs automatically or leave that
 * to the test, so flow control can be observed.
 */
import { connect, type Socket } from 'node:net';
import {
  A_AUTH,
  A_CLSE,
  A_CNXN,
  A_OKAY,
  A_OPEN,
  A_VERSION,
  A_WRTE,
  commandName,
  encodePacket,
  HEADER_SIZE,
  PacketReader,
  type Packet,
} from '../../src/virtual/adbd/packet.ts';

export const HOST_FEATURES =
  'remount_shell,abb_exec,abb,apex,fixed_push_mkdir,ls_v2,stat_v2,fixed_push_symlink_timestamp,cmd,shell_v2';

/** A received packet with what the test may want to know besides its fields. */
export interface Received extends Packet {
  /** Position in the connection's packet sequence (0 = first packet received). */
  seq: number;
  /** data_check and magic as they were on the wire. */
  check: number;
  magic: number;
  /** Milliseconds since the host connected. */
  at: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function describePacket(p: Packet): string {
  const data = p.data.length > 40 ? `${p.data.length} bytes` : JSON.stringify(p.data.toString('latin1'));
  return `${commandName(p.command)}(${p.arg0}, ${p.arg1}, ${data})`;
}

/** One stream as the host sees it (host-opened or phone-opened). */
export class HostStream {
  /** The phone's id for this stream (arg0 of its OKAY, or of its OPEN). */
  devId = 0;
  /** Payloads of the phone's WRTEs, in order. */
  readonly writes: Buffer[] = [];
  /** How many OKAYs the phone sent for our WRTEs. */
  okaysReceived = 0;
  /** How many of our WRTEs are still waiting for the phone's OKAY. */
  unacked = 0;
  /** The phone sent CLSE. */
  closedByPhone = false;
  /** The phone's WRTEs and CLSE on this stream, in order. */
  readonly events: Array<'WRTE' | 'CLSE'> = [];
  /** The phone has a WRTE we have not OKAYed yet. */
  phoneWriteOutstanding = false;
  constructor(
    readonly host: ScriptedHost,
    readonly hostId: number,
    /** OKAY each of the phone's WRTEs as soon as it arrives. */
    public autoOkay = true,
  ) {}

  /** Everything the phone wrote so far. */
  get data(): Buffer {
    return Buffer.concat(this.writes);
  }

  /** Sends one WRTE (must fit the phone's maxdata; the host never exceeds it either). */
  write(data: Buffer | string): void {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (payload.length > this.host.sendLimit) {
      throw new Error(`test bug: WRTE of ${payload.length} bytes exceeds maxdata ${this.host.sendLimit}`);
    }
    this.unacked++;
    this.host.send(A_WRTE, this.hostId, this.devId, payload);
  }

  /**
   * Sends data as the real server does: WRTEs of at most maxdata, each only after the previous one
   * was OKAYed (one in flight).
   */
  async writeAll(data: Buffer | string, chunk = this.host.sendLimit, timeoutMs = 2000): Promise<void> {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < payload.length; off += chunk) {
      this.write(payload.subarray(off, off + chunk));
      await this.waitUntil(() => this.unacked === 0, timeoutMs, `OKAY for WRTE at offset ${off}`);
    }
  }

  /** OKAYs the phone's outstanding WRTE (when autoOkay is off). */
  okay(): void {
    if (!this.phoneWriteOutstanding) throw new Error('test bug: no WRTE to OKAY');
    this.phoneWriteOutstanding = false;
    this.host.send(A_OKAY, this.hostId, this.devId);
  }

  /** Sends our CLSE. */
  close(): void {
    this.host.send(A_CLSE, this.hostId, this.devId);
  }

  /** Resolves once `cond` holds; rejects after timeoutMs or when the connection closes. */
  waitUntil(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
    return this.host.until(cond, timeoutMs, `${what} on stream ${this.hostId}`);
  }

  /** Waits for the phone's CLSE and returns everything it wrote. */
  async readAll(timeoutMs = 2000): Promise<Buffer> {
    await this.waitUntil(() => this.closedByPhone, timeoutMs, 'CLSE');
    return this.data;
  }

  /** @internal */
  onPacket(p: Received): void {
    switch (p.command) {
      case A_WRTE:
        this.writes.push(p.data);
        this.events.push('WRTE');
        this.phoneWriteOutstanding = true;
        if (this.autoOkay) this.okay();
        break;
      case A_OKAY:
        this.okaysReceived++;
        if (this.unacked > 0) this.unacked--;
        break;
      case A_CLSE:
        this.closedByPhone = true;
        this.events.push('CLSE');
        break;
    }
  }
}

export interface HostOptions {
  /** maxdata in our CNXN (default 1 MiB, as adb 29). */
  maxdata?: number;
  /** CNXN banner (default: adb 29's). */
  banner?: string;
}

export class ScriptedHost {
  readonly received: Received[] = [];
  /** Breaches of the protocol rules, as they were seen. */
  readonly violations: string[] = [];
  /** Phone-initiated OPENs not yet answered. */
  readonly incomingOpens: Received[] = [];
  /** The phone's CNXN, once it arrived. */
  cnxn: Received | undefined;
  closed = false;
  readonly maxdata: number;
  private readonly banner: string;
  private readonly reader = new PacketReader();
  private raw: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, HostStream>();
  private nextHostId = 1;
  private readonly listeners = new Set<() => void>();
  private readonly started = Date.now();

  private constructor(
    readonly socket: Socket,
    opts: HostOptions,
  ) {
    this.maxdata = opts.maxdata ?? 1024 * 1024;
    this.banner = opts.banner ?? `host::features=${HOST_FEATURES}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', () => undefined);
  }

  /** Opens the TCP connection (no packet sent yet). */
  static connect(port: number, opts: HostOptions = {}): Promise<ScriptedHost> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new ScriptedHost(socket, opts));
      });
    });
  }

  /** Connects and completes the CNXN handshake. */
  static async online(port: number, opts: HostOptions = {}): Promise<ScriptedHost> {
    const host = await ScriptedHost.connect(port, opts);
    await host.handshake();
    return host;
  }

  /** Largest WRTE we may send: the phone's maxdata (what the real server uses). */
  get sendLimit(): number {
    return this.cnxn ? this.cnxn.arg1 : 4096;
  }

  /** Largest payload the phone may send: min(its advertised maxdata, ours). */
  get receiveLimit(): number {
    return Math.min(this.cnxn ? this.cnxn.arg1 : 1024 * 1024, this.maxdata);
  }

  /** Sends our CNXN and waits for the phone's (a second CNXN restarts the connection's state). */
  async handshake(timeoutMs = 1000): Promise<Received> {
    const from = this.received.length;
    this.send(A_CNXN, A_VERSION, this.maxdata, Buffer.from(this.banner));
    const cnxn = await this.waitFor((p) => p.command === A_CNXN, timeoutMs, 'CNXN', from);
    if (this.cnxn !== cnxn) {
      // A new session: the old streams are gone on both sides.
      this.cnxn = cnxn;
      this.streams.clear();
      this.incomingOpens.length = 0;
    }
    return cnxn;
  }

  send(command: number, arg0: number, arg1: number, data?: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(encodePacket(command, arg0, arg1, data));
  }

  /** Sends OPEN; resolves to the stream once the phone OKAYs it, or to null if it refuses (CLSE(0, id)). */
  async open(
    service: string,
    opts: { autoOkay?: boolean; timeoutMs?: number } = {},
  ): Promise<HostStream | null> {
    const stream = this.openNoWait(service, opts);
    const reply = await this.waitFor(
      (p) => (p.command === A_OKAY || p.command === A_CLSE) && p.arg1 === stream.hostId,
      opts.timeoutMs ?? 2000,
      `reply to OPEN '${service}'`,
    );
    if (reply.command === A_CLSE) {
      this.streams.delete(stream.hostId);
      if (reply.arg0 !== 0)
        this.violations.push(`refusal of '${service}' is CLSE(${reply.arg0}, …), not CLSE(0, …)`);
      return null;
    }
    return stream;
  }

  /** Sends OPEN without waiting for the reply (the stream learns the phone's id from its OKAY). */
  openNoWait(service: string, opts: { autoOkay?: boolean } = {}): HostStream {
    const hostId = this.nextHostId++;
    const stream = new HostStream(this, hostId, opts.autoOkay ?? true);
    this.streams.set(hostId, stream);
    this.send(A_OPEN, hostId, 0, Buffer.from(`${service}\0`));
    return stream;
  }

  /** Accepts a phone-initiated OPEN: OKAY(hostId, devId). */
  accept(open: Received, opts: { autoOkay?: boolean; hostId?: number } = {}): HostStream {
    this.forgetIncoming(open);
    const hostId = opts.hostId ?? 1000 + this.nextHostId++;
    const stream = new HostStream(this, hostId, opts.autoOkay ?? true);
    stream.devId = open.arg0;
    this.streams.set(hostId, stream);
    this.send(A_OKAY, hostId, open.arg0);
    return stream;
  }

  /** Refuses a phone-initiated OPEN as the server does when it cannot connect: CLSE(0, devId). */
  refuse(open: Received): void {
    this.forgetIncoming(open);
    this.send(A_CLSE, 0, open.arg0);
  }

  /** Resolves with the first packet (received from now or earlier, at index ≥ from) matching `pred`. */
  async waitFor(
    pred: (p: Received) => boolean,
    timeoutMs = 2000,
    what = 'packet',
    from = 0,
  ): Promise<Received> {
    let hit: Received | undefined;
    await this.until(() => (hit = this.received.slice(from).find(pred)) !== undefined, timeoutMs, what);
    return hit!;
  }

  /** Resolves once `cond` holds (re-checked after every packet); rejects on timeout or close. */
  until(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () =>
          done(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${what}; last packets: ${this.received
                .slice(-6)
                .map(describePacket)
                .join(' ')}`,
            ),
          ),
        timeoutMs,
      );
      const check = () => {
        if (cond()) done();
        else if (this.closed) done(new Error(`connection closed while waiting for ${what}`));
      };
      this.listeners.add(check);
    });
  }

  /**
   * Bounded wait for something that must NOT happen: resolves to the offending packets (empty when
   * none matching `pred` arrived within `ms`). Packets received before the call count too unless
   * `from` says otherwise.
   */
  async collectFor(
    pred: (p: Received) => boolean,
    ms = 300,
    from = this.received.length,
  ): Promise<Received[]> {
    await sleep(ms);
    return this.received.slice(from).filter(pred);
  }

  /** Waits for the phone to OPEN something, e.g. `tcp:2222`. */
  waitForOpen(service: string, timeoutMs = 2000): Promise<Received> {
    return this.waitFor(
      (p) => p.command === A_OPEN && p.data.toString('latin1') === `${service}\0`,
      timeoutMs,
      `OPEN '${service}'`,
    );
  }

  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }

  private forgetIncoming(open: Received): void {
    const i = this.incomingOpens.indexOf(open);
    if (i >= 0) this.incomingOpens.splice(i, 1);
  }

  private notify(): void {
    for (const f of [...this.listeners]) f();
  }

  private onData(chunk: Buffer): void {
    this.raw = this.raw.length ? Buffer.concat([this.raw, chunk]) : chunk;
    let packets: Packet[];
    try {
      packets = this.reader.push(chunk);
    } catch (err) {
      this.violations.push(`unparseable packet: ${(err as Error).message}`);
      this.socket.destroy();
      return;
    }
    for (const p of packets) {
      const head = this.raw.subarray(0, HEADER_SIZE);
      const r: Received = {
        ...p,
        seq: this.received.length,
        check: head.readUInt32LE(16),
        magic: head.readUInt32LE(20),
        at: Date.now() - this.started,
      };
      this.raw = this.raw.subarray(HEADER_SIZE + p.data.length);
      this.received.push(r);
      this.check(r);
      this.route(r);
    }
    if (packets.length) this.notify();
  }

  /** Rules that hold for every packet, whatever the test does. */
  private check(p: Received): void {
    const what = describePacket(p);
    if (p.magic !== (p.command ^ 0xffffffff) >>> 0) this.violations.push(`bad magic on ${what}`);
    if (p.command === A_AUTH) this.violations.push(`phone sent AUTH: ${what}`);
    if (p.command === A_CNXN) return;
    if (!this.cnxn && p.command !== A_CNXN) this.violations.push(`${what} before CNXN`);
    if (p.data.length > this.receiveLimit) {
      this.violations.push(`${what}: payload of ${p.data.length} bytes exceeds maxdata ${this.receiveLimit}`);
    }
  }

  private route(p: Received): void {
    if (p.command === A_CNXN) {
      this.cnxn ??= p;
      return;
    }
    if (p.command === A_AUTH) return;
    if (p.command === A_OPEN) {
      this.incomingOpens.push(p);
      return;
    }
    const stream = this.streams.get(p.arg1);
    if (!stream) {
      if (p.command === A_WRTE)
        this.violations.push(`${describePacket(p)} for unknown host stream ${p.arg1}`);
      return;
    }
    if (p.command === A_OKAY && stream.devId === 0) {
      // The phone's OKAY to our OPEN: it tells us its id.
      stream.devId = p.arg0;
      return;
    }
    if (p.command === A_WRTE) {
      if (stream.devId === 0) {
        this.violations.push(`WRTE on stream ${stream.hostId} before the phone's OKAY to the OPEN`);
        stream.devId = p.arg0;
      }
      if (stream.phoneWriteOutstanding) {
        this.violations.push(
          `second WRTE in flight on stream ${stream.hostId} (${p.data.length} bytes) before the host OKAYed the previous one`,
        );
      }
      if (stream.closedByPhone)
        this.violations.push(`WRTE on stream ${stream.hostId} after the phone's CLSE`);
    }
    if (p.arg0 !== stream.devId && !(p.command === A_CLSE && p.arg0 === 0)) {
      this.violations.push(`${describePacket(p)}: local id ${p.arg0}, expected ${stream.devId}`);
    }
    stream.onPacket(p);
  }
}

/** Shell v2 frames: `[u8 id][u32 LE len][data]`. */
export function v2Frame(id: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const head = Buffer.alloc(5);
  head.writeUInt8(id, 0);
  head.writeUInt32LE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Parses a whole shell v2 byte stream; throws on a truncated frame. */
export function parseV2(bytes: Buffer): Array<{ id: number; data: Buffer }> {
  const out: Array<{ id: number; data: Buffer }> = [];
  let off = 0;
  while (off < bytes.length) {
    if (off + 5 > bytes.length) throw new Error(`truncated shell v2 header at ${off}`);
    const id = bytes.readUInt8(off);
    const len = bytes.readUInt32LE(off + 1);
    if (off + 5 + len > bytes.length) throw new Error(`truncated shell v2 frame at ${off}`);
    out.push({ id, data: bytes.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return out;
}

/** A sync request: `ID(4) + u32 LE + payload` (DONE/QUIT put a number in the length field). */
export function syncMsg(id: string, arg: Buffer | string | number): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'ascii');
  if (typeof arg === 'number') {
    head.writeUInt32LE(arg, 4);
    return head;
  }
  const payload = typeof arg === 'string' ? Buffer.from(arg) : arg;
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
}
