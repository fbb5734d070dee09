/**
 * An emitter's `flush`: count and interval override the queue timings; onBackground false keeps a
 * queue through the app going to the background; persist keeps (or drops) it across a force-stop and
 * sends it at the owner's next start. Time is a ManualScheduler; the phone-level test drives
 * `am force-stop` and `am start` through the real command and screen.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installApps } from '../../../../src/virtual/apps/index.ts';
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import {
  mergeProfileJson,
  parseProfile,
  PROFILE_DIR,
  type Profile,
} from '../../../../src/virtual/profiles/load.ts';
import { DEFAULT_FLUSH_POLICY, TelemetryHub } from '../../../../src/virtual/telemetry/index.ts';
import { sh } from '../apps/helpers.ts';
import { decodeAll, FakeHttp, makeHub, ManualScheduler, T0 } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- profile JSON, patched freely
type Json = any;

const BROWSER = 'com.mi.globalbrowser';
const ANALYTICS = 'com.miui.analytics';

/** redmi-note-8-leaky, the browser reporting to sensors only, with `emitters` merged in. */
function profile(emitters: Json = {}): Profile {
  const json = JSON.parse(readFileSync(join(PROFILE_DIR, 'redmi-note-8-leaky.json'), 'utf8'));
  json.telemetry.rules[0].send = ['sensors'];
  return parseProfile(mergeProfileJson(json, { telemetry: { emitters } }), 'profiles/x.json');
}

function visit(hub: TelemetryHub, url: string): void {
  hub.track(
    { source: 'browser', name: 'page_load_event_start', properties: { url } },
    { package: BROWSER, incognito: false, time: T0 },
  );
}

function folder(hub: TelemetryHub): void {
  hub.track(
    { source: 'system', name: 'folder_open', properties: { folder: 'Tools' } },
    { package: 'com.miui.home', time: T0 },
  );
}

