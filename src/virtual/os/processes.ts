/**
 * The process table `ps` shows: native daemons, the zygotes, system_server and app processes
 * (forked from zygote64, or zygote on 32-bit builds). Apps come and go with `am start` / `am
 * force-stop`; a reboot starts over from the profile.
 *
 * Mount namespaces (once {@link ProcessTable.attachFilesystem} tied the table to the phone's Vfs), as
 * on Android 10–14: native daemons share the init (default) namespace; zygote and zygote64 each get
 * their own at boot, a copy of init's remounted MS_SLAVE|MS_REC (com_android_internal_os_Zygote.cpp
 * UnmountStorageOnInit(): "so that changes from default namespace only flow into our children");
 * every process forked from a zygote (system_server, apps) gets a copy of that zygote's namespace
 * as it is at fork time (MountEmulatedStorage() → ensureInAppMountNamespace(): a second unshare),
 * whose mounts stay slaves of the same masters. So a mount made in the default namespace on a shared
 * mount reaches the zygotes and every app, running or later; one made in a zygote reaches only the
 * apps forked after it. Every process has /proc/PID/ns/mnt, /proc/PID/mounts and /proc/PID/mountinfo.
 */
import type { MountNamespace, Vfs } from './vfs.ts';
import type { Profile } from '../profiles/load.ts';
import { idName } from '../shell/coreutils.ts';
import { profileUids } from './packages.ts';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  /** ps USER column: root, system, shell, u0_a123 … */
  user: string;
  /** Process name (NAME column); the package name for an app's main process. */
  name: string;
  /** Virtual size and resident set, KiB. */
  vsz: number;
  rss: number;
  wchan: string;
  state: 'S' | 'R' | 'D' | 'Z';
  /** SELinux context (ps -Z / LABEL). */
  label: string;
  /** The package an app process belongs to. */
  package?: string;
  startedAt: number;
}

/** AIDs the shell's table (idName) does not name. */
const EXTRA_USERS: Record<number, string> = { 1046: 'mediacodec', 1066: 'statsd' };

/** ps/ls user name for a uid (`u0_a123` for app uids). */
export function userName(uid: number): string {
  return EXTRA_USERS[uid] ?? idName(uid);
}

interface Native {
  name: string;
  uid: number;
  parent?: string;
  vsz: number;
  rss: number;
  wchan: string;
  label: string;
}

const NATIVES: Native[] = [
  { name: 'init', uid: 0, vsz: 10872656, rss: 9860, wchan: 'do_epoll_wait', label: 'u:r:init:s0' },
  { name: '[kthreadd]', uid: 0, vsz: 0, rss: 0, wchan: 'kthreadd', label: 'u:r:kernel:s0' },
  {
    name: 'ueventd',
    uid: 0,
    parent: 'init',
    vsz: 10736384,
    rss: 4212,
    wchan: 'do_sys_poll',
    label: 'u:r:ueventd:s0',
  },
  {
    name: 'logd',
    uid: 1036,
    parent: 'init',
    vsz: 10889216,
    rss: 8120,
    wchan: 'sigsuspend',
    label: 'u:r:logd:s0',
  },
  {
    name: 'servicemanager',
    uid: 1000,
    parent: 'init',
    vsz: 10703616,
    rss: 3624,
    wchan: 'binder_ioctl',
    label: 'u:r:servicemanager:s0',
  },
  {
    name: 'hwservicemanager',
    uid: 1000,
    parent: 'init',
    vsz: 10765056,
    rss: 4480,
    wchan: 'binder_ioctl',
    label: 'u:r:hwservicemanager:s0',
  },
  {
    name: 'vold',
    uid: 0,
    parent: 'init',
    vsz: 10950100,
    rss: 7044,
    wchan: 'binder_ioctl',
    label: 'u:r:vold:s0',
  },
  {
    name: 'netd',
    uid: 0,
    parent: 'init',
    vsz: 10891764,
    rss: 6868,
    wchan: 'binder_ioctl',
    label: 'u:r:netd:s0',
  },
  {
    name: 'surfaceflinger',
    uid: 1000,
    parent: 'init',
    vsz: 11294968,
    rss: 28744,
    wchan: 'do_epoll_wait',
    label: 'u:r:surfaceflinger:s0',
  },
  {
    name: 'installd',
    uid: 0,
    parent: 'init',
    vsz: 10862976,
    rss: 6000,
    wchan: 'binder_ioctl',
    label: 'u:r:installd:s0',
  },
  {
    name: 'media.swcodec',
    uid: 1046,
    parent: 'init',
    vsz: 10876128,
    rss: 12972,
    wchan: 'binder_ioctl',
    label: 'u:r:mediaswcodec:s0',
  },
  {
    name: 'statsd',
    uid: 1066,
    parent: 'init',
    vsz: 10899700,
    rss: 5340,
    wchan: 'do_epoll_wait',
    label: 'u:r:statsd:s0',
  },
  {
    name: 'adbd',
    uid: 2000,
    parent: 'init',
    vsz: 10936356,
    rss: 6052,
    wchan: 'do_epoll_wait',
    label: 'u:r:adbd:s0',
  },
];

