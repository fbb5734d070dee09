/**
 * Traffic that did not go through the capture (issue 10), measured with Android's own tools,
 * never with anything the lab provides.
 *
 * 1. Per-UID accounting, on every phone: the eBPF stats maps Android keeps for every socket
 *    (android-realities.md §3.2), read with the command the phone's release prints them with:
 *    Android 10–12 `dumpsys netd trafficcontroller`, 13 `dumpsys connectivity trafficcontroller`,
 *    14+ `dumpsys netstats` (its `BPF map content:`). The expected one is tried first, the others
 *    after (OEM builds move things); a reading is used only when it holds a stats-map table, found
 *    by its header's column names (ifaceName, tag_hex, uid_int, cnt_set, rxBytes …), never by
 *    position. `/proc/net/xt_qtaguid/stats` (Android ≤ 9 kernels) is the last resort. Between two
 *    snapshots, app uids (app id ≥ 10000) with bytes on an interface other than `lo` sent or
 *    received traffic that did not go through the capture (which apps reach on the phone's
 *    loopback). DNS the resolver made for the app (tag TAG_SYSTEM_DNS) is reported apart.
 * 2. On rooted phones, iptables owner rules the wiring installs for the packages it is told
 *    about (planBypassRules): their TCP off loopback is redirected into the capture (nat OUTPUT
 *    REDIRECT to the phone port `adb reverse` serves), DNS is allowed and counted, and everything
 *    else is rejected (capture mode `block`) or only counted (`passthrough`); IPv6 off loopback
 *    is rejected (Android 11+ kernels have no IPv6 nat: the app falls back to IPv4). The rules
 *    live in chains of their own (`phonehome_<port>`) jumped to from position 1 of filter and nat
 *    OUTPUT: netd flushes its own child chains (oem_out among them) when it restarts but keeps
 *    foreign rules in filter OUTPUT and never touches nat OUTPUT (facts §4), so the rules survive a
 *    netd restart, and one chain flush + delete removes them. Every rule carries
 *    `-m comment --comment phonehome:<port>:<kind>:<uid>`, so leftovers can be found by the
 *    `phonehome:` prefix. All commands use `-w 5` (the xtables lock).
 *
 * Counters go back when the phone reboots (everything) or NetworkStatsService polls (the stats
 * maps swap and the old one is cleared): compare() says so in `unavailable` instead of computing
 * negative numbers, and uses what was counted since as a lower bound.
 */
import type { Device } from '../device/index.ts';
import type { CaptureMode } from './session.ts';

/** DnsResolver tags its query sockets with this for the app they resolve for (facts §3.2). */
export const TAG_SYSTEM_DNS = 0xffffff82;
export const BYPASS_TAG_PREFIX = 'phonehome:';
const READ_TIMEOUT_MS = 15_000;

export interface TrafficRow {
  uid: number;
  iface: string;
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
  /** The socket tag (0: untagged; TAG_SYSTEM_DNS: DNS made for the app). */
  tag: number;
  /** Counter set: 0 background, 1 foreground. */
  set: number;
}

export interface IptablesCounter {
  /** The rule as the harness added it (binary, table and -A line). */
  spec: string;
  packets: number;
  bytes: number;
  /** Its comment tag: phonehome:<port>:<kind>:<uid>. */
  id?: string;
  kind?: BypassRuleKind;
  uid?: number;
}

export interface TrafficSnapshot {
  at: number;
  /** The command the per-UID counters were read with. */
  source?: string;
  /** Why they could not be read. */
  unavailable?: string;
  rows: TrafficRow[];
  iptables?: { rules: IptablesCounter[]; unavailable?: string };
  /** /proc/sys/kernel/random/boot_id when the snapshot was taken: a reboot changes it. */
  bootId?: string;
}

export interface BypassLeak {
  uid: number;
  packages: string[];
  txBytes: number;
  rxBytes: number;
  txPackets: number;
  ifaces: string[];
  /** Where it was seen: per-UID accounting or the count-only iptables rule. */
  seenBy?: string;
}

