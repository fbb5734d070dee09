/**
 * HTTP/1.1 server side on one phone-loopback connection (an `adb forward` stream to tcp:6790), as
 * much as Appium's JWProxy needs: requests one after another on a keep-alive connection, bodies by
 * Content-Length or chunked, JSON responses with Content-Length. The connection closes on
 * `Connection: close`, a malformed request, or when the server stops.
 */
import type { Duplex } from 'node:stream';
import { readBody, StreamReader, WireError, writeAll } from '../netstack/wire.ts';

export interface HttpRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface HttpResponse {
  status: number;
  body: string;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
};

async function readRequestHead(reader: StreamReader): Promise<Omit<HttpRequest, 'body'> | null> {
  for (;;) {
    const i = reader.buffered.indexOf('\r\n\r\n');
    if (i >= 0) {
      const lines = reader
        .consume(i + 4)
        .toString('latin1')
        .split('\r\n');
      const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
      if (!m) throw new WireError('malformed', `bad request line '${(lines[0] ?? '').slice(0, 80)}'`);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        if (!line) continue;
        const c = line.indexOf(':');
        if (c <= 0) throw new WireError('malformed', `bad header line '${line.slice(0, 80)}'`);
        headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      const target = m[2] as string;
      const q = target.indexOf('?');
      return { method: m[1] as string, path: q >= 0 ? target.slice(0, q) : target, headers };
    }
    if (reader.buffered.length > 64 * 1024) throw new WireError('malformed', 'request head too large');
    if (!(await reader.more())) {
      if (reader.buffered.length === 0) return null;
      throw new WireError('closed', 'connection closed inside a request head');
    }
  }
}

/**
 * Serves requests on `conn` until the peer closes it. `handle` never throws (it turns errors into
 * responses); a failure here only ends this connection.
 */
export async function serveConnection(
  conn: Duplex,
  handle: (req: HttpRequest) => Promise<HttpResponse>,
): Promise<void> {
  const reader = new StreamReader(conn);
  try {
    for (;;) {
      const head = await readRequestHead(reader);
      if (!head) break;
      const hasBody = head.headers['content-length'] !== undefined || head.headers['transfer-encoding'];
      const body = hasBody
        ? await readBody(reader, { status: 200, reason: '', headers: head.headers }, false)
        : Buffer.alloc(0);
      const res = await handle({ ...head, body });
      const payload = Buffer.from(res.body, 'utf8');
      const close = /close/i.test(head.headers.connection ?? '');
      const text =
        `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? 'Unknown'}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${payload.length}\r\n` +
        `Connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n`;
      await writeAll(conn, Buffer.concat([Buffer.from(text, 'latin1'), payload]));
      if (close) break;
    }
  } catch {
    // A broken or malformed connection: drop it.
  } finally {
    conn.end();
  }
}
