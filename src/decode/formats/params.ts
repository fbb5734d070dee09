/**
 * Parameters inside other formats: a URL's query and a nested form in a string value, and the parts
 * of a multipart body. The pairs they yield are walked by the engine (ctx.walk.params) like a
 * request's own query and form.
 */
import { asText, looksLikeForm, parsePairs } from '../codecs.ts';
import { join, keySegment, layer, type Ctx } from '../context.ts';
import type { Layer } from '../types.ts';

export function urlQueryDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (s.indexOf('://') <= 0 || !s.includes('?')) return null;
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^\s?#]*\?([^\s#]+)/i.exec(s);
  if (!m?.[1] || !m[1].includes('=')) return null;
  return ctx.walk.params('query', parsePairs(m[1]), join(path, 'query'), ctx, depth);
}

export function nestedFormDecoder(s: string, path: string, ctx: Ctx, depth: number): Layer | null {
  if (!s.includes('&') || !looksLikeForm(s)) return null;
  return ctx.walk.params('form', parsePairs(s), join(path, 'form'), ctx, depth);
}

export function boundaryOf(contentType: string): string | null {
  const m = /boundary=(?:"([^"]{1,200})"|([^;\s]{1,200}))/i.exec(contentType);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

export function multipartLayer(body: Buffer, boundary: string, path: string, ctx: Ctx, depth: number): Layer {
  const container = layer(ctx, 'multipart', join(path, 'multipart'));
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  let index = 0;
  while (pos >= 0 && !ctx.full) {
    const start = pos + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // closing --boundary--
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    let part = body.subarray(start, next);
    if (part[0] === 0x0d && part[1] === 0x0a) part = part.subarray(2);
    else if (part[0] === 0x0a) part = part.subarray(1);
    if (part.length >= 2 && part[part.length - 2] === 0x0d && part[part.length - 1] === 0x0a)
      part = part.subarray(0, -2);
    else if (part[part.length - 1] === 0x0a) part = part.subarray(0, -1);
    let headerEnd = part.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (headerEnd < 0) {
      headerEnd = part.indexOf('\n\n');
      sepLen = 2;
    }
    const head = headerEnd < 0 ? '' : part.subarray(0, headerEnd).toString('latin1');
    const content = headerEnd < 0 ? part : part.subarray(headerEnd + sepLen);
    const name = /name="([^"]*)"/i.exec(head)?.[1] ?? /name=([^;\s]+)/i.exec(head)?.[1] ?? `#${index}`;
    const p = container.path + keySegment(name);
    const text = asText(content);
    const field = layer(ctx, 'multipart', p, text ?? undefined, name);
    if (text !== null) field.children = ctx.walk.discover(text, p, ctx, depth + 1);
    else field.children = [ctx.walk.bytes(content, p, ctx, depth + 1)];
    container.children.push(field);
    pos = next;
    index++;
  }
  return container;
}
