/**
 * Capture sessions on virtual phones (issue 4 §1–2), end to end through the real parts: a private
 * adb server, adbkit (src/device), virtual phones, mockttp (src/capture/session.ts) and the real
 * decoders and detector. Per CA method: what the session decrypts (the canary in the Sensors upload,
 * with its provenance), what it only sees as TLS failures, and which identifiers each upload carries.
 * Then: the phone is left exactly as found, and the rollback and the journal when things fail.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabCa } from '../../src/capture/ca.ts';
import type { CaptureRecord } from '../../src/capture/exchange.ts';
import { Journal, type JournalEntry } from '../../src/capture/journal.ts';
import { recoverStaleWirings } from '../../src/capture/recover.ts';
import { PhoneCapture } from '../../src/capture/phone-capture.ts';
import { CaptureSession } from '../../src/capture/session.ts';
import {
  restorePhone,
  wirePhone,
  WiringError,
  type CaMethod,
  type Wiring,
} from '../../src/capture/wiring.ts';
import { readIdentifiers, type Identifier } from '../../src/detect/index.ts';
import { openDevice, type Device } from '../../src/device/index.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import {
  ADS_URL,
  analyse,
  APEX_CACERTS,
  BROWSER_ACTIVITY,
  browseCanaries,
  canaries,
  eventually,
  exchanges,
  SENSORS_HOST,
  snapshot,
  SYS_CACERTS,
  token,
  USER_CACERTS,
  where,
  type Analysed,
  type Canaries,
  provisionCa,
} from '../support/capture.ts';
import { startLab, type TestLab } from '../support/lab.ts';
import { AdbPhone, byId, FAST_TIMINGS } from '../support/xiaomi.ts';

const SENSORS_PATH = /^body › form\.data_list › base64 › gzip › json\[\d+\]\.properties\./;

interface Rig {
  lab: TestLab;
  tmp: string;
  ca: LabCa;
  journal: Journal;
  /** Sessions and wirings a test started; undone after each test whatever happened. */
  open: Array<{ session: CaptureSession; wiring: Wiring | null }>;
}

async function rigUp(profiles: string[]): Promise<Rig> {
  const tmp = mkdtempSync(join(tmpdir(), 'phonehome-capture-'));
  const ca = await LabCa.load(join(tmp, 'ca'));
  const lab = await startLab(profiles, {}, { telemetryTimings: FAST_TIMINGS });
  return { lab, tmp, ca, journal: new Journal(join(tmp, 'state')), open: [] };
}

async function rigDown(r: Rig | undefined): Promise<void> {
  if (!r) return;
  await closeOpen(r);
  await r.lab.stop();
  rmSync(r.tmp, { recursive: true, force: true });
}

async function closeOpen(r: Rig): Promise<void> {
  for (const o of r.open.splice(0).reverse()) {
    await o.wiring?.restore().catch(() => undefined);
    await o.session.stop();
  }
}

function deviceOf(r: Rig, lp: LabPhone, timeoutMs = 10_000): Device {
  return openDevice({ port: r.lab.adb.port }, lp.serial, { timeoutMs });
}

interface Captured {
  session: CaptureSession;
  records: CaptureRecord[];
  wiring: Wiring;
  device: Device;
  phone: AdbPhone;
}

/** A capture session (block mode) and `lp` wired to it with `caMethod`. */
async function capture(r: Rig, lp: LabPhone, caMethod: CaMethod | 'auto' = 'auto'): Promise<Captured> {
  const session = await CaptureSession.start({ dir: join(r.tmp, `cap-${token()}`), ca: r.ca });
  const slot: Rig['open'][number] = { session, wiring: null };
  r.open.push(slot);
  const records: CaptureRecord[] = [];
  session.on('record', (x) => records.push(x));
  const device = deviceOf(r, lp);
  const wiring = await wirePhone(device, {
    ca: r.ca,
    hostPort: session.port,
    caMethod,
    journal: r.journal,
    adb: { host: '127.0.0.1', port: r.lab.adb.port },
  });
  slot.wiring = wiring;
  return { session, records, wiring, device, phone: new AdbPhone(r.lab.adb.port, lp.serial) };
}

function phoneOf(r: Rig, index: number): LabPhone {
  const lp = r.lab.phones[index];
  assert.ok(lp, `lab phone #${index}`);
  return lp;
}

