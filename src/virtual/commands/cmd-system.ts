/**
 * System commands: id, whoami, su and magisk (rooted profiles only; su.ts), ps, pidof, pgrep, kill, mount, umount,
 * nsenter, getenforce, setenforce, reboot. Output formats follow toybox on Android 10–14.
 */
import { groupsOf } from '../os/vfs.ts';
import type { CommandContext } from './types.ts';
import { type ProcessInfo, userName } from '../os/processes.ts';
import { shQuote } from '../shell/coreutils.ts';
import { RegexRefusedError, filterMatching } from '../os/regex-worker.ts';
import { deviceState, err, errnoText, lines, out, readStdin, resolvePath, sdkOf } from './util.ts';

/** id's groups: the shell's supplementary groups (also for root, as adbd/su grant them). */
function groupsFor(uid: number, sdk: number): Array<[number, string]> {
  if (uid !== 0 && uid !== 2000) return [[uid, userName(uid)]];
  // ext_data_rw / ext_obb_rw arrived with Android 11.
  const extra = groupsOf(2000).filter((g) => g !== 2000 && (sdk >= 30 || (g !== 1078 && g !== 1079)));
  return [uid, ...extra].map((g) => [g, userName(g)]);
}

function contextOf(uid: number): string {
  return uid === 2000
    ? 'u:r:shell:s0'
    : uid === 0
      ? 'u:r:su:s0'
      : uid >= 10000
        ? 'u:r:untrusted_app:s0'
        : 'u:r:su:s0';
}

export async function id(ctx: CommandContext): Promise<number> {
  const flags = new Set(
    ctx.argv
      .slice(1)
      .filter((a) => a.startsWith('-'))
      .flatMap((a) => [...a.slice(1)]),
  );
  const uid = ctx.uid;
  const name = userName(uid);
  const groups = groupsFor(uid, sdkOf(ctx.phone));
  const named = flags.has('n');
  if (flags.has('Z')) await out(ctx, `${contextOf(uid)}\n`);
  else if (flags.has('u') || flags.has('g')) await out(ctx, `${named ? name : uid}\n`);
  else if (flags.has('G')) await out(ctx, groups.map(([g, n]) => (named ? n : g)).join(' ') + '\n');
  else {
    await out(
      ctx,
      `uid=${uid}(${name}) gid=${uid}(${name}) groups=${groups.map(([g, n]) => `${g}(${n})`).join(',')} context=${contextOf(uid)}\n`,
    );
  }
  return 0;
}

export async function whoami(ctx: CommandContext): Promise<number> {
  await out(ctx, `${userName(ctx.uid)}\n`);
  return 0;
}

/** `su` and `magisk`: see su.ts (MagiskSU by default; absent on profiles that are not rooted). */
export { magisk, su } from './su.ts';

// ---------------------------------------------------------------------------------------------- ps

interface Field {
  title: string;
  width: number;
  left: boolean;
  get: (p: ProcessInfo) => string;
}

function timeOf(p: ProcessInfo): string {
  const secs = Math.floor((p.rss % 977) / 3);
  return `00:00:${String(secs % 60).padStart(2, '0')}`;
}

function stimeOf(p: ProcessInfo): string {
  return new Date(p.startedAt).toISOString().slice(11, 19);
}

