/**
 * Layered decoding of captured requests with provenance (issue 4 §3). Each decoder in the tables
 * below takes bytes or a string and returns a layer or null (not its format); `decode()` never throws.
 * Formats: sensorsdata-format.md §3–5 (Sensors), xiaomi-telemetry.md §2.2 (MIUI H/B envelope) and
 * §2.4 (MiStat, opaque).
 *
 * Issue 10 (firmware that hides its uploads): request headers are decoded like form fields; strings
 * are tried as JSON, JSON string literals, base32, base64/base64url, hex and percent-encoding, each
 * only when it decodes to something meaningful (text, gzip/zlib, raw deflate of those), so chains of
 * these encodings unwrap to the end. What decodes to 40 bytes or more of binary that no decoder
 * explains (ciphertext, an unknown format) is an `opaque` finding, never a plain string: a negative
 * verdict over it cannot be trusted. Keys (DecodeInput.keys) open Sensors envelopes, MiStat and AES
 * residue.
 */
import { isUtf8 } from 'node:buffer';
import { createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { hostMatches, normaliseHost } from '../util/hosts.ts';
import {
  asText,
  base32Bytes,
  base64Alphabet,
  base64Bytes,
  base64HeadRejects,
  base64MayBeDeflate,
  base64Start,
  deflatePrefix,
  hexHeadRejects,
  inflateCapped,
  inflateRawComplete,
  isBase32,
  isControlFree,
  isGzip,
  isHex,
  isZlib,
  javaHashCode,
  looksDeflated,
  looksLikeForm,
  looksRandom,
  parsePairs,
  percentBytes,
  type InflateKind,
} from './codecs.ts';
import {
  DEFAULT_LIMITS,
  type DecodeFinding,
  type DecodeInput,
  type DecodeLimits,
  type DecodeResult,
  type Layer,
  type LayerKind,
} from './types.ts';

export * from './types.ts';
export { javaHashCode } from './codecs.ts';

export const SEP = ' › ';

interface Ctx {
  limits: DecodeLimits;
  findings: DecodeFinding[];
  nodes: number;
  bytes: number;
  /** The node budget is spent: no more layers. */
  full: boolean;
  /** Limit notes already made: tag → index in findings. */
  noted: Map<string, number>;
  url: string;
  /** Decryption keys by name (`mistat`: the AES-128 session key). */
  keys: Record<string, Buffer>;
  /** The request's host (normalised), for keys given by host pattern. */
  host: string;
  /** Keys given for a host pattern that covers this request's host. */
  hostKeys: Buffer[];
  /** > 0 while walking a part whose binary strings are accounted for (a Sensors envelope). */
  quiet: number;
}

const join = (path: string, seg: string): string => (path ? `${path}${SEP}${seg}` : seg);

const PLAIN_KEY = /^[A-Za-z0-9_$@:-]+$/;
/** Segments of keys seen before: payloads repeat the same keys in every event. */
const segments = new Map<string, string>();

/** `.key` for plain keys, `["k e y"]` otherwise. */
export function keySegment(key: string): string {
  let seg = segments.get(key);
  if (seg !== undefined) return seg;
  seg = PLAIN_KEY.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  if (key.length <= 64) {
    if (segments.size >= 4096) segments.clear();
    segments.set(key, seg);
  }
  return seg;
}

function finding(ctx: Ctx, kind: DecodeFinding['kind'], path: string, detail: string): void {
  if (ctx.findings.length < 1000) ctx.findings.push({ kind, path, detail });
}

function noteOnce(ctx: Ctx, tag: string, path: string, detail: string): void {
  if (ctx.noted.has(tag)) return;
  ctx.noted.set(tag, ctx.findings.length);
  finding(ctx, 'limit', path, detail);
}

/** Counts `n` more decoded bytes; false (and a note) once all decoders together passed the budget. */
function spend(ctx: Ctx, n: number, path: string): boolean {
  ctx.bytes += n;
  if (ctx.bytes <= ctx.limits.maxTotalBytes) return true;
  noteOnce(
    ctx,
    'total',
    path,
    `decoders produced more than ${ctx.limits.maxTotalBytes} bytes; the rest is not decoded`,
  );
  return false;
}

function layer(ctx: Ctx, kind: LayerKind, path: string, value?: unknown, key?: string): Layer {
  ctx.nodes++;
  if (ctx.nodes >= ctx.limits.maxNodes && !ctx.full) {
    ctx.full = true;
    noteOnce(ctx, 'nodes', path, `more than ${ctx.limits.maxNodes} layers; the rest is not decoded`);
  }
  const l: Layer = { path, kind, children: [] };
  if (value !== undefined) l.value = value;
  if (key !== undefined) l.key = key;
  return l;
}

// ---------------------------------------------------------------------------------------------
// Bytes → layer

/**
 * How many bytes inflating `b` may produce: the size and ratio limits and what is left of the total
 * budget; null (and a note) once the budget is spent.
 */
function inflateCap(b: Buffer, path: string, ctx: Ctx): number | null {
  const { maxInflateBytes, inflateAllowance, maxRatio, maxTotalBytes } = ctx.limits;
  const remaining = maxTotalBytes - ctx.bytes;
  if (remaining <= 0) {
    noteOnce(
      ctx,
      'total',
      path,
      `decoders produced more than ${maxTotalBytes} bytes; the rest is not decoded`,
    );
    return null;
  }
  return Math.min(maxInflateBytes, remaining, Math.max(inflateAllowance, b.length * maxRatio));
}

function inflate(kind: InflateKind, b: Buffer, path: string, ctx: Ctx, quiet = false): Buffer | null {
  const cap = inflateCap(b, path, ctx);
  if (cap === null) return null;
  const r = inflateCapped(kind, b, cap);
  if (!r.ok) {
    if (r.limit)
      finding(
        ctx,
        'limit',
        path,
        `${kind} output exceeds ${cap} bytes from ${b.length} (size/ratio limit): not decoded`,
      );
    else if (!quiet) finding(ctx, 'error', path, `${kind}: ${r.message}`);
    return null;
  }
  ctx.bytes += r.bytes.length;
  return r.bytes;
}

type BytesDecoder = (b: Buffer, path: string, ctx: Ctx, depth: number) => Layer | null;

function compressed(kind: InflateKind, test: (b: Buffer) => boolean, strict: boolean): BytesDecoder {
  return (b, path, ctx, depth) => {
    if (!test(b)) return null;
    const p = join(path, kind);
    const out = inflate(kind, b, p, ctx, !strict);
    if (!out) {
      if (strict) return layer(ctx, kind, p); // magic matched: keep the layer, the finding says why it is empty
      return null;
    }
    if (!strict && asText(out) === null) return null;
    const l = layer(ctx, kind, p);
    l.children.push(bytesLayer(out, p, ctx, depth + 1));
    return l;
  };
}

/** Tried in order on bytes; the first that returns a layer wins. */
const BYTES_DECODERS: Array<[string, BytesDecoder]> = [
  ['gzip', compressed('gzip', isGzip, true)],
  ['zlib', compressed('zlib', isZlib, false)],
  [
    'text',
    (b, path, ctx, depth) => {
      // asText(), but a JSON document is parsed first: JSON.parse already rejects the control
      // characters asText looks for, but for U+007F and U+FFFD, which `includes` finds natively.
      if (!isUtf8(b)) return null;
      const text = b.toString('utf8');
      const pre = preParse(text);
      if (pre ? text.includes('\x7f') || text.includes('\ufffd') : !isControlFree(text)) return null;
      return textLayer(text, path, ctx, depth, pre);
    },
  ],
  ['deflate', rawDeflate],
];

/**
 * Raw deflate has no magic: a pure-JS probe of its first blocks first (zlib is slow to say no), then
 * taken only when the whole stream inflates (final block reached, every byte used: random bytes
 * that start like deflate and give a few letters do not) to text or to compressed data again.
 */
function rawDeflate(b: Buffer, path: string, ctx: Ctx, depth: number): Layer | null {
  if (b.length < 8 || !looksDeflated(b)) return null;
  const p = join(path, 'deflate');
  const out = inflateComplete(b, p, ctx);
  if (!out || (asText(out) === null && !isGzip(out) && !isZlib(out) && !looksDeflated(out))) return null;
  const l = layer(ctx, 'deflate', p);
  l.children.push(bytesLayer(out, p, ctx, depth + 1));
  return l;
}

/** inflateRawComplete within the limits (a `limit` finding past them); counts the bytes it made. */
function inflateComplete(b: Buffer, path: string, ctx: Ctx): Buffer | null {
  const cap = inflateCap(b, path, ctx);
  if (cap === null) return null;
  const out = inflateRawComplete(b, cap);
  if (out === 'limit') {
    finding(
      ctx,
      'limit',
      path,
      `deflate output exceeds ${cap} bytes from ${b.length} (size/ratio limit): not decoded`,
    );
    return null;
  }
  if (out) ctx.bytes += out.length;
  return out;
}

function bytesLayer(b: Buffer, path: string, ctx: Ctx, depth: number): Layer {
  if (!ctx.full && depth <= ctx.limits.maxDepth) {
    for (const [, dec] of BYTES_DECODERS) {
      const l = dec(b, path, ctx, depth);
      if (l) return l;
    }
  } else if (depth > ctx.limits.maxDepth) {
    depthLimit(ctx, path);
    return opaqueLayer(b, path, ctx, `${b.length} bytes of binary data`);
  }
  if (ctx.full) return opaqueLayer(b, path, ctx, `${b.length} bytes of binary data`);
  return residueLayer(b, path, ctx, depth);
}

function opaqueLayer(b: Buffer, path: string, ctx: Ctx, detail: string): Layer {
  const p = join(path, 'opaque');
  finding(ctx, 'opaque', p, detail);
  return layer(ctx, 'opaque', p, `${b.length} bytes`);
}

/** Binary residue under 40 bytes is a plain value (hashes, ids, nonces: md5 is 16 bytes, sha256 32). */
const RESIDUE_MIN = 40;
/** The smallest AES output: IV(12) ‖ one byte ‖ tag(16) (GCM). */
const AES_MIN = 29;

/**
 * Bytes no decoder explains: decrypted with a key given for the host when one opens them (an `aes`
 * layer), otherwise an `opaque` layer and finding. `via`: the text encoding they came in.
 */
function residueLayer(b: Buffer, path: string, ctx: Ctx, depth: number, via?: string): Layer {
  // Raw deflate of binary (of ciphertext: encrypted, then deflated) has no magic and no text to
  // show: taken when the whole stream inflates, so that a key can open what is inside.
  const inflated = depth <= ctx.limits.maxDepth ? deflatedBinary(b, path, ctx) : null;
  if (inflated) {
    const p = join(path, 'deflate');
    const l = layer(ctx, 'deflate', p);
    l.children.push(residueLayer(inflated, p, ctx, depth + 1));
    return l;
  }
  if (ctx.hostKeys.length > 0 && b.length >= AES_MIN) {
    const aes = aesLayer(b, ctx.hostKeys, path, ctx, depth);
    if (aes) return aes;
    finding(
      ctx,
      'error',
      join(path, 'aes'),
      `no key given for ${ctx.host} decrypts these ${b.length} bytes to gzip or text (AES-CBC with IV(16), AES-GCM with IV(12) and tag(16) tried): a wrong key or another format`,
    );
  }
  return opaqueLayer(
    b,
    path,
    ctx,
    `${b.length} bytes of binary data${via ? ` (${via})` : ''} that no decoder explains: encrypted or an unknown format`,
  );
}

/** The output of `b` when it is a complete raw deflate stream (of 40 bytes or more); else null. */
function deflatedBinary(b: Buffer, path: string, ctx: Ctx): Buffer | null {
  if (b.length < RESIDUE_MIN || deflatePrefix(b, 256) === null) return null;
  return inflateComplete(b, join(path, 'deflate'), ctx);
}

/** AES modes tried with a key of each length. */
function aesModes(key: Buffer): Array<'cbc' | 'gcm'> {
  if (key.length === 16 || key.length === 32) return ['cbc', 'gcm'];
  return key.length === 24 ? ['cbc'] : [];
}

/**
 * The first plaintext that one of the keys gives, that is gzip or text: IV(16) ‖ AES-CBC with
 * PKCS#7 padding, or IV(12) ‖ AES-GCM ‖ tag(16). Null when none does (never a throw).
 */
function aesDecrypt(sealed: Buffer, keys: Buffer[], path: string, ctx: Ctx): Buffer | null {
  for (const key of keys) {
    if (!Buffer.isBuffer(key)) continue;
    for (const mode of aesModes(key)) {
      const cbc = mode === 'cbc';
      if (cbc ? sealed.length < 32 || sealed.length % 16 !== 0 : sealed.length < AES_MIN) continue;
      if (!spend(ctx, sealed.length, path)) return null;
      let plain: Buffer;
      try {
        if (cbc) {
          const d = createDecipheriv(`aes-${key.length * 8}-cbc`, key, sealed.subarray(0, 16));
          plain = Buffer.concat([d.update(sealed.subarray(16)), d.final()]);
        } else {
          const algo: CipherGCMTypes = key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
          const d = createDecipheriv(algo, key, sealed.subarray(0, 12), { authTagLength: 16 });
          d.setAuthTag(sealed.subarray(sealed.length - 16));
          plain = Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
        }
      } catch {
        continue; // padding or tag check failed: not this key or mode
      }
      if (isGzip(plain) || (plain.length > 0 && asText(plain) !== null)) return plain;
    }
  }
  return null;
}

/** An `aes` layer over the plaintext when one of the keys opens the bytes; null otherwise. */
function aesLayer(b: Buffer, keys: Buffer[], path: string, ctx: Ctx, depth: number): Layer | null {
  const p = join(path, 'aes');
  const plain = aesDecrypt(b, keys, p, ctx);
  if (!plain) return null;
  const l = layer(ctx, 'aes', p);
  l.children.push(bytesLayer(plain, p, ctx, depth + 1));
  return l;
}

// ---------------------------------------------------------------------------------------------
// Text → layer

/** A JSON document already parsed: the text it came from has no surrounding whitespace. */
interface Parsed {
  value: unknown;
}

/** Parses a text that is a JSON object or array with no whitespace around it; otherwise undefined. */
function preParse(text: string): Parsed | undefined {
  const c0 = text.charCodeAt(0);
  const cn = text.charCodeAt(text.length - 1);
  if (!((c0 === 0x7b && cn === 0x7d) || (c0 === 0x5b && cn === 0x5d))) return undefined;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** A whole text (a body, a decoded payload): JSON, base64, a form, or plain text. */
function textLayer(text: string, path: string, ctx: Ctx, depth: number, pre?: Parsed): Layer {
  const inner = stringLayer(text, path, ctx, depth, true, pre);
  if (inner) return inner;
  if (looksLikeForm(text)) return paramsLayer('form', parsePairs(text), join(path, 'form'), ctx, depth);
  return layer(ctx, 'text', join(path, 'text'), text);
}

function jsonDecoder(s: string, path: string, ctx: Ctx, depth: number, pre?: Parsed): Layer | null {
  const c0 = s.charCodeAt(0);
  // Printable ASCII other than `{` `[` cannot start a JSON document, even after trim().
  if (c0 > 0x20 && c0 < 0x7f && c0 !== 0x7b && c0 !== 0x5b) return null;
  let v: unknown;
  if (pre) v = pre.value;
  else {
    const t = s.trim();
    const c = t.charCodeAt(0);
    if (c !== 0x7b && c !== 0x5b) return null;
    try {
      v = JSON.parse(t);
    } catch {
      return null;
    }
  }
  if (typeof v !== 'object' || v === null) return null;
  return jsonLayer(v, join(path, 'json'), 'json', ctx, depth);
}

/** Decoded bytes worth a layer: gzip or zlib data, text (3 visible characters or more), raw deflate of those. */
function meaningful(b: Buffer): boolean {
  if (isGzip(b) || isZlib(b)) return true;
  const text = asText(b);
  if (text !== null) return text.trim().length >= 3;
  // Deflate of anything worth finding is longer than an id: skip the probe for short ids.
  return b.length >= 12 && looksDeflated(b);
}

/**
 * A `kind` layer (a text encoding) over its decoded bytes when they are meaningful and a decoder
 * below takes them; otherwise null, with the tree and findings as they were.
 */
function encodedLayer(
  kind: LayerKind,
  b: Buffer,
  path: string,
  ctx: Ctx,
  depth: number,
  textIsNotEnough = false,
): Layer | null {
  if (!meaningful(b)) return null;
  const p = join(path, kind);
  const mark = { findings: ctx.findings.length, nodes: ctx.nodes, bytes: ctx.bytes };
  const inner = bytesLayer(b, p, ctx, depth + 1);
  if (
    (inner.kind === 'opaque' && !isGzip(b) && asText(b) === null) ||
    (textIsNotEnough && inner.kind === 'text')
  ) {
    // A zlib-looking header or a deflate-looking start that did not inflate: not this encoding
    // after all (the residue check may still call the bytes opaque). Or a plain text where only
    // more encoding would do.
    ctx.findings.length = mark.findings;
    for (const [tag, i] of ctx.noted) if (i >= mark.findings) ctx.noted.delete(tag);
    ctx.nodes = mark.nodes;
    ctx.bytes = mark.bytes;
    return null;
  }
  const l = layer(ctx, kind, p);
  l.children.push(inner);
  return l;
}

/** Whether the first bytes of base64 text may be raw deflate of something meaningful. */
function base64DeflateHead(s: string): boolean {
  // 12 bytes at least (meaningful()), a block type that exists, not a uuid.
  if (s.length < 16 || !base64MayBeDeflate(s)) return false;
  // 172 characters = 129 bytes: past the code tables of a dynamic block of text.
  const head = base64Bytes(s.length > 172 ? s.slice(0, 172) : s);
  return looksDeflated(head);
}

/** `8-4-4-4-12` with dashes: a uuid (telemetry sends several per event), never base64url. */
const isUuidShaped = (s: string): boolean =>
  s.length === 36 &&
  s.charCodeAt(8) === 0x2d &&
  s.charCodeAt(13) === 0x2d &&
  s.charCodeAt(18) === 0x2d &&
  s.charCodeAt(23) === 0x2d;

function base64Decoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (s.length < 8 || isUuidShaped(s) || isHex(s)) return null; // ids and hashes, not base64
  const alphabet = base64Alphabet(s);
  if (!alphabet) return null;
  if (!s.includes('\n') && !s.includes('\r')) {
    // Most ids that fit the alphabet (uuids, words) show in their first bytes that they are not
    // text: skip the decoding, but count the bytes it would have produced, as the limits do.
    let n = s.length;
    while (s.charCodeAt(n - 1) === 0x3d) n--;
    if (base64HeadRejects(s) && !base64DeflateHead(s)) {
      spend(ctx, Math.floor((n * 3) / 4), path);
      return null;
    }
  }
  const b = base64Bytes(s);
  if (!spend(ctx, b.length, path)) return null;
  return encodedLayer(alphabet, b, path, ctx, depth);
}

const isDigits = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
};

