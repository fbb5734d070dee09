/** Small, total (non-throwing) primitives used by the decoders. */
import { isUtf8 } from 'node:buffer';
import { constants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/** Java `String.hashCode()` as a signed 32-bit integer (the Sensors `crc`, sensorsdata-format.md §4). */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * Percent-decoding that never throws: invalid sequences (`%zz`, a lone `%`) stay as they are, and a
 * value whose escapes are not UTF-8 (percent-encoded binary, e.g. gzip) stays encoded as a whole, so
 * that no byte is lost: the percent decoder of src/decode takes it as bytes.
 */
export function percentDecode(s: string, plusIsSpace: boolean): string {
  const t = plusIsSpace && s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!t.includes('%')) return t;
  try {
    return decodeURIComponent(t);
  } catch {
    const runs = t.match(/(?:%[0-9A-Fa-f]{2})+/g) ?? [];
    const bytes = runs.map((m) => Buffer.from(m.replace(/%/g, ''), 'hex'));
    if (!bytes.every((b) => isUtf8(b))) return s;
    let i = 0;
    return t.replace(/(?:%[0-9A-Fa-f]{2})+/g, () => bytes[i++]!.toString('utf8'));
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

/** Whether the first `k` characters (at most) are base64 characters of one alphabet or the other: a cheap no. */
export function base64Start(s: string, k: number): boolean {
  const n = Math.min(k, s.length);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || CLASS[c] === BAD) return false;
  }
  return true;
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
  return headRejects((v0 << 2) | (v1 >> 4), ((v1 & 15) << 4) | (v2 >> 2), ((v2 & 3) << 6) | v3);
}

/** base64HeadRejects for hex text of at least 6 characters. */
export function hexHeadRejects(s: string): boolean {
  return headRejects(
    (hexValue(s.charCodeAt(0)) << 4) | hexValue(s.charCodeAt(1)),
    (hexValue(s.charCodeAt(2)) << 4) | hexValue(s.charCodeAt(3)),
    (hexValue(s.charCodeAt(4)) << 4) | hexValue(s.charCodeAt(5)),
  );
}

/** Whether three first bytes show the bytes are neither gzip/zlib nor asText() text. */
function headRejects(b0: number, b1: number, b2: number): boolean {
  if (b0 === 0x1f && b1 === 0x8b) return false; // gzip magic (isGzip also wants b2 = 8)
  if ((b0 & 0x0f) === 8 && b0 >> 4 <= 7 && (b0 * 256 + b1) % 31 === 0) return false; // isZlib
  if (isControlByte(b0) || isControlByte(b1) || isControlByte(b2)) return true;
  // UTF-8 structure of the three bytes: a continuation byte where a character must start, a
  // missing continuation, or a byte UTF-8 never uses.
  let need = 0;
  for (let i = 0; i < 3; i++) {
    const x = i === 0 ? b0 : i === 1 ? b1 : b2;
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

/**
 * For base64 text of at least 8 characters: false when its first byte cannot start raw deflate
 * (block type 3 is reserved), or the text is a uuid-like id (hex digits and dashes only).
 */
export function base64MayBeDeflate(s: string): boolean {
  const b0 = (b64Value(s.charCodeAt(0)) << 2) | (b64Value(s.charCodeAt(1)) >> 4);
  if ((b0 & 6) === 6) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x2d && hexValue(c) < 0) return true;
  }
  return false;
}

/** Decodes standard or URL-safe base64 (Node accepts both alphabets, padded or not). */
export function base64Bytes(s: string): Buffer {
  return Buffer.from(s.includes('\n') || s.includes('\r') ? s.replace(/[\r\n]/g, '') : s, 'base64');
}

/**
 * Raw deflate that inflates completely: the final block reached and every input byte used (random
 * bytes that merely start like deflate fail here). The output, 'limit' past `cap`, or null.
 */
