/**
 * `iptables`, `ip6tables` (/system/bin) and `iptables-save`, `ip6tables-save` on the virtual phone,
 * over the kernel model in netfilter.ts. Parsing, messages and exit statuses follow Debian's
 * iptables v1.8.9 (legacy) (xshared.c do_parse / iptables.c do_command4 behaviour, compared
 * against the real binary in a network namespace: test/unit/virtual/commands/iptables-diff.test.ts):
 *
 * - exit 2, `iptables v1.8.9 (legacy): <problem>` + "Try `iptables -h' …" for a bad command line;
 *   exit 1, `iptables: <libiptc message>` for a refused change ("Bad rule (does a matching rule
 *   exist in that chain?).", "Index of insertion too big.", "Invalid argument. Run `dmesg' for
 *   more information." …); exit 3 when the table cannot be opened: without CAP_NET_ADMIN (any uid
 *   but 0 here) "can't initialize iptables table `filter': Permission denied (you must be root)" +
 *   "Perhaps iptables or your kernel needs to be upgraded." (Debian's iptables-legacy run as an
 *   unprivileged user with a readable lock file, as Android's /system/etc/xtables.lock is), and
 *   for a table the kernel lacks (`ip6tables -t nat` on Android 11+) "Table does not exist (do you
 *   need to insmod?)".
 * - Every invocation is one table replace: on any error nothing changes.
 * - `-w [secs]` / `-W usecs` are accepted (the model has no lock contention).
 *
 * Not modelled (real iptables accepts them, this one reports them as unknown): other matches and
 * targets (MARK, NFLOG, bpf, quota2 …), `-g`, `-f`, several addresses in one -s/-d, option
 * abbreviations, `-v` echo of added rules, the full `-h` text, iptables-restore.
 */
import type { VirtualPhone } from '../phone.ts';
import type { CommandContext } from './types.ts';
import { idName, parseId, strftime } from '../shell/cu-common.ts';
import { netState } from '../os/kernel-net.ts';
import {
  ERR,
  IPTABLES_VERSION,
  LOG_FLAGS,
  listHeader,
  listRule,
  NetfilterError,
  orderedChains,
  parseIp,
  parseProto,
  prefixMask,
  references,
  REJECT_TYPES,
  ruleKey,
  saveRule,
  validateTable,
  defaultRejectWith,
  type Addr,
  type Chain,
  type Family,
  type ListFormat,
  type Match,
  type Rule,
  type Table,
  type TableName,
  type TableSet,
  type Target,
} from '../os/netfilter.ts';

class ParamError extends Error {
  constructor(
    message: string,
    /** Messages from the extension option parser end in a newline of their own. */
    readonly blank = false,
    /** "Bad argument" is printed without the program prefix. */
    readonly bare = false,
  ) {
    super(message);
  }
}

class InitError extends Error {}

type Cmd = 'A' | 'C' | 'D' | 'I' | 'R' | 'L' | 'S' | 'F' | 'Z' | 'N' | 'X' | 'E' | 'P' | 'V' | 'h';

/** Option flags as generic_opt_check indexes them, and the table of what each command allows. */
const OPT_FLAGS = ['n', 's', 'd', 'p', 'j', 'v', 'x', 'i', 'o', '0', 'c', 'f'] as const;
type OptFlag = (typeof OPT_FLAGS)[number];
const X = 'x';
const CMD_OPTIONS: Record<string, string> = {
  // -n -s -d -p -j -v -x -i -o --line -c -f
  INSERT: 'x     x  x  ',
  DELETE: 'x     x  xx ',
  DELETE_NUM: 'xxxxx xxxxxx',
  REPLACE: 'x     x  x  ',
  APPEND: 'x     x  x  ',
  LIST: ' xxxx  xx xx',
  FLUSH: 'xxxxx xxxxxx',
  ZERO: 'xxxxx xxxxxx',
  ZERO_NUM: 'xxxxx xxxxxx',
  NEW_CHAIN: 'xxxxx xxxxxx',
  DEL_CHAIN: 'xxxxx xxxxxx',
  SET_POLICY: 'xxxxx xxxx x',
  RENAME: 'xxxxx xxxxxx',
  LIST_RULES: 'xxxxx xxxxxx',
  CHECK: 'x     x  xx ',
};

const BUILTIN_TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'QUEUE']);
const EXT_TARGETS = new Set(['REJECT', 'LOG', 'REDIRECT']);
const EXT_MATCHES = new Set(['tcp', 'udp', 'owner', 'comment']);

interface Parsed {
  cmds: Cmd[];
  chain?: string;
  rulenum?: number;
  newName?: string;
  policy?: string;
  table: TableName;
  opts: Set<OptFlag>;
  verbose: number;
  rule: Rule;
  /** -j given, resolved after the table is opened (a chain name or an extension). */
  jump?: string;
  pcnt?: { packets: number; bytes: number };
}

