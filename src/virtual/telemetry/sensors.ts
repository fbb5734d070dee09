/**
 * Sensors Analytics Android SDK batches (sensorsdata-format.md §3.4, §6.3; xiaomi-telemetry.md §2.1):
 * POST <server_url> with the form body `crc=<hashCode of the base64>&gzip=1&data_list=<base64(gzip(JSON array))>`.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { formBody, javaHashCode, parseForm } from './codec.ts';
import { zoneOffsetMinutes, type DeviceInfo } from './device.ts';

export interface SensorsEvent {
  _track_id: number;
  time: number;
  type: 'track';
  distinct_id: string;
  anonymous_id: string;
  login_id?: string;
  event: string;
  lib: { $lib: 'Android'; $lib_version: string; $app_version: string; $lib_method: 'code' };
  properties: Record<string, unknown>;
  _flush_time?: number;
}

export interface SensorsEventInput {
  name: string;
  properties: Record<string, unknown>;
  time: number;
  /** The app's package ($app_id). */
  app: string;
  appVersion: string;
  libVersion: string;
  /** The browser's anonymous id (`uuid` super-property, `identify()`d); it never rotates. */
  uuid: string;
  /** Mi account id when signed in: `login()` makes it the distinct_id. */
  account?: string;
  /** Leave ANDROID_ID out ($device_id). */
  omitAndroidId?: boolean;
  trackId: number;
}

/** The server URL with `{country}` replaced (Mint: `…/sa?project=global_browser_mini&r=<country>`). */
export function sensorsUrl(template: string, country: string): string {
  return template.replace('{country}', encodeURIComponent(country));
}

/** One track event as the Android SDK assembles it: preset properties, super-properties, then the event's. */
export function buildSensorsEvent(d: DeviceInfo, e: SensorsEventInput): SensorsEvent {
  const properties: Record<string, unknown> = {
    $lib: 'Android',
    $lib_version: e.libVersion,
    $os: 'Android',
    $os_version: d.osVersion,
    $manufacturer: d.manufacturer,
    $model: d.model,
    $brand: d.brand,
    $app_version: e.appVersion,
    $app_id: e.app,
    $screen_width: d.screenWidth,
    $screen_height: d.screenHeight,
    $timezone_offset: -zoneOffsetMinutes(d.timezone, e.time),
    $wifi: true,
    $network_type: 'WIFI',
    $carrier: '',
    $is_first_day: false,
  };
  if (!e.omitAndroidId) properties.$device_id = d.androidId;
  // Xiaomi's super-properties (xiaomi-telemetry.md §2.1).
  Object.assign(properties, {
    uuid: e.uuid,
    internet_status: 1,
    platform: 'AndroidApp',
    miui_version: d.incremental,
    miui_region: d.region,
    system_language: d.language,
  });
  if (!e.omitAndroidId) properties.android_id = d.androidId;
  if (e.account) properties.mi_account = e.account;
  Object.assign(properties, e.properties);
  const ev: SensorsEvent = {
    _track_id: e.trackId,
    time: e.time,
    type: 'track',
    distinct_id: e.account ?? e.uuid,
    anonymous_id: e.uuid,
    event: e.name,
    lib: { $lib: 'Android', $lib_version: e.libVersion, $app_version: e.appVersion, $lib_method: 'code' },
    properties,
  };
  if (e.account) ev.login_id = e.account;
  return ev;
}

/** The POST body of one batch; every event gets `_flush_time`. */
export function encodeSensorsBatch(
  events: SensorsEvent[],
  flushTime: number,
): { body: string; dataList: string; crc: number } {
  const json = JSON.stringify(events.map((e) => ({ ...e, _flush_time: flushTime })));
  const dataList = gzipSync(Buffer.from(json, 'utf8')).toString('base64');
  const crc = javaHashCode(dataList);
  const body = formBody([
    ['crc', String(crc)],
    ['gzip', '1'],
    ['data_list', dataList],
  ]);
  return { body, dataList, crc };
}

/**
 * The SDK's encrypted mode (`enableEncrypt`, gzip=9; sensorsdata-format.md §3.4, android-realities.md
 * §6): each event is encrypted on its own when stored, and a batch groups them under the RSA-wrapped
 * key. `seal` gives the cipher output of one event's gzip (transport.ts cipherOutput); `ekey` stands
 * for the symmetric key under Sensors' public key (base64), `pkv` for the key version.
 */
export interface SensorsEncryption {
  seal(plaintext: Buffer): Buffer;
  ekey: string;
  pkv: number;
}

/**
 * The POST body of one encrypted batch: `crc=<hashCode of data_list>&gzip=9&data_list=<JSON text>`,
 * data_list = `[{"ekey","pkv","payloads":[base64(seal(gzip(UTF-8 JSON of one event))), …],"flush_time"}]`.
 * The events carry no `_flush_time` (they were sealed when stored; the group has `flush_time`).
 */
export function encodeSensorsEncryptedBatch(
  events: SensorsEvent[],
  flushTime: number,
  enc: SensorsEncryption,
): { body: string; dataList: string; crc: number } {
  const payloads = events.map((e) =>
    enc.seal(gzipSync(Buffer.from(JSON.stringify(e), 'utf8'))).toString('base64'),
  );
  const dataList = JSON.stringify([{ ekey: enc.ekey, pkv: enc.pkv, payloads, flush_time: flushTime }]);
  const crc = javaHashCode(dataList);
  const body = formBody([
    ['crc', String(crc)],
    ['gzip', '9'],
    ['data_list', dataList],
  ]);
  return { body, dataList, crc };
}

export interface DecodedSensors {
  crc: number | undefined;
  crcValid: boolean;
  gzip: string | undefined;
  events: Array<Record<string, unknown>>;
}

/** Decodes a Sensors body (`data` or `data_list`, gzip or not), per sensorsdata-format.md §5. */
export function decodeSensorsBody(body: string | Buffer): DecodedSensors {
  const form = parseForm(body);
  const raw = form.get('data_list') ?? form.get('data');
  if (raw === undefined) throw new Error('no data or data_list field');
  const b64 = raw.replace(/ /g, '+');
  const gzip = form.get('gzip');
  if (gzip === '9' || gzip === '13') throw new Error(`encrypted Sensors payload (gzip=${gzip})`);
  let bytes = Buffer.from(b64, 'base64');
  if (gzip === '1' || (bytes[0] === 0x1f && bytes[1] === 0x8b)) bytes = gunzipSync(bytes);
  const parsed: unknown = JSON.parse(bytes.toString('utf8'));
  const events = (Array.isArray(parsed) ? parsed : [parsed]) as Array<Record<string, unknown>>;
  const crcText = form.get('crc');
  const crc = crcText === undefined ? undefined : Number(crcText);
  return { crc, crcValid: crc !== undefined && crc === javaHashCode(b64), gzip, events };
}
