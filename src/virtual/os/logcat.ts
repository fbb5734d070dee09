/**
 * The log buffer (logd) and the pieces `logcat` needs: text formats, filter specs and the binary
 * `logger_entry` records of `logcat -B` (adb-protocol.md §4.3).
 */
import type { Profile } from '../profiles/load.ts';
import type { ProcessTable } from './processes.ts';

/** 2 V, 3 D, 4 I, 5 W, 6 E, 7 F (8 = S, silent, only in filters). */
export type Priority = 2 | 3 | 4 | 5 | 6 | 7;
export type LogBufferId = 'main' | 'radio' | 'events' | 'system' | 'crash';

/** log_id_t values, written as the `lid` header field. */
export const LOG_IDS: Record<LogBufferId, number> = { main: 0, radio: 1, events: 2, system: 3, crash: 4 };
const LETTERS = '??VDIWEFS';

export interface LogEntry {
  /** Milliseconds since the epoch. */
  time: number;
  /** Nanoseconds within the second. */
  nsec: number;
  pid: number;
  tid: number;
  priority: Priority;
  tag: string;
  message: string;
  buffer: LogBufferId;
}

export interface LogInput {
  pid: number;
  tid?: number;
  priority: Priority;
  tag: string;
  message: string;
  buffer?: LogBufferId;
  time?: number;
}

export function priorityLetter(p: number): string {
  return LETTERS[p] ?? '?';
}

/** `V`/`verbose`/`2` … → priority; 8 for S/silent; undefined when unknown. */
export function parsePriority(s: string): number | undefined {
  const t = s.trim().toUpperCase();
  if (/^[2-8]$/.test(t)) return Number(t);
  const i = LETTERS.indexOf(t.charAt(0), 2);
  if (i < 2) return undefined;
  const words = ['VERBOSE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL', 'SILENT'];
  if (t.length > 1 && !words.includes(t) && !(t === 'WARNING' && i === 5)) return undefined;
  return i;
}

export class LogBuffer {
  private ring: LogEntry[] = [];
  private readonly listeners = new Set<(e: LogEntry) => void>();
  private lastMs = 0;
  private subMs = 0;
  /** The phone boot (VirtualPhone.bootedAt) whose boot messages have been recorded. */
  bootStamp: number | undefined;

  constructor(readonly capacity = 5000) {}

  append(input: LogInput): LogEntry {
    const entry = this.make(input);
    this.ring.push(entry);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    for (const cb of [...this.listeners]) cb(entry);
    return entry;
  }

  /** Puts older entries (e.g. the boot log) before everything recorded so far; no subscriber sees them. */
  prepend(inputs: LogInput[]): void {
    this.ring.unshift(...inputs.map((i) => this.make(i)));
    if (this.ring.length > this.capacity) this.ring.splice(this.capacity);
  }

  private make(input: LogInput): LogEntry {
    const time = input.time ?? Date.now();
    // Distinct, increasing timestamps within one millisecond, as real entries have.
    this.subMs = time === this.lastMs ? this.subMs + 1000 : ((time * 997) % 1000) * 1000;
    this.lastMs = time;
    return {
      time,
      nsec: (time % 1000) * 1_000_000 + (this.subMs % 1_000_000),
      pid: input.pid,
      tid: input.tid ?? input.pid,
      priority: input.priority,
      tag: input.tag,
      message: input.message,
      buffer: input.buffer ?? 'main',
    };
  }

  /** Shorthand for {@link append}. */
  log(
    priority: Priority,
    tag: string,
    message: string,
    opts: { pid?: number; tid?: number; buffer?: LogBufferId } = {},
  ) {
    return this.append({ priority, tag, message, pid: opts.pid ?? 0, tid: opts.tid, buffer: opts.buffer });
  }

  /** Empties the given buffers (all when omitted), as `logcat -c` does. */
  clear(buffers?: LogBufferId[]): void {
    this.ring = buffers ? this.ring.filter((e) => !buffers.includes(e.buffer)) : [];
  }

