/**
 * The harness side of issue 10 (src/capture/bypass.ts): parsing the per-UID counters each Android
 * release prints (the virtual phone's formatters and hand-written samples in the facts sheet's
 * format), package uids, the iptables rule plan and its listing parser, and compare() on fake
 * snapshots: leaks, DNS, rejects, redirects, resets.
 */
import assert from 'node:assert/strict';
import {
  createBypassMonitor,
  installScript,
  leftoverScript,
  parseIptablesList,
  parsePackageUids,
  parseTraffic,
  planBypassRules,
  readTraffic,
  removalScript,
  TAG_SYSTEM_DNS,
  trafficCommands,
  type TrafficSnapshot,
} from '../../../src/capture/bypass.ts';
import type { Device } from '../../../src/device/index.ts';
import { netstatsDump, trafficControllerDump, TrafficAccounting } from '../../../src/virtual/os/traffic.ts';

function sampleAccounting(): TrafficAccounting {
  const t = new TrafficAccounting(0);
  t.bpf(10123, 'wlan0', 'tx', 60, 4, false);
  t.bpf(10123, 'wlan0', 'rx', 40, 4, false);
  t.bpf(10123, 'lo', 'tx', 5000, 4, true);
  t.bpf(10123, 'wlan0', 'tx', 73, 4, false, TAG_SYSTEM_DNS);
  t.bpf(2000, 'lo', 'rx', 5000, 4, false);
  return t;
}

const ctx = (sdk: number) => ({ sdk, nowMs: 1_700_000_000_000, wifiKey: 'lab' });

/** A fake Device answering shell commands from a table (argv joined by spaces). */
function fakeDevice(answers: Record<string, string | (() => string)>, sdk = '29'): Device {
  return {
    serial: 'fake',
    getProp: async () => sdk,
    shell: async (argv: string | readonly string[]) => {
      const cmd = typeof argv === 'string' ? argv : argv.join(' ');
      const a = answers[cmd];
      if (a === undefined) return { stdout: '', stderr: `${cmd}: not found`, exitCode: 127 };
      return { stdout: typeof a === 'function' ? a() : a, stderr: '', exitCode: 0 };
    },
  } as unknown as Device;
}

