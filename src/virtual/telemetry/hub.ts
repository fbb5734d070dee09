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
  type EmitterFlush,
  type EmitterTransport,
  type Profile,
  type ProfileTelemetry,
  type TelemetryRule,
  type TelemetrySituation,
} from '../profiles/load.ts';
import type { TelemetryEmitter, TelemetryToggle } from '../profiles/schema.ts';
import { buildSplashAdRequest, encodeSplashAdRequest } from './ads.ts';
import { readDevice, stableUuid, type DeviceInfo, type PropsLike, type SettingsLike } from './device.ts';
import {
  encodeMistatBody,
  mistatPayload,
  newMistatSession,
  type MistatEvent,
  type MistatSession,
} from './mistat.ts';
import {
  UploadQueue,
  type QueueEntry,
  type QueueOutcome,
  type QueueTimings,
  type Scheduler,
  type SendResult,
} from './queue.ts';
import {
  buildSensorsEvent,
  encodeSensorsBatch,
  encodeSensorsEncryptedBatch,
  sensorsUrl,
  type SensorsEvent,
} from './sensors.ts';
import { installedVersion, readDiagnostics, readPersonalizedAds, readUep } from './switches.ts';
import { encodeTrackingBody, trackingHeader, type TrackingEntry } from './tracking.ts';
import { cipherOutput, transportRequest, type NativeUpload } from './transport.ts';

/**
 * The browser's own switches, as the browser app stores them (src/virtual/apps/browser/model.ts uses the
 * same keys). Keys read here:
 * - `enhanced_incognito_mode`: the incognito data-collection switch that Mi Browser 12.1.4 / Mint
 *   3.4.3 added ("Enhanced incognito mode" in the facts sheet): with incognito on, statistics stop only
 *   when this is off (xiaomi-telemetry.md summary 3, §3). Read only when the profile says the browser
 *   has the switch (`telemetry.browser.incognitoDataCollectionSwitch`); otherwise, or when unset, the
 *   profile's `telemetry.defaults.incognitoDataCollection` applies.
 * Incognito itself comes with each event (AppEventContext.incognito).
 */
export interface BrowserPrefs {
  get(key: string): boolean | undefined;
}

export const BROWSER_PREF_INCOGNITO_DATA_COLLECTION = 'enhanced_incognito_mode';

export type QueuedEmitter = Exclude<TelemetryEmitter, 'ads'>;

/**
 * What each SDK does with an answer (sensorsdata-format.md §3.4, §7; xiaomi-telemetry.md §2.2, §2.4):
 * 2xx → delivered. Sensors Android keeps the events for a retry on 403, 404 and 5xx and deletes them on
 * any other code; com.miui.analytics and MiStat keep them on 5xx (a server-side failure) and drop them on
 * other codes. A connection failure (no answer: refused, TLS rejected, timeout …) keeps them everywhere.
 */
export function uploadResult(emitter: QueuedEmitter, status: number): SendResult {
  if (status >= 200 && status <= 299) return 'ok';
  if (status >= 500 && status <= 599) return 'keep';
  if (emitter === 'sensors' && (status === 403 || status === 404)) return 'keep';
  return 'drop';
}

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

/**
 * What a queue does when its app leaves the foreground or is force-stopped, unless the profile's
 * `flush` says otherwise. The owner of a queue (whose force-stop and start count) is the event's app
 * for sensors and mistat, and the tracking emitter's `app` (com.miui.analytics) for tracking.
 */
export const DEFAULT_FLUSH_POLICY: Record<QueuedEmitter, { onBackground: boolean; persist: boolean }> = {
  // Sensors Android: autotrack flushes when the last Activity stops (android-realities.md §6); events
  // live in the SQLite `sensorsdata` events table, which survives process death and force-stop, and
  // autotrack flushes on $AppStart: they go out at the app's next start.
  sensors: { onBackground: true, persist: true },
  // com.miui.analytics: unverified, assumed like Sensors (no source describes its storage).
  tracking: { onBackground: true, persist: true },
  // MiStat: unverified, assumed like Sensors (no source describes its storage).
  mistat: { onBackground: true, persist: true },
};

