/**
 * Issue 10: uploads a firmware hides in headers, queries and cookies, behind chains of encodings, or
 * encrypted. The decoders must reach the canary through any chain of known encodings, say `opaque`
 * of what they cannot decode to the end, and leave ordinary values (ids, hashes, tokens) alone.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { decode, type DecodeInput, type DecodeResult } from '../../../src/decode/index.ts';
import { createDetector } from '../../../src/detect/index.ts';
import {
  buildSensorsEvent,
  buildSplashAdRequest,
  encodeMistatBody,
  encodeSensorsBatch,
  encodeSensorsEncryptedBatch,
  encodeSplashAdRequest,
  encodeTrackingBody,
  formBody,
  javaHashCode,
  mistatPayload,
  trackingHeader,
  type SensorsEvent,
} from '../../../src/virtual/telemetry/index.ts';
import { DEVICE } from '../../support/decode/device.ts';
import { prng } from '../../support/decode/corpus.ts';
import { allLayers, leafMap } from './helpers.ts';
import {
  carrierPath,
  carry,
  chainPath,
  seal,
  wrapChain,
  type Carrier,
  type Cipher,
  type Wrap,
} from '../../support/decode/wraps.ts';

const SEP = ' › ';
const CANARY = 'phc-7f3a9e-Zebra';
const T = 1_700_000_000_000;
/** A firmware's native payload: a JSON batch with the canary in a URL property. */
const NATIVE = Buffer.from(
  JSON.stringify([{ event: 'page_view', properties: { url: `https://news.example/a?s=${CANARY}`, n: 1 } }]),
);
const LEAF = 'json[0].properties.url';

const detector = createDetector({ canaries: [CANARY] });

function findings(input: DecodeInput, r: DecodeResult = decode(input)) {
  const url = input.url ?? 'https://up.example.net/';
  return detector.run({ method: 'POST', url, host: new URL(url).host }, r).findings;
}

function canaryPaths(input: DecodeInput): string[] {
  return findings(input)
    .filter((f) => f.kind === 'canary' && f.path !== 'url')
    .map((f) => `${f.path}|${f.encoding}`);
}

const opaque = (r: DecodeResult) => r.findings.filter((f) => f.kind === 'opaque');

function sensorsEvent(name: string, properties: Record<string, unknown>, trackId: number): SensorsEvent {
  return buildSensorsEvent(DEVICE, {
    name,
    properties,
    time: T + trackId,
    app: 'com.mi.globalbrowser',
    appVersion: '13.0.1',
    libVersion: '6.7.0',
    uuid: 'c0ffee00-0000-4000-8000-000000000001',
    trackId,
  });
}

