/** The syntax tree of the `sh` language, as produced by parser.ts and walked by interpreter.ts. */

/** One piece of a word. `q` = quoted: not subject to field splitting or pathname expansion. */
export type WordPart =
  | { t: 'lit'; v: string; q: boolean }
  | { t: 'param'; name: string; q: boolean; op?: ParamOp; arg?: Word; len?: boolean }
  | { t: 'cmd'; body: Node; q: boolean }
  | { t: 'arith'; expr: Word; q: boolean }
  | { t: 'tilde'; user: string };

export type ParamOp =
  ':-' | '-' | ':=' | '=' | ':+' | '+' | ':?' | '?' | '#' | '##' | '%' | '%%' | '/' | '//';

export interface Word {
  parts: WordPart[];
  /** The source text of the word. */
  raw: string;
}

export type RedirOp = '<' | '>' | '>>' | '>|' | '<>' | '<&' | '>&' | '&>' | '&>>' | '<<' | '<<-' | '<<<';

export interface Heredoc {
  delim: string;
  strip: boolean;
  quoted: boolean;
  /** Filled in by the lexer when it reaches the end of the line. */
  body: Word | null;
}

export interface Redir {
  /** Explicit fd before the operator (`2>`), or null for the default. */
  fd: number | null;
  op: RedirOp;
  target: Word;
  heredoc?: Heredoc;
}

export interface Assign {
  name: string;
  value: Word;
  append: boolean;
}

export type Node =
  | { type: 'simple'; assigns: Assign[]; words: Word[]; redirs: Redir[] }
  | { type: 'pipeline'; cmds: Node[]; negate: boolean }
  | { type: 'andor'; first: Node; rest: Array<{ op: '&&' | '||'; node: Node }> }
  | { type: 'list'; items: Array<{ node: Node; bg: boolean }> }
  | { type: 'subshell'; body: Node; redirs: Redir[] }
  | { type: 'group'; body: Node; redirs: Redir[] }
  | { type: 'if'; clauses: Array<{ cond: Node; body: Node }>; elseBody: Node | null; redirs: Redir[] }
  | { type: 'loop'; until: boolean; cond: Node; body: Node; redirs: Redir[] }
  | { type: 'for'; name: string; items: Word[] | null; body: Node; redirs: Redir[] }
  | { type: 'case'; word: Word; items: Array<{ patterns: Word[]; body: Node | null }>; redirs: Redir[] }
  | { type: 'func'; name: string; body: Node };

export class ShellSyntaxError extends Error {
  /** True when more input could complete the script (open quote, missing `fi` …). */
  readonly incomplete: boolean;

  constructor(message: string, incomplete = false) {
    super(message);
    this.name = 'ShellSyntaxError';
    this.incomplete = incomplete;
  }
}
