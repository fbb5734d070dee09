/**
 * The phone's apps around the proxy (issue 10): `proxy: 'direct'` and `pinning`, the kernel's
 * per-UID accounting (eBPF maps) and device counters as Android tools print them per release,
 * `dumpsys netstats --poll`, and netfilter on the connection path (REJECT, nat REDIRECT, counters).
 */
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { generateCACertificate, getLocal } from 'mockttp';
import { PhoneHttpError } from '../../../../src/virtual/apps/events.ts';
import { netState } from '../../../../src/virtual/os/kernel-net.ts';
import {
  bpfCount,
  netstatsDump,
  trafficControllerDump,
  TrafficAccounting,
} from '../../../../src/virtual/os/traffic.ts';
import type { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { labAddress } from '../../../../src/virtual/netstack/socket.ts';
import { parsePemCertificate, subjectHashOld } from '../../../../src/virtual/netstack/trust.ts';
import { makePhone, sh } from '../os/helpers.ts';

const ROOT = 0;
const BROWSER = 'com.mi.globalbrowser';

async function expectFailure(p: Promise<unknown>, failure: string): Promise<PhoneHttpError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PhoneHttpError, `not a PhoneHttpError: ${String(e)}`);
    assert.equal(e.failure, failure, e.message);
    return e;
  }
  assert.fail(`expected a '${failure}' failure`);
}

const uidOf = (phone: VirtualPhone, pkg = BROWSER): number => phone.packages.get(pkg)?.uid as number;

