/**
 * The package manager's state: installed packages (from the profile, plus `pm install` at runtime),
 * their activities, and instrumentation entries with optional handlers (the UiAutomator2 server
 * plugs in here).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Profile } from '../profiles/load.ts';
import type { CommandContext } from '../commands/types.ts';
import { expandComponent, flattenComponent, unflattenComponent } from './component.ts';
import { readApkManifest } from './apk-manifest.ts';

export interface PackageInfo {
  name: string;
  versionName: string;
  versionCode: number;
  /** base.apk path (`pm path`). */
  path: string;
  system: boolean;
  /** A system app whose update was installed into /data/app. */
  updatedSystemApp: boolean;
  /** Launcher activity as `pkg/full.ClassName`. */
  launcher?: string;
  /** Known activities as `pkg/full.ClassName` (launcher included); null = unknown, any accepted. */
  activities: string[] | null;
  /** Services as `pkg/full.ClassName`, reported foreground while the app runs. */
  services: string[];
  /** Actions its exported activities handle (`pkg/full.ClassName`), in manifest order. */
  intentFilters: Array<{ action: string; component: string }>;
  /** Activities (`pkg/full.ClassName`) that are not exported. */
  notExported: string[];
  uid: number;
  minSdk: number;
  targetSdk: number;
  enabled: boolean;
  firstInstallTime: number;
  lastUpdateTime: number;
  installer: string | null;
}

export interface InstrumentationInfo {
  /** `pkg/full.RunnerClass`, e.g. io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner */
  component: string;
  targetPackage: string;
}

export interface InstrumentationRun extends InstrumentationInfo {
  /** `-e KEY VALUE` arguments. */
  args: Record<string, string>;
  /** `-w`: am waits for the instrumentation to finish. */
  wait: boolean;
  /** `-r`: raw output. */
  raw: boolean;
  noWindowAnimation: boolean;
}

/**
 * Runs an instrumentation in place of the real test runner. It gets `am instrument`'s context (its
 * stdout is the caller's stream when `-w` was given) and must return when `ctx.signal` aborts
 * (client gone, `am force-stop` of the test or target package, reboot).
 */
export type InstrumentationHandler = (ctx: CommandContext, run: InstrumentationRun) => Promise<number>;

/** A failed install: `code` is what `pm` prints in `Failure [CODE]`. */
export class InstallError extends Error {
  constructor(
    readonly code: string,
    message?: string,
  ) {
    super(message ?? code);
    this.name = 'InstallError';
  }
}

/** What an APK's bytes tell us (markers or a plain-text manifest in the first 64 KiB). */
export interface ApkMeta {
  name: string;
  versionName: string;
  versionCode: number;
  launcher?: string;
  activities: string[] | null;
  services: string[];
  instrumentation?: InstrumentationInfo;
}

const MARKER_SCAN = 64 * 1024;
const PKG = '[A-Za-z][\\w]*(?:\\.[A-Za-z_][\\w]*)+';
const FIRST_APP_UID = 10050;
const FIRST_SIDELOAD_UID = 10200;

/**
 * Reads package facts from APK bytes. Recognised, in the first 64 KiB: `phonehome-package:NAME`,
 * `phonehome-versionName:V`, `phonehome-versionCode:N`, `phonehome-launcher:pkg/cls`,
 * `phonehome-activity:pkg/cls`, `phonehome-service:pkg/cls`,
 * `phonehome-instrumentation:pkg/runner=targetPackage`, and in a text manifest `package="NAME"`,
 * `android:versionName="V"`, `android:versionCode="N"`; else a real APK's binary AndroidManifest.xml
 * (apk-manifest.ts). Without a name the package becomes
 * `com.phonehome.sideload.<first 8 hex of sha256>`.
 */
