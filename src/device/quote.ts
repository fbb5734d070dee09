/**
 * Quoting for the phone's shell (mksh on Android ≤ 9, toybox sh later; both POSIX here). Inside
 * single quotes nothing is special, so wrapping an argument in '…' and writing each `'` as `'\''`
 * passes any text through literally: `$(reboot)`, backticks, `;`, globs, newlines, unicode.
 *
 * adbkit's own array escaping is "for convenience, not security"; every Device method that puts an
 * argument into a command line builds it with these functions.
 */

/** Words made only of these characters mean the same quoted or not in sh. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shQuote(arg: string): string {
  if (arg.includes('\0')) {
    throw new TypeError(`a shell argument cannot contain a NUL byte: ${JSON.stringify(arg)}`);
  }
  if (SAFE_WORD.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one command line for `sh -c`, each argument quoted. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}
