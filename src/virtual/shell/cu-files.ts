/** File utilities (toybox-like): ls, mkdir, rm, cp, mv, touch, chmod, chown, chcon, ln, stat, find … */
import { S_IFMT, VfsError, type Vfs, type VfsStat } from '../os/vfs.ts';
import type { CommandContext, CommandTable } from '../commands/types.ts';
import {
  absPath,
  badOption,
  err,
  errText,
  getopt,
  human,
  idName,
  lastValue,
  out,
  parseId,
  phoneTimeZone,
  shQuote,
  expandDirectives,
  strftime,
} from './cu-common.ts';
import { matchPattern } from './pattern.ts';

function basename(p: string): string {
  const t = p.replace(/\/+$/, '');
  if (t === '') return p.startsWith('/') ? '/' : '';
  return t.slice(t.lastIndexOf('/') + 1);
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** `drwxr-xr-x` for a mode. */
export function modeString(mode: number): string {
  const fmt = mode & S_IFMT;
  const t =
    fmt === 0o040000
      ? 'd'
      : fmt === 0o120000
        ? 'l'
        : fmt === 0o020000
          ? 'c'
          : fmt === 0o060000
            ? 'b'
            : fmt === 0o010000
              ? 'p'
              : fmt === 0o140000
                ? 's'
                : '-';
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? 'r' : '-') +
    (bits & 2 ? 'w' : '-') +
    (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    t +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

function fileType(st: VfsStat): string {
  const fmt = st.mode & S_IFMT;
  if (fmt === 0o040000) return 'directory';
  if (fmt === 0o120000) return 'symbolic link';
  if (fmt === 0o020000) return 'character special file';
  return st.size === 0 ? 'regular empty file' : 'regular file';
}

// ------------------------------------------------------------------ ls

interface LsEntry {
  name: string;
  path: string;
  st: VfsStat;
}

async function ls(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'lad1RAFhnZitrSspcuqHLCx', long: { color: '_', all: 'a' } });
  const f = p.flags;
  const fs = ctx.phone.fs;
  const long = f.has('l') || f.has('n');
  const tz = phoneTimeZone(ctx);
  let status = 0;

  const sortEntries = (list: LsEntry[]) => {
    list.sort((a, b) => {
      let c = 0;
      if (f.has('t')) c = b.st.mtime - a.st.mtime;
      else if (f.has('S')) c = b.st.size - a.st.size;
      if (c === 0) c = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      return f.has('r') ? -c : c;
    });
  };

  const format = (list: LsEntry[]): string => {
    if (!long) {
      return list
        .map((e) => {
          let s = '';
          if (f.has('i')) s += `${e.st.ino} `;
          if (f.has('s')) s += `${Math.ceil(e.st.size / 4096) * 4} `;
          if (f.has('Z')) s += `${e.st.label} `;
          s += e.name;
          if (f.has('F'))
            s += e.st.type === 'dir' ? '/' : e.st.type === 'symlink' ? '@' : e.st.mode & 0o111 ? '*' : '';
          return `${s}\n`;
        })
        .join('');
    }
    const rows = list.map((e) => {
      const st = e.st;
      const isDev = (st.mode & S_IFMT) === 0o020000;
      const size = isDev
        ? `${(st.rdev ?? 0) >> 8}, ${String((st.rdev ?? 0) & 255).padStart(3)}`
        : f.has('h')
          ? human(st.size)
          : String(st.size);
      let name = e.name;
      if (st.type === 'symlink') {
        try {
          name += ` -> ${fs.readlink(e.path)}`;
        } catch {
          // unreadable link
        }
      }
      return {
        ino: String(st.ino),
        mode: modeString(st.mode),
        links: String(st.nlink),
        user: f.has('n') ? String(st.uid) : idName(st.uid),
        group: f.has('n') ? String(st.gid) : idName(st.gid),
        label: st.label,
        size,
        date: strftime('%Y-%m-%d %H:%M', st.mtime * 1000, tz),
        name,
      };
    });
    const w = (k: keyof (typeof rows)[number]) => Math.max(0, ...rows.map((r) => r[k].length));
    const wi = w('ino');
    const wl = w('links');
    const wu = w('user');
    const wg = w('group');
    const wz = w('label');
    const ws = w('size');
    return rows
      .map(
        (r) =>
          (f.has('i') ? `${r.ino.padStart(wi)} ` : '') +
          `${r.mode} ${r.links.padStart(wl)} ${r.user.padEnd(wu)} ${r.group.padEnd(wg)} ` +
          (f.has('Z') ? `${r.label.padEnd(wz)} ` : '') +
          `${r.size.padStart(ws)} ${r.date} ${r.name}\n`,
      )
      .join('');
  };

  const listDir = (path: string, shown: string): { entries: LsEntry[]; error?: string } => {
    let names: string[];
    try {
      names = fs.readdir(path, ctx.uid);
    } catch (e) {
      return { entries: [], error: `${shown}: ${errText(e)}` };
    }
    const entries: LsEntry[] = [];
    if (f.has('a')) {
      for (const dot of ['.', '..']) {
        const st = fs.stat(fs.normalize(dot, path));
        if (st) entries.push({ name: dot, path: fs.normalize(dot, path), st });
      }
    }
    for (const n of names) {
      if (n.startsWith('.') && !f.has('a') && !f.has('A')) continue;
      const full = joinPath(path, n);
      const st = fs.lstat(full);
      if (st) entries.push({ name: n, path: full, st });
    }
    sortEntries(entries);
    return { entries };
  };

  const total = (list: LsEntry[]) =>
    list.reduce(
      (sum, e) =>
        sum + (e.st.type === 'dir' ? 4 : e.st.type === 'file' ? Math.ceil(e.st.size / 4096) * 4 : 0),
      0,
    );

  const args = p.args.length ? p.args : ['.'];
  const files: LsEntry[] = [];
  const dirs: Array<{ shown: string; path: string }> = [];
  for (const a of args) {
    const path = absPath(ctx, a);
    const follow = !long || a.endsWith('/') || f.has('L') || f.has('H');
    let st: VfsStat | null;
    try {
      fs.realpath(path.replace(/\/[^/]*$/, '') || '/', ctx.uid);
      // A dangling symlink is still listed.
      st = (follow ? fs.stat(path) : null) ?? fs.lstat(path);
      if (!st) throw new VfsError('ENOENT', path);
    } catch (e) {
      await err(ctx, `${a}: ${errText(e)}`);
      status = 1;
      continue;
    }
    if (st.type === 'dir' && !f.has('d')) dirs.push({ shown: a, path });
    else files.push({ name: a, path, st });
  }
  sortEntries(files);
  let text = format(files);
  const header = files.length > 0 || dirs.length > 1 || f.has('R');
  let first = files.length === 0;
  const queue = [...dirs];
  while (queue.length) {
    const d = queue.shift()!;
    const { entries, error } = listDir(d.path, d.shown);
    if (header) text += `${first ? '' : '\n'}${d.shown}:\n`;
    first = false;
    if (error) {
      await out(ctx, text);
      text = '';
      await err(ctx, error);
      status = 1;
      continue;
    }
    if (long) text += `total ${total(entries)}\n`;
    text += format(entries);
    if (f.has('R')) {
      const subs = entries
        .filter((e) => e.st.type === 'dir' && e.name !== '.' && e.name !== '..')
        .map((e) => ({ shown: joinPath(d.shown, e.name), path: e.path }));
      queue.unshift(...subs);
    }
    if (text.length > 32 * 1024) {
      await out(ctx, text);
      text = '';
    }
  }
  await out(ctx, text);
  return status;
}

