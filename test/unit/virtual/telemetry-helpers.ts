import { PropertyStore } from '../../../src/virtual/android/props.ts';
import { SettingsStore } from '../../../src/virtual/android/settings.ts';
import {
  PhoneHttpError,
  type AppEvent,
  type AppEventContext,
  type HttpClient,
  type HttpFailure,
  type HttpRequest,
  type HttpResponse,
} from '../../../src/virtual/apps/events.ts';
import { loadProfile, type Profile } from '../../../src/virtual/profiles.ts';
import {
  decodeSensorsBody,
  decodeSplashAdRequest,
  decodeTrackingBody,
  TelemetryHub,
  type QueueTimings,
  type QueuedEmitter,
} from '../../../src/virtual/telemetry/index.ts';

/** Records requests; answers 200 unless a failure or status is queued. */
export class FakeHttp implements HttpClient {
  readonly requests: HttpRequest[] = [];
  readonly attempts: HttpRequest[] = [];
  private readonly script: Array<HttpFailure | number> = [];

  failNext(...outcomes: Array<HttpFailure | number>): void {
    this.script.push(...outcomes);
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    this.attempts.push(req);
    const next = this.script.shift();
    if (typeof next === 'string') throw new PhoneHttpError(next, `${next}: ${req.url}`);
    const status = next ?? 200;
    if (status >= 200 && status < 300) this.requests.push(req);
    return { status, headers: {}, body: Buffer.from('') };
  }
}

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

export function makeHub(
  name: string,
  opts: { timings?: Partial<Record<QueuedEmitter, Partial<QueueTimings>>>; account?: string } = {},
): { hub: TelemetryHub; http: FakeHttp; settings: SettingsStore; prefs: MapPrefs; profile: Profile } {
  const profile = loadProfile(name);
  const settings = new SettingsStore(profile);
  const props = new PropertyStore(profile, profile.props['ro.serialno'] ?? 'serial');
  const http = new FakeHttp();
  const prefs = new MapPrefs();
  const hub = new TelemetryHub({
    profile,
    settings,
    props,
    http,
    browserPrefs: prefs,
    timings: opts.timings ?? FAST,
    ...(opts.account ? { account: () => opts.account } : {}),
  });
  return { hub, http, settings, prefs, profile };
}

export const T0 = 1_700_000_000_000;

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
    { package: 'com.android.settings', time: T0 },
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
    } else {
      seen.other.push(r.url);
    }
  }
  seen.sensors.sort();
  seen.tracking.sort();
  return seen;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