/** Options of the matches and targets, by name: [takes a value, invertible]. */
const EXT_OPTIONS: Record<string, Record<string, [boolean, boolean]>> = {
  tcp: {
    'source-port': [true, true],
    sport: [true, true],
    'destination-port': [true, true],
    dport: [true, true],
  },
  udp: {
    'source-port': [true, true],
    sport: [true, true],
    'destination-port': [true, true],
    dport: [true, true],
  },
  owner: { 'uid-owner': [true, true], 'gid-owner': [true, true], 'socket-exists': [false, true] },
  comment: { comment: [true, false] },
  REJECT: { 'reject-with': [true, false] },
  LOG: {
    'log-level': [true, false],
    'log-prefix': [true, false],
    'log-tcp-sequence': [false, false],
    'log-tcp-options': [false, false],
    'log-ip-options': [false, false],
    'log-uid': [false, false],
    'log-macdecode': [false, false],
  },
  REDIRECT: { 'to-ports': [true, false], random: [false, false] },
};

const LONG: Record<string, string> = {
  append: 'A',
  check: 'C',
  delete: 'D',
  insert: 'I',
  replace: 'R',
  list: 'L',
  'list-rules': 'S',
  flush: 'F',
  zero: 'Z',
  'new-chain': 'N',
  'delete-chain': 'X',
  'rename-chain': 'E',
  policy: 'P',
  version: 'V',
  help: 'h',
  source: 's',
  src: 's',
  destination: 'd',
  dst: 'd',
  protocol: 'p',
  'in-interface': 'i',
  'out-interface': 'o',
  jump: 'j',
  match: 'm',
  table: 't',
  numeric: 'n',
  verbose: 'v',
  exact: 'x',
  'line-numbers': '0',
  'set-counters': 'c',
  wait: 'w',
  'wait-interval': 'W',
  ipv4: '4',
  ipv6: '6',
};
/** Short options: value required (':'), optional ('::') or none. */
const SHORT: Record<string, '' | ':' | '::'> = {
  A: ':',
  C: ':',
  D: ':',
  E: ':',
  F: '::',
  I: ':',
  L: '::',
  N: ':',
  P: ':',
  V: '',
  X: '::',
  Z: '::',
  R: ':',
  S: '::',
  c: ':',
  d: ':',
  i: ':',
  j: ':',
  o: ':',
  p: ':',
  s: ':',
  t: ':',
  m: ':',
  h: '::',
  n: '',
  v: '',
  x: '',
  w: '::',
  W: '::',
  '0': '',
  '4': '',
  '6': '',
};
const LONG_OF: Record<string, string> = {
  A: 'append',
  C: 'check',
  D: 'delete',
  I: 'insert',
  R: 'replace',
  L: 'list',
  S: 'list-rules',
  F: 'flush',
  Z: 'zero',
  N: 'new-chain',
  X: 'delete-chain',
  E: 'rename-chain',
  P: 'policy',
  m: 'match',
  t: 'table',
  w: 'wait',
};

const isOptionLike = (a: string | undefined): boolean =>
  a === undefined || a.startsWith('-') || a.startsWith('!');

function parseRulenum(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 2147483647) {
    throw new ParamError(`Invalid rule number \`${text}'`);
  }
  return Number(text);
}

function checkChainName(name: string, what = 'chain'): void {
  if (BUILTIN_TARGETS.has(name) || EXT_TARGETS.has(name)) {
    throw new ParamError('chain name may not clash with target name');
  }
  if (name.length >= 29) throw new ParamError(`${what} name \`${name}' too long (must be under 29 chars)`);
  if (name.startsWith('-') || name.startsWith('!')) {
    throw new ParamError(`chain name not allowed to start with \`${name[0]}'`);
  }
  if (/\s/.test(name)) throw new ParamError(`Invalid chain name \`${name}'`);
}

function parseAddr(text: string, family: Family, invert: boolean): Addr {
  const slash = text.indexOf('/');
  const host = slash >= 0 ? text.slice(0, slash) : text;
  const maskText = slash >= 0 ? text.slice(slash + 1) : undefined;
  let ip = parseIp(host, family);
  if (ip === undefined && host === 'localhost') ip = family === 4 ? 0x7f000001n : 1n;
  if (ip === undefined) throw new ParamError(`host/network \`${host}' not found`);
  const bits = family === 4 ? 32 : 128;
  let mask = prefixMask(bits, family);
  if (maskText !== undefined) {
    if (/^\d+$/.test(maskText) && Number(maskText) <= bits) mask = prefixMask(Number(maskText), family);
    else {
      const m = family === 4 ? parseIp(maskText, 4) : undefined;
      if (m === undefined) throw new ParamError(`invalid mask \`${maskText}' specified`);
      mask = m;
    }
  }
  return { family, addr: ip & mask, mask, invert };
}

const SERVICE_PORTS: Record<string, number> = {
  'ftp-data': 20,
  ftp: 21,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  domain: 53,
  http: 80,
  www: 80,
  pop3: 110,
  ntp: 123,
  imap2: 143,
  https: 443,
  'domain-s': 853,
  imaps: 993,
  pop3s: 995,
  'http-alt': 8080,
};

function parsePort(text: string): number {
  if (/^\d+$/.test(text) && Number(text) <= 65535) return Number(text);
  const p = SERVICE_PORTS[text];
  if (p === undefined) throw new ParamError(`invalid port/service \`${text}' specified`);
  return p;
}

function parsePortRange(
  text: string,
  invert: boolean,
): { min: number; max: number; invert: boolean } | undefined {
  const colon = text.indexOf(':');
  let min: number;
  let max: number;
  if (colon < 0) min = max = parsePort(text);
  else {
    const a = text.slice(0, colon);
    const b = text.slice(colon + 1);
    min = a === '' ? 0 : parsePort(a);
    max = b === '' ? 65535 : parsePort(b);
    if (min > max) throw new ParamError('invalid portrange (min > max)');
  }
  if (min === 0 && max === 65535 && !invert) return undefined;
  return { min, max, invert };
}

