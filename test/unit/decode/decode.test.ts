import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { decode, javaHashCode, type DecodeResult } from '../../../src/decode/index.ts';
import {
  base64UrlPadded,
  buildSensorsEvent,
  decodeMistatBody,
  encodeMistatBody,
  encodeSensorsBatch,
  encodeTrackingBody,
  formBody,
  mistatPayload,
  newMistatSession,
  trackingHeader,
  type TrackingEntry,
} from '../../../src/virtual/telemetry/index.ts';
import { DEVICE } from '../../support/decode/device.ts';
import { allLayers, leafMap } from './helpers.ts';

const T = 1_700_000_000_000;

function sensorsEvent(name: string, properties: Record<string, unknown>, trackId: number) {
  return buildSensorsEvent(DEVICE, {
    name,
    properties,
    time: T + trackId,
    app: 'com.mi.globalbrowser.mini',
    appVersion: '13.0.1',
    libVersion: '6.7.0',
    uuid: 'c0ffee00-0000-4000-8000-000000000001',
    trackId,
  });
}

function form(body: string): DecodeResult {
  return decode({ body: Buffer.from(body), contentType: 'application/x-www-form-urlencoded' });
}

describe('decode: Sensors Analytics', () => {
  const events = [
    sensorsEvent('app_start', {}, 1),
    sensorsEvent('search', { search_word: 'canary-zebra-42' }, 2),
    sensorsEvent('page_view', { url: 'https://example.org/secret?x=1' }, 3),
  ];

  it('decodes a gzip batch to events with exact provenance paths', () => {
    const { body } = encodeSensorsBatch(events, T + 10);
    const r = decode({ body: Buffer.from(body), url: 'https://sa.api.intl.miui.com/sa?project=p&r=GB' });
    const m = leafMap(r);
    const base = 'body › form.data_list › base64 › gzip › json';
    assert.equal(m.get(`${base}[0].event`), 'app_start');
    assert.equal(m.get(`${base}[1].event`), 'search');
    assert.equal(m.get(`${base}[1].properties.search_word`), 'canary-zebra-42');
    assert.equal(m.get(`${base}[2].properties.url`), 'https://example.org/secret?x=1');
    assert.equal(m.get(`${base}[2].properties.url › query.x`), '1');
    assert.equal(m.get('query.project'), 'p');
    const sensors = allLayers(r.root).find((l) => l.kind === 'sensors');
    assert.deepEqual(sensors?.value, {
      field: 'data_list',
      gzip: '1',
      crc: sensors?.value && (sensors.value as { crc: number }).crc,
      crcValid: true,
      events: 3,
    });
    assert.deepEqual(r.findings, []);
    const leaf = r.leaves().find((l) => l.value === 'canary-zebra-42');
    assert.equal(leaf?.key, 'search_word');
  });

  it('reports a crc mismatch as a finding and still decodes', () => {
    const { dataList, crc } = encodeSensorsBatch(events, T);
    const r = form(
      formBody([
        ['crc', String(crc + 1)],
        ['gzip', '1'],
        ['data_list', dataList],
      ]),
    );
    assert.ok(r.findings.some((f) => f.kind === 'error' && /crc mismatch/.test(f.detail)));
    assert.equal(leafMap(r).get('body › form.data_list › base64 › gzip › json[0].event'), 'app_start');
  });

  it('decodes the web data= form with ext=crc, and data_list without gzip', () => {
    const b64 = Buffer.from('{"type":"track","event":"demo_event","properties":{"k":"v"}}').toString(
      'base64',
    );
    const r = form(`data=${encodeURIComponent(b64)}&ext=crc%3D-2097297121`);
    assert.equal(javaHashCode(b64), -2097297121);
    assert.equal(leafMap(r).get('body › form.data › base64 › json.event'), 'demo_event');
    assert.deepEqual(r.findings, []);
    const r2 = form('data_list=W3sidHlwZSI6InRyYWNrIiwiZXZlbnQiOiJkZW1vIn1d&gzip=0');
    assert.equal(leafMap(r2).get('body › form.data_list › base64 › json[0].event'), 'demo');
  });

  it('treats gzip=9 and gzip=13 as encrypted (opaque), keeping the cleartext envelope', () => {
    for (const flag of ['9', '13']) {
      const env = JSON.stringify([{ ekey: 'EK', pkv: 3, payloads: ['AAAA'], flush_time: T }]);
      const r = form(
        formBody([
          ['crc', '1'],
          ['gzip', flag],
          ['data_list', env],
        ]),
      );
      assert.ok(r.findings.some((f) => f.kind === 'opaque' && f.detail.includes(`gzip=${flag}`)));
      assert.equal(leafMap(r).get('body › form.data_list › json[0].ekey'), 'EK');
    }
  });
});

