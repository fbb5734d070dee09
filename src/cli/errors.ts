/**
 * A user error: bad input, a missing tool, a phone that is not there. The CLI prints its message
 * (and hint) without a stack trace and exits with its code. Anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** True for errors whose message is meant for people (our UserError, and errors marked `userFacing`). */
export function isUserFacing(err: unknown): err is Error & { hint?: string; exitCode?: number } {
  if (err instanceof UserError) return true;
  return err instanceof Error && (err as { userFacing?: boolean }).userFacing === true;
}

export function formatError(err: unknown): string {
  if (isUserFacing(err)) {
    return `phonehome: ${err.message}${err.hint ? `\n  fix: ${err.hint}` : ''}`;
  }
  return `phonehome: internal error (please report it with this output):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}
