/**
 * What the virtual phone's apps report, before any SDK encodes it. Apps (src/virtual/apps/) emit
 * these; the telemetry layer (src/virtual/telemetry/) decides per firmware profile and toggle state
 * whether and how each is uploaded (Sensors Analytics, com.miui.analytics tracking, MiStat, ads).
 * Names follow what researchers saw on the wire (shared/facts/xiaomi-telemetry.md §2).
 */

/** Events of the browser, as Mi/Mint Browser name them for Sensors Analytics (§2.1). */
export type BrowserEvent =
  | { name: 'page_load_event_start'; properties: { url: string } }
  | { name: 'page_load_event_finish'; properties: { url: string } }
  | {
      name: 'search';
      properties: {
        search_word: string;
        used_searchengine: string;
        search_position: string;
        search_method: string;
      };
    };

/** Events of system apps for com.miui.analytics → tracking.*.miui.com (§2.2). */
export type SystemEvent =
  | { name: 'folder_open'; properties: { folder: string } }
  | { name: 'home_screen_swipe'; properties: { from: number; to: number } }
  | { name: 'status_bar_pull'; properties: { expanded: boolean } }
  | { name: 'settings_page_open'; properties: { page: string } }
  | { name: 'app_open'; properties: { package: string } };

export interface AppEventContext {
  /** The package that produced the event (com.mi.globalbrowser, com.miui.home, …). */
  package: string;
  /** Browser events only: whether the tab was incognito. */
  incognito?: boolean;
  /** Milliseconds since the epoch. */
  time: number;
}

export type AppEvent = ({ source: 'browser' } & BrowserEvent) | ({ source: 'system' } & SystemEvent);

/** Where apps send their events. The telemetry layer implements it; tests can collect. */
export interface TelemetrySink {
  track(event: AppEvent, context: AppEventContext): void;
  /** The app went to the background: SDKs flush their queues then. */
  appBackgrounded(pkg: string): void;
  /**
   * The app was force-stopped (`am force-stop`, also `am start -S` and a scenario's launchApp): its
   * process died, before the focus moved away from it (so SDKs with a persisted queue do not flush).
   */
  appStopped?(pkg: string): void;
  /** An activity of the app started (its process runs, anew if it had been force-stopped). */
  appStarted?(pkg: string): void;
}

/** How apps reach the network: through the phone's stack (proxy, TLS trust) — see src/virtual/netstack. */
export interface HttpRequest {
  /** The package making the request (its trust rules and mount namespace apply). */
  app: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Aborting it ends the request: its sockets are closed, it rejects with 'aborted'. */
  signal?: AbortSignal;
  /**
   * `system` (default): the connection follows `global http_proxy`, as HttpURLConnection/OkHttp and
   * Chromium do; `direct`: the app ignores it and connects straight out, as apps with their own
   * sockets (Proxy.NO_PROXY, native code, Flutter) do (android-realities.md §5).
   */
  proxy?: 'system' | 'direct';
  /**
   * The app trusts only its own pinned certificate: no CA of the phone's stores (system or user)
   * makes an intercepted TLS connection acceptable, so it fails with `cert-rejected`.
   */
  pinning?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A failed request, classified as apps and SDKs need it (retry later, or not). */
export type HttpFailure =
  | 'cert-rejected'
  | 'refused'
  | 'timeout'
  | 'reset'
  | 'proxy-error'
  | 'bad-url'
  /** Ended by the caller's signal, or by the phone shutting down (PhoneHttp.close()). */
  | 'aborted';

export class PhoneHttpError extends Error {
  constructor(
    readonly failure: HttpFailure,
    message: string,
  ) {
    super(message);
    this.name = 'PhoneHttpError';
  }
}

export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>;
}
