/** What `block` mode answers (src/capture/collectors.ts): each upload the way its collector would. */
import assert from 'node:assert/strict';
import type { CompletedRequest } from 'mockttp';
import { collectorAnswer } from '../../../src/capture/collectors.ts';

function req(method: string, url: string, headers: Record<string, string> = {}, body = ''): CompletedRequest {
  return { method, url, headers, body: { buffer: Buffer.from(body) } } as unknown as CompletedRequest;
}

const GIF_MAGIC = 'GIF89a';

describe('capture collectors (block-mode answers)', () => {
  it('Sensors image GET …/sa.gif?data=…: a 1×1 GIF', () => {
    const a = collectorAnswer(req('GET', 'https://sa.api.intl.miui.com/sa.gif?project=p&data=eyJ9'));
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers['content-type'], 'image/gif');
    const gif = Buffer.from(a.body as Buffer);
    assert.equal(gif.subarray(0, 6).toString('latin1'), GIF_MAGIC);
    assert.equal(gif.readUInt16LE(6), 1, 'width 1');
    assert.equal(gif.readUInt16LE(8), 1, 'height 1');
  });

  it('Sensors POST to /sa: 200 with an empty body', () => {
    const a = collectorAnswer(
      req(
        'POST',
        'https://sa.api.intl.miui.com/sa?project=p',
        { 'content-type': 'application/x-www-form-urlencoded' },
        'crc=-1431655766&gzip=1&data_list=H4sI',
      ),
    );
    assert.equal(a.statusCode, 200);
    assert.equal(String(a.body ?? ''), '');
  });

  it('Sensors POST recognised by its body on another path, in both field orders the SDKs use', () => {
    // The JS SDK sends `data=…` first; the Android SDK sends `crc=<hashCode>&gzip=1&data_list=…`.
    for (const body of ['data_list=H4sI&gzip=1', 'crc=-1431655766&gzip=1&data_list=H4sI']) {
      const a = collectorAnswer(
        req(
          'POST',
          'https://collector.example.org/log',
          { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        ),
      );
      assert.equal(a.statusCode, 200, body);
      assert.equal(String(a.body ?? ''), '', body);
    }
  });

  it('OPTIONS preflight: 204, the Origin echoed with credentials, the requested headers allowed', () => {
    const a = collectorAnswer(
      req('OPTIONS', 'https://sa.api.intl.miui.com/sa?project=p', {
        origin: 'https://www.mi.com',
        'access-control-request-headers': 'content-type, x-custom',
      }),
    );
    assert.equal(a.statusCode, 204);
    assert.equal(a.headers['access-control-allow-origin'], 'https://www.mi.com');
    assert.equal(a.headers['access-control-allow-credentials'], 'true');
    assert.equal(a.headers['access-control-allow-headers'], 'content-type, x-custom');
    assert.match(a.headers['access-control-allow-methods'] ?? '', /POST/);
    assert.equal(a.body, undefined);
  });

  it('a POST with an Origin gets CORS headers too (the JS SDK reads the answer)', () => {
    const a = collectorAnswer(
      req('POST', 'https://sa.api.intl.miui.com/sa?project=p', { origin: 'https://www.mi.com' }, 'data=eyJ9'),
    );
    assert.equal(a.headers['access-control-allow-origin'], 'https://www.mi.com');
    assert.equal(a.headers['access-control-allow-credentials'], 'true');
  });

  it('the debug endpoint: {} to data, the "ready" text to a bare GET', () => {
    const data = collectorAnswer(req('POST', 'https://sa.example.com/debug', {}, 'data=eyJ9'));
    assert.equal(data.statusCode, 200);
    assert.equal(String(data.body), '{}');
    assert.match(data.headers['content-type'] ?? '', /json/);
    const ready = collectorAnswer(req('GET', 'https://sa.example.com/debug'));
    assert.equal(ready.statusCode, 200);
    assert.match(String(ready.body), /Sensors Analytics is ready to receive your data!/);
  });

  it('MiStat and tracking.*.miui.com: their success JSON; the splash-ad request: an empty ad list', () => {
    const mistat = collectorAnswer(req('POST', 'https://data.mistat.intl.xiaomi.com/mistats/v3', {}, 'p=xx'));
    assert.equal(mistat.statusCode, 200);
    assert.equal(JSON.parse(String(mistat.body)).code, 200);
    const keyGet = collectorAnswer(req('POST', 'https://data.mistat.xiaomi.com/key_get', {}, 'skey_rsa=x'));
    assert.equal(keyGet.statusCode, 200, 'any MiStat host');
    const track = collectorAnswer(req('POST', 'https://tracking.intl.miui.com/track/spock', {}, 'value=e30'));
    assert.equal(track.statusCode, 200);
    assert.deepEqual(JSON.parse(String(track.body)), { code: 0, message: 'ok' });
    const ads = collectorAnswer(req('POST', 'http://api.ad.intl.xiaomi.com/getSplashScreenAds', {}, '{}'));
    assert.equal(ads.statusCode, 200);
    assert.deepEqual(JSON.parse(String(ads.body)).adInfos, []);
  });

  it('anything else: a small page to a GET that accepts HTML, 204 otherwise', () => {
    const page = collectorAnswer(
      req('GET', 'https://www.google.com/search?q=x', { accept: 'text/html,*/*' }),
    );
    assert.equal(page.statusCode, 200);
    assert.match(String(page.body), /<title>phonehome capture<\/title>/);
    for (const r of [
      req('GET', 'https://cdn.example.com/app.js', { accept: '*/*' }),
      req('POST', 'https://api.example.com/v1/thing', {}, '{"a":1}'),
    ]) {
      const a = collectorAnswer(r);
      assert.equal(a.statusCode, 204, r.url);
      assert.equal(a.body, undefined);
    }
  });
});
