import assert from 'node:assert/strict';
import {
  A_CNXN,
  A_OKAY,
  A_WRTE,
  encodePacket,
  PacketReader,
  ProtocolError,
} from '../../../../src/virtual/adbd/packet.ts';
import { parseShellService } from '../../../../src/virtual/adbd/shell.ts';

describe('adb packets', () => {
  it('encodes the header as six little-endian u32 with magic = command ^ 0xffffffff', () => {
    const p = encodePacket(A_WRTE, 7, 9, Buffer.from('hi'));
    assert.equal(p.length, 26);
    assert.equal(p.readUInt32LE(0), A_WRTE);
    assert.equal(p.readUInt32LE(4), 7);
    assert.equal(p.readUInt32LE(8), 9);
    assert.equal(p.readUInt32LE(12), 2);
    assert.equal(p.readUInt32LE(16), 0);
    assert.equal(p.readUInt32LE(20), (A_WRTE ^ 0xffffffff) >>> 0);
    assert.equal(p.subarray(24).toString(), 'hi');
  });

  it('reassembles packets split at every byte and several packets in one chunk', () => {
    const bytes = Buffer.concat([
      encodePacket(A_CNXN, 0x01000001, 4096, Buffer.from('host::features=shell_v2')),
      encodePacket(A_OKAY, 1, 2),
      encodePacket(A_WRTE, 1, 2, Buffer.alloc(5000, 7)),
    ]);
    const reader = new PacketReader();
    const got = [];
    for (let i = 0; i < bytes.length; i++) got.push(...reader.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(
      got.map((p) => [p.command, p.arg0, p.arg1, p.data.length]),
      [
        [A_CNXN, 0x01000001, 4096, 23],
        [A_OKAY, 1, 2, 0],
        [A_WRTE, 1, 2, 5000],
      ],
    );
    const whole = new PacketReader().push(bytes);
    assert.equal(whole.length, 3);
  });

  it('rejects a bad magic and an oversize payload', () => {
    const bad = encodePacket(A_OKAY, 1, 2);
    bad.writeUInt32LE(0, 20);
    assert.throws(() => new PacketReader().push(bad), ProtocolError);
    const huge = encodePacket(A_WRTE, 1, 2);
    huge.writeUInt32LE(2 * 1024 * 1024, 12);
    assert.throws(() => new PacketReader().push(huge), /exceeds 1 MiB/);
  });
});

describe('shell service strings', () => {
  it('parses the forms the adb CLI and adbkit send', () => {
    assert.deepEqual(parseShellService('shell,v2,TERM=xterm,raw:getprop ro.product.model'), {
      v2: true,
      command: 'getprop ro.product.model',
    });
    assert.deepEqual(
      parseShellService(`shell,v2,TERM=xterm:export ANDROID_LOG_TAGS="''"; exec logcat '-d'`),
      {
        v2: true,
        command: `export ANDROID_LOG_TAGS="''"; exec logcat '-d'`,
      },
    );
    assert.deepEqual(parseShellService('shell:echo a:b'), { v2: false, command: 'echo a:b' });
    assert.deepEqual(parseShellService('exec:screencap -p'), { v2: false, command: 'screencap -p' });
    assert.deepEqual(parseShellService('shell,v2,raw:'), { v2: true, command: '' });
    assert.equal(parseShellService('sync:'), null);
  });
});