function parseIdRange(
  opt: string,
  text: string,
  invert: boolean,
): { min: number; max: number; invert: boolean } {
  const m = /^(\d+)-(\d+)$/.exec(text);
  if (m) return { min: Number(m[1]), max: Number(m[2]), invert };
  const id = parseId(text);
  if (id === null || id > 4294967295)
    throw new ParamError(`owner: Bad value for "--${opt}" option: "${text}"`);
  return { min: id, max: id, invert };
}

const LOG_LEVELS: Record<string, number> = {
  emerg: 0,
  panic: 0,
  alert: 1,
  crit: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};

/** Parses an iptables command line (argv without the program name). */
function parse(args: string[], family: Family): Parsed {
  const p: Parsed = {
    cmds: [],
    table: 'filter',
    opts: new Set(),
    verbose: 0,
    rule: { matches: [], target: null, counters: { packets: 0, bytes: 0 } },
  };
  /** Loaded extensions in order: matches, then the target (for option lookup). */
  const loaded: string[] = [];
  const seenExtOpts = new Map<Match | Target, Set<string>>();
  let targetExt: string | undefined;
  let invert = false;
  let i = 0;

  const setOpt = (f: OptFlag, letter: string, invertible: boolean): void => {
    if (p.opts.has(f)) throw new ParamError(`multiple -${letter} flags not allowed`);
    if (invert && !invertible) throw new ParamError(`cannot have ! before -${letter}`);
    p.opts.add(f);
  };
  const addCmd = (c: Cmd): void => {
    if (invert) throw new ParamError("unexpected '!' flag");
    const other = p.cmds[0];
    if (other) {
      const ok = (c === 'Z' && other === 'L') || (c === 'L' && other === 'Z');
      if (!ok) throw new ParamError(`Cannot use -${c} with -${other}`);
    }
    p.cmds.push(c);
  };
  const nextArg = (): string | undefined => (isOptionLike(args[i]) ? undefined : args[i++]);
  const matchOf = (kind: string): Match | undefined => p.rule.matches.find((m) => m.kind === kind);

  const handleShort = (c: string, value: string | undefined, longName?: string): void => {
    switch (c) {
      case 'A':
      case 'C':
      case 'N':
      case 'E':
      case 'P':
      case 'R':
      case 'I':
      case 'D':
        addCmd(c);
        p.chain = value;
        if (c === 'N') checkChainName(value as string);
        if (c === 'D' || c === 'I') {
          const n = nextArg();
          if (n !== undefined) p.rulenum = parseRulenum(n);
        }
        if (c === 'R') {
          const n = nextArg();
          if (n === undefined) throw new ParamError('-R requires a rule number');
          p.rulenum = parseRulenum(n);
        }
        if (c === 'E') {
          const n = nextArg();
          if (n === undefined) throw new ParamError('-E requires old-chain-name and new-chain-name');
          checkChainName(n);
          p.newName = n;
        }
        if (c === 'P') {
          const n = nextArg();
          if (n === undefined) throw new ParamError('-P requires a chain and a policy');
          p.policy = n;
        }
        return;
      case 'L':
      case 'S':
      case 'F':
      case 'Z':
      case 'X': {
        addCmd(c);
        const chain = value ?? nextArg();
        if (chain !== undefined) p.chain = chain;
        if (chain !== undefined && (c === 'L' || c === 'S' || c === 'Z')) {
          const n = nextArg();
          if (n !== undefined) p.rulenum = parseRulenum(n);
        }
        return;
      }
      case 'V':
      case 'h':
        addCmd(c);
        return;
      case 'p': {
        setOpt('p', 'p', true);
        const num = parseProto(value as string);
        if (num === undefined)
          throw new ParamError(`unknown protocol "${(value as string).toLowerCase()}" specified`);
        p.rule.proto = { num, invert };
        break;
      }
      case 's':
      case 'd': {
        setOpt(c, c, true);
        const a = parseAddr(value as string, family, invert);
        if (c === 's') p.rule.src = a;
        else p.rule.dst = a;
        break;
      }
      case 'i':
      case 'o': {
        setOpt(c, c, true);
        const name = value as string;
        if (name.length >= 16) {
          throw new ParamError(`interface name \`${name}' must be shorter than IFNAMSIZ (15)`);
        }
        if (c === 'i') p.rule.inIface = { name, invert };
        else p.rule.outIface = { name, invert };
        break;
      }
      case 'j': {
        setOpt('j', 'j', false);
        const name = value as string;
        if (name.length < 1) throw new ParamError('Invalid target name (too short)');
        if (name.length >= 29) throw new ParamError(`Invalid target name \`${name}' (28 chars max)`);
        p.jump = name;
        if (EXT_TARGETS.has(name)) {
          targetExt = name;
          loaded.push(name);
          let t: Target;
          if (name === 'REJECT') t = { kind: 'REJECT', with: defaultRejectWith(family) };
          else if (name === 'LOG') t = { kind: 'LOG', prefix: '', level: 4, flags: 0 };
          else t = { kind: 'REDIRECT', random: false };
          p.rule.target = t;
        }
        break;
      }
      case 'm': {
        if (invert) throw new ParamError('unexpected ! flag before --match');
        const name = value as string;
        if (!EXT_MATCHES.has(name)) {
          throw new ParamError(`Couldn't load match \`${name}':No such file or directory`, true);
        }
        loadMatch(name);
        break;
      }
      case 't':
        if (invert) throw new ParamError('unexpected ! flag before --table');
        p.table = value as TableName;
        break;
      case 'n':
        setOpt('n', 'n', false);
        break;
      case 'x':
        setOpt('x', 'x', false);
        break;
      case '0':
        setOpt('0', '0', false);
        break;
      case 'v':
        if (!p.verbose) setOpt('v', 'v', false);
        p.verbose++;
        break;
      case 'c': {
        setOpt('c', 'c', false);
        const bytes = nextArg();
        if (bytes === undefined) throw new ParamError('-c requires packet and byte counter');
        if (!/^\d+$/.test(value as string)) throw new ParamError('-c packet counter not numeric');
        if (!/^\d+$/.test(bytes)) throw new ParamError('-c byte counter not numeric');
        p.pcnt = { packets: Number(value), bytes: Number(bytes) };
        break;
      }
      case 'w':
      case 'W': {
        if (invert) throw new ParamError(`unexpected ! flag before --${longName ?? LONG_OF[c] ?? c}`);
        const v = value ?? nextArg();
        if (v !== undefined && !/^\d+$/.test(v)) {
          throw new ParamError(c === 'w' ? 'wait seconds not numeric' : 'wait interval not numeric');
        }
        break;
      }
      case '4':
      case '6':
        break;
      default:
        throw new ParamError(`unknown option "-${c}"`);
    }
    invert = false;
  };

  const loadMatch = (name: string): Match => {
    let m: Match;
    if (name === 'tcp' || name === 'udp') m = { kind: name };
    else if (name === 'owner') m = { kind: 'owner' };
    else m = { kind: 'comment', text: '' };
    p.rule.matches.push(m);
    loaded.push(name);
    seenExtOpts.set(m, new Set());
    return m;
  };

  /** An option of a loaded match or target (command_default), or of the implicit protocol match. */
  const handleExt = (opt: string, raw: string): void => {
    let owner: string | undefined;
    for (const name of loaded) if (EXT_OPTIONS[name]?.[opt]) owner = name;
    // Prefer a match loaded last, then the target (iptables: target first, then matches in order).
    if (targetExt && EXT_OPTIONS[targetExt]?.[opt]) owner = targetExt;
    else {
      const ms = loaded.filter((n) => !EXT_TARGETS.has(n) && EXT_OPTIONS[n]?.[opt]);
      if (ms.length) owner = ms[0];
    }
    let match: Match | undefined;
    if (owner && !EXT_TARGETS.has(owner)) match = matchOf(owner);
    if (!owner && p.rule.proto && !p.rule.proto.invert) {
      const pname = p.rule.proto.num === 6 ? 'tcp' : p.rule.proto.num === 17 ? 'udp' : undefined;
      if (pname && EXT_OPTIONS[pname]?.[opt] && !matchOf(pname)) {
        match = loadMatch(pname);
        owner = pname;
      }
    }
    if (!owner) throw new ParamError(`unknown option "${raw}"`);
    const [takesValue, invertible] = EXT_OPTIONS[owner]?.[opt] as [boolean, boolean];
    let value: string | undefined;
    if (takesValue) {
      const eq = raw.indexOf('=');
      if (eq >= 0) value = raw.slice(eq + 1);
      else {
        if (i >= args.length) throw new ParamError(`option "${raw}" requires an argument`);
        value = args[i++];
      }
    }
    if (invert && !invertible) {
      throw new ParamError(`${owner}: option "--${opt}" cannot be inverted.`, true);
    }
    const key = match ?? (p.rule.target as Target);
    const seen = seenExtOpts.get(key) ?? new Set<string>();
    seenExtOpts.set(key, seen);
    const canonical = opt === 'source-port' ? 'sport' : opt === 'destination-port' ? 'dport' : opt;
    if (seen.has(canonical)) {
      throw new ParamError(`${owner}: option "--${opt}" can only be used once.`, true);
    }
    seen.add(canonical);
    applyExt(owner, canonical, value, match);
    invert = false;
  };

  const applyExt = (
    owner: string,
    opt: string,
    value: string | undefined,
    match: Match | undefined,
  ): void => {
    const v = value as string;
    if (match && (match.kind === 'tcp' || match.kind === 'udp')) {
      const r = parsePortRange(v, invert);
      if (opt === 'sport') match.sport = r;
      else match.dport = r;
      if (!r) delete match[opt as 'sport' | 'dport'];
      return;
    }
    if (match && match.kind === 'owner') {
      if (opt === 'socket-exists') match.socketExists = { invert };
      else if (opt === 'uid-owner') match.uid = parseIdRange(opt, v, invert);
      else match.gid = parseIdRange(opt, v, invert);
      return;
    }
    if (match && match.kind === 'comment') {
      match.text = v;
      return;
    }
    const t = p.rule.target as Target;
    if (t.kind === 'REJECT') {
      const found = REJECT_TYPES[family].find(([a, b]) => a === v || b === v);
      if (!found) throw new ParamError(`unknown reject type "${v}"`);
      t.with = found[0];
    } else if (t.kind === 'LOG') {
      if (opt === 'log-level') {
        const lv = /^[0-7]$/.test(v) ? Number(v) : LOG_LEVELS[v];
        if (lv === undefined) throw new ParamError(`log level "${v}" unknown`, true);
        t.level = lv;
      } else if (opt === 'log-prefix') t.prefix = v.slice(0, 29);
      else if (opt === 'log-tcp-sequence') t.flags |= LOG_FLAGS.TCPSEQ;
      else if (opt === 'log-tcp-options') t.flags |= LOG_FLAGS.TCPOPT;
      else if (opt === 'log-ip-options') t.flags |= LOG_FLAGS.IPOPT;
      else if (opt === 'log-uid') t.flags |= LOG_FLAGS.UID;
      else if (opt === 'log-macdecode') t.flags |= LOG_FLAGS.MACDECODE;
    } else if (t.kind === 'REDIRECT') {
      if (opt === 'random') t.random = true;
      else {
        const proto = p.rule.proto && !p.rule.proto.invert ? p.rule.proto.num : 0;
        if (![6, 17, 132, 33].includes(proto)) {
          throw new ParamError('Need TCP, UDP, SCTP or DCCP with port specification');
        }
        const m = /^(\d+)(?:-(\d+))?$/.exec(v);
        const min = m ? Number(m[1]) : NaN;
        const max = m?.[2] !== undefined ? Number(m[2]) : min;
        if (!m || min > 65535 || max > 65535 || min > max)
          throw new ParamError(`Port "${v}" not valid`, true);
        t.ports = { min, max };
      }
    }
  };

  while (i < args.length) {
    const a = args[i++] as string;
    if (a === '!') {
      if (invert) throw new ParamError('multiple consecutive ! not allowed');
      invert = true;
      continue;
    }
    if (a.startsWith('--') && a.length > 2) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const short = LONG[name];
      if (short === undefined) {
        handleExt(name, a);
        continue;
      }
      const kind = SHORT[short] ?? '';
      let value: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
      if (kind === ':' && value === undefined) {
        if (i >= args.length) throw new ParamError(`option "--${name}" requires an argument`);
        value = args[i++];
      }
      handleShort(short, value, name);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      let j = 1;
      while (j < a.length) {
        const c = a[j++] as string;
        const kind = SHORT[c];
        if (kind === undefined) throw new ParamError(`unknown option "${a}"`);
        if (kind === '') {
          handleShort(c, undefined);
          continue;
        }
        let value: string | undefined = j < a.length ? a.slice(j) : undefined;
        j = a.length;
        if (kind === ':' && value === undefined) {
          if (i >= args.length) throw new ParamError(`option "-${c}" requires an argument`);
          value = args[i++];
        }
        handleShort(c, value);
      }
      continue;
    }
    throw new ParamError(`Bad argument \`${a}'`, false, true);
  }
  if (invert) throw new ParamError("unexpected '!' flag");
  if (p.cmds.length === 0) throw new ParamError('no command specified');

  // Final checks of the extensions.
  for (const m of p.rule.matches) {
    if (m.kind === 'owner' && !m.uid && !m.gid && !m.socketExists) {
      throw new ParamError('owner: At least one of --uid-owner, --gid-owner or --socket-exists is required');
    }
    if (m.kind === 'comment' && !seenExtOpts.get(m)?.has('comment')) {
      throw new ParamError('comment: option "--comment" must be specified', true);
    }
  }
  if (p.pcnt) p.rule.counters = { ...p.pcnt };
  optCheck(p);
  return p;
}

