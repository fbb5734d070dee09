/**
 * The input readers of `phonehome inspect`: a capture directory (its capture.har; or, for a run
 * before issue 14, its NDJSON with bodies in bodies.bin; the format is src/capture/format.ts), a
 * HAR 1.2 file (ours, possibly left unterminated by a session that died, or one from Chrome
 * DevTools and other tools), or raw HTTP/1.x requests. The format is told from the content,
 * not the extension. Every reader yields `CaptureRecord`s with the request body as bytes, in file
 * order; problems that do not stop the reading go to `onWarning`.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { CaptureRecord, Exchange, ExchangeResponse, Headers } from '../capture/exchange.ts';
import { HAR_FILE, NDJSON_FILE, isBodyRef, type BodyRef } from '../capture/format.ts';
import { UserFacingError } from '../util/user-facing.ts';

export type CaptureFormat = 'ndjson' | 'har' | 'http';

export interface ReadOptions {
  /** Problems that do not stop the reading (a repaired HAR, a cut last line, a missing body slice). */
  onWarning?: (message: string) => void;
}

/** A capture file that cannot be read: the CLI prints the message and the fix, and exits 2. */
export class CaptureFileError extends UserFacingError {
  constructor(message: string, hint?: string) {
    super(message, hint, 2);
  }
}

const ACCEPTED =
  'a capture directory, its exchanges.ndjson, a HAR file (capture.har or one saved from ' +
  'Chrome DevTools), or raw HTTP/1.x requests';

/** How much of a file is read to tell its format. */
const SNIFF_BYTES = 64 * 1024;

function errnoOf(err: unknown): string | undefined {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

function unreadable(path: string, err: unknown): CaptureFileError {
  const code = errnoOf(err);
  if (code === 'ENOENT') return new CaptureFileError(`${path}: no such file`, 'check the path');
  if (code === 'EACCES' || code === 'EPERM')
    return new CaptureFileError(`${path}: permission denied`, 'make the file readable, or run as its owner');
  return new CaptureFileError(
    `${path}: cannot be read (${err instanceof Error ? err.message : String(err)})`,
    'check the path',
  );
}

/** The file to read for `path`: itself, or for a capture directory its NDJSON or HAR. */
export async function resolveCapturePath(path: string): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw unreadable(path, err);
  }
  if (!st.isDirectory()) return path;
  for (const name of [NDJSON_FILE, HAR_FILE]) {
    const candidate = join(path, name);
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not there: try the next
    }
  }
  throw new CaptureFileError(
    `${path} is a directory without ${NDJSON_FILE} or ${HAR_FILE}`,
    `pass a capture directory, or one of: ${ACCEPTED}`,
  );
}

const METHOD_LINE = /^([A-Z][A-Z0-9_-]*) +(\S+) +HTTP\/1\.[0-9]\r?$/;

/** The format of a file from its first bytes, or null when it is none of the accepted ones. */
export function sniffFormat(head: Buffer): CaptureFormat | null {
  let text = head.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    const firstLine = trimmed.slice(0, trimmed.indexOf('\n') < 0 ? undefined : trimmed.indexOf('\n'));
    try {
      const v: unknown = JSON.parse(firstLine);
      if (isObject(v)) return typeof v.type === 'string' && !('log' in v) ? 'ndjson' : 'har';
    } catch {
      // a pretty-printed or cut document
    }
    if (/^\{\s*"type"\s*:\s*"(exchange|tls-failure)"/.test(firstLine)) return 'ndjson';
    if (/^\{\s*"log"\s*:/.test(trimmed)) return 'har';
    return 'har';
  }
  const lineEnd = trimmed.indexOf('\n');
  const first = lineEnd < 0 ? trimmed : trimmed.slice(0, lineEnd);
  if (METHOD_LINE.test(first)) return 'http';
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The records of a capture file or directory, in file order. Throws CaptureFileError for a file that
 * is missing, unreadable or in no accepted format (before the first record), and for an NDJSON line
 * in the middle that is not JSON (naming file:line).
 */
export async function* readCaptureFile(path: string, opts: ReadOptions = {}): AsyncGenerator<CaptureRecord> {
  const file = await resolveCapturePath(path);
  let head: Buffer;
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw unreadable(file, err);
  }
  const warn = opts.onWarning ?? (() => {});
  if (head.toString('utf8').trim() === '') {
    throw new CaptureFileError(`${file} is empty`, `pass ${ACCEPTED}`);
  }
  const format = sniffFormat(head);
  if (format === 'ndjson') yield* readNdjson(file, warn);
  else if (format === 'har') yield* parseHar(await readWhole(file), file, warn);
  else if (format === 'http') yield* parseRawHttp(await readWhole(file), file, warn);
  else
    throw new CaptureFileError(
      `${file} is not a capture file: it is neither a HAR or NDJSON capture nor an HTTP/1.x request`,
      `pass ${ACCEPTED}`,
    );
}

async function readWhole(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw unreadable(file, err);
  }
}

