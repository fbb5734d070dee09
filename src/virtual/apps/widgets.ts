/** Small view builders shared by the app screens: preference-style rows, list layout. */
import type { Screen } from '../display/screen.ts';
import type { Bounds, UiNode } from '../display/node.ts';
import { node, rect } from '../display/node.ts';

/** Row bounds for a vertical list starting at `top`, each `h` px high. */
export function listRows(s: Screen, area: Bounds, count: number, h: number): Bounds[] {
  const out: Bounds[] = [];
  for (let i = 0; i < count; i++) {
    const top = area.top + i * h;
    out.push(rect(area.left, Math.min(top, area.bottom), area.right, Math.min(top + h, area.bottom)));
  }
  return out;
}

/** A section header (non-clickable). */
export function headerRow(s: Screen, b: Bounds, title: string): UiNode {
  return node('TextView', {
    resourceId: 'android:id/title',
    text: title,
    bounds: rect(b.left + s.dp(16), b.top, b.right - s.dp(16), b.bottom),
    style: { foreground: 0x0d84ff, textScale: 0.85 },
  });
}

/** A preference that opens something: title (and summary) in a clickable row. */
export function linkRow(
  s: Screen,
  b: Bounds,
  opts: { title: string; summary?: string; resourceId?: string; onTap: () => void },
): UiNode {
  const textRight = b.right - s.dp(16);
  const children: UiNode[] = [];
  const mid = opts.summary ? Math.round((b.top + b.bottom) / 2) + s.dp(2) : b.bottom;
  children.push(
    node('TextView', {
      resourceId: 'android:id/title',
      text: opts.title,
      bounds: rect(b.left + s.dp(16), b.top, textRight, mid),
    }),
  );
  if (opts.summary) {
    children.push(
      node('TextView', {
        resourceId: 'android:id/summary',
        text: opts.summary,
        bounds: rect(b.left + s.dp(16), mid, textRight, b.bottom),
        style: { foreground: 0x8a8a8a, textScale: 0.8 },
      }),
    );
  }
  return node('LinearLayout', {
    resourceId: opts.resourceId ?? '',
    clickable: true,
    focusable: true,
    bounds: b,
    onTap: opts.onTap,
    children,
  });
}

/**
 * A switch preference as Android lays it out: the row is clickable (a tap anywhere toggles), the
 * Switch widget inside shows the state (checkable, not clickable itself).
 */
export function switchRow(
  s: Screen,
  b: Bounds,
  opts: { title: string; summary?: string; resourceId?: string; checked: boolean; onToggle: () => void },
): UiNode {
  const switchW = s.dp(56);
  const sw = rect(b.right - s.dp(16) - switchW, b.top + s.dp(16), b.right - s.dp(16), b.bottom - s.dp(16));
  const row = linkRow(s, rect(b.left, b.top, b.right, b.bottom), {
    title: opts.title,
    ...(opts.summary !== undefined ? { summary: opts.summary } : {}),
    ...(opts.resourceId !== undefined ? { resourceId: opts.resourceId } : {}),
    onTap: opts.onToggle,
  });
  for (const c of row.children) c.bounds = { ...c.bounds, right: sw.left - s.dp(8) };
  row.children.push(
    node('Switch', {
      resourceId: 'android:id/switch_widget',
      checkable: true,
      checked: opts.checked,
      bounds: sw,
      style: { background: opts.checked ? 0x0d84ff : 0xcccccc, radius: Math.round((sw.bottom - sw.top) / 2) },
    }),
  );
  return row;
}

/** A radio choice row (checkable and clickable itself, like a CheckedTextView in a list dialog). */
export function radioRow(
  s: Screen,
  b: Bounds,
  opts: { title: string; checked: boolean; onTap: () => void },
): UiNode {
  return node('CheckedTextView', {
    resourceId: 'android:id/text1',
    text: opts.title,
    checkable: true,
    checked: opts.checked,
    clickable: true,
    focusable: true,
    bounds: b,
    onTap: opts.onTap,
    style: { foreground: opts.checked ? 0x0d84ff : 0x111111 },
  });
}
