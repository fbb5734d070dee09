/**
 * Traffic around the capture (issue 10) end to end: a private adb server, virtual phones, a real
 * CaptureSession (mockttp), and the harness reading Android's own counters (src/capture/bypass.ts).
 *
 * - Unrooted: no rules are attempted; an app connecting direct shows up in `dumpsys netd
 *   trafficcontroller` as read by readTraffic, and the wiring's monitor reports it as a leak.
 * - Rooted (Android 10 and 14): wirePhone installs the iptables rules (`iptables -S`); a direct
 *   HTTPS request of an app is redirected into the capture and recorded with its host and SNI,
 *   IPv6 is rejected and counted, and restore (and the journal at the next start) leaves `iptables
 *   -S` exactly as found, leftovers of dead wirings included.
 * - The harness's command lines against Debian's real iptables in a network namespace: the install
 *   script is accepted, `-L -v -n -x` parses, removal restores iptables-save byte for byte.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  countersScript,
  installScript,
  listRulesScript,
  parseIptablesList,
  planBypassRules,
  readTraffic,
  removalScript,
  splitSections,
  type IptablesBins,
} from '../../src/capture/bypass.ts';
import { LabCa } from '../../src/capture/ca.ts';
import type { CaptureRecord } from '../../src/capture/exchange.ts';
import { Journal, type JournalEntry } from '../../src/capture/journal.ts';
import { recoverStaleWirings } from '../../src/capture/recover.ts';
import { CaptureSession } from '../../src/capture/session.ts';
import { wirePhone, type Wiring } from '../../src/capture/wiring.ts';
import { openDevice, type Device } from '../../src/device/index.ts';
import { PhoneHttpError } from '../../src/virtual/apps/events.ts';
import { netState } from '../../src/virtual/os/kernel-net.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { eventually, exchanges, token } from '../support/capture.ts';
import { startLab, type TestLab } from '../support/lab.ts';
import { AdbPhone, FAST_TIMINGS } from '../support/xiaomi.ts';

const BROWSER = 'com.mi.globalbrowser';

interface Rig {
  lab: TestLab;
  tmp: string;
  ca: LabCa;
  journal: Journal;
  open: Array<{ session: CaptureSession; wiring: Wiring | null }>;
}

async function rigUp(profiles: string[]): Promise<Rig> {
  const tmp = mkdtempSync(join(tmpdir(), 'phonehome-bypass-'));
  const ca = await LabCa.load(join(tmp, 'ca'));
  const lab = await startLab(profiles, {}, { telemetryTimings: FAST_TIMINGS });
  return { lab, tmp, ca, journal: new Journal(join(tmp, 'state')), open: [] };
}

async function rigDown(r: Rig | undefined): Promise<void> {
  if (!r) return;
  for (const o of r.open.splice(0).reverse()) {
    await o.wiring?.restore().catch(() => undefined);
    await o.session.stop();
  }
  await r.lab.stop();
  rmSync(r.tmp, { recursive: true, force: true });
}

interface Captured {
  session: CaptureSession;
  records: CaptureRecord[];
  wiring: Wiring;
  device: Device;
}

async function capture(r: Rig, lp: LabPhone, packages: string[]): Promise<Captured> {
  const session = await CaptureSession.start({ dir: join(r.tmp, `cap-${token()}`), ca: r.ca });
  const slot: Rig['open'][number] = { session, wiring: null };
  r.open.push(slot);
  const records: CaptureRecord[] = [];
  session.on('record', (x) => records.push(x));
  const device = openDevice({ port: r.lab.adb.port }, lp.serial, { timeoutMs: 15_000 });
  const wiring = await wirePhone(device, {
    ca: r.ca,
    hostPort: session.port,
    journal: r.journal,
    adb: { host: '127.0.0.1', port: r.lab.adb.port },
    bypass: { packages },
    mode: 'block',
  });
  slot.wiring = wiring;
  return { session, records, wiring, device };
}

/** What `iptables -S` prints for every table the rules use (root through su). */
async function iptablesState(phone: AdbPhone): Promise<string> {
  return phone.su('iptables -w 5 -S; iptables -w 5 -t nat -S; ip6tables -w 5 -S');
}

async function direct(lp: LabPhone, url: string): Promise<PhoneHttpError | { status: number }> {
  return lp.phone.http
    .request({ app: BROWSER, method: 'POST', url, body: Buffer.from('canary=1'), proxy: 'direct' })
    .then(
      (res) => ({ status: res.status }),
      (e: unknown) => {
        if (e instanceof PhoneHttpError) return e;
        throw e;
      },
    );
}