// ------------------------------------------------------------------ mkdir / rmdir / rm

function parseModeArg(spec: string, current: number, isDir: boolean): number | null {
  if (/^[0-7]{1,4}$/.test(spec)) return parseInt(spec, 8);
  let mode = current & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*|[ugo])$/.exec(clause);
    if (!m) {
      // Multiple operators in one clause (u+x-w) are rare; reject.
      return null;
    }
    const who = m[1] || 'a';
    const op = m[2]!;
    const perms = m[3]!;
    let bits = 0;
    if (/^[ugo]$/.test(perms)) {
      const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
      const v = (mode >> shift) & 7;
      bits = (v << 6) | (v << 3) | v;
    } else {
      for (const c of perms) {
        if (c === 'r') bits |= 0o444;
        if (c === 'w') bits |= 0o222;
        if (c === 'x' || (c === 'X' && (isDir || mode & 0o111))) bits |= 0o111;
        if (c === 's') bits |= 0o6000;
        if (c === 't') bits |= 0o1000;
      }
    }
    let mask = 0;
    if (who.includes('a')) mask = 0o7777;
    else {
      if (who.includes('u')) mask |= 0o4700;
      if (who.includes('g')) mask |= 0o2070;
      if (who.includes('o')) mask |= 0o1007;
    }
    // Without an explicit "who", the umask (022) limits + and =.
    const eff = bits & mask & (m[1] ? 0o7777 : ~0o022);
    if (op === '+') mode |= eff;
    else if (op === '-') mode &= ~(bits & mask);
    else mode = (mode & ~mask) | eff;
  }
  return mode;
}

async function mkdir(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'pvZ', values: 'm', long: { parents: 'p', mode: 'm', verbose: 'v' } });
  if (p.bad) return badOption(ctx, p.bad);
  if (p.args.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  const modeSpec = lastValue(p, 'm');
  let mode = 0o755;
  if (modeSpec !== undefined) {
    const m = parseModeArg(modeSpec, 0o777, true);
    if (m === null) {
      await err(ctx, `bad mode '${modeSpec}'`);
      return 1;
    }
    mode = m;
  }
  let status = 0;
  for (const a of p.args) {
    try {
      ctx.phone.fs.mkdir(absPath(ctx, a), { parents: p.flags.has('p'), mode, uid: ctx.uid, gid: ctx.uid });
      if (modeSpec !== undefined) ctx.phone.fs.chmod(absPath(ctx, a), mode, ctx.uid);
      if (p.flags.has('v')) await out(ctx, `mkdir: created directory '${a}'\n`);
    } catch (e) {
      await err(ctx, `'${a}': ${errText(e)}`);
      status = 1;
    }
  }
  return status;
}

async function rmdir(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'pv', long: { parents: 'p', 'ignore-fail-on-non-empty': '_' } });
  let status = 0;
  for (const a of p.args) {
    let path = a.replace(/\/+$/, '') || '/';
    for (;;) {
      try {
        ctx.phone.fs.rmdir(absPath(ctx, path), { uid: ctx.uid });
      } catch (e) {
        await err(ctx, `${path}: ${errText(e)}`);
        status = 1;
        break;
      }
      if (!p.flags.has('p')) break;
      const i = path.lastIndexOf('/');
      if (i <= 0) break;
      path = path.slice(0, i);
    }
  }
  return status;
}

async function rm(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'rRfivd', long: { recursive: 'r', force: 'f', verbose: 'v' } });
  if (p.bad) return badOption(ctx, p.bad);
  const force = p.flags.has('f');
  const recursive = p.flags.has('r') || p.flags.has('R');
  const fs = ctx.phone.fs;
  if (p.args.length === 0) {
    if (force) return 0;
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  let status = 0;
  for (const a of p.args) {
    const path = absPath(ctx, a);
    const st = fs.lstat(path);
    if (!st) {
      if (!force) {
        let msg = 'No such file or directory';
        try {
          fs.realpath(path, ctx.uid);
        } catch (e) {
          msg = errText(e);
        }
        await err(ctx, `${a}: ${msg}`);
        status = 1;
      }
      continue;
    }
    if (path === '/') {
      await err(ctx, `${a}: Device or resource busy`);
      status = 1;
      continue;
    }
    try {
      if (st.type === 'dir') {
        if (!recursive && !p.flags.has('d')) {
          await err(ctx, `${a}: Is a directory`);
          status = 1;
          continue;
        }
        fs.rmdir(path, { recursive, uid: ctx.uid });
      } else fs.unlink(path, ctx.uid);
      if (p.flags.has('v')) await out(ctx, `removed '${a}'\n`);
    } catch (e) {
      await err(ctx, `${a}: ${errText(e)}`);
      status = 1;
    }
  }
  return status;
}

