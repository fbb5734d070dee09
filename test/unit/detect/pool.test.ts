import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDetector, parseCatalogue } from '../../../src/detect/index.ts';
import { analyseRecord, type AnalysedRecord } from '../../../src/detect/pipeline.ts';
import fc from 'fast-check';
import { AnalysisPool, packLayers, unpackLayers } from '../../../src/detect/pool.ts';
import { sensorsBodies } from '../../support/decode/corpus.ts';
import { DEVICE } from '../../support/decode/device.ts';

const CANARY = 'www.bbc.co.uk';
const IDENTIFIERS = [
  { name: 'android_id', value: DEVICE.androidId },
  { name: 'ad_id', value: DEVICE.adId },
];
const KEYS = { mistat: Buffer.alloc(16, 7) };
const SA = 'https://sa.api.intl.miui.com/sa?project=global_browser_mini&r=GB';

function post(index: number, url: string, body: string | Buffer, truncated = false): AnalysedRecord {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return {
    type: 'exchange',
    index,
    method: 'POST',
    url,
    host: new URL(url).host,
    request: {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: b,
      bodySize: truncated ? b.length * 2 : b.length,
      truncated,
    },
  };
}

/** Seeded Sensors batches in the three transports, a truncated body, a TLS failure and a bare GET. */
function corpus(): AnalysedRecord[] {
  const out: AnalysedRecord[] = [];
  for (let seed = 1; seed <= 3; seed++) {
    const b = sensorsBodies(seed, 20);
    out.push(post(out.length, SA, b.gzip));
    out.push(post(out.length, SA, b.plain));
    for (const w of b.web.slice(0, 3)) out.push(post(out.length, 'https://collector.example/sa', w));
  }
  // A body inside a shared pool (as Buffers often are): only its own bytes may travel.
  const big = Buffer.from(`xxxx${sensorsBodies(9, 5).plain}yyyy`);
  out.push(post(out.length, SA, big.subarray(4, big.length - 4)));
  out.push(post(out.length, SA, sensorsBodies(4, 5).gzip.slice(0, 200), true));
  out.push({
    type: 'tls-failure',
    index: out.length,
    startedAt: '2026-01-01T00:00:00.000Z',
    host: 'sa.api.intl.miui.com',
    cause: 'cert-rejected',
  });
  out.push({
    type: 'exchange',
    index: out.length,
    method: 'GET',
    url: `http://tracking.example/p?u=${encodeURIComponent(CANARY)}`,
    host: 'tracking.example',
    request: { headers: {}, body: Buffer.alloc(0), bodySize: 0, truncated: false },
  });
  return out;
}

