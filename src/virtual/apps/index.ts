/**
 * The apps of a virtual Xiaomi phone: Mi Browser, MIUI Settings, the launcher's folders and pages,
 * and the SystemUI status bar and notification shade. `installApps()` registers their screens with
 * the phone's Screen (the launcher as its home app and SystemUI's strip through `installSystemUi()`)
 * and sends everything they report to `deps.telemetry` (events.ts is the contract).
 *
 * Events (context: package, time; browser events also incognito):
 * - browser (profile.browser): page_load_event_start / page_load_event_finish {url},
 *   search {search_word, used_searchengine: google|duckduckgo|bing, search_position: 'address_bar',
 *   search_method: 'input'}.
 * - com.miui.home: folder_open {folder}, home_screen_swipe {from, to} (0-based screens; a swipe, not
 *   HOME's jump back to the default screen), app_open {package}: an app came to the foreground from
 *   another package (an icon on the workspace, the dock or in a folder, `am start -n`, a VIEW intent,
 *   recents, BACK into it); once per arrival, never for a further activity of the app already in
 *   front, never for the launcher itself. The context is com.miui.home, as the launcher reports it;
 *   `package` is the app that opened.
 * - com.android.systemui: status_bar_pull {expanded} (pulled down: true; swipe up / BACK / HOME: false).
 * - com.android.settings: settings_page_open {page} (page keys: SETTINGS_PAGES).
 * - appBackgrounded(pkg) whenever the focused package changes away from pkg (HOME/BACK out of the
 *   browser, another app in front …; the launcher too when an app opens over it).
 * - appStopped(pkg) when pkg is force-stopped (the screen's `force-stop`, before its activities go and
 *   the focus moves); appStarted(pkg) whenever an activity of pkg starts (after app_open, before the
 *   app's own reports).
 *
 * Call it once per phone (a second call disposes the first). It survives reboots: registrations
 * and the launcher configuration stay, the browser re-reads its shared_prefs when it starts again.
 */
import type { VirtualPhone } from '../phone.ts';
import type { ActivityRecord, Screen } from '../display/screen.ts';
import type { AppEvent, AppEventContext, HttpClient, SystemEvent, TelemetrySink } from './events.ts';
import type { FolderSpec, LauncherEvent } from './launcher.ts';
import { HOME_PACKAGE, Launcher } from './launcher.ts';
import { NotificationShade, SYSTEMUI_PACKAGE, systemUiStatusBar } from './systemui.ts';
import { MiBrowser } from './browser/model.ts';
import type { BrowserPrefs } from './browser/model.ts';
import { browserScreens } from './browser/views.ts';
import { MiuiSettings, SETTINGS_PACKAGE } from './settings-app.ts';
import { installFirstLaunchDialog } from './first-launch.ts';

export type { BrowserPrefs, SearchEngineId } from './browser/model.ts';
export {
  BROWSER_ACTIVITY,
  BROWSER_PREF_KEYS,
  BROWSER_SETTINGS_ACTIVITY,
  PREF_ENHANCED_INCOGNITO,
  PREF_INCOGNITO,
  PREF_SEARCH_ENGINE,
  MiBrowser,
} from './browser/model.ts';
export { MiuiSettings, SETTINGS_PAGES } from './settings-app.ts';

export interface AppDeps {
  telemetry: TelemetrySink;
  http: HttpClient;
  /** Milliseconds since the epoch for event times (default Date.now). */
  clock?: () => number;
}

export interface InstalledApps {
  /** Mi Browser (or the ROM's browser): tabs, prefs, whenIdle(). */
  browser: MiBrowser;
  /** The browser's switches for the telemetry layer (keys: BROWSER_PREF_KEYS). */
  browserPrefs: BrowserPrefs;
  settings: MiuiSettings;
  launcher: Launcher;
  shade: NotificationShade;
  /** Resolves when no page load is in flight (tests await it after input). */
  whenIdle(): Promise<void>;
  /** Unhooks everything from the phone (screens stay registered). */
  dispose(): void;
}

/** MIUI's default home-screen folders (global ROM): those with none of their apps installed are left out. */
export const DEFAULT_FOLDERS: FolderSpec[] = [
  {
    label: 'Tools',
    packages: [
      'com.miui.calculator',
      'com.android.deskclock',
      'com.miui.compass',
      'com.miui.notes',
      'com.android.soundrecorder',
      'com.miui.screenrecorder',
      'com.xiaomi.scanner',
      'com.android.fileexplorer',
      'com.mi.android.globalFileexplorer',
      'com.miui.weather2',
      'com.miui.fm',
      'com.miui.bugreport',
      'com.miui.miservice',
    ],
  },
  {
    label: 'Google',
    packages: [
      'com.android.chrome',
      'com.google.android.gm',
      'com.google.android.apps.maps',
      'com.google.android.youtube',
      'com.google.android.apps.docs',
      'com.google.android.apps.youtube.music',
      'com.google.android.videos',
      'com.google.android.apps.tachyon',
      'com.google.android.apps.photos',
      'com.android.vending',
    ],
  },
];

