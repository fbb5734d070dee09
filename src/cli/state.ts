/** Where phonehome keeps per-user runtime state (lab records, logs): $PHONEHOME_HOME or ~/.phonehome. */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';

export function stateDir(): string {
  const dir = process.env.PHONEHOME_HOME ?? join(homedir(), '.phonehome');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The lab CA's folder: --ca-dir, else $PHONEHOME_CA_DIR, else <state dir>/ca. */
export function caDir(option?: string): string {
  return resolve(option ?? process.env.PHONEHOME_CA_DIR ?? join(stateDir(), 'ca'));
}