describe('bypass: an unrooted phone (per-UID accounting only)', function () {
  let r: Rig | undefined;
  before(async function () {
    this.timeout(60_000);
    r = await rigUp(['redmi-note-8-leaky']);
  });
  after(async () => rigDown(r));

  it('attempts no rules; a direct connection shows in dumpsys netd trafficcontroller and as a leak', async function () {
    this.timeout(60_000);
    const lp = r!.lab.phones[0]!;
    const c = await capture(r!, lp, [BROWSER]);
    const [entry] = r!.journal.list();
    assert.equal(entry?.bypass, null, 'no rules planned on an unrooted phone');
    assert.ok(
      ![...netState(lp.phone).netfilter.v4.tables.values()].some((t) =>
        t.chains.has('phonehome_' + c.wiring.devicePort),
      ),
    );
    assert.deepEqual(c.wiring.bypass.packages, [BROWSER]);
    const uid = lp.phone.packages.get(BROWSER)!.uid;
    const before = await c.wiring.bypass.snapshot();
    assert.equal(before.source, 'dumpsys netd trafficcontroller');
    const res = await direct(lp, 'https://sa.api.intl.miui.com/sa?project=x');
    assert.ok(res instanceof PhoneHttpError && res.failure === 'refused', JSON.stringify(res));
    const reading = await readTraffic(c.device);
    assert.equal(reading.source, 'dumpsys netd trafficcontroller');
    const row = reading.rows.find((x) => x.uid === uid && x.iface === 'wlan0' && x.tag === 0);
    assert.ok(row && row.txBytes >= 60 && row.txPackets >= 1, JSON.stringify(reading.rows));
    const after = await c.wiring.bypass.snapshot();
    const report = await c.wiring.bypass.compare(before, after);
    assert.deepEqual(report.checked, ['per-UID accounting (dumpsys netd trafficcontroller)']);
    assert.deepEqual(report.unavailable, []);
    const leak = report.leaks.find((l) => l.uid === uid);
    assert.ok(leak, JSON.stringify(report));
    assert.deepEqual(leak.packages, [BROWSER]);
    assert.deepEqual(leak.ifaces, ['wlan0']);
    assert.equal(leak.txBytes, 60, 'the SYN that the lab refused');
    assert.deepEqual(report.rejected, []);
    assert.deepEqual(report.redirected, []);
  });
});

