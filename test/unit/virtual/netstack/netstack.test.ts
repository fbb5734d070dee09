import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCACertificate } from 'mockttp';
import { PhoneHttpError } from '../../../../src/virtual/apps/events.ts';
import { deviceState } from '../../../../src/virtual/commands/util.ts';
import { duplexPair } from '../../../../src/virtual/os/local-net.ts';
import { isLoopbackHost } from '../../../../src/virtual/netstack/http.ts';
import {
  parsePemCertificate,
  readCaDirectory,
  subjectHashOld,
  USER_CA_DIR,
} from '../../../../src/virtual/netstack/trust.ts';
import { makePhone, sh } from '../os/helpers.ts';

const ROOT = 0;
const BROWSER = 'com.mi.globalbrowser';

async function expectFailure(p: Promise<unknown>, failure: string): Promise<PhoneHttpError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PhoneHttpError, `not a PhoneHttpError: ${String(e)}`);
    assert.equal(e.failure, failure, e.message);
    return e;
  }
  assert.fail(`expected a '${failure}' failure`);
}

/** Polls `cond` until it holds or `ms` pass. */
async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** Timers and TCP handles keeping the process alive, by kind (process.getActiveResourcesInfo). */
function handles(): { timers: number; tcp: number } {
  const info = process.getActiveResourcesInfo();
  return {
    timers: info.filter((x) => x === 'Timeout').length,
    tcp: info.filter((x) => /^TCP(Socket)?Wrap$/.test(x)).length,
  };
}

/** A host TCP server that accepts connections and never answers; `open` counts live ones. */
async function silentServer(): Promise<{
  server: Server;
  port: number;
  open: () => number;
  stop: () => Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.resume(); // reads (and drops) the request: so it sees the end of the connection
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    open: () => sockets.size,
    stop: () => {
      for (const s of sockets) s.destroy();
      return new Promise((res) => server.close(() => res()));
    },
  };
}

/** A phone-loopback request (one line, headers) a fake server on the phone saw. */
function recordingServer(answer: string): {
  heads: string[];
  handler: (sock: ReturnType<typeof duplexPair>[0]) => void;
} {
  const heads: string[] = [];
  return {
    heads,
    handler: (sock) => {
      let buf = '';
      sock.on('data', (c: Buffer) => {
        buf += c.toString('latin1');
        const i = buf.indexOf('\r\n\r\n');
        if (i >= 0 && buf !== '') {
          heads.push(buf.slice(0, i));
          buf = '';
          sock.write(answer);
        }
      });
    },
  };
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('netstack: proxy resolution', () => {
  it('follows settings global http_proxy as ProxyTracker does (:0 clears, delete keeps it until reboot)', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    assert.deepEqual(phone.http.route('sa.api.intl.miui.com', 443), {
      kind: 'direct',
      host: 'sa.api.intl.miui.com',
      port: 443,
      loopback: false,
    });
    assert.equal(phone.http.route('127.0.0.1', 8080).loopback, true);
    assert.equal((await sh(phone, 'settings put global http_proxy 127.0.0.1:8899')).status, 0);
    assert.deepEqual(phone.http.route('x', 443), {
      kind: 'proxy',
      host: '127.0.0.1',
      port: 8899,
      loopback: true,
    });
    await sh(phone, 'settings put global http_proxy :0');
    assert.equal(phone.http.route('x', 80).kind, 'direct');
    await sh(phone, 'settings put global http_proxy proxy.corp.example:3128');
    assert.deepEqual(phone.http.route('x', 80), {
      kind: 'proxy',
      host: 'proxy.corp.example',
      port: 3128,
      loopback: false,
    });
    await sh(phone, 'settings delete global http_proxy');
    assert.equal(phone.http.route('x', 80).kind, 'proxy', 'a deleted http_proxy stays in force until reboot');
    phone.resetForBoot();
    assert.equal(phone.http.route('x', 80).kind, 'direct');
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['10.0.2.2', '192.168.1.1', 'example.com', '128.0.0.1']) assert.ok(!isLoopbackHost(h), h);
  });
});