const DEFAULT_BOOT_APPS = ['com.android.systemui', 'com.miui.home', 'com.android.phone'];

export class ProcessTable {
  private procs = new Map<number, ProcessInfo>();
  private nextPid = 0;
  private readonly is64: boolean;
  private readonly appUids: Map<string, number>;
  private fs: Vfs | undefined;
  private readonly mntNs = new Map<number, MountNamespace>();

  constructor(private readonly profile: Profile) {
    this.is64 = (profile.props['ro.product.cpu.abi'] ?? '').includes('64');
    this.appUids = profileUids(profile);
    this.boot();
  }

  /** Processes sorted by pid. */
  list(): ProcessInfo[] {
    return [...this.procs.values()].sort((a, b) => a.pid - b.pid);
  }

  get(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }

  byName(name: string): ProcessInfo[] {
    return this.list().filter((p) => p.name === name);
  }

  /** pids of processes called `name`, newest first (as pidof prints them). */
  pidOf(name: string): number[] {
    return this.byName(name)
      .map((p) => p.pid)
      .sort((a, b) => b - a);
  }

  /** pids of zygote and zygote64. */
  zygotes(): number[] {
    return this.list()
      .filter((p) => p.name === 'zygote' || p.name === 'zygote64')
      .map((p) => p.pid);
  }

  /**
   * Ties the table to the phone's filesystem: gives the running processes their mount namespaces
   * (nothing was mounted yet, so copies made now equal copies made at boot) and every later
   * process one at fork time.
   */
  attachFilesystem(fs: Vfs): void {
    if (this.fs === fs) return;
    this.fs = fs;
    for (const p of this.list()) this.forkNamespace(p);
  }

  /** The mount namespace of a process (undefined when there is no such process or no filesystem). */
  mountNamespace(pid: number): MountNamespace | undefined {
    return this.mntNs.get(pid);
  }

  /**
   * The namespace of the zygote apps fork from (zygote64 on 64-bit builds): what a new app process
   * would get a copy of now. For looking at files as an app that does not run yet would.
   */
  zygoteNamespace(): MountNamespace | undefined {
    const zygote = this.byName(this.is64 ? 'zygote64' : 'zygote')[0];
    return zygote ? this.mntNs.get(zygote.pid) : undefined;
  }

  isRunning(name: string): boolean {
    return this.byName(name).length > 0;
  }

  /**
   * Starts an app process forked from the zygote unless one with that name runs; returns it and
   * whether it is new. `name` is the package or `package:sub` process name.
   */
  start(
    name: string,
    opts: { uid?: number; package?: string } = {},
  ): { proc: ProcessInfo; started: boolean } {
    const running = this.byName(name)[0];
    if (running) return { proc: running, started: false };
    const pkg = opts.package ?? name.split(':')[0] ?? name;
    const uid = opts.uid ?? this.appUids.get(pkg) ?? 10199;
    const zygote = this.byName(this.is64 ? 'zygote64' : 'zygote')[0];
    const proc = this.add({
      name,
      uid,
      ppid: zygote?.pid ?? 1,
      vsz: this.is64 ? 14_800_000 + ((name.length * 7919) % 600_000) : 1_650_000,
      rss: 90_000 + ((name.length * 104729) % 90_000),
      wchan: 'do_epoll_wait',
      label:
        uid === 1000 ? 'u:r:system_app:s0' : uid === 1001 ? 'u:r:radio:s0' : 'u:r:untrusted_app:s0:c512,c768',
      package: pkg,
    });
    return { proc, started: true };
  }

  /** Removes all processes of a package (`am force-stop`). */
  stop(pkg: string): ProcessInfo[] {
    const gone = this.list().filter((p) => p.package === pkg);
    for (const p of gone) this.remove(p.pid);
    return gone;
  }

  /** Removes one process; false if there is none with that pid. */
  kill(pid: number): boolean {
    return this.remove(pid);
  }

  onReboot(): void {
    this.boot();
  }