describe('decode: Sensors Analytics, web forms', () => {
  it('finds data= in the query string of GET /sa.gif', () => {
    const b64 = Buffer.from('{"type":"track","event":"demo","properties":{"q":"~~~"}}').toString('base64');
    const url = `https://collector.test/sa.gif?project=p&data=${encodeURIComponent(b64)}&ext=crc%3D-427836634`;
    const r = decode({ body: Buffer.alloc(0), url });
    assert.equal(leafMap(r).get('query.data › base64 › json.properties.q'), '~~~');
    assert.deepEqual(r.findings, []);
  });

  it('AES plugin (gzip=9): opaque, crc checked over the envelope JSON, cleartext key_id kept', () => {
    const body =
      'data=%7B%22key_id%22%3A1%2C%22key_hash%22%3A%22KH%22%2C%22nc%22%3A1%2C%22payload%22%3A%22UEFZTE9BRA%3D%3D%22%7D&ext=crc%3D-1231693038&gzip=9';
    const r = form(body);
    assert.deepEqual(
      r.findings.map((f) => f.kind),
      ['opaque'],
    );
    const sensors = allLayers(r.root).find((l) => l.kind === 'sensors');
    assert.equal((sensors?.value as { crcValid: boolean }).crcValid, true);
    assert.equal(leafMap(r).get('body › form.data › json.key_hash'), 'KH');
  });

  it('a plain form field called data is not Sensors', () => {
    const r = form('data=hello%20there&x=1');
    assert.equal(
      allLayers(r.root).find((l) => l.kind === 'sensors'),
      undefined,
    );
    assert.deepEqual(r.findings, []);
  });
});

describe('decode: MIUI tracking H/B envelope', () => {
  const header = trackingHeader(DEVICE, { sender: 'com.miui.securitycenter', analyticsVersion: '3.1' });
  const entry = (i: number): TrackingEntry => ({
    H: { sid: 's', pk: 'com.miui.securitycenter', key: 'open', eventTime: String(T + i), sn: i, retryCnt: 0 },
    B: { _event_id_: `ev_${i}`, filler: `x${i}`.repeat(20) },
  });

  it('gzip=0: names the H and B parts', () => {
    const { body, gzip } = encodeTrackingBody(header, [entry(1)], { ts: T, nonce: 'n1' });
    assert.equal(gzip, false);
    const m = leafMap(form(body));
    assert.equal(m.get('body › form.value › base64url › miui-envelope.H.model'), 'Redmi Note 11');
    assert.equal(m.get('body › form.value › base64url › miui-envelope.B[0].B._event_id_'), 'ev_1');
    assert.equal(m.get('body › form.nonce'), 'n1');
  });

  it('gzip=1: inflates first', () => {
    const entries = Array.from({ length: 1200 }, (_, i) => entry(i));
    const { body, gzip } = encodeTrackingBody(header, entries, { ts: T, nonce: 'n2' });
    assert.equal(gzip, true);
    const r = form(body);
    const m = leafMap(r);
    assert.equal(
      m.get('body › form.value › base64url › gzip › miui-envelope.B[1199].B._event_id_'),
      'ev_1199',
    );
    assert.equal(m.get('body › form.value › base64url › gzip › miui-envelope.H.aaid'), DEVICE.adId);
    assert.deepEqual(r.findings, []);
  });
});

