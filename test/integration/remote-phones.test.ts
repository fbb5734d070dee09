/**
 * Phones from other hosts (issue 12 §1), through the real parts: a virtual phone in a Linux network
 * namespace (another "host": its own loopback, reached over a veth pair) started with
 * `phonehome lab up --listen-host ADDR --no-connect`, listed in the root namespace's devices.json as
 * `"connect": true`; `phonehome run` `adb connect`s it to the runner's own (real Debian) adb server and
 * captures its uploads, because `adb reverse` now runs over that TCP transport back to the runner.
 * And a devices.json that names the namespace's adb server is refused (exit 2) before any job.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli, show, waitFor } from '../support/cli.ts';
import { cliEnv, startAdbServer, type TestAdbServer } from '../support/lab.ts';
import { Netns, netnsUnavailable } from '../support/netns.ts';
import { runAdb } from '../../src/virtual/lab/adb-client.ts';
import type { RunSummary } from '../../src/report/run-folder.ts';
import { readCaptureFile } from '../../src/inspect/read.ts';

/** A positive control: it passes only when com.miui.analytics' uploads reach the capture. */
const SCENARIO = resolve('scenarios/system-ui-events.yaml');

describe('a phone on another host, attached by adb connect (network namespace)', function () {
  this.timeout(120_000);
  let tmp: string;
  let ns: Netns | undefined;
  let adb: TestAdbServer | undefined;
  let env: Record<string, string>;
  let nsEnv: Record<string, string>;
  let serial: string;
  const port = 42000 + (process.pid % 1000);

  before(async function () {
    const why = netnsUnavailable();
    if (why) {
      if (process.env.CI) throw new Error(`the remote-phone test must run in CI: ${why}`);
      this.skip();
    }
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-remote-phones-'));
    // A /30 of its own (10.231.<n>.0/30; the veth's name carries this process's pid).
    ns = Netns.create({ hostname: 'lab-tcp', veth: 100 + (process.pid % 100) });
    const nsAddr = ns.veth!.nsAddr;
    nsEnv = {
      PHONEHOME_HOME: join(tmp, 'ns-home'),
      PHONEHOME_CA_DIR: join(tmp, 'ns-ca'),
      ANDROID_ADB_SERVER_PORT: '5037',
      CI: '1',
    };
    const up = await runCli(
      [
        'lab',
        'up',
        '--listen-host',
        nsAddr,
        '--no-connect',
        '--base-port',
        String(port),
        '--profile',
        'redmi-note-8-leaky',
        '--devices',
        join(tmp, 'ns-devices.json'),
        '--json',
      ],
      { env: nsEnv, cwd: tmp, timeoutMs: 60_000, prefix: ns.prefix() },
    );
    assert.equal(up.code, 0, show(up));
    serial = `${nsAddr}:${port}`;
    const recorded = JSON.parse(readFileSync(join(tmp, 'ns-devices.json'), 'utf8')) as {
      phones: Array<{ serial: string; connect?: boolean }>;
    };
    assert.deepEqual(
      recorded.phones.map((p) => [p.serial, p.connect]),
      [[serial, true]],
      'lab up --no-connect records the phone as connect: true, serial ADDR:PORT',
    );
    adb = await startAdbServer();
    env = cliEnv(tmp, adb.port);
  });

  after(async () => {
    if (ns) {
      await runCli(['lab', 'down'], { env: nsEnv, cwd: tmp, timeoutMs: 20_000, prefix: ns.prefix() }).catch(
        () => undefined,
      );
      ns.delete();
    }
    await adb?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('phonehome devices connects the listed phone and names the unreachable one', async () => {
    const devices = join(tmp, 'devices-check.json');
    const dead = `${ns!.veth!.nsAddr}:${port + 1}`; // nothing listens there
    writeFileSync(
      devices,
      JSON.stringify({
        phones: [
          { serial, connect: true, ui: 'adb' },
          { serial: dead, connect: true, ui: 'adb' },
        ],
      }),
    );
    const r = await runCli(['devices', '--devices', devices, '--json'], { env, cwd: tmp, timeoutMs: 30_000 });
    assert.equal(r.code, 0, show(r));
    const rows = JSON.parse(r.stdout) as Array<{
      serial: string;
      state: string;
      available: boolean;
      problem?: string;
      fingerprint?: { model: string };
    }>;
    const phone = rows.find((x) => x.serial === serial);
    assert.equal(phone?.state, 'device', r.stdout);
    assert.ok(phone?.fingerprint?.model, r.stdout);
    const gone = rows.find((x) => x.serial === dead);
    assert.equal(gone?.state, 'unreachable', r.stdout);
    assert.equal(gone?.available, false);
    assert.match(gone?.problem ?? '', /unreachable .*adb connect/, r.stdout);
  });

  it('phonehome run connects the phone to its own adb server and captures its uploads', async () => {
    // Not connected when the run starts (whatever an earlier case did): the runner connects it.
    await runAdb(adb!.port, ['disconnect', serial]).catch(() => undefined);
    assert.doesNotMatch(
      (await runAdb(adb!.port, ['devices'])).stdout,
      new RegExp(serial.replace(/\./g, '\\.')),
    );
    const devices = join(tmp, 'devices.json');
    writeFileSync(devices, JSON.stringify({ phones: [{ serial, connect: true, ui: 'adb' }] }));
    const out = join(tmp, 'reports');
    const r = await runCli(['run', SCENARIO, '--devices', devices, '--out', out, '--json'], {
      env,
      cwd: tmp,
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, show(r));
    const summary = JSON.parse(r.stdout) as RunSummary;
    assert.deepEqual(
      summary.results.map((x) => [x.phone, x.status]),
      [[serial, 'passed']],
      show(r),
    );
    // The evidence holds the phone's uploads, as the capture proxy on this host's 127.0.0.1 saw them.
    const evidence = join(out, summary.run, 'evidence');
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name === 'capture.har') files.push(join(d, e.name));
      }
    };
    walk(evidence);
    const hosts: string[] = [];
    for (const f of files)
      for await (const x of readCaptureFile(f)) if (x.type === 'exchange') hosts.push(x.host);
    assert.ok(
      hosts.length > 0 && hosts.every((h) => /\.(xiaomi|miui)\.com$/.test(h)),
      `uploads from the phone in the evidence: ${JSON.stringify(hosts)}`,
    );
  });

  it('a connect phone the adb server forgot mid-scenario is re-connected by its worker and restored', async () => {
    const devices = join(tmp, 'devices-drop.json');
    writeFileSync(devices, JSON.stringify({ phones: [{ serial, connect: true, ui: 'adb' }] }));
    const proxyOf = async (): Promise<string> =>
      (await runAdb(adb!.port, ['-s', serial, 'shell', 'settings get global http_proxy'])).stdout.trim();
    const out = join(tmp, 'reports-drop');
    const run = runCli(
      ['run', resolve('test/fixtures/runner/slow.yaml'), '--devices', devices, '--out', out, '--json'],
      {
        env,
        cwd: tmp,
        timeoutMs: 60_000,
      },
    );
    await waitFor(
      'phone wired',
      async () => (/^127\.0\.0\.1:\d+$/.test(await proxyOf()) ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    // The adb server forgets the phone (as it does 60 s after a TCP drop, adb-protocol.md §8): only an
    // `adb connect` brings it back, and the harness must issue it to restore the phone.
    await runAdb(adb!.port, ['disconnect', serial]);
    const r = await run;
    assert.equal(r.code, 3, show(r));
    const summary = JSON.parse(r.stdout) as RunSummary;
    assert.deepEqual(
      summary.results.map((x) => x.status),
      ['broken'],
      show(r),
    );
    const workerLog = readFileSync(
      join(out, summary.run, 'logs', `${serial.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`),
      'utf8',
    );
    assert.match(workerLog, /adb connect: back/, workerLog);
    assert.match(
      (await runAdb(adb!.port, ['devices'])).stdout,
      new RegExp(`${serial.replace(/\./g, '\\.')}\tdevice`),
    );
    assert.equal(await proxyOf(), 'null', `restored once re-connected\n${show(r)}`);
  });

  it("a devices.json naming the other host's adb server exits 2 with the explanation, before any job", async () => {
    const devices = join(tmp, 'remote-server.json');
    const nsAddr = ns!.veth!.nsAddr;
    writeFileSync(
      devices,
      JSON.stringify({ adbServers: [{ host: nsAddr, port: 5037 }], phones: [{ serial: 'emulator-5554' }] }),
    );
    const out = join(tmp, 'refused');
    const r = await runCli(['run', SCENARIO, '--devices', devices, '--out', out], {
      env,
      cwd: tmp,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, show(r));
    assert.match(
      r.stderr,
      new RegExp(`adb server ${nsAddr.replace(/\./g, '\\.')}:5037, which is on another host`),
    );
    assert.match(r.stderr, /adb reverse opens each phone's tunnel on the host that runs the adb server/);
    assert.match(r.stderr, /phonehome run --shard I\/N[\s\S]*phonehome merge[\s\S]*adb connect/);
    assert.doesNotMatch(r.stderr, /\n\s+at .*\.ts:\d+/, 'no stack trace');
    assert.equal(existsSync(out), false, 'no run folder: no job started');
  });
});