function commandKey(p: Parsed): string[] {
  const keys: string[] = [];
  for (const c of p.cmds) {
    switch (c) {
      case 'A':
        keys.push('APPEND');
        break;
      case 'C':
        keys.push('CHECK');
        break;
      case 'D':
        keys.push(p.rulenum !== undefined ? 'DELETE_NUM' : 'DELETE');
        break;
      case 'I':
        keys.push('INSERT');
        break;
      case 'R':
        keys.push('REPLACE');
        break;
      case 'L':
        keys.push('LIST');
        break;
      case 'S':
        keys.push('LIST_RULES');
        break;
      case 'F':
        keys.push('FLUSH');
        break;
      case 'Z':
        keys.push(p.rulenum !== undefined ? 'ZERO_NUM' : 'ZERO');
        break;
      case 'N':
        keys.push('NEW_CHAIN');
        break;
      case 'X':
        keys.push('DEL_CHAIN');
        break;
      case 'E':
        keys.push('RENAME');
        break;
      case 'P':
        keys.push('SET_POLICY');
        break;
    }
  }
  return keys;
}

/** generic_opt_check: options a command does not take. */
function optCheck(p: Parsed): void {
  const keys = commandKey(p);
  OPT_FLAGS.forEach((f, idx) => {
    if (!p.opts.has(f)) return;
    let legal = 0;
    for (const k of keys) {
      if (CMD_OPTIONS[k]?.[idx] !== X) legal = 1;
      else if (legal === 0) legal = -1;
    }
    if (legal === -1) throw new ParamError(`Illegal option \`-${f}' with this command`);
  });
}

