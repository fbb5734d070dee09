/**
 * No import cycle in src/ (issue 13), type-only imports included: a cycle is a seam that runs both
 * ways, whether or not the emitted JavaScript keeps it.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { cycles, importGraph } from './graph.ts';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

/**
 * Known exception: the virtual lab. Issue 13 names its 5-file display circle (the launcher and the
 * status bar live in virtual/ui/, import `Screen`, and `Screen` builds them: today activity, dialog,
 * home, screen, statusbar and window), and its modules import the Phone and shell types back from
 * the commands that phone.ts wires up, which makes one large component of type imports. The lab's
 * relayout (apps/ registering the launcher and SystemUI) ends them; until then cycles that stay
 * wholly inside src/virtual/ are tolerated, and any cycle that touches the harness fails.
 */
const insideVirtual = (cycle: string[]): boolean => cycle.every((f) => f.startsWith('virtual/'));

describe('lint: no import cycle in src/', () => {
  const graph = importGraph(SRC);

  it('reads the whole of src/', () => {
    assert.ok(graph.size > 100, `only ${graph.size} files`);
    assert.ok(graph.get('runner/run.ts')?.includes('report/run-folder.ts'));
    assert.ok(graph.get('device/device.ts')?.includes('device/root.ts'));
  });

  it('finds a planted cycle', () => {
    const planted = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts', 'd.ts']],
    ]);
    assert.deepEqual(cycles(planted), [['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  });

  it('has none outside src/virtual/', () => {
    const found = cycles(graph).filter((c) => !insideVirtual(c));
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(' → ')}`).join('\n')}`);
  });
});