const FIELDS: Record<string, Omit<Field, 'title'>> = {
  PID: { width: 5, left: false, get: (p) => String(p.pid) },
  TID: { width: 5, left: false, get: (p) => String(p.pid) },
  PPID: { width: 5, left: false, get: (p) => String(p.ppid) },
  USER: { width: 12, left: true, get: (p) => p.user },
  UID: { width: 5, left: false, get: (p) => String(p.uid) },
  GID: { width: 5, left: false, get: (p) => String(p.uid) },
  VSZ: { width: 7, left: false, get: (p) => String(p.vsz) },
  VSIZE: { width: 7, left: false, get: (p) => String(p.vsz) },
  RSS: { width: 6, left: false, get: (p) => String(p.rss) },
  WCHAN: { width: 16, left: true, get: (p) => p.wchan },
  ADDR: { width: 4, left: false, get: () => '0' },
  S: { width: 1, left: true, get: (p) => p.state },
  STAT: { width: 5, left: true, get: (p) => p.state },
  NAME: { width: 27, left: true, get: (p) => p.name },
  CMD: { width: 27, left: true, get: (p) => p.name },
  COMM: { width: 15, left: true, get: (p) => p.name.slice(0, 15) },
  ARGS: { width: 27, left: true, get: (p) => (p.name === 'init' ? 'init second_stage' : p.name) },
  CMDLINE: { width: 27, left: true, get: (p) => p.name },
  TTY: { width: 8, left: true, get: () => '?' },
  TIME: { width: 8, left: false, get: timeOf },
  STIME: { width: 5, left: false, get: stimeOf },
  C: { width: 1, left: false, get: () => '0' },
  PRI: { width: 3, left: false, get: (p) => (p.package ? '19' : '20') },
  NI: { width: 3, left: false, get: () => '0' },
  PCY: { width: 3, left: true, get: (p) => (p.package ? 'fg' : '') },
  LABEL: { width: 30, left: true, get: (p) => p.label },
  '%CPU': { width: 4, left: false, get: () => '0.0' },
  '%MEM': { width: 4, left: false, get: (p) => (p.rss / 40000).toFixed(1) },
  CPU: { width: 3, left: false, get: (p) => String(p.pid % 8) },
  F: { width: 1, left: false, get: () => '4' },
};

function field(spec: string): Field | string {
  const [nameSize = '', title] = spec.split('=', 2);
  const [name = '', size] = nameSize.split(':');
  const f = FIELDS[name.toUpperCase()];
  if (!f) return name;
  return { ...f, width: size ? Number(size) || f.width : f.width, title: title ?? name.toUpperCase() };
}

function render(fields: Field[], rows: ProcessInfo[], header = true): string[] {
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => {
        const f = fields[i] as Field;
        if (i === fields.length - 1) return f.left ? c : c.padStart(f.width);
        return f.left ? c.padEnd(f.width) : c.padStart(f.width);
      })
      .join(' ')
      .replace(/\s+$/, '');
  const outRows = rows.map((p) => line(fields.map((f) => f.get(p))));
  return header && fields.some((f) => f.title) ? [line(fields.map((f) => f.title)), ...outRows] : outRows;
}

const PS_HELP = `usage: ps [-AadefLlnwZ] [-gG GROUP,] [-k FIELD,] [-o FIELD,] [-p PID,] [-t TTY,] [-uU USER,]

List processes.

Which processes to show (-gGuUpPt selections may be comma separated lists):

-A  All                                 -a  Has terminal not session leader
-d  All but session leaders             -e  Synonym for -A
-g  In GROUPs                           -G  In real GROUPs (before sgid)
-p  PIDs (--pid)                        -P  Parent PIDs (--ppid)
-s  In session IDs                      -t  Attached to selected TTYs
-T  Show threads also                   -u  Owned by selected USERs
-U  Real USERs (before suid)

Output modifiers:

-k  Sort FIELDs (-FIELD to reverse)     -M  Measure/pad future field widths
-n  Show numeric USER and GROUP         -w  Wide output (don't truncate fields)

Which FIELDs to show. (-o HELP for list, default = -o PID,TTY,TIME,CMD)

-f  Full listing (-o USER:12=UID,PID,PPID,C,STIME,TTY,TIME,ARGS=CMD)
-l  Long listing (-o F,S,UID,PID,PPID,C,PRI,NI,ADDR,SZ,WCHAN,TTY,TIME,CMD)
-o  Output FIELDs instead of defaults, each with optional :size and =title
-O  Add FIELDS to defaults
-Z  Include LABEL
`;

const DEFAULT_FIELDS = 'USER,PID,PPID,VSZ,RSS,WCHAN,ADDR,S,NAME';
const FULL_FIELDS = 'USER:12=UID,PID,PPID,C,STIME,TTY,TIME,ARGS=CMD';

