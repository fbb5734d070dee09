/**
 * Emitter transport fields (scheme, carrier, wrap, encrypt, proxy, pinning): their validation, and the
 * exact requests a fake HttpClient sees, decoded back here with Node's own APIs (the decoders of
 * src/decode implement the same inverse independently).
 */
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import type { HttpRequest } from '../../../../src/virtual/apps/events.ts';
import {
  mergeProfileJson,
  parseProfile,
  PROFILE_DIR,
  ProfileError,
  type Profile,
} from '../../../../src/virtual/profiles/load.ts';
import {
  applyWrap,
  base32Encode,
  decodeMistatBody,
  decodeSensorsBody,
  decodeSplashAdRequest,
  decodeTrackingBody,
  javaHashCode,
  percentEncodeBytes,
  wrapPayload,
} from '../../../../src/virtual/telemetry/index.ts';
import { browse, countingRandom, makeHub, systemUse, T0 } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- profile JSON, patched freely
type Json = any;

const BROWSER = 'com.mi.globalbrowser';
const KEY16 = '000102030405060708090a0b0c0d0e0f';
const KEY32 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

function raw(name: string): Record<string, Json> {
  return JSON.parse(readFileSync(join(PROFILE_DIR, `${name}.json`), 'utf8')) as Record<string, Json>;
}

/**
 * redmi-note-8-leaky with its emitters patched (a JSON Merge Patch of telemetry.emitters); the browser
 * row sends only `browserSends` so that each test sees one emitter.
 */
function leaky(emitters: Json, browserSends: string[] = ['sensors']): Profile {
  const json = raw('redmi-note-8-leaky');
  json.telemetry.rules[0].send = browserSends;
  return parseProfile(mergeProfileJson(json, { telemetry: { emitters } }), 'profiles/x.json');
}

