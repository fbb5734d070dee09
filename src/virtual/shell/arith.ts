/** `$(( … ))` arithmetic: integers, C operators, variables, assignments. A small Pratt parser. */
import { Scanner, scanTokens } from '../scanner.ts';

export class ArithError extends Error {}

export interface ArithVars {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
}

type Tok = { k: 'num'; v: number } | { k: 'name'; v: string } | { k: 'op'; v: string };

const OPS = [
  '<<=',
  '>>=',
  '**',
  '++',
  '--',
  '<<',
  '>>',
  '<=',
  '>=',
  '==',
  '!=',
  '&&',
  '||',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '^=',
  '|=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '<',
  '>',
  '=',
  '!',
  '~',
  '&',
  '^',
  '|',
  '?',
  ':',
  '(',
  ')',
  ',',
];

function tokenize(src: string): Tok[] {
  return scanTokens(src, nextToken);
}

function nextToken(sc: Scanner): Tok {
  const num = sc.take(/^(0[xX][0-9a-fA-F]+|[0-9]+#[0-9a-zA-Z]+|[0-9]+)/);
  if (num !== undefined) return { k: 'num', v: numberValue(num) };
  const name = sc.take(/^[A-Za-z_][A-Za-z0-9_]*/);
  if (name !== undefined) return { k: 'name', v: name };
  const op = sc.takeOp(OPS);
  if (op === undefined) throw new ArithError(`unexpected '${sc.ch}'`);
  return { k: 'op', v: op };
}

/** A number literal's value: `0x` hex, `base#digits`, a leading 0 octal, else decimal. */
function numberValue(t: string): number {
  let v: number;
  if (/^0[xX]/.test(t)) v = parseInt(t.slice(2), 16);
  else if (t.includes('#')) {
    const [base, digits] = t.split('#') as [string, string];
    v = parseInt(digits, Number(base));
  } else if (t.length > 1 && t.startsWith('0')) v = parseInt(t, 8);
  else v = Number(t);
  if (Number.isNaN(v)) throw new ArithError(`${t}: bad number`);
  return v;
}

const BINARY: Record<string, number> = {
  ',': 1,
  '||': 4,
  '&&': 5,
  '|': 6,
  '^': 7,
  '&': 8,
  '==': 9,
  '!=': 9,
  '<': 10,
  '<=': 10,
  '>': 10,
  '>=': 10,
  '<<': 11,
  '>>': 11,
  '+': 12,
  '-': 12,
  '*': 13,
  '/': 13,
  '%': 13,
  '**': 14,
};

const ASSIGN = new Set(['=', '+=', '-=', '*=', '/=', '%=', '<<=', '>>=', '&=', '^=', '|=']);

function toInt(n: number): number {
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function binop(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      if (b === 0) throw new ArithError('divisor is zero');
      return Math.trunc(a / b);
    case '%':
      if (b === 0) throw new ArithError('divisor is zero');
      return a % b;
    case '**':
      return a ** b;
    case '<<':
      return Number(BigInt.asIntN(64, BigInt(a) << BigInt(b & 63)));
    case '>>':
      return Number(BigInt(a) >> BigInt(b & 63));
    case '&':
      return Number(BigInt(a) & BigInt(b));
    case '|':
      return Number(BigInt(a) | BigInt(b));
    case '^':
      return Number(BigInt(a) ^ BigInt(b));
    case '<':
      return +(a < b);
    case '<=':
      return +(a <= b);
    case '>':
      return +(a > b);
    case '>=':
      return +(a >= b);
    case '==':
      return +(a === b);
    case '!=':
      return +(a !== b);
    case ',':
      return b;
  }
  throw new ArithError(`unexpected '${op}'`);
}

class ArithParser {
  private i = 0;

  constructor(
    private readonly toks: Tok[],
    private readonly vars: ArithVars,
    private readonly depth: number,
  ) {}

  run(): number {
    if (this.toks.length === 0) return 0;
    const v = this.expr(0, true);
    if (this.i < this.toks.length) throw new ArithError(`unexpected '${this.show(this.toks[this.i]!)}'`);
    return v;
  }

  private show(t: Tok): string {
    return String(t.v);
  }

  private peekOp(): string | undefined {
    const t = this.toks[this.i];
    return t?.k === 'op' ? t.v : undefined;
  }

  private value(name: string): number {
    const raw = this.vars.get(name);
    if (raw === undefined || raw.trim() === '') return 0;
    if (this.depth > 20) throw new ArithError(`${name}: expression recurses on parameter`);
    return evalArith(raw, this.vars, this.depth + 1);
  }

  /** Parses with precedence climbing; `live` false skips side effects (short-circuit branches). */
  private expr(minPrec: number, live: boolean): number {
    let left = this.unary(live);
    for (;;) {
      const op = this.peekOp();
      if (op === undefined) break;
      if (op === '?') {
        if (minPrec > 3) break;
        this.i++;
        const yes = this.expr(0, live && left !== 0);
        if (this.peekOp() !== ':') throw new ArithError("missing ':'");
        this.i++;
        const no = this.expr(3, live && left === 0);
        left = left !== 0 ? yes : no;
        continue;
      }
      const prec = BINARY[op];
      if (prec === undefined || prec < minPrec) break;
      this.i++;
      if (op === '&&') {
        const right = this.expr(prec + 1, live && left !== 0);
        left = +(left !== 0 && right !== 0);
      } else if (op === '||') {
        const right = this.expr(prec + 1, live && left === 0);
        left = +(left !== 0 || right !== 0);
      } else {
        const right = this.expr(op === '**' ? prec : prec + 1, live);
        left = live ? toInt(binop(op, left, right)) : 0;
      }
    }
    return left;
  }

  private unary(live: boolean): number {
    const t = this.toks[this.i];
    if (!t) throw new ArithError('unexpected end of expression');
    if (t.k === 'op') {
      switch (t.v) {
        case '(': {
          this.i++;
          const v = this.expr(0, live);
          if (this.peekOp() !== ')') throw new ArithError("missing ')'");
          this.i++;
          return v;
        }
        case '+':
          this.i++;
          return this.unary(live);
        case '-':
          this.i++;
          return -this.unary(live);
        case '!':
          this.i++;
          return +(this.unary(live) === 0);
        case '~':
          this.i++;
          return Number(~BigInt(this.unary(live)));
        case '++':
        case '--': {
          this.i++;
          const n = this.toks[this.i];
          if (n?.k !== 'name') throw new ArithError(`'${t.v}' needs a variable`);
          this.i++;
          const v = this.value(n.v) + (t.v === '++' ? 1 : -1);
          if (live) this.vars.set(n.v, String(v));
          return v;
        }
      }
      throw new ArithError(`unexpected '${t.v}'`);
    }
    this.i++;
    if (t.k === 'num') return t.v;
    const op = this.peekOp();
    if (op !== undefined && ASSIGN.has(op)) {
      this.i++;
      const rhs = this.expr(2, live);
      const v = op === '=' ? rhs : toInt(binop(op.slice(0, -1), this.value(t.v), rhs));
      if (live) this.vars.set(t.v, String(v));
      return v;
    }
    if (op === '++' || op === '--') {
      this.i++;
      const v = this.value(t.v);
      if (live) this.vars.set(t.v, String(v + (op === '++' ? 1 : -1)));
      return v;
    }
    return this.value(t.v);
  }
}

/** Evaluates an arithmetic expression (already parameter-expanded). */
export function evalArith(expr: string, vars: ArithVars, depth = 0): number {
  return new ArithParser(tokenize(expr), vars, depth).run();
}
