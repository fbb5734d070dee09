/**
 * One read of the screen's hierarchy as the UiAutomator2 server sees it: exactly the nodes that
 * `uiautomator dump` and `GET /source` write (visible nodes overlapping their parent, bounds clipped
 * to the parent's, each keeping its index among all its siblings), with their XML attributes. The
 * finders (id, xpath, UiSelector…) and the element commands all work on this.
 */
import type { Bounds, UiNode } from '../display/node.ts';
import { intersect, isVisible } from '../display/node.ts';
import { reportedText } from '../display/xml.ts';

export interface ElNode {
  node: UiNode;
  parent: ElNode | null;
  children: ElNode[];
  /** Index among all the node's siblings (the XML `index`). */
  index: number;
  /** Child indexes from the root (the root's path is []). */
  path: number[];
  /** Visible bounds (clipped to the parent's). */
  bounds: Bounds;
  /** Position in document order. */
  order: number;
}

export interface Snapshot {
  root: ElNode | null;
  /** Every node in document order. */
  all: ElNode[];
  byNode: Map<UiNode, ElNode>;
}

function overlaps(a: Bounds, b: Bounds): boolean {
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

export function snapshot(root: UiNode, width: number, height: number): Snapshot {
  const all: ElNode[] = [];
  const byNode = new Map<UiNode, ElNode>();
  const rec = (n: UiNode, parent: ElNode | null, index: number, clip: Bounds): ElNode => {
    const el: ElNode = {
      node: n,
      parent,
      children: [],
      index,
      path: parent ? [...parent.path, index] : [],
      bounds: intersect(n.bounds, clip),
      order: all.length,
    };
    all.push(el);
    byNode.set(n, el);
    n.children.forEach((c, i) => {
      if (isVisible(c) && overlaps(c.bounds, el.bounds)) el.children.push(rec(c, el, i, el.bounds));
    });
    return el;
  };
  const top = isVisible(root) ? rec(root, null, 0, { left: 0, top: 0, right: width, bottom: height }) : null;
  return { root: top, all, byNode };
}

/** The node at `path` (indexes among all siblings), if it is in the snapshot. */
export function atPath(s: Snapshot, path: number[]): ElNode | undefined {
  let el = s.root ?? undefined;
  for (const i of path) {
    el = el?.children.find((c) => c.index === i);
    if (!el) return undefined;
  }
  return el;
}

/** Every descendant of `el` in document order (not `el` itself). */
export function descendants(el: ElNode): ElNode[] {
  const out: ElNode[] = [];
  const rec = (n: ElNode): void => {
    for (const c of n.children) {
      out.push(c);
      rec(c);
    }
  };
  rec(el);
  return out;
}

export function boundsString(b: Bounds): string {
  return `[${b.left},${b.top}][${b.right},${b.bottom}]`;
}

/** The attributes of `GET /source`, in its order, as strings. */
export const SOURCE_ATTRIBUTES = [
  'index',
  'package',
  'class',
  'text',
  'resource-id',
  'content-desc',
  'checkable',
  'checked',
  'clickable',
  'enabled',
  'focusable',
  'focused',
  'long-clickable',
  'password',
  'scrollable',
  'selected',
  'bounds',
  'displayed',
] as const;

/** Attribute aliases `GET /element/:id/attribute/:name` accepts (server: Attribute.java). */
const ALIASES: Record<string, string> = {
  className: 'class',
  contentDescription: 'content-desc',
  'content-description': 'content-desc',
  resourceId: 'resource-id',
  longClickable: 'long-clickable',
  packageName: 'package',
};

/** An attribute as the server reports it; null for an unknown name. */
export function attribute(el: ElNode, name: string): string | null {
  const n = el.node;
  switch (ALIASES[name] ?? name) {
    case 'index':
      return String(el.index);
    case 'package':
      return n.packageName;
    case 'class':
      return n.className;
    case 'text':
      return reportedText(n);
    case 'original-text':
      return n.text;
    case 'hint':
      return n.hint ?? null;
    case 'resource-id':
      return n.resourceId;
    case 'content-desc':
      return n.contentDesc;
    case 'name':
      return n.contentDesc || reportedText(n);
    case 'checkable':
      return String(n.checkable);
    case 'checked':
      return String(n.checked);
    case 'clickable':
      return String(n.clickable);
    case 'enabled':
      return String(n.enabled);
    case 'focusable':
      return String(n.focusable);
    case 'focused':
      return String(n.focused);
    case 'long-clickable':
      return String(n.longClickable);
    case 'password':
      return String(n.password);
    case 'scrollable':
      return String(n.scrollable);
    case 'selected':
      return String(n.selected);
    case 'bounds':
      return boundsString(el.bounds);
    case 'displayed':
      return 'true';
    default:
      return null;
  }
}

/** The XML tag of a node in `GET /source` (its class name, with characters a Name cannot hold replaced). */
export function tagOf(el: ElNode): string {
  const t = el.node.className.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z_]/.test(t) ? t : `_${t}`;
}