describe('decode: request headers (issue 10)', () => {
  it('decodes every header but the transport ones as header.NAME, like a form field', () => {
    const ctx = Buffer.from(JSON.stringify({ u: CANARY, k: '???>>>' })).toString('base64url');
    assert.match(ctx, /[-_]/);
    const r = decode({
      body: Buffer.alloc(0),
      url: 'https://up.example.net/x',
      headers: {
        Host: 'up.example.net',
        'Content-Type': 'text/plain',
        'Content-Length': '0',
        'Accept-Encoding': 'gzip',
        Connection: 'keep-alive',
        'Transfer-Encoding': 'chunked',
        'Content-Encoding': 'identity',
        Cookie: 'a=1',
        ':authority': 'up.example.net',
        'User-Agent': 'Dalvik/2.1.0 (Linux; U; Android 12; M2007J3SG Build/SKQ1)',
        'X-MI-Ctx': ctx,
        Referer: `https://news.example/page?q=${encodeURIComponent(CANARY)}&x=1`,
        Origin: 'https://news.example',
      },
    });
    const headers = allLayers(r.root).filter((l) => l.kind === 'header' && l.key !== undefined);
    assert.deepEqual(headers.map((l) => l.path).sort(), [
      'header.Origin',
      'header.Referer',
      'header.User-Agent',
      'header.X-MI-Ctx',
    ]);
    const m = leafMap(r);
    assert.equal(m.get('header.X-MI-Ctx › base64url › json.u'), CANARY);
    assert.equal(m.get('header.Referer › query.q'), CANARY);
    assert.equal(m.get('cookie.a'), '1');
    assert.deepEqual(r.findings, []);
    assert.deepEqual(
      canaryPaths({ body: Buffer.alloc(0), url: 'https://up.example.net/x', headers: { 'X-MI-Ctx': ctx } }),
      ['header.X-MI-Ctx › base64url › json.u|plain'],
    );
  });

  it('ignores header values that are not strings, and adds no header layer when there is nothing to decode', () => {
    const odd = { 'X-A': ['x'] as unknown as string, Host: 'h.example' };
    const r = decode({ body: Buffer.from('{"a":1}'), headers: odd });
    assert.equal(
      allLayers(r.root).some((l) => l.kind === 'header'),
      false,
    );
    assert.deepEqual(r.findings, []);
  });

  it('finds a canary and an identifier in a header value and names (one finding each)', () => {
    const det = createDetector({
      canaries: [CANARY],
      identifiers: [{ name: 'android_id', value: DEVICE.androidId }],
    });
    const input = {
      body: Buffer.alloc(0),
      url: 'https://up.example.net/x',
      headers: { [`X-${CANARY}`]: '1', 'X-Device': DEVICE.androidId },
    };
    const f = det.run({ method: 'GET', url: input.url, host: 'up.example.net' }, decode(input)).findings;
    assert.deepEqual(
      f.map((x) => [x.kind, x.path, x.encoding, x.detail]),
      [
        ['canary', `header.X-${CANARY}`, 'plain', 'in a key'],
        ['identifier', 'header.X-Device', 'plain', undefined],
      ],
    );
  });
});

