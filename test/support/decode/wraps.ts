/**
 * The wire formats of issue 10's hostile emitters, written here from their definitions (RFC 4648,
 * RFC 1951, JSON) independently of src/virtual/telemetry/transport.ts, so that the decoders are
 * checked against the contract and not against one implementation of it: wraps applied in order to
 * a payload, the carriers that take it (body, query, header, cookie), and the ciphers.
 */
import { isUtf8 } from 'node:buffer';
import { createCipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, gzipSync } from 'node:zlib';
import type { DecodeInput } from '../../../src/decode/index.ts';
import { WRAP_ENCODINGS } from '../../../src/virtual/profiles/schema.ts';

/** The wrap encodings the virtual lab's emitters apply (one list: the profile schema's). */
export const WRAPS = WRAP_ENCODINGS;
export type Wrap = (typeof WRAPS)[number];

/** Wraps whose output is text a header or cookie can carry. */
export const TEXT_WRAPS: readonly Wrap[] = ['base64', 'base64url', 'hex', 'base32', 'percent', 'json-string'];

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(b: Buffer): string {
  let out = '';
  for (let i = 0; i < b.length; i += 5) {
    const chunk = b.subarray(i, i + 5);
    let bits = 0n;
    for (let k = 0; k < 5; k++) bits = (bits << 8n) | BigInt(chunk[k] ?? 0);
    const chars = Math.ceil((chunk.length * 8) / 5);
    for (let k = 0; k < 8; k++) out += k < chars ? B32[Number((bits >> BigInt(35 - 5 * k)) & 31n)] : '=';
  }
  return out;
}

function percent(b: Buffer): string {
  let out = '';
  for (const x of b) {
    const c = String.fromCharCode(x);
    out += /^[A-Za-z0-9\-_.~]$/.test(c) ? c : `%${x.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** One wrap. `json-string` needs UTF-8 text (wrapChain never gives it anything else). */
export function wrap(w: Wrap, b: Buffer): Buffer {
  switch (w) {
    case 'base64':
      return Buffer.from(b.toString('base64'));
    case 'base64url':
      return Buffer.from(b.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));
    case 'hex':
      return Buffer.from(b.toString('hex'));
    case 'base32':
      return Buffer.from(base32(b));
    case 'percent':
      return Buffer.from(percent(b));
    case 'gzip':
      return gzipSync(b);
    case 'deflate':
      return deflateRawSync(b);
    case 'json-string':
      return Buffer.from(JSON.stringify(b.toString('utf8')));
  }
}

export function wrapChain(chain: readonly Wrap[], b: Buffer): Buffer {
  return chain.reduce((x, w) => wrap(w, x), b);
}

/** Whether a firmware can apply `chain` (to text, or to binary): json-string only to UTF-8 text. */
export function validChain(chain: readonly Wrap[], fromText = true): boolean {
  let text = fromText;
  for (const w of chain) {
    if (w === 'json-string' && !text) return false;
    text = w !== 'gzip' && w !== 'deflate';
  }
  return true;
}

export type Carrier = 'body' | 'query' | 'header' | 'cookie';

/** The request a firmware sends with `payload` (wrapped by `chain`) in `carrier`. */
export function carry(
  carrier: Carrier,
  payload: Buffer,
  chain: readonly Wrap[],
  url = 'https://up.example.net/v1/c',
): DecodeInput {
  const text = payload.toString('utf8');
  switch (carrier) {
    case 'body':
      return { body: payload, url, contentType: 'text/plain', headers: { 'User-Agent': 'Dalvik/2.1.0' } };
    case 'query': {
      const v = chain[chain.length - 1] === 'percent' ? text : encodeURIComponent(text);
      return { body: Buffer.alloc(0), url: `${url}?v=2&d=${v}` };
    }
    case 'header':
      return { body: Buffer.alloc(0), url, headers: { 'X-MI-Ctx': text, Accept: '*/*' } };
    case 'cookie':
      return { body: Buffer.alloc(0), url, headers: { Cookie: `sid=1; ctx=${text}` } };
  }
}

/** Where the carrier puts the payload in the decoded tree. */
export function carrierPath(carrier: Carrier): string {
  return { body: 'body', query: 'query.d', header: 'header.X-MI-Ctx', cookie: 'cookie.ctx' }[carrier];
}

/**
 * The layer names a chain leaves in the path, outermost first. A query (or cookie) value that is
 * percent-encoded text arrives decoded, so its percent layer is silent; percent-encoded binary stays
 * encoded (no byte may be lost) and shows.
 */
export function chainPath(carrier: Carrier, chain: readonly Wrap[], payload: Buffer): string[] {
  const layers: string[] = [];
  let b = payload;
  for (let i = 0; i < chain.length; i++) {
    const next = wrap(chain[i]!, b);
    // Percent-encoding of unreserved characters only (hex, base64url) changes nothing: no layer.
    if (chain[i] !== 'percent' || !next.equals(b)) {
      const silent =
        i === chain.length - 1 &&
        chain[i] === 'percent' &&
        (carrier === 'query' || carrier === 'cookie') &&
        isUtf8(b);
      // base64url text without `-` or `_` is base64 text too, and named so.
      const name = chain[i] === 'base64url' && !/[-_]/.test(next.toString()) ? 'base64' : chain[i]!;
      if (!silent) layers.unshift(name);
    }
    b = next;
  }
  return layers;
}

export type Cipher = 'aes-128-cbc' | 'aes-256-gcm';

/** aes-128-cbc: IV(16) ‖ AES-CBC-PKCS7; aes-256-gcm: IV(12) ‖ ciphertext ‖ tag(16). */
export function seal(cipher: Cipher, key: Buffer, plain: Buffer, iv?: Buffer): Buffer {
  if (cipher === 'aes-128-cbc') {
    const v = iv ?? randomBytes(16);
    const c = createCipheriv('aes-128-cbc', key, v);
    return Buffer.concat([v, c.update(plain), c.final()]);
  }
  const v = iv ?? randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, v);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([v, body, c.getAuthTag()]);
}
