/**
 * A capture session: one mockttp HTTP+HTTPS proxy per phone, on 127.0.0.1 and a free port, signed
 * by the lab CA. Every exchange and every failed TLS handshake becomes a `CaptureRecord`, streamed
 * to disk (writers.ts) and emitted as `record`. mockttp's own traffic recording is off, so memory
 * stays flat however long the session runs.
 *
 * Modes: `block` (default) answers every request locally the way its collector would, so nothing
 * leaves the lab; `passthrough` forwards upstream; host rules choose per host (`*.suffix` allowed).
 * A capture session knows nothing about scenarios, decoding or phones.
 */
import { hostMatches } from '../util/hosts.ts';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { getLocal, type CompletedRequest, type CompletedResponse, type Mockttp } from 'mockttp';
import type { LabCa } from './ca.ts';
import type { CaptureRecord, Exchange, Headers } from './exchange.ts';
import { assertLoopback, onLoopback } from './loopback.ts';
import { CaptureWriter } from './writers.ts';
import { collectorAnswer } from './collectors.ts';

export type CaptureMode = 'block' | 'passthrough';

export interface HostRule {
  /** `host`, or `*.suffix` for the suffix and every subdomain of it. */
  host: string;
  mode: CaptureMode;
}

export interface SessionOptions {
  /** Where capture.har goes. */
  dir: string;
  ca: LabCa;
  mode?: CaptureMode;
  rules?: readonly HostRule[];
  /** Request bodies larger than this are not kept (recorded as truncated, size only). Default 16 MiB. */
  bodyCap?: number;
  /** A fixed port (default: any free one). */
  port?: number;
}

export const DEFAULT_BODY_CAP = 16 * 1024 * 1024;

/** Host patterns mean the same here as in the catalogue and the assertions (src/util/hosts.ts). */
export { hostMatches } from '../util/hosts.ts';

