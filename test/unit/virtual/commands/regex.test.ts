import * as assert from 'node:assert/strict';
import { REGEX_DEADLINE_MS } from '../../../../src/virtual/os/regex-worker.ts';
import { makePhone, run, sh, until } from '../os/helpers.ts';
import { alongside } from '../os/loop-probe.ts';

/** Backtracks for hours on a run of a's that ends in b, searched from every position. */
const CATASTROPHIC = '(a+)+$';
const VICTIM = `${'a'.repeat(40)}b`;

describe('android commands: user regexes run off the event loop', function () {
  this.timeout(REGEX_DEADLINE_MS * 5);

  it('pgrep matches names as before and reports a bad regex', async () => {
    const phone = makePhone();
    const pid = phone.processes.byName('com.miui.home')[0]?.pid;
    const r = await run(phone, ['pgrep', '-l', 'miui\\.ho']);
    assert.deepEqual([r.status, r.stdout], [0, `${pid} com.miui.home\n`]);
    assert.equal((await run(phone, ['pgrep', 'no-such-process'])).status, 1);
    const bad = await run(phone, ['pgrep', '(']);
    assert.deepEqual([bad.status, bad.stderr], [2, "pgrep: bad regex '('\n"]);
  });

  it('pgrep: a catastrophic pattern stops with a clear error while another phone works', async () => {
    const phone = makePhone();
    const other = makePhone('redmi-note-8-leaky', 'vp0002');
    phone.processes.start(VICTIM);
    const probe = await alongside(run(phone, ['pgrep', CATASTROPHIC]), async () => {
      assert.equal((await sh(other, 'echo alive')).stdout, 'alive\n');
    });
    assert.deepEqual(
      [probe.result.status, probe.result.stderr],
      [2, 'pgrep: regex too costly (stopped after 2 s)\n'],
    );
    assert.deepEqual(probe.order, ['other', 'costly']);
    assert.ok(probe.ticks > 10, `${probe.ticks} ticks`);
  });

  it('logcat -e filters a dump (before -t) and a stream, batch by batch', async () => {
    const phone = makePhone();
    for (const m of ['keep one', 'drop', 'keep two']) phone.logcat.log(4, 'ReTest', m);
    const d = await run(phone, ['logcat', '-d', '-v', 'tag', '-s', 'ReTest', '-e', '^keep']);
    assert.equal(d.stdout, '--------- beginning of main\nI/ReTest  : keep one\nI/ReTest  : keep two\n');
    const t = await run(phone, ['logcat', '-t', '1', '-v', 'tag', '-s', 'ReTest', '-e', '^keep']);
    assert.match(t.stdout, /keep two\n$/);
    assert.doesNotMatch(t.stdout, /keep one|drop/);
    const seen: string[] = [];
    const client = new AbortController();
    const stream = run(phone, ['logcat', '-T', '0', '-v', 'tag', '-s', 'Live', '-e', 'yes'], {
      signal: client.signal,
      onStdout: (b) => seen.push(b.toString()),
    });
    phone.logcat.log(4, 'Live', 'no');
    phone.logcat.log(4, 'Live', 'yes 1');
    await until(() => seen.join('').includes('yes 1'));
    phone.logcat.log(4, 'Live', 'no again');
    phone.logcat.log(4, 'Live', 'yes 2');
    await until(() => seen.join('').includes('yes 2'));
    client.abort();
    assert.equal((await stream).status, 0);
    assert.doesNotMatch(seen.join(''), /\bno\b/);
    const bad = await run(phone, ['logcat', '-d', '-e', '(']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^Invalid regular expression/);
  });

  it('logcat -e: a catastrophic pattern stops with a clear error while another phone works', async () => {
    const phone = makePhone();
    const other = makePhone('redmi-note-8-leaky', 'vp0002');
    phone.logcat.log(4, 'Victim', VICTIM);
    const probe = await alongside(run(phone, ['logcat', '-d', '-e', CATASTROPHIC]), async () => {
      assert.equal((await sh(other, 'echo alive')).stdout, 'alive\n');
    });
    assert.deepEqual(
      [probe.result.status, probe.result.stdout, probe.result.stderr],
      [1, '', 'logcat: regex too costly (stopped after 2 s)\n'],
    );
    assert.deepEqual(probe.order, ['other', 'costly']);
    assert.ok(probe.ticks > 10, `${probe.ticks} ticks`);
  });

  it('a killed pgrep or logcat -e gives its regex up at once, and the phone matches again', async () => {
    const phone = makePhone('redmi-note-8-leaky', 'vp0003');
    phone.processes.start(VICTIM);
    phone.logcat.log(4, 'Victim', VICTIM);
    const client = new AbortController();
    const err: Buffer[] = [];
    const killed = phone.exec(`pgrep '${CATASTROPHIC}'`, {
      stdin: { read: async () => null },
      stdout: { write: async () => undefined },
      stderr: { write: async (c) => void err.push(Buffer.from(c)) },
      signal: client.signal,
    });
    const streamClient = new AbortController();
    const stream = run(phone, ['logcat', '-v', 'tag', '-s', 'Victim', '-e', CATASTROPHIC], {
      signal: streamClient.signal,
    });
    // Time for both to reach the regex worker: pgrep's pattern running, logcat's waiting behind it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    client.abort();
    streamClient.abort();
    // Not 2 with 'regex too costly': the job was dropped, not run to its deadline.
    assert.deepEqual([await killed, Buffer.concat(err).toString()], [130, '']);
    const s = await stream;
    assert.deepEqual([s.status, s.stderr], [0, '']);
    const pid = phone.processes.byName('com.miui.home')[0]?.pid;
    assert.equal((await run(phone, ['pgrep', '-l', 'miui\\.ho'])).stdout, `${pid} com.miui.home\n`);
  });
});
