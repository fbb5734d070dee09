/**
 * The tracker catalogue (issue 4 §4): which endpoint a request went to, as data. Entries live in
 * `trackers.json` (each with the source of its facts) so that adding a host is a data change, not a
 * code change. This module validates the file once at load, with messages that name the file, the
 * entry and the field, and compiles it into indexes for the per-exchange lookup:
 * - host patterns: an exact name, or `*.suffix` for any subdomain of `suffix` (not `suffix` itself);
 * - path patterns: prefixes ending at a segment boundary (`/sa` matches `/sa` and `/sa/x`, not `/sa.gif`);
 * - precedence: host+path entries beat host-only ones, a longer path beats a shorter one, an exact host
 *   beats a wildcard, a longer wildcard suffix beats a shorter one;
 * - layer entries (`layers: ["sensors"]`) name a decoded layer kind that identifies a tracker on any
 *   host; the detector consults them only when no host rule matched (sensorsdata-format.md §5: key on
 *   parameters, not on the path).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserFacingError } from '../util/user-facing.ts';

export const TRACKER_CATEGORIES = [
  'analytics',
  'ads',
  'config',
  'location',
  'security',
  'diagnostics',
] as const;
export type TrackerCategory = (typeof TRACKER_CATEGORIES)[number];

/** Which decoder understands the payload (a hint for reports; src/decode discovers formats itself). */
export const DECODER_HINTS = ['sensors', 'miui-envelope', 'mistat', 'json'] as const;
export type DecoderHint = (typeof DECODER_HINTS)[number];

/** Decoded layer kinds that identify a format on their own (src/decode LayerKind values). */
export const IDENTIFYING_LAYERS = ['sensors', 'miui-envelope', 'mistat'] as const;

/** One entry of trackers.json, validated. */
export interface TrackerEntry {
  id: string;
  vendor: string;
  category: TrackerCategory;
  decoder: DecoderHint | null;
  /** Host patterns (empty for a layer-only entry). */
  hosts: readonly string[];
  /** Path prefixes; empty: any path. */
  paths: readonly string[];
  /** Decoded layer kinds that identify this tracker on any host. */
  layers: readonly string[];
  source: string;
  notes?: string;
}

/** What a lookup reports. `host`/`path` are the catalogue patterns that matched (`*` for a layer match). */
export interface TrackerInfo {
  id: string;
  vendor: string;
  category: string;
  decoder: string | null;
  host: string;
  path: string | null;
  source: string;
}

export class CatalogueError extends UserFacingError {}

interface Rule {
  info: TrackerInfo;
  /** Path prefix, or null for host-only. */
  path: string | null;
  /** Exact host: Infinity; wildcard: length of its suffix. */
  hostRank: number;
}

