/**
 * Upload queues. Time is a ManualScheduler: timers fire only in advance(), and every upload they
 * start is awaited before time moves on, so nothing here depends on how busy the machine is.
 */
import assert from 'node:assert/strict';
import { UploadQueue, uploadResult, type SendResult } from '../../../../src/virtual/telemetry/index.ts';
import { browse, decodeAll, makeHub, ManualScheduler } from './helpers.ts';

const BROWSER = 'com.mi.globalbrowser';
const BROWSED = [
  'page_load_event_finish https://a.example/',
  'page_load_event_start https://a.example/',
  'search w',
];

describe('telemetry queues', () => {
  it('flushes when the queue reaches the count, in batches of maxBatch', async () => {
    const { hub, http } = makeHub('redmi-note-8-leaky', {
      timings: {
        sensors: { flushCount: 6, maxBatch: 4, flushIntervalMs: 60_000 },
        mistat: { flushCount: 1000 },
      },
    });
    browse(hub, BROWSER, false, 'https://a.example/', 'one');
    await hub.idle();
    assert.equal(decodeAll(http.requests).sensors.length, 0, 'below the count nothing is sent');
    browse(hub, BROWSER, false, 'https://b.example/', 'two');
    await hub.idle();
    const sensorsPosts = http.requests.filter((r) => r.url.startsWith('https://sa.api.intl.miui.com/'));
    assert.equal(sensorsPosts.length, 2, 'six events in batches of at most four');
    assert.equal(decodeAll(http.requests).sensors.length, 6);
    hub.stop();
  });

  it('flushes after the interval, not before', async () => {
    const { hub, http, advance } = makeHub('redmi-note-8-leaky', {
      timings: { sensors: { flushCount: 1000, flushIntervalMs: 30 }, mistat: { flushIntervalMs: 30 } },
    });
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    await advance(29);
    assert.equal(http.attempts.length, 0, '1 ms before the interval nothing is sent');
    await advance(1);
    const seen = decodeAll(http.requests);
    assert.deepEqual(seen.sensors, BROWSED);
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
    const { hub, http, advance, scheduler } = makeHub('redmi-note-8-leaky', {
      timings: { sensors: { retryBaseMs: 40, retryMaxMs: 1000 }, mistat: { flushCount: 1000 } },
    });
    http.failNext('cert-rejected', 'cert-rejected');
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    await hub.flush();
    assert.equal(decodeAll(http.requests).sensors.length, 0, 'nothing delivered');
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 3, 'events kept');
    assert.ok(scheduler.pending().includes(40), 'a retry in 40 ms');
    await advance(39);
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 3, 'not retried early');
    await advance(1000);
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 0);
    assert.deepEqual(decodeAll(http.requests).sensors, BROWSED);
    assert.equal(http.attempts.length, http.requests.length + 2, 'two attempts were rejected');
    hub.stop();
  });

  it('retries after a kept failure with exponential backoff, capped', async () => {
    const scheduler = new ManualScheduler();
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
      async (batch): Promise<SendResult> => {
        if (fail-- > 0) return 'keep';
        sent.push(batch.map((e) => e.value));
        return 'ok';
      },
      (o) => outcomes.push(o.ok ? 'ok' : o.dropped ? 'dropped' : `keep ${o.retryInMs}`),
      scheduler,
    );
    const settle = (): Promise<void> => q.idle();
    q.push(1);
    q.push(2);
    await q.flush();
    assert.deepEqual(outcomes, ['keep 10']);
    q.push(3);
    assert.deepEqual(scheduler.pending(), [10], 'a push during the backoff arms no flush timer');
    await scheduler.advance(10, settle);
    assert.deepEqual(outcomes, ['keep 10', 'keep 15']);
    await scheduler.advance(15, settle);
    assert.deepEqual(outcomes, ['keep 10', 'keep 15', 'ok']);
    assert.deepEqual(sent, [[1, 2, 3]]);
    q.stop();
  });

  it("a 'drop' answer deletes the batch without a retry and the next batch still goes", async () => {
    const scheduler = new ManualScheduler();
    const outcomes: string[] = [];
    const answers: SendResult[] = ['drop', 'ok'];
    const q = new UploadQueue<number>(
      'q',
      {
        flushCount: 100,
        flushIntervalMs: 1000,
        maxBatch: 2,
        retryBaseMs: 10,
        retryMaxMs: 15,
        maxQueued: 100,
      },
      async (batch) => ({ result: answers.shift()!, reason: `batch of ${batch.length}` }),
      (o) => outcomes.push(o.ok ? `ok ${o.count}` : o.dropped ? `dropped ${o.count}` : 'keep'),
      scheduler,
    );
    for (const n of [1, 2, 3]) q.push(n);
    await q.flush();
    assert.deepEqual(outcomes, ['dropped 2', 'ok 1']);
    assert.equal(q.size, 0);
    assert.deepEqual(scheduler.pending(), [], 'no retry armed');
    q.stop();
  });

  it('stop() clears the timers and ignores later events', async () => {
    const { hub, http, advance, scheduler } = makeHub('redmi-note-8-leaky', {
      timings: { sensors: { flushIntervalMs: 20 } },
    });
    browse(hub, BROWSER, false, 'https://a.example/', 'w');
    hub.stop();
    browse(hub, BROWSER, false, 'https://b.example/', 'w');
    assert.deepEqual(scheduler.pending(), []);
    await advance(60_000);
    assert.equal(http.attempts.length, 0);
  });
});

