/**
 * `pm` and `cmd package` (on Android 10+ `pm` is a wrapper around `cmd package`): list, path,
 * install (file or streamed stdin, and install sessions), uninstall, clear, enable/disable,
 * grant/revoke, resolve-activity, dump. Formats follow PackageManagerShellCommand; failures
 * print `Failure [CODE]` and exit 1, usage errors exit 255.
 */
import { posix } from 'node:path';
import type { VirtualPhone } from '../phone.ts';
import type { CommandContext } from './types.ts';
import { shortComponent, unflattenComponent } from '../os/component.ts';
import { dumpPackage } from './cmd-dumpsys.ts';
import { intentToString, parseIntent, resolveActivity } from '../os/intent.ts';
import { InstallError, type PackageInfo } from '../os/packages.ts';
import {
  deviceState,
  err,
  errnoText,
  helpOrUnknown,
  lines,
  out,
  readStdin,
  resolvePath,
  systemLog,
} from './util.ts';
import { installRestricted } from '../os/miui-security.ts';

const HELP = `Package manager (package) commands:
  help
    Print this help text.
  path [--user USER_ID] PACKAGE
    Print the path to the .apk of the given PACKAGE.
  dump PACKAGE
    Print various system state associated with the given PACKAGE.
  list packages [-f] [-d] [-e] [-s] [-3] [-i] [-l] [-u] [-U]
      [--show-versioncode] [--uid UID] [--user USER_ID] [FILTER]
    Prints all packages; optionally only those whose name contains
    the text in FILTER.
  list instrumentation [-f] [TARGET-PACKAGE]
    Prints all test packages; optionally only those targeting TARGET-PACKAGE.
  list features
  list users
  resolve-activity [--brief] [--components] [--user USER_ID] INTENT
    Prints the activity that resolves to the given INTENT.
  install [-lrtsfdg] [-i PACKAGE] [--user USER_ID] [-S BYTES] [PATH|-]
    Install an application.  Must provide the apk data to install, either as a
    file path or '-' to read from stdin.
  install-existing [--user USER_ID] PACKAGE
  install-create / install-write / install-commit / install-abandon
  uninstall [-k] [--user USER_ID] PACKAGE
  clear [--user USER_ID] PACKAGE
  enable / disable / disable-user / default-state [--user USER_ID] PACKAGE
  grant / revoke [--user USER_ID] PACKAGE PERMISSION
`;

export async function pm(ctx: CommandContext): Promise<number> {
  return packageCommand(ctx, ctx.argv.slice(1));
}

interface Session {
  chunks: Buffer[];
  opts: { allowDowngrade: boolean; installer?: string };
}
const sessions = new WeakMap<VirtualPhone, { next: number; open: Map<number, Session> }>();

/** `cmd package ARGS…` */
export async function packageCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'list':
      return list(ctx, rest);
    case 'path':
      return path(ctx, rest);
    case 'dump': {
      const name = rest.find((a) => !a.startsWith('-'));
      if (!name) return usage(ctx, 'Error: no package specified');
      await out(ctx, dumpPackage(ctx.phone, name));
      return 0;
    }
    case 'install':
      return install(ctx, rest);
    case 'install-existing':
      return installExisting(ctx, rest);
    case 'install-create':
    case 'install-write':
    case 'install-commit':
    case 'install-abandon':
      return installSession(ctx, sub, rest);
    case 'uninstall':
      return uninstall(ctx, rest);
    case 'clear':
      return clear(ctx, rest);
    case 'enable':
    case 'disable':
    case 'disable-user':
    case 'disable-until-used':
    case 'default-state':
      return setState(ctx, sub, rest);
    case 'grant':
    case 'revoke':
      return grant(ctx, sub, rest);
    case 'resolve-activity':
      return resolve(ctx, rest);
    case 'get-install-location':
      await out(ctx, '0[auto]\n');
      return 0;
    case 'set-install-location':
    case 'trim-caches':
    case 'set-permission-enforced':
      return 0;
    case 'compile':
    case 'force-dex-opt':
      await out(ctx, 'Success\n');
      return 0;
    default:
      return helpOrUnknown(ctx, sub, HELP);
  }
}

async function usage(ctx: CommandContext, msg: string): Promise<number> {
  await err(ctx, msg + '\n');
  return 255;
}

/** Splits leading options off: `--user X` is always accepted; `valued` options take a value. */
function options(
  args: string[],
  valued: string[] = [],
): { flags: Set<string>; values: Map<string, string>; rest: string[] } | string {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('-') || a === '-') break;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '--user' || valued.includes(a)) {
      const v = args[++i];
      if (v === undefined) return `Error: option ${a} requires an argument`;
      values.set(a, v);
    } else if (/^-[a-zA-Z]{2,}$/.test(a)) {
      for (const c of a.slice(1)) flags.add(`-${c}`);
    } else flags.add(a);
  }
  return { flags, values, rest: args.slice(i) };
}

