/**
 * PhoneCapture (src/capture/phone-capture.ts), the one owner of a phone's capture lifecycle, on an
 * in-process virtual phone: a close() while open() is still wiring waits for it and restores it;
 * close() is idempotent; a failed open leaves nothing behind; a host port taken between two sessions
 * moves the capture and its reverse rule.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabCa } from '../../../src/capture/ca.ts';
import { Journal } from '../../../src/capture/journal.ts';
import { PhoneCapture } from '../../../src/capture/phone-capture.ts';
import { restorePhone } from '../../../src/capture/wiring.ts';
import type { Device } from '../../../src/device/device.ts';
import { makePhone } from '../virtual/os/helpers.ts';
import { VirtualDevice } from './virtual-device.ts';

/** `dev` as a Device whose calls go through `before` first (which may throw, as a failing phone does). */
function intercepted(dev: VirtualDevice, before: (prop: string, args: unknown[]) => void) {
  return new Proxy(dev.asDevice(), {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        before(String(prop), args);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe('PhoneCapture: open, sessions, close', function () {
  this.timeout(20_000);
  let tmp: string;
  let ca: LabCa;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-pc-'));
    ca = await LabCa.load(join(tmp, 'ca'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  /** A virtual phone of `profile` and its PhoneCapture, journaled under `state`. */
  function rig(profile: string, state: string, packages: string[] = [], log?: (l: string) => void) {
    const dev = new VirtualDevice(makePhone(profile));
    const journal = new Journal(join(tmp, state));
    const pc = new PhoneCapture({
      device: dev.asDevice(),
      ca,
      journal,
      adb: { host: '127.0.0.1', port: 5037 },
      packages,
      ...(log ? { log } : {}),
    });
    return { dev, journal, pc };
  }

  /**
   * A PhoneCapture on `device`, opened and its session stopped, with another listener on its host
   * port, so that the next session has to move.
   */
  async function squatted(device: Device, journal: Journal, tag: string) {
    const pc = new PhoneCapture({
      device,
      ca,
      journal,
      adb: { host: '127.0.0.1', port: 5037 },
      packages: [],
    });
    const wiring = await pc.open({ sessionDir: join(tmp, `cap-${tag}1`) });
    const first = wiring.hostPort;
    await pc.stopSession();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(first, '127.0.0.1', r));
    return { pc, wiring, first, squatter };
  }

  it('close() during open() waits for the wiring, then restores it; a second close() is the same', async () => {
    const { dev, journal, pc } = rig('redmi-note-8-leaky-rooted', 'state-a', ['com.mi.globalbrowser']);
    const opening = pc.open({ hostPort: 18090 });
    const closing = pc.close();
    assert.equal(pc.close(), closing, 'idempotent');
    const wiring = await opening;
    assert.equal(wiring.caMethod, 'system-tmpfs');
    const report = await closing;
    assert.ok(report?.ok, report?.problems.join('; '));
    assert.deepEqual(journal.list(), []);
    assert.equal(await dev.getSetting('global', 'http_proxy'), null);
    assert.deepEqual(dev.reverses, []);
  });

  it('a phone lost mid-install: open() fails with its rollback unfinished; close() restores from the journal once it is back', async () => {
    const dev = new VirtualDevice(makePhone('redmi-note-8-leaky-rooted'));
    const journal = new Journal(join(tmp, 'state-c'));
    let offline = false;
    // The phone drops off adb when the CA install script is pushed, and every call fails until it is back.
    const device = intercepted(dev, (prop, args) => {
      if (prop === 'push' && String(args[1]).includes('phonehome-ca-install')) offline = true;
      if (offline) throw new Error(`${dev.serial}: ${prop}: the phone is offline`);
    });
    const pc = new PhoneCapture({
      device,
      ca,
      journal,
      adb: { host: '127.0.0.1', port: 5037 },
      packages: ['com.mi.globalbrowser'],
    });
    await assert.rejects(pc.open({ hostPort: 18091 }), /offline/);
    assert.equal(await dev.getSetting('global', 'http_proxy'), '127.0.0.1:18091', 'the proxy went in');
    assert.ok(pc.unrestored(), 'the rollback could not finish: the entry stays');
    offline = false;
    const report = await pc.close();
    assert.ok(report?.ok, report?.problems.join('; '));
    assert.equal(await dev.getSetting('global', 'http_proxy'), null);
    assert.deepEqual(dev.reverses, []);
    assert.deepEqual(journal.list(), []);
  });

  it('a restore that failed in this process: the next open() of the phone in this process restores the leftover first', async () => {
    // A runner worker serves several phones, so a lost phone may be set up again by the same process:
    // the entry's owner pid is alive (it is us), but no wiring holds it any more.
    const dev = new VirtualDevice(makePhone('redmi-note-8-leaky-rooted'));
    const journal = new Journal(join(tmp, 'state-same-process'));
    let offline = false;
    const device = intercepted(dev, (prop) => {
      if (offline) throw new Error(`${dev.serial}: ${prop}: the phone is offline`);
    });
    const opts = { device, ca, journal, adb: { host: '127.0.0.1', port: 5037 }, packages: [] };
    const first = new PhoneCapture(opts);
    await first.open({ hostPort: 18095 });
    offline = true;
    const failed = await first.close();
    assert.equal(failed?.ok, false, 'the phone was gone: the restore failed');
    assert.equal(journal.list().length, 1, 'its entry stays for a later restore');
    assert.equal(journal.list()[0]!.owner.pid, process.pid);
    offline = false;
    const lines: string[] = [];
    const second = new PhoneCapture({ ...opts, log: (l: string) => lines.push(l) });
    const wiring = await second.open({ hostPort: 18096 });
    assert.match(lines.join('\n'), new RegExp(`restored what process ${process.pid} left wired \\(ok\\)`));
    assert.equal(
      wiring.previousProxy ?? null,
      null,
      "the phone's own proxy, not the leftover 127.0.0.1:18095",
    );
    assert.equal(journal.list().length, 1, 'only the new wiring');
    assert.equal(journal.list()[0]!.devicePort, 18096);
    const report = await second.close();
    assert.ok(report?.ok, report?.problems.join('; '));
    assert.deepEqual(journal.list(), []);
    assert.equal(await dev.getSetting('global', 'http_proxy'), null);
    assert.deepEqual(dev.reverses, []);
  });

  it('open({sessionDir}) starts a session on the port it wires; startSession keeps that port; close stops it', async () => {
    const dev = new VirtualDevice(makePhone('redmi-note-8-leaky'));
    const seen: number[] = [];
    const pc = new PhoneCapture({
      device: dev.asDevice(),
      ca,
      journal: new Journal(join(tmp, 'state-b')),
      adb: { host: '127.0.0.1', port: 5037 },
      packages: [],
      onSession: (s) => seen.push(s.port),
    });
    const wiring = await pc.open({ sessionDir: join(tmp, 'cap-1') });
    assert.equal(wiring.caMethod, 'none');
    assert.equal(pc.session?.port, wiring.hostPort);
    await pc.startSession(join(tmp, 'cap-2'));
    assert.deepEqual(seen, [wiring.hostPort, wiring.hostPort]);
    assert.ok((await pc.close())?.ok);
    assert.equal(pc.session, undefined);
  });

  it('a host port taken between sessions: the next session starts on a free port, the reverse rule and journal follow, close removes it', async () => {
    const lines: string[] = [];
    const { dev, journal, pc } = rig('redmi-note-8-leaky', 'state-d', [], (l) => lines.push(l));
    const wiring = await pc.open({ sessionDir: join(tmp, 'cap-d1') });
    const first = wiring.hostPort;
    await pc.stopSession();
    // Another program gets the port while no session holds it (as an outgoing connection's
    // ephemeral port did in CI: EADDRINUSE on the next job's session).
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(first, '127.0.0.1', r));
    try {
      assert.equal((squatter.address() as AddressInfo).port, first);
      const session = await pc.startSession(join(tmp, 'cap-d2'));
      assert.notEqual(session.port, first);
      assert.equal(
        wiring.hostPort,
        session.port,
        'the wiring names the new port (the liveness probe reads it)',
      );
      assert.deepEqual(
        dev.reverses.map((r) => [r.remote, r.local]),
        [[`tcp:${wiring.devicePort}`, `tcp:${session.port}`]],
        'the device port is unchanged, so http_proxy still holds',
      );
      assert.equal(await dev.getSetting('global', 'http_proxy'), `127.0.0.1:${wiring.devicePort}`);
      const [entry] = journal.list();
      assert.equal(entry?.hostPort, session.port);
      assert.equal(entry?.movedFrom, undefined, 'the move is over');
      assert.ok(
        lines.some((l) => l.includes(`host port ${first} was taken`)),
        lines.join('\n'),
      );
      // The next session stays on the new port.
      await pc.startSession(join(tmp, 'cap-d3'));
      assert.equal(pc.session?.port, session.port);
    } finally {
      squatter.close();
      await pc.stopSession();
    }
    const report = await pc.close();
    assert.ok(report?.ok, report?.problems.join('; '));
    assert.deepEqual(dev.reverses, [], 'the moved rule is removed');
    assert.deepEqual(journal.list(), []);
  });

  it('a crash mid-move: restore from the journal removes a reverse rule that points to either port', async () => {
    const { dev, journal, pc } = rig('redmi-note-8-leaky', 'state-e');
    await pc.open({ hostPort: 18095 });
    // What the journal says between its write and `adb reverse`: the rule still points to the old port.
    const [entry] = journal.list();
    assert.ok(entry);
    journal.write({ ...entry, hostPort: 18096, movedFrom: 18095 });
    // What the next start does with a dead owner's entry.
    const [left] = journal.list();
    assert.ok(left);
    const report = await restorePhone(dev.asDevice(), left, journal);
    assert.ok(report.ok, report.problems.join('; '));
    assert.ok(report.steps.includes('reverse tcp:18095 removed'), report.steps.join('; '));
    assert.deepEqual(dev.reverses, []);
    assert.deepEqual(journal.list(), []);
    await pc.close();
  });

  it('a move whose adb reverse fails: the journal points back at the old port, the session is stopped, the next job starts there again', async () => {
    const dev = new VirtualDevice(makePhone('redmi-note-8-leaky'));
    const journal = new Journal(join(tmp, 'state-f'));
    let failReverse = false;
    const device = intercepted(dev, (prop) => {
      if (prop === 'reverse' && failReverse) throw new Error(`${dev.serial}: reverse: adb said no`);
    });
    const { pc, wiring, first, squatter } = await squatted(device, journal, 'f');
    failReverse = true;
    try {
      await assert.rejects(pc.startSession(join(tmp, 'cap-f2')), /adb said no/);
      assert.equal(pc.session, undefined, 'the moved session was stopped');
      assert.equal(wiring.hostPort, first);
      const [entry] = journal.list();
      assert.equal(entry?.hostPort, first, 'the journal names the port the rule points to');
      assert.equal(entry?.movedFrom, undefined);
      assert.deepEqual(
        dev.reverses.map((r) => r.local),
        [`tcp:${first}`],
      );
    } finally {
      failReverse = false;
      squatter.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    const again = await pc.startSession(join(tmp, 'cap-f3'));
    assert.equal(again.port, first, 'the next job is back on the wired port');
    const report = await pc.close();
    assert.ok(report?.ok, report?.problems.join('; '));
    assert.deepEqual(dev.reverses, []);
    assert.deepEqual(journal.list(), []);
  });

  it('two failed moves the phone cannot explain: the journal keeps every port, and restore removes the rule on the middle one', async () => {
    const dev = new VirtualDevice(makePhone('redmi-note-8-leaky'));
    const journal = new Journal(join(tmp, 'state-h'));
    // First failed move: adbd applied the rule, but the answer was lost. Second: nothing applied.
    // Both times the phone cannot list its rules either.
    let mode: 'ok' | 'applied-then-lost' | 'lost' = 'ok';
    const base = dev.asDevice();
    const device = new Proxy(base, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return async (...args: unknown[]) => {
          if (mode !== 'ok' && prop === 'listReverses') throw new Error('listReverses: device offline');
          if (mode !== 'ok' && prop === 'reverse') {
            if (mode === 'applied-then-lost')
              await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            throw new Error('reverse: device offline');
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const { pc, first, squatter } = await squatted(device, journal, 'h');
    try {
      mode = 'applied-then-lost';
      await assert.rejects(pc.startSession(join(tmp, 'cap-h2')), /device offline/);
      const middle = dev.reverses[0]?.local;
      assert.ok(middle && middle !== `tcp:${first}`, 'the first failed move did move the rule');
      mode = 'lost';
      await assert.rejects(pc.startSession(join(tmp, 'cap-h3')), /device offline/);
      assert.deepEqual(
        dev.reverses.map((r) => r.local),
        [middle],
        'the rule still points to the middle port',
      );
      // The owner dies here; the next start restores from the journal.
      const [entry] = journal.list();
      assert.ok(entry);
      assert.equal(typeof entry.movedFrom, 'number', 'movedFrom stays a number for older readers');
      const named = [entry.hostPort, entry.movedFrom, ...(entry.unsureHostPorts ?? [])].map(
        (p) => `tcp:${p}`,
      );
      assert.ok(named.includes(middle), `the journal names ${named.join(', ')}, not ${middle}`);
      mode = 'ok';
      const report = await restorePhone(dev.asDevice(), entry, journal);
      assert.ok(report.ok, report.problems.join('; '));
      assert.deepEqual(dev.reverses, [], 'no rule left behind');
      assert.deepEqual(journal.list(), []);
    } finally {
      mode = 'ok';
      squatter.close();
      await pc.close().catch(() => undefined);
    }
  });

  it('close() while a session starts: it waits, then nothing stays open or wired', async () => {
    const { dev, journal, pc } = rig('redmi-note-8-leaky', 'state-g');
    await pc.open({ hostPort: 18097 });
    const starting = pc.startSession(join(tmp, 'cap-g1'));
    const report = await pc.close();
    assert.ok(report?.ok, report?.problems.join('; '));
    await assert.rejects(starting, /stopped while a session started/);
    assert.equal(pc.session, undefined);
    await assert.rejects(pc.startSession(join(tmp, 'cap-g2')), /stopped/);
    assert.deepEqual(dev.reverses, []);
    assert.deepEqual(journal.list(), []);
  });
});