describe('decode: string encodings', () => {
  const text = `{"url":"https://news.example/?s=${CANARY}"}`;
  const json = (v: string) =>
    decode({ body: Buffer.from(JSON.stringify({ v })), contentType: 'application/json' });

  for (const [name, encoded, layer] of [
    ['hex (lower case)', Buffer.from(text).toString('hex'), 'hex'],
    ['hex (upper case)', Buffer.from(text).toString('hex').toUpperCase(), 'hex'],
    ['base32 (padded)', wrapChain(['base32'], Buffer.from(text)).toString(), 'base32'],
    ['base32 (unpadded)', wrapChain(['base32'], Buffer.from(text)).toString().replace(/=+$/, ''), 'base32'],
    ['base64url (unpadded)', Buffer.from(text).toString('base64url'), 'base64url'],
    ['percent', wrapChain(['percent'], Buffer.from(text)).toString(), 'percent'],
    ['encodeURIComponent', encodeURIComponent(text), 'percent'],
    ['a JSON string literal', JSON.stringify(text), 'json-string'],
  ] as const)
    it(`${name} → its content, decoded in turn`, () => {
      const r = json(encoded);
      assert.equal(
        leafMap(r).get(`body › json.v › ${layer} › json.url`),
        `https://news.example/?s=${CANARY}`,
      );
      assert.deepEqual(r.findings, []);
    });

  it('a JSON string literal of plain text is a text leaf; of a form, a form', () => {
    const m = leafMap(json(JSON.stringify(`plain ${CANARY}`)));
    assert.equal(m.get('body › json.v › json-string › text'), `plain ${CANARY}`);
    const f = leafMap(json(JSON.stringify(`a=1&c=${CANARY}`)));
    assert.equal(f.get('body › json.v › json-string › form.c'), CANARY);
  });

  it('percent-decodes a form value only when it was percent-encoded again', () => {
    const r = decode({
      body: Buffer.from(
        `q=50%25%20off&u=${encodeURIComponent('https://x.example/?a=1&b=%7E')}&d=${encodeURIComponent(encodeURIComponent('{"k":"v v"}'))}`,
      ),
    });
    const m = leafMap(r);
    assert.equal(m.get('body › form.q'), '50% off');
    assert.equal(allLayers(r.root).find((l) => l.path === 'body › form.q')?.children.length, 0);
    assert.equal(m.get('body › form.u › query.b'), '~');
    assert.ok(!allLayers(r.root).some((l) => l.kind === 'percent' && l.path.startsWith('body › form.u')));
    assert.equal(m.get('body › form.d › percent › json.k'), 'v v');
  });

  it('keeps percent-encoded binary whole in a query or cookie (no byte lost), then inflates it', () => {
    const gz = gzipSync(JSON.stringify({ u: CANARY }));
    const pct = wrapChain(['percent'], gz).toString();
    const q = decode({ body: Buffer.alloc(0), url: `https://h.example/x?d=${pct}` });
    assert.equal(leafMap(q).get('query.d › percent › gzip › json.u'), CANARY);
    const c = decode({ body: Buffer.alloc(0), headers: { Cookie: `d=${pct}` } });
    assert.equal(leafMap(c).get('cookie.d › percent › gzip › json.u'), CANARY);
  });

  describe('leaves ordinary values alone: no layer, no finding', () => {
    const values: Record<string, string> = {
      uuid: 'c0ffee00-0000-4000-8000-000000000001',
      uuidUpper: '3F2A6B1C-0D4E-4F5A-8B6C-7D8E9F0A1B2C',
      md5: createHash('md5').update('x').digest('hex'),
      sha1: createHash('sha1').update('x').digest('hex'),
      sha256: createHash('sha256').update('x').digest('hex'),
      sha256b64: createHash('sha256').update('x').digest('base64'),
      androidId: DEVICE.androidId,
      // Fixed: random hex is UTF-8 text now and then (1 in ~550 for 8 bytes), and hex of text decodes.
      nonce: '9f8e7d6c5b4a3928',
      triggerId: '9f3c2a71d04e8b65a1c7e0f2d39b4a86',
      token32: randomBytes(32).toString('base64url'),
      jwt:
        'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ.' +
        randomBytes(256).toString('base64url'),
      long: '12345678901234567890123456789012345678901234567890123456789012345678901234567890',
      millis: String(T),
      crc: String(javaHashCode('abc')),
      word: 'helloworldthisisalongidentifierwithoutanyspacesorpunctuationinit',
      camel: 'ThisIsAVeryLongCamelCaseIdentifierNameUsedByAnAndroidAppForSomething',
      path: '/data/user/0/com/miui/securitycenter/files/analytics/upload/queue',
      upper: 'ANDROIDAPPLICATIONPACKAGEMANAGERSERVICEIMPLEMENTATION',
      version: 'V14.0.4.0.TGCMIXM',
      percent: '100%',
      phrase: 'caf%E9 au lait',
    };
    for (const [name, v] of Object.entries(values))
      it(name, () => {
        const r = json(v);
        const field = allLayers(r.root).find((l) => l.path === 'body › json.v');
        assert.equal(field?.value, v);
        assert.deepEqual(field?.children, [], JSON.stringify(field?.children));
        assert.deepEqual(r.findings, []);
      });
  });
});

