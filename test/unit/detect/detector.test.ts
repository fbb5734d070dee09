import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { decode, type DecodeResult, type Layer } from '../../../src/decode/index.ts';
import { createDetector, parseCatalogue, type Finding, type Identifier } from '../../../src/detect/index.ts';
import {
  buildSensorsEvent,
  buildSplashAdRequest,
  encodeMistatBody,
  encodeSensorsBatch,
  encodeSplashAdRequest,
  encodeTrackingBody,
  formBody,
  mistatPayload,
  newMistatSession,
  trackingHeader,
  type DeviceInfo,
} from '../../../src/virtual/telemetry/index.ts';

const T = 1_700_000_000_000;
const IMEI = '861234567890123';
const ACCOUNT = '1234567890';

const DEVICE: DeviceInfo = {
  model: 'M2007J3SG',
  brand: 'Xiaomi',
  manufacturer: 'Xiaomi',
  device: 'apollo',
  product: 'apollo_global',
  modDevice: 'apollo_global',
  osVersion: '12',
  sdk: 31,
  incremental: 'V13.0.2.0.SJDMIXM',
  miuiName: 'V130',
  hyperOs: '',
  region: 'GB',
  buildRegion: 'global',
  language: 'en',
  locale: 'en-GB',
  timezone: 'Europe/London',
  screenWidth: 1080,
  screenHeight: 2400,
  serial: '3f9a1c7e',
  androidId: '8f2c1e0b9d7a4c36',
  imeiHash: createHash('md5').update(IMEI).digest('hex'),
  macHash: 'fedcba9876543210fedcba9876543210',
  adId: '3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c',
};

const IDS: Identifier[] = [
  { name: 'android_id', value: DEVICE.androidId },
  { name: 'ad_id', value: DEVICE.adId },
  { name: 'model', value: DEVICE.model },
  { name: 'imei', value: IMEI },
  { name: 'mi_account', value: ACCOUNT },
];

const CANARY = 'phc-7f3a9e-Zebra';
/** A canary with characters that URL encoding changes. */
const SPACED = 'phc 7f3a9e/Zebra';

interface Req {
  url: string;
  body?: string | Buffer;
  contentType?: string;
  method?: string;
}

function detect(req: Req, canaries: string[] = [CANARY], identifiers: Identifier[] = IDS) {
  const host = new URL(req.url).host;
  const decoded = decode({
    body: Buffer.from(req.body ?? ''),
    url: req.url,
    contentType: req.contentType ?? 'application/x-www-form-urlencoded',
  });
  const result = createDetector({ canaries, identifiers }).run(
    { method: req.method ?? 'POST', url: req.url, host },
    decoded,
  );
  assertRealPaths(result.findings, decoded);
  return { ...result, decoded };
}

/** Every finding points at a layer of the tree (or at the URL/host). */
function assertRealPaths(findings: Finding[], decoded: DecodeResult): void {
  const paths = new Set(['url', 'host']);
  const stack: Layer[] = [decoded.root];
  while (stack.length) {
    const l = stack.pop()!;
    paths.add(l.path);
    stack.push(...l.children);
  }
  for (const f of decoded.findings) paths.add(f.path);
  for (const f of findings) assert.ok(paths.has(f.path), `no layer at ${f.path}`);
}

/** `path|encoding` of each finding for `value`. */
function where(findings: Finding[], value: string): string[] {
  return findings.filter((f) => f.value === value).map((f) => `${f.path}|${f.encoding}`);
}

function sensorsBody(): string {
  const events = [
    { name: 'app_start', properties: {} },
    { name: 'search', properties: { search_word: `weather ${CANARY}` } },
  ].map((e, i) =>
    buildSensorsEvent(DEVICE, {
      ...e,
      time: T + i,
      app: 'com.mi.globalbrowser.mini',
      appVersion: '13.0.1',
      libVersion: '6.7.0',
      uuid: 'c0ffee00-0000-4000-8000-000000000001',
      account: ACCOUNT,
      trackId: 100 + i,
    }),
  );
  return encodeSensorsBatch(events, T + 10).body;
}

