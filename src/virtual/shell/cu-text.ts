/** Text utilities (toybox-like) without user regexes: echo, printf, cat, head, tail, wc, sort, uniq, cut, tr … (grep and sed: cu-regex.ts) */
import { createHash } from 'node:crypto';
import { VfsError } from '../os/vfs.ts';
import type { CommandContext, CommandTable } from '../commands/types.ts';
import {
  absPath,
  badOption,
  cEscapes,
  encodeMixed,
  err,
  errText,
  forEachInput,
  getopt,
  lastValue,
  lines,
  out,
  readStdin,
  shQuote,
  sleepMs,
} from './cu-common.ts';
import { LineReader, yieldToEventLoop } from './streams.ts';

// ------------------------------------------------------------------ echo / printf

async function echo(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let newline = true;
  let escapes = false;
  while (args.length && /^-[neE]+$/.test(args[0]!)) {
    const a = args.shift()!;
    for (const c of a.slice(1)) {
      if (c === 'n') newline = false;
      else if (c === 'e') escapes = true;
      else escapes = false;
    }
  }
  let text = args.join(' ');
  if (escapes) {
    const r = cEscapes(text, { octalNeedsZero: true });
    text = r.text;
    if (r.stop) newline = false;
  }
  await out(ctx, encodeMixed(text + (newline ? '\n' : '')));
  return 0;
}

class PrintfError extends Error {}

function printfNumber(arg: string | undefined, conv: string): number | bigint {
  if (arg === undefined || arg === '') return 0;
  if (/^['"]/.test(arg)) return arg.length > 1 ? arg.codePointAt(1)! : 0;
  const t = arg.trim();
  if (/^[eEfFgGaA]$/.test(conv)) {
    const v = Number(t);
    if (Number.isNaN(v)) throw new PrintfError(`invalid number '${arg}'`);
    return v;
  }
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(t);
  if (!m) throw new PrintfError(`invalid number '${arg}'`);
  const body = m[2]!;
  let v: bigint;
  if (/^0[xX]/.test(body)) v = BigInt(body);
  else if (body.length > 1 && body.startsWith('0')) v = BigInt(`0o${body.slice(1)}`);
  else v = BigInt(body);
  return m[1] === '-' ? -v : v;
}

/** Formats like printf(1); returns the text and whether `\c` stopped output. */
export function formatPrintf(fmt: string, args: string[]): { text: string; stop: boolean; error?: string } {
  let o = '';
  let ai = 0;
  let error: string | undefined;
  const next = () => args[ai++];
  for (;;) {
    const startAi = ai;
    for (let i = 0; i < fmt.length; i++) {
      const c = fmt[i]!;
      if (c === '\\') {
        const seq = /^\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)/s.exec(fmt.slice(i))?.[0] ?? '\\';
        const r = cEscapes(seq);
        if (r.stop) return { text: o, stop: true };
        o += r.text;
        i += seq.length - 1;
        continue;
      }
      if (c !== '%') {
        o += c;
        continue;
      }
      const m = /^%([-+ #0]*)(\*|[0-9]+)?(?:\.(\*|[0-9]*))?([hlLqjzt]*)([diouxXeEfFgGcsb%])/.exec(
        fmt.slice(i),
      );
      if (!m) {
        o += c;
        continue;
      }
      i += m[0].length - 1;
      const flags = m[1]!;
      let width = m[2] === '*' ? Number(next() ?? 0) : m[2] ? Number(m[2]) : undefined;
      let prec = m[3] === '*' ? Number(next() ?? 0) : m[3] !== undefined ? Number(m[3] || 0) : undefined;
      const conv = m[5]!;
      let leftAlign = flags.includes('-');
      if (width !== undefined && width < 0) {
        leftAlign = true;
        width = -width;
      }
      if (prec !== undefined && prec < 0) prec = undefined;
      let s: string;
      try {
        switch (conv) {
          case '%':
            s = '%';
            break;
          case 's':
            s = next() ?? '';
            if (prec !== undefined) s = s.slice(0, prec);
            break;
          case 'b': {
            const r = cEscapes(next() ?? '', { octalNeedsZero: true });
            s = r.text;
            if (r.stop) return { text: o + s, stop: true };
            break;
          }
          case 'c':
            s = (next() ?? '').slice(0, 1);
            break;
          case 'd':
          case 'i':
          case 'o':
          case 'u':
          case 'x':
          case 'X': {
            const raw = printfNumber(next(), conv);
            let v = typeof raw === 'bigint' ? raw : BigInt(Math.trunc(raw));
            if (conv !== 'd' && conv !== 'i' && v < 0n) v = BigInt.asUintN(64, v);
            const neg = v < 0n;
            const abs = neg ? -v : v;
            let digits =
              conv === 'o'
                ? abs.toString(8)
                : conv === 'x'
                  ? abs.toString(16)
                  : conv === 'X'
                    ? abs.toString(16).toUpperCase()
                    : abs.toString();
            if (prec !== undefined) digits = digits.padStart(prec, '0');
            if (flags.includes('#') && abs !== 0n) {
              if (conv === 'o') digits = `0${digits}`;
              if (conv === 'x') digits = `0x${digits}`;
              if (conv === 'X') digits = `0X${digits}`;
            }
            const sign = neg ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
            if (flags.includes('0') && !leftAlign && prec === undefined && width !== undefined) {
              digits = digits.padStart(width - sign.length, '0');
            }
            s = sign + digits;
            break;
          }
          default: {
            const v = Number(printfNumber(next(), conv));
            const p = prec ?? 6;
            if (conv === 'f' || conv === 'F') s = v.toFixed(p);
            else if (conv === 'e' || conv === 'E') {
              s = v.toExponential(p).replace(/e([+-])(\d)$/, 'e$10$2');
              if (conv === 'E') s = s.toUpperCase();
            } else {
              s = String(Number(v.toPrecision(p || 1)));
              if (conv === 'G') s = s.toUpperCase();
            }
            if (flags.includes('+') && v >= 0) s = `+${s}`;
            if (flags.includes('0') && !leftAlign && width !== undefined) {
              const neg = s.startsWith('-') || s.startsWith('+');
              s = neg ? s[0] + s.slice(1).padStart(width - 1, '0') : s.padStart(width, '0');
            }
          }
        }
      } catch (e) {
        if (!(e instanceof PrintfError)) throw e;
        error ??= e.message;
        s = '0';
      }
      if (width !== undefined && s.length < width) s = leftAlign ? s.padEnd(width) : s.padStart(width);
      o += s;
    }
    // The format is reused while arguments remain (and it consumed some).
    if (ai >= args.length || ai === startAi) break;
  }
  const r: { text: string; stop: boolean; error?: string } = { text: o, stop: false };
  if (error) r.error = error;
  return r;
}

async function printf(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  if (args[0] === '--') args.shift();
  const fmt = args.shift();
  if (fmt === undefined) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  const r = formatPrintf(fmt, args);
  await out(ctx, encodeMixed(r.text));
  if (r.error) {
    await err(ctx, r.error);
    return 1;
  }
  return 0;
}

// ------------------------------------------------------------------ cat / tee

async function cat(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'nbsuvAteET' });
  if (p.bad) return badOption(ctx, p.bad);
  const number = p.flags.has('n') || p.flags.has('b');
  let lineNo = 1;
  return forEachInput(ctx, p.args, async (data) => {
    if (!number) {
      if (data) await out(ctx, data);
      else {
        for (;;) {
          const c = await ctx.stdin.read();
          if (c === null) break;
          await ctx.stdout.write(c);
        }
      }
      return;
    }
    let buf = '';
    for await (const l of lines(ctx, data)) {
      if (p.flags.has('b') && l === '') buf += '\n';
      else buf += `${String(lineNo++).padStart(6)}\t${l}\n`;
      if (buf.length > 16384) {
        await out(ctx, buf);
        buf = '';
      }
    }
    await out(ctx, buf);
  });
}

