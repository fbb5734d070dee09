/**
 * ADB wire-protocol conformance of the virtual phone's adbd, played from the host side: a scripted
 * adb SERVER on a raw TCP socket (test/support/scripted-host.ts) checks the rules of
 * shared/facts/adb-protocol.md §1–7 and §11 that the real adb 29 server tolerates (several WRTEs in
 * flight, …) or punishes by dying (an OPEN to a target it never relayed a reverse for), so the
 * integration tests cannot catch them. Waits for things that must NOT happen are bounded (300 ms);
 * none of them is a performance assertion.
 */
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Adbd } from '../../../../src/virtual/adbd/adbd.ts';
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { loadProfile } from '../../../../src/virtual/profiles/load.ts';
import { A_AUTH, A_CLSE, A_CNXN, A_OKAY, A_OPEN, A_WRTE } from '../../../../src/virtual/adbd/packet.ts';
import {
  describePacket,
  parseV2,
  ScriptedHost,
  syncMsg,
  v2Frame,
  type HostOptions,
  type HostStream,
  type Received,
} from '../../../support/scripted-host.ts';

const PHONE_MAXDATA = 4096;
/** Bounded wait for something that must not happen. */
const QUIET_MS = 300;

const V2_STDIN = 0;
const V2_STDOUT = 1;
const V2_STDERR = 2;
const V2_EXIT = 3;
const V2_CLOSE_STDIN = 4;

let phone: VirtualPhone;
let adbd: Adbd;
let hosts: ScriptedHost[] = [];
let clients: Duplex[] = [];

async function online(opts: HostOptions = {}): Promise<ScriptedHost> {
  const host = await ScriptedHost.online(adbd.port, opts);
  hosts.push(host);
  return host;
}

function assertClean(host: ScriptedHost): void {
  assert.deepEqual(host.violations, [], 'protocol violations seen by the scripted host');
}

function hex4(s: string): string {
  return Buffer.byteLength(s).toString(16).padStart(4, '0');
}

function u32(b: Buffer, off: number): number {
  return b.readUInt32LE(off);
}

/** Runs one `reverse:` request and returns the phone's reply bytes (it closes the stream after). */
async function reverse(host: ScriptedHost, request: string): Promise<string> {
  const s = await host.open(`reverse:${request}`);
  assert.ok(s, `reverse:${request} was refused`);
  return (await s.readAll()).toString('latin1');
}

/** Adds a reverse rule `tcp:0;LOCAL` and returns the phone port the phone chose. */
async function reverseAnyPort(host: ScriptedHost, local: string): Promise<number> {
  const reply = await reverse(host, `forward:tcp:0;${local}`);
  const m = /^OKAY([0-9a-f]{4})(\d+)$/.exec(reply);
  assert.ok(m, `tcp:0 reply ${JSON.stringify(reply)}`);
  assert.equal(parseInt(m[1]!, 16), m[2]!.length, 'hex4 length of the port');
  return Number(m[2]);
}

/** An app on the phone connecting to 127.0.0.1:port; null when nothing listens there. */
function phoneConnect(port: number): Duplex | null {
  try {
    const c = phone.net.connect(`tcp:${port}`);
    clients.push(c);
    return c;
  } catch (err) {
    if ((err as { code?: string }).code === 'ECONNREFUSED') return null;
    throw err;
  }
}

/** Resolves once the phone-side socket has ended or closed. */
function ended(c: Duplex, timeoutMs = 1000): Promise<void> {
  if (c.readableEnded || c.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('phone-side socket still open')), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    c.once('end', done);
    c.once('close', done);
    c.resume();
  });
}

function received(c: Duplex): () => string {
  let text = '';
  c.on('data', (d: Buffer) => (text += d.toString('latin1')));
  return () => text;
}

const isOpen = (p: Received) => p.command === A_OPEN;
const openOf = (p: Received) => p.data.toString('latin1').replace(/\0$/, '');

/** Sequential reader over the bytes a stream's WRTEs carried (sync replies are a byte stream). */
class Cursor {
  off = 0;
  constructor(private readonly s: HostStream) {}

