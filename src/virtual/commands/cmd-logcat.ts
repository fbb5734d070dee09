/**
 * `logcat` (dump, clear, stream, formats, filters, buffers, `-B` binary for adbkit) and `log`.
 * Without -d/-t, logcat streams new entries until the client goes away (ctx.signal).
 * The -e regex is the user's: it is matched in the regex worker (os/regex-worker.ts), one batch per
 * dump or per flush of the stream, never on the event loop every phone shares.
 */
import type { CommandContext } from './types.ts';
import {
  encodeBinaryEntry,
  formatEntry,
  type FormatOptions,
  LOG_FORMATS,
  type LogBufferId,
  type LogEntry,
  type LogFormat,
  matchesFilter,
  parseFilterSpecs,
  parsePriority,
  type Priority,
} from '../os/logcat.ts';
import { err, errnoText, out, parseIntArg, phoneLog, resolvePath } from './util.ts';
import { RegexRefusedError, filterMatching } from '../os/regex-worker.ts';

const ALL_BUFFERS: LogBufferId[] = ['main', 'radio', 'events', 'system', 'crash'];
const DEFAULT_BUFFERS: LogBufferId[] = ['main', 'system', 'crash'];
const MODIFIERS = new Set([
  'color',
  'descriptive',
  'epoch',
  'monotonic',
  'printable',
  'uid',
  'usec',
  'UTC',
  'year',
  'zone',
  'nsec',
]);

const USAGE = `Usage: logcat [options] [filterspecs]
options include:
  -s              Set default filter to silent. Equivalent to filterspec '*:S'
  -f <file>, --file=<file>               Log to file. Default is stdout
  -v <format>, --format=<format> Sets log print format verb and adverbs, where <format> is:
                  brief long process raw tag thread threadtime time
                  and individually flagged modifying adverbs can be added:
                  color descriptive epoch monotonic printable uid usec UTC year zone
  -D, --dividers  Print dividers between each log buffer
  -c, --clear     Clear (flush) the entire log and exit
  -d              Dump the log and then exit (don't block)
  -e <expr>, --regex=<expr>
                  Only print lines where the log message matches <expr>
  -m <count>, --max-count=<count>
                  Quit after printing <count> lines.
  -t <count>      Print only the most recent <count> lines (implies -d)
  -T <count>      Print only the most recent <count> lines (does not imply -d)
  -g, --buffer-size                      Get the size of the ring buffer.
  -b <buffer>, --buffer=<buffer>         Request alternate ring buffer(s):
                  main system radio events crash default all
  -B, --binary    Output the log in binary.
  --pid=<pid>     Only prints logs from the given pid.

filterspecs are a series of
  <tag>[:priority]

where <tag> is a log component tag (or * for all) and priority is:
  V    Verbose (default for <tag>)
  D    Debug (default for '*')
  I    Info
  W    Warn
  E    Error
  F    Fatal
  S    Silent (suppress all output)
`;

interface Options {
  dump: boolean;
  clear: boolean;
  binary: boolean;
  silent: boolean;
  dividers: boolean;
  sizes: boolean;
  tail?: number;
  tailStream?: number;
  maxCount?: number;
  pid?: number;
  regex?: RegExp;
  file?: string;
  format: LogFormat;
  fmt: FormatOptions;
  buffers: LogBufferId[];
  specs: string[];
}