async function tee(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'aip', long: { append: 'a' } });
  if (p.bad) return badOption(ctx, p.bad);
  const fs = ctx.phone.fs;
  let status = 0;
  const files: string[] = [];
  for (const a of p.args) {
    const path = absPath(ctx, a);
    try {
      fs.writeFile(path, '', { uid: ctx.uid, append: p.flags.has('a') });
      files.push(path);
    } catch (e) {
      await err(ctx, `${a}: ${errText(e)}`);
      status = 1;
    }
  }
  for (;;) {
    const c = await ctx.stdin.read();
    if (c === null) break;
    for (const f of files) {
      try {
        fs.writeFile(f, c, { uid: ctx.uid, append: true });
      } catch {
        // the file went away
      }
    }
    await ctx.stdout.write(c);
  }
  return status;
}

// ------------------------------------------------------------------ head / tail

function countArg(ctx: CommandContext, argv: string[]): string[] {
  // `head -5` means `head -n 5`.
  return argv.map((a, i) =>
    i > 0 && /^-[0-9]+$/.test(a) && !/^-[nc]$/.test(argv[i - 1]!) ? `-n${a.slice(1)}` : a,
  );
}

async function head(ctx: CommandContext): Promise<number> {
  const p = getopt(countArg(ctx, ctx.argv), { flags: 'qv', values: 'nc', long: { lines: 'n', bytes: 'c' } });
  if (p.bad) return badOption(ctx, p.bad);
  const nSpec = lastValue(p, 'n');
  const cSpec = lastValue(p, 'c');
  const n = Number(nSpec ?? 10);
  const bytes = cSpec !== undefined ? Number(cSpec) : undefined;
  if (Number.isNaN(n) || (bytes !== undefined && Number.isNaN(bytes))) {
    await err(ctx, `Invalid number`);
    return 1;
  }
  const names = p.args;
  const headers = (names.length > 1 && !p.flags.has('q')) || p.flags.has('v');
  let first = true;
  return forEachInput(ctx, names, async (data, name) => {
    if (headers) await out(ctx, `${first ? '' : '\n'}==> ${name === '-' ? 'standard input' : name} <==\n`);
    first = false;
    if (bytes !== undefined) {
      if (data) await out(ctx, data.subarray(0, Math.max(0, bytes)));
      else {
        let left = bytes;
        while (left > 0) {
          const c = await ctx.stdin.read();
          if (c === null) break;
          const piece = c.subarray(0, left);
          left -= piece.length;
          await ctx.stdout.write(piece);
        }
      }
      return;
    }
    if (data) {
      let idx = 0;
      for (let i = 0; i < n; i++) {
        const nl = data.indexOf(10, idx);
        if (nl < 0) {
          idx = data.length;
          break;
        }
        idx = nl + 1;
      }
      await out(ctx, data.subarray(0, idx));
      return;
    }
    const r = new LineReader(ctx.stdin);
    for (let i = 0; i < n; i++) {
      const l = await r.readLine();
      if (!l) break;
      await ctx.stdout.write(l.sawNewline ? Buffer.concat([l.line, Buffer.from('\n')]) : l.line);
    }
  });
}

