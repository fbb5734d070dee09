import * as assert from 'node:assert/strict';
import { createAdbClient } from '../../../src/device/adb-client.ts';
import { Device } from '../../../src/device/device.ts';
import { getDevice, listPhones, trackPhones, type PhoneEntry } from '../../../src/device/discovery.ts';
import { AdbServerError, DeviceError, DeviceUnavailableError } from '../../../src/device/errors.ts';
import { startFakeAdbServer, v2, type FakeAdbServer, type FakeConn } from './fake-adb-server.ts';

const SERIAL = '127.0.0.1:20001';

/**
 * A fake server for one phone: answers `host-serial:S:features` and `host:transport:S`, then hands
 * the device service to `onService`.
 */
function phoneScript(
  onService: (service: string, conn: FakeConn) => Promise<void>,
  opts: { features?: string; onHost?: (service: string, conn: FakeConn) => Promise<boolean> } = {},
) {
  return async (conn: FakeConn): Promise<void> => {
    const req = await conn.request();
    if (req === undefined) return;
    if (opts.onHost && (await opts.onHost(req, conn))) return;
    if (req === `host-serial:${SERIAL}:features`) {
      conn.value(opts.features ?? 'shell_v2,cmd,stat_v2');
      conn.end();
      return;
    }
    if (req === `host:transport:${SERIAL}`) {
      conn.okay();
      const service = await conn.request();
      if (service !== undefined) await onService(service, conn);
      return;
    }
    conn.fail(`unexpected request ${req}`);
    conn.end();
  };
}