describe('bypass: reading per-UID counters', () => {
  it('parses every release format by its column names (maps A and B summed)', () => {
    const t = sampleAccounting();
    const texts = {
      'netd android10': trafficControllerDump(t, ctx(29)),
      'netd android11': trafficControllerDump(t, ctx(30)),
      'netd android12': trafficControllerDump(t, ctx(31)),
      'connectivity android13': trafficControllerDump(t, ctx(33)),
      'netstats android14': netstatsDump(t, ctx(34), { full: false, uid: false, tag: false }),
    };
    for (const [name, text] of Object.entries(texts)) {
      const p = parseTraffic(text);
      assert.equal(p.tables, 2, name);
      const wlan = p.rows.find((r) => r.uid === 10123 && r.iface === 'wlan0' && r.tag === 0);
      assert.deepEqual(
        wlan,
        { uid: 10123, iface: 'wlan0', tag: 0, set: 0, rxBytes: 40, rxPackets: 1, txBytes: 60, txPackets: 1 },
        name,
      );
      assert.ok(
        p.rows.some((r) => r.uid === 10123 && r.tag === TAG_SYSTEM_DNS),
        name,
      );
      assert.ok(
        p.rows.some((r) => r.uid === 10123 && r.iface === 'lo' && r.set === 1 && r.txPackets === 4),
        name,
      );
      assert.deepEqual(
        p.appUid.find((r) => r.uid === 2000),
        { uid: 2000, rxBytes: 5156, rxPackets: 4, txBytes: 0, txPackets: 0 },
        name,
      );
    }
  });

  it('tolerates other column orders, extra columns and xt_qtaguid', () => {
    const shuffled = [
      'BPF map content:',
      '  mStatsMapA:',
      '    uid_int ifaceName cnt_set tag_hex txBytes txPackets rxBytes rxPackets ifaceIndex',
      '    10123 wlan0 1 0x0 600 6 400 4 30',
      '  mStatsMapB:',
      '    uid_int ifaceName cnt_set tag_hex txBytes txPackets rxBytes rxPackets ifaceIndex',
      '    10123 wlan0 1 0x0 1 1 2 2 30',
      '',
      'something else: 1 2 3',
    ].join('\n');
    assert.deepEqual(parseTraffic(shuffled).rows, [
      { uid: 10123, iface: 'wlan0', tag: 0, set: 1, rxBytes: 402, rxPackets: 6, txBytes: 601, txPackets: 7 },
    ]);
    const qtaguid =
      'idx iface acct_tag_hex uid_tag_int cnt_set rx_bytes rx_packets tx_bytes tx_packets rx_tcp_bytes rx_tcp_packets rx_udp_bytes rx_udp_packets rx_other_bytes rx_other_packets tx_tcp_bytes tx_tcp_packets tx_udp_bytes tx_udp_packets tx_other_bytes tx_other_packets\n' +
      '2 wlan0 0x0 0 0 100 1 100 1 0 0 100 1 0 0 0 0 100 1 0 0\n' +
      '11 rmnet_data0 0x0 10027 1 451662 2320 1193948 3888 451662 2320 0 0 0 0 1193948 3888 0 0 0 0\n';
    const q = parseTraffic(qtaguid);
    assert.equal(q.tables, 1);
    assert.deepEqual(q.rows[1], {
      uid: 10027,
      iface: 'rmnet_data0',
      tag: 0,
      set: 1,
      rxBytes: 451662,
      rxPackets: 2320,
      txBytes: 1193948,
      txPackets: 3888,
    });
    assert.equal(parseTraffic("Can't find service: netd\n").tables, 0);
  });

  it('tries the expected command first, falls back, and says why when nothing works', async () => {
    assert.deepEqual(trafficCommands(34)[0], ['dumpsys', 'netstats']);
    assert.deepEqual(trafficCommands(33)[0], ['dumpsys', 'connectivity', 'trafficcontroller']);
    assert.deepEqual(trafficCommands(29)[0], ['dumpsys', 'netd', 'trafficcontroller']);
    const t = sampleAccounting();
    // A MIUI build whose netd does not print the maps, but netstats does.
    const miui = fakeDevice({
      'dumpsys netd trafficcontroller': '\n  TrafficController\n    BPF module status: enabled\n',
      'dumpsys connectivity trafficcontroller': "Can't find service: connectivity\n",
      'dumpsys netstats': netstatsDump(t, ctx(34), { full: false, uid: false, tag: false }),
    });
    const r = await readTraffic(miui, { sdk: 30 });
    assert.equal(r.source, 'dumpsys netstats');
    assert.ok(r.rows.length > 0);
    const none = await readTraffic(fakeDevice({}), { sdk: 29 });
    assert.deepEqual(none.rows, []);
    assert.match(
      none.unavailable ?? '',
      /^no per-UID traffic counters \(dumpsys netd trafficcontroller: exit 127: /,
    );
  });

  it('maps uids to packages, shared uids included', () => {
    const m = parsePackageUids(
      'package:com.android.phone uid:1001\npackage:com.mi.globalbrowser uid:10050\npackage:com.android.providers.telephony uid:1001\njunk\n',
    );
    assert.deepEqual(m.get(1001), ['com.android.phone', 'com.android.providers.telephony']);
    assert.deepEqual(m.get(10050), ['com.mi.globalbrowser']);
  });
});

describe('bypass: iptables rules', () => {
  const plan = planBypassRules({
    devicePort: 8899,
    mode: 'block',
    uids: [{ uid: 10050, packages: ['com.mi.globalbrowser'] }],
  });

  it('plans own chains hooked at OUTPUT 1, every rule tagged, -w 5 everywhere', () => {
    const s = installScript(plan);
    assert.match(s, /\nset -e\niptables -w 5 -t nat -N phonehome_8899\n/);
    assert.match(
      s,
      /\niptables -w 5 -t nat -A phonehome_8899 -p tcp ! -o lo -m owner --uid-owner 10050 -m comment --comment phonehome:8899:redirect:10050 -j REDIRECT --to-ports 8899\n/,
    );
    assert.match(
      s,
      /\niptables -w 5 -A phonehome_8899 -m owner --uid-owner 10050 -m comment --comment phonehome:8899:reject:10050 -j REJECT\n/,
    );
    assert.match(
      s,
      /\nip6tables -w 5 -A phonehome_8899 ! -o lo -m owner --uid-owner 10050 -m comment --comment phonehome:8899:reject6:10050 -j REJECT\n/,
    );
    assert.match(s, /\niptables -w 5 -I OUTPUT 1 -m comment --comment phonehome:8899 -j phonehome_8899\n/);
    assert.ok(s.split('\n').every((l) => !/^(iptables|ip6tables) /.test(l) || / -w 5 /.test(l)));
    const pass = planBypassRules({ devicePort: 8899, mode: 'passthrough', uids: plan.uids });
    assert.ok(pass.rules.some((r) => r.kind === 'count' && !r.args.includes('-j')));
    assert.match(
      removalScript(plan),
      /^n=0; while iptables -w 5 -t nat -D OUTPUT -m comment --comment phonehome:8899 -j phonehome_8899 2>\/dev\/null; do/,
    );
  });

  it('parses -L -v -n -x with count-only rules, line numbers and protocol names', () => {
    const text = [
      'Chain phonehome_8899 (1 references)',
      'num      pkts      bytes target     prot opt in     out     source               destination         ',
      '1          12     1400 ACCEPT     0    --  *      lo      0.0.0.0/0            0.0.0.0/0            owner UID match 10050 /* phonehome:8899:lo:10050 */',
      '2           3      180            all  --  *      *       0.0.0.0/0            0.0.0.0/0            owner UID match 10050 /* phonehome:8899:count:10050 */',
    ].join('\n');
    const rows = parseIptablesList(text);
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => [r.packets, r.bytes, r.target, r.prot, r.out, r.comment]),
      [
        [12, 1400, 'ACCEPT', '0', 'lo', 'phonehome:8899:lo:10050'],
        [3, 180, '', 'all', '*', 'phonehome:8899:count:10050'],
      ],
    );
  });

  it('finds leftovers by tag and leaves live wirings alone', () => {
    const filter = [
      '-P OUTPUT ACCEPT',
      '-N phonehome_7000',
      '-N phonehome_8899',
      '-A OUTPUT -m comment --comment "phonehome:7000" -j phonehome_7000',
      '-A OUTPUT -m comment --comment "phonehome:8899" -j phonehome_8899',
      '-A OUTPUT -m owner --uid-owner 10050 -m comment --comment "phonehome:6000:reject:10050" -j REJECT',
      '-A OUTPUT -j oem_out',
    ].join('\n');
    const { script, found } = leftoverScript(
      new Map([['iptables filter', filter]]),
      new Set(['phonehome:8899']),
    );
    assert.deepEqual(found, [
      'iptables filter: -A OUTPUT -m comment --comment "phonehome:7000" -j phonehome_7000',
      'iptables filter: -A OUTPUT -m owner --uid-owner 10050 -m comment --comment "phonehome:6000:reject:10050" -j REJECT',
      'iptables filter: chain phonehome_7000',
    ]);
    assert.match(script, /iptables -w 5 -D OUTPUT -m comment --comment "phonehome:7000" -j phonehome_7000/);
    assert.doesNotMatch(script, /8899/);
  });
});

