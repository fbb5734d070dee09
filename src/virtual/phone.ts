/**
 * One virtual Xiaomi phone: its firmware profile and its Android userland state. The adbd side
 * (src/virtual/adbd/) carries bytes; everything a command can observe or change lives here.
 *
 * Owned pieces (one folder each, laid out like the phone):
 * - os/               Vfs (files, modes, SELinux labels, mounts), props, settings, packages,
 *                     processes, logcat, netfilter and traffic, the loopback network
 * - shell/            the `sh` language and the core utilities
 * - commands/         the Android commands (/system/bin/am, pm, settings, dumpsys, su …)
 * - display/          the screen: UI node tree, `uiautomator dump` XML, `screencap` PNG
 * - apps/             Mi Browser, MIUI Settings, the launcher and SystemUI
 * - uia2/             the UiAutomator2 server `am instrument` runs (Appium), on tcp:6790
 * - telemetry/, netstack/  what the apps upload, and the network they upload it through
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Vfs } from './os/vfs.ts';
import { PhoneNet } from './os/local-net.ts';
import { runScript, ShellSession, type ScriptBase } from './shell/interpreter.ts';
import { coreutils } from './shell/coreutils.ts';
import { androidCommands } from './commands/index.ts';
import { PropertyStore } from './os/props.ts';
import { SettingsStore } from './os/settings.ts';
import { PackageRegistry } from './os/packages.ts';
import { ProcessTable } from './os/processes.ts';
import { LogBuffer, recordBoot } from './os/logcat.ts';
import { populateFilesystem } from './os/firmware-files.ts';
import { Screen } from './display/screen.ts';
import { PhoneHttp } from './netstack/http.ts';
import { TelemetryHub, type TelemetryHubOptions } from './telemetry/index.ts';
import { installApps, type InstalledApps } from './apps/index.ts';
import { installUia2, type Uia2Server } from './uia2/index.ts';
import type { Profile } from './profiles/load.ts';
import type { CommandFn, InStream, OutStream } from './commands/types.ts';

export interface ExecOptions {
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
  signal: AbortSignal;
  uid?: number;
  env?: Map<string, string>;
}

export const SHELL_UID = 2000;

export interface PhoneOptions {
  /** ro.serialno for this phone (several phones may run one profile). */
  serialno?: string;
  /** Telemetry queue timings per emitter (tests use milliseconds; defaults are the SDKs'). */
  telemetryTimings?: TelemetryHubOptions['timings'];
  /** Appium's UiAutomator2 server and test packages are installed from the start (default: not). */
  uia2Preinstalled?: boolean;
}

export class VirtualPhone extends EventEmitter {
  readonly profile: Profile;
  /** The serial as the phone reports it (ro.serialno); the adb serial is 127.0.0.1:PORT. */
  readonly serialno: string;
  readonly props: PropertyStore;
  readonly settings: SettingsStore;
  readonly packages: PackageRegistry;
  readonly processes: ProcessTable;
  readonly logcat: LogBuffer;
  readonly fs: Vfs;
  readonly net: PhoneNet;
  readonly screen: Screen;
  /** How apps reach the network: proxy, sink, TLS trust (src/virtual/netstack). */
  readonly http: PhoneHttp;
  /** What the firmware uploads, per its profile's behaviour table (src/virtual/telemetry). */
  readonly telemetry: TelemetryHub;
  /** Mi Browser, MIUI Settings, the launcher and the status bar (src/virtual/apps). */
  readonly apps: InstalledApps;
  /** The UiAutomator2 server `am instrument` runs for Appium (src/virtual/uia2). */
  readonly uia2: Uia2Server;
  /** True after `adb root` on a rooted profile: new shells run as uid 0. */
  adbdRoot = false;
  /** Milliseconds since the epoch of the last boot. */
  bootedAt = Date.now();
  /** /proc/sys/kernel/random/boot_id: a new UUID every boot. */
  bootId = randomUUID();

