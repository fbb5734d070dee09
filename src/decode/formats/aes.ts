/**
 * AES with keys the user gives (DecodeInput.keys): IV(16) ‖ AES-CBC with PKCS#7 padding, or
 * IV(12) ‖ AES-GCM ‖ tag(16). Taken only when the plaintext is gzip or text, so a wrong key never
 * passes for a right one.
 */
import { createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { asText, isGzip } from '../codecs.ts';
import { join, layer, spend, type Ctx } from '../context.ts';
import type { Layer } from '../types.ts';

/** The smallest AES output: IV(12) ‖ one byte ‖ tag(16) (GCM). */
export const AES_MIN = 29;

/** AES modes tried with a key of each length. */
export function aesModes(key: Buffer): Array<'cbc' | 'gcm'> {
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
export function aesLayer(b: Buffer, keys: Buffer[], path: string, ctx: Ctx, depth: number): Layer | null {
  const p = join(path, 'aes');
  const plain = aesDecrypt(b, keys, p, ctx);
  if (!plain) return null;
  const l = layer(ctx, 'aes', p);
  l.children.push(ctx.walk.bytes(plain, p, ctx, depth + 1));
  return l;
}
