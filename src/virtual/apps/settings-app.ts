/**
 * MIUI Settings (`com.android.settings`): `.Settings` (the main list), `.SubSettings` (a page chosen
 * by the `:settings:show_fragment` extra, as AOSP does; not exported: the rows open it from inside
 * the app, the shell may not), `.ad.AdServiceSettings`, and the exported action entry points below.
 *
 * Privacy toggles (xiaomi-telemetry.md §4.3), read live from the settings provider on every build
 * (the windows are volatile), so `settings put` shows at once; a tap writes the setting. They are read
 * with the same functions as the telemetry hub (src/virtual/telemetry/switches.ts), so the switch shows
 * exactly what the emitters obey:
 * - Passwords & security > Privacy > "User Experience Program": secure `upload_log_pref`, on only for
 *   `1`; unset or `-1` → the profile's `telemetry.defaults.uep`.
 * - … > "Send diagnostic data automatically": secure `upload_debug_log_pref` 1/0; unset = the UEP value.
 * - … > Ad services > "Personalised ad recommendations": global `personalized_ad_enabled`, bit 0
 *   (unset = 1): off clears bit 0 (3 → 2), on sets it (2 → 3); `personalized_ad_time` gets the time.
 *
 * Every started page reports settings_page_open {page} with the page keys of SETTINGS_PAGES.
 */
import type { VirtualPhone } from '../phone.ts';
import type { ActivityRecord, Intent, Screen } from '../display/screen.ts';
import type { Bounds, UiNode } from '../display/node.ts';
import { appWindow } from '../display/window.ts';
import { node, rect } from '../display/node.ts';
import { headerRow, linkRow, listRows, switchRow } from './widgets.ts';
import {
  KEY_DIAGNOSTICS,
  KEY_PERSONALIZED_AD,
  KEY_UEP,
  readDiagnostics,
  readPersonalizedAdBits,
  readUep,
} from '../telemetry/switches.ts';

export const SETTINGS_PACKAGE = 'com.android.settings';
export const SHOW_FRAGMENT = ':settings:show_fragment';
const MAIN = `${SETTINGS_PACKAGE}/.Settings`;
const SUB = `${SETTINGS_PACKAGE}/.SubSettings`;
const AD = `${SETTINGS_PACKAGE}/.ad.AdServiceSettings`;
/**
 * Exported entry points by action, as AOSP's Settings manifest declares them (the profiles'
 * `intentFilters` say which a firmware has): android.settings.PRIVACY_SETTINGS →
 * Settings$PrivacyDashboardActivity, android.settings.DEVICE_INFO_SETTINGS → Settings$MyDeviceInfoActivity.
 * What MIUI shows there is unverified (android-realities.md §7-8); here, the Privacy and About pages.
 */
const PRIVACY_DASHBOARD = `${SETTINGS_PACKAGE}/.Settings$PrivacyDashboardActivity`;
const DEVICE_INFO = `${SETTINGS_PACKAGE}/.Settings$MyDeviceInfoActivity`;

/**
 * The Chinese texts of the China ROM (UI language zh), only where a public source gives them:
 * the privacy switches' titles (xiaomi-telemetry.md §4.3, EN / 中文). Page titles, menu rows and
 * summaries have no public source and stay English.
 */
const ZH_TEXTS: Record<string, string> = {
  'User Experience Program': '加入"用户体验改进计划"',
  'Send diagnostic data automatically': '自动发送诊断数据',
  'Personalised ad recommendations': '个性化广告推荐',
};

/** Page key (what settings_page_open reports) → title and fragment (SubSettings pages). */
export const SETTINGS_PAGES: Record<string, { title: string; fragment?: string }> = {
  settings: { title: 'Settings' },
  about: { title: 'About phone', fragment: 'com.android.settings.device.MiuiDeviceInfoSettings' },
  wifi: { title: 'Wi-Fi', fragment: 'com.android.settings.wifi.WifiSettings' },
  bluetooth: { title: 'Bluetooth', fragment: 'com.android.settings.bluetooth.BluetoothSettings' },
  display: { title: 'Display', fragment: 'com.android.settings.DisplaySettings' },
  passwords_security: {
    title: 'Passwords & security',
    fragment: 'com.android.settings.MiuiSecurityAndPrivacySettings',
  },
  privacy: { title: 'Privacy', fragment: 'com.android.settings.privacy.PrivacySettings' },
  additional: { title: 'Additional settings', fragment: 'com.android.settings.MiuiAdditionalSettings' },
  ad_services: { title: 'Ad services' },
};

export class MiuiSettings {
  private readonly phone: VirtualPhone;
  private readonly clock: () => number;
  private readonly onPageOpen: (page: string) => void;
  private readonly listeners: Array<() => void> = [];

  constructor(phone: VirtualPhone, opts: { clock: () => number; onPageOpen: (page: string) => void }) {
    this.phone = phone;
    this.clock = opts.clock;
    this.onPageOpen = opts.onPageOpen;
  }

  // ---- the toggles ---------------------------------------------------------------------------

  get uep(): boolean {
    return readUep(this.phone.settings, this.phone.profile);
  }

  set uep(on: boolean) {
    this.phone.settings.put('secure', KEY_UEP, on ? '1' : '0');
  }

  get diagnostic(): boolean {
    return readDiagnostics(this.phone.settings, this.phone.profile);
  }

  set diagnostic(on: boolean) {
    this.phone.settings.put('secure', KEY_DIAGNOSTICS, on ? '1' : '0');
  }

  private adBits(): number {
    return readPersonalizedAdBits(this.phone.settings);
  }

  get personalizedAds(): boolean {
    return (this.adBits() & 1) === 1;
  }