describe('detect: detector over decoded requests', () => {
  const SENSORS_JSON = 'body › form.data_list › base64 › gzip › json';

  it('recognises a Sensors upload on an unknown host by its decoded layer, with canaries and identifiers', () => {
    const { tracker, findings } = detect({
      url: 'https://collector.example.net/api/collect',
      body: sensorsBody(),
    });
    assert.equal(tracker?.id, 'sensors-analytics');
    assert.equal(tracker?.vendor, 'Sensors Data');
    assert.equal(tracker?.host, '*');
    assert.deepEqual(findings[0], {
      kind: 'tracker',
      value: 'sensors-analytics',
      path: 'body › form.data_list › sensors',
      encoding: 'n/a',
      detail: "Sensors Data analytics: a decoded 'sensors' layer (any host)",
    });
    assert.deepEqual(where(findings, CANARY), [`${SENSORS_JSON}[1].properties.search_word|plain`]);
    const androidId = findings.filter((f) => f.value === DEVICE.androidId);
    assert.deepEqual(
      androidId.map((f) => f.path),
      [
        `${SENSORS_JSON}[0].properties.$device_id`,
        `${SENSORS_JSON}[0].properties.android_id`,
        `${SENSORS_JSON}[1].properties.$device_id`,
        `${SENSORS_JSON}[1].properties.android_id`,
      ],
    );
    assert.ok(
      androidId.every((f) => f.kind === 'identifier' && f.name === 'android_id' && f.encoding === 'plain'),
    );
    assert.ok(where(findings, ACCOUNT).includes(`${SENSORS_JSON}[0].distinct_id|plain`));
    assert.ok(where(findings, DEVICE.model).includes(`${SENSORS_JSON}[0].properties.$model|plain`));
  });

  it('prefers the catalogue on a known Sensors host (host+path → path "url")', () => {
    const { tracker, findings } = detect({
      url: 'https://sa.api.intl.miui.com/sa?project=global_browser_mini&r=GB',
      body: sensorsBody(),
    });
    assert.equal(tracker?.id, 'miui-sensors');
    assert.equal(findings[0]?.path, 'url');
    assert.equal(findings.filter((f) => f.kind === 'tracker').length, 1);
  });

  it('MIUI tracking envelope: identifiers in base64url, plain and md5; host-only rule gives path "host"', () => {
    const header = trackingHeader(DEVICE, {
      sender: 'com.miui.securitycenter',
      analyticsVersion: '2.0',
      account: ACCOUNT,
    });
    const { body } = encodeTrackingBody(
      header,
      [
        {
          H: {
            sid: 's',
            pk: 'com.miui.securitycenter',
            key: 'open',
            eventTime: String(T),
            sn: 1,
            retryCnt: 0,
          },
          B: { note: CANARY },
        },
      ],
      { ts: T, nonce: 'n0nce' },
    );
    const { tracker, findings } = detect({ url: 'https://tracking.intl.miui.com/track/spock', body });
    assert.equal(tracker?.id, 'miui-analytics');
    assert.equal(findings[0]?.path, 'url');
    const env = 'body › form.value › base64url › miui-envelope';
    // The raw field also holds the ad id in base64, but the decoded layer below it says more: one finding.
    assert.deepEqual(where(findings, DEVICE.adId), [`${env}.H.aaid|plain`]);
    assert.deepEqual(where(findings, IMEI), [`${env}.H.imei|md5`]);
    assert.ok(where(findings, CANARY).includes(`${env}.B[0].B.note|plain`));

    const other = detect({ url: 'https://tracking.intl.miui.com/unknown', body });
    assert.equal(other.tracker?.id, 'miui-tracking-host');
    assert.equal(other.findings[0]?.path, 'host');
  });

  it('splash-ad request: JSON body, identifiers in userInfo', () => {
    const req = buildSplashAdRequest(DEVICE, {
      pkg: 'com.miui.player',
      pkgVersion: '1',
      msaVersion: '2',
      triggerId: 't',
    });
    const { tracker, findings } = detect({
      url: 'http://api.ad.intl.xiaomi.com/getSplashScreenAds',
      body: encodeSplashAdRequest(req),
      contentType: 'application/json',
    });
    assert.equal(tracker?.id, 'xiaomi-splash-ads');
    assert.deepEqual(where(findings, DEVICE.androidId), ['body › json.userInfo.androidId|plain']);
    assert.deepEqual(where(findings, DEVICE.adId), ['body › json.userInfo.idfa|plain']);
    assert.deepEqual(where(findings, IMEI), ['body › json.userInfo.imei|md5']);
  });

  it('MiStat upload: tracker, the opaque payload as a finding, no identifier visible', () => {
    const payload = mistatPayload(DEVICE, {
      appId: '1',
      appVersion: '1',
      pkg: 'com.miui.player',
      events: [],
      now: T,
    });
    const body = encodeMistatBody(payload, newMistatSession(), { appId: '1', region: 'GB' });
    const { tracker, findings } = detect({ url: 'https://data.mistat.intl.xiaomi.com/mistats/v3', body });
    assert.equal(tracker?.id, 'mistat-upload');
    const opaque = findings.filter((f) => f.kind === 'opaque');
    assert.equal(opaque.length, 1);
    assert.equal(opaque[0]?.path, 'body › form.p › mistat');
    assert.equal(opaque[0]?.encoding, 'n/a');
    assert.match(opaque[0].value, /MiStat payload/);
    assert.deepEqual(where(findings, DEVICE.androidId), []);
  });

  it('finds every encoding in decoded JSON leaves', () => {
    const c = SPACED;
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const body = JSON.stringify({
      plain: `x ${c} y`,
      url: `see https://e.example/?next=${encodeURIComponent(`a ${c}`)}`,
      form: `a+b ${new URLSearchParams({ q: `${c} x` }).toString()}`,
      b64: `id:${b64(`..${c}`)}`,
      b64url: `id:${Buffer.from(`.${c}???`).toString('base64url')}`,
      hex: `id:${Buffer.from(c).toString('hex').toUpperCase()}`,
      // A whole hex value is decoded: the match is in the text below it, not in the hex.
      wholeHex: Buffer.from(c).toString('hex'),
      md5: createHash('md5').update(c).digest('hex'),
      sha1: createHash('sha1').update(c).digest('hex'),
      sha256: `sha256=${createHash('sha256').update(c).digest('hex')}`,
      lower: createHash('md5').update(c.toLowerCase()).digest('hex'),
    });
    const { findings } = detect({ url: 'https://unknown.example/x', body, contentType: 'application/json' }, [
      c,
    ]);
    const got = new Set(where(findings, c));
    assert.ok(!got.has('body › json.wholeHex|hex'), 'the hex copy of a decoded hex value is left out');
    for (const expected of [
      'body › json.plain|plain',
      'body › json.url|urlencoded',
      'body › json.form|urlencoded',
      'body › json.b64|base64',
      'body › json.b64url|base64url',
      'body › json.hex|hex',
      'body › json.wholeHex › hex › text|plain',
      'body › json.md5|md5',
      'body › json.sha1|sha1',
      'body › json.sha256|sha256',
      'body › json.lower|md5',
    ])
      assert.ok(got.has(expected), `${expected} in ${[...got].join(', ')}`);
    assert.equal(
      findings.find((f) => f.path === 'body › json.lower')?.detail,
      'digest of the lower-cased value',
    );
  });

  it('finds needles in keys (JSON keys, form field names) and numbers', () => {
    const json = detect({
      url: 'https://unknown.example/x',
      body: JSON.stringify({ users: { [ACCOUNT]: { seen: true } }, n: Number(ACCOUNT) }),
      contentType: 'application/json',
    });
    const inKey = json.findings.find((f) => f.path === `body › json.users.${ACCOUNT}`);
    assert.equal(inKey?.detail, 'in a key');
    assert.equal(inKey?.name, 'mi_account');
    assert.ok(where(json.findings, ACCOUNT).includes('body › json.n|plain'));
    const form = detect({ url: 'https://unknown.example/x', body: formBody([[`k_${CANARY}`, '1']]) });
    assert.deepEqual(
      form.findings.filter((f) => f.value === CANARY).map((f) => [f.path, f.detail]),
      [[`body › form.k_${CANARY}`, 'in a key']],
    );
  });

  it('gives the same answer when one detector sees the same keys again', () => {
    const detector = createDetector({ canaries: [CANARY] });
    const body = JSON.stringify([
      { a: 1, [CANARY]: 2 },
      { a: 3, [CANARY]: 4 },
    ]);
    const decoded = decode({ body: Buffer.from(body), contentType: 'application/json' });
    const req = { method: 'POST', url: 'https://unknown.example/x', host: 'unknown.example' };
    const first = detector.run(req, decoded);
    assert.deepEqual(
      first.findings.map((f) => f.path),
      [`body › json[0].${CANARY}`, `body › json[1].${CANARY}`],
    );
    assert.deepEqual(detector.run(req, decoded), first);
  });

  it('finds needles in the URL and the host when the body is empty', () => {
    const url = `https://phc-host-7f3a9e.example/p/${CANARY}?q=${encodeURIComponent(`a ${SPACED}`)}`;
    const { findings } = detect({ url, method: 'GET' }, [CANARY, SPACED, 'phc-host-7f3a9e'], []);
    assert.deepEqual(where(findings, CANARY), ['url|plain']);
    assert.deepEqual(where(findings, SPACED), ['url|urlencoded', 'query.q|plain']);
    assert.deepEqual(where(findings, 'phc-host-7f3a9e'), ['url|plain', 'host|plain']);
  });

  it('keeps a base64 match when nothing below it decoded the same value, drops it when something did', () => {
    const b64 = Buffer.from(CANARY).toString('base64');
    // Prefixed, the field is not base64 as a whole, so the decoder leaves it a string: the base64 form is the evidence.
    const kept = detect({ url: 'https://example.test/u', body: `t=tok.${b64}` }, [CANARY], []);
    assert.deepEqual(where(kept.findings, CANARY), ['body › form.t|base64']);
    // The whole field is base64: the decoded text layer holds the canary, so the raw-field match goes.
    const decoded = detect(
      { url: 'https://example.test/u', body: `t=${encodeURIComponent(b64)}` },
      [CANARY],
      [],
    );
    const paths = where(decoded.findings, CANARY);
    assert.ok(paths.length >= 1 && paths.every((p) => p.startsWith('body › form.t › ')), paths.join(', '));
  });

  it('finds needles in request headers through any chain, one finding per leak', () => {
    const headers = {
      // Percent-encoding and JSON string literals keep the canary plain in the raw header too.
      'X-Pct': encodeURIComponent(JSON.stringify({ u: CANARY })),
      'X-Json': JSON.stringify(JSON.stringify({ u: CANARY })),
      'X-Hex': Buffer.from(JSON.stringify({ u: CANARY })).toString('hex'),
      'X-Gz': gzipSync(JSON.stringify({ u: CANARY })).toString('base64'),
      'X-Device': `id=${DEVICE.androidId}`,
    };
    const url = 'https://unknown.example/x';
    const decoded = decode({ body: Buffer.alloc(0), url, headers });
    const { findings } = createDetector({ canaries: [CANARY], identifiers: IDS }).run(
      { method: 'GET', url, host: 'unknown.example' },
      decoded,
    );
    assertRealPaths(findings, decoded);
    assert.deepEqual(where(findings, CANARY), [
      'header.X-Pct › percent › json.u|plain',
      'header.X-Json › json-string › json.u|plain',
      'header.X-Hex › hex › json.u|plain',
      'header.X-Gz › base64 › gzip › json.u|plain',
    ]);
    assert.deepEqual(where(findings, DEVICE.androidId), ['header.X-Device|plain']);
  });

  it('deduplicates: one finding per needle, path and encoding', () => {
    const body = JSON.stringify({ a: `${CANARY} ${CANARY}`, b: [CANARY, CANARY] });
    const { findings } = detect(
      { url: 'https://unknown.example/x', body, contentType: 'application/json' },
      [CANARY, CANARY],
      [{ name: 'tag', value: CANARY }],
    );
    const canary = findings.filter((f) => f.kind === 'canary').map((f) => `${f.path}|${f.encoding}`);
    assert.deepEqual(canary, ['body › json.a|plain', 'body › json.b[0]|plain', 'body › json.b[1]|plain']);
    // The same value as an identifier is a separate needle.
    assert.equal(findings.filter((f) => f.kind === 'identifier').length, 3);

    // Two variants of one encoding in one string, and a needle in both key and value of one field.
    const strict = encodeURIComponent(SPACED);
    const form = new URLSearchParams({ q: SPACED }).toString().slice(2);
    assert.notEqual(strict, form);
    const mixed = detect(
      {
        url: 'https://unknown.example/x',
        body: JSON.stringify({ u: `${strict} ${form}` }),
        contentType: 'application/json',
      },
      [SPACED],
      [],
    );
    assert.deepEqual(where(mixed.findings, SPACED), ['body › json.u|urlencoded']);
    const keyed = detect(
      { url: 'https://unknown.example/x', body: formBody([[`k ${CANARY}`, CANARY]]) },
      [CANARY],
      [],
    );
    assert.deepEqual(
      keyed.findings.filter((f) => f.value === CANARY).map((f) => [f.path, f.encoding, f.detail]),
      [[`body › form["k ${CANARY}"]`, 'plain', undefined]],
    );
  });

  it('turns decoder errors into limit findings and keeps opaque/limit ones', () => {
    const { dataList, crc } = encodeSensorsBatch([], T);
    const body = formBody([
      ['crc', String(crc + 1)],
      ['gzip', '1'],
      ['data_list', dataList],
    ]);
    const { findings, decoded } = detect({ url: 'https://unknown.example/sa', body });
    assert.ok(decoded.findings.some((f) => f.kind === 'error'));
    const limit = findings.find((f) => f.kind === 'limit');
    assert.equal(limit?.path, 'body › form.data_list › sensors');
    assert.equal(limit?.encoding, 'n/a');
    assert.match(limit.value, /crc mismatch/);
    assert.match(limit.detail!, /^decoder error: /);
    const binary = createDetector({}).run(
      { method: 'POST', url: 'https://x.example/', host: 'x.example' },
      decode({ body: Buffer.from([0, 1, 2, 3, 0xff, 0xfe]) }),
    );
    assert.deepEqual(
      binary.findings.map((f) => [f.kind, f.encoding]),
      [['opaque', 'n/a']],
    );
  });

  it('works without needles (tracker and decoder findings only) and with a custom catalogue', () => {
    const bare = createDetector({}).run(
      { method: 'POST', url: 'https://collector.example.net/x', host: 'collector.example.net' },
      decode({ body: Buffer.from(sensorsBody()) }),
    );
    assert.equal(bare.tracker?.id, 'sensors-analytics');
    assert.deepEqual(
      bare.findings.map((f) => f.kind),
      ['tracker'],
    );
    const catalogue = parseCatalogue(
      {
        trackers: [
          {
            id: 'mine',
            vendor: 'Me',
            category: 'config',
            decoder: null,
            hosts: ['*.example.net'],
            source: 'test',
          },
        ],
      },
      'mem.json',
    );
    const mine = createDetector({ catalogue }).run(
      { method: 'GET', url: 'https://collector.example.net/x', host: 'collector.example.net' },
      decode({ body: Buffer.from(sensorsBody()) }),
    );
    assert.equal(
      mine.tracker?.id,
      'mine',
      'a host rule wins over the layer rule (which this catalogue lacks anyway)',
    );
    const none = createDetector({ catalogue }).run(
      { method: 'GET', url: 'https://other.example/x', host: 'other.example' },
      decode({ body: Buffer.from(sensorsBody()) }),
    );
    assert.equal(none.tracker, null, 'no layer rule in this catalogue');
  });

  it('rejects empty needles', () => {
    assert.throws(() => createDetector({ canaries: [''] }), /canary.*non-empty/);
    assert.throws(
      () => createDetector({ identifiers: [{ name: 'serial', value: '' }] }),
      /identifier serial must be a non-empty/,
    );
  });
});
