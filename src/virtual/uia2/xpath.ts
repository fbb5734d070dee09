/**
 * A small XPath 1.0 subset evaluated over the UiAutomator2 page source's document (a `hierarchy`
 * element holding the node tree, elements named by class, attributes as in `GET /source`).
 *
 * Supported:
 * - location paths: absolute (`/a/b`, `//a`), relative to the context element (`a`, `./a`, `.//a`),
 *   steps separated by `/` or `//`; steps `name`, `*`, `.`, `..`, and the axes `child::`,
 *   `descendant::`, `descendant-or-self::`, `parent::`, `ancestor::`, `ancestor-or-self::`,
 *   `following-sibling::`, `preceding-sibling::`, `self::`;
 * - predicates, any number per step: a number (`[2]`, position among the step's matches for
 *   that parent), `last()`, `position()`, comparisons `=`, `!=`, `<`, `<=`, `>`, `>=` between
 *   `@attr`, string/number literals and functions, `and`, `or`, `not(…)`, parentheses, `@attr`
 *   alone (existence), relative paths (`[./android.widget.TextView[@text="x"]]` = has such a child),
 *   functions `contains`, `starts-with`, `ends-with`, `string-length`, `normalize-space`,
 *   `text()` (the `text` attribute), `count(path)`, `true()`, `false()`;
 * - a parenthesised path with predicates: `(//android.widget.TextView)[2]`; unions `a | b`.
 *
 * Anything else (other axes, attribute results such as `//x/@text`, variables) throws
 * {@link XPathError}, which the server reports as `invalid selector`.
 */
import type { ElNode, Snapshot } from './tree.ts';
import { SOURCE_ATTRIBUTES, attribute, tagOf } from './tree.ts';
import { Scanner, scanTokens } from '../scanner.ts';

export class XPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XPathError';
  }
}

// ---- tokens ------------------------------------------------------------------------------------

type Tok =
  | { t: 'op'; v: string }
  | { t: 'name'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'eof' };

function tokenize(src: string): Tok[] {
  return [...scanTokens(src, nextToken), { t: 'eof' }];
}

function nextToken(sc: Scanner): Tok {
  const c = sc.ch;
  const op2 = sc.takeOp(['//', '..', '!=', '<=', '>=', '::']);
  if (op2 !== undefined) return { t: 'op', v: op2 };
  // Before the one-character operators: '.5' is a number.
  const num = sc.take(/^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)/);
  if (num !== undefined) return { t: 'num', v: Number(num) };
  if ('/[]()@=<>|,*.-'.includes(c)) {
    sc.i++;
    return { t: 'op', v: c };
  }
  if (c === '"' || c === "'") {
    const end = sc.src.indexOf(c, sc.i + 1);
    if (end < 0) throw new XPathError('unterminated string literal');
    const v = sc.src.slice(sc.i + 1, end);
    sc.i = end + 1;
    return { t: 'str', v };
  }
  // A trailing '.' belongs to the next token only in '..'; names may contain dots (class names).
  const name = sc.take(/^[A-Za-z_][\w.-]*/);
  if (name === undefined) throw new XPathError(`unexpected character '${c}'`);
  return { t: 'name', v: name };
}

// ---- AST ---------------------------------------------------------------------------------------

type Axis =
  | 'child'
  | 'descendant'
  | 'descendant-or-self'
  | 'parent'
  | 'ancestor'
  | 'ancestor-or-self'
  | 'following-sibling'
  | 'preceding-sibling'
  | 'self';

const AXES = new Set<string>([
  'child',
  'descendant',
  'descendant-or-self',
  'parent',
  'ancestor',
  'ancestor-or-self',
  'following-sibling',
  'preceding-sibling',
  'self',
]);

interface Step {
  axis: Axis;
  /** '*' or a tag name. */
  test: string;
  preds: Expr[];
}

interface PathExpr {
  kind: 'path';
  absolute: boolean;
  steps: Step[];
}