async function tail(ctx: CommandContext): Promise<number> {
  const argv = ctx.argv.map((a, i) =>
    i > 0 && /^[-+][0-9]+$/.test(a) && !/^-[nc]$/.test(ctx.argv[i - 1]!)
      ? `-n${a[0] === '+' ? '+' : ''}${a.slice(1)}`
      : a,
  );
  const p = getopt(argv, { flags: 'fFqv', values: 'ncs', long: { lines: 'n', bytes: 'c', follow: 'f' } });
  if (p.bad) return badOption(ctx, p.bad);
  const nSpec = lastValue(p, 'n') ?? '10';
  const cSpec = lastValue(p, 'c');
  const spec = cSpec ?? nSpec;
  const fromStart = spec.startsWith('+');
  const count = Number(spec.replace(/^[-+]/, ''));
  if (Number.isNaN(count)) {
    await err(ctx, 'Invalid number');
    return 1;
  }
  const names = p.args;
  const headers = (names.length > 1 && !p.flags.has('q')) || p.flags.has('v');
  let first = true;
  const pick = (data: Buffer): Buffer => {
    if (cSpec !== undefined) {
      return fromStart
        ? data.subarray(Math.max(0, count - 1))
        : data.subarray(Math.max(0, data.length - count));
    }
    if (fromStart) {
      let idx = 0;
      for (let i = 1; i < count && idx < data.length; i++) {
        const nl = data.indexOf(10, idx);
        if (nl < 0) return Buffer.alloc(0);
        idx = nl + 1;
      }
      return data.subarray(idx);
    }
    let end = data.length;
    if (end > 0 && data[end - 1] === 10) end--;
    let idx = end;
    let found = 0;
    while (found < count) {
      const nl = data.lastIndexOf(10, idx - 1);
      if (nl < 0) {
        idx = 0;
        break;
      }
      idx = nl;
      found++;
      if (found === count) {
        idx = nl + 1;
        break;
      }
    }
    if (count === 0) return Buffer.alloc(0);
    return data.subarray(idx);
  };
  const status = await forEachInput(ctx, names, async (data, name) => {
    if (headers) await out(ctx, `${first ? '' : '\n'}==> ${name === '-' ? 'standard input' : name} <==\n`);
    first = false;
    await out(ctx, pick(data ?? (await readStdin(ctx))));
  });
  if ((p.flags.has('f') || p.flags.has('F')) && names.length > 0) {
    const fs = ctx.phone.fs;
    const sizes = names.map((n) => fs.stat(absPath(ctx, n))?.size ?? 0);
    while (!ctx.signal.aborted) {
      await sleepMs(500, ctx.signal);
      for (let i = 0; i < names.length; i++) {
        const path = absPath(ctx, names[i]!);
        const st = fs.stat(path);
        if (!st) continue;
        if (st.size > sizes[i]!) {
          await out(ctx, fs.readFile(path, ctx.uid).subarray(sizes[i]));
        }
        sizes[i] = st.size;
      }
    }
  }
  return status;
}

// ------------------------------------------------------------------ wc / sort / uniq / cut / tr

