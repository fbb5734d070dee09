import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
/**
 * The virtual phone's filesystem: an in-memory POSIX-ish tree with modes, owners, SELinux labels
 * and a mount table (base mounts as on Android 10+, plus tmpfs and bind mounts made at run time).
 *
 * Path resolution goes through a {@link MountTable} at every component, so a mount hides what is
 * below it until it is unmounted.
 *
 * Mount namespaces: every {@link MountNamespace} has its own {@link MountTable} of mount instances
 * over shared mounted trees (files). The Vfs object itself resolves through the init namespace (the
 * default namespace Android's init enters at post-fs-data, where adbd and `adb shell` live), or
 * through the namespace {@link Vfs.runInNamespace} entered for the current async context (`nsenter`,
 * `su`); {@link Vfs.inNamespace} gives a view pinned to one namespace (what an app process sees).
 *
 * Propagation follows Linux shared subtrees (Documentation/filesystems/sharedsubtree.rst,
 * fs/pnode.c) with Android's settings (android-realities.md §1.1–1.2):
 * - system/core/init/mount_namespace.cpp SetupMountNamespaces() remounts `/` MS_SHARED|MS_REC ("any
 *   mounting event (e.g. /data) is by default visible to all processes") and `/apex` MS_PRIVATE
 *   (/linkerconfig too; not modelled): every base mount is shared in a peer group of its own, except
 *   /apex and the APEX images mounted under it, which are private.
 * - frameworks/base core/jni/com_android_internal_os_Zygote.cpp: the zygote unshares and remounts
 *   `/` MS_SLAVE|MS_REC ("so that changes from default namespace only flow into our children");
 *   each app process unshares again from its zygote, so its mounts are slaves of the same masters.
 * - A mount made on a shared mount is shared in a new peer group and is copied to every peer and
 *   slave of its parent (recursively, one way); a mount made on a slave or private mount is
 *   private and stays in its namespace. An unmount propagates the same way.
 */

/**
 * The largest file a virtual phone stores. Everything lives in the lab process's memory, so a
 * runaway `yes > file` must end in ENOSPC, as a full partition would, not in an out-of-memory lab.
 */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** What one read of /dev/zero or /dev/urandom returns. */
export const DEVICE_READ_BYTES = 64 * 1024;

export type VfsErrorCode =
  | 'ENOENT'
  | 'EACCES'
  | 'EISDIR'
  | 'ENOTDIR'
  | 'EEXIST'
  | 'EROFS'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'EPERM'
  | 'EBUSY'
  | 'ENOSPC'
  | 'ELOOP';

const MESSAGES: Record<VfsErrorCode, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EEXIST: 'File exists',
  EROFS: 'Read-only file system',
  ENOTEMPTY: 'Directory not empty',
  EINVAL: 'Invalid argument',
  EPERM: 'Operation not permitted',
  EBUSY: 'Device or resource busy',
  ENOSPC: 'No space left on device',
  ELOOP: 'Too many symbolic links encountered',
};

export class VfsError extends Error {
  readonly code: VfsErrorCode;
  readonly path: string;

  constructor(code: VfsErrorCode, path: string, message?: string) {
    super(message ?? MESSAGES[code]);
    this.name = 'VfsError';
    this.code = code;
    this.path = path;
  }
}

export interface VfsStat {
  type: 'file' | 'dir' | 'symlink';
  /** Full st_mode, including the file type bits. */
  mode: number;
  size: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  ctime: number;
  ino: number;
  dev: number;
  nlink: number;
  /** SELinux context. */
  label: string;
  /** Device number (major << 8 | minor) for character devices such as /dev/null. */
  rdev?: number;
}

export interface MountEntry {
  source: string;
  target: string;
  /** Filesystem type as /proc/mounts shows it (a bind mount shows its source's type). */
  type: string;
  /** "ro,..." or "rw,...". */
  options: string;
  /** How the mount was made: part of the boot image, or at run time (always set by Vfs.mounts()). */
  kind?: 'base' | 'tmpfs' | 'bind';
  /** For bind mounts: the source path given to mount(). */
  bindSource?: string;
}

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

/** Access bits for {@link Vfs.access}. */
export const R_OK = 4;
export const W_OK = 2;
export const X_OK = 1;

/** Supplementary groups of `adb shell` (uid 2000) on Android 10+. */
const SHELL_GROUPS = [2000, 1004, 1007, 1011, 1015, 1028, 1078, 1079, 3001, 3002, 3003, 3006, 3009, 3011];

/** The groups a uid is a member of (primary group first). */
export function groupsOf(uid: number): number[] {
  if (uid === 2000) return SHELL_GROUPS;
  return [uid];
}

interface NodeBase {
  ino: number;
  /** Permission bits (07777). */
  perm: number;
  uid: number;
  gid: number;
  atime: number;
  mtime: number;
  ctime: number;
  label: string;
  nlink: number;
}

interface FileNode extends NodeBase {
  kind: 'file';
  /** Storage; only the first `size` bytes are content (capacity grows by doubling on append). */
  data: Buffer;
  size: number;
  /** Character device: `null` discards writes and reads empty. */
  device?: { kind: 'null' | 'zero' | 'urandom'; rdev: number };
  /** Content produced at read time (/proc files). */
  generate?: (fs: Vfs) => string | Buffer;
}

interface DirNode extends NodeBase {
  kind: 'dir';
  children: Map<string, Node>;
}

interface LinkNode extends NodeBase {
  kind: 'symlink';
  target: string;
}

type Node = FileNode | DirNode | LinkNode;

/** One mounted filesystem: what path resolution sees at `target`. */
export interface Mount {
  readonly id: number;
  source: string;
  target: string;
  fstype: string;
  /** Options after the leading ro/rw. */
  extraOptions: string;
  readOnly: boolean;
  /** The read-only flag at boot, restored by onReboot. */
  readonly bootReadOnly: boolean;
  root: Node;
  dev: number;
  kind: 'base' | 'tmpfs' | 'bind';
  bindSource?: string;
  /** The path inside the mounted filesystem shown at `target` ('/' but for bind mounts): mountinfo's 4th field. */
  fsRoot: string;
  /** The mount this one is attached to (undefined for `/`). */
  parent: Mount | undefined;
  /** Peer group id while shared (mountinfo `shared:N`). */
  shared?: number;
  /** The peer group this mount receives from as a slave (mountinfo `master:N`). */
  master?: number;
  /** For a copy made by propagation: the mount it was propagated from (for unmount propagation). */
  origin?: Mount;
}

/** What a new mount namespace does to the propagation of the mounts it copies. */
export type CopyPropagation = 'preserve' | 'slave' | 'private';

/**
 * Mounts by target path. A mount on top of a mount stacks; the top one is visible. Kept as one
 * object so a future per-process namespace can be a clone of it.
 */
export class MountTable {
  private readonly byTarget = new Map<string, Mount[]>();
  private ordered: Mount[] = [];

  top(target: string): Mount | undefined {
    const stack = this.byTarget.get(target);
    return stack ? stack[stack.length - 1] : undefined;
  }

  push(m: Mount): void {
    let stack = this.byTarget.get(m.target);
    if (!stack) this.byTarget.set(m.target, (stack = []));
    stack.push(m);
    this.ordered.push(m);
  }

  pop(target: string): Mount | undefined {
    const stack = this.byTarget.get(target);
    const m = stack?.pop();
    if (!m) return undefined;
    if (stack && stack.length === 0) this.byTarget.delete(target);
    this.ordered = this.ordered.filter((x) => x !== m);
    return m;
  }

  /** Every mount, in the order made (base mounts first). */
  list(): Mount[] {
    return [...this.ordered];
  }