  set personalizedAds(on: boolean) {
    const bits = on ? this.adBits() | 1 : this.adBits() & ~1;
    this.phone.settings.put('global', KEY_PERSONALIZED_AD, String(bits));
    this.phone.settings.put('global', 'personalized_ad_time', String(this.clock()));
  }

  // ---- activities ----------------------------------------------------------------------------

  register(): void {
    const screen = this.phone.screen;
    const opts = { volatile: true } as const;
    screen.registerActivity(MAIN, (s) => this.buildPage(s, 'settings'), opts);
    screen.registerActivity(SUB, (s, intent) => this.buildPage(s, pageOf(SUB, intent)), opts);
    screen.registerActivity(AD, (s) => this.buildPage(s, 'ad_services'), opts);
    screen.registerActivity(PRIVACY_DASHBOARD, (s) => this.buildPage(s, 'privacy'), opts);
    screen.registerActivity(DEVICE_INFO, (s) => this.buildPage(s, 'about'), opts);
    const onStart = (r: ActivityRecord): void => {
      if (r.packageName !== SETTINGS_PACKAGE) return;
      this.onPageOpen(pageOf(r.shortComponent, r.intent));
    };
    screen.on('activity-start', onStart);
    this.listeners.push(() => screen.off('activity-start', onStart));
  }

  dispose(): void {
    for (const off of this.listeners.splice(0)) off();
  }

  private open(page: string): void {
    const screen = this.phone.screen;
    if (page === 'ad_services') {
      screen.startActivity(AD, { component: AD });
      return;
    }
    const fragment = SETTINGS_PAGES[page]?.fragment ?? page;
    screen.startActivity(SUB, { component: SUB, extras: { [SHOW_FRAGMENT]: fragment } });
  }

  /** A text in the phone's UI language (persist.sys.locale, else ro.product.locale), where known. */
  private tr(en: string): string {
    const locale =
      this.phone.props.get('persist.sys.locale') || this.phone.props.get('ro.product.locale') || '';
    return /^zh\b/i.test(locale) ? (ZH_TEXTS[en] ?? en) : en;
  }

  private buildPage(s: Screen, page: string): UiNode {
    const title = SETTINGS_PAGES[page]?.title ?? 'Settings';
    const w = appWindow(s, {
      title,
      titleId: `${SETTINGS_PACKAGE}:id/action_bar_title`,
      background: 0xf7f7f7,
    });
    const entries = this.entries(s, page);
    if (entries.length) {
      const area = rect(0, w.body.top + s.dp(8), s.width, s.height);
      const rows = listRows(s, area, entries.length, s.dp(72));
      w.content.children.push(
        node('androidx.recyclerview.widget.RecyclerView', {
          resourceId: `${SETTINGS_PACKAGE}:id/recycler_view`,
          bounds: rect(0, area.top, s.width, rows[rows.length - 1]!.bottom),
          children: entries.map((make, i) => make(rows[i]!)),
        }),
      );
    }
    return w.root;
  }

  private entries(s: Screen, page: string): Array<(b: Bounds) => UiNode> {
    const link =
      (target: string, summary?: string) =>
      (b: Bounds): UiNode =>
        linkRow(s, b, {
          title: SETTINGS_PAGES[target]!.title,
          ...(summary ? { summary } : {}),
          onTap: () => this.open(target),
        });
    const header = (t: string) => (b: Bounds) => headerRow(s, b, t);
    switch (page) {
      case 'settings':
        return [
          link('about', this.phone.props.get('ro.build.version.incremental') || undefined),
          header('Wireless & networks'),
          link('wifi'),
          link('bluetooth'),
          header('Device'),
          link('display'),
          link('passwords_security'),
          link('additional'),
        ];
      case 'passwords_security':
        return [
          (b) => linkRow(s, b, { title: 'Screen lock', summary: 'Off', onTap: () => undefined }),
          link('privacy'),
        ];
      case 'privacy':
        return [
          (b) =>
            switchRow(s, b, {
              title: this.tr('User Experience Program'),
              summary: 'Join the User Experience Program',
              resourceId: `${SETTINGS_PACKAGE}:id/user_experience_program`,
              checked: this.uep,
              onToggle: () => (this.uep = !this.uep),
            }),
          (b) =>
            switchRow(s, b, {
              title: this.tr('Send diagnostic data automatically'),
              summary: 'Send diagnostic data when errors occur',
              resourceId: `${SETTINGS_PACKAGE}:id/upload_debug_log`,
              checked: this.diagnostic,
              onToggle: () => (this.diagnostic = !this.diagnostic),
            }),
          link('ad_services'),
        ];
      case 'ad_services':
        return [
          (b) =>
            switchRow(s, b, {
              title: this.tr('Personalised ad recommendations'),
              summary: 'Show ads based on your interests',
              resourceId: `${SETTINGS_PACKAGE}:id/personalized_ad`,
              checked: this.personalizedAds,
              onToggle: () => (this.personalizedAds = !this.personalizedAds),
            }),
        ];
      default:
        return [];
    }
  }
}

/** The page key of a Settings activity and its intent. */
function pageOf(component: string, intent: Intent): string {
  if (component.endsWith('/.Settings')) return 'settings';
  if (component.endsWith('/.ad.AdServiceSettings')) return 'ad_services';
  if (component.endsWith('$PrivacyDashboardActivity')) return 'privacy';
  if (component.endsWith('$MyDeviceInfoActivity')) return 'about';
  const fragment = intent.extras?.[SHOW_FRAGMENT];
  if (!fragment) return 'settings';
  const known = Object.entries(SETTINGS_PAGES).find(([, p]) => p.fragment === fragment);
  return known ? known[0] : fragment;
}
