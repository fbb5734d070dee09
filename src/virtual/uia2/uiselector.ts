/**
 * The `-android uiautomator` locator strategy: a Java-like UiSelector expression, parsed and matched
 * against the hierarchy snapshot (server: UiSelectorParser, UiScrollableParser).
 *
 * Supported:
 * - `new UiSelector()` (the `new` and the `UiSelector()` head may be left out) followed by
 *   `.text / textContains / textStartsWith / textMatches`, `.description / descriptionContains /
 *   descriptionStartsWith / descriptionMatches`, `.resourceId / resourceIdMatches`,
 *   `.className / classNameMatches`, `.packageName / packageNameMatches` (strings; `…Matches` take a
 *   Java regex, matched in full), `.clickable / checkable / checked / enabled / focusable / focused /
 *   longClickable / scrollable / selected` (booleans, `()` means true), `.index(n)` (index among the
 *   node's siblings), `.instance(n)` (the n-th match, from 0), `.childSelector(UiSelector)` (searched
 *   among the descendants of each match) and `.fromParent(UiSelector)` (searched in the subtree of each
 *   match's parent);
 * - `new UiScrollable(UiSelector)` with `.setAsVerticalList()`, `.setAsHorizontalList()`,
 *   `.setMaxSearchSwipes(n)`, then `.scrollIntoView(UiSelector)` or `.scrollTextIntoView("text")`:
 *   the target is searched, and the scrollable swiped until it appears;
 * - several expressions separated by `;` (their matches are joined).
 *
 * Anything else throws {@link UiSelectorError} (`invalid selector`).
 *
 * The `…Matches` regexes come from Appium clients, so they are matched in the lab's regex worker
 * (os/regex-worker.ts), never on the event loop every phone shares: one batch per regex per search,
 * over the distinct values of that attribute in the snapshot, queued under the phone's serial and
 * given up when the client's connection closes. A regex that overruns the worker's deadline is
 * reported as a bad selector too.
 */
import type { ElNode, Snapshot } from './tree.ts';
import { attribute, descendants } from './tree.ts';
import { Scanner, scanTokens } from '../scanner.ts';
import { type RegexCaller, RegexTooCostlyError, testEach } from '../os/regex-worker.ts';

export class UiSelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UiSelectorError';
  }
}

type Arg =
  { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'bool'; v: boolean } | { t: 'sel'; v: Selector };

/** A `…Matches` filter: `re` (compiled, anchored) must match attribute `attr` in full. */
export interface RegexFilter {
  attr: string;
  re: RegExp;
  /** The pattern as the client wrote it, for error messages. */
  pattern: string;
}

export interface Selector {
  /** Attribute filters, applied in order. */
  filters: Array<(el: ElNode) => boolean>;
  /** `…Matches` filters, decided per search by {@link selectAll} in the regex worker. */
  regexes: RegexFilter[];
  instance?: number;
  child?: Selector;
  fromParent?: Selector;
}

export type UiExpression =
  | { kind: 'selector'; selector: Selector }
  | { kind: 'scrollable'; container: Selector; target: Selector; maxSwipes: number; horizontal: boolean };

// ---- tokens ------------------------------------------------------------------------------------

type Tok =
  | { t: 'id'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'p'; v: string }
  | { t: 'eof' };

function tokenize(src: string): Tok[] {
  return [...scanTokens(src, nextToken), { t: 'eof' }];
}

function nextToken(sc: Scanner): Tok {
  const c = sc.ch;
  if ('().,;'.includes(c)) {
    sc.i++;
    return { t: 'p', v: c };
  }
  if (c === '"') return { t: 'str', v: readString(sc) };
  const num = sc.take(/^-?[0-9]+/);
  if (num !== undefined) return { t: 'num', v: Number(num) };
  const id = sc.take(/^[A-Za-z_$][\w$]*/);
  if (id === undefined) throw new UiSelectorError(`unexpected character '${c}'`);
  return { t: 'id', v: id };
}

/** At a `"`: a Java string literal's value (`\n`, `\t`, and `\x` for any other x), consumed. */
function readString(sc: Scanner): string {
  const src = sc.src;
  let s = '';
  let i = sc.i + 1;
  for (;;) {
    if (i >= src.length) throw new UiSelectorError('unterminated string literal');
    const ch = src[i]!;
    if (ch === '\\') {
      const n = src[i + 1];
      if (n === undefined) throw new UiSelectorError('unterminated string literal');
      s += n === 'n' ? '\n' : n === 't' ? '\t' : n;
      i += 2;
    } else if (ch === '"') {
      sc.i = i + 1;
      return s;
    } else {
      s += ch;
      i++;
    }
  }
}

// ---- matching helpers --------------------------------------------------------------------------

function javaRegex(src: string): RegExp {
  try {
    return new RegExp(`^(?:${src})$`, 's');
  } catch (e) {
    throw new UiSelectorError(`bad regular expression '${src}': ${(e as Error).message}`);
  }
}

