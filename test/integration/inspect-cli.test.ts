/**
 * `phonehome inspect` end to end: bin/phonehome.js in a child process on capture files written the
 * way a capture session writes them (HAR; NDJSON + bodies.bin as runs before issue 14 did) and on
 * raw HTTP requests, with Sensors payloads from the virtual phone's encoders.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCipheriv } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { loadProfile } from '../../src/virtual/profiles/load.ts';
import {
  buildSensorsEvent,
  encodeMistatBody,
  encodeSensorsBatch,
  newMistatSession,
  readDevice,
} from '../../src/virtual/telemetry/index.ts';
import { assertCleanFailure, parseJson, runCli, show } from '../support/cli.ts';
import { harText, writeNdjsonCapture } from '../unit/inspect/helpers.ts';

interface JsonFinding {
  kind: string;
  value: string;
  path: string;
  encoding: string;
  name?: string;
  detail?: string;
}
interface JsonExchange {
  index: number;
  method: string;
  url: string;
  host: string;
  tracker: { id: string; vendor: string } | null;
  layers: Array<{ path: string; kind: string }>;
  findings: JsonFinding[];
}

const ANDROID_ID = '0123456789abcdef';
const CANARY = 'https://phc-canary-5d1e.example/visited?q=secret';
const SENSORS_URL = 'https://sa.api.intl.miui.com/sa?project=global_browser_mini&r=GB';
const CANARY_PATH = 'body › form.data_list › base64 › gzip › json[0].properties.url';

function sensorsBody(): string {
  const profile = loadProfile('redmi-note-8-leaky');
  const settings = {
    get: (ns: string, k: string) => (ns === 'secure' && k === 'android_id' ? ANDROID_ID : undefined),
  };
  const d = readDevice(profile, { get: (k: string) => profile.props[k] ?? '' }, settings);
  const ev = buildSensorsEvent(d, {
    name: 'page_load_event_finish',
    properties: { url: CANARY },
    time: 1_700_000_000_000,
    app: 'com.mi.globalbrowser',
    appVersion: '12.1.3',
    libVersion: '3.2.10',
    uuid: 'u-1',
    trackId: 1,
  });
  return encodeSensorsBatch([ev], 1_700_000_000_100).body;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** RFC 4648 base32, padded. */
function base32(b: Buffer): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const x of b) {
    acc = (acc << 8) | x;
    bits += 8;
    while (bits >= 5) out += A[(acc >>> (bits -= 5)) & 31];
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += A[(acc << (5 - bits)) & 31];
  return out.padEnd(Math.ceil(out.length / 8) * 8, '=');
}