/** Lower- (or upper-) case hex of text or compressed data, 16 characters or more. */
function hexDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (s.length < 16 || s.length % 2 !== 0 || !isHex(s)) return null;
  if (s.length < 24 && hexHeadRejects(s)) {
    // Too short for deflate (meaningful()), and its first bytes are neither text nor gzip/zlib.
    spend(ctx, s.length / 2, path);
    return null;
  }
  const b = Buffer.from(s, 'hex');
  if (!spend(ctx, b.length, path)) return null;
  // Long numbers are numbers: all digits is hex only of what decodes further (hex of hex, of
  // percent-encoding, of a JSON string literal…), never of a text that happens to fit.
  return encodedLayer('hex', b, path, ctx, depth, isDigits(s));
}

/** RFC 4648 base32 (upper case, `=` padding) of text or compressed data. */
function base32Decoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (!isBase32(s)) return null;
  const b = base32Bytes(s);
  if (!spend(ctx, b.length, path)) return null;
  return encodedLayer('base32', b, path, ctx, depth);
}

/**
 * A string percent-encoded through and through (unreserved characters and `%XX` only: no space,
 * `=`, `&`, `/` or `:`, so a form value, which arrives decoded, or a URL is not decoded again).
 */
function percentDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (!s.includes('%')) return null;
  const b = percentBytes(s);
  if (!b || !spend(ctx, b.length, path)) return null;
  return encodedLayer('percent', b, path, ctx, depth);
}