/** Parses logcat's arguments; returns an error message on a bad one. */
function parseArgs(argv: string[]): Options | string {
  const o: Options = {
    dump: false,
    clear: false,
    binary: false,
    silent: false,
    dividers: false,
    sizes: false,
    format: 'threadtime',
    fmt: {},
    buffers: [],
    specs: [],
  };
  const args = [...argv];
  const value = (opt: string, inline: string | undefined): string => {
    const v = inline ?? args.shift();
    if (v === undefined)
      throw new Error(`logcat: option requires an argument -- '${opt.replace(/^-+/, '')}'`);
    return v;
  };
  const count = (opt: string, v: string): number => {
    const n = parseIntArg(v);
    if (n === undefined || n < 0) throw new Error(`logcat: ${opt} "${v}" invalid integer`);
    return n;
  };
  try {
    while (args.length) {
      const a = args.shift() as string;
      if (!a.startsWith('-') || a === '-') {
        o.specs.push(a);
        continue;
      }
      const eq = a.startsWith('--') ? a.indexOf('=') : -1;
      const name = eq > 0 ? a.slice(0, eq) : a;
      const inline = eq > 0 ? a.slice(eq + 1) : undefined;
      switch (name) {
        case '-d':
        case '--dump':
          o.dump = true;
          break;
        case '-c':
        case '--clear':
          o.clear = true;
          break;
        case '-B':
        case '--binary':
          o.binary = true;
          break;
        case '-s':
          o.silent = true;
          break;
        case '-D':
        case '--dividers':
          o.dividers = true;
          break;
        case '-g':
        case '--buffer-size':
          o.sizes = true;
          break;
        case '-t':
          o.tail = count('-t', value(name, inline));
          o.dump = true;
          break;
        case '-T':
          o.tailStream = count('-T', value(name, inline));
          break;
        case '-m':
        case '--max-count':
          o.maxCount = count('-m', value(name, inline));
          break;
        case '--pid':
          o.pid = count('--pid', value(name, inline));
          break;
        case '-e':
        case '--regex':
          o.regex = new RegExp(value(name, inline));
          break;
        case '-f':
        case '--file':
          o.file = value(name, inline);
          break;
        case '-v':
        case '--format': {
          for (const v of value(name, inline)
            .split(/[,\s]+/)
            .filter(Boolean)) {
            if ((LOG_FORMATS as readonly string[]).includes(v)) o.format = v as LogFormat;
            else if (MODIFIERS.has(v)) {
              if (v === 'year') o.fmt.year = true;
              if (v === 'usec' || v === 'nsec') o.fmt.usec = true;
              if (v === 'epoch') o.fmt.epoch = true;
              if (v === 'UTC') o.fmt.timeZone = 'UTC';
            } else throw new Error(`logcat: Invalid parameter "${v}" to -v`);
          }
          break;
        }
        case '-b':
        case '--buffer':
          for (const b of value(name, inline).split(',')) {
            if (b === 'all') o.buffers.push(...ALL_BUFFERS);
            else if (b === 'default') o.buffers.push(...DEFAULT_BUFFERS);
            else if (
              (ALL_BUFFERS as string[]).includes(b) ||
              b === 'kernel' ||
              b === 'stats' ||
              b === 'security'
            ) {
              if ((ALL_BUFFERS as string[]).includes(b)) o.buffers.push(b as LogBufferId);
            } else throw new Error(`logcat: unknown buffer ${b}`);
          }
          break;
        case '-G':
        case '-r':
        case '-n':
        case '-p':
        case '-P':
          if (name !== '-p') value(name, inline);
          break;
        case '-L':
        case '-S':
        case '-Q':
          break;
        case '-h':
        case '--help':
          return 'help';
        default:
          throw new Error(`logcat: invalid option -- '${a.replace(/^-+/, '')}'`);
      }
    }
  } catch (e) {
    return (e as Error).message;
  }
  if (o.buffers.length === 0) o.buffers = [...DEFAULT_BUFFERS];
  return o;
}