describe('telemetry flush', () => {
  it('defaults: every queue flushes on background and persists across a force-stop', () => {
    assert.deepEqual(DEFAULT_FLUSH_POLICY, {
      sensors: { onBackground: true, persist: true },
      tracking: { onBackground: true, persist: true },
      mistat: { onBackground: true, persist: true },
    });
  });

  it('count overrides the flush count (also over the test timings)', async () => {
    const { hub, http } = makeHub('', { profile: profile({ sensors: { flush: { count: 2 } } }) });
    visit(hub, 'https://a.example/1');
    await hub.idle();
    assert.equal(http.attempts.length, 0);
    visit(hub, 'https://a.example/2');
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).sensors, [
      'page_load_event_start https://a.example/1',
      'page_load_event_start https://a.example/2',
    ]);
    hub.stop();
  });

  it('intervalMs overrides the flush interval', async () => {
    const { hub, http, advance, scheduler } = makeHub('', {
      profile: profile({ sensors: { flush: { intervalMs: 500 } } }),
    });
    visit(hub, 'https://a.example/1');
    assert.deepEqual(scheduler.pending(), [500]);
    await advance(499);
    assert.equal(http.attempts.length, 0);
    await advance(1);
    assert.equal(decodeAll(http.requests).sensors.length, 1);
    hub.stop();
  });

  it('onBackground: false keeps the queue when the app goes to the background; the interval still sends it', async () => {
    const { hub, http, advance } = makeHub('', {
      profile: profile({ sensors: { flush: { intervalMs: 20_000, onBackground: false } } }),
    });
    visit(hub, 'https://a.example/1');
    folder(hub);
    hub.appBackgrounded(BROWSER);
    await hub.idle();
    assert.equal(http.attempts.length, 0, 'not on background');
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 1);
    await advance(19_999);
    assert.equal(http.attempts.length, 0);
    await advance(1);
    assert.equal(decodeAll(http.requests).sensors.length, 1, 'after 20 s');
    hub.stop();
  });

  it('persist: true keeps the events across a force-stop (no timer, no upload) and sends them at the next start', async () => {
    const { hub, http, advance, scheduler } = makeHub('', {
      profile: profile({ sensors: { flush: { persist: true } } }),
    });
    visit(hub, 'https://a.example/1');
    hub.appStopped(BROWSER);
    hub.appBackgrounded(BROWSER); // the focus moves away after the process died: no flush
    await hub.idle();
    assert.deepEqual(scheduler.pending(), [], 'the flush timer died with the process');
    await advance(3_600_000);
    assert.equal(http.attempts.length, 0);
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 1);
    hub.appStarted('com.android.settings'); // another app: nothing
    await hub.idle();
    assert.equal(http.attempts.length, 0);
    hub.appStarted(BROWSER);
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).sensors, ['page_load_event_start https://a.example/1']);
    // Running again: the usual timers apply.
    visit(hub, 'https://a.example/2');
    assert.deepEqual(scheduler.pending(), [60_000]);
    hub.stop();
  });

  it('persist defaults to true (sensors, as the SDK stores events in SQLite)', async () => {
    const { hub, http } = makeHub('', { profile: profile() });
    visit(hub, 'https://a.example/1');
    hub.appStopped(BROWSER);
    await hub.flush();
    assert.equal(http.attempts.length, 0, 'hub.flush() does not wake a stopped app');
    hub.appStarted(BROWSER);
    await hub.idle();
    assert.equal(decodeAll(http.requests).sensors.length, 1);
    hub.stop();
  });

  it('persist: false drops the queued events at force-stop; a retry pending dies too', async () => {
    const { hub, http, advance, scheduler } = makeHub('', {
      profile: profile({ sensors: { flush: { persist: false } } }),
    });
    http.failNext('refused');
    visit(hub, 'https://a.example/1');
    await hub.flush();
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 1, 'kept for a retry');
    visit(hub, 'https://a.example/2');
    hub.appStopped(BROWSER);
    assert.equal(hub.pending()[`sensors:${BROWSER}`], 0);
    assert.deepEqual(scheduler.pending(), []);
    hub.appStarted(BROWSER);
    await advance(3_600_000);
    assert.equal(http.requests.length, 0, 'nothing was ever delivered');
    // New events after the restart go out as usual.
    visit(hub, 'https://a.example/3');
    hub.appBackgrounded(BROWSER);
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).sensors, ['page_load_event_start https://a.example/3']);
    hub.stop();
  });

  it('tracking queues belong to com.miui.analytics: the sender force-stopped changes nothing; an event restarts the owner', async () => {
    const { hub, http, settings } = makeHub('', { profile: profile() });
    settings.put('secure', 'upload_log_pref', '1');
    folder(hub);
    hub.appStopped('com.miui.home');
    hub.appBackgrounded('com.miui.home');
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).tracking, ['com.miui.home folder_open'], 'sent as before');
    folder(hub);
    hub.appStopped(ANALYTICS);
    hub.appBackgrounded('com.miui.home');
    await hub.idle();
    assert.equal(decodeAll(http.requests).tracking.length, 1, 'kept: the analytics process is gone');
    // The next event starts com.miui.analytics again: what it kept goes out.
    hub.track(
      { source: 'system', name: 'status_bar_pull', properties: { expanded: true } },
      { package: 'com.miui.home', time: T0 },
    );
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).tracking, [
      'com.miui.home folder_open',
      'com.miui.home folder_open',
      'com.miui.home status_bar_pull',
    ]);
    hub.stop();
  });

  it("com.miui.analytics flushes every sender's queue when one app goes to the background, not only that app's", async () => {
    const { hub, http, settings, scheduler } = makeHub('', { profile: profile() });
    settings.put('secure', 'upload_log_pref', '1');
    // SystemUI never goes to the background: its events used to wait for the 60 s timer.
    hub.track(
      { source: 'system', name: 'status_bar_pull', properties: { expanded: true } },
      { package: 'com.android.systemui', time: T0 },
    );
    folder(hub);
    await hub.idle();
    assert.equal(http.attempts.length, 0, 'queued, not sent');
    hub.appBackgrounded('com.miui.home');
    await hub.idle();
    assert.deepEqual(decodeAll(http.requests).tracking.sort(), [
      'com.android.systemui status_bar_pull',
      'com.miui.home folder_open',
    ]);
    assert.deepEqual(scheduler.pending(), [], 'no timer left to send them again');
    // An app without a tracking queue going to the background flushes nothing of com.miui.analytics.
    hub.track(
      { source: 'system', name: 'status_bar_pull', properties: { expanded: false } },
      { package: 'com.android.systemui', time: T0 },
    );
    hub.appBackgrounded(BROWSER);
    await hub.idle();
    assert.equal(decodeAll(http.requests).tracking.length, 2);
    hub.stop();
  });

  it('on a phone: `am force-stop` keeps the browser queue (no flush as the focus moves); `am start` sends it', async () => {
    // Default flush: on background too, so this shows the force-stop comes before the focus moves.
    const p = profile();
    const phone = new VirtualPhone(p, { serialno: 'flush001' });
    const http = new FakeHttp();
    const scheduler = new ManualScheduler();
    const lines: string[] = [];
    const hub = new TelemetryHub({
      profile: p,
      settings: phone.settings,
      props: phone.props,
      http,
      scheduler,
      log: (l) => lines.push(l),
    });
    installApps(phone, { telemetry: hub, http });
    const sensors = () => http.attempts.filter((r) => r.url.startsWith('https://sa.api.intl.miui.com/'));
    const launch = `am start -n ${p.packages.find((x) => x.name === BROWSER)!.launcher!}`;
    try {
      await sh(phone, launch);
      await phone.apps.whenIdle();
      visit(hub, 'https://a.example/1');
      const queued = hub.pending()[`sensors:${BROWSER}`] ?? 0;
      assert.ok(queued >= 1);
      await sh(phone, `am force-stop ${BROWSER}`);
      await hub.idle();
      assert.equal(sensors().length, 0);
      assert.ok(
        lines.some((l) =>
          l.includes(`sensors:${BROWSER}: ${BROWSER} force-stopped; ${queued} event(s) kept`),
        ),
        lines.join('\n'),
      );
      await scheduler.advance(60_000, () => hub.idle());
      assert.equal(sensors().length, 0, 'no timer survives the force-stop');
      await sh(phone, launch);
      await hub.idle();
      assert.equal(sensors().length, 1, 'sent at the next start');
      assert.ok(decodeAll(http.requests).sensors.includes('page_load_event_start https://a.example/1'));
    } finally {
      hub.stop();
      phone.close();
    }
  });
});