describe('netstack: the sink', () => {
  it('refuses direct connections by default and logs them with the host', async () => {
    const phone = makePhone();
    const e = await expectFailure(
      phone.http.request({
        app: 'com.mi.globalbrowser',
        method: 'GET',
        url: 'http://api.ad.intl.xiaomi.com/x',
      }),
      'refused',
    );
    assert.match(e.message, /api\.ad\.intl\.xiaomi\.com:80/);
    const line = phone.logcat.entries().find((x) => x.tag === 'NetworkSink');
    assert.ok(line, 'a logcat line');
    assert.match(
      line.message,
      /com\.mi\.globalbrowser: connection to api\.ad\.intl\.xiaomi\.com:80 \(direct\) refused/,
    );
    assert.equal(line.priority, 5);
  });

  it('sends a proxy that is not on the phone loopback to the sink too', async () => {
    const phone = makePhone();
    const seen: unknown[] = [];
    phone.http.sink = (t) => void seen.push(t);
    await sh(phone, 'settings put global http_proxy 10.0.2.2:8000');
    await expectFailure(
      phone.http.request({ app: 'com.miui.home', method: 'GET', url: 'https://tracking.intl.miui.com/' }),
      'refused',
    );
    assert.deepEqual(seen, [{ host: '10.0.2.2', port: 8000, app: 'com.miui.home', via: 'proxy' }]);
    assert.match(phone.logcat.entries().at(-1)?.message ?? '', /proxy 10\.0\.2\.2:8000/);
  });

  it('a loopback proxy nobody listens on (no adb reverse) is refused', async () => {
    const phone = makePhone();
    await sh(phone, 'settings put global http_proxy 127.0.0.1:8899');
    const e = await expectFailure(
      phone.http.request({ app: 'com.mi.globalbrowser', method: 'GET', url: 'http://example.com/' }),
      'refused',
    );
    assert.match(e.message, /adb reverse/);
  });

  it('a sink can answer: plain HTTP direct uses the origin form, via a proxy the absolute URI', async () => {
    const phone = makePhone();
    const requests: string[] = [];
    const server = (): ReturnType<typeof duplexPair>[0] => {
      const [client, srv] = duplexPair();
      let buf = '';
      srv.on('data', (c: Buffer) => {
        buf += c.toString('latin1');
        if (buf.includes('\r\n\r\n') && buf.endsWith('hello')) {
          requests.push(buf);
          srv.write(
            'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
          );
        }
      });
      return client;
    };
    phone.http.sink = server;
    const res = await phone.http.request({
      app: 'com.mi.globalbrowser',
      method: 'POST',
      url: 'http://api.ad.intl.xiaomi.com/getSplashScreenAds?a=1',
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from('hello'),
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'abcde');
    assert.equal(res.headers['x-a'], '1');
    assert.match(
      requests[0] ?? '',
      /^POST \/getSplashScreenAds\?a=1 HTTP\/1\.1\r\nHost: api\.ad\.intl\.xiaomi\.com\r\n/,
    );
    assert.match(requests[0] ?? '', /\r\nContent-Length: 5\r\n/);
    // Through a phone-loopback proxy: the absolute URI.
    const listener = phone.net.listen('tcp:8899', (sock) => {
      const upstream = server();
      sock.pipe(upstream);
      upstream.pipe(sock);
    });
    await sh(phone, 'settings put global http_proxy 127.0.0.1:8899');
    const via = await phone.http.request({
      app: 'com.mi.globalbrowser',
      method: 'POST',
      url: 'http://api.ad.intl.xiaomi.com/getSplashScreenAds',
      body: Buffer.from('hello'),
    });
    listener.close();
    assert.equal(via.body.toString(), 'abcde');
    assert.match(
      requests[1] ?? '',
      /^POST http:\/\/api\.ad\.intl\.xiaomi\.com\/getSplashScreenAds HTTP\/1\.1\r\n/,
    );
  });

  it('rejects bad URLs', async () => {
    const phone = makePhone();
    await expectFailure(phone.http.request({ app: 'x', method: 'GET', url: 'not a url' }), 'bad-url');
    await expectFailure(phone.http.request({ app: 'x', method: 'GET', url: 'ftp://h/' }), 'bad-url');
  });
});

describe('netstack: ending requests (timeout, signal, close) leaves no timers or sockets', () => {
  it('close() aborts a request stuck on a loopback proxy that never answers, and later ones fail fast', async () => {
    const silent = await silentServer();
    const phone = makePhone();
    // `adb reverse tcp:8899 tcp:<silent>` as adbd does it: closing the phone side closes the host
    // connection (and the other way round).
    phone.net.listen('tcp:8899', (sock) => {
      const up = netConnect(silent.port, '127.0.0.1');
      up.on('error', () => undefined);
      sock.pipe(up);
      up.pipe(sock);
      sock.on('end', () => up.destroy());
      sock.on('close', () => up.destroy());
      up.on('close', () => sock.destroy());
    });
    try {
      await sh(phone, 'settings put global http_proxy 127.0.0.1:8899');
      const before = handles();
      const pending = phone.http.request({
        app: BROWSER,
        method: 'GET',
        url: 'https://sa.api.intl.miui.com/',
      });
      pending.catch(() => undefined);
      await waitFor(() => silent.open() === 1, 'the proxy to accept the connection');
      const during = handles();
      assert.ok(during.tcp > before.tcp, `the request holds TCP handles (${before.tcp} → ${during.tcp})`);
      assert.ok(during.timers <= before.timers, "its timeout is unref'd");

      const t0 = Date.now();
      phone.http.close();
      const e = await expectFailure(pending, 'aborted');
      assert.ok(Date.now() - t0 < 1000, `rejected after ${Date.now() - t0} ms`);
      assert.match(e.message, /shut down/);
      await waitFor(() => silent.open() === 0, 'the proxy to see the connection close');
      await waitFor(() => {
        const now = handles();
        return now.tcp <= before.tcp && now.timers <= before.timers;
      }, "the request's handles to go");

      const t1 = Date.now();
      await expectFailure(
        phone.http.request({ app: BROWSER, method: 'GET', url: 'http://x.example/' }),
        'aborted',
      );
      assert.ok(Date.now() - t1 < 100);
      assert.equal(silent.open(), 0, 'no new connection after close()');
    } finally {
      await silent.stop();
    }
  });

  it('an aborted signal destroys the sink socket and rejects with aborted', async () => {
    const silent = await silentServer();
    const phone = makePhone();
    phone.http.sink = () => netConnect(silent.port, '127.0.0.1').on('error', () => undefined);
    try {
      const before = handles();
      const ac = new AbortController();
      const pending = phone.http.request({
        app: BROWSER,
        method: 'POST',
        url: 'http://api.ad.intl.xiaomi.com/x',
        body: Buffer.from('x'),
        signal: ac.signal,
      });
      pending.catch(() => undefined);
      await waitFor(() => silent.open() === 1, 'the connection');
      ac.abort();
      await expectFailure(pending, 'aborted');
      await waitFor(() => silent.open() === 0, 'the connection to close');
      await waitFor(() => {
        const now = handles();
        return now.tcp <= before.tcp && now.timers <= before.timers;
      }, "the request's handles to go");
      // Already aborted: nothing is opened.
      let opened = 0;
      phone.http.sink = () => void opened++;
      await expectFailure(
        phone.http.request({ app: BROWSER, method: 'GET', url: 'http://x.example/', signal: ac.signal }),
        'aborted',
      );
      assert.equal(opened, 0);
    } finally {
      await silent.stop();
    }
  });

  it('the timeout closes the connection too', async () => {
    const silent = await silentServer();
    const phone = makePhone();
    phone.http.sink = () => netConnect(silent.port, '127.0.0.1').on('error', () => undefined);
    phone.http.timeoutMs = 100;
    try {
      const pending = phone.http.request({
        app: BROWSER,
        method: 'GET',
        url: 'http://api.ad.intl.xiaomi.com/x',
      });
      await expectFailure(pending, 'timeout');
      await waitFor(() => silent.open() === 0, 'the connection to close');
    } finally {
      await silent.stop();
    }
  });
});

describe('netstack: destinations and the request head', () => {
  it('a direct connection to the phone loopback reaches a listener there, not the sink', async () => {
    const phone = makePhone();
    let sinkCalls = 0;
    phone.http.sink = () => void sinkCalls++;
    const srv = recordingServer('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi');
    const listener = phone.net.listen('tcp:8080', srv.handler);
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '127.0.0.2']) {
      const res = await phone.http.request({ app: BROWSER, method: 'GET', url: `http://${host}:8080/p?q=1` });
      assert.equal(res.body.toString(), 'hi', host);
    }
    assert.equal(srv.heads.length, 4);
    assert.match(srv.heads[0] ?? '', /^GET \/p\?q=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:8080\r\n/);
    assert.match(srv.heads[2] ?? '', /\r\nHost: \[::1\]:8080\r\n/);
    listener.close();
    const e = await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://127.0.0.1:8080/' }),
      'refused',
    );
    assert.match(e.message, /127\.0\.0\.1:8080 refused/);
    assert.equal(sinkCalls, 0, 'the sink saw none of them');
    assert.ok(
      !phone.logcat.entries().some((x) => x.tag === 'NetworkSink'),
      'nothing logged as leaving the phone',
    );
    // Off the phone: the sink.
    await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://10.0.2.2:8080/' }),
      'refused',
    );
    assert.equal(sinkCalls, 1);
  });

  it('an IPv6 literal is bracketed with its port in CONNECT and Host, and in the sink log', async () => {
    const phone = makePhone();
    const proxy = recordingServer('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    phone.net.listen('tcp:8899', proxy.handler);
    await sh(phone, 'settings put global http_proxy 127.0.0.1:8899');
    for (const url of ['https://[2001:db8::1]/', 'https://[2001:db8::1]:8443/x']) {
      await expectFailure(phone.http.request({ app: BROWSER, method: 'GET', url }), 'proxy-error');
    }
    assert.deepEqual(
      proxy.heads.map((h) => h.split('\r\n')),
      [
        ['CONNECT [2001:db8::1]:443 HTTP/1.1', 'Host: [2001:db8::1]:443'],
        ['CONNECT [2001:db8::1]:8443 HTTP/1.1', 'Host: [2001:db8::1]:8443'],
      ],
    );
    // Direct: the sink gets the bare address; logcat and the error bracket it.
    await sh(phone, 'settings put global http_proxy :0');
    const seen: unknown[] = [];
    phone.http.sink = (t) => void seen.push(t);
    const e = await expectFailure(
      phone.http.request({ app: BROWSER, method: 'GET', url: 'http://[2001:db8::1]/' }),
      'refused',
    );
    assert.deepEqual(seen, [{ host: '2001:db8::1', port: 80, app: BROWSER, via: 'direct' }]);
    assert.match(e.message, /\[2001:db8::1\]:80/);
    assert.match(phone.logcat.entries().at(-1)?.message ?? '', /connection to \[2001:db8::1\]:80 \(direct\)/);
  });

  it("sends Android's default User-Agent (Dalvik, from the phone's props) unless the app set one", async () => {
    const phone = makePhone();
    const srv = recordingServer('HTTP/1.1 204 No Content\r\n\r\n');
    phone.net.listen('tcp:8080', srv.handler);
    await phone.http.request({ app: 'com.miui.analytics', method: 'GET', url: 'http://127.0.0.1:8080/' });
    await phone.http.request({
      app: BROWSER,
      method: 'GET',
      url: 'http://127.0.0.1:8080/',
      headers: { 'user-agent': 'Mozilla/5.0 test' },
    });
    const ua = (head: string): string[] =>
      head
        .split('\r\n')
        .filter((l) => /^user-agent:/i.test(l))
        .map((l) => l.slice(l.indexOf(':') + 1).trim());
    assert.deepEqual(ua(srv.heads[0] ?? ''), [
      'Dalvik/2.1.0 (Linux; U; Android 10; Redmi Note 8 Build/QKQ1.200114.002)',
    ]);
    assert.deepEqual(ua(srv.heads[1] ?? ''), ['Mozilla/5.0 test']);
    // From the props as they are now.
    const hyper = makePhone('xiaomi-13-hyperos-rooted');
    const p = hyper.props;
    assert.equal(
      hyper.http.dalvikUserAgent(),
      `Dalvik/2.1.0 (Linux; U; Android ${p.get('ro.build.version.release')}; ${p.get('ro.product.model')} Build/${p.get('ro.build.id')})`,
    );
    assert.doesNotMatch(hyper.http.dalvikUserAgent(), /Android 10;/);
  });
});

