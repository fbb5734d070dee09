/**
 * The tracker catalogue (issue 4 §4): which endpoint a request went to, as data. Entries live in
 * `trackers.json` (each with the source of its facts) so that adding a host is a data change, not a
 * code change. This module validates the file once at load against its zod schema (the one contract),
 * with messages that name the file, the entry and the field, and compiles it into indexes for the per-exchange lookup:
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
import { z } from 'zod';
import { fieldPath, firstIssue } from '../util/field-path.ts';
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

/** `<want>; got <the value>`, as an entry's field problems read. */
const got =
  (want: string) =>
  (iss: { input?: unknown }): string =>
    `${want}; got ${JSON.stringify(iss.input) ?? 'nothing'}`;

/** An object that refuses unknown fields, naming the first and the allowed ones; `what` words a non-object. */
function strict<S extends z.ZodRawShape>(shape: S, what: string, allowed = 'allowed') {
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown field "${iss.keys[0]}"; ${allowed}: ${Object.keys(shape).join(', ')}`
        : iss.code === 'invalid_type'
          ? what
          : undefined,
  });
}

/** A string matching `re`, worded `must be <what>` (with the value when `withValue`). */
function matching(re: RegExp, want: string, withValue = true) {
  const error = withValue ? got(want) : want;
  return z.string({ error }).regex(re, { error });
}

/** An optional non-empty list of `item`s (absent: none), `what` naming them. */
function list(item: z.ZodType<string>, what: string) {
  const error = got(`must be a non-empty array of ${what}`);
  return z.array(item, { error }).min(1, { error }).default([]);
}

const HOST_RE = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const DOMAIN_RE = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const PATH_RE = /^\/[^\s?#]*$/;
const PACKAGE_RE = /^[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+$/;
const DELAY_PROBLEM = 'must be a whole number of milliseconds from 0 to 3600000';
const TEXT = 'is required: a non-empty string';

const uploadSchema = strict(
  {
    delayMs: z
      .int({ error: DELAY_PROBLEM })
      .min(0, { error: DELAY_PROBLEM })
      .max(3_600_000, { error: DELAY_PROBLEM }),
    persistentQueue: z.boolean({ error: 'must be true or false' }),
    flushOnBackground: z.boolean({ error: 'must be true or false' }),
    source: matching(/\S/, 'must say where the timing comes from', false),
  },
  'must be an object with delayMs, persistentQueue, flushOnBackground, source',
);

const layerKinds = `layer kinds (${IDENTIFYING_LAYERS.join(', ')})`;
const entrySchema = strict(
  {
    id: matching(
      /^[a-z0-9][a-z0-9-]*$/,
      'is required: lower-case letters, digits and dashes (e.g. "miui-analytics")',
    ),
    vendor: matching(/\S/, TEXT),
    category: z.enum(TRACKER_CATEGORIES, { error: got(`must be one of ${TRACKER_CATEGORIES.join(', ')}`) }),
    decoder: z
      .enum(DECODER_HINTS, {
        error: got(`must be null or one of ${DECODER_HINTS.join(', ')} (write null when unknown)`),
      })
      .nullable(),
    hosts: list(
      matching(HOST_RE, 'must be lower-case host names, optionally "*.suffix"'),
      'lower-case host names, optionally "*.suffix"',
    ),
    paths: list(
      matching(PATH_RE, 'must be path prefixes starting with "/" (no query)'),
      'path prefixes starting with "/" (no query)',
    ),
    layers: list(z.enum(IDENTIFYING_LAYERS, { error: got(`must be ${layerKinds}`) }), layerKinds),
    source: matching(/\S/, TEXT),
    notes: z.string({ error: got('must be a string when present') }).optional(),
    upload: uploadSchema.optional(),
    apps: list(matching(PACKAGE_RE, 'must be package names'), 'package names'),
  },
  'must be an object with id, vendor, category, decoder, hosts or layers, source',
  'allowed fields',
);

const nonEmpty = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' });
const vendorSchema = strict(
  {
    name: nonEmpty,
    domains: z
      .array(matching(DOMAIN_RE, 'must be a lower-case domain name (no "*.")'), {
        error: 'must be a non-empty array of domain names',
      })
      .min(1, { error: 'must be a non-empty array of domain names' }),
    source: nonEmpty,
  },
  'must be an object with name, domains, source',
);

/** trackers.json: the catalogue's one contract (the checks between entries follow in parseCatalogue). */
const catalogueSchema = z.object(
  {
    trackers: z.array(entrySchema, { error: 'must be an array of tracker entries' }),
    defaults: strict({ upload: uploadSchema.optional() }, 'must be an object with "upload"').optional(),
    vendors: z.array(vendorSchema, { error: 'must be an array of {name, domains, source}' }).optional(),
  },
  { error: 'must be a JSON object with a "trackers" array' },
);

/**
 * A zod issue as the catalogue words it: inside an entry, an upload or a vendor, that part names
 * itself first (`trackers[1] (id "x")`, `trackers[1] (id "x"): field "upload"`, `defaults.upload`,
 * `vendors[0]`) and the field follows; elsewhere the field alone.
 */
function catalogueProblem(issue: z.core.$ZodIssue, json: unknown): string {
  const path = issue.path;
  const entryName = (i: number): string => {
    const id = (json as { trackers: Array<{ id?: unknown } | undefined> }).trackers[i]?.id;
    return typeof id === 'string' ? `trackers[${i}] (id "${id}")` : `trackers[${i}]`;
  };
  let part: string | undefined;
  let rest: PropertyKey[] = [];
  if (path[0] === 'trackers' && typeof path[1] === 'number') {
    part = entryName(path[1]);
    rest = path.slice(2);
    if (rest[0] === 'upload') {
      part = `${part}: field "upload"`;
      rest = rest.slice(1);
    }
  } else if (path[0] === 'vendors' && typeof path[1] === 'number') {
    part = `vendors[${path[1]}]`;
    rest = path.slice(2);
  } else if (path[0] === 'defaults' && path[1] === 'upload') {
    part = 'defaults.upload';
    rest = path.slice(2);
  } else if (issue.code === 'unrecognized_keys' && path.length) {
    part = fieldPath(path);
  }
  const message = issue.message;
  if (part === undefined) return path.length ? `field "${fieldPath(path)}" ${message}` : message;
  return rest.length ? `${part}: field "${fieldPath(rest)}" ${message}` : `${part}: ${message}`;
}

/** Parses and validates catalogue JSON; `file` names it in error messages. */
export function parseCatalogue(json: unknown, file: string): Catalogue {
  function fail(msg: string): never {
    throw new CatalogueError(`${file}: ${msg}`);
  }
  const r = catalogueSchema.safeParse(json);
  if (!r.success) return fail(catalogueProblem(firstIssue(r.error.issues), json));
  const entries: TrackerEntry[] = r.data.trackers;
  const ids = new Map<string, number>();
  /** `host path` → index of the entry that claimed it. */
  const claimed = new Map<string, number>();
  entries.forEach((entry, i) => {
    const where = `trackers[${i}] (id "${entry.id}")`;
    if (entry.hosts.length === 0 && entry.layers.length === 0)
      fail(`${where}: needs field "hosts" (host patterns) or "layers" (decoded layer kinds)`);
    if (entry.paths.length && entry.hosts.length === 0)
      fail(`${where}: field "paths" needs field "hosts"; a layer entry matches on any host and path`);
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
  });
  return new Catalogue(entries, file, r.data.defaults?.upload, r.data.vendors ?? []);
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
