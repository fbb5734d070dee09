/**
 * How the CLI prints an error. A user error (bad input, a missing tool, a phone that is not there) is a
 * UserFacingError (src/util/user-facing.ts) or an error marked `userFacing = true` (with an optional
 * `hint`): DeviceError, AdbServerError, AdbPortError (device layer), AdbCliError, ProfileError (virtual
 * lab). The CLI prints its message (and hint) without a stack trace and exits with its code. Anything
 * else is a bug and keeps its stack.
 */
import { UserFacingError } from '../util/user-facing.ts';

/** True for errors whose message is meant for people (UserFacingError, and errors marked `userFacing`). */
export function isUserFacing(err: unknown): err is Error & { hint?: string; exitCode?: number } {
  if (err instanceof UserFacingError) return true;
  return err instanceof Error && (err as { userFacing?: boolean }).userFacing === true;
}

/** True when `message` already says `hint` (device errors end their message with the fix). */
function alreadySays(message: string, hint: string): boolean {
  const norm = (s: string) =>
    s
      .replace(/\s+/g, ' ')
      .replace(/[.\s]+$/, '')
      .trim()
      .toLowerCase();
  const h = norm(hint);
  return h !== '' && norm(message).includes(h);
}

export function formatError(err: unknown): string {
  if (isUserFacing(err)) {
    const hint = typeof err.hint === 'string' && !alreadySays(err.message, err.hint) ? err.hint : '';
    return `phonehome: ${err.message}${hint ? `\n  fix: ${hint}` : ''}`;
  }
  return `phonehome: internal error (please report it with this output):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}