export function modeFor(
  host: string,
  opts: { mode?: CaptureMode; rules?: readonly HostRule[] },
): CaptureMode {
  for (const r of opts.rules ?? []) if (hostMatches(r.host, host)) return r.mode;
  return opts.mode ?? 'block';
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function hostOf(req: CompletedRequest): string {
  try {
    return new URL(req.url).hostname;
  } catch {
    return req.destination?.hostname ?? '';
  }
}

interface Pending {
  req: CompletedRequest;
}

interface SessionEvents {
  record: [CaptureRecord];
  error: [Error];
}

export class CaptureSession extends EventEmitter<SessionEvents> {
  readonly dir: string;
  readonly port: number;
  readonly mode: CaptureMode;
  private readonly server: Mockttp;
  private readonly writer: CaptureWriter;
  private readonly pending = new Map<string, Pending>();
  private readonly bodyCap: number;
  private next = 0;
  private tlsFailures = 0;
  private stopped = false;
  /** Set once the files are closing: later events are dropped. */
  private closed = false;

  private constructor(server: Mockttp, port: number, writer: CaptureWriter, opts: SessionOptions) {
    super();
    this.server = server;
    this.port = port;
    this.writer = writer;
    this.dir = opts.dir;
    this.mode = opts.mode ?? 'block';
    this.bodyCap = opts.bodyCap ?? DEFAULT_BODY_CAP;
  }

  static async start(opts: SessionOptions): Promise<CaptureSession> {
    const bodyCap = opts.bodyCap ?? DEFAULT_BODY_CAP;
    const server = getLocal({
      https: { key: opts.ca.keyPem, cert: opts.ca.certPem },
      recordTraffic: false,
      cors: false,
      suggestChanges: false,
      maxBodySize: bodyCap,
      http2: false,
    });
    await onLoopback(() => (opts.port ? server.start(opts.port) : server.start()));
    let port: number;
    try {
      port = assertLoopback((server as unknown as { address: AddressInfo }).address, 'the capture proxy');
    } catch (err) {
      await server.stop();
      throw err;
    }
    const writer = new CaptureWriter(opts.dir, { name: 'phonehome', version: '0.1.0' });
    const session = new CaptureSession(server, port, writer, opts);
    await session.install(opts);
    return session;
  }

  private async install(opts: SessionOptions): Promise<void> {
    const s = this.server;
    const passthrough = (req: { url: string }): boolean => {
      try {
        return modeFor(new URL(req.url).hostname, opts) === 'passthrough';
      } catch {
        return false;
      }
    };
    const anyPassthrough =
      this.mode === 'passthrough' || (opts.rules ?? []).some((r) => r.mode === 'passthrough');
    // `.always()`: a rule without a completion rule counts as done after its first request, and
    // mockttp then prefers a rule not used yet, so every passthrough request after the first fell
    // through to the blocking rule.
    const upstream = anyPassthrough
      ? await s.forAnyRequest().always().matching(passthrough).thenPassThrough()
      : undefined;
    // A blocked request is recorded where it is answered: the callback has the whole request, and
    // the answer is ours. mockttp's `request` and `response` events would build both again for
    // every exchange (and buffer the answer), so they are subscribed only when some host passes
    // through, and then record only the requests the passthrough rule handled (their answers come
    // from upstream). The record is emitted once the callback has returned, as the events did: a
    // listener's error does not become the phone's answer, and analysis never delays it.
    // (A client that hangs up after sending its request is recorded with the answer it was given.)
    await s
      .forAnyRequest()
      .always()
      .thenCallback((req) => {
        const answer = collectorAnswer(req);
        const response: Exchange['response'] = {
          status: answer.statusCode,
          headers: answer.headers,
          bodySize: answer.body === undefined ? 0 : Buffer.byteLength(answer.body),
          source: 'local',
        };
        setImmediate(() => this.recordExchange(req, response));
        return answer;
      });
    if (upstream) {
      await s.on('request', (req) => {
        if (req.matchedRuleId === upstream.id) this.pending.set(req.id, { req });
      });
      await s.on('response', (res) => this.complete(res.id, res));
      await s.on('abort', (req) => this.complete(req.id, null, 'aborted by the client or upstream'));
    }
    await s.on('tls-client-error', (f) => {
      if (this.closed) return;
      this.tlsFailures++;
      this.record({
        type: 'tls-failure',
        index: this.next++,
        startedAt: new Date(f.timingEvents.startTime).toISOString(),
        host: f.tlsMetadata?.sniHostname ?? f.destination?.hostname ?? f.remoteIpAddress ?? 'unknown',
        cause: f.failureCause,
        ...(f.remoteIpAddress ? { remoteAddress: f.remoteIpAddress } : {}),
      });
    });
  }

  /** A passed-through request's exchange, once mockttp reports its upstream answer (or its end). */
  private complete(id: string, res: CompletedResponse | null, error?: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.recordExchange(
      p.req,
      res
        ? {
            status: res.statusCode,
            headers: flatHeaders(res.headers),
            bodySize: res.body.buffer.length,
            source: 'upstream',
          }
        : null,
      error,
    );
  }

  private recordExchange(req: CompletedRequest, response: Exchange['response'], error?: string): void {
    if (this.closed) return;
    const headers = flatHeaders(req.headers);
    const body = Buffer.from(req.body.buffer);
    // mockttp drops a body over maxBodySize (it arrives empty): with a Content-Length we know its
    // size; a chunked one of unknown size is recorded as size -1 (as HAR writes "unknown").
    const declared = Number(headers['content-length'] ?? NaN);
    const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    const truncated =
      body.length === 0 &&
      ((Number.isFinite(declared) && declared > this.bodyCap) || (chunked && !Number.isFinite(declared)));
    const host = hostOf(req);
    const exchange: Exchange = {
      index: this.next++,
      startedAt: new Date(req.timingEvents.startTime).toISOString(),
      method: req.method,
      url: req.url,
      host,
      httpVersion: req.httpVersion,
      request: {
        headers,
        body,
        bodySize: truncated ? (Number.isFinite(declared) ? declared : -1) : body.length,
        truncated,
      },
      response,
      ...(error ? { error } : {}),
      ...(req.url.startsWith('https:') ? { tls: { sni: host } } : {}),
    };
    this.record({ type: 'exchange', ...exchange });
  }

  private record(r: CaptureRecord): void {
    this.writer.write(r);
    const err = this.writer.error;
    if (err) this.emit('error', new Error(`writing the capture in ${this.dir} failed: ${err.message}`));
    this.emit('record', r);
  }

  get counts(): { exchanges: number; tlsFailures: number } {
    return { exchanges: this.next - this.tlsFailures, tlsFailures: this.tlsFailures };
  }

  /** Stops the proxy (open connections are cut) and closes the files. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.server.stop();
      // mockttp emits its events on setImmediate: let the last ones land.
      await new Promise((r) => setImmediate(r));
    } finally {
      for (const id of [...this.pending.keys()])
        this.complete(id, null, 'the session stopped before a response');
      this.closed = true;
      await this.writer.close();
    }
  }
}
