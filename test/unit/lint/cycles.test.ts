/**
 * No import cycle in src/ (issue 13), type-only imports included: a cycle is a seam that runs both
 * ways, whether or not the emitted JavaScript keeps it.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { cycles, importGraph } from './graph.ts';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

/**
 * One kind of cycle is tolerated: type-only imports inside the virtual lab that pass through the
 * phone object. `VirtualPhone` (virtual/phone.ts) wires the phone's parts, and the commands, apps,
 * UiAutomator2 server and netstack read the phone back through `import type { VirtualPhone }`, as an
 * Android service reaches the system through its Context. Those edges vanish from the JavaScript, so
 * they cannot decide initialisation order. Every other cycle fails: any cycle outside src/virtual/,
 * any cycle of runtime imports anywhere, and any type cycle in the lab that avoids phone.ts (the
 * display circle, where Screen built the launcher that imported Screen, was one; apps/ now
 * registers the launcher and SystemUI with the display).
 */
const insideVirtual = (cycle: string[]): boolean => cycle.every((f) => f.startsWith('virtual/'));
const PHONE = 'virtual/phone.ts';

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

  it('leaves type-only imports out of the runtime graph', () => {
    const values = importGraph(SRC, { values: true });
    // apps/launcher.ts needs Screen only as a type; phone.ts builds a Screen.
    assert.ok(graph.get('virtual/apps/launcher.ts')?.includes('virtual/display/screen.ts'));
    assert.ok(!values.get('virtual/apps/launcher.ts')?.includes('virtual/display/screen.ts'));
    assert.ok(values.get('virtual/phone.ts')?.includes('virtual/display/screen.ts'));
  });

  it('has no cycle of runtime imports anywhere in src/', () => {
    const found = cycles(importGraph(SRC, { values: true }));
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(' → ')}`).join('\n')}`);
  });

  it('has no type cycle inside src/virtual/ except through the phone object', () => {
    // Every cycle passes through phone.ts iff none is left once phone.ts is taken out.
    const withoutPhone = new Map(
      [...graph].filter(([f]) => f !== PHONE).map(([f, deps]) => [f, deps.filter((d) => d !== PHONE)]),
    );
    const found = cycles(withoutPhone).filter(insideVirtual);
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(' → ')}`).join('\n')}`);
  });

  it('has none outside src/virtual/', () => {
    const found = cycles(graph).filter((c) => !insideVirtual(c));
    assert.deepEqual(found, [], `import cycles:\n${found.map((c) => `  ${c.join(' → ')}`).join('\n')}`);
  });
});
