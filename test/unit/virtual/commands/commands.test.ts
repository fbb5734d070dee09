import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { CommandContext } from '../../../../src/virtual/commands/types.ts';
import { makePhone, run, sh, until } from '../os/helpers.ts';

/** Parsers quoted in shared/facts/appium-uia2.md §2 and adb-protocol.md §4.3. */
const ADBKIT_GETPROP = /^\[(.*?)\]: \[(.*?)\]\r?$/;
const APPIUM_LIST_PACKAGES = /^package:(\S+)(?:\s+versionCode:(\d+))?/gm;
const APPIUM_FOCUSED_APP = /^\s*mFocusedApp.+Record\{.*\s([^\s/}]+)\/([^\s/},]+),?(\s[^\s/}]+)*\}/m;
const APPIUM_CURRENT_FOCUS = /^\s*mCurrentFocus.+\{.+\s([^\s/]+)\/([^\s]+)\b/m;
const APPIUM_RESOLVE_LINE = /^[\p{L}0-9./_$]+$/u;
const appiumPackageLine = (pkg: string) =>
  new RegExp(`^\\s*Package\\s+\\[${pkg.replace(/\./g, '\\.')}\\][^:]+:$`, 'm');

describe('android commands: getprop / setprop', () => {
  it('getprop lists every property in the format adbkit parses', async () => {
    const phone = makePhone();
    const r = await run(phone, ['getprop']);
    assert.equal(r.status, 0);
    const parsed = new Map<string, string>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const m = ADBKIT_GETPROP.exec(line);
      assert.ok(m, `unparseable: ${line}`);
      parsed.set(m[1] as string, m[2] as string);
    }
    assert.deepEqual([...parsed], phone.props.all());
    assert.equal(parsed.get('ro.serialno'), 'vp0001');
    assert.equal(parsed.get('ro.product.model'), 'Redmi Note 8');
  });

  it('getprop KEY [DEFAULT]', async () => {
    const phone = makePhone();
    assert.equal((await run(phone, ['getprop', 'ro.build.version.sdk'])).stdout, '29\n');
    assert.equal((await run(phone, ['getprop', 'no.such'])).stdout, '\n');
    assert.equal((await run(phone, ['getprop', 'no.such', 'dflt'])).stdout, 'dflt\n');
  });

  it('setprop: ro.* fails as on Android; shell may only set debug-type properties', async () => {
    const phone = makePhone();
    const ro = await run(phone, ['setprop', 'ro.product.model', 'Pixel']);
    assert.equal(ro.status, 1);
    assert.match(ro.stderr, /^Failed to set property 'ro\.product\.model' to 'Pixel'\./);
    assert.equal((await run(phone, ['setprop', 'debug.phonehome', 'on'])).status, 0);
    assert.equal(phone.props.get('debug.phonehome'), 'on');
    assert.equal((await run(phone, ['setprop', 'persist.sys.x', '1'])).status, 1);
    assert.equal((await run(phone, ['setprop', 'persist.sys.x', '1'], { uid: 0 })).status, 0);
    assert.equal((await run(phone, ['setprop', 'onlyone'])).status, 1);
  });
});

describe('android commands: settings', () => {
  it('get/put/delete/list with AOSP outputs', async () => {
    const phone = makePhone();
    assert.equal((await run(phone, ['settings', 'get', 'global', 'http_proxy'])).stdout, 'null\n');
    const put = await run(phone, ['settings', 'put', 'global', 'http_proxy', '127.0.0.1:8080']);
    assert.deepEqual([put.status, put.stdout, put.stderr], [0, '', '']);
    assert.equal((await run(phone, ['settings', 'get', 'global', 'http_proxy'])).stdout, '127.0.0.1:8080\n');
    assert.deepEqual(phone.settings.httpProxy(), { host: '127.0.0.1', port: 8080 });
    assert.equal(
      (await run(phone, ['settings', '--user', '0', 'get', 'GLOBAL', 'http_proxy'])).stdout,
      '127.0.0.1:8080\n',
    );
    assert.equal(
      (await run(phone, ['settings', 'delete', 'global', 'http_proxy'])).stdout,
      'Deleted 1 rows\n',
    );
    assert.equal(
      (await run(phone, ['settings', 'delete', 'global', 'http_proxy'])).stdout,
      'Deleted 0 rows\n',
    );
    const list = await run(phone, ['settings', 'list', 'secure']);
    assert.match(list.stdout, /^android_id=[0-9a-f]{16}$/m);
    assert.match(list.stdout, /^upload_log_pref=1$/m);
    assert.equal(
      (await run(phone, ['settings', 'get', 'secure', 'android_id'])).stdout.trim(),
      phone.settings.get('secure', 'android_id'),
    );
  });

  it('bad usage exits 255 with the AOSP messages', async () => {
    const phone = makePhone();
    const ns = await run(phone, ['settings', 'get', 'bogus', 'x']);
    assert.deepEqual([ns.status, ns.stderr], [255, "Invalid namespace 'bogus'\n"]);
    const verb = await run(phone, ['settings', 'fetch', 'global', 'x']);
    assert.deepEqual([verb.status, verb.stderr], [255, 'Invalid command: fetch\n']);
    const bad = await run(phone, ['settings', 'put', 'global', 'x']);
    assert.deepEqual([bad.status, bad.stderr], [255, 'Bad arguments\n']);
    const help = await run(phone, ['settings']);
    assert.equal(help.status, 255);
    assert.match(help.stdout, /Settings provider \(settings\) commands:/);
    const userList = await run(phone, ['settings', '--user', '0', 'list', 'global']);
    assert.deepEqual(
      [userList.status, userList.stderr],
      [255, '--user not supported for delete and list.\n'],
    );
  });

  it('logs settings changes', async () => {
    const phone = makePhone();
    await run(phone, ['settings', 'put', 'secure', 'upload_log_pref', '0']);
    assert.ok(
      phone.logcat
        .entries()
        .some((e) => e.tag === 'SettingsProvider' && e.message.includes('upload_log_pref=0')),
    );
  });
});