export function readApkMeta(bytes: Uint8Array): ApkMeta {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, MARKER_SCAN)).toString(
    'latin1',
  );
  const one = (re: RegExp): string | undefined => re.exec(head)?.[1];
  const all = (re: RegExp): string[] => [...head.matchAll(re)].map((m) => m[1] ?? '');
  if (!/phonehome-package:|\bpackage="/.test(head)) {
    // A real APK: its binary AndroidManifest.xml (Appium's server, test and settings APKs).
    const real = readApkManifest(bytes);
    if (real) {
      const meta: ApkMeta = {
        name: real.package,
        versionName: real.versionName ?? '1.0',
        versionCode: real.versionCode ?? 1,
        activities: real.activities.length ? real.activities : null,
        services: real.services,
      };
      if (real.launcher) meta.launcher = real.launcher;
      if (real.instrumentation) meta.instrumentation = real.instrumentation;
      return meta;
    }
  }
  const name =
    one(new RegExp(`phonehome-package:(${PKG})`)) ??
    one(new RegExp(`\\bpackage="(${PKG})"`)) ??
    `com.phonehome.sideload.${createHash('sha256').update(bytes).digest('hex').slice(0, 8)}`;
  const versionName =
    one(/phonehome-versionName:([^\s\0"]+)/) ?? one(/android:versionName="([^"]*)"/) ?? '1.0';
  const versionCode = Number(one(/phonehome-versionCode:(\d+)/) ?? one(/android:versionCode="(\d+)"/) ?? '1');
  const comp = `(${PKG}/[\\w.$]+)`;
  const launcher = one(new RegExp(`phonehome-launcher:${comp}`));
  const declared = all(new RegExp(`phonehome-activity:${comp}`, 'g'));
  const services = all(new RegExp(`phonehome-service:${comp}`, 'g')).map(expandComponent);
  const instr = new RegExp(`phonehome-instrumentation:${comp}=(${PKG})`).exec(head);
  const meta: ApkMeta = {
    name,
    versionName,
    versionCode,
    activities:
      declared.length || launcher
        ? [...declared, ...(launcher ? [launcher] : [])].map(expandComponent)
        : null,
    services,
  };
  if (launcher) meta.launcher = expandComponent(launcher);
  if (instr?.[1] && instr[2])
    meta.instrumentation = { component: expandComponent(instr[1]), targetPackage: instr[2] };
  return meta;
}

/** Placeholder APK bytes whose markers name the package (what populateFilesystem writes). */
export function placeholderApk(pkg: { name: string; versionName: string; versionCode: number }): Buffer {
  return Buffer.from(
    `PK\x03\x04phonehome placeholder APK (synthetic)\n` +
      `phonehome-package:${pkg.name}\nphonehome-versionName:${pkg.versionName}\n` +
      `phonehome-versionCode:${pkg.versionCode}\n`,
    'latin1',
  );
}

/** The uid of each profile package: its pinned `uid`, else assigned from 10050 in file order. */
export function profileUids(profile: Profile): Map<string, number> {
  const uids = new Map<string, number>();
  let next = FIRST_APP_UID;
  for (const p of profile.packages) uids.set(p.name, p.uid ?? next++);
  return uids;
}

export class PackageRegistry extends EventEmitter {
  private readonly packages = new Map<string, PackageInfo>();
  /** System packages removed with `pm uninstall --user 0`, restorable with `install-existing`. */
  private readonly removedForUser = new Map<string, PackageInfo>();
  /** Factory versions of system packages shadowed by an update. */
  private readonly factory = new Map<string, PackageInfo>();
  private readonly instrumentation = new Map<string, InstrumentationInfo>();
  private readonly handlers = new Map<string, InstrumentationHandler>();
  private readonly sdk: number;
  private nextUid = FIRST_SIDELOAD_UID;
  private installCount = 0;

  constructor(readonly profile: Profile) {
    super();
    this.sdk = Number(profile.props['ro.build.version.sdk'] ?? '29');
    const bootTime = Date.parse('2009-01-01T00:00:00Z');
    const uids = profileUids(profile);
    for (const p of profile.packages) {
      const launcher = p.launcher ? expandComponent(p.launcher) : undefined;
      const intentFilters = (p.intentFilters ?? []).map((f) => ({
        action: f.action,
        component: expandComponent(f.activity),
      }));
      const activities = [
        ...new Set([
          ...(p.activities ?? []).map(expandComponent),
          ...intentFilters.map((f) => f.component),
          ...(launcher ? [launcher] : []),
        ]),
      ];
      const updated = p.path.startsWith('/data/app/');
      const info: PackageInfo = {
        name: p.name,
        versionName: p.versionName,
        versionCode: p.versionCode,
        path: p.path,
        system: p.system,
        updatedSystemApp: p.system && updated,
        activities,
        services: (p.services ?? []).map(expandComponent),
        intentFilters,
        notExported: (p.notExported ?? []).map(expandComponent),
        uid: uids.get(p.name) ?? FIRST_APP_UID,
        minSdk: p.minSdk ?? Math.min(23, this.sdk),
        targetSdk: p.targetSdk ?? this.sdk,
        enabled: true,
        firstInstallTime: bootTime,
        lastUpdateTime: updated ? Date.parse('2020-11-02T10:00:00Z') : bootTime,
        installer: updated ? 'com.android.vending' : null,
      };
      if (launcher) info.launcher = launcher;
      this.packages.set(p.name, info);
    }
  }

  get(name: string): PackageInfo | undefined {
    return this.packages.get(name);
  }

  has(name: string): boolean {
    return this.packages.has(name);
  }

  /** Installed packages, sorted by name. */
  list(): PackageInfo[] {
    return [...this.packages.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The package owning `uid` (the first one for shared uids). */
  byUid(uid: number): PackageInfo | undefined {
    return this.list().find((p) => p.uid === uid);
  }

  /** The profile's browser (handles http/https VIEW intents). */
  browser(): PackageInfo | undefined {
    return this.packages.get(this.profile.browser);
  }

  /** The home app (handles MAIN/HOME): com.miui.home when installed. */
  home(): PackageInfo | undefined {
    return this.packages.get('com.miui.home') ?? this.list().find((p) => p.launcher?.includes('.launcher.'));
  }

  /** Whether `component` (`pkg/cls` in any notation) names an activity of an installed package. */
  hasActivity(component: string): boolean {
    const c = unflattenComponent(component);
    const pkg = c && this.packages.get(c.package);
    if (!c || !pkg || !pkg.enabled) return false;
    return pkg.activities === null || pkg.activities.includes(flattenComponent(c));
  }

  /**
   * Whether `component` is exported (AOSP: an activity with an intent filter, or the launcher, is; one
   * the profile lists in `notExported`, such as AOSP Settings' SubSettings, is not).
   */
  isExported(component: string): boolean {
    const c = unflattenComponent(component);
    const pkg = c && this.packages.get(c.package);
    return !pkg || !pkg.notExported.includes(flattenComponent(c));
  }

  /**
   * The exported activities of enabled packages whose intent filter names `action` (of `pkg` only
   * when given), in package-name order: what PackageManager.queryIntentActivities would list.
   */
  activitiesFor(action: string, pkg?: string): string[] {
    return this.list()
      .filter((p) => p.enabled && (pkg === undefined || p.name === pkg))
      .flatMap((p) => p.intentFilters.filter((f) => f.action === action).map((f) => f.component));
  }

  /** `pm clear`: the app's data is gone (listeners reset what they keep for it, e.g. a first-run state). */
  clearData(name: string): void {
    if (this.packages.has(name)) this.emit('cleared', name);
  }

  /**
   * Installs (or updates) a package from APK bytes, read from `apkPath` by the caller. Returns the
   * package; the caller stores the bytes at its `path`. Throws {@link InstallError}.
   */
  install(
    apkPath: string,
    bytes: Uint8Array,
    opts: { allowDowngrade?: boolean; installer?: string } = {},
  ): PackageInfo {
    if (bytes.byteLength === 0) {
      throw new InstallError(
        'INSTALL_PARSE_FAILED_NOT_APK',
        `Failed to parse ${apkPath}: not an APK (empty)`,
      );
    }
    const meta = readApkMeta(bytes);
    const old = this.packages.get(meta.name) ?? this.removedForUser.get(meta.name);
    if (old && meta.versionCode < old.versionCode && !opts.allowDowngrade) {
      throw new InstallError(
        'INSTALL_FAILED_VERSION_DOWNGRADE',
        `Downgrade detected: Update version code ${meta.versionCode} is older than current ${old.versionCode}`,
      );
    }
    const now = Date.now();
    const info: PackageInfo = {
      name: meta.name,
      versionName: meta.versionName,
      versionCode: meta.versionCode,
      path: this.newApkPath(meta.name),
      system: old?.system ?? false,
      updatedSystemApp: old?.system ?? false,
      activities: meta.activities ?? old?.activities ?? null,
      services: meta.services.length ? meta.services : (old?.services ?? []),
      intentFilters: old?.intentFilters ?? [],
      notExported: old?.notExported ?? [],
      uid: old?.uid ?? this.nextUid++,
      minSdk: old?.minSdk ?? Math.min(21, this.sdk),
      targetSdk: old?.targetSdk ?? this.sdk,
      enabled: true,
      firstInstallTime: old?.firstInstallTime ?? now,
      lastUpdateTime: now,
      installer: opts.installer ?? null,
    };
    const launcher = meta.launcher ?? old?.launcher;
    if (launcher) info.launcher = launcher;
    if (old?.system && !old.updatedSystemApp && !this.factory.has(old.name)) this.factory.set(old.name, old);
    this.removedForUser.delete(meta.name);
    this.packages.set(meta.name, info);
    if (meta.instrumentation) this.addInstrumentation(meta.instrumentation);
    this.emit('installed', info);
    return info;
  }

  /**
   * Uninstalls a package. A system package can only be removed for a user (`--user 0`; restorable
   * with {@link installExisting}); an updated system package reverts to its factory version.
   */
  uninstall(name: string, opts: { user?: number } = {}): 'ok' | 'not-installed' | 'system' {
    const pkg = this.packages.get(name);
    if (!pkg) return 'not-installed';
    const factory = this.factory.get(name);
    if (pkg.updatedSystemApp && factory && opts.user === undefined) {
      this.packages.set(name, factory);
      this.factory.delete(name);
      this.emit('uninstalled', pkg);
      return 'ok';
    }
    if (pkg.system) {
      if (opts.user === undefined) return 'system';
      this.removedForUser.set(name, pkg);
    }
    this.packages.delete(name);
    for (const [component, info] of this.instrumentation) {
      if (component.startsWith(`${name}/`)) this.instrumentation.delete(info.component);
    }
    this.emit('uninstalled', pkg);
    return 'ok';
  }

  /** `pm install-existing`: brings back a system package removed for the user. */
  installExisting(name: string): boolean {
    const pkg = this.removedForUser.get(name);
    if (!pkg) return this.packages.has(name);
    this.removedForUser.delete(name);
    this.packages.set(name, pkg);
    this.emit('installed', pkg);
    return true;
  }

  setEnabled(name: string, enabled: boolean): boolean {
    const pkg = this.packages.get(name);
    if (!pkg) return false;
    pkg.enabled = enabled;
    return true;
  }

  /** Declares an instrumentation (as an installed test APK would). */
  addInstrumentation(info: InstrumentationInfo): void {
    const component = expandComponent(info.component);
    this.instrumentation.set(component, { component, targetPackage: info.targetPackage });
  }

  removeInstrumentation(component: string): void {
    this.instrumentation.delete(expandComponent(component));
  }

  /** Declared instrumentations, sorted by component. */
  instrumentations(): InstrumentationInfo[] {
    return [...this.instrumentation.values()].sort((a, b) => (a.component < b.component ? -1 : 1));
  }

  getInstrumentation(component: string): InstrumentationInfo | undefined {
    return this.instrumentation.get(expandComponent(component));
  }

  /** Sets (or with null removes) the code that runs when `am instrument` starts `component`. */
  setInstrumentationHandler(component: string, handler: InstrumentationHandler | null): void {
    const key = expandComponent(component);
    if (handler) this.handlers.set(key, handler);
    else this.handlers.delete(key);
  }

  getInstrumentationHandler(component: string): InstrumentationHandler | undefined {
    return this.handlers.get(expandComponent(component));
  }

  /** /data/app/<pkg>-<rand>==/base.apk (Android 10) or /data/app/~~<rand>==/<pkg>-<rand>==/base.apk (11+). */
  private newApkPath(name: string): string {
    const rand = (salt: string): string =>
      createHash('sha256')
        .update(`${name}:${this.installCount}:${salt}:${this.profile.name}`)
        .digest('base64url')
        .slice(0, 22);
    this.installCount++;
    return this.sdk >= 30
      ? `/data/app/~~${rand('a')}==/${name}-${rand('b')}==/base.apk`
      : `/data/app/${name}-${rand('a')}==/base.apk`;
  }
}