describe('bypass: compare()', () => {
  const rows = (extra: Partial<TrafficSnapshot['rows'][number]>[] = []): TrafficSnapshot['rows'] =>
    extra.map((e) => ({
      uid: 10050,
      iface: 'wlan0',
      tag: 0,
      set: 0,
      rxBytes: 0,
      rxPackets: 0,
      txBytes: 0,
      txPackets: 0,
      ...e,
    }));
  const snap = (r: TrafficSnapshot['rows'], more: Partial<TrafficSnapshot> = {}): TrafficSnapshot => ({
    at: 0,
    source: 'dumpsys netd trafficcontroller',
    rows: r,
    bootId: 'b1',
    ...more,
  });
  const monitor = (plan: ReturnType<typeof planBypassRules> | null = null) =>
    createBypassMonitor({
      device: fakeDevice({ 'cmd package list packages -U': 'package:com.mi.globalbrowser uid:10050\n' }),
      sdk: 29,
      packages: ['com.mi.globalbrowser'],
      plan,
      uidPackages: new Map(),
    });

  it('reports app bytes off loopback as leaks, DNS apart, loopback and system uids not at all', async () => {
    const before = snap(
      rows([
        { txBytes: 100, txPackets: 1 },
        { iface: 'lo', txBytes: 5 },
      ]),
    );
    const after = snap(
      rows([
        { txBytes: 160, txPackets: 2, rxBytes: 40, rxPackets: 1 },
        { iface: 'lo', txBytes: 50000 },
        { tag: TAG_SYSTEM_DNS, txBytes: 73, rxBytes: 89 },
        { uid: 2000, iface: 'wlan0', txBytes: 9 },
      ]),
    );
    const r = await monitor().compare(before, after);
    assert.deepEqual(r.checked, ['per-UID accounting (dumpsys netd trafficcontroller)']);
    assert.deepEqual(r.unavailable, []);
    assert.deepEqual(r.leaks, [
      {
        uid: 10050,
        packages: ['com.mi.globalbrowser'],
        txBytes: 60,
        rxBytes: 40,
        txPackets: 1,
        ifaces: ['wlan0'],
        seenBy: 'per-UID accounting (dumpsys netd trafficcontroller)',
      },
    ]);
    assert.deepEqual(r.dns, [{ uid: 10050, packages: ['com.mi.globalbrowser'], txBytes: 73, rxBytes: 89 }]);
  });

  it('a poll (counters went back) or a reboot is reported as unavailable, never as negative bytes', async () => {
    const before = snap(rows([{ txBytes: 500, txPackets: 5 }]));
    const polled = snap(rows([{ txBytes: 60, txPackets: 1 }]));
    const r = await monitor().compare(before, polled);
    assert.equal(r.unavailable.length, 1);
    assert.match(r.unavailable[0] ?? '', /went back/);
    assert.equal(r.leaks[0]?.txBytes, 60, 'what was counted since, as a lower bound');
    const rebooted = await monitor().compare(before, { ...polled, bootId: 'b2' });
    assert.match(rebooted.unavailable.join(' '), /rebooted/);
    const unreadable = await monitor().compare(
      before,
      snap([], { source: undefined, unavailable: 'no per-UID traffic counters (x)' }),
    );
    assert.deepEqual(unreadable.unavailable, ['per-UID accounting: no per-UID traffic counters (x)']);
  });

  it('reads rejects and redirects from the rule counters (rooted)', async () => {
    const plan = planBypassRules({
      devicePort: 8899,
      mode: 'block',
      uids: [{ uid: 10050, packages: ['com.mi.globalbrowser'] }],
    });
    const counters = (redirect: number, reject: number, reject6: number) => ({
      rules: [
        {
          spec: 'x',
          id: 'phonehome:8899:redirect:10050',
          kind: 'redirect' as const,
          uid: 10050,
          packets: redirect,
          bytes: redirect * 60,
        },
        {
          spec: 'y',
          id: 'phonehome:8899:reject:10050',
          kind: 'reject' as const,
          uid: 10050,
          packets: reject,
          bytes: reject * 60,
        },
        {
          spec: 'z',
          id: 'phonehome:8899:reject6:10050',
          kind: 'reject6' as const,
          uid: 10050,
          packets: reject6,
          bytes: reject6 * 80,
        },
      ],
    });
    const r = await monitor(plan).compare(
      snap([], { iptables: counters(1, 0, 0) }),
      snap([], { iptables: counters(3, 1, 1) }),
    );
    assert.deepEqual(r.checked, [
      'per-UID accounting (dumpsys netd trafficcontroller)',
      'iptables owner rules (rooted)',
    ]);
    assert.deepEqual(r.redirected, [{ uid: 10050, packages: ['com.mi.globalbrowser'], connections: 2 }]);
    assert.deepEqual(r.rejected, [
      { uid: 10050, packages: ['com.mi.globalbrowser'], packets: 2, bytes: 140 },
    ]);
    // Without per-UID counters the rules still measure the covered apps.
    const noUid = await monitor(plan).compare(
      snap([], { source: undefined, unavailable: 'gone', iptables: counters(0, 0, 0) }),
      snap([], { source: undefined, unavailable: 'gone', iptables: counters(0, 0, 0) }),
    );
    assert.deepEqual(noUid.unavailable, []);
    assert.deepEqual(noUid.checked, ['iptables owner rules (rooted)']);
  });
});
