/**
 * The detector (issue 4 §4): for one decoded request, which tracker it went to and where the
 * scenario's canaries and the phone's identifiers sit, each finding with the provenance path of the
 * layer and the encoding it matched in. `createDetector()` does the expensive work once (catalogue,
 * needle variants, automaton); `run()` is the per-exchange hot path: one catalogue lookup, then one
 * walk over the decoded tree scanning each layer's value and key once (keys seen before without a
 * needle are skipped: telemetry repeats the same few keys in every event).
 *
 * Findings, in this order:
 * - `tracker`: the catalogue entry (path `url` for a host+path rule, `host` for a host-only rule, the
 *   layer's path for a layer rule such as generic Sensors Analytics on an unknown host);
 * - `canary` / `identifier`: in the URL (path `url`), the host (`host`), then decoded layers in tree
 *   order (body, query, cookies, request headers: `header.X-Ctx › base32 › gzip › json.url`); one
 *   finding per needle, path and encoding; detail `in a key` when only a key matched; a
 *   base64/urlencoded/hex match is left out when a decoded layer below it has the same needle, and
 *   any match when a transform below it (base32, percent, json-string…) has it;
 * - `opaque` / `limit`: the decoder's own findings (its `error`s become `limit`s), value = its detail.
 * `tls` findings are not made here: a failed handshake has no decoded request (src/inspect makes them).
 */
import { SEP, type DecodeResult, type Layer } from '../decode/index.ts';
import { loadCatalogue, type Catalogue, type TrackerInfo } from './catalogue.ts';
import { encodingIn, NeedleMatcher } from './needles.ts';

export type FindingKind = 'canary' | 'identifier' | 'tracker' | 'opaque' | 'limit' | 'tls';

export interface Finding {
  kind: FindingKind;
  /** canary/identifier: exactly as given by the caller; tracker: the catalogue entry id; opaque/limit/tls: a short description */
  value: string;
  /** provenance path of the layer where it matched ('url' / 'host' for tracker findings) */
  path: string;
  /**
   * how it matched in the layer's value: 'plain' | 'urlencoded' | 'base64' | 'base64url' | 'hex' |
   * 'md5' | 'sha1' | 'sha256'; 'n/a' for non-match kinds. Encodings the decoder unwrapped show in
   * the path instead (`header.X-Ctx › base32 › gzip › json[0].url`, encoding 'plain').
   */
  encoding: string;
  /** identifier name (e.g. 'android_id') for identifier findings */
  name?: string;
  /** free text, e.g. "in a key" or the decoder's detail */
  detail?: string;
}

export interface Identifier {
  name: string;
  value: string;
}

export interface DetectorOptions {
  canaries?: readonly string[];
  identifiers?: readonly Identifier[];
  /** Default: the shipped catalogue (loadCatalogue()). */
  catalogue?: Catalogue;
}

export interface DetectRequest {
  method: string;
  url: string;
  host: string;
}

export interface DetectResult {
  tracker: TrackerInfo | null;
  findings: Finding[];
}

export interface Detector {
  /** tracker for the request, plus every finding: tracker match, canaries, identifiers, and the decoder's opaque/limit findings turned into Findings */
  run(req: DetectRequest, decoded: DecodeResult): DetectResult;
}

interface Needle {
  kind: 'canary' | 'identifier';
  value: string;
  name?: string;
}

/** The path part of a request URL (absolute or origin-form), query included. */
export function pathOf(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url.startsWith('/') ? url : '/';
  for (let i = scheme + 3; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x2f) return url.slice(i); // /
    if (c === 0x3f || c === 0x23) return `/${url.slice(i)}`; // ? #
  }
  return '/';
}

function trackerFinding(t: TrackerInfo, path: string, layerKind?: string): Finding {
  const where =
    layerKind === undefined
      ? `host ${t.host}${t.path === null ? '' : `, path ${t.path}`}`
      : `a decoded '${layerKind}' layer (any host)`;
  return {
    kind: 'tracker',
    value: t.id,
    path,
    encoding: 'n/a',
    detail: `${t.vendor} ${t.category}: ${where}`,
  };
}

function decoderFinding(f: DecodeResult['findings'][number]): Finding {
  if (f.kind === 'error')
    return {
      kind: 'limit',
      value: f.detail,
      path: f.path,
      encoding: 'n/a',
      detail: `decoder error: ${f.detail}`,
    };
  return { kind: f.kind, value: f.detail, path: f.path, encoding: 'n/a', detail: f.detail };
}

const CLEAN_KEYS_MAX = 10_000;

/** Encodings the decoder itself unwraps: a match in such a form is repeated, plain, below it. */
const UNWRAPPED = new Set(['base64', 'base64url', 'urlencoded', 'hex']);

/**
 * Layers that decode the very string above them (src/decode LayerKinds): what that string shows, in
 * whatever encoding (a JSON string literal or a percent-encoded text keeps much of its content
 * plain), is repeated below.
 */
