/**
 * The capture file (src/capture/writers.ts) read back by inspect's reader (src/inspect/read.ts),
 * which was written separately against the format (src/capture/format.ts): HAR 1.2 alone since
 * issue 14, with non-UTF-8 bodies as base64 and every field of every record kind surviving; and a
 * capture directory in the old format (NDJSON + bodies.bin) still read.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import { readCaptureFile } from '../../../src/inspect/read.ts';
import { BODIES_FILE, HAR_FILE, NDJSON_FILE } from '../../../src/capture/format.ts';
import { CaptureWriter } from '../../../src/capture/writers.ts';

// HAR and NDJSON as parsed JSON: walked field by field, checked at run time.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const binary = gzipSync(Buffer.from('{"event":"search","search_word":"canary-äöü"}'));

const RECORDS: CaptureRecord[] = [
  {
    type: 'exchange',
    index: 0,
    startedAt: '2026-01-02T03:04:05.006Z',
    method: 'POST',
    url: 'https://sa.api.intl.miui.com/sa?project=global_browser&r=GB',
    host: 'sa.api.intl.miui.com',
    httpVersion: '1.1',
    request: {
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'sa.api.intl.miui.com' },
      body: Buffer.from('crc=1&gzip=1&data_list=H4sIAAAAAAAAA4uOBQApu0wNAgAAAA%3D%3D'),
      bodySize: 59,
      truncated: false,
    },
    response: { status: 200, headers: { 'content-type': 'text/plain' }, bodySize: 0, source: 'local' },
    tls: { sni: 'sa.api.intl.miui.com' },
  },
  {
    type: 'tls-failure',
    index: 1,
    startedAt: '2026-01-02T03:04:05.100Z',
    host: 'data.mistat.intl.xiaomi.com',
    cause: 'cert-rejected',
    remoteAddress: '127.0.0.1',
  },
  {
    type: 'exchange',
    index: 2,
    startedAt: '2026-01-02T03:04:05.200Z',
    method: 'POST',
    url: 'http://api.ad.intl.xiaomi.com/getSplashScreenAds',
    host: 'api.ad.intl.xiaomi.com',
    httpVersion: '1.1',
    request: {
      headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' },
      body: binary,
      bodySize: binary.length,
      truncated: false,
    },
    response: { status: 201, headers: { 'x-up': '1' }, bodySize: 12, source: 'upstream' },
  },
  {
    type: 'exchange',
    index: 3,
    startedAt: '2026-01-02T03:04:05.300Z',
    method: 'GET',
    url: 'https://tracking.intl.miui.com/track/spock?a=1&b',
    host: 'tracking.intl.miui.com',
    httpVersion: '1.1',
    request: { headers: {}, body: Buffer.alloc(0), bodySize: 0, truncated: false },
    response: null,
    error: 'aborted by the client or upstream',
    tls: { sni: 'tracking.intl.miui.com' },
  },
  {
    type: 'exchange',
    index: 4,
    startedAt: '2026-01-02T03:04:05.400Z',
    method: 'POST',
    url: 'http://sa.api.intl.miui.com/sa',
    host: 'sa.api.intl.miui.com',
    httpVersion: '1.1',
    request: {
      headers: { 'content-length': '99999999' },
      body: Buffer.alloc(0),
      bodySize: 99999999,
      truncated: true,
    },
    response: { status: 200, headers: {}, bodySize: 0, source: 'local' },
  },
  {
    // chunked and dropped at the cap: size unknown
    type: 'exchange',
    index: 5,
    startedAt: '2026-01-02T03:04:05.500Z',
    method: 'PUT',
    url: 'https://sa.api.intl.miui.com:8443/up',
    host: 'sa.api.intl.miui.com',
    httpVersion: '1.1',
    request: {
      // repeated headers as the session joins them, in order; names as recorded
      headers: { 'transfer-encoding': 'chunked', 'x-dup': 'b, a', cookie: 'z=1; y=2', 'X-Mixed': 'v' },
      body: Buffer.alloc(0),
      bodySize: -1,
      truncated: true,
    },
    // a response and an error together; `set-cookie` repeated
    response: { status: 502, headers: { 'set-cookie': 's=1, t=2' }, bodySize: 7, source: 'upstream' },
    error: 'upstream reset after the headers',
    tls: {},
  },
  {
    // a host the URL does not give back (URL would lowercase it / rewrite the number)
    type: 'exchange',
    index: 6,
    startedAt: '2026-01-02T03:04:05.600Z',
    method: 'POST',
    url: 'http://1.2.3/x?q',
    host: 'Collector.EXAMPLE',
    httpVersion: '2.0',
    request: {
      headers: {},
      body: Buffer.from([0xef, 0xbb, 0xbf, 0x41, 0x00]),
      bodySize: 5,
      truncated: false,
    },
    response: { status: 204, headers: {}, bodySize: 0, source: 'local' },
  },
  {
    type: 'exchange',
    index: 7,
    startedAt: '2026-01-02T03:04:05.700Z',
    method: 'GET',
    url: 'http://10.0.2.2:8080/ping',
    host: '10.0.2.2',
    httpVersion: '1.0',
    request: { headers: { host: '10.0.2.2:8080' }, body: Buffer.alloc(0), bodySize: 0, truncated: false },
    response: null,
  },
  {
    // no SNI: the host is the client's address, which is no URL host
    type: 'tls-failure',
    index: 8,
    startedAt: '2026-01-02T03:04:05.800Z',
    host: '::ffff:127.0.0.1',
    cause: 'closed',
  },
  {
    // a URL that does not parse (a port out of range): the host cannot come from it
    type: 'exchange',
    index: 9,
    startedAt: '2026-01-02T03:04:05.900Z',
    method: 'GET',
    url: 'http://sa.api.intl.miui.com:99999/',
    host: 'sa.api.intl.miui.com',
    httpVersion: '1.1',
    request: { headers: {}, body: Buffer.alloc(0), bodySize: 0, truncated: false },
    response: null,
  },
];

async function readAll(path: string): Promise<{ records: CaptureRecord[]; warnings: string[] }> {
  const records: CaptureRecord[] = [];
  const warnings: string[] = [];
  for await (const r of readCaptureFile(path, { onWarning: (w) => warnings.push(w) })) records.push(r);
  return { records, warnings };
}

describe('capture writers → read.ts', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-writers-'));
    const w = new CaptureWriter(dir, { name: 'phonehome', version: '0.1.0' });
    for (const r of RECORDS) w.write(r);
    await w.close();
    assert.equal(w.error, null);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the capture directory is the HAR alone and reads back every record exactly', async () => {
    assert.ok(existsSync(join(dir, HAR_FILE)));
    assert.equal(existsSync(join(dir, NDJSON_FILE)), false, 'no NDJSON since issue 14');
    assert.equal(existsSync(join(dir, BODIES_FILE)), false, 'no bodies.bin since issue 14');
    const { records, warnings } = await readAll(dir);
    assert.deepEqual(warnings, []);
    assert.deepEqual(records, RECORDS);
  });

  it('writes what HAR has no field for only where needed', () => {
    const har = JSON.parse(readFileSync(join(dir, HAR_FILE), 'utf8')) as { log: Json };
    const e = har.log.entries as Json[];
    assert.equal(e[0]!._host, undefined, 'the host is in the URL');
    assert.deepEqual(e[0]!._tls, { sni: 'sa.api.intl.miui.com' });
    assert.deepEqual(e[1]!._tlsFailure, { cause: 'cert-rejected', remoteAddress: '127.0.0.1' });
    assert.equal(e[1]!._host, undefined);
    assert.equal(e[2]!._tls, undefined, 'plain HTTP');
    assert.equal(e[5]!._host, undefined, 'host:port in the URL');
    assert.equal(e[5]!.request._bodySize, -1);
    assert.equal(e[6]!._host, 'Collector.EXAMPLE');
    assert.equal(e[7]!._host, undefined, 'a plain IPv4 host');
    assert.equal(e[8]!._host, '::ffff:127.0.0.1');
    assert.equal(e[9]!._host, 'sa.api.intl.miui.com');
  });

  it('a directory reused from an old run loses its stale NDJSON and bodies.bin', async () => {
    const reused = mkdtempSync(join(tmpdir(), 'phonehome-writers-reused-'));
    try {
      writeFileSync(
        join(reused, NDJSON_FILE),
        '{"type":"tls-failure","index":0,"host":"stale","cause":"x"}\n',
      );
      writeFileSync(join(reused, BODIES_FILE), 'stale');
      const w = new CaptureWriter(reused, { name: 'phonehome', version: '0.1.0' });
      w.write(RECORDS[0]!);
      await w.close();
      assert.equal(existsSync(join(reused, NDJSON_FILE)), false);
      assert.equal(existsSync(join(reused, BODIES_FILE)), false);
      assert.deepEqual((await readAll(reused)).records, [RECORDS[0]]);
    } finally {
      rmSync(reused, { recursive: true, force: true });
    }
  });

  it('a capture directory in the old format (NDJSON + bodies.bin) still reads back every record', async () => {
    const old = mkdtempSync(join(tmpdir(), 'phonehome-writers-old-'));
    try {
      // Written here the way the writer did before issue 14.
      const lines: string[] = [];
      const bodies: Buffer[] = [];
      let offset = 0;
      for (const r of RECORDS) {
        if (r.type !== 'exchange') {
          lines.push(JSON.stringify(r));
          continue;
        }
        const b = r.request.body;
        const ref = b.length > 0 ? { file: BODIES_FILE, offset, length: b.length } : null;
        bodies.push(b);
        offset += b.length;
        lines.push(JSON.stringify({ ...r, request: { ...r.request, body: ref } }));
      }
      writeFileSync(join(old, NDJSON_FILE), `${lines.join('\n')}\n`);
      writeFileSync(join(old, BODIES_FILE), Buffer.concat(bodies));
      const { records, warnings } = await readAll(old);
      assert.deepEqual(warnings, []);
      assert.deepEqual(records, RECORDS);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });

  it('the HAR parses as JSON, is HAR 1.2 with every required field on every entry', () => {
    const har = JSON.parse(readFileSync(join(dir, HAR_FILE), 'utf8')) as { log: Json };
    const log = har.log;
    assert.equal(log.version, '1.2');
    assert.equal(typeof log.creator.name, 'string');
    assert.equal(typeof log.creator.version, 'string');
    assert.ok(Array.isArray(log.entries));
    assert.equal(log.entries.length, RECORDS.length);
    const nameValues = (v: unknown): void => {
      assert.ok(Array.isArray(v));
      for (const x of v as Array<Record<string, unknown>>) {
        assert.equal(typeof x.name, 'string');
        assert.equal(typeof x.value, 'string');
      }
    };
    for (const e of log.entries as Array<Json>) {
      assert.ok(!Number.isNaN(Date.parse(e.startedDateTime)), e.startedDateTime);
      assert.equal(typeof e.time, 'number');
      const q = e.request;
      for (const k of ['method', 'url', 'httpVersion']) assert.equal(typeof q[k], 'string', `request.${k}`);
      assert.ok(Array.isArray(q.cookies));
      nameValues(q.headers);
      nameValues(q.queryString);
      assert.equal(typeof q.headersSize, 'number');
      assert.equal(typeof q.bodySize, 'number');
      if (q.postData) {
        assert.equal(typeof q.postData.mimeType, 'string');
        assert.equal(typeof q.postData.text, 'string');
      }
      const s = e.response;
      assert.equal(typeof s.status, 'number');
      for (const k of ['statusText', 'httpVersion', 'redirectURL'])
        assert.equal(typeof s[k], 'string', `response.${k}`);
      assert.ok(Array.isArray(s.cookies));
      nameValues(s.headers);
      assert.equal(typeof s.content.size, 'number');
      assert.equal(typeof s.content.mimeType, 'string');
      assert.equal(typeof s.headersSize, 'number');
      assert.equal(typeof s.bodySize, 'number');
      assert.equal(typeof e.cache, 'object');
      for (const k of ['send', 'wait', 'receive']) {
        assert.equal(typeof e.timings[k], 'number');
        assert.ok(e.timings[k] >= 0, `timings.${k} >= 0`);
      }
    }
    const [sensors, tls, ads, tracking] = log.entries as Array<Json>;
    assert.deepEqual(sensors!.request.queryString, [
      { name: 'project', value: 'global_browser' },
      { name: 'r', value: 'GB' },
    ]);
    assert.equal(
      sensors!.request.postData.text,
      'crc=1&gzip=1&data_list=H4sIAAAAAAAAA4uOBQApu0wNAgAAAA%3D%3D',
    );
    assert.equal(sensors!.request.postData._encoding, undefined, 'UTF-8 text as is');
    assert.equal(tls!.request.method, 'CONNECT');
    assert.equal(tls!.request.url, 'https://data.mistat.intl.xiaomi.com/');
    assert.equal(tls!._tlsFailure.cause, 'cert-rejected');
    assert.equal(tls!.response.status, 0);
    assert.equal(ads!.request.postData._encoding, 'base64', 'a binary body is base64');
    assert.ok(Buffer.from(ads!.request.postData.text, 'base64').equals(binary));
    assert.equal(tracking!.response.status, 0);
    assert.equal(tracking!._error, 'aborted by the client or upstream');
  });

  it('a HAR left open by a writer that was never closed is repaired by the reader', async () => {
    const open = mkdtempSync(join(tmpdir(), 'phonehome-writers-open-'));
    try {
      const w = new CaptureWriter(open, { name: 'phonehome', version: '0.1.0' });
      w.write(RECORDS[0]!);
      w.write(RECORDS[1]!);
      // Not closed: wait (bounded) until the stream has flushed what was written.
      const written = (): boolean => {
        try {
          return readFileSync(join(open, HAR_FILE), 'utf8').includes('cert-rejected');
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 200 && !written(); i++) await new Promise((r) => setTimeout(r, 10));
      const { records, warnings } = await readAll(join(open, HAR_FILE));
      assert.equal(records.length, 2);
      assert.match(warnings.join('\n'), /unterminated/);
      await w.close();
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });
});