describe('android commands: pm / cmd package', () => {
  it('lists packages as Appium parses them', async () => {
    const phone = makePhone();
    const r = await run(phone, ['cmd', 'package', 'list', 'packages', '--show-versioncode']);
    const found = new Map([...r.stdout.matchAll(APPIUM_LIST_PACKAGES)].map((m) => [m[1], m[2]]));
    assert.equal(found.get('com.mi.globalbrowser'), '12010300');
    assert.equal(found.get('com.android.settings'), '29');
    const f = await run(phone, ['pm', 'list', 'packages', '-f', 'globalbrowser']);
    assert.equal(f.stdout, 'package:/system/app/MiBrowserGlobal/MiBrowserGlobal.apk=com.mi.globalbrowser\n');
    assert.equal((await run(phone, ['pm', 'list', 'packages', '-3'])).stdout, '');
    assert.ok(
      (await run(phone, ['pm', 'list', 'packages', '-s'])).stdout.includes('package:com.miui.analytics\n'),
    );
  });

  it('pm path: package:PATH, or exit 1 and nothing', async () => {
    const phone = makePhone();
    assert.deepEqual(await run(phone, ['pm', 'path', 'com.android.settings']), {
      status: 0,
      stdout: 'package:/system/priv-app/Settings/Settings.apk\n',
      bytes: Buffer.from('package:/system/priv-app/Settings/Settings.apk\n'),
      stderr: '',
    });
    const missing = await run(phone, ['pm', 'path', 'com.example.none']);
    assert.deepEqual([missing.status, missing.stdout, missing.stderr], [1, '', '']);
  });

  it('installs from a pushed file and from streamed stdin, then uninstalls', async () => {
    const phone = makePhone();
    phone.fs.writeFile(
      '/data/local/tmp/app.apk',
      'PK\x03\x04 phonehome-package:com.example.app phonehome-launcher:com.example.app/.Main',
      {
        uid: 2000,
        gid: 2000,
      },
    );
    const inst = await run(phone, ['pm', 'install', '-r', '-g', '-t', '/data/local/tmp/app.apk']);
    assert.deepEqual([inst.status, inst.stdout], [0, 'Success\n']);
    const path = (await run(phone, ['pm', 'path', 'com.example.app'])).stdout.trim().slice('package:'.length);
    assert.ok(phone.fs.exists(path), 'APK stored at its path');
    assert.equal((await run(phone, ['pm', 'list', 'packages', '-3'])).stdout, 'package:com.example.app\n');

    const apk = Buffer.from('PK\x03\x04 phonehome-package:io.appium.settings');
    const streamed = await run(phone, ['cmd', 'package', 'install', '-r', '-g', '-S', String(apk.length)], {
      stdin: apk,
    });
    assert.equal(streamed.stdout, 'Success\n');
    assert.ok(phone.packages.has('io.appium.settings'));

    const missing = await run(phone, ['pm', 'install', '/data/local/tmp/nope.apk']);
    assert.equal(missing.status, 1);
    assert.match(missing.stdout, /\[INSTALL[A-Z_]+FAILED[A-Z_]+/);

    assert.equal((await run(phone, ['pm', 'uninstall', 'com.example.app'])).stdout, 'Success\n');
    assert.ok(!phone.fs.exists(path));
    const again = await run(phone, ['pm', 'uninstall', 'com.example.app']);
    assert.deepEqual([again.status, again.stdout], [1, 'Failure [DELETE_FAILED_INTERNAL_ERROR]\n']);
    assert.equal((await run(phone, ['pm', 'uninstall', 'com.miui.analytics'])).status, 1);
    assert.equal(
      (await run(phone, ['pm', 'uninstall', '-k', '--user', '0', 'com.miui.analytics'])).stdout,
      'Success\n',
    );
  });

  it('install sessions (adb install-multiple)', async () => {
    const phone = makePhone();
    const created = await run(phone, ['cmd', 'package', 'install-create', '-S', '40']);
    const id = /\[(\d+)\]/.exec(created.stdout)?.[1] as string;
    assert.ok(id);
    const apk = Buffer.from('phonehome-package:com.example.split');
    await run(phone, ['cmd', 'package', 'install-write', '-S', String(apk.length), id, 'base.apk', '-'], {
      stdin: apk,
    });
    assert.equal((await run(phone, ['cmd', 'package', 'install-commit', id])).stdout, 'Success\n');
    assert.ok(phone.packages.has('com.example.split'));
  });

  it('clear, grant, list instrumentation', async () => {
    const phone = makePhone();
    assert.equal((await run(phone, ['pm', 'clear', 'com.mi.globalbrowser'])).stdout, 'Success\n');
    assert.equal(
      (await run(phone, ['pm', 'grant', 'com.mi.globalbrowser', 'android.permission.CAMERA'])).status,
      0,
    );
    assert.equal((await run(phone, ['pm', 'grant', 'com.nope', 'android.permission.CAMERA'])).status, 255);
    assert.equal((await run(phone, ['pm', 'list', 'instrumentation'])).stdout, '');
    phone.packages.addInstrumentation({
      component: 'io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner',
      targetPackage: 'io.appium.uiautomator2.server',
    });
    assert.equal(
      (await run(phone, ['pm', 'list', 'instrumentation'])).stdout,
      'instrumentation:io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner (target=io.appium.uiautomator2.server)\n',
    );
  });

  it('resolve-activity --brief gives Appium a pkg/cls line', async () => {
    const phone = makePhone();
    for (const [pkg, want] of [
      ['com.android.settings', 'com.android.settings/.Settings'],
      ['com.mi.globalbrowser', 'com.mi.globalbrowser/com.android.browser.BrowserActivity'],
      ['com.miui.home', 'com.miui.home/.launcher.Launcher'],
    ] as const) {
      const r = await run(phone, [
        'cmd',
        'package',
        'resolve-activity',
        '--brief',
        '-c',
        'android.intent.category.LAUNCHER',
        pkg,
      ]);
      const line = r.stdout.split('\n').find((l) => APPIUM_RESOLVE_LINE.test(l));
      assert.equal(line, want);
      assert.match(r.stdout, /^priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=true$/m);
    }
    assert.equal(
      (await run(phone, ['cmd', 'package', 'resolve-activity', '--brief', 'com.miui.analytics'])).stdout,
      'No activity found\n',
    );
  });

  it('dumpsys package satisfies Appium’s installed/version parser', async () => {
    const phone = makePhone();
    const r = await run(phone, ['dumpsys', 'package', 'com.mi.globalbrowser']);
    assert.match(r.stdout, appiumPackageLine('com.mi.globalbrowser'));
    assert.equal(/versionName=([\d+.]+)/.exec(r.stdout)?.[1], '12.1.3');
    assert.equal(/versionCode=(\d+)/.exec(r.stdout)?.[1], '12010300');
    const none = await run(phone, ['dumpsys', 'package', 'io.appium.settings']);
    assert.doesNotMatch(none.stdout, appiumPackageLine('io.appium.settings'));
    const pmDump = await run(phone, ['pm', 'dump', 'com.android.settings']);
    assert.match(pmDump.stdout, appiumPackageLine('com.android.settings'));
  });
});

describe('android commands: am', () => {
  it('starts the browser for an http(s) VIEW intent and reports it to the screen', async () => {
    const phone = makePhone();
    const r = await run(phone, [
      'am',
      'start',
      '-a',
      'android.intent.action.VIEW',
      '-d',
      'https://example.com/a?b=c',
    ]);
    assert.equal(r.status, 0);
    assert.equal(
      r.stdout,
      'Starting: Intent { act=android.intent.action.VIEW dat=https://example.com/... }\n',
    );
    assert.deepEqual(phone.screen.focused(), {
      package: 'com.mi.globalbrowser',
      activity: 'com.android.browser.BrowserActivity',
    });
    assert.ok(phone.processes.isRunning('com.mi.globalbrowser'));
    const log = phone.logcat.entries().map((e) => `${e.tag}: ${e.message}`);
    assert.ok(
      log.some((l) =>
        l.startsWith(
          'ActivityTaskManager: START u0 {act=android.intent.action.VIEW dat=https://example.com/... flg=0x10000000 cmp=com.mi.globalbrowser/com.android.browser.BrowserActivity} from uid 2000',
        ),
      ),
    );
    assert.ok(
      log.some((l) => /^ActivityManager: Start proc \d+:com\.mi\.globalbrowser\/u0a50 for activity/.test(l)),
    );
  });

  it('am start-activity -W -S as Appium runs it', async () => {
    const phone = makePhone();
    const r = await run(phone, [
      'am',
      'start-activity',
      '-W',
      '-n',
      'com.android.settings/.Settings',
      '-S',
      '-a',
      'android.intent.action.MAIN',
      '-c',
      'android.intent.category.LAUNCHER',
      '-f',
      '0x10200000',
    ]);
    assert.equal(r.status, 0);
    assert.match(
      r.stdout,
      /^Starting: Intent \{ act=android\.intent\.action\.MAIN cat=\[android\.intent\.category\.LAUNCHER\] flg=0x10200000 cmp=com\.android\.settings\/\.Settings \}\nStatus: ok\nLaunchState: COLD\nActivity: com\.android\.settings\/\.Settings\nTotalTime: \d+\nWaitTime: \d+\nComplete\n$/,
    );
    assert.doesNotMatch(r.stdout, /^error:/im);
    const win = await run(phone, ['dumpsys', 'window', 'displays']);
    assert.deepEqual(APPIUM_FOCUSED_APP.exec(win.stdout)?.slice(1, 3), ['com.android.settings', '.Settings']);
    assert.deepEqual(APPIUM_CURRENT_FOCUS.exec(win.stdout)?.slice(1, 3), [
      'com.android.settings',
      'com.android.settings.Settings',
    ]);
  });

  it('reports a missing activity the way Appium detects it (stdout with -W, stderr without)', async () => {
    const phone = makePhone();
    const w = await run(phone, ['am', 'start-activity', '-W', '-n', 'com.android.settings/.Nope']);
    assert.equal(w.status, 0);
    assert.match(
      w.stdout,
      /Error type 3\nError: Activity class \{com\.android\.settings\/com\.android\.settings\.Nope\} does not exist\.\n/,
    );
    const plain = await run(phone, ['am', 'start', '-n', 'com.nope/.Main']);
    assert.match(plain.stderr, /Error: Activity class \{com\.nope\/com\.nope\.Main\} does not exist\./);
    const unresolved = await run(phone, ['am', 'start', '-a', 'com.example.NOTHING']);
    assert.match(
      unresolved.stderr,
      /^Error: Activity not started, unable to resolve Intent \{ act=com\.example\.NOTHING flg=0x10000000 \}$/m,
    );
  });

  it('force-stop removes the process and the activity; broadcast', async () => {
    const phone = makePhone();
    await run(phone, ['am', 'start', '-n', 'com.mi.globalbrowser/com.android.browser.BrowserActivity']);
    assert.ok(phone.processes.isRunning('com.mi.globalbrowser'));
    const fs = await run(phone, ['am', 'force-stop', 'com.mi.globalbrowser']);
    assert.deepEqual([fs.status, fs.stdout, fs.stderr], [0, '', '']);
    assert.ok(!phone.processes.isRunning('com.mi.globalbrowser'));
    assert.notEqual(phone.screen.focused().package, 'com.mi.globalbrowser');

    const seen: unknown[] = [];
    phone.on('broadcast', (i) => seen.push(i));
    const b = await run(phone, [
      'am',
      'broadcast',
      '-a',
      'miui.intent.action.ad.AAID_RESET',
      '--es',
      'old_aaid',
      'x',
    ]);
    assert.equal(
      b.stdout,
      'Broadcasting: Intent { act=miui.intent.action.ad.AAID_RESET flg=0x400000 (has extras) }\nBroadcast completed: result=0\n',
    );
    assert.equal(seen.length, 1);
  });

  it('am instrument fails like Android without a registered instrumentation', async () => {
    const phone = makePhone();
    const r = await run(phone, [
      'am',
      'instrument',
      '-w',
      '-e',
      'disableAnalytics',
      'true',
      'io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner',
    ]);
    assert.equal(r.status, 1);
    assert.match(
      r.stdout,
      /INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo\{io\.appium\.uiautomator2\.server\.test\/androidx\.test\.runner\.AndroidJUnitRunner\}/,
    );
    assert.match(r.stderr, /INSTRUMENTATION_FAILED/);
  });

  it('am instrument runs a registered handler until force-stop', async () => {
    const phone = makePhone();
    const component = 'io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner';
    phone.packages.addInstrumentation({ component, targetPackage: 'io.appium.uiautomator2.server' });
    let handlerCtx: CommandContext | undefined;
    phone.packages.setInstrumentationHandler(component, async (ctx, runInfo) => {
      handlerCtx = ctx;
      assert.deepEqual(runInfo.args, { disableAnalytics: 'true' });
      await ctx.stdout.write('INSTRUMENTATION_STATUS_CODE: 1\n');
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      return 0;
    });
    const client = new AbortController();
    const pending = run(phone, ['am', 'instrument', '-w', '-e', 'disableAnalytics', 'true', component], {
      signal: client.signal,
    });
    await until(() => handlerCtx !== undefined);
    const ps = await run(phone, ['ps', '-A']);
    assert.ok(ps.stdout.split('\n').some((l) => l.split(/\s+/).at(-1) === 'io.appium.uiautomator2.server'));
    await run(phone, ['am', 'force-stop', 'io.appium.uiautomator2.server.test']);
    const r = await pending;
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'INSTRUMENTATION_STATUS_CODE: 1\n');
    assert.ok(!phone.processes.isRunning('io.appium.uiautomator2.server'));
  });
});

