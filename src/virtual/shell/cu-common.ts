/** Helpers shared by the core utilities: option parsing, messages, users, time formatting. */
import { VfsError } from '../os/vfs.ts';
import type { CommandContext } from '../commands/types.ts';
import { LineReader, writeChunked } from './streams.ts';

export async function out(ctx: CommandContext, data: string | Buffer): Promise<void> {
  if (typeof data === 'string') {
    if (data.length === 0) return;
    if (data.length <= 64 * 1024) await ctx.stdout.write(data);
    else await writeChunked(ctx.stdout, Buffer.from(data));
  } else await writeChunked(ctx.stdout, data);
}

/** `name: msg` on stderr (name = argv[0] without its directory). */
export async function err(ctx: CommandContext, msg: string): Promise<void> {
  await ctx.stderr.write(`${cmdName(ctx)}: ${msg}\n`);
}

export function cmdName(ctx: CommandContext): string {
  const a = ctx.argv[0] ?? '';
  return a.slice(a.lastIndexOf('/') + 1);
}

export function errText(e: unknown): string {
  if (e instanceof VfsError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

export function absPath(ctx: CommandContext, p: string): string {
  return ctx.phone.fs.normalize(p, ctx.cwd);
}

export interface Parsed {
  flags: Set<string>;
  /** Every value given for an option that takes one, in order. */
  values: Map<string, string[]>;
  args: string[];
  /** First unknown option character, if any. */
  bad?: string;
}

/**
 * toybox-style option parsing: combined short flags (`-rf`), values attached or separate
 * (`-n5`, `-n 5`), options anywhere unless after `--`. `long` maps `--name` to a short letter.
 */
export function getopt(
  argv: string[],
  spec: { flags?: string; values?: string; long?: Record<string, string>; stopAtFirstArg?: boolean },
): Parsed {
  const flags = new Set<string>();
  const values = new Map<string, string[]>();
  const args: string[] = [];
  const flagChars = spec.flags ?? '';
  const valueChars = spec.values ?? '';
  let bad: string | undefined;
  const addValue = (k: string, v: string) => {
    const list = values.get(k) ?? [];
    list.push(v);
    values.set(k, list);
  };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && spec.long) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const short = spec.long[name];
      if (short === undefined) {
        bad ??= a;
        continue;
      }
      if (valueChars.includes(short)) {
        addValue(short, eq >= 0 ? a.slice(eq + 1) : (argv[++i] ?? ''));
      } else flags.add(short);
      continue;
    }
    if (a.length > 1 && a.startsWith('-')) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        if (valueChars.includes(c)) {
          const v = a.slice(j + 1);
          addValue(c, v !== '' ? v : (argv[++i] ?? ''));
          break;
        }
        if (flagChars.includes(c)) flags.add(c);
        else {
          bad ??= c;
        }
      }
      continue;
    }
    args.push(a);
    if (spec.stopAtFirstArg) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  const r: Parsed = { flags, values, args };
  if (bad !== undefined) r.bad = bad;
  return r;
}

export function lastValue(p: Parsed, k: string): string | undefined {
  const v = p.values.get(k);
  return v ? v[v.length - 1] : undefined;
}

/** Reports an unknown option like toybox and returns the status 1. */
export async function badOption(ctx: CommandContext, bad: string): Promise<number> {
  await err(ctx, `Unknown option '${bad}'`);
  return 1;
}

