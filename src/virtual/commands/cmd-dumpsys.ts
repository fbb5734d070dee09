/**
 * `dumpsys SERVICE [ARGS]` for the services the harness and Appium read: package, window, power,
 * activity, deviceidle, battery, input_method, display, and the per-UID traffic readouts (netd,
 * connectivity, netstats: os/traffic.ts says which release prints what). Line formats are those the parsers in
 * appium-uia2.md §2 match (Package [..] (hash):, mCurrentFocus=Window{.. u0 pkg/cls},
 * mFocusedApp=..ActivityRecord{.. u0 pkg/.cls tN}, ProcessRecord{hash pid:name/u0aN}, …).
 */
import { createHash } from 'node:crypto';
import type { VirtualPhone } from '../phone.ts';
import type { CommandContext } from './types.ts';
import type { ComponentName } from '../os/component.ts';
import { flattenComponent, parseComponent, shortComponent, unflattenComponent } from '../os/component.ts';
import { userName, type ProcessInfo } from '../os/processes.ts';
import { deviceState, err, out, sdkOf } from './util.ts';
import { netState } from '../os/kernel-net.ts';
import { netstatsDump, trafficControllerDump, type DumpContext } from '../os/traffic.ts';

type Dumper = (phone: VirtualPhone, args: string[]) => string;

const SERVICES: Record<string, Dumper> = {
  activity: dumpActivity,
  battery: dumpBattery,
  deviceidle: dumpDeviceIdle,
  display: dumpDisplay,
  connectivity: dumpConnectivity,
  input_method: dumpInputMethod,
  netd: dumpNetd,
  netstats: dumpNetstats,
  package: (phone, args) => {
    const name = args.find((a) => !a.startsWith('-'));
    return name ? dumpPackage(phone, name) : dumpPackageSummary(phone);
  },
  power: dumpPower,
  window: dumpWindow,
};

export async function dumpsys(ctx: CommandContext): Promise<number> {
  const [service, ...args] = ctx.argv.slice(1);
  if (service === '-l') {
    await out(
      ctx,
      'Currently running services:\n' +
        serviceNames()
          .map((s) => `  ${s}\n`)
          .join(''),
    );
    return 0;
  }
  if (service === undefined) {
    let text =
      'Currently running services:\n' +
      serviceNames()
        .map((s) => `  ${s}\n`)
        .join('');
    for (const name of serviceNames()) {
      text += `-------------------------------------------------------------------------------\nDUMP OF SERVICE ${name}:\n`;
      text += (SERVICES[name] as Dumper)(ctx.phone, []);
    }
    await out(ctx, text);
    return 0;
  }
  const dumper = SERVICES[service];
  if (!dumper) {
    await err(ctx, `Can't find service: ${service}\n`);
    return 0;
  }
  // dumpsys deviceidle whitelist +pkg changes state; everything else only reads.
  await out(ctx, dumper(ctx.phone, args));
  return 0;
}

function serviceNames(): string[] {
  return Object.keys(SERVICES).sort();
}

/** A short stable hex id, like the identity hash codes in dumpsys output. */
function hid(...parts: Array<string | number>): string {
  return createHash('sha1').update(parts.join('|')).digest('hex').slice(0, 7);
}

