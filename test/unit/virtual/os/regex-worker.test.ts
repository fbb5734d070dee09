import * as assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import {
  REGEX_DEADLINE_MS,
  REGEX_QUEUE_LIMIT,
  RegexQueueFullError,
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

  /** Settles `p` to a label in `order`: `name` on success, `name:ErrorName` on failure. */
  function record(order: string[], name: string, p: Promise<unknown>): Promise<unknown> {
    return p.then(
      (r) => {
        order.push(name);
        return r;
      },
      (e: unknown) => {
        order.push(`${name}:${(e as Error).name}`);
        return e;
      },
    );
  }

  it("one phone's costly patterns do not hold up another phone's call behind them", async () => {
    const order: string[] = [];
    const a1 = record(order, 'A1', testEach(CATASTROPHIC, [SUBJECT], { owner: 'phone-a' }));
    const a2 = record(order, 'A2', testEach(CATASTROPHIC, [SUBJECT], { owner: 'phone-a' }));
    const b = record(order, 'B', testEach(/^b/, ['bar', 'foo'], { owner: 'phone-b' }));
    assert.deepEqual(await b, [true, false]);
    await Promise.all([a1, a2]);
    assert.deepEqual(order, ['B', 'A1:RegexTooCostlyError', 'A2:RegexTooCostlyError']);
  });

  it('an aborted call leaves the queue, or stops the worker running it, and the next call runs', async () => {
    const order: string[] = [];
    const running = new AbortController();
    const queued = new AbortController();
    const caller = (signal?: AbortSignal) => ({ owner: 'phone-abort', ...(signal ? { signal } : {}) });
    const costly = record(order, 'costly', testEach(CATASTROPHIC, [SUBJECT], caller(running.signal)));
    const waiting = record(order, 'waiting', testEach(/a/, ['a'], caller(queued.signal)));
    const next = record(order, 'next', testEach(/a/, ['a', 'b'], caller()));
    queued.abort();
    const w = await waiting;
    assert.equal((w as Error).name, 'AbortError');
    running.abort();
    const c = await costly;
    assert.equal((c as Error).name, 'AbortError', 'aborted, not stopped at the deadline');
    assert.deepEqual(await next, [true, false]);
    assert.deepEqual(order, ['waiting:AbortError', 'costly:AbortError', 'next']);
    // A signal aborted before the call never reaches the queue.
    await assert.rejects(testEach(/a/, ['a'], caller(AbortSignal.abort())), { name: 'AbortError' });
  });

  it('refuses calls beyond the per-phone queue limit with a clear error', async () => {
    const phone = new AbortController();
    setMaxListeners(REGEX_QUEUE_LIMIT * 2, phone.signal); // one signal for every call, on purpose
    const caller = { owner: 'phone-full', signal: phone.signal };
    // One call runs, REGEX_QUEUE_LIMIT wait; the next is refused at once.
    const accepted = Array.from({ length: REGEX_QUEUE_LIMIT + 1 }, () =>
      testEach(CATASTROPHIC, [SUBJECT], caller).catch((e: unknown) => e),
    );
    const refused = await filterMatching(CATASTROPHIC, [SUBJECT], (s) => s, caller);
    assert.ok(refused instanceof RegexQueueFullError);
    assert.equal(refused.message, 'regex queue full');
    await assert.rejects(testEach(/a/, ['a'], caller), { message: 'regex queue full' });
    assert.deepEqual(await testEach(/a/, ['a'], { owner: 'phone-other' }), [true], 'other phones are served');
    phone.abort();
    for (const e of await Promise.all(accepted)) assert.equal((e as Error).name, 'AbortError');
    assert.deepEqual(await testEach(/a/, ['a'], { owner: 'phone-full' }), [true]);
  });
});
