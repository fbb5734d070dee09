/**
 * Recursive-descent parser for the `sh` language (the subset of mksh that scripts sent over
 * `adb shell` use): lists, and-or lists, pipelines, simple commands with assignments and
 * redirections, subshells, groups, if / while / until / for / case, and function definitions.
 */
import { ShellSyntaxError, type Assign, type Node, type Redir, type Word } from './ast.ts';
import { Lexer, type LexerHooks, type Token } from './lexer.ts';

export { ShellSyntaxError } from './ast.ts';

const TERMINATORS = new Set(['then', 'else', 'elif', 'fi', 'do', 'done', 'esac', '}']);
const RESERVED = new Set([...TERMINATORS, 'if', 'while', 'until', 'for', 'case', '{', '!', 'in', 'function']);

const hooks: LexerHooks = {
  parseSubst(src, pos) {
    const p = new Parser(src, pos);
    const node = p.parseList();
    const t = p.peek();
    if (t.k === 'eof') throw new ShellSyntaxError("'(' unmatched", true);
    if (t.k !== 'op' || t.v !== ')') throw p.unexpected(t);
    p.advance();
    return { node, end: p.position() };
  },
  parseScript(src) {
    return parse(src);
  },
};

/** Parses a whole script. Throws ShellSyntaxError. */
export function parse(src: string): Node {
  const p = new Parser(src, 0);
  const node = p.parseList();
  const t = p.peek();
  if (t.k !== 'eof') throw p.unexpected(t);
  return node;
}

/** The literal text of a word if it is a plain unquoted literal, else null (for keywords). */
function plainWord(w: Word): string | null {
  if (w.parts.length !== 1) return null;
  const p = w.parts[0]!;
  return p.t === 'lit' && !p.q ? p.v : null;
}

function tokenText(t: Token): string {
  switch (t.k) {
    case 'word':
      return t.word.raw;
    case 'op':
      return t.v === '\n' ? 'newline' : t.v;
    case 'redir':
      return (t.fd ?? '') + t.op;
    case 'eof':
      return 'EOF';
  }
}

export class Parser {
  private readonly lex: Lexer;
  private tok: Token | null = null;

  constructor(src: string, pos: number) {
    this.lex = new Lexer(src, pos, hooks);
  }

  position(): number {
    return this.tok ? this.tok.pos : this.lex.pos;
  }

  peek(): Token {
    this.tok ??= this.lex.next();
    return this.tok;
  }

  advance(): Token {
    const t = this.peek();
    this.tok = null;
    return t;
  }

  unexpected(t: Token): ShellSyntaxError {
    if (t.k === 'eof') return new ShellSyntaxError('unexpected EOF', true);
    return new ShellSyntaxError(`'${tokenText(t)}' unexpected`);
  }

  private isOp(v: string): boolean {
    const t = this.peek();
    return t.k === 'op' && t.v === v;
  }

  private isKeyword(kw: string): boolean {
    const t = this.peek();
    return t.k === 'word' && plainWord(t.word) === kw;
  }

  private skipNewlines(): void {
    while (this.isOp('\n')) this.advance();
  }

  private atListEnd(): boolean {
    const t = this.peek();
    if (t.k === 'eof') return true;
    if (t.k === 'op') return t.v === ')' || t.v === ';;';
    if (t.k === 'word') {
      const w = plainWord(t.word);
      return w !== null && TERMINATORS.has(w);
    }
    return false;
  }

  private expectKeyword(kw: string, opener: string): void {
    this.skipNewlines();
    const t = this.peek();
    if (t.k === 'eof') throw new ShellSyntaxError(`'${opener}' unmatched`, true);
    if (!this.isKeyword(kw)) throw this.unexpected(t);
    this.advance();
  }

  /** and-or lists separated by `;`, `&` or newlines, up to a terminator keyword, `)` or EOF. */
  parseList(): Node {
    const items: Array<{ node: Node; bg: boolean }> = [];
    this.skipNewlines();
    while (!this.atListEnd()) {
      const node = this.parseAndOr();
      let bg = false;
      const t = this.peek();
      if (t.k === 'op' && (t.v === ';' || t.v === '&' || t.v === '\n')) {
        bg = t.v === '&';
        this.advance();
        items.push({ node, bg });
        this.skipNewlines();
        continue;
      }
      items.push({ node, bg });
      break;
    }
    if (items.length === 1 && !items[0]!.bg) return items[0]!.node;
    return { type: 'list', items };
  }