/** A JSON string literal (`"…"`, JSON.stringify of a text): its content, discovered in turn. */
function jsonStringDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  let t = s;
  if (t.charCodeAt(0) !== 0x22 || t.charCodeAt(t.length - 1) !== 0x22) {
    if (t.charCodeAt(0) > 0x20 && t.charCodeAt(t.length - 1) > 0x20) return null;
    t = s.trim();
    if (t.charCodeAt(0) !== 0x22 || t.charCodeAt(t.length - 1) !== 0x22) return null;
  }
  if (t.length < 4) return null;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch {
    return null;
  }
  if (typeof v !== 'string' || v.length === 0 || !spend(ctx, v.length, path)) return null;
  const p = join(path, 'json-string');
  const l = layer(ctx, 'json-string', p);
  l.children.push(textLayer(v, p, ctx, depth + 1));
  return l;
}

/**
 * The last resort for a string no decoder took: hex, base32, base64 or percent-encoding (of random-
 * looking text, so words and paths are left alone) that decodes to binary no decoder explains, 40
 * bytes or more: an `opaque` layer and finding (or, with a key for the host that opens it, an `aes`
 * layer). Below 40 bytes it stays a plain value unless a key opens it.
 */
function residueDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  const min = ctx.hostKeys.length > 0 ? AES_MIN : RESIDUE_MIN;
  const n = s.length;
  // Every encoding here takes at least one character per byte.
  if (n < min || ctx.quiet > 0) return null;
  let kind: LayerKind;
  let b: Buffer | null;
  if (isHex(s)) {
    if (n % 2 !== 0 || n < 2 * min || !looksRandom(s, 16)) return null;
    kind = 'hex';
    b = Buffer.from(s, 'hex');
  } else if (isBase32(s)) {
    if (n < (8 * min) / 5 || !looksRandom(s, 32)) return null;
    kind = 'base32';
    b = base32Bytes(s);
  } else if (s.includes('%')) {
    b = percentBytes(s);
    // Binary shows as mostly escapes; a text with a few non-UTF-8 escapes is not ciphertext.
    if (!b || b.length < min || (n - b.length) / 2 < b.length / 3) return null;
    kind = 'percent';
  } else {
    if (n < (4 * min) / 3 || !base64Start(s, 16)) return null;
    const alphabet = base64Alphabet(s);
    if (!alphabet || !looksRandom(s, 64)) return null;
    kind = alphabet;
    b = base64Bytes(s);
  }
  if (b.length < min || !spend(ctx, b.length, path) || asText(b) !== null) return null;
  const p = join(path, kind);
  if (b.length < RESIDUE_MIN) {
    // Short: only worth a layer if a key opens it.
    const aes = aesLayer(b, ctx.hostKeys, p, ctx, depth + 1);
    if (!aes) return null;
    const l = layer(ctx, kind, p);
    l.children.push(aes);
    return l;
  }
  const l = layer(ctx, kind, p);
  l.children.push(residueLayer(b, p, ctx, depth + 1, kind));
  return l;
}

function urlQueryDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (s.indexOf('://') <= 0 || !s.includes('?')) return null;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^\s?#]*\?([^\s#]+)/i.exec(s);
  if (!m?.[1] || !m[1].includes('=')) return null;
  return paramsLayer('query', parsePairs(m[1]), join(path, 'query'), ctx, depth);
}

function nestedFormDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (!s.includes('&') || !looksLikeForm(s)) return null;
  return paramsLayer('form', parsePairs(s), join(path, 'form'), ctx, depth);
}

function depthLimit(ctx: Ctx, path: string): void {
  noteOnce(ctx, 'depth', path, `nesting deeper than ${ctx.limits.maxDepth} layers is not decoded`);
}

function stringLayer(
  s: string,
  path: string,
  ctx: Ctx,
  depth: number,
  whole = false,
  pre?: Parsed,
): Layer | null {
  if (ctx.full || s.length < 4) return null;
  if (depth > ctx.limits.maxDepth) {
    depthLimit(ctx, path);
    return null;
  }
  // Each decoder's cheapest test is made here, so that the many short plain values of a batch
  // cost no call.
  const n = s.length;
  const c0 = s.charCodeAt(0);
  return (
    jsonDecoder(s, path, ctx, depth, pre) ??
    (c0 === 0x22 || c0 <= 0x20 ? jsonStringDecoder(s, path, ctx, depth) : null) ??
    // base32 before base64: a base32 text also fits the base64 alphabet, not the other way round.
    (n >= 16 && ((c0 >= 0x41 && c0 <= 0x5a) || (c0 >= 0x32 && c0 <= 0x37))
      ? base32Decoder(s, path, ctx, depth)
      : null) ??
    base64Decoder(s, path, ctx, depth) ??
    (n >= 16 && (n & 1) === 0 ? hexDecoder(s, path, ctx, depth) : null) ??
    (s.includes('%') ? percentDecoder(s, path, ctx, depth) : null) ??
    urlQueryDecoder(s, path, ctx, depth) ??
    (whole ? null : nestedFormDecoder(s, path, ctx, depth)) ?? // textLayer handles whole forms itself
    (n >= AES_MIN ? residueDecoder(s, path, ctx, depth) : null)
  );
}