type Expr =
  | PathExpr
  | { kind: 'filter'; base: Expr; preds: Expr[] }
  | { kind: 'union'; parts: Expr[] }
  | { kind: 'or' | 'and'; a: Expr; b: Expr }
  | { kind: 'cmp'; op: string; a: Expr; b: Expr }
  | { kind: 'attr'; name: string }
  | { kind: 'str'; v: string }
  | { kind: 'num'; v: number }
  | { kind: 'neg'; a: Expr }
  | { kind: 'fn'; name: string; args: Expr[] };

const FUNCTIONS = new Set([
  'contains',
  'starts-with',
  'ends-with',
  'string-length',
  'normalize-space',
  'string',
  'text',
  'not',
  'true',
  'false',
  'position',
  'last',
  'count',
]);

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(o = 0): Tok {
    return this.toks[Math.min(this.i + o, this.toks.length - 1)]!;
  }

  private isOp(v: string, o = 0): boolean {
    const t = this.peek(o);
    return t.t === 'op' && t.v === v;
  }

  private take(): Tok {
    return this.toks[this.i++]!;
  }

  private expect(v: string): void {
    if (!this.isOp(v)) throw new XPathError(`expected '${v}'`);
    this.i++;
  }

  parseAll(): Expr {
    const e = this.orExpr();
    if (this.peek().t !== 'eof') throw new XPathError('unexpected trailing input');
    return e;
  }

  private orExpr(): Expr {
    let a = this.andExpr();
    while (this.peek().t === 'name' && (this.peek() as { v: string }).v === 'or') {
      this.i++;
      a = { kind: 'or', a, b: this.andExpr() };
    }
    return a;
  }

  private andExpr(): Expr {
    let a = this.cmpExpr();
    while (this.peek().t === 'name' && (this.peek() as { v: string }).v === 'and') {
      this.i++;
      a = { kind: 'and', a, b: this.cmpExpr() };
    }
    return a;
  }

  private cmpExpr(): Expr {
    let a = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.t === 'op' && ['=', '!=', '<', '<=', '>', '>='].includes(t.v)) {
        this.i++;
        a = { kind: 'cmp', op: t.v, a, b: this.unary() };
      } else return a;
    }
  }

  private unary(): Expr {
    if (this.isOp('-')) {
      this.i++;
      return { kind: 'neg', a: this.unary() };
    }
    return this.union();
  }

  private union(): Expr {
    const first = this.primaryOrPath();
    if (!this.isOp('|')) return first;
    const parts = [first];
    while (this.isOp('|')) {
      this.i++;
      parts.push(this.primaryOrPath());
    }
    return { kind: 'union', parts };
  }

  private primaryOrPath(): Expr {
    const t = this.peek();
    if (t.t === 'str') {
      this.i++;
      return { kind: 'str', v: t.v };
    }
    if (t.t === 'num') {
      this.i++;
      return { kind: 'num', v: t.v };
    }
    if (t.t === 'op' && t.v === '@') {
      this.i++;
      const n = this.take();
      if (n.t !== 'name' && !(n.t === 'op' && n.v === '*'))
        throw new XPathError('expected an attribute name after @');
      if (n.t !== 'name') throw new XPathError('@* is not supported');
      return { kind: 'attr', name: n.v };
    }
    if (t.t === 'op' && t.v === '(') {
      this.i++;
      const inner = this.orExpr();
      this.expect(')');
      const preds = this.predicates();
      const base: Expr = { kind: 'filter', base: inner, preds };
      if (this.isOp('/') || this.isOp('//'))
        return { kind: 'fn', name: '#continue', args: [base, this.pathSteps()] };
      return preds.length ? base : inner;
    }
    if (t.t === 'name' && this.isOp('(', 1) && !AXES.has(t.v)) {
      this.i += 2;
      const args: Expr[] = [];
      if (!this.isOp(')')) {
        args.push(this.orExpr());
        while (this.isOp(',')) {
          this.i++;
          args.push(this.orExpr());
        }
      }
      this.expect(')');
      if (!FUNCTIONS.has(t.v)) throw new XPathError(`unsupported function '${t.v}()'`);
      return { kind: 'fn', name: t.v, args };
    }
    return this.path();
  }

  private predicates(): Expr[] {
    const preds: Expr[] = [];
    while (this.isOp('[')) {
      this.i++;
      preds.push(this.orExpr());
      this.expect(']');
    }
    return preds;
  }

  private path(): PathExpr {
    let absolute = false;
    const steps: Step[] = [];
    if (this.isOp('/')) {
      absolute = true;
      this.i++;
      if (!this.startsStep()) return { kind: 'path', absolute, steps };
    } else if (this.isOp('//')) {
      absolute = true;
      this.i++;
      steps.push({ axis: 'descendant-or-self', test: '#node', preds: [] });
    }
    steps.push(this.step());
    steps.push(...this.pathSteps().steps);
    return { kind: 'path', absolute, steps };
  }

  /** Further `/step` or `//step` parts. */
  private pathSteps(): PathExpr {
    const steps: Step[] = [];
    for (;;) {
      if (this.isOp('/')) {
        this.i++;
        steps.push(this.step());
      } else if (this.isOp('//')) {
        this.i++;
        steps.push({ axis: 'descendant-or-self', test: '#node', preds: [] });
        steps.push(this.step());
      } else break;
    }
    return { kind: 'path', absolute: false, steps };
  }

  private startsStep(): boolean {
    const t = this.peek();
    return t.t === 'name' || (t.t === 'op' && ['*', '.', '..', '@'].includes(t.v));
  }

  private step(): Step {
    const t = this.peek();
    if (t.t === 'op' && t.v === '.') {
      this.i++;
      return { axis: 'self', test: '#node', preds: [] };
    }
    if (t.t === 'op' && t.v === '..') {
      this.i++;
      return { axis: 'parent', test: '#node', preds: [] };
    }
    if (t.t === 'op' && t.v === '@') throw new XPathError('attribute results are not supported');
    let axis: Axis = 'child';
    if (t.t === 'name' && this.isOp('::', 1)) {
      if (!AXES.has(t.v)) throw new XPathError(`unsupported axis '${t.v}'`);
      axis = t.v as Axis;
      this.i += 2;
    }
    const n = this.take();
    let test: string;
    if (n.t === 'op' && n.v === '*') test = '*';
    else if (n.t === 'name') {
      if (this.isOp('(')) {
        if (n.v !== 'node') throw new XPathError(`unsupported node test '${n.v}()'`);
        this.i++;
        this.expect(')');
        test = '#node';
      } else test = n.v;
    } else throw new XPathError('expected a step');
    return { axis, test, preds: this.predicates() };
  }
}

