/**
 * Root on a rooted virtual phone: `su` as MagiskSU (the default), KernelSU or AOSP userdebug su, per
 * the profile's `root` object (profiles/README.md), and Magisk's `magisk` binary (version and
 * `--sqlite`). android-realities.md §2 gives the behaviour and its sources:
 *
 * - MagiskSU (topjohnwu/Magisk native/src/core/su/su.cpp `su_client_main`): getopt_long over
 *   "c:hlmps:VvuZ:Mt:g:G:" after `-mm` → `-M` and `-cn`/`-z` → `-Z`; `-c` takes every remaining
 *   argument joined with single spaces, run as `/system/bin/sh -c`; the first non-option (after an
 *   optional `-`) is the user (name or uid); later arguments are ignored, so `su 0 id` is a shell
 *   reading stdin; `-v` prints `<version>:MAGISKSU`, `-V` the version code; denied: stderr
 *   `Permission denied` (strerror(EACCES)), exit 13. The daemon (su/daemon.rs) allows a root
 *   caller without asking; a shell caller follows the policy (here the profile's `grant`); the
 *   on-device prompt denies when nobody answers within su_request_timeout (10 s by default).
 * - Mount namespace (su_daemon exec_root_shell, db.rs `mnt_ns`): Global (0) = magiskd's, the init
 *   namespace; Requester/Inherit (1, the default) = the su client's, for `adb shell` the default
 *   namespace (or the one `nsenter` entered); Isolated (2) = the requester's, then unshare and `/`
 *   MS_PRIVATE|MS_REC, for this session only. `-mm`/`-M`/`--mount-master` forces Global; `-t PID`
 *   (v26.2+) uses PID's namespace ("setns failed, fallback to global" when there is none).
 * - KernelSU (tiann/KernelSU userspace/ksud/src/su.rs): same `-c`, `-M` (PID 1's namespace), `-v`
 *   prints `<version>:KernelSU`; per the facts sheet `su 0 id -u` executes `id -u`. Only `grant:
 *   allow` is modelled (its refusal UX is unverified, §8).
 * - AOSP userdebug su (system/extras su/su.cpp): callers uid 0 and 2000 only (`su: not allowed`);
 *   `su [WHO [COMMAND...]]` execs COMMAND directly; `su -c id` → `su: invalid uid/gid '-c'`.
 */
import type { MountNamespace } from '../os/vfs.ts';
import type { Profile, ProfileRoot } from '../profiles/load.ts';
import { parseId, shQuote } from '../shell/coreutils.ts';
import type { CommandContext } from './types.ts';
import { err, out, readStdin } from './util.ts';

/** Magisk's su_request_timeout default (app Config.kt: 10 s). */
export const MAGISK_PROMPT_TIMEOUT_MS = 10_000;

/** Exit status of a refused MagiskSU request (EACCES). */
export const SU_DENIED_STATUS = 13;

export type SuKind = 'magisk' | 'kernelsu' | 'aosp';
export type MountNsMode = 'global' | 'inherit' | 'isolated';

/** A profile's root, with the defaults filled in. */
export interface ResolvedRoot {
  su: SuKind;
  version: string;
  versionCode: number;
  grant: 'allow' | 'deny' | 'prompt-timeout';
  promptTimeoutMs: number;
  mountNamespaceMode: MountNsMode;
  /** Whether Magisk's settings table holds an `mnt_ns` row (the user changed the setting). */
  mntNsStored: boolean;
}

const DEFAULT_VERSION: Record<SuKind, string> = { magisk: '27.0', kernelsu: 'v1.0.1', aosp: '' };

/** Magisk's version code for a version name: 27.0 → 27000, 26.4 → 26400 (MAGISK_VER_CODE). */
function magiskCode(version: string): number {
  const [major = '0', minor = '0'] = version.split('.');
  return Number(major) * 1000 + Number(minor.slice(0, 1)) * 100 + Number(minor.slice(1) || '0');
}