// ---------------------------------------------------------------------------------------------
// NDJSON + bodies.bin

/** Open body files of one NDJSON, one handle each (in practice only bodies.bin). */
class BodyFiles {
  private readonly handles = new Map<string, FileHandle | null>();
  constructor(
    private readonly dir: string,
    private readonly warn: (m: string) => void,
  ) {}

  async read(ref: BodyRef, where: string): Promise<Buffer | null> {
    // Only files beside the NDJSON: a capture file must not make inspect read /etc/shadow.
    if (ref.file !== basename(ref.file) || ref.file === '..' || ref.file === '.' || ref.file.includes('\\')) {
      this.warn(`${where}: body file '${ref.file}' is not beside the NDJSON; the body is left empty`);
      return null;
    }
    let fh = this.handles.get(ref.file);
    if (fh === undefined) {
      try {
        fh = await open(join(this.dir, ref.file), 'r');
      } catch (err) {
        this.warn(
          `${where}: cannot open ${join(this.dir, ref.file)} (${errnoOf(err) ?? String(err)}); ` +
            'bodies stored there are left empty',
        );
        fh = null;
      }
      this.handles.set(ref.file, fh);
    }
    if (fh === null) return null;
    const buf = Buffer.alloc(ref.length);
    let got = 0;
    while (got < ref.length) {
      const { bytesRead } = await fh.read(buf, got, ref.length - got, ref.offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < ref.length) {
      this.warn(
        `${where}: ${ref.file} ends before offset ${ref.offset}+${ref.length}; only ${got} bytes of the body were read`,
      );
      return buf.subarray(0, got);
    }
    return buf;
  }

  async close(): Promise<void> {
    for (const fh of this.handles.values()) await fh?.close();
    this.handles.clear();
  }
}

async function* readNdjson(file: string, warn: (m: string) => void): AsyncGenerator<CaptureRecord> {
  const stream = createReadStream(file);
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const bodies = new BodyFiles(dirname(file), warn);
  let lineNo = 0;
  let pending: { line: string; no: number } | null = null;
  let position = 0;
  const parse = async (line: string, no: number, last: boolean): Promise<CaptureRecord | null> => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      if (last) {
        warn(
          `${file}:${no}: the last line is incomplete (the capture was probably cut short); it is ignored`,
        );
        return null;
      }
      throw new CaptureFileError(
        `${file}:${no}: not a JSON record (${err instanceof Error ? err.message : String(err)})`,
        'each line of a capture NDJSON is one JSON object; fix or delete that line',
      );
    }
    return ndjsonRecord(v, `${file}:${no}`, position, bodies, warn);
  };
  try {
    for await (const raw of lines) {
      lineNo++;
      const line = raw.trim();
      if (line === '') continue;
      if (pending) {
        const r = await parse(pending.line, pending.no, false);
        if (r) {
          position++;
          yield r;
        }
      }
      pending = { line, no: lineNo };
    }
    if (pending) {
      const r = await parse(pending.line, pending.no, true);
      if (r) yield r;
    }
  } catch (err) {
    if (err instanceof CaptureFileError) throw err;
    throw unreadable(file, err);
  } finally {
    lines.close();
    stream.destroy();
    await bodies.close();
  }
}

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/**
 * Sets a header as an own property, also for names such as `__proto__` or `constructor` that a
 * hostile request may carry; a repeated header is joined (`; ` for cookies, `, ` otherwise).
 */
