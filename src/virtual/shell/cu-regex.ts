/**
 * The filters that take a user's regular expression: grep (egrep, fgrep) and sed. They run as
 * toybox child processes (toybox.ts says why: a regex on the shared event loop could freeze every
 * phone of the lab). This module does what toybox must not do itself: it reads the phone's files
 * through the Vfs (permissions, `-r` walks, `-f` files, `sed -i` write-back), feeds them on stdin,
 * and puts back the file names toybox cannot know; toybox does the matching and editing, with
 * Android's own semantics and output.
 */
import type { CommandContext, CommandTable } from '../commands/types.ts';
import { absPath, badOption, err, errText, forEachInput, getopt, lastValue } from './cu-common.ts';
import { checkSedScript, SedRefusal } from './sed-script.ts';
import { runToybox, stdinChunks, type ToyboxRun } from './toybox.ts';

/** One input's bytes for the child: a file read through the Vfs, or the command's stdin (null). */
function inputOf(ctx: CommandContext, data: Buffer | null): ToyboxRun['input'] {
  return data ? [data] : stdinChunks(ctx);
}

/**
 * Passes stdout through line by line, rewriting each complete line; keeps a partial line for the
 * next chunk so that streamed input (`logcat | grep -H x`) is rewritten as it comes.
 */
function lineRewriter(ctx: CommandContext, rewrite: (line: string) => string) {
  let partial = '';
  const emit = async (text: string) => {
    if (text) await ctx.stdout.write(text);
  };
  return {
    async write(chunk: Buffer) {
      const text = partial + chunk.toString('utf8');
      const end = text.lastIndexOf('\n') + 1;
      partial = text.slice(end);
      await emit(
        text
          .slice(0, end)
          .split('\n')
          .slice(0, -1)
          .map((l) => `${rewrite(l)}\n`)
          .join(''),
      );
    },
    async flush() {
      if (partial) await emit(rewrite(partial));
      partial = '';
    },
  };
}

// ------------------------------------------------------------------ grep

/** Flags the in-process literal matcher answers as toybox would; any other goes to toybox. */
const LITERAL_FLAGS = new Set('vicqlnhHsrRFEZU');
/** A pattern with none of these is the same text as a basic or an extended regex. */
const REGEX_META = /[\\.[\]*^$+?(){}|]/;

/**
 * Whether `grep` with these flags and patterns can skip toybox: every pattern plain non-empty text
 * (ASCII under -i, which folds ASCII letters only here) and no flag but those above. Such a search
 * is a substring search (indexOf, linear, no backtracking), safe on the event loop and far cheaper
 * than a child process per file (`grep -r x DIR` over a thousand files).
 */
function literalSearch(
  flags: ReadonlySet<string>,
  values: ReadonlyMap<string, string[]>,
  patterns: readonly string[],
  fixed: boolean,
): boolean {
  if ([...flags].some((c) => !LITERAL_FLAGS.has(c)) || 'mABC'.split('').some((c) => values.has(c)))
    return false;
  return patterns.every(
    (pt) => pt !== '' && (fixed || !REGEX_META.test(pt)) && (!flags.has('i') || /^[\x20-\x7e]*$/.test(pt)),
  );
}

const foldAscii = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/**
 * What toybox's grep would print for `data` on its stdin with the flags -v -i -c -l -q -n it is
 * given (`toyFlags`), and its exit status; null when the data holds a NUL (toybox's line reading
 * decides those).
 */
function grepLiteral(
  toyFlags: ReadonlySet<string>,
  patterns: readonly string[],
  data: Buffer,
): { out: Buffer; code: number } | null {
  if (data.includes(0)) return null;
  const has = (c: string) => toyFlags.has(c);
  // latin1: one char per byte, so the bytes printed are the bytes read, whatever their encoding.
  const text = data.toString('latin1');
  const fold = has('i') ? foldAscii : (s: string) => s;
  const needles = patterns.map((pt) => fold(Buffer.from(pt, 'utf8').toString('latin1')));
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: string[] = [];
  let count = 0;
  lines.forEach((line, i) => {
    const l = fold(line);
    if (needles.some((n) => l.includes(n)) === has('v')) return;
    count++;
    if (!has('c') && !has('l') && !has('q')) out.push(has('n') ? `${i + 1}:${line}\n` : `${line}\n`);
  });
  if (has('q')) out.length = 0;
  else if (has('l')) out.push(count ? '(standard input)\n' : '');
  else if (has('c')) out.push(`${count}\n`);
  return { out: Buffer.from(out.join(''), 'latin1'), code: count ? 0 : 1 };
}

