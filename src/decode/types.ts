/** The decoded tree of one request: layers with provenance, findings, and limits. */

export interface DecodeInput {
  body: Buffer;
  contentType?: string;
  url?: string;
  headers?: Record<string, string>;
  /**
   * Decryption keys by name, e.g. from `phonehome inspect --key NAME=VALUE`:
   * - `mistat`: the 16-byte AES-128 session key of a MiStat v3 upload (the `p` field);
   * - `sensors`: the symmetric key of encrypted Sensors batches (`gzip=9`/`13` envelopes, on any
   *   host): 16 or 24 bytes → AES-CBC with the IV in the first 16 bytes, 32 bytes → AES-256-GCM
   *   (IV 12, tag 16) or AES-256-CBC;
   * - any other name is a host pattern (`api.example.com`, `*.example.com`, as src/util/hosts.ts
   *   reads them): the key (16, 24 or 32 bytes) applies to that host's exchanges, to their Sensors
   *   envelopes and MiStat uploads and to any binary residue (IV(16) ‖ AES-CBC, or IV(12) ‖
   *   AES-GCM ‖ tag(16)) whose plaintext is gzip or text.
   */
  keys?: Record<string, Buffer>;
}

export type LayerKind =
  | 'body'
  | 'query'
  | 'form'
  | 'cookie'
  | 'header'
  | 'json'
  | 'json-string'
  | 'multipart'
  | 'base64'
  | 'base64url'
  | 'hex'
  | 'base32'
  | 'percent'
  | 'gzip'
  | 'deflate'
  | 'zlib'
  | 'sensors'
  | 'miui-envelope'
  | 'mistat'
  | 'aes'
  | 'text'
  | 'opaque';

/** A node of the decoded tree. */
export interface Layer {
  /** Provenance, e.g. `body › form.data_list › base64 › gzip › json[2].properties.url`. */
  path: string;
  kind: LayerKind;
  /** Leaves: the string/number value; json: the parsed value; sensors/mistat: a summary object. */
  value?: unknown;
  /** The field, cookie, part or JSON key this layer is the value of (absent for array items and transforms). */
  key?: string;
  children: Layer[];
}

export interface DecodeFinding {
  kind: 'opaque' | 'limit' | 'error';
  path: string;
  detail: string;
}

export interface DecodeResult {
  root: Layer;
  findings: DecodeFinding[];
  /** Every layer carrying a string, number or boolean value, in tree order (outer layers first). */
  leaves(): Array<{ path: string; key: string; value: string }>;
}

export interface DecodeLimits {
  /** Nested transforms (base64, gzip, JSON-in-string…) below one field. */
  maxDepth: number;
  /** Nesting of one JSON document that gets walked. */
  maxJsonDepth: number;
  /** Output of one gzip/zlib/deflate stream. */
  maxInflateBytes: number;
  /** Output/input ratio of one stream, once past `inflateAllowance`. */
  maxRatio: number;
  /** Output any stream may reach whatever its ratio. */
  inflateAllowance: number;
  /** Bytes produced by all decoders of one input together. */
  maxTotalBytes: number;
  /** Layers in the tree. */
  maxNodes: number;
  /** Bodies longer than this are not decoded (reported as a limit). */
  maxInputBytes: number;
}

export const DEFAULT_LIMITS: DecodeLimits = {
  // Room for six wraps around a payload that has its own layers (a header or form field, then a
  // Sensors `data_list` with base64 and gzip): a firmware that nests deeper gets a `limit` finding.
  maxDepth: 12,
  maxJsonDepth: 64,
  maxInflateBytes: 16 * 1024 * 1024,
  maxRatio: 200,
  inflateAllowance: 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxNodes: 100_000,
  maxInputBytes: 64 * 1024 * 1024,
};
