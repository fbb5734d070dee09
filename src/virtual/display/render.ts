/**
 * Paints a node tree into a Canvas for `screencap`: boxes by class (or node style), borders on
 * inputs and buttons, launcher icons, and text in the built-in bitmap font, each node clipped to
 * its parent.
 */
import type { Bounds, Rgb, UiNode } from './node.ts';
import { height, intersect, isEditable, isEmpty, isVisible, width } from './node.ts';
import { Canvas } from './canvas.ts';
import { reportedText } from './xml.ts';

export interface RenderOptions {
  /** Body text scale: font pixels -> screen pixels. */
  textScale: number;
  /** Pixels per dp. */
  dp: number;
  alpha?: boolean;
  /** Colour behind everything (what shows where no window draws). */
  background?: Rgb;
}

export const COLORS = {
  text: 0x212121,
  textSecondary: 0x8a8a8a,
  disabled: 0xb0b0b0,
  accent: 0x0d84ff,
  button: 0xeeeeee,
  border: 0xcfcfcf,
  field: 0xffffff,
  image: 0xd6d6d6,
  white: 0xffffff,
} as const;

interface ClassLook {
  background?: Rgb;
  border?: Rgb;
  radius?: number;
  centre?: boolean;
}

function classLook(n: UiNode, dp: number): ClassLook {
  const c = n.className;
  if (isEditable(n))
    return { background: COLORS.field, border: n.focused ? COLORS.accent : COLORS.border, radius: 6 * dp };
  if (/Button$/.test(c) && !/RadioButton$|ToggleButton$|ImageButton$/.test(c)) {
    return { background: COLORS.button, border: COLORS.border, radius: 8 * dp, centre: true };
  }
  if (/ImageView$|ImageButton$/.test(c)) return { background: COLORS.image, radius: 4 * dp };
  if (/ProgressBar$|SeekBar$/.test(c)) return { background: COLORS.accent };
  return {};
}

/** Splits text into lines no wider than `maxChars`, breaking at spaces where possible. */
function wrap(text: string, maxChars: number, maxLines: number): string[] {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  if (maxChars < 1 || maxLines < 1) return [];
  const lines: string[] = [];
  let pos = 0;
  while (pos < chars.length && lines.length < maxLines) {
    let end = Math.min(chars.length, pos + maxChars);
    if (end < chars.length) {
      const space = chars.lastIndexOf(' ', end);
      if (space > pos) end = space;
    }
    let line = chars.slice(pos, end).join('').trim();
    pos = end;
    while (chars[pos] === ' ') pos++;
    if (lines.length === maxLines - 1 && pos < chars.length) {
      const cut = [...line].slice(0, Math.max(1, maxChars - 2)).join('');
      line = `${cut}..`;
      pos = chars.length;
    }
    lines.push(line);
  }
  return lines;
}

function drawTextBlock(
  canvas: Canvas,
  text: string,
  box: Bounds,
  scale: number,
  colour: Rgb,
  centre: boolean,
  clip: Bounds,
  maxLines = Infinity,
): void {
  if (!text || isEmpty(box)) return;
  const s = Math.max(1, Math.round(scale));
  const advance = 6 * s;
  const line = Canvas.lineHeight(s);
  const maxChars = Math.floor((width(box) + s) / advance);
  const lines = wrap(text, maxChars, Math.min(maxLines, Math.max(1, Math.floor(height(box) / line))));
  const blockH = lines.length * line - 2 * s;
  let y = box.top + Math.max(0, Math.floor((height(box) - blockH) / 2));
  for (const l of lines) {
    const w = Canvas.measure(l, s).width;
    const x = centre ? box.left + Math.floor((width(box) - w) / 2) : box.left;
    canvas.drawText(l, x, y, s, colour, clip);
    y += line;
  }
}