function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** `dumpsys package PKG` (also `pm dump PKG`). */
export function dumpPackage(phone: VirtualPhone, name: string): string {
  const pkg = phone.packages.get(name);
  if (!pkg)
    return `\nDexopt state:\n  Unable to find package: ${name}\n\nCompiler stats:\n  Unable to find package: ${name}\n`;
  const abi = phone.props.get('ro.product.cpu.abi') || 'arm64-v8a';
  const codePath = pkg.path.replace(/\/[^/]+\.apk$/, '');
  const flags = `[ ${pkg.system ? 'SYSTEM ' : ''}HAS_CODE ALLOW_CLEAR_USER_DATA ${pkg.updatedSystemApp ? 'UPDATED_SYSTEM_APP ' : ''}ALLOW_BACKUP ]`;
  const out: string[] = [];
  if (pkg.launcher) {
    const c = parseComponent(pkg.launcher);
    out.push(
      'Activity Resolver Table:',
      '  Non-Data Actions:',
      '      android.intent.action.MAIN:',
      `        ${hid(pkg.launcher)} ${shortComponent(c)} filter ${hid(pkg.launcher, 'filter')}`,
      '          Action: "android.intent.action.MAIN"',
      '          Category: "android.intent.category.LAUNCHER"',
      '',
    );
  }
  out.push(
    'Key Set Manager:',
    `  [${name}]`,
    '      Signing KeySets: 1',
    '',
    'Packages:',
    `  Package [${name}] (${hid(name, 'pkg')}):`,
    `    userId=${pkg.uid}`,
    `    pkg=Package{${hid(name, 'p')} ${name}}`,
    `    codePath=${codePath}`,
    `    resourcePath=${codePath}`,
    `    legacyNativeLibraryDir=${codePath}/lib`,
    `    primaryCpuAbi=${pkg.system ? 'null' : abi}`,
    '    secondaryCpuAbi=null',
    `    versionCode=${pkg.versionCode} minSdk=${pkg.minSdk} targetSdk=${pkg.targetSdk}`,
    `    versionName=${pkg.versionName}`,
    '    splits=[base]',
    '    apkSigningVersion=3',
    `    applicationInfo=ApplicationInfo{${hid(name, 'ai')} ${name}}`,
    `    flags=${flags}`,
    `    dataDir=/data/user/0/${name}`,
    '    supportsScreens=[small, medium, large, xlarge, resizeable, anyDensity]',
    `    timeStamp=${fmtTime(pkg.lastUpdateTime)}`,
    `    firstInstallTime=${fmtTime(pkg.firstInstallTime)}`,
    `    lastUpdateTime=${fmtTime(pkg.lastUpdateTime)}`,
    `    installerPackageName=${pkg.installer ?? 'null'}`,
    `    signatures=PackageSignatures{${hid(name, 's')} version:3, signatures:[${hid(name, 'sig').slice(0, 8)}], past signatures:[]}`,
    '    installPermissionsFixed=true',
    `    pkgFlags=${flags}`,
    `    User 0: ceDataInode=${100000 + (pkg.uid % 90000)} installed=true hidden=false suspended=false stopped=false notLaunched=false enabled=${pkg.enabled ? 0 : 3} instant=false virtual=false`,
    '      runtime permissions:',
    '',
  );
  return out.join('\n') + '\n';
}

function dumpPackageSummary(phone: VirtualPhone): string {
  return (
    'Packages:\n' +
    phone.packages
      .list()
      .map(
        (p) =>
          `  Package [${p.name}] (${hid(p.name, 'pkg')}):\n    userId=${p.uid}\n    versionName=${p.versionName}\n`,
      )
      .join('')
  );
}

/** The focused activity (from the screen) as a component, or null. */
function focusedComponent(phone: VirtualPhone): ComponentName | null {
  const f = phone.screen.focused();
  if (!f.package || !f.activity) return null;
  return unflattenComponent(f.activity.includes('/') ? f.activity : `${f.package}/${f.activity}`);
}

function taskId(phone: VirtualPhone, c: ComponentName): number {
  if (c.package === phone.packages.home()?.name) return 1;
  return 2 + (parseInt(hid(c.package, 'task'), 16) % 97);
}

function activityRecord(phone: VirtualPhone, c: ComponentName): string {
  return `ActivityRecord{${hid(c.package, c.className, phone.bootedAt)} u0 ${shortComponent(c)} t${taskId(phone, c)}}`;
}

function focusLines(phone: VirtualPhone, indent: string): string[] {
  const c = focusedComponent(phone);
  if (!c) return [`${indent}mCurrentFocus=null`, `${indent}mFocusedApp=null`];
  const win = `Window{${hid('win', c.package, c.className, phone.bootedAt)} u0 ${flattenComponent(c)}}`;
  const app =
    sdkOf(phone) <= 29
      ? `AppWindowToken{${hid('awt', c.package, c.className)} token=Token{${hid('tok', c.package, c.className)} ${activityRecord(phone, c)}}}`
      : activityRecord(phone, c);
  return [`${indent}mCurrentFocus=${win}`, `${indent}mFocusedApp=${app}`];
}

