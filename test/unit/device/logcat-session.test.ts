/**
 * LogcatSession (src/device/device.ts): entries that arrive between logcat() and the first
 * `for await` are kept for the iterator (they were lost, and a loop waiting for an entry logged
 * meanwhile waited forever: a CI timeout in device.test.ts); the backlog is bounded.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { LogcatSession, type LogcatEntry } from '../../../src/device/device.ts';

function fakeReader() {
  const r = new EventEmitter() as EventEmitter & { end(): void };
  r.end = () => r.emit('end');
  return r;
}

const entry = (i: number): LogcatEntry => ({
  date: new Date(0),
  pid: 1,
  tid: 1,
  priority: 4,
  tag: 'T',
  message: `m${i}`,
});

describe('LogcatSession', () => {
  it('an iterator started late still gets the entries that arrived before it, then the new ones', async () => {
    const reader = fakeReader();
    let released = 0;
    const s = new LogcatSession(reader, () => released++);
    reader.emit('entry', entry(1));
    reader.emit('entry', entry(2));
    const seen: string[] = [];
    setImmediate(() => reader.emit('entry', entry(3)));
    for await (const e of s) {
      seen.push(e.message);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, ['m1', 'm2', 'm3']);
    s.close();
    assert.equal(released, 1);
  });

  it('keeps at most the last BACKLOG entries for an iterator that never started', async () => {
    const reader = fakeReader();
    const s = new LogcatSession(reader, () => undefined);
    const n = 2 * LogcatSession.BACKLOG + 5;
    for (let i = 0; i < n; i++) reader.emit('entry', entry(i));
    s.close();
    const seen: string[] = [];
    for await (const e of s) seen.push(e.message);
    assert.equal(seen.length, LogcatSession.BACKLOG);
    assert.equal(seen.at(-1), `m${n - 1}`);
  });
});