describe('android commands: dumpsys', () => {
  it('window and power say "unlocked" to Appium', async () => {
    const phone = makePhone();
    const win = (await run(phone, ['dumpsys', 'window'])).stdout;
    const power = (await run(phone, ['dumpsys', 'power'])).stdout;
    assert.match(win, /mScreenOnFully=true/);
    assert.doesNotMatch(
      win,
      /mShowingLockscreen=true|mDreamingLockscreen=true|mCurrentFocus.+Keyguard|screenState=SCREEN_STATE_OFF/,
    );
    assert.match(power, /^\s*mWakefulness=Awake$/m);
    assert.doesNotMatch(power, /^[\s\w]+wakefulness[^=]*=Dozing$/m);
    assert.deepEqual(APPIUM_CURRENT_FOCUS.exec(win)?.slice(1, 3), [
      'com.miui.home',
      'com.miui.home.launcher.Launcher',
    ]);
    // The power key switches the display off, and Appium would see it.
    await run(phone, ['input', 'keyevent', 'KEYCODE_POWER']);
    assert.match((await run(phone, ['dumpsys', 'window'])).stdout, /mScreenOnFully=false/);
    assert.match((await run(phone, ['dumpsys', 'power'])).stdout, /mWakefulness=Asleep/);
    await run(phone, ['input', 'keyevent', 'WAKEUP']);
    assert.match((await run(phone, ['dumpsys', 'window', 'policy'])).stdout, /mScreenOnFully=true/);
  });

  it('window displays uses ActivityRecord directly on Android 11+', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    await run(phone, ['am', 'start', '-n', 'com.android.settings/.Settings']);
    const out = (await run(phone, ['dumpsys', 'window', 'displays'])).stdout;
    assert.match(out, /^ {2}mFocusedApp=ActivityRecord\{\w+ u0 com\.android\.settings\/\.Settings t\d+\}$/m);
    assert.deepEqual(APPIUM_FOCUSED_APP.exec(out)?.slice(1, 3), ['com.android.settings', '.Settings']);
  });

  it('activity processes / services, deviceidle, unknown service', async () => {
    const phone = makePhone();
    const procs = (await run(phone, ['dumpsys', 'activity', 'processes'])).stdout;
    const pid = phone.processes.byName('com.android.systemui')[0]?.pid;
    assert.equal(
      new RegExp(`ProcessRecord\\{[\\w]+\\s+(\\d+):com\\.android\\.systemui\\/`).exec(procs)?.[1],
      String(pid),
    );

    const apk = Buffer.from(
      'phonehome-package:io.appium.settings phonehome-launcher:io.appium.settings/.Settings phonehome-service:io.appium.settings/.ForegroundService',
    );
    await run(phone, ['cmd', 'package', 'install', '-S', String(apk.length)], { stdin: apk });
    assert.doesNotMatch(
      (await run(phone, ['dumpsys', 'activity', 'services', 'io.appium.settings'])).stdout,
      /isForeground=true/,
    );
    await run(phone, [
      'am',
      'start-activity',
      '-n',
      'io.appium.settings/.Settings',
      '-a',
      'android.intent.action.MAIN',
      '-c',
      'android.intent.category.LAUNCHER',
    ]);
    assert.match(
      (await run(phone, ['dumpsys', 'activity', 'services', 'io.appium.settings'])).stdout,
      /isForeground=true/,
    );

    assert.equal(
      (await run(phone, ['dumpsys', 'deviceidle', 'whitelist', '+io.appium.settings'])).stdout,
      'Added: io.appium.settings\n',
    );
    const unknown = await run(phone, ['dumpsys', 'nosuchservice']);
    assert.equal(unknown.stderr, "Can't find service: nosuchservice\n");
  });
});

