/** Capture files for the inspect tests, written the way a capture session writes them. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import { readCaptureFile } from '../../../src/inspect/read.ts';

export interface RecordSpec {
  type?: 'exchange';
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  truncated?: boolean;
  bodySize?: number;
}

export type Spec = RecordSpec | { type: 'tls-failure'; host: string; cause: string };

/**
 * Writes `exchanges.ndjson` + `bodies.bin` in `dir` (the capture format before issue 14, which inspect
 * still reads for old runs), returning the NDJSON lines (without a final newline).
 */
export function writeNdjsonCapture(dir: string, specs: Spec[], opts: { tail?: string } = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const bodies: Buffer[] = [];
  let offset = 0;
  const lines = specs.map((s, index) => {
    const startedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString();
    if (s.type === 'tls-failure') return JSON.stringify({ ...s, index, startedAt });
    const body = s.body === undefined ? Buffer.alloc(0) : Buffer.from(s.body);
    let ref: { file: string; offset: number; length: number } | null = null;
    if (body.length > 0) {
      ref = { file: 'bodies.bin', offset, length: body.length };
      bodies.push(body);
      offset += body.length;
    }
    const url = new URL(s.url);
    return JSON.stringify({
      type: 'exchange',
      index,
      startedAt,
      method: s.method ?? 'POST',
      url: s.url,
      host: url.hostname,
      httpVersion: '1.1',
      request: {
        headers: s.headers ?? {},
        body: ref,
        bodySize: s.bodySize ?? body.length,
        truncated: s.truncated ?? false,
      },
      response: { status: 200, headers: {}, bodySize: 0, source: 'local' },
    });
  });
  writeFileSync(join(dir, 'bodies.bin'), Buffer.concat(bodies));
  writeFileSync(join(dir, 'exchanges.ndjson'), lines.join('\n') + '\n' + (opts.tail ?? ''));
  return lines;
}

/** A HAR entry as the capture session writes it. */
export function harEntry(index: number, s: Spec): Record<string, unknown> {
  const startedDateTime = new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString();
  if (s.type === 'tls-failure') {
    return {
      _index: index,
      startedDateTime,
      time: 0,
      request: {
        method: 'CONNECT',
        url: `https://${s.host}/`,
        httpVersion: 'HTTP/1.1',
        headers: [],
        queryString: [],
        cookies: [],
        headersSize: -1,
        bodySize: 0,
      },
      response: {
        status: 0,
        statusText: '',
        httpVersion: 'HTTP/1.1',
        headers: [],
        cookies: [],
        content: { size: 0, mimeType: '' },
        redirectURL: '',
        headersSize: -1,
        bodySize: -1,
      },
      cache: {},
      timings: { send: 0, wait: 0, receive: 0 },
      _tlsFailure: { cause: s.cause },
    };
  }
  const body = s.body === undefined ? Buffer.alloc(0) : Buffer.from(s.body);
  const text = body.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(body);
  const headers = Object.entries(s.headers ?? {}).map(([name, value]) => ({ name, value }));
  const request: Record<string, unknown> = {
    method: s.method ?? 'POST',
    url: s.url,
    httpVersion: 'HTTP/1.1',
    headers,
    queryString: [],
    cookies: [],
    headersSize: -1,
    bodySize: body.length,
    _bodySize: s.bodySize ?? body.length,
    _truncated: s.truncated ?? false,
  };
  if (body.length > 0) {
    request.postData = utf8
      ? { mimeType: s.headers?.['content-type'] ?? '', text }
      : { mimeType: s.headers?.['content-type'] ?? '', text: body.toString('base64'), _encoding: 'base64' };
  }
  return {
    _index: index,
    startedDateTime,
    time: 1,
    request,
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: 'HTTP/1.1',
      headers: [],
      cookies: [],
      content: { size: 0, mimeType: 'text/plain' },
      redirectURL: '',
      headersSize: -1,
      bodySize: 0,
    },
    cache: {},
    timings: { send: 0, wait: 1, receive: 0 },
  };
}

/** The HAR text as the session streams it: a head, one entry per line with commas, and the tail. */
export function harText(specs: Spec[], opts: { terminated?: boolean } = {}): string {
  const head =
    '{"log":{"version":"1.2","creator":{"name":"phonehome","version":"0.1.0"},"pages":[],"entries":[\n';
  const entries = specs.map((s, i) => JSON.stringify(harEntry(i, s)));
  return head + entries.join(',\n') + (opts.terminated === false ? ',\n' : '\n]}}\n');
}

export async function readAll(path: string): Promise<{ records: CaptureRecord[]; warnings: string[] }> {
  const warnings: string[] = [];
  const records: CaptureRecord[] = [];
  for await (const r of readCaptureFile(path, { onWarning: (w) => warnings.push(w) })) records.push(r);
  return { records, warnings };
}

/** The exchange record, failing when it is a TLS failure. */
export function exchange(r: CaptureRecord | undefined): Extract<CaptureRecord, { type: 'exchange' }> {
  if (!r || r.type !== 'exchange') throw new Error(`expected an exchange record, got ${JSON.stringify(r)}`);
  return r;
}