  /** True if some mount's target lies strictly below `path`. */
  hasMountBelow(path: string): boolean {
    const prefix = path === '/' ? '/' : `${path}/`;
    return this.ordered.some((m) => m.target !== path && m.target.startsWith(prefix));
  }

  /** Every mount at `target`, bottom first. */
  stackAt(target: string): Mount[] {
    return [...(this.byTarget.get(target) ?? [])];
  }

  /**
   * Adds a mount directly above `below` when that is in `m`'s target stack, else at the bottom of
   * the stack: a mount propagated under one already there is tucked beneath it (Linux 4.11+,
   * "mnt: Tuck mounts under others instead of creating shadow/side mounts").
   */
  insertAbove(m: Mount, below: Mount | undefined): void {
    let stack = this.byTarget.get(m.target);
    if (!stack) this.byTarget.set(m.target, (stack = []));
    const i = below ? stack.indexOf(below) : -1;
    stack.splice(i + 1, 0, m);
    this.ordered.push(m);
  }

  /** A copy of the table with every mount replaced by `copy(mount)` (stack order kept). */
  cloneWith(copy: (m: Mount) => Mount): MountTable {
    const t = new MountTable();
    const map = new Map<Mount, Mount>();
    for (const m of this.ordered) map.set(m, copy(m));
    for (const c of map.values()) if (c.parent) c.parent = map.get(c.parent) ?? c.parent;
    t.ordered = [...map.values()];
    for (const [target, stack] of this.byTarget)
      t.byTarget.set(
        target,
        stack.map((m) => map.get(m)!),
      );
    return t;
  }

  /** Removes one mount wherever it is in its target's stack; false when it is not in this table. */
  remove(m: Mount): boolean {
    const stack = this.byTarget.get(m.target);
    const i = stack ? stack.indexOf(m) : -1;
    if (!stack || i < 0) return false;
    stack.splice(i, 1);
    if (stack.length === 0) this.byTarget.delete(m.target);
    this.ordered = this.ordered.filter((x) => x !== m);
    return true;
  }
}

/** Inode number of the init mount namespace on Linux (`readlink /proc/1/ns/mnt` → mnt:[4026531840]). */
const INIT_MNT_NS_INODE = 4026531840;

/** One mount namespace: its own mount table over the shared trees. */
export class MountNamespace {
  constructor(
    /** 0 for the init namespace. */
    readonly id: number,
    readonly table: MountTable,
  ) {}

  /** The nsfs inode, as `readlink /proc/PID/ns/mnt` shows it: `mnt:[inode]`. */
  get inode(): number {
    return INIT_MNT_NS_INODE + (this.id === 0 ? 0 : 691 + this.id);
  }

  get isInit(): boolean {
    return this.id === 0;
  }
}

/**
 * Base mounts init makes private (mount_namespace.cpp: `/apex` MS_PRIVATE; the APEX images are
 * mounted on it afterwards by apexd, so they are private too). Every other base mount is shared.
 */
const PRIVATE_SUBTREES = ['/apex'];

function isPrivatePath(path: string): boolean {
  return PRIVATE_SUBTREES.some((p) => path === p || path.startsWith(`${p}/`));
}

/** `target` relative to `base` ('' when equal); `base` is `target` or one of its ancestors. */
function relativeTo(base: string, target: string): string {
  if (base === target) return '';
  return base === '/' ? target : target.slice(base.length);
}

/** Per-mount flags mountinfo shows in field 6; the rest of a mount's options are superblock options. */
const PER_MOUNT_FLAGS = new Set(['nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime']);

/** What all views of one Vfs share. */
interface VfsShared {
  nextIno: number;
  nextDev: number;
  nextMountId: number;
  /** Next peer group id (mountinfo shared:N / master:N). */
  nextGroup: number;
  bypass: number;
  init: MountNamespace;
  /** Live namespaces (init included): the targets of propagation and of onReboot. */
  namespaces: Set<MountNamespace>;
  nextNsId: number;
  views: WeakMap<MountNamespace, Vfs>;
  root: Vfs;
}

/** The namespace `nsenter` entered, for the async context running the command. */
const entered = new AsyncLocalStorage<{ shared: VfsShared; ns: MountNamespace }>();

/** Where a path resolved to: the node, its canonical path and the mount it lives on. */
interface Loc {
  node: Node;
  path: string;
  mount: Mount;
}

function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function splitParent(abs: string): { dir: string; name: string } {
  const i = abs.lastIndexOf('/');
  return { dir: i <= 0 ? '/' : abs.slice(0, i), name: abs.slice(i + 1) };
}

const LABELS = {
  root: 'u:object_r:rootfs:s0',
  system: 'u:object_r:system_file:s0',
  vendor: 'u:object_r:vendor_file:s0',
  data: 'u:object_r:system_data_file:s0',
  shellData: 'u:object_r:shell_data_file:s0',
  tmpfs: 'u:object_r:tmpfs:s0',
  apex: 'u:object_r:apex_mnt_dir:s0',
  proc: 'u:object_r:proc:s0',
  device: 'u:object_r:device:s0',
  nullDevice: 'u:object_r:null_device:s0',
  fuse: 'u:object_r:fuse:s0',
  storage: 'u:object_r:storage_file:s0',
  sysfs: 'u:object_r:sysfs:s0',
  mnt: 'u:object_r:mnt_user_file:s0',
};

export interface VfsOptions {
  /** Clock in seconds; defaults to the host clock. */
  now?: () => number;
  /** The largest file it stores (default MAX_FILE_BYTES); larger writes fail with ENOSPC. */
  maxFileBytes?: number;
}

export class Vfs {
  private readonly shared: VfsShared;
  /** Set on a view made by {@link Vfs.inNamespace}: always resolves through that namespace. */
  private readonly pinned: MountNamespace | undefined;
  private readonly now: () => number;

  private readonly maxFileBytes: number;

  constructor(opts: VfsOptions = {}) {
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.maxFileBytes = opts.maxFileBytes ?? MAX_FILE_BYTES;
    const init = new MountNamespace(0, new MountTable());
    this.shared = {
      nextIno: 2,
      nextDev: 0xfd00,
      // Linux numbers the first mounts in the 20s; `/`'s parent (1) is outside every namespace.
      nextMountId: 20,
      nextGroup: 1,
      bypass: 0,
      init,
      namespaces: new Set([init]),
      nextNsId: 1,
      views: new WeakMap(),
      root: this,
    };
    this.pinned = undefined;
    this.buildBase();
  }

  // ---------------------------------------------------------------- paths

  /** Absolute path; collapses `//`, `.` and `..`; no trailing slash except for `/`. */
  normalize(path: string, cwd = '/'): string {
    const full = path.startsWith('/') ? path : `${cwd}/${path}`;
    const out: string[] = [];
    for (const part of full.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') out.pop();
      else out.push(part);
    }
    return `/${out.join('/')}`;
  }

  /** The canonical path (symlinks resolved), or throws. */
  realpath(path: string, uid = 0): string {
    return this.resolve(path, true, uid).path;
  }

  exists(path: string): boolean {
    return this.tryResolve(path, true) !== null;
  }

  stat(path: string): VfsStat | null {
    const loc = this.tryResolve(path, true);
    return loc ? this.statOf(loc) : null;
  }

  lstat(path: string): VfsStat | null {
    const loc = this.tryResolve(path, false);
    return loc ? this.statOf(loc) : null;
  }

  /** Whether `uid` may access `path` with `mode` (R_OK|W_OK|X_OK; 0 tests existence), like access(2). */
  access(path: string, mode: number, uid = 0): boolean {
    let loc: Loc;
    try {
      loc = this.resolve(path, true, uid);
    } catch {
      return false;
    }
    if (mode & W_OK && loc.mount.readOnly && !this.shared.bypass) return false;
    if (uid === 0 && mode & X_OK && loc.node.kind !== 'dir') return (loc.node.perm & 0o111) !== 0;
    return this.can(loc.node, uid, mode & 7);
  }

