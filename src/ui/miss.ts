/**
 * What a UI failure says (issue 11 §1): the locator key, every candidate tried and the elements on
 * screen that come closest to them. Shared by both drivers (each hands over the last hierarchy it
 * saw: the ADB-only driver its last dump, the Appium driver its page source) and by the page objects,
 * which add the key.
 *
 * Closeness is a plain score over the candidates' criteria, taken at its best over the candidates:
 * the same resource-id, or the same id after `:id/` (another package), or one containing the other
 * (`url` → `url_field`), or a similar one (edit distance); the same text or content-desc ignoring case, one containing the other, or a similar one;
 * the same class. Nodes scoring nothing are left out.
 */
import {
  UiError,
  describeLocator,
  describeTarget,
  targetList,
  type Bounds,
  type Locator,
  type Target,
} from './driver.ts';
import { allNodes, matches, parseHierarchy, type XmlNode } from './xml.ts';

/** A node of the screen as errors and `phonehome ui` show it. */
export interface NodeSummary {
  id: string;
  text: string;
  desc: string;
  class: string;
  bounds: Bounds;
}

export interface ClosestNode extends NodeSummary {
  /** Higher is closer; only for ordering. */
  score: number;
}

export function summariseNode(n: XmlNode): NodeSummary {
  const a = n.attrs;
  return {
    id: a['resource-id'] ?? '',
    text: a.text ?? '',
    desc: a['content-desc'] ?? '',
    class: a.class ?? n.tag,
    bounds: n.bounds,
  };
}

export function describeBounds(b: Bounds): string {
  return `[${b.left},${b.top}][${b.right},${b.bottom}]`;
}

const clip = (s: string): string => (s.length > 40 ? `${s.slice(0, 37)}...` : s);

/** `id=… text="…" desc="…" class=… [l,t][r,b]` (empty attributes left out). */
export function describeNode(n: NodeSummary): string {
  const parts: string[] = [];
  if (n.id) parts.push(`id=${n.id}`);
  if (n.text) parts.push(`text=${JSON.stringify(clip(n.text))}`);
  if (n.desc) parts.push(`desc=${JSON.stringify(clip(n.desc))}`);
  parts.push(`class=${n.class}`, describeBounds(n.bounds));
  return parts.join(' ');
}