/** grep's flags toybox takes as they are. -r/-R, -h/-H and -f are handled here; --color is dropped. */
const GREP_PASSED_FLAGS = 'vicqlLnoswxEFzaIb';

async function grep(ctx: CommandContext): Promise<number> {
  const name = ctx.argv[0]?.replace(/^.*\//, '') ?? 'grep';
  const p = getopt(ctx.argv, {
    flags: 'vicqlLnhHoswxEFrRzaIUZb',
    values: 'efmABC',
    long: {
      'ignore-case': 'i',
      'invert-match': 'v',
      count: 'c',
      quiet: 'q',
      silent: 'q',
      'files-with-matches': 'l',
      'line-number': 'n',
      'no-filename': 'h',
      'with-filename': 'H',
      'only-matching': 'o',
      'word-regexp': 'w',
      'line-regexp': 'x',
      'extended-regexp': 'E',
      'fixed-strings': 'F',
      recursive: 'r',
      regexp: 'e',
      'max-count': 'm',
      color: 'Z',
      colour: 'Z',
    },
  });
  if (p.bad) {
    await err(ctx, `Unknown option '${p.bad}'`);
    return 2;
  }
  const f = p.flags;
  const args = [...p.args];
  let patterns = p.values.get('e') ?? [];
  // -f FILE is the phone's file: read here, passed on as -e patterns.
  for (const file of p.values.get('f') ?? []) {
    try {
      patterns = patterns.concat(
        ctx.phone.fs.readFile(absPath(ctx, file), ctx.uid).toString('utf8').split('\n').filter(Boolean),
      );
    } catch (e) {
      await err(ctx, `${file}: ${errText(e)}`);
      return 2;
    }
  }
  if (patterns.length === 0) {
    const pat = args.shift();
    if (pat === undefined) {
      await err(ctx, 'Needs 1 argument');
      return 2;
    }
    patterns = pat.split('\n');
  }

  const fs = ctx.phone.fs;
  const recursive = f.has('r') || f.has('R');
  let inputs = args;
  if (recursive && inputs.length === 0) inputs = ['.'];
  if (recursive) {
    const expanded: string[] = [];
    const walk = (shown: string) => {
      const path = absPath(ctx, shown);
      const st = fs.stat(path);
      if (st?.type === 'dir') {
        let names: string[];
        try {
          names = fs.readdir(path, ctx.uid);
        } catch {
          expanded.push(shown);
          return;
        }
        for (const n of names) walk(shown.endsWith('/') ? shown + n : `${shown}/${n}`);
      } else expanded.push(shown);
    };
    for (const i of inputs) walk(i);
    inputs = expanded;
  }
  const showName = f.has('H') || (!f.has('h') && (inputs.length > 1 || recursive));
  const listing = f.has('l') || f.has('L');

  const argv = ['grep'];
  if (name === 'egrep') argv.push('-E');
  if (name === 'fgrep') argv.push('-F');
  for (const c of GREP_PASSED_FLAGS) if (f.has(c)) argv.push(`-${c}`);
  for (const c of 'mABC') {
    const v = lastValue(p, c);
    if (v !== undefined) argv.push(`-${c}`, v);
  }
  // Toybox reads each input on its stdin, so it cannot name the file: a forced -n marks match lines
  // (`N:`) and context lines (`N-`), which get the name put in front (and the number taken out
  // again unless -n was asked for).
  const prefixLines = showName && !listing && !f.has('c') && !f.has('q');
  if (prefixLines && !f.has('n')) argv.push('-n');
  for (const pt of patterns) argv.push('-e', pt);

  const literal = literalSearch(f, p.values, patterns, f.has('F') || name === 'fgrep');
  const literalFlags = new Set(argv.slice(1, argv.indexOf('-e')).map((a) => a.slice(1)));
  let matchedAny = false;
  let badRegex = false;
  const status = await forEachInput(ctx, inputs, async (data, fname) => {
    if (badRegex || (f.has('q') && matchedAny)) return;
    const label = fname === '-' ? '(standard input)' : fname;
    const rewrite = (line: string): string => {
      if (listing) return label;
      if (f.has('c')) return showName ? `${label}:${line}` : line;
      if (!prefixLines || line === '--') return line;
      const m = /^([0-9]+)([:-])/.exec(line);
      if (!m) return line;
      return `${label}${m[2]}${f.has('n') ? line : line.slice(m[0].length)}`;
    };
    const w = lineRewriter(ctx, rewrite);
    const fast = literal && data ? grepLiteral(literalFlags, patterns, data) : null;
    if (fast && fast.out.length) await w.write(fast.out);
    const code =
      fast?.code ?? (await runToybox(ctx, argv, { input: inputOf(ctx, data), stdout: (c) => w.write(c) }));
    await w.flush();
    if (code === 0) matchedAny = true;
    else if (code !== 1) badRegex = true;
  });
  if (badRegex) return 2;
  if (f.has('q') && matchedAny) return 0;
  if (status !== 0) return 2;
  return matchedAny ? 0 : 1;
}

// ------------------------------------------------------------------ sed

/**
 * Why sed refuses `script` (sed-script.ts: a command that would open a HOST file, or what toybox
 * could not parse), or null when toybox may run it.
 */
export function sedFileCommand(...pieces: string[]): string | null {
  try {
    checkSedScript(pieces);
    return null;
  } catch (e) {
    if (e instanceof SedRefusal) return e.message;
    throw e;
  }
}

async function sed(ctx: CommandContext): Promise<number> {
  // -i takes an optional attached suffix only: `-i` alone must not eat the script.
  const argv = ctx.argv;
  const inPlace = argv.slice(1).some((a) => a === '-i' || /^-[nErs]*i/.test(a) || a.startsWith('--in-place'));
  const q = getopt(
    argv.map((a) => (a === '-i' ? '-I' : a.replace(/^(-[nErs]*)i.*$/, '$1I'))),
    {
      flags: 'nErszI',
      values: 'ef',
      long: { quiet: 'n', silent: 'n', expression: 'e', 'in-place': 'I', 'regexp-extended': 'E' },
    },
  );
  if (q.bad) return badOption(ctx, q.bad);
  const args = [...q.args];
  let scripts = q.values.get('e') ?? [];
  // -f FILE is the phone's file: read here, passed on as an -e script.
  for (const file of q.values.get('f') ?? []) {
    try {
      scripts = scripts.concat(ctx.phone.fs.readFile(absPath(ctx, file), ctx.uid).toString('utf8'));
    } catch (e) {
      await err(ctx, `${file}: ${errText(e)}`);
      return 1;
    }
  }
  if (scripts.length === 0) {
    const sc = args.shift();
    if (sc === undefined) {
      await err(ctx, 'Needs 1 argument');
      return 1;
    }
    scripts = [sc];
  }
  const refusal = sedFileCommand(...scripts);
  if (refusal) {
    await err(ctx, refusal);
    return 1;
  }
  const toy = ['sed'];
  for (const c of 'nz') if (q.flags.has(c)) toy.push(`-${c}`);
  if (q.flags.has('E') || q.flags.has('r')) toy.push('-E');
  for (const sc of scripts) toy.push('-e', sc);

  if (inPlace) {
    let status = 0;
    for (const a of args) {
      const path = absPath(ctx, a);
      try {
        const data = ctx.phone.fs.readFile(path, ctx.uid);
        const result: Buffer[] = [];
        const code = await runToybox(ctx, toy, {
          input: [data],
          stdout: async (c) => void result.push(c),
        });
        if (code !== 0) return code;
        ctx.phone.fs.writeFile(path, Buffer.concat(result), { uid: ctx.uid });
      } catch (e) {
        await err(ctx, `${a}: ${errText(e)}`);
        status = 1;
      }
    }
    return status;
  }
  if (q.flags.has('s')) {
    let code = 0;
    const status = await forEachInput(ctx, args, async (data) => {
      code = (await runToybox(ctx, toy, { input: inputOf(ctx, data) })) || code;
    });
    return code || status;
  }
  // One stream over all inputs, as sed reads them: line numbers and `$` run across files, and an
  // input without a final newline (file or stdin) still ends its last line when more input follows;
  // the stream's last input stays as it is, as toybox leaves it.
  let status = 0;
  const files = args.length ? args : ['-'];
  const eol = q.flags.has('z') ? 0 : 0x0a;
  const joined = async function* (): AsyncGenerator<Uint8Array> {
    let unended = false;
    for (const n of files) {
      const parts: Array<Buffer | null> = [];
      status = (await forEachInput(ctx, [n], async (data) => void parts.push(data))) || status;
      for (const data of parts) {
        let last: number | undefined;
        for await (const chunk of data ? [data] : stdinChunks(ctx)) {
          if (!chunk.length) continue;
          if (unended) yield Buffer.of(eol);
          unended = false;
          yield chunk;
          last = chunk[chunk.length - 1];
        }
        if (last !== undefined) unended = last !== eol;
      }
    }
  };
  const code = await runToybox(ctx, toy, { input: joined() });
  return code || status;
}

export const regexCommands: CommandTable = { grep, egrep: grep, fgrep: grep, sed };
