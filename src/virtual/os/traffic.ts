/**
 * Per-UID traffic accounting as Android keeps it (android-realities.md §3.2), and the ways a shell
 * reads it back.
 *
 * Kernel side, as the Connectivity eBPF program `bpf_traffic_account` does it (bpf_progs/netd.c,
 * LineageOS/android_packages_modules_Connectivity): every packet that passes a socket's cgroup
 * egress/ingress hook is added to the selected stats map (A or B, key = uid, tag, counter set,
 * interface index) and to app_uid_stats_map (key = uid). The egress hook runs after netfilter, so
 * a packet iptables drops or rejects is never counted ("If an outbound packet is going to be
 * dropped, we do not count that traffic"). There is no exception for loopback: traffic to the
 * phone's own 127.0.0.1 (the capture proxy through adb reverse) counts on `lo`, ifindex 1
 * (inference from the code; facts §8 lists it as unverified on devices). An skb longer than the
 * 1500-byte MTU (GSO, or loopback's 64 KiB segments) is counted as the 1500-byte TCP packets it
 * stands for: packets = ⌈payload/mss⌉, bytes = payload + packets × (IP + 20 + 12 option bytes),
 * mss = 1500 − that overhead (netd.c DEFINE_UPDATE_STATS). Tag 0 (no socket tagging in the lab).
 * Counter set 1 for the app in the foreground, 0 otherwise (uid_counterset_map, which
 * NetworkPolicy sets). Everything is lost at reboot.
 *
 * Device counters (/proc/net/dev, kernel dev_seq_show format): lo counts each skb once as sent
 * and once as received; wlan0 counts frames of at most 1500 bytes plus the 14-byte Ethernet
 * header cfg80211 presents.
 *
 * NetworkStatsService (`dumpsys netstats --poll`, NetworkStatsService.performPoll): the selected
 * map is swapped (configuration map A ↔ B), the map that was active is read into the history and
 * cleared; app_uid_stats_map is never cleared. The history keeps only interfaces with a network
 * identity (wlan0 here, not lo), in 2-hour buckets for uids (facts §3.2). Polls happen only when
 * asked for: the 30-minute timer and the 2 MiB alert are not modelled.
 *
 * Readouts per release (facts §3.2): Android 10–12 `dumpsys netd trafficcontroller`
 * (TrafficController::dump(dw, verbose=true), system/netd server/TrafficController.cpp: android10
 * text from an unattributed public copy with `BPF module status: <level>`; android11 from
 * phhusson/platform_system_netd with `BPF module status: enabled` + `BPF support level`;
 * android12 from LineageOS/android_system_netd), Android 13 `dumpsys connectivity
 * trafficcontroller` (the same native dump moved into the Connectivity module; its exact android13
 * text was not found: the android12 layout is used, an inference), Android 14+ `dumpsys netstats`
 * (NetworkStatsService.dump + BpfDump.dumpMap, LineageOS/android_packages_modules_Connectivity
 * service-t/src/com/android/server/net/NetworkStatsService.java): ends with `BPF map content:`.
 * Indentation: netd's DumpWriter/ScopedIndent and Java's IndentingPrintWriter both indent two
 * spaces per level; note netd's `mAppUidStatsMap::` and `mIfaceStatsMap::` (the name passed to
 * dumpBpfMap already ends with a colon).
 */