describe('android commands: ps / pidof / kill', () => {
  it('ps --help and ps -A as appium-adb parses them', async () => {
    const phone = makePhone();
    assert.match((await run(phone, ['ps', '--help'])).stdout, /^-A\b/m);
    const all = (await run(phone, ['ps', '-A'])).stdout.split('\n');
    assert.equal(all[0], 'USER           PID  PPID     VSZ    RSS WCHAN            ADDR S NAME');
    assert.match(all[0], /\bPID\b.*\bNAME\b/);
    const home = all.find((l) => l.split(/\s+/).at(-1) === 'com.miui.home');
    assert.ok(home);
    assert.match(home, /^u0_a\d+ +\d+ +\d+ +\d+ +\d+ do_epoll_wait +0 S com\.miui\.home$/);
    assert.ok(all.some((l) => l.endsWith(' zygote64')));
  });

  it('ps -o PID -P lists zygote children (HTTP Toolkit’s nsenter step)', async () => {
    const phone = makePhone();
    const zygotes = phone.processes.zygotes();
    const r = await run(phone, ['ps', '-o', 'PID', '-P', zygotes.join(',')]);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0]?.trim(), 'PID');
    const pids = lines.slice(1).map((l) => Number(l.trim()));
    assert.ok(pids.includes(phone.processes.byName('system_server')[0]?.pid ?? -1));
    assert.ok(pids.includes(phone.processes.byName('com.miui.home')[0]?.pid ?? -1));
    const ef = (await run(phone, ['ps', '-ef'])).stdout.split('\n')[0];
    assert.equal(ef, 'UID            PID  PPID C STIME TTY          TIME CMD');
    const mine = (await run(phone, ['ps'])).stdout.split('\n');
    assert.equal(mine.length, 4);
  });

  it('pidof and kill', async () => {
    const phone = makePhone();
    const pid = phone.processes.byName('com.miui.home')[0]?.pid;
    assert.equal((await run(phone, ['pidof', 'com.miui.home'])).stdout, `${pid}\n`);
    assert.equal((await run(phone, ['pidof', 'nothing'])).status, 1);
    const denied = await run(phone, ['kill', '-9', String(pid)]);
    assert.deepEqual([denied.status, denied.stderr], [1, `kill: ${pid}: Operation not permitted\n`]);
    assert.equal((await run(phone, ['kill', '-9', String(pid)], { uid: 0 })).status, 0);
    assert.ok(!phone.processes.get(pid as number));
  });
});