async function wc(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'lwcmL', long: { lines: 'l', words: 'w', bytes: 'c', chars: 'm' } });
  if (p.bad) return badOption(ctx, p.bad);
  let show = ['l', 'w', 'c', 'm'].filter((k) => p.flags.has(k));
  if (show.length === 0) show = ['l', 'w', 'c'];
  const totals: Record<string, number> = { l: 0, w: 0, c: 0, m: 0 };
  const rows: Array<{ counts: number[]; name: string | null }> = [];
  const status = await forEachInput(ctx, p.args, async (data, name) => {
    const buf = data ?? (await readStdin(ctx));
    let l = 0;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) l++;
    const text = show.includes('w') || show.includes('m') ? buf.toString('utf8') : '';
    const w = show.includes('w') ? (text.match(/\S+/g)?.length ?? 0) : 0;
    const counts: Record<string, number> = {
      l,
      w,
      c: buf.length,
      m: show.includes('m') ? [...text].length : 0,
    };
    for (const k of show) totals[k]! += counts[k]!;
    rows.push({
      counts: show.map((k) => counts[k]!),
      name: name === '-' && p.args.length === 0 ? null : name,
    });
  });
  if (rows.length > 1) rows.push({ counts: show.map((k) => totals[k]!), name: 'total' });
  const single = show.length === 1 && rows.length === 1;
  const width = single ? 0 : 7;
  await out(
    ctx,
    rows
      .map(
        (r) =>
          r.counts.map((c) => String(c).padStart(width)).join(' ') +
          (r.name !== null ? ` ${r.name}` : '') +
          '\n',
      )
      .join(''),
  );
  return status;
}

function sortKey(
  line: string,
  spec: { field: number; char: number; endField: number } | null,
  sep: string | undefined,
): string {
  if (!spec) return line;
  const fields = sep !== undefined ? line.split(sep) : line.trim().split(/\s+/);
  if (spec.field > fields.length) return '';
  let key = fields.slice(spec.field - 1, spec.endField > 0 ? spec.endField : undefined).join(sep ?? ' ');
  if (spec.char > 1) key = key.slice(spec.char - 1);
  return key;
}

async function sort(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: 'nrufbdhVscMgz',
    values: 'ktoT',
    long: { numeric: 'n', reverse: 'r', unique: 'u', 'ignore-case': 'f' },
  });
  if (p.bad) return badOption(ctx, p.bad);
  const f = p.flags;
  const all: string[] = [];
  const status = await forEachInput(ctx, p.args, async (data) => {
    for await (const l of lines(ctx, data)) all.push(l);
  });
  const kSpec = lastValue(p, 'k');
  let key: { field: number; char: number; endField: number } | null = null;
  if (kSpec) {
    const m = /^([0-9]+)(?:\.([0-9]+))?[a-zA-Z]*(?:,([0-9]+))?/.exec(kSpec);
    if (m) key = { field: Number(m[1]), char: Number(m[2] ?? 1), endField: Number(m[3] ?? 0) };
    if (/n/.test(kSpec.replace(/^[0-9.,]+/, ''))) f.add('n');
    if (/r/.test(kSpec.replace(/^[0-9.,]+/, ''))) f.add('r');
  }
  const sep = lastValue(p, 't');
  const num = (s: string) => {
    const m = /^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)/.exec(s);
    return m ? Number(m[1]) : 0;
  };
  const humanNum = (s: string) => {
    const m = /^\s*([-+]?[0-9.]+)([KMGTP]?)/i.exec(s);
    if (!m) return 0;
    return Number(m[1]) * 1024 ** ' KMGTP'.indexOf((m[2] || ' ').toUpperCase());
  };
  const decorated = all.map((line, i) => ({ line, key: sortKey(line, key, sep), i }));
  decorated.sort((a, b) => {
    let c: number;
    let ka = a.key;
    let kb = b.key;
    if (f.has('b')) {
      ka = ka.trimStart();
      kb = kb.trimStart();
    }
    if (f.has('n') || f.has('g')) c = num(ka) - num(kb);
    else if (f.has('h')) c = humanNum(ka) - humanNum(kb);
    else {
      if (f.has('f')) {
        ka = ka.toUpperCase();
        kb = kb.toUpperCase();
      }
      c = ka < kb ? -1 : ka > kb ? 1 : 0;
    }
    if (c === 0 && !f.has('u') && !f.has('s')) c = a.line < b.line ? -1 : a.line > b.line ? 1 : 0;
    if (f.has('r')) c = -c;
    return c !== 0 ? c : a.i - b.i;
  });
  let result = decorated.map((d) => d.line);
  if (f.has('u')) {
    const seen: string[] = [];
    let prevKey: string | null = null;
    for (const d of decorated) {
      let k = d.key;
      if (f.has('f')) k = k.toUpperCase();
      if (f.has('n')) k = String(num(k));
      if (k === prevKey) continue;
      prevKey = k;
      seen.push(d.line);
    }
    result = seen;
  }
  const text = result.map((l) => `${l}\n`).join('');
  return writeResult(ctx, text, lastValue(p, 'o'), status, 2);
}

/**
 * Writes a filter's whole result to `file` (sort -o, uniq's OUTPUT) or, without one, to stdout.
 * Returns `status`, or `failStatus` when the file cannot be written.
 */
async function writeResult(
  ctx: CommandContext,
  text: string,
  file: string | undefined,
  status: number,
  failStatus: number,
): Promise<number> {
  if (file === undefined) {
    await out(ctx, text);
    return status;
  }
  try {
    ctx.phone.fs.writeFile(absPath(ctx, file), text, { uid: ctx.uid });
  } catch (e) {
    await err(ctx, `${file}: ${errText(e)}`);
    return failStatus;
  }
  return status;
}

