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

export interface InspectedExchange {
  index: number;
  method: string;
  url: string;
  host: string;
  tracker: TrackerInfo | null;
  /** Every transform and container of the decoded tree, in tree order (not the scalar leaves). */
  layers: InspectedLayer[];
  findings: Finding[];
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
    return { ...base, tracker, layers: layersOf(decoded.root), findings: all };
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
