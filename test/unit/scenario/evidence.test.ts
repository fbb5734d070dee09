/**
 * Evidence with its analysis off the event loop (src/detect/pool.ts): `observed` keeps the order in
 * which records arrived whatever order their analyses end in, settled() waits for all of them, and
 * an analysis that failed is kept, naming the exchange, for the verdict to be broken (executor.ts).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { CaptureRecord } from '../../../src/capture/exchange.ts';
import type { InspectedExchange } from '../../../src/detect/pipeline.ts';
import { Evidence, type RecordSource } from '../../../src/scenario/evidence.ts';
import { exchange } from './fake-phone.ts';

/** An analyser whose analyses end when the test says, in any order. */
function controlled() {
  const pending = new Map<
    number,
    { resolve(x: InspectedExchange): void; reject(e: Error): void; r: CaptureRecord }
  >();
  return {
    pending,
    analyser: {
      analyse: (r: CaptureRecord) =>
        new Promise<InspectedExchange>((resolve, reject) => pending.set(r.index, { resolve, reject, r })),
    },
    finish(index: number): void {
      const p = pending.get(index)!;
      const r = p.r as CaptureRecord & { type: 'exchange' };
      p.resolve({
        index,
        method: r.method,
        url: r.url,
        host: r.host,
        tracker: null,
        layers: [],
        findings: [],
      });
    },
  };
}

function records(n: number): CaptureRecord[] {
  return Array.from({ length: n }, (_, i) => ({ ...exchange(`http://h${i}.example/`), index: i }));
}

describe('Evidence (analysis off the event loop)', () => {
  it('keeps arrival order whatever order the analyses end in; settled() waits for all', async () => {
    const source = new EventEmitter();
    const c = controlled();
    const ev = new Evidence(source as unknown as RecordSource, c.analyser, 'probe.invalid', 'tok', new Set());
    ev.start();
    for (const r of records(4)) source.emit('record', r);
    assert.equal(ev.arrived.length, 4);
    let settled = false;
    const done = ev.settled().then(() => (settled = true));
    c.finish(2);
    c.finish(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(ev.observed.length, 0, 'nothing before #0 is analysed');
    c.finish(0);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      ev.observed.map((o) => o.record.index),
      [0, 1, 2],
    );
    assert.equal(settled, false);
    c.finish(3);
    await done;
    assert.deepEqual(
      ev.observed.map((o) => [o.seq, o.record.index]),
      [
        [0, 0],
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    );
    ev.stop();
  });

  it('a failed analysis is kept, naming the exchange, and does not hold up the rest', async () => {
    const source = new EventEmitter();
    const c = controlled();
    const ev = new Evidence(source as unknown as RecordSource, c.analyser, 'probe.invalid', 'tok', new Set());
    ev.start();
    for (const r of records(3)) source.emit('record', r);
    c.finish(0);
    c.pending.get(1)!.reject(new Error('exchange #1 was not analysed: the analysis worker crashed (boom)'));
    c.finish(2);
    await ev.settled();
    assert.deepEqual(
      ev.observed.map((o) => o.record.index),
      [0, 2],
    );
    assert.match(ev.analysisProblem()!, /^1 captured exchange could not be analysed.*exchange #1 .*crashed/);
    ev.stop();
  });

  it('a wait ends at its timer even when the wall clock has not reached the deadline yet (no record ever comes)', async function () {
    this.timeout(5000);
    const source = new EventEmitter();
    const ev = new Evidence(
      source as unknown as RecordSource,
      controlled().analyser,
      'probe.invalid',
      'tok',
      new Set(),
    );
    ev.start();
    const deadline = Date.now() + 50;
    // A timer may fire a millisecond before Date.now() reaches the deadline (libuv rounds its
    // monotonic clock): modelled here by a wall clock that stays behind while the waits run.
    const realNow = Date.now;
    Date.now = () => Math.min(realNow(), deadline - 1);
    try {
      const [rec, obs] = await Promise.all([
        ev.waitForRecord(() => true, deadline),
        ev.waitFor(() => true, deadline),
      ]);
      assert.equal(rec, null);
      assert.equal(obs, null);
    } finally {
      Date.now = realNow;
      ev.stop();
    }
  });

  it('an analyser that throws (instead of rejecting) is a failed analysis, and later records still arrive', async () => {
    const source = new EventEmitter();
    const c = controlled();
    const analyser = {
      analyse: (r: CaptureRecord) => {
        if (r.index === 0) throw new Error('decoder bug on #0');
        return c.analyser.analyse(r);
      },
    };
    const ev = new Evidence(source as unknown as RecordSource, analyser, 'probe.invalid', 'tok', new Set());
    ev.start();
    for (const r of records(2)) source.emit('record', r);
    c.finish(1);
    await ev.settled();
    assert.deepEqual(
      ev.observed.map((o) => o.record.index),
      [1],
    );
    assert.match(ev.analysisProblem() ?? '', /decoder bug on #0/);
    ev.stop();
  });
});