function addHeader(out: Headers, name: string, value: string, join = false): void {
  const prev = Object.hasOwn(out, name) ? out[name] : undefined;
  const v = join && prev !== undefined ? `${prev}${name === 'cookie' ? '; ' : ', '}${value}` : value;
  Object.defineProperty(out, name, { value: v, enumerable: true, writable: true, configurable: true });
}

function headersOf(v: unknown): Headers {
  const out: Headers = {};
  if (!isObject(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') addHeader(out, k, x);
    else if (Array.isArray(x)) addHeader(out, k, x.filter((s) => typeof s === 'string').join(', '));
    else if (typeof x === 'number') addHeader(out, k, String(x));
  }
  return out;
}

function hostOf(url: string, headers: Headers): string {
  try {
    return new URL(url).hostname;
  } catch {
    return headerValue(headers, 'host')?.replace(/:\d+$/, '') ?? '';
  }
}

function headerValue(headers: Headers, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

async function ndjsonRecord(
  v: unknown,
  where: string,
  position: number,
  bodies: BodyFiles,
  warn: (m: string) => void,
): Promise<CaptureRecord | null> {
  if (!isObject(v) || (v.type !== 'exchange' && v.type !== 'tls-failure')) {
    warn(`${where}: not an exchange or tls-failure record; it is skipped`);
    return null;
  }
  const index = Number.isSafeInteger(v.index) ? (v.index as number) : position;
  const startedAt = str(v.startedAt);
  if (v.type === 'tls-failure') {
    const r: CaptureRecord = {
      type: 'tls-failure',
      index,
      startedAt,
      host: str(v.host),
      cause: str(v.cause, 'unknown'),
    };
    if (typeof v.remoteAddress === 'string') r.remoteAddress = v.remoteAddress;
    return r;
  }
  const req = isObject(v.request) ? v.request : {};
  const headers = headersOf(req.headers);
  let body: Buffer = Buffer.alloc(0);
  if (isBodyRef(req.body)) {
    body = (await bodies.read(req.body, where)) ?? body;
  } else if (req.body !== null && req.body !== undefined) {
    warn(`${where}: request.body is not a {file, offset, length} reference; the body is left empty`);
  }
  const url = str(v.url);
  const ex: Exchange = {
    index,
    startedAt,
    method: str(v.method, 'GET'),
    url,
    host: str(v.host) || hostOf(url, headers),
    httpVersion: str(v.httpVersion, '1.1'),
    request: {
      headers,
      body,
      bodySize: num(req.bodySize, body.length),
      truncated: req.truncated === true,
    },
    response: responseOf(v.response),
  };
  if (typeof v.error === 'string') ex.error = v.error;
  if (isObject(v.tls)) ex.tls = typeof v.tls.sni === 'string' ? { sni: v.tls.sni } : {};
  return { type: 'exchange', ...ex };
}

function responseOf(v: unknown): ExchangeResponse | null {
  if (!isObject(v)) return null;
  return {
    status: num(v.status, 0),
    headers: headersOf(v.headers),
    bodySize: num(v.bodySize, 0),
    source: v.source === 'local' ? 'local' : 'upstream',
  };
}

// ---------------------------------------------------------------------------------------------
// HAR

/**
 * A streamed HAR cut short (no closing `]}}`, maybe a trailing comma or half an entry), cut back to
 * the end of its last complete entry and closed. Null when there is no `log.entries` array to save.
 */
export function repairHar(text: string): { text: string; entries: number } | null {
  const stack: string[] = [];
  let inString = false;
  let entriesDepth = -1;
  let cut = -1;
  let closers = '';
  let entries = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (
        c === 0x5b &&
        entriesDepth < 0 &&
        stack.length === 2 &&
        /"entries"\s*:\s*$/.test(text.slice(Math.max(0, i - 64), i))
      ) {
        entriesDepth = stack.length + 1;
        cut = i + 1;
        closers = `]${'}'.repeat(stack.length)}`;
      }
      stack.push(c === 0x7b ? '}' : ']');
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      if (entriesDepth > 0 && stack.length === entriesDepth) {
        // an entry just ended
        cut = i + 1;
        entries++;
      } else if (entriesDepth > 0 && stack.length < entriesDepth) {
        entriesDepth = -2; // the array closed; the cut is no longer needed for it
      }
    }
  }
  if (cut < 0 || entriesDepth === -2) return null;
  return { text: text.slice(0, cut) + closers, entries };
}