function displayGeometry(phone: VirtualPhone): { w: number; h: number; dpi: number } {
  const forced = phone.settings.get('global', 'display_size_forced');
  const m = forced ? /^(\d+),(\d+)$/.exec(forced) : null;
  const dpi = Number(phone.settings.get('secure', 'display_density_forced')) || phone.profile.display.density;
  return m
    ? { w: Number(m[1]), h: Number(m[2]), dpi }
    : { w: phone.profile.display.width, h: phone.profile.display.height, dpi };
}

function windowsSection(phone: VirtualPhone): string[] {
  const c = focusedComponent(phone);
  const sysui = phone.processes.byName('com.android.systemui')[0];
  const sysuiUid = sysui ? userName(sysui.uid).replace('_', '') : 'u0a76';
  const rows = ['WINDOW MANAGER WINDOWS (dumpsys window windows)'];
  const wins = ['NavigationBar0', 'StatusBar', ...(c ? [flattenComponent(c)] : [])];
  wins.forEach((w, i) => {
    rows.push(
      `  Window #${i} Window{${hid('win', w, phone.bootedAt)} u0 ${w}}:`,
      `    mDisplayId=0 mSession=Session{${hid('s', w)} ${sysui?.pid ?? 0}:${sysuiUid}} mClient=android.os.BinderProxy@${hid('c', w)}`,
      `    mHasSurface=true isReadyForDisplay()=true mWindowRemovalAllowed=false`,
    );
  });
  rows.push(
    '',
    '  mGlobalConfiguration={1.0 ?mcc?mnc [en_GB] ldltr sw392dp w392dp h850dp 440dpi nrml long port finger -keyb/v/h -nav/h winConfig={ mBounds=Rect(0, 0 - 0, 0) mAppBounds=null mWindowingMode=undefined mDisplayWindowingMode=undefined mActivityType=undefined mAlwaysOnTop=undefined mRotation=undefined} s.1}',
    '  mHasPermanentDpad=false',
    '  mTopFocusedDisplayId=0',
  );
  rows.push(...focusLines(phone, '  '));
  return rows;
}

function displaysSection(phone: VirtualPhone): string[] {
  const { w, h, dpi } = displayGeometry(phone);
  const { width, height, density } = phone.profile.display;
  return [
    'WINDOW MANAGER DISPLAY CONTENTS (dumpsys window displays)',
    '  Display: mDisplayId=0',
    `    init=${width}x${height} ${density}dpi cur=${w}x${h} app=${w}x${h - 90} rng=${w}x${w - 63}-${h - 90}x${h - 153}`,
    `    deferred=false mLayoutNeeded=false mTouchExcludeRegion=SkRegion((0,0,${w},${h}))`,
    '',
    `  mLayoutSeq=${200 + (phone.bootedAt % 97)}`,
    `  mDensity=${dpi}`,
    ...focusLines(phone, '  '),
  ];
}

