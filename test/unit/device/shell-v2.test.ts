import * as assert from 'node:assert/strict';
import {
  V2Decoder,
  encodeV2Packet,
  encodeV2Stdin,
  V2_MAX_STDIN_CHUNK,
} from '../../../src/device/shell-v2.ts';

describe('shell v2 packets', () => {
  const stream = Buffer.concat([
    encodeV2Packet(1, Buffer.from('hello\n')),
    encodeV2Packet(2, Buffer.from('oops\n')),
    encodeV2Packet(1, Buffer.alloc(70_000, 0x61)),
    encodeV2Packet(1),
    encodeV2Packet(3, Buffer.from([42])),
  ]);
  const expected = [
    [1, 6],
    [2, 5],
    [1, 70_000],
    [1, 0],
    [3, 1],
  ];

  it('decodes packets split at every byte', () => {
    const d = new V2Decoder();
    const got = [];
    for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
    assert.deepEqual(
      got.map((p) => [p.id, p.data.length]),
      expected,
    );
    assert.equal(got[0]!.data.toString(), 'hello\n');
    assert.equal(got[4]!.data[0], 42);
    assert.equal(d.buffered, 0);
  });

  it('decodes several packets per chunk and headers split across chunks', () => {
    for (const cut of [1, 3, 5, 11, 4096, 65_536]) {
      const d = new V2Decoder();
      const got = [];
      for (let i = 0; i < stream.length; i += cut) got.push(...d.push(stream.subarray(i, i + cut)));
      assert.deepEqual(
        got.map((p) => [p.id, p.data.length]),
        expected,
        `chunks of ${cut}`,
      );
    }
    const d = new V2Decoder();
    assert.deepEqual(
      d.push(stream).map((p) => p.id),
      [1, 2, 1, 1, 3],
    );
  });

  it('keeps a partial packet until it completes', () => {
    const d = new V2Decoder();
    assert.deepEqual(d.push(Buffer.from([1, 4, 0, 0])), []);
    assert.deepEqual(d.push(Buffer.from([0, 0x61, 0x62])), []);
    assert.equal(d.buffered, 7);
    const [p] = d.push(Buffer.from('cd'));
    assert.equal(p!.data.toString(), 'abcd');
  });

  it('encodes stdin in chunks followed by close-stdin', () => {
    const data = Buffer.alloc(V2_MAX_STDIN_CHUNK + 10, 1);
    const packets = encodeV2Stdin(data);
    assert.equal(packets.length, 3);
    assert.equal(packets[0]!.readUInt8(0), 0);
    assert.equal(packets[0]!.readUInt32LE(1), V2_MAX_STDIN_CHUNK);
    assert.equal(packets[1]!.readUInt32LE(1), 10);
    assert.deepEqual(packets[2], Buffer.from([4, 0, 0, 0, 0]));
    assert.deepEqual(encodeV2Stdin(undefined), [Buffer.from([4, 0, 0, 0, 0])]);
  });
});
