import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { NeedleMatcher, variantsOf } from '../../../src/detect/index.ts';

const hex = (algo: string, s: string): string => createHash(algo).update(s).digest('hex');

/** Encodings of the needles found in `hay`, as `needle:encoding` strings. */
function found(m: NeedleMatcher, hay: string): string[] {
  const ids: number[] = [];
  m.scan(hay, ids);
  return [...new Set(ids.map((i) => `${m.variants[i]!.needle}:${m.variants[i]!.encoding}`))].sort();
}

/** The same answer computed naively: every variant searched with includes(). */
function naive(m: NeedleMatcher, hay: string): string[] {
  const folded = hay.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const hits = m.variants.filter((v) => (v.caseInsensitive ? folded : hay).includes(v.text));
  return [...new Set(hits.map((v) => `${v.needle}:${v.encoding}`))].sort();
}

describe('detect: needle variants and matching', () => {
  const canary = 'phc-7f3a9e Zebra!';
  const m = new NeedleMatcher([canary]);
  const has = (hay: string, encoding: string): boolean => found(m, hay).includes(`0:${encoding}`);

  it('finds the plain needle inside text, case-sensitively', () => {
    assert.ok(has(`x=${canary};`, 'plain'));
    assert.ok(!has(canary.toUpperCase(), 'plain'));
    assert.deepEqual(found(m, 'nothing to see here, phc-7f3a9e zebra'), []);
  });

  it('finds URL encodings: encodeURIComponent, lower-case escapes, form style', () => {
    assert.equal(encodeURIComponent(canary), 'phc-7f3a9e%20Zebra!');
    assert.ok(has(`q=${encodeURIComponent(canary)}&x=1`, 'urlencoded'));
    assert.ok(has('https://h/?q=phc-7f3a9e+Zebra%21', 'urlencoded'), 'URLSearchParams style');
    const cafe = new NeedleMatcher(['café-42']);
    assert.deepEqual(found(cafe, 'u=caf%C3%A9-42'), ['0:urlencoded']);
    assert.deepEqual(found(cafe, 'u=caf%c3%a9-42'), ['0:urlencoded']);
  });

  it('finds base64 and base64url at all three alignments, padded or not', () => {
    const slashy = 'id>>>???~~~>>>'; // its base64 is full of + and /
    const m2 = new NeedleMatcher([canary, slashy]);
    for (let k = 0; k < 6; k++) {
      const filler = Buffer.from([0xfb, 0xff, 0xfe, 0xfd, 0xfc, 0xfb].slice(0, k));
      const bytes = (s: string): Buffer => Buffer.concat([filler, Buffer.from(s), Buffer.from('??>')]);
      assert.ok(found(m2, `v=${bytes(canary).toString('base64')}`).includes('0:base64'), `offset ${k}`);
      assert.ok(found(m2, bytes(slashy).toString('base64')).includes('1:base64'), `slashy offset ${k}`);
      assert.ok(found(m2, bytes(slashy).toString('base64url')).includes('1:base64url'), `url offset ${k}`);
    }
    const whole = Buffer.from(canary).toString('base64');
    assert.ok(whole.endsWith('='));
    assert.ok(has(whole, 'base64'));
    assert.ok(has(whole.replace(/=+$/, ''), 'base64'));
    assert.ok(!has(Buffer.from(canary.replace('Z', 'z')).toString('base64'), 'base64'));
  });

  it('drops base64 fragments too short to mean anything', () => {
    const variants = variantsOf('ab', 0);
    assert.ok(!variants.some((v) => v.encoding.startsWith('base64')));
    assert.ok(variantsOf('abcd', 0).some((v) => v.encoding === 'base64'));
  });

  it('finds hex and md5/sha1/sha256 digests in either case, also of the lower-cased needle', () => {
    assert.ok(has(Buffer.from(canary).toString('hex').toUpperCase(), 'hex'));
    for (const algo of ['md5', 'sha1', 'sha256']) {
      assert.ok(has(`id=${hex(algo, canary)}`, algo), algo);
      assert.ok(has(`ID=${hex(algo, canary).toUpperCase()}`, algo), `${algo} upper`);
      assert.ok(has(hex(algo, canary.toLowerCase()), algo), `${algo} of lower-cased`);
    }
    const lowered = variantsOf(canary, 0).filter((v) => v.detail === 'digest of the lower-cased value');
    assert.deepEqual(
      lowered.map((v) => v.encoding),
      ['md5', 'sha1', 'sha256'],
    );
    assert.ok(
      !variantsOf('already-lower', 0).some((v) => v.detail),
      'no lower-case digests when nothing changes',
    );
  });

  it('reports each variant once per scan, and several needles at once', () => {
    const two = new NeedleMatcher(['alpha-1234', 'beta-5678']);
    const ids: number[] = [];
    two.scan('alpha-1234 alpha-1234 beta-5678', ids);
    assert.deepEqual(ids.map((i) => two.variants[i]!.needle).sort(), [0, 1]);
    ids.length = 0;
    two.scan('alpha-1234', ids);
    assert.equal(ids.length, 1, 'a new scan reports again');
  });

  it('handles non-ASCII needles', () => {
    const u = new NeedleMatcher(['Ünïcødé-☃']);
    assert.deepEqual(found(u, 'xx Ünïcødé-☃ yy'), ['0:plain']);
    assert.deepEqual(found(u, Buffer.from('Ünïcødé-☃').toString('base64')), ['0:base64']);
    assert.deepEqual(found(u, 'ünïcødé-☃'), []);
  });

  // The pieces include regex metacharacters and non-ASCII letters with case pairs: the matcher's
  // prefilter is a RegExp built from the variants, which must neither break on them nor miss a match.
  it('agrees with a naive search over every variant (property)', () => {
    const piece = fc.constantFrom(
      'ab',
      'Ab',
      'b=',
      'YW',
      'Jh',
      '%2',
      '0',
      'f',
      'ba',
      '+',
      '/',
      '-',
      'é',
      'É',
      'K',
      'ß',
      '.*',
      '(',
      ')',
      '[',
      ']',
      '\\',
      '$',
      '^',
      '|',
      '?',
      '{1}',
    );
    const word = fc.array(piece, { minLength: 1, maxLength: 5 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.uniqueArray(word, { minLength: 1, maxLength: 6 }),
        fc.array(word, { maxLength: 12 }),
        (needles, parts) => {
          const matcher = new NeedleMatcher(needles);
          // Plant some encoded variants so that matches actually happen.
          const planted = parts.map((p, i) => {
            const v = matcher.variants[(i * 7) % matcher.variants.length]!;
            return i % 2 ? p + v.text.toUpperCase() : p + v.text;
          });
          const hay = planted.join('');
          assert.deepEqual(found(matcher, hay), naive(matcher, hay));
        },
      ),
      { numRuns: 600, seed: 20240501 },
    );
  });
});
