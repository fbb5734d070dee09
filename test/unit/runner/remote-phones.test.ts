/**
 * Issue 12 §1, phones from other hosts: an adb server on another host is refused before any adb call
 * (exit 2, why, the two shapes); `connect: true` phones are `adb connect`ed (src/device/connect.ts,
 * against a scripted adb server: what it sends, how it reads the answers, its timeout); devices.json
 * `connect`; Appium's `appium:remoteAdbHost`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectPhonesFor } from '../../../src/cli/commands/devices.ts';
import { DevicesFileError, validateDevicesFile } from '../../../src/config/devices-schema.ts';
import { connectPhone, createAdbClient, splitNetworkSerial } from '../../../src/device/index.ts';
import {
  RemoteAdbServerError,
  parseAdbServer,
  refuseRemoteAdbServers,
  resolvePhones,
  type DevicesFileLike,
} from '../../../src/runner/phones.ts';
import { appiumCapabilities } from '../../../src/ui/appium/capabilities.ts';
import { runCli, show } from '../../support/cli.ts';
import { startFakeAdbServer, type FakeAdbServer, type FakeConn } from '../device/fake-adb-server.ts';

const LOCAL = { host: '127.0.0.1', port: 5037 };

function refusal(fn: () => unknown): RemoteAdbServerError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RemoteAdbServerError, String(err));
    return err;
  }
  assert.fail('expected a RemoteAdbServerError');
}

describe('runner/phones: an adb server on another host is refused', () => {
  it("refuses adbServers, a phone's adbServer and ANDROID_ADB_SERVER_ADDRESS off this host, with why and both shapes", () => {
    const file: DevicesFileLike = {
      adbServers: [LOCAL, { host: '10.200.7.1', port: 5037 }],
      phones: [{ serial: 'a' }, { serial: 'b', adbServer: '10.200.7.1:5037' }],
    };
    const e = refusal(() => refuseRemoteAdbServers(file, LOCAL, 'lab/devices.json'));
    assert.equal(e.exitCode, 2);
    assert.match(
      e.message,
      /lab\/devices\.json adbServers\[1\] names the adb server 10\.200\.7\.1:5037, which is on another host/,
    );
    assert.match(e.message, /its phones \(b\)/);
    assert.match(
      e.message,
      /adb reverse opens each phone's tunnel on the host that runs the adb server \(10\.200\.7\.1\)/,
    );
    assert.match(e.hint ?? '', /phonehome run --shard I\/N/);
    assert.match(e.hint ?? '', /phonehome merge RUN_DIR/);
    assert.match(e.hint ?? '', /adb connect PHONE_HOST:PORT/);
    assert.match(e.hint ?? '', /"connect": true/);

    const phone = refusal(() =>
      refuseRemoteAdbServers({ phones: [{ serial: 'c', adbServer: 'lab-2.example:5037' }] }, LOCAL),
    );
    assert.match(phone.message, /phone c's adbServer names the adb server lab-2\.example:5037/);

    const env = refusal(() => refuseRemoteAdbServers(undefined, { host: '192.0.2.9', port: 5037 }));
    assert.match(
      env.message,
      /^ANDROID_ADB_SERVER_ADDRESS \(192\.0\.2\.9\) names the adb server 192\.0\.2\.9:5037/,
    );
  });

  it('accepts every loopback form (127.0.0.0/8, localhost, ::1)', () => {
    for (const host of ['127.0.0.1', '127.3.4.5', 'localhost', '::1', '[::1]']) {
      refuseRemoteAdbServers(
        { adbServers: [{ host, port: 5038 }], phones: [{ serial: 'x', adbServer: `${host}:5038` }] },
        { host, port: 5037 },
      );
    }
  });

  it('resolvePhones refuses before asking any adb server anything', async () => {
    let asked = 0;
    const server = await startFakeAdbServer(async (conn) => {
      asked++;
      conn.end();
    });
    try {
      await assert.rejects(
        resolvePhones({
          devicesFile: 'devices.json',
          defaultServer: { host: '127.0.0.1', port: server.port },
          readDevicesFile: () => ({
            adbServers: [{ host: '127.0.0.1', port: server.port }],
            phones: [
              { serial: 'a' },
              { serial: '10.0.0.5:41001', connect: true },
              { serial: 'b', adbServer: '10.0.0.9:5037' },
            ],
          }),
          warn: () => undefined,
        }),
        (err: unknown) => err instanceof RemoteAdbServerError && /10\.0\.0\.9:5037/.test(err.message),
      );
      assert.equal(asked, 0, 'no adb server was asked anything (no connect, no list)');
    } finally {
      await server.close();
    }
  });
});

describe('device/connect: adb connect for phones on the TCP transport', () => {
  let server: FakeAdbServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  /** A scripted adb server: `devices` lists from `state()`, `connect` answers `answer`. */
  function script(o: { answer: string; after: () => void; state: () => string | undefined; seen: string[] }) {
    return async (conn: FakeConn): Promise<void> => {
      const req = await conn.request();
      if (req === undefined) return;
      o.seen.push(req);
      if (req === 'host:devices') {
        const s = o.state();
        conn.value(s ? `10.0.0.5:41001\t${s}\n` : '');
      } else if (req.startsWith('host:connect:')) {
        conn.value(o.answer);
        o.after();
      } else if (req.startsWith('host:disconnect:')) {
        conn.value('disconnected 10.0.0.5:41001');
      }
      conn.end();
    };
  }

  it('connects, then waits for the device state', async () => {
    const seen: string[] = [];
    let state: string | undefined;
    let lists = 0;
    server = await startFakeAdbServer(
      script({
        answer: 'connected to 10.0.0.5:41001',
        after: () => (state = 'offline'),
        // offline for the first list after connecting (as adb shows it for ~10 ms), then device
        state: () => (state === 'offline' && lists++ >= 1 ? 'device' : state),
        seen,
      }),
    );
    const r = await connectPhone(createAdbClient({ port: server.port }), '10.0.0.5:41001', {
      timeoutMs: 5000,
    });
    assert.deepEqual(r, { serial: '10.0.0.5:41001', ok: true, state: 'device' });
    assert.deepEqual(seen.slice(0, 2), ['host:devices', 'host:connect:10.0.0.5:41001']);
  });

  it("names an unreachable phone with the adb server's answer, and never connects a listed device again", async () => {
    const seen: string[] = [];
    server = await startFakeAdbServer(
      script({
        answer: "failed to connect to '10.0.0.5:41001': Connection refused",
        after: () => undefined,
        state: () => undefined,
        seen,
      }),
    );
    const client = createAdbClient({ port: server.port });
    const r = await connectPhone(client, '10.0.0.5:41001', { timeoutMs: 5000 });
    assert.equal(r.ok, false);
    assert.equal(r.state, 'absent');
    assert.match(
      r.problem ?? '',
      /adb connect 10\.0\.0\.5:41001: failed to connect to '10\.0\.0\.5:41001': Connection refused/,
    );
    const before = seen.length;
    const bad = await connectPhone(client, 'usb-serial', { timeoutMs: 5000 });
    assert.match(bad.problem ?? '', /is not HOST:PORT/);
    assert.equal(seen.length, before);
  });

  it('reconnect: an offline phone is disconnected first', async () => {
    const seen: string[] = [];
    let state = 'offline';
    server = await startFakeAdbServer(
      script({
        answer: 'connected to 10.0.0.5:41001',
        after: () => (state = 'device'),
        state: () => state,
        seen,
      }),
    );
    const r = await connectPhone(createAdbClient({ port: server.port }), '10.0.0.5:41001', {
      timeoutMs: 5000,
      reconnect: true,
    });
    assert.equal(r.ok, true);
    assert.deepEqual(seen.slice(0, 3), [
      'host:devices',
      'host:disconnect:10.0.0.5:41001',
      'host:connect:10.0.0.5:41001',
    ]);
  });

  it('gives up on a connect the adb server does not answer, within its timeout', async () => {
    const seen: string[] = [];
    server = await startFakeAdbServer(async (conn) => {
      const req = await conn.request();
      if (req === undefined) return;
      seen.push(req);
      if (req === 'host:devices') {
        conn.value('');
        conn.end();
      }
      // host:connect: never answered (an address that drops SYNs)
    });
    const r = await connectPhone(createAdbClient({ port: server.port }), '10.0.0.5:41001', {
      timeoutMs: 300,
    });
    assert.equal(r.ok, false);
    assert.match(r.problem ?? '', /did not finish within 300 ms/);
  });

  it('splits network serials', () => {
    assert.deepEqual(splitNetworkSerial('10.0.0.5:41001'), { host: '10.0.0.5', port: 41001 });
    assert.deepEqual(splitNetworkSerial('[fd00::2]:41001'), { host: '[fd00::2]', port: 41001 });
    assert.equal(splitNetworkSerial('emulator-5554'), undefined);
    assert.equal(splitNetworkSerial('h:70000'), undefined);
  });
});