  isMountPoint(path: string): boolean {
    const loc = this.tryResolve(path, true);
    return loc !== null && loc.mount.target === loc.path;
  }

  // ---------------------------------------------------------------- files

  /** The file's content (do not mutate the returned buffer). */
  readFile(path: string, uid = 0): Buffer {
    const loc = this.resolve(path, true, uid);
    const node = loc.node;
    if (node.kind === 'dir') throw new VfsError('EISDIR', loc.path);
    if (node.kind !== 'file') throw new VfsError('EINVAL', loc.path);
    if (!this.can(node, uid, R_OK)) throw new VfsError('EACCES', loc.path);
    // Character devices: a read returns one buffer's worth (files are read whole here, so the
    // endless streams of /dev/zero and /dev/urandom are cut at DEVICE_READ_BYTES).
    if (node.device?.kind === 'zero') return Buffer.alloc(DEVICE_READ_BYTES);
    if (node.device?.kind === 'urandom') return randomBytes(DEVICE_READ_BYTES);
    if (node.device) return Buffer.alloc(0);
    if (node.generate) {
      const g = node.generate(this);
      return typeof g === 'string' ? Buffer.from(g) : g;
    }
    return node.data.subarray(0, node.size);
  }

  writeFile(
    path: string,
    data: Buffer | Uint8Array | string,
    opts: {
      mode?: number;
      uid?: number;
      gid?: number;
      append?: boolean;
      mtime?: number;
      mkdirs?: boolean;
    } = {},
  ): void {
    const uid = opts.uid ?? 0;
    let abs = this.normalize(path);
    for (let hops = 0; ; hops++) {
      if (hops > 40) throw new VfsError('ELOOP', abs);
      if (abs === '/') throw new VfsError('EISDIR', abs);
      const { dir: dirPath, name } = splitParent(abs);
      if (opts.mkdirs) this.mkdir(dirPath, { parents: true, uid, gid: opts.gid });
      const dir = this.resolve(dirPath, true, uid);
      if (dir.node.kind !== 'dir') throw new VfsError('ENOTDIR', abs);
      const existing = this.child(dir, name);
      if (existing && existing.node.kind === 'symlink') {
        const t = existing.node.target;
        abs = this.normalize(t, dir.path);
        continue;
      }
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      const now = this.now();
      if (existing) {
        const node = existing.node;
        if (node.kind === 'dir') throw new VfsError('EISDIR', abs);
        if (node.kind !== 'file') throw new VfsError('EINVAL', abs);
        if (!node.device) this.checkWritable(existing.mount, abs);
        if (!this.can(node, uid, W_OK)) throw new VfsError('EACCES', abs);
        if (node.device) return;
        if (node.generate) throw new VfsError('EACCES', abs);
        if ((opts.append ? node.size : 0) + bytes.length > this.maxFileBytes)
          throw new VfsError('ENOSPC', abs);
        if (opts.append) this.appendBytes(node, bytes);
        else {
          node.data = Buffer.from(bytes);
          node.size = node.data.length;
        }
        node.mtime = opts.mtime ?? now;
        node.ctime = now;
        if (opts.mode !== undefined && (uid === 0 || uid === node.uid)) node.perm = opts.mode & 0o7777;
        return;
      }
      this.checkCreate(dir, uid, abs);
      if (bytes.length > this.maxFileBytes) throw new VfsError('ENOSPC', abs);
      const node: FileNode = {
        ...this.baseFields(opts.mode ?? 0o644, uid, opts.gid ?? uid, dir.node.label),
        kind: 'file',
        data: Buffer.from(bytes),
        size: bytes.length,
      };
      if (opts.mtime !== undefined) node.mtime = opts.mtime;
      dir.node.children.set(name, node);
      this.touchDir(dir.node);
      return;
    }
  }

  /** Sets atime/mtime (seconds); creates nothing. */
  utimes(path: string, atime: number, mtime: number, uid = 0): void {
    const loc = this.resolve(path, true, uid);
    this.checkWritable(loc.mount, loc.path);
    if (uid !== 0 && uid !== loc.node.uid && !this.can(loc.node, uid, W_OK)) {
      throw new VfsError('EPERM', loc.path);
    }
    loc.node.atime = atime;
    loc.node.mtime = mtime;
    loc.node.ctime = this.now();
  }

  /** Truncates (or zero-extends) a file to `size` bytes. */
  truncate(path: string, size: number, uid = 0): void {
    const loc = this.resolve(path, true, uid);
    const node = loc.node;
    if (node.kind === 'dir') throw new VfsError('EISDIR', loc.path);
    if (node.kind !== 'file' || node.generate) throw new VfsError('EINVAL', loc.path);
    if (node.device) return;
    this.checkWritable(loc.mount, loc.path);
    if (!this.can(node, uid, W_OK)) throw new VfsError('EACCES', loc.path);
    if (size > this.maxFileBytes) throw new VfsError('ENOSPC', loc.path);
    const data = Buffer.alloc(size);
    node.data.copy(data, 0, 0, Math.min(size, node.size));
    node.data = data;
    node.size = size;
    node.mtime = node.ctime = this.now();
  }

  /**
   * A file whose content is produced on every read (e.g. /proc/cpuinfo). Creates parents as
   * needed and ignores read-only mounts (it is part of the image).
   */
  defineDynamicFile(
    path: string,
    generate: (fs: Vfs) => string | Buffer,
    opts: { mode?: number; label?: string } = {},
  ): void {
    this.provision(() => {
      const abs = this.normalize(path);
      const { dir: dirPath, name } = splitParent(abs);
      this.mkdir(dirPath, { parents: true });
      const dir = this.resolve(dirPath, true, 0);
      const node: FileNode = {
        ...this.baseFields(opts.mode ?? 0o444, 0, 0, opts.label ?? dir.node.label),
        kind: 'file',
        data: Buffer.alloc(0),
        size: 0,
        generate,
      };
      (dir.node as DirNode).children.set(name, node);
    });
  }

  mkdir(path: string, opts: { parents?: boolean; mode?: number; uid?: number; gid?: number } = {}): void {
    const uid = opts.uid ?? 0;
    const abs = this.normalize(path);
    if (opts.parents) {
      let cur = '/';
      for (const part of abs.split('/').filter(Boolean)) {
        cur = joinPath(cur, part);
        const loc = this.tryResolve(cur, true);
        if (loc) {
          if (loc.node.kind !== 'dir') throw new VfsError(cur === abs ? 'EEXIST' : 'ENOTDIR', cur);
          continue;
        }
        // Only the last directory gets the requested mode, as with `mkdir -p -m`.
        this.mkdirOne(cur, cur === abs ? (opts.mode ?? 0o755) : 0o755, uid, opts.gid ?? uid);
      }
      return;
    }
    if (abs === '/') throw new VfsError('EEXIST', abs);
    this.mkdirOne(abs, opts.mode ?? 0o755, uid, opts.gid ?? uid);
  }

  readdir(path: string, uid = 0): string[] {
    const loc = this.resolve(path, true, uid);
    if (loc.node.kind !== 'dir') throw new VfsError('ENOTDIR', loc.path);
    if (!this.can(loc.node, uid, R_OK)) throw new VfsError('EACCES', loc.path);
    return [...loc.node.children.keys()].sort(byteOrder);
  }

  unlink(path: string, uid = 0): void {
    const { dir, name, abs } = this.parentOf(path, uid);
    const node = (dir.node as DirNode).children.get(name);
    if (!node) throw new VfsError('ENOENT', abs);
    const full = joinPath(dir.path, name);
    if (this.table.top(full)) throw new VfsError('EBUSY', abs);
    if (node.kind === 'dir') throw new VfsError('EISDIR', abs);
    this.checkDelete(dir, node, uid, abs);
    (dir.node as DirNode).children.delete(name);
    node.nlink = Math.max(0, node.nlink - 1);
    node.ctime = this.now();
    this.touchDir(dir.node);
  }

