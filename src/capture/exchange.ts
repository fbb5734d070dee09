/**
 * What a capture session produces: one record per HTTP exchange or failed TLS handshake. Capture
 * knows nothing of decoding or scenarios; decoders take `request.body` and the headers, detectors
 * take the decoded tree. The same records are what `inspect` reads back from NDJSON, HAR or a raw
 * HTTP request.
 */

export type Headers = Record<string, string>;

export interface ExchangeRequest {
  headers: Headers;
  /** The body as received, up to the session's cap (`truncated` says whether it was cut). */
  body: Buffer;
  /** The body's full length on the wire (before decoding); -1 when it was dropped at the cap and its size is unknown (chunked). */
  bodySize: number;
  truncated: boolean;
}

export interface ExchangeResponse {
  status: number;
  headers: Headers;
  bodySize: number;
  /** `block`: answered locally by the session; `passthrough`: forwarded upstream. */
  source: 'local' | 'upstream';
}

export interface Exchange {
  /** Order of arrival within the session (0-based), and the order in every file it writes. */
  index: number;
  /** ISO time the request started. */
  startedAt: string;
  method: string;
  url: string;
  host: string;
  httpVersion: string;
  request: ExchangeRequest;
  response: ExchangeResponse | null;
  /** Why there is no response (client aborted, upstream failed). */
  error?: string;
  /** For HTTPS: the SNI the phone sent. */
  tls?: { sni?: string };
}

/** A TLS handshake the proxy could not complete: nothing was decrypted, only metadata is known. */
export interface TlsFailure {
  index: number;
  startedAt: string;
  /** The SNI the phone sent, or the CONNECT host when there was none. */
  host: string;
  /** mockttp's failure cause: `cert-rejected` (possible pinning), `closed`, `reset`, `no-shared-cipher`… */
  cause: string;
  remoteAddress?: string;
}

export type CaptureRecord = ({ type: 'exchange' } & Exchange) | ({ type: 'tls-failure' } & TlsFailure);