function paintNode(canvas: Canvas, n: UiNode, parentClip: Bounds, opts: RenderOptions): void {
  if (!isVisible(n)) return;
  const clip = intersect(parentClip, n.bounds);
  if (isEmpty(clip)) return;
  const dp = opts.dp;
  const st = n.style ?? {};
  const look = classLook(n, dp);
  const b = n.bounds;
  const radius = st.radius ?? look.radius ?? 0;

  if (st.gradient) canvas.fillGradient(b, st.gradient[0], st.gradient[1], clip);
  else if (st.background !== undefined || look.background !== undefined) {
    canvas.fillRoundRect(b, radius, (st.background ?? look.background)!, clip);
  }
  const border = st.border ?? look.border;
  if (border !== undefined) canvas.strokeRect(b, border, Math.max(1, Math.round(dp)), clip);

  const scale = opts.textScale * (st.textScale ?? 1);
  const text = reportedText(n);
  const display = n.password && n.text ? '*'.repeat([...n.text].length) : text;
  const hinting = !n.text && !!text;
  const colour = !n.enabled
    ? COLORS.disabled
    : hinting
      ? COLORS.textSecondary
      : (st.foreground ?? COLORS.text);
  const pad = Math.round(8 * dp);

  if (st.icon !== undefined) {
    // Launcher icon: rounded square with the label's initial, label underneath.
    const size = Math.round(Math.min(width(b) * 0.62, height(b) * 0.56));
    const left = b.left + Math.floor((width(b) - size) / 2);
    const top = b.top + Math.round(height(b) * 0.08);
    const square = { left, top, right: left + size, bottom: top + size };
    canvas.fillRoundRect(square, size * 0.26, st.icon, clip);
    const initial = [...(n.text || n.contentDesc || '?')][0]!.toUpperCase();
    const big = Math.max(1, Math.floor(size / 14));
    const m = Canvas.measure(initial, big);
    canvas.drawText(
      initial,
      left + (size - m.width) / 2,
      top + (size - m.height) / 2,
      big,
      COLORS.white,
      clip,
    );
    const labelBox = {
      left: b.left + 2,
      top: square.bottom + Math.round(4 * dp),
      right: b.right - 2,
      bottom: b.bottom,
    };
    drawTextBlock(canvas, display, labelBox, scale, st.foreground ?? COLORS.white, true, clip, 1);
    return paintChildren(canvas, n, clip, opts);
  }

  let textBox: Bounds = { left: b.left, top: b.top, right: b.right, bottom: b.bottom };
  if (/CheckBox$|Switch$|RadioButton$|ToggleButton$/.test(n.className)) {
    const size = Math.min(height(b) - 4, Math.round(20 * dp));
    const isSwitch = /Switch$|ToggleButton$/.test(n.className);
    const w = isSwitch ? size * 2 : size;
    const right = isSwitch ? b.right - pad : b.left + pad + w;
    const box = { left: right - w, top: b.top + Math.floor((height(b) - size) / 2), right, bottom: 0 };
    box.bottom = box.top + size;
    const on = n.checked ? COLORS.accent : COLORS.border;
    canvas.fillRoundRect(box, isSwitch ? size / 2 : 3 * dp, on, clip);
    if (isSwitch) {
      const knobLeft = n.checked ? box.right - size : box.left;
      canvas.fillRoundRect(
        { left: knobLeft + 3, top: box.top + 3, right: knobLeft + size - 3, bottom: box.bottom - 3 },
        size / 2,
        COLORS.white,
        clip,
      );
      textBox = { ...textBox, left: b.left + pad, right: box.left - pad };
    } else {
      if (!n.checked)
        canvas.fillRect(
          { left: box.left + 3, top: box.top + 3, right: box.right - 3, bottom: box.bottom - 3 },
          COLORS.white,
          clip,
        );
      textBox = { ...textBox, left: box.right + pad };
    }
  } else if (border !== undefined || st.background !== undefined) {
    textBox = { ...textBox, left: b.left + pad, right: b.right - pad };
  }
  const centre = st.align ? st.align === 'center' : !!look.centre;
  drawTextBlock(canvas, display, textBox, scale, colour, centre, clip, isEditable(n) ? 1 : Infinity);
  paintChildren(canvas, n, clip, opts);
}

function paintChildren(canvas: Canvas, n: UiNode, clip: Bounds, opts: RenderOptions): void {
  for (const c of n.children) paintNode(canvas, c, clip, opts);
}

/** Renders the tree into a new canvas of the display size. */
export function renderTree(
  root: UiNode,
  displayWidth: number,
  displayHeight: number,
  opts: RenderOptions,
): Canvas {
  const canvas = new Canvas(displayWidth, displayHeight, {
    alpha: opts.alpha ?? true,
    background: opts.background ?? 0,
  });
  paintNode(canvas, root, canvas.full(), opts);
  return canvas;
}