  async take(n: number, timeoutMs = 2000): Promise<Buffer> {
    await this.s.waitUntil(
      () => this.s.data.length >= this.off + n || this.s.closedByPhone,
      timeoutMs,
      `${n} more reply bytes`,
    );
    const all = this.s.data;
    assert.ok(all.length >= this.off + n, `stream closed after ${all.length - this.off} of ${n} bytes`);
    const out = all.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  async id(): Promise<string> {
    return (await this.take(4)).toString('latin1');
  }

  /** Asserts the phone sent nothing beyond what was taken (after its CLSE). */
  async atEnd(): Promise<void> {
    const all = await this.s.readAll();
    assert.equal(
      all.length,
      this.off,
      `unexpected trailing reply bytes: ${all.subarray(this.off).toString('latin1')}`,
    );
  }
}

async function openSync(host: ScriptedHost): Promise<{ s: HostStream; r: Cursor }> {
  const s = await host.open('sync:');
  assert.ok(s, 'sync: refused');
  return { s, r: new Cursor(s) };
}

function pushMessage(path: string, content: Buffer, mtime: number, mode = 0o100644): Buffer {
  const parts = [syncMsg('SEND', `${path},${mode}`)];
  for (let off = 0; off < content.length; off += 64 * 1024) {
    parts.push(syncMsg('DATA', content.subarray(off, off + 64 * 1024)));
  }
  parts.push(syncMsg('DONE', mtime));
  return Buffer.concat(parts);
}

interface Stat2 {
  error: number;
  mode: number;
  nlink: number;
  uid: number;
  size: number;
  mtime: number;
}

function parseStat2(body: Buffer): Stat2 {
  assert.equal(body.length, 68);
  return {
    error: u32(body, 0),
    mode: u32(body, 20),
    nlink: u32(body, 24),
    uid: u32(body, 28),
    size: Number(body.readBigUInt64LE(36)),
    mtime: Number(body.readBigInt64LE(52)),
  };
}

async function readLis2(r: Cursor): Promise<Map<string, Stat2>> {
  const entries = new Map<string, Stat2>();
  for (;;) {
    const id = await r.id();
    if (id === 'DONE') {
      const pad = await r.take(72);
      assert.ok(pad.equals(Buffer.alloc(72)), 'DONE of LIS2 is zero-padded to 76 bytes');
      return entries;
    }
    assert.equal(id, 'DNT2');
    const st = parseStat2(await r.take(68));
    const len = u32(await r.take(4), 0);
    entries.set((await r.take(len)).toString('utf8'), st);
  }
}

async function readRecv(r: Cursor): Promise<{ data: Buffer; chunks: number[] }> {
  const parts: Buffer[] = [];
  const chunks: number[] = [];
  for (;;) {
    const id = await r.id();
    const n = u32(await r.take(4), 0);
    if (id === 'DONE') {
      assert.equal(n, 0, 'DONE after RECV carries 0');
      return { data: Buffer.concat(parts), chunks };
    }
    assert.equal(id, 'DATA', `RECV reply id ${id}`);
    chunks.push(n);
    parts.push(await r.take(n));
  }
}

beforeEach(async () => {
  phone = new VirtualPhone(loadProfile('redmi-note-8-leaky'));
  adbd = new Adbd(phone, { maxPayload: PHONE_MAXDATA });
  await adbd.listen();
});

afterEach(async () => {
  adbd.clearFaults();
  for (const c of clients) c.destroy();
  clients = [];
  await Promise.all(hosts.map((h) => h.close()));
  hosts = [];
  await adbd.close();
});

describe('adb protocol conformance (scripted host)', () => {
  describe('handshake', () => {
    it('answers CNXN at once with 0x01000001, its maxdata and the device banner, and never AUTH', async () => {
      const host = await ScriptedHost.connect(adbd.port);
      hosts.push(host);
      const cnxn = await host.handshake(1000);
      assert.equal(cnxn.seq, 0, 'CNXN is the first packet');
      assert.equal(cnxn.arg0, 0x01000001, 'version');
      assert.equal(cnxn.arg1, PHONE_MAXDATA, 'maxdata as configured');
      assert.equal(cnxn.magic, (A_CNXN ^ 0xffffffff) >>> 0);
      assert.equal(cnxn.check, 0, 'data_check 0 under 0x01000001');
      const p = phone.props;
      const banner = cnxn.data.toString('utf8');
      assert.equal(
        banner,
        `device::ro.product.name=${p.get('ro.product.name')};ro.product.model=${p.get('ro.product.model')};` +
          `ro.product.device=${p.get('ro.product.device')};features=shell_v2,stat_v2,ls_v2,fixed_push_mkdir`,
      );
      assert.match(
        banner,
        /^device::ro\.product\.name=[^;]+;ro\.product\.model=[^;]+;ro\.product\.device=[^;]+;/,
      );
      // Nothing else follows on its own (no AUTH), and the connection works right away.
      assert.deepEqual(await host.collectFor(() => true, 100), []);
      const s = await host.open('shell,v2,raw:echo hi');
      assert.ok(s);
      await s.readAll();
      for (const pk of host.received) {
        assert.notEqual(pk.command, A_AUTH);
        assert.equal(pk.magic, (pk.command ^ 0xffffffff) >>> 0, `magic of ${describePacket(pk)}`);
        assert.equal(pk.check, 0, `data_check of ${describePacket(pk)}`);
      }
      assertClean(host);
    });

    it('clamps an advertised maxdata above 1 MiB to 1 MiB', async () => {
      const big = new Adbd(new VirtualPhone(loadProfile('redmi-note-8-leaky')), {
        maxPayload: 2 * 1024 * 1024,
      });
      await big.listen();
      try {
        const host = await ScriptedHost.online(big.port);
        hosts.push(host);
        assert.equal(host.cnxn!.arg1, 1024 * 1024);
        await host.close();
      } finally {
        await big.close();
      }
    });

    it('a second CNXN on the same connection is answered again', async () => {
      const host = await online();
      const again = await host.handshake(1000);
      assert.notEqual(again.seq, 0);
      assert.equal(again.arg0, 0x01000001);
      assertClean(host);
    });
  });

  describe('streams', () => {
    it('tcp:N reaches a phone-side server both ways; nothing listening → CLSE(0, hostId)', async () => {
      const host = await online();
      phone.net.listen('tcp:6790', (sock) => {
        sock.on('data', (d: Buffer) => sock.write(`echo:${d.toString()}`));
      });
      const s = await host.open('tcp:6790');
      assert.ok(s, 'tcp:6790 refused although a server listens');
      await s.writeAll('hi');
      await s.waitUntil(() => s.data.toString() === 'echo:hi', 1000, 'echo');
      s.close();
      await s.waitUntil(() => s.closedByPhone, 1000, 'CLSE answer');
      assert.equal(await host.open('tcp:6791'), null);
      assertClean(host);
    });

    it('OKAYs an OPEN with OKAY(localId, hostId) before any WRTE on that stream', async () => {
      const host = await online();
      const a = host.openNoWait('shell,v2,raw:echo one');
      const b = host.openNoWait('shell:echo two');
      await a.readAll();
      await b.readAll();
      for (const s of [a, b]) {
        const okay = host.received.find((p) => p.command === A_OKAY && p.arg1 === s.hostId)!;
        const wrte = host.received.find((p) => p.command === A_WRTE && p.arg1 === s.hostId)!;
        assert.ok(okay && wrte);
        assert.ok(okay.seq < wrte.seq, 'OKAY precedes the first WRTE');
        assert.notEqual(okay.arg0, 0, 'local id is non-zero');
      }
      assert.notEqual(a.devId, b.devId, 'local ids are unique on the connection');
      assert.equal(b.data.toString(), 'two\n');
      assertClean(host);
    });

    for (const service of ['jdwp:1', 'framebuffer:', 'track-jdwp', 'abb:package\0list', 'nonsense']) {
      it(`refuses the unknown service '${service.replace('\0', '\\0')}' with CLSE(0, hostId)`, async () => {
        const host = await online();
        const s = host.openNoWait(service);
        const reply = await host.waitFor((p) => p.arg1 === s.hostId, 1000, 'reply');
        assert.equal(reply.command, A_CLSE, describePacket(reply));
        assert.equal(reply.arg0, 0);
        assert.deepEqual(await host.collectFor((p) => p.arg1 === s.hostId, 100), []);
        assertClean(host);
      });
    }
  });

  describe('flow control', () => {
    it('keeps one WRTE in flight per stream: the next only after the host OKAYs', async () => {
      const host = await online();
      const s = await host.open('shell:yes | head -c 40000', { autoOkay: false });
      assert.ok(s);
      const isMine = (p: Received) => p.command === A_WRTE && p.arg1 === s.hostId;
      let current = await host.waitFor(isMine, 1000, 'first WRTE');
      for (let round = 0; round < 2; round++) {
        const more = await host.collectFor(isMine, QUIET_MS, current.seq + 1);
        assert.deepEqual(more.map(describePacket), [], 'no second WRTE before our OKAY');
        const before = host.received.length;
        s.okay();
        current = await host.waitFor(isMine, 1000, 'the next WRTE after OKAY', before);
      }
      s.autoOkay = true;
      s.okay();
      const out = await s.readAll();
      assert.equal(out.length, 40000);
      assert.ok(/^(y\n)+$/.test(out.toString()));
      assertClean(host);
    });

    it('never sends a payload above its own maxdata (host 1 MiB)', async () => {
      const host = await online();
      const s = await host.open('shell:yes | head -c 40000');
      assert.ok(s);
      await s.readAll();
      const sizes = s.writes.map((w) => w.length);
      assert.ok(Math.max(...sizes) <= PHONE_MAXDATA, `largest WRTE ${Math.max(...sizes)}`);
      assert.equal(Math.max(...sizes), PHONE_MAXDATA, 'output is packed up to maxdata');
      assertClean(host);
    });

    it('never sends a payload above the host maxdata when it is smaller than its own', async () => {
      const host = await online({ maxdata: 1024 });
      const s = await host.open('shell,v2,raw:yes | head -c 20000');
      assert.ok(s);
      const frames = parseV2(await s.readAll());
      const sizes = s.writes.map((w) => w.length);
      assert.ok(Math.max(...sizes) <= 1024, `largest WRTE ${Math.max(...sizes)}`);
      const stdout = Buffer.concat(frames.filter((f) => f.id === V2_STDOUT).map((f) => f.data));
      assert.equal(stdout.length, 20000);
      // A sync DATA message of 64 KiB must span WRTEs too.
      phone.fs.writeFile('/data/local/tmp/big.bin', Buffer.alloc(70000, 0x61), { mkdirs: true });
      const { s: sy, r } = await openSync(host);
      sy.write(syncMsg('RECV', '/data/local/tmp/big.bin'));
      const got = await readRecv(r);
      assert.equal(got.data.length, 70000);
      assert.ok(Math.max(...sy.writes.map((w) => w.length)) <= 1024);
      assertClean(host);
    });

    it('OKAYs every WRTE the host sends, however shell v2 stdin frames are cut', async () => {
      const host = await online();
      const s = await host.open('shell,v2,raw:cat');
      assert.ok(s);
      const expected: Buffer[] = [];
      const send = async (bytes: Buffer) => {
        const before = s.okaysReceived;
        s.write(bytes);
        await s.waitUntil(() => s.okaysReceived === before + 1, 1000, 'OKAY of our WRTE');
      };
      // One frame in one WRTE.
      expected.push(Buffer.from('one\n'));
      await send(v2Frame(V2_STDIN, 'one\n'));
      // One frame cut into three WRTEs, the header itself split.
      const f2 = v2Frame(V2_STDIN, 'two two\n');
      expected.push(Buffer.from('two two\n'));
      await send(f2.subarray(0, 2));
      await send(f2.subarray(2, 7));
      await send(f2.subarray(7));
      // Three frames in one WRTE.
      expected.push(Buffer.from('3a\n3b\n3c\n'));
      await send(
        Buffer.concat([v2Frame(V2_STDIN, '3a\n'), v2Frame(V2_STDIN, '3b\n'), v2Frame(V2_STDIN, '3c\n')]),
      );
      // 20000 bytes in frames of 3000, sent as maxdata WRTEs regardless of frame boundaries.
      const big = Buffer.alloc(20000);
      for (let i = 0; i < big.length; i++) big[i] = 0x30 + (i % 10);
      expected.push(big);
      const frames: Buffer[] = [];
      for (let off = 0; off < big.length; off += 3000)
        frames.push(v2Frame(V2_STDIN, big.subarray(off, off + 3000)));
      await s.writeAll(Buffer.concat(frames));
      await send(v2Frame(V2_CLOSE_STDIN));
      const out = parseV2(await s.readAll());
      const stdout = Buffer.concat(out.filter((f) => f.id === V2_STDOUT).map((f) => f.data));
      assert.ok(stdout.equals(Buffer.concat(expected)), 'cat echoes stdin exactly');
      assert.deepEqual(out.at(-1), { id: V2_EXIT, data: Buffer.from([0]) });
      assert.equal(s.unacked, 0);
      assertClean(host);
    });

    // While the host withholds OKAYs for the phone's output, `cat` stops reading; the phone must
    // then stop OKAYing stdin (its read buffer is full) instead of buffering without bound.
    for (const [label, service, frame] of [
      ['legacy shell:cat', 'shell:cat', (b: Buffer) => b],
      ['shell v2 cat', 'shell,v2,raw:cat', (b: Buffer) => v2Frame(V2_STDIN, b)],
    ] as const) {
      it(`holds back its OKAY while its read buffer is full (${label})`, async () => {
        const host = await online();
        const s = await host.open(service, { autoOkay: false });
        assert.ok(s);
        const chunk = frame(Buffer.alloc(PHONE_MAXDATA - 5, 0x78));
        let accepted = 0;
        let held = false;
        for (let i = 0; i < 300 && !held; i++) {
          const before = s.okaysReceived;
          s.write(chunk);
          try {
            await s.waitUntil(() => s.okaysReceived > before, QUIET_MS, 'OKAY');
            accepted++;
          } catch {
            held = true;
          }
        }
        assert.ok(
          held,
          `the phone OKAYed all ${accepted} WRTEs (${accepted * chunk.length} bytes) with its output stalled`,
        );
        assert.ok(accepted > 0);
        // Let the output drain: the held OKAY comes.
        s.autoOkay = true;
        if (s.phoneWriteOutstanding) s.okay();
        await s.waitUntil(() => s.unacked === 0, 3000, 'the held OKAY');
        s.close();
        await s.waitUntil(() => s.closedByPhone, 1000, 'CLSE');
        assertClean(host);
      });
    }
  });

  describe('shell v2', () => {
    it('keeps stdout and stderr apart and sends the exit packet before CLSE; exit 300 → 44', async () => {
      const host = await online();
      const s = await host.open('shell,v2,TERM=xterm,raw:echo out; echo err >&2; echo more; exit 300');
      assert.ok(s);
      const frames = parseV2(await s.readAll());
      const text = (id: number) =>
        Buffer.concat(frames.filter((f) => f.id === id).map((f) => f.data)).toString();
      assert.equal(text(V2_STDOUT), 'out\nmore\n');
      assert.equal(text(V2_STDERR), 'err\n');
      const exits = frames.filter((f) => f.id === V2_EXIT);
      assert.equal(exits.length, 1);
      assert.deepEqual([...exits[0]!.data], [44]);
      assert.equal(frames.at(-1)!.id, V2_EXIT, 'exit is the last frame');
      assert.equal(s.events.at(-1), 'CLSE');
      assert.equal(s.events.filter((e) => e === 'CLSE').length, 1);
      assertClean(host);
    });

    it('reports false → 1 and an unknown command → 127', async () => {
      const host = await online();
      for (const [cmd, status] of [
        ['false', 1],
        ['no-such-command-xyz', 127],
        ['true', 0],
      ] as const) {
        const s = await host.open(`shell,v2,raw:${cmd}`);
        assert.ok(s);
        const frames = parseV2(await s.readAll());
        assert.deepEqual(frames.at(-1), { id: V2_EXIT, data: Buffer.from([status]) }, cmd);
      }
      assertClean(host);
    });

    it('legacy shell: is raw bytes, stdout and stderr merged, no exit packet', async () => {
      const host = await online();
      const s = await host.open('shell:echo out; echo err >&2; exit 3');
      assert.ok(s);
      assert.equal((await s.readAll()).toString(), 'out\nerr\n');
      assertClean(host);
    });
  });

  describe('sync over a byte stream', () => {
    const MTIME = 1_700_000_000;

    it('push: SEND+DATA+DONE in ONE WRTE → OKAY + u32 0; STA2 is 72 bytes with the pushed stat', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      const content = Buffer.from('hello sync\n');
      s.write(pushMessage('/data/local/tmp/one.txt', content, MTIME));
      const reply = await r.take(8);
      assert.equal(reply.toString('latin1', 0, 4), 'OKAY');
      assert.equal(u32(reply, 4), 0);
      assert.deepEqual(phone.fs.readFile('/data/local/tmp/one.txt', 0), content);

      s.write(syncMsg('STA2', '/data/local/tmp/one.txt'));
      assert.equal(await r.id(), 'STA2');
      const st = parseStat2(await r.take(68));
      assert.equal(r.off - 8, 72, 'STA2 reply is 72 bytes');
      assert.equal(st.error, 0);
      assert.equal(st.mode, 0o100644);
      assert.equal(st.size, content.length);
      assert.equal(st.mtime, MTIME);
      assert.ok(st.nlink >= 1);

      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('push: every byte in its own WRTE, then RECV returns the same bytes and DONE + u32 0', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      const content = Buffer.from('byte by byte: ' + 'z'.repeat(200) + '\n');
      await s.writeAll(pushMessage('/data/local/tmp/bytes.txt', content, MTIME), 1);
      const reply = await r.take(8);
      assert.equal(reply.toString('latin1'), 'OKAY\0\0\0\0');

      s.write(syncMsg('RECV', '/data/local/tmp/bytes.txt'));
      const got = await readRecv(r);
      assert.ok(got.data.equals(content));
      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('push and pull of 150 KB: DATA ≤ 64 KiB, messages spanning maxdata WRTEs, mkdir -p', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      const content = Buffer.alloc(150_000);
      for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
      await s.writeAll(pushMessage('/data/local/tmp/deep/er/big.bin', content, MTIME));
      assert.equal((await r.take(8)).toString('latin1'), 'OKAY\0\0\0\0');
      s.write(syncMsg('RECV', '/data/local/tmp/deep/er/big.bin'));
      const got = await readRecv(r);
      assert.ok(got.data.equals(content));
      assert.ok(Math.max(...got.chunks) <= 64 * 1024, `DATA chunks ${got.chunks.join(',')}`);
      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('STA2 of a missing path: error 2 (ENOENT) and zeros; STAT v1 is 16 bytes', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      s.write(syncMsg('STA2', '/nope'));
      assert.equal(await r.id(), 'STA2');
      const body = await r.take(68);
      assert.equal(u32(body, 0), 2);
      assert.ok(body.subarray(4).equals(Buffer.alloc(64)));
      s.write(syncMsg('STAT', '/nope'));
      const v1 = await r.take(16);
      assert.equal(v1.toString('latin1', 0, 4), 'STAT');
      assert.ok(v1.subarray(4).equals(Buffer.alloc(12)));
      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('LIS2: DNT2 entries of 4+68+4+name bytes, then DONE zero-padded to 76 bytes; LIST: DENT, DONE + 16', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      // Both pushes in one WRTE: two SEND…DONE sequences back to back.
      s.write(
        Buffer.concat([
          pushMessage('/data/local/tmp/lsdir/a.txt', Buffer.from('aaa'), MTIME),
          pushMessage('/data/local/tmp/lsdir/bb.txt', Buffer.from('bbbbbb'), MTIME + 1),
        ]),
      );
      assert.equal((await r.take(16)).toString('latin1'), 'OKAY\0\0\0\0OKAY\0\0\0\0');
      s.write(syncMsg('LIS2', '/data/local/tmp/lsdir'));
      const entries = await readLis2(r);
      assert.deepEqual([...entries.keys()].sort(), ['.', '..', 'a.txt', 'bb.txt']);
      assert.equal(entries.get('a.txt')!.size, 3);
      assert.equal(entries.get('bb.txt')!.size, 6);
      assert.equal(entries.get('bb.txt')!.mtime, MTIME + 1);
      assert.equal(entries.get('a.txt')!.mode, 0o100644);
      assert.equal(entries.get('.')!.mode & 0o170000, 0o040000);

      s.write(syncMsg('LIST', '/data/local/tmp/lsdir'));
      const names: string[] = [];
      for (;;) {
        const id = await r.id();
        if (id === 'DONE') {
          assert.ok((await r.take(16)).equals(Buffer.alloc(16)));
          break;
        }
        assert.equal(id, 'DENT');
        const d = await r.take(16);
        names.push((await r.take(u32(d, 12))).toString());
        if (names.at(-1) === 'a.txt') {
          assert.equal(u32(d, 0), 0o100644, 'DENT mode');
          assert.equal(u32(d, 4), 3, 'DENT size');
          assert.equal(u32(d, 8), MTIME, 'DENT mtime');
        }
      }
      assert.deepEqual(names.sort(), ['.', '..', 'a.txt', 'bb.txt']);
      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('normalises a trailing slash (STA2, LIS2, SEND)', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      s.write(pushMessage('/data/local/tmp/slash//x.txt', Buffer.from('x'), MTIME));
      assert.equal((await r.take(8)).toString('latin1'), 'OKAY\0\0\0\0');
      s.write(syncMsg('STA2', '/data/local/tmp/slash/'));
      assert.equal(await r.id(), 'STA2');
      const withSlash = parseStat2(await r.take(68));
      s.write(syncMsg('STA2', '/data/local/tmp/slash'));
      assert.equal(await r.id(), 'STA2');
      const without = parseStat2(await r.take(68));
      assert.equal(withSlash.error, 0);
      assert.equal(withSlash.mode & 0o170000, 0o040000, 'a directory');
      assert.deepEqual(withSlash, without);
      s.write(syncMsg('LIS2', '/data/local/tmp/slash/'));
      assert.deepEqual([...(await readLis2(r)).keys()].sort(), ['.', '..', 'x.txt']);
      assert.ok(phone.fs.exists('/data/local/tmp/slash/x.txt'));
      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('LIST and LIS2 of a missing path send DONE only', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      s.write(syncMsg('LIST', '/no/such/dir'));
      assert.equal(await r.id(), 'DONE');
      assert.ok((await r.take(16)).equals(Buffer.alloc(16)));
      s.write(syncMsg('LIS2', '/no/such/dir'));
      assert.equal((await readLis2(r)).size, 0);
      s.write(syncMsg('QUIT', 0));
      await r.atEnd();
      assertClean(host);
    });

    it('RECV of a missing file: FAIL + len + "open failed: No such file or directory", then CLSE', async () => {
      const host = await online();
      const { s, r } = await openSync(host);
      s.write(syncMsg('RECV', '/data/local/tmp/missing.bin'));
      assert.equal(await r.id(), 'FAIL');
      const len = u32(await r.take(4), 0);
      assert.equal((await r.take(len)).toString(), 'open failed: No such file or directory');
      await r.atEnd();
      assertClean(host);
    });
  });

  describe('reverse', () => {
    it('answers OKAY, OKAY+hex4+port for tcp:0, FAIL+hex4+message, and list-forward as hex4 + lines', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7100;tcp:8100'), 'OKAY');
      const port = await reverseAnyPort(host, 'tcp:8101');
      const rebind = 'cannot rebind existing socket';
      assert.equal(await reverse(host, 'forward:norebind:tcp:7100;tcp:8102'), `FAIL${hex4(rebind)}${rebind}`);
      assert.equal(`FAIL${hex4(rebind)}`, 'FAIL001d');
      const list = await reverse(host, 'list-forward');
      const m = /^([0-9a-f]{4})([\s\S]*)$/.exec(list);
      assert.ok(m && !list.startsWith('OKAY'), `list-forward reply ${JSON.stringify(list)}`);
      assert.equal(parseInt(m[1]!, 16), Buffer.byteLength(m[2]!));
      const lines = m[2]!.split('\n');
      assert.equal(lines.pop(), '', 'every line ends with \\n');
      assert.deepEqual(lines.map((l) => l.replace(/^host-\d+ /, '')).sort(), [
        `tcp:${port} tcp:8101`,
        'tcp:7100 tcp:8100',
      ]);
      assert.ok(
        lines.every((l) => /^host-\d+ /.test(l)),
        'lines start with the transport name',
      );
      const notFound = "listener 'tcp:7999' not found";
      assert.equal(await reverse(host, 'killforward:tcp:7999'), `FAIL${hex4(notFound)}${notFound}`);
      assert.equal(await reverse(host, 'killforward:tcp:7100'), 'OKAY');
      assert.equal(await reverse(host, 'killforward-all'), 'OKAY');
      assert.equal(await reverse(host, 'list-forward'), '0000');
      assertClean(host);
    });

    it('OPENs the LOCAL spec of a rule when an app connects to its REMOTE port', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7200;tcp:8200'), 'OKAY');
      assert.ok(phoneConnect(7200));
      const open = await host.waitForOpen('tcp:8200', 1000);
      assert.equal(open.arg1, 0);
      assert.notEqual(open.arg0, 0);
      assertClean(host);
    });

    it('never OPENs the target of a tcp:0 rule that a later tcp:0 rule replaced on the server', async () => {
      const host = await online();
      const first = await reverseAnyPort(host, 'tcp:1111');
      const second = await reverseAnyPort(host, 'tcp:2222');
      assert.notEqual(first, second);
      // The server keyed both by "tcp:0": it now allows only tcp:2222.
      const c1 = phoneConnect(first);
      const opens = await host.collectFor(isOpen, QUIET_MS);
      assert.deepEqual(opens.map(openOf), [], 'an OPEN of tcp:1111 would abort the adb server');
      if (c1) await ended(c1);
      assert.ok(phoneConnect(second));
      await host.waitForOpen('tcp:2222', 1000);
      assertClean(host);
    });

    it('never OPENs after killforward:tcp:0 (the phone answers FAIL, the server erased the rule)', async () => {
      const host = await online();
      const port = await reverseAnyPort(host, 'tcp:3333');
      const reply = await reverse(host, 'killforward:tcp:0');
      assert.match(reply, /^(FAIL[0-9a-f]{4}|OKAY)/);
      const c = phoneConnect(port);
      assert.deepEqual((await host.collectFor(isOpen, QUIET_MS)).map(openOf), []);
      if (c) await ended(c);
      assertClean(host);
    });

    it('never OPENs after killforward-all', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7300;tcp:4444'), 'OKAY');
      const port = await reverseAnyPort(host, 'tcp:4445');
      assert.equal(await reverse(host, 'killforward-all'), 'OKAY');
      const c1 = phoneConnect(7300);
      const c2 = phoneConnect(port);
      assert.deepEqual((await host.collectFor(isOpen, QUIET_MS)).map(openOf), []);
      for (const c of [c1, c2]) if (c) await ended(c);
      assertClean(host);
    });

    it('follows a rebind, and ignores a norebind the server ignores too', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7400;tcp:1111'), 'OKAY');
      assert.equal(await reverse(host, 'forward:tcp:7400;tcp:2222'), 'OKAY');
      assert.match(await reverse(host, 'forward:norebind:tcp:7400;tcp:3333'), /^FAIL/);
      assert.ok(phoneConnect(7400));
      const open = await host.waitFor(isOpen, 1000, 'OPEN');
      assert.equal(openOf(open), 'tcp:2222');
      assertClean(host);
    });

    it('under the slow fault, a killforward read while the OPEN waits cancels the OPEN', async () => {
      const host = await online();
      const port = await reverseAnyPort(host, 'tcp:9100');
      adbd.fault('slow', { delayMs: 150 });
      const c = phoneConnect(port);
      assert.ok(c);
      // The server relays (and applies) the killforward before the phone's delayed OPEN arrives.
      host.openNoWait('reverse:killforward:tcp:0');
      const opens = await host.collectFor(isOpen, 500);
      assert.deepEqual(opens.map(openOf), [], 'OPEN of a target the server had already dropped');
      assertClean(host);
    });

    it('under the silent fault, a killforward relayed during the silence cancels an OPEN held back by it', async () => {
      const host = await online();
      const port = await reverseAnyPort(host, 'tcp:9200');
      adbd.fault('silent');
      const c = phoneConnect(port); // the OPEN is held while silent
      assert.ok(c);
      await sleep(20);
      // The server applies the killforward as it relays it, long before the phone's OPEN arrives.
      host.openNoWait('reverse:killforward:tcp:0');
      await sleep(50);
      adbd.clearFaults();
      const opens = await host.collectFor(isOpen, QUIET_MS);
      assert.deepEqual(
        opens.map(openOf),
        [],
        'the phone sent OPEN after the server had erased tcp:0 (adb 29 would abort: "disallowed connect")',
      );
      assertClean(host);
    });
  });

  describe('phone-initiated streams', () => {
    it('takes the host id from arg0 of the first OKAY; data flows both ways; CLSE after OKAY is a close', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7500;tcp:8500'), 'OKAY');
      const c = phoneConnect(7500)!;
      assert.ok(c);
      const text = received(c);
      c.write('early'); // written before the host accepted: must wait for the OKAY
      const open = await host.waitForOpen('tcp:8500', 1000);
      await sleep(50);
      assert.deepEqual(
        host.received.filter((p) => p.command === A_WRTE && p.arg0 === open.arg0).map(describePacket),
        [],
        'no WRTE before the host OKAYed the OPEN',
      );
      const s = host.accept(open, { hostId: 4242 });
      await s.waitUntil(() => s.data.toString() === 'early', 1000, 'early bytes');
      c.write('ping');
      await s.waitUntil(() => s.data.toString() === 'earlyping', 1000, 'ping');
      const wrtes = host.received.filter((p) => p.command === A_WRTE && p.arg0 === open.arg0);
      assert.ok(
        wrtes.every((p) => p.arg1 === 4242),
        'WRTE(devId, hostId from OKAY arg0)',
      );
      await s.writeAll('pong');
      await host.until(() => text() === 'pong', 1000, 'pong on the phone side');
      s.close();
      await ended(c);
      await s.waitUntil(() => s.closedByPhone, 1000, 'CLSE answer');
      const clse = host.received.find((p) => p.command === A_CLSE && p.arg1 === 4242)!;
      assert.equal(clse.arg0, open.arg0);
      assertClean(host);
    });

    it('keeps one WRTE in flight and within maxdata on a phone-initiated stream too', async () => {
      const host = await online({ maxdata: 2048 });
      assert.equal(await reverse(host, 'forward:tcp:7502;tcp:8502'), 'OKAY');
      const c = phoneConnect(7502)!;
      const open = await host.waitForOpen('tcp:8502', 1000);
      const s = host.accept(open, { autoOkay: false });
      c.write(Buffer.alloc(20000, 0x41));
      const isMine = (p: Received) => p.command === A_WRTE && p.arg1 === s.hostId;
      const first = await host.waitFor(isMine, 1000, 'first WRTE');
      assert.equal(first.data.length, 2048);
      assert.deepEqual((await host.collectFor(isMine, QUIET_MS, first.seq + 1)).map(describePacket), []);
      s.autoOkay = true;
      s.okay();
      await s.waitUntil(() => s.data.length === 20000, 1000, 'all 20000 bytes');
      assertClean(host);
    });

    it('the phone side closing sends CLSE(devId, hostId)', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7501;tcp:8501'), 'OKAY');
      const c = phoneConnect(7501)!;
      const open = await host.waitForOpen('tcp:8501', 1000);
      const s = host.accept(open, { hostId: 777 });
      c.end('bye');
      c.destroy();
      await s.waitUntil(() => s.closedByPhone, 1000, 'CLSE');
      assert.equal(s.data.toString(), 'bye');
      const clse = host.received.find((p) => p.command === A_CLSE && p.arg1 === 777)!;
      assert.equal(clse.arg0, open.arg0);
      assertClean(host);
    });

    it('treats a CLSE before any OKAY as refused: the phone-side socket is closed, later OPENs still work', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7600;tcp:8600'), 'OKAY');
      const c1 = phoneConnect(7600)!;
      const open1 = await host.waitForOpen('tcp:8600', 1000);
      host.refuse(open1);
      await ended(c1);
      // Nothing more on the refused stream (a CLSE answer would be harmless; a WRTE is a bug).
      const after = await host.collectFor((p) => p.command === A_WRTE && p.arg0 === open1.arg0, 100, 0);
      assert.deepEqual(after.map(describePacket), []);
      const c2 = phoneConnect(7600)!;
      const text = received(c2);
      const open2 = await host.waitFor((p) => isOpen(p) && p.seq > open1.seq, 1000, 'second OPEN');
      assert.equal(openOf(open2), 'tcp:8600');
      const s = host.accept(open2, { hostId: 999 });
      await s.writeAll('hello');
      await host.until(() => text() === 'hello', 1000, 'data on the second connection');
      assertClean(host);
    });
  });