describe('netstack: trust store', () => {
  let ca: { key: string; cert: string };
  before(async () => {
    ca = await generateCACertificate({ subject: { commonName: 'phonehome test CA' } });
  });

  it('computes subject_hash_old like openssl', function () {
    const cert = parsePemCertificate(ca.cert);
    assert.ok(cert);
    const hash = subjectHashOld(cert);
    assert.match(hash, /^[0-9a-f]{8}$/);
    if (!hasOpenssl()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'phonehome-ca-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.cert);
      const out = execFileSync('openssl', [
        'x509',
        '-noout',
        '-subject_hash_old',
        '-in',
        join(dir, 'ca.pem'),
      ]);
      assert.equal(out.toString().trim(), hash);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads <hash>.N PEM certificates and skips junk, misnamed files and gaps', () => {
    const phone = makePhone();
    const fs = phone.fs;
    const hash = subjectHashOld(parsePemCertificate(ca.cert)!);
    const dir = '/data/local/tmp/cas';
    fs.mkdir(dir, { parents: true });
    fs.writeFile(`${dir}/${hash}.0`, ca.cert);
    fs.writeFile(`${dir}/${hash}.2`, ca.cert); // after a gap: never probed
    fs.writeFile(`${dir}/0badc0de.0`, ca.cert); // wrong hash
    fs.writeFile(`${dir}/ca.pem`, ca.cert); // not an alias
    fs.writeFile(
      `${dir}/11111111.0`,
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n',
    );
    fs.writeFile(`${dir}/22222222.0`, 'hello');
    const r = readCaDirectory(fs, dir);
    assert.deepEqual(
      r.cas.map((c) => c.path),
      [`${dir}/${hash}.0`],
    );
    const reasons = Object.fromEntries(r.skipped.map((s) => [s.path.slice(dir.length + 1), s.reason]));
    assert.equal(reasons['11111111.0'], 'not a PEM certificate');
    assert.equal(reasons['22222222.0'], 'not a PEM certificate');
    assert.match(reasons['0badc0de.0'] ?? '', /subject hash is/);
    assert.equal(reasons['ca.pem'], 'not named <subject_hash_old>.<n>');
    assert.equal(reasons[`${hash}.2`], 'index after a gap');
    // The firmware's placeholder CAs are not certificates: skipped, as Android skips them.
    assert.deepEqual(phone.http.trustStore('com.mi.globalbrowser').cas, []);
    assert.ok(phone.http.trustStore('com.mi.globalbrowser').skipped.length >= 5);
  });

  it('user CAs count only for apps that trust them; system CAs need system_file and a readable file', () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const hash = subjectHashOld(parsePemCertificate(ca.cert)!);
    phone.fs.provision(() => phone.fs.writeFile(`${USER_CA_DIR}/${hash}.0`, ca.cert, { mkdirs: true }));
    assert.equal(phone.http.trustStore('com.mi.globalbrowser').cas.length, 0);
    phone.http.trustsUserCas = (pkg) => pkg === 'com.mi.globalbrowser';
    assert.equal(phone.http.trustStore('com.mi.globalbrowser').cas.length, 1);
    phone.http.trustsUserCas = () => false;

    const sys = '/system/etc/security/cacerts';
    phone.fs.provision(() => phone.fs.writeFile(`${sys}/${hash}.0`, ca.cert, { mode: 0o600 }));
    assert.equal(
      phone.http.trustStore('com.mi.globalbrowser').cas.length,
      0,
      'mode 600: the app cannot read it',
    );
    phone.fs.provision(() => phone.fs.chmod(`${sys}/${hash}.0`, 0o644));
    assert.equal(phone.http.trustStore('com.mi.globalbrowser').cas.length, 1);
    phone.fs.provision(() => phone.fs.setLabel(`${sys}/${hash}.0`, 'u:object_r:tmpfs:s0'));
    assert.equal(phone.http.trustStore('com.mi.globalbrowser').cas.length, 0, 'wrong SELinux label');
  });
});

