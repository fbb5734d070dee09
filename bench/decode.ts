/**
 * bench/decode: throughput of `decode()` on Sensors Analytics uploads, against the minimal work any
 * decoder must do on the same bytes, measured in the same run:
 *   baseline = Buffer → form parse (URLSearchParams) → Buffer.from(base64) → gunzipSync (gzip=1 only)
 *              → JSON.parse.
 * Payloads (seeded, built with the virtual phone's encoders, ~50 browser events per batch as the
 * Android SDK sends):
 *   gzip=1  `crc=<hash>&gzip=1&data_list=<base64(gzip(JSON array))>` (Android; the Node SDK drops crc)
 *   gzip=0  `data_list=<base64(JSON array)>&gzip=0` (Node SDK with gzip:false)
 *   web     `data=<base64(JSON object)>&ext=crc%3D<hash>`, one event per request
 * MB/s counts the raw request body bytes on the wire (1 MB = 10^6 bytes); the inflated JSON rate is
 * printed for context. One core: everything runs on the main thread. decode() and the baseline run
 * in alternating slices over the same payloads so drift hits both alike.
 *
 *   npm run bench:decode [-- --seconds 3 --batches 40 --events 50]
 */
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { decode } from '../src/decode/index.ts';
import { sensorsBodies } from '../test/support/decode/corpus.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '40' },
    events: { type: 'string', default: '50' },
  },
});
const seconds = Number(values.seconds);
const nBatches = Number(values.batches);
const nEvents = Number(values.events);
const GOAL_MBS = 100;

interface Case {
  name: string;
  bodies: Buffer[];
  /** Inflated JSON bytes per body (the JSON text a decoder ends up parsing). */
  jsonBytes: number[];
  field: 'data_list' | 'data';
  gzip: boolean;
}

const sets = Array.from({ length: nBatches }, (_, i) => sensorsBodies(1000 + i, nEvents));
const webJson = (b: string): number =>
  Buffer.from(decodeURIComponent(/data=([^&]*)/.exec(b)![1]!), 'base64').length;
const cases: Case[] = [
  {
    name: `data_list gzip=1 (${nEvents} events)`,
    bodies: sets.map((s) => Buffer.from(s.gzip)),
    jsonBytes: sets.map((s) => Buffer.byteLength(s.json)),
    field: 'data_list',
    gzip: true,
  },
  {
    name: `data_list gzip=0 (${nEvents} events)`,
    bodies: sets.map((s) => Buffer.from(s.plain)),
    jsonBytes: sets.map((s) => Buffer.byteLength(s.json)),
    field: 'data_list',
    gzip: false,
  },
  {
    name: 'web data= (1 event)',
    bodies: sets.flatMap((s) => s.web.map((w) => Buffer.from(w))),
    jsonBytes: sets.flatMap((s) => s.web.map(webJson)),
    field: 'data',
    gzip: false,
  },
];

function baseline(c: Case, body: Buffer): unknown {
  const form = new URLSearchParams(body.toString('latin1'));
  const b64 = form.get(c.field) ?? '';
  let bytes = Buffer.from(b64, 'base64');
  if (c.gzip) bytes = gunzipSync(bytes);
  return JSON.parse(bytes.toString('utf8'));
}

let sink = 0;
function viaDecode(_c: Case, body: Buffer): unknown {
  const r = decode({ body, contentType: 'application/x-www-form-urlencoded' });
  sink += r.root.children.length + r.findings.length;
  return r;
}

/** Runs fn over all bodies of the case, in order, until `ms` have passed; returns [bytes, json bytes, ns]. */
function slice(
  c: Case,
  fn: (c: Case, b: Buffer) => unknown,
  ms: number,
  from: number,
): [number, number, number, number] {
  let bytes = 0;
  let json = 0;
  let i = from;
  const t0 = process.hrtime.bigint();
  const stop = t0 + BigInt(Math.round(ms * 1e6));
  let now: bigint;
  do {
    const k = i % c.bodies.length;
    fn(c, c.bodies[k]!);
    bytes += c.bodies[k]!.length;
    json += c.jsonBytes[k]!;
    i++;
    now = process.hrtime.bigint();
  } while (now < stop);
  return [bytes, json, Number(now - t0), i];
}

