/** MiStat v3 uploads: the `p` form field (xiaomi-telemetry.md §2.4), opened with a given key. */
import { createDecipheriv } from 'node:crypto';
import { base64Alphabet, base64Bytes, isGzip, plusAndOneLine } from '../codecs.ts';
import { finding, join, layer, spend, type Ctx, type FieldDecoder } from '../context.ts';

/**
 * MiStat v3 upload: `p` is base64(IV(16) ‖ AES-128-CBC(gzip(JSON))) with a session key
 * (xiaomi-telemetry.md §2.4). Opaque unless `keys.mistat` is given.
 */
export const mistatField: FieldDecoder = {
  name: 'mistat',
  keys: ['p'],
  applies: (_key, fields, ctx) => fields.has('sv') || fields.has('pv') || /\/mistats\//.test(ctx.url),
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
      aes.children.push(ctx.walk.bytes(plain, aesPath, ctx, depth + 1));
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
