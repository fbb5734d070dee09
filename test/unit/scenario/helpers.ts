/** Paths of the scenario fixtures (test/fixtures/scenarios), as the parser names them in errors. */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = relative(
  process.cwd(),
  fileURLToPath(new URL('../../fixtures/scenarios', import.meta.url)),
);

export const fixture = (name: string): string => `${FIXTURES}/${name}`;

/** The message of what `fn` throws. */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}