// ------------------------------------------------------------------ cp / mv

function copyTree(
  fs: Vfs,
  from: string,
  to: string,
  uid: number,
  opts: { preserve: boolean; deref: boolean },
): void {
  const st = opts.deref ? fs.stat(from) : fs.lstat(from);
  if (!st) throw new VfsError('ENOENT', from);
  if (st.type === 'symlink') {
    if (fs.lstat(to)) fs.unlink(to, uid);
    fs.symlink(fs.readlink(from), to, uid);
    return;
  }
  if (st.type === 'dir') {
    const names = fs.readdir(from, uid);
    const existing = fs.stat(to);
    if (!existing) fs.mkdir(to, { mode: st.mode & 0o7777, uid, gid: uid });
    else if (existing.type !== 'dir') throw new VfsError('ENOTDIR', to);
    for (const n of names) copyTree(fs, joinPath(from, n), joinPath(to, n), uid, { ...opts, deref: false });
  } else {
    const existing = fs.stat(to);
    fs.writeFile(to, fs.readFile(from, uid), { uid, mode: existing ? undefined : st.mode & 0o777 });
  }
  if (opts.preserve) {
    try {
      fs.utimes(to, st.atime, st.mtime, uid);
      fs.chmod(to, st.mode & 0o7777, uid);
      if (uid === 0) fs.chown(to, st.uid, st.gid, uid);
    } catch {
      // best effort, like cp -p
    }
  }
}

async function cpOrMv(ctx: CommandContext, move: boolean): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: move ? 'fivnT' : 'rRapfinvdPLHlsuT',
    values: 't',
    long: { recursive: 'r', force: 'f', archive: 'a', 'no-clobber': 'n', verbose: 'v', preserve: 'p' },
  });
  if (p.bad) return badOption(ctx, p.bad);
  const fs = ctx.phone.fs;
  const args = [...p.args];
  let dest = lastValue(p, 't');
  if (dest === undefined) dest = args.pop();
  if (dest === undefined || args.length === 0) {
    await err(ctx, `Needs 2 arguments`);
    return 1;
  }
  const destPath = absPath(ctx, dest);
  const destIsDir = fs.stat(destPath)?.type === 'dir' && !p.flags.has('T');
  if (args.length > 1 && !destIsDir) {
    await err(ctx, `'${dest}' not directory`);
    return 1;
  }
  const recursive = p.flags.has('r') || p.flags.has('R') || p.flags.has('a');
  let status = 0;
  for (const a of args) {
    const src = absPath(ctx, a);
    const target = destIsDir ? joinPath(destPath, basename(a)) : destPath;
    const st = move || p.flags.has('P') || p.flags.has('a') ? fs.lstat(src) : fs.stat(src);
    if (!st) {
      let msg = 'No such file or directory';
      try {
        fs.realpath(src, ctx.uid);
      } catch (e) {
        msg = errText(e);
      }
      await err(ctx, `bad '${a}': ${msg}`);
      status = 1;
      continue;
    }
    if (src === target) {
      await err(ctx, `'${a}' and '${dest}' are the same file`);
      status = 1;
      continue;
    }
    if (p.flags.has('n') && fs.lstat(target)) continue;
    try {
      if (move) {
        const tst = fs.lstat(target);
        if (tst?.type === 'dir' && st.type !== 'dir') throw new VfsError('EISDIR', target);
        fs.rename(src, target, ctx.uid);
      } else {
        if (st.type === 'dir' && !recursive) {
          await err(ctx, `Skipped dir '${a}'`);
          status = 1;
          continue;
        }
        if (st.type === 'dir' && (target === src || target.startsWith(`${src}/`))) {
          await err(ctx, `cp: '${a}' into itself`);
          status = 1;
          continue;
        }
        if (p.flags.has('f')) {
          const tst = fs.lstat(target);
          if (tst && tst.type !== 'dir' && !fs.access(target, 2, ctx.uid)) {
            try {
              fs.unlink(target, ctx.uid);
            } catch {
              // fall through to the copy error
            }
          }
        }
        copyTree(fs, src, target, ctx.uid, {
          preserve: p.flags.has('p') || p.flags.has('a'),
          deref: !(p.flags.has('P') || p.flags.has('a')),
        });
      }
      if (p.flags.has('v')) await out(ctx, `'${a}' -> '${destIsDir ? joinPath(dest, basename(a)) : dest}'\n`);
    } catch (e) {
      const path =
        e instanceof VfsError && e.path === src ? a : destIsDir ? joinPath(dest, basename(a)) : dest;
      await err(ctx, `'${path}': ${errText(e)}`);
      status = 1;
    }
  }
  return status;
}

// ------------------------------------------------------------------ touch / chmod / chown / chcon

function parseTouchDate(s: string, nowSec: number): number | null {
  if (/^@[0-9]+$/.test(s)) return Number(s.slice(1));
  const iso = Date.parse(s.includes('T') || s.includes('-') ? s.replace(' ', 'T') : '');
  if (!Number.isNaN(iso)) return Math.floor(iso / 1000);
  // [[CC]YY]MMDDhhmm[.ss]
  const m = /^(\d{2}(\d{2})?)?(\d{2})(\d{2})(\d{2})(\d{2})(\.(\d{2}))?$/.exec(s);
  if (m) {
    const year = m[1]
      ? m[1].length === 2
        ? 2000 + Number(m[1])
        : Number(m[1])
      : new Date(nowSec * 1000).getUTCFullYear();
    return Math.floor(
      Date.UTC(year, Number(m[3]) - 1, Number(m[4]), Number(m[5]), Number(m[6]), Number(m[8] ?? 0)) / 1000,
    );
  }
  return null;
}