/** Waits `ms`, or less if the signal aborts; resolves to false when aborted. */
export function sleepMs(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ------------------------------------------------------------------ users

const AIDS: Record<number, string> = {
  0: 'root',
  1000: 'system',
  1001: 'radio',
  1002: 'bluetooth',
  1003: 'graphics',
  1004: 'input',
  1005: 'audio',
  1006: 'camera',
  1007: 'log',
  1008: 'compass',
  1009: 'mount',
  1010: 'wifi',
  1011: 'adb',
  1012: 'install',
  1013: 'media',
  1014: 'dhcp',
  1015: 'sdcard_rw',
  1016: 'vpn',
  1017: 'keystore',
  1018: 'usb',
  1019: 'drm',
  1020: 'mdnsr',
  1021: 'gps',
  1023: 'media_rw',
  1024: 'mtp',
  1026: 'drmrpc',
  1027: 'nfc',
  1028: 'sdcard_r',
  1036: 'logd',
  1037: 'shared_relro',
  1041: 'audioserver',
  1065: 'reserved_disk',
  1078: 'ext_data_rw',
  1079: 'ext_obb_rw',
  2000: 'shell',
  2001: 'cache',
  2002: 'diag',
  3001: 'net_bt_admin',
  3002: 'net_bt',
  3003: 'inet',
  3004: 'net_raw',
  3005: 'net_admin',
  3006: 'net_bw_stats',
  3007: 'net_bw_acct',
  3009: 'readproc',
  3011: 'uhid',
  9997: 'everybody',
  9998: 'misc',
  9999: 'nobody',
};

/** Android's name for a uid or gid (u0_a123 for apps). */
export function idName(id: number): string {
  const named = AIDS[id];
  if (named) return named;
  const user = Math.floor(id / 100000);
  const app = id % 100000;
  if (app >= 10000 && app < 20000) return `u${user}_a${app - 10000}`;
  if (app >= 20000 && app < 30000) return `u${user}_a${app - 20000}_cache`;
  if (app >= 99000 && app < 100000) return `u${user}_i${app - 99000}`;
  return String(id);
}

/** A user or group name (or number) to its id, or null. */
export function parseId(name: string): number | null {
  if (/^[0-9]+$/.test(name)) return Number(name);
  for (const [id, n] of Object.entries(AIDS)) if (n === name) return Number(id);
  const m = /^u([0-9]+)_a([0-9]+)(_cache)?$/.exec(name);
  if (m) return Number(m[1]) * 100000 + Number(m[2]) + (m[3] ? 20000 : 10000);
  return null;
}

// ------------------------------------------------------------------ time

/** The phone's timezone: $TZ, else persist.sys.timezone, else UTC. */
export function phoneTimeZone(ctx: CommandContext): string {
  const tz = ctx.env.get('TZ');
  if (tz && validZone(tz)) return tz;
  try {
    const p = (ctx.phone as { props?: { get?(k: string): string | undefined } }).props;
    const z = p?.get?.('persist.sys.timezone');
    if (z && validZone(z)) return z;
  } catch {
    // no property store (unit tests)
  }
  return 'UTC';
}

const zoneOk = new Map<string, boolean>();
function validZone(z: string): boolean {
  let ok = zoneOk.get(z);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: z });
      ok = true;
    } catch {
      ok = false;
    }
    zoneOk.set(z, ok);
  }
  return ok;
}

export interface TimeParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
  /** Offset from UTC in minutes. */
  offset: number;
  zone: string;
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();

export function timeParts(epochMs: number, tz: string): TimeParts {
  if (tz === 'UTC') {
    const d = new Date(epochMs);
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: d.getUTCDay(),
      offset: 0,
      zone: 'UTC',
    };
  }
  let f = fmtCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
      timeZoneName: 'short',
    });
    fmtCache.set(tz, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(new Date(epochMs))) parts[p.type] = p.value;
  const p = {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour) % 24,
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offset = Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60000);
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(parts.weekday ?? 'Sun');
  return { ...p, weekday, offset, zone: parts.timeZoneName ?? tz };
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAYS_LONG = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_LONG = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function pad(n: number, w = 2, c = '0'): string {
  return String(n).padStart(w, c);
}

/**
 * Expands the `%` directives of a format (date +FORMAT, stat -c): other text is copied, `%%` is a
 * percent sign, and a directive that `field` does not know (undefined) stays as written, as does a
 * `%` at the end. stat's extras are options: `escapes` (`\n`, `\t`, and `\x` for any other x) and
 * `widths` (flags `-`, `0` and a width between `%` and the letter; a format that ends inside them
 * ends there).
 */
