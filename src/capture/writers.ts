/**
 * Streams a session's records to disk as they happen, so nothing is held in memory and a crash
 * loses at most the record being written: `exchanges.ndjson` (bodies in `bodies.bin`) and
 * `capture.har`, in the format src/capture/format.ts describes.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { CaptureRecord, Exchange, Headers, TlsFailure } from './exchange.ts';
import { BODIES_FILE, HAR_FILE, NDJSON_FILE, type BodyRef } from './format.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(b: Buffer): boolean {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

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
  return {
    _index: f.index,
    _tlsFailure: { cause: f.cause },
    startedDateTime: f.startedAt,
    time: 0,
    request: {
      method: 'CONNECT',
      url: `https://${f.host}/`,
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
  private readonly ndjson: WriteStream;
  private readonly bodies: WriteStream;
  private readonly har: WriteStream;
  private bodyOffset = 0;
  private entries = 0;
  private closed = false;
  private failure: Error | null = null;

  constructor(dir: string, creator: { name: string; version: string }) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    const open = (name: string): WriteStream => {
      const s = createWriteStream(join(dir, name), { flags: 'w' });
      s.on('error', (e) => (this.failure ??= e));
      return s;
    };
    this.ndjson = open(NDJSON_FILE);
    this.bodies = open(BODIES_FILE);
    this.har = open(HAR_FILE);
    this.har.write(`{"log":{"version":"1.2","creator":${JSON.stringify(creator)},"pages":[],"entries":[\n`);
  }

  /** The first write error (disk full, directory removed), if any. */
  get error(): Error | null {
    return this.failure;
  }

  write(record: CaptureRecord): void {
    if (this.closed) return;
    let line: string;
    let har: unknown;
    if (record.type === 'exchange') {
      const body = record.request.body;
      let ref: BodyRef | null = null;
      if (body.length > 0) {
        ref = { file: BODIES_FILE, offset: this.bodyOffset, length: body.length };
        this.bodies.write(body);
        this.bodyOffset += body.length;
      }
      line = JSON.stringify({ ...record, request: { ...record.request, body: ref } });
      har = harExchange(record);
    } else {
      line = JSON.stringify(record);
      har = harTlsFailure(record);
    }
    this.ndjson.write(`${line}\n`);
    this.har.write(`${this.entries++ === 0 ? '' : ',\n'}${JSON.stringify(har)}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.har.write('\n]}}\n');
    await Promise.all(
      [this.ndjson, this.bodies, this.har].map(async (s) => {
        s.end();
        if (!s.writableFinished && !s.destroyed) await once(s, 'close').catch(() => undefined);
      }),
    );
  }
}
