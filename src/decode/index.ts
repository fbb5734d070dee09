/**
 * Layered decoding of captured requests with provenance (issue 4 §3): decode() turns one request
 * into a tree of layers and findings and never throws. The engine (context.ts: state, budgets,
 * layers; engine.ts: the walk and the order decoders are tried in) is apart from the formats
 * (formats/: bytes and compression, text encodings, parameters and multipart, AES, and the field
 * decoders: Sensors (sensorsdata-format.md §3–5), the MIUI H/B envelope (xiaomi-telemetry.md §2.2)
 * and MiStat (§2.4)). This module is the public API.
 */
export * from './types.ts';
export { javaHashCode } from './codecs.ts';
export { SEP, keySegment } from './context.ts';
export { decode } from './engine.ts';
