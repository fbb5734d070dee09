/**
 * TCP connections of the phone's apps as the kernel makes them, with everything the harness may
 * measure through Android's own tools: netfilter (iptables counters, REJECT, nat REDIRECT), the
 * per-UID eBPF counters and /proc/net/dev (os/traffic.ts).
 *
 * A connection to host:port:
 * 1. Name → address: a loopback name or an IP literal as is; any other name through the phone's
 *    resolver, one UDP query to the Wi-Fi network's DNS server 192.168.1.1:53 and its answer (both
 *    counted; the query walks netfilter like any packet, owned by the app on Android 11+ and by
 *    AID_DNS 1051 on Android 10, DnsResolver's fchown rule, facts §4; tagged TAG_SYSTEM_DNS for the
 *    app in the eBPF maps, facts §3.2). The lab answers from itself: a synthetic address in
 *    198.18.0.0/15 (RFC 2544 benchmarking range) derived from the name. A REJECTed or DROPped
 *    query fails the connection ("Unable to resolve host").
 * 2. Route: 127/8 and ::1 leave on `lo`; anything else on `wlan0` (192.168.1.100, 2001:db8:1::100).
 * 3. The SYN walks raw, mangle, nat (first packet only) and filter OUTPUT, then mangle and nat
 *    POSTROUTING, in kernel order. nat REDIRECT rewrites the destination to 127.0.0.1 (::1) and the
 *    port, so the connection goes to the phone's loopback listener on that port: through
 *    `adb reverse` to the host, in origin form (the app still thinks it talks to host:port).
 *    filter REJECT fails the connection at once (ECONNREFUSED / ENETUNREACH / EHOSTUNREACH by
 *    --reject-with; the app sees 'refused'); DROP leaves it hanging until the request times out.
 *    Rejected and dropped packets count in iptables only: the eBPF egress hook runs after
 *    netfilter (netd.c: "If an outbound packet is going to be dropped, we do not count that
 *    traffic").
 * 4. `lo` connects to PhoneNet (nothing listening: RST); `wlan0` goes to the sink, which refuses
 *    by default (the SYN went out and a RST came back: both counted, as a real kernel would).
 *
 * Byte model (documented here, used by every counter): TCP over IPv4 carries 52 bytes of headers
 * per packet (20 IP + 20 TCP + 12 timestamp option), IPv6 72; a SYN or SYN-ACK 60 (80), with the
 * MSS/SACK/window-scale options; a RST 40 (60). Data is cut into skbs of at most 64 KiB
 * (65483 payload bytes: TSO/GSO and loopback's MTU), which is what netfilter counts; on the Wi-Fi
 * wire into frames of at most 1500 bytes (1448 payload); the eBPF counters apply their own GSO
 * correction to 1500-byte packets (traffic.ts). The receiver ACKs every second wire segment
 * (delayed ACK), at least once per burst. Closing is FIN + ACK from the app, FIN from the peer.
 * The peer of a loopback connection is adbd (uid 2000, shell): its packets are counted too.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { Duplex } from 'node:stream';
import type { VirtualPhone } from '../phone.ts';
import { NetError } from '../os/local-net.ts';
import { PhoneHttpError } from '../apps/events.ts';
import { netState, type NetState } from '../os/kernel-net.ts';
import {
  addCounters,
  parseIp,
  walk,
  type Family,
  type Hook,
  type Packet,
  type TableName,
  type Verdict,
} from '../os/netfilter.ts';
import { tcpOverhead, type Direction } from '../os/traffic.ts';
import { sdkOf } from '../commands/util.ts';

export const WLAN_V4 = '192.168.1.100';
export const WLAN_V6 = '2001:db8:1::100';
export const DNS_SERVER = '192.168.1.1';
export const AID_DNS = 1051;
export const ADBD_UID = 2000;
export const TAG_SYSTEM_DNS = 0xffffff82;

/** Largest TCP payload in one skb (64 KiB GSO / loopback MTU 65536 − headers). */
const SKB_PAYLOAD = 65483;

/** A connection the phone could not make on its own loopback. */
export interface SinkTarget {
  host: string;
  port: number;
  /** The package connecting. */
  app: string;
  /** `direct`: the app connects straight out; `proxy`: the configured proxy is not on the phone's loopback. */
  via: 'direct' | 'proxy';
}

/** Decides what such a connection reaches: a stream, or undefined to refuse it (the default). */
export type ConnectionSink = (target: SinkTarget) => Duplex | undefined;

export interface ConnectRequest {
  app: string;
  uid: number;
  host: string;
  port: number;
  via: 'direct' | 'proxy';
  sink: ConnectionSink;
}

