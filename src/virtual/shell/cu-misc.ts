/** Miscellaneous utilities: sleep, seq, date, env, sh, uname, which, test, timeout, expr … */
import type { CommandContext, CommandFn, CommandTable } from '../commands/types.ts';
import {
  absPath,
  badOption,
  err,
  errText,
  getopt,
  lastValue,
  out,
  phoneTimeZone,
  sleepMs,
  strftime,
} from './cu-common.ts';
import { checkSyntax, ShellSession } from './interpreter.ts';
import { evalTest } from './testexpr.ts';
import { formatPrintf } from './cu-text.ts';
import { runToybox } from './toybox.ts';

function parseDuration(s: string): number | null {
  const m = /^([0-9]*\.?[0-9]+)([smhd]?)$/.exec(s);
  if (!m) return null;
  const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]!]!;
  return Number(m[1]) * mult;
}

async function sleep(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  if (args.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  let total = 0;
  for (const a of args) {
    const d = a === 'infinity' ? 1e9 : parseDuration(a);
    if (d === null) {
      await err(ctx, `Not a number '${a}'`);
      return 1;
    }
    total += d;
  }
  return (await sleepMs(Math.min(total * 1000, 2 ** 31 - 1), ctx.signal)) ? 0 : 130;
}

async function usleep(ctx: CommandContext): Promise<number> {
  const us = Number(ctx.argv[1] ?? 0);
  return (await sleepMs(us / 1000, ctx.signal)) ? 0 : 130;
}

async function seq(ctx: CommandContext): Promise<number> {
  const p = getopt(
    ctx.argv.map((a, i) => (i > 0 && /^-[0-9.]+$/.test(a) ? `\u0000${a}` : a)),
    { flags: 'w', values: 'sf' },
  );
  const args = p.args.map((a) => a.replace(/^\u0000/, ''));
  if (p.bad) return badOption(ctx, p.bad);
  if (args.length < 1 || args.length > 3) {
    await err(ctx, 'Needs 1-3 arguments');
    return 1;
  }
  const nums = args.map(Number);
  if (nums.some((n) => Number.isNaN(n))) {
    await err(ctx, `Not a number '${args[nums.findIndex((n) => Number.isNaN(n))]}'`);
    return 1;
  }
  const [first, inc, last] =
    nums.length === 1
      ? [1, 1, nums[0]!]
      : nums.length === 2
        ? [nums[0]!, 1, nums[1]!]
        : [nums[0]!, nums[1]!, nums[2]!];
  if (inc === 0) {
    await err(ctx, 'Increment is zero');
    return 1;
  }
  const sep = lastValue(p, 's') ?? '\n';
  const fmt = lastValue(p, 'f');
  const decimals = Math.max(...args.map((a) => (a.includes('.') ? a.split('.')[1]!.length : 0)));
  const width = p.flags.has('w')
    ? Math.max(String(first.toFixed(decimals)).length, String(last.toFixed(decimals)).length)
    : 0;
  const items: string[] = [];
  let buf = '';
  const flush = async (final: boolean) => {
    if (items.length === 0) return;
    buf = items.join(sep);
    items.length = 0;
    await out(ctx, final ? `${buf}\n` : `${buf}${sep}`);
  };
  for (let i = 0; ; i++) {
    const v = first + i * inc;
    if (inc > 0 ? v > last + 1e-10 : v < last - 1e-10) break;
    let s = fmt !== undefined ? formatPrintf(fmt, [String(v)]).text : v.toFixed(decimals);
    if (width) s = s.padStart(width, '0');
    items.push(s);
    if (items.length >= 4096) {
      await flush(false);
      if (ctx.signal.aborted) return 130;
    }
  }
  await flush(true);
  return 0;
}

async function date(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: 'uRI',
    values: 'drsD',
    long: { utc: 'u', date: 'd', reference: 'r', set: 's' },
  });
  if (p.bad) return badOption(ctx, p.bad);
  let tz = p.flags.has('u') ? 'UTC' : phoneTimeZone(ctx);
  let when = Date.now();
  const d = lastValue(p, 'd');
  if (d !== undefined) {
    const t = /^@-?[0-9]+(\.[0-9]+)?$/.test(d) ? Number(d.slice(1)) * 1000 : Date.parse(d);
    if (Number.isNaN(t)) {
      await err(ctx, `bad date '${d}'`);
      return 1;
    }
    when = t;
  }
  const r = lastValue(p, 'r');
  if (r !== undefined) {
    const st = ctx.phone.fs.stat(absPath(ctx, r));
    if (!st) {
      await err(ctx, `${r}: No such file or directory`);
      return 1;
    }
    when = st.mtime * 1000;
  }
  let fmt = '%a %b %e %H:%M:%S %Z %Y';
  if (p.flags.has('R')) fmt = '%a, %d %b %Y %H:%M:%S %z';
  if (p.flags.has('I')) fmt = '%Y-%m-%d';
  const setting = lastValue(p, 's') ?? p.args.find((a) => !a.startsWith('+'));
  if (setting !== undefined) {
    if (ctx.uid !== 0) {
      await err(ctx, 'cannot set date: Operation not permitted');
      return 1;
    }
    // Setting the clock is accepted and ignored: the phone follows the host clock.
  }
  const f = p.args.find((a) => a.startsWith('+'));
  if (f !== undefined) fmt = f.slice(1);
  if (tz === '') tz = 'UTC';
  await out(ctx, `${strftime(fmt, when, tz)}\n`);
  return 0;
}

