/**
 * Streams a session's records to disk as they happen, so nothing is held in memory and a crash
 * loses at most the record being written: one file, `capture.har`, in the format
 * src/capture/format.ts describes. Issue 14: the HAR alone carries every field of a record, so the
 * NDJSON + bodies.bin written beside it (every body twice on disk, three writes per record) went.
 */
// isUtf8 validates without building a string (simdutf), unlike a fatal TextDecoder.
import { isUtf8 } from 'node:buffer';
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { CaptureRecord, Exchange, Headers, TlsFailure } from './exchange.ts';
import { BODIES_FILE, HAR_FILE, NDJSON_FILE } from './format.ts';

const harHeaders = (h: Headers): Array<{ name: string; value: string }> =>
  Object.entries(h).map(([name, value]) => ({ name, value }));

function queryString(url: string): Array<{ name: string; value: string }> {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const out: Array<{ name: string; value: string }> = [];
  for (const part of url
    .slice(q + 1)
    .split('#')[0]!
    .split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    out.push(i < 0 ? { name: part, value: '' } : { name: part.slice(0, i), value: part.slice(i + 1) });
  }
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/**
 * Whether the reader gets `host` back from `url` alone (new URL(url).hostname), told by a string
 * check instead of a URL parse per record: `scheme://host` then `/ : ? #` or the end, with a host
 * URL would not rewrite (lower case, no IDNA, a last label that is no number unless a plain IPv4).
 * A false "no" only costs a `_host` field; a false "yes" cannot happen.
 */
function hostInUrl(url: string, host: string): boolean {
  const start = url.startsWith('https://') ? 8 : url.startsWith('http://') ? 7 : -1;
  if (start < 0 || host === '' || !url.startsWith(host, start)) return false;
  const rest = url.slice(start + host.length, start + host.length + 7);
  // then '/', '?', '#', the end, or a port URL accepts (a bad one would make the URL unparsable)
  if (!/^(?:$|[/?#]|:\d{0,5}(?:$|[/?#]))/.test(rest)) return false;
  if (rest.startsWith(':') && Number(/^:(\d*)/.exec(rest)![1]) > 65535) return false;
  if (IPV4.test(host)) return true;
  if (!NAME.test(host) || host.includes('xn--')) return false;
  const last = host.slice(host.lastIndexOf('.') + 1);
  return /^[a-z_-]/.test(last);
}

function harExchange(ex: Exchange): unknown {
  const body = ex.request.body;
  const contentType = ex.request.headers['content-type'] ?? '';
  const postData =
    body.length === 0
      ? undefined
      : isUtf8(body)
        ? { mimeType: contentType, text: body.toString('utf8') }
        : { mimeType: contentType, text: body.toString('base64'), _encoding: 'base64' };
  const res = ex.response;
  return {
    _index: ex.index,
    // What HAR has no field for, only when the reader could not tell it otherwise.
    ...(hostInUrl(ex.url, ex.host) ? {} : { _host: ex.host }),
    ...(ex.tls ? { _tls: ex.tls } : {}),
    startedDateTime: ex.startedAt,
    time: 0,
    request: {
      method: ex.method,
      url: ex.url,
      httpVersion: `HTTP/${ex.httpVersion}`,
      cookies: [],
      headers: harHeaders(ex.request.headers),
      queryString: queryString(ex.url),
      ...(postData ? { postData } : {}),
      headersSize: -1,
      bodySize: ex.request.bodySize,
      _bodySize: ex.request.bodySize,
      _truncated: ex.request.truncated,
    },
    response: {
      status: res?.status ?? 0,
      statusText: '',
      httpVersion: `HTTP/${ex.httpVersion}`,
      cookies: [],
      headers: res ? harHeaders(res.headers) : [],
      content: { size: res?.bodySize ?? 0, mimeType: res?.headers['content-type'] ?? '' },
      redirectURL: '',
      headersSize: -1,
      bodySize: res?.bodySize ?? -1,
      ...(res ? { _source: res.source } : {}),
    },
    cache: {},
    timings: { send: 0, wait: 0, receive: 0 },
    ...(ex.error ? { _error: ex.error } : {}),
  };
}

function harTlsFailure(f: TlsFailure): unknown {
  const url = `https://${f.host}/`;
  return {
    _index: f.index,
    _tlsFailure:
      f.remoteAddress === undefined ? { cause: f.cause } : { cause: f.cause, remoteAddress: f.remoteAddress },
    ...(hostInUrl(url, f.host) ? {} : { _host: f.host }),
    startedDateTime: f.startedAt,
    time: 0,
    request: {
      method: 'CONNECT',
      url,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [],
      queryString: [],
      headersSize: -1,
      bodySize: 0,
    },
    response: {
      status: 0,
      statusText: `TLS handshake failed: ${f.cause}`,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [],
      content: { size: 0, mimeType: '' },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
    },
    cache: {},
    timings: { send: 0, wait: 0, receive: 0 },
  };
}

export class CaptureWriter {
  readonly dir: string;
  private readonly har: WriteStream;
  private entries = 0;
  private closed = false;
  private failure: Error | null = null;

  constructor(dir: string, creator: { name: string; version: string }) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    // A directory reused from an older run may hold the old format: inspect reads the NDJSON
    // first, so a stale one would stand in for this capture. Once per session, not per record.
    for (const stale of [NDJSON_FILE, BODIES_FILE]) rmSync(join(dir, stale), { force: true });
    // fs.WriteStream batches what queues up behind a pending write into one writev.
    this.har = createWriteStream(join(dir, HAR_FILE), { flags: 'w' });
    this.har.on('error', (e) => (this.failure ??= e));
    this.har.write(`{"log":{"version":"1.2","creator":${JSON.stringify(creator)},"pages":[],"entries":[\n`);
  }

  /** The first write error (disk full, directory removed), if any. */
  get error(): Error | null {
    return this.failure;
  }

  /** One JSON.stringify and one buffered write per record. */
  write(record: CaptureRecord): void {
    if (this.closed) return;
    const entry = record.type === 'exchange' ? harExchange(record) : harTlsFailure(record);
    this.har.write(`${this.entries++ === 0 ? '' : ',\n'}${JSON.stringify(entry)}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const s = this.har;
    s.end('\n]}}\n');
    if (!s.writableFinished && !s.destroyed) await once(s, 'close').catch(() => undefined);
  }
}