export interface BypassReport {
  /** How traffic outside the capture was looked for, e.g. "per-UID accounting (dumpsys netd trafficcontroller)", "iptables owner rules (rooted)". */
  checked: string[];
  /** What could not be measured, and why (the executor turns it into `broken`). */
  unavailable: string[];
  /** App uids (>= 10000) with bytes on a non-loopback interface between the snapshots. */
  leaks: BypassLeak[];
  /** Packets the REJECT rules stopped (rooted, block mode), per uid/package. */
  rejected: Array<{ uid: number; packages: string[]; packets: number; bytes: number }>;
  /** Connections the REDIRECT rules brought into the capture. */
  redirected: Array<{ uid: number; packages: string[]; connections: number }>;
  /** DNS the phone's resolver made for app uids off loopback (not counted as leaks). */
  dns: Array<{ uid: number; packages: string[]; txBytes: number; rxBytes: number }>;
  /** Things worth knowing that do not stop the judgement. */
  notes: string[];
}

/** A report with nothing in it yet (nothing measured, nothing found). */
export function emptyBypassReport(over: Partial<BypassReport> = {}): BypassReport {
  return {
    checked: [],
    unavailable: [],
    leaks: [],
    rejected: [],
    redirected: [],
    dns: [],
    notes: [],
    ...over,
  };
}

export interface BypassMonitor {
  snapshot(): Promise<TrafficSnapshot>;
  compare(before: TrafficSnapshot, after: TrafficSnapshot): Promise<BypassReport>;
  /** The packages the wiring was asked to cover. */
  packages: string[];
}

// ------------------------------------------------------------------------------------ parsing

const isAppUid = (uid: number): boolean => uid % 100000 >= 10000;

/** Column aliases: the eBPF dumps, xt_qtaguid's stats file. */
const COLUMN: Record<string, keyof TrafficRow | 'ifaceIndex'> = {
  ifacename: 'iface',
  iface: 'iface',
  tag_hex: 'tag',
  acct_tag_hex: 'tag',
  tag: 'tag',
  uid_int: 'uid',
  uid_tag_int: 'uid',
  uid: 'uid',
  cnt_set: 'set',
  set: 'set',
  counterset: 'set',
  rxbytes: 'rxBytes',
  rx_bytes: 'rxBytes',
  rxpackets: 'rxPackets',
  rx_packets: 'rxPackets',
  txbytes: 'txBytes',
  tx_bytes: 'txBytes',
  txpackets: 'txPackets',
  tx_packets: 'txPackets',
  ifaceindex: 'ifaceIndex',
};

export interface ParsedTraffic {
  /** Rows of every stats-map table found (maps A and B summed per uid/iface/tag/set). */
  rows: TrafficRow[];
  /** The per-uid totals (mAppUidStatsMap), when printed. */
  appUid: Array<Omit<TrafficRow, 'iface' | 'tag' | 'set'>>;
  /** How many stats-map tables were found (0: this output has none). */
  tables: number;
}

function num(text: string | undefined, hex = false): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (hex || /^0x/i.test(t)) {
    const v = Number.parseInt(t.replace(/^0x/i, ''), 16);
    return Number.isFinite(v) ? v : undefined;
  }
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/**
 * Finds every table whose header names uid, interface and rx/tx columns, and reads the lines
 * under it that have as many fields, until one does not. Tolerant of indentation, of the
 * `mAppUidStatsMap::` double colon, of extra columns (xt_qtaguid's tcp/udp splits) and of
 * column order.
 */
export function parseTraffic(text: string): ParsedTraffic {
  const lines = text.split(/\r?\n/);
  const sums = new Map<string, TrafficRow>();
  const appUid: ParsedTraffic['appUid'] = [];
  let tables = 0;
  for (let i = 0; i < lines.length; i++) {
    const head = (lines[i] as string).trim().split(/\s+/);
    const cols = head.map((h) => COLUMN[h.toLowerCase()]);
    const has = (k: string): boolean => cols.includes(k as keyof TrafficRow);
    if (!has('uid') || !has('rxBytes') || !has('txBytes') || !has('rxPackets') || !has('txPackets')) continue;
    const perIface = has('iface');
    if (perIface) tables++;
    for (let j = i + 1; j < lines.length; j++) {
      const f = (lines[j] as string).trim().split(/\s+/);
      if (f.length !== head.length || !/^\d/.test(f[0] ?? '')) break;
      const get = (k: string, hex = false): number | undefined => {
        const idx = cols.indexOf(k as keyof TrafficRow);
        return idx < 0 ? undefined : num(f[idx], hex);
      };
      const uid = get('uid');
      const rxBytes = get('rxBytes');
      const rxPackets = get('rxPackets');
      const txBytes = get('txBytes');
      const txPackets = get('txPackets');
      if ([uid, rxBytes, rxPackets, txBytes, txPackets].some((v) => v === undefined)) break;
      if (!perIface) {
        appUid.push({
          uid: uid as number,
          rxBytes: rxBytes as number,
          rxPackets: rxPackets as number,
          txBytes: txBytes as number,
          txPackets: txPackets as number,
        });
        i = j;
        continue;
      }
      const iface = f[cols.indexOf('iface')] as string;
      const tag = get('tag', true) ?? 0;
      const set = get('set') ?? 0;
      const key = `${uid}/${iface}/${tag}/${set}`;
      const row = sums.get(key) ?? {
        uid: uid as number,
        iface,
        tag,
        set,
        rxBytes: 0,
        rxPackets: 0,
        txBytes: 0,
        txPackets: 0,
      };
      row.rxBytes += rxBytes as number;
      row.rxPackets += rxPackets as number;
      row.txBytes += txBytes as number;
      row.txPackets += txPackets as number;
      sums.set(key, row);
      i = j;
    }
  }
  return { rows: [...sums.values()], appUid, tables };
}

