/**
 * Mi Browser's state and what it reports (`com.mi.globalbrowser`; the China ROM's
 * `com.android.browser`, whatever package the profile names as its browser): tabs and their history,
 * incognito mode, the search engine and the data-collection switches, page loads through the phone's
 * network, and the activity lifecycle. Its two windows are drawn by views.ts (colours and sizes in
 * theme.ts); this module knows nothing of layout.
 *
 * - Typing a URL + ENTER, a speed-dial tile, or a VIEW intent (`am start -a VIEW -d URL`) loads a
 *   page: `page_load_event_start` {url}, the page fetched with `http.request` (the proxy sees it), then
 *   `page_load_event_finish` {url} (also for an error page, as WebView's onPageFinished). A failed
 *   fetch shows an error page; nothing throws out of the UI.
 * - Anything else + ENTER searches with the default engine: `search` {search_word, used_searchengine,
 *   search_position: 'address_bar', search_method: 'input'}, then the results page loads.
 * - Words without a scheme that look like a host (`example.com/x`, `localhost:8080`, an IPv4
 *   address) get `http://`, as Chromium's omnibox did in 2020.
 * - Incognito mode (menu toggle, also in settings) shows its own tab set, dark, titled "Incognito";
 *   leaving it (or the browser finishing) discards the incognito tabs.
 *
 * Preferences (SharedPreferences `<pkg>_preferences.xml`, see BROWSER_PREF_KEYS): read when the
 * browser process starts (first activity after none), written on every change.
 */
import type { VirtualPhone } from '../../phone.ts';
import type { ActivityRecord, Intent, Screen } from '../../display/screen.ts';
import type { UiNode } from '../../display/node.ts';
import type { BrowserEvent, HttpClient, HttpResponse } from '../events.ts';
import { PhoneHttpError } from '../events.ts';
import { SharedPreferences } from '../prefs.ts';
import { installedVersion } from '../../telemetry/switches.ts';

export const BROWSER_ACTIVITY = 'com.android.browser.BrowserActivity';
export const BROWSER_SETTINGS_ACTIVITY = 'com.android.browser.BrowserSettingsActivity';

/**
 * Keys of BrowserPrefs (and of the shared_prefs XML):
 * - `incognito_mode`: incognito mode on (default false; every version).
 * - `enhanced_incognito_mode`: "Enhanced incognito mode", only where the profile says the browser has
 *   it (`telemetry.browser.incognitoDataCollectionSwitch`: Mi Browser 12.1.4 and later builds; not
 *   12.1.3, not the China ROM browser); undefined otherwise. Default true. Statistics stop only with incognito_mode on AND this off (facts §2.1/§3: Palant on
 *   Mint 3.4.3; Mi Browser 12.1.4 got the same switch). Read it as "data collection in incognito".
 * The search engine is the string pref `search_engine` (MiBrowser.engine()).
 */
export const PREF_INCOGNITO = 'incognito_mode';
export const PREF_ENHANCED_INCOGNITO = 'enhanced_incognito_mode';
export const PREF_SEARCH_ENGINE = 'search_engine';
export const BROWSER_PREF_KEYS = [PREF_INCOGNITO, PREF_ENHANCED_INCOGNITO] as const;

/** The browser switches the telemetry layer reads. */
export interface BrowserPrefs {
  /** A switch's effective value (defaults applied); undefined when this version has no such switch. */
  get(key: string): boolean | undefined;
}

export type SearchEngineId = 'google' | 'duckduckgo' | 'bing';

export const SEARCH_ENGINES: Record<SearchEngineId, { label: string; url: (q: string) => string }> = {
  google: { label: 'Google', url: (q) => `https://www.google.com/search?q=${q}` },
  duckduckgo: { label: 'DuckDuckGo', url: (q) => `https://duckduckgo.com/?q=${q}` },
  bing: { label: 'Bing', url: (q) => `https://www.bing.com/search?q=${q}` },
};
export const DEFAULT_SEARCH_ENGINE: SearchEngineId = 'google';