describe('telemetry upload answers, per SDK', () => {
  it('maps statuses as the SDKs do (sensorsdata-format.md §3.4/§7; xiaomi-telemetry.md §2.2/§2.4)', () => {
    const table: Array<[number, SendResult, SendResult]> = [
      // status, Sensors, tracking/MiStat
      [200, 'ok', 'ok'],
      [204, 'ok', 'ok'],
      [302, 'drop', 'drop'],
      [400, 'drop', 'drop'],
      [401, 'drop', 'drop'],
      [403, 'keep', 'drop'],
      [404, 'keep', 'drop'],
      [413, 'drop', 'drop'],
      [429, 'drop', 'drop'],
      [500, 'keep', 'keep'],
      [503, 'keep', 'keep'],
      [599, 'keep', 'keep'],
    ];
    for (const [status, sensors, other] of table) {
      assert.equal(uploadResult('sensors', status), sensors, `sensors ${status}`);
      assert.equal(uploadResult('tracking', status), other, `tracking ${status}`);
      assert.equal(uploadResult('mistat', status), other, `mistat ${status}`);
    }
  });

  it('Sensors drops a batch answered 400 and keeps one answered 404; tracking drops 404, keeps 503', async () => {
    const s = makeHub('redmi-note-8-leaky', { timings: { mistat: { flushCount: 1000 } } });
    // Sensors flushes first (its queue was created first), then MiStat, which is not asked here.
    s.http.failNext(400);
    browse(s.hub, BROWSER, false, 'https://a.example/', 'w');
    await s.hub.flush();
    assert.equal(s.hub.pending()[`sensors:${BROWSER}`], 0, '400: the events are deleted');
    assert.deepEqual(s.scheduler.pending(), [], 'and not retried');

    const k = makeHub('redmi-note-8-leaky', { timings: { mistat: { flushCount: 1000 } } });
    k.http.failNext(404);
    browse(k.hub, BROWSER, false, 'https://a.example/', 'w');
    await k.hub.flush();
    assert.equal(k.hub.pending()[`sensors:${BROWSER}`], 3, '404: kept for a retry');
    await k.advance(60_000);
    assert.deepEqual(decodeAll(k.http.requests).sensors, BROWSED);

    const t = makeHub('redmi-note-8-leaky');
    const folder = (): void =>
      t.hub.track(
        { source: 'system', name: 'folder_open', properties: { folder: 'Tools' } },
        { package: 'com.miui.home', time: 1 },
      );
    t.http.failNext(404);
    folder();
    await t.hub.flush();
    assert.equal(t.hub.pending()['tracking:com.miui.home'], 0, 'tracking drops a 404');
    t.http.failNext(503);
    folder();
    await t.hub.flush();
    assert.equal(t.hub.pending()['tracking:com.miui.home'], 1, 'and keeps a 503');
    await t.advance(60_000);
    assert.deepEqual(decodeAll(t.http.requests).tracking, ['com.miui.home folder_open']);
    for (const r of [s, k, t]) r.hub.stop();
  });
});