const ENTRY_FIELDS = new Set([
  'id',
  'vendor',
  'category',
  'decoder',
  'hosts',
  'paths',
  'layers',
  'source',
  'notes',
]);
const ID_RE = /^[a-z0-9][a-z0-9-]*$/;
const HOST_RE = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const PATH_RE = /^\/[^\s?#]*$/;
const HOST_CACHE_MAX = 4096;

/** A validated, compiled catalogue. Immutable; lookups are cached per host. */
export class Catalogue {
  readonly entries: readonly TrackerEntry[];
  /** Layer kinds with a layer entry, for the detector's tree walk. */
  readonly layerKinds: ReadonlySet<string>;
  private readonly exact = new Map<string, Rule[]>();
  /** `*.suffix` rules keyed by `.suffix`. */
  private readonly wildcard = new Map<string, Rule[]>();
  private readonly byLayer = new Map<string, TrackerInfo>();
  private readonly hostCache = new Map<string, readonly Rule[]>();

  /** @param file where the entries came from (used in error messages). */
  constructor(
    entries: readonly TrackerEntry[],
    readonly file: string,
  ) {
    this.entries = entries;
    for (const e of entries) {
      const info = (host: string, path: string | null): TrackerInfo =>
        Object.freeze({
          id: e.id,
          vendor: e.vendor,
          category: e.category,
          decoder: e.decoder,
          host,
          path,
          source: e.source,
        });
      for (const host of e.hosts) {
        const wild = host.startsWith('*.');
        const map = wild ? this.wildcard : this.exact;
        const key = wild ? host.slice(1) : host;
        const list = map.get(key) ?? [];
        map.set(key, list);
        const hostRank = wild ? key.length : Infinity;
        const paths = e.paths.length ? e.paths : [null];
        for (const path of paths) list.push({ info: info(host, path), path, hostRank });
      }
      for (const kind of e.layers) {
        if (!this.byLayer.has(kind)) this.byLayer.set(kind, info('*', null));
      }
    }
    this.layerKinds = new Set(this.byLayer.keys());
  }

  /** The best entry for a request to `host` (a port and a trailing dot are ignored) and `path`. */
  match(host: string, path: string): TrackerInfo | null {
    const rules = this.rulesFor(normaliseHost(host));
    if (rules.length === 0) return null;
    const p = stripQuery(path);
    for (const r of rules) if (r.path === null || pathMatches(p, r.path)) return r.info;
    return null;
  }

  /** The layer entry for a decoded layer kind, if any. */
  matchLayer(kind: string): TrackerInfo | null {
    return this.byLayer.get(kind) ?? null;
  }

  /** Candidate rules for a host, best first (path rules by length, then host-only; exact host first). */
  private rulesFor(host: string): readonly Rule[] {
    const cached = this.hostCache.get(host);
    if (cached) return cached;
    const found: Rule[] = [...(this.exact.get(host) ?? [])];
    for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
      const list = this.wildcard.get(host.slice(i));
      if (list) found.push(...list);
    }
    found.sort((a, b) => (b.path?.length ?? -1) - (a.path?.length ?? -1) || b.hostRank - a.hostRank);
    if (this.hostCache.size >= HOST_CACHE_MAX) this.hostCache.clear();
    this.hostCache.set(host, found);
    return found;
  }
}

function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[')) return h; // IPv6 literal: never in the catalogue
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

function stripQuery(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q >= 0) end = q;
  const f = path.indexOf('#');
  if (f >= 0 && f < end) end = f;
  return end === path.length ? path : path.slice(0, end);
}

function pathMatches(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path.charCodeAt(prefix.length) === 0x2f;
}

// ---------------------------------------------------------------------------------------------
// Loading and validation