/**
 * The phone's root, or undefined when it is not rooted. `rooted: true` without a `root` object is
 * Magisk 27.0, allow, Inherit (db.rs: `MntNsMode::default()` is Requester).
 */
export function rootOf(profile: Profile): ResolvedRoot | undefined {
  if (!profile.rooted) return undefined;
  const r: ProfileRoot = profile.root ?? {};
  const su = r.su ?? 'magisk';
  const version = r.version ?? DEFAULT_VERSION[su];
  return {
    su,
    version,
    versionCode: r.versionCode ?? (su === 'magisk' ? magiskCode(version) : 0),
    grant: r.grant ?? 'allow',
    promptTimeoutMs: r.promptTimeoutMs ?? MAGISK_PROMPT_TIMEOUT_MS,
    mountNamespaceMode: r.mountNamespaceMode ?? 'inherit',
    mntNsStored: r.mountNamespaceMode !== undefined,
  };
}

const MAGISK_USAGE =
  'MagiskSU\n\nUsage: su [options] [-] [user [argument...]]\n\nOptions:\n' +
  '  -c, --command COMMAND         Pass COMMAND to the invoked shell\n' +
  '  -g, --group GROUP             Specify the primary group\n' +
  '  -G, --supp-group GROUP        Specify a supplementary group.\n' +
  '                                The first specified supplementary group is also used\n' +
  '                                as a primary group if the option -g is not specified.\n' +
  '  -Z, --context CONTEXT         Change SELinux context\n' +
  '  -t, --target PID              PID to take mount namespace from\n' +
  '  -h, --help                    Display this help message and exit\n' +
  '  -, -l, --login                Pretend the shell to be a login shell\n' +
  '  -m, -p,\n' +
  '  --preserve-environment        Preserve the entire environment\n' +
  '  -s, --shell SHELL             Use SHELL instead of the default /system/bin/sh\n' +
  '  -v, --version                 Display version number and exit\n' +
  '  -V                            Display version code and exit\n' +
  '  -mm, -M,\n' +
  '  --mount-master                Force run in the global mount namespace\n\n';

/** What the su command line asked for. */
export interface SuRequest {
  command?: string;
  user?: string;
  /** Arguments after the user (Magisk ignores them; KernelSU executes them). */
  rest: string[];
  /** -1: none; 0: -M (global); >0: -t PID. */
  target: number;
  version?: 'name' | 'code';
  help?: boolean;
  /** A usage error: the message (without the usage text) and the exit status. */
  error?: { message: string; status: number };
}

const LONG: Record<string, { short: string; arg: boolean }> = {
  command: { short: 'c', arg: true },
  help: { short: 'h', arg: false },
  login: { short: 'l', arg: false },
  'preserve-environment': { short: 'p', arg: false },
  shell: { short: 's', arg: true },
  version: { short: 'v', arg: false },
  context: { short: 'Z', arg: true },
  'mount-master': { short: 'M', arg: false },
  target: { short: 't', arg: true },
  group: { short: 'g', arg: true },
  'supp-group': { short: 'G', arg: true },
};

/** Short options of su.cpp's getopt string "c:hlmps:VvuZ:Mt:g:G:" and whether each takes an argument. */
const SHORT: Record<string, boolean> = {
  c: true,
  h: false,
  l: false,
  m: false,
  p: false,
  s: true,
  V: false,
  v: false,
  u: false,
  Z: true,
  M: false,
  t: true,
  g: true,
  G: true,
};

/**
 * Parses a MagiskSU command line as su.cpp does with bionic's getopt_long (which permutes: options
 * may follow the user). `permute: false` (KernelSU): options end at the user, whose arguments are
 * the command. Pure; exported for the unit tests.
 */
