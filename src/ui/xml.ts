/**
 * A small strict parser for the UI hierarchy XML Android tools write, and locator matching over it.
 *
 * Two shapes are accepted, both one `<hierarchy>` root:
 * - `uiautomator dump` (AccessibilityNodeInfoDumper + KXmlSerializer): `<node>` elements;
 * - the UiAutomator2 server's page source: elements named after the node's class (`<android.widget.TextView>`).
 * Both carry the same attributes (`index text resource-id class package content-desc checkable checked
 * clickable enabled focusable focused scrollable long-clickable password selected bounds`).
 *
 * Strict means: an XML declaration, then elements with quoted attributes only (no text content, no
 * comments, no CDATA), balanced tags, no duplicate attributes, known entities and character
 * references only, and `[l,t][r,b]` bounds on every node. Anything else throws a UiXmlError giving the
 * offset, so a truncated dump is never taken for an empty screen.
 */
import type { Bounds, Locator } from './driver.ts';

export interface XmlNode {
  /** `node` (uiautomator dump) or the class name (UiAutomator2 source). */
  tag: string;
  attrs: Record<string, string>;
  bounds: Bounds;
  children: XmlNode[];
  parent: XmlNode | null;
}

export class UiXmlError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`UI hierarchy XML, offset ${offset}: ${message}`);
    this.name = 'UiXmlError';
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const NAME = /[A-Za-z_][\w.$-]*/y;
const DECL = /^\s*<\?xml\s[^?]*\?>/;

