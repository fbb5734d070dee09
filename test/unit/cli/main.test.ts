/**
 * buildProgram loads only the command the command line names (each command's module pulls in what
 * its action uses), and every command when it names none, so that `--help` lists them all and a typo
 * gets commander's suggestion.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../../src/cli/main.ts';
import { runMain } from './run-main.ts';

const ALL = [
  'lab',
  'devices',
  'demo',
  'capture',
  'inspect',
  'doctor',
  'appium',
  'report',
  'diff',
  'merge',
  'schema',
  'run',
  'ui',
];
const names = async (...args: string[]) =>
  (await buildProgram(['node', 'phonehome', ...args])).commands.map((c) => c.name());

describe('CLI: the commands a command line loads', () => {
  it('a command line that names a command builds only that command', async () => {
    for (const c of ALL) assert.deepEqual(await names(c, '--help'), [c]);
    assert.deepEqual(await names('lab', 'status', '--json'), ['lab']);
  });

  it('one that names none builds them all, in the order --help lists them', async () => {
    assert.deepEqual(await names(), ALL);
    assert.deepEqual(await names('--help'), ALL);
    assert.deepEqual(await names('--version'), ALL);
    assert.deepEqual(await names('rn'), ALL);
    // A name on Object's prototype is no command.
    assert.deepEqual(await names('constructor'), ALL);
  });

  it('--help lists every command; a typo is exit 2 with the closest command', async () => {
    // Its own state folder and no adb: main() checks the wiring journal before any command.
    const home = mkdtempSync(join(tmpdir(), 'phonehome-main-'));
    try {
      const env = { PHONEHOME_HOME: home, ADB: join(home, 'no-adb') };
      const help = await runMain(['--help'], env);
      assert.equal(help.code, 0);
      for (const c of ALL) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'), c);
      const typo = await runMain(['rn'], env);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /unknown command 'rn'/);
      assert.match(typo.stderr, /Did you mean run\?/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
