/**
 * The one user-facing error type: bad input, a missing tool, a phone that is not there. The CLI prints
 * message and hint without a stack trace and exits with `exitCode` (src/cli/errors.ts recognises
 * `userFacing`). The CLI throws it directly; layers below it (config, capture, inspect, detect) throw it
 * or subclasses, so the CLI need not know each of them.
 */
export class UserFacingError extends Error {
  readonly userFacing = true;
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