async function uniq(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: 'cduiz',
    values: 'fsw',
    long: { count: 'c', repeated: 'd', unique: 'u', 'ignore-case': 'i' },
  });
  if (p.bad) return badOption(ctx, p.bad);
  const f = p.flags;
  const [input, output] = p.args;
  let buf = '';
  let prev: string | null = null;
  let count = 0;
  const emit = () => {
    if (prev === null) return;
    if (f.has('d') && count < 2) return;
    if (f.has('u') && count > 1) return;
    buf += f.has('c') ? `${String(count).padStart(7)} ${prev}\n` : `${prev}\n`;
  };
  const skipFields = Number(lastValue(p, 'f') ?? 0);
  const skipChars = Number(lastValue(p, 's') ?? 0);
  const cmpLen = lastValue(p, 'w') !== undefined ? Number(lastValue(p, 'w')) : undefined;
  const keyOf = (l: string) => {
    let k = l;
    for (let i = 0; i < skipFields; i++) k = k.replace(/^\s*\S+/, '');
    k = k.slice(skipChars);
    if (cmpLen !== undefined) k = k.slice(0, cmpLen);
    return f.has('i') ? k.toLowerCase() : k;
  };
  let prevKey: string | null = null;
  const status = await forEachInput(ctx, input !== undefined ? [input] : [], async (data) => {
    for await (const l of lines(ctx, data)) {
      const k = keyOf(l);
      if (prevKey !== null && k === prevKey) {
        count++;
        continue;
      }
      emit();
      prev = l;
      prevKey = k;
      count = 1;
      if (buf.length > 16384 && output === undefined) {
        await out(ctx, buf);
        buf = '';
      }
    }
  });
  emit();
  return writeResult(ctx, buf, output, status, 1);
}

function parseList(spec: string): Array<[number, number]> | null {
  const ranges: Array<[number, number]> = [];
  for (const part of spec.split(',')) {
    const m = /^([0-9]*)(-?)([0-9]*)$/.exec(part);
    if (!m || (m[1] === '' && m[3] === '')) return null;
    const a = m[1] ? Number(m[1]) : 1;
    const b = m[2] ? (m[3] ? Number(m[3]) : Infinity) : a;
    if (a < 1) return null;
    ranges.push([a, b]);
  }
  return ranges;
}

async function cut(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: 'snDO',
    values: 'dfcb',
    long: { delimiter: 'd', fields: 'f', characters: 'c', bytes: 'b' },
  });
  if (p.bad) return badOption(ctx, p.bad);
  const fSpec = lastValue(p, 'f');
  const cSpec = lastValue(p, 'c') ?? lastValue(p, 'b');
  const spec = fSpec ?? cSpec;
  if (spec === undefined) {
    await err(ctx, 'Needs -fcb');
    return 1;
  }
  const ranges = parseList(spec);
  if (!ranges) {
    await err(ctx, `bad list '${spec}'`);
    return 1;
  }
  const inRange = (i: number) => ranges.some(([a, b]) => i >= a && i <= b);
  const delim = lastValue(p, 'd') ?? '\t';
  let buf = '';
  const status = await forEachInput(ctx, p.args, async (data) => {
    for await (const l of lines(ctx, data)) {
      if (fSpec !== undefined) {
        if (!l.includes(delim)) {
          if (!p.flags.has('s')) buf += `${l}\n`;
          continue;
        }
        const fields = l.split(delim);
        buf += `${fields.filter((_, i) => inRange(i + 1)).join(delim)}\n`;
      } else {
        const chars = [...l];
        buf += `${chars.filter((_, i) => inRange(i + 1)).join('')}\n`;
      }
      if (buf.length > 16384) {
        await out(ctx, buf);
        buf = '';
      }
    }
  });
  await out(ctx, buf);
  return status;
}

function expandTrSet(spec: string): number[] | null {
  const { text } = cEscapes(spec.replace(/\\\\/g, '\\\\'));
  const out: number[] = [];
  let i = 0;
  const chars = [...text].map((c) => c.codePointAt(0)! & 0xff);
  const str = text;
  while (i < chars.length) {
    if (str[i] === '[' && str[i + 1] === ':') {
      const close = str.indexOf(':]', i + 2);
      if (close > 0) {
        const cls = str.slice(i + 2, close);
        const ranges: Record<string, Array<[number, number]>> = {
          upper: [[65, 90]],
          lower: [[97, 122]],
          digit: [[48, 57]],
          alpha: [
            [65, 90],
            [97, 122],
          ],
          alnum: [
            [48, 57],
            [65, 90],
            [97, 122],
          ],
          space: [
            [9, 13],
            [32, 32],
          ],
          blank: [
            [9, 9],
            [32, 32],
          ],
          punct: [
            [33, 47],
            [58, 64],
            [91, 96],
            [123, 126],
          ],
          xdigit: [
            [48, 57],
            [65, 70],
            [97, 102],
          ],
          cntrl: [
            [0, 31],
            [127, 127],
          ],
        };
        const r = ranges[cls];
        if (!r) return null;
        for (const [a, b] of r) for (let c = a; c <= b; c++) out.push(c);
        i = close + 2;
        continue;
      }
    }
    if (i + 2 < chars.length && str[i + 1] === '-') {
      const a = chars[i]!;
      const b = chars[i + 2]!;
      if (b < a) return null;
      for (let c = a; c <= b; c++) out.push(c);
      i += 3;
      continue;
    }
    out.push(chars[i]!);
    i++;
  }
  return out;
}