function rejects(emitters: Json, pattern: RegExp, browserSends?: string[]): void {
  assert.throws(
    () => leaky(emitters, browserSends),
    (err: unknown) => {
      assert.ok(err instanceof ProfileError, String(err));
      assert.match(err.message, /^profiles\/x\.json: field "telemetry\.emitters\./);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

/** Independent inverses of the wraps. */
function base32Decode(s: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of s.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
function percentDecode(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i));
  }
  return Buffer.from(out);
}
function unwrap(bytes: Buffer, wrap: string): Buffer {
  const text = bytes.toString('latin1');
  switch (wrap) {
    case 'base64':
      assert.match(text, /^[A-Za-z0-9+/]*={0,2}$/);
      assert.equal(text.length % 4, 0, 'padded');
      return Buffer.from(text, 'base64');
    case 'base64url':
      assert.match(text, /^[A-Za-z0-9_-]*$/, 'URL alphabet, no padding');
      return Buffer.from(text, 'base64url');
    case 'hex':
      assert.match(text, /^[0-9a-f]*$/);
      return Buffer.from(text, 'hex');
    case 'base32':
      assert.match(text, /^[A-Z2-7]*=*$/);
      assert.equal(text.length % 8, 0, 'padded');
      return base32Decode(text);
    case 'percent':
      assert.match(text, /^([A-Za-z0-9\-_.~]|%[0-9A-F]{2})*$/);
      return percentDecode(text);
    case 'gzip':
      return gunzipSync(bytes);
    case 'deflate':
      return inflateRawSync(bytes);
    case 'json-string': {
      const v: unknown = JSON.parse(bytes.toString('utf8'));
      assert.equal(typeof v, 'string');
      return Buffer.from(v as string, 'utf8');
    }
  }
  throw new Error(wrap);
}

/** The browser's uploads through a hub of `profile`, with deterministic randomness and time. */
async function browseWith(profile: Profile): Promise<HttpRequest[]> {
  const { hub, http } = makeHub('', { profile, random: countingRandom(), clock: { now: () => T0 } });
  browse(hub, BROWSER, false, 'https://a.example/canary-1', 'canary-2');
  await hub.flush();
  await hub.idle();
  hub.stop();
  return http.requests;
}

describe('telemetry transport: validation', () => {
  it('rejects bad values, naming the field', () => {
    rejects(
      { sensors: { scheme: 'ftp' } },
      /"telemetry\.emitters\.sensors\.scheme" must be one of http, https/,
    );
    rejects(
      { sensors: { carrier: 'smoke' } },
      /\.sensors\.carrier" must be body, query:NAME, header:NAME or cookie:NAME/,
    );
    rejects({ sensors: { carrier: 'query:' } }, /\.sensors\.carrier" must be body, query:NAME/);
    rejects(
      { sensors: { carrier: 'header:Host', wrap: ['base64'] } },
      /\.sensors\.carrier" must not be header:Host/,
    );
    rejects({ sensors: { carrier: 'header:cookie', wrap: ['base64'] } }, /use cookie:NAME for a cookie/);
    rejects({ sensors: { wrap: 'base64' } }, /\.sensors\.wrap" must be an array of encodings/);
    rejects(
      { sensors: { wrap: ['base64', 'rot13'] } },
      /\.sensors\.wrap\[1\]" must be one of base64, base64url/,
    );
    rejects({ sensors: { encrypt: 'yes' } }, /\.sensors\.encrypt" must be an object/);
    rejects(
      { sensors: { encrypt: { cipher: 'des', key: KEY16 } } },
      /\.sensors\.encrypt\.cipher" must be one of aes-128-cbc, aes-256-gcm/,
    );
    rejects({ sensors: { encrypt: { key: KEY16 } } }, /\.sensors\.encrypt\.cipher" is required/);
    rejects({ sensors: { encrypt: { cipher: 'aes-128-cbc' } } }, /\.sensors\.encrypt\.key" is required/);
    rejects(
      { sensors: { encrypt: { cipher: 'aes-128-cbc', key: KEY32 } } },
      /\.sensors\.encrypt\.key" must be 32 hex digits \(a 16-byte key\) for aes-128-cbc/,
    );
    rejects(
      { sensors: { encrypt: { cipher: 'aes-256-gcm', key: KEY16 } } },
      /\.sensors\.encrypt\.key" must be 64 hex digits \(a 32-byte key\) for aes-256-gcm/,
    );
    rejects(
      { sensors: { encrypt: { cipher: 'aes-128-cbc', key: 'zz'.repeat(16) } } },
      /must be 32 hex digits/,
    );
    rejects(
      { sensors: { encrypt: { cipher: 'aes-128-cbc', key: KEY16, iv: '00' } } },
      /\.sensors\.encrypt\.iv" is not a known field/,
    );
    rejects(
      { mistat: { encrypt: { cipher: 'aes-256-gcm', key: KEY32 } } },
      /"telemetry\.emitters\.mistat\.encrypt\.cipher" must be aes-128-cbc for mistat/,
    );
    rejects({ tracking: { proxy: 'socks' } }, /\.tracking\.proxy" must be one of system, direct/);
    rejects({ tracking: { pinning: 'yes' } }, /\.tracking\.pinning" must be true or false/);
    rejects({ sensors: { colour: 'red' } }, /\.sensors\.colour" is not a known field \(url, scheme, carrier/);
  });

  it('flush: fields checked; not allowed on ads', () => {
    rejects(
      { ads: { flush: { count: 1 } } },
      /"telemetry\.emitters\.ads\.flush" is not allowed: splash-ad requests are sent at once/,
    );
    rejects({ sensors: { flush: 5 } }, /\.sensors\.flush" must be an object/);
    rejects({ sensors: { flush: { count: 0 } } }, /\.sensors\.flush\.count" must be a positive integer/);
    rejects(
      { sensors: { flush: { intervalMs: -1 } } },
      /\.sensors\.flush\.intervalMs" must be a non-negative integer/,
    );
    rejects(
      { sensors: { flush: { intervalMs: 1.5 } } },
      /\.sensors\.flush\.intervalMs" must be a non-negative integer/,
    );
    rejects(
      { mistat: { flush: { onBackground: 'no' } } },
      /\.mistat\.flush\.onBackground" must be true or false/,
    );
    rejects({ tracking: { flush: { persist: 1 } } }, /\.tracking\.flush\.persist" must be true or false/);
    rejects(
      { sensors: { flush: { when: 'later' } } },
      /\.sensors\.flush\.when" is not a known field \(count, intervalMs, onBackground, persist\)/,
    );
  });

  it('checks the chain: header-safe last step, text for query, text before json-string', () => {
    rejects(
      { sensors: { carrier: 'header:X-MI-Ctx' } },
      /\.sensors\.carrier" header:X-MI-Ctx needs header-safe text, but the payload would go as it is; add "wrap": \["base64"\]/,
    );
    rejects(
      { sensors: { carrier: 'cookie:ctx', wrap: ['base64', 'gzip'] } },
      /\.sensors\.wrap" must end with one of base64, base64url, hex, base32, percent for carrier cookie:ctx \(header-safe text\), but it ends with gzip; append one of them/,
    );
    rejects(
      { sensors: { carrier: 'header:X-A', wrap: ['json-string'] } },
      /\.sensors\.wrap" must end with one of .* but it ends with json-string/,
    );
    rejects(
      { sensors: { carrier: 'header:X-A', encrypt: { cipher: 'aes-128-cbc', key: KEY16 } } },
      /\.sensors\.carrier" header:X-A needs header-safe text, but the payload would go as it is \(after encrypt\)/,
    );
    rejects(
      { sensors: { carrier: 'query:d', wrap: ['base64', 'gzip'] } },
      /\.sensors\.wrap" query:d needs text, but the payload ends binary \(after gzip\); append a text encoding/,
    );
    rejects(
      { tracking: { carrier: 'query:d', encrypt: { cipher: 'aes-128-cbc', key: KEY16 } } },
      /\.tracking\.carrier" query:d needs text, but the payload ends binary \(after encrypt\)/,
    );
    rejects(
      { sensors: { wrap: ['deflate', 'json-string'] } },
      /\.sensors\.wrap\[1\]" json-string needs text, but it follows deflate \(binary\); put a text encoding such as base64 before it/,
    );
    rejects(
      { ads: { encrypt: { cipher: 'aes-256-gcm', key: KEY32 }, wrap: ['json-string'] } },
      /\.ads\.wrap\[0\]" json-string needs text, but it follows encrypt \(binary\)/,
    );
    // Text all along: accepted.
    leaky({ sensors: { carrier: 'query:d' } });
    leaky({ sensors: { carrier: 'query:d', encrypt: { cipher: 'aes-128-cbc', key: KEY16 } } });
    leaky({ sensors: { encrypt: { cipher: 'aes-128-cbc', key: KEY16 }, wrap: ['json-string'] } });
    leaky({ mistat: { carrier: 'query:p', encrypt: { cipher: 'aes-128-cbc', key: KEY16 } } });
    leaky({ tracking: { carrier: 'cookie:c', wrap: ['gzip', 'hex'] } });
    leaky({
      ads: { carrier: 'query:q', encrypt: { cipher: 'aes-256-gcm', key: KEY32 }, wrap: ['base64url'] },
    });
  });

  it('keeps the parsed emitters as they were when no new field is set', () => {
    const p = leaky({}, ['sensors', 'mistat']);
    assert.deepEqual(p.telemetry!.emitters, raw('redmi-note-8-leaky').telemetry.emitters);
  });
});

describe('telemetry transport: the wire', () => {
  it('each wrap encoding, exactly (RFC 4648 vectors, percent, json-string)', () => {
    const foobar = Buffer.from('foobar');
    assert.equal(base32Encode(Buffer.from('')), '');
    assert.equal(base32Encode(Buffer.from('f')), 'MY======');
    assert.equal(base32Encode(Buffer.from('fo')), 'MZXQ====');
    assert.equal(base32Encode(Buffer.from('foo')), 'MZXW6===');
    assert.equal(base32Encode(Buffer.from('foob')), 'MZXW6YQ=');
    assert.equal(base32Encode(Buffer.from('fooba')), 'MZXW6YTB');
    assert.equal(base32Encode(foobar), 'MZXW6YTBOI======');
    assert.equal(applyWrap(Buffer.from('fo'), 'base64').toString(), 'Zm8=');
    assert.equal(applyWrap(Buffer.from([0xfb, 0xff]), 'base64').toString(), '+/8=');
    assert.equal(applyWrap(Buffer.from([0xfb, 0xff]), 'base64url').toString(), '-_8');
    assert.equal(applyWrap(Buffer.from([0xab, 0x01]), 'hex').toString(), 'ab01');
    assert.equal(percentEncodeBytes(Buffer.from('a b/é~-_.*')), 'a%20b%2F%C3%A9~-_.%2A');
    assert.equal(applyWrap(Buffer.from('x="1"\n'), 'json-string').toString(), '"x=\\"1\\"\\n"');
    assert.deepEqual(gunzipSync(applyWrap(foobar, 'gzip')), foobar);
    assert.deepEqual(inflateRawSync(applyWrap(foobar, 'deflate')), foobar);
    assert.deepEqual(
      wrapPayload(foobar, ['gzip', 'base32']),
      Buffer.from(base32Encode(applyWrap(foobar, 'gzip'))),
    );
  });

  it('without new fields, requests are exactly what they were: POST, native Content-Type, no proxy/pinning keys', async () => {
    const [req] = await browseWith(leaky({}));
    assert.ok(req);
    assert.deepEqual(Object.keys(req).sort(), ['app', 'body', 'headers', 'method', 'url']);
    assert.equal(req.method, 'POST');
    assert.equal(req.headers?.['Content-Type'], 'application/x-www-form-urlencoded');
    assert.equal(decodeSensorsBody(req.body!).events.length, 3);
  });

  for (const wrap of ['base64', 'base64url', 'hex', 'base32', 'percent', 'gzip', 'deflate', 'json-string']) {
    it(`wrap [${wrap}] on the body carrier: decodes back to the native payload`, async () => {
      const [native] = await browseWith(leaky({}));
      const [req] = await browseWith(leaky({ sensors: { wrap: [wrap] } }));
      assert.ok(native && req);
      assert.equal(req.method, 'POST');
      assert.equal(
        req.headers?.['Content-Type'],
        wrap === 'gzip' || wrap === 'deflate' ? 'application/octet-stream' : 'text/plain',
      );
      assert.equal(req.headers?.['User-Agent'], native.headers?.['User-Agent']);
      assert.deepEqual(unwrap(req.body!, wrap), native.body);
    });
  }

  it('a chain applies in order: [json-string, gzip, base64url] and [gzip, base32]', async () => {
    const [native] = await browseWith(leaky({}));
    const [a] = await browseWith(leaky({ sensors: { wrap: ['json-string', 'gzip', 'base64url'] } }));
    const [b] = await browseWith(leaky({ sensors: { wrap: ['gzip', 'base32'] } }));
    assert.deepEqual(unwrap(unwrap(unwrap(a!.body!, 'base64url'), 'gzip'), 'json-string'), native!.body);
    assert.deepEqual(unwrap(unwrap(b!.body!, 'base32'), 'gzip'), native!.body);
  });

  it('carrier query:NAME: GET url&NAME=encodeURIComponent(payload), no body, no Content-Type', async () => {
    const [native] = await browseWith(leaky({}));
    const [req] = await browseWith(leaky({ sensors: { carrier: 'query:d', wrap: ['base64'] } }));
    assert.ok(native && req);
    assert.equal(req.method, 'GET');
    assert.equal(req.body, undefined);
    assert.equal(req.headers?.['Content-Type'], undefined);
    assert.ok(req.headers?.['User-Agent']);
    const b64 = native.body!.toString('base64');
    assert.equal(req.url, `${native.url}&d=${encodeURIComponent(b64)}`);
    assert.ok(native.url.includes('?project='), 'appended to the existing query');
    // No wrap: the native (text) form, encoded once more.
    const [plain] = await browseWith(leaky({ sensors: { carrier: 'query:d' } }));
    assert.equal(plain!.url, `${native.url}&d=${encodeURIComponent(native.body!.toString())}`);
    // percent last: as it is.
    const [pct] = await browseWith(leaky({ sensors: { carrier: 'query:d', wrap: ['gzip', 'percent'] } }));
    const value = new URL(pct!.url).search.split('&d=')[1]!;
    assert.deepEqual(gunzipSync(percentDecode(value)), native.body);
    // A url without a query gets '?'.
    const [ads] = await browseWith(
      leaky({ ads: { url: 'http://x.example/a', carrier: 'query:q', wrap: ['hex'] } }, ['ads']),
    );
    assert.match(ads!.url, /^http:\/\/x\.example\/a\?q=[0-9a-f]+$/);
  });

  it('carrier header:NAME and cookie:NAME: GET with the payload in a header or a cookie', async () => {
    const [native] = await browseWith(leaky({}));
    const [h] = await browseWith(
      leaky({
        sensors: {
          url: 'https://ctx.example.miui.com/v2',
          carrier: 'header:X-MI-Ctx',
          wrap: ['gzip', 'base32'],
        },
      }),
    );
    assert.ok(native && h);
    assert.equal(h.method, 'GET');
    assert.equal(h.url, 'https://ctx.example.miui.com/v2');
    assert.equal(h.body, undefined);
    assert.equal(h.headers?.['Content-Type'], undefined);
    assert.deepEqual(unwrap(unwrap(Buffer.from(h.headers!['X-MI-Ctx']!), 'base32'), 'gzip'), native.body);
    const [c] = await browseWith(leaky({ sensors: { carrier: 'cookie:sa_ctx', wrap: ['base64url'] } }));
    assert.equal(c!.method, 'GET');
    const cookie = c!.headers?.Cookie ?? '';
    assert.ok(cookie.startsWith('sa_ctx='), cookie);
    assert.deepEqual(unwrap(Buffer.from(cookie.slice('sa_ctx='.length)), 'base64url'), native.body);
  });

  it('scheme replaces the url scheme; proxy and pinning ride on the request', async () => {
    const [s] = await browseWith(leaky({ sensors: { scheme: 'http', proxy: 'direct', pinning: true } }));
    assert.ok(s);
    assert.match(s.url, /^http:\/\/sa\.api\.intl\.miui\.com\/sa\?/);
    assert.equal(s.proxy, 'direct');
    assert.equal(s.pinning, true);
    const [sys] = await browseWith(leaky({ sensors: { proxy: 'system', pinning: false } }));
    assert.equal(sys!.proxy, 'system');
    assert.equal('pinning' in sys!, false);
    const [ads] = await browseWith(leaky({ ads: { scheme: 'https', proxy: 'direct' } }, ['ads']));
    assert.match(ads!.url, /^https:\/\/api\.ad\.intl\.xiaomi\.com\/getSplashScreenAds$/);
    assert.equal(ads!.proxy, 'direct');
    assert.equal(decodeSplashAdRequest(ads!.body!).impRequests[0]?.template, 'splash');
    // The tracking and mistat emitters too.
    const { hub, http, settings } = makeHub('', {
      profile: leaky({ tracking: { pinning: true }, mistat: { proxy: 'direct' } }, ['mistat']),
    });
    settings.put('secure', 'upload_log_pref', '1');
    systemUse(hub);
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    await hub.flush();
    const tracking = http.requests.filter((r) => r.url.includes('/track/'));
    const mistat = http.requests.filter((r) => r.url.includes('/mistats/'));
    assert.ok(tracking.length > 0 && tracking.every((r) => r.pinning === true && r.proxy === undefined));
    assert.ok(mistat.length > 0 && mistat.every((r) => r.proxy === 'direct' && r.pinning === undefined));
    hub.stop();
  });
});

describe('telemetry transport: encrypt', () => {
  function decryptCbc(key: Buffer, sealed: Buffer): Buffer {
    const d = createDecipheriv('aes-128-cbc', key, sealed.subarray(0, 16));
    return Buffer.concat([d.update(sealed.subarray(16)), d.final()]);
  }
  function decryptGcm(key: Buffer, sealed: Buffer): Buffer {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
  }
  function form(body: Buffer): Array<[string, string]> {
    return body
      .toString()
      .split('&')
      .map((p) => {
        const [k, v = ''] = p.split('=');
        return [k!, decodeURIComponent(v)];
      });
  }
  function revealsKey(req: HttpRequest, key: string): boolean {
    const k = Buffer.from(key, 'hex');
    const all = Buffer.concat([
      Buffer.from(req.url),
      Buffer.from(JSON.stringify(req.headers ?? {})),
      req.body ?? Buffer.alloc(0),
    ]);
    return (
      [key, key.toUpperCase(), k.toString('base64'), k.toString('base64url')].some((s) => all.includes(s)) ||
      all.includes(k)
    );
  }

  for (const [cipher, key] of [
    ['aes-128-cbc', KEY16],
    ['aes-256-gcm', KEY32],
  ] as const) {
    it(`sensors, ${cipher}: the SDK's gzip=9 mode, one sealed payload per event`, async () => {
      const [req] = await browseWith(leaky({ sensors: { encrypt: { cipher, key } } }));
      assert.ok(req);
      assert.equal(req.headers?.['Content-Type'], 'application/x-www-form-urlencoded', 'still the SDK form');
      const fields = form(req.body!);
      assert.deepEqual(
        fields.map(([k]) => k),
        ['crc', 'gzip', 'data_list'],
      );
      const [[, crc], [, gzip], [, dataList]] = fields as [
        [string, string],
        [string, string],
        [string, string],
      ];
      assert.equal(gzip, '9');
      assert.equal(Number(crc), javaHashCode(dataList));
      assert.equal(req.body!.toString(), `crc=${crc}&gzip=9&data_list=${encodeURIComponent(dataList)}`);
      const groups = JSON.parse(dataList) as Array<Record<string, unknown>>;
      assert.equal(groups.length, 1);
      const g = groups[0]!;
      assert.deepEqual(Object.keys(g), ['ekey', 'pkv', 'payloads', 'flush_time']);
      assert.equal(Buffer.from(g.ekey as string, 'base64').length, 256);
      assert.equal(g.pkv, 1);
      assert.equal(g.flush_time, T0);
      const events = (g.payloads as string[]).map((p) => {
        const sealed = Buffer.from(p, 'base64');
        const plain =
          cipher === 'aes-128-cbc'
            ? decryptCbc(Buffer.from(key, 'hex'), sealed)
            : decryptGcm(Buffer.from(key, 'hex'), sealed);
        return JSON.parse(gunzipSync(plain).toString('utf8')) as Record<string, Json>;
      });
      assert.deepEqual(
        events.map((e) => e.event),
        ['page_load_event_start', 'page_load_event_finish', 'search'],
      );
      assert.equal(events[0]!.properties.url, 'https://a.example/canary-1');
      assert.equal(events[2]!.properties.search_word, 'canary-2');
      assert.ok(events.every((e) => e._flush_time === undefined));
      assert.ok(!revealsKey(req, key), 'the key is nowhere in the request');
      assert.throws(() => decodeSensorsBody(req.body!), /encrypted Sensors payload \(gzip=9\)/);
    });
  }

  it('mistat: the key is its session key (its own format, still decodable with it)', async () => {
    const [req] = await browseWith(
      leaky({ mistat: { encrypt: { cipher: 'aes-128-cbc', key: KEY16 } } }, ['mistat']),
    );
    assert.ok(req);
    assert.equal(req.headers?.['Content-Type'], 'application/x-www-form-urlencoded');
    const decoded = decodeMistatBody(req.body!, Buffer.from(KEY16, 'hex')) as {
      payload: { es: Array<{ e: string }> };
    };
    assert.deepEqual(
      decoded.payload.es.map((e) => e.e),
      ['page_load_event_start', 'page_load_event_finish', 'search'],
    );
    assert.ok(!revealsKey(req, KEY16));
  });

  it('tracking aes-256-gcm + base64, ads aes-128-cbc: the cipher output of the native body', async () => {
    const { hub, http, settings } = makeHub('', {
      profile: leaky({
        tracking: { encrypt: { cipher: 'aes-256-gcm', key: KEY32 }, wrap: ['base64'] },
        ads: { encrypt: { cipher: 'aes-128-cbc', key: KEY16 } },
      }),
    });
    settings.put('secure', 'upload_log_pref', '1');
    systemUse(hub);
    await hub.flush();
    await hub.idle();
    const tracking = http.requests.filter((r) => r.url.includes('/track/'));
    const ads = http.requests.filter((r) => r.url.includes('/getSplashScreenAds'));
    assert.ok(tracking.length > 0 && ads.length === 1);
    for (const r of tracking) {
      assert.equal(r.headers?.['Content-Type'], 'text/plain');
      const native = decryptGcm(Buffer.from(KEY32, 'hex'), unwrap(r.body!, 'base64'));
      assert.ok(decodeTrackingBody(native).payload.B.length > 0);
      assert.ok(!revealsKey(r, KEY32));
    }
    assert.equal(ads[0]!.headers?.['Content-Type'], 'application/octet-stream');
    const ad = decodeSplashAdRequest(decryptCbc(Buffer.from(KEY16, 'hex'), ads[0]!.body!));
    assert.deepEqual(ad.appInfo.packageName, ['com.android.settings']);
    assert.ok(!revealsKey(ads[0]!, KEY16));
    hub.stop();
  });
});
