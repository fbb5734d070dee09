/**
 * The tracker catalogue (issue 4 §4): which endpoint a request went to, as data. Entries live in
 * `trackers.json` (each with the source of its facts) so that adding a host is a data change, not a
 * code change. This module validates the file once at load, with messages that name the file, the
 * entry and the field, and compiles it into indexes for the per-exchange lookup:
 * - host patterns: an exact name, or `*.suffix` for `suffix` itself and any name below it, the one
 *   meaning src/util/hosts.ts gives patterns everywhere (capture rules, assertions);
 * - path patterns: prefixes ending at a segment boundary (`/sa` matches `/sa` and `/sa/x`, not `/sa.gif`);
 * - precedence: host+path entries beat host-only ones, a longer path beats a shorter one, an exact host
 *   beats a wildcard, a longer wildcard suffix beats a shorter one;
 * - layer entries (`layers: ["sensors"]`) name a decoded layer kind that identifies a tracker on any
 *   host; the detector consults them only when no host rule matched (sensorsdata-format.md §5: key on
 *   parameters, not on the path).
 * - `upload` (per entry, or `defaults.upload` for entries without one and for hosts no entry lists):
 *   how late the channel's SDK may send what it queued (its flush interval), whether its queue
 *   survives the app's process, and whether it flushes when the app goes to the background. The
 *   scenario executor waits that long before a negative verdict when no positive control measured it.
 * - `apps` (per entry): packages known to upload to it; their traffic outside the capture counts
 *   against a negative verdict even when the scenario never drove them.
 * - `vendors`: the registrable domains each vendor owns, so `to: vendor Xiaomi` also covers a Xiaomi
 *   host that no entry lists (e.g. `t.browser.miui.com`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { normaliseHost as normaliseHostName, underDomain } from '../util/hosts.ts';
import { UserFacingError } from '../util/user-facing.ts';

/** Used when a catalogue file gives no `defaults.upload` (a catalogue made in a test). */
const FALLBACK_UPLOAD: UploadTiming = {
  delayMs: 15_000,
  persistentQueue: true,
  flushOnBackground: true,
  source:
    'Sensors Analytics Android SDK defaults (android-realities.md §6): flush interval 15 s, SQLite queue',
};

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
  /** The channel's upload timing (absent: the catalogue's default). */
  upload?: UploadTiming;
  /** Packages known to upload to this tracker. */
  apps: readonly string[];
}

/** How late an SDK may send what it queued (catalogue data with its source). */
export interface UploadTiming {
  /** The longest the SDK may hold an event before it sends it by itself (its flush interval). */
  delayMs: number;
  /** The queue survives the app's process (force-stop) and is sent at the next launch. */
  persistentQueue: boolean;
  /** The SDK sends its queue when its app goes to the background. */
  flushOnBackground: boolean;
  source: string;
}

/** A vendor's registrable domains. */
export interface VendorDomains {
  name: string;
  domains: readonly string[];
  source: string;
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
  'upload',
  'apps',
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
    /** Timing for entries without their own and for hosts no entry lists. */
    readonly defaultUpload: UploadTiming = FALLBACK_UPLOAD,
    readonly vendors: readonly VendorDomains[] = [],
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

  /** The entry with this id. */
  entry(id: string): TrackerEntry | undefined {
    return this.entries.find((e) => e.id === id);
  }

  /** The upload timing of an entry (its own, else the default). */
  uploadOf(id: string | undefined): UploadTiming {
    return (id !== undefined ? this.entry(id)?.upload : undefined) ?? this.defaultUpload;
  }

  /** The vendor whose domains cover `host` (`Xiaomi` for `t.browser.miui.com`), if any. */
  vendorOfHost(host: string): VendorDomains | undefined {
    return this.vendors.find((v) => underDomain(v.domains, host) !== undefined);
  }

  /** Every package an entry names in `apps`. */
  senderApps(): string[] {
    return [...new Set(this.entries.flatMap((e) => e.apps))].sort();
  }

  /** The layer entry for a decoded layer kind, if any. */
  matchLayer(kind: string): TrackerInfo | null {
    return this.byLayer.get(kind) ?? null;
  }