function parseHarText(text: string, file: string, warn: (m: string) => void): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const repaired = repairHar(text);
    if (repaired) {
      try {
        doc = JSON.parse(repaired.text);
        warn(
          `${file}: the HAR is unterminated (the capture was probably cut short); ` +
            `read its ${repaired.entries} complete entries`,
        );
      } catch {
        doc = undefined;
      }
    }
    if (doc === undefined)
      throw new CaptureFileError(
        `${file}: not valid JSON (${err instanceof Error ? err.message : String(err)}), and not a HAR that can be repaired`,
        `pass ${ACCEPTED}`,
      );
  }
  if (!isObject(doc) || !isObject(doc.log) || !Array.isArray(doc.log.entries)) {
    throw new CaptureFileError(
      `${file}: JSON, but not a HAR file (no log.entries) nor a capture NDJSON (no "type" on each line)`,
      `pass ${ACCEPTED}`,
    );
  }
  return doc.log;
}

/**
 * A HAR's headers as a record. Other tools' HARs (Chrome DevTools) list HTTP/2 pseudo-headers and
 * mixed-case names: those are dropped and lowercased. Our own entries (`exact`, they have `_index`)
 * hold a record's headers as they were, names included.
 */
function harHeaders(v: unknown, exact = false): Headers {
  const out: Headers = {};
  if (!Array.isArray(v)) return out;
  for (const h of v) {
    if (!isObject(h) || typeof h.name !== 'string' || (!exact && h.name.startsWith(':'))) continue;
    const name = exact ? h.name : h.name.toLowerCase();
    const value = typeof h.value === 'string' ? h.value : typeof h.value === 'number' ? String(h.value) : '';
    addHeader(out, name, value, true);
  }
  return out;
}

function harBody(postData: unknown): Buffer {
  if (!isObject(postData)) return Buffer.alloc(0);
  if (typeof postData.text === 'string') {
    const enc = postData._encoding ?? postData.encoding;
    return enc === 'base64' ? Buffer.from(postData.text, 'base64') : Buffer.from(postData.text, 'utf8');
  }
  if (Array.isArray(postData.params)) {
    const pairs = postData.params
      .filter(isObject)
      .map((p) => `${encodeURIComponent(str(p.name))}=${encodeURIComponent(str(p.value))}`);
    return Buffer.from(pairs.join('&'), 'utf8');
  }
  return Buffer.alloc(0);
}