/** Children for a string value: what discovery finds inside it. */
function discover(s: string, path: string, ctx: Ctx, depth: number): Layer[] {
  const l = stringLayer(s, path, ctx, depth);
  return l ? [l] : [];
}

// ---------------------------------------------------------------------------------------------
// JSON

function jsonLayer(v: unknown, path: string, kind: LayerKind, ctx: Ctx, depth: number): Layer {
  const root = layer(ctx, kind, path, v);
  walkJsonChildren(root, v, path, ctx, depth, 0);
  return root;
}

function walkJsonChildren(
  parent: Layer,
  v: unknown,
  path: string,
  ctx: Ctx,
  depth: number,
  jd: number,
): void {
  if (typeof v !== 'object' || v === null) return;
  if (jd >= ctx.limits.maxJsonDepth) {
    noteOnce(ctx, 'json-depth', path, `JSON nested deeper than ${ctx.limits.maxJsonDepth} is not walked`);
    return;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (ctx.full) return;
      jsonChild(parent, undefined, path + `[${i}]`, v[i], ctx, depth, jd);
    }
    return;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) {
    if (ctx.full) return;
    const k = keys[i]!;
    jsonChild(parent, k, path + keySegment(k), o[k], ctx, depth, jd);
  }
}

function jsonChild(
  parent: Layer,
  key: string | undefined,
  p: string,
  x: unknown,
  ctx: Ctx,
  depth: number,
  jd: number,
): void {
  if (typeof x === 'object' && x !== null) {
    const child = layer(ctx, 'json', p, x, key);
    parent.children.push(child);
    walkJsonChildren(child, x, p, ctx, depth, jd + 1);
  } else if (typeof x === 'string') {
    const child = layer(ctx, 'json', p, x, key);
    // Strings shorter than 4 characters hold nothing to discover (stringLayer's own test).
    if (x.length >= 4) {
      const inner = stringLayer(x, p, ctx, depth + 1);
      if (inner) child.children.push(inner);
    }
    parent.children.push(child);
  } else {
    parent.children.push(layer(ctx, 'json', p, x, key));
  }
}

// ---------------------------------------------------------------------------------------------
// Parameters: query, form, cookie — with the formats that live in form fields

function paramsLayer(
  kind: 'query' | 'form' | 'cookie' | 'header',
  pairs: Array<[string, string]>,
  path: string,
  ctx: Ctx,
  depth: number,
): Layer {
  const container = layer(ctx, kind, path);
  let fields: Map<string, string> | undefined;
  for (const [k, v] of pairs) {
    if (ctx.full) break;
    const p = path + keySegment(k);
    const field = layer(ctx, kind, p, v, k);
    container.children.push(field);
    if ((kind === 'form' || kind === 'query') && FIELD_KEYS.has(k)) {
      if (!fields) {
        fields = new Map<string, string>();
        for (const [k2, v2] of pairs) if (!fields.has(k2)) fields.set(k2, v2);
      }
      const all = fields;
      const special = FIELD_DECODERS.find((d) => d.applies(k, all, ctx));
      if (special) {
        field.children = special.decode(v, p, fields, ctx, depth);
        continue;
      }
    }
    const inner = stringLayer(v, p, ctx, depth + 1);
    if (inner) field.children.push(inner);
  }
  return container;
}

interface FieldDecoder {
  name: string;
  applies(key: string, fields: Map<string, string>, ctx: Ctx): boolean;
  decode(value: string, path: string, fields: Map<string, string>, ctx: Ctx, depth: number): Layer[];
}

/** Form decoding turned `+` into spaces; every SDK encodes `+`, so a space was a `+`. Line breaks go. */
function plusAndOneLine(v: string): string {
  let t = v.includes(' ') ? v.replace(/ /g, '+') : v;
  if (t.includes('\n') || t.includes('\r')) t = t.replace(/[\r\n]/g, '');
  return t;
}

