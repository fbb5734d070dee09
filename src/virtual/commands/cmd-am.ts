/**
 * `am` (= `cmd activity`): start / start-activity, force-stop, kill, broadcast, startservice,
 * instrument. Messages and their streams follow ActivityManagerShellCommand: `am start` reports
 * errors on stdout with -W and on stderr without, and exits 0 either way.
 */
import type { VirtualPhone } from '../phone.ts';
import type { CommandContext, OutStream } from './types.ts';
import type { ComponentName } from '../os/component.ts';
import { flattenComponent, parseComponent, shortComponent, unflattenComponent } from '../os/component.ts';
import { FLAG_ACTIVITY_NEW_TASK } from '../display/activity.ts';
import type { Intent as ScreenIntent } from '../display/screen.ts';
import {
  FLAG_RECEIVER_FROM_SHELL,
  type Intent,
  intentToString,
  parseIntent,
  resolveActivity,
} from '../os/intent.ts';
import type { InstrumentationRun } from '../os/packages.ts';
import { stopInstrumentation } from './cmd-package.ts';
import { deviceState, err, helpOrUnknown, out, sdkOf, systemLog } from './util.ts';

const HELP = `Activity manager (activity) commands:
  help
      Print this help text.
  start-activity [-D] [-N] [-W] [-P <FILE>] [--start-profiler <FILE>]
          [--sampling INTERVAL] [--streaming] [-R COUNT] [-S]
          [--track-allocation] [--user <USER_ID> | current] <INTENT>
      Start an Activity.  Options are:
      -W: wait for launch to complete
      -S: force stop the target app before starting the activity
  start-service [--user <USER_ID> | current] <INTENT>
  stop-service [--user <USER_ID> | current] <INTENT>
  broadcast [--user <USER_ID> | all | current] <INTENT>
  instrument [-r] [-e <NAME> <VALUE>] [-p <FILE>] [-w]
          [--user <USER_ID> | current] [--no-window-animation] <COMPONENT>
  force-stop [--user <USER_ID> | all | current] <PACKAGE>
  kill [--user <USER_ID> | all | current] <PACKAGE>
  kill-all
  get-current-user
`;

/** Options of `am start` that take a value. */
const START_VALUED = new Set([
  '-P',
  '--start-profiler',
  '--sampling',
  '--attach-agent',
  '--attach-agent-bind',
  '-R',
  '--user',
  '--receiver-permission',
  '--display',
  '--windowingMode',
  '--activityType',
  '--task',
]);
const START_FLAGS = new Set([
  '-W',
  '-S',
  '-D',
  '-N',
  '--streaming',
  '--track-allocation',
  '--task-overlay',
  '--lock-task',
  '--allow-background-activity-starts',
  '--activity-single-top',
]);

export async function am(ctx: CommandContext): Promise<number> {
  return activityCommand(ctx, ctx.argv.slice(1));
}

/** `cmd activity ARGS…` */
export async function activityCommand(ctx: CommandContext, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'start':
    case 'start-activity':
      return startActivity(ctx, rest);
    case 'force-stop':
      return forceStop(ctx, rest);
    case 'kill':
      return kill(ctx, rest);
    case 'kill-all':
      return 0;
    case 'broadcast':
      return broadcast(ctx, rest);
    case 'startservice':
    case 'start-service':
    case 'start-foreground-service':
    case 'startforegroundservice':
      return startService(ctx, rest);
    case 'stopservice':
    case 'stop-service':
      return stopService(ctx, rest);
    case 'instrument':
      return instrument(ctx, rest);
    case 'get-current-user':
      await out(ctx, '0\n');
      return 0;
    default:
      return helpOrUnknown(ctx, sub, HELP);
  }
}

async function exception(ctx: CommandContext, sub: string, message: string): Promise<number> {
  await err(
    ctx,
    `Exception occurred while executing '${sub}':\njava.lang.IllegalArgumentException: ${message.replace(/^Error: /, '')}\n`,
  );
  return 255;
}

/**
 * Who may start an activity that is not exported: AOSP ActivityManager.checkComponentPermission
 * ("Root, system server get to do everything"; the app's own uid too). The shell (uid 2000) lacks
 * START_ANY_ACTIVITY (packages/Shell manifest), so it is refused (android-realities.md §7).
 */
function mayStartUnexported(caller: number, owner: number): boolean {
  return caller === 0 || caller === 1000 || caller === owner;
}

