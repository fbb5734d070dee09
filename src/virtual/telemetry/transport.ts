/**
 * How an emitter's upload travels, as its profile says (telemetry.emitters.X: scheme, carrier, wrap,
 * encrypt, proxy, pinning; profiles/README.md). The emitter builds its NATIVE upload (exactly what the
 * SDK it plays sends: the Sensors form, the tracking form, the MiStat form, the splash-ad JSON); this
 * module turns it into the HttpRequest. Without any of those fields the native upload goes out
 * unchanged. The decoders implement the inverse of these definitions, so they are exact:
 *
 * - encrypt (tracking, ads): cipherOutput(native body). sensors and mistat encrypt in their own
 *   formats before this module (sensors.ts encodeSensorsEncryptedBatch, mistat.ts).
 *   aes-128-cbc: IV (16 random bytes) ‖ AES-128-CBC with PKCS#7 padding;
 *   aes-256-gcm: IV (12 random bytes) ‖ ciphertext ‖ tag (16 bytes).
 * - wrap, in order: base64 (RFC 4648 §4, padded), base64url (§5, no padding), hex (lower case),
 *   base32 (§6, A–Z2–7, padded with '='), percent (every byte outside A-Za-z0-9-_.~ as %XX, upper
 *   case), gzip (zlib.gzipSync), deflate (raw: zlib.deflateRawSync), json-string (the input read as
 *   UTF-8 text, JSON.stringify'd: a JSON string literal).
 * - carrier: body (POST; the native Content-Type, or application/octet-stream / text/plain when a
 *   wrap or a generic encrypt changed the payload), query:NAME (GET url?NAME=<payload>, the payload
 *   through encodeURIComponent unless the last wrap is percent), header:NAME (GET, NAME: <payload>),
 *   cookie:NAME (GET, Cookie: NAME=<payload>). GET requests carry no Content-Type.
 * - scheme replaces the url's scheme; proxy and pinning are passed on the HttpRequest.
 */
import { createCipheriv } from 'node:crypto';
import { deflateRawSync, gzipSync } from 'node:zlib';
import type { HttpRequest } from '../apps/events.ts';
import { parseCarrier, transportSteps, type EmitterTransport } from '../profiles/load.ts';
import type { CipherName, TelemetryEmitter, WrapEncoding } from '../profiles/schema.ts';

/** What an emitter would send without transport fields. */
export interface NativeUpload {
  app: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32, padded with '=' to a multiple of 8 characters. */
export function base32Encode(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** Every byte outside `A-Za-z0-9-_.~` as `%XX` (upper-case hex). */
export function percentEncodeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** One wrap step. */
export function applyWrap(bytes: Buffer, wrap: WrapEncoding): Buffer {
  switch (wrap) {
    case 'base64':
      return Buffer.from(bytes.toString('base64'), 'latin1');
    case 'base64url':
      return Buffer.from(bytes.toString('base64url'), 'latin1');
    case 'hex':
      return Buffer.from(bytes.toString('hex'), 'latin1');
    case 'base32':
      return Buffer.from(base32Encode(bytes), 'latin1');
    case 'percent':
      return Buffer.from(percentEncodeBytes(bytes), 'latin1');
    case 'gzip':
      return gzipSync(bytes);
    case 'deflate':
      return deflateRawSync(bytes);
    case 'json-string':
      return Buffer.from(JSON.stringify(bytes.toString('utf8')), 'utf8');
  }
}

/** The wraps, in order. */
export function wrapPayload(bytes: Buffer, wraps: readonly WrapEncoding[]): Buffer {
  return wraps.reduce((b, w) => applyWrap(b, w), bytes);
}

/**
 * The cipher's output for `plaintext`: aes-128-cbc → IV(16) ‖ AES-CBC-PKCS7(plaintext);
 * aes-256-gcm → IV(12) ‖ ciphertext ‖ tag(16). The IV comes from `random`.
 */
export function cipherOutput(
  cipher: CipherName,
  key: Buffer,
  plaintext: Buffer,
  random: (n: number) => Buffer,
): Buffer {
  if (cipher === 'aes-128-cbc') {
    const iv = random(16);
    const c = createCipheriv('aes-128-cbc', key, iv);
    return Buffer.concat([iv, c.update(plaintext), c.final()]);
  }
  const iv = random(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, body, c.getAuthTag()]);
}

/** The url with its scheme replaced by `scheme` (if given). */
export function withScheme(url: string, scheme: 'http' | 'https' | undefined): string {
  return scheme ? url.replace(/^https?:/i, `${scheme}:`) : url;
}

/** `url` with `name=value` appended to its query (before any fragment); `value` is used as given. */
function appendQuery(url: string, name: string, value: string): string {
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? '' : url.slice(hash);
  const sep = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${sep}${name}=${value}${fragment}`;
}

/**
 * The HttpRequest that carries `native` as the emitter's transport fields say. Without any of them it
 * is `{app, method: 'POST', url, headers, body}` exactly as before.
 */
export function transportRequest(
  emitter: TelemetryEmitter,
  cfg: EmitterTransport,
  native: NativeUpload,
  random: (n: number) => Buffer,
): HttpRequest {
  let payload = native.body;
  // sensors and mistat encrypt in their own formats (the native upload already is encrypted).
  if (cfg.encrypt && (emitter === 'tracking' || emitter === 'ads'))
    payload = cipherOutput(cfg.encrypt.cipher, Buffer.from(cfg.encrypt.key, 'hex'), payload, random);
  payload = wrapPayload(payload, cfg.wrap ?? []);
  const steps = transportSteps(emitter, cfg);
  const last = steps[steps.length - 1];
  // The SDKs' own encrypted forms (sensors gzip=9, MiStat) keep their native Content-Type.
  const changed = steps.some((s) => s.step !== 'encrypt' || s.kind === 'binary');
  const url = withScheme(native.url, cfg.scheme);
  const headers = { ...native.headers };
  const carrier = parseCarrier(cfg.carrier);
  let req: HttpRequest;
  if (carrier.kind === 'body') {
    if (changed)
      headers['Content-Type'] = last?.kind === 'binary' ? 'application/octet-stream' : 'text/plain';
    req = { app: native.app, method: 'POST', url, headers, body: payload };
  } else {
    delete headers['Content-Type'];
    const text = payload.toString('utf8');
    let target = url;
    if (carrier.kind === 'query') {
      const lastWrap = cfg.wrap?.[cfg.wrap.length - 1];
      target = appendQuery(url, carrier.name, lastWrap === 'percent' ? text : encodeURIComponent(text));
    } else if (carrier.kind === 'header') {
      headers[carrier.name] = text;
    } else {
      headers.Cookie = `${carrier.name}=${text}`;
    }
    req = { app: native.app, method: 'GET', url: target, headers };
  }
  if (cfg.proxy !== undefined) req.proxy = cfg.proxy;
  if (cfg.pinning) req.pinning = true;
  return req;
}