async function list(ctx: CommandContext, args: string[]): Promise<number> {
  const [what, ...rest] = args;
  const reg = ctx.phone.packages;
  if (what === 'packages' || what === 'package') {
    const o = options(rest, ['--uid']);
    if (typeof o === 'string') return usage(ctx, o);
    const { flags, values } = o;
    const filter = o.rest[0];
    const uidFilter = values.get('--uid');
    const rows = reg
      .list()
      .filter((p) => !flags.has('-s') || p.system)
      .filter((p) => !flags.has('-3') || !p.system)
      .filter((p) => !flags.has('-d') || !p.enabled)
      .filter((p) => !flags.has('-e') || p.enabled)
      .filter((p) => !filter || p.name.includes(filter))
      .filter((p) => uidFilter === undefined || String(p.uid) === uidFilter)
      .map((p) => {
        let line = 'package:' + (flags.has('-f') ? `${p.path}=` : '') + p.name;
        if (flags.has('--show-versioncode')) line += ` versionCode:${p.versionCode}`;
        if (flags.has('-i')) line += `  installer=${p.installer ?? 'null'}`;
        if (flags.has('-U')) line += ` uid:${p.uid}`;
        return line;
      });
    await lines(ctx, rows);
    return 0;
  }
  if (what === 'instrumentation') {
    const o = options(rest);
    if (typeof o === 'string') return usage(ctx, o);
    const target = o.rest[0];
    const rows = reg
      .instrumentations()
      .filter((i) => !target || i.targetPackage === target)
      .map((i) => {
        const c = unflattenComponent(i.component);
        const apk = o.flags.has('-f') && c ? `${reg.get(c.package)?.path ?? ''}=` : '';
        return `instrumentation:${apk}${c ? shortComponent(c) : i.component} (target=${i.targetPackage})`;
      });
    await lines(ctx, rows);
    return 0;
  }
  if (what === 'features') {
    await lines(
      ctx,
      [
        'reqGlEsVersion=0x30002',
        'android.hardware.bluetooth',
        'android.hardware.camera',
        'android.hardware.location.gps',
        'android.hardware.screen.portrait',
        'android.hardware.telephony',
        'android.hardware.touchscreen',
        'android.hardware.usb.accessory',
        'android.hardware.wifi',
        'android.software.webview',
      ].map((f) => (f.startsWith('req') ? f : `feature:${f}`)),
    );
    return 0;
  }
  if (what === 'users') {
    await out(ctx, 'Users:\n\tUserInfo{0:Owner:c13} running\n');
    return 0;
  }
  if (what === 'permission-groups' || what === 'permissions' || what === 'libraries') {
    if (what === 'permissions') await out(ctx, 'All Permissions:\n\n');
    return 0;
  }
  await err(ctx, `Error: unknown list type '${what ?? ''}'\n`);
  return 255;
}

async function path(ctx: CommandContext, args: string[]): Promise<number> {
  const o = options(args);
  if (typeof o === 'string') return usage(ctx, o);
  const name = o.rest[0];
  if (!name) return usage(ctx, 'Error: package name not specified');
  const pkg = ctx.phone.packages.get(name);
  if (!pkg) return 1;
  await out(ctx, `package:${pkg.path}\n`);
  return 0;
}

const INSTALL_VALUED = [
  '-i',
  '-S',
  '--install-location',
  '--originating-uri',
  '--referrer',
  '--abi',
  '-p',
  '--pkg',
];

async function install(ctx: CommandContext, args: string[]): Promise<number> {
  const o = options(args, INSTALL_VALUED);
  if (typeof o === 'string') return usage(ctx, o);
  const size = o.values.get('-S');
  const src = o.rest[0];
  let bytes: Buffer;
  let label: string;
  if (src === undefined || src === '-') {
    if (size === undefined && src === undefined) {
      await err(ctx, 'Error: must either specify a package size or an APK file\n');
      return 255;
    }
    bytes = await readStdin(ctx, size === undefined ? undefined : Number(size));
    label = '/data/app/vmdl.tmp/base.apk';
  } else {
    label = resolvePath(ctx, src);
    try {
      bytes = toBuffer(ctx.phone.fs.readFile(label));
    } catch (e) {
      await err(ctx, `Error: Unable to open file: ${src}\nConsider using a file under /data/local/tmp/\n`);
      await out(ctx, `Failure [INSTALL_FAILED_INVALID_URI: ${errnoText(e)}]\n`);
      return 1;
    }
  }
  return installBytes(ctx, label, bytes, {
    allowDowngrade: o.flags.has('-d'),
    installer: o.values.get('-i'),
  });
}