describe('devices.json "connect"', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'phonehome-connect-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts connect phones with HOST:PORT serials and rejects others with file:line:col', () => {
    const ok = join(dir, 'ok.json');
    writeFileSync(ok, JSON.stringify({ phones: [{ serial: '10.0.0.5:41001', connect: true, ui: 'adb' }] }));
    assert.equal(validateDevicesFile(ok).phones[0]!.connect, true);
    const bad = join(dir, 'bad.json');
    const problems = (text: string): string => {
      writeFileSync(bad, text);
      try {
        validateDevicesFile(bad);
      } catch (err) {
        assert.ok(err instanceof DevicesFileError, String(err));
        assert.equal(err.exitCode, 2);
        return err.message;
      }
      return assert.fail('expected a DevicesFileError');
    };
    assert.match(
      problems('{\n  "phones": [\n    {"serial": "abc123", "connect": true}\n  ]\n}\n'),
      /bad\.json:3:\d+ phones\[0\]\.serial: a phone with "connect": true needs its serial as "HOST:PORT"/,
    );
    assert.match(
      problems('{\n  "phones": [\n    {"serial": "h:1", "connect": "yes"}\n  ]\n}\n'),
      /bad\.json:3:\d+ phones\[0\]\.connect: expected true or false/,
    );
  });
});

