/** Where phonehome keeps per-user runtime state (lab records, logs): $PHONEHOME_HOME or ~/.phonehome. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

export function stateDir(): string {
  const dir = process.env.PHONEHOME_HOME ?? join(homedir(), '.phonehome');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
