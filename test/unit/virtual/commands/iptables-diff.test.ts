/**
 * The virtual phone's iptables against the real thing: Debian's iptables v1.8.9 (legacy), run in
 * a throwaway network namespace (`unshare -n`) when this test runs as root with iptables-legacy
 * installed, else against the outputs recorded from it (test/fixtures/iptables/debian-1.8.9.json;
 * re-record with PHONEHOME_RECORD_IPTABLES=1). Every command's stdout, stderr and exit status
 * must match byte for byte (the iptables-save time stamps aside).
 *
 * The model starts from bare tables here, as a new namespace does; the phone itself starts from
 * netd's chains (netfilter.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { iptablesCommand, iptablesSaveCommand } from '../../../../src/virtual/commands/cmd-iptables.ts';
import { Netfilter, type Family } from '../../../../src/virtual/os/netfilter.ts';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/iptables/debian-1.8.9.json');

/** Splits a command line: spaces separate, "…" groups (with \" and \\ escapes). */
function argv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '"') {
      has = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        cur += line[i];
      }
    } else if (c === ' ') {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

interface Case {
  name: string;
  /** Run as this uid (default root). */
  uid?: number;
  lines: string[];
}

const NETD = [
  'iptables -w 5 -N oem_out',
  'iptables -w 5 -N fw_OUTPUT',
  'iptables -w 5 -N st_OUTPUT',
  'iptables -w 5 -N bw_OUTPUT',
  'iptables -w 5 -A OUTPUT -j oem_out',
  'iptables -w 5 -A OUTPUT -j fw_OUTPUT',
  'iptables -w 5 -A OUTPUT -j st_OUTPUT',
  'iptables -w 5 -A OUTPUT -j bw_OUTPUT',
];

const CASES: Case[] = [
  {
    name: 'the harness rule set: own chains, owner, comment, REJECT, count only, REDIRECT',
    lines: [
      ...NETD,
      'iptables -w 5 -N phonehome_8899',
      'iptables -w 5 -I OUTPUT 1 -m comment --comment phonehome:8899 -j phonehome_8899',
      'iptables -w 5 -A phonehome_8899 -o lo -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j ACCEPT',
      'iptables -w 5 -A phonehome_8899 -p udp --dport 53 -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j ACCEPT',
      'iptables -w 5 -A phonehome_8899 -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j REJECT',
      'iptables -w 5 -A phonehome_8899 -m owner --uid-owner 10124 -m comment --comment phonehome:8899',
      'iptables -w 5 -t nat -N phonehome_8899',
      'iptables -w 5 -t nat -I OUTPUT 1 -m comment --comment phonehome:8899 -j phonehome_8899',
      'iptables -w 5 -t nat -A phonehome_8899 -p tcp ! -o lo -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j REDIRECT --to-ports 8899',
      'iptables -w 5 -S',
      'iptables -w 5 -S OUTPUT',
      'iptables -w 5 -S phonehome_8899',
      'iptables -w 5 -L -v -n -x',
      'iptables -w 5 -L phonehome_8899 -v -n -x --line-numbers',
      'iptables -w 5 -L -n',
      'iptables -w 5 -L',
      'iptables -w 5 -L -v',
      'iptables -w 5 -t nat -S',
      'iptables -w 5 -t nat -L -v -n -x',
      'iptables -w 5 -C phonehome_8899 -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j REJECT',
      'iptables -w 5 -C phonehome_8899 -m owner --uid-owner 10123 -j REJECT',
      'iptables -w 5 -D OUTPUT -m comment --comment phonehome:8899 -j phonehome_8899',
      'iptables -w 5 -D OUTPUT -m comment --comment phonehome:8899 -j phonehome_8899',
      'iptables -w 5 -F phonehome_8899',
      'iptables -w 5 -X phonehome_8899',
      'iptables -w 5 -X phonehome_8899',
      'iptables -w 5 -t nat -D OUTPUT -m comment --comment phonehome:8899 -j phonehome_8899',
      'iptables -w 5 -t nat -F phonehome_8899',
      'iptables -w 5 -t nat -X phonehome_8899',
      'iptables -w 5 -S',
      'iptables -w 5 -t nat -S',
      'iptables-save -t filter',
    ],
  },
  {
    name: 'rule forms: addresses, ports, inversion, LOG, REJECT types, counters',
    lines: [
      'iptables -N oem_out',
      'iptables -A OUTPUT -j oem_out',
      'iptables -A OUTPUT -c 123456789 98765432109 -o lo -m owner --uid-owner 10123 -m comment --comment phonehome:x -j ACCEPT',
      'iptables -A OUTPUT -c 999 99999 -p udp --dport 53 -m owner --uid-owner 2000 -j ACCEPT',
      'iptables -A OUTPUT -c 12345 1234567 -p tcp -m tcp ! --dport 1000:2000 -d 127.0.0.1 -j RETURN',
      'iptables -A OUTPUT -c 1 60 -p tcp --dport 443 -o wlan+ -j REJECT --reject-with tcp-reset',
      'iptables -A OUTPUT -m owner --uid-owner 0-999 -j ACCEPT',
      'iptables -A OUTPUT -m owner ! --uid-owner 10123 -j LOG --log-prefix "ph: " --log-uid',
      'iptables -A OUTPUT -m comment --comment "has \\"quote\\" and \\\\ back" -p tcp',
      'iptables -A OUTPUT -p all -j ACCEPT',
      'iptables -A OUTPUT -p 6 -j ACCEPT',
      'iptables -A OUTPUT -p icmp -j ACCEPT',
      'iptables -A OUTPUT ! -p tcp -j ACCEPT',
      'iptables -A OUTPUT ! -d 10.0.0.0/8 -j ACCEPT',
      'iptables -A OUTPUT -d 10.1.2.3/255.255.0.0 -j ACCEPT',
      'iptables -A OUTPUT -s 192.168.1.100 -d 10.0.0.0/8 -m owner --uid-owner 10123',
      'iptables -A OUTPUT -j LOG',
      'iptables -A OUTPUT -j LOG --log-level 7 --log-prefix x',
      'iptables -A OUTPUT -p udp -j REJECT --reject-with icmp-net-unreachable',
      'iptables -A OUTPUT -p tcp -j REJECT --reject-with host-unreach',
      'iptables -A OUTPUT -p tcp --dport 0:65535 -j ACCEPT',
      'iptables -A OUTPUT -p tcp --dport :80 -j ACCEPT',
      'iptables -A OUTPUT -p tcp --dport 80: -j ACCEPT',
      'iptables -A OUTPUT -p udp --sport 53 --dport 1 -j ACCEPT',
      'iptables -A OUTPUT -p tcp --dport https -j ACCEPT',
      'iptables -A OUTPUT -m owner --uid-owner root -j ACCEPT',
      'iptables -A OUTPUT -m owner --gid-owner 3003 ! --socket-exists -j ACCEPT',
      'iptables -A OUTPUT -i lo -j DROP',
      'iptables -L -n',
      'iptables -L',
      'iptables -L -v -n',
      'iptables -L -n --line-numbers',
      'iptables -L -v',
      'iptables -L -v -n -x',
      'iptables -S',
      'iptables -S -v',
      'iptables -S OUTPUT -v',
      'iptables -v -S',
      'iptables-save -t filter',
      'iptables-save -c -t filter',
      'iptables -Z OUTPUT 2',
      'iptables -L OUTPUT -n -v -x',
      'iptables -Z -v',
      'iptables -L -v -n -x',
      'iptables -F',
      'iptables -X',
      'iptables -S',
    ],
  },
  {
    name: 'errors: bad rules, indexes, chains, policies, options',
    lines: [
      'iptables -A OUTPUT -p tcp -j REDIRECT --to-ports 1',
      'iptables -t nat -A OUTPUT -j REJECT',
      'iptables -A INPUT -m owner --uid-owner 1 -j ACCEPT',
      'iptables -D OUTPUT -j ACCEPT',
      'iptables -C OUTPUT -j ACCEPT',
      'iptables -D OUTPUT 3',
      'iptables -I OUTPUT 3 -j ACCEPT',
      'iptables -I OUTPUT 2 -j ACCEPT',
      'iptables -A OUTPUT -j ACCEPT',
      'iptables -I OUTPUT 3 -j ACCEPT',
      'iptables -I OUTPUT 0 -j ACCEPT',
      'iptables -N foo',
      'iptables -N foo',
      'iptables -X bar',
      'iptables -A foo -j RETURN',
      'iptables -A OUTPUT -j foo',
      'iptables -X foo',
      'iptables -F foo',
      'iptables -X foo',
      'iptables -D OUTPUT -j foo',
      'iptables -X foo',
      'iptables -A nochain -j ACCEPT',
      'iptables -A OUTPUT -j nochain',
      'iptables -P foo ACCEPT',
      'iptables -N foo',
      'iptables -P foo ACCEPT',
      'iptables -P OUTPUT foo',
      'iptables -P OUTPUT RETURN',
      'iptables -P OUTPUT DROP',
      'iptables -P OUTPUT ACCEPT',
      'iptables -t bogus -S',
      'iptables -L nochain',
      'iptables -S nochain',
      'iptables -F nochain',
      'iptables -Z nochain',
      'iptables -A OUTPUT --dport 80 -j ACCEPT',
      'iptables -A OUTPUT --bogus',
      'iptables -A OUTPUT -p tcp --dport abc -j ACCEPT',
      'iptables -A OUTPUT -p tcp --dport 90:80 -j ACCEPT',
      'iptables -A OUTPUT -m owner --uid-owner nobodyxx -j ACCEPT',
      'iptables -A OUTPUT -m owner -j ACCEPT',
      'iptables -A OUTPUT -m owner --uid-owner 10000-9000 -j ACCEPT',
      'iptables -A OUTPUT -m owner --uid-owner 5 --uid-owner 6 -j ACCEPT',
      'iptables -A OUTPUT -m comment -j ACCEPT',
      'iptables -A OUTPUT -m foo',
      'iptables -A OUTPUT -m tcp --dport 5 -j ACCEPT',
      'iptables -A OUTPUT -p udp -j REJECT --reject-with tcp-reset',
      'iptables -A OUTPUT -d 300.1.1.1 -j ACCEPT',
      'iptables -A OUTPUT -d 10.0.0.1/33 -j ACCEPT',
      'iptables -A OUTPUT -p icmpx -j ACCEPT',
      'iptables -A',
      'iptables -A OUTPUT -j',
      'iptables',
      'iptables -N OUTPUT',
      'iptables -N ACCEPT',
      'iptables -N abcdefghijklmnopqrstuvwxyz012',
      'iptables -N abcdefghijklmnopqrstuvwxyz01',
      'iptables -X OUTPUT',
      'iptables -A OUTPUT -j REJECT --reject-with foo',
      'iptables -A OUTPUT -j LOG --log-level warn',
      'iptables -A OUTPUT -j LOG --log-level panic',
      'iptables -A OUTPUT -j REDIRECT',
      'iptables -t nat -A OUTPUT -j REDIRECT --to-ports 80',
      'iptables -t nat -A OUTPUT -p tcp -j REDIRECT --to-ports 80-90',
      'iptables -t nat -A OUTPUT -p tcp -j REDIRECT --to-ports 8080 --random',
      'iptables -t nat -A POSTROUTING -p tcp -j REDIRECT --to-ports 5',
      'iptables -t nat -S',
      'iptables -t nat -L -n',
      'iptables -A OUTPUT ! ! -p tcp -j ACCEPT',
      'iptables -A OUTPUT ! -j ACCEPT',
      'iptables -A OUTPUT ! -m owner --uid-owner 1',
      'iptables ! -A OUTPUT',
      'iptables ! -t nat -S',
      'iptables -A OUTPUT -j ACCEPT -j DROP',
      'iptables -A OUTPUT -p tcp -p udp',
      'iptables -A OUTPUT -o wlan0 ! -o lo -j ACCEPT',
      'iptables -A OUTPUT -o verylonginterfacename0 -j ACCEPT',
      'iptables -A OUTPUT -c 5 -j ACCEPT',
      'iptables -A OUTPUT -n -j ACCEPT',
      'iptables -A OUTPUT --line-numbers -j ACCEPT',
      'iptables -D OUTPUT 1 -j ACCEPT',
      'iptables -L -j ACCEPT',
      'iptables -S -n',
      'iptables -C OUTPUT -c 1 2 -j ACCEPT',
      'iptables -A OUTPUT -D OUTPUT -j ACCEPT',
      'iptables -L -S',
      'iptables -S -S',
      'iptables -A OUTPUT -j ACCEPT extra',
      'iptables -S -v OUTPUT',
      'iptables -R OUTPUT -j ACCEPT',
      'iptables -R OUTPUT 9 -j DROP',
      'iptables -R OUTPUT 1 -j DROP',
      'iptables -E foo',
      'iptables -E foo bar',
      'iptables -E bar OUTPUT',
      'iptables -E nope baz',
      'iptables -P OUTPUT',
      'iptables -w abc -S',
      'iptables -w 5 5 -S',
      'iptables -w5 -S OUTPUT',
      'iptables -w -S OUTPUT',
      'iptables -S OUTPUT 1',
      'iptables -S OUTPUT 9',
      'iptables -L OUTPUT 1 -n -v -x',
      'iptables -L OUTPUT 1 --line-numbers -v',
      'iptables -L OUTPUT 9',
      'iptables -L -Z OUTPUT -n -v',
      'iptables -F -v',
      'iptables -N x -v',
      'iptables -X x -v',
      'iptables -P OUTPUT ACCEPT -c 1 2',
      'iptables -S OUTPUT -v',
      'iptables -L OUTPUT -v -n -x',
      'iptables --list OUTPUT --numeric --verbose --exact',
      'iptables --append OUTPUT --out-interface lo --match owner --uid-owner 7 --jump ACCEPT',
      'iptables -D OUTPUT -o lo -m owner --uid-owner 7 -j ACCEPT -w 5',
      'iptables -D OUTPUT -m owner --uid-owner 7 -o lo -j ACCEPT',
      'iptables -N a',
      'iptables -A a -j a',
      'iptables -A OUTPUT -j a',
      'iptables -V',
      'iptables --version',
      'iptables -S',
    ],
  },
  {
    name: 'ip6tables: the harness rules and its errors',
    lines: [
      'ip6tables -w 5 -N oem_out',
      'ip6tables -w 5 -A OUTPUT -j oem_out',
      'ip6tables -w 5 -N phonehome_8899',
      'ip6tables -w 5 -I OUTPUT 1 -m comment --comment phonehome:8899 -j phonehome_8899',
      'ip6tables -w 5 -A phonehome_8899 -p udp --dport 53 -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j ACCEPT',
      'ip6tables -w 5 -A phonehome_8899 ! -o lo -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j REJECT',
      'ip6tables -A OUTPUT -p tcp --dport 443 -d 2001:db8::/32 -j REJECT --reject-with tcp-reset',
      'ip6tables -A OUTPUT -p udp -j REJECT --reject-with icmp6-adm-prohibited',
      'ip6tables -A OUTPUT -d ::1 -j RETURN',
      'ip6tables -A OUTPUT -s 2001:db8:1::100/64 -j RETURN',
      'ip6tables -A OUTPUT -j LOG --log-uid',
      'ip6tables -S',
      'ip6tables -L -v -n -x',
      'ip6tables -L -n',
      'ip6tables -L',
      'ip6tables -t bogus -S',
      'ip6tables -A OUTPUT -j REJECT --reject-with icmp-port-unreachable',
      'ip6tables -A OUTPUT -d 10.0.0.1 -j ACCEPT',
      'ip6tables -C phonehome_8899 ! -o lo -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j REJECT',
      'ip6tables -D phonehome_8899 ! -o lo -m owner --uid-owner 10123 -m comment --comment phonehome:8899 -j REJECT',
      'ip6tables-save -t filter',
    ],
  },
  {
    name: 'without CAP_NET_ADMIN (the shell uid)',
    uid: 2000,
    lines: [
      'iptables -S',
      'iptables -w 5 -S',
      'iptables -w 5 -L -v -n -x',
      'iptables -w 5 -t nat -S',
      'iptables -w 5 -A OUTPUT -j ACCEPT',
      'iptables -w 5 -C OUTPUT -j ACCEPT',
      'iptables -A OUTPUT --bogus',
      'ip6tables -w 5 -S',
      'iptables -V',
    ],
  },
];

interface Result {
  stdout: string;
  stderr: string;
  status: number;
}

const STAMP = /^# (Generated by|Completed on) .*$/gm;
const normal = (r: Result): Result => ({ ...r, stdout: r.stdout.replace(STAMP, '# $1 <time>') });

/** What Debian's user and host databases say for the ids and addresses the cases use. */
const DEBIAN = {
  user: (uid: number): string => ({ 0: 'root', 7: 'lp' })[uid] ?? String(uid),
  host: (ip: string): string | undefined => ({ '127.0.0.1': 'localhost' })[ip],
};

function model(c: Case): Result[] {
  const nf = new Netfilter({ ipv6Nat: true, bare: true });
  const uid = c.uid ?? 0;
  return c.lines.map((line) => {
    const [prog, ...args] = argv(line);
    const family: Family = prog?.startsWith('ip6') ? 6 : 4;
    const r = prog?.endsWith('-save')
      ? iptablesSaveCommand(nf.set(family), family, args, uid, new Date(), 'UTC')
      : iptablesCommand(nf.set(family), family, args, uid, DEBIAN);
    return normal({ stdout: r.stdout, stderr: r.stderr, status: r.status });
  });
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function liveAvailable(): string | undefined {
  if (process.env.PHONEHOME_IPTABLES_LIVE === '0') return 'PHONEHOME_IPTABLES_LIVE=0';
  if (process.getuid?.() !== 0) return 'not root';
  for (const bin of ['iptables-legacy', 'ip6tables-legacy', 'unshare', 'setpriv']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} missing`;
  }
  const probe = spawnSync('unshare', ['-n', 'iptables-legacy', '-S'], { encoding: 'utf8' });
  if (probe.status !== 0) return `unshare -n iptables-legacy -S failed: ${probe.stderr.trim()}`;
  return undefined;
}

/** Runs a case against the real iptables-legacy in a new network namespace. */
function live(c: Case): Result[] {
  const dir = mkdtempSync(join(tmpdir(), 'phonehome-ipt-'));
  try {
    const lock = join(dir, 'xtables.lock');
    writeFileSync(lock, '');
    chmodSync(lock, 0o644);
    chmodSync(dir, 0o755);
    const names: Record<string, string> = {
      iptables: 'iptables-legacy',
      ip6tables: 'ip6tables-legacy',
      'iptables-save': 'iptables-legacy-save',
      'ip6tables-save': 'ip6tables-legacy-save',
    };
    const as = c.uid ? `setpriv --reuid ${c.uid} --regid ${c.uid} --clear-groups ` : '';
    const script = c.lines
      .map((line, i) => {
        const [prog, ...args] = argv(line);
        const cmd = [names[prog as string] ?? (prog as string), ...args].map(shq).join(' ');
        return `XTABLES_LOCKFILE=${lock} ${as}${cmd} >${dir}/o${i} 2>${dir}/e${i}; echo $? >${dir}/s${i}`;
      })
      .join('\n');
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return c.lines.map((_, i) =>
      normal({
        stdout: readFileSync(join(dir, `o${i}`), 'utf8'),
        stderr: readFileSync(join(dir, `e${i}`), 'utf8'),
        status: Number(readFileSync(join(dir, `s${i}`), 'utf8').trim()),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('iptables model vs Debian iptables v1.8.9 (legacy)', function () {
  const why = liveAvailable();
  const recorded: Record<string, Result[]> = existsSync(FIXTURE)
    ? (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { cases: Record<string, Result[]> }).cases
    : {};
  after(() => {
    if (process.env.PHONEHOME_RECORD_IPTABLES === '1' && !why) {
      const version = spawnSync('iptables-legacy', ['--version'], { encoding: 'utf8' }).stdout.trim();
      const cases: Record<string, Result[]> = {};
      for (const c of CASES) cases[c.name] = live(c);
      writeFileSync(FIXTURE, `${JSON.stringify({ recordedWith: version, cases }, null, 2)}\n`);
    }
  });
  for (const c of CASES) {
    it(c.name, function () {
      const expected = why ? recorded[c.name] : live(c);
      if (!expected) this.skip();
      const got = model(c);
      const diffs = c.lines
        .map((line, i) => ({ line, got: got[i], want: expected[i] }))
        .filter((d) => JSON.stringify(d.got) !== JSON.stringify(d.want));
      assert.deepEqual(
        diffs.map((d) => ({ line: d.line, ...d.got })),
        diffs.map((d) => ({ line: d.line, ...d.want })),
        `${why ? 'recorded' : 'live'} output differs for ${diffs.length} command(s)`,
      );
    });
  }
});