const idValue = (ids: Identifier[], name: string): string => {
  const v = ids.find((i) => i.name === name)?.value;
  assert.ok(v, `identifier ${name} read from the phone: ${JSON.stringify(ids)}`);
  return v;
};

/** The HTTPS Sensors uploads were decrypted: both canaries at their provenance, the identifiers it carries. */
function assertSensorsDecrypted(a: Analysed[], c: Canaries, ids: Identifier[]): void {
  const sensors = a.filter((x) => x.record.host === SENSORS_HOST);
  assert.ok(sensors.length > 0, `a Sensors upload was captured: ${a.map((x) => x.record.url).join('\n')}`);
  for (const s of sensors) {
    assert.ok(s.record.url.startsWith('https://'), s.record.url);
    assert.equal(s.record.tls?.sni, SENSORS_HOST);
    assert.equal(s.record.response?.status, 200, 'answered like the collector');
    assert.equal(s.record.response?.source, 'local', 'block mode: nothing left the lab');
    assert.ok(
      s.findings.some((f) => f.kind === 'tracker' && f.value === 'miui-sensors'),
      JSON.stringify(s.findings),
    );
  }
  const url = where(sensors, 'canary', c.url).map((w) => w.replace(`${SENSORS_HOST} `, ''));
  assert.ok(
    url.some((p) => SENSORS_PATH.test(p) && p.endsWith('.properties.url')),
    `the canary URL in page_load_event_*: ${url.join('\n')}`,
  );
  const word = where(sensors, 'canary', c.word).map((w) => w.replace(`${SENSORS_HOST} `, ''));
  assert.ok(
    word.some((p) => SENSORS_PATH.test(p) && p.endsWith('.properties.search_word')),
    `the canary search word in 'search': ${word.join('\n')}`,
  );
  // Sensors carries ANDROID_ID ($device_id and android_id) and the model on every event.
  const androidId = where(sensors, 'identifier', idValue(ids, 'android_id'));
  assert.ok(
    androidId.some((p) => p.endsWith('.properties.$device_id')),
    androidId.join('\n'),
  );
  assert.ok(
    androidId.some((p) => p.endsWith('.properties.android_id')),
    androidId.join('\n'),
  );
  const model = where(sensors, 'identifier', idValue(ids, 'model'));
  assert.ok(
    model.some((p) => p.endsWith('.properties.$model')),
    model.join('\n'),
  );
}

/** The plain-HTTP splash-ad request: captured whatever the CA method, with ANDROID_ID and the model. */
function assertAdsCaptured(a: Analysed[], c: Canaries, ids: Identifier[]): void {
  const ads = a.filter((x) => x.record.url === ADS_URL);
  assert.ok(ads.length > 0, `the splash-ad request (plain HTTP): ${a.map((x) => x.record.url).join('\n')}`);
  assert.equal(ads[0]!.record.tls, undefined, 'plain HTTP');
  assert.deepEqual(
    where(ads, 'identifier', idValue(ids, 'android_id')).filter((p) => p.endsWith('json.userInfo.androidId'))
      .length,
    ads.length,
    'ANDROID_ID in userInfo.androidId of every ad request',
  );
  assert.ok(
    where(ads, 'identifier', idValue(ids, 'model')).some((p) => p.endsWith('json.deviceInfo.model')),
    'the model in deviceInfo.model',
  );
  assert.deepEqual([...where(ads, 'canary', c.url), ...where(ads, 'canary', c.word)], [], 'no canary in ads');
}

/** No upload of the virtual phones carries the serial number in any form. */
function assertNoSerial(a: Analysed[], ids: Identifier[]): void {
  assert.deepEqual(where(a, 'identifier', idValue(ids, 'serial')), [], 'the serial is not uploaded');
}

/** Nothing HTTPS was decrypted; the HTTPS hosts show up as TLS failures with their SNI. */
function assertOnlyTlsFailures(records: CaptureRecord[], hosts: string[]): void {
  const https = exchanges(records).filter((x) => x.url.startsWith('https:'));
  assert.deepEqual(
    https.map((x) => x.url),
    [],
    'no HTTPS exchange was decrypted',
  );
  const failed = new Set(records.flatMap((x) => (x.type === 'tls-failure' ? [x.host] : [])));
  for (const h of hosts) assert.ok(failed.has(h), `a TLS failure for ${h}: ${[...failed].join(', ')}`);
  for (const f of records)
    if (f.type === 'tls-failure') assert.ok(['cert-rejected', 'closed', 'reset'].includes(f.cause), f.cause);
}