/** Sensors Analytics `data` / `data_list` (sensorsdata-format.md §5). */
const isJsonish = (v: string): boolean => /^\s*[[{]/.test(v);

/** Envelope keys of the encryption plugins (sensorsdata-format.md §3.4, §3.6). */
function encryptedEnvelope(v: unknown): boolean {
  const o: unknown = Array.isArray(v) ? v[0] : v;
  return !!o && typeof o === 'object' && ('payloads' in o || 'payload' in o || 'ekey' in o);
}

const sensorsField: FieldDecoder = {
  name: 'sensors',
  applies: (key, fields) => {
    if (key === 'data_list') return true;
    if (key !== 'data') return false;
    if (fields.has('gzip') || fields.has('crc') || fields.has('ext')) return true;
    const v = fields.get('data') ?? '';
    if (isJsonish(v)) return true;
    const t = v.includes(' ') ? v.replace(/ /g, '+') : v;
    if (base64Alphabet(t) === null) return false;
    const head = base64Bytes(t.slice(0, 8));
    return isGzip(head) || head[0] === 0x7b || head[0] === 0x5b; // gzip, `{` or `[`
  },
  decode(value, path, fields, ctx, depth) {
    const gzip = fields.get('gzip');
    const crcText = fields.get('crc') ?? /(?:^|&)crc=(-?\d+)/.exec(fields.get('ext') ?? '')?.[1];
    const meta = layer(ctx, 'sensors', join(path, 'sensors'));
    const summary: Record<string, unknown> = { field: path.slice(path.lastIndexOf('.') + 1), gzip };
    meta.value = summary;
    const out = [meta];
    const encryptedFlag = gzip === '9' || gzip === '13';
    const json = encryptedFlag || isJsonish(value);
    // Form decoding turned `+` into spaces; every SDK encodes `+`, so a space was a `+`.
    const text = json ? value : plusAndOneLine(value);
    // The crc is over the base64 (or, for the AES plugin, the envelope JSON) before URL-encoding.
    if (crcText !== undefined) {
      const expected = Number(crcText);
      const actual = javaHashCode(text);
      summary.crc = expected;
      summary.crcValid = expected === actual;
      if (expected !== actual)
        finding(ctx, 'error', meta.path, `Sensors crc mismatch: sent ${crcText}, computed ${actual}`);
    }
    if (json) {
      let parsed: Parsed | undefined;
      try {
        parsed = { value: JSON.parse(value.trim()) };
      } catch {
        parsed = undefined;
      }
      const encrypted = encryptedFlag || (parsed !== undefined && encryptedEnvelope(parsed.value));
      // The envelope itself is cleartext JSON (key_id, key_hash, pkv, ekey); its binary strings (the
      // wrapped key, the payloads) are accounted for here, not residue of their own.
      if (encrypted) ctx.quiet++;
      const j = parsed ? jsonDecoder(value, path, ctx, depth + 1, parsed) : null;
      if (encrypted) ctx.quiet--;
      if (encrypted) {
        summary.encrypted = true;
        const why = encryptedFlag ? `gzip=${gzip}` : 'envelope without gzip flag';
        const keys = sensorsKeys(ctx);
        if (keys.length === 0 || !j)
          finding(ctx, 'opaque', meta.path, `encrypted Sensors payload (${why}); no key`);
        else decryptSensors(j, keys, summary, meta.path, why, ctx, depth + 1);
      }
      if (j) {
        out.push(j);
        if (!summary.encrypted) summary.events = Array.isArray(j.value) ? j.value.length : 1;
      } else out.push(...discover(value, path, ctx, depth + 1));
      return out;
    }
    const alphabet = base64Alphabet(text);
    if (!alphabet) {
      if (gzip !== undefined || crcText !== undefined)
        finding(ctx, 'error', meta.path, 'Sensors payload is neither base64 nor JSON');
      out.push(...discover(value, path, ctx, depth + 1));
      return out;
    }
    const p = join(path, alphabet);
    const b64Layer = layer(ctx, alphabet, p);
    const bytes = base64Bytes(text);
    ctx.bytes += bytes.length;
    b64Layer.children.push(bytesLayer(bytes, p, ctx, depth + 1));
    out.push(b64Layer);
    if (gzip === '1' && b64Layer.children[0]?.kind !== 'gzip')
      finding(ctx, 'error', meta.path, 'gzip=1 but the payload is not gzip');
    const events = findFirst(b64Layer, 'json');
    if (events) summary.events = Array.isArray(events.value) ? events.value.length : 1;
    return out;
  },
};

/** Keys for Sensors envelopes: `sensors`, then those given for the host. */
function sensorsKeys(ctx: Ctx): Buffer[] {
  const k = Object.hasOwn(ctx.keys, 'sensors') ? ctx.keys.sensors : undefined;
  const own = Buffer.isBuffer(k) && aesModes(k).length > 0 ? [k] : [];
  return [...own, ...ctx.hostKeys];
}

/** The payload strings of an envelope: `payloads` (gzip=9: an array; gzip=13: one string) or `payload`. */
function envelopePayloads(j: Layer): Layer[] {
  const out: Layer[] = [];
  const objects = Array.isArray(j.value) ? j.children : [j];
  for (const o of objects)
    for (const c of o.children) {
      if (c.key !== 'payloads' && c.key !== 'payload') continue;
      if (typeof c.value === 'string') out.push(c);
      else if (Array.isArray(c.value))
        for (const x of c.children) if (typeof x.value === 'string') out.push(x);
    }
  return out;
}

/**
 * Decrypts the payloads of a Sensors envelope in place: each becomes `… › base64 › aes › gzip › json`
 * (sensorsdata-format.md §3.4: base64(IV ‖ AES(gzip(JSON)))). Payloads no key opens stay opaque.
 */
function decryptSensors(
  j: Layer,
  keys: Buffer[],
  summary: Record<string, unknown>,
  metaPath: string,
  why: string,
  ctx: Ctx,
  depth: number,
): void {
  const payloads = envelopePayloads(j);
  let failed = 0;
  let events = 0;
  for (const leaf of payloads) {
    const text = plusAndOneLine(leaf.value as string);
    const alphabet = base64Alphabet(text);
    const sealed = alphabet ? base64Bytes(text) : null;
    if (!alphabet || !sealed || !spend(ctx, sealed.length, leaf.path)) {
      failed++;
      continue;
    }
    const p = join(leaf.path, alphabet);
    const aes = aesLayer(sealed, keys, p, ctx, depth + 1);
    if (!aes) {
      failed++;
      continue;
    }
    const b64 = layer(ctx, alphabet, p);
    b64.children.push(aes);
    leaf.children = [b64];
    const ev = findFirst(aes, 'json');
    events += ev ? (Array.isArray(ev.value) ? ev.value.length : 1) : 0;
  }
  summary.decrypted = failed === 0 && payloads.length > 0;
  if (summary.decrypted) {
    summary.events = events;
    return;
  }
  const what =
    payloads.length === 0
      ? 'no payload in the envelope'
      : `${failed} of ${payloads.length} payloads do not decrypt to gzip or text with the key given`;
  finding(ctx, 'error', metaPath, `Sensors: wrong key (${what})`);
  finding(ctx, 'opaque', metaPath, `encrypted Sensors payload (${why}); the key given does not decrypt it`);
}

/** MIUI analytics H/B envelope: `value` (base64url of the JSON or its gzip) with `gzip`, `ts`, `nonce`, `sign`. */
const miuiField: FieldDecoder = {
  name: 'miui-envelope',
  applies: (key, fields) =>
    key === 'value' && (fields.has('gzip') || fields.has('sign') || fields.has('nonce')),
  decode(value, path, fields, ctx, depth) {
    const s = plusAndOneLine(value);
    if (!base64Alphabet(s)) return discover(value, path, ctx, depth + 1);
    // Android Base64 URL_SAFE; a value without `-`/`_` fits both alphabets.
    const alphabet = /[+/]/.test(s) ? 'base64' : 'base64url';
    const p = join(path, alphabet);
    const outer = layer(ctx, alphabet, p);
    let bytes: Buffer | null = base64Bytes(s);
    let at = outer;
    let atPath = p;
    if (fields.get('gzip') === '1' || isGzip(bytes)) {
      atPath = join(p, 'gzip');
      const g = layer(ctx, 'gzip', atPath);
      outer.children.push(g);
      at = g;
      bytes = inflate('gzip', bytes, atPath, ctx);
    }
    if (!bytes) return [outer];
    const text = asText(bytes);
    let parsed: unknown;
    try {
      parsed = text === null ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed && typeof parsed === 'object' && 'H' in parsed && 'B' in parsed) {
      at.children.push(jsonLayer(parsed, join(atPath, 'miui-envelope'), 'miui-envelope', ctx, depth + 1));
    } else {
      at.children.push(bytesLayer(bytes, atPath, ctx, depth + 1));
    }
    return [outer];
  },
};

/**
 * MiStat v3 upload: `p` is base64(IV(16) ‖ AES-128-CBC(gzip(JSON))) with a session key
 * (xiaomi-telemetry.md §2.4). Opaque unless `keys.mistat` is given.
 */
const mistatField: FieldDecoder = {
  name: 'mistat',
  applies: (key, fields, ctx) =>
    key === 'p' && (fields.has('sv') || fields.has('pv') || /\/mistats\//.test(ctx.url)),
  decode(value, path, fields, ctx, depth) {
    const p = join(path, 'mistat');
    const summary: Record<string, unknown> = {
      ai: fields.get('ai'),
      sv: fields.get('sv'),
      pv: fields.get('pv'),
      rg: fields.get('rg'),
      fc: fields.get('fc'),
      sid: fields.get('sid'),
      payloadChars: value.length,
    };
    const given = Object.hasOwn(ctx.keys, 'mistat') ? ctx.keys.mistat : undefined;
    // `keys.mistat`, else the AES-128 keys given for the host.
    const keys = given !== undefined ? [given] : ctx.hostKeys.filter((k) => k.length === 16);
    const opaque = `MiStat payload (${value.length} chars): AES with a session key`;
    if (keys.length === 0) {
      finding(ctx, 'opaque', p, opaque);
      return [layer(ctx, 'mistat', p, summary)];
    }
    const l = layer(ctx, 'mistat', p, summary);
    summary.decrypted = false;
    const aesPath = join(p, 'aes');
    let why = '';
    for (const key of keys) {
      const plain = mistatDecrypt(value, key, aesPath, ctx);
      if (typeof plain === 'string') {
        why ||= plain;
        continue;
      }
      // The SDK's order is JSON → gzip → AES: a right key gives gzip (1 in 256 wrong keys pass the padding check).
      if (!isGzip(plain)) {
        why ||= 'MiStat: wrong key (the plaintext is not gzip)';
        continue;
      }
      summary.decrypted = true;
      const aes = layer(ctx, 'aes', aesPath);
      l.children.push(aes);
      aes.children.push(bytesLayer(plain, aesPath, ctx, depth + 1));
      return [l];
    }
    // A wrong key: the error says why, and the payload is as opaque as without a key.
    if (why) finding(ctx, 'error', aesPath, why);
    finding(ctx, 'opaque', p, `${opaque}; the key given does not decrypt it`);
    return [l];
  },
};

/** IV(16) ‖ AES-128-CBC with PKCS#7 padding: the plaintext, or why not (never a throw). */
function mistatDecrypt(value: string, key: Buffer, path: string, ctx: Ctx): Buffer | string {
  if (!Buffer.isBuffer(key) || key.length !== 16)
    return `MiStat key must be 16 bytes (AES-128), got ${Buffer.isBuffer(key) ? key.length : typeof key}`;
  const s = plusAndOneLine(value);
  if (!base64Alphabet(s)) return 'MiStat payload is not base64';
  const sealed = base64Bytes(s);
  if (sealed.length < 32 || sealed.length % 16 !== 0)
    return `MiStat payload of ${sealed.length} bytes is not IV + AES-CBC blocks`;
  // The plaintext is at most the ciphertext less the IV: count that before decrypting.
  if (!spend(ctx, sealed.length - 16, path)) return 'MiStat: not decrypted (decoding budget spent)';
  try {
    const d = createDecipheriv('aes-128-cbc', key, sealed.subarray(0, 16));
    return Buffer.concat([d.update(sealed.subarray(16)), d.final()]);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return `MiStat: wrong key (AES-CBC padding check failed: ${why})`;
  }
}

const FIELD_DECODERS: FieldDecoder[] = [sensorsField, miuiField, mistatField];
/** The only keys FIELD_DECODERS apply to (each `applies` tests the key first). */
const FIELD_KEYS = new Set(['data', 'data_list', 'value', 'p']);

function findFirst(l: Layer, kind: LayerKind): Layer | undefined {
  const stack = [l];
  while (stack.length) {
    const x = stack.shift()!;
    if (x.kind === kind) return x;
    stack.push(...x.children);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Multipart

function boundaryOf(contentType: string): string | null {
  const m = /boundary=(?:"([^"]{1,200})"|([^;\s]{1,200}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

function multipartLayer(body: Buffer, boundary: string, path: string, ctx: Ctx, depth: number): Layer {
  const container = layer(ctx, 'multipart', join(path, 'multipart'));
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  let index = 0;
  while (pos >= 0 && !ctx.full) {
    const start = pos + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // closing --boundary--
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    let part = body.subarray(start, next);
    if (part[0] === 0x0d && part[1] === 0x0a) part = part.subarray(2);
    else if (part[0] === 0x0a) part = part.subarray(1);
    if (part.length >= 2 && part[part.length - 2] === 0x0d && part[part.length - 1] === 0x0a)
      part = part.subarray(0, -2);
    else if (part[part.length - 1] === 0x0a) part = part.subarray(0, -1);
    let headerEnd = part.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (headerEnd < 0) {
      headerEnd = part.indexOf('\n\n');
      sepLen = 2;
    }
    const head = headerEnd < 0 ? '' : part.subarray(0, headerEnd).toString('latin1');
    const content = headerEnd < 0 ? part : part.subarray(headerEnd + sepLen);
    const name = /name="([^"]*)"/i.exec(head)?.[1] ?? /name=([^;\s]+)/i.exec(head)?.[1] ?? `#${index}`;
    const p = container.path + keySegment(name);
    const text = asText(content);
    const field = layer(ctx, 'multipart', p, text ?? undefined, name);
    if (text !== null) field.children = discover(text, p, ctx, depth + 1);
    else field.children = [bytesLayer(content, p, ctx, depth + 1)];
    container.children.push(field);
    pos = next;
    index++;
  }
  return container;
}

// ---------------------------------------------------------------------------------------------
// Entry point

function header(input: DecodeInput, name: string): string | undefined {
  if (!input.headers || typeof input.headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(input.headers))
    if (k.toLowerCase() === name) return typeof v === 'string' ? v : undefined;
  return undefined;
}

function decodeBody(input: DecodeInput, root: Layer, ctx: Ctx): void {
  const body = input.body;
  if (body.length === 0) return;
  if (body.length > ctx.limits.maxInputBytes) {
    finding(
      ctx,
      'limit',
      'body',
      `body of ${body.length} bytes exceeds ${ctx.limits.maxInputBytes}: not decoded`,
    );
    return;
  }
  const contentType = input.contentType ?? header(input, 'content-type') ?? '';
  const encoding = (header(input, 'content-encoding') ?? '').toLowerCase().trim();
  let bytes: Buffer | null = body;
  let at = root;
  if (encoding === 'gzip' || encoding === 'deflate') {
    const kind: InflateKind = encoding === 'gzip' ? 'gzip' : isZlib(body) ? 'zlib' : 'deflate';
    const l = layer(ctx, kind, join(root.path, kind));
    root.children.push(l);
    at = l;
    bytes = inflate(kind, body, l.path, ctx);
    if (!bytes) return;
  }
  const boundary = /multipart\//i.test(contentType) ? boundaryOf(contentType) : null;
  if (boundary) at.children.push(multipartLayer(bytes, boundary, at.path, ctx, 0));
  else at.children.push(bytesLayer(bytes, at.path, ctx, 0));
}

/**
 * Headers that are the transport's, not the request's content: not decoded (Cookie has its own
 * layer; HTTP/2 pseudo-headers repeat the URL).
 */
const STRUCTURAL_HEADERS = new Set([
  'host',
  'content-length',
  'connection',
  'transfer-encoding',
  'content-type',
  'content-encoding',
  'accept-encoding',
  'cookie',
]);

/** The headers a firmware can carry data in, in order: every one but the structural ones. */
function contentHeaders(input: DecodeInput): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!input.headers || typeof input.headers !== 'object') return out;
  for (const [k, v] of Object.entries(input.headers)) {
    if (typeof v !== 'string' || k.startsWith(':') || STRUCTURAL_HEADERS.has(k.toLowerCase())) continue;
    out.push([k, v]);
  }
  return out;
}

/** The request's host: the URL's authority, else the Host header; normalised. */
function hostOf(input: DecodeInput, url: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url);
  let authority = m?.[1] ?? header(input, 'host') ?? '';
  if (typeof authority !== 'string') return '';
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  return normaliseHost(authority);
}