async function tr(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'dscCt' });
  if (p.bad) return badOption(ctx, p.bad);
  const [s1, s2] = p.args;
  if (s1 === undefined || (s2 === undefined && !p.flags.has('d') && !p.flags.has('s'))) {
    await err(ctx, 'Needs 2 arguments');
    return 1;
  }
  let set1 = expandTrSet(s1);
  const set2 = s2 !== undefined ? expandTrSet(s2) : [];
  if (!set1 || !set2) {
    await err(ctx, 'bad set');
    return 1;
  }
  if (p.flags.has('c') || p.flags.has('C')) {
    const inSet = new Set(set1);
    set1 = [];
    for (let c = 0; c < 256; c++) if (!inSet.has(c)) set1.push(c);
  }
  const map = new Int16Array(256).fill(-1);
  const del = new Uint8Array(256);
  const squeeze = new Uint8Array(256);
  if (p.flags.has('d')) {
    for (const c of set1) del[c] = 1;
    if (p.flags.has('s')) for (const c of set2) squeeze[c] = 1;
  } else if (s2 !== undefined) {
    for (let i = 0; i < set1.length; i++) map[set1[i]!] = set2[Math.min(i, set2.length - 1)] ?? set1[i]!;
    if (p.flags.has('s')) for (const c of set2) squeeze[c] = 1;
  } else if (p.flags.has('s')) {
    for (const c of set1) squeeze[c] = 1;
  }
  let last = -1;
  for (;;) {
    const chunk = await ctx.stdin.read();
    if (chunk === null) break;
    const o = Buffer.allocUnsafe(chunk.length);
    let n = 0;
    for (const b of chunk) {
      if (del[b]) continue;
      const m = map[b]!;
      const v = m >= 0 ? m : b;
      if (squeeze[v] && v === last) continue;
      o[n++] = v;
      last = v;
    }
    if (n) await ctx.stdout.write(o.subarray(0, n));
  }
  return 0;
}

// ------------------------------------------------------------------ xargs

function splitXargs(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let started = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      started = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) words.push(cur);
      cur = '';
      started = false;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started) words.push(cur);
  return words;
}

async function xargs(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: '0trpx', values: 'nIdLsE', stopAtFirstArg: true });
  if (p.bad) return badOption(ctx, p.bad);
  const input = (await readStdin(ctx)).toString('utf8');
  const delim = lastValue(p, 'd');
  let items: string[];
  if (p.flags.has('0')) items = input.split('\0').filter((x, i, a) => x !== '' || i < a.length - 1);
  else if (delim !== undefined)
    items = input.split(cEscapes(delim).text).filter((x, i, a) => x !== '' || i < a.length - 1);
  else if (lastValue(p, 'I') !== undefined || lastValue(p, 'L') !== undefined)
    items = input.split('\n').filter((x) => x.trim() !== '');
  else items = splitXargs(input);
  const cmd = p.args.length ? p.args : ['echo'];
  const repl = lastValue(p, 'I');
  const perRun = repl !== undefined ? 1 : Number(lastValue(p, 'n') ?? lastValue(p, 'L') ?? Infinity);
  if (items.length === 0 && p.flags.has('r')) return 0;
  let status = 0;
  const runOne = async (argv: string[]) => {
    const line = argv.map(shQuote).join(' ');
    if (p.flags.has('t')) await ctx.stderr.write(`${argv.join(' ')}\n`);
    const st = await ctx.runShell(line);
    if (st === 127 || st === 126) return st;
    if (st !== 0) status = 123;
    return 0;
  };
  if (items.length === 0) {
    const st = await runOne(cmd);
    return st || status;
  }
  for (let i = 0; i < items.length; i += perRun) {
    const batch = items.slice(i, i + perRun);
    const argv = repl !== undefined ? cmd.map((w) => w.split(repl).join(batch[0] ?? '')) : [...cmd, ...batch];
    const st = await runOne(argv);
    if (st) return st;
    if (ctx.signal.aborted) break;
  }
  return status;
}

// ------------------------------------------------------------------ checksums / encodings