async function tlsFailuresFor(records: CaptureRecord[], hosts: string[]): Promise<void> {
  const seen = (): Set<string> => new Set(records.flatMap((x) => (x.type === 'tls-failure' ? [x.host] : [])));
  assert.ok(
    await eventually(() => hosts.every((h) => seen().has(h))),
    `TLS failures for ${hosts.join(', ')}: ${[...seen()].join(', ')}`,
  );
}

async function lsOk(phone: AdbPhone, path: string, asRoot = false): Promise<boolean> {
  const r = await phone.adb(['shell', asRoot ? `su -c 'ls ${path}'` : `ls ${path}`]);
  return r.code === 0;
}

/** Makes the lab CA a system CA in the phone's image (as test/support/xiaomi.ts installSystemCa does). */

// ===================================================================================== CA methods

describe('capture: each CA method on its phone, real traffic through the session', function () {
  this.timeout(30_000);
  let r: Rig;
  // 0 rooted Android 10, 1 rooted Android 14 (APEX), 2 non-rooted, 3 China non-rooted,
  // 4 non-rooted with the CA in its image, 5 rooted Android 10 (user store)
  before(async () => {
    r = await rigUp([
      'redmi-note-8-leaky-rooted',
      'xiaomi-13-hyperos-rooted',
      'redmi-note-8-leaky',
      'redmi-note-11-china',
      'redmi-note-8-leaky',
      'redmi-note-8-leaky-rooted',
    ]);
  });
  afterEach(async () => {
    await closeOpen(r);
  });
  after(async () => {
    await rigDown(r);
  });

  it('auto on rooted Android 10 picks system-tmpfs (never a remount): the canary and identifiers decoded from the Sensors upload', async () => {
    const lp = phoneOf(r, 0);
    const c = await capture(r, lp);
    assert.equal(c.wiring.caMethod, 'system-tmpfs');
    assert.match(c.wiring.coverage, /decrypted/);
    assert.ok(await lsOk(c.phone, `${SYS_CACERTS}/${r.ca.fileName}`), 'the CA is a system CA now');
    const ids = await readIdentifiers(c.device);
    const can = canaries(token());
    await browseCanaries(c.phone, lp, can);
    const a = analyse(c.records, { canaries: [can.url, can.word], identifiers: ids });
    assertSensorsDecrypted(a, can, ids);
    assertAdsCaptured(a, can, ids);
    // The tracking envelope's header names the model.
    const tracking = a.filter((x) => x.record.host === 'tracking.intl.miui.com');
    assert.ok(tracking.length > 0, 'the app_open tracking upload');
    assert.ok(
      where(tracking, 'identifier', idValue(ids, 'model')).some((p) => /miui-envelope\.H\.model$/.test(p)),
      'the model in the H/B header',
    );
    assertNoSerial(a, ids);
    assert.equal(
      c.records.filter((x) => x.type === 'tls-failure').length,
      0,
      'no TLS failure with a system CA',
    );
    const report = await c.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    assert.ok(!(await lsOk(c.phone, `${SYS_CACERTS}/${r.ca.fileName}`)), 'the CA is gone again');
  });

  it('auto on rooted Android 14 picks system-tmpfs: the CA reaches a running app, the canary is decoded', async () => {
    const lp = phoneOf(r, 1);
    const phone = new AdbPhone(r.lab.adb.port, lp.serial);
    await phone.sh(`am start -n ${lp.profile.browser}/${BROWSER_ACTIVITY}`);
    const pid = await phone.pidof(lp.profile.browser);
    assert.ok(pid, 'the browser runs before wiring');
    const c = await capture(r, lp);
    assert.equal(c.wiring.caMethod, 'system-tmpfs');
    const inApp = await phone.su(`nsenter --mount=/proc/${pid}/ns/mnt -- ls ${APEX_CACERTS}`);
    assert.ok(inApp.split(/\s+/).includes(r.ca.fileName), 'the CA in the running app’s namespace');
    // Back to the launcher, so that the visit below brings the browser to the front (app_open, ads).
    await phone.key('HOME');
    const ids = await readIdentifiers(c.device);
    const can = canaries(token());
    await browseCanaries(c.phone, lp, can);
    const a = analyse(c.records, { canaries: [can.url, can.word], identifiers: ids });
    assertSensorsDecrypted(a, can, ids);
    assertAdsCaptured(a, can, ids);
    assertNoSerial(a, ids);
    const report = await c.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    const after = await phone.su(`nsenter --mount=/proc/${pid}/ns/mnt -- ls ${APEX_CACERTS}`);
    assert.ok(!after.split(/\s+/).includes(r.ca.fileName), 'the CA left the app’s namespace');
  });

  it('auto on a non-rooted phone picks none: HTTPS only as TLS failures (SNI), the plain-HTTP ad request captured', async () => {
    const lp = phoneOf(r, 2);
    const c = await capture(r, lp);
    assert.equal(c.wiring.caMethod, 'none');
    assert.match(c.wiring.coverage, /metadata only/);
    const ids = await readIdentifiers(c.device);
    const can = canaries(token());
    await browseCanaries(c.phone, lp, can);
    await tlsFailuresFor(c.records, [
      SENSORS_HOST,
      can.host,
      'www.google.com',
      'data.mistat.intl.xiaomi.com',
    ]);
    assertOnlyTlsFailures(c.records, [SENSORS_HOST, can.host]);
    const a = analyse(c.records, { canaries: [can.url, can.word], identifiers: ids });
    assertAdsCaptured(a, can, ids);
    assert.deepEqual(
      [...where(a, 'canary', can.url), ...where(a, 'canary', can.word)],
      [],
      'the canaries are never seen in clear',
    );
    assertNoSerial(a, ids);
  });

  it('auto on the China ROM (not rooted) picks none: its tracking uploads are TLS failures, nothing decrypted', async () => {
    const lp = phoneOf(r, 3);
    const c = await capture(r, lp);
    assert.equal(c.wiring.caMethod, 'none');
    const can = canaries(token());
    await browseCanaries(c.phone, lp, can);
    await tlsFailuresFor(c.records, ['tracking.miui.com', can.host]);
    assertOnlyTlsFailures(c.records, ['tracking.miui.com', can.host, 'www.google.com']);
    assert.deepEqual(
      exchanges(c.records).map((x) => x.url),
      [],
      'this profile sends no plain HTTP',
    );
  });

  it('auto picks preinstalled when the CA is in the phone image: decrypted without root, the CA stays after restore', async () => {
    const lp = phoneOf(r, 4);
    provisionCa(lp, r.ca);
    const c = await capture(r, lp);
    assert.equal(c.wiring.caMethod, 'preinstalled');
    const ids = await readIdentifiers(c.device);
    const can = canaries(token());
    await browseCanaries(c.phone, lp, can);
    const a = analyse(c.records, { canaries: [can.url, can.word], identifiers: ids });
    assertSensorsDecrypted(a, can, ids);
    assertAdsCaptured(a, can, ids);
    const report = await c.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    assert.ok(
      await lsOk(c.phone, `${SYS_CACERTS}/${r.ca.fileName}`),
      'a provisioned CA is not ours to remove',
    );
  });

  it('user forced on a rooted phone: the CA in the user store only; the browser ignores it, ads are plain HTTP', async () => {
    const lp = phoneOf(r, 5);
    const c = await capture(r, lp, 'user');
    assert.equal(c.wiring.caMethod, 'user');
    assert.match(c.wiring.coverage, /API 24\+ not covered/);
    assert.ok(await lsOk(c.phone, `${USER_CACERTS}/${r.ca.fileName}`, true), 'in the user store');
    assert.ok(!(await lsOk(c.phone, `${SYS_CACERTS}/${r.ca.fileName}`)), 'not a system CA');
    const ids = await readIdentifiers(c.device);
    const can = canaries(token());
    await browseCanaries(c.phone, lp, can);
    await tlsFailuresFor(c.records, [SENSORS_HOST, can.host]);
    assertOnlyTlsFailures(c.records, [SENSORS_HOST, can.host, 'www.google.com']);
    const a = analyse(c.records, { canaries: [can.url, can.word], identifiers: ids });
    assertAdsCaptured(a, can, ids);
    const report = await c.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    assert.ok(!(await lsOk(c.phone, `${USER_CACERTS}/${r.ca.fileName}`, true)), 'the user store is clean');
  });

  for (const method of ['system-remount', 'system-tmpfs', 'user', 'preinstalled'] as const) {
    it(`--ca-method ${method} on a non-rooted phone fails with a WiringError naming the phone and the fix; nothing changed`, async () => {
      const lp = phoneOf(r, 2);
      const phone = new AdbPhone(r.lab.adb.port, lp.serial);
      const before = await snapshot(phone, { rooted: false });
      const session = await CaptureSession.start({ dir: join(r.tmp, `cap-${token()}`), ca: r.ca });
      r.open.push({ session, wiring: null });
      await assert.rejects(
        wirePhone(deviceOf(r, lp), {
          ca: r.ca,
          hostPort: session.port,
          caMethod: method,
          journal: r.journal,
          adb: { host: '127.0.0.1', port: r.lab.adb.port },
        }),
        (err: unknown) => {
          assert.ok(err instanceof WiringError, String(err));
          assert.ok(err.message.includes(lp.serial), err.message);
          assert.ok(err.message.includes(method), err.message);
          assert.match(err.hint ?? '', /--ca-method (auto|preinstalled)/, err.hint);
          return true;
        },
      );
      assert.deepEqual(await snapshot(phone, { rooted: false }), before, 'the phone is untouched');
      assert.deepEqual(r.journal.list(), [], 'no journal entry');
    });
  }
});

