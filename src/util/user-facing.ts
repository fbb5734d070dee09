/**
 * The base of errors whose message is for people: the CLI prints message and hint without a stack
 * trace and exits with `exitCode` (src/cli/errors.ts recognises `userFacing`). Layers below the CLI
 * (capture, inspect, detect) throw subclasses so the CLI need not know each of them.
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
