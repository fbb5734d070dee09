/**
 * What the SDKs read about the phone: build properties, settings, and the identifiers they attach
 * (ANDROID_ID, hashed IMEI/MAC, the MIUI ad id, the browser's never-rotating anonymous uuid).
 */
import { createHash } from 'node:crypto';
import type { Profile } from '../profiles/load.ts';

export interface PropsLike {
  /** '' when unset, as getprop prints. */
  get(key: string): string;
}

export interface SettingsLike {
  get(ns: 'global' | 'secure' | 'system', key: string): string | undefined;
}

export interface DeviceInfo {
  model: string;
  brand: string;
  manufacturer: string;
  device: string;
  product: string;
  modDevice: string;
  /** ro.build.version.release */
  osVersion: string;
  sdk: number;
  /** ro.build.version.incremental (what Mint sends as miui_version). */
  incremental: string;
  /** ro.miui.ui.version.name (V12, V130, V816). */
  miuiName: string;
  /** ro.mi.os.version.name on HyperOS, else ''. */
  hyperOs: string;
  /** ro.miui.region (GB, CN). */
  region: string;
  /** ro.miui.build.region (global, cn). */
  buildRegion: string;
  language: string;
  /** e.g. en-GB */
  locale: string;
  timezone: string;
  screenWidth: number;
  screenHeight: number;
  serial: string;
  androidId: string;
  /** 32 hex digits, as the 2017 tracking upload carried them. */
  imeiHash: string;
  macHash: string;
  /** global ad_aaid, or one derived from the phone when the setting is unset. */
  adId: string;
}

/** A version-4-shaped UUID derived from the parts (stable: the same inputs give the same id). */
export function stableUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function md5Hex(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

export function readDevice(profile: Profile, props: PropsLike, settings: SettingsLike): DeviceInfo {
  const p = (k: string): string => props.get(k);
  const serial = p('ro.serialno') || profile.props['ro.serialno'] || profile.name;
  const androidId = settings.get('secure', 'android_id') ?? '';
  const locale = p('persist.sys.locale') || p('ro.product.locale') || 'en-US';
  return {
    model: p('ro.product.model'),
    brand: p('ro.product.brand'),
    manufacturer: p('ro.product.manufacturer'),
    device: p('ro.product.device'),
    product: p('ro.product.name'),
    modDevice: p('ro.product.mod_device'),
    osVersion: p('ro.build.version.release'),
    sdk: Number(p('ro.build.version.sdk') || '0'),
    incremental: p('ro.build.version.incremental'),
    miuiName: p('ro.miui.ui.version.name'),
    hyperOs: p('ro.mi.os.version.name'),
    region: p('ro.miui.region') || p('ro.product.locale.region'),
    buildRegion: p('ro.miui.build.region'),
    language: p('ro.product.locale.language') || locale.split('-')[0] || 'en',
    locale,
    timezone: p('persist.sys.timezone') || 'UTC',
    screenWidth: profile.display.width,
    screenHeight: profile.display.height,
    serial,
    androidId,
    // Virtual phones have no modem or Wi-Fi chip: stable stand-ins derived from the serial.
    imeiHash: md5Hex(`imei:${serial}`),
    macHash: md5Hex(`wlan0:${serial}`),
    adId: settings.get('global', 'ad_aaid') || stableUuid('ad_aaid', serial, androidId),
  };
}

/** Minutes east of UTC at `time` in the IANA zone (Sensors' `$timezone_offset` is its negation). */
export function zoneOffsetMinutes(timezone: string, time: number): number {
  try {
    const name = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' })
      .formatToParts(new Date(time))
      .find((x) => x.type === 'timeZoneName')?.value;
    const m = /GMT([+-])(\d\d):(\d\d)/.exec(name ?? '');
    if (!m) return 0;
    return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  } catch {
    return 0;
  }
}
