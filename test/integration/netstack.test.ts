/**
 * The phone's network stack through the real parts: a private adb server (real `adb reverse`, real
 * `adb shell` quoting), a mockttp proxy on the host with its own CA, and the CA injection sequences
 * real tools run as root (xiaomi-telemetry.md §4.6–4.7).
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLocal, generateCACertificate, type Mockttp } from 'mockttp';
import { PhoneHttpError } from '../../src/virtual/apps/events.ts';
import { parsePemCertificate, subjectHashOld } from '../../src/virtual/netstack/trust.ts';
import type { LabPhone } from '../../src/virtual/lab/virtual-lab.ts';
import { adbRun, startLab, type TestLab } from '../support/lab.ts';

const SYS = '/system/etc/security/cacerts';
const APEX = '/apex/com.android.conscrypt/cacerts';
const BROWSER = 'com.mi.globalbrowser';
const SA_URL = 'https://sa.api.intl.miui.com/sa?project=x&r=IN';
const BODY = 'crc=1&gzip=1&data_list=H4sIAAAAAAAAA4uOBQApu0wNAgAAAA%3D%3D';

/** Marks the requests the tests make: the phone's own background traffic (telemetry) is not counted. */
const MARK = { 'X-Phonehome-Test': '1' };

interface Seen {
  /** Requests the proxy decrypted or forwarded that a test made (marked with MARK). */
  requests: Array<{ method: string; url: string; path: string; host: string | undefined; body: string }>;
  /**
   * TLS handshakes the proxy saw fail, by SNI. node:tls checks the chain after the handshake and
   * then closes without an alert (Conscrypt would send one), so mockttp classifies them as
   * 'closed' or 'reset' rather than 'cert-rejected'.
   */
  tlsErrors: Array<{ sni: string | undefined; cause: string }>;
}

interface Rig {
  lab: TestLab;
  phone: LabPhone;
  proxy: Mockttp;
  seen: Seen;
  /** `<subject_hash_old>.0` of the proxy CA. */
  caName: string;
  shell(cmd: string): Promise<{ stdout: string; stderr: string; code: number | null }>;
  /** `adb -s <serial> …` on the lab's adb server. */
  adb(args: string[]): ReturnType<typeof adbRun>;
  stop(): Promise<void>;
}