  describe('reverse table per connection', () => {
    it('is gone after the TCP connection closes and a new one handshakes', async () => {
      const first = await online();
      assert.equal(await reverse(first, 'forward:tcp:7700;tcp:8700'), 'OKAY');
      const port = await reverseAnyPort(first, 'tcp:8701');
      await first.close();
      for (let i = 0; i < 50 && adbd.onlineTransports > 0; i++) await sleep(10);
      const second = await online();
      const c1 = phoneConnect(7700);
      const c2 = phoneConnect(port);
      assert.equal(c1, null, 'tcp:7700 still listening after its connection closed');
      assert.equal(c2, null, `tcp:${port} still listening after its connection closed`);
      assert.deepEqual((await second.collectFor(isOpen, QUIET_MS)).map(openOf), []);
      assert.equal(await reverse(second, 'list-forward'), '0000');
      assertClean(second);
    });

    it('is gone after a second CNXN on the same connection', async () => {
      const host = await online();
      assert.equal(await reverse(host, 'forward:tcp:7800;tcp:8800'), 'OKAY');
      await host.handshake();
      const c = phoneConnect(7800);
      assert.deepEqual((await host.collectFor(isOpen, QUIET_MS)).map(openOf), []);
      if (c) await ended(c);
      assert.equal(await reverse(host, 'list-forward'), '0000');
      assertClean(host);
    });

    it('is not shared between two connections', async () => {
      const a = await online();
      const b = await online();
      assert.equal(await reverse(a, 'forward:tcp:7900;tcp:8900'), 'OKAY');
      assert.ok(phoneConnect(7900));
      await a.waitForOpen('tcp:8900', 1000);
      assert.deepEqual((await b.collectFor(isOpen, 100, 0)).map(openOf), []);
      assert.equal(await reverse(b, 'list-forward'), '0000');
      assertClean(a);
      assertClean(b);
    });
  });

