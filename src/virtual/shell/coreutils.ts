/**
 * The core utilities of the virtual phone (toybox-like behaviour and messages). Android-specific
 * commands (getprop, pm, am, id, ps, mount …) live in src/virtual/commands/.
 */
import type { CommandTable } from '../commands/types.ts';
import { fileCommands } from './cu-files.ts';
import { miscCommands } from './cu-misc.ts';
import { regexCommands } from './cu-regex.ts';
import { textCommands } from './cu-text.ts';

export const coreutils: CommandTable = {
  ...fileCommands,
  ...textCommands,
  ...regexCommands,
  ...miscCommands,
};

/** Names of the core utilities, e.g. to create /system/bin entries for them. */
export const coreutilNames: readonly string[] = Object.keys(coreutils);

export { formatPrintf } from './cu-text.ts';
export { idName, parseId, sleepMs, strftime, shQuote } from './cu-common.ts';