describe('decode: chains of encodings, in every carrier', () => {
  const CHAINS: Wrap[][] = [
    ['gzip', 'base32'],
    ['json-string', 'gzip', 'base64url'],
    ['deflate', 'hex', 'percent'],
    ['base64', 'base64'],
    ['json-string', 'base64'],
    ['deflate', 'deflate', 'base64'],
    ['gzip', 'percent', 'hex'],
    ['hex', 'hex', 'hex'],
    ['percent', 'json-string'],
    ['percent', 'percent', 'base32', 'json-string'],
    ['deflate', 'base64url', 'deflate', 'base32', 'gzip', 'hex'],
    ['gzip', 'percent'],
  ];
  for (const chain of CHAINS)
    for (const carrier of ['body', 'query', 'header', 'cookie'] as Carrier[]) {
      if ((carrier === 'header' || carrier === 'cookie') && /gzip|deflate/.test(chain[chain.length - 1]!))
        continue;
      it(`${chain.join(' → ')} in ${carrier}`, () => {
        const input = carry(carrier, wrapChain(chain, NATIVE), chain);
        const r = decode(input);
        assert.deepEqual(r.findings, [], JSON.stringify(r.findings));
        const path = [carrierPath(carrier), ...chainPath(carrier, chain, NATIVE), LEAF].join(SEP);
        // One finding for the leak (the URL's query layer below it repeats it, as for any URL).
        assert.deepEqual(
          canaryPaths(input).filter((p) => !p.includes('› query.s')),
          [`${path}|plain`],
        );
      });
    }

  it('the path names each layer: header.X-MI-Ctx › base32 › gzip › json[0].properties.url', () => {
    const input = carry('header', wrapChain(['gzip', 'base32'], NATIVE), ['gzip', 'base32']);
    assert.ok(canaryPaths(input).includes(`header.X-MI-Ctx › base32 › gzip › ${LEAF}|plain`));
  });

  it('a Sensors batch in a header under three wraps: five layers to the event', () => {
    const { body } = encodeSensorsBatch([sensorsEvent('search', { search_word: CANARY }, 1)], T);
    const chain: Wrap[] = ['json-string', 'gzip', 'base64url'];
    const input = carry('header', wrapChain(chain, Buffer.from(body)), chain);
    assert.deepEqual(canaryPaths(input), [
      'header.X-MI-Ctx › base64url › gzip › json-string › form.data_list › base64 › gzip › json[0].properties.search_word|plain',
    ]);
  });

  it('nesting past maxDepth is a limit finding, never silence', () => {
    const chain = Array<Wrap>(14).fill('base64');
    const r = decode({ body: wrapChain(chain, NATIVE) });
    assert.ok(r.findings.some((f) => f.kind === 'limit' && /deeper than 12/.test(f.detail)));
  });

  it('the byte budget covers the new decoders', () => {
    const big = Buffer.from(JSON.stringify({ pad: 'x'.repeat(300_000), u: CANARY }));
    for (const w of ['hex', 'base32', 'percent'] as Wrap[]) {
      const r = decode({ body: wrapChain([w], big) }, { maxTotalBytes: 100_000 });
      assert.ok(
        r.findings.some((f) => f.kind === 'limit' && /more than 100000 bytes/.test(f.detail)),
        `${w}: ${JSON.stringify(r.findings)}`,
      );
    }
  });
});

/** `n` bytes from a seeded generator: the same bytes on every run. */
function seededBytes(n: number, seed: number): Buffer {
  const next = prng(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256)));
}