// ---- evaluation --------------------------------------------------------------------------------

/** The document node (above `hierarchy`) and the `hierarchy` element are virtual nodes. */
type Item = ElNode | 'document' | 'hierarchy';
type Value = Item[] | string | number | boolean;

interface Ctx {
  snap: Snapshot;
  item: Item;
  pos: number;
  size: number;
}

function childrenOf(s: Snapshot, it: Item): Item[] {
  if (it === 'document') return ['hierarchy'];
  if (it === 'hierarchy') return s.root ? [s.root] : [];
  return it.children;
}

function parentOf(s: Snapshot, it: Item): Item | null {
  if (it === 'document') return null;
  if (it === 'hierarchy') return 'document';
  return it.parent ?? 'hierarchy';
}

function descendantsOf(s: Snapshot, it: Item): Item[] {
  const out: Item[] = [];
  const rec = (n: Item): void => {
    for (const c of childrenOf(s, n)) {
      out.push(c);
      rec(c);
    }
  };
  rec(it);
  return out;
}

function orderOf(it: Item): number {
  return it === 'document' ? -2 : it === 'hierarchy' ? -1 : it.order;
}

function axisItems(s: Snapshot, it: Item, axis: Axis): Item[] {
  switch (axis) {
    case 'child':
      return childrenOf(s, it);
    case 'descendant':
      return descendantsOf(s, it);
    case 'descendant-or-self':
      return [it, ...descendantsOf(s, it)];
    case 'self':
      return [it];
    case 'parent': {
      const p = parentOf(s, it);
      return p ? [p] : [];
    }
    case 'ancestor':
    case 'ancestor-or-self': {
      const out: Item[] = axis === 'ancestor-or-self' ? [it] : [];
      for (let p = parentOf(s, it); p; p = parentOf(s, p)) out.push(p);
      return out; // reverse axis: nearest first
    }
    case 'following-sibling':
    case 'preceding-sibling': {
      const p = parentOf(s, it);
      if (!p) return [];
      const sibs = childrenOf(s, p);
      const i = sibs.indexOf(it);
      return axis === 'following-sibling' ? sibs.slice(i + 1) : sibs.slice(0, i).reverse();
    }
  }
}

