/**
 * bench/fuzz-decode: fast-check over decode() with the arbitraries of test/support/decode/arbitraries.ts
 * (random bytes and strings; valid Sensors, MIUI, MiStat and form bodies then mutated, also under
 * random chains of base64/base64url/hex/base32/percent/gzip/deflate/json-string, maybe AES-encrypted
 * first; gzip headers with garbage; deep JSON; huge repeated keys; random content types, URLs,
 * headers carrying payloads, and keys by name and by host).
 * Property: decode() never throws (nor reports a `decoder failure`, its safety net catching a
 * throw), returns a root layer, and every layer's path starts with its parent's (below the root,
 * which holds the body, query and cookie trees side by side).
 * Default limits, so the real caps are exercised. Exits 1 with the counterexample on a failure.
 *
 *   npm run bench:fuzz-decode [-- --runs 100000 --seed 1]     (or FUZZ_RUNS / FUZZ_SEED)
 */
import fc from 'fast-check';
import { parseArgs } from 'node:util';
import { decode } from '../src/decode/index.ts';
import { decodeInput, violation } from '../test/support/decode/arbitraries.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.FUZZ_RUNS ?? '100000' },
    seed: { type: 'string', default: process.env.FUZZ_SEED ?? String(Date.now() % 2 ** 31) },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed);

let cases = 0;
let findings = 0;
const t0 = process.hrtime.bigint();
const out = fc.check(
  fc.property(decodeInput, (input) => {
    cases++;
    const r = decode(input);
    findings += r.findings.length;
    const why = violation(r);
    if (why) throw new Error(why);
  }),
  { numRuns: runs, seed },
);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(
  `fuzz-decode: ${cases} cases (${runs} runs asked, seed ${seed}) in ${secs.toFixed(1)} s, ${(cases / secs).toFixed(0)} cases/s; ${findings} findings reported`,
);
if (out.failed) {
  console.error(fc.defaultReportMessage(out));
  const ce = out.counterexample?.[0];
  if (ce) console.error('counterexample body (base64):', ce.body.toString('base64'));
  console.log(`ratio fuzz-decode-failing-cases: 1 (goal 0 in ${cases} cases: not met)`);
  process.exit(1);
}
console.log('property held: no throw, a root layer, every path extends its parent');
console.log(`ratio fuzz-decode-failing-cases: 0 (goal 0 in ${cases} cases: met)`);
