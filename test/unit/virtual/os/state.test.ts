import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { loadProfile } from '../../../../src/virtual/profiles/load.ts';
import { PropertyStore } from '../../../../src/virtual/os/props.ts';
import { deriveAndroidId, SettingsStore } from '../../../../src/virtual/os/settings.ts';
import { InstallError, PackageRegistry, readApkMeta } from '../../../../src/virtual/os/packages.ts';
import { ProcessTable } from '../../../../src/virtual/os/processes.ts';
import {
  encodeBinaryEntry,
  formatEntry,
  LogBuffer,
  matchesFilter,
  parseFilterSpecs,
  type LogEntry,
} from '../../../../src/virtual/os/logcat.ts';

const note8 = loadProfile('redmi-note-8-leaky');

describe('android state: PropertyStore', () => {
  it('reports the per-phone serial and refuses to change ro.*', () => {
    const props = new PropertyStore(note8, 'serialA');
    assert.equal(props.get('ro.serialno'), 'serialA');
    assert.equal(props.get('ro.boot.serialno'), 'serialA');
    assert.equal(props.get('ro.product.model'), 'Redmi Note 8');
    assert.equal(props.get('no.such.prop'), '');
    assert.equal(props.set('ro.product.model', 'Pixel'), false);
    assert.equal(props.get('ro.product.model'), 'Redmi Note 8');
    assert.equal(props.set('ro.phonehome.new', 'x'), true, 'an unset ro.* may be set once');
    assert.equal(props.set('ro.phonehome.new', 'y'), false);
  });

  it('keeps persist.* across a reboot and resets the rest', () => {
    const props = new PropertyStore(note8, 's');
    props.set('persist.sys.phonehome', '1');
    props.set('debug.phonehome', '1');
    props.set('sys.boot_completed', '0');
    props.onReboot();
    assert.equal(props.get('persist.sys.phonehome'), '1');
    assert.equal(props.get('debug.phonehome'), '');
    assert.equal(props.get('sys.boot_completed'), '1');
  });

  it('lists all properties sorted', () => {
    const keys = new PropertyStore(note8, 's').all().map(([k]) => k);
    assert.deepEqual(keys, [...keys].sort());
    assert.ok(keys.includes('ro.serialno'));
  });
});

describe('android state: SettingsStore', () => {
  it('derives a stable per-phone android_id unless the profile pins one', () => {
    const a = new SettingsStore(note8, { serialno: 'one' });
    const b = new SettingsStore(note8, { serialno: 'two' });
    assert.match(a.get('secure', 'android_id') ?? '', /^[0-9a-f]{16}$/);
    assert.notEqual(a.get('secure', 'android_id'), b.get('secure', 'android_id'));
    assert.equal(a.get('secure', 'android_id'), deriveAndroidId('one'));
    const pinned = {
      ...note8,
      settings: { ...note8.settings, secure: { ...note8.settings.secure, android_id: '0123456789abcdef' } },
    };
    assert.equal(
      new SettingsStore(pinned, { serialno: 'one' }).get('secure', 'android_id'),
      '0123456789abcdef',
    );
  });

  it('get/put/delete/list per namespace, kept across reboots', () => {
    const s = new SettingsStore(note8);
    assert.equal(s.get('global', 'http_proxy'), undefined);
    s.put('global', 'http_proxy', '127.0.0.1:8080');
    assert.equal(s.get('global', 'http_proxy'), '127.0.0.1:8080');
    assert.equal(s.get('secure', 'http_proxy'), undefined);
    s.onReboot();
    assert.equal(s.get('global', 'http_proxy'), '127.0.0.1:8080');
    assert.equal(s.delete('global', 'http_proxy'), true);
    assert.equal(s.delete('global', 'http_proxy'), false);
    const keys = s.list('system').map(([k]) => k);
    assert.deepEqual(keys, [...keys].sort());
  });

  it('models the proxy as ProxyTracker does (":0" clears, delete lingers until reboot)', () => {
    const s = new SettingsStore(note8);
    const changes: string[] = [];
    s.subscribe((c) => changes.push(`${c.namespace}/${c.key}=${c.value}`));
    assert.equal(s.httpProxy(), null);
    s.put('global', 'http_proxy', '127.0.0.1:8080');
    assert.deepEqual(s.httpProxy(), { host: '127.0.0.1', port: 8080 });
    s.put('global', 'http_proxy', ':0');
    assert.equal(s.httpProxy(), null);
    s.put('global', 'http_proxy', '10.0.0.2:3128');
    s.delete('global', 'http_proxy');
    assert.deepEqual(s.httpProxy(), { host: '10.0.0.2', port: 3128 }, 'still active after delete');
    s.onReboot();
    assert.equal(s.httpProxy(), null);
    assert.deepEqual(changes, [
      'global/http_proxy=127.0.0.1:8080',
      'global/http_proxy=:0',
      'global/http_proxy=10.0.0.2:3128',
      'global/http_proxy=undefined',
    ]);
  });
});

