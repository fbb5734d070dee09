/**
 * The phone's telemetry layer: apps report AppEvents here; the profile's `telemetry` table decides,
 * from the live toggle state, which emitters upload each event (Sensors Analytics, com.miui.analytics
 * tracking, MiStat, the splash-ad request), and the emitters batch, encode and POST through the phone's
 * HttpClient. Behaviour is data (profiles/*.json `telemetry`), never a branch on the profile's name.
 */
import { randomBytes } from 'node:crypto';
import type { AppEvent, AppEventContext, HttpClient, HttpRequest, TelemetrySink } from '../apps/events.ts';
import {
  telemetryRuleFor,
  type Profile,
  type ProfileTelemetry,
  type TelemetryEmitter,
  type TelemetryRule,
  type TelemetrySituation,
  type TelemetryToggle,
} from '../profiles.ts';
import { buildSplashAdRequest, encodeSplashAdRequest } from './ads.ts';
import { readDevice, stableUuid, type DeviceInfo, type PropsLike, type SettingsLike } from './device.ts';
import {
  encodeMistatBody,
  mistatPayload,
  newMistatSession,
  type MistatEvent,
  type MistatSession,
} from './mistat.ts';
import { UploadQueue, type QueueEntry, type QueueOutcome, type QueueTimings } from './queue.ts';
import { buildSensorsEvent, encodeSensorsBatch, sensorsUrl, type SensorsEvent } from './sensors.ts';
import { encodeTrackingBody, trackingHeader, type TrackingEntry } from './tracking.ts';

/**
 * The browser's own switches, as the browser app stores them (src/virtual/apps/browser.ts uses the
 * same keys). Keys read here:
 * - `enhanced_incognito_mode`: the incognito data-collection switch that Mi Browser 12.1.4 / Mint
 *   3.4.3 added ("Enhanced incognito mode" in the facts sheet): with incognito on, statistics stop only
 *   when this is off (xiaomi-telemetry.md summary 3, §3). Unset (older versions) → the profile's
 *   `telemetry.defaults.incognitoDataCollection`.
 * Incognito itself comes with each event (AppEventContext.incognito).
 */
export interface BrowserPrefs {
  get(key: string): boolean | undefined;
}

export const BROWSER_PREF_INCOGNITO_DATA_COLLECTION = 'enhanced_incognito_mode';

export type QueuedEmitter = Exclude<TelemetryEmitter, 'ads'>;

/** Realistic defaults: Sensors Android flushes at 100 events or 15 s, 50 per POST. */
export const DEFAULT_TIMINGS: Record<QueuedEmitter, QueueTimings> = {
  sensors: {
    flushCount: 100,
    flushIntervalMs: 15_000,
    maxBatch: 50,
    retryBaseMs: 30_000,
    retryMaxMs: 10 * 60_000,
    maxQueued: 10_000,
  },
  tracking: {
    flushCount: 30,
    flushIntervalMs: 60_000,
    maxBatch: 30,
    retryBaseMs: 60_000,
    retryMaxMs: 30 * 60_000,
    maxQueued: 5_000,
  },
  mistat: {
    flushCount: 50,
    flushIntervalMs: 60_000,
    maxBatch: 100,
    retryBaseMs: 60_000,
    retryMaxMs: 30 * 60_000,
    maxQueued: 5_000,
  },
};

export interface TelemetryHubOptions {
  /** A profile with a `telemetry` section (none: the hub sends nothing). */
  profile: Profile;
  settings: SettingsLike;
  props: PropsLike;
  http: HttpClient;
  browserPrefs?: BrowserPrefs;
  clock?: { now(): number };
  /** Per-emitter overrides of DEFAULT_TIMINGS (tests use milliseconds). */
  timings?: Partial<Record<QueuedEmitter, Partial<QueueTimings>>>;
  /** The signed-in Mi account id, if any (`login()` for Sensors, `userid` for tracking). */
  account?: () => string | undefined;
  /** One line per decision and upload outcome (a phone can pipe it to logcat). */
  log?: (line: string) => void;
  random?: (n: number) => Buffer;
}

/** The toggle state the table is asked about, as read now. */
export type ToggleState = Record<TelemetryToggle, boolean>;

interface SensorsItem {
  event: SensorsEvent;
}
interface TrackingItem {
  entry: TrackingEntry;
  omitAdId: boolean;
  omitAndroidId: boolean;
}
interface MistatItem {
  event: MistatEvent;
  omitAndroidId: boolean;
}

export class TelemetryHub implements TelemetrySink {
  private readonly telemetry: ProfileTelemetry | undefined;
  private readonly clock: { now(): number };
  private readonly random: (n: number) => Buffer;
  private readonly queues = new Map<string, UploadQueue<unknown>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly mistatSessions = new Map<string, MistatSession>();
  private readonly trackingSeq = new Map<string, number>();
  private readonly sessionId: string;
  private stopped = false;

  constructor(private readonly o: TelemetryHubOptions) {
    this.telemetry = o.profile.telemetry;
    this.clock = o.clock ?? { now: () => Date.now() };
    this.random = o.random ?? randomBytes;
    this.sessionId = this.random(8).toString('hex');
  }