const STRING_ATTRS: Record<string, string> = {
  text: 'text',
  description: 'content-desc',
  resourceId: 'resource-id',
  className: 'class',
  packageName: 'package',
};

const BOOL_ATTRS = new Set([
  'clickable',
  'checkable',
  'checked',
  'enabled',
  'focusable',
  'focused',
  'longClickable',
  'scrollable',
  'selected',
]);

function boolAttrName(m: string): string {
  return m === 'longClickable' ? 'long-clickable' : m;
}

function stringFilter(method: string, value: string): ((el: ElNode) => boolean) | RegexFilter | undefined {
  for (const [base, attr] of Object.entries(STRING_ATTRS)) {
    if (!method.startsWith(base)) continue;
    const kind = method.slice(base.length);
    const get = (el: ElNode): string => attribute(el, attr) ?? '';
    switch (kind) {
      case '':
        return (el) => get(el) === value;
      case 'Contains':
        return (el) => get(el).includes(value);
      case 'StartsWith':
        return (el) => get(el).startsWith(value);
      case 'Matches':
        return { attr, re: javaRegex(value), pattern: value };
      default:
        return undefined;
    }
  }
  return undefined;
}

// ---- parser ------------------------------------------------------------------------------------

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(o = 0): Tok {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)]!;
  }

  private isP(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.t === 'p' && t.v === v;
  }

  private expectP(v: string): void {
    if (!this.isP(v)) throw new UiSelectorError(`expected '${v}'`);
    this.i++;
  }

  private isId(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.t === 'id' && t.v === v;
  }

  parseAll(): UiExpression[] {
    const out: UiExpression[] = [];
    for (;;) {
      while (this.isP(';')) this.i++;
      if (this.peek().t === 'eof') break;
      out.push(this.expression());
      if (!this.isP(';') && this.peek().t !== 'eof') throw new UiSelectorError('unexpected trailing input');
    }
    if (!out.length) throw new UiSelectorError('empty selector');
    return out;
  }

  private expression(): UiExpression {
    const save = this.i;
    if (this.isId('new')) this.i++;
    if (this.isId('UiScrollable')) return this.scrollable();
    this.i = save;
    return { kind: 'selector', selector: this.selector() };
  }

  private selector(): Selector {
    if (this.isId('new')) {
      this.i++;
      if (!this.isId('UiSelector')) throw new UiSelectorError("expected 'UiSelector' after 'new'");
    }
    if (this.isId('UiSelector')) {
      this.i++;
      this.expectP('(');
      this.expectP(')');
    }
    const sel: Selector = { filters: [], regexes: [] };
    let first = true;
    for (;;) {
      if (this.isP('.')) this.i++;
      else if (!(first && this.peek().t === 'id')) break;
      first = false;
      const t = this.peek();
      if (t.t !== 'id') throw new UiSelectorError('expected a method name');
      if (t.v === 'scrollIntoView' || t.v === 'scrollTextIntoView') {
        throw new UiSelectorError(`${t.v} is a UiScrollable method`);
      }
      this.i++;
      this.apply(sel, t.v, this.args());
    }
    return sel;
  }

  private args(): Arg[] {
    this.expectP('(');
    const args: Arg[] = [];
    while (!this.isP(')')) {
      const t = this.peek();
      if (t.t === 'str') {
        this.i++;
        args.push({ t: 'str', v: t.v });
      } else if (t.t === 'num') {
        this.i++;
        args.push({ t: 'num', v: t.v });
      } else if (this.isId('true') || this.isId('false')) {
        args.push({ t: 'bool', v: this.isId('true') });
        this.i++;
      } else if (this.isId('new') || this.isId('UiSelector')) {
        args.push({ t: 'sel', v: this.selector() });
      } else throw new UiSelectorError('unsupported argument');
      if (this.isP(',')) this.i++;
      else if (!this.isP(')')) throw new UiSelectorError("expected ',' or ')'");
    }
    this.i++;
    return args;
  }

  private apply(sel: Selector, method: string, args: Arg[]): void {
    const one = (t: Arg['t']): Arg => {
      const a = args[0];
      if (args.length !== 1 || !a || a.t !== t)
        throw new UiSelectorError(
          `UiSelector.${method}() takes one ${t === 'sel' ? 'UiSelector' : t} argument`,
        );
      return a;
    };
    const num = (): number => one('num').v as number;
    const sub = (): Selector => one('sel').v as Selector;
    if (BOOL_ATTRS.has(method)) {
      const want = args.length === 0 ? true : (one('bool').v as boolean);
      const name = boolAttrName(method);
      sel.filters.push((el) => attribute(el, name) === String(want));
      return;
    }
    switch (method) {
      case 'index': {
        const n = num();
        sel.filters.push((el) => el.index === n);
        return;
      }
      case 'instance':
        sel.instance = num();
        return;
      case 'childSelector':
        sel.child = sub();
        return;
      case 'fromParent':
        sel.fromParent = sub();
        return;
    }
    const f = stringFilter(method, args[0]?.t === 'str' && args.length === 1 ? args[0].v : '');
    if (!f) throw new UiSelectorError(`UiSelector.${method}() is not supported`);
    one('str');
    if (typeof f === 'function') sel.filters.push(f);
    else sel.regexes.push(f);
  }

  private scrollable(): UiExpression {
    this.i++; // UiScrollable
    const inner = this.args();
    const container = inner[0];
    if (inner.length !== 1 || container?.t !== 'sel')
      throw new UiSelectorError('new UiScrollable() takes one UiSelector argument');
    let maxSwipes = 30;
    let horizontal = false;
    let target: Selector | undefined;
    while (this.isP('.')) {
      this.i++;
      const t = this.peek();
      if (t.t !== 'id') throw new UiSelectorError('expected a method name');
      this.i++;
      const args = this.args();
      switch (t.v) {
        case 'setAsVerticalList':
          horizontal = false;
          break;
        case 'setAsHorizontalList':
          horizontal = true;
          break;
        case 'setMaxSearchSwipes':
          if (args[0]?.t !== 'num') throw new UiSelectorError('setMaxSearchSwipes() takes a number');
          maxSwipes = args[0].v;
          break;
        case 'scrollIntoView':
          if (args[0]?.t !== 'sel') throw new UiSelectorError('scrollIntoView() takes a UiSelector');
          target = args[0].v;
          break;
        case 'scrollTextIntoView': {
          if (args[0]?.t !== 'str') throw new UiSelectorError('scrollTextIntoView() takes a string');
          const text = args[0].v;
          target = { filters: [(el) => (attribute(el, 'text') ?? '') === text], regexes: [] };
          break;
        }
        default:
          throw new UiSelectorError(`UiScrollable.${t.v}() is not supported`);
      }
      if (target) break;
    }
    if (!target) throw new UiSelectorError('UiScrollable needs scrollIntoView() or scrollTextIntoView()');
    return { kind: 'scrollable', container: container.v, target, maxSwipes, horizontal };
  }
}