  private parseAndOr(): Node {
    const first = this.parsePipeline();
    const rest: Array<{ op: '&&' | '||'; node: Node }> = [];
    for (;;) {
      const t = this.peek();
      if (t.k !== 'op' || (t.v !== '&&' && t.v !== '||')) break;
      this.advance();
      this.skipNewlines();
      rest.push({ op: t.v, node: this.parsePipeline() });
    }
    return rest.length ? { type: 'andor', first, rest } : first;
  }

  private parsePipeline(): Node {
    let negate = false;
    while (this.isKeyword('!')) {
      this.advance();
      negate = !negate;
    }
    const cmds = [this.parseCommand()];
    while (this.isOp('|')) {
      this.advance();
      this.skipNewlines();
      cmds.push(this.parseCommand());
    }
    if (cmds.length === 1 && !negate) return cmds[0]!;
    return { type: 'pipeline', cmds, negate };
  }

  private parseCommand(): Node {
    const t = this.peek();
    if (t.k === 'op' && t.v === '(') {
      this.advance();
      const body = this.parseList();
      const c = this.peek();
      if (c.k === 'eof') throw new ShellSyntaxError("'(' unmatched", true);
      if (c.k !== 'op' || c.v !== ')') throw this.unexpected(c);
      this.advance();
      return { type: 'subshell', body, redirs: this.parseRedirs() };
    }
    if (t.k === 'word') {
      const kw = plainWord(t.word);
      switch (kw) {
        case '{': {
          this.advance();
          const body = this.parseList();
          this.expectKeyword('}', '{');
          return { type: 'group', body, redirs: this.parseRedirs() };
        }
        case 'if':
          return this.parseIf();
        case 'while':
        case 'until': {
          this.advance();
          const cond = this.parseList();
          this.expectKeyword('do', kw);
          const body = this.parseList();
          this.expectKeyword('done', kw);
          return { type: 'loop', until: kw === 'until', cond, body, redirs: this.parseRedirs() };
        }
        case 'for':
          return this.parseFor();
        case 'case':
          return this.parseCase();
        case 'function': {
          this.advance();
          const n = this.advance();
          const name = n.k === 'word' ? plainWord(n.word) : null;
          if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw this.unexpected(n);
          if (this.isOp('(')) {
            this.advance();
            if (!this.isOp(')')) throw this.unexpected(this.peek());
            this.advance();
          }
          this.skipNewlines();
          return { type: 'func', name, body: this.parseCommand() };
        }
        default:
          if (kw !== null && TERMINATORS.has(kw)) throw this.unexpected(t);
      }
    }
    return this.parseSimple();
  }

  private parseIf(): Node {
    this.advance();
    const clauses: Array<{ cond: Node; body: Node }> = [];
    let elseBody: Node | null = null;
    for (;;) {
      const cond = this.parseList();
      this.expectKeyword('then', 'if');
      const body = this.parseList();
      clauses.push({ cond, body });
      this.skipNewlines();
      if (this.isKeyword('elif')) {
        this.advance();
        continue;
      }
      if (this.isKeyword('else')) {
        this.advance();
        elseBody = this.parseList();
      }
      this.expectKeyword('fi', 'if');
      break;
    }
    return { type: 'if', clauses, elseBody, redirs: this.parseRedirs() };
  }

