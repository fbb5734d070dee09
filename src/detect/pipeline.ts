/**
 * The decode → detect pipeline: one capture record → what it says (issue 4 §5, the `phonehome inspect
 * --json` contract): the request, the tracker it went to, the layers the decoders unwrapped, and the
 * findings with their provenance. Scenarios (src/scenario/evidence.ts, executor.ts) judge with it and
 * `inspect` prints it (src/inspect/format.ts), so it lives in detect, below both (issue 13). Never
 * throws: a record that breaks the decoders or detectors becomes a `limit` finding.
 */
import { decode, type Layer } from '../decode/index.ts';
import type { Detector, Finding, TrackerInfo } from './index.ts';

/**
 * A capture record as the pipeline takes it: what it reads of an exchange, and a TLS failure whole.
 * src/capture/exchange.ts's CaptureRecord fits it; it is spelled out here so that detect does not
 * import capture (which sits above it).
 */
export type AnalysedRecord =
  | {
      type: 'exchange';
      index: number;
      method: string;
      url: string;
      host: string;
      request: { headers: Record<string, string>; body: Buffer; bodySize: number; truncated: boolean };
    }
  | {
      type: 'tls-failure';
      index: number;
      startedAt: string;
      host: string;
      cause: string;
      remoteAddress?: string;
    };

export interface InspectedLayer {
  path: string;
  kind: string;
}

/**
 * How old an upload's events were when the phone sent it, from the upload's own clock fields: the
 * send time (MIUI envelope `H.st`, Sensors `_flush_time`) minus each event's time (`eventTime`,
 * `time`). Both come from the phone's clock, so no host/phone clock offset enters. Scenarios use it
 * to tell an upload of events recorded before they started (a late flush or a retry) from one of
 * their own (src/scenario/assertions.ts).
 */
export interface EventAges {
  events: number;
  /**
   * Provenance paths of the dated events (`… › miui-envelope.B[0]`, `… › json[3]`): a finding under
   * one of them is part of an old event; one elsewhere (the envelope's header, the URL) was put there
   * when the upload was sent.
   */
  paths: string[];
  /** Age of the newest event at send time, ms. */
  youngestMs: number;
  /** Age of the oldest event at send time, ms. */
  oldestMs: number;
}

export interface InspectedExchange {
  index: number;
  method: string;
  url: string;
  host: string;
  tracker: TrackerInfo | null;
  /** Every transform and container of the decoded tree, in tree order (not the scalar leaves). */
  layers: InspectedLayer[];
  findings: Finding[];
  /**
   * Present only when every event container the decoders found (MIUI H/B envelopes, Sensors batches)
   * dates every one of its events and its send (absent: the upload says nothing about its events' age).
   */
  eventAges?: EventAges;
}

