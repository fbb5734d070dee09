import assert from 'node:assert/strict';
import { UploadQueue } from '../../../src/virtual/telemetry/index.ts';
import { browse, decodeAll, makeHub, sleep } from './telemetry-helpers.ts';

const BROWSER = 'com.mi.globalbrowser';

describe('telemetry queues', () => {
  it('flushes when the queue reaches the count, in batches of maxBatch', async () => {
    const { hub, http } = makeHub('redmi-note-8-leaky', {
      timings: {
        sensors: { flushCount: 6, maxBatch: 4, flushIntervalMs: 60_000 },
        mistat: { flushCount: 1000 },
      },
    });
    browse(hub, BROWSER, false, 'https://a.example/', 'one');
    await sleep(10);
    assert.equal(decodeAll(http.requests).sensors.length, 0, 'below the count nothing is sent');
    browse(hub, BROWSER, false, 'https://b.example/', 'two');
    await hub.idle();
    const sensorsPosts = http.requests.filter((r) => r.url.startsWith('https://sa.api.intl.miui.com/'));
    assert.equal(sensorsPosts.length, 2, 'six events in batches of at most four');
    assert.equal(decodeAll(http.requests).sensors.length, 6);
    hub.stop();
  });

  it('flushes after the interval', async () => {
    const { hub, http } = makeHub('redmi-note-8-leaky', {
      timings: { sensors: { flushCount: 1000, flushIntervalMs: 30 }, mistat: { flushIntervalMs: 30 } },
    });
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    await sleep(5);
    assert.equal(http.requests.length, 0);
    await sleep(80);
    await hub.idle();
    const seen = decodeAll(http.requests);
    assert.deepEqual(seen.sensors, [
      'page_load_event_finish https://a.example/',
      'page_load_event_start https://a.example/',
      'search w',
    ]);
    assert.equal(seen.mistat, 1);
    hub.stop();
  });

  it('flushes the app that went to the background, and only it', async () => {
    const { hub, http } = makeHub('redmi-note-8-leaky');
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    hub.track(
      { source: 'system', name: 'folder_open', properties: { folder: 'Tools' } },
      { package: 'com.miui.home', time: 1 },
    );
    hub.appBackgrounded(BROWSER);
    await hub.idle();
    const seen = decodeAll(http.requests);
    assert.equal(seen.sensors.length, 3);
    assert.equal(seen.mistat, 1);
    assert.deepEqual(seen.tracking, [], 'the launcher queue still waits');
    assert.deepEqual(hub.pending()['tracking:com.miui.home'], 1);
    hub.appBackgrounded('com.miui.home');
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).tracking, ['com.miui.home folder_open']);
    hub.stop();
  });

  it("keeps the events after a 'cert-rejected' failure and delivers them on a later retry", async () => {
    const { hub, http } = makeHub('redmi-note-8-leaky', {
      timings: { sensors: { retryBaseMs: 40, retryMaxMs: 1000 }, mistat: { flushCount: 1000 } },
    });
    http.failNext('cert-rejected', 'cert-rejected');
    browse(hub, BROWSER, false, 'https://a.example/', 'secret');
    const sensorsFlush = hub.flush();
    await sensorsFlush;
    assert.equal(decodeAll(http.requests).sensors.length, 0, 'nothing delivered');
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 3, 'events kept');
    // The retries (40 ms, then 80 ms) deliver them; the MiStat queue took the second failure.
    await sleep(400);
    await hub.idle();
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 0);
    assert.deepEqual(decodeAll(http.requests).sensors.sort(), [
      'page_load_event_finish https://a.example/',
      'page_load_event_start https://a.example/',
      'search secret',
    ]);
    assert.equal(http.attempts.length, http.requests.length + 2, 'two attempts were rejected');
    hub.stop();
  });

  it('retries after a non-2xx answer with exponential backoff', async () => {
    const sent: number[][] = [];
    const outcomes: string[] = [];
    let fail = 2;
    const q = new UploadQueue<number>(
      'q',
      {
        flushCount: 100,
        flushIntervalMs: 1000,
        maxBatch: 10,
        retryBaseMs: 10,
        retryMaxMs: 15,
        maxQueued: 100,
      },
      async (batch) => {
        if (fail-- > 0) throw new Error('HTTP 503');
        sent.push(batch.map((e) => e.value));
      },
      (o) => outcomes.push(o.ok ? 'ok' : `fail ${o.retryInMs}`),
    );
    q.push(1);
    q.push(2);
    await q.flush();
    assert.deepEqual(outcomes, ['fail 10']);
    q.push(3);
    await sleep(100);
    await q.idle();
    assert.deepEqual(outcomes, ['fail 10', 'fail 15', 'ok']);
    assert.deepEqual(sent, [[1, 2, 3]]);
    q.stop();
  });

  it('stop() clears the timers and ignores later events', async () => {
    const { hub, http } = makeHub('redmi-note-8-leaky', { timings: { sensors: { flushIntervalMs: 20 } } });
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    hub.stop();
    browse(hub, BROWSER, false, 'https://b.example/', 'w');
    await sleep(60);
    assert.equal(http.attempts.length, 0);
  });
});