/** A phone with `adb reverse tcp:8899` to a mockttp proxy and `http_proxy 127.0.0.1:8899`; the CA pushed. */
async function rig(profile: string): Promise<Rig> {
  const lab = await startLab([profile]);
  const phone = lab.phones[0]!;
  const ca = await generateCACertificate({ subject: { commonName: 'phonehome netstack test CA' } });
  const proxy = getLocal({ https: { key: ca.key, cert: ca.cert }, recordTraffic: false });
  const seen: Seen = { requests: [], tlsErrors: [] };
  try {
    await proxy.start();
    await proxy.forAnyRequest().thenReply(200, 'ok', { 'content-type': 'text/plain' });
    await proxy.on('request', (r) => {
      if (r.headers['x-phonehome-test'] !== '1') return;
      seen.requests.push({
        method: r.method,
        url: r.url,
        path: r.path,
        host: r.headers.host,
        body: r.body.buffer.toString('utf8'),
      });
    });
    await proxy.on('tls-client-error', (e) => {
      seen.tlsErrors.push({ sni: e.tlsMetadata.sniHostname, cause: e.failureCause });
    });
    const adb = (args: string[]) => adbRun(lab.adb.port, ['-s', phone.serial, ...args]);
    const rev = await adb(['reverse', 'tcp:8899', `tcp:${proxy.port}`]);
    assert.equal(rev.code, 0, rev.stderr);
    const caName = `${subjectHashOld(parsePemCertificate(ca.cert)!)}.0`;
    const shell = async (cmd: string) => {
      const r = await adb(['shell', cmd]);
      return { stdout: r.stdout.toString('utf8'), stderr: r.stderr, code: r.code };
    };
    const put = await shell('settings put global http_proxy 127.0.0.1:8899');
    assert.equal(put.code, 0, put.stderr);
    // Push the CA as the tools do (adb push), under its subject_hash_old name.
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-ca-'));
    try {
      writeFileSync(join(dir, caName), ca.cert);
      const push = await adb(['push', join(dir, caName), `/data/local/tmp/${caName}`]);
      assert.equal(push.code, 0, push.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return {
      lab,
      phone,
      proxy,
      seen,
      caName,
      shell,
      adb,
      stop: async () => {
        await proxy.stop();
        await lab.stop();
      },
    };
  } catch (e) {
    await proxy.stop().catch(() => undefined);
    await lab.stop();
    throw e;
  }
}

/** Runs a script as root the way tools do: `adb shell su -c '<script>'` (no single quotes inside). */
async function su(r: Rig, script: string): Promise<string> {
  assert.ok(!script.includes("'"));
  const res = await r.shell(`su -c '${script}'`);
  assert.equal(res.code, 0, `${script}\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

function upload(r: Rig) {
  return r.phone.phone.http.request({
    app: BROWSER,
    method: 'POST',
    url: SA_URL,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...MARK },
    body: Buffer.from(BODY),
  });
}

async function failure(p: Promise<unknown>): Promise<PhoneHttpError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PhoneHttpError, String(e));
    return e;
  }
  assert.fail('the request succeeded');
}

/** Polls `adb shell <cmd>` until its output matches every pattern (bounded); returns it. */
async function waitForShell(r: Rig, cmd: string, patterns: RegExp[], ms = 5000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const out = (await r.shell(cmd)).stdout;
    if (patterns.every((p) => p.test(out))) return out;
    if (Date.now() > end) assert.fail(`'${cmd}' never showed ${patterns.join(', ')}:\n${out}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** mockttp emits its events asynchronously: wait a little for them. */
async function settle(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
}

function assertDecrypted(r: Rig): void {
  assert.equal(r.seen.requests.length, 1);
  const req = r.seen.requests[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, SA_URL);
  assert.equal(req.path, '/sa?project=x&r=IN');
  assert.equal(req.host, 'sa.api.intl.miui.com');
  assert.equal(req.body, BODY);
}

/** The proxy saw `n` failed TLS handshakes for the upload host (after the CONNECT), nothing else. */
function assertTlsFailures(r: Rig, n: number): void {
  assert.equal(r.seen.tlsErrors.length, n);
  for (const e of r.seen.tlsErrors) {
    assert.equal(e.sni, 'sa.api.intl.miui.com');
    assert.ok(['cert-rejected', 'closed', 'reset'].includes(e.cause), e.cause);
  }
}

async function startBrowser(r: Rig): Promise<number> {
  const res = await r.shell(`am start -n ${BROWSER}/com.android.browser.BrowserActivity`);
  assert.equal(res.code, 0, res.stderr);
  const pid = (await r.shell(`pidof ${BROWSER}`)).stdout.trim();
  assert.match(pid, /^\d+$/);
  return Number(pid);
}

/**
 * A describe block with its own rig (lab, phone, proxy) for `profile`, started before its tests and
 * stopped after; `tests` gets the rig through a getter (it exists once `before` ran).
 */
function describeRig(title: string, profile: string, tests: (rig: () => Rig) => void): void {
  describe(`netstack (real adb server, mockttp proxy): ${title}`, function () {
    this.timeout(60_000);
    let r: Rig | undefined;
    before(async () => {
      r = await rig(profile);
    });
    after(async () => {
      await r?.stop();
    });
    tests(() => {
      assert.ok(r, 'the rig did not start');
      return r;
    });
  });
}

describeRig('Android 10, CA in the system store', 'redmi-note-8-leaky-rooted', (rig) => {
  it('an HTTPS upload through the proxy is rejected, then decrypted once the CA is a system CA', async () => {
    const r = rig();
    await startBrowser(r);
    const e = await failure(upload(r));
    assert.equal(e.failure, 'cert-rejected');
    await settle(() => r.seen.tlsErrors.length > 0);
    assertTlsFailures(r, 1);
    r.seen.tlsErrors.length = 0;

    // Android 10: remount /system read-write and copy the CA in (a running app sees the new file).
    await su(
      r,
      `mount -o remount,rw /system && cp /data/local/tmp/${r.caName} ${SYS}/${r.caName} && chmod 644 ${SYS}/${r.caName} && mount -o remount,ro /system`,
    );
    const res = await upload(r);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    await settle(() => r.seen.requests.length > 0);
    assertDecrypted(r);
    assert.deepEqual(r.seen.tlsErrors, []);
  });
});

describeRig('Android 14, the HTTP Toolkit sequence', 'xiaomi-13-hyperos-rooted', (rig) => {
  it('tmpfs over the /system dir is not enough; zygotes then running apps need the bind mount', async () => {
    const r = rig();
    const browserPid = await startBrowser(r);
    // 1. Copy the APEX CAs and the new one into a tmpfs over /system/etc/security/cacerts.
    await su(
      r,
      [
        'set -e',
        'rm -rf /data/local/tmp/ca-copy',
        'mkdir -p -m 700 /data/local/tmp/ca-copy',
        `cp ${APEX}/* /data/local/tmp/ca-copy/`,
        `mount -t tmpfs tmpfs ${SYS}`,
        `mv /data/local/tmp/ca-copy/* ${SYS}/`,
        `cp /data/local/tmp/${r.caName} ${SYS}/`,
        `chown root:root ${SYS} ${SYS}/*`,
        `chmod 644 ${SYS}/*`,
        `chcon u:object_r:system_file:s0 ${SYS} ${SYS}/*`,
        'rm -rf /data/local/tmp/ca-copy',
      ].join('\n'),
    );
    assert.match(await su(r, `ls ${SYS}`), new RegExp(r.caName.replace('.', '\\.')));
    assert.equal((await failure(upload(r))).failure, 'cert-rejected', 'apps read the APEX store');

    // 2. Bind mount over the APEX path in our namespace and in both zygotes' namespaces.
    await su(
      r,
      [
        `mount --bind ${SYS} ${APEX}`,
        'ZYGOTE_PID=$(pidof zygote || true)',
        'ZYGOTE64_PID=$(pidof zygote64 || true)',
        'for Z_PID in $ZYGOTE_PID $ZYGOTE64_PID; do',
        `  nsenter --mount=/proc/$Z_PID/ns/mnt -- /bin/mount --bind ${SYS} ${APEX}`,
        'done',
      ].join('\n'),
    );
    assert.equal(
      (await failure(upload(r))).failure,
      'cert-rejected',
      'the browser started before: its namespace is an older copy',
    );

    // 3. And every running zygote child.
    await su(
      r,
      [
        'ZYGOTE_PIDS="$(pidof zygote || true) $(pidof zygote64 || true)"',
        'APP_PIDS=$(for Z in $ZYGOTE_PIDS; do ps -o PID= -P $Z; done)',
        'for PID in $APP_PIDS; do',
        `  nsenter --mount=/proc/$PID/ns/mnt -- /bin/mount --bind ${SYS} ${APEX} &`,
        'done',
        'wait',
        'echo injected',
      ].join('\n'),
    );
    assert.equal(Number((await r.shell(`pidof ${BROWSER}`)).stdout.trim()), browserPid, 'same process');
    await settle(() => r.seen.tlsErrors.length >= 2);
    assertTlsFailures(r, 2);
    assert.deepEqual(r.seen.requests, []);
    const res = await upload(r);
    assert.equal(res.status, 200);
    await settle(() => r.seen.requests.length > 0);
    assertDecrypted(r);
    // `adb shell` (init namespace) sees the bind mount made there too.
    assert.match((await r.shell('cat /proc/mounts')).stdout, new RegExp(` ${APEX} `));
  });
});

describeRig('CA only in the user store', 'redmi-note-8-leaky-rooted', (rig) => {
  it('the browser (targetSdk >= 24) rejects the certificate; the proxy sees the CONNECT host only', async () => {
    const r = rig();
    await su(
      r,
      `mkdir -p /data/misc/user/0/cacerts-added && cp /data/local/tmp/${r.caName} /data/misc/user/0/cacerts-added/ && chmod 644 /data/misc/user/0/cacerts-added/${r.caName}`,
    );
    const e = await failure(upload(r));
    assert.equal(e.failure, 'cert-rejected');
    await settle(() => r.seen.tlsErrors.length > 0);
    assertTlsFailures(r, 1);
    assert.deepEqual(r.seen.requests, []);
    // An app that opts in to user CAs gets through with the same store.
    r.phone.phone.http.trustsUserCas = (pkg) => pkg === BROWSER;
    assert.equal((await upload(r)).status, 200);
    await settle(() => r.seen.requests.length > 0);
    assertDecrypted(r);
  });
});

describeRig('proxy cleared with :0', 'redmi-note-8-leaky-rooted', (rig) => {
  it('nothing reaches the proxy; the sink refuses and logcat names the host', async () => {
    const r = rig();
    await su(
      r,
      `cp /data/local/tmp/${r.caName} ${SYS}/ 2>/dev/null || (mount -o remount,rw /system && cp /data/local/tmp/${r.caName} ${SYS}/)`,
    );
    assert.equal((await r.shell('settings put global http_proxy :0')).code, 0);
    assert.equal((await r.shell('settings get global http_proxy')).stdout, ':0\n');
    const e = await failure(upload(r));
    assert.equal(e.failure, 'refused');
    const plain = await failure(
      r.phone.phone.http.request({
        app: BROWSER,
        method: 'GET',
        url: 'http://api.ad.intl.xiaomi.com/getSplashScreenAds',
        headers: MARK,
      }),
    );
    assert.equal(plain.failure, 'refused');
    // Positive signals rather than a sleep: the sink logged both refusals …
    await waitForShell(r, 'logcat -d -s NetworkSink', [
      /sa\.api\.intl\.miui\.com:443 \(direct\) refused/,
      /api\.ad\.intl\.xiaomi\.com:80 \(direct\) refused/,
    ]);
    // … and a marker sent through the proxy once it is set again arrives alone: nothing came before.
    assert.equal((await r.shell('settings put global http_proxy 127.0.0.1:8899')).code, 0);
    const marker = 'http://marker.phonehome.test/after-the-refusals';
    assert.equal(
      (await r.phone.phone.http.request({ app: BROWSER, method: 'GET', url: marker, headers: MARK })).status,
      200,
    );
    await settle(() => r.seen.requests.length > 0);
    assert.deepEqual(
      r.seen.requests.map((x) => x.url),
      [marker],
    );
    assert.deepEqual(r.seen.tlsErrors, []);
  });
});

describeRig('close() with a request in flight', 'redmi-note-8-leaky-rooted', (rig) => {
  it('a proxy (real adb reverse) that never answers: close() rejects the request at once and closes the connection', async () => {
    const r = rig();
    const accepted: Socket[] = [];
    let closed = 0;
    const silent = createServer((s) => {
      accepted.push(s);
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      s.resume();
    });
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    try {
      const port = (silent.address() as { port: number }).port;
      const rev = await r.adb(['reverse', 'tcp:8898', `tcp:${port}`]);
      assert.equal(rev.code, 0, rev.stderr);
      assert.equal((await r.shell('settings put global http_proxy 127.0.0.1:8898')).code, 0);
      const pending = upload(r);
      pending.catch(() => undefined);
      await settle(() => accepted.length > 0);
      assert.equal(accepted.length, 1, 'the proxy accepted the connection');
      const t0 = Date.now();
      r.phone.phone.http.close();
      const e = await failure(pending);
      assert.equal(e.failure, 'aborted');
      assert.ok(Date.now() - t0 < 1000, `rejected after ${Date.now() - t0} ms`);
      await settle(() => closed === 1);
      assert.equal(closed, 1, 'adb reverse closed the host connection');
      assert.equal((await failure(upload(r))).failure, 'aborted', 'later requests fail at once');
      assert.equal(accepted.length, 1);
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise((res) => silent.close(res));
    }
  });
});