function policySection(phone: VirtualPhone): string[] {
  const { awake, keyguard } = deviceState(phone);
  // The keyguard lines as AOSP's KeyguardServiceDelegate.dump() and KeyguardStateMonitor.dump() print
  // them (frameworks/base services/core/java/com/android/server/policy/keyguard/, android10…14); an
  // insecure keyguard restricts input while it shows. appium-adb lockmgmt.ts isShowingLockscreen()
  // reads mIsShowing + mInputRestricted.
  return [
    'WINDOW MANAGER POLICY STATE (dumpsys window policy)',
    '    mSafeMode=false mSystemReady=true mSystemBooted=true',
    `    mLidState=LID_ABSENT mLidOpenRotation=-1 mCameraLensCoverState=LENS_COVER_ABSENT mHdmiPlugged=false`,
    `    mScreenOnEarly=${awake} mScreenOnFully=${awake}`,
    '    mKeyguardDrawComplete=true mWindowManagerDrawComplete=true',
    '    mShowingDream=false mDreamingLockscreen=false',
    '    KeyguardServiceDelegate',
    `      showing=${keyguard}`,
    `      showingAndNotOccluded=${keyguard}`,
    `      inputRestricted=${keyguard}`,
    '      occluded=false',
    '      secure=false',
    '      dreaming=false',
    '      systemIsReady=true',
    `      deviceHasKeyguard=${keyguard}`,
    '      enabled=true',
    '      offReason=OFF_BECAUSE_OF_USER',
    '      currentUser=0',
    '      bootCompleted=true',
    `      screenState=${awake ? 'SCREEN_STATE_ON' : 'SCREEN_STATE_OFF'}`,
    `      interactiveState=${awake ? 'INTERACTIVE_STATE_AWAKE' : 'INTERACTIVE_STATE_SLEEP'}`,
    '      KeyguardStateMonitor',
    `        mIsShowing=${keyguard}`,
    '        mSimSecure=false',
    `        mInputRestricted=${keyguard}`,
    '        mTrusted=false',
    '        mCurrentUserId=0',
  ];
}

function dumpWindow(phone: VirtualPhone, args: string[]): string {
  const section = args[0];
  let rows: string[];
  if (section === 'windows' || section === 'w') rows = windowsSection(phone);
  else if (section === 'displays' || section === 'd') rows = displaysSection(phone);
  else if (section === 'policy' || section === 'p') rows = policySection(phone);
  else if (section === undefined || section === '-a' || section === 'all') {
    rows = [
      ...policySection(phone),
      '-------------------------------------------------------------------------------',
      ...displaysSection(phone),
      '-------------------------------------------------------------------------------',
      ...windowsSection(phone),
    ];
  } else rows = [`Bad window command, or no windows match: ${section}`];
  return rows.join('\n') + '\n';
}

function dumpPower(phone: VirtualPhone): string {
  const s = deviceState(phone);
  return (
    [
      'POWER MANAGER (dumpsys power)',
      '',
      'Power Manager State:',
      '  Settings power_manager_constants:',
      '    no_cached_wake_locks=true',
      '  mDirty=0x0',
      `  mWakefulness=${s.awake ? 'Awake' : 'Asleep'}`,
      '  mWakefulnessChanging=false',
      `  mIsPowered=${s.battery.plugged}`,
      `  mPlugType=${s.battery.plugged ? 2 : 0}`,
      `  mBatteryLevel=${s.battery.level}`,
      '  mDockState=0',
      '  mStayOn=false',
      '  mProximityPositive=false',
      '  mBootCompleted=true',
      '  mSystemReady=true',
      '  mHalAutoSuspendModeEnabled=false',
      `  mHalInteractiveModeEnabled=${s.awake}`,
      '  mWakeLockSummary=0x0',
      `  mUserActivitySummary=0x${s.awake ? 1 : 0}`,
      '  mRequestWaitForNegativeProximity=false',
      '  mSandmanScheduled=false',
      '  mBatteryLevelLow=false',
      '  mLightDeviceIdleMode=false',
      '  mDeviceIdleMode=false',
      `  mScreenOffTimeoutSetting=${phone.settings.get('system', 'screen_off_timeout') ?? '60000'}`,
      `  mHoldingDisplaySuspendBlocker=${s.awake}`,
      `Display Power: state=${s.awake ? 'ON' : 'OFF'}`,
    ].join('\n') + '\n'
  );
}

function dumpBattery(phone: VirtualPhone, args: string[]): string {
  const s = deviceState(phone);
  const [verb, key, value] = args;
  if (verb === 'set' && key === 'level' && value !== undefined) s.battery.level = Number(value) || 0;
  else if (verb === 'set' && (key === 'ac' || key === 'usb')) s.battery.plugged = value !== '0';
  else if (verb === 'unplug') s.battery.plugged = false;
  else if (verb === 'reset') s.battery = { level: 87, plugged: true };
  if (verb) return '';
  return (
    [
      'Current Battery Service state:',
      '  AC powered: false',
      `  USB powered: ${s.battery.plugged}`,
      '  Wireless powered: false',
      '  Max charging current: 500000',
      '  Max charging voltage: 5000000',
      '  Charge counter: 3412000',
      `  status: ${s.battery.plugged ? 2 : 3}`,
      '  health: 2',
      '  present: true',
      `  level: ${s.battery.level}`,
      '  scale: 100',
      '  voltage: 4215',
      '  temperature: 290',
      '  technology: Li-poly',
    ].join('\n') + '\n'
  );
}