  private parseFor(): Node {
    this.advance();
    const n = this.advance();
    const name = n.k === 'word' ? plainWord(n.word) : null;
    if (n.k === 'eof') throw new ShellSyntaxError("'for' unmatched", true);
    if (!name || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw this.unexpected(n);
    let items: Word[] | null = null;
    this.skipNewlines();
    if (this.isKeyword('in')) {
      this.advance();
      items = [];
      for (;;) {
        const t = this.peek();
        if (t.k !== 'word') break;
        items.push(t.word);
        this.advance();
      }
      const t = this.peek();
      if (t.k === 'op' && (t.v === ';' || t.v === '\n')) this.advance();
      else if (t.k === 'eof') throw new ShellSyntaxError("'for' unmatched", true);
      else throw this.unexpected(t);
    } else if (this.isOp(';')) {
      this.advance();
    }
    this.expectKeyword('do', 'for');
    const body = this.parseList();
    this.expectKeyword('done', 'for');
    return { type: 'for', name, items, body, redirs: this.parseRedirs() };
  }

  private parseCase(): Node {
    this.advance();
    const w = this.advance();
    if (w.k === 'eof') throw new ShellSyntaxError("'case' unmatched", true);
    if (w.k !== 'word') throw this.unexpected(w);
    this.expectKeyword('in', 'case');
    const items: Array<{ patterns: Word[]; body: Node | null }> = [];
    for (;;) {
      this.skipNewlines();
      if (this.isKeyword('esac')) {
        this.advance();
        break;
      }
      if (this.isOp('(')) this.advance();
      const patterns: Word[] = [];
      for (;;) {
        const t = this.advance();
        if (t.k === 'eof') throw new ShellSyntaxError("'case' unmatched", true);
        if (t.k !== 'word') throw this.unexpected(t);
        patterns.push(t.word);
        if (this.isOp('|')) {
          this.advance();
          continue;
        }
        const c = this.peek();
        if (c.k === 'op' && c.v === ')') {
          this.advance();
          break;
        }
        if (c.k === 'eof') throw new ShellSyntaxError("'case' unmatched", true);
        throw this.unexpected(c);
      }
      this.skipNewlines();
      let body: Node | null = null;
      if (!this.isOp(';;') && !this.isKeyword('esac')) body = this.parseList();
      items.push({ patterns, body });
      if (this.isOp(';;')) {
        this.advance();
        continue;
      }
      this.skipNewlines();
      const t = this.peek();
      if (t.k === 'eof') throw new ShellSyntaxError("'case' unmatched", true);
      if (!this.isKeyword('esac')) throw this.unexpected(t);
    }
    return { type: 'case', word: w.word, items, redirs: this.parseRedirs() };
  }

  private parseRedirs(): Redir[] {
    const redirs: Redir[] = [];
    while (this.peek().k === 'redir') redirs.push(this.parseRedir());
    return redirs;
  }

  private parseRedir(): Redir {
    const t = this.advance();
    if (t.k !== 'redir') throw this.unexpected(t);
    const w = this.advance();
    if (w.k !== 'word') throw this.unexpected(w);
    const r: Redir = { fd: t.fd, op: t.op, target: w.word };
    if (t.op === '<<' || t.op === '<<-') {
      const quoted = w.word.parts.some((p) => p.t === 'lit' && p.q);
      const delim = w.word.parts
        .map((p) => (p.t === 'lit' ? p.v : p.t === 'param' ? `$${p.name}` : ''))
        .join('');
      r.heredoc = { delim, strip: t.op === '<<-', quoted, body: null };
      this.lex.addHeredoc(r);
    }
    return r;
  }

  private parseSimple(): Node {
    const assigns: Assign[] = [];
    const words: Word[] = [];
    const redirs: Redir[] = [];
    for (;;) {
      const t = this.peek();
      if (t.k === 'redir') {
        redirs.push(this.parseRedir());
        continue;
      }
      if (t.k !== 'word') break;
      if (words.length === 0) {
        const a = asAssignment(t.word);
        if (a) {
          this.advance();
          assigns.push(a);
          continue;
        }
      }
      this.advance();
      words.push(t.word);
      if (words.length === 1 && assigns.length === 0 && redirs.length === 0 && this.isOp('(')) {
        const name = plainWord(t.word);
        if (name && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) && !RESERVED.has(name)) {
          this.advance();
          const c = this.advance();
          if (c.k !== 'op' || c.v !== ')') throw this.unexpected(c);
          this.skipNewlines();
          return { type: 'func', name, body: this.parseCommand() };
        }
      }
    }
    if (!assigns.length && !words.length && !redirs.length) throw this.unexpected(this.peek());
    return { type: 'simple', assigns, words, redirs };
  }
}

/** `NAME=value` / `NAME+=value` as the leading unquoted part of a word. */
function asAssignment(w: Word): Assign | null {
  const first = w.parts[0];
  if (!first || first.t !== 'lit' || first.q) return null;
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(\+?)=/.exec(first.v);
  if (!m) return null;
  const rest = first.v.slice(m[0].length);
  const parts = rest ? [{ ...first, v: rest }, ...w.parts.slice(1)] : w.parts.slice(1);
  return { name: m[1]!, append: m[2] === '+', value: { parts, raw: w.raw.slice(m[0].length) } };
}
