import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Vfs } from '../../../../src/virtual/os/vfs.ts';
import { coreutils } from '../../../../src/virtual/shell/coreutils.ts';
import { runScript, ShellSession } from '../../../../src/virtual/shell/interpreter.ts';
import { parse, ShellSyntaxError } from '../../../../src/virtual/shell/parser.ts';
import { BufferInStream, CollectOutStream, Pipe } from '../../../../src/virtual/shell/streams.ts';
import type { VirtualPhone } from '../../../../src/virtual/phone.ts';
import {
  BrokenPipeError,
  type CommandContext,
  type CommandTable,
  type InStream,
  type OutStream,
} from '../../../../src/virtual/commands/types.ts';

const SHELL = 2000;

/** Commands standing in for the Android ones (another module implements the real ones). */
const testCommands: CommandTable = {
  async getprop(ctx) {
    const values: Record<string, string> = { 'sys.boot_completed': '1', 'ro.product.model': 'Redmi Note 8' };
    await ctx.stdout.write(`${values[ctx.argv[1] ?? ''] ?? ''}\n`);
    return 0;
  },
  async argv(ctx) {
    await ctx.stdout.write(`${JSON.stringify(ctx.argv.slice(1))}\n`);
    return 0;
  },
  async pm(ctx) {
    await ctx.stdout.write(`${JSON.stringify(ctx.argv)}\n`);
    return 0;
  },
  async showenv(ctx) {
    await ctx.stdout.write(
      `${ctx.argv
        .slice(1)
        .map((k) => `${k}=${ctx.env.get(k) ?? '<unset>'}`)
        .join(' ')}\n`,
    );
    return 0;
  },
  async whoami(ctx) {
    await ctx.stdout.write(`${ctx.uid === 0 ? 'root' : 'shell'}\n`);
    return 0;
  },
  async su(ctx) {
    const i = ctx.argv.indexOf('-c');
    return ctx.runShell(i >= 0 ? (ctx.argv[i + 1] ?? '') : 'true', { uid: 0 });
  },
  async boom() {
    throw new Error('kaboom');
  },
  /** Just enough of `mount -t tmpfs tmpfs DIR` for the CA-install workflow. */
  async mount(ctx) {
    const [, t, type, source, target] = ctx.argv;
    if (t !== '-t' || !type || !source || !target) return 1;
    ctx.phone.fs.mount({ source, target, type: type === 'tmpfs' ? 'tmpfs' : 'bind', uid: ctx.uid });
    return 0;
  },
  async logcat(ctx) {
    await ctx.stdout.write(`logcat ${ctx.argv.slice(1).join(' ')} tags=${ctx.env.get('ANDROID_LOG_TAGS')}\n`);
    return 0;
  },
};

function makePhone(fs = new Vfs()): VirtualPhone {
  const phone = {
    fs,
    lookupCommand(name: string) {
      const base = name.startsWith('/') ? name.slice(name.lastIndexOf('/') + 1) : name;
      if (name.startsWith('/') && !fs.exists(name)) return undefined;
      return testCommands[base] ?? coreutils[base];
    },
  };
  return phone as unknown as VirtualPhone;
}

interface RunResult {
  status: number;
  out: string;
  err: string;
}

async function run(
  script: string,
  opts: {
    phone?: VirtualPhone;
    uid?: number;
    stdin?: string | InStream;
    signal?: AbortSignal;
    stdout?: OutStream;
  } = {},
): Promise<RunResult> {
  const out = new CollectOutStream();
  const err = new CollectOutStream();
  const stdin =
    typeof opts.stdin === 'string' || opts.stdin === undefined
      ? new BufferInStream(opts.stdin ?? '')
      : opts.stdin;
  const status = await runScript(script, {
    phone: opts.phone ?? makePhone(),
    env: new Map([
      ['PATH', '/system/bin'],
      ['HOME', '/'],
      ['TMPDIR', '/data/local/tmp'],
    ]),
    cwd: '/',
    uid: opts.uid ?? SHELL,
    stdin,
    stdout: opts.stdout ?? out,
    stderr: err,
    signal: opts.signal ?? new AbortController().signal,
  });
  return { status, out: out.text(), err: err.text() };
}

/** Runs and asserts status 0 and no stderr; returns stdout. */
async function ok(script: string, opts: Parameters<typeof run>[1] = {}): Promise<string> {
  const r = await run(script, opts);
  assert.equal(r.err, '', `stderr of ${script}`);
  assert.equal(r.status, 0, `status of ${script}`);
  return r.out;
}