// ------------------------------------------------------------------------------------ execution

interface Io {
  out: string[];
  err: string[];
}

function cloneTable(t: Table): Table {
  const chains = new Map<string, Chain>();
  for (const [k, c] of t.chains) chains.set(k, { ...c, rules: [...c.rules] });
  return { ...t, chains };
}

/** How `-L` without -n names users and hosts (getpwuid, gethostbyaddr on the machine). */
export interface Names {
  user(uid: number): string;
  host(ip: string): string | undefined;
}

/** Android: bionic's AID names and u<user>_a<app>; the phone's /system/etc/hosts. */
export function androidNames(phone: VirtualPhone): Names {
  return {
    user: idName,
    host: (ip) => {
      let text: string;
      try {
        text = phone.fs.readFile('/system/etc/hosts', 0).toString('utf8');
      } catch {
        return undefined;
      }
      for (const line of text.split('\n')) {
        const [addr, name] = line.trim().split(/\s+/);
        if (addr === ip && name) return name;
      }
      return undefined;
    },
  };
}

function chainOf(t: Table, name: string | undefined): Chain {
  const c = name === undefined ? undefined : t.chains.get(name);
  if (!c) throw ERR.noChain();
  return c;
}

function listChain(t: Table, c: Chain, fmt: ListFormat, family: Family, names: Names): string {
  let s = listHeader(c, references(t, c.name), fmt);
  c.rules.forEach((r, idx) => (s += listRule(r, idx + 1, family, fmt, names)));
  return s;
}

