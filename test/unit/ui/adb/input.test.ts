import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describeChar, inputTextCommands, untypable } from '../../../../src/ui/adb/input.ts';

/** What Android's `input text` types for one argument (Input.java: `%s` → space). */
function androidTypes(arg: string): string {
  let out = '';
  let escape = false;
  for (const ch of arg) {
    if (escape && ch === 's') {
      out = `${out.slice(0, -1)} `;
      escape = false;
      continue;
    }
    escape = ch === '%';
    out += ch;
  }
  return out;
}

describe('ui/adb/input: input text escaping', () => {
  it('splits so that Android types exactly the text (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('%', 's', ' ', 'a', "'", '$', '"', '\\', ';') }),
        (text) => {
          const cmds = inputTextCommands(text);
          for (const c of cmds) {
            assert.deepEqual(c.slice(0, 2), ['input', 'text']);
            assert.equal(c.length, 3, 'one argument per call');
            assert.ok(!c[2]!.includes('%s'));
            assert.notEqual(c[2], '');
          }
          assert.equal(cmds.map((c) => androidTypes(c[2]!)).join(''), text);
        },
      ),
    );
  });

  it('examples', () => {
    assert.deepEqual(inputTextCommands(''), []);
    assert.deepEqual(inputTextCommands('a b'), [['input', 'text', 'a b']]);
    assert.deepEqual(inputTextCommands('100%sure %%s'), [
      ['input', 'text', '100%'],
      ['input', 'text', 'sure %%'],
      ['input', 'text', 's'],
    ]);
  });

  it('only printable ASCII is typable', () => {
    assert.equal(untypable(`hello $(reboot); 'x' "y" ~!`), undefined);
    assert.equal(untypable('café'), 'é');
    assert.equal(untypable('a\nb'), '\n');
    assert.equal(untypable('☕'), '☕');
    assert.equal(describeChar('é'), 'U+00E9 "é"');
    assert.equal(describeChar('\n'), 'U+000A');
    assert.equal(describeChar('😀'), 'U+1F600 "😀"');
  });
});
