import { PropertyStore } from '../../../../src/virtual/os/props.ts';
import { SettingsStore } from '../../../../src/virtual/os/settings.ts';
import type { AppEvent, AppEventContext, HttpRequest } from '../../../../src/virtual/apps/events.ts';
import { loadProfile, type Profile } from '../../../../src/virtual/profiles/load.ts';
import {
  decodeSensorsBody,
  decodeSplashAdRequest,
  decodeTrackingBody,
  TelemetryHub,
  type QueueTimings,
  type QueuedEmitter,
} from '../../../../src/virtual/telemetry/index.ts';
import { FakeHttp, ManualScheduler, T0 } from '../fakes.ts';

export { FakeHttp, ManualScheduler, T0 };

export class MapPrefs {
  readonly values = new Map<string, boolean>();
  get(key: string): boolean | undefined {
    return this.values.get(key);
  }
}

export const FAST: Partial<Record<QueuedEmitter, Partial<QueueTimings>>> = {
  sensors: { flushCount: 1000, flushIntervalMs: 60_000, retryBaseMs: 20, retryMaxMs: 100 },
  tracking: { flushCount: 1000, flushIntervalMs: 60_000, retryBaseMs: 20, retryMaxMs: 100 },
  mistat: { flushCount: 1000, flushIntervalMs: 60_000, retryBaseMs: 20, retryMaxMs: 100 },
};

export interface HubRig {
  hub: TelemetryHub;
  http: FakeHttp;
  settings: SettingsStore;
  prefs: MapPrefs;
  profile: Profile;
  /** The queues' timers: they fire only in `scheduler.advance()`. */
  scheduler: ManualScheduler;
  /** Moves the queues' time forward, letting every upload a timer starts finish. */
  advance: (ms: number) => Promise<void>;
}

export function makeHub(
  name: string,
  opts: {
    timings?: Partial<Record<QueuedEmitter, Partial<QueueTimings>>>;
    account?: string;
    packages?: { get(name: string): { versionName: string } | undefined };
    profile?: Profile;
    /** Random bytes (IVs, nonces, ids); default crypto.randomBytes. */
    random?: (n: number) => Buffer;
    /** The hub's clock (flush times); default Date.now. */
    clock?: { now(): number };
  } = {},
): HubRig {
  const profile = opts.profile ?? loadProfile(name);
  const settings = new SettingsStore(profile);
  const props = new PropertyStore(profile, profile.props['ro.serialno'] ?? 'serial');
  const http = new FakeHttp();
  const prefs = new MapPrefs();
  const scheduler = new ManualScheduler();
  const hub = new TelemetryHub({
    profile,
    settings,
    props,
    http,
    browserPrefs: prefs,
    timings: opts.timings ?? FAST,
    scheduler,
    ...(opts.packages ? { packages: opts.packages } : {}),
    ...(opts.account ? { account: () => opts.account } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  return {
    hub,
    http,
    settings,
    prefs,
    profile,
    scheduler,
    advance: (ms) => scheduler.advance(ms, () => hub.idle()),
  };
}

/** Deterministic "random" bytes: each call fills its buffer with the next counter value. */
export function countingRandom(): (n: number) => Buffer {
  let seq = 0;
  return (n) => Buffer.alloc(n, ++seq & 0xff);
}

export function browse(hub: TelemetryHub, pkg: string, incognito: boolean, url: string, word: string): void {
  const ctx: AppEventContext = { package: pkg, incognito, time: T0 };
  const events: AppEvent[] = [
    { source: 'browser', name: 'page_load_event_start', properties: { url } },
    { source: 'browser', name: 'page_load_event_finish', properties: { url } },
    {
      source: 'browser',
      name: 'search',
      properties: {
        search_word: word,
        used_searchengine: 'google',
        search_position: 'home',
        search_method: 'input',
      },
    },
  ];
  for (const e of events) hub.track(e, ctx);
}

export function systemUse(hub: TelemetryHub): void {
  hub.track(
    { source: 'system', name: 'app_open', properties: { package: 'com.android.settings' } },
    { package: 'com.miui.home', time: T0 },
  );
  hub.track(
    { source: 'system', name: 'settings_page_open', properties: { page: 'privacy' } },
    { package: 'com.android.settings', time: T0 },
  );
  hub.track(
    { source: 'system', name: 'folder_open', properties: { folder: 'Tools' } },
    { package: 'com.miui.home', time: T0 },
  );
  hub.track(
    { source: 'system', name: 'status_bar_pull', properties: { expanded: true } },
    { package: 'com.android.systemui', time: T0 },
  );
}

export interface Seen {
  /** Sensors events: `<event> <url|search_word>`. */
  sensors: string[];
  sensorsHosts: string[];
  /** tracking: `<sender> <_event_id_>`. */
  tracking: string[];
  trackingUrls: string[];
  mistat: number;
  /** One entry per ad request: the ad id or null. */
  ads: Array<string | null>;
  /** One entry per ad request: appInfo.packageName (the app the splash ad is for). */
  adsFor: string[][];
  other: string[];
}

/** Decodes every delivered request into what a proxy would report. */
export function decodeAll(requests: HttpRequest[]): Seen {
  const seen: Seen = {
    sensors: [],
    sensorsHosts: [],
    tracking: [],
    trackingUrls: [],
    mistat: 0,
    ads: [],
    adsFor: [],
    other: [],
  };
  for (const r of requests) {
    const u = new URL(r.url);
    const body = r.body ?? Buffer.alloc(0);
    if (u.hostname === 'sa.api.intl.miui.com') {
      seen.sensorsHosts.push(`${u.host}${u.pathname}${u.search}`);
      for (const e of decodeSensorsBody(body).events) {
        const p = e.properties as Record<string, string>;
        seen.sensors.push(`${String(e.event)} ${p.url ?? p.search_word}`);
      }
    } else if (u.pathname.startsWith('/track/')) {
      seen.trackingUrls.push(r.url);
      const d = decodeTrackingBody(body);
      for (const b of d.payload.B) seen.tracking.push(`${d.payload.H.sender} ${String(b.B._event_id_)}`);
    } else if (u.pathname === '/mistats/v3') {
      seen.mistat++;
    } else if (u.pathname === '/getSplashScreenAds') {
      const ad = decodeSplashAdRequest(body);
      seen.ads.push((ad.userInfo.idfa as string | undefined) ?? null);
      seen.adsFor.push(ad.appInfo.packageName);
    } else {
      seen.other.push(r.url);
    }
  }
  seen.sensors.sort();
  seen.tracking.sort();
  return seen;
}