describe('android state: PackageRegistry', () => {
  it('has the profile packages with launchers and uids', () => {
    const reg = new PackageRegistry(note8);
    const browser = reg.browser();
    assert.equal(browser?.name, 'com.mi.globalbrowser');
    assert.equal(browser?.launcher, 'com.mi.globalbrowser/com.android.browser.BrowserActivity');
    assert.equal(
      reg.get('com.android.settings')?.launcher,
      'com.android.settings/com.android.settings.Settings',
    );
    assert.equal(reg.get('com.android.settings')?.uid, 1000);
    assert.ok(reg.hasActivity('com.android.settings/.Settings'));
    assert.ok(reg.hasActivity('com.android.settings/com.android.settings.SubSettings'));
    assert.ok(!reg.hasActivity('com.android.settings/.Nope'));
    assert.equal(reg.home()?.name, 'com.miui.home');
  });

  it('installs from APK bytes: marker, text manifest, or a derived sideload name', () => {
    const reg = new PackageRegistry(note8);
    const events: string[] = [];
    reg.on('installed', (p: { name: string }) => events.push(p.name));
    const a = reg.install(
      '/data/local/tmp/a.apk',
      Buffer.from(
        'PK\x03\x04 phonehome-package:io.appium.settings phonehome-versionCode:50 phonehome-launcher:io.appium.settings/.Settings',
      ),
    );
    assert.equal(a.name, 'io.appium.settings');
    assert.equal(a.versionCode, 50);
    assert.equal(a.launcher, 'io.appium.settings/io.appium.settings.Settings');
    assert.match(a.path, /^\/data\/app\/io\.appium\.settings-[\w-]{22}==\/base\.apk$/);
    const b = reg.install(
      '/x.apk',
      Buffer.from('<manifest package="com.example.app" android:versionName="2.0" android:versionCode="7">'),
    );
    assert.equal(b.name, 'com.example.app');
    assert.equal(b.versionName, '2.0');
    const c = reg.install('/y.apk', Buffer.from('random bytes'));
    assert.match(c.name, /^com\.phonehome\.sideload\.[0-9a-f]{8}$/);
    assert.equal(c.activities, null, 'unknown activities are all accepted');
    assert.ok(reg.hasActivity(`${c.name}/.Anything`));
    assert.deepEqual(events, ['io.appium.settings', 'com.example.app', c.name]);
    assert.throws(
      () => reg.install('/z.apk', Buffer.alloc(0)),
      (e: unknown) => e instanceof InstallError && e.code === 'INSTALL_PARSE_FAILED_NOT_APK',
    );
    assert.throws(
      () =>
        reg.install('/a2.apk', Buffer.from('phonehome-package:io.appium.settings phonehome-versionCode:10')),
      (e: unknown) => e instanceof InstallError && e.code === 'INSTALL_FAILED_VERSION_DOWNGRADE',
    );
  });

  it('uses the Android 11+ /data/app layout on newer profiles', () => {
    const reg = new PackageRegistry(loadProfile('xiaomi-13-hyperos-rooted'));
    const p = reg.install('/a.apk', Buffer.from('phonehome-package:com.example.x'));
    assert.match(p.path, /^\/data\/app\/~~[\w-]{22}==\/com\.example\.x-[\w-]{22}==\/base\.apk$/);
  });

  it('uninstalls: user apps, system apps only for a user, updated system apps back to factory', () => {
    const reg = new PackageRegistry(note8);
    reg.install('/a.apk', Buffer.from('phonehome-package:com.example.x'));
    assert.equal(reg.uninstall('com.example.x'), 'ok');
    assert.equal(reg.uninstall('com.example.x'), 'not-installed');
    assert.equal(reg.uninstall('com.miui.analytics'), 'system');
    assert.equal(reg.uninstall('com.miui.analytics', { user: 0 }), 'ok');
    assert.ok(!reg.has('com.miui.analytics'));
    assert.ok(reg.installExisting('com.miui.analytics'));
    assert.ok(reg.has('com.miui.analytics'));
    const updated = reg.install(
      '/u.apk',
      Buffer.from(
        'phonehome-package:com.mi.globalbrowser phonehome-versionName:12.1.4 phonehome-versionCode:12010400',
      ),
    );
    assert.equal(updated.updatedSystemApp, true);
    assert.equal(
      updated.launcher,
      'com.mi.globalbrowser/com.android.browser.BrowserActivity',
      'launcher kept from the factory version',
    );
    assert.equal(reg.uninstall('com.mi.globalbrowser'), 'ok');
    assert.equal(reg.get('com.mi.globalbrowser')?.versionName, '12.1.3');
  });

  it('keeps instrumentation entries and handlers', () => {
    const reg = new PackageRegistry(note8);
    assert.deepEqual(reg.instrumentations(), []);
    reg.install(
      '/t.apk',
      Buffer.from(
        'phonehome-package:io.appium.uiautomator2.server.test phonehome-instrumentation:io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner=io.appium.uiautomator2.server',
      ),
    );
    assert.deepEqual(reg.instrumentations(), [
      {
        component: 'io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner',
        targetPackage: 'io.appium.uiautomator2.server',
      },
    ]);
    const handler = async (): Promise<number> => 0;
    reg.setInstrumentationHandler(
      'io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner',
      handler,
    );
    assert.equal(
      reg.getInstrumentationHandler(
        'io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner',
      ),
      handler,
    );
    reg.uninstall('io.appium.uiautomator2.server.test');
    assert.deepEqual(reg.instrumentations(), []);
  });

  it('reads APK markers only from the first 64 KiB', () => {
    const late = Buffer.concat([Buffer.alloc(70 * 1024), Buffer.from('phonehome-package:com.late.pkg')]);
    assert.match(readApkMeta(late).name, /^com\.phonehome\.sideload\./);
  });
});