describe('netstack: trust store probing (Conscrypt stops only at a missing hash.N)', () => {
  let ca: { key: string; cert: string };
  let other: { key: string; cert: string };
  before(async () => {
    ca = await generateCACertificate({ subject: { commonName: 'phonehome probe CA' } });
    other = await generateCACertificate({ subject: { commonName: 'phonehome other CA' } });
  });

  const paths = (r: { cas: Array<{ path: string }> }): string[] => r.cas.map((c) => c.path);

  it('a hash.0 that is not a PEM certificate, or holds another subject, does not hide hash.1', () => {
    const phone = makePhone();
    const fs = phone.fs;
    const hash = subjectHashOld(parsePemCertificate(ca.cert)!);
    assert.notEqual(subjectHashOld(parsePemCertificate(other.cert)!), hash);
    const dir = '/data/local/tmp/probe';
    fs.mkdir(dir, { parents: true });
    fs.writeFile(`${dir}/${hash}.0`, 'junk');
    fs.writeFile(`${dir}/${hash}.1`, ca.cert);
    let r = readCaDirectory(fs, dir);
    assert.deepEqual(paths(r), [`${dir}/${hash}.1`], 'bad PEM at .0');
    assert.deepEqual(
      r.skipped.map((x) => x.reason),
      ['not a PEM certificate'],
    );

    fs.writeFile(`${dir}/${hash}.0`, other.cert);
    r = readCaDirectory(fs, dir);
    assert.deepEqual(paths(r), [`${dir}/${hash}.1`], 'another subject at .0');
    assert.match(r.skipped[0]?.reason ?? '', /subject hash is/);

    // A missing index still ends the probe; a directory is no file either.
    fs.unlink(`${dir}/${hash}.0`);
    r = readCaDirectory(fs, dir);
    assert.deepEqual(paths(r), []);
    assert.deepEqual(r.skipped, [{ path: `${dir}/${hash}.1`, reason: 'index after a gap' }]);
    fs.mkdir(`${dir}/${hash}.0`);
    assert.deepEqual(paths(readCaDirectory(fs, dir)), []);
  });

  it('an unreadable or mislabelled system hash.0 does not hide hash.1', () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const hash = subjectHashOld(parsePemCertificate(ca.cert)!);
    const sys = phone.profile.systemCaDir;
    const trusted = (): string[] => phone.http.trustStore(BROWSER).cas.map((c) => c.path);
    phone.fs.provision(() => {
      phone.fs.writeFile(`${sys}/${hash}.0`, other.cert, { mode: 0o600 });
      phone.fs.writeFile(`${sys}/${hash}.1`, ca.cert);
    });
    assert.deepEqual(trusted(), [`${sys}/${hash}.1`], 'unreadable .0');
    phone.fs.provision(() => {
      phone.fs.chmod(`${sys}/${hash}.0`, 0o644);
      phone.fs.setLabel(`${sys}/${hash}.0`, 'u:object_r:tmpfs:s0');
    });
    assert.ok(deviceState(phone).selinuxEnforcing, 'the profile enforces SELinux');
    assert.deepEqual(trusted(), [`${sys}/${hash}.1`], 'mislabelled .0');
    const skipped = phone.http.trustStore(BROWSER).skipped.find((x) => x.path === `${sys}/${hash}.0`);
    assert.match(skipped?.reason ?? '', /SELinux label/);
  });
});