/** The browser's two windows, built from its state (views.ts); register() hands them to the screen. */
export interface BrowserScreens {
  main: (screen: Screen, record: ActivityRecord) => UiNode;
  settings: (screen: Screen, record: ActivityRecord) => UiNode;
}

/** What the address bar makes of its text: a URL to load, or null (a search). */
export function addressToUrl(input: string): string | null {
  const t = input.trim();
  if (!t || /\s/.test(t)) return null;
  const parse = (u: string): string | null => {
    try {
      const url = new URL(u);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch {
      return null;
    }
  };
  if (/^https?:\/\//i.test(t)) return parse(t);
  if (/^[a-z][\w+.-]*:/i.test(t) && !/^[^/]+:\d+([/?#]|$)/.test(t)) return null;
  const host = /^([^/?#:]+)(:\d+)?([/?#].*)?$/.exec(t)?.[1];
  if (!host) return null;
  const isIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
  const isName = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/i.test(host);
  if (!isIp && !isName && host.toLowerCase() !== 'localhost') return null;
  return parse(`http://${t}`);
}

/** The query part of a search URL: encodeURIComponent with spaces as '+'. */
export function encodeQuery(q: string): string {
  return encodeURIComponent(q).replace(/%20/g, '+');
}

const NET_ERRORS: Record<string, string> = {
  'cert-rejected': 'net::ERR_CERT_AUTHORITY_INVALID',
  refused: 'net::ERR_CONNECTION_REFUSED',
  timeout: 'net::ERR_TIMED_OUT',
  reset: 'net::ERR_CONNECTION_RESET',
  'proxy-error': 'net::ERR_PROXY_CONNECTION_FAILED',
  'bad-url': 'net::ERR_INVALID_URL',
};

export interface Tab {
  id: number;
  incognito: boolean;
  /** Visited URLs; '' is the browser's home page. */
  history: string[];
  index: number;
  status: 'home' | 'loading' | 'loaded' | 'error';
  title: string;
  text: string;
  error: string;
  /** Navigation counter: a finished fetch of an older navigation is dropped. */
  nav: number;
}

type PageResult =
  | { kind: 'page'; url: string; status: number; title: string; text: string }
  | { kind: 'error'; url: string; code: string };

export interface BrowserDeps {
  http: HttpClient;
  clock: () => number;
  /** Where events go (with package, incognito and time filled in). */
  track: (event: BrowserEvent, incognito: boolean) => void;
}

function headerValue(res: HttpResponse, name: string): string | undefined {
  const key = Object.keys(res.headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : res.headers[key];
}

function decodeEntities(s: string): string {
  return s
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(
      /&(amp|lt|gt|quot|apos|nbsp);/g,
      (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' })[e]!,
    );
}

/** The <title> and the visible text (first 300 characters) of an HTML page; plain text as is. */
function pageText(body: Buffer, contentType: string | undefined): { title: string; text: string } {
  const raw = body.subarray(0, 256 * 1024).toString('utf8');
  if (contentType && !/html|text|xml|json/i.test(contentType))
    return { title: '', text: `${body.length} bytes` };
  const title = decodeEntities(/<title[^>]*>([\s\S]*?)<\/title>/i.exec(raw)?.[1] ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  const text = decodeEntities(
    raw
      .replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' '),
  )
    .trim()
    .slice(0, 300);
  return { title, text };
}

export class MiBrowser {
  readonly pkg: string;
  readonly prefs: SharedPreferences;
  readonly browserPrefs: BrowserPrefs;
  /** What the main activity shows over the page: the menu or the tab switcher (views.ts draws it). */
  view: 'page' | 'menu' | 'tabs' = 'page';
  private tabs: Tab[] = [];
  private incognitoTabs: Tab[] = [];
  private current = 0;
  private currentIncognito = 0;
  private nextTabId = 1;
  /** The address bar has focus and the user is typing (keep the text across rebuilds). */
  editing = false;
  private readonly pending = new Set<Promise<void>>();
  private readonly phone: VirtualPhone;
  private readonly deps: BrowserDeps;
  private readonly listeners: Array<() => void> = [];

  constructor(phone: VirtualPhone, deps: BrowserDeps) {
    this.phone = phone;
    this.deps = deps;
    this.pkg = phone.profile.browser;
    this.prefs = new SharedPreferences(phone.fs, this.pkg, `${this.pkg}_preferences`, () => this.uid());
    this.browserPrefs = {
      get: (key) => {
        if (key === PREF_INCOGNITO) return this.incognito;
        if (key === PREF_ENHANCED_INCOGNITO)
          return this.hasEnhancedIncognito ? (this.prefs.getBoolean(key) ?? true) : undefined;
        return this.prefs.getBoolean(key);
      },
    };
  }

  // ---- state -------------------------------------------------------------------------------

  /** versionName of the installed browser (an update through `pm install` counts). */
  get version(): string {
    return installedVersion(this.pkg, this.phone.profile, this.phone.packages) || '0';
  }

  /** Whether this browser has the incognito data-collection switch: profile data, not a version rule. */
  get hasEnhancedIncognito(): boolean {
    return this.phone.profile.telemetry?.browser?.incognitoDataCollectionSwitch === true;
  }

  get incognito(): boolean {
    return this.prefs.getBoolean(PREF_INCOGNITO) ?? false;
  }

  engine(): SearchEngineId {
    const e = this.prefs.getString(PREF_SEARCH_ENGINE);
    return e && e in SEARCH_ENGINES ? (e as SearchEngineId) : DEFAULT_SEARCH_ENGINE;
  }

  setEngine(id: SearchEngineId): void {
    this.prefs.edit({ [PREF_SEARCH_ENGINE]: id });
    this.refresh();
  }

  setEnhancedIncognito(on: boolean): void {
    if (!this.hasEnhancedIncognito) return;
    this.prefs.edit({ [PREF_ENHANCED_INCOGNITO]: on });
    this.refresh();
  }

  /** Incognito mode on/off: switches to the incognito tab set (a fresh one) or back, discarding it. */
  setIncognito(on: boolean): void {
    if (on !== this.incognito) this.prefs.edit({ [PREF_INCOGNITO]: on });
    if (!on) {
      this.incognitoTabs = [];
      this.currentIncognito = 0;
    }
    this.view = 'page';
    this.editing = false;
    this.ensureTab();
    this.refresh();
  }

  /** Tabs of the current mode, in order, and which one is shown (for tests and page objects). */
  tabList(): Array<{ id: number; url: string; title: string; incognito: boolean; current: boolean }> {
    const cur = this.tab();
    return this.tabSet().map((t) => ({
      id: t.id,
      url: t.history[t.index] ?? '',
      title: this.tabTitle(t),
      incognito: t.incognito,
      current: t === cur,
    }));
  }

  /** Resolves when no page load is in flight. */
  async whenIdle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private uid(): number {
    return this.phone.packages.get(this.pkg)?.uid ?? 10000;
  }

  /** The tabs of the current mode (incognito or not). */
  tabSet(): Tab[] {
    return this.incognito ? this.incognitoTabs : this.tabs;
  }

  private ensureTab(): void {
    if (!this.tabSet().length) this.newTab(false);
  }

  /** The tab shown. */
  tab(): Tab {
    this.ensureTab();
    const set = this.tabSet();
    const i = this.incognito ? this.currentIncognito : this.current;
    return set[Math.min(i, set.length - 1)]!;
  }

  select(t: Tab): void {
    const i = this.tabSet().indexOf(t);
    if (i < 0) return;
    if (this.incognito) this.currentIncognito = i;
    else this.current = i;
  }

  newTab(refresh = true): Tab {
    const t: Tab = {
      id: this.nextTabId++,
      incognito: this.incognito,
      history: [''],
      index: 0,
      status: 'home',
      title: '',
      text: '',
      error: '',
      nav: 0,
    };
    this.tabSet().push(t);
    this.select(t);
    this.view = 'page';
    if (refresh) this.refresh();
    return t;
  }

  closeTab(t: Tab): void {
    const set = this.tabSet();
    const i = set.indexOf(t);
    if (i < 0) return;
    const wasCurrent = this.tab() === t;
    const cur = this.tab();
    set.splice(i, 1);
    t.nav++;
    if (!set.length) this.newTab(false);
    else this.select(wasCurrent ? set[Math.min(i, set.length - 1)]! : cur);
    this.refresh();
  }

  /** What a tab is called in the tab switcher (and its card's description). */
  tabTitle(t: Tab): string {
    if (t.status === 'home') return t.incognito ? 'Incognito' : 'Home page';
    return t.title || (t.history[t.index] ?? '');
  }

  // ---- navigation --------------------------------------------------------------------------

  /** The address bar's ENTER: load a URL or search for the words. */
  submit(text: string): void {
    this.editing = false;
    const t = text.trim();
    if (!t) {
      this.refresh();
      return;
    }
    const tab = this.tab();
    const url = addressToUrl(t);
    if (url) {
      this.navigate(tab, url);
      return;
    }
    const engine = this.engine();
    this.track(tab, {
      name: 'search',
      properties: {
        search_word: t,
        used_searchengine: engine,
        search_position: 'address_bar',
        search_method: 'input',
      },
    });
    this.navigate(tab, SEARCH_ENGINES[engine].url(encodeQuery(t)));
  }

  /** Opens a URL in a new tab of the current mode (VIEW intents). */
  openInNewTab(url: string): void {
    const t = this.newTab(false);
    this.navigate(t, url);
  }

  /** Loads `url` in the shown tab (pushing history). */
  load(url: string): void {
    this.navigate(this.tab(), url);
  }

  private navigate(tab: Tab, url: string, push = true): void {
    this.view = 'page';
    this.editing = false;
    if (push) {
      tab.history = tab.history.slice(0, tab.index + 1);
      tab.history.push(url);
      tab.index = tab.history.length - 1;
    }
    const nav = ++tab.nav;
    if (url === '') {
      tab.status = 'home';
      tab.title = '';
      tab.text = '';
      this.refresh();
      return;
    }
    tab.status = 'loading';
    tab.title = url;
    tab.text = '';
    tab.error = '';
    this.track(tab, { name: 'page_load_event_start', properties: { url } });
    this.refresh();
    const p = this.fetchPage(url).then((res) => {
      if (tab.nav !== nav) return; // superseded or closed
      if (res.kind === 'page') {
        tab.status = 'loaded';
        tab.title = res.title || new URL(res.url).host;
        tab.text = res.text;
      } else {
        tab.status = 'error';
        tab.title = new URL(res.url).host || res.url;
        tab.error = res.code;
      }
      if (res.url !== tab.history[tab.index]) tab.history[tab.index] = res.url;
      this.track(tab, { name: 'page_load_event_finish', properties: { url: res.url } });
      this.refresh();
    });
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Back (-1) or forward (1) in the shown tab's history; false when there is no such page. */
  go(delta: number): boolean {
    const tab = this.tab();
    const i = tab.index + delta;
    if (i < 0 || i >= tab.history.length) return false;
    tab.index = i;
    this.navigate(tab, tab.history[i]!, false);
    return true;
  }

  reload(): void {
    const tab = this.tab();
    this.navigate(tab, tab.history[tab.index] ?? '', false);
  }

  private userAgent(): string {
    const p = this.phone.props;
    const release = p.get('ro.build.version.release') || '10';
    const model = p.get('ro.product.model') || 'Redmi';
    const build = p.get('ro.build.id') || 'QKQ1.200114.002';
    const region = (p.get('ro.miui.region') || 'US').toLowerCase();
    const global = this.pkg === 'com.mi.globalbrowser' ? '-gn' : '';
    return (
      `Mozilla/5.0 (Linux; U; Android ${release}; en-${region}; ${model} Build/${build}) AppleWebKit/537.36 ` +
      `(KHTML, like Gecko) Version/4.0 Chrome/79.0.3945.147 Mobile Safari/537.36 XiaoMi/MiuiBrowser/${this.version}${global}`
    );
  }

  /** GET through the phone's network (redirects followed); never rejects. */
  private async fetchPage(url: string): Promise<PageResult> {
    let current = url;
    for (let hop = 0; hop <= 5; hop++) {
      let res: HttpResponse;
      try {
        res = await this.deps.http.request({
          app: this.pkg,
          method: 'GET',
          url: current,
          headers: {
            'User-Agent': this.userAgent(),
            Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
            'Accept-Language': 'en-US,en;q=0.9',
          },
        });
      } catch (err) {
        const code =
          err instanceof PhoneHttpError ? (NET_ERRORS[err.failure] ?? 'net::ERR_FAILED') : 'net::ERR_FAILED';
        return { kind: 'error', url: current, code };
      }
      const location = headerValue(res, 'location');
      if ([301, 302, 303, 307, 308].includes(res.status) && location) {
        try {
          current = new URL(location, current).href;
        } catch {
          return { kind: 'error', url: current, code: 'net::ERR_INVALID_REDIRECT' };
        }
        continue;
      }
      const { title, text } = pageText(res.body ?? Buffer.alloc(0), headerValue(res, 'content-type'));
      return { kind: 'page', url: current, status: res.status, title, text };
    }
    return { kind: 'error', url: current, code: 'net::ERR_TOO_MANY_REDIRECTS' };
  }

  private track(tab: Tab, event: BrowserEvent): void {
    this.deps.track(event, tab.incognito);
  }

  // ---- activities --------------------------------------------------------------------------

  /**
   * Registers both activities with the screen, their windows built by `screens` (views.ts), and
   * follows the browser's activity lifecycle.
   */
  register(screens: BrowserScreens): void {
    const screen = this.phone.screen;
    screen.registerActivity(`${this.pkg}/${BROWSER_ACTIVITY}`, (s, _i, r) => screens.main(s, r), {
      launchMode: 'singleTask',
      onBack: () => this.onBack(),
      onNewIntent: (_r, intent) => this.onIntent(intent),
    });
    screen.registerActivity(
      `${this.pkg}/${BROWSER_SETTINGS_ACTIVITY}`,
      (s, _i, r) => screens.settings(s, r),
      {
        volatile: true,
        onBack: (r) => {
          if (r.state.get('view') === 'engine') {
            r.state.set('view', 'main');
            return true;
          }
          return false;
        },
      },
    );
    const onStart = (r: ActivityRecord): void => {
      if (r.packageName !== this.pkg) return;
      if (!this.records().some((x) => x !== r)) this.prefs.reload(); // a new process reads its prefs
      if (r.component.className === BROWSER_ACTIVITY) this.onIntent(r.intent);
    };
    const onFinish = (r: ActivityRecord): void => {
      if (r.packageName !== this.pkg || this.records().some((x) => x !== r)) return;
      // The browser is gone: its incognito tabs with it.
      this.incognitoTabs = [];
      this.currentIncognito = 0;
      this.view = 'page';
      this.editing = false;
    };
    screen.on('activity-start', onStart);
    screen.on('activity-finish', onFinish);
    this.listeners.push(
      () => screen.off('activity-start', onStart),
      () => screen.off('activity-finish', onFinish),
    );
  }

  dispose(): void {
    for (const off of this.listeners.splice(0)) off();
  }

  private records(): ActivityRecord[] {
    return this.phone.screen
      .taskList()
      .flatMap((t) => t.activities)
      .filter((a) => a.packageName === this.pkg);
  }

  private onIntent(intent: Intent): void {
    const data = intent.data ?? '';
    if (/^https?:/i.test(data)) {
      let url: string;
      try {
        url = new URL(data).href;
      } catch {
        return;
      }
      this.openInNewTab(url);
    } else this.refresh();
  }

  private onBack(): boolean {
    if (this.view !== 'page') {
      this.view = 'page';
      this.refresh();
      return true;
    }
    if (this.editing) {
      this.editing = false;
      this.refresh();
      return true;
    }
    return this.go(-1);
  }

  /** Rebuilds the browser's windows (keeping what is typed in the address bar while editing). */
  refresh(): void {
    for (const r of this.records()) r.invalidate({ keepInputs: this.editing });
  }

  /** The resource-id of one of the browser's views. */
  id(name: string): string {
    // A test profile's `ui.renameIds` plays an app version whose views were renamed (locator overrides).
    return `${this.pkg}:id/${this.phone.profile.ui?.renameIds?.[name] ?? name}`;
  }
}