export function inflateRawComplete(b: Buffer, cap: number): Buffer | 'limit' | null {
  try {
    const r = inflateRawSync(b, { maxOutputLength: Math.max(1, cap), info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    return r.engine.bytesWritten === b.length ? r.buffer : null;
  } catch (e) {
    const err = e as { code?: unknown };
    return err.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError ? 'limit' : null;
  }
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

// ---------------------------------------------------------------------------------------------
// base32, strict percent-encoding, randomness

const B32 = new Int8Array(128).fill(-1);
for (let i = 0; i < 32; i++) B32['ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.charCodeAt(i)] = i;

/**
 * RFC 4648 §6 base32 (`A-Z2-7`, `=` padding): at least 16 characters; when padded, a multiple of 8
 * with a padding length base32 can produce (1, 3, 4 or 6); unpadded, a length a padded text could be
 * cut to. Lower case is not base32 here (the alphabet is upper case: lower-case words are not).
 */
export function isBase32(s: string): boolean {
  let n = s.length;
  if (n < 16) return false;
  while (n > 0 && s.charCodeAt(n - 1) === 0x3d) n--;
  const pad = s.length - n;
  if (pad > 0 ? s.length % 8 !== 0 || !(pad === 1 || pad === 3 || pad === 4 || pad === 6) : false)
    return false;
  const rest = n % 8;
  if (rest === 1 || rest === 3 || rest === 6) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || B32[c]! < 0) return false;
  }
  return true;
}

/** Decodes base32 that isBase32 accepted (trailing bits that make no whole byte are dropped). */
export function base32Bytes(s: string): Buffer {
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) === 0x3d) n--;
  const out = Buffer.allocUnsafe(Math.floor((n * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    acc = ((acc << 5) | B32[s.charCodeAt(i)]!) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/** URL-unreserved characters, and those encodeURIComponent leaves alone: `A-Za-z0-9-_.~!*'()`. */
const UNRESERVED = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!*'()")
  UNRESERVED[ch.charCodeAt(0)] = 1;

const hexValue = (c: number): number =>
  c >= 0x30 && c <= 0x39 ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x57 : -1;

/**
 * The bytes of a string that is percent-encoded through and through: only unreserved characters and
 * `%XX` escapes, at least one escape. Anything else (a space, `=`, `&`, `/`, `:`, a lone `%`) is not
 * a percent-encoded payload but text that happens to hold a `%` (or a form, or a URL): null.
 */
export function percentBytes(s: string): Buffer | null {
  const n = s.length;
  let escapes = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= n || hexValue(s.charCodeAt(i + 1)) < 0 || hexValue(s.charCodeAt(i + 2)) < 0) return null;
      escapes++;
      i += 2;
    } else if (c >= 128 || UNRESERVED[c] === 0) return null;
  }
  if (escapes === 0) return null;
  const out = Buffer.allocUnsafe(n - 2 * escapes);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      out[o++] = (hexValue(s.charCodeAt(i + 1)) << 4) | hexValue(s.charCodeAt(i + 2));
      i += 2;
    } else out[o++] = c;
  }
  return out;
}

/**
 * Whether an encoded string looks like the encoding of random bytes (ciphertext, keys) rather than of
 * a word that happens to fit the alphabet: it uses many distinct symbols, about as many as random
 * data of that length would (n symbols drawn from an alphabet of size A show A(1 − (1 − 1/A)^n)
 * distinct ones on average), and, for hex, base32 and base64, letters and digits (base64: both cases).
 */
export function looksRandom(s: string, alphabet: 16 | 32 | 64): boolean {
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) === 0x3d) n--;
  const seen = new Uint8Array(128);
  let distinct = 0;
  let digit = false;
  let upper = false;
  let lower = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) return false;
    if (seen[c] === 0) {
      seen[c] = 1;
      distinct++;
    }
    if (c >= 0x30 && c <= 0x39) digit = true;
    else if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (c >= 0x61 && c <= 0x7a) lower = true;
  }
  const expected = alphabet * (1 - Math.pow(1 - 1 / alphabet, n));
  if (distinct < 0.6 * expected) return false;
  if (alphabet === 64) return digit && upper && lower;
  return digit && (upper || lower);
}

// ---------------------------------------------------------------------------------------------
// Raw deflate probe

/**
 * A pure-JS check of the start of a raw deflate stream (RFC 1951; the structure checks of zlib's
 * `puff.c`): it decodes at most `maxOut` bytes and returns them, or null as soon as the bits cannot
 * be deflate (a reserved block type, a stored block whose LEN/NLEN disagree, an over-subscribed or
 * incomplete Huffman code, a reserved symbol, a distance before the start). Running out of input is
 * not an error (the bytes may be a prefix). zlib itself costs tens of microseconds per call even on
 * garbage; this rejects almost all non-deflate bytes within a few symbols.
 */