describe('android state: ProcessTable', () => {
  it('forks apps from zygote64 on arm64 and has the system daemons', () => {
    const t = new ProcessTable(note8);
    const zygote64 = t.byName('zygote64')[0];
    assert.ok(zygote64);
    assert.ok(t.byName('zygote')[0]);
    assert.equal(t.byName('init')[0]?.pid, 1);
    assert.equal(t.byName('system_server')[0]?.ppid, zygote64.pid);
    assert.equal(t.byName('com.android.systemui')[0]?.ppid, zygote64.pid);
    assert.ok(t.byName('adbd')[0]);
    assert.ok(t.byName('logd')[0]);
    assert.equal(t.zygotes().length, 2);
  });

  it('starts and stops app processes; a reboot resets', () => {
    const t = new ProcessTable(note8);
    const { proc, started } = t.start('com.mi.globalbrowser');
    assert.ok(started);
    assert.equal(proc.user, 'u0_a50');
    assert.equal(t.start('com.mi.globalbrowser').started, false);
    assert.deepEqual(t.pidOf('com.mi.globalbrowser'), [proc.pid]);
    assert.equal(t.stop('com.mi.globalbrowser').length, 1);
    assert.ok(!t.isRunning('com.mi.globalbrowser'));
    t.start('com.android.chrome');
    t.onReboot();
    assert.ok(!t.isRunning('com.android.chrome'));
    assert.ok(t.isRunning('com.miui.home'));
  });
});