export function parseMagiskSu(argv: string[], opts: { permute?: boolean } = {}): SuRequest {
  const args = argv.map((a) => (a === '-mm' ? '-M' : a === '-cn' || a === '-z' ? '-Z' : a));
  const req: SuRequest = { rest: [], target: -1 };
  const positional: string[] = [];
  const usage = (message: string, status = 2): SuRequest => ({ ...req, error: { message, status } });
  // After the options: an optional `-` (login), then the user; the rest is kept for KernelSU.
  const finish = (): SuRequest => {
    if (positional[0] === '-') positional.shift();
    req.user = positional[0];
    req.rest = positional.slice(1);
    return req;
  };
  const apply = (c: string, optarg: string | undefined, restFrom: number): SuRequest | 'stop' | undefined => {
    switch (c) {
      case 'c':
        req.command = [optarg ?? '', ...args.slice(restFrom)].join(' ');
        return 'stop';
      case 'h':
        req.help = true;
        return 'stop';
      case 'v':
        req.version = 'name';
        return 'stop';
      case 'V':
        req.version = 'code';
        return 'stop';
      case 'M':
      case 't': {
        if (req.target !== -1) return usage("Can't use -M and -t at the same time\n", 1);
        if (c === 'M') req.target = 0;
        else {
          const pid = /^\d+$/.test(optarg ?? '') ? Number(optarg) : -1;
          if (pid < 0) return usage(`Invalid PID: ${optarg}\n`, 1);
          req.target = pid;
        }
        return undefined;
      }
      case 'g':
      case 'G':
        if (!/^\d+$/.test(optarg ?? '')) return usage(`Invalid GID: ${optarg}\n`, 1);
        return undefined;
      case 'u':
        // In the getopt string but without a case in su.cpp: the default branch, usage, exit 2.
        return usage('\n');
      default:
        return undefined; // -l -m -p -s -Z: no effect on the virtual phone
    }
  };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const matches = Object.keys(LONG).filter((k) => k === name || k.startsWith(name));
      const key = matches.includes(name) ? name : matches.length === 1 ? matches[0] : undefined;
      if (!key) return usage(`su: unrecognized option '${a}'\n`);
      const spec = LONG[key]!;
      let optarg: string | undefined;
      let next = i + 1;
      if (spec.arg) {
        if (eq >= 0) optarg = a.slice(eq + 1);
        else if (i + 1 < args.length) {
          optarg = args[i + 1];
          next = i + 2;
        } else return usage(`su: option '--${key}' requires an argument\n`);
      }
      const r = apply(spec.short, optarg, next);
      if (r === 'stop') return finish();
      if (r) return r;
      i = next - 1;
      continue;
    }
    if (a.startsWith('-') && a !== '-') {
      let j = 1;
      for (; j < a.length; j++) {
        const c = a.charAt(j);
        const takes = SHORT[c];
        if (takes === undefined) return usage(`su: invalid option -- '${c}'\n`);
        let optarg: string | undefined;
        let next = i + 1;
        if (takes) {
          if (j + 1 < a.length) optarg = a.slice(j + 1);
          else if (i + 1 < args.length) {
            optarg = args[i + 1];
            next = i + 2;
          } else return usage(`su: option requires an argument -- '${c}'\n`);
        }
        const r = apply(c, optarg, next);
        if (r === 'stop') return finish();
        if (r) return r;
        if (takes) {
          i = next - 1;
          break;
        }
      }
      continue;
    }
    positional.push(a);
    if (opts.permute === false && a !== '-') {
      // The command after the user is not parsed for options (KernelSU, per the facts sheet §2.2).
      positional.push(...args.slice(i + 1));
      break;
    }
  }
  return finish();
}

/** Waits `ms`, or less when the command is interrupted. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs `script` as `uid` in `ns` (or where the caller is, when undefined). */
async function runAs(
  ctx: CommandContext,
  script: string,
  uid: number,
  ns: MountNamespace | undefined,
): Promise<number> {
  const run = (): Promise<number> => ctx.runShell(script, { uid, env: new Map(ctx.env) });
  return ns ? ctx.phone.fs.runInNamespace(ns, run) : run();
}

