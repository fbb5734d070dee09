/**
 * The classic pre-Android-14 CA method through the real parts (issue 11 §2 acceptance): a CA made
 * like mitmproxy's, `adb push`ed, then from `adb shell` the usual recipe under `su -c` (copy the
 * firmware CAs out, tmpfs over /system/etc/security/cacerts, copy them and the new one in, chown,
 * chmod, chcon; HTTP Toolkit's manual steps, android-realities.md §1.3), then the browser started and
 * made to upload through a mockttp proxy (`settings put global http_proxy` + `adb reverse`).
 *
 * Android 10 (redmi-note-8-leaky-rooted): the tmpfs is made in the default namespace on a shared
 * mount, so it propagates to the zygotes and apps (slaves): the browser's HTTPS is decrypted. Android
 * 14 (xiaomi-13-hyperos-rooted): apps read the conscrypt APEX directory, which is private: TLS fails.
 * Virtual lab only: this is the model's acceptance test, not evidence about a real phone.
 */
import * as assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCACertificate, getLocal, type Mockttp } from 'mockttp';
import { subjectHashOld } from '../../src/capture/ca.ts';
import { flushTelemetry, eventually } from '../support/capture.ts';
import { adbRun, startLab, type LabPhone, type TestLab } from '../support/lab.ts';

const SYS = '/system/etc/security/cacerts';
const BROWSER_ACTIVITY = 'com.android.browser.BrowserActivity';

interface Seen {
  requests: Array<{ method: string; url: string }>;
  tlsErrors: Array<{ sni: string | undefined }>;
}

describe('classic CA method (tmpfs from su -c in adb shell): real adb server, mockttp proxy', function () {
  this.timeout(60_000);
  let lab: TestLab;
  let proxy: Mockttp;
  let caName: string;
  let caPem: string;
  const seen: Seen = { requests: [], tlsErrors: [] };

  before(async () => {
    // mitmproxy's CA: CN=mitmproxy, O=mitmproxy (mitmproxy/certs.py create_ca defaults).
    const ca = await generateCACertificate({
      subject: { commonName: 'mitmproxy', organizationName: 'mitmproxy' },
    });
    caPem = ca.cert;
    caName = `${subjectHashOld(new X509Certificate(ca.cert).raw)}.0`;
    proxy = getLocal({ https: { key: ca.key, cert: ca.cert }, recordTraffic: false });
    await proxy.start();
    await proxy
      .forAnyRequest()
      .thenReply(200, '<html><title>ok</title>ok</html>', { 'content-type': 'text/html' });
    await proxy.on('request', (r) => void seen.requests.push({ method: r.method, url: r.url }));
    await proxy.on('tls-client-error', (e) => void seen.tlsErrors.push({ sni: e.tlsMetadata.sniHostname }));
    lab = await startLab(['redmi-note-8-leaky-rooted', 'xiaomi-13-hyperos-rooted']);
  });

  after(async () => {
    await lab?.stop();
    await proxy?.stop();
  });

  async function shell(
    lp: LabPhone,
    cmd: string,
  ): Promise<{ stdout: string; stderr: string; code: number | null }> {
    const r = await adbRun(lab.adb.port, ['-s', lp.serial, 'shell', cmd]);
    return { stdout: r.stdout.toString('utf8'), stderr: r.stderr, code: r.code };
  }

  /** Proxy, CA push and the recipe, then a page and the telemetry it causes; returns the canary URL. */
  async function classic(lp: LabPhone): Promise<string> {
    const adb = (args: string[]) => adbRun(lab.adb.port, ['-s', lp.serial, ...args]);
    assert.equal((await adb(['reverse', 'tcp:8899', `tcp:${proxy.port}`])).code, 0);
    assert.equal((await shell(lp, 'settings put global http_proxy 127.0.0.1:8899')).code, 0);
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-classic-'));
    try {
      writeFileSync(join(dir, caName), caPem);
      const push = await adb(['push', join(dir, caName), `/data/local/tmp/${caName}`]);
      assert.equal(push.code, 0, push.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const recipe = [
      'mkdir -p -m 700 /data/local/tmp/ca-copy',
      `cp ${SYS}/* /data/local/tmp/ca-copy/`,
      `mount -t tmpfs tmpfs ${SYS}`,
      `mv /data/local/tmp/ca-copy/* ${SYS}/`,
      `cp /data/local/tmp/${caName} ${SYS}/`,
      `chown root:root ${SYS}/*`,
      `chmod 644 ${SYS}/*`,
      `chcon u:object_r:system_file:s0 ${SYS}/*`,
      'rmdir /data/local/tmp/ca-copy',
      'echo injected',
    ].join('; ');
    const r = await shell(lp, `su -c '${recipe}'`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'injected\n', r.stderr);

    seen.requests.length = 0;
    seen.tlsErrors.length = 0;
    const url = `https://canary-${lp.serial.replace(/\W/g, '')}.example.com/classic`;
    const view = await shell(
      lp,
      `am start -a android.intent.action.VIEW -d ${url} -n ${lp.profile.browser}/${BROWSER_ACTIVITY}`,
    );
    assert.equal(view.code, 0, view.stderr);
    await flushTelemetry(lp);
    return url;
  }

  it('Android 10: the tmpfs reaches the browser (a slave of the default namespace): its HTTPS is decrypted', async () => {
    const lp = lab.phones[0]!;
    const url = await classic(lp);
    assert.ok(await eventually(() => seen.requests.some((r) => r.url === url)), 'the page load is decrypted');
    assert.ok(
      seen.requests.some((r) => r.method === 'POST' && r.url.startsWith('https://')),
      `a telemetry upload is decrypted too: ${JSON.stringify(seen.requests)}`,
    );
    assert.deepEqual(seen.tlsErrors, []);
    // What the app reads, seen from inside its own mount namespace.
    const pid = (await shell(lp, `pidof ${lp.profile.browser}`)).stdout.trim();
    assert.match(pid, /^\d+$/);
    const inApp = await shell(lp, `su -c 'nsenter --mount=/proc/${pid}/ns/mnt -- ls ${SYS}'`);
    assert.match(inApp.stdout, new RegExp(`^${caName.replace('.', '\\.')}$`, 'm'));
    const info = await shell(lp, `su -c 'cat /proc/${pid}/mountinfo'`);
    assert.match(info.stdout, new RegExp(` ${SYS} rw,relatime master:\\d+ - tmpfs tmpfs `));
  });

  it('Android 14: the browser reads the private APEX store; the same recipe leaves its TLS failing', async () => {
    const lp = lab.phones[1]!;
    const url = await classic(lp);
    const host = new URL(url).hostname;
    assert.ok(await eventually(() => seen.tlsErrors.some((e) => e.sni === host)), 'the page load fails TLS');
    assert.deepEqual(
      seen.requests.filter((r) => r.url.startsWith('https://')),
      [],
      'no HTTPS request is decrypted',
    );
    const pid = (await shell(lp, `pidof ${lp.profile.browser}`)).stdout.trim();
    const apex = await shell(
      lp,
      `su -c 'nsenter --mount=/proc/${pid}/ns/mnt -- ls ${lp.profile.systemCaDir}'`,
    );
    assert.equal(apex.code, 0, apex.stderr);
    assert.doesNotMatch(apex.stdout, new RegExp(caName.replace('.', '\\.')));
  });
});