function nameTest(it: Item, test: string): boolean {
  if (test === '#node') return true;
  if (it === 'document') return false;
  if (it === 'hierarchy') return test === '*' || test === 'hierarchy';
  return test === '*' || tagOf(it) === test;
}

function itemAttr(it: Item, name: string, s: Snapshot): string | null {
  if (it === 'document') return null;
  if (it === 'hierarchy') {
    const root = s.root;
    switch (name) {
      case 'index':
        return '0';
      case 'class':
        return 'hierarchy';
      case 'rotation':
        return '0';
      case 'width':
        return root ? String(root.bounds.right) : null;
      case 'height':
        return root ? String(root.bounds.bottom) : null;
      default:
        return null;
    }
  }
  return (SOURCE_ATTRIBUTES as readonly string[]).includes(name) ? attribute(it, name) : null;
}

function sortUnique(items: Item[]): Item[] {
  return [...new Set(items)].sort((a, b) => orderOf(a) - orderOf(b));
}

function toStr(v: Value, _s: Snapshot): string {
  if (Array.isArray(v)) {
    const first = v[0];
    if (first === undefined) return '';
    return first === 'document' || first === 'hierarchy' ? '' : (attribute(first, 'text') ?? '');
  }
  return String(v);
}

function toNum(v: Value, s: Snapshot): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const t = toStr(v, s).trim();
  return t === '' ? NaN : Number(t);
}

function toBool(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'number') return v !== 0 && !Number.isNaN(v);
  if (typeof v === 'string') return v.length > 0;
  return v;
}

/** Attribute node-sets are modelled as string lists for comparisons. */
function stringsOf(e: Expr, v: Value, c: Ctx): string[] | null {
  if (e.kind === 'attr') return typeof v === 'string' ? [v] : [];
  if (Array.isArray(v)) return v.map((it) => toStr([it], c.snap));
  return null;
}

