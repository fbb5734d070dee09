/**
 * The decoding engine (issue 4 §3): the walk that turns one request into a tree of layers with
 * provenance. It owns the order in which decoders are tried — on bytes (BYTES_DECODERS), on
 * strings (stringLayer: discovery), on form and query fields (FIELD_DECODERS) — the JSON and
 * parameter walks, and decode(), the entry point that never throws. The formats themselves live in
 * formats/*.ts and recurse through `ctx.walk` (context.ts), so that none imports this module.
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
import { hostMatches, normaliseHost } from '../util/hosts.ts';
import {
  isControlFree,
  isGzip,
  isZlib,
  looksLikeForm,
  parsePairs,
  percentBytes,
  type InflateKind,
} from './codecs.ts';
import {
  depthLimit,
  finding,
  join,
  keySegment,
  layer,
  noteOnce,
  type Ctx,
  type FieldDecoder,
  type Walk,
} from './context.ts';
import { AES_MIN, aesModes } from './formats/aes.ts';
import {
  compressed,
  inflate,
  opaqueLayer,
  rawDeflate,
  residueLayer,
  type BytesDecoder,
} from './formats/bytes.ts';
import { mistatField } from './formats/mistat.ts';
import { miuiField } from './formats/miui.ts';
import { boundaryOf, multipartLayer, nestedFormDecoder, urlQueryDecoder } from './formats/params.ts';
import { sensorsField } from './formats/sensors.ts';
import {
  base32Decoder,
  base64Decoder,
  hexDecoder,
  jsonDecoder,
  jsonStringDecoder,
  percentDecoder,
  preParse,
  residueDecoder,
  type Parsed,
} from './formats/text.ts';
import {
  DEFAULT_LIMITS,
  type DecodeInput,
  type DecodeLimits,
  type DecodeResult,
  type Layer,
  type LayerKind,
} from './types.ts';

// ---------------------------------------------------------------------------------------------
// Bytes → layer

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

// ---------------------------------------------------------------------------------------------
// Text → layer

/** A whole text (a body, a decoded payload): JSON, base64, a form, or plain text. */
function textLayer(text: string, path: string, ctx: Ctx, depth: number, pre?: Parsed): Layer {
  const inner = stringLayer(text, path, ctx, depth, true, pre);
  if (inner) return inner;
  if (looksLikeForm(text)) return paramsLayer('form', parsePairs(text), join(path, 'form'), ctx, depth);
  return layer(ctx, 'text', join(path, 'text'), text);
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
      const special = FIELD_DECODERS.find((d) => d.keys.includes(k) && d.applies(k, all, ctx));
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

/** Tried in order on a form or query field; the first that applies decodes it. */
const FIELD_DECODERS: FieldDecoder[] = [sensorsField, miuiField, mistatField];
/** The only keys FIELD_DECODERS apply to: fields with any other key are discovered, never asked. */
const FIELD_KEYS = new Set(FIELD_DECODERS.flatMap((d) => d.keys));

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

/** The engine's recursion, as the formats see it. */
const WALK: Walk = { bytes: bytesLayer, text: textLayer, discover, json: jsonLayer, params: paramsLayer };

/** Decodes one request into a tree of layers. Never throws. */
export function decode(input: DecodeInput, limits?: Partial<DecodeLimits>): DecodeResult {
  const ctx: Ctx = {
    walk: WALK,
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