  /** The toggles as they stand (settings are read live; incognito comes from the event). */
  toggles(context?: Pick<AppEventContext, 'incognito'>): ToggleState {
    const t = this.telemetry;
    const flag = (v: string | undefined): boolean | undefined =>
      v === undefined || v.trim() === '' ? undefined : v.trim() !== '0' && v.trim() !== '-1';
    const uep = flag(this.o.settings.get('secure', 'upload_log_pref')) ?? t?.defaults.uep ?? false;
    const diagnostics = flag(this.o.settings.get('secure', 'upload_debug_log_pref')) ?? uep;
    const adRaw = this.o.settings.get('global', 'personalized_ad_enabled');
    const adBits = adRaw === undefined || adRaw.trim() === '' ? 1 : Number.parseInt(adRaw, 10);
    return {
      incognito: context?.incognito === true,
      incognitoDataCollection:
        this.o.browserPrefs?.get(BROWSER_PREF_INCOGNITO_DATA_COLLECTION) ??
        t?.defaults.incognitoDataCollection ??
        true,
      uep,
      diagnostics,
      personalizedAds: Number.isNaN(adBits) ? true : (adBits & 1) === 1,
    };
  }

  /** The table row that decides this event now, or undefined without a telemetry section. */
  decide(event: AppEvent, context: AppEventContext): TelemetryRule | undefined {
    if (!this.telemetry) return undefined;
    const s: TelemetrySituation = { source: event.source, event: event.name, ...this.toggles(context) };
    if (event.source === 'system') s.incognito = false;
    return telemetryRuleFor(this.telemetry, s)?.rule;
  }

  track(event: AppEvent, context: AppEventContext): void {
    if (this.stopped || !this.telemetry) return;
    const rule = this.decide(event, context);
    if (!rule) return;
    this.log(`${context.package} ${event.name} → ${rule.send.join(',') || 'nothing'}`);
    const omit = new Set(rule.omit ?? []);
    const device = this.device();
    for (const emitter of rule.send) {
      if (emitter === 'sensors') this.toSensors(event, context, device, omit.has('androidId'));
      else if (emitter === 'tracking')
        this.toTracking(event, context, omit.has('adId'), omit.has('androidId'));
      else if (emitter === 'mistat') this.toMistat(event, context, omit.has('androidId'));
      else this.toAds(context, device, omit.has('adId'), omit.has('androidId'));
    }
  }

  /** The app went to the background: its SDK queues flush. */
  appBackgrounded(pkg: string): void {
    if (this.stopped) return;
    for (const [key, q] of this.queues) if (key.endsWith(`:${pkg}`)) this.watch(q.flush());
  }