async function touch(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, {
    flags: 'acmhf',
    values: 'dtr',
    long: { 'no-create': 'c', date: 'd', reference: 'r' },
  });
  if (p.bad) return badOption(ctx, p.bad);
  const fs = ctx.phone.fs;
  const now = Math.floor(Date.now() / 1000);
  let when = now;
  const d = lastValue(p, 'd') ?? lastValue(p, 't');
  if (d !== undefined) {
    const t = parseTouchDate(d, now);
    if (t === null) {
      await err(ctx, `bad date '${d}'`);
      return 1;
    }
    when = t;
  }
  const ref = lastValue(p, 'r');
  if (ref !== undefined) {
    const st = fs.stat(absPath(ctx, ref));
    if (!st) {
      await err(ctx, `'${ref}': No such file or directory`);
      return 1;
    }
    when = st.mtime;
  }
  if (p.args.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  let status = 0;
  for (const a of p.args) {
    const path = absPath(ctx, a);
    try {
      const st = fs.stat(path);
      if (!st) {
        if (p.flags.has('c')) continue;
        fs.writeFile(path, '', { uid: ctx.uid, append: true, mode: 0o644 });
        if (d !== undefined || ref !== undefined) fs.utimes(path, when, when, ctx.uid);
      } else {
        const atime = p.flags.has('m') && !p.flags.has('a') ? st.atime : when;
        const mtime = p.flags.has('a') && !p.flags.has('m') ? st.mtime : when;
        fs.utimes(path, atime, mtime, ctx.uid);
      }
    } catch (e) {
      await err(ctx, `'${a}': ${errText(e)}`);
      status = 1;
    }
  }
  return status;
}

/** Calls fn on each path, and below it with -R. */
function walk(fs: Vfs, path: string, recursive: boolean, uid: number, fn: (p: string) => void): void {
  fn(path);
  if (!recursive) return;
  const st = fs.lstat(path);
  if (st?.type !== 'dir') return;
  for (const n of fs.readdir(path, uid)) walk(fs, joinPath(path, n), true, uid, fn);
}

/**
 * chmod, chown and chcon: `change` on each named file (and below it with `recursive`). `done`
 * follows a file that changed; `failed` reports one that did not and says whether to stop at once
 * (exit 1); otherwise the others are still changed and the exit status is 1 at the end.
 */
async function changeEach(
  ctx: CommandContext,
  files: string[],
  recursive: boolean,
  change: (path: string) => void,
  report: { done?: (a: string) => Promise<void>; failed: (a: string, e: unknown) => Promise<boolean> },
): Promise<number> {
  let status = 0;
  for (const a of files) {
    try {
      walk(ctx.phone.fs, absPath(ctx, a), recursive, ctx.uid, change);
      await report.done?.(a);
    } catch (e) {
      if (await report.failed(a, e)) return 1;
      status = 1;
    }
  }
  return status;
}

async function chmod(ctx: CommandContext): Promise<number> {
  // Modes like -w look like options: take the first non-flag argument as the mode.
  const argv = ctx.argv.slice(1);
  let recursive = false;
  let verbose = false;
  const rest: string[] = [];
  for (const a of argv) {
    if (rest.length === 0 && /^-[Rvf]+$/.test(a)) {
      if (a.includes('R')) recursive = true;
      if (a.includes('v')) verbose = true;
    } else rest.push(a);
  }
  const [spec, ...files] = rest;
  if (spec === undefined || files.length === 0) {
    await err(ctx, 'Needs 2 arguments');
    return 1;
  }
  const fs = ctx.phone.fs;
  const change = (path: string) => {
    const st = fs.stat(path);
    if (!st) throw new VfsError('ENOENT', path);
    const mode = parseModeArg(spec, st.mode, st.type === 'dir');
    if (mode === null) throw new Error(`bad mode '${spec}'`);
    fs.chmod(path, mode, ctx.uid);
  };
  return changeEach(ctx, files, recursive, change, {
    done: async (a) => {
      if (verbose) await out(ctx, `mode of '${a}' changed\n`);
    },
    // A bad mode is the same for every file: said once, and chmod stops.
    failed: async (a, e) => {
      if (!(e instanceof VfsError)) {
        await err(ctx, errText(e));
        return true;
      }
      await err(ctx, `'${a}': ${errText(e)}`);
      return false;
    },
  });
}

async function chown(ctx: CommandContext, groupOnly: boolean): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'RhfvLHP' });
  if (p.bad) return badOption(ctx, p.bad);
  const [spec, ...files] = p.args;
  if (spec === undefined || files.length === 0) {
    await err(ctx, 'Needs 2 arguments');
    return 1;
  }
  let owner = -1;
  let group = -1;
  if (groupOnly) {
    const g = parseId(spec);
    if (g === null) {
      await err(ctx, `bad group '${spec}'`);
      return 1;
    }
    group = g;
  } else {
    const m = /^([^:.]*)(?:[:.](.*))?$/.exec(spec)!;
    if (m[1]) {
      const u = parseId(m[1]);
      if (u === null) {
        await err(ctx, `bad user '${m[1]}'`);
        return 1;
      }
      owner = u;
    }
    if (m[2]) {
      const g = parseId(m[2]);
      if (g === null) {
        await err(ctx, `bad group '${m[2]}'`);
        return 1;
      }
      group = g;
    }
  }
  const fs = ctx.phone.fs;
  const change = (path: string) => {
    if (!fs.lstat(path)) throw new VfsError('ENOENT', path);
    if (p.flags.has('h')) fs.lchown(path, owner, group, ctx.uid);
    else fs.chown(path, owner, group, ctx.uid);
  };
  return changeEach(ctx, files, p.flags.has('R'), change, {
    failed: async (a, e) => {
      if (!p.flags.has('f')) await err(ctx, `'${a}' to '${spec}': ${errText(e)}`);
      return false;
    },
  });
}