function policyLine(c: Chain, counters: boolean): string {
  if (!c.builtin) return `-N ${c.name}\n`;
  return `-P ${c.name} ${c.policy ?? 'ACCEPT'}${counters ? ` -c ${c.policyCounters.packets} ${c.policyCounters.bytes}` : ''}\n`;
}

const ruleLine = (c: Chain, r: Rule, counters: boolean): string =>
  `-A ${c.name}${saveRule(r, { counters })}\n`;

/** Runs the parsed command on (a copy of) the table; returns the new table to install, if any. */
function execute(p: Parsed, table: Table, family: Family, io: Io, names: Names): Table | undefined {
  const cmd = p.cmds[0] as Cmd;
  const fmt: ListFormat = {
    numeric: p.opts.has('n'),
    verbose: p.verbose > 0,
    exact: p.opts.has('x'),
    lineNumbers: p.opts.has('0'),
  };
  const t = cloneTable(table);
  const resolveTarget = (): void => {
    if (p.jump === undefined || EXT_TARGETS.has(p.jump)) return;
    if (BUILTIN_TARGETS.has(p.jump)) {
      p.rule.target = p.jump === 'QUEUE' ? null : { kind: p.jump as 'ACCEPT' | 'DROP' | 'RETURN' };
      return;
    }
    if (!t.chains.has(p.jump)) {
      throw new ParamError(`Couldn't load target \`${p.jump}':No such file or directory`, true);
    }
    p.rule.target = { kind: 'jump', chain: p.jump };
  };
  const commit = (): Table => {
    validateTable(t);
    return t;
  };
  if ('ACDIR'.includes(cmd) && !(cmd === 'D' && p.rulenum !== undefined)) {
    const chain = p.chain as string;
    if ((chain === 'PREROUTING' || chain === 'INPUT') && p.rule.outIface) {
      throw new ParamError(`Can't use -o with ${chain}`, true);
    }
    if ((chain === 'POSTROUTING' || chain === 'OUTPUT') && p.rule.inIface) {
      throw new ParamError(`Can't use -i with ${chain}`, true);
    }
  }
  switch (cmd) {
    case 'V':
    case 'h':
      return undefined;
    case 'A': {
      resolveTarget();
      chainOf(t, p.chain).rules.push(p.rule);
      return commit();
    }
    case 'I': {
      resolveTarget();
      const c = chainOf(t, p.chain);
      const n = p.rulenum ?? 1;
      if (n > c.rules.length + 1) throw new NetfilterError('Index of insertion too big.');
      c.rules.splice(n - 1, 0, p.rule);
      return commit();
    }
    case 'R': {
      resolveTarget();
      const c = chainOf(t, p.chain);
      const n = p.rulenum as number;
      if (n > c.rules.length) throw new NetfilterError('Index of replacement too big.');
      c.rules[n - 1] = p.rule;
      return commit();
    }
    case 'C':
    case 'D': {
      const c = chainOf(t, p.chain);
      if (cmd === 'D' && p.rulenum !== undefined) {
        if (p.rulenum > c.rules.length) throw new NetfilterError('Index of deletion too big.');
        c.rules.splice(p.rulenum - 1, 1);
        return commit();
      }
      resolveTarget();
      const key = ruleKey(p.rule);
      const idx = c.rules.findIndex((r) => ruleKey(r) === key);
      // libiptc reports a missing rule whose target is not a standard verdict (an extension or
      // a user chain) as a missing target.
      if (idx < 0) throw p.jump && !BUILTIN_TARGETS.has(p.jump) ? ERR.noChain() : ERR.badRule();
      if (cmd === 'C') return undefined;
      c.rules.splice(idx, 1);
      return commit();
    }
    case 'L':
    case 'Z': {
      const listing = p.cmds.includes('L');
      const zeroing = p.cmds.includes('Z');
      const chains = p.chain === undefined ? orderedChains(t) : [chainOf(t, p.chain)];
      if (listing) {
        if (p.chain !== undefined && p.rulenum !== undefined) {
          const c = chains[0] as Chain;
          const r = c.rules[p.rulenum - 1];
          if (r) io.out.push(listRule(r, p.rulenum, family, fmt, names));
        } else {
          io.out.push(chains.map((c) => listChain(t, c, fmt, family, names)).join('\n'));
        }
      }
      if (zeroing) {
        for (const c of chains) {
          if (p.rulenum !== undefined && !listing) {
            const r = c.rules[p.rulenum - 1];
            if (r) r.counters.packets = r.counters.bytes = 0;
            continue;
          }
          if (fmt.verbose) io.out.push(`Zeroing chain \`${c.name}'\n`);
          for (const r of c.rules) r.counters.packets = r.counters.bytes = 0;
          c.policyCounters.packets = c.policyCounters.bytes = 0;
        }
      }
      return undefined;
    }
    case 'S': {
      const counters = fmt.verbose;
      if (p.chain === undefined) {
        const chains = orderedChains(t);
        for (const c of chains) io.out.push(policyLine(c, counters));
        for (const c of chains) for (const r of c.rules) io.out.push(ruleLine(c, r, counters));
        return undefined;
      }
      const c = chainOf(t, p.chain);
      if (p.rulenum !== undefined) {
        const r = c.rules[p.rulenum - 1];
        if (r) io.out.push(ruleLine(c, r, counters));
        return undefined;
      }
      io.out.push(policyLine(c, counters));
      for (const r of c.rules) io.out.push(ruleLine(c, r, counters));
      return undefined;
    }
    case 'F': {
      const chains = p.chain === undefined ? orderedChains(t) : [chainOf(t, p.chain)];
      for (const c of chains) {
        if (fmt.verbose) io.out.push(`Flushing chain \`${c.name}'\n`);
        c.rules = [];
        t.chains.set(c.name, c);
      }
      return commit();
    }
    case 'N': {
      if (t.chains.has(p.chain as string)) throw ERR.exists();
      t.chains.set(p.chain as string, {
        name: p.chain as string,
        builtin: false,
        policyCounters: { packets: 0, bytes: 0 },
        rules: [],
      });
      return commit();
    }
    case 'X': {
      const names =
        p.chain === undefined
          ? orderedChains(t)
              .filter((c) => !c.builtin)
              .map((c) => c.name)
          : [p.chain];
      for (const name of names) {
        const c = chainOf(t, name);
        if (c.builtin) throw ERR.invalid();
        if (references(t, name) > 0) throw ERR.links();
        if (c.rules.length > 0) throw ERR.notEmpty();
        if (fmt.verbose) io.out.push(`Deleting chain \`${name}'\n`);
        t.chains.delete(name);
      }
      return commit();
    }
    case 'E': {
      const c = chainOf(t, p.chain);
      if (t.chains.has(p.newName as string)) throw new NetfilterError('File exists.');
      if (c.builtin) throw ERR.invalid();
      t.chains.delete(c.name);
      const renamed = { ...c, name: p.newName as string };
      t.chains.set(renamed.name, renamed);
      for (const ch of t.chains.values()) {
        ch.rules = ch.rules.map((r) =>
          r.target?.kind === 'jump' && r.target.chain === c.name
            ? { ...r, target: { kind: 'jump', chain: renamed.name } }
            : r,
        );
      }
      return commit();
    }
    case 'P': {
      const c = t.chains.get(p.chain as string);
      if (!c?.builtin) throw new NetfilterError('Bad built-in chain name.');
      if (p.policy !== 'ACCEPT' && p.policy !== 'DROP') throw new NetfilterError('Bad policy name.', true);
      t.chains.set(c.name, {
        ...c,
        policy: p.policy,
        policyCounters: p.pcnt ? { ...p.pcnt } : c.policyCounters,
      });
      return commit();
    }
  }
  return undefined;
}

