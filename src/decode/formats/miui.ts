/** The MIUI analytics H/B envelope in a `value` form field (xiaomi-telemetry.md §2.2). */
import { asText, base64Alphabet, base64Bytes, isGzip, plusAndOneLine } from '../codecs.ts';
import { join, layer, type FieldDecoder } from '../context.ts';
import { inflate } from './bytes.ts';

/** MIUI analytics H/B envelope: `value` (base64url of the JSON or its gzip) with `gzip`, `ts`, `nonce`, `sign`. */
export const miuiField: FieldDecoder = {
  name: 'miui-envelope',
  keys: ['value'],
  applies: (_key, fields) => fields.has('gzip') || fields.has('sign') || fields.has('nonce'),
  decode(value, path, fields, ctx, depth) {
    const s = plusAndOneLine(value);
    if (!base64Alphabet(s)) return ctx.walk.discover(value, path, ctx, depth + 1);
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
      at.children.push(ctx.walk.json(parsed, join(atPath, 'miui-envelope'), 'miui-envelope', ctx, depth + 1));
    } else {
      at.children.push(ctx.walk.bytes(bytes, atPath, ctx, depth + 1));
    }
    return [outer];
  },
};