async function installBytes(
  ctx: CommandContext,
  label: string,
  bytes: Buffer,
  opts: { allowDowngrade: boolean; installer?: string | undefined },
): Promise<number> {
  const phone = ctx.phone;
  const restricted = installRestricted(ctx);
  if (restricted) {
    await out(ctx, restricted);
    return 1;
  }
  let info: PackageInfo;
  try {
    info = phone.packages.install(label, bytes, {
      allowDowngrade: opts.allowDowngrade,
      ...(opts.installer ? { installer: opts.installer } : {}),
    });
  } catch (e) {
    if (e instanceof InstallError) {
      await out(ctx, `Failure [${e.code}: ${e.message}]\n`);
      return 1;
    }
    throw e;
  }
  try {
    phone.fs.writeFile(info.path, bytes, { mode: 0o644, uid: 1000, gid: 1000, mkdirs: true });
  } catch {
    // The package is installed either way; a missing APK file only shows up in `ls`.
  }
  phone.processes.stop(info.name);
  systemLog(phone, 4, 'PackageManager', `installPackageLI: ${info.name} versionCode=${info.versionCode}`);
  await out(ctx, 'Success\n');
  return 0;
}

async function installSession(ctx: CommandContext, sub: string, args: string[]): Promise<number> {
  let state = sessions.get(ctx.phone);
  if (!state)
    sessions.set(ctx.phone, (state = { next: 1_000_000 + (Date.now() % 900_000), open: new Map() }));
  const o = options(args, INSTALL_VALUED);
  if (typeof o === 'string') return usage(ctx, o);
  if (sub === 'install-create') {
    const id = state.next++;
    const opts: Session['opts'] = { allowDowngrade: o.flags.has('-d') };
    const installer = o.values.get('-i');
    if (installer) opts.installer = installer;
    state.open.set(id, { chunks: [], opts });
    await out(ctx, `Success: created install session [${id}]\n`);
    return 0;
  }
  const id = Number(o.rest[0]);
  const session = state.open.get(id);
  if (!session) {
    await err(
      ctx,
      `Exception occurred while executing '${sub}':\njava.lang.SecurityException: Caller has no access to session ${o.rest[0] ?? ''}\n`,
    );
    return 255;
  }
  if (sub === 'install-write') {
    const src = o.rest[2];
    const size = o.values.get('-S');
    let bytes: Buffer;
    if (src === undefined || src === '-')
      bytes = await readStdin(ctx, size === undefined ? undefined : Number(size));
    else {
      try {
        bytes = toBuffer(ctx.phone.fs.readFile(resolvePath(ctx, src)));
      } catch (e) {
        await err(ctx, `Error: Unable to open file: ${src}: ${errnoText(e)}\n`);
        return 1;
      }
    }
    session.chunks.push(bytes);
    await out(ctx, `Success: streamed ${bytes.length} bytes\n`);
    return 0;
  }
  state.open.delete(id);
  if (sub === 'install-abandon') {
    await out(ctx, 'Success\n');
    return 0;
  }
  // install-commit: split APKs are not modelled; the base (first) APK names the package.
  const base = session.chunks[0] ?? Buffer.alloc(0);
  return installBytes(ctx, `/data/app/vmdl${id}.tmp/base.apk`, base, session.opts);
}

async function installExisting(ctx: CommandContext, args: string[]): Promise<number> {
  const o = options(args);
  if (typeof o === 'string') return usage(ctx, o);
  const name = o.rest[0];
  if (!name) return usage(ctx, 'Error: package name not specified');
  if (!ctx.phone.packages.installExisting(name)) {
    await out(ctx, `Package ${name} doesn't exist\n`);
    return 1;
  }
  await out(ctx, `Package ${name} installed for user: 0\n`);
  return 0;
}

async function uninstall(ctx: CommandContext, args: string[]): Promise<number> {
  const o = options(args, ['--versionCode']);
  if (typeof o === 'string') return usage(ctx, o);
  const name = o.rest[0];
  if (!name) return usage(ctx, 'Error: package name not specified');
  const phone = ctx.phone;
  const pkg = phone.packages.get(name);
  const user = o.values.get('--user');
  const result = phone.packages.uninstall(name, user === undefined ? {} : { user: Number(user) || 0 });
  if (result !== 'ok' || !pkg) {
    await out(ctx, 'Failure [DELETE_FAILED_INTERNAL_ERROR]\n');
    return 1;
  }
  phone.processes.stop(name);
  stopInstrumentation(phone, name);
  if (pkg.path.startsWith('/data/app/')) {
    try {
      phone.fs.unlink(pkg.path);
      phone.fs.rmdir(posix.dirname(pkg.path));
    } catch {
      // best effort: the registry is the source of truth
    }
  }
  systemLog(phone, 4, 'PackageManager', `Package ${name} removed`);
  await out(ctx, 'Success\n');
  return 0;
}