/** The namespace a root session runs in; `isolated` is a fresh private copy to release after. */
function sessionNamespace(
  ctx: CommandContext,
  mode: MountNsMode,
  target: number,
): { ns: MountNamespace; isolated: boolean } {
  const fs = ctx.phone.fs;
  if (target === 0) return { ns: fs.initNamespace, isolated: false };
  if (target > 0) {
    // su_daemon: switch_mnt_ns(pid) failing → "setns failed, fallback to global".
    return { ns: ctx.phone.processes.mountNamespace(target) ?? fs.initNamespace, isolated: false };
  }
  if (mode === 'global') return { ns: fs.initNamespace, isolated: false };
  if (mode === 'isolated') return { ns: fs.cloneNamespace(fs.namespace, 'private'), isolated: true };
  return { ns: fs.namespace, isolated: false };
}

async function notFound(ctx: CommandContext, name: string): Promise<number> {
  await err(ctx, `/system/bin/sh: ${name}: inaccessible or not found\n`);
  return 127;
}

export async function su(ctx: CommandContext): Promise<number> {
  const root = rootOf(ctx.phone.profile);
  if (!root) return notFound(ctx, 'su');
  if (root.su === 'aosp') return aospSu(ctx);
  const req = parseMagiskSu(ctx.argv.slice(1), { permute: root.su === 'magisk' });
  const brand = root.su === 'kernelsu' ? 'KernelSU' : 'MAGISKSU';
  if (req.error) {
    await err(ctx, req.error.message + (root.su === 'magisk' ? MAGISK_USAGE : ''));
    return req.error.status;
  }
  if (req.help) {
    await out(
      ctx,
      root.su === 'magisk' ? MAGISK_USAGE : 'KernelSU\n\nUsage: su [options] [-] [user [argument...]]\n',
    );
    return 0;
  }
  if (req.version === 'name') {
    await out(ctx, `${root.version}:${brand}\n`);
    return 0;
  }
  if (req.version === 'code') {
    await out(ctx, `${root.versionCode}\n`);
    return 0;
  }
  let uid = 0;
  if (req.user !== undefined) {
    // getpwnam, else parse_int. Junk gives Magisk uid -1, and setresuid(-1, …) changes nothing, so
    // the session stays root (inference from su.cpp and set_identity); KernelSU parses it as 0.
    uid = parseId(req.user) ?? 0;
  }
  if (ctx.uid !== 0) {
    // A root caller is allowed without asking (daemon.rs get_su_info: AID_ROOT → allow).
    if (root.grant === 'prompt-timeout') await delay(root.promptTimeoutMs, ctx.signal);
    if (root.grant !== 'allow') {
      await err(ctx, 'Permission denied\n');
      return SU_DENIED_STATUS;
    }
  }
  let command = req.command;
  if (command === undefined && root.su === 'kernelsu' && req.rest.length) {
    command = req.rest.map(shQuote).join(' ');
  }
  // No -c: an interactive shell; under adb shell without a terminal it reads commands from stdin
  // until EOF.
  if (command === undefined) command = (await readStdin(ctx)).toString('utf8');
  const mode =
    root.su === 'kernelsu' && root.mountNamespaceMode === 'global' ? 'global' : root.mountNamespaceMode;
  const { ns, isolated } = sessionNamespace(ctx, mode, req.target);
  try {
    return await runAs(ctx, command, uid, ns);
  } finally {
    if (isolated) ctx.phone.fs.releaseNamespace(ns);
  }
}

/** AOSP userdebug su: `su [WHO [COMMAND...]]`, WHO = user[,group[,groups]]. */
async function aospSu(ctx: CommandContext): Promise<number> {
  if (ctx.uid !== 0 && ctx.uid !== 2000) {
    await err(ctx, 'su: not allowed\n');
    return 1;
  }
  const [who, ...command] = ctx.argv.slice(1);
  let uid = 0;
  if (who !== undefined) {
    const user = who.split(',')[0] ?? '';
    const u = parseId(user);
    if (u === null) {
      await err(ctx, `su: invalid uid/gid '${user}'\n`);
      return 1;
    }
    uid = u;
  }
  const script = command.length ? command.map(shQuote).join(' ') : (await readStdin(ctx)).toString('utf8');
  return ctx.runShell(script, { uid, env: new Map(ctx.env) });
}