describe('netstack: mount namespaces', () => {
  const APEX = '/apex/com.android.conscrypt/cacerts';
  const SYS = '/system/etc/security/cacerts';

  it('zygotes copy init at boot; apps copy their zygote at fork time', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const procs = phone.processes;
    const zygote64 = procs.byName('zygote64')[0]!;
    const zygote = procs.byName('zygote')[0]!;
    const init = procs.byName('init')[0]!;
    const early = procs.byName('com.android.systemui')[0]!;
    const nsZ = procs.mountNamespace(zygote64.pid)!;
    assert.ok(procs.mountNamespace(init.pid)!.isInit);
    assert.ok(!nsZ.isInit);
    assert.notEqual(procs.mountNamespace(zygote.pid), nsZ);
    assert.notEqual(procs.mountNamespace(early.pid), nsZ);

    // A bind mount inside zygote64's namespace after systemui started.
    const zfs = phone.fs.inNamespace(nsZ);
    zfs.mount({ source: '/data/local/tmp', target: APEX, type: 'bind' });
    assert.ok(zfs.isMountPoint(APEX));
    assert.ok(!phone.fs.isMountPoint(APEX), 'not in init');
    assert.ok(
      !phone.fs.inNamespace(procs.mountNamespace(early.pid)!).isMountPoint(APEX),
      'not in an older app',
    );
    const { proc: late } = procs.start('com.mi.globalbrowser');
    assert.ok(
      phone.fs.inNamespace(procs.mountNamespace(late.pid)!).isMountPoint(APEX),
      'a later app copies it',
    );
    assert.match(zfs.readFile('/proc/self/mounts').toString(), /\/apex\/com\.android\.conscrypt\/cacerts/);
    assert.doesNotMatch(phone.fs.readFile('/proc/mounts').toString(), /conscrypt\/cacerts/);
  });

  it('init mounts propagate to every namespace except under /apex', () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const app = phone.processes.byName('com.miui.home')[0]!;
    const appFs = phone.fs.inNamespace(phone.processes.mountNamespace(app.pid)!);
    phone.fs.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    assert.deepEqual(appFs.readdir(SYS), [], 'the tmpfs propagates');
    phone.fs.mount({ source: SYS, target: APEX, type: 'bind' });
    assert.ok(appFs.readdir(APEX).length > 0, 'the APEX bind mount does not');
    phone.fs.umount(SYS);
    assert.ok(appFs.readdir(SYS).length > 0, 'the unmount propagates too');
  });

  it('/proc/PID/ns/mnt exists for every process and goes with it; reboot starts over', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    for (const p of phone.processes.list()) assert.ok(phone.fs.exists(`/proc/${p.pid}/ns/mnt`), p.name);
    const init = (await sh(phone, 'cat /proc/1/ns/mnt')).stdout;
    assert.equal(init, 'mnt:[4026531840]\n');
    const z = phone.processes.zygotes()[0]!;
    assert.notEqual((await sh(phone, `cat /proc/${z}/ns/mnt`)).stdout, init);
    const { proc } = phone.processes.start('com.mi.globalbrowser');
    assert.ok(phone.fs.exists(`/proc/${proc.pid}/ns/mnt`));
    phone.processes.stop('com.mi.globalbrowser');
    assert.ok(!phone.fs.exists(`/proc/${proc.pid}`));

    const nsZ = phone.processes.mountNamespace(z)!;
    phone.fs.inNamespace(nsZ).mount({ source: 'tmpfs', target: APEX, type: 'tmpfs' });
    phone.resetForBoot();
    for (const p of phone.processes.list()) assert.ok(phone.fs.exists(`/proc/${p.pid}/ns/mnt`), p.name);
    for (const ns of phone.fs.namespaces()) {
      assert.ok(
        ns.table.list().every((m) => m.kind === 'base'),
        `namespace ${ns.id} is clean`,
      );
    }
  });

  it('nsenter --mount is root only and runs the command in that namespace', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const z = phone.processes.zygotes()[0]!;
    const app = phone.processes.byName('com.miui.home')[0]!;
    const denied = await sh(phone, `nsenter --mount=/proc/${z}/ns/mnt -- mount --bind ${SYS} ${APEX}`);
    assert.equal(denied.status, 1);
    assert.match(denied.stderr, /Operation not permitted/);

    const script = `nsenter --mount=/proc/${app.pid}/ns/mnt -- /bin/mount --bind /data/local/tmp ${APEX}`;
    const ok = await sh(phone, script, ROOT);
    assert.equal(ok.status, 0, ok.stderr);
    const appFs = phone.fs.inNamespace(phone.processes.mountNamespace(app.pid)!);
    assert.ok(appFs.isMountPoint(APEX));
    assert.ok(!phone.fs.isMountPoint(APEX), 'the caller stays in init');
    assert.ok(!phone.fs.inNamespace(phone.processes.mountNamespace(z)!).isMountPoint(APEX));

    // -t PID -m, and a shell inside: it sees the namespace's mounts.
    const inside = await sh(
      phone,
      `nsenter -t ${app.pid} -m -- sh -c 'grep conscrypt/cacerts /proc/self/mounts'`,
      ROOT,
    );
    assert.equal(inside.status, 0, inside.stderr);
    assert.match(inside.stdout, /conscrypt\/cacerts/);
    assert.equal((await sh(phone, 'grep -c conscrypt/cacerts /proc/self/mounts', ROOT)).stdout, '0\n');
    const gone = await sh(phone, 'nsenter --mount=/proc/99999/ns/mnt -- true', ROOT);
    assert.equal(gone.status, 1);
  });

  it('Android 14 apps read the APEX store; a tmpfs over the /system dir does not change it', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const { cert } = await generateCACertificate({ subject: { commonName: 'ns test' } });
    const name = `${subjectHashOld(parsePemCertificate(cert)!)}.0`;
    phone.fs.writeFile(`/data/local/tmp/${name}`, cert);
    const r = await sh(
      phone,
      `mount -t tmpfs tmpfs ${SYS} && cp ${APEX}/* ${SYS}/ && cp /data/local/tmp/${name} ${SYS}/ && chcon -R u:object_r:system_file:s0 ${SYS}`,
      ROOT,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(phone.http.trustStore('com.mi.globalbrowser').cas.length, 0);
    for (const pid of [...phone.processes.zygotes(), phone.processes.byName('com.miui.home')[0]!.pid]) {
      const b = await sh(
        phone,
        `nsenter --mount=/proc/${pid}/ns/mnt -- /bin/mount --bind ${SYS} ${APEX}`,
        ROOT,
      );
      assert.equal(b.status, 0, b.stderr);
    }
    assert.equal(
      phone.http.trustStore('com.mi.globalbrowser').cas.length,
      1,
      'a new browser process copies zygote64',
    );
    assert.equal(phone.http.trustStore('com.miui.home').cas.length, 1);
    assert.equal(phone.http.trustStore('com.android.systemui').cas.length, 0, 'not entered');
  });
});