/** The queue timings `flush` overrides: count → flushCount, intervalMs → flushIntervalMs. */
export function flushTimings(flush: EmitterFlush | undefined): Partial<QueueTimings> {
  const out: Partial<QueueTimings> = {};
  if (flush?.count !== undefined) out.flushCount = flush.count;
  if (flush?.intervalMs !== undefined) out.flushIntervalMs = flush.intervalMs;
  return out;
}

export interface TelemetryHubOptions {
  /** A profile with a `telemetry` section (none: the hub sends nothing). */
  profile: Profile;
  settings: SettingsLike;
  props: PropsLike;
  http: HttpClient;
  browserPrefs?: BrowserPrefs;
  clock?: { now(): number };
  /**
   * Per-emitter overrides of DEFAULT_TIMINGS (tests use milliseconds). A profile's `flush.count` and
   * `flush.intervalMs` override these in turn: they are the firmware's behaviour.
   */
  timings?: Partial<Record<QueuedEmitter, Partial<QueueTimings>>>;
  /** The signed-in Mi account id, if any (`login()` for Sensors, `userid` for tracking). */
  account?: () => string | undefined;
  /** One line per decision and upload outcome (a phone can pipe it to logcat). */
  log?: (line: string) => void;
  random?: (n: number) => Buffer;
  /**
   * The package manager's live state (`phone.packages`): the versions the SDKs report follow a
   * `pm install`. Without it, the profile's package list.
   */
  packages?: { get(name: string): { versionName: string } | undefined };
  /** Timers of the upload queues (tests inject a manual scheduler). */
  scheduler?: Scheduler;
}

/** The toggle state the table is asked about, as read now. */
export type ToggleState = Record<TelemetryToggle, boolean>;

interface SensorsItem {
  event: SensorsEvent;
}
interface TrackingItem {
  entry: TrackingEntry;
  omitAdId: boolean;
}
interface MistatItem {
  event: MistatEvent;
  omitAndroidId: boolean;
}

/** A queue's owner and what it does at background and force-stop. */
interface QueueMeta {
  emitter: QueuedEmitter;
  owner: string;
  onBackground: boolean;
  persist: boolean;
}