/** A plain HTTP server on the phone's loopback answering `ok`; collects request heads. */
function httpListener(phone: VirtualPhone, port: number): { heads: string[]; close: () => void } {
  const heads: string[] = [];
  const l = phone.net.listen(`tcp:${port}`, (s) => {
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && !heads.includes(buf.slice(0, end))) {
        heads.push(buf.slice(0, end));
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  return { heads, close: l.close };
}

/** Rows of the selected stats maps for `uid` (both maps), as the kernel holds them. */
interface Counted {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

function rows(phone: VirtualPhone, uid: number): Array<{ iface: number; tag: number; v: Counted }> {
  const t = netState(phone).traffic;
  return (['A', 'B'] as const).flatMap((m) =>
    [...t.statsMaps[m].values()]
      .filter((e) => e.key.uid === uid)
      .map((e) => ({ iface: e.key.ifaceIndex, tag: e.key.tag, v: { ...e.value } })),
  );
}

describe('netstack: apps that ignore the proxy, and pinning', () => {
  it("proxy: 'direct' ignores http_proxy and goes straight out (refused by the sink, counted on wlan0)", async () => {
    const phone = makePhone();
    const proxy = httpListener(phone, 8899);
    await sh(phone, 'settings put global http_proxy 127.0.0.1:8899');
    const via = await phone.http.request({ app: BROWSER, method: 'GET', url: 'http://example.com/a' });
    assert.equal(via.body.toString(), 'ok', 'the system proxy is used by default');
    const e = await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://example.com/b', proxy: 'direct' }),
      'refused',
    );
    assert.match(e.message, /example\.com:80 \(198\.\d+\.\d+\.\d+\): Connection refused/);
    assert.equal(proxy.heads.length, 1, 'the direct request never reached the proxy');
    const uid = uidOf(phone);
    const wlan = rows(phone, uid).filter((r) => r.iface === 30 && r.tag === 0);
    assert.equal(wlan.length, 1);
    // The SYN went out (60 bytes), a RST came back (40): a real kernel counts both.
    assert.deepEqual(wlan[0]?.v, { rxBytes: 40, rxPackets: 1, txBytes: 60, txPackets: 1 });
    // DNS for the app (TAG_SYSTEM_DNS) on wlan0 too; the proxied request only on lo.
    assert.ok(rows(phone, uid).some((r) => r.iface === 30 && r.tag === 0xffffff82));
    assert.ok(rows(phone, uid).some((r) => r.iface === 1 && r.v.txBytes > 0));
    proxy.close();
    phone.close();
  });

  it('pinning: no CA of the phone makes an intercepted TLS connection acceptable', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const ca = await generateCACertificate({ subject: { commonName: 'pinning test CA' } });
    const cert = parsePemCertificate(ca.cert);
    assert.ok(cert);
    // The interceptor's CA in the user store, and an app that trusts user CAs.
    await sh(phone, 'mkdir -p /data/misc/user/0/cacerts-added', ROOT);
    phone.fs.writeFile(`/data/misc/user/0/cacerts-added/${subjectHashOld(cert)}.0`, ca.cert, { mode: 0o644 });
    phone.http.trustsUserCas = () => true;
    const proxy = getLocal({ https: { key: ca.key, cert: ca.cert }, recordTraffic: false });
    await proxy.start();
    await proxy.forAnyRequest().thenReply(200, 'ok');
    // The phone's 127.0.0.1:8899 bridged to the host proxy, as adb reverse would.
    const bridge = phone.net.listen('tcp:8899', (sock) => {
      const c = netConnect(proxy.port, '127.0.0.1');
      sock.pipe(c);
      c.pipe(sock);
      c.on('close', () => sock.destroy());
      sock.on('close', () => c.destroy());
    });
    await sh(phone, 'settings put global http_proxy 127.0.0.1:8899');
    try {
      const ok = await phone.http.request({
        app: BROWSER,
        method: 'GET',
        url: 'https://pinned.example.com/x',
      });
      assert.equal(ok.body.toString(), 'ok', 'the CA in the store makes the interceptor acceptable');
      const e = await expectFailure(
        phone.http.request({
          app: BROWSER,
          method: 'GET',
          url: 'https://pinned.example.com/x',
          pinning: true,
        }),
        'cert-rejected',
      );
      assert.match(e.message, /pin/);
    } finally {
      bridge.close();
      await proxy.stop();
      phone.close();
    }
  });
});

describe('netstack: netfilter on the connection path', () => {
  it('REJECT refuses the connection: counted by iptables, not by the per-UID maps (dropped egress)', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const uid = uidOf(phone);
    const r = await sh(
      phone,
      `iptables -w 5 -I OUTPUT 1 ! -o lo -m owner --uid-owner ${uid} -m comment --comment t -j REJECT`,
      ROOT,
    );
    assert.equal(r.status, 0, r.stderr);
    const e = await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://203.0.113.7/x', proxy: 'direct' }),
      'refused',
    );
    assert.match(e.message, /Connection refused/);
    const list = await sh(phone, 'iptables -w 5 -L OUTPUT 1 -v -n -x', ROOT);
    assert.match(list.stdout, /^ {7}1 {7}60 REJECT /, list.stdout);
    assert.deepEqual(rows(phone, uid), [], 'nothing counted for the app');
    // Another app is not concerned.
    const other = await expectFailure(
      phone.http
        .request({ app: 'com.miui.analytics', method: 'GET', url: 'http://203.0.113.7/x', proxy: 'direct' })
        .catch((x) => {
          throw x;
        }),
      'refused',
    );
    assert.match(other.message, /no network off the lab/);
    phone.close();
  });

  it('nat REDIRECT sends direct TCP to the phone-loopback port in origin form; counters per rule', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const uid = uidOf(phone);
    const target = httpListener(phone, 8899);
    const script = [
      `iptables -w 5 -t nat -I OUTPUT 1 -p tcp ! -o lo -m owner --uid-owner ${uid} -j REDIRECT --to-ports 8899`,
      `iptables -w 5 -I OUTPUT 1 -o lo -m owner --uid-owner ${uid} -j ACCEPT`,
    ].join(' && ');
    assert.equal((await sh(phone, script, ROOT)).status, 0);
    const res = await phone.http.request({
      app: BROWSER,
      method: 'POST',
      url: 'http://tracking.intl.miui.com/track?x=1',
      body: Buffer.from('hello'),
      proxy: 'direct',
    });
    assert.equal(res.body.toString(), 'ok');
    assert.match(
      target.heads[0] ?? '',
      /^POST \/track\?x=1 HTTP\/1\.1\r\nHost: tracking\.intl\.miui\.com\r\n/,
    );
    const nat = await sh(phone, 'iptables -w 5 -t nat -L OUTPUT 1 -v -n -x', ROOT);
    assert.match(nat.stdout, /^ {7}1 {7}60 REDIRECT /, 'one connection: nat sees its first packet only');
    const filter = await sh(phone, 'iptables -w 5 -L OUTPUT 1 -v -n -x', ROOT);
    const [pk] = filter.stdout.trim().split(/\s+/);
    assert.ok(Number(pk) >= 4, `every packet of the app on lo counted: ${filter.stdout}`);
    // The redirected connection is loopback traffic for the accounting: nothing on wlan0 but DNS.
    assert.ok(rows(phone, uid).every((r) => r.iface === 1 || r.tag === 0xffffff82));
    assert.ok(rows(phone, uid).some((r) => r.iface === 1 && r.v.txBytes > 5));
    assert.ok(
      rows(phone, 2000).some((r) => r.iface === 1 && r.v.rxBytes > 5),
      'adbd (uid 2000) is the peer',
    );
    target.close();
    phone.close();
  });

  it('DNS queries are owned by AID_DNS on Android 10 and by the app from Android 11 (iptables owner match)', async () => {
    for (const [profile, owner] of [
      ['redmi-note-8-leaky', 1051],
      ['redmi-note-11-china', 'app'],
    ] as const) {
      const phone = makePhone(profile);
      const uid = owner === 'app' ? uidOf(phone, phone.profile.browser) : owner;
      await sh(phone, `iptables -w 5 -I OUTPUT 1 -p udp --dport 53 -m owner --uid-owner ${uid}`, ROOT);
      await expectFailure(
        phone.http.request({
          app: phone.profile.browser,
          method: 'GET',
          url: 'http://example.org/',
          proxy: 'direct',
        }),
        'refused',
      );
      const l = await sh(phone, 'iptables -w 5 -L OUTPUT 1 -v -n -x', ROOT);
      assert.match(l.stdout, /^ {7}1 /, `${profile}: ${l.stdout}`);
      phone.close();
    }
  });

  it('a rejected DNS query fails the request before any TCP', async () => {
    const phone = makePhone('redmi-note-11-china');
    const uid = uidOf(phone, phone.profile.browser);
    await sh(
      phone,
      `iptables -w 5 -I OUTPUT 1 -p udp --dport 53 -m owner --uid-owner ${uid} -j REJECT`,
      ROOT,
    );
    const e = await expectFailure(
      phone.http.request({
        app: phone.profile.browser,
        method: 'GET',
        url: 'http://example.org/',
        proxy: 'direct',
      }),
      'refused',
    );
    assert.match(e.message, /Unable to resolve host "example\.org"/);
    phone.close();
  });
});

