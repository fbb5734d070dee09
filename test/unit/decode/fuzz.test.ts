import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { constants, crc32, createGzip, deflateRawSync, gzipSync } from 'node:zlib';
import { decode, DEFAULT_LIMITS, type DecodeInput } from '../../../src/decode/index.ts';
import {
  buildSensorsEvent,
  encodeSensorsBatch,
  encodeTrackingBody,
  trackingHeader,
} from '../../../src/virtual/telemetry/index.ts';
import { DEVICE } from '../../support/decode/device.ts';
import { allLayers } from './helpers.ts';

/** 1 GiB of zeros as concatenated gzip members (each 16 MiB): ~1 MB compressed, built in milliseconds. */
function gigabyteBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: 64 }, () => member));
}

/**
 * 1 GiB of zeros as ONE gzip member, without ever holding it: one MiB of zeros deflated with a full
 * flush is a byte-aligned block that repeats exactly, so the stream is that block 1024 times, a
 * final empty block, and the trailer (CRC-32 computed over the zeros MiB by MiB; ISIZE = 2^30).
 */
function singleMemberGigabyteBomb(): Buffer {
  const MiB = Buffer.alloc(1024 * 1024);
  const block = deflateRawSync(MiB, { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  let crc = 0;
  for (let i = 0; i < 1024; i++) crc = crc32(MiB, crc);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(2 ** 30, 4);
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
  return Buffer.concat([header, ...Array<Buffer>(1024).fill(block), Buffer.from([3, 0]), trailer]);
}

describe('decode: limits', () => {
  it('a single-member 1 GiB gzip stream (~1 MB on the wire) stops at maxInflateBytes', () => {
    const bomb = singleMemberGigabyteBomb();
    assert.ok(bomb.length < 2 * 1024 * 1024);
    assert.equal(bomb.readUInt32LE(bomb.length - 4), 2 ** 30); // what it claims
    const before = process.memoryUsage().arrayBuffers;
    const r = decode({ body: bomb, headers: { 'content-encoding': 'gzip' } });
    const f = r.findings.find((x) => x.kind === 'limit');
    assert.ok(f, JSON.stringify(r.findings));
    assert.equal(f.path, 'body › gzip');
    assert.match(f.detail, new RegExp(`exceeds ${DEFAULT_LIMITS.maxInflateBytes} bytes`));
    // Nothing near 1 GiB is kept (what was inflated up to the cap is garbage by now).
    assert.ok(process.memoryUsage().arrayBuffers - before < 256 * 1024 * 1024);
  });

  it('a 1 GiB gzip bomb in a Sensors data_list becomes a limit finding', () => {
    const bomb = gigabyteBomb();
    const r = decode({
      body: Buffer.from(`gzip=1&data_list=${encodeURIComponent(bomb.toString('base64'))}`),
    });
    const f = r.findings.find((x) => x.kind === 'limit');
    assert.ok(f, JSON.stringify(r.findings));
    assert.equal(f.path, 'body › form.data_list › base64 › gzip');
  });

  it('a streamed bomb as the body with Content-Encoding gzip', async () => {
    const gz = createGzip({ level: 1 });
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    const zero = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 64; i++) gz.write(zero);
    await new Promise<void>((resolve) => gz.end(resolve));
    const r = decode({ body: Buffer.concat(chunks), headers: { 'Content-Encoding': 'gzip' } });
    assert.ok(r.findings.some((x) => x.kind === 'limit' && x.path === 'body › gzip'));
  });

  it('deeply nested base64 stops at maxDepth with a limit finding', () => {
    let s = JSON.stringify({ deepest: 'yes' });
    for (let i = 0; i < 12; i++)
      s = Buffer.from(JSON.stringify({ n: Buffer.from(s).toString('base64') })).toString('base64');
    const r = decode({ body: Buffer.from(s) });
    assert.ok(r.findings.some((x) => x.kind === 'limit' && /deeper/.test(x.detail)));
  });

  it('caps the number of layers', () => {
    const r = decode(
      { body: Buffer.from(JSON.stringify(Array.from({ length: 5000 }, (_, i) => i))) },
      { maxNodes: 100 },
    );
    assert.ok(allLayers(r.root).length <= 101);
    assert.ok(r.findings.some((x) => x.kind === 'limit'));
  });
});

function mutate(b: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(b);
  const n = 1 + Math.floor(rnd() * 4);
  let cur = out;
  for (let i = 0; i < n; i++) {
    const op = Math.floor(rnd() * 4);
    const at = Math.floor(rnd() * Math.max(1, cur.length));
    if (op === 0 && cur.length) cur[at] = Math.floor(rnd() * 256);
    else if (op === 1) cur = cur.subarray(0, at);
    else if (op === 2)
      cur = Buffer.concat([cur.subarray(0, at), randomBytes(1 + Math.floor(rnd() * 8)), cur.subarray(at)]);
    else
      cur = Buffer.concat([
        cur.subarray(0, at),
        cur.subarray(Math.min(cur.length, at + 1 + Math.floor(rnd() * 16))),
      ]);
  }
  return cur;
}

describe('decode: fuzz', () => {
  it('never throws on 20k random and mutated inputs, and stays within limits', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const ev = buildSensorsEvent(DEVICE, {
      name: 'search',
      properties: { search_word: 'zebra' },
      time: 1,
      app: 'a',
      appVersion: '1',
      libVersion: '1',
      uuid: 'u',
      trackId: 1,
    });
    const sensors = Buffer.from(encodeSensorsBatch([ev, ev], 2).body);
    const tracking = Buffer.from(
      encodeTrackingBody(trackingHeader(DEVICE, { sender: 's', analyticsVersion: '1' }), [], {
        ts: 1,
        nonce: 'n',
      }).body,
    );
    const gz = gzipSync(JSON.stringify({ a: [1, 'x', { b: Buffer.from('{"c":1}').toString('base64') }] }));
    const multipart = Buffer.from(
      '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\neyJhIjoxfQ\r\n--B--\r\n',
    );
    const seeds = [sensors, tracking, gz, multipart, Buffer.from(`value=${gz.toString('base64url')}&gzip=1`)];
    const limits = { maxNodes: 5000, maxTotalBytes: 4 * 1024 * 1024 };
    for (let i = 0; i < 20_000; i++) {
      const r0 = rnd();
      const body = r0 < 0.25 ? randomBytes(Math.floor(rnd() * 256)) : mutate(seeds[i % seeds.length]!, rnd);
      const input: DecodeInput = { body };
      if (i % 3 === 0) input.contentType = i % 2 ? 'multipart/form-data; boundary=B' : 'application/json';
      if (i % 5 === 0) input.url = `/sa?${body.subarray(0, 64).toString('latin1')}`;
      if (i % 7 === 0)
        input.headers = { cookie: body.subarray(0, 80).toString('latin1'), 'content-encoding': 'gzip' };
      const r = decode(input, limits);
      assert.ok(allLayers(r.root).length <= limits.maxNodes + 1);
      assert.ok(r.findings.length <= 1000);
      r.leaves();
    }
    assert.equal(DEFAULT_LIMITS.maxDepth, 12);
  });
});
