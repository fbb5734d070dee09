/**
 * A framebuffer laid out as PNG scanlines (filter byte 0 + pixels per row), so encoding is one
 * deflate call with no copy. All drawing is clipped and done with Buffer.fill over row spans.
 */
import type { Bounds, Rgb } from './node.ts';
import { ADVANCE, LINE_HEIGHT, glyph, textWidth, GLYPH_HEIGHT, GLYPH_WIDTH } from './font.ts';
import { COLOR_RGB, COLOR_RGBA, encodePng } from './png.ts';

export class Canvas {
  readonly width: number;
  readonly height: number;
  readonly bpp: number;
  readonly stride: number;
  readonly buf: Buffer;
  private readonly patterns = new Map<Rgb, Buffer>();

  constructor(width: number, height: number, opts: { alpha?: boolean; background?: Rgb } = {}) {
    this.width = width;
    this.height = height;
    this.bpp = opts.alpha === false ? 3 : 4;
    this.stride = 1 + width * this.bpp;
    this.buf = Buffer.alloc(this.stride * height);
    this.fillRect(this.full(), opts.background ?? 0x000000);
  }

  full(): Bounds {
    return { left: 0, top: 0, right: this.width, bottom: this.height };
  }

  private pattern(rgb: Rgb): Buffer {
    let p = this.patterns.get(rgb);
    if (!p) {
      p = Buffer.from([(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff, 0xff].slice(0, this.bpp));
      this.patterns.set(rgb, p);
    }
    return p;
  }

  /** Clamps `b` to `clip` and the canvas; integer pixel edges. */
  private clamp(b: Bounds, clip?: Bounds): Bounds {
    const c = clip ?? this.full();
    return {
      left: Math.max(0, c.left, Math.round(b.left)),
      top: Math.max(0, c.top, Math.round(b.top)),
      right: Math.min(this.width, c.right, Math.round(b.right)),
      bottom: Math.min(this.height, c.bottom, Math.round(b.bottom)),
    };
  }

  /** Fills columns [x0, x1) of row y (already clipped). */
  private span(y: number, x0: number, x1: number, p: Buffer): void {
    if (x1 <= x0) return;
    const row = y * this.stride + 1;
    this.buf.fill(p, row + x0 * this.bpp, row + x1 * this.bpp);
  }

  fillRect(b: Bounds, rgb: Rgb, clip?: Bounds): void {
    const r = this.clamp(b, clip);
    if (r.right <= r.left) return;
    const p = this.pattern(rgb);
    for (let y = r.top; y < r.bottom; y++) this.span(y, r.left, r.right, p);
  }

  /** Rectangle with quarter-circle corners of `radius` px. */
  fillRoundRect(b: Bounds, radius: number, rgb: Rgb, clip?: Bounds): void {
    const rad = Math.max(0, Math.min(radius, (b.right - b.left) / 2, (b.bottom - b.top) / 2));
    if (rad < 1) return this.fillRect(b, rgb, clip);
    const r = this.clamp(b, clip);
    const p = this.pattern(rgb);
    for (let y = r.top; y < r.bottom; y++) {
      const fromTop = y - b.top + 0.5;
      const fromBottom = b.bottom - y - 0.5;
      const d = Math.min(fromTop, fromBottom);
      let indent = 0;
      if (d < rad) {
        const dy = rad - d;
        indent = Math.round(rad - Math.sqrt(Math.max(0, rad * rad - dy * dy)));
      }
      this.span(
        y,
        Math.max(r.left, Math.round(b.left) + indent),
        Math.min(r.right, Math.round(b.right) - indent),
        p,
      );
    }
  }

  /** Vertical linear gradient from `top` to `bottom` colour. */
  fillGradient(b: Bounds, top: Rgb, bottom: Rgb, clip?: Bounds): void {
    const r = this.clamp(b, clip);
    const h = Math.max(1, b.bottom - b.top - 1);
    for (let y = r.top; y < r.bottom; y++) {
      const t = Math.min(1, Math.max(0, (y - b.top) / h));
      this.span(y, r.left, r.right, this.pattern(mix(top, bottom, t)));
    }
  }

  strokeRect(b: Bounds, rgb: Rgb, thickness: number, clip?: Bounds): void {
    const t = Math.max(1, thickness);
    this.fillRect({ left: b.left, top: b.top, right: b.right, bottom: b.top + t }, rgb, clip);
    this.fillRect({ left: b.left, top: b.bottom - t, right: b.right, bottom: b.bottom }, rgb, clip);
    this.fillRect({ left: b.left, top: b.top + t, right: b.left + t, bottom: b.bottom - t }, rgb, clip);
    this.fillRect({ left: b.right - t, top: b.top + t, right: b.right, bottom: b.bottom - t }, rgb, clip);
  }

  /** Draws one line of text with its top-left at (x, y), each font pixel `scale` px square. */
  drawText(text: string, x: number, y: number, scale: number, rgb: Rgb, clip?: Bounds): void {
    const s = Math.max(1, Math.round(scale));
    const c = this.clamp(this.full(), clip);
    const p = this.pattern(rgb);
    let cx = Math.round(x);
    const top = Math.round(y);
    for (const ch of text) {
      if (cx >= c.right) break;
      if (cx + GLYPH_WIDTH * s > c.left) {
        const rows = glyph(ch.codePointAt(0)!);
        for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
          const bits = rows[gy]!;
          if (!bits) continue;
          const y0 = Math.max(c.top, top + gy * s);
          const y1 = Math.min(c.bottom, top + (gy + 1) * s);
          if (y1 <= y0) continue;
          // Runs of ink in this glyph row -> one span each.
          let gx = 0;
          while (gx < GLYPH_WIDTH) {
            if (!(bits & (1 << (GLYPH_WIDTH - 1 - gx)))) {
              gx++;
              continue;
            }
            const start = gx;
            while (gx < GLYPH_WIDTH && bits & (1 << (GLYPH_WIDTH - 1 - gx))) gx++;
            const x0 = Math.max(c.left, cx + start * s);
            const x1 = Math.min(c.right, cx + gx * s);
            for (let yy = y0; yy < y1; yy++) this.span(yy, x0, x1, p);
          }
        }
      }
      cx += ADVANCE * s;
    }
  }

  /** Width and height in px of a line of text at `scale`. */
  static measure(text: string, scale: number): { width: number; height: number } {
    const s = Math.max(1, Math.round(scale));
    return { width: textWidth(text, s), height: GLYPH_HEIGHT * s };
  }

  static lineHeight(scale: number): number {
    return LINE_HEIGHT * Math.max(1, Math.round(scale));
  }

  toPng(level = 1): Buffer {
    return encodePng(
      {
        width: this.width,
        height: this.height,
        colorType: this.bpp === 4 ? COLOR_RGBA : COLOR_RGB,
        scanlines: this.buf,
      },
      level,
    );
  }
}

/** Linear blend of two colours, t in [0, 1]. */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const ch = (shift: number): number => {
    const x = (a >> shift) & 0xff;
    const y = (b >> shift) & 0xff;
    return Math.round(x + (y - x) * t) & 0xff;
  };
  return (ch(16) << 16) | (ch(8) << 8) | ch(0);
}