  entries(): readonly LogEntry[] {
    return this.ring;
  }

  /** Calls `cb` for every new entry; returns the unsubscribe function. */
  subscribe(cb: (e: LogEntry) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
}

/** One `logger_entry` (v3 header, 24 bytes) + payload `prio, tag\0, msg\0`. */
export function encodeBinaryEntry(e: LogEntry): Buffer {
  const tag = Buffer.from(e.tag, 'utf8');
  const msg = Buffer.from(e.message, 'utf8');
  const payloadLen = 1 + tag.length + 1 + msg.length + 1;
  const buf = Buffer.alloc(24 + payloadLen);
  buf.writeUInt16LE(payloadLen, 0);
  buf.writeUInt16LE(24, 2);
  buf.writeInt32LE(e.pid, 4);
  buf.writeInt32LE(e.tid, 8);
  buf.writeInt32LE(Math.floor(e.time / 1000), 12);
  buf.writeInt32LE(e.nsec, 16);
  buf.writeUInt32LE(LOG_IDS[e.buffer], 20);
  buf.writeUInt8(e.priority, 24);
  tag.copy(buf, 25);
  msg.copy(buf, 26 + tag.length);
  return buf;
}

export type LogFormat = 'threadtime' | 'brief' | 'time' | 'process' | 'tag' | 'thread' | 'raw' | 'long';
export const LOG_FORMATS: readonly LogFormat[] = [
  'threadtime',
  'brief',
  'time',
  'process',
  'tag',
  'thread',
  'raw',
  'long',
];

export interface FormatOptions {
  /** IANA zone for the timestamps (persist.sys.timezone). */
  timeZone?: string;
  year?: boolean;
  usec?: boolean;
  epoch?: boolean;
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();

function stamp(e: LogEntry, o: FormatOptions): string {
  const frac = o.usec
    ? String(Math.floor(e.nsec / 1000)).padStart(6, '0')
    : String(Math.floor(e.nsec / 1_000_000)).padStart(3, '0');
  if (o.epoch) return `${String(Math.floor(e.time / 1000)).padStart(10)}.${frac}`;
  const zone = o.timeZone || 'UTC';
  let fmt = dateFormats.get(zone);
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat('en-GB', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
      });
    } catch {
      fmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', hourCycle: 'h23' });
    }
    dateFormats.set(zone, fmt);
  }
  const parts: Record<string, string> = {};
  for (const p of fmt.formatToParts(new Date(e.time))) parts[p.type] = p.value;
  const date = `${o.year ? `${parts.year}-` : ''}${parts.month}-${parts.day}`;
  return `${date} ${parts.hour}:${parts.minute}:${parts.second}.${frac}`;
}

/** Formats one entry as `logcat -v FORMAT` prints it (each message line prefixed), with a newline. */
export function formatEntry(e: LogEntry, format: LogFormat = 'threadtime', o: FormatOptions = {}): string {
  const p = priorityLetter(e.priority);
  const tag8 = e.tag.padEnd(8);
  const pid5 = String(e.pid).padStart(5);
  const tid5 = String(e.tid).padStart(5);
  if (format === 'long') return `[ ${stamp(e, o)} ${pid5}:${tid5} ${p}/${e.tag} ]\n${e.message}\n\n`;
  const prefix = (): string => {
    switch (format) {
      case 'brief':
        return `${p}/${tag8}(${pid5}): `;
      case 'time':
        return `${stamp(e, o)} ${p}/${tag8}(${pid5}): `;
      case 'process':
        return `${p}(${pid5}) `;
      case 'tag':
        return `${p}/${tag8}: `;
      case 'thread':
        return `${p}(${pid5}:${tid5}) `;
      case 'raw':
        return '';
      default:
        return `${stamp(e, o)} ${pid5} ${tid5} ${p} ${tag8}: `;
    }
  };
  const suffix = format === 'process' ? `  (${e.tag})` : '';
  return (
    e.message
      .split('\n')
      .map((line) => prefix() + line + suffix)
      .join('\n') + '\n'
  );
}