export interface StatsValue {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

export interface StatsKey {
  uid: number;
  tag: number;
  counterSet: number;
  ifaceIndex: number;
}

export interface Iface {
  index: number;
  name: string;
}

/** The phone's interfaces (indexes are synthetic; lo is always 1). */
export const IFACES: readonly Iface[] = [
  { index: 1, name: 'lo' },
  { index: 2, name: 'dummy0' },
  { index: 30, name: 'wlan0' },
];

export const ifaceIndex = (name: string): number => IFACES.find((i) => i.name === name)?.index ?? 0;

export type Direction = 'tx' | 'rx';

const zero = (): StatsValue => ({ rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 });

function add(v: StatsValue, dir: Direction, packets: number, bytes: number): void {
  if (dir === 'tx') {
    v.txPackets += packets;
    v.txBytes += bytes;
  } else {
    v.rxPackets += packets;
    v.rxBytes += bytes;
  }
}

/** IP + TCP header + the 12 timestamp option bytes, per family (netd.c). */
export const tcpOverhead = (family: 4 | 6): number => (family === 6 ? 40 : 20) + 20 + 12;

/** What the eBPF program adds for one skb of `len` bytes (the GSO correction above 1500). */
export function bpfCount(len: number, family: 4 | 6): { packets: number; bytes: number } {
  const mtu = 1500;
  if (len <= mtu) return { packets: 1, bytes: len };
  const overhead = tcpOverhead(family);
  const mss = mtu - overhead;
  const payload = len - overhead;
  const packets = Math.ceil(payload / mss);
  return { packets, bytes: overhead * packets + payload };
}

interface HistoryEntry {
  uid: number;
  set: number;
  tag: number;
  iface: string;
  buckets: Map<number, StatsValue>;
}

export const UID_BUCKET_S = 7200;
export const XT_BUCKET_S = 3600;

export class TrafficAccounting {
  readonly appUidStats = new Map<number, StatsValue>();
  readonly statsMaps: Record<'A' | 'B', Map<string, { key: StatsKey; value: StatsValue }>> = {
    A: new Map(),
    B: new Map(),
  };
  selected: 'A' | 'B' = 'A';
  /** iface_stats_map (the xt_bpf programs in bw_raw_PREROUTING / bw_mangle_POSTROUTING). */
  readonly ifaceStats = new Map<number, StatsValue>();
  /** /proc/net/dev. */
  readonly dev = new Map<string, StatsValue>(IFACES.map((i) => [i.name, zero()]));
  /** uid_counterset_map: uids NetworkPolicy put in the foreground set. */
  readonly counterSets = new Map<number, number>();
  /** NetworkStatsService's uid history (interfaces with an identity only). */
  readonly uidHistory = new Map<string, HistoryEntry>();
  /** Xt/dev history: per interface, hourly. */
  readonly xtHistory = new Map<string, Map<number, StatsValue>>();
  private readonly devAtLastPoll = new Map<string, StatsValue>();
  polls = 0;

  constructor(readonly bootedAt: number) {}

  /** One skb of `len` bytes through the cgroup hook of a socket owned by `uid`. */
  bpf(
    uid: number,
    iface: string,
    dir: Direction,
    len: number,
    family: 4 | 6,
    foreground: boolean,
    tag = 0,
  ): void {
    const { packets, bytes } = bpfCount(len, family);
    const set = foreground ? 1 : 0;
    if (foreground) this.counterSets.set(uid, 1);
    else if (this.counterSets.get(uid) === 1) this.counterSets.delete(uid);
    const key: StatsKey = { uid, tag, counterSet: set, ifaceIndex: ifaceIndex(iface) };
    const k = `${key.uid}/${key.tag}/${key.counterSet}/${key.ifaceIndex}`;
    const map = this.statsMaps[this.selected];
    let e = map.get(k);
    if (!e) map.set(k, (e = { key, value: zero() }));
    add(e.value, dir, packets, bytes);
    let a = this.appUidStats.get(uid);
    if (!a) this.appUidStats.set(uid, (a = zero()));
    add(a, dir, packets, bytes);
    let s = this.ifaceStats.get(key.ifaceIndex);
    if (!s) this.ifaceStats.set(key.ifaceIndex, (s = zero()));
    add(s, dir, packets, bytes);
  }

  /** Device counters. */
  device(iface: string, dir: Direction, packets: number, bytes: number): void {
    let v = this.dev.get(iface);
    if (!v) this.dev.set(iface, (v = zero()));
    add(v, dir, packets, bytes);
  }