export interface Connection {
  stream: Duplex;
  iface: 'lo' | 'wlan0';
  /** The phone-loopback port a nat REDIRECT sent the connection to. */
  redirectedTo?: number;
  /** The address connected to (after DNS), before any redirect. */
  address: string;
}

export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === 'ip6-localhost') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/** The lab resolver's answer for a name: 198.18.0.0/15, stable per name. */
export function labAddress(name: string): string {
  const d = createHash('sha1').update(name.toLowerCase()).digest();
  return `198.${18 + ((d[0] as number) & 1)}.${d[1] as number}.${Math.max(1, d[2] as number)}`;
}

const dnsQueryLen = (name: string): number => 20 + 8 + 12 + name.length + 2 + 4;

/** The ephemeral port range Linux uses (ip_local_port_range 32768–60999). */
let nextPort = 32768 + Math.floor(Math.random() * 20000);
function ephemeral(): number {
  nextPort = nextPort >= 60999 ? 32768 : nextPort + 1;
  return nextPort;
}

/** One end of a flow: the app, adbd on loopback, the kernel itself (RST), or a remote host. */
interface End {
  local: boolean;
  /** The owning socket's uid; undefined for the kernel or a remote host. */
  uid?: number;
}

interface Flow {
  family: Family;
  proto: number;
  local: bigint;
  remote: bigint;
  lport: number;
  rport: number;
  iface: 'lo' | 'wlan0';
  uid: number;
  /** The eBPF tag (0: untagged). */
  tag: number;
  peer: End;
}

interface Wire {
  packets: number;
  bytes: number;
}

/** The kernel's hooks for the phone's packets, with counting. */
class Kernel {
  constructor(private readonly phone: VirtualPhone) {}

  private get state(): NetState {
    return netState(this.phone);
  }

  /** Walks one hook of one table and adds `packets`/`bytes` to what it touched. */
  private hook(
    family: Family,
    table: TableName,
    hook: Hook,
    pkt: Packet,
    packets: number,
    bytes: number,
  ): Verdict {
    const t = this.state.netfilter.set(family).tables.get(table);
    if (!t) return { kind: 'ACCEPT' };
    const w = walk(t, hook, pkt);
    addCounters(w.counters, packets, bytes);
    return w.verdict;
  }

  /**
   * Locally generated packets (`packets` alike ones of `bytes` in total): raw, mangle, nat (new
   * connections only) and filter OUTPUT, then mangle and nat POSTROUTING. Returns the verdict
   * and the packet as a REDIRECT rewrote it.
   */
  output(pkt: Packet, packets: number, bytes: number, isNew: boolean): { verdict: Verdict; pkt: Packet } {
    let p = pkt;
    for (const table of ['raw', 'mangle'] as TableName[]) {
      const v = this.hook(p.family, table, 'OUTPUT', p, packets, bytes);
      if (v.kind === 'DROP') return { verdict: v, pkt: p };
    }
    if (isNew) {
      const v = this.hook(p.family, 'nat', 'OUTPUT', p, packets, bytes);
      if (v.kind === 'REDIRECT') {
        const lo = p.family === 4 ? (parseIp('127.0.0.1', 4) as bigint) : 1n;
        p = { ...p, dst: lo, dport: v.port ?? p.dport, oif: 'lo' };
      } else if (v.kind === 'DROP') return { verdict: v, pkt: p };
    }
    const f = this.hook(p.family, 'filter', 'OUTPUT', p, packets, bytes);
    if (f.kind !== 'ACCEPT') return { verdict: f, pkt: p };
    this.hook(p.family, 'mangle', 'POSTROUTING', p, packets, bytes);
    if (isNew) this.hook(p.family, 'nat', 'POSTROUTING', p, packets, bytes);
    return { verdict: { kind: 'ACCEPT' }, pkt: p };
  }

  /** Arriving packets: raw and mangle PREROUTING, nat PREROUTING (new), mangle and filter INPUT. */
  input(pkt: Packet, packets: number, bytes: number, isNew: boolean): void {
    this.hook(pkt.family, 'raw', 'PREROUTING', pkt, packets, bytes);
    this.hook(pkt.family, 'mangle', 'PREROUTING', pkt, packets, bytes);
    if (isNew) this.hook(pkt.family, 'nat', 'PREROUTING', pkt, packets, bytes);
    this.hook(pkt.family, 'mangle', 'INPUT', pkt, packets, bytes);
    this.hook(pkt.family, 'filter', 'INPUT', pkt, packets, bytes);
    if (isNew) this.hook(pkt.family, 'nat', 'INPUT', pkt, packets, bytes);
  }