describe('phonehome inspect', function () {
  this.timeout(60_000);
  let dir: string;
  const run = (args: string[]) => runCli(['inspect', ...args], { env: {}, cwd: dir });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phonehome-inspect-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function capture(): string {
    const cap = join(dir, 'capture');
    writeNdjsonCapture(cap, [
      { url: SENSORS_URL, body: sensorsBody(), headers: FORM },
      { type: 'tls-failure', host: 'data.mistat.intl.xiaomi.com', cause: 'cert-rejected' },
      { method: 'GET', url: 'https://example.org/plain?x=1' },
    ]);
    return cap;
  }

  it('--json prints exactly {"exchanges":[…]} in input order, with the contract fields', async () => {
    const r = await run([
      capture(),
      '--json',
      '--canary',
      CANARY,
      '--identifier',
      `android_id=${ANDROID_ID}`,
    ]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stderr, '', show(r));
    const doc = parseJson<{ exchanges: JsonExchange[] }>(r);
    assert.deepEqual(Object.keys(doc), ['exchanges']);
    assert.deepEqual(
      doc.exchanges.map((x) => [x.index, x.method, x.url]),
      [
        [0, 'POST', SENSORS_URL],
        [1, 'CONNECT', 'https://data.mistat.intl.xiaomi.com/'],
        [2, 'GET', 'https://example.org/plain?x=1'],
      ],
    );
    for (const x of doc.exchanges) {
      assert.deepEqual(Object.keys(x), ['index', 'method', 'url', 'host', 'tracker', 'layers', 'findings']);
      for (const f of x.findings) {
        assert.ok(['canary', 'identifier', 'tracker', 'opaque', 'limit', 'tls'].includes(f.kind), f.kind);
        for (const k of ['value', 'path', 'encoding'] as const) assert.equal(typeof f[k], 'string', k);
      }
    }
    const [sensors, tls, plain] = doc.exchanges as [JsonExchange, JsonExchange, JsonExchange];
    assert.equal(sensors.host, 'sa.api.intl.miui.com');
    assert.equal(sensors.tracker?.id, 'miui-sensors');
    assert.deepEqual(
      sensors.findings.filter((f) => f.kind === 'canary'),
      [{ kind: 'canary', value: CANARY, path: CANARY_PATH, encoding: 'plain' }],
    );
    const ids = sensors.findings.filter((f) => f.kind === 'identifier');
    assert.ok(ids.length >= 1, JSON.stringify(sensors.findings));
    assert.ok(ids.every((f) => f.value === ANDROID_ID && f.name === 'android_id'));
    assert.ok(
      sensors.layers.some((l) => l.path === 'body › form.data_list › base64 › gzip' && l.kind === 'gzip'),
    );
    assert.ok(sensors.layers.some((l) => l.kind === 'sensors'));
    assert.deepEqual(tls.layers, []);
    assert.deepEqual(
      tls.findings.map((f) => [f.kind, f.value, f.path, f.encoding]),
      [['tls', 'cert-rejected', 'tls', 'n/a']],
    );
    assert.match(tls.findings[0]!.detail ?? '', /may pin its certificates/);
    assert.deepEqual(plain.findings, []);
  });

  it('prints a table per exchange, a summary and the personal-data note', async () => {
    const file = join(dir, 'capture.har');
    writeFileSync(
      file,
      harText([
        { url: SENSORS_URL, body: sensorsBody(), headers: FORM },
        { method: 'GET', url: 'https://example.org/plain' },
      ]),
    );
    const r = await run([file, '--canary', CANARY, '--identifier', ANDROID_ID]);
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `#0 POST ${SENSORS_URL}  [Xiaomi (Sensors Analytics): miui-sensors]`, show(r));
    assert.match(lines[1]!, /^ {2}KIND +VALUE +ENCODING +PATH/);
    const canaryRow = lines.find((l) => l.startsWith('  canary '));
    assert.ok(canaryRow, show(r));
    assert.match(canaryRow, /plain +body › form\.data_list › base64 › gzip › json\[0\]\.properties\.url/);
    assert.ok(
      lines.some((l) => /^ {2}identifier +identifier=0123456789abcdef +plain /.test(l)),
      show(r),
    );
    const plainAt = lines.indexOf('#1 GET https://example.org/plain');
    assert.ok(plainAt > 0, show(r));
    assert.equal(lines[plainAt + 1], '  no findings');
    assert.match(
      r.stdout,
      /^summary: 2 exchanges, 1 to trackers \(Xiaomi \(Sensors Analytics\) 1\), 1 canary hit, \d+ identifier hits?/m,
    );
    assert.match(r.stdout, /captures hold personal data/);
  });

  it('finds a canary in a raw Sensors request and survives a 1 GB gzip bomb in the next one', async () => {
    const form = sensorsBody();
    // 1024 gzip members of 1 MiB of zeros each: 1 GiB once inflated, about 1 MB on the wire.
    const bomb = Buffer.concat(Array(1024).fill(gzipSync(Buffer.alloc(1 << 20), { level: 9 })));
    const file = join(dir, 'requests.http');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(
          `POST /sa?project=global_browser_mini&r=GB HTTP/1.1\r\nHost: sa.api.intl.miui.com\r\n` +
            `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`,
        ),
        Buffer.from(
          `POST /upload HTTP/1.1\r\nHost: bomb.example\r\nContent-Type: application/json\r\n` +
            `Content-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`,
        ),
        bomb,
      ]),
    );
    const r = await run([file, '--json', '--canary', CANARY]);
    assert.equal(r.code, 0, show(r));
    const { exchanges } = parseJson<{ exchanges: JsonExchange[] }>(r);
    assert.equal(exchanges.length, 2);
    assert.equal(exchanges[0]!.url, `http://sa.api.intl.miui.com/sa?project=global_browser_mini&r=GB`);
    assert.deepEqual(
      exchanges[0]!.findings.filter((f) => f.kind === 'canary').map((f) => [f.path, f.encoding]),
      [[CANARY_PATH, 'plain']],
    );
    const limits = exchanges[1]!.findings.filter((f) => f.kind === 'limit');
    assert.equal(limits.length, 1, JSON.stringify(exchanges[1]));
    assert.equal(limits[0]!.path, 'body › gzip');
    assert.match(limits[0]!.detail ?? '', /gzip output exceeds/);
  });

  it('decrypts a MiStat upload with --key mistat=<hex>, and leaves it opaque without', async () => {
    const session = newMistatSession();
    const body = encodeMistatBody(
      { id: ANDROID_ID, es: [{ e: 'visit', t: 1, p: { url: CANARY } }] },
      session,
      {
        appId: '2882303761517',
        region: 'GB',
      },
    );
    const file = join(dir, 'mistat.http');
    writeFileSync(
      file,
      `POST /mistats/v3 HTTP/1.1\r\nHost: data.mistat.intl.xiaomi.com\r\n` +
        `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const canaries = async (extra: string[]) => {
      const r = await run([file, '--json', '--canary', CANARY, ...extra]);
      assert.equal(r.code, 0, show(r));
      const [x] = parseJson<{ exchanges: JsonExchange[] }>(r).exchanges;
      assert.equal(x?.tracker?.id, 'mistat-upload', show(r));
      return x.findings.filter((f) => f.kind === 'canary').map((f) => f.path);
    };
    assert.deepEqual(await canaries([]), []);
    assert.deepEqual(await canaries(['--key', `mistat=${session.key.toString('hex')}`]), [
      'body › form.p › mistat › aes › gzip › json.es[0].p.url',
    ]);
  });

  it('finds a canary hidden in a header under base32(gzip), and opens an AES body with --key HOST', async () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const json = JSON.stringify([{ event: 'page_view', properties: { url: CANARY } }]);
    const header = base32(gzipSync(json));
    const iv = Buffer.alloc(16, 7);
    const c = createCipheriv('aes-128-cbc', key, iv);
    const sealed = Buffer.concat([iv, c.update(gzipSync(json)), c.final()]).toString('base64');
    const file = join(dir, 'hidden.http');
    writeFileSync(
      file,
      `GET /v2/ctx HTTP/1.1\r\nHost: ctx.api.example.net\r\nX-MI-Ctx: ${header}\r\n\r\n` +
        `POST /v2/up HTTP/1.1\r\nHost: up.example.net\r\nContent-Type: text/plain\r\n` +
        `Content-Length: ${sealed.length}\r\n\r\n${sealed}`,
    );
    const inspect = async (extra: string[]) => {
      const r = await run([file, '--json', '--canary', CANARY, ...extra]);
      assert.equal(r.code, 0, show(r));
      return parseJson<{ exchanges: JsonExchange[] }>(r).exchanges.map((x) =>
        x.findings.map((f) => `${f.kind} ${f.path}`),
      );
    };
    const [ctx, up] = await inspect([]);
    assert.ok(
      // Raw HTTP requests are read with lower-case header names.
      ctx!.includes('canary header.x-mi-ctx › base32 › gzip › json[0].properties.url'),
      JSON.stringify(ctx),
    );
    assert.deepEqual(up, ['opaque body › base64 › opaque']);
    const [, opened] = await inspect(['--key', `*.example.net=${key.toString('hex')}`]);
    assert.deepEqual(opened, ['canary body › base64 › aes › gzip › json[0].properties.url']);
    const text = await run([file, '--canary', CANARY]);
    assert.match(
      text.stdout,
      /opaque +- +n\/a +body › base64 › opaque +\d+ bytes of binary data \(base64\) that no decoder explains/,
    );
    assert.match(text.stdout, /1 opaque payload/);
  });

  it('reads a capture cut short: JSON on stdout, the warning on stderr', async () => {
    const cap = join(dir, 'cut');
    mkdirSync(cap);
    writeNdjsonCapture(cap, [{ url: SENSORS_URL, body: sensorsBody(), headers: FORM }], {
      tail: '{"type":"exchange","index":1,"meth',
    });
    const r = await run([cap, '--json']);
    assert.equal(r.code, 0, show(r));
    assert.equal(parseJson<{ exchanges: JsonExchange[] }>(r).exchanges.length, 1);
    assert.match(r.stderr, /^phonehome: warning: .*exchanges\.ndjson:2: the last line is incomplete/);
  });

  it('prints an empty list for a capture without exchanges', async () => {
    writeFileSync(join(dir, 'empty.har'), harText([]));
    const r = await run([join(dir, 'empty.har'), '--json']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(parseJson(r), { exchanges: [] });
  });

  describe('exit 2 with a clear message', () => {
    it('for a missing file', async () => {
      const { message, hint } = assertCleanFailure(await run([join(dir, 'nope.har')]), 2);
      assert.match(message, /nope\.har: no such file/);
      assert.match(hint, /check the path/);
    });

    it('for a file in no accepted format', async () => {
      writeFileSync(
        join(dir, 'photo.har'),
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]),
      );
      const { message, hint } = assertCleanFailure(await run([join(dir, 'photo.har')]), 2);
      assert.match(message, /photo\.har is not a capture file/);
      assert.match(hint, /HAR file.*raw HTTP/);
    });

    it('for a directory that holds no capture', async () => {
      mkdirSync(join(dir, 'empty-dir'));
      const { message } = assertCleanFailure(await run([join(dir, 'empty-dir')]), 2);
      assert.match(message, /empty-dir is a directory without exchanges\.ndjson or capture\.har/);
    });

    it('for a broken line in the middle of an NDJSON, naming file:line', async () => {
      const cap = capture();
      const ndjson = join(cap, 'exchanges.ndjson');
      writeFileSync(
        ndjson,
        `{"type":"exchange","index":0,"url":"https://a.example/"}\nnot json\n{"type":"tls-failure","index":2,"host":"h","cause":"closed"}\n`,
      );
      const r = await run([ndjson, '--json']);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /exchanges\.ndjson:2: not a JSON record/);
      assert.doesNotMatch(r.stderr, /^\s{4}at /m);
    });

    it('for an unknown or malformed --key, listing the supported keys', async () => {
      const cap = capture();
      const unknown = assertCleanFailure(await run([cap, '--key', 'bogus=abc']), 2);
      assert.match(unknown.message, /--key 'bogus=abc': unknown key name 'bogus'/);
      assert.match(unknown.hint, /supported keys: mistat=<32 hex digits or the base64 of 16 bytes/);
      const bad = assertCleanFailure(await run([cap, '--key', 'mistat=xyz']), 2);
      assert.match(bad.message, /--key mistat: the value must be 32 hex digits or the base64 of 16 bytes/);
      const short = assertCleanFailure(await run([cap, '--key', `*.example.net=${'ab'.repeat(8)}`]), 2);
      assert.match(short.message, /--key \*\.example\.net: the value must be .* \(got 8 bytes\)/);
      const twice = assertCleanFailure(
        await run([cap, '--key', `sensors=${'ab'.repeat(16)}`, '--key', `sensors=${'cd'.repeat(16)}`]),
        2,
      );
      assert.match(twice.message, /--key sensors is given twice with different values/);
    });

    it('for a missing FILE or an unknown option', async () => {
      assertCleanFailure(await run([]), 2);
      assertCleanFailure(await run([capture(), '--frobnicate', 'x']), 2);
    });
  });

  it('--help explains the formats, the identifier rule, the keys and shows an example', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /Usage: phonehome inspect \[options\] <FILE>/);
    assert.match(r.stdout, /--identifier <\[name=\]value>/);
    assert.match(r.stdout, /'aaid=dGVzdA==' is the value 'dGVzdA==' named 'aaid'/);
    assert.match(r.stdout, /mistat=<32 hex digits or the base64 of 16 bytes>: the AES-128 session key/);
    assert.match(r.stdout, /sensors=<32, 48 or 64 hex digits or the base64 of 16, 24 or 32 bytes>: /);
    assert.match(r.stdout, /HOST=<[^>]*>, or \*\.SUFFIX=<…>: a key for\s+that host's exchanges/);
    assert.match(r.stdout, /Findings 'opaque' mark what could not be decoded to the end/);
    assert.doesNotMatch(r.stdout, /default: \[\]/);
    assert.match(r.stdout, /\$ phonehome inspect \S+ --canary /);
  });
});