export async function ps(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  const flags = new Set<string>();
  const values: Record<string, string[]> = {};
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--help') {
      await out(ctx, PS_HELP);
      return 0;
    }
    if (a === '--pid' || a === '--ppid') {
      (values[a === '--pid' ? 'p' : 'P'] ??= []).push(args[++i] ?? '');
      continue;
    }
    if (!a.startsWith('-') || a.length < 2) {
      names.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a.charAt(j);
      if ('oOpPuUgGtks'.includes(c)) {
        const v = j + 1 < a.length ? a.slice(j + 1) : args[++i];
        if (v === undefined) {
          await err(ctx, `ps: Missing argument to -${c}\n`);
          return 1;
        }
        (values[c] ??= []).push(v);
        break;
      }
      if (!'AadefLlnwZTMH'.includes(c)) {
        await err(ctx, `ps: Unknown option '${c}' (see "ps --help")\n`);
        return 1;
      }
      flags.add(c);
    }
  }
  let spec = flags.has('f') ? FULL_FIELDS : DEFAULT_FIELDS;
  if (values.o) spec = values.o.join(',');
  else if (values.O) spec = `${DEFAULT_FIELDS.replace(/,NAME$/, '')},${values.O.join(',')},NAME`;
  if (flags.has('Z') && !values.o) spec = `LABEL,${spec}`;
  const fields: Field[] = [];
  for (const s of spec.split(',').filter(Boolean)) {
    const f = field(s);
    if (typeof f === 'string') {
      await err(ctx, `ps: bad -o ${f}\n`);
      return 1;
    }
    fields.push(f);
  }
  const list = (k: string): string[] => (values[k] ?? []).flatMap((v) => v.split(/[,\s]+/)).filter(Boolean);
  const pids = list('p').map(Number);
  const ppids = list('P').map(Number);
  const users = list('u').concat(list('U'));
  const selective = pids.length + ppids.length + users.length + names.length > 0;
  const all = flags.has('A') || flags.has('e');
  let rows: ProcessInfo[];
  if (all || selective) {
    rows = ctx.phone.processes.list();
    if (selective && !all) {
      rows = rows.filter(
        (p) =>
          pids.includes(p.pid) ||
          ppids.includes(p.ppid) ||
          users.includes(p.user) ||
          users.includes(String(p.uid)) ||
          names.includes(p.name),
      );
    }
  } else rows = sessionProcesses(ctx);
  await lines(ctx, render(fields, rows));
  return 0;
}

/** Without -A toybox ps shows the caller's terminal session: the shell and ps itself. */
function sessionProcesses(ctx: CommandContext): ProcessInfo[] {
  const adbd = ctx.phone.processes.byName('adbd')[0];
  const base = (adbd?.pid ?? 700) + 4000 + (Date.now() % 900);
  const mk = (pid: number, ppid: number, name: string, state: ProcessInfo['state']): ProcessInfo => ({
    pid,
    ppid,
    uid: ctx.uid,
    user: userName(ctx.uid),
    name,
    vsz: 10_800_000 + (pid % 90_000),
    rss: 3000 + (pid % 900),
    wchan: state === 'R' ? '0' : 'sigsuspend',
    state,
    label: contextOf(ctx.uid),
    startedAt: Date.now(),
  });
  return [mk(base, adbd?.pid ?? 1, 'sh', 'S'), mk(base + 1, base, 'ps', 'R')];
}

export async function pidof(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let single = false;
  const omit = new Set<number>();
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-s') single = true;
    else if (a === '-o') omit.add(Number(args[++i]));
    else names.push(a);
  }
  let found = names.flatMap((n) => ctx.phone.processes.pidOf(n)).filter((p) => !omit.has(p));
  if (single) found = found.slice(0, 1);
  if (found.length === 0) return 1;
  await out(ctx, found.join(' ') + '\n');
  return 0;
}

export async function pgrep(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let long = false;
  let pattern: string | undefined;
  const users: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-u' || a === '-U') users.push(...(args[++i] ?? '').split(','));
    else if (a.startsWith('-')) {
      if (a.includes('l')) long = true;
    } else pattern = a;
  }
  if (pattern === undefined) {
    await err(ctx, 'pgrep: Need 1 argument\n');
    return 2;
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    await err(ctx, `pgrep: bad regex '${pattern}'\n`);
    return 2;
  }
  // The pattern is the user's: it is matched in the regex worker, off the event loop every phone shares.
  const rows = await filterMatching(
    re,
    ctx.phone.processes
      .list()
      .filter((p) => users.length === 0 || users.includes(p.user) || users.includes(String(p.uid))),
    (p) => p.name,
    { owner: ctx.phone.serialno, signal: ctx.signal },
  );
  if (rows instanceof RegexRefusedError) {
    await err(ctx, `pgrep: ${rows.message}\n`);
    return 2;
  }
  if (rows.length === 0) return 1;
  await lines(
    ctx,
    rows.map((p) => (long ? `${p.pid} ${p.name}` : String(p.pid))),
  );
  return 0;
}

