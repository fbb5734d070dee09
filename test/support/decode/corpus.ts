/**
 * Seeded, realistic request bodies for the decoder's bench, fuzzer and property test: Sensors batches
 * as the Android SDK (`crc=&gzip=1&data_list=`) and the Node SDK (`data_list=&gzip=0|1`) post them,
 * and web single events (`data=&ext=crc%3D`). Built with the virtual phone's encoders.
 */
import { gzipSync } from 'node:zlib';
import {
  buildSensorsEvent,
  encodeSensorsBatch,
  formBody,
  javaHashCode,
  type SensorsEvent,
} from '../../../src/virtual/telemetry/index.ts';
import { DEVICE } from './device.ts';

/** mulberry32: a small deterministic PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTS = ['www.bbc.co.uk', 'm.youtube.com', 'news.google.com', 'www.amazon.de', 'en.m.wikipedia.org'];
const WORDS = [
  'weather',
  'london',
  'football',
  'results',
  'recipe',
  'cheap',
  'flights',
  'redmi',
  'note',
  'review',
  'battery',
  'privacy',
  'settings',
  'news',
  'today',
  'music',
];
const EVENTS = ['page_view', 'search', 'click_news', 'app_start', 'video_play', 'download_start'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}
function words(rnd: () => number, n: number, sep = ' '): string {
  return Array.from({ length: n }, () => pick(rnd, WORDS)).join(sep);
}
function hex(rnd: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16);
  return s;
}
function uuid(rnd: () => number): string {
  return `${hex(rnd, 8)}-${hex(rnd, 4)}-4${hex(rnd, 3)}-8${hex(rnd, 3)}-${hex(rnd, 12)}`;
}

const T0 = 1_700_000_000_000;

/** One browser event as Mint Browser sends it: device fields, super-properties, url, title (~900 bytes of JSON). */
export function browserEvent(rnd: () => number, i: number, browserUuid: string): SensorsEvent {
  const host = pick(rnd, HOSTS);
  const q = words(rnd, 2 + Math.floor(rnd() * 3), '+');
  const url = `https://${host}/${words(rnd, 2, '/')}/${hex(rnd, 6)}.html?utm_source=mibrowser&q=${q}&sid=${hex(rnd, 10)}`;
  return buildSensorsEvent(DEVICE, {
    name: pick(rnd, EVENTS),
    properties: {
      url,
      title: `${words(rnd, 3 + Math.floor(rnd() * 4))} | ${host}`,
      load_ms: Math.floor(rnd() * 4000),
    },
    omitAndroidId: rnd() < 0.5,
    time: T0 + i * 1000 + Math.floor(rnd() * 1000),
    app: 'com.mi.globalbrowser.mini',
    appVersion: '13.0.1',
    libVersion: '6.7.0',
    uuid: browserUuid,
    trackId: Math.floor(rnd() * 1e9),
  });
}

export function browserEvents(seed: number, n: number): SensorsEvent[] {
  const rnd = prng(seed);
  const id = uuid(rnd);
  return Array.from({ length: n }, (_, i) => browserEvent(rnd, i, id));
}

export interface SensorsBodies {
  /** Android SDK: `crc=<hash>&gzip=1&data_list=<base64(gzip(JSON array))>`. */
  gzip: string;
  /** Node SDK with `gzip:false`: `data_list=<base64(JSON array)>&gzip=0`. */
  plain: string;
  /** Web image/ajax/beacon: one `data=<base64(JSON object)>&ext=crc%3D<hash>` per event. */
  web: string[];
  /** The JSON array text (what gzip=1 inflates to). */
  json: string;
}

/** The same events in all three transports. */
export function sensorsBodies(seed: number, n = 50): SensorsBodies {
  const events = browserEvents(seed, n);
  const flush = T0 + n * 1000 + 17;
  const json = JSON.stringify(events.map((e) => ({ ...e, _flush_time: flush })));
  const gzip = encodeSensorsBatch(events, flush).body;
  const plain = formBody([
    ['data_list', Buffer.from(json).toString('base64')],
    ['gzip', '0'],
  ]);
  const web = events.map((e) => {
    const b64 = Buffer.from(JSON.stringify({ ...e, _flush_time: flush })).toString('base64');
    return formBody([
      ['data', b64],
      ['ext', `crc=${javaHashCode(b64)}`],
    ]);
  });
  return { gzip, plain, web, json };
}

/** The Node SDK's gzip form, `data_list=…&gzip=1` (no crc). */
export function nodeSdkGzipBody(events: SensorsEvent[]): string {
  return formBody([
    ['data_list', gzipSync(Buffer.from(JSON.stringify(events))).toString('base64')],
    ['gzip', '1'],
  ]);
}