// Sanity: decode finds every event, with no findings.
for (const c of cases) {
  const r = decode({ body: c.bodies[0]!, contentType: 'application/x-www-form-urlencoded' });
  const sensors = r.leaves().length;
  if (r.findings.length || sensors < 10)
    throw new Error(`${c.name}: unexpected decode result ${JSON.stringify(r.findings)}`);
}

const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(
  `decode: Sensors uploads, ${nBatches} seeded batches of ${nEvents} events; ${seconds} s per method per payload, one core; node ${process.version}`,
);
console.log(
  'MB/s = raw request body bytes on the wire per second (1 MB = 10^6 B); JSON MB/s = inflated JSON',
);
console.log(
  `${'payload'.padEnd(30)} ${'body B'.padStart(8)} ${'JSON B'.padStart(8)}  ${'method'.padEnd(9)} ${'MB/s'.padStart(7)} ${'JSON MB/s'.padStart(9)}`,
);
const summary: Array<[string, number, number]> = [];
for (const c of cases) {
  // Warm-up both paths.
  slice(c, viaDecode, 300, 0);
  slice(c, baseline, 300, 0);
  const acc = { d: [0, 0, 0], b: [0, 0, 0] };
  const sliceMs = 100;
  let iD = 0;
  let iB = 0;
  for (let t = 0; t < (seconds * 1000) / sliceMs; t++) {
    const [db, dj, dn, ni] = slice(c, viaDecode, sliceMs, iD);
    iD = ni;
    acc.d[0]! += db;
    acc.d[1]! += dj;
    acc.d[2]! += dn;
    const [bb, bj, bn, nb] = slice(c, baseline, sliceMs, iB);
    iB = nb;
    acc.b[0]! += bb;
    acc.b[1]! += bj;
    acc.b[2]! += bn;
  }
  const rate = (a: number[]): [number, number] => [(a[0]! / a[2]!) * 1e3, (a[1]! / a[2]!) * 1e3];
  const [dMB, dJ] = rate(acc.d);
  const [bMB, bJ] = rate(acc.b);
  const row = (m: string, mb: number, j: number): string =>
    `${c.name.padEnd(30)} ${avg(c.bodies.map((b) => b.length))
      .toFixed(0)
      .padStart(
        8,
      )} ${avg(c.jsonBytes).toFixed(0).padStart(8)}  ${m.padEnd(9)} ${mb.toFixed(1).padStart(7)} ${j.toFixed(1).padStart(9)}`;
  console.log(row('decode()', dMB, dJ));
  console.log(row('baseline', bMB, bJ));
  summary.push([c.name, dMB, bMB / dMB]);
}
console.log('');
for (const [name, mb, ratio] of summary)
  console.log(
    `${name.padEnd(30)} decode() ${mb.toFixed(1)} MB/s of body; decode() time / baseline time = ${ratio.toFixed(2)}×`,
  );
const main = summary[0]!;
const baselineMain = main[1] * main[2];
console.log(
  `goal: ≥ ${GOAL_MBS} MB/s of body for data_list gzip=1: ${main[1].toFixed(1)} MB/s: ${main[1] >= GOAL_MBS ? 'met' : 'NOT met'}` +
    (baselineMain < GOAL_MBS
      ? ` (the baseline itself does ${baselineMain.toFixed(1)} MB/s of body: gzip makes each body byte ~${(avg(cases[0]!.jsonBytes) / avg(cases[0]!.bodies.map((b) => b.length))).toFixed(0)} bytes of JSON to parse)`
      : ''),
);
if (sink < 0) console.log(sink);
// Last line, as every bench's: the headline is a rate against its goal (MB/s of body, gzip=1).
console.log(
  `ratio decode-gzip1-mb-per-s: ${main[1].toFixed(1)} (goal ≥ ${GOAL_MBS} MB/s of body: ${main[1] >= GOAL_MBS ? 'met' : 'not met'})`,
);
