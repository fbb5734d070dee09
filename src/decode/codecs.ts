/** Small, total (non-throwing) primitives used by the decoders. */
import { isUtf8 } from 'node:buffer';
import { constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/** Java `String.hashCode()` as a signed 32-bit integer (the Sensors `crc`, sensorsdata-format.md §4). */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Percent-decoding that never throws: invalid sequences stay as they are. */
export function percentDecode(s: string, plusIsSpace: boolean): string {
  const t = plusIsSpace && s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!t.includes('%')) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    return t.replace(/(?:%[0-9A-Fa-f]{2})+/g, (m) =>
      Buffer.from(m.replace(/%/g, ''), 'hex').toString('utf8'),
    );
  }
}

/** `k=v&k2=v2` pairs in order; keys and values percent-decoded, `+` as space. */
export function parsePairs(text: string, sep = '&'): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of text.split(sep)) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = i < 0 ? part : part.slice(0, i);
    const v = i < 0 ? '' : part.slice(i + 1);
    out.push([percentDecode(k, true), percentDecode(v, true)]);
  }
  return out;
}

/** A form key: what FORM_PART (`^[A-Za-z0-9_.\-~*$@!:[\]%+]{1,256}(?:=[^&\s]*)?$`) allows before `=`. */
const FORM_KEY = /^[A-Za-z0-9_.\-~*$@!:[\]%+]{1,256}$/;

/** True when the text has the shape of an x-www-form-urlencoded body (whatever the Content-Type says). */
export function looksLikeForm(text: string): boolean {
  if (text.length === 0 || !text.includes('=') || /\s/.test(text)) return false;
  const c = text.charCodeAt(0);
  if (c === 0x7b || c === 0x5b) return false; // { [
  // The text has no whitespace and the parts no `&`, so only the keys need checking, not the values.
  let withValue = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('&', start);
    if (end < 0) end = text.length;
    if (end > start) {
      const eq = text.indexOf('=', start);
      const keyEnd = eq >= 0 && eq < end ? eq : end;
      if (keyEnd - start > 256 || keyEnd === start || !FORM_KEY.test(text.slice(start, keyEnd))) return false;
      if (eq >= 0 && eq < end) withValue++;
    }
    start = end + 1;
  }
  return withValue > 0;
}

const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/;

/** True when the text has no control characters (tab and line breaks allowed) and no U+FFFD. */
export const isControlFree = (s: string): boolean => !CONTROL.test(s);

/** The bytes as text when they are valid UTF-8 without control characters; otherwise null. */
export function asText(b: Buffer): string | null {
  if (!isUtf8(b)) return null;
  const s = b.toString('utf8');
  return CONTROL.test(s) ? null : s;
}

/** `^[0-9a-fA-F]+$` (which includes `^[0-9]+$`), without a regex. */
export function isHex(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) continue;
    const l = c | 0x20; // folds A-F onto a-f
    if (l < 0x61 || l > 0x66) return false;
  }
  return true;
}

export const isGzip = (b: Buffer): boolean => b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 8;

export function isZlib(b: Buffer): boolean {
  if (b.length < 3) return false;
  const cmf = b[0]!;
  const flg = b[1]!;
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (cmf * 256 + flg) % 31 === 0;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** Base64 character classes for the scan of short strings: 0 other, 1 `A-Za-z0-9`, 2 `+ /`, 3 `- _`. */
const BAD = 0;
const STD = 2;
const URL_SAFE = 3;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  CLASS[c] = /[A-Za-z0-9]/.test(ch) ? 1 : '+/'.includes(ch) ? STD : '-_'.includes(ch) ? URL_SAFE : BAD;
}

/** base64Alphabet for strings without line breaks, in one pass and without allocating. */
function alphabetScan(t: string): 'base64' | 'base64url' | null {
  let n = t.length;
  let pad = 0;
  while (n > 0 && t.charCodeAt(n - 1) === 0x3d) {
    n--;
    pad++;
  }
  if (n === 0 || n % 4 === 1 || (pad > 0 && t.length % 4 !== 0) || pad > 2) return null;
  let std = false;
  let url = false;
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    const k = c < 128 ? CLASS[c]! : BAD;
    if (k === BAD) return null;
    if (k === STD) std = true;
    else if (k === URL_SAFE) url = true;
  }
  if (std && url) return null;
  return url ? 'base64url' : 'base64';
}