  /** Uploads everything queued now. */
  async flush(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.flush()));
  }

  /** Resolves when no upload is in flight (queued events waiting for a timer do not count). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0 || [...this.queues.values()].some((q) => q.busy)) {
      await Promise.all([...this.inFlight, ...[...this.queues.values()].map((q) => q.idle())]);
    }
  }

  /** Events still waiting per queue (`<emitter>:<package>`). */
  pending(): Record<string, number> {
    return Object.fromEntries([...this.queues].map(([k, q]) => [k, q.size]));
  }

  /** Stops every timer; queued events are dropped (the phone is closing). */
  stop(): void {
    this.stopped = true;
    for (const q of this.queues.values()) q.stop();
  }

  // --- emitters -----------------------------------------------------------------------------------

  private toSensors(event: AppEvent, ctx: AppEventContext, device: DeviceInfo, omitAndroidId: boolean): void {
    const cfg = this.telemetry?.emitters.sensors;
    if (!cfg) return;
    const q = this.queue<SensorsItem>('sensors', ctx.package, async (batch) => {
      const { body } = encodeSensorsBatch(
        batch.map((e) => e.value.event),
        this.clock.now(),
      );
      await this.post({
        app: ctx.package,
        method: 'POST',
        url: sensorsUrl(cfg.url, this.device().region),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': this.dalvikUa() },
        body: Buffer.from(body),
      });
    });
    const account = this.o.account?.();
    q.push({
      event: buildSensorsEvent(device, {
        name: event.name,
        properties: { ...event.properties },
        time: ctx.time,
        app: ctx.package,
        appVersion: this.versionOf(ctx.package),
        libVersion: cfg.libVersion,
        uuid: stableUuid('sensors-anonymous-id', ctx.package, device.serial, device.androidId),
        ...(account ? { account } : {}),
        omitAndroidId,
        trackId: this.random(4).readUInt32BE(0) % 1_000_000_000,
      }),
    });
  }

  private toTracking(event: AppEvent, ctx: AppEventContext, omitAdId: boolean, omitAndroidId: boolean): void {
    const cfg = this.telemetry?.emitters.tracking;
    if (!cfg) return;
    const sender = ctx.package;
    const q = this.queue<TrackingItem>('tracking', sender, async (batch) => {
      const device = this.device();
      const account = this.o.account?.();
      const header = trackingHeader(device, {
        sender,
        analyticsVersion: this.versionOf(cfg.app),
        ...(account ? { account } : {}),
        omitAdId: batch.some((e) => e.value.omitAdId),
        omitAndroidId: batch.some((e) => e.value.omitAndroidId),
      });
      const entries = batch.map((e) => ({
        ...e.value.entry,
        H: { ...e.value.entry.H, retryCnt: e.failures },
      }));
      const { body } = encodeTrackingBody(header, entries, {
        ts: this.clock.now(),
        nonce: this.random(8).toString('hex'),
      });
      await this.post({
        app: cfg.app,
        method: 'POST',
        url: cfg.url,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(body),
      });
    });
    const sn = (this.trackingSeq.get(sender) ?? 0) + 1;
    this.trackingSeq.set(sender, sn);
    q.push({
      entry: {
        H: { sid: this.sessionId, pk: sender, key: event.name, eventTime: String(ctx.time), sn, retryCnt: 0 },
        B: { _event_id_: event.name, netstate: 'WIFI', package: sender, ...event.properties },
      },
      omitAdId,
      omitAndroidId,
    });
  }

  private toMistat(event: AppEvent, ctx: AppEventContext, omitAndroidId: boolean): void {
    const cfg = this.telemetry?.emitters.mistat;
    if (!cfg) return;
    const pkg = ctx.package;
    const q = this.queue<MistatItem>('mistat', pkg, async (batch) => {
      let session = this.mistatSessions.get(pkg);
      if (!session) this.mistatSessions.set(pkg, (session = newMistatSession(this.random)));
      const payload = mistatPayload(this.device(), {
        appId: cfg.appId,
        appVersion: this.versionOf(pkg),
        pkg,
        events: batch.map((e) => e.value.event),
        now: this.clock.now(),
        omitAndroidId: batch.some((e) => e.value.omitAndroidId),
      });
      const body = encodeMistatBody(payload, session, { appId: cfg.appId, region: cfg.region });
      await this.post({
        app: pkg,
        method: 'POST',
        url: cfg.url,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(body),
      });
    });
    q.push({ event: { e: event.name, t: ctx.time, p: { ...event.properties } }, omitAndroidId });
  }

  /** One splash-ad request per app start, sent at once and never retried. */
  private toAds(ctx: AppEventContext, device: DeviceInfo, omitAdId: boolean, omitAndroidId: boolean): void {
    const cfg = this.telemetry?.emitters.ads;
    if (!cfg) return;
    const req = buildSplashAdRequest(device, {
      pkg: ctx.package,
      pkgVersion: this.versionOf(ctx.package),
      msaVersion: this.versionOf(cfg.app),
      triggerId: this.random(16).toString('hex'),
      omitAdId,
      omitAndroidId,
    });
    this.watch(
      this.post({
        app: cfg.app,
        method: 'POST',
        url: cfg.url,
        headers: { 'Content-Type': 'application/json; charset=utf-8' },
        body: encodeSplashAdRequest(req),
      }).then(
        () => this.log(`ads: splash request for ${ctx.package} sent`),
        (err: Error) => this.log(`ads: splash request for ${ctx.package} failed: ${err.message}`),
      ),
    );
  }

  // --- plumbing -----------------------------------------------------------------------------------

  private queue<T>(
    emitter: QueuedEmitter,
    pkg: string,
    send: (batch: Array<QueueEntry<T>>) => Promise<void>,
  ): UploadQueue<T> {
    const key = `${emitter}:${pkg}`;
    let q = this.queues.get(key) as UploadQueue<T> | undefined;
    if (!q) {
      const timings = { ...DEFAULT_TIMINGS[emitter], ...this.o.timings?.[emitter] };
      q = new UploadQueue<T>(key, timings, send, (r: QueueOutcome) =>
        this.log(
          r.ok
            ? `${key}: uploaded ${r.count} event(s)`
            : `${key}: upload of ${r.count} event(s) failed (${r.error.message}); retry in ${r.retryInMs} ms`,
        ),
      );
      this.queues.set(key, q as UploadQueue<unknown>);
    }
    return q;
  }

  /** Sends; a PhoneHttpError or a non-2xx answer rejects (the queue keeps the events). */
  private async post(req: HttpRequest): Promise<void> {
    const res = await this.o.http.request(req);
    if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status} from ${req.url}`);
  }

  private watch(p: Promise<unknown>): void {
    const q = p.catch(() => {});
    this.inFlight.add(q);
    void q.finally(() => this.inFlight.delete(q));
  }

  private device(): DeviceInfo {
    return readDevice(this.o.profile, this.o.props, this.o.settings);
  }

  private versionOf(pkg: string): string {
    return this.o.profile.packages.find((p) => p.name === pkg)?.versionName ?? '';
  }

  private dalvikUa(): string {
    const d = this.device();
    return `Dalvik/2.1.0 (Linux; U; Android ${d.osVersion}; ${d.model} Build/${this.o.props.get('ro.build.id')})`;
  }

  private log(line: string): void {
    this.o.log?.(`telemetry: ${line}`);
  }
}