function harRecord(e: unknown, position: number): CaptureRecord | null {
  if (!isObject(e)) return null;
  const req = isObject(e.request) ? e.request : {};
  const res = isObject(e.response) ? e.response : {};
  const ours = Number.isSafeInteger(e._index);
  const index = ours ? (e._index as number) : position;
  const startedAt = str(e.startedDateTime);
  const url = str(req.url);
  const headers = harHeaders(req.headers, ours);
  // `_host` is written only when the URL does not give the host back (src/capture/writers.ts).
  const host = typeof e._host === 'string' ? e._host : hostOf(url, headers);
  if (isObject(e._tlsFailure)) {
    const f: CaptureRecord = {
      type: 'tls-failure',
      index,
      startedAt,
      host,
      cause: str(e._tlsFailure.cause, 'unknown'),
    };
    if (typeof e._tlsFailure.remoteAddress === 'string') f.remoteAddress = e._tlsFailure.remoteAddress;
    return f;
  }
  const body = harBody(req.postData);
  const declared = num(req.bodySize, -1);
  const ex: Exchange = {
    index,
    startedAt,
    method: str(req.method, 'GET'),
    url,
    host,
    httpVersion: str(req.httpVersion, 'HTTP/1.1').replace(/^HTTP\//i, ''),
    request: {
      headers,
      body,
      bodySize: num(req._bodySize, declared >= 0 ? declared : body.length),
      truncated: req._truncated === true,
    },
    response: null,
  };
  const status = num(res.status, 0);
  // Our writer marks a response with `_source` (a null response has none); other tools' HARs
  // have status 0 for "no response".
  if (status > 0 || (ours && typeof res._source === 'string')) {
    const content = isObject(res.content) ? res.content : {};
    const size = num(res.bodySize, -1);
    ex.response = {
      status,
      headers: harHeaders(res.headers, ours),
      bodySize: size >= 0 ? size : Math.max(0, num(content.size, 0)),
      source: res._source === 'local' ? 'local' : 'upstream',
    };
  }
  // An error can come with a response (ours: `_error` on the entry; Chrome: `response._error`).
  const error = str(e._error) || str(res._error);
  if (error) ex.error = error;
  if (isObject(e._tls)) ex.tls = typeof e._tls.sni === 'string' ? { sni: e._tls.sni } : {};
  return { type: 'exchange', ...ex };
}

/** The records of a HAR document (ours or another tool's). Exported for tests. */
export function* parseHar(bytes: Buffer, file: string, warn: (m: string) => void): Generator<CaptureRecord> {
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const log = parseHarText(text, file, warn);
  const entries = log.entries as unknown[];
  for (let i = 0; i < entries.length; i++) {
    const r = harRecord(entries[i], i);
    if (r) yield r;
    else warn(`${file}: log.entries[${i}] is not an object; it is skipped`);
  }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.x requests

/** The index of the end of the line starting at `from` (the LF), or -1. */
function lineEnd(b: Buffer, from: number): number {
  return b.indexOf(0x0a, from);
}

function lineAt(b: Buffer, from: number, end: number): string {
  const stop = end > from && b[end - 1] === 0x0d ? end - 1 : end;
  return b.toString('latin1', from, stop);
}

interface Chunked {
  body: Buffer;
  next: number;
  complete: boolean;
}

function readChunked(b: Buffer, from: number): Chunked {
  const parts: Buffer[] = [];
  let pos = from;
  for (;;) {
    const end = lineEnd(b, pos);
    if (end < 0) return { body: Buffer.concat(parts), next: b.length, complete: false };
    const sizeText = lineAt(b, pos, end).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,15}$/.test(sizeText))
      return { body: Buffer.concat(parts), next: pos, complete: false };
    const size = parseInt(sizeText, 16);
    pos = end + 1;
    if (size === 0) {
      // trailers up to an empty line
      for (;;) {
        const te = lineEnd(b, pos);
        if (te < 0) return { body: Buffer.concat(parts), next: b.length, complete: true };
        const line = lineAt(b, pos, te);
        pos = te + 1;
        if (line === '') return { body: Buffer.concat(parts), next: pos, complete: true };
      }
    }
    if (pos + size > b.length) {
      parts.push(b.subarray(pos));
      return { body: Buffer.concat(parts), next: b.length, complete: false };
    }
    parts.push(b.subarray(pos, pos + size));
    pos += size;
    if (b[pos] === 0x0d && b[pos + 1] === 0x0a) pos += 2;
    else if (b[pos] === 0x0a) pos += 1;
  }
}

function startsWithRequest(b: Buffer, from: number): boolean {
  const end = lineEnd(b, from);
  const line = end < 0 ? b.toString('latin1', from, Math.min(b.length, from + 8192)) : lineAt(b, from, end);
  return METHOD_LINE.test(line);
}

function skipBlank(b: Buffer, pos: number): number {
  while (pos < b.length && (b[pos] === 0x0d || b[pos] === 0x0a || b[pos] === 0x20 || b[pos] === 0x09)) pos++;
  return pos;
}

function requestUrl(method: string, target: string, headers: Headers): { url: string; host: string } | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    try {
      const u = new URL(target);
      return { url: u.href, host: u.hostname };
    } catch {
      return null;
    }
  }
  const hostHeader = headerValue(headers, 'host')?.trim();
  if (method === 'CONNECT') {
    try {
      const u = new URL(`https://${target}/`);
      return { url: `https://${u.hostname}/`, host: u.hostname };
    } catch {
      return null;
    }
  }
  if (!hostHeader) return null;
  const https = /:443$/.test(hostHeader);
  try {
    const u = new URL(
      `${https ? 'https' : 'http'}://${hostHeader}${target.startsWith('/') ? '' : '/'}${target}`,
    );
    return { url: u.href, host: u.hostname };
  } catch {
    return null;
  }
}