/** The readout commands for a release, the expected one first. */
export function trafficCommands(sdk: number): string[][] {
  const netd = ['dumpsys', 'netd', 'trafficcontroller'];
  const connectivity = ['dumpsys', 'connectivity', 'trafficcontroller'];
  const netstats = ['dumpsys', 'netstats'];
  const qtaguid = ['cat', '/proc/net/xt_qtaguid/stats'];
  if (sdk >= 34) return [netstats, connectivity, netd, qtaguid];
  if (sdk === 33) return [connectivity, netstats, netd, qtaguid];
  if (sdk >= 29) return [netd, connectivity, netstats, qtaguid];
  return [qtaguid, netd, netstats];
}

export interface TrafficReading {
  source?: string;
  unavailable?: string;
  rows: TrafficRow[];
  appUid: ParsedTraffic['appUid'];
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Reads the per-UID counters with the command the phone's release prints them with (falling back
 * to the others). `unavailable` says why none worked (a build that does not print them, no DUMP).
 */
export async function readTraffic(
  device: Device,
  opts: { sdk?: number; timeoutMs?: number } = {},
): Promise<TrafficReading> {
  const timeoutMs = opts.timeoutMs ?? READ_TIMEOUT_MS;
  let sdk = opts.sdk;
  if (sdk === undefined) {
    sdk = Number(await device.getProp('ro.build.version.sdk', { timeoutMs }).catch(() => '0')) || 0;
  }
  const tried: string[] = [];
  for (const argv of trafficCommands(sdk)) {
    const cmd = argv.join(' ');
    try {
      const r = await device.shell(argv, { timeoutMs });
      const parsed = parseTraffic(r.stdout);
      if (parsed.tables > 0) return { source: cmd, rows: parsed.rows, appUid: parsed.appUid };
      const why =
        r.exitCode !== 0
          ? `exit ${r.exitCode}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`
          : /can't find service/i.test(r.stdout + r.stderr)
            ? 'no such service'
            : 'no per-UID stats table in its output';
      tried.push(`${cmd}: ${why}`);
    } catch (e) {
      tried.push(`${cmd}: ${errText(e)}`);
    }
  }
  return { unavailable: `no per-UID traffic counters (${tried.join('; ')})`, rows: [], appUid: [] };
}

/** `package:<name> uid:<uid>[,<uid>…]` lines → the packages of each uid (shared uids: several). */
export function parsePackageUids(text: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^package:(\S+)\s+uid:([\d,]+)/.exec(line.trim());
    if (!m) continue;
    for (const u of (m[2] as string).split(',')) {
      if (!u) continue;
      const uid = Number(u);
      const list = out.get(uid) ?? [];
      if (!list.includes(m[1] as string)) list.push(m[1] as string);
      out.set(uid, list.sort());
    }
  }
  return out;
}

/** uid → packages, from `cmd package list packages -U` (or `pm list packages -U`). */
export async function packagesByUid(
  device: Device,
  opts: { timeoutMs?: number } = {},
): Promise<Map<number, string[]>> {
  const timeoutMs = opts.timeoutMs ?? READ_TIMEOUT_MS;
  let lastError = '';
  for (const argv of [
    ['cmd', 'package', 'list', 'packages', '-U'],
    ['pm', 'list', 'packages', '-U'],
  ]) {
    try {
      const r = await device.shell(argv, { timeoutMs });
      const map = parsePackageUids(r.stdout);
      if (map.size > 0) return map;
      lastError = `${argv.join(' ')}: ${r.stderr.trim() || r.stdout.trim().split('\n')[0] || `exit ${r.exitCode}`}`;
    } catch (e) {
      lastError = `${argv.join(' ')}: ${errText(e)}`;
    }
  }
  throw new Error(`cannot list the packages' uids (${lastError})`);
}

