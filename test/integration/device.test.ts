/**
 * The device layer through the real parts: a private adb server (Debian adb 29), adbkit, and
 * virtual phones speaking the device side of the ADB protocol.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { createAdbClient, type PhonehomeAdbClient } from '../../src/device/adb-client.ts';
import { Device } from '../../src/device/device.ts';
import { getDevice, listPhones, trackPhones, type PhoneEntry } from '../../src/device/discovery.ts';
import { AdbServerError, DeviceError, DeviceUnavailableError } from '../../src/device/errors.ts';
import { adbRun, freePort, startLab, type TestLab } from '../support/lab.ts';

const PROFILES = [
  'redmi-note-8-leaky',
  'xiaomi-13-hyperos-rooted',
  'redmi-note-11-china',
  'redmi-note-8-fixed-rooted',
];

describe('device layer (real adb server, adbkit, virtual phones)', function () {
  this.timeout(60_000);
  let lab: TestLab;
  let client: PhonehomeAdbClient;
  const phone = (i: number, timeoutMs = 10_000) => new Device(client, lab.phones[i]!.serial, { timeoutMs });

  before(async () => {
    lab = await startLab(PROFILES);
    client = createAdbClient({ port: lab.adb.port });
  });
  after(async () => {
    await lab?.stop();
  });

  it('lists the phones as available and finds each by serial', async () => {
    const phones = await listPhones(client);
    for (const p of lab.phones) {
      assert.deepEqual(
        phones.find((x) => x.serial === p.serial),
        { serial: p.serial, state: 'device', available: true },
      );
    }
    assert.equal((await getDevice(client, lab.phones[0]!.serial)).serial, lab.phones[0]!.serial);
    await assert.rejects(getDevice(client, '127.0.0.1:1'), (err: unknown) => {
      assert.ok(err instanceof DeviceError);
      assert.match(
        err.message,
        /^no phone with serial 127\.0\.0\.1:1 on the adb server at 127\.0\.0\.1:\d+; connected: /,
      );
      assert.ok(err.message.includes(`${lab.phones[0]!.serial} (device)`));
      return true;
    });
  });

  it('fingerprints each profile through adbkit', async () => {
    const labels = await Promise.all(lab.phones.map((_, i) => phone(i).fingerprint()));
    assert.deepEqual(
      labels.map((f) => f.label),
      [
        'Redmi Note 8 · MIUI 12 · Android 10 · global',
        'Xiaomi 13 · HyperOS 2 · Android 14 · global · rooted',
        'Redmi Note 11 5G · MIUI 13 · Android 11 · china',
        'Redmi Note 8 · MIUI 12 · Android 10 · global · rooted',
      ],
    );
    const hyper = labels[1]!;
    assert.deepEqual(hyper.os, { name: 'HyperOS', version: '2' });
    assert.deepEqual(hyper.android, { release: '14', sdk: 34 });
    assert.equal(hyper.device, 'fuxi');
    assert.equal(hyper.serialno, lab.phones[1]!.phone.serialno);
    assert.equal(labels[0]!.rooted, false);
    assert.equal(await phone(2).getProp('ro.miui.region'), 'CN');
  });

  it('returns exit codes and keeps stderr apart from stdout', async () => {
    const d = phone(0);
    assert.equal((await d.shell('exit 3')).exitCode, 3);
    assert.equal((await d.shell('true')).exitCode, 0);
    assert.equal((await d.shell('false')).exitCode, 1);
    assert.deepEqual(await d.shell('echo out; echo err >&2'), {
      stdout: 'out\n',
      stderr: 'err\n',
      exitCode: 0,
    });
    assert.notEqual((await d.shell('no-such-command-here')).exitCode, 0);
  });

  it('passes hostile arguments through the phone shell literally', async () => {
    const d = phone(0);
    for (const arg of [
      '$(reboot)',
      "'; rm -rf /",
      'a b  c',
      'x`id`y',
      'Ünïcödé ✓ 中文',
      '*',
      'semi;colon&&and',
    ]) {
      const r = await d.shell(['echo', arg]);
      assert.deepEqual([r.stdout, r.exitCode], [`${arg}\n`, 0], JSON.stringify(arg));
    }
    assert.equal((await d.shell(['cat'], { stdin: 'from stdin\n' })).stdout, 'from stdin\n');
  });

  it('pushes and pulls 5 MB of random bytes intact, and reads 1 MB of stdout intact', async () => {
    const d = phone(1);
    const data = randomBytes(5 * 1024 * 1024);
    await d.push(data, '/data/local/tmp/phonehome-5mb.bin', 0o600);
    const st = await d.stat('/data/local/tmp/phonehome-5mb.bin');
    assert.equal(st?.size, data.length);
    assert.equal(st?.isFile, true);
    assert.equal((st?.mode ?? 0) & 0o777, 0o600);
    assert.ok((await d.pull('/data/local/tmp/phonehome-5mb.bin')).equals(data));

    const mb = data.subarray(0, 1024 * 1024);
    await d.push(mb, '/data/local/tmp/phonehome-1mb.bin');
    const out = await d.shellBuffer('cat /data/local/tmp/phonehome-1mb.bin');
    assert.equal(out.exitCode, 0);
    assert.ok(out.stdout.equals(mb), `stdout of ${out.stdout.length} bytes differs`);

    assert.equal(await d.stat('/data/local/tmp/does-not-exist'), null);
    await assert.rejects(
      d.pull('/data/local/tmp/does-not-exist'),
      /pull \/data\/local\/tmp\/does-not-exist failed: /,
    );
    await d.shell('rm -f /data/local/tmp/phonehome-5mb.bin /data/local/tmp/phonehome-1mb.bin');
  });

  it('puts, gets and deletes settings', async () => {
    const d = phone(2);
    assert.equal(await d.getSetting('secure', 'upload_log_pref'), '0');
    await d.putSetting('global', 'phonehome_test', "value with 'quotes' and $(reboot)");
    assert.equal(await d.getSetting('global', 'phonehome_test'), "value with 'quotes' and $(reboot)");
    await d.deleteSetting('global', 'phonehome_test');
    assert.equal(await d.getSetting('global', 'phonehome_test'), null);
  });

  describe('reverse and forward', () => {
    let server: Server;
    let hostPort: number;
    before(async () => {
      server = createServer((s) => s.pipe(s));
      hostPort = await new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
      );
    });
    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('sets, lists and removes reverses', async () => {
      const d = phone(0);
      await d.reverse('tcp:18080', `tcp:${hostPort}`);
      await d.reverse(18081, hostPort);
      assert.deepEqual(await d.listReverses(), [
        { remote: 'tcp:18080', local: `tcp:${hostPort}` },
        { remote: 'tcp:18081', local: `tcp:${hostPort}` },
      ]);
      await d.removeReverse('tcp:18080');
      assert.deepEqual(await d.listReverses(), [{ remote: 'tcp:18081', local: `tcp:${hostPort}` }]);
      await assert.rejects(
        d.removeReverse('tcp:18080'),
        /reverse --remove tcp:18080 failed: listener 'tcp:18080' not found/,
      );
      await d.removeAllReverses();
      assert.deepEqual(await d.listReverses(), []);
    });

    it("sets, lists (this phone's only) and removes forwards", async () => {
      const [a, b] = [phone(0), phone(1)];
      const [pa, pb] = [await freePort(), await freePort()];
      await a.forward(`tcp:${pa}`, 'tcp:6790');
      await b.forward(pb, 6791);
      assert.deepEqual(await a.listForwards(), [{ local: `tcp:${pa}`, remote: 'tcp:6790' }]);
      assert.deepEqual(await b.listForwards(), [{ local: `tcp:${pb}`, remote: 'tcp:6791' }]);
      await a.removeForward(pa);
      assert.deepEqual(await a.listForwards(), []);
      await assert.rejects(a.removeForward(pa), /forward --remove tcp:\d+ failed/);
      await b.removeAllForwards();
      assert.deepEqual(await b.listForwards(), []);
    });
  });

  it('takes a PNG screenshot and reads logcat entries', async () => {
    const d = phone(0);
    const png = await d.screenshot();
    assert.ok(png.length > 100);
    const session = await d.logcat();
    try {
      await d.shell(['log', '-t', 'PhonehomeTest', 'hello from the test']);
      for await (const entry of session) {
        if (entry.tag === 'PhonehomeTest') {
          assert.equal(entry.message, 'hello from the test');
          break;
        }
      }
    } finally {
      session.close();
    }
  });

  it('fails within its timeout on a silent phone, naming phone and operation, and recovers after', async () => {
    const entry = lab.phones[3]!;
    const d = phone(3, 800);
    assert.equal((await d.shell('echo before')).stdout, 'before\n');
    entry.adbd.fault('silent');
    try {
      await assert.rejects(d.shell('getprop ro.product.model'), (err: unknown) => {
        assert.ok(err instanceof DeviceError);
        assert.equal(err.serial, entry.serial);
        assert.equal(err.operation, 'shell "getprop ro.product.model"');
        assert.match(
          err.message,
          new RegExp(
            `^phone ${entry.serial.replace(/\./g, '\\.')}: shell "getprop ro\\.product\\.model" timed out after 800 ms\\. Check the phone is awake`,
          ),
        );
        return true;
      });
    } finally {
      entry.adbd.clearFaults();
    }
    assert.equal((await d.shell('getprop ro.product.model')).stdout, 'Redmi Note 8\n');
  });

  it('reboots and waits for the new boot, across the phone dropping off adb', async () => {
    const d = phone(2);
    await d.reboot();
    await d.waitForBoot({ timeoutMs: 30_000 });
    assert.equal(await d.getProp('sys.boot_completed'), '1');
    assert.equal((await d.shell('echo back')).stdout, 'back\n');
  });

  it('falls back to legacy shell on a phone without shell_v2: exit code from the marker, stderr merged', async () => {
    // A phone like Android < 7: it does not advertise shell_v2 and refuses the v2 service.
    const old = await lab.lab.addPhone('redmi-note-8-leaky', {
      adbd: { features: ['stat_v2', 'ls_v2', 'fixed_push_mkdir'] },
    });
    try {
      const d = new Device(client, old.serial, { timeoutMs: 10_000 });
      assert.deepEqual((await d.adbFeatures()).sort(), ['fixed_push_mkdir', 'ls_v2', 'stat_v2']);
      assert.deepEqual(await d.shell('echo out; echo err >&2; exit 3'), {
        stdout: 'out\nerr\n',
        stderr: '',
        exitCode: 3,
      });
      assert.equal((await d.shell(['echo', "it's $(reboot)"])).stdout, "it's $(reboot)\n");
      assert.equal((await d.shell('false')).exitCode, 1);
      const png = await d.screenshot();
      assert.ok(png.subarray(1, 4).equals(Buffer.from('PNG')));
      await assert.rejects(d.shell('cat', { stdin: 'x' }), /stdin needs the shell v2 protocol/);
    } finally {
      await adbRun(lab.adb.port, ['disconnect', old.serial]);
      await old.adbd.close();
      lab.lab.phones.splice(lab.lab.phones.indexOf(old), 1);
    }
  });

  it('fails when the phone drops the connection mid-call, naming phone and operation, and recovers after', async () => {
    const entry = lab.phones[0]!;
    const d = phone(0, 5000);
    const pending = d.shell('sleep 3; echo late');
    // Drop once the command is running on the phone.
    await new Promise((r) => setTimeout(r, 300));
    entry.adbd.fault('drop');
    await assert.rejects(pending, (err: unknown) => {
      assert.ok(err instanceof DeviceError);
      assert.equal(err.serial, entry.serial);
      assert.equal(err.operation, 'shell "sleep 3; echo late"');
      assert.doesNotMatch(err.message, /timed out/);
      return true;
    });
    // The adb server reconnects on its own; the next call succeeds once it has.
    let out = '';
    for (let i = 0; i < 50 && out !== 'back\n'; i++) {
      out = await d.shell('echo back').then(
        (r) => r.stdout,
        () => '',
      );
      if (out !== 'back\n') await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(out, 'back\n');
  });

  it('times out on a phone slower than the timeout, and returns the right output with a longer one', async () => {
    const entry = lab.phones[0]!;
    entry.adbd.fault('slow', { delayMs: 400 });
    try {
      // Every packet the phone sends waits 400 ms: a 300 ms deadline cannot be met …
      await assert.rejects(phone(0, 300).shell('echo slow; exit 4'), /timed out after 300 ms/);
      // … a generous one is, and the output is intact and in order.
      const r = await phone(0, 10_000).shell('echo slow; exit 4');
      assert.deepEqual(r, { stdout: 'slow\n', stderr: '', exitCode: 4 });
    } finally {
      entry.adbd.clearFaults();
    }
  });

  it('reports an offline phone with its fix, in discovery and on use', async () => {
    const entry = lab.phones[3]!;
    entry.adbd.fault('offline');
    try {
      // The server sees the connection drop and keeps the phone as offline while it retries.
      const deadline = Date.now() + 10_000;
      while ((await listPhones(client)).find((p) => p.serial === entry.serial)?.state !== 'offline') {
        assert.ok(Date.now() < deadline, 'the phone never went offline');
        await new Promise((r) => setTimeout(r, 50));
      }
      const listed = (await listPhones(client)).find((p) => p.serial === entry.serial);
      assert.equal(listed?.state, 'offline');
      assert.equal(listed?.available, false);
      assert.match(listed?.problem ?? '', /reconnect it: adb -P \d+ disconnect /);
      await assert.rejects(getDevice(client, entry.serial), DeviceUnavailableError);
      await assert.rejects(phone(3).shell('id'), (err: unknown) => {
        assert.ok(err instanceof DeviceUnavailableError);
        assert.equal(err.state, 'offline');
        assert.match(err.message, /shell "id" failed: the phone is offline\. Reconnect it/);
        return true;
      });
    } finally {
      entry.adbd.clearFaults();
      await adbRun(lab.adb.port, ['disconnect', entry.serial]);
      await lab.lab.connect(entry);
    }
    assert.equal((await phone(3).shell('echo back')).stdout, 'back\n');
  });

  it('`phonehome devices` lists fingerprints and fixes (table and --json)', async () => {
    const run = (args: string[]) =>
      new Promise<{ out: string; err: string; code: number | null }>((resolve, reject) => {
        // Asynchronous: the virtual phones live in this process and must keep answering.
        const child = spawn(process.execPath, ['bin/phonehome.js', 'devices', ...args]);
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ out, err, code }));
      });
    const table = await run(['--adb-port', String(lab.adb.port)]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /^SERIAL +STATE +PHONE\n/);
    assert.ok(
      table.out.includes(
        `${lab.phones[1]!.serial}  device  Xiaomi 13 · HyperOS 2 · Android 14 · global · rooted`,
      ),
    );
    const json = await run(['--adb-port', String(lab.adb.port), '--json']);
    const reports = JSON.parse(json.out) as Array<{
      serial: string;
      available: boolean;
      fingerprint?: { label: string };
    }>;
    assert.equal(
      reports.find((r) => r.serial === lab.phones[2]!.serial)?.fingerprint?.label,
      'Redmi Note 11 5G · MIUI 13 · Android 11 · china',
    );
    const down = await run(['--adb-port', String(await freePort())]);
    assert.equal(down.code, 1);
    assert.match(
      down.err,
      /^phonehome: cannot reach the adb server on 127\.0\.0\.1:\d+: start it with `adb -P \d+ start-server` or set ANDROID_ADB_SERVER_PORT\n$/,
    );
  });

  it('tracks a phone leaving and coming back', async () => {
    const seen: PhoneEntry[][] = [];
    const tracker = trackPhones(client, (phones) => seen.push(phones), { retryMs: 100 });
    try {
      const until = async (pred: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!pred()) {
          if (Date.now() > deadline)
            throw new Error(`condition not met; seen ${JSON.stringify(seen.at(-1))}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(() => tracker.phones.filter((p) => p.state === 'device').length === lab.phones.length);
      const entry = lab.phones[0]!;
      await adbRun(lab.adb.port, ['disconnect', entry.serial]);
      await until(() => !tracker.phones.some((p) => p.serial === entry.serial));
      await lab.lab.connect(entry);
      await until(() => tracker.phones.some((p) => p.serial === entry.serial && p.state === 'device'));
    } finally {
      tracker.stop();
    }
  });

  // Last (nested describes run after the plain tests): restarts the adb server.
  describe('adb server restart', () => {
    it('keeps tracking across an adb server restart, on a new connection', async () => {
      const seen: PhoneEntry[][] = [];
      const errors: Error[] = [];
      const tracker = trackPhones(client, (phones) => seen.push(phones), {
        retryMs: 100,
        onError: (e) => errors.push(e),
      });
      const until = async (what: string, pred: () => boolean) => {
        const deadline = Date.now() + 15_000;
        while (!pred()) {
          if (Date.now() > deadline)
            throw new Error(`${what}: not seen; last ${JSON.stringify(seen.at(-1))}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      try {
        await until(
          'all phones',
          () => tracker.phones.filter((p) => p.state === 'device').length === lab.phones.length,
        );
        await adbRun(lab.adb.port, ['kill-server']);
        await until('empty list', () => tracker.phones.length === 0);
        await until('server error', () => errors.some((e) => e instanceof AdbServerError));
        await adbRun(lab.adb.port, ['start-server']);
        for (const entry of lab.phones) await lab.lab.connect(entry);
        await until(
          'phones back',
          () => tracker.phones.filter((p) => p.state === 'device').length === lab.phones.length,
        );
      } finally {
        tracker.stop();
      }
    });
  });
});
