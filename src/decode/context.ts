/**
 * The decoding context that the engine (engine.ts) and the formats (formats/*.ts) share: the
 * per-request state with its budgets, the layer and finding constructors, provenance paths, and
 * `Walk`, the engine's recursion entry points. Formats reach the engine only through `ctx.walk`,
 * so that they never import it: the engine imports the formats, never the other way round.
 */
import type { DecodeFinding, DecodeLimits, Layer, LayerKind } from './types.ts';

export const SEP = ' › ';

/** The engine's recursion: what a format calls to decode what it unwrapped. */
export interface Walk {
  /** Bytes: compressed, text or residue. */
  bytes(b: Buffer, path: string, ctx: Ctx, depth: number): Layer;
  /** A whole text (a body, a decoded payload): JSON, an encoding, a form, or plain text. */
  text(text: string, path: string, ctx: Ctx, depth: number): Layer;
  /** Children for a string value: what discovery finds inside it. */
  discover(s: string, path: string, ctx: Ctx, depth: number): Layer[];
  /** A parsed JSON value as a layer of `kind`, its members walked and discovered. */
  json(v: unknown, path: string, kind: LayerKind, ctx: Ctx, depth: number): Layer;
  /** Key/value pairs as a container layer, each value discovered (or given to a field decoder). */
  params(
    kind: 'query' | 'form' | 'cookie' | 'header',
    pairs: Array<[string, string]>,
    path: string,
    ctx: Ctx,
    depth: number,
  ): Layer;
}

export interface Ctx {
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
  walk: Walk;
}

/**
 * A decoder of one form or query field whose format its key (and its sibling fields) tell: the
 * engine hands it the field instead of discovering the value. `keys` are the only field keys it
 * applies to; `applies` is asked only for those.
 */
export interface FieldDecoder {
  name: string;
  keys: readonly string[];
  applies(key: string, fields: Map<string, string>, ctx: Ctx): boolean;
  decode(value: string, path: string, fields: Map<string, string>, ctx: Ctx, depth: number): Layer[];
}

export const join = (path: string, seg: string): string => (path ? `${path}${SEP}${seg}` : seg);

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

export function finding(ctx: Ctx, kind: DecodeFinding['kind'], path: string, detail: string): void {
  if (ctx.findings.length < 1000) ctx.findings.push({ kind, path, detail });
}

export function noteOnce(ctx: Ctx, tag: string, path: string, detail: string): void {
  if (ctx.noted.has(tag)) return;
  ctx.noted.set(tag, ctx.findings.length);
  finding(ctx, 'limit', path, detail);
}

/** The note that all decoders together produced more than the total budget. */
export function totalSpent(ctx: Ctx, path: string): void {
  noteOnce(
    ctx,
    'total',
    path,
    `decoders produced more than ${ctx.limits.maxTotalBytes} bytes; the rest is not decoded`,
  );
}

/** Counts `n` more decoded bytes; false (and a note) once all decoders together passed the budget. */
export function spend(ctx: Ctx, n: number, path: string): boolean {
  ctx.bytes += n;
  if (ctx.bytes <= ctx.limits.maxTotalBytes) return true;
  totalSpent(ctx, path);
  return false;
}

export function depthLimit(ctx: Ctx, path: string): void {
  noteOnce(ctx, 'depth', path, `nesting deeper than ${ctx.limits.maxDepth} layers is not decoded`);
}

export function layer(ctx: Ctx, kind: LayerKind, path: string, value?: unknown, key?: string): Layer {
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
