/**
 * Decides whether a sed script may go to toybox: toybox would open the files its `r`, `w` and
 * `s///w` commands name on the HOST, outside the phone's Vfs, so such scripts are refused. A
 * scanner that reads scripts differently from sed can be fooled (`b x;w /tmp/f` hides the `w` in a
 * label if labels are taken to run to `;`), so this is a port of the parser of the sed that runs
 * them, toybox 0.8.9: toys/posix/sed.c, functions parse_pattern() and
 * unescape_delimited_string() (and strtol()'s rules for the numbers they read). It walks the
 * script byte by byte as they do, keeps their state across `-e` pieces (a text or replacement
 * continued with a final backslash, `{` depth), and fails closed: whatever toybox would reject,
 * and any read past the end of a piece, is refused here before toybox sees it (toybox opens `w`
 * files while parsing, so a script that fails later must not reach it either).
 */

/** Why a script is refused: the message sed prints after `sed: `. */
export class SedRefusal extends Error {}

const NL = 0x0a;
const BS = 0x5c;
const ch = (s: string) => s.charCodeAt(0);
/** C isspace() in C.UTF-8: ASCII only (a byte ≥ 0x80 is no space, checked against toybox). */
const isspace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isdigit = (c: number) => c >= 0x30 && c <= 0x39;
const isxdigit = (c: number) => isdigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** strchr(set, c) for c ≠ 0 (strchr() also finds the terminating NUL; callers handle 0). */
const among = (set: string, c: number) => c !== 0 && set.includes(String.fromCharCode(c));
/** lib.c unescape(): the printf escapes; `\\` is handled before it is asked. */
const ESCAPES = 'abefnrtv';

/** Parser state carried from one -e piece to the next (toybox keeps it in TT and the last command). */
interface Carry {
  /** A command continued on the next piece: `s` with its delimiter, or `a`/`i`/`c` text. */
  pending: { kind: 's'; delim: number } | { kind: 'a' } | null;
  /** Open `{` blocks (TT.nextlen). */
  depth: number;
}

/** Refuses `pieces` (the -e scripts, in order) by throwing SedRefusal; returns when toybox may run them. */
export function checkSedScript(pieces: readonly string[]): void {
  const carry: Carry = { pending: null, depth: 0 };
  for (const piece of pieces) {
    if (piece.includes('\0')) throw new SedRefusal(`unknown command '\\0'`);
    parsePiece(Buffer.from(piece, 'utf8'), carry);
  }
  // parse_pattern(0, 0): an unfinished s/// is an error; the `}` count is checked after it.
  if (carry.pending?.kind === 's') throw new SedRefusal(`bad pattern ''@1 (\0)`);
  if (carry.depth) throw new SedRefusal('no }');
}

