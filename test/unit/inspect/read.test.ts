import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CaptureFileError, readCaptureFile, repairHar, sniffFormat } from '../../../src/inspect/read.ts';
import { exchange, harText, readAll, writeNdjsonCapture } from './helpers.ts';

async function rejectsWith(path: string, pattern: RegExp): Promise<CaptureFileError> {
  try {
    await readAll(path);
  } catch (err) {
    assert.ok(err instanceof CaptureFileError, `expected a CaptureFileError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.equal(err.userFacing, true);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`reading ${path} did not fail`);
}

describe('capture readers', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-read-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  describe('NDJSON with bodies.bin', () => {
    it('reads records in order with their bodies loaded from bodies.bin', async () => {
      const binary = gzipSync(Buffer.from('{"a":1}'));
      writeNdjsonCapture(dir, [
        { url: 'https://sa.example.com/sa?project=p', body: 'crc=1&data_list=abc', headers: { host: 'x' } },
        { type: 'tls-failure', host: 'pinned.example.com', cause: 'cert-rejected' },
        { method: 'GET', url: 'http://h.example.com/x' },
        { url: 'https://b.example.com/', body: binary, truncated: true, bodySize: 5000 },
      ]);
      const { records, warnings } = await readAll(join(dir, 'exchanges.ndjson'));
      assert.deepEqual(warnings, []);
      assert.deepEqual(
        records.map((r) => [r.type, r.index]),
        [
          ['exchange', 0],
          ['tls-failure', 1],
          ['exchange', 2],
          ['exchange', 3],
        ],
      );
      const first = exchange(records[0]);
      assert.ok(Buffer.isBuffer(first.request.body));
      assert.equal(first.request.body.toString(), 'crc=1&data_list=abc');
      assert.equal(first.host, 'sa.example.com');
      assert.deepEqual(first.request.headers, { host: 'x' });
      const tls = records[1]!;
      assert.ok(tls.type === 'tls-failure');
      assert.equal(tls.host, 'pinned.example.com');
      assert.equal(tls.cause, 'cert-rejected');
      const empty = exchange(records[2]);
      assert.equal(empty.method, 'GET');
      assert.equal(empty.request.body.length, 0);
      const last = exchange(records[3]);
      assert.ok(last.request.body.equals(binary));
      assert.equal(last.request.truncated, true);
      assert.equal(last.request.bodySize, 5000);
    });

    it('accepts the capture directory itself', async () => {
      writeNdjsonCapture(dir, [{ url: 'https://a.example.com/', body: 'x=1' }]);
      writeFileSync(join(dir, 'capture.har'), harText([{ url: 'https://other.example.com/' }]));
      const { records } = await readAll(dir);
      assert.equal(records.length, 1);
      assert.equal(exchange(records[0]).url, 'https://a.example.com/');
    });

    it('ignores an incomplete last line with a warning', async () => {
      const lines = writeNdjsonCapture(dir, [
        { url: 'https://a.example.com/', body: 'x=1' },
        { url: 'https://b.example.com/', body: 'y=2' },
      ]);
      writeFileSync(join(dir, 'exchanges.ndjson'), `${lines[0]}\n${lines[1]!.slice(0, 40)}`);
      const { records, warnings } = await readAll(join(dir, 'exchanges.ndjson'));
      assert.equal(records.length, 1);
      assert.equal(exchange(records[0]).request.body.toString(), 'x=1');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /exchanges\.ndjson:2: the last line is incomplete/);
    });

    it('fails on a broken line in the middle, naming file:line', async () => {
      const lines = writeNdjsonCapture(dir, [
        { url: 'https://a.example.com/' },
        { url: 'https://b.example.com/' },
      ]);
      writeFileSync(join(dir, 'exchanges.ndjson'), `${lines[0]}\n{"type":"exch\n${lines[1]}\n`);
      const err = await rejectsWith(join(dir, 'exchanges.ndjson'), /exchanges\.ndjson:2: not a JSON record/);
      assert.match(err.hint ?? '', /fix or delete that line/);
    });

    it('warns and leaves the body empty when bodies.bin is short or the reference leaves the directory', async () => {
      const lines = writeNdjsonCapture(dir, [{ url: 'https://a.example.com/', body: 'hello world' }]);
      const escaping = JSON.parse(lines[0]!) as { request: { body: unknown } };
      escaping.request.body = { file: '../secret', offset: 0, length: 4 };
      writeFileSync(join(dir, 'bodies.bin'), 'hello');
      writeFileSync(join(dir, 'exchanges.ndjson'), `${lines[0]}\n${JSON.stringify(escaping)}\n`);
      const { records, warnings } = await readAll(join(dir, 'exchanges.ndjson'));
      assert.equal(exchange(records[0]).request.body.toString(), 'hello');
      assert.equal(exchange(records[1]).request.body.length, 0);
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(warnings[0]!, /only 5 bytes of the body were read/);
      assert.match(warnings[1]!, /not beside the NDJSON/);
    });

    it('reads many records through one bodies.bin handle', async () => {
      const specs = Array.from({ length: 2000 }, (_, i) => ({
        url: `https://a.example.com/${i}`,
        body: `n=${i}`,
      }));
      writeNdjsonCapture(dir, specs);
      const { records } = await readAll(dir);
      assert.equal(records.length, 2000);
      for (let i = 0; i < 2000; i += 199)
        assert.equal(exchange(records[i]).request.body.toString(), `n=${i}`);
    });
  });

  describe('HAR', () => {
    const gz = gzipSync(Buffer.from('{"k":"v"}'));

    it('reads our HAR: UTF-8 and base64 bodies, a TLS failure, truncation and sizes', async () => {
      const file = join(dir, 'capture.har');
      writeFileSync(
        file,
        harText([
          { url: 'https://a.example.com/sa?x=1', body: 'a=1&b=ü', headers: { 'content-type': 'text/plain' } },
          { url: 'https://b.example.com/up', body: gz, truncated: true, bodySize: 99999 },
          { type: 'tls-failure', host: 'pinned.example.com', cause: 'cert-rejected' },
        ]),
      );
      const { records, warnings } = await readAll(dir); // directory without NDJSON → capture.har
      assert.deepEqual(warnings, []);
      assert.equal(records.length, 3);
      const a = exchange(records[0]);
      assert.equal(a.request.body.toString('utf8'), 'a=1&b=ü');
      assert.equal(a.request.headers['content-type'], 'text/plain');
      assert.equal(a.host, 'a.example.com');
      assert.equal(a.response?.status, 200);
      const b = exchange(records[1]);
      assert.ok(b.request.body.equals(gz), 'base64 body decoded to the original bytes');
      assert.equal(b.request.truncated, true);
      assert.equal(b.request.bodySize, 99999);
      const t = records[2]!;
      assert.ok(t.type === 'tls-failure', JSON.stringify(t));
      assert.equal(t.host, 'pinned.example.com');
      assert.equal(t.cause, 'cert-rejected');
      assert.equal(t.index, 2);
    });

    for (const [name, cut] of [
      ['a trailing comma', (t: string) => t.replace(/\n\]\}\}\n$/, ',\n')],
      ['half an entry', (t: string) => t.replace(/\n\]\}\}\n$/, ',\n{"_index":2,"request":{"method":"PO')],
      [
        'a cut inside a string with an escaped quote',
        (t: string) => t.replace(/\n\]\}\}\n$/, ',\n{"a":"x\\"'),
      ],
      ['no trailing newline', (t: string) => t.replace(/\n\]\}\}\n$/, '')],
    ] as const) {
      it(`repairs an unterminated HAR with ${name}, with a warning`, async () => {
        const file = join(dir, 'cut.har');
        writeFileSync(
          file,
          cut(
            harText([
              { url: 'https://a.example.com/', body: 'a=1' },
              { url: 'https://b.example.com/', body: 'b=}]"' },
            ]),
          ),
        );
        const { records, warnings } = await readAll(file);
        assert.deepEqual(
          records.map((r) => exchange(r).url),
          ['https://a.example.com/', 'https://b.example.com/'],
        );
        assert.equal(exchange(records[1]).request.body.toString(), 'b=}]"');
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.match(warnings[0]!, /unterminated.*2 complete entries/);
      });
    }

    it('repairs a HAR cut before its first entry to an empty capture', async () => {
      const file = join(dir, 'cut.har');
      writeFileSync(
        file,
        '{"log":{"version":"1.2","creator":{"name":"phonehome","version":"0"},"entries":[\n{"_ind',
      );
      const { records, warnings } = await readAll(file);
      assert.deepEqual(records, []);
      assert.equal(warnings.length, 1);
      assert.equal(
        repairHar('{"log":{"version":"1.2","entries":[{"a":1},{"b":')?.text,
        '{"log":{"version":"1.2","entries":[{"a":1}]}}',
      );
      assert.equal(repairHar('{"nolog":['), null);
    });

    it('reads a Chrome DevTools HAR: params-only, text-only and missing bodies, HTTP/2 pseudo-headers', async () => {
      const chrome = {
        log: {
          version: '1.2',
          creator: { name: 'WebInspector', version: '537.36' },
          pages: [],
          entries: [
            {
              startedDateTime: '2026-01-01T00:00:00.000Z',
              request: {
                method: 'POST',
                url: 'https://sa.example.com/sa?project=p',
                httpVersion: 'http/2.0',
                headers: [
                  { name: ':authority', value: 'sa.example.com' },
                  { name: 'Content-Type', value: 'application/x-www-form-urlencoded' },
                  { name: 'Cookie', value: 'a=1' },
                  { name: 'cookie', value: 'b=2' },
                ],
                postData: {
                  mimeType: 'application/x-www-form-urlencoded',
                  params: [
                    { name: 'data', value: 'x y&z' },
                    { name: 'gzip', value: '0' },
                  ],
                },
                headersSize: -1,
                bodySize: 20,
              },
              response: { status: 200, headers: [], content: { size: 2, mimeType: 'text/plain' } },
            },
            {
              request: {
                method: 'POST',
                url: 'https://t.example.com/track',
                headers: [],
                postData: { mimeType: 'application/json', text: '{"q":"ü"}' },
              },
              response: { status: 204, headers: [], content: { size: 0 } },
            },
            {
              request: { method: 'GET', url: 'https://g.example.com/p?q=1', headers: [] },
              response: { status: 0, headers: [], _error: 'net::ERR_FAILED' },
            },
          ],
        },
      };
      const file = join(dir, 'devtools.har');
      writeFileSync(file, JSON.stringify(chrome, null, 2));
      const { records, warnings } = await readAll(file);
      assert.deepEqual(warnings, []);
      assert.deepEqual(
        records.map((r) => r.index),
        [0, 1, 2],
      );
      const a = exchange(records[0]);
      assert.equal(a.request.body.toString(), 'data=x%20y%26z&gzip=0');
      assert.equal(a.request.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(a.request.headers.cookie, 'a=1; b=2');
      assert.ok(!(':authority' in a.request.headers));
      assert.equal(a.httpVersion, '2.0');
      assert.equal(exchange(records[1]).request.body.toString(), '{"q":"ü"}');
      const c = exchange(records[2]);
      assert.equal(c.request.body.length, 0);
      assert.equal(c.response, null);
      assert.equal(c.error, 'net::ERR_FAILED');
    });

    it('rejects JSON that is no HAR, and a cut JSON that cannot be repaired', async () => {
      writeFileSync(join(dir, 'a.json'), '{"hello":"world"}');
      await rejectsWith(join(dir, 'a.json'), /not a HAR file \(no log\.entries\)/);
      writeFileSync(join(dir, 'b.json'), '{"hello":');
      await rejectsWith(join(dir, 'b.json'), /not valid JSON .*not a HAR that can be repaired/);
    });
  });

  describe('raw HTTP requests', () => {
    it('reads a CRLF request in origin form, building the URL from Host', async () => {
      const file = join(dir, 'req.http');
      writeFileSync(
        file,
        'POST /sa?project=p HTTP/1.1\r\nHost: sa.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
          'Content-Length: 9\r\nX-Folded: a\r\n  b\r\nConstructor: c\r\n__proto__: p\r\nX-Two: 1\r\nX-Two: 2\r\n\r\ncrc=1&x=2',
      );
      const { records, warnings } = await readAll(file);
      assert.deepEqual(warnings, []);
      assert.equal(records.length, 1);
      const r = exchange(records[0]);
      assert.equal(r.method, 'POST');
      assert.equal(r.url, 'http://sa.example.com/sa?project=p');
      assert.equal(r.host, 'sa.example.com');
      assert.equal(r.httpVersion, '1.1');
      assert.equal(r.request.body.toString(), 'crc=1&x=2');
      assert.equal(r.request.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(r.request.headers['x-folded'], 'a b');
      assert.equal(r.request.headers['x-two'], '1, 2');
      // hostile names are plain own headers, not Object.prototype's members
      assert.equal(r.request.headers.constructor, 'c');
      assert.ok(Object.hasOwn(r.request.headers, '__proto__'));
      assert.equal(Object.getOwnPropertyDescriptor(r.request.headers, '__proto__')?.value, 'p');
    });

    it('tolerates LF-only line endings and takes the body up to the end when there is no length', async () => {
      const file = join(dir, 'lf.txt');
      writeFileSync(file, 'POST /up HTTP/1.1\nHost: h.example.com:8080\n\nk=v&w=1\n');
      const { records, warnings } = await readAll(file);
      const r = exchange(records[0]);
      assert.equal(r.url, 'http://h.example.com:8080/up');
      assert.equal(r.request.body.toString(), 'k=v&w=1\n');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /no Content-Length or chunked/);
    });

    it('decodes a chunked body with extensions and trailers', async () => {
      const file = join(dir, 'chunked');
      const binary = Buffer.from([0x1f, 0x8b, 0x00, 0x0d, 0x0a, 0xff]);
      writeFileSync(
        file,
        Buffer.concat([
          Buffer.from('POST /c HTTP/1.1\r\nHost: c.example.com\r\nTransfer-Encoding: chunked\r\n\r\n'),
          Buffer.from('4;ext=1\r\nab=c\r\n6\r\n'),
          binary,
          Buffer.from('\r\n0\r\nX-Trailer: t\r\n\r\n'),
        ]),
      );
      const { records, warnings } = await readAll(file);
      assert.deepEqual(warnings, []);
      const r = exchange(records[0]);
      assert.ok(
        r.request.body.equals(Buffer.concat([Buffer.from('ab=c'), binary])),
        r.request.body.toString('hex'),
      );
      assert.equal(r.request.bodySize, 10);
    });

    it('reads pipelined requests: Content-Length, chunked, absolute-form and a GET, in order', async () => {
      const file = join(dir, 'pipelined');
      writeFileSync(
        file,
        'POST /one HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 3\r\n\r\nabc' +
          'POST http://proxy.example.org:8080/two?q=1 HTTP/1.1\r\nHost: ignored.example.com\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n' +
          'GET /three HTTP/1.0\r\nHost: c.example.com:443\r\n\r\n' +
          '\r\nCONNECT pinned.example.com:443 HTTP/1.1\r\nHost: pinned.example.com:443\r\n\r\n',
      );
      const { records, warnings } = await readAll(file);
      assert.deepEqual(warnings, []);
      assert.deepEqual(
        records.map((r) => {
          const x = exchange(r);
          return [x.index, x.method, x.url, x.host, x.request.body.toString()];
        }),
        [
          [0, 'POST', 'http://a.example.com/one', 'a.example.com', 'abc'],
          [1, 'POST', 'http://proxy.example.org:8080/two?q=1', 'proxy.example.org', 'xy'],
          [2, 'GET', 'https://c.example.com/three', 'c.example.com', ''],
          [3, 'CONNECT', 'https://pinned.example.com/', 'pinned.example.com', ''],
        ],
      );
      assert.equal(exchange(records[2]).httpVersion, '1.0');
    });

    it('keeps what there is of a short body, marked truncated, and warns about trailing garbage', async () => {
      const file = join(dir, 'short');
      writeFileSync(file, 'POST /s HTTP/1.1\r\nHost: s.example.com\r\nContent-Length: 100\r\n\r\nonly-this');
      const short = await readAll(file);
      const r = exchange(short.records[0]);
      assert.equal(r.request.body.toString(), 'only-this');
      assert.equal(r.request.truncated, true);
      assert.equal(r.request.bodySize, 100);
      assert.match(short.warnings.join('\n'), /Content-Length is 100 but only 9 bytes follow/);

      writeFileSync(
        file,
        'GET /a HTTP/1.1\r\nHost: s.example.com\r\nContent-Length: 0\r\n\r\n\x00\x01garbage',
      );
      const garbage = await readAll(file);
      assert.equal(garbage.records.length, 1);
      assert.match(garbage.warnings.join('\n'), /9 bytes after request #0 are not an HTTP\/1\.x request/);
    });
  });

  describe('format and path errors', () => {
    it('tells formats apart by content, not by extension', () => {
      assert.equal(sniffFormat(Buffer.from('{"type":"exchange","index":0}\n')), 'ndjson');
      assert.equal(sniffFormat(Buffer.from('{"type":"exch')), 'har');
      assert.equal(sniffFormat(Buffer.from('\ufeff{\n  "log": {')), 'har');
      assert.equal(sniffFormat(Buffer.from('{"log":{"entries":[]}}')), 'har');
      assert.equal(sniffFormat(Buffer.from('\r\nPOST /x HTTP/1.1\r\nHost: a\r\n\r\n')), 'http');
      assert.equal(sniffFormat(Buffer.from('POST /x HTTP/2\r\n')), null);
      assert.equal(sniffFormat(Buffer.from('[1,2]')), null);
      assert.equal(sniffFormat(Buffer.from('\x89PNG\r\n')), null);
    });

    it('fails with exit code 2 for a missing file, an empty or unrecognised one, or a directory without a capture', async () => {
      await rejectsWith(join(dir, 'nope.har'), /nope\.har: no such file/);
      writeFileSync(join(dir, 'empty'), '  \n');
      await rejectsWith(join(dir, 'empty'), /empty is empty/);
      writeFileSync(join(dir, 'garbage.har'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
      const err = await rejectsWith(join(dir, 'garbage.har'), /garbage\.har is not a capture file/);
      assert.match(err.hint ?? '', /HAR file.*raw HTTP/);
      mkdirSync(join(dir, 'sub'));
      await rejectsWith(join(dir, 'sub'), /is a directory without exchanges\.ndjson or capture\.har/);
    });

    it('yields nothing before the format is known to be right', async () => {
      writeFileSync(join(dir, 'x'), 'hello');
      const it = readCaptureFile(join(dir, 'x'))[Symbol.asyncIterator]();
      await assert.rejects(it.next(), CaptureFileError);
    });
  });
});