  private foreground(uid: number): boolean {
    const pkg = this.phone.screen.focused().package;
    return pkg !== '' && this.phone.packages.get(pkg)?.uid === uid;
  }

  /** The eBPF cgroup hook of a socket (`uid`) for skbs of the given lengths. */
  bpf(flow: Flow, uid: number, dir: Direction, skbs: readonly number[]): void {
    const traffic = this.state.traffic;
    const fg = this.foreground(uid);
    for (const len of skbs) traffic.bpf(uid, flow.iface, dir, len, flow.family, fg, flow.tag);
  }

  device(iface: string, dir: Direction, wire: Wire): void {
    this.state.traffic.device(iface, dir, wire.packets, wire.bytes);
  }
}

const APP = (flow: Flow): End => ({ local: true, uid: flow.uid });

/**
 * Counts what passes one way on a flow: skbs through netfilter (the sender's OUTPUT walk when it
 * is on the phone, the receiver's INPUT walk when that is), the eBPF hooks of both sockets, the
 * device counters, and the ACKs the receiver sends back.
 */
class Meter {
  private closed = false;

  constructor(
    private readonly kernel: Kernel,
    readonly flow: Flow,
  ) {}

  private packet(fromApp: boolean, uid: number | undefined): Packet {
    const f = this.flow;
    const base: Packet = fromApp
      ? { family: f.family, proto: f.proto, src: f.local, dst: f.remote, sport: f.lport, dport: f.rport }
      : { family: f.family, proto: f.proto, src: f.remote, dst: f.local, sport: f.rport, dport: f.lport };
    return { ...base, oif: f.iface, ...(uid !== undefined ? { uid } : {}) };
  }

  private l2(): number {
    return this.flow.iface === 'wlan0' ? 14 : 0;
  }

  /**
   * Sends skbs one way: the sender's netfilter OUTPUT walk (when it is on the phone) decides; then
   * what got out is counted for the sender and delivered to the receiver.
   */
  send(fromApp: boolean, skbs: readonly number[], wire: Wire, isNew = false): Verdict {
    const from = fromApp ? APP(this.flow) : this.flow.peer;
    if (from.local) {
      const total = skbs.reduce((a, b) => a + b, 0);
      const { verdict } = this.kernel.output(this.packet(fromApp, from.uid), skbs.length, total, isNew);
      if (verdict.kind !== 'ACCEPT') return verdict;
    }
    this.passed(fromApp, skbs, wire, isNew);
    return { kind: 'ACCEPT' };
  }

  /** Counting after netfilter let skbs out: the sender's egress, the receiver's arrival. */
  passed(fromApp: boolean, skbs: readonly number[], wire: Wire, isNew = false): void {
    const f = this.flow;
    const [from, to] = fromApp ? [APP(f), f.peer] : [f.peer, APP(f)];
    if (from.local) {
      if (from.uid !== undefined) this.kernel.bpf(f, from.uid, 'tx', skbs);
      this.kernel.device(f.iface, 'tx', wire);
    }
    if (to.local) {
      const total = skbs.reduce((a, b) => a + b, 0);
      const pkt = this.packet(fromApp, undefined);
      delete pkt.oif;
      this.kernel.input({ ...pkt, iif: f.iface }, skbs.length, total, isNew);
      if (to.uid !== undefined) this.kernel.bpf(f, to.uid, 'rx', skbs);
      this.kernel.device(f.iface, 'rx', wire);
    }
  }

  /** `n` header-only packets (SYN, ACK, FIN, RST) of `len` bytes, one way. */
  control(fromApp: boolean, n: number, len: number, isNew = false): Verdict {
    if (n <= 0) return { kind: 'ACCEPT' };
    return this.send(
      fromApp,
      Array<number>(n).fill(len),
      { packets: n, bytes: n * (len + this.l2()) },
      isNew,
    );
  }

  /** Payload bytes one way, then the ACKs that answer them. */
  data(fromApp: boolean, payload: number): Verdict {
    if (payload <= 0) return { kind: 'ACCEPT' };
    const oh = tcpOverhead(this.flow.family);
    const skbs: number[] = [];
    for (let left = payload; left > 0; left -= SKB_PAYLOAD) skbs.push(oh + Math.min(left, SKB_PAYLOAD));
    const frames = this.flow.iface === 'wlan0' ? Math.ceil(payload / (1500 - oh)) : skbs.length;
    const verdict = this.send(fromApp, skbs, { packets: frames, bytes: payload + frames * (oh + this.l2()) });
    if (verdict.kind !== 'ACCEPT') return verdict;
    this.control(!fromApp, Math.max(1, Math.ceil(frames / 2)), oh);
    return verdict;
  }

