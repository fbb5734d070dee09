/**
 * Tokenizer for the `sh` language. Words keep their structure (quoted and unquoted literals,
 * parameter expansions, command and arithmetic substitutions); command substitutions are parsed
 * recursively through the hooks the parser provides. Here-document bodies are read when the lexer
 * reaches the end of the line that introduced them.
 */
import { ShellSyntaxError, type Node, type ParamOp, type Redir, type Word, type WordPart } from './ast.ts';

export type Token =
  | { k: 'word'; word: Word; pos: number }
  | { k: 'op'; v: string; pos: number }
  | { k: 'redir'; op: Redir['op']; fd: number | null; pos: number }
  | { k: 'eof'; pos: number };

export interface LexerHooks {
  /** Parses a command list starting at `pos` up to the matching `)`; returns the index after it. */
  parseSubst(src: string, pos: number): { node: Node; end: number };
  /** Parses a whole script (for backquoted substitutions). */
  parseScript(src: string): Node;
}

const META = ' \t\n|&;<>()';
const SPECIAL_PARAMS = '?$#!@*-0123456789';
const PARAM_OPS: ParamOp[] = [':-', ':=', ':+', ':?', '##', '%%', '//', '-', '=', '+', '?', '#', '%', '/'];

function isNameStart(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z_]/.test(c);
}

function isNameChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}

/**
 * A word's parts as they are read: literal text gathers into one literal part (quoted or not, as
 * the context says) until a quote or an expansion adds a part of its own.
 */
class Parts {
  private readonly parts: WordPart[] = [];
  private lit = '';

  constructor(private readonly q: boolean) {}

  text(t: string): void {
    this.lit += t;
  }

  add(...parts: WordPart[]): void {
    this.flush();
    this.parts.push(...parts);
  }

  done(): WordPart[] {
    this.flush();
    return this.parts;
  }

  private flush(): void {
    if (this.lit) this.parts.push({ t: 'lit', v: this.lit, q: this.q });
    this.lit = '';
  }
}

export class Lexer {
  pos: number;
  private pending: Redir[] = [];

  constructor(
    readonly src: string,
    pos: number,
    private readonly hooks: LexerHooks,
  ) {
    this.pos = pos;
  }

  /** A here-document whose body starts after the current line. */
  addHeredoc(r: Redir): void {
    this.pending.push(r);
  }

  next(): Token {
    const s = this.src;
    for (;;) {
      const c = s[this.pos];
      if (c === ' ' || c === '\t') this.pos++;
      else if (c === '\\' && s[this.pos + 1] === '\n') this.pos += 2;
      else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else break;
    }
    const pos = this.pos;
    if (pos >= s.length) {
      this.finishHeredocsAtEof();
      return { k: 'eof', pos };
    }
    const c = s[pos]!;
    const c2 = s.slice(pos, pos + 2);
    const c3 = s.slice(pos, pos + 3);
    if (c === '\n') {
      this.pos++;
      this.readHeredocs();
      return { k: 'op', v: '\n', pos };
    }
    const op = (v: string): Token => {
      this.pos += v.length;
      return { k: 'op', v, pos };
    };
    const redir = (v: Redir['op'], fd: number | null = null): Token => {
      this.pos += v.length;
      return { k: 'redir', op: v, fd, pos };
    };
    switch (c) {
      case '&':
        if (c2 === '&&') return op('&&');
        if (c3 === '&>>') return redir('&>>');
        if (c2 === '&>') return redir('&>');
        return op('&');
      case '|':
        return op(c2 === '||' ? '||' : '|');
      case ';':
        return op(c2 === ';;' ? ';;' : ';');
      case '(':
      case ')':
        return op(c);
      case '<':
      case '>':
        return redir(this.redirOp());
    }
    if (/[0-9]/.test(c)) {
      let i = pos;
      while (/[0-9]/.test(s[i] ?? '')) i++;
      if ((s[i] === '<' || s[i] === '>') && i - pos < 4) {
        const fd = Number(s.slice(pos, i));
        this.pos = i;
        const v = this.redirOp();
        this.pos += v.length;
        return { k: 'redir', op: v, fd, pos };
      }
    }
    return { k: 'word', word: this.readWord(), pos };
  }

  private redirOp(): Redir['op'] {
    const s = this.src.slice(this.pos, this.pos + 3);
    if (s.startsWith('<<<')) return '<<<';
    if (s.startsWith('<<-')) return '<<-';
    for (const v of ['<<', '<&', '<>', '>>', '>&', '>|'] as const) if (s.startsWith(v)) return v;
    return s[0] === '<' ? '<' : '>';
  }