/**
 * The shell's refusal, as `am start` shows it on Android 10+: `Starting: …` (already on stdout), then
 * ShellCommand's `Exception occurred while executing 'start':` and the exception on stderr, exit 255.
 * Layout from public logs of `am start` on Android 10/11 (appium/appium-uiautomator2-server#416:
 * `java.lang.SecurityException: Permission Denial: starting Intent { … } from null (pid=…, uid=2000)
 * not exported from uid …` then `at com.android.server.wm.ActivityStackSupervisor.checkStartAnyActivityPermission`);
 * Android 12 renamed the class ActivityTaskSupervisor. The pid is the `am` process's, not modelled.
 */
async function permissionDenial(ctx: CommandContext, intent: Intent, owner: number): Promise<number> {
  const sdk = sdkOf(ctx.phone);
  const pid = 4000 + (Date.now() % 20000);
  const frame =
    sdk >= 31
      ? 'com.android.server.wm.ActivityTaskSupervisor.checkStartAnyActivityPermission(ActivityTaskSupervisor.java)'
      : 'com.android.server.wm.ActivityStackSupervisor.checkStartAnyActivityPermission(ActivityStackSupervisor.java:1344)';
  await err(
    ctx,
    "Exception occurred while executing 'start':\n" +
      `java.lang.SecurityException: Permission Denial: starting ${intentToString(intent)} from null ` +
      `(pid=${pid}, uid=${ctx.uid}) not exported from uid ${owner}\n\tat ${frame}\n`,
  );
  systemLog(
    ctx.phone,
    5,
    sdk >= 29 ? 'ActivityTaskManager' : 'ActivityManager',
    `Permission Denial: starting ${intentToString(intent)} from null (pid=${pid}, uid=${ctx.uid}) not exported from uid ${owner}`,
  );
  return 255;
}

function launchTimes(c: ComponentName, state: 'COLD' | 'WARM' | 'HOT'): { total: number; wait: number } {
  let h = 0;
  for (const ch of c.package + c.className) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const base = state === 'COLD' ? 420 : state === 'WARM' ? 160 : 60;
  const total = base + (h % (state === 'COLD' ? 300 : 90));
  return { total, wait: total + 3 + (h % 7) };
}

/** Force-stops a package: its processes, its instrumentation, and its activities on screen. */
export function forceStopPackage(phone: VirtualPhone, pkg: string, reason: string): void {
  const gone = phone.processes.stop(pkg);
  stopInstrumentation(phone, pkg);
  const info = phone.packages.get(pkg);
  if (info)
    systemLog(phone, 4, 'ActivityManager', `Force stopping ${pkg} appid=${info.uid} user=0: ${reason}`);
  for (const p of gone) {
    systemLog(
      phone,
      4,
      'ActivityManager',
      `Killing ${p.pid}:${p.name}/${p.user.replace('_', '')} (adj 0): stop ${pkg}`,
    );
  }
  phone.screen.forceStop(pkg);
}

/** The intent as the screen model takes it. */
function screenIntent(intent: Intent, component: string): ScreenIntent {
  return {
    ...(intent.action ? { action: intent.action } : {}),
    ...(intent.data ? { data: intent.data } : {}),
    component,
    categories: [...intent.categories],
    extras: { ...intent.extras },
    flags: intent.flags,
  };
}