export function parseUiSelector(src: string): UiExpression[] {
  return new Parser(tokenize(src)).parseAll();
}

// ---- evaluation --------------------------------------------------------------------------------

function uniqueInOrder(els: ElNode[]): ElNode[] {
  return [...new Set(els)].sort((a, b) => a.order - b.order);
}

function subtree(el: ElNode): ElNode[] {
  return [el, ...descendants(el)];
}

/** For each regex filter of a search, the attribute values it matches. */
type RegexVerdicts = Map<RegexFilter, Set<string>>;

function regexFilters(sel: Selector | undefined): RegexFilter[] {
  return sel ? [...sel.regexes, ...regexFilters(sel.child), ...regexFilters(sel.fromParent)] : [];
}

/** Decides every regex filter of `sel` (child and fromParent included) over the snapshot's values. */
async function decideRegexes(sel: Selector, snap: Snapshot, caller: RegexCaller): Promise<RegexVerdicts> {
  const verdicts: RegexVerdicts = new Map();
  for (const r of regexFilters(sel)) {
    const values = [...new Set(snap.all.map((el) => attribute(el, r.attr) ?? ''))];
    let hits: boolean[];
    try {
      hits = await testEach(r.re, values, caller);
    } catch (e) {
      if (e instanceof RegexTooCostlyError)
        throw new UiSelectorError(`regular expression '${r.pattern}': ${e.message}`);
      throw e;
    }
    verdicts.set(r, new Set(values.filter((_, i) => hits[i])));
  }
  return verdicts;
}

/** The nodes of `pool` (document order) that `sel` selects. */
function matchSelector(sel: Selector, pool: ElNode[], verdicts: RegexVerdicts): ElNode[] {
  let found = pool.filter(
    (el) =>
      sel.filters.every((f) => f(el)) &&
      sel.regexes.every((r) => verdicts.get(r)?.has(attribute(el, r.attr) ?? '') === true),
  );
  if (sel.instance !== undefined) {
    const one = found[sel.instance];
    found = one ? [one] : [];
  }
  if (sel.child) {
    const child = sel.child;
    found = uniqueInOrder(found.flatMap((m) => matchSelector(child, descendants(m), verdicts)));
  }
  if (sel.fromParent) {
    const fp = sel.fromParent;
    found = uniqueInOrder(
      found.flatMap((m) => (m.parent ? matchSelector(fp, descendants(m.parent), verdicts) : [])),
    );
  }
  return found;
}

/**
 * Matches of a selector over a snapshot, optionally inside `context`'s subtree (context excluded).
 * Rejects with {@link UiSelectorError} when a regex is too costly to match; `caller` names the phone
 * for the regex worker's queues and carries the request's lifetime.
 */
export async function selectAll(
  sel: Selector,
  snap: Snapshot,
  context?: ElNode,
  caller: RegexCaller = {},
): Promise<ElNode[]> {
  const pool = context ? descendants(context) : snap.root ? subtree(snap.root) : [];
  return matchSelector(sel, pool, await decideRegexes(sel, snap, caller));
}