export function expandDirectives(
  fmt: string,
  field: (directive: string) => string | undefined,
  opts: { escapes?: boolean; widths?: boolean } = {},
): string {
  let o = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (opts.escapes && c === '\\' && i + 1 < fmt.length) {
      const n = fmt[++i]!;
      o += n === 'n' ? '\n' : n === 't' ? '\t' : n;
      continue;
    }
    if (c !== '%' || i + 1 >= fmt.length) {
      o += c;
      continue;
    }
    const [spec = '', flags = '', digits = ''] = opts.widths
      ? /^([-0]*)([0-9]*)/.exec(fmt.slice(i + 1))!
      : [];
    i += spec.length;
    const s = fmt[++i];
    if (s === undefined) break;
    const piece = s === '%' ? '%' : (field(s) ?? `%${s}`);
    const width = Number(digits || 0);
    if (!width) o += piece;
    else if (flags.includes('-')) o += piece.padEnd(width);
    else o += piece.padStart(width, flags.includes('0') ? '0' : ' ');
  }
  return o;
}

/** strftime for the specifiers scripts use. */
export function strftime(fmt: string, epochMs: number, tz: string): string {
  const t = timeParts(epochMs, tz);
  const secs = Math.floor(epochMs / 1000);
  const off = `${t.offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(t.offset) / 60))}${pad(Math.abs(t.offset) % 60)}`;
  const yday = Math.floor((Date.UTC(t.year, t.month - 1, t.day) - Date.UTC(t.year, 0, 1)) / 86400000) + 1;
  return expandDirectives(fmt, (s) => {
    switch (s) {
      case 'a':
        return DAYS[t.weekday];
      case 'A':
        return DAYS_LONG[t.weekday];
      case 'b':
      case 'h':
        return MONTHS[t.month - 1];
      case 'B':
        return MONTHS_LONG[t.month - 1];
      case 'c':
        return `${DAYS[t.weekday]} ${MONTHS[t.month - 1]} ${pad(t.day, 2, ' ')} ${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)} ${t.year}`;
      case 'C':
        return pad(Math.floor(t.year / 100));
      case 'd':
        return pad(t.day);
      case 'D':
        return `${pad(t.month)}/${pad(t.day)}/${pad(t.year % 100)}`;
      case 'e':
        return pad(t.day, 2, ' ');
      case 'F':
        return `${t.year}-${pad(t.month)}-${pad(t.day)}`;
      case 'H':
        return pad(t.hour);
      case 'I':
        return pad(((t.hour + 11) % 12) + 1);
      case 'j':
        return pad(yday, 3);
      case 'k':
        return pad(t.hour, 2, ' ');
      case 'l':
        return pad(((t.hour + 11) % 12) + 1, 2, ' ');
      case 'm':
        return pad(t.month);
      case 'M':
        return pad(t.minute);
      case 'n':
        return '\n';
      case 'N':
        return pad((epochMs % 1000) * 1000000, 9);
      case 'p':
        return t.hour < 12 ? 'AM' : 'PM';
      case 'r':
        return `${pad(((t.hour + 11) % 12) + 1)}:${pad(t.minute)}:${pad(t.second)} ${t.hour < 12 ? 'AM' : 'PM'}`;
      case 'R':
        return `${pad(t.hour)}:${pad(t.minute)}`;
      case 's':
        return String(secs);
      case 'S':
        return pad(t.second);
      case 't':
        return '\t';
      case 'T':
        return `${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}`;
      case 'u':
        return String(t.weekday === 0 ? 7 : t.weekday);
      case 'w':
        return String(t.weekday);
      case 'y':
        return pad(t.year % 100);
      case 'Y':
        return String(t.year);
      case 'z':
        return off;
      case 'Z':
        return t.zone;
      default:
        return undefined;
    }
  });
}

// ------------------------------------------------------------------ input