/** Levenshtein distance (strings clipped to 64 characters: this ranks labels, not documents). */
export function editDistance(a: string, b: string): number {
  const s = a.slice(0, 64);
  const t = b.slice(0, 64);
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    for (let j = 1; j <= t.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[t.length]!;
}

/** 1 for equal strings, 0 for nothing in common (1 − distance / longer length). */
export function similarity(a: string, b: string): number {
  const len = Math.max(Math.min(a.length, 64), Math.min(b.length, 64));
  return len === 0 ? 1 : 1 - editDistance(a, b) / len;
}

/** The part of a resource-id after `:id/` (the whole id when it has none). */
export function idSuffix(id: string): string {
  const i = id.indexOf(':id/');
  return i >= 0 ? id.slice(i + 4) : id;
}

function textScore(want: string, have: string, contains: boolean): number {
  if (!have) return 0;
  const w = want.toLowerCase();
  const h = have.toLowerCase();
  if (w === h) return contains ? 1 : 0.8;
  if (h.includes(w) || w.includes(h)) return 0.6;
  const sim = similarity(w, h);
  return sim >= 0.5 ? 0.5 * sim : 0;
}

/** How close node `n` comes to locator `l` (0: nothing in common). */
export function closeness(n: XmlNode, l: Locator): number {
  const a = n.attrs;
  let score = 0;
  if (l.id !== undefined) {
    const id = a['resource-id'] ?? '';
    if (id === l.id) score += 1;
    else if (id && idSuffix(id) === idSuffix(l.id)) score += 0.8;
    else if (id) {
      const have = idSuffix(id).toLowerCase();
      const want = idSuffix(l.id).toLowerCase();
      // `url` → `url_field`: a renamed view often keeps its old name as a part.
      if (have.includes(want) || want.includes(have)) score += 0.6;
      else {
        const sim = similarity(have, want);
        if (sim >= 0.4) score += 0.5 * sim;
      }
    }
  }
  if (l.text !== undefined) score += textScore(l.text, a.text ?? '', false);
  if (l.textContains !== undefined) score += textScore(l.textContains, a.text ?? '', true);
  if (l.desc !== undefined) score += textScore(l.desc, a['content-desc'] ?? '', false);
  if (l.class !== undefined && (a.class ?? n.tag) === l.class) score += 0.3;
  if (score > 0 && l.within !== undefined) {
    let p = n.parent;
    while (p && p.tag !== 'hierarchy' && !matches(p, l.within)) p = p.parent;
    if (p && p.tag !== 'hierarchy') score += 0.2;
  }
  return score;
}

/** Up to `limit` nodes of the screen closest to any of the candidates, best first. */
export function closestNodes(root: XmlNode, candidates: readonly Locator[], limit = 5): ClosestNode[] {
  const scored = allNodes(root)
    .map((n, order) => ({ n, order, score: Math.max(0, ...candidates.map((l) => closeness(n, l))) }))
    .filter((x) => x.score > 0);
  scored.sort((x, y) => y.score - x.score || x.order - y.order);
  return scored
    .slice(0, limit)
    .map((x) => ({ ...summariseNode(x.n), score: Math.round(x.score * 100) / 100 }));
}

/** A few texts of the screen: `12 nodes of com.example ("OK", "Cancel", ...)`. */
export function screenSummary(root: XmlNode | undefined): string {
  if (!root) return 'nothing (no dump)';
  const nodes = allNodes(root);
  const pkgs = [...new Set(nodes.map((n) => n.attrs.package).filter(Boolean))];
  const words = [
    ...new Set(nodes.map((n) => n.attrs.text || n.attrs['content-desc'] || '').filter((t) => t !== '')),
  ];
  const shown = words.slice(0, 8).map((w) => JSON.stringify(w.length > 30 ? `${w.slice(0, 27)}...` : w));
  return `${nodes.length} nodes of ${pkgs.join(', ') || 'no package'}${shown.length ? ` (${shown.join(', ')}${words.length > 8 ? ', ...' : ''})` : ''}`;
}

/** A hierarchy XML string parsed, or undefined when there is none or it cannot be read. */
export function tryParse(xml: string | undefined): XmlNode | undefined {
  if (!xml) return undefined;
  try {
    return parseHierarchy(xml);
  } catch {
    return undefined;
  }
}

export interface LocatorMissInit {
  serial: string;
  /** locators.json key, when a page object asked (`browser.addressBar`). */
  key?: string;
  /** What was being done: `find`, `wait for search engine Bing`. */
  operation: string;
  /** `found nothing within 20000 ms`. */
  problem: string;
  candidates: readonly Locator[];
  /** The last hierarchy seen (parsed), for the closest elements. */
  root?: XmlNode;
  /** …or the closest elements already ranked (and the screen's node count), e.g. from a driver's error. */
  closest?: ClosestNode[];
  screenNodes?: number;
  screenSummary?: string;
  /** Origin of each candidate where it came from an override file (same index). */
  origins?: ReadonlyArray<string | undefined>;
  hint?: string;
  cause?: unknown;
}

/**
 * A locator matched nothing (or not in the wanted state): names the key, every candidate tried and the
 * closest elements on screen. `phonehome ui locate KEY` shows the same for a live phone.
 */
/** A driver's find() that matched nothing within `ms`; `root`: the last hierarchy it read, if any. */
export function findMiss(
  serial: string,
  target: Target,
  ms: number,
  root: XmlNode | undefined,
): LocatorMissError {
  return new LocatorMissError({
    serial,
    operation: 'find',
    problem: `found nothing within ${ms} ms`,
    candidates: targetList(target),
    ...(root ? { root } : {}),
  });
}

export class LocatorMissError extends UiError {
  readonly key: string | undefined;
  readonly candidates: readonly Locator[];
  readonly closest: ClosestNode[];
  /** How many nodes the hierarchy had (undefined: no hierarchy was read). */
  readonly screenNodes: number | undefined;

  constructor(init: LocatorMissInit) {
    const closest = init.root ? closestNodes(init.root, init.candidates) : (init.closest ?? []);
    const nodes = init.root ? allNodes(init.root).length : init.screenNodes;
    // Kept for withKey(): the summary of a screen whose root is not kept.
    const summary = init.root ? screenSummary(init.root) : init.screenSummary;
    const what = init.key ? `locator ${init.key}` : describeTarget(init.candidates);
    const problem = init.problem.replace(/[.\s]+$/, '');
    const tried = init.candidates
      .map(
        (l, i) => `[${i}] ${describeLocator(l)}${init.origins?.[i] ? ` (override ${init.origins[i]})` : ''}`,
      )
      .join('; ');
    const screen =
      nodes === undefined
        ? 'the screen could not be read'
        : closest.length
          ? `closest on screen (${nodes} nodes): ${closest.map((c) => describeNode(c)).join('; ')}`
          : `nothing on screen resembles them; it showed ${summary ?? `${nodes} nodes`}`;
    const fix =
      init.hint ??
      (init.key
        ? `Check the phone is on the expected screen; if the app's layout differs, run \`phonehome ui locate ${init.key} --device ${init.serial}\` and add what it prints to a locator override file`
        : 'Check the phone is on the expected screen (`phonehome ui snapshot` shows it and which locators.json keys match)');
    super({
      serial: init.serial,
      operation: `${init.operation} ${what}`,
      problem,
      hint: fix,
      cause: init.cause,
      message:
        `phone ${init.serial}: ${init.operation} ${what} ${problem}. ` +
        (init.key ? `Tried ${tried}. ` : '') +
        `${screen[0]!.toUpperCase()}${screen.slice(1)}. ${fix.replace(/[.\s]+$/, '')}.`,
    });
    this.name = 'LocatorMissError';
    this.key = init.key;
    this.candidates = init.candidates;
    this.closest = closest;
    this.screenNodes = nodes;
    this.origins = init.origins;
    this.screenSummary = summary;
    this.details = { operation: init.operation, problem };
  }

  readonly origins: ReadonlyArray<string | undefined> | undefined;
  /** `12 nodes of com.example ("OK", …)`, when a hierarchy was read. */
  readonly screenSummary: string | undefined;
  private readonly details: { operation: string; problem: string };

  /** The same miss, named after the locator key a page object asked for (and its candidates' origins). */
  withKey(key: string, origins?: ReadonlyArray<string | undefined>): LocatorMissError {
    return new LocatorMissError({
      serial: this.serial,
      key,
      operation: this.details.operation,
      problem: this.details.problem,
      candidates: this.candidates,
      closest: this.closest,
      ...(this.screenNodes !== undefined ? { screenNodes: this.screenNodes } : {}),
      ...(this.screenSummary !== undefined ? { screenSummary: this.screenSummary } : {}),
      ...(origins ? { origins } : {}),
      cause: this.cause,
    });
  }
}
