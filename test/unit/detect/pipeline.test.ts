import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import { createDetector, type Detector } from '../../../src/detect/index.ts';
import { decode } from '../../../src/decode/index.ts';
import { analyseRecord, eventAgesOf, layersOf } from '../../../src/detect/pipeline.ts';
import { loadProfile } from '../../../src/virtual/profiles/load.ts';
import {
  buildSensorsEvent,
  encodeMistatBody,
  encodeSensorsBatch,
  encodeTrackingBody,
  mistatPayload,
  newMistatSession,
  readDevice,
  trackingHeader,
  type DeviceInfo,
  type TrackingEntry,
} from '../../../src/virtual/telemetry/index.ts';

const ANDROID_ID = '0123456789abcdef';
const CANARY_URL = 'https://phc-canary-7f3a9e.example/page';

function device(): DeviceInfo {
  const profile = loadProfile('redmi-note-8-leaky');
  const settings = {
    get: (ns: string, k: string) => (ns === 'secure' && k === 'android_id' ? ANDROID_ID : undefined),
  };
  return readDevice(profile, { get: (k: string) => profile.props[k] ?? '' }, settings);
}

function post(
  url: string,
  body: string | Buffer,
  extra: Partial<{ truncated: boolean; bodySize: number }> = {},
): CaptureRecord {
  const b = Buffer.from(body);
  return {
    type: 'exchange',
    index: 7,
    startedAt: '2026-01-01T00:00:00.000Z',
    method: 'POST',
    url,
    host: new URL(url).hostname,
    httpVersion: '1.1',
    request: {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: b,
      bodySize: extra.bodySize ?? b.length,
      truncated: extra.truncated ?? false,
    },
    response: null,
  };
}

function sensorsBody(): string {
  const d = device();
  const events = ['page_load_event_start', 'page_load_event_finish'].map((name, i) =>
    buildSensorsEvent(d, {
      name,
      properties: { url: CANARY_URL },
      time: 1_700_000_000_000 + i,
      app: 'com.mi.globalbrowser',
      appVersion: '12.1.3',
      libVersion: '3.2.10',
      uuid: 'u-1',
      trackId: i,
    }),
  );
  return encodeSensorsBatch(events, 1_700_000_000_500).body;
}

const SENSORS_URL = 'https://sa.api.intl.miui.com/sa?project=global_browser_mini&r=GB';