  /** FIN + ACK from the app, FIN from the peer; once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const oh = tcpOverhead(this.flow.family);
    this.control(true, 2, oh);
    this.control(false, 1, oh);
  }
}

/** A stream that counts what passes through it (see Meter) and ends like the stream under it. */
class MeteredStream extends Duplex {
  constructor(
    private readonly inner: Duplex,
    private readonly meter: Meter,
  ) {
    super();
    inner.on('data', (chunk: Buffer) => {
      const v = meter.data(false, chunk.length);
      if (v.kind !== 'ACCEPT') {
        this.destroy(Object.assign(new Error('Connection reset by peer'), { code: 'ECONNRESET' }));
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    // Like a socket whose peer closed: what is buffered stays readable, then end of input.
    inner.on('close', () => {
      if (!this.readableEnded) this.push(null);
    });
    inner.on('error', (e: Error) => this.destroy(e));
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const v = this.meter.data(true, chunk.length);
    if (v.kind !== 'ACCEPT') {
      cb(Object.assign(new Error('Connection reset'), { code: 'ECONNRESET' }));
      return;
    }
    if (this.inner.destroyed || this.inner.writableEnded) {
      cb();
      return;
    }
    this.inner.write(chunk, (e) => cb(e ?? null));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.meter.close();
    this.inner.destroy();
    cb(err);
  }
}

const REJECT_ERRNO: Record<string, string> = {
  'icmp-net-unreachable': 'Network is unreachable',
  'icmp-host-unreachable': 'No route to host',
  'icmp-net-prohibited': 'Network is unreachable',
  'icmp-host-prohibited': 'No route to host',
  'icmp-admin-prohibited': 'No route to host',
  'icmp6-no-route': 'Network is unreachable',
  'icmp6-adm-prohibited': 'Permission denied',
  'icmp6-addr-unreachable': 'No route to host',
};

/** A promise that never settles: the request's own timeout or signal ends the wait. */
const hang = (): Promise<never> => new Promise<never>(() => undefined);

export class PhoneSockets {
  private readonly kernel: Kernel;

  constructor(private readonly phone: VirtualPhone) {
    this.kernel = new Kernel(phone);
  }

  /**
   * Resolves `name` for the app through the phone's resolver (a counted UDP exchange with the
   * network's DNS server); rejects with 'refused' when netfilter rejects the query, hangs when it
   * drops it.
   */
  async resolve(app: string, uid: number, name: string): Promise<string> {
    const sdk = sdkOf(this.phone);
    // DnsResolver fchowns query sockets to the app only on Android 11+ (facts §4); the eBPF maps
    // count DNS for the app anyway (TAG_SYSTEM_DNS with the app's uid, facts §3.2), which the
    // owner of the flow below stands for.
    const owner = sdk >= 30 ? uid : AID_DNS;
    const flow: Flow = {
      family: 4,
      proto: 17,
      local: parseIp(WLAN_V4, 4) as bigint,
      remote: parseIp(DNS_SERVER, 4) as bigint,
      lport: ephemeral(),
      rport: 53,
      iface: 'wlan0',
      uid: owner,
      tag: TAG_SYSTEM_DNS,
      peer: { local: false },
    };
    const q = dnsQueryLen(name);
    const skb = [q];
    const wire = { packets: 1, bytes: q + 14 };
    const { verdict } = this.kernel.output(
      {
        family: 4,
        proto: 17,
        src: flow.local,
        dst: flow.remote,
        sport: flow.lport,
        dport: 53,
        oif: 'wlan0',
        uid: owner,
      },
      1,
      q,
      true,
    );
    if (verdict.kind === 'DROP') return hang();
    if (verdict.kind !== 'ACCEPT') {
      throw new PhoneHttpError(
        'refused',
        `${app}: Unable to resolve host "${name}": No address associated with hostname`,
      );
    }
    const counted: Flow = { ...flow, uid };
    const meter = new Meter(this.kernel, counted);
    meter.passed(true, skb, wire, true);
    meter.control(false, 1, q + 16, true);
    return labAddress(name);
  }

  /** Opens a TCP connection as described in the file comment. */
  async connect(req: ConnectRequest): Promise<Connection> {
    const bare = req.host.replace(/^\[|\]$/g, '');
    let address: string;
    if (bare.toLowerCase() === 'localhost') address = '127.0.0.1';
    else if (bare.toLowerCase() === 'ip6-localhost') address = '::1';
    else if (isIP(bare)) address = bare;
    else address = await this.resolve(req.app, req.uid, bare);
    const family: Family = isIP(address) === 6 ? 6 : 4;
    const remote = parseIp(address, family) as bigint;
    const loop = isLoopbackAddress(address);
    const iface: 'lo' | 'wlan0' = loop ? 'lo' : 'wlan0';
    const local = loop ? remote : (parseIp(family === 4 ? WLAN_V4 : WLAN_V6, family) as bigint);
    const syn: Packet = {
      family,
      proto: 6,
      src: local,
      dst: remote,
      sport: ephemeral(),
      dport: req.port,
      oif: iface,
      uid: req.uid,
    };
    const oh = tcpOverhead(family);
    const synLen = oh + 8;
    const rstLen = oh - 12;
    // As the app names it (an IPv6 literal in brackets), with the address when DNS gave one.
    const hostPort = `${isIP(bare) === 6 ? `[${bare}]` : bare}:${req.port}${address !== bare ? ` (${address})` : ''}`;
    const { verdict, pkt } = this.kernel.output(syn, 1, synLen, true);
    if (verdict.kind === 'DROP') return hang();
    if (verdict.kind === 'REJECT') {
      const why = REJECT_ERRNO[verdict.with] ?? 'Connection refused';
      throw new PhoneHttpError('refused', `${req.app}: failed to connect to ${hostPort}: ${why}`);
    }
    const redirected = pkt.dport !== syn.dport || pkt.dst !== syn.dst;
    const outIface: 'lo' | 'wlan0' = pkt.oif === 'lo' ? 'lo' : 'wlan0';
    const flow: Flow = {
      family,
      proto: 6,
      local: outIface === 'lo' ? pkt.dst : local,
      remote: pkt.dst,
      lport: syn.sport,
      rport: pkt.dport,
      iface: outIface,
      uid: req.uid,
      tag: 0,
      peer: outIface === 'lo' ? { local: true, uid: ADBD_UID } : { local: false },
    };
    const l2 = outIface === 'wlan0' ? 14 : 0;
    // The SYN passed netfilter above: count it out, and in at the other end.
    const refusedFlow: Flow = { ...flow, peer: outIface === 'lo' ? { local: true } : { local: false } };
    const refused = (): void => {
      const m = new Meter(this.kernel, refusedFlow);
      m.passed(true, [synLen], { packets: 1, bytes: synLen + l2 }, true);
      m.control(false, 1, rstLen, true);
    };
    let stream: Duplex;
    if (outIface === 'lo') {
      try {
        stream = this.phone.net.connect(`tcp:${flow.rport}`);
      } catch (e) {
        if (e instanceof NetError) {
          refused();
          const what = req.via === 'proxy' ? 'proxy ' : '';
          throw new PhoneHttpError(
            'refused',
            `${req.app}: connect to ${what}${hostPort} refused (nothing listens there: adb reverse tcp:${flow.rport} …?)`,
          );
        }
        throw e;
      }
    } else {
      const target: SinkTarget = { host: req.host, port: req.port, app: req.app, via: req.via };
      const s = req.sink(target);
      this.logSink(req, s !== undefined);
      if (!s) {
        refused();
        const what = req.via === 'proxy' ? `proxy ${hostPort}` : hostPort;
        throw new PhoneHttpError(
          'refused',
          `${req.app}: connect to ${what}: Connection refused (no network off the lab)`,
        );
      }
      stream = s;
    }
    const meter = new Meter(this.kernel, flow);
    meter.passed(true, [synLen], { packets: 1, bytes: synLen + l2 }, true);
    // SYN-ACK in, ACK out.
    meter.control(false, 1, synLen, true);
    meter.control(true, 1, oh);
    return {
      stream: new MeteredStream(stream, meter),
      iface: outIface,
      address,
      ...(redirected ? { redirectedTo: flow.rport } : {}),
    };
  }

  private logSink(req: ConnectRequest, handed: boolean): void {
    const pid = this.phone.processes.byName(req.app)[0]?.pid ?? 0;
    const h = req.host.replace(/^\[|\]$/g, '');
    const hostPort = isIP(h) === 6 ? `[${h}]:${req.port}` : `${h}:${req.port}`;
    const what = req.via === 'proxy' ? `proxy ${hostPort}` : hostPort;
    this.phone.logcat.append({
      pid,
      priority: handed ? 4 : 5,
      tag: 'NetworkSink',
      message: `${req.app}: connection to ${what} (${req.via}) ${handed ? 'handed to the sink' : 'refused: no network off the lab'}`,
    });
  }
}

export const refuseAll: ConnectionSink = () => undefined;
