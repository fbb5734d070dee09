/** `cmd SERVICE …` (the binder shell-command dispatcher), `service`, `appops` and `monkey`. */
import type { CommandContext, OutStream } from './types.ts';
import { activityCommand } from './cmd-am.ts';
import { input, wm } from './cmd-input.ts';
import { packageCommand } from './cmd-package.ts';
import { settingsCommand } from './cmd-settings.ts';
import { deviceState, err, lines, out } from './util.ts';

type ServiceCommand = (ctx: CommandContext, args: string[]) => Promise<number>;

const withArgv =
  (name: string, fn: (ctx: CommandContext) => Promise<number>): ServiceCommand =>
  (ctx, args) =>
    fn({ ...ctx, argv: [name, ...args] });

/** Services `cmd` knows, with the AIDL interface `service list` prints. */
const SERVICES: Record<string, { iface: string; run?: ServiceCommand }> = {
  activity: { iface: 'android.app.IActivityManager', run: activityCommand },
  appops: { iface: 'com.android.internal.app.IAppOpsService', run: appopsCommand },
  deviceidle: { iface: 'android.os.IDeviceIdleController', run: deviceidleCommand },
  input: { iface: 'android.hardware.input.IInputManager', run: withArgv('input', input) },
  notification: { iface: 'android.app.INotificationManager', run: notificationCommand },
  package: { iface: 'android.content.pm.IPackageManager', run: packageCommand },
  power: { iface: 'android.os.IPowerManager', run: powerCommand },
  settings: { iface: '', run: settingsCommand },
  statusbar: { iface: 'com.android.internal.statusbar.IStatusBarService', run: async () => 0 },
  uimode: { iface: 'android.app.IUiModeManager', run: uimodeCommand },
  window: { iface: 'android.view.IWindowManager', run: withArgv('wm', wm) },
  battery: { iface: '' },
  connectivity: { iface: 'android.net.IConnectivityManager' },
  display: { iface: 'android.hardware.display.IDisplayManager' },
  input_method: { iface: 'com.android.internal.view.IInputMethodManager' },
  wifi: { iface: 'android.net.wifi.IWifiManager' },
};

export async function cmd(ctx: CommandContext): Promise<number> {
  const [service, ...args] = ctx.argv.slice(1);
  if (service === undefined) {
    await err(
      ctx,
      'cmd: No service specified; use -l to list all running services. Use -w to start and wait for a service.\n',
    );
    return 20;
  }
  if (service === '-l') {
    await out(
      ctx,
      'Currently running services:\n' +
        Object.keys(SERVICES)
          .sort()
          .map((s) => `  ${s}\n`)
          .join(''),
    );
    return 0;
  }
  const svc = SERVICES[service];
  if (!svc) {
    await err(ctx, `cmd: Can't find service: ${service}\n`);
    return 20;
  }
  if (!svc.run) {
    await out(ctx, args.length ? `Unknown command: ${args[0]}\n` : '');
    return 255;
  }
  return svc.run(ctx, args);
}

export async function service(ctx: CommandContext): Promise<number> {
  const [sub, name] = ctx.argv.slice(1);
  const names = Object.keys(SERVICES).sort();
  if (sub === 'list') {
    await out(
      ctx,
      `Found ${names.length} services:\n` +
        names.map((n, i) => `${i}\t${n}: [${SERVICES[n]?.iface ?? ''}]\n`).join(''),
    );
    return 0;
  }
  if (sub === 'check' && name) {
    await out(ctx, `Service ${name}: ${SERVICES[name] ? 'found' : 'not found'}\n`);
    return 0;
  }
  if (sub === 'call' && name) {
    await out(ctx, "Result: Parcel(00000000    '....')\n");
    return 0;
  }
  await err(
    ctx,
    'Usage: service [-h|-?]\n       service list\n       service check SERVICE\n       service call SERVICE CODE [i32 N | i64 N | f N | d N | s16 STR ] ...\n',
  );
  return sub === '-h' || sub === '-?' ? 0 : 1;
}

export async function appops(ctx: CommandContext): Promise<number> {
  return appopsCommand(ctx, ctx.argv.slice(1));
}