function decode(raw: string, offset: number): string {
  return raw.replace(/&([^;&\s]*);?/g, (m: string, body: string) => {
    if (!m.endsWith(';')) throw new UiXmlError(`bare '&' in an attribute value`, offset);
    if (/^#x[0-9a-f]+$/i.test(body)) return String.fromCodePoint(parseInt(body.slice(2), 16));
    if (/^#\d+$/.test(body)) return String.fromCodePoint(Number(body.slice(1)));
    const e = ENTITIES[body];
    if (e === undefined) throw new UiXmlError(`unknown entity &${body};`, offset);
    return e;
  });
}

export function parseBounds(s: string | undefined, offset = 0): Bounds {
  const m = /^\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]$/.exec(s ?? '');
  if (!m) throw new UiXmlError(`bad bounds ${JSON.stringify(s)}`, offset);
  return { left: +m[1]!, top: +m[2]!, right: +m[3]!, bottom: +m[4]! };
}

/**
 * Extracts the XML from a tool's output: `uiautomator dump` prints "UI hierchary dumped to: FILE"
 * (sic) and some ROMs print warnings before the declaration.
 */
export function extractXml(output: string): string | undefined {
  const start = output.indexOf('<?xml');
  const end = output.lastIndexOf('</hierarchy>');
  if (start < 0 || end < start) return undefined;
  return output.slice(start, end + '</hierarchy>'.length);
}

/** Parses a hierarchy; returns the `<hierarchy>` element (its children are the window roots). */
export function parseHierarchy(xml: string): XmlNode {
  const decl = DECL.exec(xml);
  if (!decl) throw new UiXmlError(`no XML declaration (starts ${JSON.stringify(xml.slice(0, 40))})`, 0);
  let pos = decl[0].length;
  const ws = () => {
    while (pos < xml.length && /\s/.test(xml[pos]!)) pos++;
  };
  const name = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(xml);
    if (!m) throw new UiXmlError(`expected a name, found ${JSON.stringify(xml.slice(pos, pos + 20))}`, pos);
    pos = NAME.lastIndex;
    return m[0];
  };
  const stack: XmlNode[] = [];
  let root: XmlNode | null = null;
  for (;;) {
    ws();
    if (pos >= xml.length) break;
    if (xml[pos] !== '<') {
      throw new UiXmlError(`unexpected text ${JSON.stringify(xml.slice(pos, pos + 20))}`, pos);
    }
    pos++;
    if (xml[pos] === '/') {
      pos++;
      const at = pos;
      const n = name();
      ws();
      if (xml[pos] !== '>') throw new UiXmlError(`expected '>' after </${n}`, pos);
      pos++;
      const open = stack.pop();
      if (!open || open.tag !== n) {
        throw new UiXmlError(`</${n}> does not close ${open ? `<${open.tag}>` : 'anything'}`, at);
      }
      continue;
    }
    if (xml[pos] === '!' || xml[pos] === '?')
      throw new UiXmlError('comments, CDATA and PIs are not expected', pos);
    const at = pos;
    const tag = name();
    const attrs: Record<string, string> = {};
    let selfClosing = false;
    for (;;) {
      const before = pos;
      ws();
      if (xml.startsWith('/>', pos)) {
        pos += 2;
        selfClosing = true;
        break;
      }
      if (xml[pos] === '>') {
        pos++;
        break;
      }
      if (pos === before) throw new UiXmlError(`expected whitespace, '>' or '/>' in <${tag}>`, pos);
      const attrAt = pos;
      const key = name();
      ws();
      if (xml[pos] !== '=') throw new UiXmlError(`expected '=' after attribute ${key}`, pos);
      pos++;
      ws();
      const quote = xml[pos];
      if (quote !== '"' && quote !== "'") throw new UiXmlError(`attribute ${key} is not quoted`, pos);
      const close = xml.indexOf(quote, pos + 1);
      if (close < 0) throw new UiXmlError(`unterminated value of attribute ${key}`, pos);
      const raw = xml.slice(pos + 1, close);
      if (raw.includes('<')) throw new UiXmlError(`'<' in the value of attribute ${key}`, pos);
      if (key in attrs) throw new UiXmlError(`duplicate attribute ${key} in <${tag}>`, attrAt);
      attrs[key] = decode(raw, pos);
      pos = close + 1;
    }
    const parent = stack[stack.length - 1] ?? null;
    if (!parent) {
      if (root) throw new UiXmlError('more than one root element', at);
      if (tag !== 'hierarchy') throw new UiXmlError(`the root is <${tag}>, not <hierarchy>`, at);
    } else if (tag === 'hierarchy') throw new UiXmlError('<hierarchy> inside the hierarchy', at);
    const n: XmlNode = {
      tag,
      attrs,
      bounds: parent ? parseBounds(attrs.bounds, at) : { left: 0, top: 0, right: 0, bottom: 0 },
      children: [],
      parent,
    };
    if (parent) parent.children.push(n);
    else root = n;
    if (!selfClosing) stack.push(n);
  }
  if (stack.length) throw new UiXmlError(`unclosed <${stack.map((s) => s.tag).join('> <')}>`, xml.length);
  if (!root) throw new UiXmlError('no <hierarchy> element', xml.length);
  const tops = root.children;
  if (tops.length) {
    root.bounds = {
      left: Math.min(...tops.map((t) => t.bounds.left)),
      top: Math.min(...tops.map((t) => t.bounds.top)),
      right: Math.max(...tops.map((t) => t.bounds.right)),
      bottom: Math.max(...tops.map((t) => t.bounds.bottom)),
    };
  }
  return root;
}

/** Every node under the hierarchy, in document order (pre-order). */
export function allNodes(root: XmlNode): XmlNode[] {
  const out: XmlNode[] = [];
  const rec = (n: XmlNode): void => {
    out.push(n);
    n.children.forEach(rec);
  };
  root.children.forEach(rec);
  return out;
}

/** Whether the node itself satisfies the locator's attribute criteria and its `within`. */
export function matches(n: XmlNode, l: Locator): boolean {
  const a = n.attrs;
  if (l.id !== undefined && a['resource-id'] !== l.id) return false;
  if (l.text !== undefined && a.text !== l.text) return false;
  if (l.textContains !== undefined && !(a.text ?? '').includes(l.textContains)) return false;
  if (l.desc !== undefined && a['content-desc'] !== l.desc) return false;
  if (l.class !== undefined && (a.class ?? n.tag) !== l.class) return false;
  if (l.within !== undefined) {
    let p = n.parent;
    while (p && p.tag !== 'hierarchy' && !matches(p, l.within)) p = p.parent;
    if (!p || p.tag === 'hierarchy') return false;
  }
  return true;
}

/** The first node (document order) matching the locator. */
export function findNode(root: XmlNode, l: Locator): XmlNode | undefined {
  return allNodes(root).find((n) => matches(n, l));
}