/** Parses and validates catalogue JSON; `file` names it in error messages. */
export function parseCatalogue(json: unknown, file: string): Catalogue {
  function fail(msg: string): never {
    throw new CatalogueError(`${file}: ${msg}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    fail('must be a JSON object with a "trackers" array');
  const list = (json as { trackers?: unknown }).trackers;
  if (!Array.isArray(list)) fail('field "trackers" must be an array of tracker entries');
  const entries: TrackerEntry[] = [];
  const ids = new Map<string, number>();
  /** `host path` → index of the entry that claimed it. */
  const claimed = new Map<string, number>();
  (list as unknown[]).forEach((raw, i) => {
    const entry = parseEntry(raw, i, fail);
    const where = `trackers[${i}] (id "${entry.id}")`;
    const prev = ids.get(entry.id);
    if (prev !== undefined)
      fail(`${where}: field "id" duplicates trackers[${prev}]; give each entry its own id`);
    ids.set(entry.id, i);
    for (const host of entry.hosts) {
      for (const path of entry.paths.length ? entry.paths : ['(any path)']) {
        const key = `${host} ${path}`;
        const other = claimed.get(key);
        if (other !== undefined)
          fail(
            `${where}: host "${host}" with path "${path}" is already claimed by trackers[${other}]; ` +
              'remove it from one entry or give one of them a longer path',
          );
        claimed.set(key, i);
      }
    }
    entries.push(entry);
  });
  return new Catalogue(entries, file);
}

function parseEntry(raw: unknown, i: number, fail: (msg: string) => never): TrackerEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    fail(`trackers[${i}]: must be an object with id, vendor, category, decoder, hosts or layers, source`);
  const o = raw as Record<string, unknown>;
  const id = o.id;
  const where = typeof id === 'string' ? `trackers[${i}] (id "${id}")` : `trackers[${i}]`;
  function bad(field: string, want: string): never {
    return fail(`${where}: field "${field}" ${want}; got ${JSON.stringify(o[field]) ?? 'nothing'}`);
  }
  for (const k of Object.keys(o))
    if (!ENTRY_FIELDS.has(k))
      fail(`${where}: unknown field "${k}"; allowed fields: ${[...ENTRY_FIELDS].join(', ')}`);

  if (typeof id !== 'string' || !ID_RE.test(id))
    bad('id', 'is required: lower-case letters, digits and dashes (e.g. "miui-analytics")');
  const text = (field: string): string => {
    const v = o[field];
    if (typeof v !== 'string' || v.trim() === '') return bad(field, 'is required: a non-empty string');
    return v;
  };
  const vendor = text('vendor');
  const source = text('source');
  const category = o.category;
  if (!TRACKER_CATEGORIES.includes(category as TrackerCategory))
    bad('category', `must be one of ${TRACKER_CATEGORIES.join(', ')}`);
  const decoder = o.decoder;
  if (decoder !== null && !DECODER_HINTS.includes(decoder as DecoderHint))
    bad('decoder', `must be null or one of ${DECODER_HINTS.join(', ')} (write null when unknown)`);
  const strings = (field: string, re: RegExp | readonly string[], what: string): string[] => {
    const v = o[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length === 0) return bad(field, `must be a non-empty array of ${what}`);
    for (const [j, s] of v.entries()) {
      const ok = typeof s === 'string' && (Array.isArray(re) ? re.includes(s) : (re as RegExp).test(s));
      if (!ok) fail(`${where}: field "${field}[${j}]" must be ${what}; got ${JSON.stringify(s)}`);
    }
    return v as string[];
  };
  const hosts = strings('hosts', HOST_RE, 'lower-case host names, optionally "*.suffix"');
  const paths = strings('paths', PATH_RE, 'path prefixes starting with "/" (no query)');
  const layers = strings('layers', IDENTIFYING_LAYERS, `layer kinds (${IDENTIFYING_LAYERS.join(', ')})`);
  if (hosts.length === 0 && layers.length === 0)
    fail(`${where}: needs field "hosts" (host patterns) or "layers" (decoded layer kinds)`);
  if (paths.length && hosts.length === 0)
    fail(`${where}: field "paths" needs field "hosts"; a layer entry matches on any host and path`);
  if (o.notes !== undefined && typeof o.notes !== 'string') bad('notes', 'must be a string when present');
  const entry: TrackerEntry = {
    id,
    vendor,
    category: category as TrackerCategory,
    decoder: decoder as DecoderHint | null,
    hosts,
    paths,
    layers,
    source,
  };
  if (typeof o.notes === 'string') entry.notes = o.notes;
  return entry;
}

export const DEFAULT_CATALOGUE_FILE = fileURLToPath(new URL('./trackers.json', import.meta.url));

let defaultCatalogue: Catalogue | undefined;

/**
 * Reads and validates a catalogue file (default: the shipped trackers.json, read once and cached).
 * A named file is read on every call. Throws a CatalogueError naming the file, entry and field.
 */
export function loadCatalogue(file?: string): Catalogue {
  if (file === undefined && defaultCatalogue) return defaultCatalogue;
  const path = file ?? DEFAULT_CATALOGUE_FILE;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CatalogueError(`${path}: cannot read the tracker catalogue: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CatalogueError(`${path}: invalid JSON: ${(e as Error).message}`);
  }
  const catalogue = parseCatalogue(json, path);
  if (file === undefined) defaultCatalogue = catalogue;
  return catalogue;
}

/** The catalogue entry for a request to `host` + `path` (host rules only; see Catalogue.match). */
export function matchTracker(
  host: string,
  path: string,
  catalogue: Catalogue = loadCatalogue(),
): TrackerInfo | null {
  return catalogue.match(host, path);
}