  rmdir(path: string, opts: { recursive?: boolean; uid?: number } = {}): void {
    const uid = opts.uid ?? 0;
    const { dir, name, abs } = this.parentOf(path, uid);
    const raw = (dir.node as DirNode).children.get(name);
    if (!raw) throw new VfsError('ENOENT', abs);
    const loc = this.child(dir, name)!;
    if (loc.node.kind !== 'dir') throw new VfsError('ENOTDIR', abs);
    if (loc.mount.target === loc.path) throw new VfsError('EBUSY', abs);
    if (this.table.hasMountBelow(loc.path)) throw new VfsError('EBUSY', abs);
    this.checkDelete(dir, loc.node, uid, abs);
    if (loc.node.children.size > 0) {
      if (!opts.recursive) throw new VfsError('ENOTEMPTY', abs);
      this.emptyDir(loc.node, uid, abs);
    }
    (dir.node as DirNode).children.delete(name);
    this.touchDir(dir.node);
  }

  rename(from: string, to: string, uid = 0): void {
    const src = this.parentOf(from, uid);
    const dst = this.parentOf(to, uid);
    const node = (src.dir.node as DirNode).children.get(src.name);
    if (!node) throw new VfsError('ENOENT', src.abs);
    const srcPath = joinPath(src.dir.path, src.name);
    const dstPath = joinPath(dst.dir.path, dst.name);
    if (this.table.top(srcPath) || this.table.top(dstPath)) throw new VfsError('EBUSY', src.abs);
    if (node.kind === 'dir' && this.table.hasMountBelow(srcPath)) throw new VfsError('EBUSY', src.abs);
    if (node.kind === 'dir' && (dstPath === srcPath || dstPath.startsWith(`${srcPath}/`))) {
      if (dstPath === srcPath) return;
      throw new VfsError('EINVAL', dst.abs);
    }
    this.checkDelete(src.dir, node, uid, src.abs);
    this.checkCreate(dst.dir, uid, dst.abs);
    const dstDir = dst.dir.node as DirNode;
    const existing = dstDir.children.get(dst.name);
    if (existing === node) return;
    if (existing) {
      if (existing.kind === 'dir') {
        if (node.kind !== 'dir') throw new VfsError('EISDIR', dst.abs);
        if (existing.children.size > 0) throw new VfsError('ENOTEMPTY', dst.abs);
      } else if (node.kind === 'dir') {
        throw new VfsError('ENOTDIR', dst.abs);
      }
      this.checkDelete(dst.dir, existing, uid, dst.abs);
    }
    (src.dir.node as DirNode).children.delete(src.name);
    dstDir.children.set(dst.name, node);
    node.ctime = this.now();
    this.touchDir(src.dir.node);
    this.touchDir(dstDir);
  }

  copyFile(from: string, to: string, uid = 0): void {
    const src = this.resolve(from, true, uid);
    const data = this.readFile(from, uid);
    const dst = this.tryResolve(this.normalize(to), true);
    if (dst?.node.kind === 'dir') throw new VfsError('EISDIR', this.normalize(to));
    this.writeFile(to, data, { uid, mode: dst ? undefined : src.node.perm & 0o777 });
  }

  /** Creates `path` as a symlink to `target`. */
  symlink(target: string, path: string, uid = 0): void {
    const { dir, name, abs } = this.parentOf(path, uid);
    if ((dir.node as DirNode).children.has(name)) throw new VfsError('EEXIST', abs);
    this.checkCreate(dir, uid, abs);
    const node: LinkNode = { ...this.baseFields(0o777, uid, uid, dir.node.label), kind: 'symlink', target };
    (dir.node as DirNode).children.set(name, node);
    this.touchDir(dir.node);
  }

  /** Hard link: `path` becomes another name for the file `existing`. */
  link(existing: string, path: string, uid = 0): void {
    const src = this.resolve(existing, false, uid);
    if (src.node.kind === 'dir') throw new VfsError('EPERM', src.path);
    const { dir, name, abs } = this.parentOf(path, uid);
    if ((dir.node as DirNode).children.has(name)) throw new VfsError('EEXIST', abs);
    this.checkCreate(dir, uid, abs);
    (dir.node as DirNode).children.set(name, src.node);
    src.node.nlink++;
    src.node.ctime = this.now();
  }

  readlink(path: string): string {
    const loc = this.resolve(path, false, 0);
    if (loc.node.kind !== 'symlink') throw new VfsError('EINVAL', loc.path);
    return loc.node.target;
  }

  chmod(path: string, mode: number, uid = 0): void {
    const loc = this.toChange(path, true, uid, true);
    loc.node.perm = mode & 0o7777;
    loc.node.ctime = this.now();
  }

  /** Root only. -1 leaves owner or group unchanged. */
  chown(path: string, owner: number, group: number, uid = 0): void {
    this.setOwner(path, true, owner, group, uid).ctime = this.now();
  }

  /** chown without following a final symlink (`chown -h`); the change time is left as it was. */
  lchown(path: string, owner: number, group: number, uid = 0): void {
    this.setOwner(path, false, owner, group, uid);
  }

  /** chown and lchown: the ownership change (root only), returning the node changed. */
  private setOwner(path: string, follow: boolean, owner: number, group: number, uid: number): Node {
    const loc = this.toChange(path, follow, uid);
    if (owner >= 0) loc.node.uid = owner;
    if (group >= 0) loc.node.gid = group;
    return loc.node;
  }

  /** chcon: root only. */
  setLabel(path: string, label: string, uid = 0): void {
    const loc = this.toChange(path, true, uid);
    if (!/^[a-z0-9_]+:[a-z0-9_]+:[a-z0-9_]+:s0(:c[0-9,c.]+)?$/i.test(label))
      throw new VfsError('EINVAL', loc.path);
    loc.node.label = label;
    loc.node.ctime = this.now();
  }

  /**
   * The place a metadata change (chmod, chown, chcon) applies to: resolved, on a writable mount,
   * and `uid` allowed to make it (root, or with `ownerMay` also the node's owner), else EPERM.
   */
  private toChange(path: string, follow: boolean, uid: number, ownerMay = false): Loc {
    const loc = this.resolve(path, follow, uid);
    this.checkWritable(loc.mount, loc.path);
    if (uid !== 0 && !(ownerMay && uid === loc.node.uid)) throw new VfsError('EPERM', loc.path);
    return loc;
  }

  // ---------------------------------------------------------------- mounts