async function chcon(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'hvR' });
  if (p.bad) return badOption(ctx, p.bad);
  const [label, ...files] = p.args;
  if (label === undefined || files.length === 0) {
    await err(ctx, 'Needs 2 arguments');
    return 1;
  }
  const fs = ctx.phone.fs;
  return changeEach(ctx, files, p.flags.has('R'), (path) => fs.setLabel(path, label, ctx.uid), {
    done: async (a) => {
      if (p.flags.has('v')) await out(ctx, `chcon '${a}' to ${label}\n`);
    },
    failed: async (a, e) => {
      await err(ctx, `'${a}' to ${label}: ${errText(e)}`);
      return false;
    },
  });
}

// ------------------------------------------------------------------ links

async function ln(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'sfnvT', long: { symbolic: 's', force: 'f' } });
  if (p.bad) return badOption(ctx, p.bad);
  const fs = ctx.phone.fs;
  const args = [...p.args];
  if (args.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  let dest = args.length > 1 ? args.pop()! : '.';
  const destPath = absPath(ctx, dest);
  const destStat = p.flags.has('n') ? fs.lstat(destPath) : fs.stat(destPath);
  const intoDir = destStat?.type === 'dir' && !p.flags.has('T');
  if (args.length > 1 && !intoDir) {
    await err(ctx, `'${dest}' not a directory`);
    return 1;
  }
  let status = 0;
  for (const target of args) {
    const link = intoDir ? joinPath(destPath, basename(target)) : destPath;
    if (intoDir) dest = joinPath(dest, basename(target));
    try {
      if (p.flags.has('f') && fs.lstat(link) && fs.lstat(link)?.type !== 'dir') fs.unlink(link, ctx.uid);
      if (p.flags.has('s')) fs.symlink(target, link, ctx.uid);
      else fs.link(absPath(ctx, target), link, ctx.uid);
      if (p.flags.has('v')) await out(ctx, `'${dest}' -> '${target}'\n`);
    } catch (e) {
      await err(ctx, `cannot create link '${dest}' to '${target}': ${errText(e)}`);
      status = 1;
    }
  }
  return status;
}

/** Canonical path; with allowMissing, the last component may not exist (readlink -f). */
function canonical(fs: Vfs, path: string, uid: number, allowMissing: 'none' | 'last' | 'any'): string | null {
  try {
    return fs.realpath(path, uid);
  } catch {
    if (allowMissing === 'none') return null;
  }
  const i = path.lastIndexOf('/');
  const parent = i <= 0 ? '/' : path.slice(0, i);
  const name = path.slice(i + 1);
  const base =
    allowMissing === 'any' ? canonical(fs, parent, uid, 'any') : canonical(fs, parent, uid, 'none');
  if (base === null) return null;
  return joinPath(base, name);
}

async function readlink(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'femnqsvz' });
  if (p.bad) return badOption(ctx, p.bad);
  const fs = ctx.phone.fs;
  const nl = p.flags.has('n') ? '' : '\n';
  let status = 0;
  for (const a of p.args) {
    const path = absPath(ctx, a);
    let res: string | null;
    if (p.flags.has('f') || p.flags.has('e') || p.flags.has('m')) {
      res = canonical(fs, path, ctx.uid, p.flags.has('e') ? 'none' : p.flags.has('m') ? 'any' : 'last');
    } else {
      try {
        res = fs.readlink(path);
      } catch {
        res = null;
      }
    }
    if (res === null) status = 1;
    else await out(ctx, res + nl);
  }
  return status;
}

async function realpath(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'esmqL' });
  const fs = ctx.phone.fs;
  let status = 0;
  for (const a of p.args.length ? p.args : ['.']) {
    const res = canonical(
      fs,
      absPath(ctx, a),
      ctx.uid,
      p.flags.has('e') ? 'none' : p.flags.has('m') ? 'any' : 'last',
    );
    if (res === null) {
      await err(ctx, `${a}: No such file or directory`);
      status = 1;
    } else await out(ctx, `${res}\n`);
  }
  return status;
}

// ------------------------------------------------------------------ stat

function statFormat(fmt: string, name: string, st: VfsStat, fs: Vfs, path: string, tz: string): string {
  const stamp = (s: number) => strftime('%Y-%m-%d %H:%M:%S.000000000 %z', s * 1000, tz);
  const field = (s: string): string | undefined => {
    switch (s) {
      case 'a':
        return (st.mode & 0o7777).toString(8);
      case 'A':
        return modeString(st.mode);
      case 'b':
        return String(Math.ceil(st.size / 512));
      case 'B':
        return '512';
      case 'C':
        return st.label;
      case 'd':
        return String(st.dev);
      case 'D':
        return st.dev.toString(16);
      case 'f':
        return st.mode.toString(16);
      case 'F':
        return fileType(st);
      case 'g':
        return String(st.gid);
      case 'G':
        return idName(st.gid);
      case 'h':
        return String(st.nlink);
      case 'i':
        return String(st.ino);
      case 'n':
        return name;
      case 'N':
        return st.type === 'symlink' ? `'${name}' -> '${fs.readlink(path)}'` : `'${name}'`;
      case 'o':
        return '4096';
      case 's':
        return String(st.size);
      case 'u':
        return String(st.uid);
      case 'U':
        return idName(st.uid);
      case 'x':
        return stamp(st.atime);
      case 'X':
        return String(st.atime);
      case 'y':
        return stamp(st.mtime);
      case 'Y':
        return String(st.mtime);
      case 'z':
        return stamp(st.ctime);
      case 'Z':
        return String(st.ctime);
      default:
        return undefined;
    }
  };
  return expandDirectives(fmt, field, { escapes: true, widths: true });
}