/** Home screens the launcher has at least. */
export const DEFAULT_HOME_SCREENS = 3;

const installed = new WeakMap<VirtualPhone, InstalledApps>();

/**
 * The system apps the display asks for: MIUI's launcher as the Screen's home app and SystemUI's
 * status bar. The launcher is registered once per Screen (that resets the stack to it), and a later
 * call keeps it, with its pages and folders.
 */
export function installSystemUi(screen: Screen): Launcher {
  if (screen.home instanceof Launcher) return screen.home;
  const launcher = new Launcher(screen, screen.profile);
  screen.setHome(launcher);
  screen.setStatusBar(systemUiStatusBar);
  return launcher;
}

export function installApps(phone: VirtualPhone, deps: AppDeps): InstalledApps {
  installed.get(phone)?.dispose();
  const clock = deps.clock ?? Date.now;
  const screen = phone.screen;
  const launcher = installSystemUi(screen);
  const emit = (event: AppEvent, context: AppEventContext): void => {
    try {
      deps.telemetry.track(event, context);
    } catch (err) {
      phone.emit('log', `telemetry track(${event.name}) failed: ${String(err)}`);
    }
  };
  const system = (pkg: string, event: SystemEvent): void =>
    emit({ source: 'system', ...event }, { package: pkg, time: clock() });

  // Who is in front, kept from activity starts (before the started app's own listeners run, so that
  // app_open precedes what the app reports) and focus changes (tasks brought to the front).
  let focusedPkg = screen.focused().package;
  const toForeground = (pkg: string): void => {
    if (pkg === focusedPkg) return;
    const prev = focusedPkg;
    focusedPkg = pkg;
    try {
      deps.telemetry.appBackgrounded(prev);
    } catch (err) {
      phone.emit('log', `telemetry appBackgrounded(${prev}) failed: ${String(err)}`);
    }
    if (pkg !== HOME_PACKAGE) system(HOME_PACKAGE, { name: 'app_open', properties: { package: pkg } });
  };
  const onStart = (r: ActivityRecord): void => {
    toForeground(r.packageName);
    try {
      deps.telemetry.appStarted?.(r.packageName);
    } catch (err) {
      phone.emit('log', `telemetry appStarted(${r.packageName}) failed: ${String(err)}`);
    }
  };
  const onFocus = (r: ActivityRecord): void => toForeground(r.packageName);
  const onForceStop = (pkg: string): void => {
    try {
      deps.telemetry.appStopped?.(pkg);
    } catch (err) {
      phone.emit('log', `telemetry appStopped(${pkg}) failed: ${String(err)}`);
    }
  };
  screen.on('activity-start', onStart);
  screen.on('focus', onFocus);
  screen.on('force-stop', onForceStop);

  const browser = new MiBrowser(phone, {
    http: deps.http,
    clock,
    track: (event, incognito) =>
      emit({ source: 'browser', ...event }, { package: browser.pkg, incognito, time: clock() }),
  });
  browser.register(browserScreens(browser));

  const settings = new MiuiSettings(phone, {
    clock,
    onPageOpen: (page) => system(SETTINGS_PACKAGE, { name: 'settings_page_open', properties: { page } }),
  });
  settings.register();

  launcher.configure(phone.profile, { folders: DEFAULT_FOLDERS, minPages: DEFAULT_HOME_SCREENS });
  launcher.listener = (e: LauncherEvent) => {
    if (e.type === 'folder_open')
      system(HOME_PACKAGE, { name: 'folder_open', properties: { folder: e.folder } });
    else system(HOME_PACKAGE, { name: 'home_screen_swipe', properties: { from: e.from, to: e.to } });
  };

  // After the apps' own activity-start listeners: the dialog goes over the window they built.
  const disposeFirstLaunch = installFirstLaunchDialog(phone);

  const shade = new NotificationShade(screen, phone.settings);
  shade.onChange = (expanded) =>
    system(SYSTEMUI_PACKAGE, { name: 'status_bar_pull', properties: { expanded } });
  shade.attach();

  const apps: InstalledApps = {
    browser,
    browserPrefs: browser.browserPrefs,
    settings,
    launcher,
    shade,
    whenIdle: () => browser.whenIdle(),
    dispose: () => {
      browser.dispose();
      settings.dispose();
      disposeFirstLaunch();
      shade.detach();
      launcher.listener = null;
      screen.off('activity-start', onStart);
      screen.off('focus', onFocus);
      screen.off('force-stop', onForceStop);
      if (installed.get(phone) === apps) installed.delete(phone);
    },
  };
  installed.set(phone, apps);
  return apps;
}