  private add(p: Omit<ProcessInfo, 'pid' | 'user' | 'state' | 'startedAt'>, pid?: number): ProcessInfo {
    this.nextPid = pid ?? this.nextPid + 1 + (this.nextPid % 7);
    const proc: ProcessInfo = {
      ...p,
      pid: this.nextPid,
      user: userName(p.uid),
      state: 'S',
      startedAt: Date.now(),
    };
    this.procs.set(proc.pid, proc);
    this.forkNamespace(proc);
    return proc;
  }

  private remove(pid: number): boolean {
    if (!this.procs.delete(pid)) return false;
    const ns = this.mntNs.get(pid);
    this.mntNs.delete(pid);
    const fs = this.fs;
    if (fs) {
      if (ns && ![...this.mntNs.values()].includes(ns)) fs.releaseNamespace(ns);
      fs.provision(() => {
        if (fs.exists(`/proc/${pid}`)) fs.rmdir(`/proc/${pid}`, { recursive: true });
      });
    }
    return true;
  }

  /** Gives a new process its mount namespace and its /proc/PID/ns/mnt. */
  private forkNamespace(proc: ProcessInfo): void {
    const fs = this.fs;
    if (!fs) return;
    const parent = this.procs.get(proc.ppid);
    const parentNs = parent ? this.mntNs.get(parent.pid) : undefined;
    let ns: MountNamespace;
    if (proc.name === 'zygote' || proc.name === 'zygote64') ns = fs.cloneNamespace(fs.initNamespace, 'slave');
    else if (parent && (parent.name === 'zygote' || parent.name === 'zygote64') && parentNs)
      ns = fs.cloneNamespace(parentNs, 'preserve');
    else ns = parentNs ?? fs.initNamespace;
    this.mntNs.set(proc.pid, ns);
    fs.defineDynamicFile(`/proc/${proc.pid}/ns/mnt`, () => `mnt:[${ns.inode}]\n`, { mode: 0o444 });
    fs.defineDynamicFile(`/proc/${proc.pid}/mounts`, (v) => v.inNamespace(ns).procMounts(), { mode: 0o444 });
    fs.defineDynamicFile(`/proc/${proc.pid}/mountinfo`, (v) => v.inNamespace(ns).procMountinfo(), {
      mode: 0o444,
    });
  }

  private boot(): void {
    const fs = this.fs;
    if (fs) {
      for (const pid of this.procs.keys()) this.remove(pid);
    }
    this.procs = new Map();
    this.nextPid = 0;
    const byName = new Map<string, ProcessInfo>();
    const fixedPids: Record<string, number> = { init: 1, '[kthreadd]': 2, ueventd: 383, logd: 523 };
    for (const n of NATIVES) {
      const parent = n.parent ? byName.get(n.parent) : undefined;
      const ppid = n.name === 'init' || n.name === '[kthreadd]' ? 0 : (parent?.pid ?? 1);
      byName.set(n.name, this.add({ ...n, ppid }, fixedPids[n.name]));
    }
    this.nextPid = 880;
    const init = byName.get('init');
    const zyg: Omit<ProcessInfo, 'pid' | 'user' | 'state' | 'startedAt' | 'name' | 'vsz'> = {
      uid: 0,
      ppid: init?.pid ?? 1,
      rss: 120_000,
      wchan: 'do_sys_poll',
      label: 'u:r:zygote:s0',
    };
    const zygote64 = this.is64 ? this.add({ ...zyg, name: 'zygote64', vsz: 14_620_000 }) : undefined;
    const zygote = this.add({ ...zyg, name: 'zygote', vsz: 1_580_000 });
    const appParent = zygote64 ?? zygote;
    this.nextPid = 1410;
    this.add({
      name: 'system_server',
      uid: 1000,
      ppid: appParent.pid,
      vsz: this.is64 ? 15_980_000 : 2_600_000,
      rss: 310_000,
      wchan: 'do_epoll_wait',
      label: 'u:r:system_server:s0',
    });
    this.nextPid = 2100;
    for (const name of this.profile.bootProcesses ?? DEFAULT_BOOT_APPS) {
      const pkg = this.pkgOfProcess(name);
      this.start(name, pkg ? { package: pkg } : {});
    }
    this.nextPid = 3600;
  }

  /** The installed package a process name belongs to (`pkg` or `pkg:sub` or `pkg.remote`). */
  private pkgOfProcess(name: string): string | undefined {
    const base = name.split(':')[0] ?? name;
    if (this.appUids.has(base)) return base;
    return [...this.appUids.keys()]
      .filter((p) => base.startsWith(`${p}.`))
      .sort((a, b) => b.length - a.length)[0];
  }
}
