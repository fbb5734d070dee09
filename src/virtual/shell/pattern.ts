/**
 * Shell patterns (`*`, `?`, `[…]`) for `case`, `${x#pat}`, `find -name` and pathname expansion.
 * In a pattern string a backslash makes the next character literal; the interpreter escapes quoted
 * text that way.
 */
import type { Vfs } from '../fs.ts';

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

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
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

/** The regular-expression source for a shell pattern (not anchored). */
export function patternSource(pat: string): string {
  let re = '';
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i]!;
    if (c === '\\') {
      const n = pat[i + 1];
      re += n === undefined ? '\\\\' : escapeRe(n);
      i++;
    } else if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const parsed = bracket(pat, i);
      if (parsed) {
        re += parsed.re;
        i = parsed.end;
      } else re += '\\[';
    } else re += escapeRe(c);
  }
  return re;
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

const cache = new Map<string, RegExp>();

/** An anchored RegExp matching the whole string against the pattern. */
export function patternToRegExp(pat: string, flags = ''): RegExp {
  const key = `${flags}\0${pat}`;
  let re = cache.get(key);
  if (!re) {
    re = new RegExp(`^(?:${patternSource(pat)})$`, `s${flags}`);
    if (cache.size > 500) cache.clear();
    cache.set(key, re);
  }
  return re;
}

export function matchPattern(pat: string, text: string, ignoreCase = false): boolean {
  return patternToRegExp(pat, ignoreCase ? 'i' : '').test(text);
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
      const re = patternToRegExp(part);
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