  mount(opts: {
    source: string;
    target: string;
    type: 'tmpfs' | 'bind';
    readOnly?: boolean;
    uid?: number;
  }): void {
    const uid = opts.uid ?? 0;
    if (uid !== 0) throw new VfsError('EPERM', opts.target);
    const target = this.resolve(opts.target, true, uid);
    // The mount the new one attaches to: the one the target lies on (the top one when the target
    // is itself a mount point).
    const parent = target.mount;
    if (opts.type === 'tmpfs') {
      if (target.node.kind !== 'dir') throw new VfsError('ENOTDIR', target.path);
      const root: DirNode = {
        ...this.baseFields(0o755, 0, 0, LABELS.tmpfs),
        kind: 'dir',
        children: new Map(),
      };
      const m = this.makeMount(
        opts.source || 'tmpfs',
        target.path,
        'tmpfs',
        'seclabel,relatime',
        root,
        'tmpfs',
        !!opts.readOnly,
      );
      // sharedsubtree.rst: a mount on a shared mount is shared (a new peer group); else private.
      if (parent.shared !== undefined) m.shared = this.shared.nextGroup++;
      this.addMount(m, parent);
      return;
    }
    const source = this.resolve(opts.source, true, uid);
    if (source.node.kind === 'dir' && target.node.kind !== 'dir') throw new VfsError('ENOTDIR', target.path);
    if (source.node.kind !== 'dir' && target.node.kind === 'dir') throw new VfsError('EISDIR', target.path);
    const m = this.makeMount(
      source.mount.source,
      target.path,
      source.mount.fstype,
      source.mount.extraOptions,
      source.node,
      'bind',
      !!opts.readOnly,
    );
    m.dev = source.mount.dev;
    m.bindSource = source.path;
    const inner = relativeTo(source.mount.target, source.path) || '/';
    m.fsRoot =
      source.mount.fsRoot === '/' ? inner : inner === '/' ? source.mount.fsRoot : source.mount.fsRoot + inner;
    // sharedsubtree.rst §5b (bind): a bind of a shared mount joins the source's peer group; of a
    // slave, it is a slave of the same master; onto a shared destination it is shared (a new
    // group when the source was not) and propagates to the destination's peers and slaves.
    if (source.mount.shared !== undefined) m.shared = source.mount.shared;
    else if (parent.shared !== undefined) m.shared = this.shared.nextGroup++;
    if (source.mount.master !== undefined) m.master = source.mount.master;
    this.addMount(m, parent);
  }

  /**
   * Changes the read-only flag of the mount at `target` (`mount -o remount,rw /system`). Without
   * MS_BIND a remount changes the superblock: every mount of that filesystem in every namespace.
   */
  remount(target: string, opts: { readOnly: boolean; uid?: number }): void {
    const uid = opts.uid ?? 0;
    if (uid !== 0) throw new VfsError('EPERM', target);
    const loc = this.resolve(target, true, uid);
    if (loc.mount.target !== loc.path) throw new VfsError('EINVAL', loc.path);
    const dev = loc.mount.dev;
    for (const ns of this.shared.namespaces) {
      for (const m of ns.table.list()) if (m.dev === dev) m.readOnly = opts.readOnly;
    }
    loc.mount.readOnly = opts.readOnly;
  }

  umount(target: string, uid = 0): void {
    if (uid !== 0) throw new VfsError('EPERM', target);
    const loc = this.resolve(target, true, uid);
    const top = this.table.top(loc.path);
    if (!top || loc.mount !== top) throw new VfsError('EINVAL', loc.path);
    if (top.kind === 'base') throw new VfsError('EBUSY', loc.path);
    if (this.table.hasMountBelow(loc.path)) throw new VfsError('EBUSY', loc.path);
    this.detach(this.namespace, top);
    // fs/pnode.c propagate_umount: the copies on the parent's peers and slaves go too (those that
    // nothing else is mounted on).
    const parent = top.parent;
    if (parent?.shared === undefined) return;
    const origin = top.origin ?? top;
    const rel = relativeTo(parent.target, top.target);
    this.forEachReceiver(parent, (ns, q) => {
      const at = q.target === '/' ? rel || '/' : q.target + rel;
      const copy = ns.table
        .stackAt(at)
        .find((x) => x.parent === q && (x.origin ?? x) === origin && x.kind !== 'base');
      if (!copy) return;
      // Busy when something is mounted below it; a mount on top of it at the same place (one it
      // was tucked under) just falls back onto the parent (Linux 4.11+ propagate_umount).
      const busy = ns.table.list().some((x) => x.parent === copy && x.target !== at);
      if (!busy) this.detach(ns, copy);
    });
  }

  mounts(): MountEntry[] {
    return this.table.list().map((m) => {
      const e: MountEntry = {
        source: m.source,
        target: m.target,
        type: m.fstype,
        options: (m.readOnly ? 'ro' : 'rw') + (m.extraOptions ? `,${m.extraOptions}` : ''),
        kind: m.kind,
      };
      if (m.bindSource !== undefined) e.bindSource = m.bindSource;
      return e;
    });
  }

  /** The text of /proc/mounts. */
  procMounts(): string {
    return this.mounts()
      .map((m) => `${m.source} ${m.target} ${m.type} ${m.options} 0 0\n`)
      .join('');
  }

  /**
   * The text of /proc/PID/mountinfo (proc(5)): mount id, parent id, major:minor, root, mount point,
   * per-mount options, optional fields (`shared:N`, `master:N`), `-`, type, source, superblock
   * options.
   */
  procMountinfo(): string {
    return this.table
      .list()
      .map((m) => {
        const opts = m.extraOptions ? m.extraOptions.split(',') : [];
        const perMount = [m.readOnly ? 'ro' : 'rw', ...opts.filter((o) => PER_MOUNT_FLAGS.has(o))];
        const superOpts = [m.readOnly ? 'ro' : 'rw', ...opts.filter((o) => !PER_MOUNT_FLAGS.has(o))];
        const tags: string[] = [];
        if (m.shared !== undefined) tags.push(`shared:${m.shared}`);
        if (m.master !== undefined) tags.push(`master:${m.master}`);
        const fields = [
          String(m.id),
          String(m.parent?.id ?? 1),
          `${m.dev >> 8}:${m.dev & 0xff}`,
          m.fsRoot,
          m.target,
          perMount.join(','),
          ...tags,
          '-',
          m.fstype,
          m.source,
          superOpts.join(','),
        ];
        return `${fields.join(' ')}\n`;
      })
      .join('');
  }

  /** Undoes every mount made after construction and restores the boot read-only flags. */
  onReboot(): void {
    for (const ns of this.shared.namespaces) {
      for (const m of ns.table.list().reverse()) {
        if (m.kind !== 'base') ns.table.remove(m);
      }
      for (const m of ns.table.list()) m.readOnly = m.bootReadOnly;
    }
  }

  /**
   * Runs `fn` with read-only mounts and permission checks disabled: for building the firmware
   * image (files under /system, /vendor …) before the phone boots.
   */
  provision<T>(fn: () => T): T {
    this.shared.bypass++;
    try {
      return fn();
    } finally {
      this.shared.bypass--;
    }
  }

  /** The mount table path resolution goes through (that of {@link Vfs.namespace}). */
  get mountTable(): MountTable {
    return this.table;
  }

  // ---------------------------------------------------------------- mount namespaces

  /** The namespace this Vfs resolves through now. */
  get namespace(): MountNamespace {
    if (this.pinned) return this.pinned;
    const cur = entered.getStore();
    return cur && cur.shared === this.shared ? cur.ns : this.shared.init;
  }

  get initNamespace(): MountNamespace {
    return this.shared.init;
  }

  /** Live namespaces, init first. */
  namespaces(): MountNamespace[] {
    return [...this.shared.namespaces].sort((a, b) => a.id - b.id);
  }

  /**
   * A new namespace holding a copy of `from`'s mounts as they are now (clone(CLONE_NEWNS) /
   * unshare -m). `propagation`: 'preserve' (the syscall's default: copies of shared mounts join
   * their peer groups, copies of slaves receive from the same masters), 'slave' (then
   * `mount --make-rslave /`, as the zygote does: shared copies become slaves of their groups) or
   * 'private' (`--make-rprivate /`, as Magisk's isolated su sessions do).
   */
  cloneNamespace(
    from: MountNamespace = this.namespace,
    propagation: CopyPropagation = 'preserve',
  ): MountNamespace {
    const table = from.table.cloneWith((m) => {
      // The copy is the "same" mount for unmount propagation as the one it copies.
      const c: Mount = { ...m, id: this.shared.nextMountId++, origin: m.origin ?? m };
      if (propagation === 'private') {
        delete c.shared;
        delete c.master;
      } else if (propagation === 'slave' && m.shared !== undefined) {
        c.master = m.shared;
        delete c.shared;
      }
      return c;
    });
    const ns = new MountNamespace(this.shared.nextNsId++, table);
    this.shared.namespaces.add(ns);
    return ns;
  }

