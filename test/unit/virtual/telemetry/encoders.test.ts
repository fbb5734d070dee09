import assert from 'node:assert/strict';
import { createDecipheriv, createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { loadProfile } from '../../../../src/virtual/profiles/load.ts';
import {
  buildSensorsEvent,
  buildSplashAdRequest,
  decodeMistatBody,
  decodeSensorsBody,
  decodeSplashAdRequest,
  decodeTrackingBody,
  encodeMistatBody,
  encodeSensorsBatch,
  encodeSplashAdRequest,
  encodeTrackingBody,
  javaHashCode,
  newMistatSession,
  readDevice,
  TRACKING_SIGN_SALT,
  trackingHeader,
  type DeviceInfo,
} from '../../../../src/virtual/telemetry/index.ts';

// Independent decoders, written from the facts sheets (sensorsdata-format.md §4-5,
// xiaomi-telemetry.md §2.2), not from the encoders.
function form(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of body.split('&')) {
    const [k, v = ''] = pair.split('=');
    out[decodeURIComponent(k!)] = decodeURIComponent(v.replace(/\+/g, ' '));
  }
  return out;
}
function javaHash(s: string): number {
  let h = 0;
  for (const unit of Array.from({ length: s.length }, (_, i) => s.charCodeAt(i)))
    h = ((h << 5) - h + unit) | 0;
  return h;
}
function fromBase64Url(s: string): Buffer {
  const std = s.replace(/-/g, '+').replace(/_/g, '/');
  return Buffer.from(std + '='.repeat((4 - (std.length % 4)) % 4), 'base64');
}

function device(): DeviceInfo {
  const profile = loadProfile('redmi-note-8-leaky');
  const settings = {
    get: (ns: string, k: string) => (ns === 'secure' && k === 'android_id' ? '0123456789abcdef' : undefined),
  };
  return readDevice(profile, { get: (k: string) => profile.props[k] ?? '' }, settings);
}

