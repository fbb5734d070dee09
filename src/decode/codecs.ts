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
  const t = plusIsSpace ? s.replace(/\+/g, ' ') : s;
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

const FORM_PART = /^[A-Za-z0-9_.\-~*$@!:[\]%+]{1,256}(?:=[^&\s]*)?$/;

/** True when the text has the shape of an x-www-form-urlencoded body (whatever the Content-Type says). */
export function looksLikeForm(text: string): boolean {
  if (text.length === 0 || !text.includes('=') || /\s/.test(text)) return false;
  const c = text.charCodeAt(0);
  if (c === 0x7b || c === 0x5b) return false; // { [
  const parts = text.split('&');
  let withValue = 0;
  for (const p of parts) {
    if (!p) continue;
    if (!FORM_PART.test(p)) return false;
    if (p.includes('=')) withValue++;
  }
  return withValue > 0;
}

const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/;

/** The bytes as text when they are valid UTF-8 without control characters; otherwise null. */
export function asText(b: Buffer): string | null {
  if (!isUtf8(b)) return null;
  const s = b.toString('utf8');
  return CONTROL.test(s) ? null : s;
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

/** Which base64 alphabet the string is written in (padded or not), or null. Line breaks are tolerated. */
export function base64Alphabet(s: string): 'base64' | 'base64url' | null {
  const t = s.includes('\n') || s.includes('\r') ? s.replace(/[\r\n]/g, '') : s;
  const unpadded = t.replace(/=+$/, '');
  if (unpadded.length === 0 || unpadded.length % 4 === 1) return null;
  if (t.length - unpadded.length > 0 && t.length % 4 !== 0) return null;
  if (B64.test(t)) return 'base64';
  if (B64URL.test(t)) return 'base64url';
  return null;
}

/** Decodes standard or URL-safe base64 (Node accepts both alphabets, padded or not). */
export function base64Bytes(s: string): Buffer {
  return Buffer.from(s.replace(/[\r\n]/g, ''), 'base64');
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