  /** Forgets a namespace (its last process exited). The init namespace stays. */
  releaseNamespace(ns: MountNamespace): void {
    if (!ns.isInit) this.shared.namespaces.delete(ns);
  }

  /** This filesystem as seen from `ns` (shares everything but the mount table). */
  inNamespace(ns: MountNamespace): Vfs {
    if (ns.isInit) return this.shared.root;
    let view = this.shared.views.get(ns);
    if (!view) {
      view = Object.create(Vfs.prototype) as Vfs;
      Object.assign(view, {
        shared: this.shared,
        pinned: ns,
        now: this.now,
        maxFileBytes: this.maxFileBytes,
      });
      this.shared.views.set(ns, view);
    }
    return view;
  }

  /**
   * Runs `fn` with this Vfs (and every view not pinned) resolving through `ns`, for `fn` and
   * everything it starts asynchronously: what `nsenter --mount` does for its command.
   */
  runInNamespace<T>(ns: MountNamespace, fn: () => T): T {
    return entered.run({ shared: this.shared, ns }, fn);
  }

  private get table(): MountTable {
    return this.namespace.table;
  }

  /** Attaches a new mount to `parent` in the current namespace, and propagates it. */
  private addMount(m: Mount, parent: Mount): void {
    const ns = this.namespace;
    this.attach(ns, m, parent);
    if (parent.shared === undefined) return;
    // fs/pnode.c propagate_mnt: every peer of the parent gets a copy in the new mount's peer group;
    // every slave gets a copy that is a slave of it (and, when that slave is shared too, its
    // peers get copies in a new group that is a slave of the same; recursively).
    const rel = relativeTo(parent.target, m.target);
    const origin = m;
    this.forEachReceiver(
      parent,
      (ns2, q, level) => {
        const at = q.target === '/' ? rel || '/' : q.target + rel;
        if (!this.existsOn(q, rel)) return;
        const copy: Mount = { ...m, id: this.shared.nextMountId++, target: at, parent: q, origin };
        delete copy.shared;
        delete copy.master;
        if (level.peer) {
          if (level.copyGroup !== undefined) copy.shared = level.copyGroup;
          if (level.copyMaster !== undefined) copy.master = level.copyMaster;
        } else {
          if (level.copyGroup !== undefined) copy.master = level.copyGroup;
          if (q.shared !== undefined) copy.shared = level.groupFor(q.shared);
        }
        this.attach(ns2, copy, q);
      },
      m,
    );
  }

  /** Puts `m` on `parent` in `ns`: on top of its target, or tucked beneath mounts already there. */
  private attach(ns: MountNamespace, m: Mount, parent: Mount): void {
    m.parent = parent;
    const stack = ns.table.stackAt(m.target);
    const above = stack.find((x) => x.parent === parent);
    if (above && above !== m) {
      // A mount already sits on `parent` here: the new one goes beneath it (its new parent).
      ns.table.insertAbove(m, parent.target === m.target ? parent : undefined);
      above.parent = m;
      return;
    }
    ns.table.insertAbove(m, stack[stack.length - 1]);
  }

  /** Removes `m` from `ns`; what was stacked on it falls back onto its parent. */
  private detach(ns: MountNamespace, m: Mount): void {
    ns.table.remove(m);
    for (const x of ns.table.stackAt(m.target)) if (x.parent === m) x.parent = m.parent;
  }

  /** Whether `rel` (a path below `q`'s mount point) exists in q's own tree (no mount crossed). */
  private existsOn(q: Mount, rel: string): boolean {
    let node: Node = q.root;
    for (const part of rel.split('/').filter(Boolean)) {
      if (node.kind !== 'dir') return false;
      const next = node.children.get(part);
      if (!next) return false;
      node = next;
    }
    return true;
  }

  /**
   * Calls `fn` for every mount that receives propagation from `parent`'s peer group, in every
   * live namespace: its peers, its slaves, and (through slaves that are shared too) theirs.
   * `level` says whether the receiver is a peer and which groups copies made there join.
   */
  private forEachReceiver(
    parent: Mount,
    fn: (
      ns: MountNamespace,
      q: Mount,
      level: {
        peer: boolean;
        copyGroup: number | undefined;
        copyMaster: number | undefined;
        groupFor: (g: number) => number;
      },
    ) => void,
    newMount?: Mount,
  ): void {
    if (parent.shared === undefined) return;
    const done = new Set<Mount>([parent]);
    const mapped = new Map<number, number>();
    const queue: Array<{ group: number; copyGroup: number | undefined; copyMaster: number | undefined }> = [
      { group: parent.shared, copyGroup: newMount?.shared, copyMaster: newMount?.master },
    ];
    const seenGroups = new Set<number>();
    while (queue.length > 0) {
      const lv = queue.shift()!;
      if (seenGroups.has(lv.group)) continue;
      seenGroups.add(lv.group);
      const groupFor = (g: number): number => {
        let n = mapped.get(g);
        if (n === undefined) {
          n = this.shared.nextGroup++;
          mapped.set(g, n);
          queue.push({ group: g, copyGroup: n, copyMaster: lv.copyGroup });
        }
        return n;
      };
      for (const ns of this.namespaces()) {
        for (const q of ns.table.list()) {
          if (done.has(q)) continue;
          const peer = q.shared === lv.group;
          if (!peer && q.master !== lv.group) continue;
          done.add(q);
          if (!peer && q.shared !== undefined && !newMount) {
            // Unmounts walk on through shared slaves without making groups.
            queue.push({ group: q.shared, copyGroup: undefined, copyMaster: undefined });
          }
          fn(ns, q, { peer, copyGroup: lv.copyGroup, copyMaster: lv.copyMaster, groupFor });
        }
      }
    }
  }

  // ---------------------------------------------------------------- internals