function dumpDeviceIdle(phone: VirtualPhone, args: string[]): string {
  const s = deviceState(phone);
  if (args[0] !== 'whitelist') return '  mState=ACTIVE mLightState=ACTIVE\n';
  const changes = args.slice(1);
  if (changes.length === 0) {
    const base = ['com.android.phone', 'com.xiaomi.xmsf', 'com.google.android.gms'].filter((p) =>
      phone.packages.has(p),
    );
    return [
      ...base.map((p) => `system-excidle,${p},${phone.packages.get(p)?.uid ?? 0}`),
      ...[...s.idleWhitelist].map((p) => `user,${p},${phone.packages.get(p)?.uid ?? 0}`),
    ]
      .map((l) => l + '\n')
      .join('');
  }
  let text = '';
  for (const c of changes) {
    const name = c.slice(1);
    if (c.startsWith('+')) {
      if (phone.packages.has(name)) {
        s.idleWhitelist.add(name);
        text += `Added: ${name}\n`;
      } else text += `Unknown package: ${name}\n`;
    } else if (c.startsWith('-')) {
      text += s.idleWhitelist.delete(name) ? `Removed: ${name}\n` : `Unknown package: ${name}\n`;
    } else text += `Package must be prefixed with +, -, or =: ${c}\n`;
  }
  return text;
}

function dumpInputMethod(phone: VirtualPhone): string {
  const ime = phone.settings.get('secure', 'default_input_method') ?? '';
  return (
    [
      'Current Input Method Manager state:',
      `  mCurMethodId=${ime}`,
      '  mCurFocusedWindowSoftInputMode=STATE_UNSPECIFIED|ADJUST_RESIZE',
      '  mInputShown=false mShowRequested=false mShowExplicitlyRequested=false mShowForced=false',
      '  mIsInteractive=true',
    ].join('\n') + '\n'
  );
}

function dumpDisplay(phone: VirtualPhone): string {
  const { w, h, dpi } = displayGeometry(phone);
  const { width, height, density } = phone.profile.display;
  return (
    [
      'DISPLAY MANAGER (dumpsys display)',
      '  mOnlyCore=false',
      '  mSafeMode=false',
      '',
      'Display Devices: size=1',
      `  DisplayDeviceInfo{"Built-in Screen": uniqueId="local:0", ${width} x ${height}, modeId 1, defaultModeId 1, density ${density}, ${density}.0 x ${density}.0 dpi, appVsyncOff 0, presDeadline 11666666, touch INTERNAL, rotation 0, type INTERNAL, state ${deviceState(phone).awake ? 'ON' : 'OFF'}, FLAG_DEFAULT_DISPLAY, FLAG_ROTATES_WITH_CONTENT, FLAG_SECURE, FLAG_SUPPORTS_PROTECTED_BUFFERS}`,
      '',
      'Logical Displays: size=1',
      `  Display 0:`,
      `    mBaseDisplayInfo=DisplayInfo{"Built-in Screen", displayId 0, real ${w} x ${h}, largest app ${w} x ${h}, smallest app ${w} x ${h}, density ${dpi}}`,
    ].join('\n') + '\n'
  );
}

function procRecord(p: ProcessInfo): string {
  const who = p.uid >= 10000 ? userName(p.uid).replace('_', '') : String(p.uid);
  return `ProcessRecord{${hid('pr', p.pid, p.name)} ${p.pid}:${p.name}/${who}}`;
}

function appProcesses(phone: VirtualPhone): ProcessInfo[] {
  return phone.processes.list().filter((p) => p.package !== undefined);
}