async function startActivity(ctx: CommandContext, args: string[]): Promise<number> {
  const phone = ctx.phone;
  let wait = false;
  let forceStopFirst = false;
  const intent = parseIntent(args, (opt, next) => {
    if (START_VALUED.has(opt)) next();
    else if (START_FLAGS.has(opt)) {
      if (opt === '-W') wait = true;
      if (opt === '-S') forceStopFirst = true;
    } else return false;
    return true;
  });
  if (typeof intent === 'string') return exception(ctx, 'start', intent);
  await out(ctx, `Starting: ${intentToString(intent)}\n`);
  const resolved = resolveActivity(phone.packages, intent);
  const report = async (text: string): Promise<void> => {
    const stream: OutStream = wait ? ctx.stdout : ctx.stderr;
    await stream.write(text + '\n');
  };
  const launched = { ...intent, flags: (intent.flags | FLAG_ACTIVITY_NEW_TASK) >>> 0 };
  if (!resolved) {
    const c = intent.component ? unflattenComponent(intent.component) : null;
    if (c) await report(`Error type 3\nError: Activity class {${flattenComponent(c)}} does not exist.`);
    else await report(`Error: Activity not started, unable to resolve ${intentToString(launched)}`);
    return 0;
  }
  const c = parseComponent(resolved);
  const short = shortComponent(c);
  const pkg = phone.packages.get(c.package);
  if (pkg && !phone.packages.isExported(resolved) && !mayStartUnexported(ctx.uid, pkg.uid)) {
    return permissionDenial(ctx, { ...launched, component: short }, pkg.uid);
  }
  if (forceStopFirst) forceStopPackage(phone, c.package, 'from pid 0');
  const { proc, started } = phone.processes.start(c.package, pkg ? { uid: pkg.uid, package: c.package } : {});

  const tag = sdkOf(phone) >= 29 ? 'ActivityTaskManager' : 'ActivityManager';
  systemLog(
    phone,
    4,
    tag,
    `START u0 {${intentToString({ ...launched, component: short }).slice(9, -2)}} from uid ${ctx.uid}`,
  );
  if (started) {
    const why = sdkOf(phone) >= 30 ? 'pre-top-activity' : 'activity';
    systemLog(
      phone,
      4,
      'ActivityManager',
      `Start proc ${proc.pid}:${proc.name}/${proc.user.replace('_', '')} for ${why} {${flattenComponent(c)}}`,
    );
  }
  const result = phone.screen.startActivity(short, screenIntent(launched, short));
  const state = started ? 'COLD' : result === 'started' ? 'WARM' : 'HOT';
  const times = launchTimes(c, state);
  if (result === 'started') systemLog(phone, 4, tag, `Displayed ${short}: +${times.total}ms`);
  if (result === 'delivered-to-top') {
    await report(
      'Warning: Activity not started, intent has been delivered to currently running top-most instance.',
    );
  } else if (result === 'brought-to-front') {
    await report('Warning: Activity not started, its current task has been brought to the front');
  }
  if (wait) {
    await out(
      ctx,
      `Status: ok\n${sdkOf(phone) >= 29 ? `LaunchState: ${state}\n` : ''}Activity: ${short}\n` +
        (sdkOf(phone) < 29 ? `ThisTime: ${times.total}\n` : '') +
        `TotalTime: ${times.total}\nWaitTime: ${times.wait}\nComplete\n`,
    );
  }
  return 0;
}

function packageArg(args: string[]): string | undefined {
  const rest = [...args];
  while (rest[0]?.startsWith('-')) {
    const opt = rest.shift();
    if (opt === '--user') rest.shift();
  }
  return rest[0];
}

async function forceStop(ctx: CommandContext, args: string[]): Promise<number> {
  const pkg = packageArg(args);
  if (!pkg) {
    await err(
      ctx,
      'Exception occurred while executing \'force-stop\':\njava.lang.IllegalArgumentException: Argument expected after "force-stop"\n',
    );
    return 255;
  }
  forceStopPackage(ctx.phone, pkg, `from pid ${ctx.uid === 0 ? 'root' : 'shell'}`);
  return 0;
}

async function kill(ctx: CommandContext, args: string[]): Promise<number> {
  const pkg = packageArg(args);
  if (!pkg) return exception(ctx, 'kill', 'Argument expected after "kill"');
  if (ctx.phone.screen.focused().package !== pkg) ctx.phone.processes.stop(pkg);
  return 0;
}

async function broadcast(ctx: CommandContext, args: string[]): Promise<number> {
  const intent = parseIntent(args, (opt, next) => {
    if (opt === '--user' || opt === '--receiver-permission') next();
    else if (opt !== '--allow-background-activity-starts' && opt !== '--async') return false;
    return true;
  });
  if (typeof intent === 'string') return exception(ctx, 'broadcast', intent);
  intent.flags = (intent.flags | FLAG_RECEIVER_FROM_SHELL) >>> 0;
  await out(ctx, `Broadcasting: ${intentToString(intent)}\n`);
  ctx.phone.emit('broadcast', intent);
  await out(ctx, 'Broadcast completed: result=0\n');
  return 0;
}

async function startService(ctx: CommandContext, args: string[]): Promise<number> {
  const intent = parseIntent(args, (opt, next) => (opt === '--user' ? (next(), true) : false));
  if (typeof intent === 'string') return exception(ctx, 'startservice', intent);
  await out(ctx, `Starting service: ${intentToString(intent)}\n`);
  const c = intent.component ? unflattenComponent(intent.component) : null;
  const pkg = ctx.phone.packages.get(c?.package ?? intent.package ?? '');
  if (!pkg) {
    await err(ctx, 'Error: Not found; no service started.\n');
    return 255;
  }
  ctx.phone.processes.start(pkg.name, { uid: pkg.uid, package: pkg.name });
  return 0;
}