const TRANSFORMS = new Set(['base64', 'base64url', 'hex', 'base32', 'percent', 'json-string']);

/** Whether `inner` is a layer decoded from the string at `outer` (by any decoder, or by a transform). */
function copies(outer: Finding, inner: Finding): boolean {
  if (inner === outer || inner.kind !== outer.kind || inner.value !== outer.value) return false;
  const prefix = `${outer.path}${SEP}`;
  if (!inner.path.startsWith(prefix)) return false;
  if (UNWRAPPED.has(outer.encoding)) return true;
  const end = inner.path.indexOf(SEP, prefix.length);
  return TRANSFORMS.has(inner.path.slice(prefix.length, end < 0 ? undefined : end));
}

/**
 * Drops a match in a layer when the same needle is also found in a layer decoded from it (a path
 * below it): a base64/base64url/urlencoded/hex match below any decoder, and any match below a
 * transform (`header.X › percent › json.url` rather than the raw header). The deeper finding says
 * more, and one upload should not read as two leaks. (A URL and its `query` layer, or a string and
 * the JSON document in it, both keep their plain matches.)
 */
function withoutOuterCopies(found: Finding[]): Finding[] {
  if (found.length < 2) return found;
  return found.filter((f) => !found.some((g) => copies(f, g)));
}

export function createDetector(opts: DetectorOptions = {}): Detector {
  const catalogue = opts.catalogue ?? loadCatalogue();
  const needles: Needle[] = [];
  const given = new Set<string>();
  const add = (n: Needle): void => {
    const key = `${n.kind}\0${n.name ?? ''}\0${n.value}`;
    if (!given.has(key)) needles.push(n); // the same needle twice would give every finding twice
    given.add(key);
  };
  for (const value of opts.canaries ?? []) add({ kind: 'canary', value });
  for (const { name, value } of opts.identifiers ?? []) add({ kind: 'identifier', value, name });
  for (const n of needles)
    if (typeof n.value !== 'string' || n.value === '')
      throw new TypeError(
        `${n.kind} ${n.name ?? ''} must be a non-empty string; got ${JSON.stringify(n.value)}`,
      );
  const matcher = new NeedleMatcher(needles.map((n) => n.value));
  const { variants } = matcher;
  const layerKinds = catalogue.layerKinds;
  /** Keys known to hold no needle (a key's matches depend on the key alone). */
  const cleanKeys = new Set<string>();

  return {
    run(req, decoded) {
      const found: Finding[] = [];
      const seen = new Set<string>();
      const hits: number[] = [];
      /** Reports the needles in `text`; true when there was any. */
      const scan = (text: string, path: string, inKey: boolean): boolean => {
        matcher.scan(text, hits);
        if (hits.length === 0) return false;
        for (const id of hits) {
          const v = variants[id]!;
          const encoding = encodingIn(v, text);
          const key = `${v.needle}\0${encoding}\0${path}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const n = needles[v.needle]!;
          const f: Finding = { kind: n.kind, value: n.value, path, encoding };
          if (n.name !== undefined) f.name = n.name;
          const detail = [inKey ? 'in a key' : '', v.detail ?? ''].filter(Boolean).join('; ');
          if (detail) f.detail = detail;
          found.push(f);
        }
        hits.length = 0;
        return true;
      };

      let tracker = catalogue.match(req.host, pathOf(req.url));
      const wantLayer = tracker === null && layerKinds.size > 0;
      let layerHit: Layer | undefined;

      if (!matcher.empty) {
        scan(req.url, 'url', false);
        scan(req.host, 'host', false);
      }
      if (!matcher.empty || wantLayer) {
        const stack: Layer[] = [decoded.root];
        while (stack.length) {
          const l = stack.pop()!;
          if (wantLayer && layerHit === undefined && layerKinds.has(l.kind)) {
            layerHit = l;
            if (matcher.empty) break;
          }
          if (!matcher.empty) {
            const v = l.value;
            if (typeof v === 'string') scan(v, l.path, false);
            else if (typeof v === 'number' || typeof v === 'boolean') scan(String(v), l.path, false);
            const k = l.key;
            if (k && !cleanKeys.has(k)) {
              // Keys repeat across events (`properties`, `$lib`…): remember those without a needle.
              if (!scan(k, l.path, true)) {
                if (cleanKeys.size >= CLEAN_KEYS_MAX) cleanKeys.clear();
                cleanKeys.add(k);
              }
            }
          }
          for (let i = l.children.length - 1; i >= 0; i--) stack.push(l.children[i]!);
        }
      }
      const findings: Finding[] = [];
      if (tracker) findings.push(trackerFinding(tracker, tracker.path === null ? 'host' : 'url'));
      else if (layerHit) {
        tracker = catalogue.matchLayer(layerHit.kind);
        if (tracker) findings.push(trackerFinding(tracker, layerHit.path, layerHit.kind));
      }
      findings.push(...withoutOuterCopies(found));
      for (const f of decoded.findings) findings.push(decoderFinding(f));
      return { tracker, findings };
    },
  };
}
