import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode } from '../../../src/decode/index.ts';
import { decodeInput, violation } from '../../support/decode/arbitraries.ts';

describe('decode: fast-check property', () => {
  it('never throws, returns a root, and child paths extend their parent (2,000 runs)', () => {
    fc.assert(
      fc.property(decodeInput, (input) => {
        const r = decode(input, { maxNodes: 20_000, maxTotalBytes: 8 * 1024 * 1024 });
        const why = violation(r);
        assert.equal(why, null);
      }),
      { numRuns: 2000, seed: 4242 },
    );
  });
});
