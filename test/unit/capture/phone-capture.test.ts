/**
 * PhoneCapture (src/capture/phone-capture.ts), the one owner of a phone's capture lifecycle, on an
 * in-process virtual phone: a close() while open() is still wiring waits for it and restores it;
 * close() is idempotent; a failed open leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabCa } from '../../../src/capture/ca.ts';
import { Journal } from '../../../src/capture/journal.ts';
import { PhoneCapture } from '../../../src/capture/phone-capture.ts';
import { makePhone } from '../virtual/android-helpers.ts';
import { VirtualDevice } from './virtual-device.ts';

describe('PhoneCapture: open, sessions, close', function () {
  this.timeout(20_000);
  let tmp: string;
  let ca: LabCa;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-pc-'));
    ca = await LabCa.load(join(tmp, 'ca'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('close() during open() waits for the wiring, then restores it; a second close() is the same', async () => {
    const dev = new VirtualDevice(makePhone('redmi-note-8-leaky-rooted'));
    const journal = new Journal(join(tmp, 'state-a'));
    const pc = new PhoneCapture({
      device: dev.asDevice(),
      ca,
      journal,
      adb: { host: '127.0.0.1', port: 5037 },
      packages: ['com.mi.globalbrowser'],
    });
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
});