/** Which base64 alphabet the string is written in (padded or not), or null. Line breaks are tolerated. */
export function base64Alphabet(s: string): 'base64' | 'base64url' | null {
  const t = s.includes('\n') || s.includes('\r') ? s.replace(/[\r\n]/g, '') : s;
  if (t.length < 512) return alphabetScan(t);
  // Long payloads are nearly always canonical padded base64: a native round trip proves it.
  if (Buffer.from(t, 'base64').toString('base64') === t) return 'base64';
  let n = t.length;
  while (n > 0 && t.charCodeAt(n - 1) === 0x3d) n--;
  if (n === 0 || n % 4 === 1) return null;
  if (t.length - n > 0 && t.length % 4 !== 0) return null;
  if (B64.test(t)) return 'base64';
  if (B64URL.test(t)) return 'base64url';
  return null;
}

const b64Value = (c: number): number =>
  c >= 65 && c <= 90
    ? c - 65
    : c >= 97 && c <= 122
      ? c - 71
      : c >= 48 && c <= 57
        ? c + 4
        : c === 43 || c === 45
          ? 62
          : 63;

const isControlByte = (x: number): boolean =>
  x < 0x20 ? x !== 0x09 && x !== 0x0a && x !== 0x0d : x === 0x7f;

/**
 * For a string base64Alphabet accepted, at least 8 characters long and without line breaks: true
 * when the first three decoded bytes already show the bytes are neither gzip/zlib nor asText() text
 * (a control character, or bytes that cannot be UTF-8), so nothing needs decoding.
 */
export function base64HeadRejects(s: string): boolean {
  const v0 = b64Value(s.charCodeAt(0));
  const v1 = b64Value(s.charCodeAt(1));
  const v2 = b64Value(s.charCodeAt(2));
  const v3 = b64Value(s.charCodeAt(3));
  const b0 = (v0 << 2) | (v1 >> 4);
  const b1 = ((v1 & 15) << 4) | (v2 >> 2);
  const b2 = ((v2 & 3) << 6) | v3;
  if (b0 === 0x1f && b1 === 0x8b) return false; // gzip magic (isGzip also wants b2 = 8)
  if ((b0 & 0x0f) === 8 && b0 >> 4 <= 7 && (b0 * 256 + b1) % 31 === 0) return false; // isZlib
  if (isControlByte(b0) || isControlByte(b1) || isControlByte(b2)) return true;
  // UTF-8 structure of the three bytes: a continuation byte where a character must start, a
  // missing continuation, or a byte UTF-8 never uses.
  const bytes = [b0, b1, b2];
  let need = 0;
  for (const x of bytes) {
    if (x === 0xc0 || x === 0xc1 || x >= 0xf5) return true;
    const cont = x >= 0x80 && x <= 0xbf;
    if (need > 0) {
      if (!cont) return true;
      need--;
    } else if (cont) return true;
    else need = x >= 0xf0 ? 3 : x >= 0xe0 ? 2 : x >= 0xc0 ? 1 : 0;
  }
  return false;
}

/** Decodes standard or URL-safe base64 (Node accepts both alphabets, padded or not). */
export function base64Bytes(s: string): Buffer {
  return Buffer.from(s.includes('\n') || s.includes('\r') ? s.replace(/[\r\n]/g, '') : s, 'base64');
}

export type InflateKind = 'gzip' | 'zlib' | 'deflate';

export type InflateOutcome = { ok: true; bytes: Buffer } | { ok: false; limit: boolean; message: string };

/** Decompresses with a hard cap on the output: never allocates more than `cap` bytes. */
export function inflateCapped(kind: InflateKind, b: Buffer, cap: number): InflateOutcome {
  const opts = { maxOutputLength: Math.max(1, cap), finishFlush: constants.Z_SYNC_FLUSH };
  try {
    const bytes =
      kind === 'gzip'
        ? gunzipSync(b, opts)
        : kind === 'zlib'
          ? inflateSync(b, opts)
          : inflateRawSync(b, opts);
    return { ok: true, bytes };
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    const limit = err.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError;
    return { ok: false, limit, message: typeof err.message === 'string' ? err.message : String(e) };
  }
}