describe('analyseRecord', () => {
  const detector = createDetector({
    canaries: [CANARY_URL],
    identifiers: [{ name: 'android_id', value: ANDROID_ID }],
  });

  it('finds a canary and an identifier in a Sensors batch with their exact provenance', () => {
    const x = analyseRecord(post(SENSORS_URL, sensorsBody()), detector);
    assert.equal(x.index, 7);
    assert.equal(x.method, 'POST');
    assert.equal(x.url, SENSORS_URL);
    assert.equal(x.host, 'sa.api.intl.miui.com');
    assert.equal(x.tracker?.id, 'miui-sensors', JSON.stringify(x.tracker));
    const canaries = x.findings.filter((f) => f.kind === 'canary');
    assert.deepEqual(
      canaries.map((f) => [f.value, f.path, f.encoding]),
      [
        [CANARY_URL, 'body › form.data_list › base64 › gzip › json[0].properties.url', 'plain'],
        [CANARY_URL, 'body › form.data_list › base64 › gzip › json[1].properties.url', 'plain'],
      ],
    );
    const ids = x.findings.filter((f) => f.kind === 'identifier');
    assert.ok(ids.length > 0);
    for (const f of ids) {
      assert.equal(f.value, ANDROID_ID);
      assert.equal(f.name, 'android_id');
    }
    assert.ok(
      ids.some((f) => f.path === 'body › form.data_list › base64 › gzip › json[0].properties.$device_id'),
      JSON.stringify(ids),
    );
    assert.deepEqual(
      x.findings.filter((f) => f.kind === 'limit' || f.kind === 'opaque'),
      [],
      'a well-formed batch has no limits',
    );
  });

  it('lists the transforms and containers in tree order, not the scalar leaves', () => {
    const x = analyseRecord(post(SENSORS_URL, sensorsBody()), detector);
    const paths = x.layers.map((l) => l.path);
    const expectOrder = [
      'body',
      'body › form',
      'body › form.data_list',
      'body › form.data_list › sensors',
      'body › form.data_list › base64',
      'body › form.data_list › base64 › gzip',
      'body › form.data_list › base64 › gzip › json',
      'body › form.data_list › base64 › gzip › json[0]',
      'body › form.data_list › base64 › gzip › json[0].properties',
      'body › form.data_list › base64 › gzip › json[1]',
      'query',
    ];
    let at = -1;
    for (const p of expectOrder) {
      const i = paths.indexOf(p);
      assert.ok(i > at, `${p} missing or out of order in ${JSON.stringify(paths, null, 1)}`);
      at = i;
    }
    const kinds = new Map(x.layers.map((l) => [l.path, l.kind]));
    assert.equal(kinds.get('body › form.data_list › sensors'), 'sensors');
    assert.equal(kinds.get('body › form.data_list › base64 › gzip'), 'gzip');
    assert.ok(!paths.includes('body › form.crc'), 'scalar form field');
    assert.ok(!paths.some((p) => p.endsWith('.properties.url')), 'scalar JSON leaf');
    assert.ok(!paths.includes('query.project'), 'scalar query field');
    for (const l of x.layers) assert.deepEqual(Object.keys(l).sort(), ['kind', 'path']);
  });

  it('keeps only structure in layersOf: a leaf with a summary or no value stays, scalars go', () => {
    const root = {
      path: 'body',
      kind: 'body' as const,
      children: [
        { path: 'body › gzip', kind: 'gzip' as const, children: [] },
        { path: 'body › text', kind: 'text' as const, value: 'hello', children: [] },
        { path: 'body › opaque', kind: 'opaque' as const, value: '9 bytes', children: [] },
        { path: 'body › mistat', kind: 'mistat' as const, value: { sv: '3' }, children: [] },
      ],
    };
    assert.deepEqual(layersOf(root), [
      { path: 'body', kind: 'body' },
      { path: 'body › gzip', kind: 'gzip' },
      { path: 'body › opaque', kind: 'opaque' },
      { path: 'body › mistat', kind: 'mistat' },
    ]);
  });

  it('reports a TLS failure as CONNECT with a tls finding and no layers', () => {
    const x = analyseRecord(
      {
        type: 'tls-failure',
        index: 3,
        startedAt: '',
        host: 'data.mistat.intl.xiaomi.com',
        cause: 'cert-rejected',
      },
      detector,
    );
    assert.equal(x.index, 3);
    assert.equal(x.method, 'CONNECT');
    assert.equal(x.url, 'https://data.mistat.intl.xiaomi.com/');
    assert.equal(x.host, 'data.mistat.intl.xiaomi.com');
    assert.deepEqual(x.layers, []);
    assert.deepEqual(x.findings, [
      {
        kind: 'tls',
        value: 'cert-rejected',
        path: 'tls',
        encoding: 'n/a',
        detail:
          'TLS handshake failed (cert-rejected): the app may pin its certificates; nothing was decrypted',
      },
    ]);
    assert.notEqual(x.tracker, null, 'the host is still looked up in the catalogue');
  });

  it('notes a body the capture truncated as a limit', () => {
    const x = analyseRecord(
      post('https://example.com/x', 'a=1', { truncated: true, bodySize: 5000 }),
      detector,
    );
    const limits = x.findings.filter((f) => f.kind === 'limit');
    assert.equal(limits.length, 1, JSON.stringify(x.findings));
    assert.equal(limits[0]!.path, 'body');
    assert.match(limits[0]!.detail ?? '', /kept 3 of 5000 body bytes/);
  });

  it('turns a record that breaks the detector into a limit finding instead of throwing', () => {
    const broken: Detector = {
      run() {
        throw new RangeError('boom');
      },
    };
    const x = analyseRecord(post('https://example.com/x', 'a=1'), broken);
    assert.equal(x.tracker, null);
    assert.deepEqual(x.layers, []);
    assert.equal(x.findings.length, 1);
    assert.equal(x.findings[0]!.kind, 'limit');
    assert.match(x.findings[0]!.detail ?? '', /could not be analysed \(boom\)/);
  });

  it('decrypts MiStat with a mistat key and finds the canary inside', () => {
    const d = device();
    const session = newMistatSession();
    const body = encodeMistatBody(
      mistatPayload(d, {
        appId: '2882303761517',
        appVersion: '1.0',
        pkg: 'com.miui.home',
        events: [{ e: 'open', t: 1, p: { url: CANARY_URL } }],
        now: 1_700_000_000_000,
      }),
      session,
      { appId: '2882303761517', region: 'GB' },
    );
    const url = 'https://data.mistat.intl.xiaomi.com/mistats/v3';
    const without = analyseRecord(post(url, body), detector);
    assert.deepEqual(
      without.findings.filter((f) => f.kind === 'canary'),
      [],
    );
    assert.ok(without.findings.some((f) => f.kind === 'opaque'));
    const withKey = analyseRecord(post(url, body), detector, { keys: { mistat: session.key } });
    const canary = withKey.findings.filter((f) => f.kind === 'canary');
    assert.equal(canary.length, 1, JSON.stringify(withKey.findings, null, 1));
    assert.equal(canary[0]!.path, 'body › form.p › mistat › aes › gzip › json.es[0].p.url');
    assert.ok(
      withKey.layers.some((l) => l.kind === 'aes'),
      JSON.stringify(withKey.layers),
    );
  });

  it('lists header layers and opaque residue, and opens the residue with a key for the host', () => {
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const iv = Buffer.alloc(16, 1);
    const c = createCipheriv('aes-128-cbc', key, iv);
    const sealed = Buffer.concat([iv, c.update(gzipSync(JSON.stringify({ url: CANARY_URL }))), c.final()]);
    const body = sealed.toString('base64url');
    // base64url without `-` or `_` is base64 too, and named so.
    const b64 = /[-_]/.test(body) ? 'base64url' : 'base64';
    const record = post('https://up.example.net/v1', body);
    (record as { request: { headers: Record<string, string> } }).request.headers['X-Ctx'] = Buffer.from(
      JSON.stringify({ url: CANARY_URL }),
    ).toString('hex');
    const bare = analyseRecord(record, detector);
    const kinds = new Map(bare.layers.map((l) => [l.path, l.kind]));
    assert.equal(kinds.get('header'), 'header');
    assert.equal(kinds.get('header.X-Ctx'), 'header');
    assert.equal(kinds.get('header.X-Ctx › hex'), 'hex');
    assert.equal(kinds.get(`body › ${b64} › opaque`), 'opaque');
    assert.deepEqual(
      bare.findings.filter((f) => f.kind !== 'tracker').map((f) => `${f.kind} ${f.path}`),
      ['canary header.X-Ctx › hex › json.url', `opaque body › ${b64} › opaque`],
    );
    const keyed = analyseRecord(record, detector, { keys: { '*.example.net': key } });
    assert.deepEqual(
      keyed.findings.filter((f) => f.kind !== 'tracker').map((f) => `${f.kind} ${f.path}`),
      [`canary body › ${b64} › aes › gzip › json.url`, 'canary header.X-Ctx › hex › json.url'],
    );
  });
});

