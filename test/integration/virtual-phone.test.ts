/**
 * The virtual phones through the real Debian adb server and client (and raw adbkit), on a private
 * adb server port. These are the acceptance checks of the virtual lab's ADB side.
 */
import { buffer } from 'node:stream/consumers';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createAdbClient } from '../../src/device/adb-client.ts';
import { adbRun, startLab, type TestLab } from '../support/lab.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('virtual phones through the real adb server', function () {
  this.timeout(120000);
  let t: TestLab;
  const tmp = mkdtempSync(join(tmpdir(), 'phonehome-vp-'));

  before(async () => {
    t = await startLab([
      'redmi-note-8-leaky',
      'redmi-note-8-fixed-rooted',
      'xiaomi-13-hyperos-rooted',
      'redmi-note-11-china',
    ]);
  });
  after(async () => {
    await t?.stop();
  });

  const adb = (serial: string, args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }) =>
    adbRun(t.adb.port, ['-s', serial, ...args], opts);

  it('lists four phones as device with product, model and device', async () => {
    const r = await adbRun(t.adb.port, ['devices', '-l']);
    const text = r.stdout.toString();
    for (const p of t.phones) {
      const props = p.phone.props;
      const line = text.split('\n').find((l) => l.startsWith(`${p.serial} `));
      assert.ok(line, `${p.serial} missing from:\n${text}`);
      assert.match(line, /\sdevice\s/);
      assert.ok(line.includes(`product:${props.get('ro.product.name')}`), line);
      assert.ok(line.includes(`model:${props.get('ro.product.model').replace(/ /g, '_')}`), line);
      assert.ok(line.includes(`device:${props.get('ro.product.device')}`), line);
    }
  });

  it('returns exit codes and keeps stderr separate (shell v2)', async () => {
    const s = t.phones[0]!.serial;
    assert.equal((await adb(s, ['shell', 'exit 3'])).code, 3);
    assert.equal((await adb(s, ['shell', 'false'])).code, 1);
    const unknown = await adb(s, ['shell', 'nosuchcommand']);
    assert.equal(unknown.code, 127);
    assert.match(unknown.stderr, /nosuchcommand: inaccessible or not found/);
    const r = await adb(s, ['shell', 'echo out; echo err >&2; exit 5']);
    assert.equal(r.stdout.toString(), 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.code, 5);
  });

  it('answers getprop in the format adbkit parses, and a quoted command line', async () => {
    const p = t.phones[2]!;
    const client = createAdbClient({ port: t.adb.port });
    const props = await client.getDevice(p.serial).getProperties();
    assert.equal(props['ro.product.model'], p.phone.props.get('ro.product.model'));
    assert.equal(props['ro.mi.os.version.name'], 'OS2.0');
    const r = await adb(p.serial, ['shell', `echo 'a  b' "c"'d' e\\;f; echo "$?"`]);
    assert.equal(r.stdout.toString(), 'a  b cd e;f\n0\n');
  });

  it('reads the character devices', async () => {
    const s = t.phones[0]!.serial;
    const r = await adb(s, [
      'shell',
      'head -c 8 /dev/zero | od -An -tx1; head -c 16 /dev/urandom | wc -c; echo x > /dev/null; cat /dev/null | wc -c',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /^\s*00 00 00 00 00 00 00 00\s*\n\s*16\n\s*0\n$/);
  });

  it('runs a script piped into `adb shell` as one shell session', async () => {
    const s = t.phones[0]!.serial;
    const script = 'cd /sdcard\npwd\nX=5\necho "x=$X"\nfor i in 1 2\ndo echo $i\ndone\nexit 7\necho never\n';
    const r = await adb(s, ['shell'], { input: script });
    assert.equal(r.stdout.toString(), '/sdcard\nx=5\n1\n2\n');
    assert.equal(r.code, 7);
  });

  it('carries 1 MB of shell output intact', async () => {
    const s = t.phones[1]!.serial;
    const data = randomBytes(1024 * 1024);
    const local = join(tmp, 'one-mb.bin');
    writeFileSync(local, data);
    assert.equal((await adb(s, ['push', local, '/data/local/tmp/one-mb.bin'])).code, 0);
    const v2 = await adb(s, ['exec-out', 'cat /data/local/tmp/one-mb.bin']);
    assert.equal(sha(v2.stdout), sha(data));
    const client = createAdbClient({ port: t.adb.port });
    const legacy = await buffer(await client.getDevice(s).shell('cat /data/local/tmp/one-mb.bin'));
    assert.equal(sha(legacy), sha(data));
  });

  it('pushes and pulls 5 MB byte-identically with the adb CLI (trailing slash normalised)', async () => {
    const s = t.phones[3]!.serial;
    const data = randomBytes(5 * 1024 * 1024);
    const local = join(tmp, 'five-mb.bin');
    writeFileSync(local, data);
    const push = await adb(s, ['push', local, '/data/local/tmp/']);
    assert.equal(push.code, 0, push.stderr);
    const out = join(tmp, 'five-mb.pulled');
    const pull = await adb(s, ['pull', '/data/local/tmp/five-mb.bin', out]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(sha(readFileSync(out)), sha(data));
    const missing = await adb(s, ['pull', '/data/local/tmp/nope', join(tmp, 'nope')]);
    assert.notEqual(missing.code, 0);
    // adb 29 prints transfer errors on stdout when it is not a terminal.
    assert.match(missing.stderr + missing.stdout.toString(), /No such file or directory/);
  });

  it('pushes and pulls 5 MB byte-identically with adbkit', async () => {
    const p = t.phones[0]!;
    const device = createAdbClient({ port: t.adb.port }).getDevice(p.serial);
    const data = randomBytes(5 * 1024 * 1024);
    const transfer = await device.push(
      (await import('node:stream')).Readable.from([data.subarray(0, 3_000_000), data.subarray(3_000_000)], {
        objectMode: false,
      }),
      '/sdcard/Download/adbkit.bin',
    );
    await new Promise<void>((resolve, reject) => {
      transfer.on('end', () => resolve());
      transfer.on('error', reject);
    });
    const stat = await device.stat('/sdcard/Download/adbkit.bin');
    assert.equal(stat.size, data.length);
    const pulled = await buffer(await device.pull('/sdcard/Download/adbkit.bin'));
    assert.equal(sha(pulled), sha(data));
    const names = (await device.readdir('/sdcard/Download')).map((e: { name: string }) => e.name);
    assert.ok(names.includes('adbkit.bin'), names.join(','));
  });

  it('refuses to write the read-only /system as the shell user', async () => {
    const s = t.phones[0]!.serial;
    const local = join(tmp, 'small.txt');
    writeFileSync(local, 'x');
    const r = await adb(s, ['push', local, '/system/evil.txt']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout.toString(), /Read-only file system/);
  });

  /**
   * Spawns `adb shell CMD` with stdin left open: ADB streams have no half-close, so ending stdin
   * early would close the phone's socket (as on a real phone). stdin is ended once stdout is complete.
   */
  function shellSession(serial: string, cmd: string, send: Buffer, expect: number) {
    const child = spawn('adb', ['-P', String(t.adb.port), '-s', serial, 'shell', cmd], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin.write(send);
    const parts: Buffer[] = [];
    let n = 0;
    child.stdout.on('data', (c: Buffer) => {
      parts.push(c);
      n += c.length;
      if (n >= expect) child.stdin.end();
    });
    return new Promise<{ stdout: Buffer; code: number | null }>((resolve) => {
      child.on('close', (code) => resolve({ stdout: Buffer.concat(parts), code }));
    });
  }

  /** A host server that reads `size` bytes, answers with `reply`, then closes. */
  async function hostServer(size: number, reply: Buffer) {
    const received: Buffer[] = [];
    const server = createServer((sock: Socket) => {
      const parts: Buffer[] = [];
      let n = 0;
      sock.on('data', (c: Buffer) => {
        parts.push(c);
        n += c.length;
        if (n === size) {
          received.push(Buffer.concat(parts));
          sock.end(reply);
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, port: (server.address() as { port: number }).port, received };
  }

  describe('adb reverse', () => {
    const MB = 1024 * 1024;

    it('carries 1 MB both ways between a phone app and a host server', async () => {
      const p = t.phones[1]!;
      const reply = randomBytes(MB);
      const host = await hostServer(MB, reply);
      try {
        assert.equal((await adb(p.serial, ['reverse', 'tcp:9200', `tcp:${host.port}`])).code, 0);
        // What an app on the phone does: connect to 127.0.0.1:9200.
        const sock = p.phone.net.connect('tcp:9200');
        const upload = randomBytes(MB);
        const back = buffer(sock);
        sock.write(upload);
        assert.equal(sha(await back), sha(reply));
        assert.equal(sha(host.received[0]!), sha(upload));
      } finally {
        host.server.close();
      }
    });

    it('carries 1 MB both ways through nc on the phone', async () => {
      const s = t.phones[1]!.serial;
      const reply = randomBytes(MB);
      const host = await hostServer(MB, reply);
      try {
        const set = await adb(s, ['reverse', 'tcp:9100', `tcp:${host.port}`]);
        assert.equal(set.code, 0, set.stderr);
        const upload = randomBytes(MB);
        const r = await shellSession(s, 'nc 127.0.0.1 9100', upload, MB);
        assert.equal(r.code, 0);
        assert.equal(sha(r.stdout), sha(reply));
        assert.equal(sha(host.received[0]!), sha(upload));
      } finally {
        host.server.close();
      }
    });

    it('lists, allocates tcp:0, removes, and never opens targets that were not reversed', async () => {
      const s = t.phones[1]!.serial;
      const dyn = await adb(s, ['reverse', 'tcp:0', 'tcp:9999']);
      assert.equal(dyn.code, 0, dyn.stderr);
      const dynPort = Number(dyn.stdout.toString().trim());
      assert.ok(dynPort > 0, dyn.stdout.toString());
      const list = (await adb(s, ['reverse', '--list'])).stdout.toString();
      assert.match(list, /tcp:9100 tcp:\d+/);
      assert.match(list, new RegExp(`tcp:${dynPort} tcp:9999`));
      const norebind = await adb(s, ['reverse', '--no-rebind', 'tcp:9100', 'tcp:1']);
      assert.notEqual(norebind.code, 0);
      assert.match(norebind.stderr + norebind.stdout.toString(), /cannot rebind/);
      assert.equal((await adb(s, ['reverse', '--remove', 'tcp:9100'])).code, 0);
      const again = await adb(s, ['reverse', '--remove', 'tcp:9100']);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr + again.stdout.toString(), /not found/);
      assert.equal((await adb(s, ['reverse', '--remove-all'])).code, 0);
      assert.equal((await adb(s, ['reverse', '--list'])).stdout.toString().trim(), '');
      // Connecting to a port that is not reversed is refused on the phone; the adb server survives.
      const refused = await adb(s, ['shell', 'nc 127.0.0.1 9100']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /Connection refused/);
      const devices = (await adbRun(t.adb.port, ['devices'])).stdout.toString();
      for (const p of t.phones) assert.ok(devices.includes(`${p.serial}\tdevice`), devices);
    });
  });

  describe('adb forward', () => {
    it('carries 1 MB both ways to a server the phone runs (nc -l)', async () => {
      const s = t.phones[2]!.serial;
      const toPhone = randomBytes(1024 * 1024);
      const fromPhone = randomBytes(1024 * 1024);
      const fwd = await adb(s, ['forward', 'tcp:0', 'tcp:7000']);
      assert.equal(fwd.code, 0, fwd.stderr);
      const hostPort = Number(fwd.stdout.toString().trim());
      const phoneSide = shellSession(s, 'nc -l -p 7000', fromPhone, toPhone.length);
      // Wait for the phone's listener (a refused forward closes right after connect), then talk.
      let got: Buffer | undefined;
      for (let attempt = 0; attempt < 100 && !got; attempt++) {
        got = await new Promise<Buffer | undefined>((resolve) => {
          const sock = connect(hostPort, '127.0.0.1');
          const parts: Buffer[] = [];
          let n = 0;
          sock.on('data', (c: Buffer) => {
            parts.push(c);
            n += c.length;
            if (n === fromPhone.length) sock.end(toPhone);
          });
          sock.on('close', () => resolve(n > 0 ? Buffer.concat(parts) : undefined));
          sock.on('error', () => resolve(undefined));
        });
        if (!got) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(got, 'could not reach the phone through adb forward');
      assert.equal(sha(got), sha(fromPhone));
      const out = await phoneSide;
      assert.equal(out.code, 0);
      assert.equal(sha(out.stdout), sha(toPhone));
      await adb(s, ['forward', '--remove', `tcp:${hostPort}`]);
    });

    it('reaches in-process phone servers with adbkit openTcp and refuses closed ports', async () => {
      const p = t.phones[2]!;
      const listener = p.phone.net.listen('tcp:6790', (sock) => sock.pipe(sock));
      try {
        const device = createAdbClient({ port: t.adb.port }).getDevice(p.serial);
        const conn = await device.openTcp(6790);
        const payload = randomBytes(200_000);
        const echoed = new Promise<Buffer>((resolve) => {
          const parts: Buffer[] = [];
          let n = 0;
          conn.on('data', (c: Buffer) => {
            parts.push(c);
            n += c.length;
            if (n >= payload.length) resolve(Buffer.concat(parts));
          });
        });
        conn.write(payload);
        assert.equal(sha(await echoed), sha(payload));
        conn.end();
      } finally {
        listener.close();
      }
    });
  });

  it('runs many concurrent shells on every phone', async () => {
    const jobs = t.phones.flatMap((p) =>
      Array.from({ length: 8 }, (_, i) => adb(p.serial, ['shell', `echo ${i}-$(getprop ro.product.device)`])),
    );
    const results = await Promise.all(jobs);
    results.forEach((r, k) => {
      const p = t.phones[Math.floor(k / 8)]!;
      assert.equal(r.stdout.toString(), `${k % 8}-${p.phone.props.get('ro.product.device')}\n`);
    });
  });

  it('streams logcat to adbkit in the binary format', async () => {
    const p = t.phones[0]!;
    const device = createAdbClient({ port: t.adb.port }).getDevice(p.serial);
    const reader = await device.openLogcat();
    const seen = new Promise<string>((resolve) => {
      reader.on('entry', (e: { tag: string; message: string }) => {
        if (e.tag === 'phonehome-test') resolve(e.message);
      });
    });
    await adb(p.serial, ['shell', 'log -t phonehome-test hello-logcat']);
    assert.equal(await seen, 'hello-logcat');
    reader.end();
  });

  it('takes a PNG screenshot and dumps the UI hierarchy', async () => {
    const s = t.phones[0]!.serial;
    const png = (await adb(s, ['exec-out', 'screencap -p'])).stdout;
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const dump = await adb(s, ['shell', 'uiautomator dump && cat /sdcard/window_dump.xml']);
    assert.match(dump.stdout.toString(), /UI hierchary dumped to: \/sdcard\/window_dump.xml/);
    assert.match(dump.stdout.toString(), /<hierarchy rotation="0"><node /);
  });

  it('installs a pushed APK with adb install and lists it', async () => {
    const s = t.phones[3]!.serial;
    const apk = join(tmp, 'demo.apk');
    writeFileSync(
      apk,
      Buffer.concat([
        Buffer.from('PK\x03\x04'),
        Buffer.from('phonehome-package:com.example.demo\n'),
        randomBytes(2000),
      ]),
    );
    const r = await adb(s, ['install', apk]);
    assert.equal(r.code, 0, r.stderr + r.stdout.toString());
    assert.match(r.stdout.toString(), /Success/);
    const list = await adb(s, ['shell', 'pm list packages -3']);
    assert.match(list.stdout.toString(), /package:com\.example\.demo/);
  });

  it('answers adb root per profile and runs as root afterwards on rooted phones', async () => {
    const notRooted = await adb(t.phones[0]!.serial, ['root']);
    assert.match(notRooted.stdout.toString() + notRooted.stderr, /cannot run as root in production builds/);
    const rooted = t.phones[1]!;
    const r = await adb(rooted.serial, ['root']);
    assert.match(r.stdout.toString(), /restarting adbd as root/);
    let id = '';
    for (let i = 0; i < 100 && !id.includes('uid=0('); i++) {
      await new Promise((res) => setTimeout(res, 100));
      id = (await adb(rooted.serial, ['shell', 'id'], { timeoutMs: 5000 })).stdout.toString();
    }
    assert.match(id, /uid=0\(root\)/);
    await adb(rooted.serial, ['unroot']);
  });

  it('reboots: the phone drops, comes back under the same serial and completes boot', async () => {
    const p = t.phones[3]!;
    await adb(p.serial, ['shell', 'setprop debug.phonehome.marker 1']);
    const bootId = (await adb(p.serial, ['shell', 'cat /proc/sys/kernel/random/boot_id'])).stdout
      .toString()
      .trim();
    assert.match(bootId, /^[0-9a-f-]{36}$/);
    const r = await adb(p.serial, ['reboot']);
    assert.equal(r.code, 0, r.stderr);
    let booted = '';
    for (let i = 0; i < 100 && booted !== '1'; i++) {
      await new Promise((res) => setTimeout(res, 100));
      booted = (await adb(p.serial, ['shell', 'getprop sys.boot_completed'], { timeoutMs: 5000 })).stdout
        .toString()
        .trim();
    }
    assert.equal(booted, '1');
    const marker = await adb(p.serial, ['shell', 'getprop debug.phonehome.marker']);
    assert.equal(marker.stdout.toString().trim(), '', 'non-persistent props reset on reboot');
    const newBootId = (await adb(p.serial, ['shell', 'cat /proc/sys/kernel/random/boot_id'])).stdout
      .toString()
      .trim();
    assert.match(newBootId, /^[0-9a-f-]{36}$/);
    assert.notEqual(newBootId, bootId);
  });
});