  /**
   * A forced poll: swap the active stats map, fold the one that was active into the history
   * (interfaces with an identity only) and clear it.
   */
  poll(nowMs: number): void {
    const old = this.selected;
    this.selected = old === 'A' ? 'B' : 'A';
    const bucket = (secs: number, size: number): number => Math.floor(secs / size) * size;
    const nowS = Math.floor(nowMs / 1000);
    for (const { key, value } of this.statsMaps[old].values()) {
      const iface = IFACES.find((i) => i.index === key.ifaceIndex)?.name ?? 'unknown';
      if (iface !== 'wlan0') continue;
      const hk = `${key.uid}/${key.counterSet}/${key.tag}/${iface}`;
      let h = this.uidHistory.get(hk);
      if (!h) {
        h = { uid: key.uid, set: key.counterSet, tag: key.tag, iface, buckets: new Map() };
        this.uidHistory.set(hk, h);
      }
      const b = bucket(nowS, UID_BUCKET_S);
      let v = h.buckets.get(b);
      if (!v) h.buckets.set(b, (v = zero()));
      v.rxBytes += value.rxBytes;
      v.rxPackets += value.rxPackets;
      v.txBytes += value.txBytes;
      v.txPackets += value.txPackets;
    }
    this.statsMaps[old].clear();
    for (const [name, cur] of this.dev) {
      if (name !== 'wlan0') continue;
      const prev = this.devAtLastPoll.get(name) ?? zero();
      const d: StatsValue = {
        rxBytes: cur.rxBytes - prev.rxBytes,
        rxPackets: cur.rxPackets - prev.rxPackets,
        txBytes: cur.txBytes - prev.txBytes,
        txPackets: cur.txPackets - prev.txPackets,
      };
      this.devAtLastPoll.set(name, { ...cur });
      let hist = this.xtHistory.get(name);
      if (!hist) this.xtHistory.set(name, (hist = new Map()));
      const b = bucket(nowS, XT_BUCKET_S);
      const v = hist.get(b) ?? zero();
      hist.set(b, {
        rxBytes: v.rxBytes + d.rxBytes,
        rxPackets: v.rxPackets + d.rxPackets,
        txBytes: v.txBytes + d.txBytes,
        txPackets: v.txPackets + d.txPackets,
      });
    }
    this.polls++;
  }
}

// ------------------------------------------------------------------------------------ readouts

export interface DumpContext {
  sdk: number;
  nowMs: number;
  /** The serial-derived Wi-Fi network key shown in identities. */
  wifiKey: string;
}

const statsLine = (key: StatsKey, v: StatsValue): string => {
  const name = IFACES.find((i) => i.index === key.ifaceIndex)?.name ?? 'unknown';
  return `${key.ifaceIndex} ${name} 0x${key.tag.toString(16)} ${key.uid} ${key.counterSet} ${v.rxBytes} ${v.rxPackets} ${v.txBytes} ${v.txPackets}`;
};

const STATS_HEADER = 'ifaceIndex ifaceName tag_hex uid_int cnt_set rxBytes rxPackets txBytes txPackets';
const APP_HEADER = 'uid rxBytes rxPackets txBytes txPackets';

/** Map entries in the order a BPF hash map iterates them (here: by key, stable). */
function sortedStats(
  m: Map<string, { key: StatsKey; value: StatsValue }>,
): Array<{ key: StatsKey; value: StatsValue }> {
  return [...m.values()].sort(
    (a, b) =>
      a.key.uid - b.key.uid ||
      a.key.ifaceIndex - b.key.ifaceIndex ||
      a.key.counterSet - b.key.counterSet ||
      a.key.tag - b.key.tag,
  );
}

/**
 * TrafficController::dump(dw, verbose=true) of system/netd (Android 10–12) and of the Connectivity
 * module (Android 13), as `dumpsys netd|connectivity trafficcontroller` prints it: the dumpsys
 * caller adds a blank line before and after.
 */
export function trafficControllerDump(t: TrafficAccounting, ctx: DumpContext): string {
  const L: string[] = [];
  const i1 = '  ';
  const i2 = '    ';
  const i3 = '      ';
  L.push('');
  L.push(`${i1}TrafficController`);
  if (ctx.sdk <= 29) L.push(`${i2}BPF module status: BPF_LEVEL_EXTENDED`);
  else if (ctx.sdk === 30) {
    L.push(`${i2}BPF module status: enabled`);
    L.push(`${i2}BPF support level: Extended [4.14]`);
  }
  L.push('');
  for (const m of [
    'mCookieTagMap',
    'mUidCounterSetMap',
    'mAppUidStatsMap',
    'mStatsMapA',
    'mStatsMapB',
    'mIfaceIndexNameMap',
    'mIfaceStatsMap',
    'mConfigurationMap',
    'mUidOwnerMap',
  ]) {
    L.push(`${i2}${m} status: OK`);
  }
  L.push('');
  L.push(`${i2}Cgroup ingress program status: OK`);
  L.push(`${i2}Cgroup egress program status: OK`);
  L.push(`${i2}xt_bpf ingress program status: OK`);
  L.push(`${i2}xt_bpf egress program status: OK`);
  const lists = ctx.sdk <= 30 ? ['whitelist', 'blacklist'] : ['allowlist', 'denylist'];
  L.push(`${i2}xt_bpf bandwidth ${lists[0]} program status: OK`);
  L.push(`${i2}xt_bpf bandwidth ${lists[1]} program status: OK`);
  L.push('');
  L.push(`${i2}BPF map content:`);
  L.push('');
  L.push(`${i3}mCookieTagMap:`);
  L.push('');
  L.push(`${i3}mUidCounterSetMap:`);
  for (const [uid, set] of [...t.counterSets].sort((a, b) => a[0] - b[0])) L.push(`${i3}${uid} ${set}`);
  L.push('');
  L.push(`${i3}mAppUidStatsMap::`);
  L.push(`${i3}${APP_HEADER}`);
  for (const [uid, v] of [...t.appUidStats].sort((a, b) => a[0] - b[0])) {
    L.push(`${i3}${uid} ${v.rxBytes} ${v.rxPackets} ${v.txBytes} ${v.txPackets}`);
  }
  for (const name of ['A', 'B'] as const) {
    L.push('');
    L.push(`${i3}mStatsMap${name}:`);
    L.push(`${i3}${STATS_HEADER}`);
    for (const e of sortedStats(t.statsMaps[name])) L.push(`${i3}${statsLine(e.key, e.value)}`);
  }
  L.push('');
  L.push(`${i3}mIfaceIndexNameMap:`);
  for (const i of IFACES) L.push(`${i3}ifaceIndex=${i.index} ifaceName=${i.name}`);
  L.push('');
  L.push(`${i3}mIfaceStatsMap::`);
  L.push(`${i3}ifaceIndex ifaceName rxBytes rxPackets txBytes txPackets`);
  for (const [idx, v] of [...t.ifaceStats].sort((a, b) => a[0] - b[0])) {
    const name = IFACES.find((i) => i.index === idx)?.name ?? 'unknown';
    L.push(`${i3}${idx} ${name} ${v.rxBytes} ${v.rxPackets} ${v.txBytes} ${v.txPackets}`);
  }
  L.push('');
  const statsCfg = t.selected === 'A' ? 0 : 1;
  if (ctx.sdk <= 29) {
    L.push(`${i3}current ownerMatch configuration: 0`);
    L.push(`${i3}current statsMap configuration: ${statsCfg}`);
  } else {
    L.push(`${i3}current ownerMatch configuration: 0`);
    L.push(`${i3}current statsMap configuration: ${statsCfg} SELECT_MAP_${t.selected}`);
  }
  L.push('');
  L.push(`${i3}mUidOwnerMap:`);
  L.push('');
  L.push(`${i3}mUidPermissionMap:`);
  L.push('');
  L.push(`${i3}mPrivilegedUser:`);
  L.push('');
  return L.join('\n') + '\n';
}

function ident(ctx: DumpContext): string {
  return `[{type=1, ratType=COMBINED, wifiNetworkKey="${ctx.wifiKey}", metered=false, defaultNetwork=true, oemManaged=OEM_NONE, subId=-1}]`;
}

const SET_NAMES = ['DEFAULT', 'FOREGROUND'];

function historyLines(
  indent: string,
  bucketS: number,
  buckets: Map<number, StatsValue>,
  full: boolean,
): string[] {
  const out = [`${indent}NetworkStatsHistory: bucketDuration=${bucketS}`];
  const list = [...buckets].sort((a, b) => a[0] - b[0]);
  const shown = full ? list : list.slice(-32);
  if (shown.length < list.length) out.push(`${indent}  (omitting ${list.length - shown.length} buckets)`);
  for (const [st, v] of shown) {
    out.push(`${indent}  st=${st} rb=${v.rxBytes} rp=${v.rxPackets} tb=${v.txBytes} tp=${v.txPackets} op=0`);
  }
  return out;
}

/**
 * `dumpsys netstats [--full] [--uid|detail] [--tag]` (NetworkStatsService.dump): the recorders'
 * history (minimal: identities and buckets as the facts sheet shows them), then on Android 14+
 * the BPF map status and content.
 */
export function netstatsDump(
  t: TrafficAccounting,
  ctx: DumpContext,
  opts: { full: boolean; uid: boolean; tag: boolean },
): string {
  const L: string[] = [];
  const id = ident(ctx);
  L.push('Directory:');
  L.push(ctx.sdk >= 33 ? '  /data/misc/apexdata/com.android.tethering/netstats' : '  /data/system/netstats');
  L.push('Configs:');
  L.push('  netstats_combine_subtype_enabled=true ');
  L.push('Active interfaces:');
  L.push(`  iface=wlan0 ident=${id} `);
  L.push('Active UID interfaces:');
  L.push(`  iface=wlan0 ident=${id} `);
  L.push('All wifi interfaces:');
  L.push('  wlan0 ');
  L.push('All mobile interfaces:');
  L.push('  ');
  L.push('Top openSession callers:');
  L.push('');
  L.push('Stats Providers:');
  L.push('');
  L.push('Stats Observers:');
  L.push('');
  for (const name of ['Dev', 'Xt']) {
    L.push(`${name} stats:`);
    L.push('  Pending bytes: 0');
    L.push(opts.full ? '  Complete history:' : '  History since boot:');
    const hist = t.xtHistory.get('wlan0');
    if (hist && hist.size) {
      L.push(`  ident=${id} uid=-1 set=ALL tag=0x0`);
      L.push(...historyLines('    ', XT_BUCKET_S, hist, opts.full));
    }
  }
  const uidSection = (title: string, tagged: boolean): void => {
    L.push(`${title}:`);
    L.push('  Pending bytes: 0');
    L.push(opts.full ? '  Complete history:' : '  History since boot:');
    const entries = [...t.uidHistory.values()]
      .filter((e) => (e.tag !== 0) === tagged)
      .sort((a, b) => a.uid - b.uid || a.set - b.set || a.tag - b.tag);
    for (const e of entries) {
      L.push(`  ident=${id} uid=${e.uid} set=${SET_NAMES[e.set] ?? e.set} tag=0x${e.tag.toString(16)}`);
      L.push(...historyLines('    ', UID_BUCKET_S, e.buckets, opts.full));
    }
  };
  if (opts.uid) uidSection('UID stats', false);
  if (opts.tag) uidSection('UID tag stats', true);
  if (ctx.sdk >= 34) {
    L.push('');
    L.push('BPF map status:');
    for (const m of ['mCookieTagMap', 'mUidCounterSetMap', 'mAppUidStatsMap', 'mStatsMapA', 'mStatsMapB']) {
      L.push(`  ${m}: OK`);
    }
    L.push('');
    L.push('BPF map content:');
    L.push('  mCookieTagMap:');
    L.push('  mUidCounterSetMap:');
    for (const [uid, set] of [...t.counterSets].sort((a, b) => a[0] - b[0]))
      L.push(`    uid=${uid} set=${set}`);
    L.push('  mAppUidStatsMap:');
    L.push(`    ${APP_HEADER}`);
    for (const [uid, v] of [...t.appUidStats].sort((a, b) => a[0] - b[0])) {
      L.push(`    ${uid} ${v.rxBytes} ${v.rxPackets} ${v.txBytes} ${v.txPackets}`);
    }
    for (const name of ['A', 'B'] as const) {
      L.push(`  mStatsMap${name}:`);
      L.push(`    ${STATS_HEADER}`);
      for (const e of sortedStats(t.statsMaps[name])) L.push(`    ${statsLine(e.key, e.value)}`);
    }
  }
  return L.join('\n') + '\n';
}

/** /proc/net/dev (dev_seq_show). */
export function procNetDev(t: TrafficAccounting): string {
  let s =
    'Inter-|   Receive                                                |  Transmit\n' +
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
  for (const i of IFACES) {
    const v = t.dev.get(i.name) ?? zero();
    const n = (x: number, w: number): string => String(x).padStart(w);
    s +=
      `${i.name.padStart(6)}: ${n(v.rxBytes, 7)} ${n(v.rxPackets, 7)} ${n(0, 4)} ${n(0, 4)} ${n(0, 4)} ${n(0, 5)} ${n(0, 10)} ${n(0, 9)} ` +
      `${n(v.txBytes, 8)} ${n(v.txPackets, 7)} ${n(0, 4)} ${n(0, 4)} ${n(0, 4)} ${n(0, 5)} ${n(0, 7)} ${n(0, 10)}\n`;
  }
  return s;
}
