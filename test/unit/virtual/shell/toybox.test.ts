/**
 * The filters that take a user's regex (grep, sed, expr `:`) run in toybox, off the event loop
 * every virtual phone shares; shell patterns match without a RegExp. A catastrophic pattern on one
 * phone must leave the others (and any timer) answering.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vfs } from '../../../../src/virtual/os/vfs.ts';
import { coreutils } from '../../../../src/virtual/shell/coreutils.ts';
import { runScript } from '../../../../src/virtual/shell/interpreter.ts';
import { matchPattern } from '../../../../src/virtual/shell/pattern.ts';
import { sedFileCommand } from '../../../../src/virtual/shell/cu-regex.ts';
import { BufferInStream, CollectOutStream } from '../../../../src/virtual/shell/streams.ts';
import { runToybox, toyboxSandbox, TOYBOX_UID } from '../../../../src/virtual/shell/toybox.ts';
import type { CommandContext } from '../../../../src/virtual/commands/types.ts';
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

  it('grep: plain text is searched in process, with the output toybox gives', async () => {
    const p = phone();
    await sh(p, 'mkdir d; printf "ab\\nxAB\\nc\\n\\xc3\\xa9ab\\n" > d/f; printf "zz\\nab" > d/g; : > d/e');
    // -m (a limit never reached here) is not done in process: toybox runs those.
    for (const flags of [
      '',
      '-v',
      '-i',
      '-c',
      '-l',
      '-q',
      '-n',
      '-h',
      '-H',
      '-vc',
      '-in',
      '-il',
      '-ic',
      '-F',
    ])
      for (const files of ['d/f', 'd/f d/g d/e', '-r d']) {
        const fast = await sh(p, `grep ${flags} ab ${files}`);
        const slow = await sh(p, `grep -m 99 ${flags} ab ${files}`);
        assert.deepEqual(fast, slow, `grep ${flags} ab ${files}`);
      }
    assert.deepEqual(await sh(p, 'grep -e ab -e zz d/g'), await sh(p, 'grep -m 99 -e ab -e zz d/g'));
    await sh(p, 'mkdir many');
    for (let i = 0; i < 1000; i++)
      p.fs.writeFile(`/data/local/tmp/many/${i}`, Buffer.from(`line ${i}\n`), { uid: SHELL });
    // A literal pattern over many files: matched in this process (no timing asserted: bench/ measures).
    const r = await sh(p, 'grep -r "line 99" many');
    assert.equal(r.out.split('\n').length - 1, 11);
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

  it('sed: a file command hidden where toybox reads a label, `}`, tab, flag or later -e is refused', async () => {
    const p = phone();
    await sh(p, 'printf "a\\nb\\n" > f');
    let n = 0;
    for (const make of [
      (h: string) => `sed 'b x w ${h}
:x' f`,
      (h: string) => `sed '{b x}w ${h}
:x' f`,
      (h: string) => `sed ':x w ${h}' f`,
      (h: string) => `sed 't x w ${h}
:x' f`,
      (h: string) => `sed '1{T x}w ${h}' f`,
      (h: string) => `sed "$(printf 'b x\\tw ${h}')" f`,
      (h: string) => `sed ':a r ${h}' f`,
      (h: string) => `sed 's/a/b/-5w ${h}' f`,
      (h: string) => `sed '0xaw ${h}' f`,
      (h: string) => `sed '\\,x,w ${h}' f`,
      (h: string) => `sed -e 'b x' -e 'w ${h}' -e ':x' f`,
      (h: string) => `sed -e 's/a/b\\' -e 'c/w ${h}' f`,
      (h: string) => `sed -n -s --expression='b x w ${h}' f f`,
      (h: string) => `printf '{b x}w ${h}\\n:x\\n' > s.sed; sed -f s.sed f`,
      (h: string) => `echo hi | sed -E ':a;{:b	w ${h}
}'`,
    ]) {
      const host = join(tmpdir(), `phonehome-sed-${process.pid}-${n++}`);
      rmSync(host, { force: true });
      const cmd = make(host);
      const r = await sh(p, cmd);
      assert.equal(r.status, 1, cmd);
      assert.match(r.err, /^sed: unknown command '(w|r|s\/\/\/w)'\n$/, cmd);
      assert.equal(existsSync(host), false, cmd);
    }
    // What toybox cannot run gets toybox's own words, without toybox.
    assert.deepEqual(await sh(p, "sed 'F' f"), { status: 1, out: '', err: "sed: unknown command 'F'\n" });
    assert.deepEqual(await sh(p, "sed 's/a/b' f"), {
      status: 1,
      out: '',
      err: "sed: bad pattern 's/a/b'@5 (b)\n",
    });
    // Labels, text, `}` and every argument-taking command toybox knows still run.
    assert.equal((await sh(p, "sed -n ':x;/a/{s/a/w/;bx};p' f")).out, 'w\nb\n');
    assert.equal((await sh(p, "sed '1a w x\n2i\\\nr y' f")).out, 'a\nw x\nr y\nb\n');
    assert.equal((await sh(p, "sed -e 'y/ab/rw/;$q5'")).status, 0);
  });

  it('as root, toybox runs as nobody in an empty private directory and cannot write the lab files', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const box = await toyboxSandbox();
    assert.equal(box.uid, TOYBOX_UID);
    assert.equal(box.gid, TOYBOX_UID);
    const st = statSync(box.cwd);
    assert.deepEqual([st.uid, st.mode & 0o777], [TOYBOX_UID, 0o700]);
    assert.deepEqual(readdirSync(box.cwd), []);
    // A w command that got past the checks (runToybox itself checks nothing) meets the kernel.
    const labDir = mkdtempSync(join(tmpdir(), 'phonehome-lab-'));
    const err = new CollectOutStream();
    const ctx = {
      signal: new AbortController().signal,
      stdout: new CollectOutStream(),
      stderr: err,
    } as unknown as CommandContext;
    const code = await runToybox(ctx, ['sed', `w ${labDir}/x`], { input: [Buffer.from('a\n')] });
    assert.notEqual(code, 0);
    assert.match(err.text(), /Permission denied/);
    assert.equal(existsSync(join(labDir, 'x')), false);
    rmSync(labDir, { recursive: true });
  });

  it('sed: a missing final newline is added between inputs, never after the last', async () => {
    const p = phone();
    await sh(p, 'printf "a" > f; printf "b" > g; : > e');
    assert.equal((await sh(p, 'sed p f e g')).out, 'a\na\nb\nb');
    assert.equal((await sh(p, 'sed p f - g', 'x')).out, 'a\na\nx\nx\nb\nb');
    assert.equal((await sh(p, 'sed p g -', 'x')).out, 'b\nb\nx\nx');
  });

  it('expr STR : RE goes through toybox', async () => {
    const p = phone();
    assert.equal((await sh(p, "expr abcabc : 'a\\(b\\)c'")).out, 'b\n');
    assert.equal((await sh(p, "expr abcabc : 'a*b'")).out, '2\n');
    assert.deepEqual(await sh(p, "expr xyz : 'a'"), { status: 1, out: '0\n', err: '' });
    assert.equal((await sh(p, `expr ${'a'.repeat(3000)}b : '\\(a*\\)*$'`)).status, 1);
    assert.deepEqual(await sh(p, "expr x : '\\('"), { status: 2, out: '', err: 'expr: bad regex\n' });
    // A match of the whole string counts its length; a group gives its text.
    assert.deepEqual(await sh(p, 'expr abc : abc'), { status: 0, out: '3\n', err: '' });
    assert.deepEqual(await sh(p, "expr 123 : '[0-9]*$'"), { status: 0, out: '3\n', err: '' });
    assert.deepEqual(await sh(p, "expr abc : 'x*'"), { status: 1, out: '0\n', err: '' });
    assert.deepEqual(await sh(p, "expr abc : '\\(a.*\\)'"), { status: 0, out: 'abc\n', err: '' });
    assert.deepEqual(await sh(p, "expr abc : 'a\\(x*\\)'"), { status: 1, out: '\n', err: '' });
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