async function basename(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'az', values: 's' });
  const suffix = lastValue(p, 's');
  const names = p.flags.has('a') || suffix !== undefined ? p.args : p.args.slice(0, 1);
  const suf = suffix ?? (p.flags.has('a') ? undefined : p.args[1]);
  if (names.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  let o = '';
  for (const n of names) {
    let b = n.replace(/\/+$/, '');
    if (b === '') b = n.startsWith('/') ? '/' : '';
    else b = b.slice(b.lastIndexOf('/') + 1);
    if (suf && b !== suf && b.endsWith(suf)) b = b.slice(0, -suf.length);
    o += `${b}\n`;
  }
  await out(ctx, o);
  return 0;
}

async function dirname(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  if (args.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  let o = '';
  for (const n of args) {
    let d = n.replace(/\/+$/, '');
    if (d === '') {
      o += n.startsWith('/') ? '/\n' : '.\n';
      continue;
    }
    const i = d.lastIndexOf('/');
    if (i < 0) d = '.';
    else d = d.slice(0, i).replace(/\/+$/, '') || '/';
    o += `${d}\n`;
  }
  await out(ctx, o);
  return 0;
}

/** Runs argv as a command with a different environment (env, nohup, timeout, nice …). */
async function runArgv(
  ctx: CommandContext,
  argv: string[],
  env: Map<string, string>,
  signal = ctx.signal,
): Promise<number> {
  const name = argv[0]!;
  const fn = lookup(ctx, name);
  if (!fn) {
    await err(ctx, `'${name}': No such file or directory`);
    return 127;
  }
  return fn({ ...ctx, argv, env, signal });
}

function lookup(ctx: CommandContext, name: string): CommandFn | undefined {
  if (name === 'sh') return coreSh;
  return ctx.phone.lookupCommand(name.includes('/') && !name.startsWith('/') ? absPath(ctx, name) : name);
}

async function env(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let e = new Map(ctx.env);
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-i' || a === '-') e = new Map();
    else if (a === '-u') e.delete(args[++i] ?? '');
    else if (a === '-0' || a === '--') continue;
    else if (/^[^=]+=/.test(a)) {
      const k = a.slice(0, a.indexOf('='));
      e.set(k, a.slice(k.length + 1));
    } else break;
  }
  const rest = args.slice(i);
  if (rest.length === 0) {
    await out(ctx, [...e].map(([k, v]) => `${k}=${v}\n`).join(''));
    return 0;
  }
  return runArgv(ctx, rest, e);
}

async function printenv(ctx: CommandContext): Promise<number> {
  const names = ctx.argv.slice(1).filter((a) => !a.startsWith('-'));
  if (names.length === 0) {
    await out(ctx, [...ctx.env].map(([k, v]) => `${k}=${v}\n`).join(''));
    return 0;
  }
  let st = 0;
  let o = '';
  for (const n of names) {
    const v = ctx.env.get(n);
    if (v === undefined) st = 1;
    else o += `${v}\n`;
  }
  await out(ctx, o);
  return st;
}

async function pwd(ctx: CommandContext): Promise<number> {
  let p = ctx.cwd;
  if (ctx.argv.includes('-P')) {
    try {
      p = ctx.phone.fs.realpath(p, ctx.uid);
    } catch {
      // keep the logical path
    }
  }
  await out(ctx, `${p}\n`);
  return 0;
}

/**
 * `sh -c SCRIPT [NAME [ARGS]]`, `sh FILE [ARGS]`, or `sh` reading commands from stdin (each
 * complete command runs as soon as its line arrives, so an interactive client works).
 */
