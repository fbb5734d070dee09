/**
 * Properties of issue 10 over random firmware behaviour: any chain of known encodings (up to six,
 * json-string only over text) around a JSON payload holding a canary, in any carrier, is peeled to
 * the end and the canary found where the path names every layer; AES output without its key is
 * always an opaque finding, and with the key for the host the canary is found again.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decode, SEP } from '../../../src/decode/index.ts';
import { createDetector } from '../../../src/detect/index.ts';
import {
  carrierPath,
  carry,
  chainPath,
  seal,
  TEXT_WRAPS,
  validChain,
  WRAPS,
  wrapChain,
  type Carrier,
  type Cipher,
  type Wrap,
} from '../../support/decode/wraps.ts';

const CANARY = 'phc-4e8a21-Heron';
const detector = createDetector({ canaries: [CANARY] });

/** A JSON object with random content and the canary at a random depth. */
const payload: fc.Arbitrary<Buffer> = fc
  .record({
    noise: fc.jsonValue({ maxDepth: 2 }),
    at: fc.array(fc.constantFrom('a', 'b', 'items', 'properties'), { maxLength: 3 }),
    embed: fc.constantFrom('', 'https://news.example/?q=', 'search: '),
  })
  .map(({ noise, at, embed }) => {
    let v: unknown = `${embed}${CANARY}`;
    for (const k of [...at].reverse()) v = { [k]: v };
    return Buffer.from(JSON.stringify({ noise, v }));
  });

const chain: fc.Arbitrary<Wrap[]> = fc
  .array(fc.constantFrom(...WRAPS), { minLength: 1, maxLength: 6 })
  .filter((c) => validChain(c));

const carrier: fc.Arbitrary<Carrier> = fc.constantFrom('body', 'query', 'header', 'cookie');

/**
 * Whether the carrier can take the chain's output as it is: only a body takes binary (a query,
 * header or cookie carries text; binary there would be mangled before anyone could read it).
 */
function fits(c: Carrier, ch: readonly Wrap[], out: Buffer): boolean {
  if (c === 'body') return true;
  if (!TEXT_WRAPS.includes(ch[ch.length - 1]!)) return false;
  if (c === 'query') return true;
  const text = out.toString('utf8');
  return c === 'header' || !/[;\s]/.test(text);
}

function canaryPaths(input: ReturnType<typeof carry>): string[] {
  const d = decode(input);
  const url = input.url ?? 'https://up.example.net/';
  return detector
    .run({ method: 'POST', url, host: new URL(url).host }, d)
    .findings.filter((f) => f.kind === 'canary' && f.path !== 'url')
    .map((f) => f.path);
}

describe('decode: random wrap chains (fast-check)', () => {
  it('finds the canary through any chain of up to six known encodings, in any carrier, naming each layer', () => {
    fc.assert(
      fc.property(payload, chain, carrier, (p, ch, c) => {
        const out = wrapChain(ch, p);
        fc.pre(fits(c, ch, out));
        const input = carry(c, out, ch);
        const r = decode(input);
        assert.deepEqual(
          r.findings.filter((f) => f.kind !== 'error' || !/crc/.test(f.detail)),
          [],
          JSON.stringify(r.findings),
        );
        const prefix = [carrierPath(c), ...chainPath(c, ch, p), 'json'].join(SEP);
        const paths = canaryPaths(input);
        assert.ok(
          paths.some((x) => x.startsWith(`${prefix}.v`)),
          `${ch.join(' → ')} in ${c}: expected under ${prefix}.v, got ${JSON.stringify(paths)}`,
        );
      }),
      { numRuns: 400, seed: 1010 },
    );
  });

  it('AES output without a key is always an opaque finding, and with the host key the canary is found', () => {
    const keys: Record<Cipher, Buffer> = {
      'aes-128-cbc': Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex'),
      'aes-256-gcm': Buffer.from('00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex'),
    };
    const after = fc.array(fc.constantFrom(...WRAPS), { maxLength: 5 }).filter((c) => validChain(c, false));
    fc.assert(
      fc.property(
        payload,
        fc.constantFrom<Cipher>('aes-128-cbc', 'aes-256-gcm'),
        fc.boolean(),
        after,
        carrier,
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (p, cipher, gz, ch, c, ivBytes) => {
          const iv = Buffer.from(ivBytes).subarray(0, cipher === 'aes-128-cbc' ? 16 : 12);
          const sealed = seal(cipher, keys[cipher], gz ? gzipSync(p) : p, iv);
          const out = wrapChain(ch, sealed);
          fc.pre(c === 'body' || (ch.length > 0 && fits(c, ch, out)));
          const input = carry(c, out, ch);
          const bare = decode(input);
          const opaque = bare.findings.filter((f) => f.kind === 'opaque');
          assert.equal(opaque.length, 1, `${ch.join(' → ')} in ${c}: ${JSON.stringify(bare.findings)}`);
          assert.deepEqual(canaryPaths(input), []);
          const keyed = { ...input, keys: { 'up.example.net': keys[cipher] } };
          const r = decode(keyed);
          assert.deepEqual(r.findings, [], `${ch.join(' → ')} in ${c}: ${JSON.stringify(r.findings)}`);
          assert.ok(
            canaryPaths(keyed).some((x) => x.includes(`${SEP}aes${SEP}`)),
            `${ch.join(' → ')} in ${c}`,
          );
        },
      ),
      { numRuns: 300, seed: 2020 },
    );
  });
});