function hashCommand(algo: string): (ctx: CommandContext) => Promise<number> {
  return async (ctx) => {
    const p = getopt(ctx.argv, { flags: 'bcs' });
    if (p.flags.has('c')) {
      let status = 0;
      await forEachInput(ctx, p.args, async (data) => {
        const text = (data ?? (await readStdin(ctx))).toString('utf8');
        for (const line of text.split('\n')) {
          const m = /^([0-9a-fA-F]+) [ *](.*)$/.exec(line);
          if (!m) continue;
          let ok: boolean;
          try {
            const d = ctx.phone.fs.readFile(absPath(ctx, m[2]!), ctx.uid);
            ok = createHash(algo).update(d).digest('hex') === m[1]!.toLowerCase();
          } catch {
            ok = false;
          }
          if (!ok) status = 1;
          await out(ctx, `${m[2]}: ${ok ? 'OK' : 'FAILED'}\n`);
        }
      });
      return status;
    }
    return forEachInput(ctx, p.args, async (data, name) => {
      const h = createHash(algo);
      if (data) h.update(data);
      else {
        for (;;) {
          const c = await ctx.stdin.read();
          if (c === null) break;
          h.update(c);
        }
      }
      await out(ctx, `${h.digest('hex')}  ${name}\n`);
    });
  };
}

async function base64(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'di', values: 'w', long: { decode: 'd', wrap: 'w' } });
  if (p.bad) return badOption(ctx, p.bad);
  const wrap = Number(lastValue(p, 'w') ?? 76);
  return forEachInput(ctx, p.args.slice(0, 1), async (data) => {
    const buf = data ?? (await readStdin(ctx));
    if (p.flags.has('d')) {
      await out(ctx, Buffer.from(buf.toString('latin1').replace(/[^A-Za-z0-9+/=_-]/g, ''), 'base64'));
      return;
    }
    const enc = buf.toString('base64');
    if (wrap > 0) {
      let o = '';
      for (let i = 0; i < enc.length; i += wrap) o += `${enc.slice(i, i + wrap)}\n`;
      await out(ctx, o);
    } else await out(ctx, enc);
  });
}

async function xxd(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'pr', values: 'lcs' });
  if (p.bad) return badOption(ctx, p.bad);
  const cols = Number(lastValue(p, 'c') ?? (p.flags.has('p') ? 30 : 16));
  const limit = lastValue(p, 'l') !== undefined ? Number(lastValue(p, 'l')) : Infinity;
  const skip = Number(lastValue(p, 's') ?? 0);
  return forEachInput(ctx, p.args.slice(0, 1), async (data) => {
    let buf = data ?? (await readStdin(ctx));
    if (p.flags.has('r')) {
      const hex = buf
        .toString('latin1')
        .replace(/^[0-9a-f]+:/gim, '')
        .replace(/ {2}.*$/gm, '')
        .replace(/[^0-9a-fA-F]/g, '');
      await out(ctx, Buffer.from(hex, 'hex'));
      return;
    }
    buf = buf.subarray(skip, Number.isFinite(limit) ? skip + limit : undefined);
    let o = '';
    for (let off = 0; off < buf.length; off += cols) {
      const row = buf.subarray(off, off + cols);
      if (p.flags.has('p')) {
        o += `${row.toString('hex')}\n`;
        continue;
      }
      let hex = '';
      for (let i = 0; i < cols; i++) {
        hex += i < row.length ? row[i]!.toString(16).padStart(2, '0') : '  ';
        if (i % 2 === 1) hex += ' ';
      }
      const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      o += `${(off + skip).toString(16).padStart(8, '0')}: ${hex} ${ascii}\n`;
      if (o.length > 16384) {
        await out(ctx, o);
        o = '';
      }
    }
    await out(ctx, o);
  });
}

async function od(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'bcdox', values: 'AtjN' });
  if (p.bad) return badOption(ctx, p.bad);
  const radix = lastValue(p, 'A') ?? 'o';
  const type =
    lastValue(p, 't') ?? (p.flags.has('c') ? 'c' : p.flags.has('x') ? 'x2' : p.flags.has('b') ? 'o1' : 'o2');
  return forEachInput(ctx, p.args, async (data) => {
    const buf = data ?? (await readStdin(ctx));
    const addr = (n: number) =>
      radix === 'n'
        ? ''
        : radix === 'x'
          ? n.toString(16).padStart(7, '0')
          : radix === 'd'
            ? String(n).padStart(7, '0')
            : n.toString(8).padStart(7, '0');
    const size = Number(type.slice(1).replace(/z$/, '')) || (type[0] === 'c' ? 1 : 2);
    let o = '';
    for (let off = 0; off < buf.length; off += 16) {
      const row = buf.subarray(off, off + 16);
      const cells: string[] = [];
      for (let i = 0; i < row.length; i += type[0] === 'c' ? 1 : size) {
        if (type[0] === 'c') {
          const b = row[i]!;
          const esc: Record<number, string> = {
            0: '\\0',
            7: '\\a',
            8: '\\b',
            9: '\\t',
            10: '\\n',
            11: '\\v',
            12: '\\f',
            13: '\\r',
          };
          cells.push(
            (
              esc[b] ?? (b >= 32 && b < 127 ? String.fromCharCode(b) : b.toString(8).padStart(3, '0'))
            ).padStart(3),
          );
          continue;
        }
        let v = 0;
        for (let k = size - 1; k >= 0; k--) v = v * 256 + (row[i + k] ?? 0);
        const base = type[0] === 'x' ? 16 : type[0] === 'd' || type[0] === 'u' ? 10 : 8;
        const w =
          base === 16 ? size * 2 : base === 8 ? Math.ceil((size * 8) / 3) : String(256 ** size).length;
        cells.push(v.toString(base).padStart(w, '0'));
      }
      o += `${addr(off)} ${cells.join(' ')}\n`;
    }
    if (radix !== 'n') o += `${addr(buf.length)}\n`;
    await out(ctx, o);
  });
}