describe('Device (against a scripted adb server)', () => {
  let server: FakeAdbServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  function device(opts: { timeoutMs?: number } = {}): Device {
    return new Device(createAdbClient({ port: server!.port }), SERIAL, { timeoutMs: opts.timeoutMs ?? 2000 });
  }

  it('runs a command over shell v2 with separate stderr and the exit code, across split packets', async () => {
    let seen = '';
    server = await startFakeAdbServer(
      phoneScript(async (service, conn) => {
        seen = service;
        conn.okay();
        assert.deepEqual(await conn.bytes(5), v2(4)); // close-stdin
        const bytes = Buffer.concat([v2(1, 'out\n'), v2(2, 'err\n'), v2(1, 'more'), v2(3, Buffer.from([3]))]);
        for (let i = 0; i < bytes.length; i += 3) conn.write(bytes.subarray(i, i + 3));
      }),
    );
    const r = await device().shell('echo out; echo err >&2; exit 3');
    assert.equal(seen, 'shell,v2,raw:echo out; echo err >&2; exit 3');
    assert.deepEqual(r, { stdout: 'out\nmore', stderr: 'err\n', exitCode: 3 });
  });

  it('quotes argv commands and sends stdin before close-stdin', async () => {
    let seen = '';
    let stdin: Buffer | undefined;
    server = await startFakeAdbServer(
      phoneScript(async (service, conn) => {
        seen = service;
        conn.okay();
        stdin = await conn.bytes(5 + 5 + 5);
        conn.write(Buffer.concat([v2(1, 'ok'), v2(3, Buffer.from([0]))]));
      }),
    );
    const r = await device().shell(['cat', "it's $(reboot)"], { stdin: 'hello' });
    assert.equal(seen, `shell,v2,raw:cat 'it'\\''s $(reboot)'`);
    assert.deepEqual(stdin, Buffer.concat([v2(0, 'hello'), v2(4)]));
    assert.equal(r.exitCode, 0);
  });

  it('falls back to legacy shell with an exit-code marker when shell_v2 is not offered', async () => {
    let seen = '';
    server = await startFakeAdbServer(
      phoneScript(
        async (service, conn) => {
          seen = service;
          const marker = /echo "(__PHONEHOME_RC_[0-9a-f]+__)\$\?"$/.exec(service)?.[1];
          conn.okay();
          conn.write(`merged out and err\n${marker}7\n`);
          conn.end();
        },
        { features: 'cmd' },
      ),
    );
    const r = await device().shell('false');
    assert.match(seen, /^shell:\(\nfalse\n\); echo "__PHONEHOME_RC_[0-9a-f]+__\$\?"$/);
    assert.deepEqual(r, { stdout: 'merged out and err\n', stderr: '', exitCode: 7 });
  });

  it('times out, destroys its connection and names phone, operation and fix', async () => {
    server = await startFakeAdbServer(
      phoneScript(async () => {
        /* never answers the shell request */
      }),
    );
    const started = Date.now();
    await assert.rejects(device({ timeoutMs: 300 }).shell('getprop ro.product.model'), (err: unknown) => {
      assert.ok(err instanceof DeviceError);
      assert.equal(
        err.message,
        `phone ${SERIAL}: shell "getprop ro.product.model" timed out after 300 ms. Check the phone is awake ` +
          `and connected (adb -P ${server!.port} -s ${SERIAL} get-state), or raise the timeout (--timeout on the ` +
          'phonehome command, or the timeoutMs option of Device).',
      );
      assert.equal(err.serial, SERIAL);
      assert.equal(err.operation, 'shell "getprop ro.product.model"');
      return true;
    });
    assert.ok(Date.now() - started < 1500);
    const transport = server.connections.at(-1)!;
    await transport.whenClosed(); // the socket was destroyed, not leaked
  });

  it('retries once when the server says the device is still connecting', async () => {
    let transports = 0;
    server = await startFakeAdbServer(
      phoneScript(
        async (_service, conn) => {
          conn.okay();
          await conn.bytes(5);
          conn.write(Buffer.concat([v2(1, 'x'), v2(3, Buffer.from([0]))]));
        },
        {
          onHost: async (req, conn) => {
            if (req.startsWith('host:transport:') && transports++ === 0) {
              conn.fail('device still connecting');
              return true;
            }
            return false;
          },
        },
      ),
    );
    const r = await device().shell('true');
    assert.equal(r.stdout, 'x');
    assert.equal(transports, 2);
  });

  it('turns "device not found" into a hint to connect the phone', async () => {
    server = await startFakeAdbServer(async (conn) => {
      await conn.request();
      conn.fail(`device '${SERIAL}' not found`);
    });
    await assert.rejects(
      device().shell('id'),
      new RegExp(
        `phone 127\\.0\\.0\\.1:20001: shell "id" failed: not connected to the adb server on port ${server.port}\\. ` +
          `Run \`phonehome lab status\` or \`adb -P ${server.port} connect 127\\.0\\.0\\.1:20001\``,
      ),
    );
  });

  it('turns "device unauthorized" into a DeviceUnavailableError with the fix', async () => {
    server = await startFakeAdbServer(async (conn) => {
      await conn.request();
      conn.fail("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set");
    });
    await assert.rejects(device().shell('id'), (err: unknown) => {
      assert.ok(err instanceof DeviceUnavailableError);
      assert.equal(err.state, 'unauthorized');
      assert.match(
        err.message,
        /shell "id" failed: the phone is unauthorized\. Unlock the phone and accept the USB debugging prompt/,
      );
      return true;
    });
  });

  it('reads settings (null for unset) and validates keys', async () => {
    const services: string[] = [];
    server = await startFakeAdbServer(
      phoneScript(async (service, conn) => {
        services.push(service);
        conn.okay();
        await conn.bytes(5);
        const out = service.endsWith('missing_key') ? 'null\n' : '1\n';
        conn.write(Buffer.concat([v2(1, out), v2(3, Buffer.from([0]))]));
      }),
    );
    const d = device();
    assert.equal(await d.getSetting('secure', 'upload_log_pref'), '1');
    assert.equal(await d.getSetting('global', 'missing_key'), null);
    assert.deepEqual(services, [
      'shell,v2,raw:settings get secure upload_log_pref',
      'shell,v2,raw:settings get global missing_key',
    ]);
    await assert.rejects(d.getSetting('secure', 'x; reboot'), TypeError);
    await assert.rejects(d.getSetting('bogus' as 'global', 'x'), TypeError);
  });

  it('quotes setting values and reports the Xiaomi permission trap with its fix', async () => {
    let seen = '';
    server = await startFakeAdbServer(
      phoneScript(async (service, conn) => {
        seen = service;
        conn.okay();
        await conn.bytes(5);
        conn.write(
          Buffer.concat([
            v2(
              2,
              'java.lang.SecurityException: Permission denial: writing to settings requires:android.permission.WRITE_SECURE_SETTINGS\n',
            ),
            v2(3, Buffer.from([255])),
          ]),
        );
      }),
    );
    await assert.rejects(
      device().putSetting('global', 'http_proxy', "127.0.0.1:8080'; reboot"),
      (err: unknown) => {
        assert.ok(err instanceof DeviceError);
        assert.match(err.message, /exited with 255: java\.lang\.SecurityException/);
        assert.match(err.message, /Enable "USB debugging \(Security settings\)" in Developer options/);
        return true;
      },
    );
    assert.equal(seen, `shell,v2,raw:settings put global http_proxy '127.0.0.1:8080'\\''; reboot'`);
  });

  it('removes a reverse with reverse:killforward and reports adbd FAIL messages', async () => {
    const services: string[] = [];
    server = await startFakeAdbServer(
      phoneScript(async (service, conn) => {
        services.push(service);
        conn.okay(); // the server: adbd accepted the stream
        if (service === 'reverse:killforward:tcp:8080') conn.write('OKAY');
        else conn.fail("listener 'tcp:9999' not found");
        conn.end();
      }),
    );
    const d = device();
    await d.removeReverse('tcp:8080');
    await assert.rejects(
      d.removeReverse(9999),
      /reverse --remove tcp:9999 failed: listener 'tcp:9999' not found/,
    );
    assert.deepEqual(services, ['reverse:killforward:tcp:8080', 'reverse:killforward:tcp:9999']);
    await assert.rejects(d.reverse('tcp:1;x', 'tcp:2'), TypeError);
  });

  it('pulls a file over sync and reports FAIL (missing file) as an error, not an empty file', async () => {
    server = await startFakeAdbServer(
      phoneScript(async (service, conn) => {
        assert.equal(service, 'sync:');
        conn.okay();
        const head = (await conn.bytes(8))!;
        const path = (await conn.bytes(head.readUInt32LE(4)))!.toString();
        const frame = (id: string, body: Buffer) => {
          const h = Buffer.alloc(8);
          h.write(id, 0, 'ascii');
          h.writeUInt32LE(body.length, 4);
          return Buffer.concat([h, body]);
        };
        if (path === '/data/local/tmp/x') {
          const all = Buffer.concat([
            frame('DATA', Buffer.from('hello ')),
            frame('DATA', Buffer.from('world')),
          ]);
          conn.write(Buffer.concat([all, Buffer.from('DONE\0\0\0\0')]));
        } else {
          conn.write(frame('FAIL', Buffer.from('open failed: No such file or directory')));
        }
      }),
    );
    const d = device();
    assert.equal((await d.pull('/data/local/tmp/x')).toString(), 'hello world');
    await assert.rejects(d.pull('/nope'), /pull \/nope failed: open failed: No such file or directory/);
  });
});