/** Calls `fn` for each input: the named files (or `-` for stdin), or stdin if none. */
export async function forEachInput(
  ctx: CommandContext,
  names: string[],
  fn: (data: Buffer | null, name: string) => Promise<void>,
): Promise<number> {
  let status = 0;
  const list = names.length ? names : ['-'];
  for (const n of list) {
    if (n === '-') {
      await fn(null, n);
      continue;
    }
    const path = absPath(ctx, n);
    try {
      const st = ctx.phone.fs.stat(path);
      if (st?.type === 'dir') throw new VfsError('EISDIR', path);
      const data = ctx.phone.fs.readFile(path, ctx.uid);
      await fn(data, n);
    } catch (e) {
      if (!(e instanceof VfsError)) throw e;
      await err(ctx, `${n}: ${e.message}`);
      status = 1;
    }
  }
  return status;
}

/** Iterates the lines of a buffer or of stdin (null), without the newline. */
export async function* lines(ctx: CommandContext, data: Buffer | null): AsyncGenerator<string> {
  if (data) {
    const text = data.toString('utf8');
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) {
        if (start < text.length) yield text.slice(start);
        return;
      }
      yield text.slice(start, nl);
      start = nl + 1;
    }
  }
  const r = new LineReader(ctx.stdin);
  for (;;) {
    const l = await r.readLine();
    if (!l) return;
    yield l.line.toString('utf8');
  }
}

/** The whole of stdin. */
export async function readStdin(ctx: CommandContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (;;) {
    const c = await ctx.stdin.read();
    if (c === null) break;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Single-quotes a word for the shell when needed. */
export function shQuote(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * UTF-8 text in which raw bytes produced by escapes (`\xff`, `\0377`) are carried as U+F780..U+F7FF
 * (see cEscapes): those become single bytes, everything else UTF-8.
 */
export function encodeMixed(s: string): Buffer {
  if (!/[\uf780-\uf7ff]/.test(s)) return Buffer.from(s);
  const parts: Buffer[] = [];
  let run = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xf780 && cp <= 0xf7ff) {
      if (run) parts.push(Buffer.from(run));
      run = '';
      parts.push(Buffer.from([cp - 0xf700]));
    } else run += ch;
  }
  if (run) parts.push(Buffer.from(run));
  return Buffer.concat(parts);
}

/** A byte from an escape: ASCII as is, 0x80-0xff as U+F780..U+F7FF (encodeMixed writes it raw). */
function escByte(b: number): string {
  return String.fromCharCode(b < 0x80 ? b : 0xf700 + b);
}

/** Processes C-style backslash escapes (echo -e, printf). `stop` is set by `\c`. */
export function cEscapes(
  s: string,
  opts: { octalNeedsZero?: boolean } = {},
): { text: string; stop: boolean } {
  let o = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) {
      o += c;
      continue;
    }
    const n = s[++i]!;
    switch (n) {
      case 'a':
        o += '\x07';
        break;
      case 'b':
        o += '\b';
        break;
      case 'c':
        return { text: o, stop: true };
      case 'e':
        o += '\x1b';
        break;
      case 'f':
        o += '\f';
        break;
      case 'n':
        o += '\n';
        break;
      case 'r':
        o += '\r';
        break;
      case 't':
        o += '\t';
        break;
      case 'v':
        o += '\v';
        break;
      case '\\':
        o += '\\';
        break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(i + 1));
        if (m) {
          o += escByte(parseInt(m[0], 16));
          i += m[0].length;
        } else o += '\\x';
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        if (opts.octalNeedsZero && n !== '0') {
          o += `\\${n}`;
          break;
        }
        const digits = n === '0' && opts.octalNeedsZero ? s.slice(i + 1, i + 4) : s.slice(i, i + 3);
        const m = /^[0-7]{0,3}/.exec(digits)![0];
        o += escByte(parseInt(m || '0', 8) & 255);
        i += n === '0' && opts.octalNeedsZero ? m.length : m.length - 1;
        break;
      }
      default:
        o += `\\${n}`;
    }
  }
  return { text: o, stop: false };
}

/** Human-readable size like toybox -h (1.5K, 23M). */
export function human(n: number): string {
  if (n < 1024) return String(n);
  const units = ['K', 'M', 'G', 'T', 'P'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)}${units[u]}`;
}
