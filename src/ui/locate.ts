/**
 * What `phonehome ui snapshot` and `phonehome ui locate` compute from one hierarchy (issue 11 §1):
 * which locators.json keys match the screen, the nodes a query names, and for a node the locators
 * that would find it, ranked by robustness:
 *   1. resource-id (developers rarely rename ids, and they do not depend on the UI language),
 *   2. content-desc, 3. text (both change with the language and app version),
 *   4. resource-id + text (an id shared by several rows, told apart by the text),
 *   5. class (+ text) within the nearest ancestor that has a resource-id,
 *   6. an XPath by position (shown for Appium Inspector; it breaks on any layout change, and a
 *      locator file has no XPath field).
 * Each with whether it matches this node alone on the screen.
 */
import { describeLocator, type Locator } from './driver.ts';
import {
  closestNodes,
  describeBounds,
  idSuffix,
  summariseNode,
  type ClosestNode,
  type NodeSummary,
} from './miss.ts';
import { LocatorDataError, targetOf, type LocatorData } from './pages/locators.ts';
import { allNodes, matches, type XmlNode } from './xml.ts';

export type KeyStatus =
  | { key: string; status: 'match'; index: number; locator: Locator; origin?: string; node: NodeSummary }
  | { key: string; status: 'miss'; candidates: Locator[] }
  | { key: string; status: 'needs'; needs: string[] };

const PLACEHOLDER = /\{(\w+)\}/g;

function placeholders(l: Locator): string[] {
  const out: string[] = [];
  for (const k of ['id', 'text', 'textContains', 'desc', 'class'] as const) {
    for (const m of (l[k] ?? '').matchAll(PLACEHOLDER)) out.push(m[1]!);
  }
  if (l.within) out.push(...placeholders(l.within));
  return out;
}

/** The first node (document order) matching `l`, and how many match. */
export function countMatches(root: XmlNode, l: Locator): { first: XmlNode | undefined; count: number } {
  let first: XmlNode | undefined;
  let count = 0;
  for (const n of allNodes(root)) {
    if (matches(n, l)) {
      count++;
      first ??= n;
    }
  }
  return { first, count };
}

/** One key on this screen: the first candidate that matches, a miss, or the placeholders it needs. */
export function evaluateKey(
  root: XmlNode,
  data: LocatorData,
  key: string,
  vars: Record<string, string>,
): KeyStatus {
  const entry = data.locators[key];
  if (!entry) throw new LocatorDataError(data.file, `locators.${key}`, 'no such entry');
  const missing = [...new Set(entry.locators.flatMap(placeholders))].filter((n) => vars[n] === undefined);
  if (missing.length) return { key, status: 'needs', needs: missing };
  const candidates = targetOf(data, key, vars);
  for (let i = 0; i < candidates.length; i++) {
    const { first } = countMatches(root, candidates[i]!);
    if (first) {
      const origin = entry.origins?.[i];
      return {
        key,
        status: 'match',
        index: i,
        locator: candidates[i]!,
        ...(origin ? { origin } : {}),
        node: summariseNode(first),
      };
    }
  }
  return { key, status: 'miss', candidates };
}

export function evaluateKeys(root: XmlNode, data: LocatorData, vars: Record<string, string>): KeyStatus[] {
  return Object.keys(data.locators)
    .sort()
    .map((k) => evaluateKey(root, data, k, vars));
}

export interface NodeQuery {
  text?: string;
  /** A full resource-id, or the part after `:id/`. */
  id?: string;
  desc?: string;
}

/**
 * The nodes a query names: exact matches of every field given (an id also by its suffix); when
 * there are none, case-insensitive substring matches.
 */
export function queryNodes(root: XmlNode, q: NodeQuery): { nodes: XmlNode[]; exact: boolean } {
  const nodes = allNodes(root);
  const exact = (n: XmlNode): boolean => {
    const a = n.attrs;
    if (q.id !== undefined && a['resource-id'] !== q.id && idSuffix(a['resource-id'] ?? '') !== q.id)
      return false;
    if (q.text !== undefined && a.text !== q.text) return false;
    if (q.desc !== undefined && a['content-desc'] !== q.desc) return false;
    return true;
  };
  const loose = (n: XmlNode): boolean => {
    const a = n.attrs;
    const has = (v: string | undefined, want: string) => !!v && v.toLowerCase().includes(want.toLowerCase());
    if (q.id !== undefined && !has(a['resource-id'], q.id)) return false;
    if (q.text !== undefined && !has(a.text, q.text)) return false;
    if (q.desc !== undefined && !has(a['content-desc'], q.desc)) return false;
    return true;
  };
  const hit = nodes.filter(exact);
  return hit.length ? { nodes: hit, exact: true } : { nodes: nodes.filter(loose), exact: false };
}