// ------------------------------------------------------------------------------------ rules

export type BypassRuleKind = 'lo' | 'dns' | 'reject' | 'count' | 'redirect' | 'dns6' | 'reject6';

export interface BypassRule {
  bin: 'iptables' | 'ip6tables';
  table: 'filter' | 'nat';
  chain: string;
  /** What follows `-A <chain>`. */
  args: string[];
  /** The comment: phonehome:<port>:<kind>:<uid>. */
  id: string;
  kind: BypassRuleKind;
  uid: number;
}

export interface BypassPlan {
  /** phonehome:<port>: the prefix of every comment of this wiring. */
  tag: string;
  chain: string;
  devicePort: number;
  mode: CaptureMode;
  uids: Array<{ uid: number; packages: string[] }>;
  rules: BypassRule[];
  /** Where the chain is hooked into OUTPUT (position 1). */
  hooks: Array<{ bin: 'iptables' | 'ip6tables'; table: 'filter' | 'nat' }>;
}

export const chainName = (devicePort: number): string => `phonehome_${devicePort}`;
export const bypassTag = (devicePort: number): string => `${BYPASS_TAG_PREFIX}${devicePort}`;

/** The rules for `uids` (see the file comment). */
export function planBypassRules(opts: {
  devicePort: number;
  mode: CaptureMode;
  uids: Array<{ uid: number; packages: string[] }>;
}): BypassPlan {
  const chain = chainName(opts.devicePort);
  const tag = bypassTag(opts.devicePort);
  const rules: BypassRule[] = [];
  const add = (
    bin: BypassRule['bin'],
    table: BypassRule['table'],
    kind: BypassRuleKind,
    uid: number,
    match: string[],
    target: string[],
  ): void => {
    const id = `${tag}:${kind}:${uid}`;
    rules.push({
      bin,
      table,
      chain,
      kind,
      uid,
      id,
      args: [
        ...match,
        '-m',
        'owner',
        '--uid-owner',
        String(uid),
        '-m',
        'comment',
        '--comment',
        id,
        ...target,
      ],
    });
  };
  for (const { uid } of opts.uids) {
    add(
      'iptables',
      'nat',
      'redirect',
      uid,
      ['-p', 'tcp', '!', '-o', 'lo'],
      ['-j', 'REDIRECT', '--to-ports', String(opts.devicePort)],
    );
    add('iptables', 'filter', 'lo', uid, ['-o', 'lo'], ['-j', 'ACCEPT']);
    add('iptables', 'filter', 'dns', uid, ['-p', 'udp', '--dport', '53'], ['-j', 'ACCEPT']);
    add(
      'iptables',
      'filter',
      opts.mode === 'block' ? 'reject' : 'count',
      uid,
      [],
      opts.mode === 'block' ? ['-j', 'REJECT'] : [],
    );
    add('ip6tables', 'filter', 'dns6', uid, ['-p', 'udp', '--dport', '53'], ['-j', 'ACCEPT']);
    add('ip6tables', 'filter', 'reject6', uid, ['!', '-o', 'lo'], ['-j', 'REJECT']);
  }
  return {
    tag,
    chain,
    devicePort: opts.devicePort,
    mode: opts.mode,
    uids: opts.uids,
    rules,
    hooks: [
      { bin: 'iptables', table: 'nat' },
      { bin: 'iptables', table: 'filter' },
      { bin: 'ip6tables', table: 'filter' },
    ],
  };
}

/** Binaries to call (tests against a host's iptables use iptables-legacy). */
export interface IptablesBins {
  iptables: string;
  ip6tables: string;
}
export const ANDROID_BINS: IptablesBins = { iptables: 'iptables', ip6tables: 'ip6tables' };