  private buildBase(): void {
    const root: DirNode = { ...this.baseFields(0o755, 0, 0, LABELS.root), kind: 'dir', children: new Map() };
    const rootMount = this.makeMount('/dev/block/dm-0', '/', 'ext4', 'seclabel,relatime', root, 'base', true);
    this.table.push(rootMount);
    this.provision(() => {
      const dirs: Array<[string, number, number, number, string]> = [
        ['/acct', 0o555, 0, 0, LABELS.root],
        ['/apex', 0o755, 0, 0, LABELS.apex],
        ['/cache', 0o770, 1000, 2001, LABELS.root],
        ['/config', 0o500, 0, 0, LABELS.root],
        ['/data', 0o771, 1000, 1000, LABELS.data],
        ['/dev', 0o755, 0, 0, LABELS.device],
        ['/mnt', 0o755, 0, 1000, LABELS.mnt],
        ['/odm', 0o755, 0, 0, LABELS.vendor],
        ['/oem', 0o755, 0, 0, LABELS.root],
        ['/proc', 0o555, 0, 0, LABELS.proc],
        ['/product', 0o755, 0, 0, LABELS.system],
        ['/storage', 0o755, 0, 0, LABELS.storage],
        ['/sys', 0o755, 0, 0, LABELS.sysfs],
        ['/system', 0o755, 0, 0, LABELS.system],
        ['/system_ext', 0o755, 0, 0, LABELS.system],
        ['/vendor', 0o755, 0, 0, LABELS.vendor],
      ];
      for (const [path, mode, uid, gid, label] of dirs)
        this.mkdirRaw(root, path.slice(1), mode, uid, gid, label);
      this.symlink('/storage/self/primary', '/sdcard');
    });

    const baseMount = (
      source: string,
      target: string,
      fstype: string,
      extra: string,
      ro: boolean,
      rootNode: { perm: number; uid: number; gid: number; label: string },
    ): Mount => {
      const dir: DirNode = {
        ...this.baseFields(rootNode.perm, rootNode.uid, rootNode.gid, rootNode.label),
        kind: 'dir',
        children: new Map(),
      };
      const m = this.makeMount(source, target, fstype, extra, dir, 'base', ro);
      this.table.push(m);
      return m;
    };
    const sys = { perm: 0o755, uid: 0, gid: 0, label: LABELS.system };
    baseMount(
      'tmpfs',
      '/dev',
      'tmpfs',
      'seclabel,nosuid,relatime,size=3791612k,nr_inodes=947903,mode=755',
      false,
      {
        perm: 0o755,
        uid: 0,
        gid: 0,
        label: LABELS.device,
      },
    );
    baseMount('proc', '/proc', 'proc', 'relatime,gid=3009,hidepid=2', false, {
      perm: 0o555,
      uid: 0,
      gid: 0,
      label: LABELS.proc,
    });
    baseMount('sysfs', '/sys', 'sysfs', 'seclabel,relatime', false, {
      perm: 0o755,
      uid: 0,
      gid: 0,
      label: LABELS.sysfs,
    });
    baseMount('/dev/block/dm-1', '/system', 'ext4', 'seclabel,relatime', true, sys);
    baseMount('/dev/block/dm-2', '/vendor', 'ext4', 'seclabel,relatime', true, {
      ...sys,
      label: LABELS.vendor,
    });
    baseMount('/dev/block/dm-3', '/product', 'ext4', 'seclabel,relatime', true, sys);
    baseMount('/dev/block/dm-4', '/system_ext', 'ext4', 'seclabel,relatime', true, sys);
    baseMount('tmpfs', '/apex', 'tmpfs', 'seclabel,nosuid,nodev,noexec,relatime,mode=755', false, {
      perm: 0o755,
      uid: 0,
      gid: 0,
      label: LABELS.apex,
    });
    baseMount(
      '/dev/block/dm-5',
      '/data',
      'f2fs',
      'lazytime,seclabel,nosuid,nodev,noatime,background_gc=on,discard,reserve_root=32768,resuid=0,resgid=1065,inline_xattr,inline_data,active_logs=6,fsync_mode=nobarrier',
      false,
      { perm: 0o771, uid: 1000, gid: 1000, label: LABELS.data },
    );
    // /mnt and /storage: two tmpfs mounts alike but for their SELinux label.
    for (const [target, label] of [
      ['/mnt', LABELS.mnt],
      ['/storage', LABELS.storage],
    ] as const) {
      baseMount(
        'tmpfs',
        target,
        'tmpfs',
        'seclabel,nosuid,nodev,noexec,relatime,size=3791612k,nr_inodes=947903,mode=755,gid=1000',
        false,
        { perm: 0o755, uid: 0, gid: 1000, label },
      );
    }

    this.provision(() => {
      // Directories inside the base mounts.
      this.mkdir('/apex/com.android.conscrypt');
      this.mkdir('/apex/com.android.runtime');
      this.mkdir('/storage/emulated', { mode: 0o755 });
      this.mkdir('/storage/self', { mode: 0o755 });
      this.mkdir('/system/bin');
      this.mkdir('/system/etc');
      this.mkdir('/system/xbin');
      this.mkdir('/vendor/bin');
      this.mkdir('/product/bin');
      this.mkdir('/data/local', { mode: 0o751, uid: 0, gid: 0 });
      this.mkdir('/data/local/tmp', { mode: 0o771, uid: 2000, gid: 2000 });
      this.setLabel('/data/local/tmp', LABELS.shellData);
      this.mkdir('/data/data', { mode: 0o771, uid: 1000, gid: 1000 });
      this.mkdir('/data/app', { mode: 0o771, uid: 1000, gid: 1000 });
      this.mkdir('/data/system', { mode: 0o775, uid: 1000, gid: 1000 });
      this.mkdir('/data/user', { mode: 0o711, uid: 1000, gid: 1000 });
      this.mkdir('/data/media', { mode: 0o770, uid: 1023, gid: 1023 });
      this.mkdir('/data/media/0', { mode: 0o770, uid: 1023, gid: 1023 });
      this.symlink('/data/data', '/data/user/0');
      this.symlink('/storage/emulated/0', '/storage/self/primary');
    });
    // Conscrypt APEX (the CA store of Android 14+) is its own read-only image.
    const conscrypt: DirNode = {
      ...this.baseFields(0o755, 0, 0, LABELS.system),
      kind: 'dir',
      children: new Map(),
    };
    this.table.push(
      this.makeMount(
        '/dev/block/loop3',
        '/apex/com.android.conscrypt',
        'ext4',
        'dirsync,seclabel,nodev,noatime',
        conscrypt,
        'base',
        true,
      ),
    );
    // Shared storage: FUSE over /data/media, as on Android 11+.
    // The FUSE root shows /data/media's entries with its own attributes.
    const media = this.resolve('/data/media', true, 0).node as DirNode;
    const fuseRoot: DirNode = {
      ...this.baseFields(0o711, 0, 1015, LABELS.fuse),
      kind: 'dir',
      children: media.children,
    };
    const fuse = this.makeMount(
      '/dev/fuse',
      '/storage/emulated',
      'fuse',
      'lazytime,nosuid,nodev,noexec,noatime,user_id=0,group_id=0,allow_other',
      fuseRoot,
      'base',
      false,
    );
    this.table.push(fuse);
    this.provision(() => {
      // What apps and `adb shell` see through FUSE: owned by root, group sdcard_rw, 0770.
      const zero = this.resolve('/storage/emulated/0', true, 0).node;
      zero.uid = 0;
      zero.gid = 1015;
      zero.perm = 0o770;
      zero.label = LABELS.fuse;
      for (const d of ['Android', 'DCIM', 'Download', 'Pictures', 'Music', 'Movies', 'Documents']) {
        this.mkdir(`/storage/emulated/0/${d}`, { mode: 0o770, uid: 0, gid: 1015 });
      }
      this.mkdir('/storage/emulated/0/Android/data', { mode: 0o770, uid: 0, gid: 1015 });

      const devNull: FileNode = {
        ...this.baseFields(0o666, 0, 0, LABELS.nullDevice),
        kind: 'file',
        data: Buffer.alloc(0),
        size: 0,
        device: { kind: 'null', rdev: (1 << 8) | 3 },
      };
      const devZero: FileNode = {
        ...devNull,
        ino: this.shared.nextIno++,
        label: 'u:object_r:zero_device:s0',
        device: { kind: 'zero', rdev: (1 << 8) | 5 },
      };
      const devUrandom: FileNode = {
        ...devNull,
        ino: this.shared.nextIno++,
        label: 'u:object_r:random_device:s0',
        device: { kind: 'urandom', rdev: (1 << 8) | 9 },
      };
      const dev = this.resolve('/dev', true, 0).node as DirNode;
      dev.children.set('null', devNull);
      dev.children.set('zero', devZero);
      dev.children.set('urandom', devUrandom);
      dev.children.set('random', {
        ...devUrandom,
        ino: this.shared.nextIno++,
        device: { kind: 'urandom', rdev: (1 << 8) | 8 },
      });
      this.defineDynamicFile('/proc/mounts', (fs) => fs.procMounts());
      this.defineDynamicFile('/proc/self/mounts', (fs) => fs.procMounts());
      this.defineDynamicFile(
        '/proc/filesystems',
        () => 'nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\nnodev\tfuse\n\tf2fs\n',
      );
      this.defineDynamicFile('/proc/self/mountinfo', (fs) => fs.procMountinfo());
    });
    // Each base mount sits on the nearest mount above it; all are shared (each in a peer group of
    // its own) but /apex and the APEX images, which init made private (SetupMountNamespaces()).
    const placed: Mount[] = [];
    for (const m of this.table.list()) {
      let parent: Mount | undefined;
      for (const p of placed) {
        const covers = p.target === '/' || m.target === p.target || m.target.startsWith(`${p.target}/`);
        if (covers && (!parent || p.target.length >= parent.target.length)) parent = p;
      }
      m.parent = parent;
      if (!isPrivatePath(m.target)) m.shared = this.shared.nextGroup++;
      placed.push(m);
    }
  }