describe('decode: opaque residue', () => {
  const text = (b: Buffer, how: Wrap) => wrapChain([how], b).toString();
  for (const how of ['base64', 'base64url', 'hex', 'base32', 'percent'] as Wrap[]) {
    it(`${how} of 40 random bytes is opaque, in a body, a form field, a JSON value, a header, a query, a cookie`, () => {
      // Seeded bytes, the same on every run. The residue rule wants a digit among base64's letters
      // (so that long camelCase words stay plain): about 1 in 10,000 40-byte ciphertexts in base64 have
      // none and stay a plain value, a known limit (the README's decoder row), not a case to draw here.
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) residueCase(seededBytes(40, seed));
    });

    function residueCase(bin: Buffer): void {
      const s = text(bin, how);
      // Without `-` or `_`, base64url text is base64 text too, and named so.
      const as = how === 'base64url' && !/[-_]/.test(s) ? 'base64' : how;
      const detail = `40 bytes of binary data (${as}) that no decoder explains: encrypted or an unknown format`;
      const cases: Array<[DecodeInput, string]> = [
        [{ body: Buffer.from(s) }, 'body'],
        [{ body: Buffer.from(`a=1&x=${encodeURIComponent(s)}`) }, 'body › form.x'],
        [{ body: Buffer.from(JSON.stringify({ k: [s] })) }, 'body › json.k[0]'],
        [{ body: Buffer.alloc(0), headers: { 'X-Sig': s } }, 'header.X-Sig'],
        [{ body: Buffer.alloc(0), url: `https://h.example/?d=${encodeURIComponent(s)}` }, 'query.d'],
        [{ body: Buffer.alloc(0), headers: { Cookie: `d=${s}` } }, 'cookie.d'],
      ];
      for (const [input, at] of cases) {
        const r = decode(input);
        // A query or cookie value that is percent-encoded binary arrives still encoded: the same layer.
        assert.deepEqual(
          opaque(r).map((f) => [f.path, f.detail]),
          [[`${at} › ${as} › opaque`, detail]],
          `${at}: ${JSON.stringify(r.findings)}`,
        );
        const layer = allLayers(r.root).find((l) => l.path === `${at} › ${as} › opaque`);
        assert.equal(layer?.kind, 'opaque');
        assert.equal(layer?.value, '40 bytes');
      }
    }

    it(`${how} of 39 random bytes stays a plain value (a hash, an id, a nonce)`, () => {
      for (let i = 0; i < 20; i++) {
        const r = decode({ body: Buffer.from(JSON.stringify({ k: text(randomBytes(39), how) })) });
        assert.deepEqual(r.findings, []);
      }
    });
  }

  it('a raw binary body is opaque, and so is binary a decoder reached (gzip of ciphertext)', () => {
    const r = decode({ body: randomBytes(64) });
    assert.deepEqual(
      opaque(r).map((f) => [f.path, f.detail]),
      [['body › opaque', '64 bytes of binary data that no decoder explains: encrypted or an unknown format']],
    );
    const g = decode({ body: Buffer.from(gzipSync(randomBytes(50)).toString('base64')) });
    assert.deepEqual(
      opaque(g).map((f) => f.path),
      ['body › base64 › gzip › opaque'],
    );
  });

  for (const cipher of ['aes-128-cbc', 'aes-256-gcm'] as Cipher[])
    it(`${cipher} output is opaque without a key, whatever wraps it`, () => {
      const key = randomBytes(cipher === 'aes-128-cbc' ? 16 : 32);
      for (const chain of [
        [],
        ['base64'],
        ['base64url'],
        ['hex'],
        ['base32'],
        ['percent'],
        ['gzip', 'base64'],
      ] as Wrap[][]) {
        const sealed = wrapChain(chain, seal(cipher, key, gzipSync(NATIVE)));
        for (const carrier of ['body', 'query', 'header', 'cookie'] as Carrier[]) {
          if (carrier !== 'body' && chain.length === 0) continue;
          const r = decode(carry(carrier, sealed, chain));
          assert.equal(
            opaque(r).length,
            1,
            `${chain.join('→')} in ${carrier}: ${JSON.stringify(r.findings)}`,
          );
        }
      }
    });
});