function progName(family: Family): string {
  return family === 4 ? 'iptables' : 'ip6tables';
}

function tryHelp(prog: string): string {
  return `Try \`${prog} -h' or '${prog} --help' for more information.\n`;
}

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs one iptables/ip6tables command line against the phone's kernel state. */
export function runIptables(phone: VirtualPhone, family: Family, args: string[], uid: number): CommandResult {
  return iptablesCommand(netState(phone).netfilter.set(family), family, args, uid, androidNames(phone));
}

/** Runs one iptables/ip6tables command line against a set of tables. */
export function iptablesCommand(
  state: TableSet,
  family: Family,
  args: string[],
  uid: number,
  names: Names = { user: String, host: () => undefined },
): CommandResult {
  const prog = progName(family);
  const io: Io = { out: [], err: [] };
  const done = (status: number) => ({ status, stdout: io.out.join(''), stderr: io.err.join('') });
  let p: Parsed;
  try {
    p = parse(args, family);
  } catch (e) {
    if (!(e instanceof ParamError)) throw e;
    io.err.push(e.bare ? `${e.message}\n` : `${prog} v${IPTABLES_VERSION} (legacy): ${e.message}\n`);
    if (e.blank) io.err.push('\n');
    io.err.push(tryHelp(prog));
    return done(2);
  }
  const cmd = p.cmds[0] as Cmd;
  if (cmd === 'V') {
    io.out.push(`${prog} v${IPTABLES_VERSION} (legacy)\n`);
    return done(0);
  }
  if (cmd === 'h') {
    io.out.push(
      `${prog} v${IPTABLES_VERSION} (legacy)\n\nUsage: ${prog} -[ACD] chain rule-specification [options]\n` +
        `       ${prog} -I chain [rulenum] rule-specification [options]\n` +
        `       ${prog} -R chain rulenum rule-specification [options]\n` +
        `       ${prog} -D chain rulenum [options]\n` +
        `       ${prog} -[LS] [chain [rulenum]] [options]\n` +
        `       ${prog} -[FZ] [chain] [options]\n` +
        `       ${prog} -[NX] chain\n` +
        `       ${prog} -E old-chain-name new-chain-name\n` +
        `       ${prog} -P chain target [options]\n` +
        `       ${prog} -h (print this help information)\n`,
    );
    return done(0);
  }
  try {
    if (uid !== 0) {
      throw new InitError(
        `can't initialize ${prog} table \`${p.table}': Permission denied (you must be root)`,
      );
    }
    const table = state.tables.get(p.table);
    if (!table) {
      throw new InitError(
        `can't initialize ${prog} table \`${p.table}': Table does not exist (do you need to insmod?)`,
      );
    }
    const next = execute(p, table, family, io, names);
    if (next) state.tables.set(p.table, next);
    return done(0);
  } catch (e) {
    if (e instanceof InitError) {
      io.err.push(
        `${prog} v${IPTABLES_VERSION} (legacy): ${e.message}\nPerhaps ${prog} or your kernel needs to be upgraded.\n`,
      );
      return done(3);
    }
    if (e instanceof ParamError) {
      io.out.length = 0;
      io.err.push(`${prog} v${IPTABLES_VERSION} (legacy): ${e.message}\n`);
      if (e.blank) io.err.push('\n');
      io.err.push(tryHelp(prog));
      return done(2);
    }
    if (e instanceof NetfilterError) {
      io.out.length = 0;
      io.err.push(`${prog}: ${e.message}${e.dmesg ? " Run `dmesg' for more information." : ''}\n`);
      return done(1);
    }
    throw e;
  }
}

/** `iptables-save [-c] [-t table]` (iptables-save.c): every table, or one. */
export function iptablesSaveCommand(
  state: TableSet,
  family: Family,
  args: string[],
  uid: number,
  now: Date,
  timeZone: string,
): CommandResult {
  const prog = `${progName(family)}-save`;
  let counters = false;
  let only: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-c' || a === '--counters') counters = true;
    else if (a === '-t' || a === '--table') only = args[++i];
    else if (a.startsWith('-t') && a.length > 2) only = a.slice(2);
    else if (a === '-M' || a === '--modprobe') i++;
    else {
      return {
        status: 1,
        stdout: '',
        stderr: `${prog}: unrecognized option '${a}'\nUnknown arguments found on commandline\n`,
      };
    }
  }
  if (uid !== 0) {
    return {
      status: 1,
      stdout: '',
      stderr: `${prog} v${IPTABLES_VERSION} (legacy): Cannot initialize: Permission denied (you must be root)\n\n`,
    };
  }
  const names: TableName[] = only ? [only as TableName] : (['nat', 'mangle', 'raw', 'filter'] as TableName[]);
  const stamp = strftime('%a %b %e %H:%M:%S %Y', now.getTime(), timeZone);
  let out = '';
  for (const name of names) {
    const t = state.tables.get(name);
    if (!t) {
      if (only) {
        return {
          status: 1,
          stdout: out,
          stderr: `${prog} v${IPTABLES_VERSION} (legacy): Cannot initialize: Table does not exist (do you need to insmod?)\n\n`,
        };
      }
      continue;
    }
    out += `# Generated by ${prog} v${IPTABLES_VERSION} on ${stamp}\n*${name}\n`;
    const chains = orderedChains(t);
    for (const c of chains) {
      const pc = c.policyCounters;
      out += `:${c.name} ${c.builtin ? (c.policy ?? 'ACCEPT') : '-'} [${c.builtin ? pc.packets : 0}:${c.builtin ? pc.bytes : 0}]\n`;
    }
    for (const c of chains) {
      for (const r of c.rules) {
        out += `${counters ? `[${r.counters.packets}:${r.counters.bytes}] ` : ''}-A ${c.name}${saveRule(r)}\n`;
      }
    }
    out += `COMMIT\n# Completed on ${stamp}\n`;
  }
  return { status: 0, stdout: out, stderr: '' };
}

async function emit(ctx: CommandContext, r: CommandResult): Promise<number> {
  if (r.stdout) await ctx.stdout.write(r.stdout);
  if (r.stderr) await ctx.stderr.write(r.stderr);
  return r.status;
}

export const iptables = (ctx: CommandContext): Promise<number> =>
  emit(ctx, runIptables(ctx.phone, 4, ctx.argv.slice(1), ctx.uid));
export const ip6tables = (ctx: CommandContext): Promise<number> =>
  emit(ctx, runIptables(ctx.phone, 6, ctx.argv.slice(1), ctx.uid));

function zoneOf(phone: VirtualPhone): string {
  return phone.props.get('persist.sys.timezone') || 'UTC';
}

const save = (ctx: CommandContext, family: Family): Promise<number> =>
  emit(
    ctx,
    iptablesSaveCommand(
      netState(ctx.phone).netfilter.set(family),
      family,
      ctx.argv.slice(1),
      ctx.uid,
      new Date(),
      zoneOf(ctx.phone),
    ),
  );

export const iptablesSave = (ctx: CommandContext): Promise<number> => save(ctx, 4);
export const ip6tablesSave = (ctx: CommandContext): Promise<number> => save(ctx, 6);