async function clear(ctx: CommandContext, args: string[]): Promise<number> {
  const o = options(args);
  if (typeof o === 'string') return usage(ctx, o);
  const name = o.rest[0];
  if (!name) return usage(ctx, 'Error: no package specified');
  if (!ctx.phone.packages.has(name)) {
    await out(ctx, 'Failed\n');
    return 1;
  }
  // AOSP clearApplicationUserData force-stops the app first: its activities go too.
  ctx.phone.processes.stop(name);
  ctx.phone.screen.forceStop(name);
  ctx.phone.packages.clearData(name);
  systemLog(
    ctx.phone,
    4,
    'ActivityManager',
    `Force stopping ${name} appid=${ctx.phone.packages.get(name)?.uid} user=0: clear data`,
  );
  await out(ctx, 'Success\n');
  return 0;
}

async function setState(ctx: CommandContext, sub: string, args: string[]): Promise<number> {
  const o = options(args);
  if (typeof o === 'string') return usage(ctx, o);
  const target = o.rest[0];
  if (!target) return usage(ctx, 'Error: no package or component specified');
  const pkgName = target.split('/')[0] ?? target;
  const enable = sub === 'enable' || sub === 'default-state';
  if (!ctx.phone.packages.setEnabled(pkgName, enable)) {
    await err(
      ctx,
      `Exception occurred while executing '${sub}':\njava.lang.IllegalArgumentException: Unknown package: ${pkgName}\n`,
    );
    return 255;
  }
  if (!enable) ctx.phone.processes.stop(pkgName);
  const state = { enable: 'enabled', disable: 'disabled', 'disable-user': 'disabled-user' }[sub] ?? 'default';
  await out(ctx, `${target.includes('/') ? 'Component' : 'Package'} ${target} new state: ${state}\n`);
  return 0;
}

async function grant(ctx: CommandContext, sub: string, args: string[]): Promise<number> {
  const o = options(args);
  if (typeof o === 'string') return usage(ctx, o);
  const [name, perm] = o.rest;
  if (!name || !perm) return usage(ctx, 'Error: no package or permission specified');
  if (!ctx.phone.packages.has(name)) {
    await err(
      ctx,
      `Exception occurred while executing '${sub}':\njava.lang.IllegalArgumentException: Unknown package: ${name}\n`,
    );
    return 255;
  }
  return 0;
}

async function resolve(ctx: CommandContext, args: string[]): Promise<number> {
  let brief = false;
  let components = false;
  const intent = parseIntent(args, (opt, next) => {
    if (opt === '--brief') brief = true;
    else if (opt === '--components') components = true;
    else if (opt === '--user') next();
    else return false;
    return true;
  });
  if (typeof intent === 'string') return usage(ctx, intent);
  const found = resolveActivity(ctx.phone.packages, intent);
  if (!found) {
    await out(ctx, 'No activity found\n');
    return 0;
  }
  const c = unflattenComponent(found);
  const short = c ? shortComponent(c) : found;
  if (components) {
    await out(ctx, `${short}\n`);
    return 0;
  }
  const head = 'priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=true';
  if (brief) {
    await out(ctx, `${head}\n${short}\n`);
    return 0;
  }
  const pkg = c ? ctx.phone.packages.get(c.package) : undefined;
  await lines(ctx, [
    head,
    'ActivityInfo:',
    `  name=${c?.className ?? found}`,
    `  packageName=${c?.package ?? ''}`,
    '  enabled=true exported=true directBootAware=false',
    '  taskAffinity=null targetActivity=null persistableMode=PERSIST_ROOT_ONLY',
    `  launchMode=0 flags=0x0 privateFlags=0x0 theme=0x0`,
    `  screenOrientation=-1 configChanges=0x0 softInputMode=0x0`,
    `  resizeMode=RESIZE_MODE_RESIZEABLE_VIA_SDK_VERSION`,
    '  ApplicationInfo:',
    `    packageName=${c?.package ?? ''}`,
    `    uid=${pkg?.uid ?? 0} flags=0x${(pkg?.system ? 0x38c8be45 : 0x38c8be44).toString(16)} privateFlags=0x0 theme=0x0`,
    `    sourceDir=${pkg?.path ?? ''}`,
    `    dataDir=/data/user/0/${c?.package ?? ''}`,
    `    targetSdkVersion=${pkg?.targetSdk ?? 0}`,
    `    resolved from ${intentToString(intent)}`,
  ]);
  return 0;
}

/** Aborts running `am instrument` sessions of a package (test or target). */
export function stopInstrumentation(phone: VirtualPhone, pkg: string): void {
  for (const [component, run] of deviceState(phone).instrumentations) {
    if (component.startsWith(`${pkg}/`) || run.targetPackage === pkg) run.abort.abort();
  }
}

function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(String(data));
}