function dumpActivity(phone: VirtualPhone, args: string[]): string {
  const [section, ...rest] = args;
  switch (section) {
    case 'processes':
    case 'p':
      return activityProcesses(phone, rest[0]);
    case 'services':
    case 's':
      return activityServices(phone, rest[0]);
    case 'activities':
    case 'a':
      return activityActivities(phone);
    case 'broadcasts':
    case 'b':
      return 'ACTIVITY MANAGER BROADCAST STATE (dumpsys activity broadcasts)\n';
    case undefined:
      return [activityActivities(phone), activityServices(phone), activityProcesses(phone)].join(
        '-------------------------------------------------------------------------------\n',
      );
    default:
      return activityServices(phone, section);
  }
}

function activityProcesses(phone: VirtualPhone, filter?: string): string {
  const procs = appProcesses(phone).filter((p) => !filter || p.name === filter || p.package === filter);
  const focused = focusedComponent(phone);
  const rows = ['ACTIVITY MANAGER RUNNING PROCESSES (dumpsys activity processes)', '  All known processes:'];
  for (const p of procs) {
    rows.push(
      `  *APP* UID ${p.uid} ${procRecord(p)}`,
      `    user #0 uid=${p.uid} gids={50${String(p.uid).slice(-3)}, 20${String(p.uid).slice(-3)}, 9997}`,
      `    pid=${p.pid} starting=false`,
    );
  }
  rows.push('', `  Process LRU list (sorted by oom_adj, ${procs.length} total, non-act at 0, non-svc at 0):`);
  [...procs].reverse().forEach((p, i) => {
    const top = focused?.package === p.package && p.name === p.package;
    rows.push(
      `    #${procs.length - 1 - i}: ${top ? 'fg     TOP  LCM' : 'prcp  FGS  LCM'} ${p.pid}:${p.name}/${userName(p.uid).replace('_', '')} act:${top ? 'activities' : 'services'}`,
    );
  });
  rows.push('', '  PID mappings:');
  for (const p of procs) rows.push(`    PID #${p.pid}: ${procRecord(p)}`);
  return rows.join('\n') + '\n';
}

function activityServices(phone: VirtualPhone, filter?: string): string {
  const rows = ['ACTIVITY MANAGER SERVICES (dumpsys activity services)'];
  const records: string[] = [];
  for (const p of appProcesses(phone)) {
    if (p.name !== p.package) continue;
    const pkg = phone.packages.get(p.package);
    for (const svc of pkg?.services ?? []) {
      const c = unflattenComponent(svc);
      if (!c) continue;
      const short = shortComponent(c);
      if (filter && !(svc.includes(filter) || short.includes(filter) || filter === c.package)) continue;
      const ageMs = Math.max(0, Date.now() - p.startedAt);
      records.push(
        `  * ServiceRecord{${hid('svc', svc, p.pid)} u0 ${short}}`,
        `    intent={cmp=${short}}`,
        `    packageName=${c.package}`,
        `    processName=${p.name}`,
        `    baseDir=${pkg?.path ?? ''}`,
        `    dataDir=/data/user/0/${c.package}`,
        `    app=${procRecord(p)}`,
        `    isForeground=true foregroundId=1 foregroundNoti=Notification(channel=${c.package} pri=0 contentView=null vibrate=null sound=null defaults=0x0 flags=0x62 color=0x00000000 vis=PRIVATE)`,
        `    createTime=-${Math.floor(ageMs / 1000)}s${ageMs % 1000}ms startingBgTimeout=--`,
        '    startRequested=true delayedStop=false stopIfKilled=false callStart=true lastStartId=1',
      );
    }
  }
  if (records.length) rows.push('  User 0 active services:', ...records);
  else rows.push('  (nothing)');
  return rows.join('\n') + '\n';
}