async function rev(ctx: CommandContext): Promise<number> {
  let buf = '';
  const status = await forEachInput(ctx, ctx.argv.slice(1), async (data) => {
    for await (const l of lines(ctx, data)) buf += `${[...l].reverse().join('')}\n`;
  });
  await out(ctx, buf);
  return status;
}

async function tac(ctx: CommandContext): Promise<number> {
  const all: string[] = [];
  const status = await forEachInput(ctx, ctx.argv.slice(1), async (data) => {
    for await (const l of lines(ctx, data)) all.push(l);
  });
  await out(
    ctx,
    all
      .reverse()
      .map((l) => `${l}\n`)
      .join(''),
  );
  return status;
}

async function nl(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { values: 'bsvw' });
  const all = lastValue(p, 'b') === 'a';
  let n = Number(lastValue(p, 'v') ?? 1);
  const width = Number(lastValue(p, 'w') ?? 6);
  const sep = lastValue(p, 's') ?? '\t';
  let buf = '';
  const status = await forEachInput(ctx, p.args, async (data) => {
    for await (const l of lines(ctx, data)) {
      if (l === '' && !all) buf += '\n';
      else buf += `${String(n++).padStart(width)}${sep}${l}\n`;
    }
  });
  await out(ctx, buf);
  return status;
}

async function strings(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'af', values: 'nt' });
  const min = Number(lastValue(p, 'n') ?? 4);
  return forEachInput(ctx, p.args, async (data) => {
    const buf = data ?? (await readStdin(ctx));
    let o = '';
    let run = '';
    for (const b of buf) {
      if ((b >= 32 && b < 127) || b === 9) run += String.fromCharCode(b);
      else {
        if (run.length >= min) o += `${run}\n`;
        run = '';
      }
    }
    if (run.length >= min) o += `${run}\n`;
    await out(ctx, o);
  });
}

async function cmp(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'ls' });
  const [a, b] = p.args;
  if (a === undefined || b === undefined) {
    await err(ctx, 'Needs 2 arguments');
    return 2;
  }
  const read = (n: string) => ctx.phone.fs.readFile(absPath(ctx, n), ctx.uid);
  let da: Buffer;
  let db: Buffer;
  try {
    da = read(a);
    db = read(b);
  } catch (e) {
    if (!p.flags.has('s')) await err(ctx, errText(e));
    return 2;
  }
  const n = Math.min(da.length, db.length);
  let line = 1;
  for (let i = 0; i < n; i++) {
    if (da[i] !== db[i]) {
      if (!p.flags.has('s')) await out(ctx, `${a} ${b} differ: char ${i + 1}, line ${line}\n`);
      return 1;
    }
    if (da[i] === 10) line++;
  }
  if (da.length !== db.length) {
    if (!p.flags.has('s')) await err(ctx, `EOF on ${da.length < db.length ? a : b}`);
    return 1;
  }
  return 0;
}

/** `yes`: repeats its arguments (or y) until the reader goes away or the signal aborts. */
async function yes(ctx: CommandContext): Promise<number> {
  const line = `${ctx.argv.length > 1 ? ctx.argv.slice(1).join(' ') : 'y'}\n`;
  const block = line.repeat(Math.max(1, Math.floor(4096 / line.length)));
  for (let i = 0; !ctx.signal.aborted; i++) {
    await ctx.stdout.write(block);
    if (i % 64 === 63) await yieldToEventLoop();
  }
  return 130;
}

export const textCommands: CommandTable = {
  echo,
  printf,
  cat,
  tee,
  head,
  tail,
  wc,
  sort,
  uniq,
  cut,
  tr,
  xargs,
  md5sum: hashCommand('md5'),
  sha1sum: hashCommand('sha1'),
  sha224sum: hashCommand('sha224'),
  sha256sum: hashCommand('sha256'),
  sha384sum: hashCommand('sha384'),
  sha512sum: hashCommand('sha512'),
  base64,
  xxd,
  od,
  rev,
  tac,
  nl,
  strings,
  cmp,
  yes,
};

/** Reads a file for a command, mapping errors to `name: file: message`. */
export async function readFileOrReport(ctx: CommandContext, name: string): Promise<Buffer | null> {
  try {
    return ctx.phone.fs.readFile(absPath(ctx, name), ctx.uid);
  } catch (e) {
    if (!(e instanceof VfsError)) throw e;
    await err(ctx, `${name}: ${e.message}`);
    return null;
  }
}