/**
 * Magisk's `magisk` binary (native/src/core/magisk.cpp), as far as a harness uses it: `-c`, `-v`,
 * `-V` and `--sqlite SQL` for the settings a doctor reads. `--sqlite` prints each row as
 * `column=value` pairs joined by `|` (db.rs db_exec_for_cli), one row per line; a setting the user
 * never changed has no row (the daemon then uses its default).
 */
export async function magisk(ctx: CommandContext): Promise<number> {
  const root = rootOf(ctx.phone.profile);
  if (!root || root.su !== 'magisk') return notFound(ctx, 'magisk');
  const [opt, arg] = ctx.argv.slice(1);
  if (opt === '-c') {
    await out(ctx, `${root.version}:MAGISK:R (${root.versionCode})\n`);
    return 0;
  }
  if (opt === '-v') {
    await out(ctx, `${root.version}:MAGISK:R\n`);
    return 0;
  }
  if (opt === '-V') {
    await out(ctx, `${root.versionCode}\n`);
    return 0;
  }
  if (opt === '--sqlite' && arg !== undefined) {
    if (ctx.uid !== 0) {
      // connect_daemon: the daemon answers ROOT_REQUIRED for a shell caller.
      await err(ctx, 'Root is required for this operation\n');
      return 1;
    }
    return magiskSqlite(ctx, arg, root);
  }
  await err(
    ctx,
    'Magisk - Multi-purpose Utility\n\nUsage: magisk [applet [arguments]...]\n   or: magisk [options]...\n\n' +
      'Options:\n   -c                        print current binary version\n' +
      '   -v                        print running daemon version\n' +
      '   -V                        print running daemon version code\n' +
      '   --sqlite SQL              exec SQL commands to Magisk database\n\n',
  );
  return 1;
}

const MNT_NS_VALUE: Record<MountNsMode, number> = { global: 0, inherit: 1, isolated: 2 };

/** The settings rows the virtual Magisk database holds (only those the profile set). */
function settingsRows(root: ResolvedRoot): Array<{ key: string; value: string }> {
  return root.mntNsStored ? [{ key: 'mnt_ns', value: String(MNT_NS_VALUE[root.mountNamespaceMode]) }] : [];
}

/**
 * The SELECTs on the settings table a harness makes: `SELECT value|key|* FROM settings [WHERE
 * key='K']`. Anything else is reported as unsupported by the virtual phone (not as SQLite's error).
 */
async function magiskSqlite(ctx: CommandContext, sql: string, root: ResolvedRoot): Promise<number> {
  const m =
    /^\s*SELECT\s+(\*|[a-z_]+(?:\s*,\s*[a-z_]+)*)\s+FROM\s+settings(?:\s+WHERE\s+key\s*=\s*'([a-z_]+)')?\s*;?\s*$/i.exec(
      sql,
    );
  if (!m) {
    await err(ctx, `magisk --sqlite: the virtual phone answers only SELECTs on settings, got: ${sql}\n`);
    return 1;
  }
  const columns = m[1] === '*' ? ['key', 'value'] : (m[1] as string).split(',').map((c) => c.trim());
  for (const c of columns) {
    if (c !== 'key' && c !== 'value') {
      await err(ctx, `magisk --sqlite: no such column: ${c}\n`);
      return 1;
    }
  }
  const rows = settingsRows(root).filter((r) => m[2] === undefined || r.key === m[2]);
  for (const r of rows)
    await out(ctx, columns.map((c) => `${c}=${r[c as 'key' | 'value']}`).join('|') + '\n');
  return 0;
}
