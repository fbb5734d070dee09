/**
 * The MSA splash-ad request (xiaomi-telemetry.md §2.5): plain-HTTP JSON to
 * api.ad.intl.xiaomi.com/getSplashScreenAds whenever a Mi app opens, carrying device identifiers.
 */
import type { DeviceInfo } from './device.ts';

export interface SplashAdRequest {
  deviceInfo: Record<string, unknown>;
  userInfo: Record<string, unknown>;
  applicationInfo: { platform: string; packageName: string; version: string };
  impRequests: Array<{ template: string }>;
  appInfo: { packageName: string[]; version: string[] };
}

export function buildSplashAdRequest(
  d: DeviceInfo,
  o: {
    /** The app that opened. */
    pkg: string;
    pkgVersion: string;
    /** The ad app's version (com.miui.msa.global / com.miui.systemAdSolution). */
    msaVersion: string;
    triggerId: string;
    omitAdId?: boolean;
    omitAndroidId?: boolean;
  },
): SplashAdRequest {
  const userInfo: Record<string, unknown> = {
    imei: d.imeiHash,
    mac: d.macHash,
    locale: d.locale,
    language: d.language,
    country: d.region,
    connectionType: 'WIFI',
    ip: '',
  };
  // The MIUI ad id travels as `idfa`.
  if (!o.omitAdId) userInfo.idfa = d.adId;
  if (!o.omitAndroidId) userInfo.androidId = d.androidId;
  userInfo.triggerId = o.triggerId;
  userInfo.ex = '';
  return {
    deviceInfo: {
      screenWidth: d.screenWidth,
      screenHeight: d.screenHeight,
      os: 'android',
      osVersion: d.osVersion,
      model: d.model,
      device: d.device,
      miuiVersion: d.incremental,
      miuiVersionName: d.hyperOs || d.miuiName,
      make: d.manufacturer.toLowerCase(),
      isInter: d.buildRegion !== 'cn',
      power: 100,
    },
    userInfo,
    // §2.5: applicationInfo.packageName is com.miui.systemAdSolution whatever the package's name.
    applicationInfo: { platform: 'xiaomi', packageName: 'com.miui.systemAdSolution', version: o.msaVersion },
    impRequests: [{ template: 'splash' }],
    appInfo: { packageName: [o.pkg], version: [o.pkgVersion] },
  };
}

export function encodeSplashAdRequest(req: SplashAdRequest): Buffer {
  return Buffer.from(JSON.stringify(req), 'utf8');
}

export function decodeSplashAdRequest(body: string | Buffer): SplashAdRequest {
  return JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as SplashAdRequest;
}
