/**
 * The cursor that the virtual lab's small expression languages tokenize with: the shell's
 * `$(( … ))` arithmetic (shell/arith.ts), XPath and UiSelector (uia2/). Each language keeps its own
 * token kinds and rules; what they share is here: the loop over the source with white space between
 * tokens skipped, a token read by an anchored regex or from a list of operators at the cursor.
 */

/** Splits `src` into tokens: `next` reads one at the cursor, which is past white space. */
export function scanTokens<T>(src: string, next: (sc: Scanner) => T): T[] {
  const sc = new Scanner(src);
  const out: T[] = [];
  while (sc.more()) out.push(next(sc));
  return out;
}

export class Scanner {
  /** Index of the next character to read. */
  i = 0;

  constructor(readonly src: string) {}

  /** Skips white space; true while there is more to read. */
  more(): boolean {
    while (this.i < this.src.length && /\s/.test(this.src[this.i]!)) this.i++;
    return this.i < this.src.length;
  }

  /** The character at the cursor (call after {@link more} said there is one). */
  get ch(): string {
    return this.src[this.i]!;
  }

  /** The text `re` (anchored with `^`) matches at the cursor, consumed; undefined if none. */
  take(re: RegExp): string | undefined {
    const m = re.exec(this.src.slice(this.i));
    if (!m) return undefined;
    this.i += m[0].length;
    return m[0];
  }

  /** The first of `ops` that stands at the cursor, consumed; undefined if none (list longer first). */
  takeOp(ops: readonly string[]): string | undefined {
    const op = ops.find((o) => this.src.startsWith(o, this.i));
    if (op !== undefined) this.i += op.length;
    return op;
  }
}