describe('discovery (against a scripted adb server)', () => {
  let server: FakeAdbServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('lists phones with their state and the fix for unusable ones', async () => {
    server = await startFakeAdbServer(async (conn) => {
      assert.equal(await conn.request(), 'host:devices');
      conn.value(
        [
          '127.0.0.1:20001\tdevice',
          'abc123\tunauthorized',
          'def456\tno permissions (user in plugdev group; are your udev rules wrong?); see [http://developer.android.com/tools/device.html]',
          '127.0.0.1:20002\toffline',
          '',
        ].join('\n'),
      );
      conn.end();
    });
    const client = createAdbClient({ port: server.port });
    const phones = await listPhones(client);
    assert.deepEqual(
      phones.map((p) => [p.serial, p.state, p.available]),
      [
        ['127.0.0.1:20001', 'device', true],
        ['abc123', 'unauthorized', false],
        ['def456', 'no permissions', false],
        ['127.0.0.1:20002', 'offline', false],
      ],
    );
    assert.match(phones[1]!.problem!, /accept the USB debugging prompt/);
    assert.match(phones[2]!.problem!, /udev rule/);
    assert.match(
      phones[3]!.problem!,
      /disconnect 127\.0\.0\.1:20002 && adb -P \d+ connect 127\.0\.0\.1:20002/,
    );

    await assert.rejects(getDevice(client, 'abc123'), (err: unknown) => {
      assert.ok(err instanceof DeviceUnavailableError);
      assert.match(
        err.message,
        /^phone abc123 is unauthorized\. Unlock the phone and accept the USB debugging prompt/,
      );
      return true;
    });
    await assert.rejects(
      getDevice(client, 'zzz'),
      /no phone with serial zzz on the adb server at 127\.0\.0\.1:\d+; connected: 127\.0\.0\.1:20001 \(device\), abc123 \(unauthorized\)/,
    );
    assert.equal((await getDevice(client, '127.0.0.1:20001')).serial, '127.0.0.1:20001');
  });

  it('reports a server that does not answer in time, and one that is not there', async () => {
    server = await startFakeAdbServer(async () => {
      /* silent */
    });
    await assert.rejects(
      listPhones(createAdbClient({ port: server.port }), { timeoutMs: 200 }),
      (err: unknown) => {
        assert.ok(err instanceof AdbServerError);
        assert.match(err.message, /did not answer within 200 ms/);
        return true;
      },
    );
    const port = server.port;
    await server.close();
    server = undefined;
    await assert.rejects(
      listPhones(createAdbClient({ port })),
      new RegExp(
        `cannot reach the adb server on 127\\.0\\.0\\.1:${port}: start it with \`adb -P ${port} start-server\``,
      ),
    );
  });

  it('tracks phones and subscribes again, on the new tracker, after the server connection ends', async () => {
    let n = 0;
    const tracking: FakeConn[] = [];
    server = await startFakeAdbServer(async (conn) => {
      assert.equal(await conn.request(), 'host:track-devices');
      tracking.push(conn);
      conn.okay();
      const frame = (text: string) => `${Buffer.byteLength(text).toString(16).padStart(4, '0')}${text}`;
      if (n++ === 0) {
        conn.write(frame('a\tdevice\nb\toffline\n'));
        await new Promise((r) => setTimeout(r, 50));
        conn.write(frame('a\tdevice\nb\tdevice\n'));
        await new Promise((r) => setTimeout(r, 50));
        conn.end(); // the adb server went away
      } else {
        conn.write(frame('c\tunauthorized\n'));
      }
    });
    const lists: PhoneEntry[][] = [];
    const errors: Error[] = [];
    const tracker = trackPhones(createAdbClient({ port: server.port }), (p) => lists.push(p), {
      retryMs: 20,
      onError: (e) => errors.push(e),
    });
    try {
      const deadline = Date.now() + 3000;
      while (!tracker.phones.some((p) => p.serial === 'c') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const states = lists.map((l) => l.map((p) => `${p.serial}:${p.state}`).join(','));
      assert.deepEqual(states, ['a:device,b:offline', 'a:device,b:device', '', 'c:unauthorized']);
      assert.equal(tracker.phones[0]!.available, false);
      assert.match(tracker.phones[0]!.problem!, /accept the USB debugging prompt/);
      assert.equal(tracking.length, 2);
      assert.ok(errors.some((e) => e instanceof AdbServerError));
    } finally {
      tracker.stop();
    }
  });
});