function parsePiece(buf: Buffer, carry: Carry): void {
  // parse_pattern() drops one trailing newline.
  const len = buf.length && buf[buf.length - 1] === NL ? buf.length - 1 : buf.length;
  let p = 0;
  let errstart = 0;
  /** The byte at i, NUL at the end; past it toybox would read beyond the string: refuse. */
  const at = (i: number): number => {
    if (i < len) return buf[i]!;
    if (i === len) return 0;
    throw bad();
  };
  // error_exit("bad pattern '%s'@%ld (%c)", errstart, line-errstart+1L, *line)
  const bad = () =>
    new SedRefusal(
      `bad pattern '${buf.subarray(errstart, len).toString('utf8')}'@${p - errstart + 1} (${
        p <= len ? String.fromCharCode(at(p)) : ''
      })`,
    );
  const refuse = (what: string) => new SedRefusal(`unknown command '${what}'`);

  /** strtol(line, &end, base) from p (base 0 or 10); returns the end and the value (capped). */
  const strtol = (from: number, base: 0 | 10): { end: number; value: number } => {
    let i = from;
    while (isspace(at(i))) i++;
    let sign = 1;
    if (at(i) === ch('+') || at(i) === ch('-')) sign = at(i++) === ch('-') ? -1 : 1;
    let digit = isdigit;
    let radix = 10;
    if (base === 0 && at(i) === ch('0')) {
      if ((at(i + 1) | 0x20) === ch('x') && isxdigit(at(i + 2))) {
        i += 2;
        digit = isxdigit;
        radix = 16;
      } else {
        digit = (c) => c >= 0x30 && c <= 0x37;
        radix = 8;
      }
    }
    if (!digit(at(i))) return { end: from, value: 0 };
    let value = 0;
    while (digit(at(i))) {
      value = Math.min(value * radix + parseInt(String.fromCharCode(at(i)), 16), Number.MAX_SAFE_INTEGER);
      i++;
    }
    return { end: i, value: sign * value };
  };

  /** unescape_delimited_string(): from p (at the opening delimiter unless `delim`), past the closing one. */
  const delimited = (delim: number): number => {
    let from = p;
    let d = delim;
    if (!d) {
      d = at(from++);
      if (!d) throw bad();
      if (d === BS) d = at(from++);
      if (!d || d === BS) throw bad();
    }
    let mode = 0;
    while (mode || at(from) !== d) {
      const c = at(from);
      if (!c) throw bad();
      if (c === ch('[')) {
        if (!mode) {
          mode = ch(']');
          if (at(from + 1) === ch('-') || at(from + 1) === ch(']')) from++;
        } else if (mode === ch(']') && (at(from + 1) === 0 || among('.=:', at(from + 1)))) {
          // strchr(".=:", 0) matches too, and toybox then walks past the string's end.
          if (at(from + 1) === 0) throw bad();
          from++;
          mode = at(from);
        }
      } else if (c === mode) {
        if (mode === ch(']')) mode = 0;
        else {
          from++;
          mode = ch(']');
        }
      } else if (mode && c === ch('-') && at(from - 1) === at(from + 1)) {
        from += 2;
        continue;
      } else if (c === BS) {
        const next = at(from + 1);
        if (!next) throw bad();
        if (next === d || next === BS) from++;
        else if (among(ESCAPES, next)) {
          from += 2;
          continue;
        } else if (!mode) from++;
      }
      from++;
    }
    p = from + 1;
    return d;
  };

  /** The replacement of `s` (resume_s): true when it continues on the next piece. */
  const replacement = (hit: number): boolean => {
    for (;;) {
      let end = p;
      while (at(end) !== hit) {
        if (!at(end)) throw bad();
        if (at(end++) === BS) {
          // A final backslash continues the replacement (on the next line or piece).
          if (!at(end) || at(end) === NL) break;
          end++;
        }
      }
      p = end;
      if (at(p) === hit) return false;
      if (!at(p)) return true;
      p++;
    }
  };

  /** The text of `a`, `i`, `c` (resume_a, after toybox's strcspn(line, "\n")): true when it continues. */
  const text = (): boolean => {
    for (;;) {
      let end = 0;
      while (at(p + end) && at(p + end) !== NL) end++;
      if (!end) return false;
      let i = end;
      let resumed = false;
      for (; i; i--) {
        if (at(p++) === BS) {
          if (!--i) {
            if (at(p)) {
              p++;
              resumed = true;
              break;
            }
            return true;
          }
          p++;
        }
      }
      if (!resumed) return false;
    }
  };

  if (carry.pending) {
    const pending = carry.pending;
    carry.pending = null;
    if (pending.kind === 'a') {
      if (text()) carry.pending = pending;
    } else if (replacement(pending.delim)) carry.pending = pending;
    else sFlags();
    if (carry.pending) return;
  }

  function sFlags(): void {
    let number = false;
    for (p++; at(p); p++) {
      const c = at(p);
      if (isspace(c) && c !== NL) continue;
      if (among('igpxI', c)) continue;
      if (number) break;
      const n = strtol(p, 10);
      p = n.end;
      if (n.value <= 0) break;
      // sflags |= l << 8 in 32 bits: a larger count could wrap to "no count yet".
      if (n.value >= 1 << 23) throw bad();
      number = true;
      p--;
    }
    if (at(p) === ch('w')) throw refuse('s///w');
  }

  for (;;) {
    for (;;) {
      while (isspace(at(p)) || at(p) === ch(';')) p++;
      if (at(p) === ch('#')) while (at(p) && at(p) !== NL) p++;
      else break;
    }
    if (!at(p)) return;
    errstart = p;

    let i: number;
    for (i = 0; i < 2; i++) {
      if (at(p) === ch(',')) p++;
      else if (i) break;
      if (i && at(p) === ch('+') && isdigit(at(p + 1))) p = strtol(p + 1, 0).end;
      else if (isdigit(at(p))) p = strtol(p, 0).end;
      else if (at(p) === ch('$')) p++;
      else if (at(p) === ch('/') || at(p) === BS) delimited(0);
      else break;
    }
    while (isspace(at(p))) p++;
    if (!at(p)) throw bad();
    if (at(p) === ch('!')) p++;
    while (isspace(at(p))) p++;
    if (!at(p)) throw bad();
    const c = at(p++);
    if (among('}:', c) && i) throw bad();
    if (among('aiqQr=', c) && i > 1) throw bad();

    if (c === ch('{')) carry.depth++;
    else if (c === ch('}')) {
      if (!carry.depth--) throw bad();
    } else if (c === ch('s')) {
      const d = delimited(0);
      if (replacement(d)) {
        carry.pending = { kind: 's', delim: d };
        return;
      }
      sFlags();
    } else if (c === ch('w') || c === ch('r')) throw refuse(String.fromCharCode(c));
    else if (c === ch('y')) {
      const d = delimited(0);
      delimited(d);
    } else if (among('abcitTqQ:', c)) {
      while (isspace(at(p)) && at(p) !== NL) p++;
      if (among('aci', c)) {
        // An empty first text is an error; the argument of b, t, T, q, Q is optional.
        if (!at(p) || at(p) === NL) throw bad();
        if (text()) {
          carry.pending = { kind: 'a' };
          return;
        }
      } else {
        // Labels and quit codes end at "}; \t\r\n\v\f" (strcspn), not at ';' alone.
        let end = 0;
        while (at(p + end) && !among('}; \t\r\n\v\f', at(p + end))) end++;
        if (!end && c === ch(':')) throw bad();
        if (c === ch('q') || c === ch('Q')) {
          let k = 0;
          while (k < end && isdigit(at(p + k))) k++;
          if (k !== end) {
            p += k;
            throw bad();
          }
        }
        p += end;
      }
    } else if (!among('dDgGhHlnNpPx=', c)) throw refuse(String.fromCharCode(c));
  }
}