async function stopService(ctx: CommandContext, args: string[]): Promise<number> {
  const intent = parseIntent(args, (opt, next) => (opt === '--user' ? (next(), true) : false));
  if (typeof intent === 'string') return exception(ctx, 'stopservice', intent);
  await out(ctx, `Stopping service: ${intentToString(intent)}\n`);
  await err(ctx, 'Service not stopped: was not running.\n');
  return 255;
}

async function instrument(ctx: CommandContext, args: string[]): Promise<number> {
  const phone = ctx.phone;
  const run: Omit<InstrumentationRun, 'component' | 'targetPackage'> = {
    args: {},
    wait: false,
    raw: false,
    noWindowAnimation: false,
  };
  let component: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '-w') run.wait = true;
    else if (a === '-r') run.raw = true;
    else if (a === '--no-window-animation') run.noWindowAnimation = true;
    else if (a === '-e') {
      const k = args[++i];
      const v = args[++i];
      if (k === undefined || v === undefined)
        return exception(ctx, 'instrument', 'Argument expected after "-e"');
      run.args[k] = v;
    } else if (a === '-p' || a === '--user' || a === '--abi') i++;
    else if (a.startsWith('-')) continue;
    else component = a;
  }
  if (!component) return exception(ctx, 'instrument', 'Argument expected after "instrument"');
  const c = unflattenComponent(component);
  const info = c ? phone.packages.getInstrumentation(component) : undefined;
  if (!c || !info) {
    const full = c ? flattenComponent(c) : component;
    await out(
      ctx,
      'INSTRUMENTATION_STATUS: id=ActivityManagerService\n' +
        `INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{${full}}\n` +
        'INSTRUMENTATION_STATUS_CODE: -1\n',
    );
    await err(
      ctx,
      `android.util.AndroidException: INSTRUMENTATION_FAILED: ${c ? shortComponent(c) : component}\n` +
        '\tat com.android.commands.am.Instrument.run(Instrument.java:519)\n' +
        '\tat com.android.commands.am.Am.runInstrument(Am.java:202)\n' +
        '\tat com.android.commands.am.Am.onRun(Am.java:80)\n' +
        '\tat com.android.internal.os.BaseCommand.run(BaseCommand.java:56)\n' +
        '\tat com.android.commands.am.Am.main(Am.java:50)\n',
    );
    return 1;
  }
  const handler = phone.packages.getInstrumentationHandler(info.component);
  if (!handler) {
    await out(
      ctx,
      'INSTRUMENTATION_RESULT: stream=\n\nTime: 0.002\n\nOK (0 tests)\n\n\nINSTRUMENTATION_CODE: -1\n',
    );
    return 0;
  }
  const state = deviceState(phone);
  state.instrumentations.get(info.component)?.abort.abort();
  const abort = new AbortController();
  state.instrumentations.set(info.component, { targetPackage: info.targetPackage, abort });
  const onClientGone = (): void => abort.abort();
  if (run.wait) ctx.signal.addEventListener('abort', onClientGone, { once: true });
  if (ctx.signal.aborted && run.wait) abort.abort();
  const target = phone.packages.get(info.targetPackage);
  const { proc } = phone.processes.start(info.targetPackage, {
    uid: target?.uid ?? phone.packages.get(c.package)?.uid,
    package: info.targetPackage,
  });
  const discard: OutStream = { write: async () => undefined };
  const childCtx: CommandContext = {
    ...ctx,
    signal: abort.signal,
    ...(run.wait ? {} : { stdout: discard, stderr: discard }),
  };
  const finish = (): void => {
    ctx.signal.removeEventListener('abort', onClientGone);
    if (state.instrumentations.get(info.component)?.abort === abort)
      state.instrumentations.delete(info.component);
    if (phone.processes.get(proc.pid) === proc) phone.processes.kill(proc.pid);
  };
  const running = handler(childCtx, { ...run, component: info.component, targetPackage: info.targetPackage });
  if (!run.wait) {
    void running.catch(() => 1).finally(finish);
    return 0;
  }
  try {
    return await running;
  } finally {
    finish();
  }
}
