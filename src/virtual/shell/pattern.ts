/**
 * Shell patterns (`*`, `?`, `[…]`) for `case`, `${x#pat}`, `find -name` and pathname expansion.
 * In a pattern string a backslash makes the next character literal; the interpreter escapes quoted
 * text that way. Matching is linear (no RegExp over the text): see matchTokens.
 */
import type { Vfs } from '../os/vfs.ts';

/** The `[:name:]` classes of POSIX bracket expressions, as JavaScript class ranges. */
const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: '0-9a-zA-Z',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  xdigit: '0-9A-Fa-f',
  punct: '!-\\/:-@\\[-`{-~',
  print: ' -~',
  graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f',
};

/** Shell patterns also know bash's `[:word:]`. */
const PATTERN_CLASSES: Record<string, string> = { ...POSIX_CLASSES, word: '0-9a-zA-Z_' };

/**
 * At a `[` inside a bracket expression: the `[:name:]` class starting there (looked up in
 * `classes`) as JavaScript class ranges, and the index of its final `]`; null if there is none.
 */
export function bracketClass(
  p: string,
  i: number,
  classes: Record<string, string> = POSIX_CLASSES,
): { re: string; end: number } | null {
  if (p[i] !== '[' || p[i + 1] !== ':') return null;
  const close = p.indexOf(':]', i + 2);
  const re = close > 0 ? classes[p.slice(i + 2, close)] : undefined;
  return re === undefined ? null : { re, end: close + 1 };
}

/** Backslash-escapes pattern characters so `text` matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Removes pattern escapes. */
export function unescapeGlob(pat: string): string {
  return pat.replace(/\\(.)/gs, '$1');
}

/** True if the pattern has an unescaped `*`, `?` or `[`. */
export function hasGlobChars(pat: string): boolean {
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Parses a bracket expression starting at `start` (the `[`); null if it is not closed. */
function bracket(pat: string, start: number): { re: string; end: number } | null {
  let i = start + 1;
  let negate = false;
  if (pat[i] === '!' || pat[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < pat.length; i++) {
    const c = pat[i]!;
    if (c === ']' && !first) return { re: `[${negate ? '^' : ''}${body}]`, end: i };
    first = false;
    const cls = bracketClass(pat, i, PATTERN_CLASSES);
    if (cls) {
      body += cls.re;
      i = cls.end;
      continue;
    }
    let ch = c;
    if (c === '\\' && i + 1 < pat.length) ch = pat[++i]!;
    if (pat[i + 1] === '-' && pat[i + 2] !== undefined && pat[i + 2] !== ']') {
      let hi = pat[i + 2]!;
      let skip = 2;
      if (hi === '\\' && pat[i + 3] !== undefined) {
        hi = pat[i + 3]!;
        skip = 3;
      }
      if (hi >= ch) body += `${escapeClass(ch)}-${escapeClass(hi)}`;
      i += skip;
      continue;
    }
    body += escapeClass(ch);
  }
  return null;
}

function escapeClass(c: string): string {
  return /[\\\]^[-]/.test(c) ? `\\${c}` : c;
}

/** One element of a compiled shell pattern. */
type Token = { k: 'char'; c: string } | { k: 'any' } | { k: 'star' } | { k: 'set'; re: RegExp };

/** A compiled shell pattern: `test` says whether the whole string matches. */
export interface ShellPattern {
  test(text: string): boolean;
}

function tokens(pat: string, ignoreCase: boolean): Token[] {
  const out: Token[] = [];
  const fold = (c: string) => (ignoreCase ? c.toLowerCase() : c);
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i]!;
    if (c === '\\') {
      out.push({ k: 'char', c: fold(pat[i + 1] ?? '\\') });
      i++;
    } else if (c === '*') {
      if (out[out.length - 1]?.k !== 'star') out.push({ k: 'star' });
    } else if (c === '?') out.push({ k: 'any' });
    else if (c === '[') {
      const parsed = bracket(pat, i);
      if (parsed) {
        // A one-character class: tested on one character at a time, it cannot backtrack.
        out.push({ k: 'set', re: new RegExp(`^${parsed.re}$`, ignoreCase ? 'si' : 's') });
        i = parsed.end;
      } else out.push({ k: 'char', c: '[' });
    } else out.push({ k: 'char', c: fold(c) });
  }
  return out;
}