const SAFE = /^[A-Za-z0-9_@%+=:,./!-]+$/;
const q = (a: string): string => (SAFE.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

function base(bins: IptablesBins, bin: BypassRule['bin'], table: BypassRule['table']): string {
  return `${bins[bin]} -w 5${table === 'nat' ? ' -t nat' : ''}`;
}

export const ruleSpec = (r: BypassRule): string =>
  `${r.bin}${r.table === 'nat' ? ' -t nat' : ''} -A ${r.chain} ${r.args.map(q).join(' ')}`;

const jumpArgs = (plan: Pick<BypassPlan, 'tag' | 'chain'>): string =>
  `-m comment --comment ${plan.tag} -j ${plan.chain}`;

/**
 * One script: whatever an earlier wiring on this port left is removed first, then the chains are
 * made, filled and hooked in at position 1 of OUTPUT (`set -e`: the first failure stops it).
 */
export function installScript(plan: BypassPlan, bins: IptablesBins = ANDROID_BINS): string {
  const lines = [removalScript(plan, bins), 'set -e'];
  for (const h of plan.hooks) lines.push(`${base(bins, h.bin, h.table)} -N ${plan.chain}`);
  for (const r of plan.rules) {
    lines.push(`${base(bins, r.bin, r.table)} -A ${r.chain} ${r.args.map(q).join(' ')}`);
  }
  for (const h of plan.hooks) lines.push(`${base(bins, h.bin, h.table)} -I OUTPUT 1 ${jumpArgs(plan)}`);
  return lines.join('\n');
}

/**
 * Idempotent removal: the jump out of OUTPUT until none is left (duplicates happen), then the
 * chain flushed and deleted. Never fails by itself; verify with verifyRemoval().
 */
export function removalScript(
  plan: Pick<BypassPlan, 'tag' | 'chain' | 'hooks'>,
  bins: IptablesBins = ANDROID_BINS,
): string {
  const lines: string[] = [];
  for (const h of plan.hooks) {
    const b = base(bins, h.bin, h.table);
    lines.push(
      `n=0; while ${b} -D OUTPUT ${jumpArgs(plan)} 2>/dev/null; do n=$((n+1)); [ $n -lt 50 ] || break; done`,
    );
    lines.push(`${b} -F ${plan.chain} 2>/dev/null`);
    lines.push(`${b} -X ${plan.chain} 2>/dev/null`);
  }
  lines.push('true');
  return lines.join('\n');
}

/** Marks the sections of a combined listing (one shell call for every table). */
const SECTION = '#phonehome-section ';

/** A script printing `-S` of every table the rules use, each after a marker line. */
export function listRulesScript(bins: IptablesBins = ANDROID_BINS): string {
  return [
    `echo '${SECTION}iptables filter'; ${bins.iptables} -w 5 -S`,
    `echo '${SECTION}iptables nat'; ${bins.iptables} -w 5 -t nat -S`,
    `echo '${SECTION}ip6tables filter'; ${bins.ip6tables} -w 5 -S`,
    'true',
  ].join('\n');
}

/** A script listing the plan's chains with exact counters (`-L -v -n -x`), sections marked. */
export function countersScript(
  plan: Pick<BypassPlan, 'chain' | 'hooks'>,
  bins: IptablesBins = ANDROID_BINS,
): string {
  return [
    ...plan.hooks.map(
      (h) => `echo '${SECTION}${h.bin} ${h.table}'; ${base(bins, h.bin, h.table)} -L ${plan.chain} -v -n -x`,
    ),
    'true',
  ].join('\n');
}

/** Splits a marked output into sections: "iptables filter" → text. */
export function splitSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  let buf: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(SECTION)) {
      if (name !== undefined) out.set(name, buf.join('\n'));
      name = line.slice(SECTION.length).trim();
      buf = [];
    } else buf.push(line);
  }
  if (name !== undefined) out.set(name, buf.join('\n'));
  return out;
}

export interface ListedRule {
  packets: number;
  bytes: number;
  target: string;
  prot: string;
  opt: string;
  in?: string;
  out?: string;
  source: string;
  destination: string;
  /** Matches and target options as printed (e.g. `owner UID match 10123 /* c *\/`). */
  extra: string;
  /** The text of `/* … *\/`, if any. */
  comment?: string;
}

const PROTOS = /^!?(\d+|all|tcp|udp|icmp|ipv6-icmp|icmpv6|esp|ah|sctp|udplite|gre)$/;

/**
 * Parses `iptables -L [CHAIN] -v -n -x` (the verbose numeric listing): counters, target (which
 * may be empty: a count-only rule), prot, opt, in, out, source, destination and the rest. Header
 * and chain lines are skipped; the columns are found by the header's names when it has them.
 */