describe('android commands: logcat', () => {
  it('dumps in threadtime with filters, -t and -s', async () => {
    const phone = makePhone();
    await run(phone, ['log', '-t', 'PhTest', '-p', 'w', 'hello', 'world']);
    const d = await run(phone, ['logcat', '-d']);
    assert.match(d.stdout, /^--------- beginning of (main|system)$/m);
    assert.match(d.stdout, /^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} +\d+ +\d+ W PhTest {2}: hello world$/m);
    assert.match(d.stdout, / I ActivityManager: System now ready$/m, 'boot messages');
    const only = await run(phone, ['logcat', '-d', '-v', 'brief', '-s', 'PhTest']);
    assert.match(only.stdout, /^W\/PhTest {2}\( *\d+\): hello world$/m);
    assert.doesNotMatch(only.stdout, /ActivityManager/);
    const tail = await run(phone, ['logcat', '-t', '1', '-v', 'tag']);
    assert.equal(
      tail.stdout
        .split('\n')
        .filter((l) => !l.startsWith('-----'))
        .join('\n'),
      'W/PhTest  : hello world\n',
    );
    assert.equal((await run(phone, ['logcat', '-c'])).status, 0);
    assert.equal((await run(phone, ['logcat', '-d'])).stdout, '');
  });

  it('-B emits logger_entry records adbkit parses, and streams until aborted', async () => {
    const phone = makePhone();
    const require = createRequire(import.meta.url);
    const Binary = require('@devicefarmer/adbkit-logcat/lib/logcat/parser/binary.js') as new () => {
      on(ev: 'entry', cb: (e: { tag: string; message: string; priority: number }) => void): void;
      parse(b: Buffer): void;
    };
    const parser = new Binary();
    const entries: Array<{ tag: string; message: string; priority: number }> = [];
    parser.on('entry', (e) => entries.push(e));
    const client = new AbortController();
    const pending = run(phone, ['logcat', '-B', '*:I'], {
      signal: client.signal,
      onStdout: (b) => parser.parse(b),
    });
    await until(() => entries.some((e) => e.message === 'System now ready'));
    assert.ok(entries.every((e) => e.priority >= 4));
    phone.logcat.log(3, 'Quiet', 'debug line is filtered out', { pid: 5 });
    await run(phone, ['log', '-t', 'Live', 'streamed']);
    await until(() => entries.some((e) => e.tag === 'Live'));
    assert.ok(!entries.some((e) => e.tag === 'Quiet'));
    client.abort();
    assert.equal((await pending).status, 0);
  });

  it('works through the shell as adbkit sends it', async () => {
    const phone = makePhone();
    const r = await sh(phone, "echo && logcat -d -B '*:I' 2>/dev/null");
    assert.equal(r.bytes[0], 0x0a);
    const first = r.bytes.subarray(1);
    assert.equal(first.readUInt16LE(2), 24);
    assert.ok(first.readUInt16LE(0) > 3);
  });
});