const SIGNALS = [
  'HUP',
  'INT',
  'QUIT',
  'ILL',
  'TRAP',
  'ABRT',
  'BUS',
  'FPE',
  'KILL',
  'USR1',
  'SEGV',
  'USR2',
  'PIPE',
  'ALRM',
  'TERM',
];

export async function kill(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  if (args[0] === '-l') {
    await out(ctx, SIGNALS.map((s, i) => `${String(i + 1).padStart(2)}) SIG${s}`).join('\n') + '\n');
    return 0;
  }
  let signal = 15;
  if (args[0] === '-s') {
    args.shift();
    const name = (args.shift() ?? '').toUpperCase().replace(/^SIG/, '');
    signal = /^\d+$/.test(name) ? Number(name) : SIGNALS.indexOf(name) + 1;
  } else if (args[0]?.startsWith('-') && args[0].length > 1) {
    const name = (args.shift() as string).slice(1).toUpperCase().replace(/^SIG/, '');
    signal = /^\d+$/.test(name) ? Number(name) : SIGNALS.indexOf(name) + 1;
  }
  if (signal < 0 || Number.isNaN(signal)) {
    await err(ctx, 'kill: unknown signal\n');
    return 1;
  }
  if (args.length === 0) {
    await err(ctx, 'usage: kill [-l [SIGNAL] | -s SIGNAL | -SIGNAL] PID...\n');
    return 1;
  }
  let status = 0;
  for (const a of args) {
    const pid = Number(a);
    const proc = Number.isInteger(pid) ? ctx.phone.processes.get(pid) : undefined;
    if (!proc) {
      await err(ctx, `kill: ${a}: No such process\n`);
      status = 1;
    } else if (ctx.uid !== 0 && proc.uid !== ctx.uid) {
      await err(ctx, `kill: ${a}: Operation not permitted\n`);
      status = 1;
    } else if (signal !== 0 && proc.pid !== 1) {
      ctx.phone.processes.kill(pid);
    }
  }
  return status;
}

// ------------------------------------------------------------------------------------- mount & co

export async function mount(ctx: CommandContext): Promise<number> {
  const fs = ctx.phone.fs;
  const args = ctx.argv.slice(1);
  const opts: string[] = [];
  let type: string | undefined;
  const pos: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-t') type = args[++i];
    else if (a.startsWith('-t') && a.length > 2) type = a.slice(2);
    else if (a === '-o') opts.push(...(args[++i] ?? '').split(','));
    else if (a.startsWith('-o') && a.length > 2) opts.push(...a.slice(2).split(','));
    else if (a === '--bind' || a === '-B') opts.push('bind');
    else if (a === '--rbind' || a === '-R') opts.push('bind');
    else if (a === '-r') opts.push('ro');
    else if (a === '-w') opts.push('rw');
    else if (a.startsWith('-') && a.length > 1)
      continue; // -f, -n, -v, -a …
    else pos.push(a);
  }
  if (pos.length === 0 && opts.length === 0 && !type) {
    await lines(
      ctx,
      fs.mounts().map((m) => `${m.source} on ${m.target} type ${m.type} (${m.options})`),
    );
    return 0;
  }
  const readOnly = opts.includes('ro') ? true : opts.includes('rw') ? false : undefined;
  const remount = opts.includes('remount');
  const target = resolvePath(ctx, (remount ? pos[pos.length - 1] : pos[1]) ?? pos[0] ?? '');
  const source = remount ? target : ((pos.length >= 2 ? pos[0] : type) ?? 'none');
  const fail = async (why: string): Promise<number> => {
    await err(ctx, `mount: '${source}'->'${target}': ${why}\n`);
    return 1;
  };
  if (ctx.uid !== 0) return fail('Operation not permitted');
  try {
    if (remount) fs.remount(target, { readOnly: readOnly ?? false, uid: ctx.uid });
    else if (opts.includes('bind')) {
      fs.mount({
        source: resolvePath(ctx, source),
        target,
        type: 'bind',
        readOnly: readOnly ?? false,
        uid: ctx.uid,
      });
    } else if (type === 'tmpfs') {
      fs.mount({ source, target, type: 'tmpfs', readOnly: readOnly ?? false, uid: ctx.uid });
    } else return fail('No such device');
  } catch (e) {
    return fail(errnoText(e));
  }
  return 0;
}