// ============================================================================ left exactly as found

describe('capture: the phone is left exactly as found', function () {
  this.timeout(30_000);
  let r: Rig;
  before(async () => {
    r = await rigUp(['redmi-note-8-leaky-rooted', 'xiaomi-13-hyperos-rooted', 'redmi-note-8-leaky']);
  });
  afterEach(async () => {
    await closeOpen(r);
  });
  after(async () => {
    await rigDown(r);
  });

  async function roundTrip(lp: LabPhone, opts: { rooted: boolean; proxyBefore: string | null }) {
    const phone = new AdbPhone(r.lab.adb.port, lp.serial);
    if (opts.proxyBefore !== null) await phone.sh(`settings put global http_proxy ${opts.proxyBefore}`);
    await phone.sh(`am start -n ${lp.profile.browser}/${BROWSER_ACTIVITY}`);
    const pid = await phone.pidof(lp.profile.browser);
    assert.ok(pid, 'the browser runs');
    const snapOpts = { rooted: opts.rooted, ...(opts.rooted ? { appPid: pid } : {}) };
    const before = await snapshot(phone, snapOpts);
    const c = await capture(r, lp);
    assert.equal(c.wiring.previousProxy, opts.proxyBefore);
    const during = await snapshot(phone, snapOpts);
    // The snapshot sees the wiring (so that equality afterwards means something).
    assert.match(
      during['settings list global']!,
      new RegExp(`^http_proxy=127\\.0\\.0\\.1:${c.wiring.devicePort}$`, 'm'),
    );
    assert.match(
      during['adb reverse --list']!,
      new RegExp(`tcp:${c.wiring.devicePort} tcp:${c.session.port}`),
    );
    if (opts.rooted) {
      const key = Object.keys(during).find((k) => k.startsWith(`app ${pid}:`))!;
      assert.ok(during[key]!.includes(r.ca.fileName), `the CA in the app's namespace:\n${during[key]}`);
    }
    await browseCanaries(c.phone, lp, canaries(token()));
    const report = await c.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    const after = await snapshot(phone, snapOpts);
    assert.deepEqual(after, before, 'every setting, rule, mount and listing as before');
    assert.deepEqual(r.journal.list(), [], 'the journal entry is gone after a clean restore');
    return { phone, c };
  }

  it('rooted Android 10 (system-tmpfs), http_proxy previously set: restored to that value', async () => {
    const { phone } = await roundTrip(phoneOf(r, 0), { rooted: true, proxyBefore: '10.9.8.7:3128' });
    assert.equal((await phone.sh('settings get global http_proxy')).trim(), '10.9.8.7:3128');
  });

  it('rooted Android 14 (system-tmpfs), http_proxy unset: the key is absent again and apps go direct', async () => {
    const lp = phoneOf(r, 1);
    const { phone, c } = await roundTrip(lp, { rooted: true, proxyBefore: null });
    assert.doesNotMatch(await phone.sh('settings list global'), /^http_proxy=/m, 'http_proxy absent');
    // The apps no longer use a proxy: the next visit goes direct (the lab refuses it), nothing reaches the session.
    const seen = c.records.length;
    await phone.sh('logcat -c');
    const tok = token();
    await phone.sh(`am start -n ${lp.profile.browser}/${BROWSER_ACTIVITY}`);
    const can = canaries(tok);
    await phone.tap(await phone.waitNode(byId(`${lp.profile.browser}:id/url`), 'the address bar'));
    await phone.text(can.url);
    await phone.key('ENTER');
    await phone.waitNode(byId(`${lp.profile.browser}:id/reload`), 'the error page (connection refused)');
    const log = await phone.sh('logcat -d -s NetworkSink');
    assert.match(log, new RegExp(`${can.host.replace(/\./g, '\\.')}:443 \\(direct\\) refused`), log);
    assert.equal(c.records.length, seen, 'nothing reached the capture session');
  });

  it('non-rooted (none), http_proxy set to :0 before: :0 again, reverse gone', async () => {
    const { phone } = await roundTrip(phoneOf(r, 2), { rooted: false, proxyBefore: ':0' });
    assert.equal((await phone.sh('settings get global http_proxy')).trim(), ':0');
  });

  it('a runner host port taken between two sessions: the next session moves, adb reverse follows it, the upload arrives, restore leaves nothing', async () => {
    const lp = phoneOf(r, 2);
    const phone = new AdbPhone(r.lab.adb.port, lp.serial);
    const device = deviceOf(r, lp);
    const pc = new PhoneCapture({
      device,
      ca: r.ca,
      journal: r.journal,
      adb: { host: '127.0.0.1', port: r.lab.adb.port },
      packages: [],
    });
    // Another program on the port. It hangs up at once: an upload that a queue timer starts before the
    // move reaches it through the old reverse rule, and one that hung instead would hold the queues'
    // drain below past its bound (a flake seen in 1 of 4 runs of this file).
    const squatter = createServer((socket) => socket.destroy());
    try {
      // As the runner wires: a host port first, a session per job on it.
      const wiring = await pc.open({ sessionDir: join(r.tmp, `cap-${token()}`) });
      const first = wiring.hostPort;
      await pc.stopSession();
      await new Promise<void>((ok) => squatter.listen(first, '127.0.0.1', ok));
      const session = await pc.startSession(join(r.tmp, `cap-${token()}`));
      const records: CaptureRecord[] = [];
      session.on('record', (x) => records.push(x));
      assert.notEqual(session.port, first);
      assert.match(
        (await phone.adb(['reverse', '--list'])).stdout.toString(),
        new RegExp(`tcp:${wiring.devicePort} tcp:${session.port}$`, 'm'),
        'the real adb server reverses the device port to the new host port',
      );
      const can = canaries(token());
      // Without the 5 s drain of every queue: in about 1 run of this file in 8, a Sensors upload in
      // flight across the move hung until the virtual client's 20 s timeout (not explained yet; the
      // note of 2026-12-06 says so). What this test shows is that the moved session gets the uploads.
      await browseCanaries(phone, lp, can, { drain: false });
      assert.ok(
        await eventually(() => exchanges(records).some((x) => x.url.startsWith(ADS_URL))),
        `the plain-HTTP ad request reached the moved session: ${JSON.stringify(records.map((x) => x.type))}`,
      );
    } finally {
      squatter.close();
      const report = await pc.close();
      assert.ok(report?.ok, report?.problems.join('; '));
    }
    assert.doesNotMatch(
      (await phone.adb(['reverse', '--list'])).stdout.toString(),
      /tcp:/,
      'no reverse rule left',
    );
    assert.deepEqual(r.journal.list(), []);
  });
});