for (const profile of ['redmi-note-8-leaky-rooted', 'xiaomi-13-hyperos-rooted']) {
  describe(`bypass: a rooted phone, iptables rules (${profile})`, function () {
    let r: Rig | undefined;
    before(async function () {
      this.timeout(60_000);
      r = await rigUp([profile]);
    });
    after(async () => rigDown(r));

    it('redirects a direct HTTPS request into the capture, rejects IPv6, and restore leaves iptables as found', async function () {
      this.timeout(90_000);
      const lp = r!.lab.phones[0]!;
      const phone = new AdbPhone(r!.lab.adb.port, lp.serial);
      const found = await iptablesState(phone);
      const c = await capture(r!, lp, [BROWSER]);
      const uid = lp.phone.packages.get(BROWSER)!.uid;
      const port = c.wiring.devicePort;
      const [entry] = r!.journal.list();
      assert.ok(entry?.bypass, 'the rules are in the journal');
      assert.equal(entry.bypass.rules.length, 6);
      const s = await iptablesState(phone);
      assert.match(
        s,
        new RegExp(
          `\\n-A OUTPUT -m comment --comment "phonehome:${port}" -j phonehome_${port}\\n-A OUTPUT -j oem_out\\n`,
        ),
      );
      assert.match(
        s,
        new RegExp(
          `\\n-A phonehome_${port} ! -o lo -p tcp -m owner --uid-owner ${uid} -m comment --comment "phonehome:${port}:redirect:${uid}" -j REDIRECT --to-ports ${port}\\n`,
        ),
      );
      assert.match(
        s,
        new RegExp(
          `\\n-A phonehome_${port} -m owner --uid-owner ${uid} -m comment --comment "phonehome:${port}:reject:${uid}" -j REJECT --reject-with icmp-port-unreachable\\n`,
        ),
      );
      assert.match(
        s,
        new RegExp(
          `\\n-A phonehome_${port} ! -o lo -m owner --uid-owner ${uid} -m comment --comment "phonehome:${port}:reject6:${uid}" -j REJECT --reject-with icmp6-port-unreachable\\n`,
        ),
      );
      const listing = await phone.su(`iptables -w 5 -L phonehome_${port} -v -n -x`);
      assert.equal(parseIptablesList(listing).length, 3);

      const before = await c.wiring.bypass.snapshot();
      assert.equal(before.iptables?.rules.length, 6);
      const canary = `canary${token()}`;
      const res = await direct(lp, `https://sa.api.intl.miui.com/sa?project=${canary}`);
      assert.deepEqual(res, { status: 200 }, 'answered by the capture like the collector');
      const plain = await direct(lp, `http://api.ad.intl.xiaomi.com/getSplashScreenAds?c=${canary}`);
      assert.deepEqual(plain, { status: 200 });
      const v6 = await direct(lp, 'https://[2001:db8::1]/x');
      assert.ok(v6 instanceof PhoneHttpError && v6.failure === 'refused', JSON.stringify(v6));
      assert.ok(await eventually(() => exchanges(c.records).some((x) => x.url.includes(canary))));
      const rec = exchanges(c.records).find((x) => x.url.includes(canary))!;
      assert.equal(rec.host, 'sa.api.intl.miui.com');
      assert.equal(rec.url, `https://sa.api.intl.miui.com/sa?project=${canary}`);
      assert.equal(rec.tls?.sni, 'sa.api.intl.miui.com');
      assert.equal(rec.request.body.toString(), 'canary=1');
      // Plain HTTP in origin form (a relative path and a Host header) is recorded with its host too.
      assert.ok(await eventually(() => exchanges(c.records).some((x) => x.url.includes(`c=${canary}`))));
      const http = exchanges(c.records).find((x) => x.url.includes(`c=${canary}`))!;
      assert.equal(http.url, `http://api.ad.intl.xiaomi.com/getSplashScreenAds?c=${canary}`);
      assert.equal(http.host, 'api.ad.intl.xiaomi.com');
      assert.equal(http.tls, undefined);

      const after = await c.wiring.bypass.snapshot();
      const report = await c.wiring.bypass.compare(before, after);
      assert.deepEqual(report.checked, [
        `per-UID accounting (${after.source})`,
        'iptables owner rules (rooted)',
      ]);
      assert.deepEqual(report.unavailable, []);
      assert.deepEqual(report.redirected, [{ uid, packages: [BROWSER], connections: 2 }]);
      assert.deepEqual(report.rejected, [{ uid, packages: [BROWSER], packets: 1, bytes: 80 }]);
      assert.equal(
        report.leaks.find((l) => l.uid === uid),
        undefined,
        'nothing of the browser left the phone',
      );
      assert.ok(
        report.dns.some((d) => d.uid === uid),
        'its DNS is reported apart',
      );

      const restored = await c.wiring.restore();
      assert.ok(restored.ok, restored.problems.join('; '));
      assert.match(restored.steps.join('\n'), /iptables bypass rules removed/);
      r!.open.find((o) => o.wiring === c.wiring)!.wiring = null;
      assert.equal(await iptablesState(phone), found, 'iptables -S exactly as found');
      assert.deepEqual(r!.journal.list(), []);
    });

    it('the journal restores the rules at the next start; leftovers of dead wirings are swept by tag', async function () {
      this.timeout(90_000);
      const lp = r!.lab.phones[0]!;
      const phone = new AdbPhone(r!.lab.adb.port, lp.serial);
      const found = await iptablesState(phone);
      // A leftover no journal knows about (its process died before writing one).
      await phone.su(
        'iptables -w 5 -I OUTPUT 1 -m owner --uid-owner 10999 -m comment --comment phonehome:7777:reject:10999 -j REJECT',
      );
      const c = await capture(r!, lp, [BROWSER]);
      assert.doesNotMatch(await iptablesState(phone), /phonehome:7777/, 'swept when wiring');
      const dead = spawnSync(process.execPath, ['-e', '']).pid;
      const [entry] = r!.journal.list();
      assert.ok(entry && dead);
      const orphan: JournalEntry = { ...entry, owner: { pid: dead } };
      r!.journal.write(orphan);
      r!.open.find((o) => o.wiring === c.wiring)!.wiring = null;
      await c.session.stop();
      const notes: string[] = [];
      const out = await recoverStaleWirings(r!.journal, { timeoutMs: 10_000, log: (l) => notes.push(l) });
      assert.equal(out.length, 1);
      assert.ok(out[0]!.report?.ok, notes.join('\n'));
      assert.match(out[0]!.note, /iptables bypass rules removed/);
      assert.equal(await iptablesState(phone), found);
      assert.deepEqual(r!.journal.list(), []);
    });
  });
}