export function parseIptablesList(text: string): ListedRule[] {
  const out: ListedRule[] = [];
  let verbose = true;
  let numbered = false;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!line.trim() || line.startsWith('Chain ')) continue;
    const tokens = line.trim().split(/\s+/);
    if (tokens.includes('target') && tokens.includes('prot')) {
      verbose = tokens.includes('pkts');
      numbered = tokens[0] === 'num';
      continue;
    }
    let i = numbered ? 1 : 0;
    const packets = verbose ? Number(tokens[i++]) : 0;
    const bytes = verbose ? Number(tokens[i++]) : 0;
    let target = '';
    // An empty target column: the next token is already the protocol, followed by the opt field.
    if (!(PROTOS.test(tokens[i] ?? '') && /^[-!][-f]$/.test(tokens[i + 1] ?? ''))) target = tokens[i++] ?? '';
    const prot = tokens[i++] ?? '';
    const opt = tokens[i++] ?? '';
    const inIf = verbose ? tokens[i++] : undefined;
    const outIf = verbose ? tokens[i++] : undefined;
    const source = tokens[i++] ?? '';
    const destination = tokens[i++] ?? '';
    const extra = tokens.slice(i).join(' ');
    const c = /\/\* (.*?) \*\//.exec(extra);
    out.push({
      packets,
      bytes,
      target,
      prot,
      opt,
      ...(inIf !== undefined ? { in: inIf } : {}),
      ...(outIf !== undefined ? { out: outIf } : {}),
      source,
      destination,
      extra,
      ...(c ? { comment: c[1] } : {}),
    });
  }
  return out;
}

/** `-A`/`-N` lines of an `iptables -S` listing that belong to phonehome (by comment or chain name). */
export function phonehomeLines(listing: string): { rules: string[]; chains: string[] } {
  const rules: string[] = [];
  const chains: string[] = [];
  for (const line of listing.split('\n')) {
    const l = line.trim();
    if (/^-N phonehome_\S+$/.test(l)) chains.push(l.slice(3));
    else if (
      l.startsWith('-A ') &&
      (l.includes(`--comment "${BYPASS_TAG_PREFIX}`) ||
        l.includes(`--comment ${BYPASS_TAG_PREFIX}`) ||
        / -j phonehome_\S+$/.test(l))
    ) {
      rules.push(l);
    }
  }
  return { rules, chains };
}

/** The tag (phonehome:<port>) of a rule line or chain name. */
export function tagOf(lineOrChain: string): string | undefined {
  const m = /--comment "?phonehome:(\d+)/.exec(lineOrChain) ?? /^phonehome_(\d+)$/.exec(lineOrChain);
  return m ? `${BYPASS_TAG_PREFIX}${m[1]}` : undefined;
}

/**
 * A script removing phonehome rules and chains found in `-S` listings whose tag is not in `keep`
 * (leftovers of wirings whose process died without a journal entry). Only lines made of plain
 * words are replayed as `-D`.
 */