describe('accounting: what the phone prints, per release', () => {
  it('the eBPF GSO correction counts big skbs as 1500-byte packets', () => {
    assert.deepEqual(bpfCount(60, 4), { packets: 1, bytes: 60 });
    assert.deepEqual(bpfCount(52 + 1448, 4), { packets: 1, bytes: 1500 });
    assert.deepEqual(bpfCount(52 + 1449, 4), { packets: 2, bytes: 1449 + 104 });
    assert.deepEqual(bpfCount(72 + 3000, 6), { packets: 3, bytes: 3000 + 216 });
  });

  it('Android 10 `dumpsys netd trafficcontroller` (shell may read it); no xt_qtaguid; /proc/net/dev', async () => {
    const phone = makePhone();
    await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://203.0.113.9/', proxy: 'direct' }),
      'refused',
    );
    const uid = uidOf(phone);
    const d = await sh(phone, 'dumpsys netd trafficcontroller');
    assert.equal(d.status, 0);
    assert.match(d.stdout, /^\n {2}TrafficController\n {4}BPF module status: BPF_LEVEL_EXTENDED\n\n/);
    assert.match(d.stdout, /\n {4}BPF map content:\n\n {6}mCookieTagMap:\n/);
    assert.match(d.stdout, /\n {6}mAppUidStatsMap::\n {6}uid rxBytes rxPackets txBytes txPackets\n/);
    assert.match(
      d.stdout,
      new RegExp(
        `\\n {6}mStatsMapA:\\n {6}ifaceIndex ifaceName tag_hex uid_int cnt_set rxBytes rxPackets txBytes txPackets\\n {6}30 wlan0 0x0 ${uid} 0 40 1 60 1\\n`,
      ),
    );
    assert.match(d.stdout, /\n {6}current statsMap configuration: 0\n/);
    const q = await sh(phone, 'cat /proc/net/xt_qtaguid/stats');
    assert.notEqual(q.status, 0);
    assert.match(q.stderr, /No such file or directory/);
    const dev = await sh(phone, 'cat /proc/net/dev');
    assert.match(
      dev.stdout,
      /^Inter-\| {3}Receive {48}\| {2}Transmit\n face \|bytes {4}packets errs drop fifo frame compressed multicast\|bytes {4}packets errs drop fifo colls carrier compressed\n/,
    );
    // SYN 60 + 14 bytes of Ethernet header out, RST 40 + 14 in (an IP literal: no DNS).
    assert.match(
      dev.stdout,
      / wlan0: {6}54 {7}1 {4}0 {4}0 {4}0 {5}0 {10}0 {9}0 {7}74 {7}1 {4}0 {4}0 {4}0 {5}0 {7}0 {10}0\n$/,
    );
    phone.close();
  });

  it('Android 11 netd dump says "enabled" and the support level; 12/13 layouts by release', () => {
    const t = new TrafficAccounting(0);
    t.bpf(10123, 'wlan0', 'tx', 100, 4, false);
    const ctx = (sdk: number) => ({ sdk, nowMs: 0, wifiKey: 'lab' });
    const r = trafficControllerDump(t, ctx(30));
    assert.match(r, /\n {4}BPF module status: enabled\n {4}BPF support level: Extended \[4\.14\]\n/);
    assert.match(r, /xt_bpf bandwidth whitelist program status: OK/);
    assert.match(r, /current statsMap configuration: 0 SELECT_MAP_A/);
    const s = trafficControllerDump(t, ctx(31));
    assert.doesNotMatch(s, /BPF module status/);
    assert.match(s, /xt_bpf bandwidth allowlist program status: OK/);
    assert.match(s, / {6}30 wlan0 0x0 10123 0 0 0 100 1\n/);
  });

  it('Android 13 `dumpsys connectivity trafficcontroller`; 14+ `dumpsys netstats` ends with BPF map content', async () => {
    const t = new TrafficAccounting(0);
    t.bpf(10123, 'wlan0', 'tx', 100, 4, true);
    const n = netstatsDump(t, { sdk: 34, nowMs: 0, wifiKey: 'lab' }, { full: false, uid: false, tag: false });
    assert.match(
      n,
      /\nBPF map content:\n {2}mCookieTagMap:\n {2}mUidCounterSetMap:\n {4}uid=10123 set=1\n {2}mAppUidStatsMap:\n {4}uid rxBytes rxPackets txBytes txPackets\n {4}10123 0 0 100 1\n {2}mStatsMapA:\n {4}ifaceIndex ifaceName tag_hex uid_int cnt_set rxBytes rxPackets txBytes txPackets\n {4}30 wlan0 0x0 10123 1 0 0 100 1\n {2}mStatsMapB:\n {4}ifaceIndex ifaceName tag_hex uid_int cnt_set rxBytes rxPackets txBytes txPackets\n$/,
    );
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const ns = await sh(phone, 'dumpsys netstats');
    assert.match(ns.stdout, /BPF map content:\n(.|\n)*mStatsMapB:\n/);
    const cn = await sh(phone, 'dumpsys connectivity trafficcontroller');
    assert.doesNotMatch(cn.stdout, /mAppUidStatsMap/, 'Android 14 moved the stats maps to netstats');
    const nd = await sh(phone, 'dumpsys netd trafficcontroller');
    assert.doesNotMatch(nd.stdout, /mStatsMapA/);
    phone.close();
  });

  it('`dumpsys netstats --poll` swaps the stats maps into the history; the per-uid map is never cleared', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const uid = uidOf(phone);
    await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://203.0.113.9/', proxy: 'direct' }),
      'refused',
    );
    const before = (await sh(phone, 'dumpsys netstats')).stdout;
    assert.match(before, new RegExp(`mStatsMapA:\\n.*\\n {4}30 wlan0 0x0 ${uid} 0 40 1 60 1\\n`));
    const poll = await sh(phone, 'dumpsys netstats --poll');
    assert.equal(poll.stdout, 'Forced poll\n');
    const after = (await sh(phone, 'dumpsys netstats detail')).stdout;
    assert.doesNotMatch(after, new RegExp(`30 wlan0 0x0 ${uid} `), 'the old map was cleared');
    assert.match(after, new RegExp(`\\n {4}${uid} 40 1 60 1\\n`), 'mAppUidStatsMap keeps it');
    assert.match(
      after,
      new RegExp(
        `UID stats:\\n  Pending bytes: 0\\n  History since boot:\\n  ident=\\[\\{type=1, .*\\}\\] uid=${uid} set=DEFAULT tag=0x0\\n    NetworkStatsHistory: bucketDuration=7200\\n      st=\\d+ rb=40 rp=1 tb=60 tp=1 op=0\\n`,
      ),
    );
    await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://203.0.113.9/', proxy: 'direct' }),
      'refused',
    );
    assert.match(
      (await sh(phone, 'dumpsys netstats')).stdout,
      new RegExp(`mStatsMapB:\\n.*\\n {4}30 wlan0 0x0 ${uid} 0 40 1 60 1\\n`),
    );
    phone.close();
  });

  it('the lab resolver answers from 198.18.0.0/15, the same address every time', () => {
    assert.equal(labAddress('a.example'), labAddress('A.example'));
    assert.match(labAddress('sa.api.intl.miui.com'), /^198\.1[89]\.\d+\.\d+$/);
  });

  it('a reboot resets the counters and the rules', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    await sh(phone, 'iptables -w 5 -N phonehome_1 && iptables -w 5 -I OUTPUT 1 -j phonehome_1', ROOT);
    await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://203.0.113.9/', proxy: 'direct' }),
      'refused',
    );
    assert.ok(rows(phone, uidOf(phone)).length > 0);
    phone.resetForBoot();
    assert.deepEqual(rows(phone, uidOf(phone)), []);
    const s = await sh(phone, 'iptables -w 5 -S OUTPUT', ROOT);
    assert.equal(
      s.stdout,
      '-P OUTPUT ACCEPT\n-A OUTPUT -j oem_out\n-A OUTPUT -j fw_OUTPUT\n-A OUTPUT -j st_OUTPUT\n-A OUTPUT -j bw_OUTPUT\n',
    );
    phone.close();
  });
});