export async function logcat(ctx: CommandContext): Promise<number> {
  const o = parseArgs(ctx.argv.slice(1));
  if (o === 'help') {
    await err(ctx, USAGE);
    return 0;
  }
  if (typeof o === 'string') {
    await err(ctx, `${o}\n${USAGE}`);
    return 1;
  }
  const phone = ctx.phone;
  const log = phoneLog(phone);
  if (o.clear) {
    log.clear(o.buffers);
    return 0;
  }
  if (o.sizes) {
    await out(
      ctx,
      o.buffers
        .map(
          (b) =>
            `${b}: ring buffer is 256 KiB (${Math.min(255, 4 + log.entries().filter((e) => e.buffer === b).length)} KiB consumed), max entry is 5120 B, max payload is 4068 B\n`,
        )
        .join(''),
    );
    return 0;
  }
  let specs = o.specs;
  const envTags = ctx.env.get('ANDROID_LOG_TAGS');
  if (specs.length === 0 && envTags) specs = [envTags.replace(/^'+|'+$/g, '')];
  const filter = parseFilterSpecs(specs, o.silent);
  if (typeof filter === 'string') {
    await err(ctx, `Invalid filter expression '${filter}'\n`);
    return 1;
  }
  o.fmt.timeZone ??= phone.props.get('persist.sys.timezone') || 'UTC';

  // Everything but -e, which `matching` applies to a whole batch.
  const accept = (e: LogEntry): boolean =>
    o.buffers.includes(e.buffer) && matchesFilter(e, filter) && (o.pid === undefined || e.pid === o.pid);

  const seen = new Set<LogBufferId>();
  let last: LogBufferId | undefined;
  let printed = 0;
  let failed = false;
  const render = (e: LogEntry): string | Buffer => {
    if (o.binary) return encodeBinaryEntry(e);
    let head = '';
    if (!seen.has(e.buffer)) {
      seen.add(e.buffer);
      head = `--------- beginning of ${e.buffer}\n`;
    } else if (o.dividers && last !== e.buffer) head = `--------- switch to ${e.buffer}\n`;
    last = e.buffer;
    return head + formatEntry(e, o.format, o.fmt);
  };
  /** The entries of `batch` that -e keeps; undefined (reported) when the regex is too costly or refused. */
  const matching = async (batch: LogEntry[]): Promise<LogEntry[] | undefined> => {
    if (!o.regex) return batch;
    let kept: LogEntry[] | RegexRefusedError;
    try {
      kept = await filterMatching(o.regex, batch, (e) => e.message, {
        owner: phone.serialno,
        signal: ctx.signal,
      });
    } catch (e) {
      // The client went away while the batch was matched: the stream ends as it would between flushes.
      if (ctx.signal.aborted) return [];
      throw e;
    }
    if (!(kept instanceof RegexRefusedError)) return kept;
    await err(ctx, `logcat: ${kept.message}\n`);
    return undefined;
  };
  const emit = async (batch: LogEntry[]): Promise<boolean> => {
    const limit = o.maxCount === undefined ? batch.length : Math.min(batch.length, o.maxCount - printed);
    if (limit <= 0) return false;
    const parts = batch.slice(0, limit).map(render);
    printed += limit;
    const chunk = o.binary ? Buffer.concat(parts as Buffer[]) : Buffer.from((parts as string[]).join(''));
    if (o.file) {
      try {
        phone.fs.writeFile(resolvePath(ctx, o.file), chunk, { append: true, uid: ctx.uid, gid: ctx.uid });
      } catch (e) {
        await err(ctx, `logcat: cannot open output file ${o.file}: ${errnoText(e)}\n`);
        failed = true;
        return false;
      }
    } else await out(ctx, chunk);
    return o.maxCount === undefined || printed < o.maxCount;
  };

  // Subscribe before dumping so nothing falls between the dump and the stream.
  const queue: LogEntry[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = o.dump
    ? () => undefined
    : log.subscribe((e) => {
        if (accept(e)) {
          queue.push(e);
          wake?.();
        }
      });
  const onAbort = (): void => wake?.();
  ctx.signal.addEventListener('abort', onAbort);
  try {
    let backlog = await matching(log.entries().filter(accept));
    if (!backlog) return 1;
    const tail = o.tail ?? o.tailStream;
    if (tail !== undefined) backlog = tail === 0 ? [] : backlog.slice(-tail);
    if (backlog.length && !(await emit(backlog))) return failed ? 1 : 0;
    if (o.dump) return 0;
    while (!ctx.signal.aborted) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (queue.length || ctx.signal.aborted) resolve();
        });
        wake = undefined;
        continue;
      }
      const batch = await matching(queue.splice(0));
      if (!batch) return 1;
      if (batch.length && !(await emit(batch))) return failed ? 1 : 0;
    }
    return 0;
  } finally {
    unsubscribe();
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/** toybox `log [-p PRI] [-t TAG] MESSAGE...` */
export async function logCommand(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let priority: Priority = 4;
  let tag = 'log';
  while (args.length && args[0]?.startsWith('-') && args[0] !== '--') {
    const opt = args.shift() as string;
    const v = args.shift();
    if (v === undefined || (opt !== '-p' && opt !== '-t')) {
      await err(ctx, 'usage: log [-p PRI] [-t TAG] [MESSAGE...]\n');
      return 1;
    }
    if (opt === '-t') tag = v;
    else {
      const p = parsePriority(v);
      if (p === undefined || p > 7) {
        await err(ctx, `log: bad -p '${v}'\n`);
        return 1;
      }
      priority = p as Priority;
    }
  }
  if (args[0] === '--') args.shift();
  const adbd = ctx.phone.processes.byName('adbd')[0]?.pid ?? 0;
  const pid = adbd ? adbd + 3000 + (ctx.uid % 7) : 0;
  phoneLog(ctx.phone).append({ pid, tid: pid, priority, tag, message: args.join(' ') });
  return 0;
}