async function stat(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'Lft', values: 'c', long: { format: 'c', dereference: 'L' } });
  if (p.bad) return badOption(ctx, p.bad);
  const fs = ctx.phone.fs;
  const tz = phoneTimeZone(ctx);
  const fmt = lastValue(p, 'c');
  let status = 0;
  if (p.args.length === 0) {
    await err(ctx, 'Needs 1 argument');
    return 1;
  }
  for (const a of p.args) {
    const path = absPath(ctx, a);
    let st: VfsStat | null;
    try {
      fs.realpath(path.replace(/\/[^/]*$/, '') || '/', ctx.uid);
      st = p.flags.has('L') ? fs.stat(path) : fs.lstat(path);
    } catch (e) {
      await err(ctx, `'${a}': ${errText(e)}`);
      status = 1;
      continue;
    }
    if (!st) {
      await err(ctx, `'${a}': No such file or directory`);
      status = 1;
      continue;
    }
    if (fmt !== undefined) {
      await out(ctx, `${statFormat(fmt, a, st, fs, path, tz)}\n`);
      continue;
    }
    const text = statFormat(
      `  File: %N\n  Size: %s\t Blocks: %b\t IO Blocks: 512\t%F\nDevice: %Dh/%dd\t Inode: %i\t Links: %h\tDevice type: 0,0\n` +
        `Access: (0%a/%A)\tUid: (%5u/%8U)\tGid: (%5g/%8G)\nAccess: %x\nModify: %y\nChange: %z\n`,
      a,
      st,
      fs,
      path,
      tz,
    );
    await out(ctx, text);
  }
  return status;
}

// ------------------------------------------------------------------ find

type FindExpr =
  | { k: 'and' | 'or'; a: FindExpr; b: FindExpr }
  | { k: 'not'; a: FindExpr }
  | { k: 'true' }
  | { k: 'name'; pat: string; ci: boolean; path: boolean }
  | { k: 'type'; t: string }
  | { k: 'print'; nul: boolean }
  | { k: 'delete' }
  | { k: 'exec'; cmd: string[] }
  | { k: 'size'; cmp: number; n: number; unit: number }
  | { k: 'empty' }
  | { k: 'perm'; mode: number; how: '' | '-' | '/' }
  | { k: 'user'; uid: number }
  | { k: 'newer'; mtime: number }
  | { k: 'mtime'; cmp: number; days: number };

class FindSyntax extends Error {}

function parseFind(
  tokens: string[],
  ctx: CommandContext,
): { expr: FindExpr; hasAction: boolean; opts: Record<string, number> } {
  let i = 0;
  let hasAction = false;
  const opts: Record<string, number> = {};
  const primary = (): FindExpr => {
    const t = tokens[i++];
    if (t === undefined) throw new FindSyntax('missing argument');
    const arg = () => {
      const v = tokens[i++];
      if (v === undefined) throw new FindSyntax(`'${t}' needs 1 arg`);
      return v;
    };
    switch (t) {
      case '(': {
        const e = orExpr();
        if (tokens[i++] !== ')') throw new FindSyntax("missing ')'");
        return e;
      }
      case '!':
      case '-not':
        return { k: 'not', a: primary() };
      case '-name':
      case '-iname':
        return { k: 'name', pat: arg(), ci: t === '-iname', path: false };
      case '-path':
      case '-ipath':
      case '-wholename':
        return { k: 'name', pat: arg(), ci: t === '-ipath', path: true };
      case '-type':
        return { k: 'type', t: arg() };
      case '-print':
      case '-print0':
        hasAction = true;
        return { k: 'print', nul: t === '-print0' };
      case '-delete':
        hasAction = true;
        opts.depth = 1;
        return { k: 'delete' };
      case '-exec':
      case '-execdir':
      case '-ok': {
        hasAction = true;
        const cmd: string[] = [];
        for (;;) {
          const v = tokens[i++];
          if (v === undefined) throw new FindSyntax("-exec needs ';'");
          if (v === ';' || v === '+') break;
          cmd.push(v);
        }
        return { k: 'exec', cmd };
      }
      case '-maxdepth':
      case '-mindepth':
        opts[t.slice(1)] = Number(arg());
        return { k: 'true' };
      case '-depth':
        opts.depth = 1;
        return { k: 'true' };
      case '-xdev':
      case '-mount':
      case '-follow':
        if (t === '-follow') opts.follow = 1;
        return { k: 'true' };
      case '-empty':
        return { k: 'empty' };
      case '-size': {
        const v = arg();
        const m = /^([-+]?)([0-9]+)([ckMGb]?)$/.exec(v);
        if (!m) throw new FindSyntax(`bad -size '${v}'`);
        const unit = { c: 1, k: 1024, M: 1048576, G: 1073741824, b: 512, '': 512 }[m[3]!]!;
        return { k: 'size', cmp: m[1] === '+' ? 1 : m[1] === '-' ? -1 : 0, n: Number(m[2]), unit };
      }
      case '-perm': {
        const v = arg();
        const how: '' | '-' | '/' = v[0] === '-' ? '-' : v[0] === '/' ? '/' : '';
        return { k: 'perm', mode: parseInt(how ? v.slice(1) : v, 8) || 0, how };
      }
      case '-user':
      case '-uid':
        return { k: 'user', uid: parseId(arg()) ?? -1 };
      case '-newer': {
        const st = ctx.phone.fs.stat(absPath(ctx, arg()));
        return { k: 'newer', mtime: st?.mtime ?? Infinity };
      }
      case '-mtime': {
        const v = arg();
        return { k: 'mtime', cmp: v[0] === '+' ? 1 : v[0] === '-' ? -1 : 0, days: Math.abs(Number(v)) };
      }
      case '-true':
        return { k: 'true' };
      case '-false':
        return { k: 'not', a: { k: 'true' } };
    }
    throw new FindSyntax(`bad arg '${t}'`);
  };
  const andExpr = (): FindExpr => {
    let e = primary();
    for (;;) {
      const t = tokens[i];
      if (t === undefined || t === '-o' || t === '-or' || t === ')' || t === ',') return e;
      if (t === '-a' || t === '-and') i++;
      e = { k: 'and', a: e, b: primary() };
    }
  };
  const orExpr = (): FindExpr => {
    let e = andExpr();
    while (tokens[i] === '-o' || tokens[i] === '-or') {
      i++;
      e = { k: 'or', a: e, b: andExpr() };
    }
    return e;
  };
  const expr = tokens.length ? orExpr() : { k: 'true' as const };
  if (i < tokens.length) throw new FindSyntax(`bad arg '${tokens[i]}'`);
  return { expr, hasAction, opts };
}