describe('AnalysisPool', () => {
  const records = corpus();

  it('a packed layer list unpacks to the same list, whatever its paths hold (property)', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', ',', ';', '1', '9', '.', '[', 'é', '\u0000', '\ud83d'),
    });
    const layer = fc.record({ kind: text, path: text }, { noNullPrototype: true });
    fc.assert(
      fc.property(fc.array(layer, { maxLength: 20 }), (layers) => {
        assert.deepEqual(unpackLayers(packLayers(layers)), layers);
      }),
      { numRuns: 500, seed: 14 },
    );
    assert.throws(() => unpackLayers('3,4;ab'), /malformed at 0/);
    // Lengths are plain digits: a negative one would walk back and loop for ever.
    for (const bad of ['0,-5;', '1e0,0;a', ' 1,0;a', '0x1,0;a', '1,0;a2'])
      assert.throws(() => unpackLayers(bad), /malformed/, bad);
  });

  const inline = createDetector({ canaries: [CANARY], identifiers: IDENTIFIERS });
  const expected = records.map((r) => analyseRecord(r, inline, { keys: KEYS }));

  it('workers give what inline analyseRecord gives, in the order asked, and leave the bodies alone', async () => {
    const pool = new AnalysisPool({ size: 2 });
    try {
      const a = pool.analyser({ canaries: [CANARY], identifiers: IDENTIFIERS, keys: KEYS });
      const bodies = records.map((r) => (r.type === 'exchange' ? Buffer.from(r.request.body) : undefined));
      const got = await Promise.all(records.map((r) => a.analyse(r)));
      assert.deepEqual(
        got.map((x) => x.index),
        records.map((r) => r.index),
      );
      assert.deepEqual(got, expected);
      // The layers crossed packed and unpack on first read, into an ordinary data property.
      const first = got.find((x) => x.layers.length > 1)!;
      assert.deepEqual(Object.getOwnPropertyDescriptor(first, 'layers')?.writable, true);
      assert.deepEqual(JSON.parse(JSON.stringify(got)), JSON.parse(JSON.stringify(expected)));
      const unread = await a.analyse(records.find((r) => r.type === 'exchange')!);
      assert.deepEqual({ ...unread }.layers, expected.find((x) => x.index === unread.index)!.layers);
      unread.layers = [];
      assert.deepEqual(unread.layers, []);
      assert.ok(got.some((x) => x.findings.some((f) => f.kind === 'canary')));
      assert.ok(got.some((x) => x.findings.some((f) => f.kind === 'identifier')));
      // The capture writer's buffers are copied, never detached.
      records.forEach((r, i) => {
        if (r.type === 'exchange') assert.ok(r.request.body.equals(bodies[i]!), `body of #${r.index}`);
      });
    } finally {
      await pool.close();
    }
  });

  it('size 0 analyses inline; a catalogue of the caller travels to the workers', async () => {
    const catalogue = parseCatalogue(
      {
        trackers: [
          {
            id: 'mine',
            vendor: 'Me',
            category: 'analytics',
            decoder: null,
            hosts: ['collector.example'],
            source: 'test',
          },
        ],
      },
      'test.json',
    );
    const config = { canaries: [CANARY], catalogue };
    const want = records.map((r) => analyseRecord(r, createDetector(config)));
    assert.ok(want.some((x) => x.tracker?.id === 'mine'));
    const zero = new AnalysisPool({ size: 0 });
    const one = new AnalysisPool({ size: 1 });
    try {
      assert.deepEqual(zero.threadIds, []);
      const z = zero.analyser(config);
      assert.deepEqual(await Promise.all(records.map((r) => z.analyse(r))), want);
      const o = one.analyser(config);
      assert.deepEqual(await Promise.all(records.map((r) => o.analyse(r))), want);
    } finally {
      await zero.close();
      await one.close();
    }
  });

  it('a worker crash rejects the analyses it held, naming the exchange, and the pool replaces it', async () => {
    const pool = new AnalysisPool({ size: 1 });
    try {
      const a = pool.analyser({ canaries: [CANARY], identifiers: IDENTIFIERS, keys: KEYS });
      assert.deepEqual(await a.analyse(records[0]!), expected[0]);
      const [first] = pool.threadIds;
      pool.crashForTest();
      const lost = await Promise.allSettled([a.analyse(records[1]!), a.analyse(records[2]!)]);
      for (const [i, r] of lost.entries()) {
        assert.equal(r.status, 'rejected');
        assert.match(String(r.reason), new RegExp(`exchange #${i + 1} .*crashed`));
      }
      // The replacement has the configuration and analyses as before.
      assert.deepEqual(await Promise.all(records.map((r) => a.analyse(r))), expected);
      assert.equal(pool.threadIds.length, 1);
      assert.notEqual(pool.threadIds[0], first);
    } finally {
      await pool.close();
    }
  });

  it('a released analyser and a closed pool reject instead of answering', async () => {
    const pool = new AnalysisPool({ size: 1 });
    const a = pool.analyser({ canaries: [CANARY] });
    const b = pool.analyser({ canaries: [CANARY] });
    a.release();
    await assert.rejects(a.analyse(records[0]!), /exchange #0: its analyser was released/);
    assert.deepEqual(
      await b.analyse(records[1]!),
      analyseRecord(records[1]!, createDetector({ canaries: [CANARY] })),
    );
    assert.equal(pool.threadIds.length, 1);
    await pool.close();
    assert.deepEqual(pool.threadIds, []);
    await assert.rejects(b.analyse(records[0]!), /pool is closed/);
    assert.throws(() => pool.analyser({}), /closed/);
  });

  it('idle workers do not keep the process alive, even without close()', () => {
    const pool = fileURLToPath(new URL('../../../src/detect/pool.ts', import.meta.url));
    const script =
      `const { AnalysisPool } = await import(${JSON.stringify(pool)});` +
      `const p = new AnalysisPool({ size: 2 });` +
      `const r = await p.analyser({ canaries: ['abcdef'] }).analyse({ type: 'tls-failure', index: 3, startedAt: '', host: 'h.example', cause: 'closed' });` +
      `console.log(r.index);`;
    // The timeout only stops a hung child; the assertion is that it exited by itself.
    const out = execFileSync(process.execPath, ['--import=tsx/esm', '--input-type=module', '-e', script], {
      timeout: 60_000,
      encoding: 'utf8',
    });
    assert.equal(out.trim(), '3');
  });
});