export class TelemetryHub implements TelemetrySink {
  private readonly telemetry: ProfileTelemetry | undefined;
  private readonly clock: { now(): number };
  private readonly random: (n: number) => Buffer;
  private readonly queues = new Map<string, UploadQueue<unknown>>();
  private readonly queueMeta = new Map<string, QueueMeta>();
  /** Sensors encrypted mode: the stand-in for the RSA-wrapped key (one per phone, as the SDK keeps one). */
  private sensorsEkey: string | undefined;
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
    const { settings, profile } = this.o;
    const fallback = t?.defaults.incognitoDataCollection ?? true;
    return {
      incognito: context?.incognito === true,
      incognitoDataCollection: t?.browser?.incognitoDataCollectionSwitch
        ? (this.o.browserPrefs?.get(BROWSER_PREF_INCOGNITO_DATA_COLLECTION) ?? fallback)
        : fallback,
      uep: readUep(settings, profile),
      diagnostics: readDiagnostics(settings, profile),
      personalizedAds: readPersonalizedAds(settings),
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
      else if (emitter === 'tracking') this.toTracking(event, context, omit.has('adId'));
      else if (emitter === 'mistat') this.toMistat(event, context, omit.has('androidId'));
      else this.toAds(event, context, device, omit.has('adId'), omit.has('androidId'));
    }
  }

  /**
   * The app went to the background: its SDK queues flush (unless their `flush.onBackground` is false).
   * The `tracking` queues all belong to one process, com.miui.analytics, which collects the events of
   * every system app (DEFAULT_FLUSH_POLICY: their owner): when it flushes for one app it sends every
   * app's queue, one envelope per sender. So status-bar events, whose app (SystemUI) never goes to the
   * background, leave with the launcher's. Unverified, like the rest of this emitter's policy (no
   * source describes com.miui.analytics' queue); without it SystemUI's events went out only on the
   * 60 s timer, i.e. in whatever scenario the phone ran a minute later.
   */
  appBackgrounded(pkg: string): void {
    if (this.stopped) return;
    const flushes = (key: string): boolean => this.queueMeta.get(key)?.onBackground !== false;
    const keys = [...this.queues.keys()].filter((k) => k.endsWith(`:${pkg}`) && flushes(k));
    if (keys.some((k) => this.queueMeta.get(k)?.emitter === 'tracking'))
      for (const [k, meta] of this.queueMeta)
        if (meta.emitter === 'tracking' && flushes(k) && !keys.includes(k)) keys.push(k);
    for (const k of keys) this.watch(this.queues.get(k)!.flush());
  }

  /**
   * The app was force-stopped (`am force-stop`): its process died. Queues it owns stop their timers;
   * with `persist` their events wait for the app's next start (appStarted), without it they are lost.
   */
  appStopped(pkg: string): void {
    if (this.stopped) return;
    for (const [key, q] of this.queues) {
      const meta = this.queueMeta.get(key);
      if (meta?.owner !== pkg) continue;
      if (meta.persist) {
        const n = q.suspend();
        if (n > 0) this.log(`${key}: ${pkg} force-stopped; ${n} event(s) kept for its next start`);
      } else {
        const n = q.discard();
        if (n > 0) this.log(`${key}: ${pkg} force-stopped; ${n} queued event(s) lost with the process`);
      }
    }
  }

  /**
   * An activity of the app started (its process runs again if it was force-stopped): queues it owns
   * that kept their events across the force-stop upload them now (Sensors autotrack's $AppStart flush).
   */
  appStarted(pkg: string): void {
    if (this.stopped) return;
    for (const [key, q] of this.queues) {
      if (this.queueMeta.get(key)?.owner !== pkg || !q.suspended) continue;
      if (q.size > 0) this.log(`${key}: ${pkg} started; uploading ${q.size} kept event(s)`);
      this.watch(q.resume());
    }
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
    const q = this.queue<SensorsItem>('sensors', ctx.package, ctx.package, cfg.flush, async (batch) => {
      const events = batch.map((e) => e.value.event);
      const enc = cfg.encrypt;
      const { body } = enc
        ? encodeSensorsEncryptedBatch(events, this.clock.now(), {
            seal: (plain) => cipherOutput(enc.cipher, Buffer.from(enc.key, 'hex'), plain, this.random),
            ekey: (this.sensorsEkey ??= this.random(256).toString('base64')),
            pkv: 1,
          })
        : encodeSensorsBatch(events, this.clock.now());
      return this.post('sensors', cfg, {
        app: ctx.package,
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

  private toTracking(event: AppEvent, ctx: AppEventContext, omitAdId: boolean): void {
    const cfg = this.telemetry?.emitters.tracking;
    if (!cfg) return;
    const sender = ctx.package;
    const q = this.queue<TrackingItem>('tracking', sender, cfg.app, cfg.flush, async (batch) => {
      const device = this.device();
      const account = this.o.account?.();
      const header = trackingHeader(device, {
        sender,
        analyticsVersion: this.versionOf(cfg.app),
        ...(account ? { account } : {}),
        omitAdId: batch.some((e) => e.value.omitAdId),
      });
      const entries = batch.map((e) => ({
        ...e.value.entry,
        H: { ...e.value.entry.H, retryCnt: e.failures },
      }));
      const { body } = encodeTrackingBody(header, entries, {
        ts: this.clock.now(),
        nonce: this.random(8).toString('hex'),
      });
      return this.post('tracking', cfg, {
        app: cfg.app,
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
    });
  }

  private toMistat(event: AppEvent, ctx: AppEventContext, omitAndroidId: boolean): void {
    const cfg = this.telemetry?.emitters.mistat;
    if (!cfg) return;
    const pkg = ctx.package;
    const q = this.queue<MistatItem>('mistat', pkg, pkg, cfg.flush, async (batch) => {
      let session = this.mistatSessions.get(pkg);
      if (!session) {
        session = newMistatSession(this.random);
        // `encrypt`: the profile's key is the session key (a harness holding it can read the upload).
        if (cfg.encrypt) session.key = Buffer.from(cfg.encrypt.key, 'hex');
        this.mistatSessions.set(pkg, session);
      }
      const payload = mistatPayload(this.device(), {
        appId: cfg.appId,
        appVersion: this.versionOf(pkg),
        pkg,
        events: batch.map((e) => e.value.event),
        now: this.clock.now(),
        omitAndroidId: batch.some((e) => e.value.omitAndroidId),
      });
      const body = encodeMistatBody(payload, session, { appId: cfg.appId, region: cfg.region });
      return this.post('mistat', cfg, {
        app: pkg,
        url: cfg.url,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(body),
      });
    });
    q.push({ event: { e: event.name, t: ctx.time, p: { ...event.properties } }, omitAndroidId });
  }

  /**
   * One splash-ad request per app start, sent at once and never retried. It asks for the app that
   * opened (app_open's `package`), not for the app that reported the start (the launcher).
   */
  private toAds(
    event: AppEvent,
    ctx: AppEventContext,
    device: DeviceInfo,
    omitAdId: boolean,
    omitAndroidId: boolean,
  ): void {
    const cfg = this.telemetry?.emitters.ads;
    if (!cfg) return;
    const opened = event.name === 'app_open' ? event.properties.package : ctx.package;
    const req = buildSplashAdRequest(device, {
      pkg: opened,
      pkgVersion: this.versionOf(opened),
      msaVersion: this.versionOf(cfg.app),
      triggerId: this.random(16).toString('hex'),
      omitAdId,
      omitAndroidId,
    });
    const native: NativeUpload = {
      app: cfg.app,
      url: cfg.url,
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body: encodeSplashAdRequest(req),
    };
    let request: HttpRequest;
    try {
      request = transportRequest('ads', cfg, native, this.random);
    } catch (err) {
      this.log(`ads: splash request for ${opened} not sent: ${(err as Error).message}`);
      return;
    }
    this.watch(
      this.o.http.request(request).then(
        (res) => this.log(`ads: splash request for ${opened} answered ${res.status}`),
        (err: Error) => this.log(`ads: splash request for ${opened} failed: ${err.message}`),
      ),
    );
  }

  // --- plumbing -----------------------------------------------------------------------------------

  /**
   * The queue `<emitter>:<pkg>` (created on first use), owned by `owner`'s process. A queue its owner's
   * force-stop suspended resumes when an event arrives for it: the owner runs again to take it.
   */
  private queue<T>(
    emitter: QueuedEmitter,
    pkg: string,
    owner: string,
    flush: EmitterFlush | undefined,
    send: (batch: Array<QueueEntry<T>>) => Promise<{ result: SendResult; reason: string }>,
  ): UploadQueue<T> {
    const key = `${emitter}:${pkg}`;
    let q = this.queues.get(key) as UploadQueue<T> | undefined;
    if (q?.suspended) this.watch(q.resume());
    if (!q) {
      const timings = { ...DEFAULT_TIMINGS[emitter], ...this.o.timings?.[emitter], ...flushTimings(flush) };
      const policy = DEFAULT_FLUSH_POLICY[emitter];
      this.queueMeta.set(key, {
        emitter,
        owner,
        onBackground: flush?.onBackground ?? policy.onBackground,
        persist: flush?.persist ?? policy.persist,
      });
      q = new UploadQueue<T>(
        key,
        timings,
        send,
        (r: QueueOutcome) =>
          this.log(
            r.ok
              ? `${key}: uploaded ${r.count} event(s)`
              : r.dropped
                ? `${key}: upload of ${r.count} event(s) rejected (${r.error.message}); events deleted`
                : `${key}: upload of ${r.count} event(s) failed (${r.error.message}); retry in ${r.retryInMs} ms`,
          ),
        this.o.scheduler,
      );
      this.queues.set(key, q as UploadQueue<unknown>);
    }
    return q;
  }

  /**
   * Sends one batch: `ok`, `keep` (no answer, or an answer the SDK retries) or `drop` (an answer the
   * SDK deletes the events on), per uploadResult().
   */
  private async post(
    emitter: QueuedEmitter,
    cfg: EmitterTransport,
    native: NativeUpload,
  ): Promise<{ result: SendResult; reason: string }> {
    const req = transportRequest(emitter, cfg, native, this.random);
    let status: number;
    try {
      status = (await this.o.http.request(req)).status;
    } catch (err) {
      return { result: 'keep', reason: err instanceof Error ? err.message : String(err) };
    }
    return { result: uploadResult(emitter, status), reason: `HTTP ${status} from ${req.url}` };
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
    return installedVersion(pkg, this.o.profile, this.o.packages);
  }

  private dalvikUa(): string {
    const d = this.device();
    return `Dalvik/2.1.0 (Linux; U; Android ${d.osVersion}; ${d.model} Build/${this.o.props.get('ro.build.id')})`;
  }

  private log(line: string): void {
    this.o.log?.(`telemetry: ${line}`);
  }
}
