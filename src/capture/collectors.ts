/**
 * What `block` mode answers: each upload the way its collector would, so clients finish normally
 * (and do not retry or fall back) while nothing leaves the lab.
 * - Sensors Analytics (sensorsdata-format.md §7): 200 with an empty body to uploads, a 1×1 GIF to
 *   `GET …gif`, `{}` on the debug endpoint, its "ready" text to a bare GET there, 204 + CORS to
 *   preflights, echoing the Origin with credentials.
 * - tracking.*.miui.com and MiStat: their success JSON; the splash-ad request: an empty ad list.
 * - Anything else: a small page to GETs that accept HTML, 204 otherwise.
 */
import type { CompletedRequest } from 'mockttp';

export interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body?: string | Buffer;
}

// A transparent 1×1 GIF89a.
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const SENSORS_READY = 'Sensors Analytics is ready to receive your data!';
const JSON_TYPE = 'application/json; charset=utf-8';

function header(req: CompletedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function cors(req: CompletedRequest): Record<string, string> {
  const origin = header(req, 'origin');
  if (!origin) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    vary: 'Origin',
  };
}

function hasSensorsParams(url: URL, body: Buffer): boolean {
  if (url.searchParams.has('data') || url.searchParams.has('data_list')) return true;
  // The Android SDK puts crc and gzip first (`crc=…&gzip=1&data_list=…`): look past them.
  return /(^|&)data(_list)?=/.test(body.subarray(0, 512).toString('latin1'));
}

/**
 * The answer with its Content-Length, as every real collector sends it. mockttp writes a callback's
 * headers as given: without a length or chunking, the end of the body is the end of the connection,
 * so a phone would close its connection (and its TLS session inside a CONNECT tunnel) after every
 * upload and open a new one, which no real collector makes it do. 204 and 304 carry no body and,
 * per RFC 9110 §8.6, no Content-Length.
 */
export function collectorAnswer(req: CompletedRequest): Answer {
  const a = answerFor(req);
  if (a.statusCode === 204 || a.statusCode === 304) return a;
  const length = a.body === undefined ? 0 : Buffer.byteLength(a.body);
  return { ...a, headers: { ...a.headers, 'content-length': String(length) } };
}

function answerFor(req: CompletedRequest): Answer {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return { statusCode: 400, headers: { 'content-type': 'text/plain' }, body: 'bad request target' };
  }
  const path = url.pathname;
  const body = Buffer.from(req.body.buffer);
  if (req.method === 'OPTIONS') {
    return {
      statusCode: 204,
      headers: {
        ...cors(req),
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': header(req, 'access-control-request-headers') ?? 'content-type',
        'access-control-max-age': '600',
      },
    };
  }
  const sensors = hasSensorsParams(url, body);
  if (/\/debug$/.test(path) && (sensors || req.method === 'GET')) {
    return sensors
      ? { statusCode: 200, headers: { ...cors(req), 'content-type': JSON_TYPE }, body: '{}' }
      : { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: SENSORS_READY };
  }
  if (sensors || /\/sa(\.gif)?$/.test(path)) {
    if (req.method === 'GET' && path.endsWith('.gif')) {
      return { statusCode: 200, headers: { ...cors(req), 'content-type': 'image/gif' }, body: GIF };
    }
    return { statusCode: 200, headers: { ...cors(req), 'content-type': 'text/plain' }, body: '' };
  }
  if (/\/mistats\//.test(path) || /(^|\.)mistat\./.test(url.hostname)) {
    return { statusCode: 200, headers: { 'content-type': JSON_TYPE }, body: '{"code":200}' };
  }
  if (/\/track\//.test(path)) {
    return { statusCode: 200, headers: { 'content-type': JSON_TYPE }, body: '{"code":0,"message":"ok"}' };
  }
  if (/getSplashScreenAds/.test(path)) {
    return { statusCode: 200, headers: { 'content-type': JSON_TYPE }, body: '{"code":0,"adInfos":[]}' };
  }
  const accept = header(req, 'accept') ?? '';
  if (req.method === 'GET' && /text\/html/.test(accept)) {
    const page =
      '<!doctype html><html><head><title>phonehome capture</title></head><body>' +
      '<p>phonehome answered this request locally; nothing left the lab.</p></body></html>';
    return { statusCode: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page };
  }
  return { statusCode: 204, headers: {} };
}