// ============================================================================== failure and journal

describe('capture: rollback inside wirePhone, the journal, recovery', function () {
  this.timeout(30_000);
  let r: Rig;
  before(async () => {
    r = await rigUp(['redmi-note-8-leaky-rooted', 'xiaomi-13-hyperos-rooted']);
  });
  afterEach(async () => {
    await closeOpen(r);
    for (const lp of r.lab.phones) lp.adbd.clearFaults();
  });
  after(async () => {
    await rigDown(r);
  });

  it('a CA install that fails (a directory where the CA is pushed) rolls back: no proxy, no reverse, no journal entry', async () => {
    const lp = phoneOf(r, 0);
    const phone = new AdbPhone(r.lab.adb.port, lp.serial);
    // A leftover of another tool: a directory under the CA's file name in /data/local/tmp.
    await phone.sh(`mkdir /data/local/tmp/${r.ca.fileName}`);
    try {
      const before = await snapshot(phone, { rooted: true });
      const session = await CaptureSession.start({ dir: join(r.tmp, `cap-${token()}`), ca: r.ca });
      r.open.push({ session, wiring: null });
      const lines: string[] = [];
      await assert.rejects(
        wirePhone(deviceOf(r, lp), {
          ca: r.ca,
          hostPort: session.port,
          journal: r.journal,
          adb: { host: '127.0.0.1', port: r.lab.adb.port },
          log: (l) => lines.push(l),
        }),
        /Is a directory/,
      );
      // It did get as far as the proxy before failing: the rollback had something to undo.
      assert.ok(
        lines.some((l) => /http_proxy 127\.0\.0\.1:/.test(l)),
        lines.join('\n'),
      );
      assert.deepEqual(await snapshot(phone, { rooted: true }), before, 'rolled back to exactly as found');
      assert.equal((await phone.sh('settings get global http_proxy')).trim(), 'null');
      assert.equal((await phone.adb(['reverse', '--list'])).stdout.toString().trim(), '');
      assert.deepEqual(r.journal.list(), [], 'the journal entry is gone');
    } finally {
      await phone.sh(`rmdir /data/local/tmp/${r.ca.fileName}`);
    }
  });

  it('a restore that cannot reach the phone keeps the journal entry; a later one removes it', async () => {
    const lp = phoneOf(r, 0);
    const c = await capture(r, lp);
    assert.equal(r.journal.list().length, 1, 'the plan is on disk while wired');
    lp.adbd.fault('offline');
    const failed = await restorePhone(deviceOf(r, lp, 3000), r.journal.list()[0]!, r.journal);
    assert.equal(failed.ok, false);
    assert.ok(failed.problems.length > 0);
    assert.equal(r.journal.list().length, 1, 'the entry stays while the phone is unreachable');
    lp.adbd.clearFaults();
    await r.lab.lab.waitForState(lp.serial, 'device');
    const report = await c.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    assert.deepEqual(r.journal.list(), [], 'gone after a clean restore');
    assert.ok(!(await lsOk(c.phone, `${SYS_CACERTS}/${r.ca.fileName}`)), 'the CA removed');
  });

  it('recoverStaleWirings: an entry of a dead process stays while the phone is offline, then restores it', async () => {
    const lp = phoneOf(r, 1);
    const phone = new AdbPhone(r.lab.adb.port, lp.serial);
    const before = await snapshot(phone, { rooted: true });
    const c = await capture(r, lp);
    assert.equal(c.wiring.caMethod, 'system-tmpfs');
    // The process that wired it "died": the entry's owner is a pid that has exited.
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    assert.ok(dead);
    const [entry] = r.journal.list();
    assert.ok(entry);
    const orphan: JournalEntry = { ...entry, owner: { pid: dead } };
    r.journal.write(orphan);
    r.open.find((o) => o.wiring === c.wiring)!.wiring = null; // nobody restores it in this process
    lp.adbd.fault('offline');
    // The adb server notices the dropped transport a moment later: wait until it lists it offline.
    await r.lab.lab.waitForState(lp.serial, 'offline');
    const notes: string[] = [];
    const first = await recoverStaleWirings(r.journal, { timeoutMs: 3000, log: (l) => notes.push(l) });
    assert.equal(first.length, 1);
    assert.equal(first[0]!.report, null);
    assert.match(first[0]!.note, /not available/);
    assert.equal(r.journal.list().length, 1, 'kept for later');
    lp.adbd.clearFaults();
    await r.lab.lab.waitForState(lp.serial, 'device');
    const second = await recoverStaleWirings(r.journal, { timeoutMs: 5000, log: (l) => notes.push(l) });
    assert.equal(second.length, 1);
    assert.ok(second[0]!.report?.ok, notes.join('\n'));
    assert.deepEqual(r.journal.list(), [], 'the entry is gone');
    assert.equal(readdirSync(r.journal.dir).filter((n) => n.endsWith('.json')).length, 0);
    // The reconnection dropped the reverse rule; everything else is back too.
    assert.deepEqual(await snapshot(phone, { rooted: true }), before);
  });
});