async function coreSh(ctx: CommandContext): Promise<number> {
  const argv = ctx.argv;
  let i = 1;
  let script: string | undefined;
  let fromStdin = false;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c') {
      script = argv[++i];
      if (script === undefined) {
        await ctx.stderr.write(`/system/bin/sh: -c: option requires an argument\n`);
        return 1;
      }
      i++;
      break;
    }
    if (a === '-s') {
      fromStdin = true;
      continue;
    }
    if (a === '--') {
      i++;
      break;
    }
    if (/^[-+][a-zA-Z]+$/.test(a)) {
      if (a.slice(1).includes('c')) {
        script = argv[++i];
        i++;
        break;
      }
      continue;
    }
    break;
  }
  const base = {
    phone: ctx.phone,
    env: ctx.env,
    cwd: ctx.cwd,
    uid: ctx.uid,
    stdin: ctx.stdin,
    stdout: ctx.stdout,
    stderr: ctx.stderr,
    signal: ctx.signal,
  };
  if (script !== undefined) {
    const name = argv[i];
    const session = new ShellSession({ ...base, argv0: name ?? 'sh', args: argv.slice(i + 1) });
    const st = await session.run(script);
    await session.finish();
    return st;
  }
  const file = fromStdin ? undefined : argv[i];
  if (file !== undefined) {
    let text: string;
    try {
      text = ctx.phone.fs.readFile(absPath(ctx, file), ctx.uid).toString('utf8');
    } catch (e) {
      await ctx.stderr.write(`/system/bin/sh: ${file}: ${errText(e)}\n`);
      return 127;
    }
    const session = new ShellSession({ ...base, argv0: file, args: argv.slice(i + 1) });
    const st = await session.run(text);
    await session.finish();
    return st;
  }
  // Commands from stdin, run as each complete command arrives.
  const session = new ShellSession({ ...base, args: argv.slice(i) });
  let pending = '';
  let status = 0;
  const runComplete = async (final: boolean): Promise<boolean> => {
    const nl = pending.lastIndexOf('\n');
    if (nl < 0 && !final) return false;
    const chunk = final ? pending : pending.slice(0, nl + 1);
    if (chunk.trim() === '') {
      pending = final ? '' : pending.slice(nl + 1);
      return false;
    }
    const syntax = checkSyntax(chunk);
    if (syntax === 'incomplete' && !final) return false;
    pending = final ? '' : pending.slice(nl + 1);
    status = await session.run(chunk);
    return session.exitStatus !== null;
  };
  for (;;) {
    const c = await ctx.stdin.read();
    if (c === null) break;
    pending += c.toString('utf8');
    if (await runComplete(false)) break;
    if (ctx.signal.aborted) return 130;
  }
  if (session.exitStatus === null) await runComplete(true);
  await session.finish();
  return status;
}

async function uname(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'asnrvmpio', long: { all: 'a' } });
  if (p.bad) return badOption(ctx, p.bad);
  const props = ctx.phone.profile?.props ?? {};
  const release = props['ro.kernel.version'] ?? props['ro.boot.kernel.version'] ?? '4.14.186-perf+';
  const version = props['ro.kernel.build'] ?? '#1 SMP PREEMPT Wed Jan 5 10:20:30 CST 2022';
  // Android kernels report "localhost" whatever $HOSTNAME says.
  const host = 'localhost';
  const all = p.flags.has('a');
  const fields: string[] = [];
  const f = (k: string) => all || p.flags.has(k);
  if (f('s') || p.flags.size === 0) fields.push('Linux');
  if (f('n')) fields.push(host);
  if (f('r')) fields.push(release);
  if (f('v')) fields.push(version);
  if (f('m')) fields.push('aarch64');
  if (p.flags.has('p')) fields.push('aarch64');
  if (p.flags.has('i')) fields.push('aarch64');
  if (f('o')) fields.push(all ? 'Toybox' : 'Toybox');
  await out(ctx, `${fields.join(' ')}\n`);
  return 0;
}

async function which(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'a' });
  let st = 0;
  let o = '';
  for (const n of p.args) {
    if (n.includes('/')) {
      if (ctx.phone.fs.exists(absPath(ctx, n))) o += `${n}\n`;
      else st = 1;
    } else if (lookup(ctx, n)) o += `/system/bin/${n}\n`;
    else st = 1;
  }
  await out(ctx, o);
  return st;
}