  constructor(profile: Profile, opts: PhoneOptions = {}) {
    super();
    this.profile = profile;
    this.serialno = opts.serialno ?? profile.props['ro.serialno'] ?? 'unknown';
    this.props = new PropertyStore(profile, this.serialno);
    this.settings = new SettingsStore(profile, { serialno: this.serialno });
    this.packages = new PackageRegistry(profile);
    this.processes = new ProcessTable(profile);
    this.logcat = new LogBuffer();
    this.fs = new Vfs();
    populateFilesystem(this.fs, profile);
    this.fs.defineDynamicFile('/proc/sys/kernel/random/boot_id', () => `${this.bootId}\n`);
    this.net = new PhoneNet();
    this.screen = new Screen(profile);
    this.http = new PhoneHttp(this);
    // The hub reads the browser's switches, and the apps report to the hub: the prefs are looked
    // up lazily so each can be built first.
    const installed: { apps?: InstalledApps } = {};
    this.telemetry = new TelemetryHub({
      profile,
      settings: this.settings,
      props: this.props,
      packages: this.packages,
      http: this.http,
      browserPrefs: { get: (key) => installed.apps?.browserPrefs.get(key) },
      ...(opts.telemetryTimings ? { timings: opts.telemetryTimings } : {}),
      // To the lab's log, not logcat: a harness reading logcat must not see the ground truth.
      log: (line) => this.emit('log', `telemetry: ${line}`),
    });
    this.apps = installed.apps = installApps(this, { telemetry: this.telemetry, http: this.http });
    this.uia2 = installUia2(this, { preinstalled: opts.uia2Preinstalled ?? false });
    recordBoot(this.logcat, profile, this.processes, this.bootedAt);
  }

  /** Stops the phone's background work (telemetry timers and uploads); the phone is not used after. */
  close(): void {
    this.telemetry.stop();
    this.http.close();
    this.apps.dispose();
  }

  get rooted(): boolean {
    return this.profile.rooted;
  }

  /** The command a name resolves to (`/system/bin/x` resolves like `x`), or undefined. */
  lookupCommand(name: string): CommandFn | undefined {
    const base = name.startsWith('/') ? name.slice(name.lastIndexOf('/') + 1) : name;
    if (name.startsWith('/') && !this.fs.exists(name)) return undefined;
    return androidCommands[base] ?? coreutils[base];
  }

  /** Runs a shell script as `sh -c` would on the phone and resolves to its exit status. */
  exec(script: string, opts: ExecOptions): Promise<number> {
    return runScript(script, this.shellBase(opts));
  }

  /** A shell that keeps variables, functions and the working directory across scripts (`adb shell` fed on stdin). */
  openSession(opts: ExecOptions): ShellSession {
    return new ShellSession(this.shellBase(opts));
  }

  /** A shell started by adbd: in /, as shell (or root after `adb root`), with Android's environment. */
  private shellBase(opts: ExecOptions): ScriptBase {
    return {
      phone: this,
      env: opts.env ?? this.defaultEnv(),
      cwd: '/',
      uid: opts.uid ?? (this.adbdRoot ? 0 : SHELL_UID),
      stdin: opts.stdin,
      stdout: opts.stdout,
      stderr: opts.stderr,
      signal: opts.signal,
    };
  }

  defaultEnv(): Map<string, string> {
    return new Map([
      ['PATH', '/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin'],
      ['ANDROID_DATA', '/data'],
      ['ANDROID_ROOT', '/system'],
      ['EXTERNAL_STORAGE', '/sdcard'],
      ['HOME', '/'],
      ['TMPDIR', '/data/local/tmp'],
      ['SHELL', '/system/bin/sh'],
      ['HOSTNAME', this.props.get('ro.product.device') || 'localhost'],
    ]);
  }

  /**
   * What a reboot resets: non-persistent properties, mounts, processes, the log, the screen and
   * `adb root`. Settings and files under /data survive, as on Android.
   */
  resetForBoot(): void {
    this.bootedAt = Date.now();
    this.bootId = randomUUID();
    this.adbdRoot = false;
    this.props.onReboot();
    this.settings.onReboot();
    this.processes.onReboot();
    this.logcat.clear();
    this.fs.onReboot();
    this.net.onReboot();
    this.screen.onReboot();
    recordBoot(this.logcat, this.profile, this.processes, this.bootedAt);
  }
}
