/**
 * The filters that take a user's regex (grep, sed, expr `:`) run in toybox, off the event loop
 * every virtual phone shares; shell patterns match without a RegExp. A catastrophic pattern on one
 * phone must leave the others (and any timer) answering.
 */
import assert from 'node:assert/strict';
import { Vfs } from '../../../../src/virtual/os/vfs.ts';
import { coreutils } from '../../../../src/virtual/shell/coreutils.ts';
import { runScript } from '../../../../src/virtual/shell/interpreter.ts';
import { matchPattern } from '../../../../src/virtual/shell/pattern.ts';
import { sedFileCommand } from '../../../../src/virtual/shell/cu-regex.ts';
import { BufferInStream, CollectOutStream } from '../../../../src/virtual/shell/streams.ts';
import type { VirtualPhone } from '../../../../src/virtual/phone.ts';
import type { InStream } from '../../../../src/virtual/commands/types.ts';

const SHELL = 2000;
/** `(a+)+$` against this backtracks 2^N times in a JavaScript RegExp. */
const EVIL_LINE = `${'a'.repeat(5000)}b\n`;

function phone(): VirtualPhone {
  const fs = new Vfs();
  return {
    fs,
    lookupCommand: (name: string) => coreutils[name.slice(name.lastIndexOf('/') + 1)],
  } as unknown as VirtualPhone;
}

async function sh(p: VirtualPhone, script: string, stdin: string | InStream = '', signal?: AbortSignal) {
  const out = new CollectOutStream();
  const err = new CollectOutStream();
  const status = await runScript(script, {
    phone: p,
    env: new Map([['PATH', '/system/bin']]),
    cwd: '/data/local/tmp',
    uid: SHELL,
    stdin: typeof stdin === 'string' ? new BufferInStream(stdin) : stdin,
    stdout: out,
    stderr: err,
    signal: signal ?? new AbortController().signal,
  });
  return { status, out: out.text(), err: err.text() };
}

/** Stdin that gives `text`, then holds the end back until `release()`. */
function heldStdin(text: string): { stdin: InStream; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let sent = false;
  return {
    release,
    stdin: {
      async read() {
        if (!sent) {
          sent = true;
          return Buffer.from(text);
        }
        await released;
        return null;
      },
    },
  };
}

/** Resolves after the event loop has run `n` interval ticks. */
function ticks(n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const t = setInterval(() => {
      if (--left === 0) {
        clearInterval(t);
        resolve();
      }
    }, 1);
  });
}

describe('shell filters with user regexes (toybox)', () => {
  for (const [what, script, expected] of [
    ['grep', "grep -E '(a+)+$'", { status: 1, out: '' }],
    ['sed', "sed -E 's/(a+)+$/x/'", { status: 0, out: EVIL_LINE }],
  ] as const) {
    it(`${what}: a catastrophic pattern on one phone leaves another phone and timers answering`, async () => {
      const a = phone();
      const b = phone();
      const held = heldStdin(EVIL_LINE);
      let evilDone = false;
      const evil = sh(a, script, held.stdin).then((r) => {
        evilDone = true;
        return r;
      });
      // The evil line is already on the filter's stdin: a RegExp on this event loop would never
      // let the timer or the second phone run.
      await ticks(5);
      assert.deepEqual(await sh(b, 'echo still here'), { status: 0, out: 'still here\n', err: '' });
      assert.equal(evilDone, false, 'the filter is still reading its input');
      held.release();
      assert.deepEqual(await evil, { ...expected, err: '' });
    });
  }

  it('grep over several virtual files: names, -c, -l, -h, -n, context and -r', async () => {
    const p = phone();
    await sh(p, 'mkdir -p /data/local/tmp/d; printf "one\\ntwo\\nthree\\n" > d/x; printf "two\\n" > d/y');
    assert.deepEqual(await sh(p, 'grep t d/x d/y'), {
      status: 0,
      out: 'd/x:two\nd/x:three\nd/y:two\n',
      err: '',
    });
    assert.equal((await sh(p, 'grep -n t d/x d/y')).out, 'd/x:2:two\nd/x:3:three\nd/y:1:two\n');
    assert.equal((await sh(p, 'grep -c t d/x d/y')).out, 'd/x:2\nd/y:1\n');
    assert.equal((await sh(p, 'grep -l one d/x d/y')).out, 'd/x\n');
    assert.equal((await sh(p, 'grep -h two d/x d/y')).out, 'two\ntwo\n');
    assert.equal((await sh(p, 'grep -A1 one d/x d/y')).out, 'd/x:one\nd/x-two\n');
    assert.equal((await sh(p, 'grep -r two d | sort')).out, 'd/x:two\nd/y:two\n');
    assert.equal((await sh(p, 'grep one d/x')).out, 'one\n');
    const missing = await sh(p, 'grep one d/x nope');
    assert.deepEqual(missing, {
      status: 2,
      out: 'd/x:one\n',
      err: 'grep: nope: No such file or directory\n',
    });
  });

  it('sed: files as one stream, -i through the Vfs, and no command that opens a host file', async () => {
    const p = phone();
    await sh(p, 'printf "a\\nb" > f; printf "c\\n" > g');
    assert.equal((await sh(p, 'sed -n "$=" f g')).out, '3\n');
    assert.equal((await sh(p, 'sed "2d" f g')).out, 'a\nc\n');
    await sh(p, 'sed -i "s/c/C/" g');
    assert.equal((await sh(p, 'cat g')).out, 'C\n');
    for (const script of [
      'w /tmp/x',
      '1r /etc/passwd',
      's/a/b/w /tmp/x',
      's/[/]/x/;w /tmp/x',
      '/x/,$ w /tmp/x',
    ]) {
      assert.ok(sedFileCommand(script), script);
      const r = await sh(p, `sed '${script}' f`);
      assert.equal(r.status, 1, script);
      assert.match(r.err, /^sed: unknown command '/);
    }
    for (const script of ['s/w/r/g', 'y/rw/wr/', '/w/d', 'a\\\nwr', 's|a|b|;p'])
      assert.equal(sedFileCommand(script), null, script);
  });

  it('expr STR : RE goes through toybox', async () => {
    const p = phone();
    assert.equal((await sh(p, "expr abcabc : 'a\\(b\\)c'")).out, 'b\n');
    assert.equal((await sh(p, "expr abcabc : 'a*b'")).out, '2\n');
    assert.deepEqual(await sh(p, "expr xyz : 'a'"), { status: 1, out: '0\n', err: '' });
    assert.equal((await sh(p, `expr ${'a'.repeat(3000)}b : '\\(a*\\)*$'`)).status, 1);
    assert.deepEqual(await sh(p, "expr x : '\\('"), { status: 2, out: '', err: 'expr: bad regex\n' });
  });

  it('the command abort signal kills the child', async () => {
    const p = phone();
    const held = heldStdin('x\n');
    const ac = new AbortController();
    const r = sh(p, 'grep y', held.stdin, ac.signal);
    await ticks(3);
    ac.abort();
    assert.notEqual((await r).status, 0);
    held.release();
  });

  it('shell patterns match in linear time', () => {
    const long = 'a'.repeat(20000);
    assert.equal(matchPattern('*a*a*a*a*a*a*a*a*a*a*b', long), false);
    assert.equal(matchPattern('*a*a*a*a*a*a*a*a*a*a*', long), true);
    assert.equal(matchPattern('[[:alpha:]]?c*', 'abcdef'), true);
    assert.equal(matchPattern('A*\\*', 'abc*', true), true);
    assert.equal(matchPattern('[!a]*', 'abc'), false);
  });
});