function compare(op: string, a: string | number, b: string | number): boolean {
  if (op === '=' || op === '!=') {
    const eq = typeof a === 'number' || typeof b === 'number' ? Number(a) === Number(b) : a === b;
    return op === '=' ? eq : !eq;
  }
  const x = Number(a);
  const y = Number(b);
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

function evalExpr(e: Expr, c: Ctx): Value {
  switch (e.kind) {
    case 'str':
      return e.v;
    case 'num':
      return e.v;
    case 'neg':
      return -toNum(evalExpr(e.a, c), c.snap);
    case 'attr': {
      const v = itemAttr(c.item, e.name, c.snap);
      // A missing attribute is an empty node-set: false, and unequal to everything.
      return v === null ? [] : v;
    }
    case 'or':
      return toBool(evalExpr(e.a, c)) || toBool(evalExpr(e.b, c));
    case 'and':
      return toBool(evalExpr(e.a, c)) && toBool(evalExpr(e.b, c));
    case 'cmp': {
      const va = evalExpr(e.a, c);
      const vb = evalExpr(e.b, c);
      const sa = stringsOf(e.a, va, c);
      const sb = stringsOf(e.b, vb, c);
      const left: Array<string | number> = sa ?? [typeof va === 'number' ? va : toStr(va, c.snap)];
      const right: Array<string | number> = sb ?? [typeof vb === 'number' ? vb : toStr(vb, c.snap)];
      if (typeof va === 'boolean' || typeof vb === 'boolean') {
        const eq = toBool(va) === toBool(vb);
        return e.op === '=' ? eq : e.op === '!=' ? !eq : false;
      }
      return left.some((x) => right.some((y) => compare(e.op, x, y)));
    }
    case 'fn':
      return callFn(e.name, e.args, c);
    case 'path':
      return evalPath(e, c);
    case 'filter': {
      const base = evalExpr(e.base, c);
      if (!Array.isArray(base)) throw new XPathError('a predicate needs a node-set');
      return applyPreds(sortUnique(base), e.preds, c.snap);
    }
    case 'union': {
      const all: Item[] = [];
      for (const p of e.parts) {
        const v = evalExpr(p, c);
        if (!Array.isArray(v)) throw new XPathError('| needs node-sets');
        all.push(...v);
      }
      return sortUnique(all);
    }
  }
}

function callFn(name: string, args: Expr[], c: Ctx): Value {
  const str = (i: number): string => {
    const a = args[i];
    if (!a) throw new XPathError(`${name}() needs more arguments`);
    const v = evalExpr(a, c);
    return typeof v === 'string' ? v : toStr(v, c.snap);
  };
  const arity = (n: number): void => {
    if (args.length !== n) throw new XPathError(`${name}() takes ${n} argument(s)`);
  };
  switch (name) {
    case '#continue': {
      const base = evalExpr(args[0]!, c) as Item[];
      const rest = args[1] as PathExpr;
      return sortUnique(base.flatMap((it) => evalSteps(rest.steps, [it], c.snap)));
    }
    case 'contains':
      arity(2);
      return str(0).includes(str(1));
    case 'starts-with':
      arity(2);
      return str(0).startsWith(str(1));
    case 'ends-with':
      arity(2);
      return str(0).endsWith(str(1));
    case 'string-length':
      return args.length ? [...str(0)].length : [...toStr([c.item], c.snap)].length;
    case 'normalize-space':
      return (args.length ? str(0) : toStr([c.item], c.snap)).trim().replace(/\s+/g, ' ');
    case 'string':
      return args.length ? str(0) : toStr([c.item], c.snap);
    case 'text':
      arity(0);
      return c.item === 'document' || c.item === 'hierarchy' ? [] : (attribute(c.item, 'text') ?? '');
    case 'not':
      arity(1);
      return !toBool(evalExpr(args[0]!, c));
    case 'true':
      return true;
    case 'false':
      return false;
    case 'position':
      return c.pos;
    case 'last':
      return c.size;
    case 'count': {
      arity(1);
      const v = evalExpr(args[0]!, c);
      if (!Array.isArray(v)) throw new XPathError('count() needs a node-set');
      return v.length;
    }
    default:
      throw new XPathError(`unsupported function '${name}()'`);
  }
}

function applyPreds(items: Item[], preds: Expr[], snap: Snapshot): Item[] {
  let cur = items;
  for (const p of preds) {
    const size = cur.length;
    cur = cur.filter((item, i) => {
      const v = evalExpr(p, { snap, item, pos: i + 1, size });
      return typeof v === 'number' ? v === i + 1 : toBool(v);
    });
  }
  return cur;
}

function evalSteps(steps: Step[], start: Item[], snap: Snapshot): Item[] {
  let cur = start;
  for (const st of steps) {
    const next: Item[] = [];
    for (const it of cur) {
      const matched = axisItems(snap, it, st.axis).filter((x) => nameTest(x, st.test));
      next.push(...applyPreds(matched, st.preds, snap));
    }
    cur = sortUnique(next);
  }
  return cur;
}

function evalPath(e: PathExpr, c: Ctx): Item[] {
  const start: Item[] = e.absolute ? ['document'] : [c.item];
  return evalSteps(e.steps, start, c.snap);
}

/** Parses an expression (throws XPathError); exported for tests. */
export function parseXPath(expr: string): void {
  new Parser(tokenize(expr)).parseAll();
}

/**
 * The elements `expr` selects, in document order, evaluated from `context` (the hierarchy element
 * when none). Throws {@link XPathError} for unsupported syntax or a result that is not a node-set.
 */
export function evaluateXPath(expr: string, snap: Snapshot, context?: ElNode): ElNode[] {
  if (!expr.trim()) throw new XPathError('empty expression');
  const ast = new Parser(tokenize(expr)).parseAll();
  const v = evalExpr(ast, { snap, item: context ?? 'hierarchy', pos: 1, size: 1 });
  if (!Array.isArray(v)) throw new XPathError('the expression does not select elements');
  return v.filter((x): x is ElNode => x !== 'document' && x !== 'hierarchy');
}