async function test(ctx: CommandContext): Promise<number> {
  let args = ctx.argv.slice(1);
  const name = ctx.argv[0]?.replace(/^.*\//, '') ?? 'test';
  if (name === '[') {
    if (args[args.length - 1] !== ']') {
      await err(ctx, 'missing ]');
      return 2;
    }
    args = args.slice(0, -1);
  }
  const r = evalTest(args, { fs: ctx.phone.fs, cwd: ctx.cwd, uid: ctx.uid });
  if (r.status === 2) {
    await err(ctx, r.error);
    return 2;
  }
  return r.status;
}

async function timeout(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: 'v',
    values: 'ks',
    long: { preserve: '_', 'kill-after': 'k', signal: 's' },
    stopAtFirstArg: true,
  });
  const [dur, ...cmd] = p.args;
  const secs = dur !== undefined ? parseDuration(dur) : null;
  if (secs === null || cmd.length === 0) {
    await err(ctx, 'Needs 2 arguments');
    return 125;
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), secs * 1000);
  const signal = AbortSignal.any([ctx.signal, ac.signal]);
  try {
    const st = await runArgv(ctx, cmd, ctx.env, signal);
    return ac.signal.aborted && !ctx.signal.aborted ? 124 : st;
  } finally {
    clearTimeout(timer);
  }
}

async function nohup(ctx: CommandContext): Promise<number> {
  const cmd = ctx.argv.slice(1);
  if (cmd.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 125;
  }
  return runArgv(ctx, cmd, ctx.env);
}

async function nice(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { values: 'n', stopAtFirstArg: true });
  if (p.args.length === 0) {
    await out(ctx, '0\n');
    return 0;
  }
  return runArgv(ctx, p.args, ctx.env);
}

class ExprError extends Error {}

/** Thrown by evalExpr for a `:` match it has no answer for yet (see expr). */
class NeedMatch extends Error {
  constructor(
    readonly text: string,
    readonly pattern: string,
  ) {
    super('expr: match not computed');
  }
}

/**
 * expr: arithmetic, comparison, `:` (anchored match), length, substr, index. `matches` holds the
 * answers of `STR : RE` by `STR\0RE`; one missing is asked for by throwing NeedMatch.
 */
function evalExpr(tokens: string[], matches: ReadonlyMap<string, string>): string {
  const match = (s: string, pat: string): string => {
    const known = matches.get(`${s}\0${pat}`);
    if (known === undefined) throw new NeedMatch(s, pat);
    return known;
  };
  let i = 0;
  const isNum = (s: string) => /^-?[0-9]+$/.test(s);
  const primary = (): string => {
    const t = tokens[i++];
    if (t === undefined) throw new ExprError('syntax error');
    if (t === '(') {
      const v = orE();
      if (tokens[i++] !== ')') throw new ExprError('syntax error');
      return v;
    }
    if (t === 'length') return String(primary().length);
    if (t === 'substr') {
      const s = primary();
      const pos = Number(primary());
      const len = Number(primary());
      return s.substr(pos - 1, len);
    }
    if (t === 'index') {
      const s = primary();
      const chars = primary();
      const idx = [...s].findIndex((c) => chars.includes(c));
      return String(idx + 1);
    }
    if (t === 'match') {
      const s = primary();
      return match(s, primary());
    }
    return t;
  };
  const colon = (): string => {
    let v = primary();
    while (tokens[i] === ':') {
      i++;
      v = match(v, primary());
    }
    return v;
  };
  const mul = (): string => {
    let v = colon();
    while (tokens[i] === '*' || tokens[i] === '/' || tokens[i] === '%') {
      const op = tokens[i++]!;
      const r = colon();
      if (!isNum(v) || !isNum(r)) throw new ExprError('non-integer argument');
      if ((op === '/' || op === '%') && Number(r) === 0) throw new ExprError('division by zero');
      const a = Number(v);
      const b = Number(r);
      v = String(op === '*' ? a * b : op === '/' ? Math.trunc(a / b) : a % b);
    }
    return v;
  };
  const add = (): string => {
    let v = mul();
    while (tokens[i] === '+' || tokens[i] === '-') {
      const op = tokens[i++]!;
      const r = mul();
      if (!isNum(v) || !isNum(r)) throw new ExprError('non-integer argument');
      v = String(op === '+' ? Number(v) + Number(r) : Number(v) - Number(r));
    }
    return v;
  };
  const cmp = (): string => {
    let v = add();
    while (['=', '==', '!=', '<', '<=', '>', '>='].includes(tokens[i] ?? '')) {
      const op = tokens[i++]!;
      const r = add();
      const c = isNum(v) && isNum(r) ? Number(v) - Number(r) : v < r ? -1 : v > r ? 1 : 0;
      const res =
        op === '=' || op === '=='
          ? c === 0
          : op === '!='
            ? c !== 0
            : op === '<'
              ? c < 0
              : op === '<='
                ? c <= 0
                : op === '>'
                  ? c > 0
                  : c >= 0;
      v = res ? '1' : '0';
    }
    return v;
  };
  const andE = (): string => {
    let v = cmp();
    while (tokens[i] === '&') {
      i++;
      const r = cmp();
      v = v !== '' && v !== '0' && r !== '' && r !== '0' ? v : '0';
    }
    return v;
  };
  const orE = (): string => {
    let v = andE();
    while (tokens[i] === '|') {
      i++;
      const r = andE();
      v = v !== '' && v !== '0' ? v : r !== '' && r !== '0' ? r : '0';
    }
    return v;
  };
  const v = orE();
  if (i < tokens.length) throw new ExprError('syntax error');
  return v;
}