export async function umount(ctx: CommandContext): Promise<number> {
  const targets = ctx.argv.slice(1).filter((a) => !a.startsWith('-'));
  if (targets.length === 0) {
    await err(ctx, 'umount: Need 1 argument\n');
    return 1;
  }
  let status = 0;
  for (const t of targets) {
    if (ctx.uid !== 0) {
      await err(ctx, `umount: ${t}: Operation not permitted\n`);
      status = 1;
      continue;
    }
    try {
      ctx.phone.fs.umount(resolvePath(ctx, t), ctx.uid);
    } catch (e) {
      await err(ctx, `umount: ${t}: ${errnoText(e)}\n`);
      status = 1;
    }
  }
  return status;
}

/**
 * `nsenter --mount=/proc/PID/ns/mnt -- CMD…` / `nsenter -t PID -m -- CMD…` (root only): runs CMD
 * (or the script on stdin) with the filesystem as seen from PID's mount namespace. Other namespace
 * kinds (`--net=`, `-n` …) are accepted and change nothing.
 */
export async function nsenter(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  let pid: number | undefined;
  let mountPid: number | undefined;
  let wantMount = false;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      i++;
      break;
    }
    // toybox: a namespace option may name the namespace file itself: `--mount=/proc/PID/ns/mnt`
    // or `-m=/proc/PID/ns/mnt` (`nsenter --help`: "ala -i=/proc/$PID/ns/ipc").
    const nsFile =
      /^(?:--(mount|net|uts|ipc|pid|user|cgroup)|-([mnuipUC]))=\/proc\/(\d+|self)\/ns\/\w+$/.exec(a);
    if (nsFile) {
      const p = nsFile[3] === 'self' ? undefined : Number(nsFile[3]);
      if (p !== undefined) pid = p;
      if (nsFile[1] === 'mount' || nsFile[2] === 'm') {
        if (p === undefined)
          wantMount = false; // our own namespace: nothing to enter
        else mountPid = p;
      }
    } else if (a === '-t' || a === '--target') pid = Number(args[++i]);
    else if (/^--target=\d+$/.test(a)) pid = Number(a.slice('--target='.length));
    else if (/^-t\d+$/.test(a)) pid = Number(a.slice(2));
    else if (a === '-m' || a === '--mount' || a === '-a' || a === '--all') wantMount = true;
    else if (/^-[a-zA-Z]+$/.test(a) && a.includes('m') && !a.includes('t')) wantMount = true;
    else if (!a.startsWith('-')) break;
  }
  if (wantMount && mountPid === undefined) mountPid = pid;
  const command = args.slice(i);
  if (ctx.uid !== 0) {
    await err(ctx, 'nsenter: setns: Operation not permitted\n');
    return 1;
  }
  if (pid === undefined || !ctx.phone.processes.get(pid)) {
    await err(ctx, `nsenter: /proc/${pid ?? '?'}/ns/mnt: No such file or directory\n`);
    return 1;
  }
  const script = command.length ? command.map(shQuote).join(' ') : (await readStdin(ctx)).toString('utf8');
  const ns = mountPid === undefined ? undefined : ctx.phone.processes.mountNamespace(mountPid);
  if (!ns) return ctx.runShell(script, { uid: ctx.uid });
  return ctx.phone.fs.runInNamespace(ns, () => ctx.runShell(script, { uid: ctx.uid }));
}

export async function getenforce(ctx: CommandContext): Promise<number> {
  await out(ctx, deviceState(ctx.phone).selinuxEnforcing ? 'Enforcing\n' : 'Permissive\n');
  return 0;
}

export async function setenforce(ctx: CommandContext): Promise<number> {
  const v = (ctx.argv[1] ?? '').toLowerCase();
  const mode = v === '1' || v === 'enforcing' ? true : v === '0' || v === 'permissive' ? false : undefined;
  if (mode === undefined) {
    await err(ctx, 'usage: setenforce [enforcing|permissive|1|0]\n');
    return 1;
  }
  if (ctx.uid !== 0) {
    await err(ctx, `setenforce: Couldn't set enforcing status to '${ctx.argv[1]}': Permission denied\n`);
    return 1;
  }
  deviceState(ctx.phone).selinuxEnforcing = mode;
  return 0;
}

export async function reboot(ctx: CommandContext): Promise<number> {
  const reason = ctx.argv.slice(1).find((a) => !a.startsWith('-')) ?? '';
  ctx.phone.emit('reboot-request', reason);
  return 0;
}