describe('decode: keys', () => {
  const KEY16 = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const KEY32 = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
  const URL = 'https://up.example.net/v1/c';

  for (const [cipher, key] of [
    ['aes-128-cbc', KEY16],
    ['aes-256-gcm', KEY32],
  ] as Array<[Cipher, Buffer]>)
    describe(cipher, () => {
      const plain = gzipSync(NATIVE);
      for (const name of ['up.example.net', '*.example.net', 'UP.Example.Net.'])
        it(`a key for ${name} opens the host's residue, raw or wrapped`, () => {
          for (const chain of [[], ['base64'], ['hex'], ['base32', 'json-string']] as Wrap[][]) {
            const input = {
              ...carry('body', wrapChain(chain, seal(cipher, key, plain)), chain, URL),
              keys: { [name]: key },
            };
            const r = decode(input);
            assert.deepEqual(r.findings, [], JSON.stringify(r.findings));
            const layers = [...chain].reverse();
            assert.deepEqual(
              canaryPaths(input).filter((p) => !p.includes('› query.s')),
              [[`body`, ...layers, 'aes', 'gzip', `${LEAF}|plain`].join(SEP)],
            );
          }
        });

      it('a text plaintext opens too; a header carrier as well', () => {
        const raw = seal(cipher, key, NATIVE);
        const input = {
          ...carry('header', wrapChain(['base64url'], raw), ['base64url']),
          keys: { 'up.example.net': key },
        };
        // The IV is random: base64url text without `-` or `_` (about 1 in 130) is base64 too, and named so.
        const [layer] = chainPath('header', ['base64url'], raw);
        assert.ok(['base64url', 'base64'].includes(layer!));
        const paths = canaryPaths(input);
        assert.ok(paths.includes(`header.X-MI-Ctx › ${layer} › aes › ${LEAF}|plain`), JSON.stringify(paths));
      });

      it('a wrong key is an error finding and the payload stays opaque', () => {
        const wrong = Buffer.from(key);
        wrong[3]! ^= 1;
        const sealed = wrapChain(['base64'], seal(cipher, key, plain));
        const r = decode({ body: sealed, url: URL, keys: { 'up.example.net': wrong } });
        assert.deepEqual(
          r.findings.map((f) => [f.kind, f.path]),
          [
            ['error', 'body › base64 › aes'],
            ['opaque', 'body › base64 › opaque'],
          ],
        );
        assert.match(r.findings[0]!.detail, /no key given for up\.example\.net decrypts these/);
      });

      it('a key for another host, or under another name, is not used', () => {
        const sealed = wrapChain(['base64'], seal(cipher, key, plain));
        const sets: Array<Record<string, Buffer>> = [
          { 'other.example.net': key },
          { '*.example.com': key },
          { other: key },
          { sensors: key },
        ];
        for (const keys of sets) {
          const r = decode({ body: sealed, url: URL, keys });
          assert.deepEqual(
            r.findings.map((f) => [f.kind, f.path]),
            [['opaque', 'body › base64 › opaque']],
            JSON.stringify(keys),
          );
        }
      });
    });

  it('finds the host in the Host header when the URL has none, and ignores keys of bad lengths', () => {
    const sealed = seal('aes-128-cbc', KEY16, gzipSync(NATIVE));
    const r = decode({
      body: sealed,
      url: '/v1/c',
      headers: { Host: 'up.example.net:8443' },
      keys: { 'up.example.net': KEY16 },
    });
    assert.ok(allLayers(r.root).some((l) => l.path === 'body › aes'));
    const bad = decode({ body: sealed, url: URL, keys: { 'up.example.net': Buffer.alloc(5) } });
    assert.deepEqual(opaque(bad).length, 1);
  });

  it('a short ciphertext (under 40 bytes) decrypts with a key, and stays plain without one', () => {
    const short = CANARY.slice(0, 10);
    const sealed = seal('aes-128-cbc', KEY16, Buffer.from(short)).toString('base64');
    assert.equal(Buffer.from(sealed, 'base64').length, 32);
    const input = { body: Buffer.from(JSON.stringify({ t: sealed })), url: URL };
    assert.deepEqual(decode(input).findings, []);
    const r = decode({ ...input, keys: { 'up.example.net': KEY16 } });
    assert.equal(leafMap(r).get('body › json.t › base64 › aes › text'), short);
  });

  describe('Sensors envelopes (gzip=9 and gzip=13)', () => {
    const events = [
      sensorsEvent('page_view', { url: `https://news.example/?s=${CANARY}` }, 1),
      sensorsEvent('search', { search_word: CANARY }, 2),
    ];
    const ekey = randomBytes(256).toString('base64');

    function gzip9(cipher: Cipher, key: Buffer): string {
      return encodeSensorsEncryptedBatch(events, T, { seal: (p) => seal(cipher, key, p), ekey, pkv: 1 }).body;
    }
    function gzip13(cipher: Cipher, key: Buffer): string {
      const payloads = seal(cipher, key, gzipSync(JSON.stringify(events))).toString('base64');
      const dataList = JSON.stringify([{ ekey, pkv: 2, payloads, flush_time: T }]);
      return formBody([
        ['crc', String(javaHashCode(dataList))],
        ['gzip', '13'],
        ['data_list', dataList],
      ]);
    }
    const SA = 'https://sa.api.intl.miui.com/sa?project=p';

    it('without a key: one opaque finding for the batch (none for ekey or each payload)', () => {
      for (const body of [gzip9('aes-128-cbc', KEY16), gzip13('aes-256-gcm', KEY32)]) {
        const r = decode({ body: Buffer.from(body), url: SA });
        assert.deepEqual(
          r.findings.map((f) => [f.kind, f.path]),
          [['opaque', 'body › form.data_list › sensors']],
        );
        assert.match(r.findings[0]!.detail, /encrypted Sensors payload \(gzip=(9|13)\); no key/);
      }
    });

    for (const [cipher, key] of [
      ['aes-128-cbc', KEY16],
      ['aes-256-gcm', KEY32],
    ] as Array<[Cipher, Buffer]>)
      it(`${cipher}: keys.sensors (or a key for the host) decrypts every payload to its event`, () => {
        const sets: Array<Record<string, Buffer>> = [
          { sensors: key },
          { 'sa.api.intl.miui.com': key },
          { '*.miui.com': key },
        ];
        for (const keys of sets) {
          const r9 = decode({ body: Buffer.from(gzip9(cipher, key)), url: SA, keys });
          assert.deepEqual(r9.findings, [], JSON.stringify(r9.findings));
          const m = leafMap(r9);
          const p = 'body › form.data_list › json[0].payloads';
          assert.equal(m.get(`${p}[1] › base64 › aes › gzip › json.properties.search_word`), CANARY);
          assert.equal(m.get(`${p}[0] › base64 › aes › gzip › json.event`), 'page_view');
          const sensors = allLayers(r9.root).find((l) => l.kind === 'sensors');
          assert.deepEqual(
            { ...(sensors?.value as object), crc: 0 },
            {
              field: 'data_list',
              gzip: '9',
              crc: 0,
              crcValid: true,
              encrypted: true,
              decrypted: true,
              events: 2,
            },
          );
          const r13 = decode({ body: Buffer.from(gzip13(cipher, key)), url: SA, keys });
          assert.deepEqual(r13.findings, []);
          assert.equal(
            leafMap(r13).get(
              'body › form.data_list › json[0].payloads › base64 › aes › gzip › json[1].properties.search_word',
            ),
            CANARY,
          );
        }
      });

    it('the detector finds the canary once per event, at the decrypted leaf', () => {
      const input = { body: Buffer.from(gzip9('aes-128-cbc', KEY16)), url: SA, keys: { sensors: KEY16 } };
      const f = findings(input).filter((x) => x.kind === 'canary');
      assert.deepEqual(
        f.map((x) => x.path),
        [
          'body › form.data_list › json[0].payloads[0] › base64 › aes › gzip › json.properties.url',
          'body › form.data_list › json[0].payloads[0] › base64 › aes › gzip › json.properties.url › query.s',
          'body › form.data_list › json[0].payloads[1] › base64 › aes › gzip › json.properties.search_word',
        ],
      );
    });

    it('a wrong key: an error finding, and the batch stays opaque', () => {
      const wrong = Buffer.from(KEY16);
      wrong[0]! ^= 0x80;
      const r = decode({ body: Buffer.from(gzip9('aes-128-cbc', KEY16)), url: SA, keys: { sensors: wrong } });
      assert.deepEqual(
        r.findings.map((f) => [f.kind, f.path]),
        [
          ['error', 'body › form.data_list › sensors'],
          ['opaque', 'body › form.data_list › sensors'],
        ],
      );
      assert.match(r.findings[0]!.detail, /Sensors: wrong key \(2 of 2 payloads do not decrypt/);
      assert.match(r.findings[1]!.detail, /gzip=9\); the key given does not decrypt it/);
    });
  });

  it('MiStat: a key for the host opens it like keys.mistat', () => {
    const session = { key: KEY16, sid: '0123456789abcdef', fallback: true };
    const payload = mistatPayload(DEVICE, {
      appId: '1',
      appVersion: '1',
      pkg: 'com.miui.x',
      events: [{ e: 'visit', t: T, p: { q: CANARY } }],
      now: T,
    });
    const body = encodeMistatBody(payload, session, { appId: '1', region: 'GB' });
    const url = 'https://data.mistat.intl.xiaomi.com/mistats/v3';
    const r = decode({ body: Buffer.from(body), url, keys: { '*.xiaomi.com': KEY16 } });
    assert.deepEqual(r.findings, []);
    assert.equal(leafMap(r).get('body › form.p › mistat › aes › gzip › json.es[0].p.q'), CANARY);
  });
});