describe('android commands: su, id, mount, nsenter', () => {
  it('id for shell and root', async () => {
    const phone = makePhone();
    assert.equal(
      (await run(phone, ['id'])).stdout,
      'uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),1028(sdcard_r),3001(net_bt_admin),3002(net_bt),3003(inet),3006(net_bw_stats),3009(readproc),3011(uhid) context=u:r:shell:s0\n',
    );
    assert.match(
      (await run(phone, ['id'], { uid: 0 })).stdout,
      /^uid=0\(root\) gid=0\(root\) groups=0\(root\),.* context=u:r:su:s0\n$/,
    );
    assert.equal((await run(phone, ['id', '-u'])).stdout, '2000\n');
    assert.equal((await run(phone, ['whoami'], { uid: 0 })).stdout, 'root\n');
  });

  it('su is absent on a phone that is not rooted', async () => {
    const phone = makePhone('redmi-note-8-leaky');
    const r = await run(phone, ['su', '-c', 'id']);
    assert.deepEqual([r.status, r.stderr], [127, '/system/bin/sh: su: inaccessible or not found\n']);
    assert.ok(!phone.fs.exists('/system/bin/su'));
  });

  it('su runs commands as root on a rooted phone, in every style HTTP Toolkit probes', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    assert.ok(phone.fs.exists('/system/bin/su'));
    const calls: Array<[string, number | undefined]> = [];
    const runShell: CommandContext['runShell'] = async (script, o) => {
      calls.push([script, o?.uid]);
      return 0;
    };
    for (const argv of [
      ['su', '-c', 'id'],
      ['su', '-c', 'sh', '/data/local/tmp/x.sh'],
      ['su', 'root', 'id'],
      ['su', '0', 'sh', '-c', 'set -e; id'],
      ['su', 'root', 'sh /data/local/tmp/x.sh'],
    ]) {
      assert.equal((await run(phone, argv, { runShell })).status, 0);
    }
    await run(phone, ['su'], { runShell, stdin: 'id\n' });
    // MagiskSU ignores the arguments after the user (su.cpp; android-realities.md §2.1): `su root id`
    // is a root shell reading stdin, empty here. getopt permutes, so the `-c` in `su 0 sh -c X` is
    // still su's own: X runs (the `sh` is ignored).
    assert.deepEqual(calls, [
      ['id', 0],
      ['sh /data/local/tmp/x.sh', 0],
      ['', 0],
      ['set -e; id', 0],
      ['', 0],
      ['id\n', 0],
    ]);
    // And for real, through the interpreter.
    assert.match((await run(phone, ['su', '-c', 'id'])).stdout, /^uid=0\(root\)/);
  });

  it('mount/umount need root; tmpfs and bind mounts show up in the table', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const ca = '/system/etc/security/cacerts';
    const denied = await run(phone, ['mount', '-t', 'tmpfs', 'tmpfs', ca]);
    assert.deepEqual(
      [denied.status, denied.stderr],
      [1, `mount: 'tmpfs'->'${ca}': Operation not permitted\n`],
    );
    assert.equal((await run(phone, ['mount', '-t', 'tmpfs', 'tmpfs', ca], { uid: 0 })).status, 0);
    assert.deepEqual(phone.fs.readdir(ca), []);
    const bind = await run(phone, ['mount', '--bind', ca, '/apex/com.android.conscrypt/cacerts'], { uid: 0 });
    assert.equal(bind.status, 0, bind.stderr);
    const table = (await run(phone, ['mount'])).stdout;
    assert.match(table, new RegExp(`^tmpfs on ${ca} type tmpfs \\(rw`, 'm'));
    assert.match(table, /on \/apex\/com\.android\.conscrypt\/cacerts type tmpfs/);
    assert.equal((await run(phone, ['umount', '/apex/com.android.conscrypt/cacerts'])).status, 1);
    assert.equal((await run(phone, ['umount', '/apex/com.android.conscrypt/cacerts'], { uid: 0 })).status, 0);
    assert.equal((await run(phone, ['umount', ca], { uid: 0 })).status, 0);
    assert.ok(phone.fs.readdir(ca).length > 0, 'the original CAs are back');
    const remount = await run(phone, ['mount', '-o', 'remount,rw', '/system'], { uid: 0 });
    assert.equal(remount.status, 0, remount.stderr);
  });

  it('nsenter runs the command for root against an existing pid', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    const zygote = phone.processes.zygotes()[0] as number;
    const calls: string[] = [];
    const runShell: CommandContext['runShell'] = async (script) => {
      calls.push(script);
      return 0;
    };
    const argv = ['nsenter', `--mount=/proc/${zygote}/ns/mnt`, '--', '/bin/mount', '--bind', '/a b', '/c'];
    assert.equal((await run(phone, argv, { uid: 0, runShell })).status, 0);
    assert.deepEqual(calls, ["/bin/mount --bind '/a b' /c"]);
    assert.equal((await run(phone, argv, { runShell })).status, 1);
    assert.equal(
      (await run(phone, ['nsenter', '--mount=/proc/99999/ns/mnt', '--', 'true'], { uid: 0, runShell }))
        .status,
      1,
    );
  });

  it('getenforce / reboot request', async () => {
    const phone = makePhone();
    assert.equal((await run(phone, ['getenforce'])).stdout, 'Enforcing\n');
    let requested = false;
    phone.on('reboot-request', () => (requested = true));
    assert.equal((await run(phone, ['reboot'])).status, 0);
    assert.ok(requested);
  });
});