/** The SOH control character delimits the sed `s` command: a pattern cannot contain it. */
const EXPR_DELIM = '\x01';

/**
 * `STR : RE` as expr answers it: anchored at the start, a basic regex; the text of `\(…\)` if
 * there is one ('' without a match), else the length matched. The regex is the user's, so it runs
 * in toybox sed (toybox.ts), never on the lab's event loop: `s/^RE//` prints what follows the
 * match (the length is what went), `s|^RE.*|\1|` the group.
 */
async function exprMatch(ctx: CommandContext, text: string, pat: string): Promise<string> {
  const group = /\\\(/.test(pat);
  if (pat.includes(EXPR_DELIM) || pat.includes('\n')) throw new ExprError('bad regex');
  const d = EXPR_DELIM;
  const script = group ? `s${d}^${pat}.*${d}\\1${d}p` : `s${d}^${pat}${d}${d}p`;
  const chunks: Buffer[] = [];
  // The NUL ends the -z line, so a match prints at least that NUL, even when it took the whole text.
  const code = await runToybox(ctx, ['sed', '-z', '-n', '-e', script], {
    input: [Buffer.from(`${text}\0`)],
    stdout: async (c) => void chunks.push(c),
    stderr: async () => undefined,
  });
  if (code !== 0) throw new ExprError('bad regex');
  const printed = Buffer.concat(chunks);
  const o = printed.toString('utf8').replace(/\0$/, '');
  if (group) return o;
  return printed.length ? String(text.length - o.length) : '0';
}

async function expr(ctx: CommandContext): Promise<number> {
  try {
    // The evaluator is synchronous; each match it needs is computed (asynchronously) and the
    // expression evaluated again, which is cheap next to starting a process.
    const matches = new Map<string, string>();
    let v: string | undefined;
    while (v === undefined) {
      try {
        v = evalExpr(ctx.argv.slice(1), matches);
      } catch (e) {
        if (!(e instanceof NeedMatch)) throw e;
        matches.set(`${e.text}\0${e.pattern}`, await exprMatch(ctx, e.text, e.pattern));
      }
    }
    await out(ctx, `${v}\n`);
    return v === '' || v === '0' ? 1 : 0;
  } catch (e) {
    if (!(e instanceof ExprError)) throw e;
    await err(ctx, e.message);
    return 2;
  }
}

async function nproc(ctx: CommandContext): Promise<number> {
  await out(ctx, '8\n');
  return 0;
}

async function clear(ctx: CommandContext): Promise<number> {
  await out(ctx, '\x1b[H\x1b[J');
  return 0;
}

async function tty(ctx: CommandContext): Promise<number> {
  await out(ctx, 'not a tty\n');
  return 1;
}

/** `toybox NAME ARGS…` runs NAME; `toybox` alone lists what it provides. */
async function toybox(ctx: CommandContext): Promise<number> {
  const [, name, ...rest] = ctx.argv;
  if (name === undefined || name === '--help') {
    await out(ctx, 'toybox 0.8.4-android multicall binary\n');
    return 0;
  }
  const fn = name === 'toybox' ? undefined : lookup(ctx, name);
  if (!fn) {
    await ctx.stderr.write(`toybox: Unknown command ${name}\n`);
    return 1;
  }
  return fn({ ...ctx, argv: [name, ...rest] });
}

export const miscCommands: CommandTable = {
  toybox,
  sleep,
  usleep,
  seq,
  date,
  basename,
  dirname,
  env,
  printenv,
  pwd,
  sh: coreSh,
  true: async () => 0,
  false: async () => 1,
  uname,
  which,
  test,
  '[': test,
  timeout,
  nohup,
  nice,
  expr,
  nproc,
  clear,
  tty,
  sync: async () => 0,
};