/** Parsed filter specs (`Tag:I *:S`): per-tag minimum priority and the default. */
export interface LogFilter {
  tags: Map<string, number>;
  defaultPriority: number;
}

/**
 * Builds a filter from `TAG[:PRIO]` specs; `*:P` sets the default. Returns an error string for a
 * malformed spec (logcat: "Invalid filter expression").
 */
export function parseFilterSpecs(specs: string[], silentByDefault = false): LogFilter | string {
  const filter: LogFilter = { tags: new Map(), defaultPriority: silentByDefault ? 8 : 2 };
  for (const spec of specs.flatMap((s) => s.split(/\s+/)).filter(Boolean)) {
    const colon = spec.lastIndexOf(':');
    const tag = colon >= 0 ? spec.slice(0, colon) : spec;
    const prio = colon >= 0 ? parsePriority(spec.slice(colon + 1)) : 2;
    if (prio === undefined || tag === '') return spec;
    if (tag === '*') filter.defaultPriority = prio;
    else filter.tags.set(tag, prio);
  }
  return filter;
}

export function matchesFilter(e: LogEntry, f: LogFilter): boolean {
  return e.priority >= (f.tags.get(e.tag) ?? f.defaultPriority);
}

/**
 * The messages a boot leaves in the log: init, zygote, system_server and the home screen. They are
 * dated in the ~10 s before `bootedAt` (the moment the virtual phone became ready).
 */
export function recordBoot(buf: LogBuffer, profile: Profile, procs: ProcessTable, bootedAt: number): void {
  const sdk = Number(profile.props['ro.build.version.sdk'] ?? '29');
  const pid = (name: string): number => procs.byName(name)[0]?.pid ?? 0;
  const init = 1;
  const zygote = pid('zygote64') || pid('zygote');
  const ss = pid('system_server');
  const home = procs.byName('com.miui.home')[0];
  const lines: Array<[number, number, Priority, string, string, LogBufferId?]> = [
    [0, init, 4, 'init', 'init second stage started!'],
    [40, init, 4, 'init', 'Parsing file /system/etc/init/hw/init.rc...'],
    [310, pid('logd'), 4, 'logd', 'logd reinit'],
    [900, zygote, 4, 'Zygote', 'Preloading classes...'],
    [1800, zygote, 4, 'Zygote', '...preloaded 7587 classes in 812ms.'],
    [2300, ss, 4, 'SystemServer', 'Entered the Android system server!', 'system'],
    [2400, ss, 4, 'SystemServer', 'StartPackageManagerService', 'system'],
    [5200, ss, 4, 'ActivityManager', 'System now ready', 'system'],
    [
      5300,
      ss,
      4,
      sdk >= 29 ? 'ActivityTaskManager' : 'ActivityManager',
      'START u0 {act=android.intent.action.MAIN cat=[android.intent.category.HOME] flg=0x10000100 cmp=com.miui.home/.launcher.Launcher} from uid 0',
      'system',
    ],
  ];
  if (home) {
    const reason = sdk >= 30 ? 'pre-top-activity' : 'activity';
    lines.push([
      5350,
      ss,
      4,
      'ActivityManager',
      `Start proc ${home.pid}:com.miui.home/${home.user.replace('_', '')} for ${reason} {com.miui.home/com.miui.home.launcher.Launcher}`,
      'system',
    ]);
  }
  lines.push(
    [6100, ss, 4, 'WindowManager', 'Finished enabling screen', 'system'],
    [9000, ss, 4, 'ActivityManager', 'Finished processing BOOT_COMPLETED for u0', 'system'],
  );
  buf.prepend(
    lines.map(([dt, pid, priority, tag, message, buffer]) => ({
      time: bootedAt - 9500 + dt,
      pid,
      priority,
      tag,
      message,
      buffer: buffer ?? 'main',
    })),
  );
  buf.bootStamp = bootedAt;
}
