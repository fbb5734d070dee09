/**
 * The capture's on-disk format, one declaration for the writer (src/capture/writers.ts) and the
 * reader (`phonehome inspect`, src/inspect/read.ts). A capture directory holds one file:
 * - `capture.har`: HAR 1.2 that opens in Chrome DevTools, one entry per `CaptureRecord`
 *   (src/capture/exchange.ts), in arrival order. Bodies that are UTF-8 are `postData.text` as is,
 *   others base64 with `postData._encoding: "base64"`; TLS failures are CONNECT entries with status 0
 *   and `_tlsFailure: {cause, remoteAddress?}`. What HAR has no field for: `_index`,
 *   `request._bodySize` (-1: dropped at the cap, size unknown), `request._truncated`,
 *   `response._source` (present exactly when the record has a response), `_error`, `_tls: {sni?}`,
 *   and `_host` when the URL does not give the record's host back. Every record field survives
 *   (test/unit/capture/writers-read.test.ts). It is streamed, and closed (`]}}`) on stop;
 *   `inspect` repairs one left open by a crash.
 * Before issue 14 a capture directory also held `exchanges.ndjson` (one record per line, a request
 * body as a `BodyRef` into `bodies.bin`, or null when empty) and `bodies.bin` (the request bodies
 * back to back). New captures write neither; `inspect` still reads them for old runs.
 */

/** `inspect DIR` reads the NDJSON when it is there (a run before issue 14), else the HAR. */
export const NDJSON_FILE = 'exchanges.ndjson';
export const BODIES_FILE = 'bodies.bin';
export const HAR_FILE = 'capture.har';

/** Where an NDJSON record's request body is: `length` bytes at `offset` of `file` (beside the NDJSON). */
export interface BodyRef {
  file: string;
  offset: number;
  length: number;
}

/** Whether a parsed `request.body` is a well-formed BodyRef (the reader trusts nothing it reads). */
export function isBodyRef(v: unknown): v is BodyRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.file === 'string' &&
    Number.isSafeInteger(r.offset) &&
    Number.isSafeInteger(r.length) &&
    (r.offset as number) >= 0 &&
    (r.length as number) >= 0
  );
}
