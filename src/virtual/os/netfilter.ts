/**
 * The phone kernel's netfilter (iptables legacy, IPv4 and IPv6): tables, chains, rules and their
 * packet/byte counters, and the walk a packet takes through them. Kernel state: every phone starts
 * from what netd sets up at boot and loses everything else at reboot (see netState in
 * kernel-net.ts).
 *
 * Boot state, as netd's Controllers::initChildChains creates it (system/netd server/Controllers.cpp,
 * LineageOS/android_system_netd; android-realities.md §4): filter INPUT → bw_INPUT, fw_INPUT;
 * FORWARD → oem_fwd, fw_FORWARD, bw_FORWARD, tetherctrl_FORWARD; OUTPUT → oem_out, fw_OUTPUT,
 * st_OUTPUT, bw_OUTPUT; raw PREROUTING → clat_raw_PREROUTING, bw_raw_PREROUTING,
 * idletimer_raw_PREROUTING, tetherctrl_raw_PREROUTING; mangle FORWARD → tetherctrl_mangle_FORWARD;
 * mangle INPUT → wakeupctrl_mangle_INPUT, routectrl_mangle_INPUT; mangle POSTROUTING →
 * oem_mangle_post, bw_mangle_POSTROUTING, idletimer_mangle_POSTROUTING; nat (IPv4 only)
 * PREROUTING → oem_nat_pre, POSTROUTING → tetherctrl_nat_POSTROUTING. The child chains are empty
 * here: what the controllers put in them (xt_bpf, quota2, owner rules) is not modelled, so the
 * jumps only count. No IPv6 nat table on Android 11+ kernels (`# CONFIG_IP6_NF_NAT is not set`,
 * kernel/configs r/; facts §4); kept on Android 10.
 *
 * What a rule can say is the subset the harness and Android tools use: -s/-d ADDR[/mask], -i/-o
 * IFACE[+], -p PROTO, each invertible with `!`; matches tcp/udp (--sport/--dport, ranges),
 * owner (--uid-owner/--gid-owner N or N-M or a name, --socket-exists), comment; targets ACCEPT,
 * DROP, RETURN, a user chain, REJECT, LOG, REDIRECT, or none (count only). The kernel's checks that
 * the CLI shows as "Invalid argument" are modelled: REJECT only in filter (INPUT/FORWARD/OUTPUT
 * hooks), REDIRECT only in nat (PREROUTING/OUTPUT), owner only in OUTPUT/POSTROUTING, tcp-reset and
 * the tcp/udp match only with that protocol, uid ranges min ≤ max, loops among reachable chains.
 *
 * Text formats (`-S`, `-L [-v] [-n] [-x] [--line-numbers]`, iptables-save) follow Debian's
 * iptables v1.8.9 (legacy) byte for byte: compared against the real binary in a network namespace
 * (test/unit/virtual/commands/iptables-diff.test.ts holds the recorded outputs). Android builds the same
 * legacy sources (aosp-mirror/platform_external_iptables iptables/Android.bp: xtables-legacy-multi
 * + iptables-standalone, so also "(legacy)"); which 1.8.x each Android release ships is not
 * verified, and releases before 1.8.8 print protocol names instead of numbers under -n (inference
 * from the upstream change log): harness parsers must accept both.
 */
import { isIP } from 'node:net';

export type Family = 4 | 6;
export type TableName = 'filter' | 'nat' | 'mangle' | 'raw';
export type Hook = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/** The iptables version the text formats follow (see the file comment). */
export const IPTABLES_VERSION = '1.8.9';

