/**
 * Sensors Analytics `data` / `data_list` form fields (sensorsdata-format.md §3–5): base64 of gzip or
 * JSON with the `crc` checked, and the encrypted envelopes of the AES plugins (`gzip=9`/`13`),
 * decrypted with the `sensors` key or the keys given for the host.
 */
import { base64Alphabet, base64Bytes, isGzip, javaHashCode, plusAndOneLine } from '../codecs.ts';
import { finding, join, layer, spend, type Ctx, type FieldDecoder } from '../context.ts';
import type { Layer, LayerKind } from '../types.ts';
import { aesLayer, aesModes } from './aes.ts';
import { jsonDecoder, type Parsed } from './text.ts';

/** Sensors Analytics `data` / `data_list` (sensorsdata-format.md §5). */
const isJsonish = (v: string): boolean => /^\s*[[{]/.test(v);

/** Envelope keys of the encryption plugins (sensorsdata-format.md §3.4, §3.6). */
function encryptedEnvelope(v: unknown): boolean {
  const o: unknown = Array.isArray(v) ? v[0] : v;
  return !!o && typeof o === 'object' && ('payloads' in o || 'payload' in o || 'ekey' in o);
}

export const sensorsField: FieldDecoder = {
  name: 'sensors',
  keys: ['data', 'data_list'],
  applies: (key, fields) => {
    if (key === 'data_list') return true;
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
      } else out.push(...ctx.walk.discover(value, path, ctx, depth + 1));
      return out;
    }
    const alphabet = base64Alphabet(text);
    if (!alphabet) {
      if (gzip !== undefined || crcText !== undefined)
        finding(ctx, 'error', meta.path, 'Sensors payload is neither base64 nor JSON');
      out.push(...ctx.walk.discover(value, path, ctx, depth + 1));
      return out;
    }
    const p = join(path, alphabet);
    const b64Layer = layer(ctx, alphabet, p);
    const bytes = base64Bytes(text);
    ctx.bytes += bytes.length;
    b64Layer.children.push(ctx.walk.bytes(bytes, p, ctx, depth + 1));
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

function findFirst(l: Layer, kind: LayerKind): Layer | undefined {
  const stack = [l];
  while (stack.length) {
    const x = stack.shift()!;
    if (x.kind === kind) return x;
    stack.push(...x.children);
  }
  return undefined;
}