describe('decode: MiStat', () => {
  it('reports the v3 upload as opaque', () => {
    const s = newMistatSession();
    const payload = mistatPayload(DEVICE, {
      appId: '2882303761517',
      appVersion: '1',
      pkg: 'com.miui.x',
      events: [],
      now: T,
    });
    const body = encodeMistatBody(payload, s, { appId: '2882303761517', region: 'GB' });
    const r = decode({ body: Buffer.from(body), url: 'https://data.mistat.intl.xiaomi.com/mistats/v3' });
    const mistat = allLayers(r.root).find((l) => l.kind === 'mistat');
    assert.equal(mistat?.path, 'body › form.p › mistat');
    assert.ok(r.findings.some((f) => f.kind === 'opaque' && f.path === 'body › form.p › mistat'));
    assert.equal(leafMap(r).get('body › form.sid'), s.sid);
  });

  describe('with keys.mistat', () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const s = { key, sid: '0123456789abcdef', fallback: true };
    const payload = mistatPayload(DEVICE, {
      appId: '2882303761517',
      appVersion: '1',
      pkg: 'com.miui.x',
      events: [{ e: 'open_app', t: T, p: { screen: 'home', query: 'canary-otter-7' } }],
      now: T,
    });
    const body = encodeMistatBody(payload, s, { appId: '2882303761517', region: 'GB' });
    const url = 'https://data.mistat.intl.xiaomi.com/mistats/v3';

    it('decrypts p: IV + AES-128-CBC, then gzip, then JSON, as child layers', () => {
      assert.deepEqual(decodeMistatBody(body, key).payload, payload); // the virtual phone's own reading
      const r = decode({ body: Buffer.from(body), url, keys: { mistat: key } });
      assert.deepEqual(r.findings, []);
      const m = leafMap(r);
      const base = 'body › form.p › mistat › aes › gzip › json';
      assert.equal(m.get(`${base}.es[0].e`), 'open_app');
      assert.equal(m.get(`${base}.es[0].p.query`), 'canary-otter-7');
      assert.equal(m.get(`${base}.id`), DEVICE.androidId);
      assert.equal(m.get(`${base}.aii`), DEVICE.imeiHash);
      const mistat = allLayers(r.root).find((l) => l.kind === 'mistat');
      assert.equal((mistat?.value as { decrypted: boolean }).decrypted, true);
      assert.equal(mistat?.children[0]?.kind, 'aes');
      assert.equal(mistat?.children[0]?.path, 'body › form.p › mistat › aes');
    });

    it('a wrong key gives an error finding that says so, and the payload stays opaque; never a throw', () => {
      for (let i = 0; i < 16; i++) {
        const wrong = Buffer.from(key);
        wrong[i] = wrong[i]! ^ 0x5a;
        const r = decode({ body: Buffer.from(body), url, keys: { mistat: wrong } });
        const f = r.findings.find((x) => x.kind === 'error');
        assert.ok(f && /wrong key/.test(f.detail), JSON.stringify(r.findings));
        assert.equal(f.path, 'body › form.p › mistat › aes');
        const opaque = r.findings.filter((x) => x.kind === 'opaque');
        assert.deepEqual(
          opaque.map((x) => [x.path, /the key given does not decrypt it/.test(x.detail)]),
          [['body › form.p › mistat', true]],
        );
        assert.equal(
          allLayers(r.root).some((l) => l.kind === 'aes'),
          false,
        );
      }
    });

    it('a key of the wrong length or a truncated payload is a finding too', () => {
      const short = decode({ body: Buffer.from(body), url, keys: { mistat: Buffer.alloc(5) } });
      assert.ok(short.findings.some((x) => x.kind === 'error' && /16 bytes/.test(x.detail)));
      const cut = body.replace(/&p=([^&]*)/, (_, v: string) => `&p=${v.slice(0, 30)}`);
      const r = decode({ body: Buffer.from(cut), url, keys: { mistat: key } });
      assert.ok(r.findings.some((x) => x.kind === 'error'));
    });

    it('keys for other names leave MiStat opaque', () => {
      const r = decode({ body: Buffer.from(body), url, keys: { other: key } });
      assert.ok(r.findings.some((x) => x.kind === 'opaque' && x.path === 'body › form.p › mistat'));
    });
  });
});