async function find(ctx: CommandContext): Promise<number> {
  const argv = ctx.argv.slice(1);
  let i = 0;
  const roots: string[] = [];
  while (i < argv.length && !argv[i]!.startsWith('-') && argv[i] !== '(' && argv[i] !== '!') {
    roots.push(argv[i]!);
    i++;
  }
  const fs = ctx.phone.fs;
  let parsed: ReturnType<typeof parseFind>;
  try {
    parsed = parseFind(argv.slice(i), ctx);
  } catch (e) {
    await err(ctx, errText(e));
    return 1;
  }
  const { expr, hasAction, opts } = parsed;
  const maxdepth = opts.maxdepth ?? Infinity;
  const mindepth = opts.mindepth ?? 0;
  const nowSec = Math.floor(Date.now() / 1000);
  let status = 0;
  let buf = '';
  const flush = async () => {
    if (buf) await out(ctx, buf);
    buf = '';
  };

  const evalExpr = async (e: FindExpr, shown: string, path: string, st: VfsStat): Promise<boolean> => {
    switch (e.k) {
      case 'and':
        return (await evalExpr(e.a, shown, path, st)) && evalExpr(e.b, shown, path, st);
      case 'or':
        return (await evalExpr(e.a, shown, path, st)) || evalExpr(e.b, shown, path, st);
      case 'not':
        return !(await evalExpr(e.a, shown, path, st));
      case 'true':
        return true;
      case 'name':
        return matchPattern(e.pat, e.path ? shown : basename(shown) || shown, e.ci);
      case 'type': {
        const t =
          st.type === 'dir' ? 'd' : st.type === 'symlink' ? 'l' : (st.mode & S_IFMT) === 0o020000 ? 'c' : 'f';
        return e.t.split(',').includes(t);
      }
      case 'print':
        buf += shown + (e.nul ? '\0' : '\n');
        if (buf.length > 16384) await flush();
        return true;
      case 'delete':
        try {
          if (st.type === 'dir') fs.rmdir(path, { uid: ctx.uid });
          else fs.unlink(path, ctx.uid);
          return true;
        } catch (x) {
          await flush();
          await err(ctx, `${shown}: ${errText(x)}`);
          status = 1;
          return false;
        }
      case 'exec': {
        await flush();
        const line = e.cmd.map((w) => shQuote(w.split('{}').join(shown))).join(' ');
        return (await ctx.runShell(line)) === 0;
      }
      case 'size': {
        const units = Math.ceil(st.size / e.unit);
        return e.cmp > 0 ? units > e.n : e.cmp < 0 ? units < e.n : units === e.n;
      }
      case 'empty':
        return st.type === 'dir' ? fs.readdir(path, 0).length === 0 : st.type === 'file' && st.size === 0;
      case 'perm': {
        const m = st.mode & 0o7777;
        if (e.how === '-') return (m & e.mode) === e.mode;
        if (e.how === '/') return e.mode === 0 || (m & e.mode) !== 0;
        return m === e.mode;
      }
      case 'user':
        return st.uid === e.uid;
      case 'newer':
        return st.mtime > e.mtime;
      case 'mtime': {
        const days = Math.floor((nowSec - st.mtime) / 86400);
        return e.cmp > 0 ? days > e.days : e.cmp < 0 ? days < e.days : days === e.days;
      }
    }
  };

  const visit = async (shown: string, path: string, depth: number): Promise<void> => {
    if (ctx.signal.aborted) return;
    const st = opts.follow ? fs.stat(path) : fs.lstat(path);
    if (!st) return;
    const check = async () => {
      if (depth >= mindepth) {
        const ok = await evalExpr(expr, shown, path, st);
        if (ok && !hasAction) {
          buf += `${shown}\n`;
          if (buf.length > 16384) await flush();
        }
      }
    };
    if (!opts.depth) await check();
    if (st.type === 'dir' && depth < maxdepth) {
      let names: string[] = [];
      try {
        names = fs.readdir(path, ctx.uid);
      } catch (e) {
        await flush();
        await err(ctx, `${shown}: ${errText(e)}`);
        status = 1;
      }
      for (const n of names) await visit(joinPath(shown, n), joinPath(path, n), depth + 1);
    }
    if (opts.depth) await check();
  };

  for (const r of roots.length ? roots : ['.']) {
    const path = absPath(ctx, r);
    try {
      fs.realpath(path, ctx.uid);
    } catch (e) {
      await flush();
      await err(ctx, `${r}: ${errText(e)}`);
      status = 1;
      continue;
    }
    await visit(r, path, 0);
  }
  await flush();
  return status;
}

// ------------------------------------------------------------------ df / du / mktemp