  private makeMount(
    source: string,
    target: string,
    fstype: string,
    extraOptions: string,
    root: Node,
    kind: Mount['kind'],
    readOnly: boolean,
  ): Mount {
    return {
      id: this.shared.nextMountId++,
      source,
      target,
      fstype,
      extraOptions,
      readOnly,
      bootReadOnly: readOnly,
      root,
      dev: this.shared.nextDev++,
      kind,
      fsRoot: '/',
      parent: undefined,
    };
  }

  private mkdirRaw(
    parent: DirNode,
    name: string,
    perm: number,
    uid: number,
    gid: number,
    label: string,
  ): DirNode {
    const d: DirNode = { ...this.baseFields(perm, uid, gid, label), kind: 'dir', children: new Map() };
    parent.children.set(name, d);
    return d;
  }

  private mkdirOne(abs: string, mode: number, uid: number, gid: number): void {
    const { dir: dirPath, name } = splitParent(abs);
    const dir = this.resolve(dirPath, true, uid);
    if (dir.node.kind !== 'dir') throw new VfsError('ENOTDIR', abs);
    if (dir.node.children.has(name)) throw new VfsError('EEXIST', abs);
    this.checkCreate(dir, uid, abs);
    this.mkdirRaw(dir.node, name, mode & 0o7777, uid, gid, dir.node.label);
    this.touchDir(dir.node);
  }

  private baseFields(perm: number, uid: number, gid: number, label: string): NodeBase {
    const now = this.now();
    return {
      ino: this.shared.nextIno++,
      perm,
      uid,
      gid,
      atime: now,
      mtime: now,
      ctime: now,
      label,
      nlink: 1,
    };
  }

  private appendBytes(node: FileNode, bytes: Uint8Array): void {
    const need = node.size + bytes.length;
    if (need > node.data.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, node.data.length * 2, 256));
      node.data.copy(grown, 0, 0, node.size);
      node.data = grown;
    }
    node.data.set(bytes, node.size);
    node.size = need;
  }

  private touchDir(dir: Node): void {
    dir.mtime = dir.ctime = this.now();
  }

  private can(node: Node, uid: number, want: number): boolean {
    if (uid === 0 || this.shared.bypass) return true;
    let bits: number;
    if (node.uid === uid) bits = (node.perm >> 6) & 7;
    else if (groupsOf(uid).includes(node.gid)) bits = (node.perm >> 3) & 7;
    else bits = node.perm & 7;
    return (bits & want) === want;
  }

  private checkWritable(mount: Mount, path: string): void {
    if (mount.readOnly && !this.shared.bypass) throw new VfsError('EROFS', path);
  }

  private checkCreate(dir: Loc, uid: number, abs: string): void {
    if (dir.node.kind !== 'dir') throw new VfsError('ENOTDIR', abs);
    this.checkWritable(dir.mount, abs);
    if (!this.can(dir.node, uid, W_OK | X_OK)) throw new VfsError('EACCES', abs);
  }

  private checkDelete(dir: Loc, node: Node, uid: number, abs: string): void {
    this.checkCreate(dir, uid, abs);
    // Sticky directories: only the owner of the entry (or of the directory) may remove it.
    if (
      dir.node.perm & 0o1000 &&
      uid !== 0 &&
      !this.shared.bypass &&
      uid !== node.uid &&
      uid !== dir.node.uid
    ) {
      throw new VfsError('EPERM', abs);
    }
  }

  private emptyDir(dir: DirNode, uid: number, abs: string): void {
    if (!this.can(dir, uid, W_OK | X_OK)) throw new VfsError('EACCES', abs);
    for (const [name, child] of dir.children) {
      if (child.kind === 'dir') this.emptyDir(child, uid, `${abs}/${name}`);
      dir.children.delete(name);
      child.nlink = Math.max(0, child.nlink - 1);
    }
  }

  private parentOf(path: string, uid: number): { dir: Loc; name: string; abs: string } {
    const abs = this.normalize(path);
    if (abs === '/') throw new VfsError('EBUSY', abs);
    const { dir: dirPath, name } = splitParent(abs);
    const dir = this.resolve(dirPath, true, uid);
    if (dir.node.kind !== 'dir') throw new VfsError('ENOTDIR', abs);
    return { dir, name, abs };
  }

  private rootLoc(): Loc {
    const m = this.table.top('/')!;
    return { node: m.root, path: '/', mount: m };
  }

  private child(dir: Loc, name: string): Loc | undefined {
    if (dir.node.kind !== 'dir') return undefined;
    const n = dir.node.children.get(name);
    if (!n) return undefined;
    const path = joinPath(dir.path, name);
    const m = this.table.top(path);
    if (m) return { node: m.root, path, mount: m };
    return { node: n, path, mount: dir.mount };
  }

  private tryResolve(path: string, follow: boolean): Loc | null {
    try {
      return this.resolve(path, follow, 0);
    } catch {
      return null;
    }
  }

  /** Walks `path` component by component, through mounts and symlinks. */
  private resolve(path: string, follow: boolean, uid: number): Loc {
    const abs = this.normalize(path);
    const root = this.rootLoc();
    let cur = root;
    const stack: Loc[] = [];
    const queue = abs.split('/').filter(Boolean).reverse();
    let links = 0;
    while (queue.length > 0) {
      const name = queue.pop()!;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        cur = stack.pop() ?? root;
        continue;
      }
      if (cur.node.kind !== 'dir') throw new VfsError('ENOTDIR', abs);
      if (!this.can(cur.node, uid, X_OK)) throw new VfsError('EACCES', abs);
      const next = this.child(cur, name);
      if (!next) throw new VfsError('ENOENT', abs);
      if (next.node.kind === 'symlink' && (follow || queue.length > 0)) {
        if (++links > 40) throw new VfsError('ELOOP', abs);
        const target = next.node.target;
        if (target.startsWith('/')) {
          cur = root;
          stack.length = 0;
        }
        const parts = target.split('/').filter(Boolean);
        for (let i = parts.length - 1; i >= 0; i--) queue.push(parts[i]!);
        continue;
      }
      stack.push(cur);
      cur = next;
    }
    return cur;
  }

  private statOf(loc: Loc): VfsStat {
    const n = loc.node;
    let type: VfsStat['type'];
    let fmt: number;
    let size: number;
    let nlink = n.nlink;
    let rdev = 0;
    if (n.kind === 'dir') {
      type = 'dir';
      fmt = S_IFDIR;
      size = 4096;
      nlink = 2;
      for (const c of n.children.values()) if (c.kind === 'dir') nlink++;
    } else if (n.kind === 'symlink') {
      type = 'symlink';
      fmt = S_IFLNK;
      size = Buffer.byteLength(n.target);
    } else {
      type = 'file';
      fmt = n.device ? S_IFCHR : S_IFREG;
      size = n.device || n.generate ? 0 : n.size;
      rdev = n.device?.rdev ?? 0;
    }
    return {
      type,
      mode: fmt | n.perm,
      size,
      uid: n.uid,
      gid: n.gid,
      atime: n.atime,
      mtime: n.mtime,
      ctime: n.ctime,
      ino: n.ino,
      dev: loc.mount.dev,
      nlink,
      label: n.label,
      rdev,
    };
  }
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
