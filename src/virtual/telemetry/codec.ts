/**
 * Small codecs shared by the telemetry encoders: Java's String.hashCode (the Sensors `crc`),
 * base64url, and application/x-www-form-urlencoded bodies as Android builds them.
 */

/** Java `String.hashCode()` over UTF-16 code units, as a signed 32-bit integer (sensorsdata-format.md §4). */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

/** Android `Base64.encodeToString(bytes, URL_SAFE | NO_WRAP)`: `-` and `_`, padding kept. */
export function base64UrlPadded(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Decodes standard or URL-safe base64, with or without padding or line breaks. */
export function decodeBase64Any(s: string): Buffer {
  return Buffer.from(
    s
      .replace(/[\r\n\s]/g, '')
      .replace(/-/g, '+')
      .replace(/_/g, '/'),
    'base64',
  );
}

/**
 * A form body in the given field order, each value percent-encoded as Android's `Uri.encode` does
 * (everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )`; encodeURIComponent is the same set).
 */
export function formBody(fields: Array<[string, string]>): string {
  return fields.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** Parses a form body in order; `+` decodes to a space, as form decoders do. */
export function parseForm(body: string | Buffer): Map<string, string> {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const out = new Map<string, string>();
  for (const part of text.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const k = i < 0 ? part : part.slice(0, i);
    const v = i < 0 ? '' : part.slice(i + 1);
    out.set(decodeURIComponent(k.replace(/\+/g, ' ')), decodeURIComponent(v.replace(/\+/g, ' ')));
  }
  return out;
}