export const HOOKS_OF: Record<TableName, Hook[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

// ------------------------------------------------------------------------------------ addresses

/** An address with its mask, as the kernel keeps it (the address already masked). */
export interface Addr {
  family: Family;
  addr: bigint;
  mask: bigint;
  invert: boolean;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };
const allOnes = (f: Family): bigint => (1n << BigInt(BITS[f])) - 1n;

export function parseIp(text: string, family: Family): bigint | undefined {
  if (family === 4) {
    if (isIP(text) !== 4) return undefined;
    return text.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
  }
  if (isIP(text) !== 6) return undefined;
  let t = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const n = parseIp(v4[1] as string, 4) as bigint;
    t = `${t.slice(0, -(v4[1] as string).length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

export function formatIp(n: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String(Number((n >> s) & 0xffn))).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // The WHATWG URL parser serialises IPv6 the RFC 5952 way (longest zero run compressed), as
  // inet_ntop does.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function prefixOf(mask: bigint, family: Family): number | undefined {
  const bits = BITS[family];
  for (let p = 0; p <= bits; p++) {
    const m = p === 0 ? 0n : (allOnes(family) << BigInt(bits - p)) & allOnes(family);
    if (m === mask) return p;
  }
  return undefined;
}

export function prefixMask(p: number, family: Family): bigint {
  return p === 0 ? 0n : (allOnes(family) << BigInt(BITS[family] - p)) & allOnes(family);
}

/** `/N`, or the dotted mask when it is not a prefix (xtables_ipmask_to_numeric); '' for a host. */
function maskText(mask: bigint, family: Family, hostEmpty: boolean): string {
  if (hostEmpty && mask === allOnes(family)) return '';
  const p = prefixOf(mask, family);
  if (p !== undefined) return `/${p}`;
  return `/${formatIp(mask, family)}`;
}

export function addrMatches(a: Addr | undefined, ip: bigint): boolean {
  if (!a) return true;
  return ((ip & a.mask) === a.addr) !== a.invert;
}

// ------------------------------------------------------------------------------------ protocols

const PROTO_NAMES: Record<number, string> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  50: 'esp',
  51: 'ah',
  58: 'ipv6-icmp',
  132: 'sctp',
  136: 'udplite',
};
const PROTO_BY_NAME: Record<string, number> = {
  all: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  'ipv6-icmp': 58,
  sctp: 132,
  udplite: 136,
};

export function parseProto(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (/^\d+$/.test(lower)) {
    const n = Number(lower);
    return n <= 255 ? n : undefined;
  }
  return PROTO_BY_NAME[lower];
}

/** Service names bionic and Debian both know, for `-L` without -n (the ports the lab uses). */
const SERVICES: Record<number, string> = {
  20: 'ftp-data',
  21: 'ftp',
  22: 'ssh',
  23: 'telnet',
  25: 'smtp',
  53: 'domain',
  80: 'http',
  110: 'pop3',
  123: 'ntp',
  143: 'imap2',
  443: 'https',
  853: 'domain-s',
  993: 'imaps',
  995: 'pop3s',
  2000: 'cisco-sccp',
  5228: 'hpvroom',
  8080: 'http-alt',
};

// ------------------------------------------------------------------------------------ rules

export interface PortRange {
  min: number;
  max: number;
  invert: boolean;
}

export interface IdRange {
  min: number;
  max: number;
  invert: boolean;
}

export type Match =
  | { kind: 'tcp' | 'udp'; sport?: PortRange; dport?: PortRange }
  | { kind: 'owner'; uid?: IdRange; gid?: IdRange; socketExists?: { invert: boolean } }
  | { kind: 'comment'; text: string };

export type Target =
  | { kind: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { kind: 'jump'; chain: string }
  | { kind: 'REJECT'; with: string }
  | { kind: 'LOG'; prefix: string; level: number; flags: number }
  | { kind: 'REDIRECT'; ports?: { min: number; max: number }; random: boolean };

export interface Counters {
  packets: number;
  bytes: number;
}

export interface Iface {
  name: string;
  invert: boolean;
}

export interface Rule {
  src?: Addr;
  dst?: Addr;
  inIface?: Iface;
  outIface?: Iface;
  proto?: { num: number; invert: boolean };
  matches: Match[];
  target: Target | null;
  counters: Counters;
}

export interface Chain {
  name: string;
  builtin: boolean;
  /** Built-in chains only. */
  policy?: 'ACCEPT' | 'DROP';
  policyCounters: Counters;
  rules: Rule[];
}

export interface Table {
  name: TableName;
  family: Family;
  chains: Map<string, Chain>;
}

export const LOG_FLAGS = {
  TCPSEQ: 0x01,
  TCPOPT: 0x02,
  IPOPT: 0x04,
  UID: 0x08,
  MACDECODE: 0x20,
} as const;

export const REJECT_TYPES: Record<Family, Array<[string, string]>> = {
  4: [
    ['icmp-net-unreachable', 'net-unreach'],
    ['icmp-host-unreachable', 'host-unreach'],
    ['icmp-proto-unreachable', 'proto-unreach'],
    ['icmp-port-unreachable', 'port-unreach'],
    ['icmp-net-prohibited', 'net-prohib'],
    ['icmp-host-prohibited', 'host-prohib'],
    ['tcp-reset', 'tcp-rst'],
    ['icmp-admin-prohibited', 'admin-prohib'],
  ],
  6: [
    ['icmp6-no-route', 'no-route'],
    ['icmp6-adm-prohibited', 'adm-prohibited'],
    ['icmp6-addr-unreachable', 'addr-unreach'],
    ['icmp6-port-unreachable', 'port-unreach'],
    ['tcp-reset', 'tcp-rst'],
    ['icmp6-policy-fail', 'policy-fail'],
    ['icmp6-reject-route', 'reject-route'],
  ],
};

export const defaultRejectWith = (family: Family): string =>
  family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';

const LEVEL_PRINT = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'];

export function targetName(t: Target | null): string {
  if (!t) return '';
  return t.kind === 'jump' ? t.chain : t.kind;
}

// ------------------------------------------------------------------------------------ text

/**
 * xtables_save_string: the value as is when made only of [A-Za-z0-9_-], else in double quotes
 * with `"`, `\` and `'` escaped.
 */
export function saveString(v: string): string {
  if (v.length > 0 && /^[A-Za-z0-9_-]+$/.test(v)) return v;
  return `"${v.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

function saveAddr(flag: string, a: Addr | undefined): string {
  if (!a) return '';
  return `${a.invert ? ' !' : ''} ${flag} ${formatIp(a.addr, a.family)}${maskText(a.mask, a.family, false)}`;
}

function saveIface(flag: string, i: Iface | undefined): string {
  if (!i) return '';
  return `${i.invert ? ' !' : ''} ${flag} ${i.name}`;
}

function savePorts(flag: string, r: PortRange | undefined): string {
  if (!r) return '';
  const v = r.min === r.max ? `${r.min}` : `${r.min}:${r.max}`;
  return `${r.invert ? ' !' : ''} ${flag} ${v}`;
}

function saveIds(flag: string, r: IdRange | undefined): string {
  if (!r) return '';
  const v = r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`;
  return `${r.invert ? ' !' : ''} ${flag} ${v}`;
}

function saveMatch(m: Match): string {
  switch (m.kind) {
    case 'tcp':
    case 'udp':
      return ` -m ${m.kind}${savePorts('--sport', m.sport)}${savePorts('--dport', m.dport)}`;
    case 'owner':
      return (
        ' -m owner' +
        (m.socketExists ? `${m.socketExists.invert ? ' !' : ''} --socket-exists` : '') +
        saveIds('--uid-owner', m.uid) +
        saveIds('--gid-owner', m.gid)
      );
    case 'comment':
      return ` -m comment --comment ${saveString(m.text)}`;
  }
}

function saveTarget(t: Target): string {
  switch (t.kind) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
      return ` -j ${t.kind}`;
    case 'jump':
      return ` -j ${t.chain}`;
    case 'REJECT':
      return ` -j REJECT --reject-with ${t.with}`;
    case 'LOG': {
      let s = ' -j LOG';
      if (t.prefix) s += ` --log-prefix ${saveString(t.prefix)}`;
      if (t.level !== 4) s += ` --log-level ${t.level}`;
      if (t.flags & LOG_FLAGS.TCPSEQ) s += ' --log-tcp-sequence';
      if (t.flags & LOG_FLAGS.TCPOPT) s += ' --log-tcp-options';
      if (t.flags & LOG_FLAGS.IPOPT) s += ' --log-ip-options';
      if (t.flags & LOG_FLAGS.UID) s += ' --log-uid';
      if (t.flags & LOG_FLAGS.MACDECODE) s += ' --log-macdecode';
      return s;
    }
    case 'REDIRECT': {
      let s = ' -j REDIRECT';
      if (t.ports)
        s += ` --to-ports ${t.ports.min === t.ports.max ? t.ports.min : `${t.ports.min}-${t.ports.max}`}`;
      if (t.random) s += ' --random';
      return s;
    }
  }
}

/**
 * A rule as `iptables -S` prints it after `-A CHAIN` (print_rule4 in iptables.c): addresses,
 * interfaces, protocol, matches in the order they were loaded, counters with -v, then the target.
 */
export function saveRule(r: Rule, opts: { counters?: boolean } = {}): string {
  let s = saveAddr('-s', r.src) + saveAddr('-d', r.dst);
  s += saveIface('-i', r.inIface) + saveIface('-o', r.outIface);
  if (r.proto && r.proto.num !== 0) {
    const name = PROTO_NAMES[r.proto.num];
    s += `${r.proto.invert ? ' !' : ''} -p ${name ?? r.proto.num}`;
  }
  for (const m of r.matches) s += saveMatch(m);
  if (opts.counters) s += ` -c ${r.counters.packets} ${r.counters.bytes}`;
  if (r.target) s += saveTarget(r.target);
  return s;
}

/** The identity of a rule for -C/-D: everything the kernel compares (counters aside). */
export const ruleKey = (r: Rule): string => saveRule(r);

export interface ListFormat {
  numeric: boolean;
  verbose: boolean;
  exact: boolean;
  lineNumbers: boolean;
}

/** xtables_print_num: `%8llu ` with -x, else the 5-column K/M/G/T form; `notable` drops the padding. */
export function formatNum(n: number, fmt: { exact: boolean }, notable = false): string {
  if (fmt.exact) return notable ? `${n} ` : `${String(n).padStart(8)} `;
  if (n <= 99999) return notable ? `${n} ` : `${String(n).padStart(5)} `;
  let v = Math.floor((n + 500) / 1000);
  for (const unit of ['K', 'M', 'G']) {
    if (v <= 9999) return notable ? `${v}${unit} ` : `${String(v).padStart(4)}${unit} `;
    v = Math.floor((v + 500) / 1000);
  }
  return notable ? `${v}T ` : `${String(v).padStart(4)}T `;
}

/** The two lines `iptables -L` prints before a chain's rules (print_header). */
export function listHeader(chain: Chain, refs: number, fmt: ListFormat): string {
  let s = `Chain ${chain.name}`;
  if (chain.builtin) {
    s += ` (policy ${chain.policy ?? 'ACCEPT'}`;
    if (fmt.verbose) {
      s += ` ${formatNum(chain.policyCounters.packets, fmt, true)}packets, `;
      s += `${formatNum(chain.policyCounters.bytes, fmt, true)}bytes`;
    }
    s += ')\n';
  } else s += ` (${refs} references)\n`;
  if (fmt.lineNumbers) s += 'num  ';
  if (fmt.verbose) s += fmt.exact ? '    pkts      bytes ' : ' pkts bytes ';
  s += 'target    ';
  s += ' prot ';
  s += 'opt';
  if (fmt.verbose) s += ' in     out    ';
  s += ' source              ';
  s += ' destination         ';
  return `${s}\n`;
}

/** print_ipv4_addresses: `anywhere` for a zero mask unless -n, else the address and its mask. */
function listAddr(a: Addr | undefined, family: Family, numeric: boolean, hosts: HostNames): string {
  const { addr, mask, invert } = a ?? { addr: 0n, mask: 0n, invert: false };
  let text: string;
  if (mask === 0n && !numeric) text = 'anywhere';
  else {
    const ip = formatIp(addr, family);
    text = (numeric ? ip : (hosts.host(ip) ?? ip)) + maskText(mask, family, true);
  }
  return `${invert ? '!' : ' '}${text.padEnd(19)} `;
}

function listPorts(label: string, r: PortRange | undefined, numeric: boolean): string {
  if (!r) return '';
  const inv = r.invert ? '!' : '';
  const p = (n: number): string => (numeric ? String(n) : (SERVICES[n] ?? String(n)));
  if (r.min === r.max) return ` ${label}:${inv}${p(r.min)}`;
  return ` ${label}s:${inv}${p(r.min)}:${p(r.max)}`;
}

function listIds(label: string, r: IdRange | undefined, numeric: boolean, names: HostNames): string {
  if (!r) return '';
  const name = (n: number): string => (numeric ? String(n) : names.user(n));
  const v = r.min === r.max ? name(r.min) : `${r.min}-${r.max}`;
  return `${r.invert ? ' !' : ''} owner ${label} match ${v}`;
}

function listMatch(m: Match, numeric: boolean, names: HostNames): string {
  switch (m.kind) {
    case 'tcp':
    case 'udp':
      return ` ${m.kind}${listPorts('spt', m.sport, numeric)}${listPorts('dpt', m.dport, numeric)}`;
    case 'owner':
      return (
        (m.socketExists ? `${m.socketExists.invert ? ' !' : ''} owner socket exists` : '') +
        listIds('UID', m.uid, numeric, names) +
        listIds('GID', m.gid, numeric, names)
      );
    case 'comment':
      return ` /* ${m.text} */`;
  }
}

function listTarget(t: Target, numeric: boolean): string {
  switch (t.kind) {
    case 'REJECT':
      return ` reject-with ${t.with}`;
    case 'LOG': {
      let s = ' LOG';
      if (numeric) s += ` flags ${t.flags} level ${t.level}`;
      else {
        s += ` level ${LEVEL_PRINT[t.level] ?? t.level}`;
        if (t.flags & LOG_FLAGS.TCPSEQ) s += ' tcp-sequence';
        if (t.flags & LOG_FLAGS.TCPOPT) s += ' tcp-options';
        if (t.flags & LOG_FLAGS.IPOPT) s += ' ip-options';
        if (t.flags & LOG_FLAGS.UID) s += ' uid';
        if (t.flags & LOG_FLAGS.MACDECODE) s += ' macdecode';
      }
      if (t.prefix) s += ` prefix "${t.prefix}"`;
      return s;
    }
    case 'REDIRECT': {
      let s = '';
      if (t.ports)
        s += ` redir ports ${t.ports.min === t.ports.max ? t.ports.min : `${t.ports.min}-${t.ports.max}`}`;
      if (t.random) s += ' random';
      return s;
    }
    default:
      return '';
  }
}

/** How `-L` without -n names uids (getpwuid) and addresses (the hosts file). */
export interface HostNames {
  user(uid: number): string;
  host(ip: string): string | undefined;
}

/** One rule as `iptables -L` prints it (print_firewall). */
export function listRule(r: Rule, num: number, family: Family, fmt: ListFormat, hosts: HostNames): string {
  let s = '';
  if (fmt.lineNumbers) s += `${String(num).padEnd(4)} `;
  if (fmt.verbose) s += formatNum(r.counters.packets, fmt) + formatNum(r.counters.bytes, fmt);
  s += `${targetName(r.target).padEnd(9)} `;
  s += r.proto?.invert ? '!' : ' ';
  const pnum = r.proto?.num ?? 0;
  const pname = fmt.numeric ? String(pnum) : pnum === 0 ? 'all' : (PROTO_NAMES[pnum] ?? String(pnum));
  s += pname.padEnd(5);
  s += '-- ';
  if (fmt.verbose) {
    const any = fmt.numeric ? '*' : 'any';
    const i = r.inIface ? `${r.inIface.invert ? '!' : ''}${r.inIface.name}` : any;
    const o = r.outIface ? `${r.outIface.invert ? '!' : ''}${r.outIface.name}` : any;
    s += ` ${i.padEnd(6)} ${o.padEnd(6)} `;
  }
  s += listAddr(r.src, family, fmt.numeric, hosts);
  s += listAddr(r.dst, family, fmt.numeric, hosts);
  for (const m of r.matches) s += listMatch(m, fmt.numeric, hosts);
  if (r.target) s += listTarget(r.target, fmt.numeric);
  return `${s}\n`;
}

// ------------------------------------------------------------------------------------ tables

/** Parents and the child chains netd hooks into them, in order (see the file comment). */
const NETD_CHAINS: Array<{ table: TableName; parent: string; children: string[]; v6: boolean }> = [
  { table: 'filter', parent: 'INPUT', children: ['bw_INPUT', 'fw_INPUT'], v6: true },
  {
    table: 'filter',
    parent: 'FORWARD',
    children: ['oem_fwd', 'fw_FORWARD', 'bw_FORWARD', 'tetherctrl_FORWARD'],
    v6: true,
  },
  {
    table: 'filter',
    parent: 'OUTPUT',
    children: ['oem_out', 'fw_OUTPUT', 'st_OUTPUT', 'bw_OUTPUT'],
    v6: true,
  },
  {
    table: 'raw',
    parent: 'PREROUTING',
    children: [
      'clat_raw_PREROUTING',
      'bw_raw_PREROUTING',
      'idletimer_raw_PREROUTING',
      'tetherctrl_raw_PREROUTING',
    ],
    v6: true,
  },
  { table: 'mangle', parent: 'FORWARD', children: ['tetherctrl_mangle_FORWARD'], v6: true },
  {
    table: 'mangle',
    parent: 'INPUT',
    children: ['wakeupctrl_mangle_INPUT', 'routectrl_mangle_INPUT'],
    v6: true,
  },
  {
    table: 'mangle',
    parent: 'POSTROUTING',
    children: ['oem_mangle_post', 'bw_mangle_POSTROUTING', 'idletimer_mangle_POSTROUTING'],
    v6: true,
  },
  { table: 'nat', parent: 'PREROUTING', children: ['oem_nat_pre'], v6: false },
  { table: 'nat', parent: 'POSTROUTING', children: ['tetherctrl_nat_POSTROUTING'], v6: false },
];

const zero = (): Counters => ({ packets: 0, bytes: 0 });

function newTable(name: TableName, family: Family): Table {
  const chains = new Map<string, Chain>();
  for (const hook of HOOKS_OF[name]) {
    chains.set(hook, { name: hook, builtin: true, policy: 'ACCEPT', policyCounters: zero(), rules: [] });
  }
  return { name, family, chains };
}

export const jumpRule = (chain: string): Rule => ({
  matches: [],
  target: { kind: 'jump', chain },
  counters: zero(),
});

/** Why a table change was refused, as libiptc reports it (exit status 1). */
export class NetfilterError extends Error {
  constructor(
    message: string,
    /** EINVAL-style errors get "Run `dmesg' for more information." appended by iptables. */
    readonly dmesg = false,
  ) {
    super(message);
    this.name = 'NetfilterError';
  }
}

export const ERR = {
  noChain: () => new NetfilterError('No chain/target/match by that name.'),
  badRule: () => new NetfilterError('Bad rule (does a matching rule exist in that chain?).'),
  exists: () => new NetfilterError('Chain already exists.'),
  links: () => new NetfilterError('Too many links.'),
  notEmpty: () => new NetfilterError('Directory not empty.'),
  invalid: () => new NetfilterError('Invalid argument.', true),
  loop: () => new NetfilterError('Too many levels of symbolic links.'),
};

export interface TableSet {
  family: Family;
  tables: Map<TableName, Table>;
}

/** The iptables state of one phone, both families; `ipv6Nat` says whether the kernel has it. */
export class Netfilter {
  readonly v4: TableSet;
  readonly v6: TableSet;

  /** `bare`: the built-in chains only, as a new network namespace has them (tests). */
  constructor(opts: { ipv6Nat: boolean; bare?: boolean }) {
    this.v4 = Netfilter.boot(4, true, opts.bare ?? false);
    this.v6 = Netfilter.boot(6, opts.ipv6Nat, opts.bare ?? false);
  }

  private static boot(family: Family, withNat: boolean, bare: boolean): TableSet {
    const tables = new Map<TableName, Table>();
    for (const name of ['filter', 'nat', 'mangle', 'raw'] as TableName[]) {
      if (name === 'nat' && !withNat) continue;
      tables.set(name, newTable(name, family));
    }
    for (const n of bare ? [] : NETD_CHAINS) {
      if (family === 6 && !n.v6) continue;
      const t = tables.get(n.table);
      if (!t) continue;
      for (const c of n.children) {
        t.chains.set(c, { name: c, builtin: false, policyCounters: zero(), rules: [] });
        t.chains.get(n.parent)?.rules.push(jumpRule(c));
      }
    }
    return { family, tables };
  }

  set(family: Family): TableSet {
    return family === 4 ? this.v4 : this.v6;
  }
}

/** Built-in chains first (in hook order), then user chains sorted by name, as libiptc lists them. */
export function orderedChains(t: Table): Chain[] {
  const builtins = HOOKS_OF[t.name].map((h) => t.chains.get(h) as Chain);
  const user = [...t.chains.values()].filter((c) => !c.builtin);
  user.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return [...builtins, ...user];
}

export function references(t: Table, chain: string): number {
  let n = 0;
  for (const c of t.chains.values()) {
    for (const r of c.rules) if (r.target?.kind === 'jump' && r.target.chain === chain) n++;
  }
  return n;
}

/**
 * What the kernel checks when a table is replaced (translate_table → mark_source_chains and the
 * per-extension checkentry): throws NetfilterError('Invalid argument') or the loop error.
 */
export function validateTable(t: Table): void {
  // Hooks reaching each chain, and loop detection among reachable chains.
  const hooks = new Map<string, Set<Hook>>();
  for (const c of t.chains.values()) hooks.set(c.name, new Set());
  const visit = (name: string, hook: Hook, stack: string[]): void => {
    if (stack.includes(name)) throw ERR.loop();
    const set = hooks.get(name);
    const chain = t.chains.get(name);
    if (!set || !chain) return;
    set.add(hook);
    for (const r of chain.rules) {
      if (r.target?.kind === 'jump') visit(r.target.chain, hook, [...stack, name]);
    }
  };
  for (const hook of HOOKS_OF[t.name]) visit(hook, hook, []);
  for (const c of t.chains.values()) {
    const reach = hooks.get(c.name) as Set<Hook>;
    for (const r of c.rules) checkRule(t, r, reach);
  }
}

function checkRule(t: Table, r: Rule, reach: Set<Hook>): void {
  const proto = r.proto && !r.proto.invert ? r.proto.num : 0;
  for (const m of r.matches) {
    if ((m.kind === 'tcp' && proto !== 6) || (m.kind === 'udp' && proto !== 17)) throw ERR.invalid();
    if (m.kind === 'owner') {
      for (const h of reach) if (h !== 'OUTPUT' && h !== 'POSTROUTING') throw ERR.invalid();
      for (const range of [m.uid, m.gid]) if (range && range.min > range.max) throw ERR.invalid();
    }
  }
  const tg = r.target;
  if (!tg) return;
  if (tg.kind === 'REJECT') {
    if (t.name !== 'filter') throw ERR.invalid();
    if (tg.with === 'tcp-reset' && proto !== 6) throw ERR.invalid();
  }
  if (tg.kind === 'REDIRECT') {
    if (t.name !== 'nat') throw ERR.invalid();
    for (const h of reach) if (h !== 'PREROUTING' && h !== 'OUTPUT') throw ERR.invalid();
  }
}

// ------------------------------------------------------------------------------------ packets

/** A packet as the hooks see it: the fields the supported matches read. */
export interface Packet {
  family: Family;
  proto: number;
  src: bigint;
  dst: bigint;
  sport: number;
  dport: number;
  /** Output interface (OUTPUT/POSTROUTING), input interface (PREROUTING/INPUT). */
  oif?: string;
  iif?: string;
  /** The owning socket's uid/gid (locally generated packets), undefined for received ones. */
  uid?: number;
  gid?: number;
}

export type Verdict =
  | { kind: 'ACCEPT' }
  | { kind: 'DROP' }
  | { kind: 'REJECT'; with: string; rule: Rule }
  | { kind: 'REDIRECT'; port?: number; rule: Rule };

/** What one walk through a table's hook did: the verdict and every counter the packet touched. */
export interface Walk {
  verdict: Verdict;
  counters: Counters[];
}

function ifaceMatches(i: Iface | undefined, name: string | undefined): boolean {
  if (!i) return true;
  const n = name ?? '';
  const hit = i.name.endsWith('+') ? n.startsWith(i.name.slice(0, -1)) : n === i.name;
  return hit !== i.invert;
}

function inRange(
  r: { min: number; max: number; invert: boolean } | undefined,
  v: number | undefined,
): boolean {
  if (!r) return true;
  if (v === undefined) return false;
  return (v >= r.min && v <= r.max) !== r.invert;
}

function ruleMatches(r: Rule, p: Packet): boolean {
  if (!addrMatches(r.src, p.src) || !addrMatches(r.dst, p.dst)) return false;
  if (!ifaceMatches(r.inIface, p.iif) || !ifaceMatches(r.outIface, p.oif)) return false;
  if (r.proto && r.proto.num !== 0 && (p.proto === r.proto.num) === r.proto.invert) return false;
  for (const m of r.matches) {
    if (m.kind === 'tcp' || m.kind === 'udp') {
      if (!inRange(m.sport, p.sport) || !inRange(m.dport, p.dport)) return false;
    } else if (m.kind === 'owner') {
      // No socket (a received or kernel-made packet): the owner match fails, inverted or not.
      if (p.uid === undefined) return false;
      if (!inRange(m.uid, p.uid) || !inRange(m.gid, p.gid ?? p.uid)) return false;
      if (m.socketExists?.invert) return false;
    }
  }
  return true;
}

/**
 * Walks `pkt` through the built-in chain `hook` of `t` as ipt_do_table does: rules in order, user
 * chains entered and left (RETURN or their end), the policy at the end of the built-in chain.
 * Counters are not changed here: the caller adds the walk's `counters` once per packet.
 */
export function walk(t: Table, hook: Hook, pkt: Packet): Walk {
  const touched: Counters[] = [];
  const stack: Array<{ chain: Chain; next: number }> = [];
  const builtin = t.chains.get(hook);
  if (!builtin) return { verdict: { kind: 'ACCEPT' }, counters: touched };
  let chain = builtin;
  let i = 0;
  // Leaving a chain (its end, or RETURN): back to the rule after the jump, or, out of the built-in
  // chain, its policy (the walk's result).
  const leave = (): Walk | undefined => {
    const back = stack.pop();
    if (!back) {
      touched.push(chain.policyCounters);
      return { verdict: { kind: chain.policy ?? 'ACCEPT' }, counters: touched };
    }
    chain = back.chain;
    i = back.next;
    return undefined;
  };
  for (let steps = 0; steps < 100_000; steps++) {
    if (i >= chain.rules.length) {
      const done = leave();
      if (done) return done;
      continue;
    }
    const r = chain.rules[i] as Rule;
    i++;
    if (!ruleMatches(r, pkt)) continue;
    touched.push(r.counters);
    const tg = r.target;
    if (!tg || tg.kind === 'LOG') continue;
    switch (tg.kind) {
      case 'ACCEPT':
      case 'DROP':
        return { verdict: { kind: tg.kind }, counters: touched };
      case 'REJECT':
        return { verdict: { kind: 'REJECT', with: tg.with, rule: r }, counters: touched };
      case 'REDIRECT':
        return {
          verdict: { kind: 'REDIRECT', ...(tg.ports ? { port: tg.ports.min } : {}), rule: r },
          counters: touched,
        };
      case 'RETURN': {
        const done = leave();
        if (done) return done;
        break;
      }
      case 'jump': {
        const next = t.chains.get(tg.chain);
        if (!next) continue;
        stack.push({ chain, next: i });
        chain = next;
        i = 0;
        break;
      }
    }
  }
  return { verdict: { kind: 'ACCEPT' }, counters: touched };
}

export function addCounters(counters: readonly Counters[], packets: number, bytes: number): void {
  for (const c of counters) {
    c.packets += packets;
    c.bytes += bytes;
  }
}