export interface AnalyseOptions {
  /** Decryption keys by format (`mistat`: the 16-byte AES session key). */
  keys?: Record<string, Buffer>;
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/**
 * The layers worth listing: everything with children, and leafless layers that are not scalar values
 * (a Sensors or MiStat summary, an empty JSON object, a gzip stream stopped at a limit, opaque bytes).
 */
export function layersOf(root: Layer): InspectedLayer[] {
  const out: InspectedLayer[] = [];
  const stack: Layer[] = [root];
  while (stack.length) {
    const l = stack.pop()!;
    if (l.children.length > 0 || l.kind === 'opaque' || !isScalar(l.value)) {
      out.push({ path: l.path, kind: l.kind });
    }
    for (let i = l.children.length - 1; i >= 0; i--) stack.push(l.children[i]!);
  }
  return out;
}

/** Milliseconds since the epoch from a JSON number or digit string (as the envelopes carry them). */
function epochMs(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{10,16}$/.test(v) ? Number(v) : NaN;
  // 2001-09-09 .. 2286: anything else is not a millisecond time stamp.
  return Number.isFinite(n) && n >= 1e12 && n < 1e13 ? n : undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** An event recorded after its upload was stamped: the clock fields are not what we take them for. */
const FUTURE_SLACK_MS = 1000;

/**
 * The ages of every event in the decoded upload (EventAges), or undefined when any event container
 * lacks a send time or any of its events lacks a time (or the upload has no container at all).
 * Containers: a `miui-envelope` layer (its value is the parsed `{H: {st}, B: [{H: {eventTime}}]}`),
 * and the events of a Sensors field (the first JSON layer under the field that has a `sensors`
 * summary: an array of events, or one event, each with `time` and `_flush_time`).
 */
export function eventAgesOf(root: Layer): EventAges | undefined {
  const ages: number[] = [];
  const paths: string[] = [];
  let containers = 0;
  const take = (sent: number | undefined, time: number | undefined): boolean => {
    if (sent === undefined || time === undefined || time > sent + FUTURE_SLACK_MS) return false;
    ages.push(Math.max(0, sent - time));
    return true;
  };
  const stack: Layer[] = [root];
  while (stack.length) {
    const l = stack.pop()!;
    // Events no clock field dates (MiStat's, decrypted or not; anything AES-wrapped): the upload
    // as a whole cannot be dated.
    if (l.kind === 'mistat' || l.kind === 'aes') return undefined;
    if (l.kind === 'miui-envelope') {
      containers++;
      const v = l.value;
      if (!isRecord(v) || !isRecord(v.H) || !Array.isArray(v.B) || v.B.length === 0) return undefined;
      const sent = epochMs(v.H.st);
      for (const e of v.B)
        if (!isRecord(e) || !isRecord(e.H) || !take(sent, epochMs(e.H.eventTime))) return undefined;
      const list = l.children.find((c) => c.key === 'B');
      if (!list || list.children.length !== v.B.length) return undefined;
      for (const c of list.children) paths.push(c.path);
      continue;
    }
    if (l.children.some((c) => c.kind === 'sensors')) {
      containers++;
      const events = firstJson(l);
      if (!events) return undefined;
      const list = Array.isArray(events.value) ? events.value : [events.value];
      if (list.length === 0) return undefined;
      for (const e of list)
        if (!isRecord(e) || !take(epochMs(e._flush_time), epochMs(e.time))) return undefined;
      if (Array.isArray(events.value)) {
        if (events.children.length !== list.length) return undefined;
        for (const c of events.children) paths.push(c.path);
      } else paths.push(events.path);
      continue;
    }
    for (let i = l.children.length - 1; i >= 0; i--) stack.push(l.children[i]!);
  }
  if (containers === 0 || ages.length === 0) return undefined;
  let youngestMs = Infinity;
  let oldestMs = 0;
  for (const a of ages) {
    if (a < youngestMs) youngestMs = a;
    if (a > oldestMs) oldestMs = a;
  }
  return { events: ages.length, paths, youngestMs, oldestMs };
}

/** The first `json` layer below `l` (breadth first), skipping the Sensors summary. */
function firstJson(l: Layer): Layer | undefined {
  const queue = l.children.filter((c) => c.kind !== 'sensors');
  for (let i = 0; i < queue.length; i++) {
    const x = queue[i]!;
    if (x.kind === 'json') return x;
    queue.push(...x.children);
  }
  return undefined;
}

function tlsDetail(cause: string): string {
  if (cause === 'cert-rejected')
    return `TLS handshake failed (${cause}): the app may pin its certificates; nothing was decrypted`;
  return `TLS handshake failed (${cause}); nothing was decrypted`;
}

function header(headers: Record<string, string>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

export function analyseRecord(
  record: AnalysedRecord,
  detector: Detector,
  opts: AnalyseOptions = {},
): InspectedExchange {
  if (record.type === 'tls-failure') {
    return {
      index: record.index,
      method: 'CONNECT',
      url: `https://${record.host}/`,
      host: record.host,
      tracker: trackerOf(detector, record.host),
      layers: [],
      findings: [
        { kind: 'tls', value: record.cause, path: 'tls', encoding: 'n/a', detail: tlsDetail(record.cause) },
      ],
    };
  }
  const base = { index: record.index, method: record.method, url: record.url, host: record.host };
  try {
    const headers = record.request.headers;
    const decoded = decode({
      body: record.request.body,
      contentType: header(headers, 'content-type'),
      url: record.url,
      headers,
      keys: opts.keys,
    });
    const { tracker, findings } = detector.run(
      { method: record.method, url: record.url, host: record.host },
      decoded,
    );
    // The detector reports the decoder's own opaque/limit findings; the capture's cap is ours.
    const all = [...findings];
    if (record.request.truncated) {
      const note =
        `the capture kept ${record.request.body.length} of ${record.request.bodySize < 0 ? 'an unknown number of' : record.request.bodySize} body bytes; ` +
        'the rest was not decoded';
      all.push({ kind: 'limit', value: note, path: 'body', encoding: 'n/a', detail: note });
    }
    const ages = eventAgesOf(decoded.root);
    return {
      ...base,
      tracker,
      layers: layersOf(decoded.root),
      findings: all,
      ...(ages ? { eventAges: ages } : {}),
    };
  } catch (err) {
    const note = `this exchange could not be analysed (${err instanceof Error ? err.message : String(err)})`;
    return {
      ...base,
      tracker: null,
      layers: [],
      findings: [{ kind: 'limit', value: note, path: 'body', encoding: 'n/a', detail: note }],
    };
  }
}

/** The tracker a TLS failure's host belongs to, from the catalogue (no body to decode). */
function trackerOf(detector: Detector, host: string): TrackerInfo | null {
  try {
    return detector.run(
      { method: 'CONNECT', url: `https://${host}/`, host },
      decode({ body: Buffer.alloc(0), url: `https://${host}/` }),
    ).tracker;
  } catch {
    return null;
  }
}