export type SuggestionKind = 'resource-id' | 'content-desc' | 'text' | 'id+text' | 'within' | 'xpath';

export interface Suggestion {
  kind: SuggestionKind;
  /** Absent for the XPath (not a locator field). */
  locator?: Locator;
  xpath?: string;
  /** Matches this node and no other on the screen (for a locator: its first match is this node). */
  unique: boolean;
  /** How many nodes the locator matches. */
  count: number;
  bounds: string;
}

/** The position path of a node (`/hierarchy/node[1]/node[3]`, 1-based among same-tag siblings). */
export function xpathOf(n: XmlNode): string {
  const steps: string[] = [];
  let cur: XmlNode | null = n;
  while (cur && cur.parent) {
    const p: XmlNode = cur.parent;
    const same = p.children.filter((c) => c.tag === cur!.tag);
    steps.unshift(same.length > 1 ? `${cur.tag}[${same.indexOf(cur) + 1}]` : cur.tag);
    cur = p;
  }
  return `/hierarchy/${steps.join('/')}`;
}

/** Locators that find `n`, most robust first; unique ones before ones that also match other nodes. */
export function suggestLocators(root: XmlNode, n: XmlNode): Suggestion[] {
  const a = n.attrs;
  const id = a['resource-id'] ?? '';
  const text = a.text ?? '';
  const desc = a['content-desc'] ?? '';
  const cls = a.class ?? n.tag;
  const bounds = describeBounds(n.bounds);
  const out: Suggestion[] = [];
  const add = (kind: SuggestionKind, locator: Locator): void => {
    const { first, count } = countMatches(root, locator);
    if (!first) return;
    out.push({ kind, locator, unique: count === 1 && first === n, count, bounds });
  };
  if (id) add('resource-id', { id });
  if (desc) add('content-desc', { desc });
  if (text) add('text', { text });
  if (id && text) add('id+text', { id, text });
  let anc = n.parent;
  while (anc && anc.tag !== 'hierarchy' && !anc.attrs['resource-id']) anc = anc.parent;
  if (anc && anc.tag !== 'hierarchy') {
    const own: Locator = text ? { class: cls, text } : desc ? { class: cls, desc } : { class: cls };
    add('within', { ...own, within: { id: anc.attrs['resource-id']! } });
  }
  out.push({ kind: 'xpath', xpath: xpathOf(n), unique: true, count: 1, bounds });
  // Stable: the robustness order within unique, then within not unique; the XPath last.
  const rank = (s: Suggestion) => (s.kind === 'xpath' ? 2 : s.unique ? 0 : 1);
  return out
    .map((s, i) => ({ s, i }))
    .sort((x, y) => rank(x.s) - rank(y.s) || x.i - y.i)
    .map((x) => x.s);
}

export function describeSuggestion(s: Suggestion): string {
  const what = s.locator ? describeLocator(s.locator) : `xpath ${s.xpath}`;
  const u =
    s.kind === 'xpath'
      ? 'by position (Appium Inspector only)'
      : s.unique
        ? 'unique'
        : `matches ${s.count} nodes`;
  return `${s.kind.padEnd(12)} ${what}  ${s.bounds}  ${u}`;
}

/** The nodes closest to a key's candidates (for a key that misses). */
export function closestTo(root: XmlNode, candidates: readonly Locator[], limit = 5): ClosestNode[] {
  return closestNodes(root, candidates, limit);
}

/** The node a summary was made of (same id, text, desc, class and bounds). */
export function nodeOfSummary(root: XmlNode, s: NodeSummary): XmlNode | undefined {
  return allNodes(root).find((n) => {
    const m = summariseNode(n);
    return (
      m.id === s.id &&
      m.text === s.text &&
      m.desc === s.desc &&
      m.class === s.class &&
      describeBounds(m.bounds) === describeBounds(s.bounds)
    );
  });
}