describe("decode: the virtual lab's honest uploads", () => {
  it('Sensors, tracking (plain and gzip), ads: no opaque finding; MiStat: exactly one', () => {
    const header = trackingHeader(DEVICE, { sender: 'com.miui.securitycenter', analyticsVersion: '3.1' });
    const entry = (i: number) => ({
      H: {
        sid: randomBytes(8).toString('hex'),
        pk: 'p',
        key: 'k',
        eventTime: String(T + i),
        sn: i,
        retryCnt: 0,
      },
      B: { _event_id_: `ev_${i}`, filler: `x${i}`.repeat(20) },
    });
    const ua = { 'User-Agent': 'Dalvik/2.1.0 (Linux; U; Android 13; Redmi Note 11 Build/TKQ1)' };
    const uploads: DecodeInput[] = [
      { body: Buffer.from(encodeSensorsBatch([sensorsEvent('a', { u: CANARY }, 1)], T).body), headers: ua },
      ...[1, 1200].map((n) => ({
        body: Buffer.from(
          encodeTrackingBody(
            header,
            Array.from({ length: n }, (_, i) => entry(i)),
            {
              ts: T,
              nonce: randomBytes(8).toString('hex'),
            },
          ).body,
        ),
      })),
      {
        body: encodeSplashAdRequest(
          buildSplashAdRequest(DEVICE, {
            pkg: 'com.miui.player',
            pkgVersion: '1',
            msaVersion: '2',
            triggerId: randomBytes(16).toString('hex'),
          }),
        ),
        contentType: 'application/json; charset=utf-8',
      },
    ];
    for (const u of uploads) assert.deepEqual(decode(u).findings, []);
    const mistat = encodeMistatBody(
      mistatPayload(DEVICE, { appId: '1', appVersion: '1', pkg: 'a', events: [], now: T }),
      { key: randomBytes(16), sid: randomBytes(8).toString('hex'), fallback: true },
      { appId: '1', region: 'GB' },
    );
    const r = decode({ body: Buffer.from(mistat), url: 'https://data.mistat.intl.xiaomi.com/mistats/v3' });
    assert.deepEqual(
      r.findings.map((f) => [f.kind, f.path]),
      [['opaque', 'body › form.p › mistat']],
    );
  });
});