export function leftoverScript(
  listings: Map<string, string>,
  keep: ReadonlySet<string>,
  bins: IptablesBins = ANDROID_BINS,
): { script: string; found: string[] } {
  const lines: string[] = [];
  const found: string[] = [];
  for (const [section, text] of listings) {
    const [bin, table] = section.split(' ') as [BypassRule['bin'], BypassRule['table']];
    if (!bins[bin]) continue;
    const b = base(bins, bin, table);
    const { rules, chains } = phonehomeLines(text);
    for (const r of rules) {
      const tag = tagOf(r);
      if (!tag || keep.has(tag)) continue;
      if (!/^-A [\w:.+!/" -]+$/.test(r)) continue;
      const chain = r.split(' ')[1] as string;
      if (chains.includes(chain)) continue; // goes with its chain below
      lines.push(`${b} ${r.replace(/^-A /, '-D ')} 2>/dev/null`);
      found.push(`${section}: ${r}`);
    }
    for (const c of chains) {
      const tag = tagOf(c);
      if (!tag || keep.has(tag)) continue;
      lines.push(`${b} -F ${c} 2>/dev/null`, `${b} -X ${c} 2>/dev/null`);
      found.push(`${section}: chain ${c}`);
    }
  }
  lines.push('true');
  return { script: lines.join('\n'), found };
}

// ------------------------------------------------------------------------------------ monitor

/** Runs a script as root on the phone and returns its stdout (the wiring's root style). */
export type RootRunner = (script: string, what: string) => Promise<string>;

export interface MonitorOptions {
  device: Device;
  sdk: number;
  packages: string[];
  /** The installed rules (rooted phones), or null. */
  plan: BypassPlan | null;
  /** Why the rules are not there on a rooted phone (install failed), for the report. */
  rulesProblem?: string;
  root?: RootRunner;
  /** uid → packages as found at wiring time (refreshed at each compare). */
  uidPackages: Map<number, string[]>;
  timeoutMs?: number;
}

function counterKey(r: TrafficRow): string {
  return `${r.uid}/${r.iface}/${r.tag}/${r.set}`;
}

export function createBypassMonitor(o: MonitorOptions): BypassMonitor {
  const timeoutMs = o.timeoutMs ?? READ_TIMEOUT_MS;
  let uidPackages = o.uidPackages;

  const readIptables = async (): Promise<TrafficSnapshot['iptables']> => {
    if (!o.plan) return undefined;
    if (!o.root) return { rules: [], unavailable: 'no root to read the iptables counters' };
    try {
      const text = await o.root(countersScript(o.plan), 'reading the iptables counters');
      const sections = splitSections(text);
      const rules: IptablesCounter[] = [];
      const byId = new Map(o.plan.rules.map((r) => [r.id, r]));
      for (const [, body] of sections) {
        for (const l of parseIptablesList(body)) {
          const r = l.comment ? byId.get(l.comment) : undefined;
          if (!r) continue;
          rules.push({
            spec: ruleSpec(r),
            packets: l.packets,
            bytes: l.bytes,
            id: r.id,
            kind: r.kind,
            uid: r.uid,
          });
        }
      }
      const missing = o.plan.rules.filter((r) => !rules.some((x) => x.id === r.id));
      return {
        rules,
        ...(missing.length
          ? {
              unavailable: `${missing.length} of the ${o.plan.rules.length} iptables rules are gone (netd restarted, a reboot, or someone removed them)`,
            }
          : {}),
      };
    } catch (e) {
      return { rules: [], unavailable: errText(e) };
    }
  };

  const snapshot = async (): Promise<TrafficSnapshot> => {
    const at = Date.now();
    const [traffic, iptables, bootId] = await Promise.all([
      readTraffic(o.device, { sdk: o.sdk, timeoutMs }),
      readIptables(),
      o.device
        .shell(['cat', '/proc/sys/kernel/random/boot_id'], { timeoutMs })
        .then((r) => (r.exitCode === 0 ? r.stdout.trim() : undefined))
        .catch(() => undefined),
    ]);
    return {
      at,
      ...(traffic.source ? { source: traffic.source } : {}),
      ...(traffic.unavailable ? { unavailable: traffic.unavailable } : {}),
      rows: traffic.rows,
      ...(iptables ? { iptables } : {}),
      ...(bootId ? { bootId } : {}),
    };
  };

  const compare = async (before: TrafficSnapshot, after: TrafficSnapshot): Promise<BypassReport> => {
    const report = emptyBypassReport();
    try {
      uidPackages = await packagesByUid(o.device, { timeoutMs });
    } catch (e) {
      report.notes.push(`package names from the wiring's time (${errText(e)})`);
    }
    const pkgs = (uid: number): string[] => uidPackages.get(uid) ?? uidPackages.get(uid % 100000) ?? [];
    const rebooted =
      before.bootId !== undefined && after.bootId !== undefined && before.bootId !== after.bootId;
    if (rebooted) {
      report.unavailable.push(
        'the phone rebooted between the snapshots: its traffic counters and iptables rules started again from nothing, so traffic before the reboot is not known',
      );
    }
    const rulesCover =
      !!o.plan &&
      !!before.iptables &&
      !!after.iptables &&
      !before.iptables.unavailable &&
      !after.iptables.unavailable;

    // Per-UID accounting.
    const perUidOk =
      !before.unavailable && !after.unavailable && before.source !== undefined && after.source !== undefined;
    if (perUidOk) {
      report.checked.push(`per-UID accounting (${after.source})`);
      const old = new Map(before.rows.map((r) => [counterKey(r), r]));
      let wentBack = false;
      const leaks = new Map<number, BypassLeak>();
      const dns = new Map<number, BypassReport['dns'][number]>();
      for (const r of after.rows) {
        if (r.iface === 'lo' || !isAppUid(r.uid)) continue;
        const b = old.get(counterKey(r));
        let d = {
          tx: r.txBytes - (b?.txBytes ?? 0),
          rx: r.rxBytes - (b?.rxBytes ?? 0),
          txp: r.txPackets - (b?.txPackets ?? 0),
        };
        if (d.tx < 0 || d.rx < 0 || d.txp < 0) {
          wentBack = true;
          d = { tx: r.txBytes, rx: r.rxBytes, txp: r.txPackets };
        }
        if (d.tx === 0 && d.rx === 0) continue;
        if (r.tag === TAG_SYSTEM_DNS) {
          const e = dns.get(r.uid) ?? { uid: r.uid, packages: pkgs(r.uid), txBytes: 0, rxBytes: 0 };
          e.txBytes += d.tx;
          e.rxBytes += d.rx;
          dns.set(r.uid, e);
          continue;
        }
        const e = leaks.get(r.uid) ?? {
          uid: r.uid,
          packages: pkgs(r.uid),
          txBytes: 0,
          rxBytes: 0,
          txPackets: 0,
          ifaces: [],
          seenBy: `per-UID accounting (${after.source})`,
        };
        e.txBytes += d.tx;
        e.rxBytes += d.rx;
        e.txPackets += d.txp;
        if (!e.ifaces.includes(r.iface)) e.ifaces.push(r.iface);
        leaks.set(r.uid, e);
      }
      const afterKeys = new Set(after.rows.map(counterKey));
      if (before.rows.some((r) => r.iface !== 'lo' && isAppUid(r.uid) && !afterKeys.has(counterKey(r))))
        wentBack = true;
      if (wentBack && !rebooted) {
        report.unavailable.push(
          'the per-UID counters went back between the snapshots (NetworkStatsService polled and cleared a stats map, or the phone rebooted): traffic counted before that is not known, what was counted after is reported',
        );
      }
      report.leaks.push(...[...leaks.values()].sort((a, b) => a.uid - b.uid));
      report.dns.push(...[...dns.values()].sort((a, b) => a.uid - b.uid));
    } else {
      const why = after.unavailable ?? before.unavailable ?? 'not read';
      if (rulesCover)
        report.notes.push(
          `per-UID accounting not available (${why}); the iptables rules measured the covered packages`,
        );
      else report.unavailable.push(`per-UID accounting: ${why}`);
    }

    // iptables rules (rooted).
    if (o.plan) {
      const problem = after.iptables?.unavailable ?? before.iptables?.unavailable;
      if (!before.iptables || !after.iptables || problem) {
        const why = problem ?? 'not read';
        if (perUidOk) report.notes.push(`iptables counters: ${why}`);
        else report.unavailable.push(`iptables counters: ${why}`);
      } else {
        report.checked.push('iptables owner rules (rooted)');
        const old = new Map(before.iptables.rules.map((r) => [r.id, r]));
        const rejected = new Map<number, BypassReport['rejected'][number]>();
        const redirected = new Map<number, BypassReport['redirected'][number]>();
        let wentBack = false;
        for (const r of after.iptables.rules) {
          const b = old.get(r.id);
          let dp = r.packets - (b?.packets ?? 0);
          let db = r.bytes - (b?.bytes ?? 0);
          if (dp < 0 || db < 0) {
            wentBack = true;
            dp = r.packets;
            db = r.bytes;
          }
          if (dp === 0 || r.uid === undefined) continue;
          if (r.kind === 'reject' || r.kind === 'reject6') {
            const e = rejected.get(r.uid) ?? { uid: r.uid, packages: pkgs(r.uid), packets: 0, bytes: 0 };
            e.packets += dp;
            e.bytes += db;
            rejected.set(r.uid, e);
          } else if (r.kind === 'redirect') {
            const e = redirected.get(r.uid) ?? { uid: r.uid, packages: pkgs(r.uid), connections: 0 };
            e.connections += dp;
            redirected.set(r.uid, e);
          } else if (r.kind === 'count' && !perUidOk) {
            report.leaks.push({
              uid: r.uid,
              packages: pkgs(r.uid),
              txBytes: db,
              rxBytes: 0,
              txPackets: dp,
              ifaces: ['(not loopback)'],
              seenBy: 'iptables count-only rule',
            });
          }
        }
        if (wentBack && !rebooted)
          report.unavailable.push(
            'the iptables counters went back between the snapshots (zeroed or re-created)',
          );
        report.rejected.push(...[...rejected.values()].sort((a, b) => a.uid - b.uid));
        report.redirected.push(...[...redirected.values()].sort((a, b) => a.uid - b.uid));
      }
    } else if (o.rulesProblem) {
      report.notes.push(`no iptables rules: ${o.rulesProblem}`);
    }
    return report;
  };

  return { snapshot, compare, packages: o.packages };
}