export function deflatePrefix(b: Uint8Array, maxOut: number): Uint8Array | null {
  if (OUT.length < maxOut + 258) OUT = new Uint8Array(maxOut + 258);
  inp = b;
  pos = 0;
  bitbuf = 0;
  bitcnt = 0;
  eof = false;
  o = 0;
  let last: number;
  do {
    last = bits(1);
    const type = bits(2);
    if (eof) break;
    let r: number;
    if (type === 0) {
      bitbuf = 0;
      bitcnt = 0;
      if (pos + 4 > b.length) break;
      const len = b[pos]! | (b[pos + 1]! << 8);
      const nlen = b[pos + 2]! | (b[pos + 3]! << 8);
      if (len !== (~nlen & 0xffff)) return null;
      pos += 4;
      const n = Math.min(len, b.length - pos, maxOut - o);
      OUT.set(b.subarray(pos, pos + n), o);
      o += n;
      pos += n;
      r = n < len ? BLOCK_STOP : BLOCK_DONE;
    } else if (type === 1) r = codes(FIXED_LEN, FIXED_DIST, maxOut);
    else if (type === 2) {
      r = dynamicTables();
      if (r === BLOCK_DONE) r = codes(DYN_LEN, DYN_DIST, maxOut);
    } else return null;
    if (r === NOT_DEFLATE) return null;
    if (r === BLOCK_STOP) break;
  } while (!last && o < maxOut);
  inp = EMPTY;
  return OUT.slice(0, Math.min(o, maxOut));
}

// The probe's state: module-level, so that a probe allocates nothing but its result (it never
// calls itself; plausibleStart probes the copy it returned).
const EMPTY = new Uint8Array(0);
let OUT = new Uint8Array(512);
let inp: Uint8Array = EMPTY;
let pos = 0;
let bitbuf = 0;
let bitcnt = 0;
let eof = false;
let o = 0;
/** Outcomes of a block: finished, stopped (out of input or enough output), not deflate. */
const BLOCK_DONE = 0;
const BLOCK_STOP = 1;
const NOT_DEFLATE = 2;

function bits(need: number): number {
  let val = bitbuf;
  while (bitcnt < need) {
    if (pos >= inp.length) {
      eof = true;
      return 0;
    }
    val |= inp[pos++]! << bitcnt;
    bitcnt += 8;
  }
  bitbuf = val >>> need;
  bitcnt -= need;
  return val & ((1 << need) - 1);
}

/** One symbol (puff.c decode()); -1 at the end of the input, -2 for a code the table lacks. */
function decodeSym(h: Huffman): number {
  let code = 0;
  let first = 0;
  let index = 0;
  for (let len = 1; len <= 15; len++) {
    code |= bits(1);
    if (eof) return -1;
    const count = h.count[len]!;
    if (code - count < first) return h.symbol[index + (code - first)]!;
    index += count;
    first += count;
    first <<= 1;
    code <<= 1;
  }
  return -2;
}

function codes(lencode: Huffman, distcode: Huffman, maxOut: number): number {
  for (;;) {
    let sym = decodeSym(lencode);
    if (sym === -1) return BLOCK_STOP;
    if (sym < 0) return NOT_DEFLATE;
    if (sym < 256) OUT[o++] = sym;
    else if (sym === 256) return BLOCK_DONE;
    else {
      sym -= 257;
      if (sym >= 29) return NOT_DEFLATE;
      const len = LBASE[sym]! + bits(LEXT[sym]!);
      const dsym = decodeSym(distcode);
      if (dsym === -1 || eof) return BLOCK_STOP;
      if (dsym < 0 || dsym >= 30) return NOT_DEFLATE;
      const dist = DBASE[dsym]! + bits(DEXT[dsym]!);
      if (eof) return BLOCK_STOP;
      if (dist > o) return NOT_DEFLATE; // before the start of the output
      for (let k = 0; k < len; k++, o++) OUT[o] = OUT[o - dist]!;
    }
    if (o >= maxOut) return BLOCK_STOP;
  }
}

interface Huffman {
  count: Int16Array;
  symbol: Int16Array;
}

const OFFS = new Int16Array(16);

/** puff.c construct(): 0 for a complete code, > 0 incomplete, < 0 over-subscribed. */
function construct(h: Huffman, lengths: Uint8Array, offset: number, n: number): number {
  h.count.fill(0);
  for (let s = 0; s < n; s++) h.count[lengths[offset + s]!]!++;
  if (h.count[0] === n) return 0;
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left <<= 1;
    left -= h.count[len]!;
    if (left < 0) return left;
  }
  OFFS[1] = 0;
  for (let len = 1; len < 15; len++) OFFS[len + 1] = OFFS[len]! + h.count[len]!;
  for (let s = 0; s < n; s++) if (lengths[offset + s] !== 0) h.symbol[OFFS[lengths[offset + s]!]!++] = s;
  return left;
}

const huffman = (n: number): Huffman => ({ count: new Int16Array(16), symbol: new Int16Array(n) });

const LBASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227, 258,
];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DBASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DEXT = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

