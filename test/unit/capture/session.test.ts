/**
 * A capture session (src/capture/session.ts) with real mockttp and real sockets on this machine:
 * loopback only, block and passthrough, host rules, the body cap, TLS failures with their SNI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { LabCa } from '../../../src/capture/ca.ts';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import { CaptureSession, hostMatches, modeFor, type SessionOptions } from '../../../src/capture/session.ts';
import { HAR_FILE } from '../../../src/capture/format.ts';
import { eventually, exchanges } from '../../support/capture.ts';

interface Answer {
  status: number;
  body: string;
}

/** A request through the proxy (absolute-form target, as phones send it to an HTTP proxy). */
function viaProxy(
  port: number,
  method: string,
  url: string,
  o: { body?: Buffer; headers?: Record<string, string>; chunked?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      { host: '127.0.0.1', port, method, path: url, headers: { host: new URL(url).host, ...o.headers } },
      (res) => {
        let d = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (d += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: d }));
      },
    );
    r.on('error', reject);
    if (o.body && o.chunked) {
      r.write(o.body.subarray(0, 1));
      r.end(o.body.subarray(1));
    } else r.end(o.body);
  });
}

describe('capture session', function () {
  this.timeout(20_000);
  let tmp: string;
  let ca: LabCa;
  let upstream: http.Server;
  let upstreamPort: number;
  const upstreamSeen: Array<{ method: string; url: string; body: string }> = [];
  const sessions: CaptureSession[] = [];

  async function start(
    o: Partial<SessionOptions> = {},
  ): Promise<{ s: CaptureSession; records: CaptureRecord[] }> {
    const s = await CaptureSession.start({ dir: join(tmp, `s${sessions.length}`), ca, ...o });
    sessions.push(s);
    const records: CaptureRecord[] = [];
    s.on('record', (r) => records.push(r));
    return { s, records };
  }

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-session-'));
    ca = await LabCa.load(join(tmp, 'ca'));
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        upstreamSeen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(201, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
        res.end('from upstream');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as net.AddressInfo).port;
  });
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.stop();
    upstreamSeen.length = 0;
  });
  after(async () => {
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('hostMatches / modeFor', () => {
    it('exact hosts, *.suffix for the suffix and its subdomains, case-insensitive', () => {
      assert.ok(hostMatches('sa.api.intl.miui.com', 'SA.api.intl.miui.com'));
      assert.ok(!hostMatches('miui.com', 'sa.api.intl.miui.com'));
      assert.ok(hostMatches('*.miui.com', 'miui.com'));
      assert.ok(hostMatches('*.miui.com', 'tracking.intl.miui.com'));
      assert.ok(!hostMatches('*.miui.com', 'evilmiui.com'));
      assert.ok(!hostMatches('*.miui.com', 'miui.com.evil.org'));
    });

    it('the first matching rule wins, else the session mode, else block', () => {
      const rules = [
        { host: 'sa.api.intl.miui.com', mode: 'block' as const },
        { host: '*.miui.com', mode: 'passthrough' as const },
      ];
      assert.equal(modeFor('sa.api.intl.miui.com', { rules }), 'block');
      assert.equal(modeFor('tracking.intl.miui.com', { rules }), 'passthrough');
      assert.equal(modeFor('example.org', { rules }), 'block');
      assert.equal(modeFor('example.org', { rules, mode: 'passthrough' }), 'passthrough');
      assert.equal(modeFor('example.org', {}), 'block');
    });
  });

  it('listens on 127.0.0.1 only: a non-loopback address of this machine is refused', async function () {
    const { s } = await start();
    const ok = await viaProxy(s.port, 'GET', 'http://example.org/');
    assert.equal(ok.status, 204, 'reachable on loopback');
    const ipv4 = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (!ipv4) this.skip(); // reason: this machine has no non-loopback IPv4 address to try
    const outcome = await new Promise<string>((resolve) => {
      const c = net.connect(s.port, ipv4.address);
      c.once('connect', () => {
        c.destroy();
        resolve('connected');
      });
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(outcome, 'ECONNREFUSED', `connecting via ${ipv4.address}:${s.port}`);
  });

  it('block (default): answered locally, recorded with source local, streamed to the HAR', async () => {
    const { s, records } = await start();
    const a = await viaProxy(s.port, 'POST', 'http://sa.api.intl.miui.com/sa?project=p', {
      body: Buffer.from('data=eyJhIjoxfQ%3D%3D'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(a.status, 200);
    assert.ok(await eventually(() => records.length === 1));
    const [x] = exchanges(records);
    assert.ok(x);
    assert.equal(x.host, 'sa.api.intl.miui.com');
    assert.equal(x.request.body.toString(), 'data=eyJhIjoxfQ%3D%3D');
    assert.equal(x.response?.source, 'local');
    await s.stop();
    const har = JSON.parse(readFileSync(join(s.dir, HAR_FILE), 'utf8')) as { log: { entries: unknown[] } };
    assert.equal(har.log.entries.length, 1);
    assert.equal(s.counts.exchanges, 1);
  });

  it('passthrough mode forwards to the upstream and records source upstream', async () => {
    const { s, records } = await start({ mode: 'passthrough' });
    const url = `http://localhost:${upstreamPort}/collect?x=1`;
    const a = await viaProxy(s.port, 'POST', url, { body: Buffer.from('hello upstream') });
    assert.deepEqual(a, { status: 201, body: 'from upstream' });
    assert.deepEqual(upstreamSeen, [{ method: 'POST', url: '/collect?x=1', body: 'hello upstream' }]);
    assert.ok(await eventually(() => records.length === 1));
    const [x] = exchanges(records);
    assert.equal(x?.response?.status, 201);
    assert.equal(x?.response?.source, 'upstream');
    assert.equal(x?.response?.headers['x-upstream'], 'yes');
    assert.equal(x?.request.body.toString(), 'hello upstream');
  });

  it('host rules: passthrough for one host in block mode, block for one host in passthrough mode', async () => {
    const one = await start({ rules: [{ host: 'localhost', mode: 'passthrough' }] });
    assert.equal((await viaProxy(one.s.port, 'GET', `http://localhost:${upstreamPort}/a`)).status, 201);
    assert.equal((await viaProxy(one.s.port, 'GET', 'http://example.org/b')).status, 204);
    assert.ok(await eventually(() => one.records.length === 2));
    assert.deepEqual(
      exchanges(one.records)
        .map((x) => `${x.host} ${x.response?.source}`)
        .sort(),
      ['example.org local', 'localhost upstream'],
    );
    const two = await start({ mode: 'passthrough', rules: [{ host: '*.blocked.localhost', mode: 'block' }] });
    const blocked = await viaProxy(two.s.port, 'GET', `http://sub.blocked.localhost:${upstreamPort}/c`);
    assert.equal(blocked.status, 204, 'answered locally');
    assert.equal((await viaProxy(two.s.port, 'GET', `http://localhost:${upstreamPort}/d`)).status, 201);
    assert.deepEqual(
      upstreamSeen.map((u) => u.url),
      ['/a', '/d'],
      'only the passthrough hosts reached the upstream',
    );
  });

  it('every passthrough request reaches the upstream and is recorded once, mixed with blocked ones', async () => {
    const { s, records } = await start({ rules: [{ host: 'localhost', mode: 'passthrough' }] });
    const seenBefore = upstreamSeen.length;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await viaProxy(s.port, 'GET', `http://localhost:${upstreamPort}/up${i}`)).status);
      statuses.push((await viaProxy(s.port, 'GET', `http://example.org/blocked${i}`)).status);
    }
    assert.deepEqual(statuses, [201, 204, 201, 204, 201, 204, 201, 204]);
    assert.deepEqual(
      upstreamSeen.slice(seenBefore).map((u) => u.url),
      ['/up0', '/up1', '/up2', '/up3'],
      'the passthrough rule keeps applying after its first request',
    );
    assert.ok(await eventually(() => records.length >= 8));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(records.length, 8, 'each exchange recorded once');
    assert.equal(s.counts.exchanges, 8);
    assert.deepEqual(
      exchanges(records)
        .map((x) => `${new URL(x.url).pathname} ${x.response?.status} ${x.response?.source}`)
        .sort(),
      [0, 1, 2, 3].flatMap((i) => [`/blocked${i} 204 local`, `/up${i} 201 upstream`]).sort(),
    );
  });

  it('a body over bodyCap (Content-Length) is recorded truncated with its declared size', async () => {
    const { s, records } = await start({ bodyCap: 1000 });
    await viaProxy(s.port, 'POST', 'http://sa.api.intl.miui.com/sa?project=p', {
      body: Buffer.alloc(5000, 'a'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await viaProxy(s.port, 'POST', 'http://sa.api.intl.miui.com/sa?project=p', {
      body: Buffer.alloc(999, 'b'),
    });
    assert.ok(await eventually(() => records.length === 2));
    const [big, small] = exchanges(records)
      .sort((a, b) => a.request.bodySize - b.request.bodySize)
      .reverse();
    assert.equal(big?.request.truncated, true);
    assert.equal(big?.request.bodySize, 5000);
    assert.equal(big?.request.body.length, 0);
    assert.equal(small?.request.truncated, false);
    assert.equal(small?.request.body.length, 999);
  });

  it('a chunked body over bodyCap (no Content-Length) is recorded truncated, not as an empty body', async () => {
    const { s, records } = await start({ bodyCap: 1000 });
    await viaProxy(s.port, 'POST', 'http://sa.api.intl.miui.com/sa?project=p', {
      body: Buffer.alloc(5000, 'c'),
      chunked: true,
    });
    assert.ok(await eventually(() => records.length === 1));
    const [x] = exchanges(records);
    assert.ok(x);
    assert.equal(x.request.headers['transfer-encoding'], 'chunked');
    assert.equal(
      x.request.truncated,
      true,
      `5000 bytes sent, recorded as ${JSON.stringify({ ...x.request, body: x.request.body.length })}`,
    );
  });

  it('HTTPS with the lab CA trusted is decrypted (SNI recorded); a client that rejects it is a TLS failure with its SNI', async () => {
    const { s, records } = await start();
    // Trusted: CONNECT, then TLS with the lab CA as the only root.
    const body = await new Promise<string>((resolve, reject) => {
      const connect = http.request({
        host: '127.0.0.1',
        port: s.port,
        method: 'CONNECT',
        path: 'tracking.intl.miui.com:443',
      });
      connect.on('connect', (_res, socket) => {
        const t = tls.connect({ socket, servername: 'tracking.intl.miui.com', ca: ca.certPem }, () => {
          t.write(
            'POST /track/spock HTTP/1.1\r\nHost: tracking.intl.miui.com\r\nContent-Length: 7\r\nConnection: close\r\n\r\nvalue=x',
          );
        });
        let d = '';
        t.on('data', (c: Buffer) => (d += c.toString()));
        t.on('end', () => resolve(d));
        t.on('error', reject);
      });
      connect.on('error', reject);
      connect.end();
    });
    assert.match(body, /^HTTP\/1\.1 200/);
    // Untrusted: the client checks against the system roots and hangs up.
    await new Promise<void>((resolve) => {
      const t = tls.connect({ host: '127.0.0.1', port: s.port, servername: 'sa.api.intl.miui.com' });
      t.on('error', () => resolve());
      t.on('secureConnect', () => {
        t.destroy();
        resolve();
      });
    });
    assert.ok(await eventually(() => records.length === 2), JSON.stringify(records));
    const x = exchanges(records)[0];
    assert.equal(x?.url, 'https://tracking.intl.miui.com/track/spock');
    assert.equal(x?.tls?.sni, 'tracking.intl.miui.com');
    const f = records.find((r) => r.type === 'tls-failure');
    assert.ok(f && f.type === 'tls-failure');
    assert.equal(f.host, 'sa.api.intl.miui.com');
    assert.ok(['cert-rejected', 'closed', 'reset'].includes(f.cause), f.cause);
    assert.deepEqual(s.counts, { exchanges: 1, tlsFailures: 1 });
  });

  it("keeps a phone's TLS connection alive across uploads, as a real collector does (each answer carries its length)", async () => {
    const { s, records } = await start();
    const responses = await new Promise<string[]>((resolve, reject) => {
      const connect = http.request({
        host: '127.0.0.1',
        port: s.port,
        method: 'CONNECT',
        path: 'sa.api.intl.miui.com:443',
      });
      connect.on('connect', (_res, socket) => {
        const t = tls.connect({ socket, servername: 'sa.api.intl.miui.com', ca: ca.certPem });
        const got: string[] = [];
        let buf = '';
        const upload = (): boolean =>
          t.write(
            'POST /sa?project=p HTTP/1.1\r\nHost: sa.api.intl.miui.com\r\nContent-Length: 6\r\n\r\ndata=x',
          );
        t.on('secureConnect', upload);
        t.on('data', (c: Buffer) => {
          buf += c.toString('latin1');
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.slice(0, end);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? NaN);
          if (buf.length < end + 4 + length) return;
          got.push(head);
          buf = buf.slice(end + 4 + length);
          // The second upload goes over the same TLS session; it is answered only if the proxy kept it open.
          if (got.length === 1) upload();
          else {
            t.destroy();
            resolve(got);
          }
        });
        t.on('end', () =>
          reject(
            new Error(`the proxy closed the connection after ${got.length} answer(s): ${got.join(' | ')}`),
          ),
        );
        t.on('error', reject);
      });
      connect.on('error', reject);
      connect.end();
    });
    assert.equal(responses.length, 2);
    for (const r of responses) assert.match(r, /^HTTP\/1\.1 200[^]*content-length: 0/i);
    assert.ok(await eventually(() => exchanges(records).length === 2), JSON.stringify(records));
  });
});
