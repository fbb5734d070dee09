/**
 * Text encodings a string may hide a payload in (issue 10): JSON documents and JSON string
 * literals, base64/base64url, hex, base32 and percent-encoding, each taken only when it decodes to
 * something meaningful (text, gzip/zlib, raw deflate of those), and the residue decoder, the last
 * resort that calls 40 bytes or more of random-looking encoded binary `opaque`. The engine's
 * discovery (engine.ts, stringLayer) tries them in order.
 */
import {
  asText,
  base32Bytes,
  base64Alphabet,
  base64Bytes,
  base64HeadRejects,
  base64MayBeDeflate,
  base64Start,
  hexHeadRejects,
  isBase32,
  isGzip,
  isHex,
  isZlib,
  looksDeflated,
  looksRandom,
  percentBytes,
} from '../codecs.ts';
import { join, layer, spend, type Ctx } from '../context.ts';
import type { Layer, LayerKind } from '../types.ts';
import { AES_MIN, aesLayer } from './aes.ts';
import { RESIDUE_MIN, residueLayer } from './bytes.ts';

/** A JSON document already parsed: the text it came from has no surrounding whitespace. */
export interface Parsed {
  value: unknown;
}

/** Parses a text that is a JSON object or array with no whitespace around it; otherwise undefined. */
export function preParse(text: string): Parsed | undefined {
  const c0 = text.charCodeAt(0);
  const cn = text.charCodeAt(text.length - 1);
  if (!((c0 === 0x7b && cn === 0x7d) || (c0 === 0x5b && cn === 0x5d))) return undefined;
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

export function jsonDecoder(s: string, path: string, ctx: Ctx, depth: number, pre?: Parsed): Layer | null {
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
  return ctx.walk.json(v, join(path, 'json'), 'json', ctx, depth);
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
  const inner = ctx.walk.bytes(b, p, ctx, depth + 1);
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

export function base64Decoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
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
export function hexDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
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
export function base32Decoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (!isBase32(s)) return null;
  const b = base32Bytes(s);
  if (!spend(ctx, b.length, path)) return null;
  return encodedLayer('base32', b, path, ctx, depth);
}

/**
 * A string percent-encoded through and through (unreserved characters and `%XX` only: no space,
 * `=`, `&`, `/` or `:`, so a form value, which arrives decoded, or a URL is not decoded again).
 */
export function percentDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (!s.includes('%')) return null;
  const b = percentBytes(s);
  if (!b || !spend(ctx, b.length, path)) return null;
  return encodedLayer('percent', b, path, ctx, depth);
}

/** A JSON string literal (`"…"`, JSON.stringify of a text): its content, discovered in turn. */
export function jsonStringDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
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
  l.children.push(ctx.walk.text(v, p, ctx, depth + 1));
  return l;
}

/**
 * The last resort for a string no decoder took: hex, base32, base64 or percent-encoding (of random-
 * looking text, so words and paths are left alone) that decodes to binary no decoder explains, 40
 * bytes or more: an `opaque` layer and finding (or, with a key for the host that opens it, an `aes`
 * layer). Below 40 bytes it stays a plain value unless a key opens it.
 */
export function residueDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
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