const KEY_NAMES = new Set(['mistat', 'sensors']);

/** The keys given for host patterns that cover `host` (AES key lengths only). */
function keysForHost(keys: Record<string, Buffer>, host: string): Buffer[] {
  const out: Buffer[] = [];
  if (!host) return out;
  for (const [name, key] of Object.entries(keys)) {
    if (KEY_NAMES.has(name) || !Buffer.isBuffer(key) || aesModes(key).length === 0) continue;
    if (hostMatches(name, host)) out.push(key);
  }
  return out;
}

/**
 * A cookie value, percent-decoded when it is percent-encoded through and through (as JS SDKs store
 * JSON: `%7B%22distinct_id%22…`) and decodes to UTF-8; otherwise as sent. A value that merely holds
 * escapes (a JSON string literal of percent-encoded text) is left for the decoders to unwrap in order.
 */
function cookieValue(v: string): string {
  if (!v.includes('%')) return v;
  const b = percentBytes(v);
  return b && isUtf8(b) ? b.toString('utf8') : v;
}

/** Decodes one request into a tree of layers. Never throws. */
export function decode(input: DecodeInput, limits?: Partial<DecodeLimits>): DecodeResult {
  const ctx: Ctx = {
    limits: { ...DEFAULT_LIMITS, ...limits },
    findings: [],
    nodes: 0,
    bytes: 0,
    full: false,
    noted: new Map(),
    url: typeof input?.url === 'string' ? input.url : '',
    keys: input?.keys && typeof input.keys === 'object' ? input.keys : {},
    host: '',
    hostKeys: [],
    quiet: 0,
  };
  const root = layer(ctx, 'body', 'body');
  const extra: Layer[] = [];
  try {
    ctx.host = hostOf(input, ctx.url);
    ctx.hostKeys = keysForHost(ctx.keys, ctx.host);
    const q = ctx.url.indexOf('?');
    if (q >= 0) {
      const query = ctx.url.slice(q + 1).split('#')[0] ?? '';
      if (query) extra.push(paramsLayer('query', parsePairs(query), 'query', ctx, 0));
    }
    const cookie = header(input, 'cookie');
    if (cookie) {
      const pairs = cookie
        .split(';')
        .map((c) => c.trim())
        .filter(Boolean)
        .map((c): [string, string] => {
          const i = c.indexOf('=');
          return i < 0 ? [c, ''] : [c.slice(0, i), cookieValue(c.slice(i + 1))];
        });
      extra.push(paramsLayer('cookie', pairs, 'cookie', ctx, 0));
    }
    // Every other header is discovered like a form field (Referer and Origin too: a URL's query).
    const headers = contentHeaders(input);
    if (headers.length > 0) extra.push(paramsLayer('header', headers, 'header', ctx, 0));
    if (Buffer.isBuffer(input?.body)) decodeBody(input, root, ctx);
  } catch (e) {
    finding(ctx, 'error', 'body', `decoder failure: ${e instanceof Error ? e.message : String(e)}`);
  }
  root.children.push(...extra);
  return { root, findings: ctx.findings, leaves: () => leavesOf(root) };
}

function leavesOf(root: Layer): Array<{ path: string; key: string; value: string }> {
  const out: Array<{ path: string; key: string; value: string }> = [];
  const stack: Layer[] = [root];
  while (stack.length) {
    const l = stack.pop()!;
    const v = l.value;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      out.push({ path: l.path, key: l.key ?? '', value: String(v) });
    for (let i = l.children.length - 1; i >= 0; i--) stack.push(l.children[i]!);
  }
  return out;
}