describe('android state: LogBuffer', () => {
  it('is a ring buffer with subscriptions', () => {
    const log = new LogBuffer(3);
    const seen: string[] = [];
    const off = log.subscribe((e) => seen.push(e.message));
    for (const m of ['a', 'b', 'c', 'd']) log.log(4, 'T', m, { pid: 7 });
    off();
    log.log(4, 'T', 'e');
    assert.deepEqual(
      log.entries().map((e) => e.message),
      ['c', 'd', 'e'],
    );
    assert.deepEqual(seen, ['a', 'b', 'c', 'd']);
    log.clear();
    assert.equal(log.entries().length, 0);
  });

  it('encodes logger_entry records that adbkit-logcat parses', () => {
    const entry: LogEntry = {
      time: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
      nsec: 678_123_000,
      pid: 1234,
      tid: 1240,
      priority: 4,
      tag: 'ActivityTaskManager',
      message: 'START u0 {…}',
      buffer: 'system',
    };
    const buf = encodeBinaryEntry(entry);
    const payload = 1 + Buffer.byteLength(entry.tag) + 1 + Buffer.byteLength(entry.message) + 1;
    assert.equal(buf.readUInt16LE(0), payload);
    assert.equal(buf.readUInt16LE(2), 24);
    assert.equal(buf.readInt32LE(4), 1234);
    assert.equal(buf.readInt32LE(8), 1240);
    assert.equal(buf.readInt32LE(12), Math.floor(entry.time / 1000));
    assert.equal(buf.readInt32LE(16), 678_123_000);
    assert.equal(buf.readUInt32LE(20), 3);
    assert.equal(buf[24], 4);
    assert.equal(buf.length, 24 + payload);

    const require = createRequire(import.meta.url);
    const Binary = require('@devicefarmer/adbkit-logcat/lib/logcat/parser/binary.js') as new () => {
      on(
        ev: 'entry',
        cb: (e: {
          pid: number;
          tid: number;
          priority: number;
          tag: string;
          message: string;
          date: Date;
        }) => void,
      ): void;
      parse(b: Buffer): void;
    };
    const parser = new Binary();
    const got: Array<{ pid: number; tag: string; message: string; priority: number; date: Date }> = [];
    parser.on('entry', (e) => got.push(e));
    parser.parse(
      Buffer.concat([buf, encodeBinaryEntry({ ...entry, tag: 'X', message: 'second' })]).subarray(0, 30),
    );
    parser.parse(
      Buffer.concat([buf, encodeBinaryEntry({ ...entry, tag: 'X', message: 'second' })]).subarray(30),
    );
    assert.equal(got.length, 2);
    assert.equal(got[0]?.pid, 1234);
    assert.equal(got[0]?.priority, 4);
    assert.equal(got[0]?.tag, 'ActivityTaskManager');
    assert.equal(got[0]?.message, 'START u0 {…}');
    assert.equal(got[0]?.date.getTime(), Date.UTC(2024, 0, 2, 3, 4, 5, 678));
    assert.equal(got[1]?.message, 'second');
  });

  it('formats threadtime, brief and time like logcat', () => {
    const e: LogEntry = {
      time: Date.UTC(2024, 10, 23, 21, 10, 0, 123),
      nsec: 123_000_000,
      pid: 1234,
      tid: 1250,
      priority: 4,
      tag: 'Tag',
      message: 'message',
      buffer: 'main',
    };
    assert.equal(
      formatEntry(e, 'threadtime', { timeZone: 'UTC' }),
      '11-23 21:10:00.123  1234  1250 I Tag     : message\n',
    );
    assert.equal(
      formatEntry(e, 'threadtime', { timeZone: 'Asia/Shanghai' }),
      '11-24 05:10:00.123  1234  1250 I Tag     : message\n',
    );
    assert.equal(formatEntry(e, 'brief'), 'I/Tag     ( 1234): message\n');
    assert.equal(
      formatEntry(e, 'time', { timeZone: 'UTC' }),
      '11-23 21:10:00.123 I/Tag     ( 1234): message\n',
    );
    assert.equal(formatEntry({ ...e, message: 'a\nb' }, 'tag'), 'I/Tag     : a\nI/Tag     : b\n');
  });

  it('parses filter specs', () => {
    const e = (tag: string, priority: 2 | 3 | 4 | 5 | 6 | 7): LogEntry => ({
      time: 0,
      nsec: 0,
      pid: 1,
      tid: 1,
      priority,
      tag,
      message: '',
      buffer: 'main',
    });
    const f = parseFilterSpecs(['ActivityManager:I', '*:S']);
    assert.ok(typeof f !== 'string');
    assert.ok(matchesFilter(e('ActivityManager', 4), f));
    assert.ok(!matchesFilter(e('ActivityManager', 3), f));
    assert.ok(!matchesFilter(e('Other', 7), f));
    const info = parseFilterSpecs(['*:I']);
    assert.ok(typeof info !== 'string' && matchesFilter(e('X', 5), info) && !matchesFilter(e('X', 3), info));
    assert.equal(parseFilterSpecs(['Tag:Q']), 'Tag:Q');
  });
});