describe('devices --devices: which "connect" phones it connects', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'phonehome-devices-connect-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('connects none when ANDROID_ADB_SERVER_ADDRESS (the client host) is not loopback', () => {
    const file = join(dir, 'devices.json');
    writeFileSync(
      file,
      JSON.stringify({
        phones: [
          { serial: '10.0.0.5:41001', connect: true, ui: 'adb' },
          { serial: '10.0.0.6:41001', connect: true, ui: 'adb', adbServer: '127.0.0.1:5037' },
          { serial: '10.0.0.7:41001', ui: 'adb' },
        ],
      }),
    );
    const parsed = validateDevicesFile(file);
    const both = ['10.0.0.5:41001', '10.0.0.6:41001'];
    assert.deepEqual(connectPhonesFor(parsed, 5037), both);
    for (const host of ['127.0.0.1', 'localhost', '::1'])
      assert.deepEqual(connectPhonesFor(parsed, 5037, host), both, host);
    for (const host of ['192.0.2.7', 'lab-2.local'])
      assert.deepEqual(connectPhonesFor(parsed, 5037, host), [], host);
  });
});

describe('runner/phones parseAdbServer', () => {
  it('takes an IPv6 literal out of its brackets', () => {
    assert.deepEqual(parseAdbServer('[::1]:5037', 'x'), { host: '::1', port: 5037 });
    assert.deepEqual(parseAdbServer(' [fe80::1]:5038 ', 'x'), { host: 'fe80::1', port: 5038 });
    assert.deepEqual(parseAdbServer('127.0.0.1:5037', 'x'), { host: '127.0.0.1', port: 5037 });
    assert.deepEqual(parseAdbServer('localhost:5039', 'x'), { host: 'localhost', port: 5039 });
    assert.throws(() => parseAdbServer('[::1]', 'x'), /adb server must be "host:port"/);
  });
});

describe('ui/appium/capabilities: the adb server host', () => {
  it('adds appium:remoteAdbHost only when the adb server is not on this host (loopback)', () => {
    const local = appiumCapabilities({ serial: 's', adbPort: 5037, adbHost: '127.0.0.1', systemPort: 8200 });
    assert.equal('appium:remoteAdbHost' in local, false);
    const none = appiumCapabilities({ serial: 's', adbPort: 5037, systemPort: 8200 });
    assert.equal('appium:remoteAdbHost' in none, false);
    // Every loopback form: the driver would build http://::1:PORT, or miss adb forward's 127.0.0.1.
    for (const adbHost of ['localhost', '127.0.0.2', '::1', '[::1]']) {
      const loop = appiumCapabilities({ serial: 's', adbPort: 5038, adbHost, systemPort: 8200 });
      assert.equal('appium:remoteAdbHost' in loop, false, adbHost);
      assert.equal(loop['appium:adbPort'], 5038);
    }
    const other = appiumCapabilities({
      serial: 's',
      adbPort: 5038,
      adbHost: 'lab-2.local',
      systemPort: 8200,
    });
    assert.equal(other['appium:remoteAdbHost'], 'lab-2.local');
    assert.equal(other['appium:adbPort'], 5038);
  });
});

describe('CLI: ANDROID_ADB_SERVER_ADDRESS on another host', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'phonehome-remote-cli-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const args of [
    ['capture', '--duration', '1000'],
    ['run', resolve('test/fixtures/runner/pass.yaml')],
  ]) {
    it(`phonehome ${args[0]} exits 2 with why and the two shapes, touching no adb server`, async () => {
      const r = await runCli(args, {
        env: {
          ANDROID_ADB_SERVER_ADDRESS: '192.0.2.7',
          ANDROID_ADB_SERVER_PORT: '5999',
          PHONEHOME_HOME: join(dir, 'home'),
          PHONEHOME_CA_DIR: join(dir, 'ca'),
          CI: '1',
        },
        cwd: dir,
      });
      assert.equal(r.code, 2, show(r));
      assert.match(
        r.stderr,
        /ANDROID_ADB_SERVER_ADDRESS \(192\.0\.2\.7\) names the adb server 192\.0\.2\.7:5999, which is on another host/,
      );
      assert.match(r.stderr, /adb reverse opens each phone's tunnel on the host that runs the adb server/);
      assert.match(
        r.stderr,
        /phonehome run --shard I\/N[\s\S]*phonehome merge[\s\S]*adb connect PHONE_HOST:PORT/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});