const FIXED_LEN = huffman(288);
const FIXED_DIST = huffman(30);
{
  const l = new Uint8Array(288);
  l.fill(8, 0, 144);
  l.fill(9, 144, 256);
  l.fill(7, 256, 280);
  l.fill(8, 280, 288);
  construct(FIXED_LEN, l, 0, 288);
  construct(FIXED_DIST, new Uint8Array(30).fill(5), 0, 30);
}
const DYN_LEN = huffman(286);
const DYN_DIST = huffman(30);
const CODE_LENGTHS = new Uint8Array(19);
const LENGTHS = new Uint8Array(320);

/** Reads a dynamic block's code tables into DYN_LEN / DYN_DIST (puff.c dynamic()). */
function dynamicTables(): number {
  const nlen = bits(5) + 257;
  const ndist = bits(5) + 1;
  const ncode = bits(4) + 4;
  if (eof) return BLOCK_STOP;
  if (nlen > 286 || ndist > 30) return NOT_DEFLATE;
  CODE_LENGTHS.fill(0);
  for (let i = 0; i < ncode; i++) CODE_LENGTHS[ORDER[i]!] = bits(3);
  if (eof) return BLOCK_STOP;
  // The code-length code must be complete.
  if (construct(DYN_LEN, CODE_LENGTHS, 0, 19) !== 0) return NOT_DEFLATE;
  let index = 0;
  while (index < nlen + ndist) {
    const sym = decodeSym(DYN_LEN);
    if (sym === -1) return BLOCK_STOP;
    if (sym < 0) return NOT_DEFLATE;
    if (sym < 16) LENGTHS[index++] = sym;
    else {
      let len = 0;
      let rep: number;
      if (sym === 16) {
        if (index === 0) return NOT_DEFLATE;
        len = LENGTHS[index - 1]!;
        rep = 3 + bits(2);
      } else if (sym === 17) rep = 3 + bits(3);
      else rep = 11 + bits(7);
      if (eof) return BLOCK_STOP;
      if (index + rep > nlen + ndist) return NOT_DEFLATE;
      while (rep--) LENGTHS[index++] = len;
    }
  }
  if (LENGTHS[256] === 0) return NOT_DEFLATE; // no end-of-block code
  let err = construct(DYN_LEN, LENGTHS, 0, nlen);
  if (err < 0 || (err > 0 && nlen - DYN_LEN.count[0]! !== 1)) return NOT_DEFLATE;
  err = construct(DYN_DIST, LENGTHS, nlen, ndist);
  if (err < 0 || (err > 0 && ndist - DYN_DIST.count[0]! !== 1)) return NOT_DEFLATE;
  return BLOCK_DONE;
}

/**
 * Whether decoded bytes begin like something a decoder can take further: text (no control
 * characters but tab and line breaks, UTF-8 structure; a character cut at the end is allowed),
 * gzip or zlib data, or (up to `nest` levels) raw deflate of such.
 */
export function plausibleStart(b: Uint8Array, nest = 4): boolean {
  if (b.length === 0) return false;
  if (b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 8) return true;
  if (b.length >= 2 && (b[0]! & 0x0f) === 8 && b[0]! >> 4 <= 7 && (b[0]! * 256 + b[1]!) % 31 === 0)
    return true;
  if (textStart(b)) return true;
  if (nest <= 0 || b.length < 8) return false;
  const inner = deflatePrefix(b, 256);
  return inner !== null && inner.length > 0 && plausibleStart(inner, nest - 1);
}

/** No control bytes (tab, LF, CR allowed) and well-formed UTF-8, a sequence cut at the end allowed. */
function textStart(b: Uint8Array): boolean {
  let need = 0;
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    if (need > 0) {
      if (x < 0x80 || x > 0xbf) return false;
      need--;
      continue;
    }
    if (x < 0x80) {
      if (isControlByte(x)) return false;
    } else if (x < 0xc2 || x > 0xf4) return false;
    else need = x >= 0xf0 ? 3 : x >= 0xe0 ? 2 : 1;
  }
  return true;
}

/** Raw deflate whose first output is plausibleStart (zlib is only asked when this says yes). */
export function looksDeflated(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const head = deflatePrefix(b, 256);
  return head !== null && head.length > 0 && plausibleStart(head);
}

/** Form decoding turned `+` into spaces; every SDK encodes `+`, so a space was a `+`. Line breaks go. */
export function plusAndOneLine(v: string): string {
  let t = v.includes(' ') ? v.replace(/ /g, '+') : v;
  if (t.includes('\n') || t.includes('\r')) t = t.replace(/[\r\n]/g, '');
  return t;
}
