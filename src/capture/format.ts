/**
 * The capture's on-disk format, one declaration for the writer (src/capture/writers.ts) and the
 * reader (`phonehome inspect`, src/inspect/read.ts). A capture directory holds:
 * - `exchanges.ndjson`: one `CaptureRecord` (src/capture/exchange.ts) per line; a request body is a
 *   `BodyRef` into `bodies.bin` (or null when empty);
 * - `bodies.bin`: the request bodies back to back;
 * - `capture.har`: HAR 1.2 that opens in Chrome DevTools. Bodies that are not UTF-8 are base64 with
 *   `postData._encoding: "base64"`; TLS failures are CONNECT entries with status 0 and `_tlsFailure`;
 *   `_index`, `_bodySize`, `_truncated`, `_source` and `_error` carry what HAR has no field for.
 *   It is closed (`]}}`) on stop; `inspect` repairs one left open by a crash.
 * The two files are written in the same order with the same `index`.
 */

/** A capture directory holds these; `inspect DIR` reads the NDJSON when it is there, else the HAR. */
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