async function df(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'hkaPit', values: 't' });
  const fs = ctx.phone.fs;
  const humanSizes = p.flags.has('h');
  const sizes: Record<string, number> = {
    ext4: 3_000_000,
    f2fs: 110_000_000,
    tmpfs: 3_791_612,
    fuse: 110_000_000,
  };
  const rows: string[][] = [
    [
      humanSizes ? 'Filesystem' : 'Filesystem',
      humanSizes ? 'Size' : '1K-blocks',
      'Used',
      humanSizes ? 'Avail' : 'Available',
      'Use%',
      'Mounted on',
    ],
  ];
  const wanted = p.args.map((a) => {
    try {
      return fs.realpath(absPath(ctx, a), ctx.uid);
    } catch {
      return absPath(ctx, a);
    }
  });
  const mounts = fs.mounts().filter((m) => ['ext4', 'f2fs', 'tmpfs', 'fuse'].includes(m.type));
  const pick = wanted.length
    ? wanted.map((w) =>
        mounts.filter((m) => w === m.target || w.startsWith(m.target === '/' ? '/' : `${m.target}/`)).pop(),
      )
    : mounts;
  for (const m of pick) {
    if (!m) continue;
    const total = sizes[m.type] ?? 1_000_000;
    const used = m.type === 'tmpfs' ? 1024 : m.options.startsWith('ro') ? total : Math.floor(total * 0.42);
    const avail = total - used;
    const fmt = (k: number) => (humanSizes ? human(k * 1024) : String(k));
    rows.push([
      m.source,
      fmt(total),
      fmt(used),
      fmt(avail),
      `${Math.round((used / total) * 100)}%`,
      m.target,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  await out(
    ctx,
    rows
      .map(
        (r) =>
          r
            .map((cell, c) => (c === 0 || c === 5 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
            .join(' ')
            .trimEnd() + '\n',
      )
      .join(''),
  );
  return 0;
}

async function du(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'shkamcxLHlb', values: 'd' });
  const fs = ctx.phone.fs;
  const maxDepth = p.flags.has('s') ? 0 : Number(lastValue(p, 'd') ?? Infinity);
  const showAll = p.flags.has('a');
  const fmt = (bytes: number) =>
    p.flags.has('h') ? human(bytes) : p.flags.has('b') ? String(bytes) : String(Math.ceil(bytes / 1024));
  let status = 0;
  let text = '';
  const errors: string[] = [];
  const size = (path: string, shown: string, depth: number): number => {
    const st = fs.lstat(path);
    if (!st) return 0;
    let total = st.type === 'dir' ? 4096 : Math.ceil(st.size / 4096) * 4096;
    if (st.type === 'dir') {
      let names: string[] = [];
      try {
        names = fs.readdir(path, ctx.uid);
      } catch (e) {
        errors.push(`${shown}: ${errText(e)}`);
        status = 1;
      }
      for (const n of names) total += size(joinPath(path, n), joinPath(shown, n), depth + 1);
      if (depth <= maxDepth) text += `${fmt(total)}\t${shown}\n`;
    } else if (showAll && depth <= maxDepth) text += `${fmt(total)}\t${shown}\n`;
    else if (depth === 0) text += `${fmt(total)}\t${shown}\n`;
    return total;
  };
  for (const a of p.args.length ? p.args : ['.']) {
    const path = absPath(ctx, a);
    if (!fs.lstat(path)) {
      await err(ctx, `${a}: No such file or directory`);
      status = 1;
      continue;
    }
    size(path, a, 0);
  }
  for (const e of errors) await err(ctx, e);
  await out(ctx, text);
  return status;
}

async function mktemp(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'dqtu', values: 'p', long: { directory: 'd', tmpdir: 'p' } });
  const fs = ctx.phone.fs;
  const template = p.args[0] ?? 'tmp.XXXXXXXXXX';
  const dir =
    lastValue(p, 'p') ?? (template.includes('/') ? '' : (ctx.env.get('TMPDIR') ?? '/data/local/tmp'));
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  for (let attempt = 0; attempt < 100; attempt++) {
    const name = template.replace(/X+$/, (m) =>
      Array.from({ length: m.length }, () => chars[Math.floor(Math.random() * chars.length)]).join(''),
    );
    const path = dir ? joinPath(absPath(ctx, dir), name) : absPath(ctx, name);
    if (fs.lstat(path)) continue;
    try {
      if (p.flags.has('d')) fs.mkdir(path, { mode: 0o700, uid: ctx.uid, gid: ctx.uid });
      else fs.writeFile(path, '', { mode: 0o600, uid: ctx.uid, gid: ctx.uid });
    } catch (e) {
      if (!p.flags.has('q')) await err(ctx, `${path}: ${errText(e)}`);
      return 1;
    }
    await out(ctx, `${path}\n`);
    return 0;
  }
  return 1;
}

async function truncate(ctx: CommandContext): Promise<number> {
  const p = getopt(ctx.argv, { flags: 'c', values: 's' });
  const spec = lastValue(p, 's');
  if (spec === undefined) {
    await err(ctx, 'need -s');
    return 1;
  }
  const m = /^([0-9]+)([KMG]?)$/i.exec(spec);
  if (!m) {
    await err(ctx, `bad size '${spec}'`);
    return 1;
  }
  const size = Number(m[1]) * ({ '': 1, k: 1024, m: 1048576, g: 1073741824 }[m[2]!.toLowerCase()] ?? 1);
  const fs = ctx.phone.fs;
  let status = 0;
  for (const a of p.args) {
    const path = absPath(ctx, a);
    try {
      if (!fs.exists(path)) {
        if (p.flags.has('c')) continue;
        fs.writeFile(path, '', { uid: ctx.uid });
      }
      fs.truncate(path, size, ctx.uid);
    } catch (e) {
      await err(ctx, `'${a}': ${errText(e)}`);
      status = 1;
    }
  }
  return status;
}

export const fileCommands: CommandTable = {
  ls,
  mkdir,
  rmdir,
  rm,
  cp: (ctx) => cpOrMv(ctx, false),
  mv: (ctx) => cpOrMv(ctx, true),
  touch,
  chmod,
  chown: (ctx) => chown(ctx, false),
  chgrp: (ctx) => chown(ctx, true),
  chcon,
  ln,
  readlink,
  realpath,
  stat,
  find,
  df,
  du,
  mktemp,
  truncate,
};