  /** Candidate rules for a host, best first (path rules by length, then host-only; exact host first). */
  private rulesFor(host: string): readonly Rule[] {
    const cached = this.hostCache.get(host);
    if (cached) return cached;
    // `*.suffix` covers the suffix itself too (src/util/hosts.ts).
    const found: Rule[] = [...(this.exact.get(host) ?? []), ...(this.wildcard.get(`.${host}`) ?? [])];
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

/** The one host normalisation of phonehome (src/util/hosts.ts); IPv6 literals stay bracketed-free. */
function normaliseHost(host: string): string {
  return normaliseHostName(host);
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
  const top = json as { defaults?: unknown; vendors?: unknown };
  let defaultUpload: UploadTiming | undefined;
  if (top.defaults !== undefined) {
    if (typeof top.defaults !== 'object' || top.defaults === null || Array.isArray(top.defaults))
      fail('field "defaults" must be an object with "upload"');
    const d = top.defaults as Record<string, unknown>;
    for (const k of Object.keys(d))
      if (k !== 'upload') fail(`defaults: unknown field "${k}"; allowed: upload`);
    if (d.upload !== undefined) defaultUpload = parseUpload(d.upload, 'defaults.upload', fail);
  }
  const vendors: VendorDomains[] = [];
  if (top.vendors !== undefined) {
    if (!Array.isArray(top.vendors)) fail('field "vendors" must be an array of {name, domains, source}');
    (top.vendors as unknown[]).forEach((raw, i) => {
      const where = `vendors[${i}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        fail(`${where}: must be an object with name, domains, source`);
      const v = raw as Record<string, unknown>;
      for (const k of Object.keys(v))
        if (!['name', 'domains', 'source'].includes(k))
          fail(`${where}: unknown field "${k}"; allowed: name, domains, source`);
      if (typeof v.name !== 'string' || !v.name) fail(`${where}: field "name" must be a non-empty string`);
      if (typeof v.source !== 'string' || !v.source)
        fail(`${where}: field "source" must be a non-empty string`);
      if (!Array.isArray(v.domains) || v.domains.length === 0)
        fail(`${where}: field "domains" must be a non-empty array of domain names`);
      (v.domains as unknown[]).forEach((d, j) => {
        if (typeof d !== 'string' || !HOST_RE.test(d) || d.startsWith('*.'))
          fail(
            `${where}: field "domains[${j}]" must be a lower-case domain name (no "*."); got ${JSON.stringify(d)}`,
          );
      });
      vendors.push({ name: v.name, domains: v.domains as string[], source: v.source });
    });
  }
  return new Catalogue(entries, file, defaultUpload, vendors);
}

function parseUpload(raw: unknown, where: string, fail: (msg: string) => never): UploadTiming {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    fail(`${where}: must be an object with delayMs, persistentQueue, flushOnBackground, source`);
  const o = raw as Record<string, unknown>;
  const keys = ['delayMs', 'persistentQueue', 'flushOnBackground', 'source'];
  for (const k of Object.keys(o))
    if (!keys.includes(k)) fail(`${where}: unknown field "${k}"; allowed: ${keys.join(', ')}`);
  if (typeof o.delayMs !== 'number' || !Number.isInteger(o.delayMs) || o.delayMs < 0 || o.delayMs > 3_600_000)
    fail(`${where}: field "delayMs" must be a whole number of milliseconds from 0 to 3600000`);
  for (const k of ['persistentQueue', 'flushOnBackground'])
    if (typeof o[k] !== 'boolean') fail(`${where}: field "${k}" must be true or false`);
  if (typeof o.source !== 'string' || !o.source.trim())
    fail(`${where}: field "source" must say where the timing comes from`);
  return {
    delayMs: o.delayMs,
    persistentQueue: o.persistentQueue as boolean,
    flushOnBackground: o.flushOnBackground as boolean,
    source: o.source,
  };
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
  const apps = strings('apps', /^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$/, 'package names');
  const entry: TrackerEntry = {
    id,
    vendor,
    category: category as TrackerCategory,
    decoder: decoder as DecoderHint | null,
    hosts,
    paths,
    layers,
    source,
    apps,
  };
  if (typeof o.notes === 'string') entry.notes = o.notes;
  if (o.upload !== undefined) entry.upload = parseUpload(o.upload, `${where}: field "upload"`, fail);
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