function activityActivities(phone: VirtualPhone): string {
  const c = focusedComponent(phone);
  const rec = c ? activityRecord(phone, c) : 'null';
  return (
    [
      'ACTIVITY MANAGER ACTIVITIES (dumpsys activity activities)',
      'Display #0 (activities from top to bottom):',
      ...(c
        ? [
            `  Stack #${taskId(phone, c)}: type=${c.package === phone.packages.home()?.name ? 'home' : 'standard'} mode=fullscreen`,
            `    * TaskRecord{${hid('task', c.package)} #${taskId(phone, c)} A=${c.package} U=0 StackId=${taskId(phone, c)} sz=1}`,
            `      * Hist #0: ${rec}`,
          ]
        : []),
      `    mResumedActivity: ${rec}`,
      `    topResumedActivity=${rec}`,
      '',
      ` ResumedActivity: ${rec}`,
    ].join('\n') + '\n'
  );
}

// ------------------------------------------------------------------------------- traffic readouts

function trafficContext(phone: VirtualPhone): DumpContext {
  return { sdk: sdkOf(phone), nowMs: Date.now(), wifiKey: 'phonehome-lab' };
}

/**
 * `dumpsys netd [trafficcontroller]`: Android 10–12 keep TrafficController in netd
 * (NetdNativeService::dump: the `trafficcontroller` argument dumps it verbose, between blank
 * lines); from Android 13 it lives in the Connectivity module and netd's dump has none of it.
 */
function dumpNetd(phone: VirtualPhone, args: string[]): string {
  const sdk = sdkOf(phone);
  if (args[0] === 'trafficcontroller' && sdk <= 32) {
    return trafficControllerDump(netState(phone).traffic, trafficContext(phone));
  }
  return '\n  NetworkController\n    Default network: 100\n\n';
}

/**
 * `dumpsys connectivity [trafficcontroller]`: on Android 13 the argument prints the native
 * TrafficController dump; on 14+ BpfNetMaps.dump prints the owner-match state but no stats maps
 * (they moved to `dumpsys netstats`); before 13 the argument is not known and the whole dump
 * (minimal here) is printed.
 */
function dumpConnectivity(phone: VirtualPhone, args: string[]): string {
  const sdk = sdkOf(phone);
  if (args.includes('trafficcontroller') && sdk === 33) {
    return trafficControllerDump(netState(phone).traffic, trafficContext(phone)).replace(/^\n/, '');
  }
  if (args.includes('trafficcontroller') && sdk >= 34) {
    const t = netState(phone).traffic;
    return (
      [
        '  TrafficController',
        '',
        '    mCookieTagMap status: OK',
        '    mUidOwnerMap status: OK',
        '',
        'sEnableJavaBpfMap: true',
        '',
        'BPF map content:',
        '  current ownerMatch configuration: 0',
        `  current statsMap configuration: ${t.selected === 'A' ? 0 : 1} SELECT_MAP_${t.selected}`,
        '',
        '  sCookieTagMap:',
        '  sUidOwnerMap:',
        '  sUidPermissionMap:',
      ].join('\n') + '\n'
    );
  }
  return (
    [
      'NetworkProviders for:',
      '',
      'Active default network: 100',
      '',
      'Current Networks:',
      '  NetworkAgentInfo{network{100}  handle{432902426637}  ni{WIFI CONNECTED extra: } Score(50 ; KeepConnected : 0 ; Policies : IS_VALIDATED&IS_UNMETERED&EVER_VALIDATED)  created everValidated lastValidated  lp{{InterfaceName: wlan0 LinkAddresses: [ 192.168.1.100/24 ] DnsAddresses: [ /192.168.1.1 ]}}}',
      '',
    ].join('\n') + '\n'
  );
}

/**
 * `dumpsys netstats [--poll|poll] [--full|full] [--uid|detail] [--tag|detail]`
 * (NetworkStatsService.dump): `--poll` forces a poll (the stats maps swap into the history) and
 * prints only `Forced poll`.
 */
function dumpNetstats(phone: VirtualPhone, args: string[]): string {
  const has = (...names: string[]): boolean => names.some((n) => args.includes(n));
  const t = netState(phone).traffic;
  if (has('--poll', 'poll')) {
    t.poll(Date.now());
    return 'Forced poll\n';
  }
  return netstatsDump(t, trafficContext(phone), {
    full: has('--full', 'full'),
    uid: has('--uid', 'detail'),
    tag: has('--tag', 'detail'),
  });
}