/** The requests of a raw HTTP/1.x file, one after another (pipelined). Exported for tests. */
export function* parseRawHttp(b: Buffer, file: string, warn: (m: string) => void): Generator<CaptureRecord> {
  let pos = skipBlank(b, 0);
  let index = 0;
  while (pos < b.length) {
    const reqLineEnd = lineEnd(b, pos);
    const m = METHOD_LINE.exec(reqLineEnd < 0 ? b.toString('latin1', pos) : lineAt(b, pos, reqLineEnd));
    if (!m) {
      warn(
        `${file}: ${b.length - pos} bytes after request #${index - 1} are not an HTTP/1.x request; they are ignored`,
      );
      return;
    }
    const method = m[1]!;
    const target = m[2]!;
    const version = /HTTP\/(1\.[0-9])/.exec(m[0])![1]!;
    // Headers up to the empty line; obsolete line folding joins a continuation to the previous header.
    const headers: Headers = {};
    let last = '';
    let p = reqLineEnd < 0 ? b.length : reqLineEnd + 1;
    let ended = false;
    while (p < b.length) {
      const end = lineEnd(b, p);
      const line = lineAt(b, p, end < 0 ? b.length : end);
      p = end < 0 ? b.length : end + 1;
      if (line === '') {
        ended = true;
        break;
      }
      if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
        addHeader(headers, last, `${headers[last]} ${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) {
        warn(`${file}: request #${index}: header line '${line.slice(0, 60)}' has no name; it is ignored`);
        continue;
      }
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      addHeader(headers, name, value, true);
      last = name;
    }
    if (!ended)
      warn(`${file}: request #${index}: the headers do not end with an empty line (the file is cut short?)`);
    let body: Buffer = Buffer.alloc(0);
    let bodySize = 0;
    let truncated = false;
    const te = headerValue(headers, 'transfer-encoding')?.toLowerCase() ?? '';
    const clText = headerValue(headers, 'content-length');
    if (/\bchunked\b/.test(te)) {
      const c = readChunked(b, p);
      body = c.body;
      bodySize = c.body.length;
      if (!c.complete) {
        truncated = true;
        warn(`${file}: request #${index}: the chunked body is incomplete; read ${body.length} bytes`);
      }
      p = c.next;
    } else if (clText !== undefined && /^\s*\d+\s*$/.test(clText)) {
      const cl = Number(clText);
      bodySize = cl;
      const end = Math.min(b.length, p + cl);
      body = b.subarray(p, end);
      if (body.length < cl) {
        truncated = true;
        warn(`${file}: request #${index}: Content-Length is ${cl} but only ${body.length} bytes follow`);
      }
      p = end;
    } else {
      const rest = skipBlank(b, p);
      if (rest < b.length && !startsWithRequest(b, rest)) {
        // No length: hand-written files often leave it out. Everything up to the next request line.
        let stop = b.length;
        for (let q = b.indexOf(0x0a, rest); q >= 0 && q + 1 < b.length; q = b.indexOf(0x0a, q + 1)) {
          if (startsWithRequest(b, q + 1)) {
            stop = q + 1;
            break;
          }
        }
        body = b.subarray(p, stop);
        // the line break before the next request belongs to the framing
        if (stop < b.length) body = body.subarray(0, body.length - (body.at(-2) === 0x0d ? 2 : 1));
        bodySize = body.length;
        warn(
          `${file}: request #${index} has a body but no Content-Length or chunked encoding; ` +
            `read ${body.length} bytes up to the ${stop < b.length ? 'next request' : 'end of the file'}`,
        );
        p = stop;
      }
    }
    const where = requestUrl(method, target, headers);
    let url: string;
    let host: string;
    if (where) ({ url, host } = where);
    else {
      warn(
        `${file}: request #${index} (${method} ${target.slice(0, 80)}) has no Host header; the host is unknown`,
      );
      host = '';
      url = `http://unknown${target.startsWith('/') ? target : `/${target}`}`;
    }
    yield {
      type: 'exchange',
      index,
      startedAt: '',
      method,
      url,
      host,
      httpVersion: version,
      request: { headers, body: Buffer.from(body), bodySize, truncated },
      response: null,
    };
    index++;
    pos = skipBlank(b, p);
  }
}
