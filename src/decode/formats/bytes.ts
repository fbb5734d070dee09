/**
 * Bytes: gzip, zlib and raw deflate within the size, ratio and total limits, and the residue that
 * no decoder explains (opened by a key given for the host, else an `opaque` layer and finding).
 */
import {
  asText,
  deflatePrefix,
  inflateCapped,
  inflateRawComplete,
  isGzip,
  isZlib,
  looksDeflated,
  type InflateKind,
} from '../codecs.ts';
import { finding, join, layer, totalSpent, type Ctx } from '../context.ts';
import type { Layer } from '../types.ts';
import { AES_MIN, aesLayer } from './aes.ts';

export type BytesDecoder = (b: Buffer, path: string, ctx: Ctx, depth: number) => Layer | null;

/** Binary residue under 40 bytes is a plain value (hashes, ids, nonces: md5 is 16 bytes, sha256 32). */
export const RESIDUE_MIN = 40;

/**
 * How many bytes inflating `b` may produce: the size and ratio limits and what is left of the total
 * budget; null (and a note) once the budget is spent.
 */
function inflateCap(b: Buffer, path: string, ctx: Ctx): number | null {
  const { maxInflateBytes, inflateAllowance, maxRatio, maxTotalBytes } = ctx.limits;
  const remaining = maxTotalBytes - ctx.bytes;
  if (remaining <= 0) {
    totalSpent(ctx, path);
    return null;
  }
  return Math.min(maxInflateBytes, remaining, Math.max(inflateAllowance, b.length * maxRatio));
}

export function inflate(kind: InflateKind, b: Buffer, path: string, ctx: Ctx, quiet = false): Buffer | null {
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

export function compressed(kind: InflateKind, test: (b: Buffer) => boolean, strict: boolean): BytesDecoder {
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
    l.children.push(ctx.walk.bytes(out, p, ctx, depth + 1));
    return l;
  };
}

/**
 * Raw deflate has no magic: a pure-JS probe of its first blocks first (zlib is slow to say no), then
 * taken only when the whole stream inflates (final block reached, every byte used: random bytes
 * that start like deflate and give a few letters do not) to text or to compressed data again.
 */
export function rawDeflate(b: Buffer, path: string, ctx: Ctx, depth: number): Layer | null {
  if (b.length < 8 || !looksDeflated(b)) return null;
  const p = join(path, 'deflate');
  const out = inflateComplete(b, p, ctx);
  if (!out || (asText(out) === null && !isGzip(out) && !isZlib(out) && !looksDeflated(out))) return null;
  const l = layer(ctx, 'deflate', p);
  l.children.push(ctx.walk.bytes(out, p, ctx, depth + 1));
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

export function opaqueLayer(b: Buffer, path: string, ctx: Ctx, detail: string): Layer {
  const p = join(path, 'opaque');
  finding(ctx, 'opaque', p, detail);
  return layer(ctx, 'opaque', p, `${b.length} bytes`);
}

/**
 * Bytes no decoder explains: decrypted with a key given for the host when one opens them (an `aes`
 * layer), otherwise an `opaque` layer and finding. `via`: the text encoding they came in.
 */
export function residueLayer(b: Buffer, path: string, ctx: Ctx, depth: number, via?: string): Layer {
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