describe("eventAgesOf: how old an upload's events were when it was sent", () => {
  const T = 1_700_000_000_000;
  const TRACKING_URL = 'https://tracking.intl.miui.com/track/spock';
  const dated = (url: string, body: string) =>
    eventAgesOf(
      decode({ body: Buffer.from(body), url, contentType: 'application/x-www-form-urlencoded' }).root,
    );
  /** The ages without the event paths (checked on their own below). */
  const ages = (url: string, body: string) => {
    const a = dated(url, body);
    if (!a) return a;
    const { paths: _paths, ...rest } = a;
    return rest;
  };
  const entry = (eventTime: unknown, i = 0): TrackingEntry =>
    ({
      H: { sid: 's', pk: 'com.android.systemui', key: 'status_bar_pull', eventTime, sn: i, retryCnt: 0 },
      B: { _event_id_: 'status_bar_pull' },
    }) as TrackingEntry;
  const tracking = (entries: TrackingEntry[], sent: number) =>
    encodeTrackingBody(
      trackingHeader(device(), { sender: 'com.android.systemui', analyticsVersion: '3.8.8' }),
      entries,
      {
        ts: sent,
        nonce: 'n1',
      },
    ).body;

  it("MIUI H/B envelope: send time `H.st` less each entry's `eventTime`", () => {
    assert.deepEqual(
      ages(TRACKING_URL, tracking([entry(String(T - 60_000)), entry(String(T - 45_500), 1)], T)),
      {
        events: 2,
        youngestMs: 45_500,
        oldestMs: 60_000,
      },
    );
  });

  it("Sensors batch: each event's `_flush_time` less its `time`; analyseRecord carries it", () => {
    // sensorsBody(): events at T and T+1, flushed at T+500.
    assert.deepEqual(ages(SENSORS_URL, sensorsBody()), { events: 2, youngestMs: 499, oldestMs: 500 });
    const x = analyseRecord(post(SENSORS_URL, sensorsBody()), createDetector());
    assert.deepEqual(x.eventAges?.paths, [
      'body › form.data_list › base64 › gzip › json[0]',
      'body › form.data_list › base64 › gzip › json[1]',
    ]);
    assert.equal(x.eventAges?.youngestMs, 499);
  });

  it('is absent when any event is undated, dated after the send, or when nothing holds events', () => {
    assert.equal(
      ages(TRACKING_URL, tracking([entry(String(T - 60_000)), entry(undefined, 1)], T)),
      undefined,
    );
    assert.equal(ages(TRACKING_URL, tracking([entry('yesterday')], T)), undefined);
    assert.equal(
      ages(TRACKING_URL, tracking([entry(String(T + 5_000))], T)),
      undefined,
      'an event after its send',
    );
    assert.equal(ages(TRACKING_URL, tracking([], T)), undefined, 'an envelope without entries');
    assert.equal(ages(SENSORS_URL, 'a=1&b=2'), undefined);
    const noFlush = Buffer.from(JSON.stringify([{ time: T, event: 'x' }])).toString('base64');
    assert.equal(
      ages(SENSORS_URL, `data_list=${encodeURIComponent(noFlush)}&gzip=0`),
      undefined,
      'no _flush_time',
    );
    const flushed = Buffer.from(JSON.stringify([{ time: T, event: 'x', _flush_time: T + 7 }])).toString(
      'base64',
    );
    assert.deepEqual(ages(SENSORS_URL, `data_list=${encodeURIComponent(flushed)}&gzip=0`), {
      events: 1,
      youngestMs: 7,
      oldestMs: 7,
    });
  });

  it('names the envelope entries as the dated events; MiStat or AES in the body leaves it undated', () => {
    assert.deepEqual(
      dated(TRACKING_URL, tracking([entry(String(T - 9)), entry(String(T - 8), 1)], T))?.paths,
      [
        'body › form.value › base64url › miui-envelope.B[0]',
        'body › form.value › base64url › miui-envelope.B[1]',
      ],
    );
    const root = decode({
      body: Buffer.from(tracking([entry(String(T - 9))], T)),
      url: TRACKING_URL,
      contentType: 'application/x-www-form-urlencoded',
    }).root;
    assert.ok(eventAgesOf(root));
    root.children.push({ ...root.children[0]!, kind: 'mistat', children: [] });
    assert.equal(eventAgesOf(root), undefined);
  });

  it('an event a second after the stamp (clock resolution) counts as age 0', () => {
    assert.deepEqual(ages(TRACKING_URL, tracking([entry(String(T + 800))], T)), {
      events: 1,
      youngestMs: 0,
      oldestMs: 0,
    });
  });
});
