/**
 * Layered decoding of captured requests with provenance (issue 4 §3). Each decoder in the tables
 * below takes bytes or a string and returns a layer or null (not its format); `decode()` never throws.
 * Formats: sensorsdata-format.md §3–5 (Sensors), xiaomi-telemetry.md §2.2 (MIUI H/B envelope) and
 * §2.4 (MiStat, opaque).
 */
import { isUtf8 } from 'node:buffer';
import { createDecipheriv } from 'node:crypto';
import {
  asText,
  base64Alphabet,
  base64Bytes,
  base64HeadRejects,
  inflateCapped,
  isControlFree,
  isGzip,
  isHex,
  isZlib,
  javaHashCode,
  looksLikeForm,
  parsePairs,
  percentDecode,
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

function inflate(kind: InflateKind, b: Buffer, path: string, ctx: Ctx, quiet = false): Buffer | null {
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
  const cap = Math.min(maxInflateBytes, remaining, Math.max(inflateAllowance, b.length * maxRatio));
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
  // Raw deflate has no magic: accept only when it inflates to text.
  ['deflate', compressed('deflate', (b) => b.length >= 8, false)],
];

function bytesLayer(b: Buffer, path: string, ctx: Ctx, depth: number): Layer {
  if (!ctx.full && depth <= ctx.limits.maxDepth) {
    for (const [, dec] of BYTES_DECODERS) {
      const l = dec(b, path, ctx, depth);
      if (l) return l;
    }
  } else if (depth > ctx.limits.maxDepth) {
    noteOnce(ctx, 'depth', path, `nesting deeper than ${ctx.limits.maxDepth} layers is not decoded`);
  }
  const p = join(path, 'opaque');
  finding(ctx, 'opaque', p, `${b.length} bytes of binary data`);
  return layer(ctx, 'opaque', p, `${b.length} bytes`);
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

function base64Decoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (s.length < 8 || isHex(s)) return null; // digits or hex: ids and hashes, not base64
  const alphabet = base64Alphabet(s);
  if (!alphabet) return null;
  if (!s.includes('\n') && !s.includes('\r')) {
    // Most ids that fit the alphabet (uuids, words) show in their first bytes that they are not
    // text: skip the decoding, but count the bytes it would have produced, as the limits do.
    let n = s.length;
    while (s.charCodeAt(n - 1) === 0x3d) n--;
    if (base64HeadRejects(s)) {
      spend(ctx, Math.floor((n * 3) / 4), path);
      return null;
    }
  }
  const b = base64Bytes(s);
  if (!spend(ctx, b.length, path)) return null;
  // Only when it decodes to something meaningful: compressed data or text.
  const compressedMagic = isGzip(b) || isZlib(b);
  if (!compressedMagic) {
    const text = asText(b);
    if (text === null || text.trim().length < 3) return null;
  }
  const p = join(path, alphabet);
  const mark = { findings: ctx.findings.length, nodes: ctx.nodes, bytes: ctx.bytes };
  const inner = bytesLayer(b, p, ctx, depth + 1);
  if (inner.kind === 'opaque' && !isGzip(b) && asText(b) === null) {
    // A zlib-looking header that did not inflate: not base64 after all.
    ctx.findings.length = mark.findings;
    for (const [tag, i] of ctx.noted) if (i >= mark.findings) ctx.noted.delete(tag);
    ctx.nodes = mark.nodes;
    ctx.bytes = mark.bytes;
    return null;
  }
  const l = layer(ctx, alphabet, p);
  l.children.push(inner);
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
    noteOnce(ctx, 'depth', path, `nesting deeper than ${ctx.limits.maxDepth} layers is not decoded`);
    return null;
  }
  return (
    jsonDecoder(s, path, ctx, depth, pre) ??
    base64Decoder(s, path, ctx, depth) ??
    urlQueryDecoder(s, path, ctx, depth) ??
    (whole ? null : nestedFormDecoder(s, path, ctx, depth)) // textLayer handles whole forms itself
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
  kind: 'query' | 'form' | 'cookie',
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
    if (kind !== 'cookie' && FIELD_KEYS.has(k)) {
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
      const j = jsonDecoder(value, path, ctx, depth + 1);
      if (encryptedFlag || (j && encryptedEnvelope(j.value))) {
        summary.encrypted = true;
        const why = encryptedFlag ? `gzip=${gzip}` : 'envelope without gzip flag';
        finding(ctx, 'opaque', meta.path, `encrypted Sensors payload (${why}); no key`);
      }
      // The envelope itself is cleartext JSON (key_id, key_hash, pkv, ekey).
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
    const key = Object.hasOwn(ctx.keys, 'mistat') ? ctx.keys.mistat : undefined;
    if (key === undefined) {
      finding(ctx, 'opaque', p, `MiStat payload (${value.length} chars): AES with a session key`);
      return [layer(ctx, 'mistat', p, summary)];
    }
    const l = layer(ctx, 'mistat', p, summary);
    summary.decrypted = false;
    const aesPath = join(p, 'aes');
    const plain = mistatDecrypt(value, key, aesPath, ctx);
    if (!plain) return [l];
    // The SDK's order is JSON → gzip → AES: a right key gives gzip (1 in 256 wrong keys pass the padding check).
    if (!isGzip(plain)) {
      finding(ctx, 'error', aesPath, 'MiStat: wrong key (the plaintext is not gzip)');
      return [l];
    }
    summary.decrypted = true;
    const aes = layer(ctx, 'aes', aesPath);
    l.children.push(aes);
    aes.children.push(bytesLayer(plain, aesPath, ctx, depth + 1));
    return [l];
  },
};

/** IV(16) ‖ AES-128-CBC with PKCS#7 padding; a finding (never a throw) for a wrong key or bad input. */
function mistatDecrypt(value: string, key: Buffer, path: string, ctx: Ctx): Buffer | null {
  if (!Buffer.isBuffer(key) || key.length !== 16) {
    finding(
      ctx,
      'error',
      path,
      `MiStat key must be 16 bytes (AES-128), got ${Buffer.isBuffer(key) ? key.length : typeof key}`,
    );
    return null;
  }
  const s = plusAndOneLine(value);
  if (!base64Alphabet(s)) {
    finding(ctx, 'error', path, 'MiStat payload is not base64');
    return null;
  }
  const sealed = base64Bytes(s);
  if (sealed.length < 32 || sealed.length % 16 !== 0) {
    finding(ctx, 'error', path, `MiStat payload of ${sealed.length} bytes is not IV + AES-CBC blocks`);
    return null;
  }
  // The plaintext is at most the ciphertext less the IV: count that before decrypting.
  if (!spend(ctx, sealed.length - 16, path)) return null;
  try {
    const d = createDecipheriv('aes-128-cbc', key, sealed.subarray(0, 16));
    return Buffer.concat([d.update(sealed.subarray(16)), d.final()]);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    finding(ctx, 'error', path, `MiStat: wrong key (AES-CBC padding check failed: ${why})`);
    return null;
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
  if (!input.headers) return undefined;
  for (const [k, v] of Object.entries(input.headers)) if (k.toLowerCase() === name) return v;
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
  };
  const root = layer(ctx, 'body', 'body');
  const extra: Layer[] = [];
  try {
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
          return i < 0 ? [c, ''] : [c.slice(0, i), percentDecode(c.slice(i + 1), false)];
        });
      extra.push(paramsLayer('cookie', pairs, 'cookie', ctx, 0));
    }
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