describe('android commands: input, wm, screencap, uiautomator', () => {
  it('input keyevent names, text and taps reach the screen', async () => {
    const phone = makePhone();
    await run(phone, ['am', 'start', '-n', 'com.android.settings/.Settings']);
    assert.equal(phone.screen.focused().package, 'com.android.settings');
    assert.equal((await run(phone, ['input', 'keyevent', 'KEYCODE_HOME'])).status, 0);
    assert.equal(phone.screen.focused().package, 'com.miui.home');
    assert.equal((await run(phone, ['input', 'touchscreen', 'tap', '540', '1200'])).status, 0);
    assert.equal((await run(phone, ['input', 'swipe', '500', '1500', '500', '500', '200'])).status, 0);
    assert.equal((await run(phone, ['input', 'text', 'hello%sworld'])).status, 0);
    const bad = await run(phone, ['input', 'keyevent', 'NOT_A_KEY']);
    assert.equal(bad.status, 1);
    assert.equal((await run(phone, ['input', 'tap', 'x', '1'])).status, 1);
  });

  it('wm size and density, with overrides', async () => {
    const phone = makePhone();
    assert.equal((await run(phone, ['wm', 'size'])).stdout, 'Physical size: 1080x2340\n');
    assert.equal((await run(phone, ['wm', 'density'])).stdout, 'Physical density: 440\n');
    await run(phone, ['wm', 'size', '720x1560']);
    assert.equal(
      (await run(phone, ['wm', 'size'])).stdout,
      'Physical size: 1080x2340\nOverride size: 720x1560\n',
    );
    await run(phone, ['wm', 'size', 'reset']);
    assert.equal((await run(phone, ['wm', 'size'])).stdout, 'Physical size: 1080x2340\n');
  });

  it('screencap -p writes a PNG; uiautomator dump writes the hierarchy', async () => {
    const phone = makePhone();
    const png = await run(phone, ['screencap', '-p']);
    assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal((await run(phone, ['screencap', '-p', '/sdcard/s.png'])).status, 0);
    assert.ok(phone.fs.exists('/sdcard/s.png'));
    const dump = await run(phone, ['uiautomator', 'dump']);
    assert.equal(dump.stdout, 'UI hierchary dumped to: /sdcard/window_dump.xml\n');
    assert.match(phone.fs.readFile('/sdcard/window_dump.xml').toString(), /<hierarchy/);
    const tty = await run(phone, ['uiautomator', 'dump', '/dev/tty']);
    assert.match(tty.stdout, /^<\?xml[\s\S]*<\/hierarchy>\s*UI hierchary dumped to: \/dev\/tty\n$/);
  });
});