async function appopsCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub, ...rest] = args.filter((a, i, all) => a !== '--user' && all[i - 1] !== '--user');
  // Modes set per package and op are kept (deviceState().appops) so that `get` reads them back, in
  // AOSP AppOpsService.Shell's format `OP: mode` (services/core/java/com/android/server/appop/
  // AppOpsService.java onShellCommand "get"). The doctor reads RUN_ANY_IN_BACKGROUND this way.
  const ops = deviceState(ctx.phone).appops;
  const opName = (op: string) => op.replace(/^android:/, '').toUpperCase();
  if (sub === 'set') {
    const [pkg, op, mode] = rest;
    if (pkg && op && mode && ctx.phone.packages.has(pkg)) ops.set(`${pkg} ${opName(op)}`, mode);
    return 0;
  }
  if (sub === 'reset') {
    const [pkg] = rest;
    for (const k of [...ops.keys()]) if (!pkg || k.startsWith(`${pkg} `)) ops.delete(k);
    return 0;
  }
  if (sub === 'write-settings' || sub === 'read-settings') return 0;
  if (sub === 'get' || sub === 'query-op') {
    const [pkg, op] = rest;
    if (pkg && !ctx.phone.packages.has(pkg)) {
      await err(ctx, `Error: Unknown package: ${pkg}\n`);
      return 255;
    }
    await out(
      ctx,
      op ? `${opName(op)}: ${ops.get(`${pkg} ${opName(op)}`) ?? 'allow'}\n` : 'No operations.\n',
    );
    return 0;
  }
  await out(
    ctx,
    sub ? `Unknown command: ${sub}\n` : 'AppOps service (appops) commands:\n  set, get, reset\n',
  );
  return 255;
}

async function notificationCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub] = args;
  if (
    [
      'allow_listener',
      'disallow_listener',
      'allow_assistant',
      'disallow_assistant',
      'allow_dnd',
      'disallow_dnd',
      'post',
      'snooze',
      'unsnooze',
    ].includes(sub ?? '')
  ) {
    return 0;
  }
  await out(ctx, sub ? `Unknown command: ${sub}\n` : 'usage: cmd notification SUBCMD [args]\n');
  return 255;
}

async function deviceidleCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const s = deviceState(ctx.phone);
  if (sub === 'whitelist') {
    for (const c of rest) {
      const name = c.slice(1);
      if (c.startsWith('+') && ctx.phone.packages.has(name)) {
        s.idleWhitelist.add(name);
        await out(ctx, `Added: ${name}\n`);
      } else if (c.startsWith('-') && s.idleWhitelist.delete(name)) await out(ctx, `Removed: ${name}\n`);
      else await out(ctx, `Unknown package: ${name}\n`);
    }
    return 0;
  }
  if (sub === 'enable' || sub === 'disable' || sub === 'unforce' || sub === 'force-idle' || sub === 'step')
    return 0;
  await out(ctx, sub ? `Unknown command: ${sub}\n` : '');
  return 255;
}

async function powerCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub, value] = args;
  if (
    sub === 'set-mode' ||
    sub === 'set-adaptive-power-saver-enabled' ||
    sub === 'set-fixed-performance-mode-enabled'
  ) {
    return 0;
  }
  if (sub === 'stayon' || sub === 'set-stay-on') {
    ctx.phone.settings.put(
      'global',
      'stay_on_while_plugged_in',
      value === 'true' ? '7' : value === 'false' ? '0' : '7',
    );
    return 0;
  }
  await out(ctx, sub ? `Unknown command: ${sub}\n` : '');
  return 255;
}

async function uimodeCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub, value] = args;
  if (sub === 'night') {
    if (value === 'yes' || value === 'no' || value === 'auto')
      ctx.phone.settings.put('secure', 'ui_night_mode', value === 'yes' ? '2' : value === 'no' ? '1' : '0');
    const mode = ctx.phone.settings.get('secure', 'ui_night_mode');
    await out(ctx, `Night mode: ${mode === '2' ? 'yes' : mode === '0' ? 'auto' : 'no'}\n`);
    return 0;
  }
  await out(ctx, sub ? `Unknown command: ${sub}\n` : '');
  return 255;
}

/** `monkey -p PKG [-c CATEGORY] [-v] COUNT`: the usual way scripts launch an app; starts its launcher. */
export async function monkey(ctx: CommandContext): Promise<number> {
  const args = ctx.argv.slice(1);
  const pkgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-p') pkgs.push(args[++i] ?? '');
    else if (args[i] === '-c' || args[i] === '-s' || args[i] === '--throttle' || args[i] === '--pct-syskeys')
      i++;
  }
  const launcher = pkgs.map((p) => ctx.phone.packages.get(p)?.launcher).find(Boolean);
  if (!launcher) {
    await out(ctx, '** No activities found to run, monkey aborted.\n');
    return 251;
  }
  const discard: OutStream = { write: async () => undefined };
  await activityCommand({ ...ctx, stdout: discard, stderr: discard }, [
    'start',
    '-a',
    'android.intent.action.MAIN',
    '-c',
    'android.intent.category.LAUNCHER',
    '-n',
    launcher,
  ]);
  await lines(ctx, [
    'Events injected: 1',
    '## Network stats: elapsed time=27ms (0ms mobile, 0ms wifi, 27ms not connected)',
  ]);
  return 0;
}
