/**
 * XML serialisations of a node tree.
 *
 * `uiautomatorDumpXml` writes what `uiautomator dump` (AccessibilityNodeInfoDumper + KXmlSerializer)
 * writes: one line, `<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>`, then
 * `<hierarchy rotation="R">` and `<node>` elements with the attributes in the dumper's order;
 * childless nodes close as ` />`. Like the dumper, invisible children are skipped but keep their
 * `index`, bounds are the visible bounds (clipped to the display), characters that XML cannot
 * carry become '?', and newlines/tabs inside values are written as character references.
 *
 * `uia2SourceXml` is the UiAutomator2 server's `GET /source` shape (class names as tag names plus
 * `displayed`), for the emulated UIA2 server.
 */
import type { Bounds, UiNode } from './node.ts';
import { intersect, isEditable, isVisible } from './node.ts';

export const XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>";

/** Escapes an attribute value: & < > " ' and \t \n \r as character references; invalid chars -> '?'. */
export function escapeXmlAttr(value: string): string {
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '&':
        out += '&amp;';
        break;
      case '<':
        out += '&lt;';
        break;
      case '>':
        out += '&gt;';
        break;
      case '"':
        out += '&quot;';
        break;
      case "'":
        out += '&apos;';
        break;
      case '\t':
      case '\n':
      case '\r':
        out += `&#${c};`;
        break;
      default:
        // XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
        if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff) || c === 0xfffe || c === 0xffff) out += '?';
        else out += ch;
    }
  }
  return out;
}

/** The text an AccessibilityNodeInfo reports: hint for empty edit fields, bullets for passwords. */
export function reportedText(n: UiNode): string {
  if (n.password && n.text) return '\u2022'.repeat([...n.text].length);
  if (!n.text && n.hint && isEditable(n)) return n.hint;
  return n.text;
}

function boundsAttr(b: Bounds): string {
  return `[${b.left},${b.top}][${b.right},${b.bottom}]`;
}

export interface DumpOptions {
  /** Display size: bounds are clipped to it. */
  width: number;
  height: number;
  /** Surface.ROTATION_*: 0..3. */
  rotation?: number;
}

/** One line of `uiautomator dump` XML for the tree under `root` (root gets index 0). */
export function uiautomatorDumpXml(root: UiNode, opts: DumpOptions): string {
  const nodes = elementsXml(
    root,
    opts,
    () => 'node',
    (n, index, bounds) =>
      `index="${index}" text="${escapeXmlAttr(reportedText(n))}" resource-id="${escapeXmlAttr(n.resourceId)}"` +
      ` class="${escapeXmlAttr(n.className)}" package="${escapeXmlAttr(n.packageName)}"` +
      ` content-desc="${escapeXmlAttr(n.contentDesc)}" checkable="${n.checkable}" checked="${n.checked}"` +
      ` clickable="${n.clickable}" enabled="${n.enabled}" focusable="${n.focusable}" focused="${n.focused}"` +
      ` scrollable="${n.scrollable}" long-clickable="${n.longClickable}" password="${n.password}"` +
      ` selected="${n.selected}" bounds="${boundsAttr(bounds)}"`,
  );
  return `${XML_DECLARATION}<hierarchy rotation="${opts.rotation ?? 0}">${nodes}</hierarchy>`;
}

/**
 * The visible tree under `root` as nested elements named `tag(node)` with `attrs(node, index,
 * bounds)`. Bounds are clipped to the parent's (the root's to the display); a node keeps its index
 * among all its siblings; hidden nodes and nodes outside their parent are left out.
 */
function elementsXml(
  root: UiNode,
  opts: DumpOptions,
  tag: (n: UiNode) => string,
  attrs: (n: UiNode, index: number, bounds: Bounds) => string,
): string {
  const display = { left: 0, top: 0, right: opts.width, bottom: opts.height };
  const parts: string[] = [];
  const rec = (n: UiNode, index: number, clip: Bounds): void => {
    const visible = intersect(n.bounds, clip);
    const name = tag(n);
    parts.push(`<${name} ${attrs(n, index, visible)}`);
    const kids = n.children
      .map((c, i) => [c, i] as const)
      .filter(([c]) => isVisible(c) && overlaps(c.bounds, visible));
    if (!kids.length) {
      parts.push(' />');
      return;
    }
    parts.push('>');
    for (const [c, i] of kids) rec(c, i, visible);
    parts.push(`</${name}>`);
  };
  if (isVisible(root)) rec(root, 0, display);
  return parts.join('');
}

function overlaps(a: Bounds, b: Bounds): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/** A class name as an XML tag (UIA2 replaces characters a Name cannot hold, e.g. `$`). */
function tagName(className: string): string {
  const t = className.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z_]/.test(t) ? t : `_${t}`;
}

/**
 * The UiAutomator2 server's page source: `<hierarchy index="0" class="hierarchy" rotation width
 * height>` with one element per node named after its class.
 */
export function uia2SourceXml(root: UiNode, opts: DumpOptions): string {
  const nodes = elementsXml(
    root,
    opts,
    (n) => tagName(n.className),
    (n, index, bounds) =>
      `index="${index}" package="${escapeXmlAttr(n.packageName)}" class="${escapeXmlAttr(n.className)}"` +
      ` text="${escapeXmlAttr(reportedText(n))}" resource-id="${escapeXmlAttr(n.resourceId)}"` +
      ` content-desc="${escapeXmlAttr(n.contentDesc)}" checkable="${n.checkable}" checked="${n.checked}"` +
      ` clickable="${n.clickable}" enabled="${n.enabled}" focusable="${n.focusable}" focused="${n.focused}"` +
      ` long-clickable="${n.longClickable}" password="${n.password}" scrollable="${n.scrollable}"` +
      ` selected="${n.selected}" bounds="${boundsAttr(bounds)}" displayed="true"`,
  );
  return (
    XML_DECLARATION +
    `<hierarchy index="0" class="hierarchy" rotation="${opts.rotation ?? 0}" width="${opts.width}" height="${opts.height}">` +
    `${nodes}</hierarchy>`
  );
}