describe('android commands: nc', () => {
  it('connects to a phone listener and pumps both ways', async () => {
    const phone = makePhone();
    const listener = phone.net.listen('tcp:7001', (socket: Duplex) => {
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
      socket.on('end', () => socket.end());
    });
    const r = await run(phone, ['nc', '127.0.0.1', '7001'], { stdin: 'ping' });
    listener.close();
    assert.deepEqual([r.status, r.stdout], [0, 'echo:ping']);
    const refused = await run(phone, ['nc', 'localhost', '7002']);
    assert.deepEqual([refused.status, refused.stderr], [1, 'nc: connect: Connection refused\n']);
    const remote = await run(phone, ['nc', 'example.com', '80']);
    assert.equal(remote.status, 1);
  });

  it('nc -l accepts one connection, then stops listening', async () => {
    const phone = makePhone();
    const pending = run(phone, ['nc', '-lp', '7003'], { stdin: 'from-nc' });
    await until(() => phone.net.isListening('tcp:7003'));
    const client = phone.net.connect('tcp:7003');
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    client.end('to-nc');
    const r = await pending;
    assert.deepEqual([r.status, r.stdout], [0, 'to-nc']);
    assert.equal(Buffer.concat(got).toString(), 'from-nc');
    assert.ok(!phone.net.isListening('tcp:7003'));
  });

  it('nc -l stops when the client goes away', async () => {
    const phone = makePhone();
    const abort = new AbortController();
    const pending = run(phone, ['nc', '-l', '7004'], { signal: abort.signal });
    await until(() => phone.net.isListening('tcp:7004'));
    abort.abort();
    assert.equal((await pending).status, 0);
    assert.ok(!phone.net.isListening('tcp:7004'));
  });
});

describe('android commands: the phone as a whole', () => {
  it('two phones on one profile have their own serial and android_id', async () => {
    const a = makePhone('redmi-note-8-leaky', 'serial-a');
    const b = makePhone('redmi-note-8-leaky', 'serial-b');
    assert.equal((await run(a, ['getprop', 'ro.serialno'])).stdout, 'serial-a\n');
    assert.equal((await run(b, ['getprop', 'ro.serialno'])).stdout, 'serial-b\n');
  });

  it('the firmware files exist: commands, CA stores, build.prop, APKs', async () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    for (const p of [
      '/system/bin/getprop',
      '/system/bin/pm',
      '/system/bin/ls',
      '/bin/mount',
      '/system/build.prop',
    ]) {
      assert.ok(phone.fs.exists(p), p);
    }
    const cas = phone.fs.readdir('/system/etc/security/cacerts');
    assert.ok(cas.length >= 5 && cas.every((n) => /^[0-9a-f]{8}\.0$/.test(n)));
    assert.deepEqual(phone.fs.readdir('/apex/com.android.conscrypt/cacerts'), cas);
    assert.match(phone.fs.readFile('/system/build.prop').toString(), /^ro\.mi\.os\.version\.name=OS2\.0$/m);
    const apk = phone.fs.readFile('/product/app/MiBrowserGlobal/MiBrowserGlobal.apk').toString('latin1');
    assert.match(apk, /phonehome-package:com\.mi\.globalbrowser/);
    const st = phone.fs.stat('/data/local/tmp');
    assert.equal(st?.uid, 2000);
    assert.equal((st?.mode ?? 0) & 0o777, 0o771);
    assert.ok(
      !makePhone('redmi-note-8-leaky').fs.exists('/apex/com.android.conscrypt/cacerts/' + (cas[0] ?? '')),
    );
  });
});