  describe('faults', () => {
    it('silent: the phone sends nothing; after clearFaults streams in progress complete without loss', async () => {
      const host = await online();
      const cat = await host.open('shell,v2,raw:cat');
      assert.ok(cat);
      await cat.writeAll(v2Frame(V2_STDIN, 'before\n'));
      const yes = await host.open('shell:yes | head -c 40000', { autoOkay: false });
      assert.ok(yes);
      await yes.waitUntil(() => yes.phoneWriteOutstanding, 1000, 'first WRTE');
      await cat.waitUntil(() => cat.data.length >= 5 + 'before\n'.length, 1000, 'echo of before');

      adbd.fault('silent');
      const from = host.received.length;
      yes.okay(); // the OKAY reaches a silent phone
      cat.write(v2Frame(V2_STDIN, 'during\n'));
      const late = host.openNoWait('shell,v2,raw:echo late');
      assert.deepEqual((await host.collectFor(() => true, QUIET_MS, from)).map(describePacket), [], 'silent');

      adbd.clearFaults();
      yes.autoOkay = true;
      await cat.waitUntil(() => cat.unacked === 0, 1000, 'OKAY of the WRTE sent during silence');
      cat.write(v2Frame(V2_CLOSE_STDIN));
      const catFrames = parseV2(await cat.readAll());
      const echoed = Buffer.concat(catFrames.filter((f) => f.id === V2_STDOUT).map((f) => f.data));
      assert.equal(echoed.toString(), 'before\nduring\n');
      assert.deepEqual(catFrames.at(-1), { id: V2_EXIT, data: Buffer.from([0]) });
      const all = await yes.readAll();
      assert.equal(all.length, 40000, 'no output lost across the silence');
      const lateFrames = parseV2(await late.readAll());
      assert.equal(lateFrames[0]?.data.toString(), 'late\n');
      assertClean(host);
    });

    it('slow: delays every packet but keeps their order', async () => {
      const host = await online();
      adbd.fault('slow', { delayMs: 100 });
      const t0 = Date.now();
      const s = await host.open('shell,v2,raw:echo a; echo b >&2; echo c; exit 5');
      assert.ok(s);
      assert.ok(Date.now() - t0 >= 90, `OKAY after ${Date.now() - t0} ms`);
      const frames = parseV2(await s.readAll(5000));
      assert.deepEqual(
        frames.map((f) => [f.id, f.data.toString('latin1')]),
        [
          [V2_STDOUT, 'a\n'],
          [V2_STDERR, 'b\n'],
          [V2_STDOUT, 'c\n'],
          [V2_EXIT, '\x05'],
        ],
      );
      assert.equal(s.events.at(-1), 'CLSE');
      const seqs = host.received.filter((p) => p.arg1 === s.hostId).map((p) => p.command);
      assert.equal(seqs[0], A_OKAY);
      assert.equal(seqs.at(-1), A_CLSE);
      adbd.clearFaults();
      assertClean(host);
    });
  });
});
