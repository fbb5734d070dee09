/**
 * The CA wiring against in-process virtual phones (no adb server; test/unit/capture/virtual-device.ts):
 * `--ca-method auto` picks system-tmpfs on the rooted Android 10 profiles and on Android 14, the CA is
 * checked from the zygotes' and the running app's own mount namespaces, a refused root and a phone
 * without the target folder stop with the step named, and the restore takes everything away.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabCa } from '../../../src/capture/ca.ts';
import { Journal } from '../../../src/capture/journal.ts';
import { APEX_CACERTS, SYSTEM_CACERTS, wirePhone, WiringError } from '../../../src/capture/wiring.ts';
import { VirtualPhone } from '../../../src/virtual/phone.ts';
import { loadProfile, type ProfileRoot } from '../../../src/virtual/profiles/load.ts';
import { makePhone, sh } from '../virtual/os/helpers.ts';
import { VirtualDevice } from './virtual-device.ts';

const BROWSER = 'com.mi.globalbrowser';

describe('wiring: the lab CA on in-process virtual phones', function () {
  this.timeout(20_000);
  let tmp: string;
  let ca: LabCa;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-wiring-'));
    ca = await LabCa.load(join(tmp, 'ca'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  async function wire(profile: string, opts: { caMethod?: 'auto' | 'none'; start?: boolean } = {}) {
    const phone = makePhone(profile);
    if (opts.start) {
      const r = await sh(phone, `am start -n ${BROWSER}/com.android.browser.BrowserActivity`);
      assert.equal(r.status, 0, r.stderr);
    }
    const dev = new VirtualDevice(phone);
    const journal = new Journal(join(tmp, `state-${profile}-${Math.random()}`));
    const lines: string[] = [];
    const wiring = await wirePhone(dev.asDevice(), {
      ca,
      hostPort: 18080,
      caMethod: opts.caMethod ?? 'auto',
      journal,
      adb: { host: '127.0.0.1', port: 5037 },
      log: (l) => lines.push(l),
      bypass: { packages: [BROWSER] },
    });
    return { phone, dev, journal, lines, wiring };
  }

  for (const profile of ['redmi-note-8-leaky-rooted', 'redmi-note-8-fixed-rooted']) {
    it(`auto on ${profile} (Android 10) picks system-tmpfs, never a remount, and checks it from the zygotes' namespaces`, async () => {
      const w = await wire(profile);
      assert.equal(w.wiring.caMethod, 'system-tmpfs');
      assert.ok(!w.dev.commands.some((c) => /remount/.test(c)), 'no remount');
      assert.ok(
        w.wiring.caVerified.some((v) => v.name.startsWith('zygote')),
        JSON.stringify(w.wiring.caVerified),
      );
      for (const v of w.wiring.caVerified) assert.equal(v.dir, SYSTEM_CACERTS, 'Android 10 reads /system');
      assert.ok(
        w.lines.some((l) => /asking for root .* tap Grant/.test(l)),
        w.lines.join('\n'),
      );
      const report = await w.wiring.restore();
      assert.ok(report.ok, report.problems.join('; '));
      const left = await sh(w.phone, `ls ${SYSTEM_CACERTS}/${ca.fileName}`);
      assert.notEqual(left.status, 0, 'the CA is gone');
    });
  }

  it('Android 14: the CA is checked inside the running browser’s own namespace, in the APEX folder', async () => {
    const w = await wire('xiaomi-13-hyperos-rooted', { start: true });
    assert.equal(w.wiring.caMethod, 'system-tmpfs');
    const app = w.wiring.caVerified.find((v) => v.name === BROWSER);
    assert.ok(app, JSON.stringify(w.wiring.caVerified));
    assert.equal(app.dir, APEX_CACERTS);
    const inApp = await sh(w.phone, `su -c 'nsenter --mount=/proc/${app.pid}/ns/mnt -- ls ${APEX_CACERTS}'`);
    assert.ok(inApp.stdout.split(/\s+/).includes(ca.fileName), inApp.stdout);
    const report = await w.wiring.restore();
    assert.ok(report.ok, report.problems.join('; '));
    const after = await sh(w.phone, `su -c 'nsenter --mount=/proc/${app.pid}/ns/mnt -- ls ${APEX_CACERTS}'`);
    assert.ok(!after.stdout.split(/\s+/).includes(ca.fileName), 'the CA left the app’s namespace');
  });

  it('a non-rooted phone: auto picks none, no root asked for', async () => {
    const w = await wire('redmi-note-8-leaky');
    assert.equal(w.wiring.caMethod, 'none');
    assert.deepEqual(w.wiring.caVerified, []);
    assert.ok(!w.lines.some((l) => /asking for root/.test(l)));
    assert.ok((await w.wiring.restore()).ok);
  });

  it('a phone without the system CA folder: the install stops at the step named, and everything is rolled back', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    // The folder renamed away, as on a phone whose image lacks it.
    const mv = await sh(
      phone,
      `su -c 'mount -o remount,rw /system; mv ${SYSTEM_CACERTS} ${SYSTEM_CACERTS}.away'`,
    );
    assert.equal(mv.status, 0, mv.stderr);
    const dev = new VirtualDevice(phone);
    const journal = new Journal(join(tmp, 'state-nofolder'));
    await assert.rejects(
      wirePhone(dev.asDevice(), {
        ca,
        hostPort: 18081,
        journal,
        adb: { host: '127.0.0.1', port: 5037 },
      }),
      (err: unknown) => {
        assert.ok(err instanceof WiringError, String(err));
        assert.match(err.message, /installing the lab CA \(system-tmpfs\) failed at step "check"/);
        assert.match(err.message, /no such directory/);
        assert.match(err.hint ?? '', /reboot the phone|--ca-method none/);
        return true;
      },
    );
    assert.deepEqual(journal.list(), [], 'rolled back: no journal entry');
    assert.equal(await dev.getSetting('global', 'http_proxy'), null, 'http_proxy unset again');
    assert.deepEqual(dev.reverses, []);
  });

  for (const [grant, extra] of [
    ['deny', {}],
    ['prompt-timeout', { promptTimeoutMs: 100 }],
  ] as const) {
    it(`root refused (Magisk ${grant}): auto stops at "getting root (su)" with the fix; nothing changed`, async () => {
      const root: ProfileRoot = { su: 'magisk', grant, ...extra };
      const phone = new VirtualPhone(
        { ...loadProfile('redmi-note-8-leaky-rooted'), root },
        { serialno: 'vpden' },
      );
      const dev = new VirtualDevice(phone);
      const journal = new Journal(join(tmp, `state-denied-${grant}`));
      const lines: string[] = [];
      await assert.rejects(
        wirePhone(dev.asDevice(), {
          ca,
          hostPort: 18082,
          journal,
          adb: { host: '127.0.0.1', port: 5037 },
          log: (l) => lines.push(l),
        }),
        (err: unknown) => {
          assert.ok(err instanceof WiringError, String(err));
          assert.match(err.message, /getting root \(su\): root was refused \(exit 13: Permission denied\)/);
          assert.match(err.hint ?? '', /Superuser.*--ca-method none/);
          return true;
        },
      );
      assert.ok(
        lines.some((l) => /asking for root/.test(l)),
        lines.join('\n'),
      );
      assert.deepEqual(journal.list(), []);
      assert.equal(await dev.getSetting('global', 'http_proxy'), null);
      assert.deepEqual(dev.reverses, []);
    });
  }

  it('Magisk in Isolated namespace mode: su -mm still mounts in the global namespace, so the apps see the CA', async () => {
    const root: ProfileRoot = { su: 'magisk', mountNamespaceMode: 'isolated' };
    const phone = new VirtualPhone(
      { ...loadProfile('redmi-note-8-leaky-rooted'), root },
      { serialno: 'vpiso' },
    );
    const dev = new VirtualDevice(phone);
    const wiring = await wirePhone(dev.asDevice(), {
      ca,
      hostPort: 18083,
      journal: new Journal(join(tmp, 'state-isolated')),
      adb: { host: '127.0.0.1', port: 5037 },
    });
    assert.equal(wiring.caMethod, 'system-tmpfs');
    assert.ok(
      dev.commands.some((c) => c.startsWith("su -mm -c 'sh /data/local/tmp/phonehome-ca-install.sh'")),
      dev.commands.join('\n'),
    );
    assert.ok(wiring.caVerified.some((v) => v.name.startsWith('zygote')));
    assert.ok((await wiring.restore()).ok);
  });
});