describe('telemetry encoders', () => {
  it('javaHashCode matches the facts sheet examples', () => {
    assert.equal(
      javaHashCode('eyJ0eXBlIjoidHJhY2siLCJldmVudCI6ImRlbW9fZXZlbnQiLCJwcm9wZXJ0aWVzIjp7ImsiOiJ2In19'),
      -2097297121,
    );
    assert.equal(
      javaHashCode('eyJ0eXBlIjoidHJhY2siLCJldmVudCI6ImRlbW8iLCJwcm9wZXJ0aWVzIjp7InEiOiJ+fn4ifX0='),
      -427836634,
    );
    assert.equal(
      javaHashCode('H4sIAAAAAAAAA4uuViqpLEhVslIqKUpMzlbSUUotS80rUbJSSknNzVeqjQUAM0CyJCEAAAA='),
      1916924152,
    );
  });

  it('Sensors batch round-trips: crc, gzip=1, percent-encoded base64 of a gzipped JSON array', () => {
    const d = device();
    const ev = buildSensorsEvent(d, {
      name: 'search',
      properties: {
        search_word: 'naïve ~ query+1',
        used_searchengine: 'google',
        search_position: 'bar',
        search_method: 'input',
      },
      time: 1_700_000_000_000,
      app: 'com.mi.globalbrowser',
      appVersion: '12.1.3',
      libVersion: '3.2.10',
      uuid: 'u-1',
      account: '123456789',
      trackId: 42,
    });
    const { body } = encodeSensorsBatch([ev, { ...ev, _track_id: 43 }], 1_700_000_000_500);
    assert.match(body, /^crc=-?\d+&gzip=1&data_list=H4sI[A-Za-z0-9%]+$/);
    assert.ok(!/[+/]/.test(body.split('data_list=')[1]!), 'base64 specials are percent-encoded');
    const f = form(body);
    const b64 = f.data_list!.replace(/ /g, '+');
    assert.equal(Number(f.crc), javaHash(b64));
    const events = JSON.parse(gunzipSync(Buffer.from(b64, 'base64')).toString('utf8')) as Array<{
      [k: string]: unknown;
      lib: Record<string, unknown>;
      properties: Record<string, unknown>;
    }>;
    assert.equal(events.length, 2);
    const e = events[0]!;
    assert.equal(e.type, 'track');
    assert.equal(e.event, 'search');
    assert.equal(e.distinct_id, '123456789');
    assert.equal(e.login_id, '123456789');
    assert.equal(e.anonymous_id, 'u-1');
    assert.equal(e.time, 1_700_000_000_000);
    assert.equal(e._flush_time, 1_700_000_000_500);
    assert.equal(e._track_id, 42);
    assert.equal(e.lib.$lib, 'Android');
    const p = e.properties;
    assert.equal(p.search_word, 'naïve ~ query+1');
    assert.equal(p.$lib, 'Android');
    assert.equal(p.$os, 'Android');
    assert.equal(p.$model, 'Redmi Note 8');
    assert.equal(p.$device_id, '0123456789abcdef');
    assert.equal(p.uuid, 'u-1');
    assert.equal(p.platform, 'AndroidApp');
    assert.equal(p.miui_version, 'V12.0.3.0.QCOMIXM');
    assert.equal(p.miui_region, 'GB');
    assert.equal(p.mi_account, '123456789');
    // The module's own decoder agrees.
    const mine = decodeSensorsBody(body);
    assert.equal(mine.crcValid, true);
    assert.deepEqual(mine.events, events);
  });

  it('tracking body round-trips: base64url value of the H/B envelope, gzip=0, ts, nonce, sign', () => {
    const d = device();
    const header = trackingHeader(d, { sender: 'com.miui.home', analyticsVersion: '3.8.8' });
    const entries = [
      {
        H: {
          sid: 's',
          pk: 'com.miui.home',
          key: 'folder_open',
          eventTime: '1700000000000',
          sn: 1,
          retryCnt: 0,
        },
        B: { _event_id_: 'folder_open', folder: 'Tools ?>~' },
      },
    ];
    const { body } = encodeTrackingBody(header, entries, { ts: 1_700_000_000_123, nonce: 'abcd' });
    const f = form(body);
    assert.equal(f.gzip, '0');
    assert.equal(f.ts, '1700000000123');
    assert.equal(f.nonce, 'abcd');
    assert.ok(!/[+/]/.test(f.value!), 'URL-safe alphabet');
    assert.equal(
      f.sign,
      createHash('md5')
        .update(`value=${f.value}&ts=${f.ts}&nonce=${f.nonce}&${TRACKING_SIGN_SALT}`)
        .digest('hex'),
    );
    const payload = JSON.parse(fromBase64Url(f.value!).toString('utf8'));
    assert.equal(payload.H.model, 'Redmi Note 8');
    assert.equal(payload.H.sender, 'com.miui.home');
    assert.equal(payload.H.st, '1700000000123');
    assert.match(payload.H.imei, /^[0-9a-f]{32}$/);
    assert.match(payload.H.aaid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(payload.B, entries);
    const mine = decodeTrackingBody(body);
    assert.equal(mine.signValid, true);
    assert.deepEqual(mine.payload, payload);
  });

  it('tracking header: exactly the fields of the 2017 upload (no invented android_id)', () => {
    const d = device();
    const fields = [
      ...['model', 'android', 'miui', 'bn', 'product', 'device', 'cv', 'lang', 'region', 'mi'],
      ...['sender', 'userid', 'aaid', 'n', 'mac', 'imei'],
    ];
    const h = trackingHeader(d, { sender: 'com.miui.home', analyticsVersion: '3.8.8' });
    assert.deepEqual(Object.keys(h), fields);
    assert.ok(!Object.values(h).includes(d.androidId), 'ANDROID_ID is in no field');
    assert.equal(trackingHeader(d, { sender: 'x.y', analyticsVersion: '1', omitAdId: true }).aaid, '');
  });

  it('tracking gzips a payload over 100 000 characters that compresses well', () => {
    const d = device();
    const header = trackingHeader(d, { sender: 'com.miui.home', analyticsVersion: '3.8.8' });
    const entries = Array.from({ length: 1500 }, (_, i) => ({
      H: {
        sid: 's',
        pk: 'com.miui.home',
        key: 'home_screen_swipe',
        eventTime: '1700000000000',
        sn: i,
        retryCnt: 0,
      },
      B: { _event_id_: 'home_screen_swipe', from: 1, to: 2 },
    }));
    const { body } = encodeTrackingBody(header, entries, { ts: 1, nonce: 'n' });
    const f = form(body);
    assert.equal(f.gzip, '1');
    const payload = JSON.parse(gunzipSync(fromBase64Url(f.value!)).toString('utf8'));
    assert.equal(payload.B.length, 1500);
  });

  it('MiStat body is opaque without the session key and decrypts with it', () => {
    const session = newMistatSession();
    const body = encodeMistatBody({ es: [{ e: 'search', t: 1, p: { search_word: 'x' } }] }, session, {
      appId: '2882303761517000001',
      region: 'INTL',
    });
    const f = form(body);
    assert.deepEqual(Object.keys(f), ['ai', 'sv', 'pv', 'rg', 'p', 'fc', 'sid']);
    assert.equal(f.sv, '3.0.16');
    assert.equal(f.pv, '3.0');
    assert.equal(f.fc, '1');
    const sealed = Buffer.from(f.p!, 'base64');
    assert.ok(!sealed.toString('latin1').includes('search'), 'not readable in transit');
    const dec = createDecipheriv('aes-128-cbc', session.key, sealed.subarray(0, 16));
    const plain = gunzipSync(Buffer.concat([dec.update(sealed.subarray(16)), dec.final()]));
    assert.deepEqual(JSON.parse(plain.toString('utf8')), {
      es: [{ e: 'search', t: 1, p: { search_word: 'x' } }],
    });
    assert.deepEqual(decodeMistatBody(body, session.key).payload, JSON.parse(plain.toString('utf8')));
  });

  it('splash-ad request carries androidId, the IMEI hash and the ad id, or drops the ad id', () => {
    const d = device();
    const opts = { pkg: 'com.miui.home', pkgVersion: '1', msaVersion: '2', triggerId: 't' };
    const withId = JSON.parse(encodeSplashAdRequest(buildSplashAdRequest(d, opts)).toString('utf8'));
    assert.equal(withId.userInfo.androidId, '0123456789abcdef');
    assert.equal(withId.userInfo.idfa, d.adId);
    assert.match(withId.userInfo.imei, /^[0-9a-f]{32}$/);
    assert.equal(withId.applicationInfo.packageName, 'com.miui.systemAdSolution');
    assert.deepEqual(withId.appInfo.packageName, ['com.miui.home']);
    assert.equal(withId.deviceInfo.isInter, true);
    const without = decodeSplashAdRequest(
      encodeSplashAdRequest(buildSplashAdRequest(d, { ...opts, omitAdId: true })),
    );
    assert.equal('idfa' in without.userInfo, false);
    assert.equal(without.userInfo.androidId, '0123456789abcdef');
  });
});