  /** Reads one word in normal (unquoted) context. */
  readWord(): Word {
    const s = this.src;
    const start = this.pos;
    const w = new Parts(false);
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (META.includes(c)) break;
      if (c === "'" || c === '"' || c === '$' || c === '`') w.add(...this.readQuoteOrExpansion(c, false));
      else if (c === '\\') {
        const n = s[this.pos + 1];
        if (n === '\n') this.pos += 2;
        else if (n === undefined) {
          w.text('\\');
          this.pos++;
        } else {
          w.add({ t: 'lit', v: n, q: true });
          this.pos += 2;
        }
      } else if (c === '~' && this.pos === start) {
        let j = this.pos + 1;
        while (j < s.length && /[A-Za-z0-9_.-]/.test(s[j]!)) j++;
        if (j >= s.length || s[j] === '/' || META.includes(s[j]!)) {
          w.add({ t: 'tilde', user: s.slice(this.pos + 1, j) });
          this.pos = j;
        } else {
          w.text(c);
          this.pos++;
        }
      } else {
        w.text(c);
        this.pos++;
      }
    }
    return { parts: w.done(), raw: s.slice(start, this.pos) };
  }

  /**
   * At a quote, `$` or backquote: the parts it opens, consumed (`q`: inside double quotes). A
   * double-quoted string can give several parts; the others give one.
   */
  private readQuoteOrExpansion(c: string, q: boolean): WordPart[] {
    if (c === "'") return [this.readSquote()];
    if (c === '"') return this.readDquote();
    return [c === '$' ? this.readDollar(q) : this.readBackquote(q)];
  }

  /** At a `'`: the text up to the closing quote (consumed), literal and quoted. */
  private readSquote(): WordPart {
    const s = this.src;
    const end = s.indexOf("'", this.pos + 1);
    if (end < 0) throw new ShellSyntaxError('no closing quote', true);
    const part: WordPart = { t: 'lit', v: s.slice(this.pos + 1, end), q: true };
    this.pos = end + 1;
    return part;
  }

  /** At a `"`: the parts up to the closing quote (consumed); `""` is one empty quoted literal. */
  private readDquote(): WordPart[] {
    this.pos++;
    const parts = this.readExpanding('$`"\\', '"');
    return parts.length ? parts : [{ t: 'lit', v: '', q: true }];
  }

  /** Reads a here-document body or arithmetic text: expansions, no quote removal. */
  readTemplate(): Word {
    return { parts: this.readExpanding('$`\\'), raw: this.src };
  }

  /**
   * Reads double-quote-like text up to `close` (consumed; a missing one is a syntax error) or, with
   * no `close`, to the end of the source: `$` and backquote expansions are done, a backslash only
   * escapes the characters in `escapable` and a backslash-newline disappears. All text is quoted.
   */
  private readExpanding(escapable: string, close?: string): WordPart[] {
    const s = this.src;
    const w = new Parts(true);
    for (;;) {
      if (this.pos >= s.length) {
        if (close === undefined) break;
        throw new ShellSyntaxError('no closing quote', true);
      }
      const c = s[this.pos]!;
      if (c === close) {
        this.pos++;
        break;
      }
      if (c === '\\') {
        const n = s[this.pos + 1];
        if (n === '\n') this.pos += 2;
        else if (n !== undefined && escapable.includes(n)) {
          w.text(n);
          this.pos += 2;
        } else {
          w.text('\\');
          this.pos++;
        }
      } else if (c === '$' || c === '`') w.add(...this.readQuoteOrExpansion(c, true));
      else {
        w.text(c);
        this.pos++;
      }
    }
    return w.done();
  }

  /** At a `$`: a parameter, `${…}`, `$(…)`, `$((…))`, or a literal dollar. */
  private readDollar(q: boolean): WordPart {
    const s = this.src;
    const n = s[this.pos + 1];
    if (n === '{') {
      this.pos += 2;
      return this.readBrace(q);
    }
    if (n === '(') {
      if (s[this.pos + 2] === '(') {
        const end = this.findArithEnd(this.pos + 3);
        if (end >= 0) {
          const text = s.slice(this.pos + 3, end);
          this.pos = end + 2;
          const sub = new Lexer(text, 0, this.hooks);
          return { t: 'arith', expr: sub.readTemplate(), q };
        }
      }
      const { node, end } = this.hooks.parseSubst(s, this.pos + 2);
      this.pos = end;
      return { t: 'cmd', body: node, q };
    }
    if (n !== undefined && SPECIAL_PARAMS.includes(n)) {
      this.pos += 2;
      return { t: 'param', name: n, q };
    }
    if (isNameStart(n)) {
      let j = this.pos + 1;
      while (isNameChar(s[j])) j++;
      const name = s.slice(this.pos + 1, j);
      this.pos = j;
      return { t: 'param', name, q };
    }
    this.pos++;
    return { t: 'lit', v: '$', q };
  }

  /** Index of the `))` closing an arithmetic expansion whose text starts at `from`, or -1. */
  private findArithEnd(from: number): number {
    const s = this.src;
    let depth = 0;
    for (let i = from; i < s.length; i++) {
      const c = s[i];
      if (c === '(') depth++;
      else if (c === ')') {
        if (depth === 0) return s[i + 1] === ')' ? i : -1;
        depth--;
      }
    }
    return -1;
  }

  /** After `${`: name, optional operator and word, `}`. */
  private readBrace(q: boolean): WordPart {
    const s = this.src;
    let len = false;
    if (s[this.pos] === '#' && s[this.pos + 1] !== '}' && s[this.pos + 1] !== undefined) {
      const n = s[this.pos + 1]!;
      if (isNameStart(n) || SPECIAL_PARAMS.includes(n)) {
        len = true;
        this.pos++;
      }
    }
    let name: string;
    if (isNameStart(s[this.pos])) {
      let j = this.pos;
      while (isNameChar(s[j])) j++;
      name = s.slice(this.pos, j);
      this.pos = j;
    } else if (/[0-9]/.test(s[this.pos] ?? '')) {
      let j = this.pos;
      while (/[0-9]/.test(s[j] ?? '')) j++;
      name = s.slice(this.pos, j);
      this.pos = j;
    } else if (s[this.pos] !== undefined && SPECIAL_PARAMS.includes(s[this.pos]!)) {
      name = s[this.pos]!;
      this.pos++;
    } else {
      if (this.pos >= s.length) throw new ShellSyntaxError('missing }', true);
      throw new ShellSyntaxError('bad substitution');
    }
    if (s[this.pos] === '}') {
      this.pos++;
      return { t: 'param', name, q, len };
    }
    if (len) throw new ShellSyntaxError('bad substitution');
    const op = PARAM_OPS.find((o) => s.startsWith(o, this.pos));
    if (!op) {
      if (this.pos >= s.length) throw new ShellSyntaxError('missing }', true);
      throw new ShellSyntaxError('bad substitution');
    }
    this.pos += op.length;
    const arg = this.readBraceArg(q);
    return { t: 'param', name, q, op, arg };
  }

  /** The word inside `${name<op>…}` up to the closing brace (consumed). */
  private readBraceArg(q: boolean): Word {
    const s = this.src;
    const start = this.pos;
    const w = new Parts(q);
    for (;;) {
      if (this.pos >= s.length) throw new ShellSyntaxError('missing }', true);
      const c = s[this.pos]!;
      if (c === '}') {
        const raw = s.slice(start, this.pos);
        this.pos++;
        return { parts: w.done(), raw };
      }
      // Inside double quotes a single quote is an ordinary character.
      if ((c === "'" && !q) || c === '"' || c === '$' || c === '`') w.add(...this.readQuoteOrExpansion(c, q));
      else if (c === '\\') {
        const n = s[this.pos + 1];
        if (n === undefined) throw new ShellSyntaxError('missing }', true);
        w.add({ t: 'lit', v: n, q: true });
        this.pos += 2;
      } else {
        w.text(c);
        this.pos++;
      }
    }
  }

  /** At a backquote: the command up to the closing backquote, unescaped and parsed. */
  private readBackquote(q: boolean): WordPart {
    const s = this.src;
    let i = this.pos + 1;
    let text = '';
    for (;;) {
      if (i >= s.length) throw new ShellSyntaxError('no closing quote', true);
      const c = s[i]!;
      if (c === '`') break;
      if (c === '\\') {
        const n = s[i + 1];
        if (n !== undefined && ('$`\\'.includes(n) || (q && n === '"'))) {
          text += n;
          i += 2;
          continue;
        }
      }
      text += c;
      i++;
    }
    this.pos = i + 1;
    return { t: 'cmd', body: this.hooks.parseScript(text), q };
  }

  private readHeredocs(): void {
    const s = this.src;
    const docs = this.pending;
    this.pending = [];
    for (const r of docs) {
      const h = r.heredoc!;
      let body = '';
      while (this.pos < s.length) {
        const nl = s.indexOf('\n', this.pos);
        const line = s.slice(this.pos, nl < 0 ? s.length : nl);
        this.pos = nl < 0 ? s.length : nl + 1;
        const text = h.strip ? line.replace(/^\t+/, '') : line;
        if (text === h.delim) break;
        body += `${text}\n`;
      }
      h.body = h.quoted
        ? { parts: [{ t: 'lit', v: body, q: true }], raw: body }
        : new Lexer(body, 0, this.hooks).readTemplate();
    }
  }

  private finishHeredocsAtEof(): void {
    for (const r of this.pending) r.heredoc!.body = { parts: [], raw: '' };
    this.pending = [];
  }
}