/**
 * Matches with the classic wildcard algorithm (on a mismatch, resume after the last `*` one
 * character further), O(pattern × text) at worst. Not a RegExp: `*a*a*a*a*b` over a long word
 * would make a backtracking regex take polynomial time of high degree on the event loop that
 * every phone of the lab shares; shell patterns have no groups, so one resume point suffices.
 */
function matchTokens(toks: readonly Token[], text: string, ignoreCase: boolean): boolean {
  let ti = 0;
  let pi = 0;
  let starP = -1;
  let starT = 0;
  const fits = (tok: Token, ch: string) =>
    tok.k === 'any' ||
    (tok.k === 'char' ? tok.c === (ignoreCase ? ch.toLowerCase() : ch) : tok.k === 'set' && tok.re.test(ch));
  while (ti < text.length) {
    const tok = toks[pi];
    if (tok && tok.k !== 'star' && fits(tok, text[ti]!)) {
      pi++;
      ti++;
    } else if (tok?.k === 'star') {
      starP = pi++;
      starT = ti;
    } else if (starP >= 0) {
      pi = starP + 1;
      ti = ++starT;
    } else return false;
  }
  while (toks[pi]?.k === 'star') pi++;
  return pi === toks.length;
}

const cache = new Map<string, ShellPattern>();

/** The pattern compiled for matching whole strings. */
export function compilePattern(pat: string, ignoreCase = false): ShellPattern {
  const key = `${ignoreCase ? 'i' : ''}\0${pat}`;
  let compiled = cache.get(key);
  if (!compiled) {
    const toks = tokens(pat, ignoreCase);
    compiled = { test: (text) => matchTokens(toks, text, ignoreCase) };
    if (cache.size > 500) cache.clear();
    cache.set(key, compiled);
  }
  return compiled;
}

export function matchPattern(pat: string, text: string, ignoreCase = false): boolean {
  return compilePattern(pat, ignoreCase).test(text);
}

/**
 * Pathname expansion of `pat` (escaped as above) relative to `cwd`, as `uid`. Returns the sorted
 * matches, or an empty list when nothing matches.
 */
export function globExpand(fs: Vfs, pat: string, cwd: string, uid: number): string[] {
  const absolute = pat.startsWith('/');
  const comps = pat.split('/');
  const trailingSlash = comps.length > 1 && comps[comps.length - 1] === '';
  const parts = comps.filter((c, i) => c !== '' || i === 0).filter((c) => c !== '');
  let cands: Array<{ shown: string; real: string }> = [
    { shown: absolute ? '/' : '', real: absolute ? '/' : cwd },
  ];
  const join = (a: string, b: string) => (a === '' ? b : a.endsWith('/') ? a + b : `${a}/${b}`);
  for (const part of parts) {
    const next: Array<{ shown: string; real: string }> = [];
    if (!hasGlobChars(part)) {
      const name = unescapeGlob(part);
      for (const c of cands) next.push({ shown: join(c.shown, name), real: fs.normalize(name, c.real) });
    } else {
      const re = compilePattern(part);
      const dotOk = part.startsWith('.') || part.startsWith('\\.');
      for (const c of cands) {
        let names: string[];
        try {
          names = fs.readdir(c.real, uid);
        } catch {
          continue;
        }
        for (const n of names) {
          if (n.startsWith('.') && !dotOk) continue;
          if (re.test(n)) next.push({ shown: join(c.shown, n), real: fs.normalize(n, c.real) });
        }
      }
    }
    cands = next;
    if (cands.length === 0) return [];
  }
  const out: string[] = [];
  for (const c of cands) {
    const st = fs.lstat(c.real);
    if (!st) continue;
    if (trailingSlash) {
      if (fs.stat(c.real)?.type !== 'dir') continue;
      out.push(`${c.shown}/`);
    } else out.push(c.shown);
  }
  return out.sort();
}
