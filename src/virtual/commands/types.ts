/**
 * Contracts shared by the virtual phone's userland: the shell interpreter, the Android commands and
 * the adbd services that run them. Nothing here knows about the ADB wire protocol.
 */
import type { VirtualPhone } from '../phone.ts';

/** A byte source: `read()` resolves to the next chunk, or null at end of input. */
export interface InStream {
  read(): Promise<Buffer | null>;
}

/**
 * A byte sink. `write` resolves once the chunk is accepted (backpressure). It rejects with
 * {@link BrokenPipeError} when the reader has gone away (the host closed the stream, or `head`
 * stopped reading); commands let that propagate and the interpreter turns it into exit 141.
 */
export interface OutStream {
  write(chunk: string | Uint8Array): Promise<void>;
}

export class BrokenPipeError extends Error {
  constructor() {
    super('broken pipe');
    this.name = 'BrokenPipeError';
  }
}

/** What every process on the phone runs with: a shell script as much as one command. */
export interface ProcessContext {
  phone: VirtualPhone;
  /** Environment; a command's already includes the assignments made on its command line. */
  env: Map<string, string>;
  cwd: string;
  /** 2000 (shell) normally, 0 under `su` or after `adb root`. */
  uid: number;
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
  /** Aborted when the client hung up or the phone is going down; long-running commands must stop. */
  signal: AbortSignal;
}

/** What one command invocation gets. argv[0] is the command name as typed. */
export interface CommandContext extends ProcessContext {
  argv: string[];
  /** Runs a command line in a child shell with the same streams (for `sh -c`, `su -c`). */
  runShell(script: string, opts?: { uid?: number; env?: Map<string, string> }): Promise<number>;
}

/** A command returns its exit status (0..255). */
export type CommandFn = (ctx: CommandContext) => Promise<number>;

export type CommandTable = Record<string, CommandFn>;
