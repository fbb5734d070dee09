/** `test` / `[`: file, string and integer tests, `!`, `-a`, `-o`, parentheses. */
import { R_OK, W_OK, X_OK, type Vfs } from '../os/vfs.ts';

export interface TestEnv {
  fs: Vfs;
  cwd: string;
  uid: number;
}

/** Status 0 (true), 1 (false) or 2 (error, with a message for stderr). */
export type TestResult = { status: 0 | 1 } | { status: 2; error: string };

class TestError extends Error {}

const UNARY = new Set([
  '-e',
  '-f',
  '-d',
  '-h',
  '-L',
  '-r',
  '-w',
  '-x',
  '-s',
  '-b',
  '-c',
  '-p',
  '-S',
  '-g',
  '-u',
  '-k',
  '-O',
  '-G',
  '-t',
  '-z',
  '-n',
]);
const BINARY = new Set([
  '=',
  '==',
  '!=',
  '<',
  '>',
  '-eq',
  '-ne',
  '-lt',
  '-le',
  '-gt',
  '-ge',
  '-nt',
  '-ot',
  '-ef',
]);

function int(s: string): number {
  const t = s.trim();
  if (!/^[-+]?[0-9]+$/.test(t)) throw new TestError(`${s}: bad number`);
  return Number(t);
}

function unary(op: string, arg: string, env: TestEnv): boolean {
  if (op === '-z') return arg === '';
  if (op === '-n') return arg !== '';
  if (op === '-t') return false;
  const path = env.fs.normalize(arg, env.cwd);
  if (arg === '') return false;
  const lst = env.fs.lstat(path);
  const st = env.fs.stat(path);
  switch (op) {
    case '-e':
      return st !== null && env.fs.access(path, 0, env.uid);
    case '-f':
      return (
        st !== null &&
        st.type === 'file' &&
        (st.mode & 0o170000) === 0o100000 &&
        env.fs.access(path, 0, env.uid)
      );
    case '-d':
      return st?.type === 'dir' && env.fs.access(path, 0, env.uid);
    case '-h':
    case '-L':
      return lst?.type === 'symlink';
    case '-r':
      return env.fs.access(path, R_OK, env.uid);
    case '-w':
      return env.fs.access(path, W_OK, env.uid);
    case '-x':
      return env.fs.access(path, X_OK, env.uid);
    case '-s':
      return st !== null && st.size > 0 && env.fs.access(path, 0, env.uid);
    case '-c':
      return st !== null && (st.mode & 0o170000) === 0o020000;
    case '-b':
    case '-p':
    case '-S':
      return false;
    case '-g':
      return st !== null && (st.mode & 0o2000) !== 0;
    case '-u':
      return st !== null && (st.mode & 0o4000) !== 0;
    case '-k':
      return st !== null && (st.mode & 0o1000) !== 0;
    case '-O':
      return st !== null && st.uid === env.uid;
    case '-G':
      return st !== null && st.gid === env.uid;
  }
  throw new TestError(`${op}: unknown operator`);
}

function binary(a: string, op: string, b: string, env: TestEnv): boolean {
  switch (op) {
    case '=':
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '>':
      return a > b;
    case '-eq':
      return int(a) === int(b);
    case '-ne':
      return int(a) !== int(b);
    case '-lt':
      return int(a) < int(b);
    case '-le':
      return int(a) <= int(b);
    case '-gt':
      return int(a) > int(b);
    case '-ge':
      return int(a) >= int(b);
    case '-nt':
    case '-ot': {
      const sa = env.fs.stat(env.fs.normalize(a, env.cwd));
      const sb = env.fs.stat(env.fs.normalize(b, env.cwd));
      if (op === '-nt') return sa !== null && (sb === null || sa.mtime > sb.mtime);
      return sb !== null && (sa === null || sa.mtime < sb.mtime);
    }
    case '-ef': {
      const sa = env.fs.stat(env.fs.normalize(a, env.cwd));
      const sb = env.fs.stat(env.fs.normalize(b, env.cwd));
      return sa !== null && sb !== null && sa.ino === sb.ino && sa.dev === sb.dev;
    }
  }
  throw new TestError(`${op}: unknown operator`);
}

class Evaluator {
  private i = 0;

  constructor(
    private readonly args: string[],
    private readonly env: TestEnv,
  ) {}

  run(): boolean {
    const v = this.evalN(this.args.length);
    if (this.i < this.args.length) throw new TestError(`${this.args[this.i]}: unexpected operator`);
    return v;
  }

  /** POSIX rules for up to four arguments, else the general grammar. */
  private evalN(n: number): boolean {
    const a = this.args.slice(this.i, this.i + n);
    switch (n) {
      case 0:
        return false;
      case 1:
        this.i += 1;
        return a[0] !== '';
      case 2:
        if (a[0] === '!') {
          this.i += 1;
          return !this.evalN(1);
        }
        if (UNARY.has(a[0]!)) {
          this.i += 2;
          return unary(a[0]!, a[1]!, this.env);
        }
        break;
      case 3:
        if (BINARY.has(a[1]!)) {
          this.i += 3;
          return binary(a[0]!, a[1]!, a[2]!, this.env);
        }
        if (a[1] === '-a' || a[1] === '-o') break;
        if (a[0] === '!') {
          this.i += 1;
          return !this.evalN(2);
        }
        if (a[0] === '(' && a[2] === ')') {
          this.i += 1;
          const v = this.evalN(1);
          this.i += 1;
          return v;
        }
        break;
      case 4:
        if (a[0] === '!') {
          this.i += 1;
          return !this.evalN(3);
        }
        if (a[0] === '(' && a[3] === ')') {
          this.i += 1;
          const v = this.evalN(2);
          this.i += 1;
          return v;
        }
        break;
    }
    return this.orExpr();
  }

  private peek(): string | undefined {
    return this.args[this.i];
  }

  private orExpr(): boolean {
    let v = this.andExpr();
    while (this.peek() === '-o') {
      this.i++;
      const r = this.andExpr();
      v = v || r;
    }
    return v;
  }

  private andExpr(): boolean {
    let v = this.notExpr();
    while (this.peek() === '-a') {
      this.i++;
      const r = this.notExpr();
      v = v && r;
    }
    return v;
  }

  private notExpr(): boolean {
    if (this.peek() === '!') {
      this.i++;
      return !this.notExpr();
    }
    return this.primary();
  }

  private primary(): boolean {
    const a = this.peek();
    if (a === undefined) throw new TestError('argument expected');
    if (a === '(') {
      this.i++;
      const v = this.orExpr();
      if (this.peek() !== ')') throw new TestError("missing ')'");
      this.i++;
      return v;
    }
    const b = this.args[this.i + 1];
    const c = this.args[this.i + 2];
    if (b !== undefined && BINARY.has(b) && c !== undefined) {
      this.i += 3;
      return binary(a, b, c, this.env);
    }
    if (UNARY.has(a) && b !== undefined) {
      this.i += 2;
      return unary(a, b, this.env);
    }
    this.i++;
    return a !== '';
  }
}

/** Evaluates the arguments of `test` (without a trailing `]`). */
export function evalTest(args: string[], env: TestEnv): TestResult {
  try {
    return { status: new Evaluator(args, env).run() ? 0 : 1 };
  } catch (e) {
    if (e instanceof TestError) return { status: 2, error: e.message };
    throw e;
  }
}