describe('sh', () => {
  describe('quoting, as adb sends it', () => {
    it('runs a plain command line', async () => {
      assert.equal(await ok('getprop ro.product.model'), 'Redmi Note 8\n');
    });

    it('passes single-quoted arguments literally', async () => {
      assert.equal(
        await ok(`pm 'install' '/data/local/tmp/x.apk'`),
        '["pm","install","/data/local/tmp/x.apk"]\n',
      );
      assert.equal(await ok(`argv '$HOME' 'a b' '' 'it'\\''s'`), '["$HOME","a b","","it\'s"]\n');
    });

    it('expands in double quotes and handles escapes', async () => {
      assert.equal(
        await ok('X=world; argv "hello $X" "${X}s" "\\$X" "a\\"b" "back\\\\slash"'),
        '["hello world","worlds","$X","a\\"b","back\\\\slash"]\n',
      );
      assert.equal(await ok('argv a\\ b \\$HOME \\\\'), '["a b","$HOME","\\\\"]\n');
      assert.equal(await ok('argv "$?" "$#"'), '["0","0"]\n');
    });

    it('splits unquoted expansions, keeps quoted ones whole', async () => {
      assert.equal(await ok('X="a  b"; argv $X "$X"'), '["a","b","a  b"]\n');
      assert.equal(await ok('E=; argv $E "$E" x'), '["","x"]\n');
    });

    it('handles comments, newlines and line continuation', async () => {
      assert.equal(await ok('echo a # comment\necho b\\\nc\n# only a comment'), 'a\nbc\n');
      assert.equal(await ok('argv a#b'), '["a#b"]\n');
    });

    it('supports $(…), backquotes, arithmetic and ${…} operators', async () => {
      assert.equal(await ok('echo "[$(echo hi | tr a-z A-Z)]" `echo x`'), '[HI] x\n');
      assert.equal(await ok('i=3; echo $((i * 2 + 1)) $((i > 2 ? 10 : 20))'), '7 10\n');
      assert.equal(
        await ok('f=/a/b/c.tar.gz; echo ${f##*/} ${f%.*} ${f#*.} ${#f} ${u:-dflt} ${f:+set}'),
        'c.tar.gz /a/b/c.tar tar.gz 13 dflt set\n',
      );
      assert.equal(
        await ok('echo ${v:=assigned}; echo $v; p=a.b.c; echo ${p//./-}'),
        'assigned\nassigned\na-b-c\n',
      );
    });

    it('expands braces like mksh', async () => {
      assert.equal(await ok('echo {a,b} x{1,2{3,4}}y "{q,r}" {} a{,b}'), 'a b x1y x23y x24y {q,r} {} a ab\n');
    });

    it('expands globs against the filesystem', async () => {
      const phone = makePhone();
      await ok('cd /data/local/tmp && touch a.apk b.apk c.txt && echo *.apk && echo "*.apk" && echo z*', {
        phone,
      });
      assert.equal(
        await ok('echo /data/local/tmp/*.apk', { phone }),
        '/data/local/tmp/a.apk /data/local/tmp/b.apk\n',
      );
    });
  });

  describe('lists and status', () => {
    it('runs ; && || ! and sets $?', async () => {
      assert.equal(await ok('true && echo a; false && echo b; false || echo c; true || echo d'), 'a\nc\n');
      assert.equal(await ok('false; echo $?; ! false; echo $?; (exit 7); echo $?'), '1\n0\n7\n');
    });

    it('exit N is masked to 8 bits', async () => {
      assert.equal((await run('exit 3')).status, 3);
      assert.equal((await run('exit 300')).status, 44);
      assert.equal((await run('echo a; exit 2; echo b')).out, 'a\n');
      assert.equal((await run('false')).status, 1);
      assert.equal((await run('false; exit')).status, 1);
    });

    it('reports unknown commands with mksh wording and 127', async () => {
      const r = await run('nosuchcmd --x');
      assert.equal(r.status, 127);
      assert.equal(r.err, '/system/bin/sh: nosuchcmd: inaccessible or not found\n');
      assert.equal((await run('/system/bin/ls /')).status, 127);
    });

    it('reports syntax errors without throwing', async () => {
      for (const s of [
        'if true; then',
        'echo "unterminated',
        'fi',
        'a && || b',
        'case x in',
        '( echo',
        'echo ${',
      ]) {
        const r = await run(s);
        assert.ok(r.status === 1 || r.status === 2, s);
        assert.match(r.err, /^\/system\/bin\/sh: syntax error: /, s);
      }
      assert.throws(() => parse('for x in; do'), ShellSyntaxError);
    });

    it('a command that throws gives status 1 and a message, not a crash', async () => {
      const orig = console.error;
      const logged: unknown[] = [];
      console.error = (...a: unknown[]) => void logged.push(a);
      try {
        const r = await run('boom; echo after $?');
        assert.equal(r.err, '/system/bin/sh: boom: kaboom\n');
        assert.equal(r.out, 'after 1\n');
        assert.equal(logged.length, 1);
      } finally {
        console.error = orig;
      }
    });
  });

  describe('compound commands', () => {
    it('if / elif / else', async () => {
      const s = (n: number) =>
        `n=${n}; if [ $n -lt 1 ]; then echo low; elif [ $n -eq 1 ]; then echo one; else echo high; fi`;
      assert.equal(await ok(s(0)), 'low\n');
      assert.equal(await ok(s(1)), 'one\n');
      assert.equal(await ok(s(5)), 'high\n');
    });

    it('for, while, until, break and continue', async () => {
      assert.equal(await ok('for x in a "b c" d; do echo "<$x>"; done'), '<a>\n<b c>\n<d>\n');
      assert.equal(await ok('i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo $i; done'), '1\n2\n3\n');
      assert.equal(await ok('i=0; until [ $i -ge 2 ]; do i=$((i+1)); done; echo $i'), '2\n');
      assert.equal(
        await ok('for i in 1 2 3 4; do [ $i = 2 ] && continue; [ $i = 4 ] && break; echo $i; done'),
        '1\n3\n',
      );
    });

    it('case with *, ? and | patterns', async () => {
      const s = (w: string) =>
        `case ${w} in a?c) echo three;; x*|y*) echo xy;; "*") echo star;; *) echo other;; esac`;
      assert.equal(await ok(s('abc')), 'three\n');
      assert.equal(await ok(s('yes')), 'xy\n');
      assert.equal(await ok(s("'*'")), 'star\n');
      assert.equal(await ok(s('zz')), 'other\n');
    });

    it('subshells, groups and functions', async () => {
      assert.equal(await ok('X=1; (X=2; echo $X); echo $X; { X=3; echo $X; }; echo $X'), '2\n1\n3\n3\n');
      assert.equal(await ok('greet() { echo "hi $1"; return 4; }; greet you; echo $?'), 'hi you\n4\n');
    });

    it('Appium existence check', async () => {
      const phone = makePhone();
      assert.equal(
        (await run(`[ -e '/data/local/tmp/mock_apps.json' ] && echo __PASS__`, { phone })).out,
        '',
      );
      await ok('echo {} > /data/local/tmp/mock_apps.json', { phone });
      assert.equal(
        await ok(`[ -e '/data/local/tmp/mock_apps.json' ] && echo __PASS__`, { phone }),
        '__PASS__\n',
      );
    });
  });

  describe('pipes', () => {
    it('connects commands; the status is the last one', async () => {
      assert.equal(await ok('echo hello | tr a-z A-Z | cat'), 'HELLO\n');
      assert.equal((await run('false | true')).status, 0);
      assert.equal((await run('true | false')).status, 1);
      assert.equal(await ok('printf "b\\na\\nb\\n" | sort | uniq -c'), '      1 a\n      2 b\n');
    });

    it('moves 1 MB through cat | cat intact', async () => {
      const data = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 255;
      const out = new CollectOutStream();
      const r = await run('cat | cat | cat', { stdin: new BufferInStream(data), stdout: out });
      assert.equal(r.status, 0);
      assert.ok(out.buffer().equals(data));
    });

    it('yes | head -n 3 terminates (the writer gets a broken pipe)', async () => {
      assert.equal(await ok('yes | head -n 3'), 'y\ny\ny\n');
      assert.equal(await ok('yes abc | head -1'), 'abc\n');
      const phone = makePhone();
      await ok('seq 1 100000 > /data/local/tmp/big', { phone });
      assert.equal(await ok('cat /data/local/tmp/big | head -n 2', { phone }), '1\n2\n');
    });

    it('a closed pipe rejects writes with BrokenPipeError', async () => {
      const p = new Pipe(16);
      await p.write('0123456789');
      const pending = p.write('abcdefghijklmnopqrstuvwxyz');
      p.closeRead();
      await assert.rejects(pending, BrokenPipeError);
      await assert.rejects(p.write('x'), BrokenPipeError);
    });

    it('streams: the reader sees data before the writer finishes', async () => {
      const p = new Pipe(8);
      const reader = (async () => {
        const first = await p.read();
        return first?.toString();
      })();
      void p.write('abc');
      assert.equal(await reader, 'abc');
      p.closeWrite();
      assert.equal(await p.read(), null);
    });
  });

  describe('redirections', () => {
    it('> file, >> file, < file, 2>/dev/null, 2>&1, >&2', async () => {
      const phone = makePhone();
      await ok('cd /data/local/tmp; echo one > f; echo two >> f; cat < f > g', { phone });
      assert.equal(await ok('cat /data/local/tmp/g', { phone }), 'one\ntwo\n');
      assert.equal((await run('ls /nope 2>/dev/null; echo $?', { phone })).out, '1\n');
      const r = await run('ls /nope 2>&1 | cat', { phone });
      assert.equal(r.out, 'ls: /nope: No such file or directory\n');
      assert.equal(r.err, '');
      const r2 = await run('echo to-err >&2; echo to-err2 1>&2', { phone });
      assert.equal(r2.out, '');
      assert.equal(r2.err, 'to-err\nto-err2\n');
      assert.equal(
        await ok('{ echo a; echo b >&2; } > /data/local/tmp/both 2>&1; cat /data/local/tmp/both', { phone }),
        'a\nb\n',
      );
      assert.equal(await ok('echo x &> /dev/null; echo $?', { phone }), '0\n');
    });

    it('fails like mksh on unwritable and missing files', async () => {
      const r = await run('echo hi > /system/x');
      assert.equal(r.status, 1);
      assert.equal(r.err, "/system/bin/sh: can't create /system/x: Read-only file system\n");
      const r2 = await run('cat < /nope');
      assert.equal(r2.status, 1);
      assert.equal(r2.err, "/system/bin/sh: can't open /nope: No such file or directory\n");
      const r3 = await run('echo x > /data/system/y');
      assert.equal(r3.err, "/system/bin/sh: can't create /data/system/y: Permission denied\n");
    });

    it('here-documents and here-strings', async () => {
      assert.equal(await ok('X=v; cat <<EOF\nline $X\n  two\nEOF\necho after'), 'line v\n  two\nafter\n');
      assert.equal(await ok("cat <<'EOF'\n$X `x`\nEOF"), '$X `x`\n');
      assert.equal(await ok('cat <<-EOF\n\tindented\n\tEOF'), 'indented\n');
      assert.equal(await ok('tr a-z A-Z <<< hello'), 'HELLO\n');
    });

    it('exec with only redirections applies them to the shell', async () => {
      const r = await run('exec 2>/dev/null; ls /nope; echo done');
      assert.equal(r.err, '');
      assert.equal(r.out, 'done\n');
    });
  });

  describe('builtins', () => {
    it('cd, pwd and relative paths', async () => {
      assert.equal(
        await ok('cd /data/local/tmp && pwd && cd .. && pwd; cd; pwd'),
        '/data/local/tmp\n/data/local\n/\n',
      );
      assert.equal(
        await ok('cd /sdcard && pwd && cd Download && pwd -P'),
        '/sdcard\n/storage/emulated/0/Download\n',
      );
      const r = await run('cd /nope');
      assert.equal(r.err, '/system/bin/sh: cd: /nope: No such file or directory\n');
      assert.notEqual(r.status, 0);
    });

    it('export, unset and per-command assignments reach commands', async () => {
      assert.equal(
        await ok('A=1; showenv A; export A; showenv A; B=2 showenv B; showenv B; unset A; showenv A'),
        'A=<unset>\nA=1\nB=2\nB=<unset>\nA=<unset>\n',
      );
      assert.equal(await ok('export C=3 D="x y"; showenv C D'), 'C=3 D=x y\n');
    });

    it('exec runs a command (adb logcat)', async () => {
      const r = await run(`export ANDROID_LOG_TAGS="''"; exec logcat '-d'; echo not-reached`);
      assert.equal(r.out, "logcat -d tags=''\n");
      assert.equal(r.status, 0);
    });

    it('sh -c, eval, su -c (runShell) and sh reading stdin', async () => {
      assert.equal(await ok(`sh -c 'echo $0 $1; exit 5' name arg; echo $?`), 'name arg\n5\n');
      assert.equal(await ok(`eval 'X=5; echo $X'; echo $X`), '5\n5\n');
      assert.equal(await ok(`whoami; su -c 'whoami; cd /data; pwd'; pwd`), 'shell\nroot\n/data\n/\n');
      assert.equal(await ok('sh', { stdin: 'X=1\necho $X\nif true\nthen echo multi\nfi\n' }), '1\nmulti\n');
    });

    it('type and command -v', async () => {
      assert.equal(
        await ok('command -v ls; command -v cd; type ls'),
        '/system/bin/ls\ncd\nls is /system/bin/ls\n',
      );
      const r = await run('command -v nope');
      assert.equal(r.status, 1);
    });

    it('test / [ forms', async () => {
      const t = async (expr: string) => (await run(`[ ${expr} ]`)).status;
      assert.equal(await t('-d /data/local/tmp'), 0);
      assert.equal(await t('-f /data/local/tmp'), 1);
      assert.equal(await t('-e /nope'), 1);
      assert.equal(await t('-w /system'), 1);
      assert.equal(await t('-r /data/local/tmp'), 0);
      assert.equal(await t('-x /data/local/tmp'), 0);
      assert.equal(await t('-z ""'), 0);
      assert.equal(await t('-n ""'), 1);
      assert.equal(await t('abc = abc'), 0);
      assert.equal(await t('abc != abc'), 1);
      assert.equal(await t('3 -lt 10'), 0);
      assert.equal(await t('10 -le 3'), 1);
      assert.equal(await t('! -e /nope'), 0);
      assert.equal(await t('-e / -a -e /nope'), 1);
      assert.equal(await t('-e / -o -e /nope'), 0);
      assert.equal(await t('x'), 0);
      assert.equal(await t(''), 1);
      assert.equal((await run('[ 1 -eq 1')).status, 2);
      assert.equal((await run('test -s /dev/null')).status, 1);
      const r = await run('[ a -eq 1 ]');
      assert.equal(r.status, 2);
    });

    it('read splits lines into variables', async () => {
      assert.equal(
        await ok('printf "a b c\\nd e\\n" | while read x y; do echo "[$x|$y]"; done'),
        '[a|b c]\n[d|e]\n',
      );
      assert.equal(await ok('IFS=: read a b <<< "1:2:3"; echo $a-$b'), '1-2:3\n');
    });

    it('set -e stops at the first failure; set -- sets arguments', async () => {
      const r = await run('set -e; echo a; false; echo b');
      assert.equal(r.out, 'a\n');
      assert.equal(r.status, 1);
      assert.equal(await ok('set -e; false || true; if false; then :; fi; echo ok'), 'ok\n');
      assert.equal(await ok('set -- x "y z"; echo $# $2'), '2 y z\n');
    });

    it('echo interprets escapes like mksh; -n; printf', async () => {
      assert.equal(await ok("echo 'a\\tb'; echo -n no; echo -E 'c\\n'"), 'a\tb\nnoc\\n\n');
      assert.equal(await ok("printf '%s=%d %x %5.1f|%-3s|\\n' k 42 255 3.14159 ab"), 'k=42 ff   3.1|ab |\n');
    });
  });

  describe('abort', () => {
    it('stops the adbkit boot-completed loop when the client hangs up', async () => {
      const ac = new AbortController();
      let lines = '';
      const stdout: OutStream = {
        async write(chunk) {
          lines += Buffer.from(chunk).toString();
          if (lines.length >= 2) ac.abort();
        },
      };
      // A sleep that did not wake on abort would run into the test's timeout and fail it.
      const r = await run('while getprop sys.boot_completed 2>/dev/null; do sleep 1000; done', {
        signal: ac.signal,
        stdout,
      });
      assert.equal(lines, '1\n');
      assert.notEqual(r.status, 0);
    });

    it('stops a loop of builtins and a yes with nobody reading', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await run('while :; do :; done', { signal: ac.signal });
      const ac2 = new AbortController();
      setTimeout(() => ac2.abort(), 50);
      await run('yes > /dev/null', { signal: ac2.signal });
    });

    it('stops when the stdout consumer is gone (broken pipe)', async () => {
      let n = 0;
      const stdout: OutStream = {
        async write() {
          if (++n > 3) throw new BrokenPipeError();
        },
      };
      const r = await run('yes', { stdout });
      assert.equal(r.status, 141);
      assert.equal(r.err, '');
    });
  });

  describe('core utilities', () => {
    let phone: VirtualPhone;
    beforeEach(() => {
      phone = makePhone();
    });
    const sh = (s: string, uid = SHELL) => run(s, { phone, uid });
    const good = (s: string, uid = SHELL) => ok(s, { phone, uid });

    it('ls: -l format, -a, -d, -1 and missing files', async () => {
      await good('cd /data/local/tmp && echo 1234 > f && mkdir d && ln -s f l');
      const lines = (await good('ls -l /data/local/tmp')).split('\n');
      assert.match(lines[0]!, /^total \d+$/);
      assert.match(lines[1]!, /^drwxr-xr-x 2 shell shell 4096 \d{4}-\d\d-\d\d \d\d:\d\d d$/);
      assert.match(lines[2]!, /^-rw-r--r-- 1 shell shell {4}5 \d{4}-\d\d-\d\d \d\d:\d\d f$/);
      assert.match(lines[3]!, /^lrwxrwxrwx 1 shell shell {4}1 .* l -> f$/);
      assert.equal(await good('ls /data/local/tmp'), 'd\nf\nl\n');
      assert.equal(await good('ls -a /data/local/tmp'), '.\n..\nd\nf\nl\n');
      assert.match(
        await good('ls -ld /data/local/tmp'),
        /^drwxrwx--x 3 shell shell 4096 .* \/data\/local\/tmp\n$/,
      );
      const r = await sh('ls /x');
      assert.equal(r.err, 'ls: /x: No such file or directory\n');
      assert.equal(r.status, 1);
      assert.equal((await sh('ls /data')).err, 'ls: /data: Permission denied\n');
      assert.match(await good('ls -lZ /system'), /u:object_r:system_file:s0/);
    });

    it('mkdir -p / -m, rmdir, rm -rf', async () => {
      await good('mkdir -p /data/local/tmp/a/b/c && mkdir -m 700 /data/local/tmp/m');
      assert.match(await good('ls -ld /data/local/tmp/m'), /^drwx------ /);
      assert.equal((await sh('mkdir /data/local/tmp/a')).err, "mkdir: '/data/local/tmp/a': File exists\n");
      assert.equal(
        (await sh('rmdir /data/local/tmp/a')).err,
        'rmdir: /data/local/tmp/a: Directory not empty\n',
      );
      await good('rm -rf /data/local/tmp/a /data/local/tmp/none');
      assert.equal((await sh('ls /data/local/tmp/a')).status, 1);
      assert.equal(
        (await sh('rm /data/local/tmp/none')).err,
        'rm: /data/local/tmp/none: No such file or directory\n',
      );
      assert.equal((await sh('mkdir /system/foo')).err, "mkdir: '/system/foo': Read-only file system\n");
    });

    it('cp, mv, touch, chmod, chown, chcon', async () => {
      await good(
        'cd /data/local/tmp && echo data > a && cp a b && mv b c && mkdir d && cp a c d/ && cp -r d e',
      );
      assert.equal(await good('cd /data/local/tmp && cat c e/a e/c && ls'), 'data\ndata\ndata\na\nc\nd\ne\n');
      await good(
        'touch /data/local/tmp/t && chmod 755 /data/local/tmp/t && chmod go-x,u+s /data/local/tmp/t',
      );
      assert.match(await good('ls -l /data/local/tmp/t'), /^-rwsr--r-- /);
      const r = await sh('chown root:root /data/local/tmp/t');
      assert.equal(r.status, 1);
      assert.match(r.err, /Operation not permitted/);
      await good('chown system:shell /data/local/tmp/t', 0);
      assert.match(await good('ls -l /data/local/tmp/t'), / system shell /);
      const c = await sh('chcon u:object_r:system_file:s0 /data/local/tmp/a');
      assert.equal(
        c.err,
        "chcon: '/data/local/tmp/a' to u:object_r:system_file:s0: Operation not permitted\n",
      );
      await good('chcon u:object_r:system_file:s0 /data/local/tmp/a', 0);
      assert.match(
        await good('ls -Z /data/local/tmp/a'),
        /^u:object_r:system_file:s0 \/data\/local\/tmp\/a$/m,
      );
      assert.equal(
        (await sh('cp /nope /data/local/tmp/')).err,
        "cp: bad '/nope': No such file or directory\n",
      );
    });

    it('ln -s, readlink, stat, find, basename, dirname', async () => {
      await good('cd /data/local/tmp && mkdir -p x/y && touch x/y/z.txt x/w.log && ln -s x/y/z.txt link');
      assert.equal(
        await good('readlink /data/local/tmp/link; readlink -f /data/local/tmp/link'),
        'x/y/z.txt\n/data/local/tmp/x/y/z.txt\n',
      );
      assert.equal(
        await good('cd /data/local/tmp && find x -name "*.txt"; find x -type d'),
        'x/y/z.txt\nx\nx/y\n',
      );
      assert.equal(
        await good('stat -c "%a %U %s %F" /data/local/tmp/x/w.log'),
        '644 shell 0 regular empty file\n',
      );
      assert.equal(await good('basename /a/b/c.apk .apk; dirname /a/b/c.apk; dirname c'), 'c\n/a/b\n.\n');
    });

    it('grep options and status', async () => {
      const input = 'alpha\nBeta\ngamma\nbeta2\n';
      const g = (args: string) => run(`grep ${args}`, { phone, stdin: input });
      assert.equal((await g('beta')).out, 'beta2\n');
      assert.equal((await g('-i beta')).out, 'Beta\nbeta2\n');
      assert.equal((await g('-v a')).out, '');
      assert.equal((await g('-c a')).out, '4\n');
      assert.equal((await g('-n ^g')).out, '3:gamma\n');
      assert.equal((await g('-E "^(alpha|gamma)$"')).out, 'alpha\ngamma\n');
      assert.equal((await g('-F "a.p"')).status, 1);
      assert.equal((await g('-e alpha -e gamma')).out, 'alpha\ngamma\n');
      assert.equal((await g('"bet\\(a\\)2"')).out, 'beta2\n');
      const q = await g('-q gamma');
      assert.equal(q.out, '');
      assert.equal(q.status, 0);
      assert.equal((await g('zzz')).status, 1);
      assert.equal((await sh('grep x /nope')).status, 2);
    });

    it('head, tail, wc, sort, uniq, cut, tr, sed', async () => {
      const nums = 'seq 1 10';
      assert.equal(await good(`${nums} | head -n 2`), '1\n2\n');
      assert.equal(await good(`${nums} | head -3`), '1\n2\n3\n');
      assert.equal(await good(`${nums} | tail -n 2`), '9\n10\n');
      assert.equal(await good(`${nums} | tail -n +9`), '9\n10\n');
      assert.equal(await good('echo hello | head -c 3'), 'hel');
      assert.equal(await good(`${nums} | wc -l`), '10\n');
      assert.equal(await good('printf "a b\\nc\\n" | wc'), '      2       3       6\n');
      assert.equal(await good('printf "10\\n9\\n100\\n" | sort -n'), '9\n10\n100\n');
      assert.equal(await good('printf "b\\na\\nb\\n" | sort -u'), 'a\nb\n');
      assert.equal(await good('printf "b\\na\\n" | sort -r'), 'b\na\n');
      assert.equal(await good('printf "a\\na\\nb\\n" | uniq'), 'a\nb\n');
      assert.equal(await good('echo a:b:c:d | cut -d: -f2,4'), 'b:d\n');
      assert.equal(await good('echo hello | cut -c2-4'), 'ell\n');
      assert.equal(await good('echo hello | tr -d l; echo aabb | tr -s ab'), 'heo\nab\n');
      assert.equal(
        await good("echo 'foo foo' | sed 's/foo/bar/g'; echo abc | sed -n 's/b/B/p'"),
        'bar bar\naBc\n',
      );
      assert.equal(await good(`${nums} | sed -n '2p;4p'`), '2\n4\n');
      await good("cd /data/local/tmp && echo 'key=old' > cfg && sed -i 's/old/new/' cfg");
      assert.equal(await good('cat /data/local/tmp/cfg'), 'key=new\n');
    });

    it('tee, xargs, checksums, base64, seq, date, uname, env, sleep', async () => {
      assert.equal(await good('echo hi | tee /data/local/tmp/t; cat /data/local/tmp/t'), 'hi\nhi\n');
      assert.equal(await good('echo a b c | xargs -n 1 echo x'), 'x a\nx b\nx c\n');
      const md5 = createHash('md5').update('hello\n').digest('hex');
      assert.equal(await good('echo hello | md5sum'), `${md5}  -\n`);
      await good('echo hello > /data/local/tmp/h');
      const sha = createHash('sha256').update('hello\n').digest('hex');
      assert.equal(await good('sha256sum /data/local/tmp/h'), `${sha}  /data/local/tmp/h\n`);
      assert.equal(await good('echo hello | base64; echo aGVsbG8K | base64 -d'), 'aGVsbG8K\nhello\n');
      assert.equal(await good('seq 3; seq 2 2 6 | tr "\\n" ,'), '1\n2\n3\n2,4,6,');
      const now = Number((await good('date +%s')).trim());
      assert.ok(Math.abs(now - Date.now() / 1000) < 5);
      assert.equal(await good('uname -m; uname'), 'aarch64\nLinux\n');
      assert.match(await good('uname -a'), /^Linux \S+ \S+ .* aarch64 Toybox\n$/);
      assert.match(await good('X=1 env'), /^X=1$/m);
      assert.equal(await good('env -i Y=2 showenv Y PATH'), 'Y=2 PATH=<unset>\n');
      const t0 = Date.now();
      await good('sleep 0.05');
      assert.ok(Date.now() - t0 >= 40);
    });

    it('cat /proc/mounts, cat of many files and errors', async () => {
      assert.match(await good('cat /proc/mounts'), /^\/dev\/block\/dm-0 \/ ext4 ro/);
      await good('echo a > /data/local/tmp/1; echo b > /data/local/tmp/2');
      assert.equal(await good('cat /data/local/tmp/1 - /data/local/tmp/2 <<< mid'), 'a\nmid\nb\n');
      const r = await sh('cat /nope /data/local/tmp');
      assert.equal(r.err, 'cat: /nope: No such file or directory\ncat: /data/local/tmp: Is a directory\n');
      assert.equal(r.status, 1);
    });

    it('runs a script file with sh FILE and ./FILE', async () => {
      await good("printf 'echo script $1\\nexit 4\\n' > /data/local/tmp/s.sh");
      const r = await sh('sh /data/local/tmp/s.sh arg');
      assert.equal(r.out, 'script arg\n');
      assert.equal(r.status, 4);
      assert.equal((await sh('cd /data/local/tmp && ./s.sh')).status, 126);
      await good('chmod +x /data/local/tmp/s.sh');
      assert.equal((await sh('cd /data/local/tmp && ./s.sh x')).out, 'script x\n');
    });
  });

  describe('workflows', () => {
    it('replaces the system CA store with a tmpfs copy (HTTP Toolkit style)', async () => {
      const phone = makePhone();
      phone.fs.provision(() => {
        phone.fs.writeFile('/system/etc/security/cacerts/a.0', 'A', { mkdirs: true });
      });
      phone.fs.writeFile('/data/local/tmp/cert.pem', 'MINE', { uid: SHELL });
      const denied = await run('cp /data/local/tmp/cert.pem /system/etc/security/cacerts/x.0', {
        phone,
        uid: 0,
      });
      assert.equal(denied.err, "cp: '/system/etc/security/cacerts/x.0': Read-only file system\n");
      const script = `set -e
        mkdir -p -m 700 /data/local/tmp/ca-copy
        cp /system/etc/security/cacerts/* /data/local/tmp/ca-copy/
        mount -t tmpfs tmpfs /system/etc/security/cacerts
        mv /data/local/tmp/ca-copy/* /system/etc/security/cacerts/
        cp /data/local/tmp/cert.pem /system/etc/security/cacerts/c8750f0d.0
        chown root:root /system/etc/security/cacerts/*
        chmod 644 /system/etc/security/cacerts/*
        chcon u:object_r:system_file:s0 /system/etc/security/cacerts/*
        rm -r /data/local/tmp/ca-copy
        echo done`;
      assert.equal(await ok(script, { phone, uid: 0 }), 'done\n');
      assert.equal(await ok('ls /system/etc/security/cacerts', { phone }), 'a.0\nc8750f0d.0\n');
      assert.match(
        await ok('grep cacerts /proc/mounts', { phone }),
        /^tmpfs \/system\/etc\/security\/cacerts tmpfs rw,/,
      );
      phone.fs.onReboot();
      assert.equal(await ok('ls /system/etc/security/cacerts', { phone }), 'a.0\n');
    });

    it('background jobs, wait and the EXIT trap', async () => {
      assert.equal(await ok('sleep 0.05 && echo bg & echo fg; wait; echo end'), 'fg\nbg\nend\n');
      const r = await run("trap 'echo cleanup' EXIT; echo work; exit 3");
      assert.equal(r.out, 'work\ncleanup\n');
      assert.equal(r.status, 3);
    });

    it('stat -c with field widths', async () => {
      assert.equal(await ok('stat -c "%5u|%-6U|%04a" /data/local/tmp'), ' 2000|shell |0771\n');
    });
  });

  describe('sessions', () => {
    it('keeps state across run() calls', async () => {
      const out = new CollectOutStream();
      const s = new ShellSession({
        phone: makePhone(),
        env: new Map(),
        cwd: '/',
        uid: SHELL,
        stdin: new BufferInStream(''),
        stdout: out,
        stderr: out,
        signal: new AbortController().signal,
      });
      await s.run('cd /data/local/tmp; X=1');
      await s.run('pwd; echo $X');
      assert.equal(out.text(), '/data/local/tmp\n1\n');
      await s.run('exit 3');
      assert.equal(s.exitStatus, 3);
    });
  });

  describe('fuzz', () => {
    it('random input never throws out of runScript', async function () {
      this.timeout(60000);
      let seed = 12345;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed / 0x7fffffff;
      };
      const alphabet = [
        ...'abcdefxyz019 \t\n;|&<>()[]{}$`\'"\\#*?!=-+/.:%~^,@',
        'if ',
        'then ',
        'fi',
        'while ',
        'do ',
        'done',
        'case ',
        ' in ',
        'esac',
        ';;',
        '$(',
        '${',
        '$((',
        '<<',
        'EOF',
        'echo ',
        'cat ',
        'ls ',
        '>&',
        '2>',
        'for ',
        'x=',
      ];
      const phone = makePhone();
      const orig = console.error;
      console.error = () => undefined;
      try {
        for (let i = 0; i < 1500; i++) {
          let s = '';
          const len = Math.floor(rand() * 40);
          for (let k = 0; k < len; k++) {
            s +=
              rand() < 0.1
                ? String.fromCharCode(Math.floor(rand() * 256))
                : alphabet[Math.floor(rand() * alphabet.length)];
          }
          const status = await runScript(s, {
            phone,
            env: new Map(),
            cwd: '/data/local/tmp',
            uid: i % 2 ? SHELL : 0,
            stdin: new BufferInStream('input\n'),
            stdout: new CollectOutStream(),
            stderr: new CollectOutStream(),
            signal: AbortSignal.timeout(300),
          });
          assert.equal(typeof status, 'number', JSON.stringify(s));
          assert.ok(status >= 0 && status <= 255, JSON.stringify(s));
        }
      } finally {
        console.error = orig;
      }
    });
  });
});

// Silence "unused" lint for the type-only helper import.
export type { CommandContext };