describe('decode: generic layers', () => {
  it('query + form + cookie + nested base64(JSON) in a JSON string', () => {
    const inner = Buffer.from(JSON.stringify({ email: 'a@b.c', n: 1 })).toString('base64');
    const cookieJson = encodeURIComponent(JSON.stringify({ distinct_id: 'd1', identities: inner }));
    const body = `a=1&j=${encodeURIComponent(JSON.stringify({ blob: inner, list: [inner] }))}`;
    const r = decode({
      body: Buffer.from(body),
      contentType: 'text/plain',
      url: '/collect?q=hello%20world&x',
      headers: { Cookie: `sensorsdata2015jssdkcross=${cookieJson}; sid=abc` },
    });
    const m = leafMap(r);
    assert.equal(m.get('query.q'), 'hello world');
    assert.equal(m.get('body › form.a'), '1');
    assert.equal(m.get('body › form.j › json.blob › base64 › json.email'), 'a@b.c');
    assert.equal(m.get('body › form.j › json.list[0] › base64 › json.email'), 'a@b.c');
    assert.equal(m.get('cookie.sid'), 'abc');
    assert.equal(m.get('cookie.sensorsdata2015jssdkcross › json.identities › base64 › json.email'), 'a@b.c');
  });

  it('multipart/form-data with a boundary', () => {
    const b = 'XyZ123';
    const gz = gzipSync(Buffer.from(JSON.stringify({ k: 'in-gzip' })));
    const body = Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="field"\r\n\r\nplain value\r\n`),
      Buffer.from(
        `--${b}\r\nContent-Disposition: form-data; name="doc"\r\nContent-Type: application/json\r\n\r\n{"a":{"b":"c"}}\r\n`,
      ),
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="x.gz"\r\n\r\n`),
      gz,
      Buffer.from(`\r\n--${b}--\r\n`),
    ]);
    const r = decode({ body, contentType: `multipart/form-data; boundary=${b}` });
    const m = leafMap(r);
    assert.equal(m.get('body › multipart.field'), 'plain value');
    assert.equal(m.get('body › multipart.doc › json.a.b'), 'c');
    assert.equal(m.get('body › multipart.file › gzip › json.k'), 'in-gzip');
  });

  it('base64url unpadded, and words that merely look like base64 stay plain', () => {
    const json = JSON.stringify({ url: 'https://x.test/?a=~~~>>>' });
    const unpadded = base64UrlPadded(Buffer.from(json)).replace(/=+$/, '');
    assert.match(unpadded, /[-_]/);
    const r = decode({
      body: Buffer.from(JSON.stringify({ v: unpadded, w: 'helloworld', h: 'deadbeefdeadbeef' })),
    });
    const m = leafMap(r);
    assert.equal(m.get('body › json.v › base64url › json.url'), 'https://x.test/?a=~~~>>>');
    for (const k of ['w', 'h'])
      assert.equal(allLayers(r.root).find((l) => l.path === `body › json.${k}`)?.children.length, 0);
  });

  it('a raw JSON body, Content-Encoding gzip, and binary bodies', () => {
    const r = decode({
      body: gzipSync('{"a":[1,"two"]}'),
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    });
    assert.equal(leafMap(r).get('body › gzip › json.a[1]'), 'two');
    const bin = decode({ body: Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255]) });
    assert.ok(bin.findings.some((f) => f.kind === 'opaque'));
  });
});