// ------------------------------------------------------------------------------- real iptables

function realIptables(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (a network namespace needs CAP_SYS_ADMIN)';
  for (const bin of ['iptables-legacy', 'ip6tables-legacy', 'iptables-legacy-save', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0)
      return `${bin} is not installed (apt-get install iptables)`;
  }
  const probe = spawnSync('unshare', ['-n', 'iptables-legacy', '-w', '5', '-S'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return `iptables-legacy does not run in a new network namespace: ${probe.stderr.trim()}`;
  return undefined;
}

describe("bypass: the harness's command lines against Debian's iptables (legacy) in a network namespace", () => {
  it('the install script is accepted, -L -v -n -x parses, removal restores iptables-save byte for byte', function () {
    const why = realIptables();
    if (why) {
      this.skip();
      return;
    }
    const bins: IptablesBins = { iptables: 'iptables-legacy', ip6tables: 'ip6tables-legacy' };
    const plan = planBypassRules({
      devicePort: 8899,
      mode: 'block',
      uids: [
        { uid: 10050, packages: ['com.mi.globalbrowser'] },
        { uid: 10077, packages: ['com.miui.analytics'] },
      ],
    });
    const mark = (name: string): string => `echo '#phonehome-section ${name}'`;
    const save =
      'iptables-legacy-save -t filter; iptables-legacy-save -t nat; ip6tables-legacy-save -t filter';
    const netd = [
      'for c in oem_out fw_OUTPUT st_OUTPUT bw_OUTPUT; do iptables-legacy -w 5 -N $c; iptables-legacy -w 5 -A OUTPUT -j $c; ip6tables-legacy -w 5 -N $c; ip6tables-legacy -w 5 -A OUTPUT -j $c; done',
      'iptables-legacy -w 5 -t nat -N oem_nat_pre; iptables-legacy -w 5 -t nat -A PREROUTING -j oem_nat_pre',
    ].join('\n');
    const script = [
      netd,
      mark('before'),
      save,
      mark('install'),
      `(${installScript(plan, bins)}) && echo installed`,
      mark('counters'),
      countersScript(plan, bins),
      mark('rules'),
      listRulesScript(bins),
      mark('remove'),
      removalScript(plan, bins),
      mark('after'),
      save,
    ].join('\n');
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'no iptables complaint');
    const parts = new Map<string, string>();
    let cur = '';
    for (const line of r.stdout.split('\n')) {
      const m = /^#phonehome-section (before|install|counters|rules|remove|after)$/.exec(line);
      if (m) {
        cur = m[1] as string;
        parts.set(cur, '');
      } else if (cur) parts.set(cur, `${parts.get(cur)}${line}\n`);
    }
    assert.equal(parts.get('install')?.trim(), 'installed');
    // The counters listing: one section per table, every rule of the plan found by its comment.
    const counters = splitSections(parts.get('counters') ?? '');
    const listed = [...counters.values()].flatMap((t) => parseIptablesList(t));
    assert.deepEqual(listed.map((l) => l.comment).sort(), plan.rules.map((x) => x.id).sort());
    assert.ok(listed.every((l) => l.packets === 0 && l.bytes === 0));
    assert.ok(
      listed.some((l) => l.target === '' && l.prot === '0') === false,
      'block mode: every rule has a target',
    );
    const rules = splitSections(parts.get('rules') ?? '');
    assert.match(
      rules.get('iptables filter') ?? '',
      /^-A OUTPUT -m comment --comment "phonehome:8899" -j phonehome_8899$/m,
    );
    const stamp = /^# (Generated by|Completed on) .*$/gm;
    const norm = (t: string | undefined): string => (t ?? '').replace(stamp, '# $1').replace(/\n+$/, '\n');
    assert.match(norm(parts.get('before')), /^# Generated by\n\*filter\n/);
    assert.equal(
      norm(parts.get('after')),
      norm(parts.get('before')),
      'iptables-save identical after removal',
    );
  });
});
