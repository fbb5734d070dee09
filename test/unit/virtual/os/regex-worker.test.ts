import * as assert from 'node:assert/strict';
import {
  REGEX_DEADLINE_MS,
  RegexTooCostlyError,
  filterMatching,
  testEach,
} from '../../../../src/virtual/os/regex-worker.ts';
import { alongside } from './loop-probe.ts';

const CATASTROPHIC = /(a+)+$/;
const SUBJECT = `${'a'.repeat(40)}b`;

describe('os: the regex worker', function () {
  this.timeout(REGEX_DEADLINE_MS * 5);

  it('tests a batch in order, duplicates and global flags included', async () => {
    assert.deepEqual(await testEach(/^b/g, ['bar', 'foo', 'bar', 'baz', '']), [
      true,
      false,
      true,
      true,
      false,
    ]);
    assert.deepEqual(await testEach(/x/, []), []);
    assert.deepEqual(await filterMatching(/o/, [{ n: 'one' }, { n: 'two' }, { n: 'three' }], (i) => i.n), [
      { n: 'one' },
      { n: 'two' },
    ]);
  });

  it('stops a catastrophic pattern at the deadline while the event loop keeps ticking, then serves again', async () => {
    const p = alongside(
      testEach(CATASTROPHIC, [SUBJECT]).catch((e: unknown) => e),
      async () => {
        assert.deepEqual(await testEach(/a/, ['a']), [true], 'a call queued behind it still gets its answer');
      },
    );
    const { result, order, ticks } = await p;
    assert.ok(result instanceof RegexTooCostlyError);
    assert.equal(result.message, 'regex too costly (stopped after 2 s)');
    assert.deepEqual(order, ['costly', 'other']);
    assert.ok(ticks > 10, `${ticks} ticks`);
    const r = await filterMatching(CATASTROPHIC, [SUBJECT], (s) => s);
    assert.ok(r instanceof RegexTooCostlyError);
    assert.deepEqual(await testEach(/a+b/, [SUBJECT, 'b']), [true, false]);
  });
});
