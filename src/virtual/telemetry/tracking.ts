/**
 * com.miui.analytics uploads to tracking.*.miui.com (xiaomi-telemetry.md §2.2): a JSON H/B envelope
 * sent as the form field `value` = Base64 URL_SAFE|NO_WRAP (padding kept) of the JSON, or of its gzip
 * when the JSON exceeds 100 000 characters and compresses below 0.3; plus `gzip`, `ts`, `nonce`, `sign`.
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { base64UrlPadded, decodeBase64Any, formBody, parseForm } from './codec.ts';
import type { DeviceInfo } from './device.ts';

/**
 * Common header `H`: exactly the field names of the 2017 upload (xiaomi-telemetry.md §2.2: model,
 * android, miui, bn, product, device, cv, lang, region, mi, sender, userid, aaid, n, mac, imei; `st`
 * is added at send time). No source lists an ANDROID_ID field, so there is none. What `mi` means is
 * unknown: its value here (1 global, 0 China) is synthetic.
 */
export type TrackingHeader = Record<string, string>;

export interface TrackingEntry {
  H: { sid: string; pk: string; key: string; eventTime: string; sn: number; retryCnt: number };
  B: Record<string, unknown>;
}

export interface TrackingPayload {
  H: TrackingHeader & { st: string };
  B: TrackingEntry[];
}

/**
 * The `sign` key is Xiaomi's and unknown: the virtual phones sign with this synthetic salt, so the
 * harness can check integrity, not authenticity.
 */
export const TRACKING_SIGN_SALT = 'phonehome-virtual-tracking';

export function trackingSign(value: string, ts: string, nonce: string): string {
  return createHash('md5')
    .update(`value=${value}&ts=${ts}&nonce=${nonce}&${TRACKING_SIGN_SALT}`)
    .digest('hex');
}

/** The common header for `sender`; `omitAdId` blanks `aaid` (the ad id a rule omits). */
export function trackingHeader(
  d: DeviceInfo,
  o: {
    sender: string;
    analyticsVersion: string;
    account?: string;
    omitAdId?: boolean;
  },
): TrackingHeader {
  return {
    model: d.model,
    android: d.osVersion,
    miui: d.hyperOs || d.miuiName,
    bn: d.incremental,
    product: d.product,
    device: d.device,
    cv: o.analyticsVersion,
    lang: d.locale,
    region: d.region,
    mi: d.buildRegion === 'cn' ? '0' : '1',
    sender: o.sender,
    userid: o.account ?? '',
    aaid: o.omitAdId ? '' : d.adId,
    n: 'WIFI',
    mac: d.macHash,
    imei: d.imeiHash,
  };
}

export function encodeTrackingBody(
  header: TrackingHeader,
  entries: TrackingEntry[],
  o: { ts: number; nonce: string },
): { body: string; payload: TrackingPayload; gzip: boolean } {
  const ts = String(o.ts);
  const payload: TrackingPayload = { H: { ...header, st: ts }, B: entries };
  const json = JSON.stringify(payload);
  const raw = Buffer.from(json, 'utf8');
  let bytes = raw;
  let gzip = false;
  if (json.length > 100_000) {
    const z = gzipSync(raw);
    if (z.length / raw.length < 0.3) {
      bytes = z;
      gzip = true;
    }
  }
  const value = base64UrlPadded(bytes);
  const body = formBody([
    ['value', value],
    ['gzip', gzip ? '1' : '0'],
    ['ts', ts],
    ['nonce', o.nonce],
    ['sign', trackingSign(value, ts, o.nonce)],
  ]);
  return { body, payload, gzip };
}

export interface DecodedTracking {
  payload: TrackingPayload;
  gzip: boolean;
  ts: string;
  nonce: string;
  sign: string;
  signValid: boolean;
}

/** Decodes a tracking body (base64url or base64, padded or not, gzip flag or magic). */
export function decodeTrackingBody(body: string | Buffer): DecodedTracking {
  const form = parseForm(body);
  const value = form.get('value');
  if (value === undefined) throw new Error('no value field');
  let bytes = decodeBase64Any(value);
  const gzip = form.get('gzip') === '1' || (bytes[0] === 0x1f && bytes[1] === 0x8b);
  if (gzip) bytes = gunzipSync(bytes);
  const payload = JSON.parse(bytes.toString('utf8')) as TrackingPayload;
  const ts = form.get('ts') ?? '';
  const nonce = form.get('nonce') ?? '';
  const sign = form.get('sign') ?? '';
  return { payload, gzip, ts, nonce, sign, signValid: sign === trackingSign(value, ts, nonce) };
}
