import assert from 'node:assert/strict';
import {
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  Vfs,
  VfsError,
  type VfsErrorCode,
} from '../../../../src/virtual/os/vfs.ts';

function code(fn: () => unknown): VfsErrorCode | 'none' {
  try {
    fn();
    return 'none';
  } catch (e) {
    if (e instanceof VfsError) return e.code;
    throw e;
  }
}

const SHELL = 2000;

describe('Vfs', () => {
  let fs: Vfs;
  beforeEach(() => {
    fs = new Vfs();
  });

  describe('paths', () => {
    it('normalizes //, ., .. and trailing slashes', () => {
      assert.equal(fs.normalize('/a//b/./c/../d/'), '/a/b/d');
      assert.equal(fs.normalize('x/y', '/data/local'), '/data/local/x/y');
      assert.equal(fs.normalize('../../../..', '/a'), '/');
      assert.equal(fs.normalize('/'), '/');
      assert.equal(fs.normalize(''), '/');
    });

    it('follows /sdcard to shared storage', () => {
      assert.equal(fs.lstat('/sdcard')?.type, 'symlink');
      assert.equal(fs.stat('/sdcard')?.type, 'dir');
      assert.equal(fs.realpath('/sdcard'), '/storage/emulated/0');
      fs.writeFile('/sdcard/Download/a.txt', 'hi', { uid: SHELL });
      assert.equal(fs.readFile('/storage/emulated/0/Download/a.txt').toString(), 'hi');
      assert.equal(fs.readFile('/data/media/0/Download/a.txt').toString(), 'hi');
    });
  });

  describe('files and directories', () => {
    it('writes, appends and reads', () => {
      fs.writeFile('/data/local/tmp/f', 'abc');
      fs.writeFile('/data/local/tmp/f', Buffer.from('def'), { append: true });
      assert.equal(fs.readFile('/data/local/tmp/f').toString(), 'abcdef');
      const st = fs.stat('/data/local/tmp/f')!;
      assert.equal(st.type, 'file');
      assert.equal(st.size, 6);
      assert.equal(st.mode, S_IFREG | 0o644);
      assert.equal(st.label, 'u:object_r:shell_data_file:s0');
    });

    it('reports errors with Android messages', () => {
      assert.equal(
        code(() => fs.readFile('/nope')),
        'ENOENT',
      );
      assert.equal(
        code(() => fs.readFile('/data/local/tmp')),
        'EISDIR',
      );
      try {
        fs.readFile('/nope');
      } catch (e) {
        assert.ok(e instanceof VfsError);
        assert.equal(e.message, 'No such file or directory');
        assert.equal(e.path, '/nope');
      }
      assert.equal(new VfsError('EROFS', '/x').message, 'Read-only file system');
      assert.equal(new VfsError('EBUSY', '/x').message, 'Device or resource busy');
    });

    it('mkdir -p, EEXIST, ENOENT and ENOTDIR', () => {
      fs.mkdir('/data/local/tmp/a/b/c', { parents: true, uid: SHELL });
      assert.equal(fs.stat('/data/local/tmp/a/b/c')?.uid, SHELL);
      fs.mkdir('/data/local/tmp/a/b/c', { parents: true });
      assert.equal(
        code(() => fs.mkdir('/data/local/tmp/a')),
        'EEXIST',
      );
      assert.equal(
        code(() => fs.mkdir('/data/local/tmp/x/y')),
        'ENOENT',
      );
      fs.writeFile('/data/local/tmp/file', '');
      assert.equal(
        code(() => fs.mkdir('/data/local/tmp/file/y', { parents: true })),
        'ENOTDIR',
      );
      assert.equal(
        code(() => fs.mkdir('/data/local/tmp/file', { parents: true })),
        'EEXIST',
      );
    });

    it('writeFile mkdirs creates the parents (adb push)', () => {
      fs.writeFile('/data/local/tmp/deep/er/f.bin', 'x', {
        mkdirs: true,
        uid: SHELL,
        gid: SHELL,
        mode: 0o755,
      });
      assert.equal(fs.stat('/data/local/tmp/deep/er')?.type, 'dir');
      assert.equal(fs.stat('/data/local/tmp/deep/er/f.bin')?.mode, S_IFREG | 0o755);
    });

    it('readdir is sorted; rmdir and unlink enforce types', () => {
      for (const n of ['b', 'a', 'C']) fs.writeFile(`/data/local/tmp/${n}`, '');
      fs.mkdir('/data/local/tmp/d');
      fs.writeFile('/data/local/tmp/d/x', '');
      assert.deepEqual(fs.readdir('/data/local/tmp'), ['C', 'a', 'b', 'd']);
      assert.equal(
        code(() => fs.unlink('/data/local/tmp/d')),
        'EISDIR',
      );
      assert.equal(
        code(() => fs.rmdir('/data/local/tmp/a')),
        'ENOTDIR',
      );
      assert.equal(
        code(() => fs.rmdir('/data/local/tmp/d')),
        'ENOTEMPTY',
      );
      fs.rmdir('/data/local/tmp/d', { recursive: true });
      assert.equal(fs.exists('/data/local/tmp/d'), false);
      fs.unlink('/data/local/tmp/a');
      assert.equal(
        code(() => fs.unlink('/data/local/tmp/a')),
        'ENOENT',
      );
    });

    it('renames files and directories', () => {
      fs.mkdir('/data/local/tmp/d');
      fs.writeFile('/data/local/tmp/d/f', '1');
      fs.rename('/data/local/tmp/d', '/data/local/tmp/e');
      assert.equal(fs.readFile('/data/local/tmp/e/f').toString(), '1');
      fs.writeFile('/data/local/tmp/g', '2');
      fs.rename('/data/local/tmp/g', '/data/local/tmp/e/f');
      assert.equal(fs.readFile('/data/local/tmp/e/f').toString(), '2');
      assert.equal(
        code(() => fs.rename('/data/local/tmp/e', '/data/local/tmp/e/sub')),
        'EINVAL',
      );
      fs.mkdir('/data/local/tmp/h');
      fs.writeFile('/data/local/tmp/h/x', '');
      assert.equal(
        code(() => fs.rename('/data/local/tmp/e', '/data/local/tmp/h')),
        'ENOTEMPTY',
      );
    });

    it('copies files, symlinks and hard links', () => {
      fs.writeFile('/data/local/tmp/src', 'data', { mode: 0o600 });
      fs.copyFile('/data/local/tmp/src', '/data/local/tmp/dst');
      assert.equal(fs.readFile('/data/local/tmp/dst').toString(), 'data');
      assert.equal(fs.stat('/data/local/tmp/dst')!.mode & 0o777, 0o600);
      fs.symlink('src', '/data/local/tmp/ln');
      assert.equal(fs.readlink('/data/local/tmp/ln'), 'src');
      assert.equal(fs.lstat('/data/local/tmp/ln')?.mode, S_IFLNK | 0o777);
      assert.equal(fs.readFile('/data/local/tmp/ln').toString(), 'data');
      assert.equal(
        code(() => fs.readlink('/data/local/tmp/src')),
        'EINVAL',
      );
      fs.link('/data/local/tmp/src', '/data/local/tmp/hard');
      assert.equal(fs.stat('/data/local/tmp/hard')?.ino, fs.stat('/data/local/tmp/src')?.ino);
      assert.equal(fs.stat('/data/local/tmp/src')?.nlink, 2);
      fs.symlink('/loop2', '/data/local/tmp/loop1');
      fs.provision(() => fs.symlink('/data/local/tmp/loop1', '/loop2'));
      assert.equal(
        code(() => fs.readFile('/data/local/tmp/loop1')),
        'ELOOP',
      );
    });

    it('gives unique inode numbers and full st_mode', () => {
      fs.writeFile('/data/local/tmp/a', '');
      fs.writeFile('/data/local/tmp/b', '');
      assert.notEqual(fs.stat('/data/local/tmp/a')!.ino, fs.stat('/data/local/tmp/b')!.ino);
      assert.equal(fs.stat('/data/local/tmp')!.mode, S_IFDIR | 0o771);
      assert.equal(fs.stat('/dev/null')!.mode, S_IFCHR | 0o666);
    });

    it('/dev/null discards writes and reads empty', () => {
      fs.writeFile('/dev/null', 'junk', { uid: SHELL });
      fs.writeFile('/dev/null', 'junk', { uid: SHELL, append: true });
      assert.equal(fs.readFile('/dev/null', SHELL).length, 0);
    });

    it('appends 5 MB in 64 KiB chunks', () => {
      const chunk = Buffer.alloc(64 * 1024);
      fs.writeFile('/data/local/tmp/big', '', { uid: SHELL });
      for (let i = 0; i < 80; i++) {
        chunk.fill(i);
        fs.writeFile('/data/local/tmp/big', chunk, { append: true, uid: SHELL });
      }
      const data = fs.readFile('/data/local/tmp/big');
      assert.equal(data.length, 80 * 64 * 1024);
      assert.equal(fs.stat('/data/local/tmp/big')!.size, 80 * 64 * 1024);
      assert.equal(data[0], 0);
      assert.equal(data[data.length - 1], 79);
      assert.equal(data[64 * 1024 * 40], 40);
    });
  });

  describe('permissions', () => {
    it('checks owner/group/other bits for non-root', () => {
      assert.equal(
        code(() => fs.readdir('/data', SHELL)),
        'EACCES',
      );
      assert.deepEqual(fs.readdir('/data', 0).includes('local'), true);
      assert.equal(
        code(() => fs.writeFile('/data/system/x', '', { uid: SHELL })),
        'EACCES',
      );
      fs.writeFile('/data/local/tmp/mine', '', { uid: SHELL });
      assert.equal(fs.stat('/data/local/tmp/mine')?.uid, SHELL);
      fs.writeFile('/data/local/tmp/rootonly', 'secret', { mode: 0o600 });
      assert.equal(
        code(() => fs.readFile('/data/local/tmp/rootonly', SHELL)),
        'EACCES',
      );
      assert.equal(fs.access('/data/local/tmp/rootonly', 4, SHELL), false);
      assert.equal(fs.access('/data/local/tmp/mine', 6, SHELL), true);
    });

    it('shell can use shared storage through its sdcard_rw group', () => {
      fs.writeFile('/sdcard/x', 'y', { uid: SHELL });
      assert.deepEqual(fs.readdir('/sdcard', SHELL).includes('x'), true);
      assert.equal(
        code(() => fs.writeFile('/sdcard/z', '', { uid: 10123 })),
        'EACCES',
      );
    });

    it('chmod by owner, chown and chcon by root only', () => {
      fs.writeFile('/data/local/tmp/f', '', { uid: SHELL });
      fs.chmod('/data/local/tmp/f', 0o4755, SHELL);
      assert.equal(fs.stat('/data/local/tmp/f')!.mode & 0o7777, 0o4755);
      assert.equal(
        code(() => fs.chown('/data/local/tmp/f', 0, 0, SHELL)),
        'EPERM',
      );
      fs.chown('/data/local/tmp/f', 1000, -1);
      assert.equal(fs.stat('/data/local/tmp/f')!.uid, 1000);
      assert.equal(fs.stat('/data/local/tmp/f')!.gid, SHELL);
      assert.equal(
        code(() => fs.chmod('/data/local/tmp/f', 0o777, SHELL)),
        'EPERM',
      );
      assert.equal(
        code(() => fs.setLabel('/data/local/tmp/f', 'u:object_r:system_file:s0', SHELL)),
        'EPERM',
      );
      fs.setLabel('/data/local/tmp/f', 'u:object_r:system_file:s0');
      assert.equal(fs.stat('/data/local/tmp/f')!.label, 'u:object_r:system_file:s0');
    });
  });

  describe('mounts', () => {
    it('starts with Android base mounts, / first', () => {
      const m = fs.mounts();
      assert.equal(m[0]!.target, '/');
      assert.ok(m[0]!.options.startsWith('ro'));
      const byTarget = new Map(m.map((e) => [e.target, e]));
      for (const t of ['/system', '/vendor', '/product', '/apex/com.android.conscrypt']) {
        assert.ok(byTarget.get(t)?.options.startsWith('ro,'), t);
      }
      assert.ok(byTarget.get('/data')?.options.startsWith('rw,'));
      assert.equal(byTarget.get('/apex')?.type, 'tmpfs');
      assert.equal(byTarget.get('/storage/emulated')?.type, 'fuse');
      assert.ok(m.every((e) => e.kind === 'base'));
    });

    it('read-only mounts refuse writes even for root', () => {
      assert.equal(
        code(() => fs.writeFile('/system/x', '')),
        'EROFS',
      );
      assert.equal(
        code(() => fs.writeFile('/system/x', '', { uid: SHELL })),
        'EROFS',
      );
      assert.equal(
        code(() => fs.mkdir('/vendor/x')),
        'EROFS',
      );
      assert.equal(
        code(() => fs.mkdir('/apex/com.android.conscrypt/x')),
        'EROFS',
      );
      assert.equal(
        code(() => fs.writeFile('/x', '')),
        'EROFS',
      );
      fs.provision(() => fs.writeFile('/system/etc/hosts', '127.0.0.1 localhost\n'));
      assert.equal(
        code(() => fs.unlink('/system/etc/hosts')),
        'EROFS',
      );
      assert.equal(
        code(() => fs.chmod('/system/etc/hosts', 0o777)),
        'EROFS',
      );
    });

    it('remount rw (root only), and reboot restores ro', () => {
      assert.equal(
        code(() => fs.remount('/system', { readOnly: false, uid: SHELL })),
        'EPERM',
      );
      assert.equal(
        code(() => fs.remount('/system/etc', { readOnly: false })),
        'EINVAL',
      );
      fs.remount('/system', { readOnly: false });
      fs.writeFile('/system/xbin/su', 'x');
      assert.ok(
        fs
          .mounts()
          .find((m) => m.target === '/system')!
          .options.startsWith('rw'),
      );
      fs.onReboot();
      assert.ok(
        fs
          .mounts()
          .find((m) => m.target === '/system')!
          .options.startsWith('ro'),
      );
      assert.equal(fs.readFile('/system/xbin/su').toString(), 'x');
      assert.equal(
        code(() => fs.writeFile('/system/xbin/su2', 'x')),
        'EROFS',
      );
    });

    it('tmpfs hides the directory until umount, and stacks', () => {
      fs.provision(() => fs.writeFile('/system/etc/security/cacerts/a.0', 'CA', { mkdirs: true }));
      const dir = '/system/etc/security/cacerts';
      fs.mount({ source: 'tmpfs', target: dir, type: 'tmpfs' });
      assert.deepEqual(fs.readdir(dir), []);
      const st = fs.stat(dir)!;
      assert.equal(st.mode, S_IFDIR | 0o755);
      assert.equal(st.uid, 0);
      fs.writeFile(`${dir}/b.0`, 'mine');
      assert.deepEqual(fs.readdir(dir), ['b.0']);
      assert.ok(fs.isMountPoint(dir));
      fs.mount({ source: 'tmpfs', target: dir, type: 'tmpfs' });
      assert.deepEqual(fs.readdir(dir), []);
      assert.ok(fs.readFile('/proc/mounts').toString().includes(`tmpfs ${dir} tmpfs rw,`));
      fs.umount(dir);
      assert.deepEqual(fs.readdir(dir), ['b.0']);
      assert.equal(
        code(() => fs.rmdir(dir)),
        'EBUSY',
      );
      fs.umount(dir);
      assert.deepEqual(fs.readdir(dir), ['a.0']);
      assert.equal(
        code(() => fs.umount(dir)),
        'EINVAL',
      );
      assert.equal(
        code(() => fs.writeFile(`${dir}/c.0`, '')),
        'EROFS',
      );
    });

    it('bind mounts share the source directory (and single files)', () => {
      fs.mkdir('/data/local/tmp/certs');
      fs.writeFile('/data/local/tmp/certs/x.0', 'X');
      fs.provision(() => fs.mkdir('/system/etc/security/cacerts', { parents: true }));
      fs.mount({ source: '/data/local/tmp/certs', target: '/system/etc/security/cacerts', type: 'bind' });
      assert.equal(fs.readFile('/system/etc/security/cacerts/x.0').toString(), 'X');
      fs.writeFile('/system/etc/security/cacerts/y.0', 'Y');
      assert.equal(fs.readFile('/data/local/tmp/certs/y.0').toString(), 'Y');
      const entry = fs.mounts().find((m) => m.target === '/system/etc/security/cacerts')!;
      assert.equal(entry.kind, 'bind');
      assert.equal(entry.bindSource, '/data/local/tmp/certs');
      assert.equal(entry.type, 'f2fs');

      fs.provision(() => fs.writeFile('/system/etc/hosts', 'orig'));
      fs.writeFile('/data/local/tmp/hosts', 'patched');
      fs.mount({ source: '/data/local/tmp/hosts', target: '/system/etc/hosts', type: 'bind' });
      assert.equal(fs.readFile('/system/etc/hosts').toString(), 'patched');
      assert.equal(
        code(() => fs.unlink('/system/etc/hosts')),
        'EBUSY',
      );
      fs.onReboot();
      assert.equal(fs.readFile('/system/etc/hosts').toString(), 'orig');
      assert.equal(fs.exists('/system/etc/security/cacerts/x.0'), false);
      assert.ok(fs.mounts().every((m) => m.kind === 'base'));
    });

    it('mount needs root and an existing target; base mounts cannot be unmounted', () => {
      assert.equal(
        code(() => fs.mount({ source: 'tmpfs', target: '/data/local/tmp', type: 'tmpfs', uid: SHELL })),
        'EPERM',
      );
      assert.equal(
        code(() => fs.mount({ source: 'tmpfs', target: '/nope', type: 'tmpfs' })),
        'ENOENT',
      );
      assert.equal(
        code(() => fs.umount('/system')),
        'EBUSY',
      );
      assert.equal(
        code(() => fs.umount('/data/local/tmp', SHELL)),
        'EPERM',
      );
    });

    it('a read-only tmpfs refuses writes', () => {
      fs.mkdir('/data/local/tmp/ro');
      fs.mount({ source: 'tmpfs', target: '/data/local/tmp/ro', type: 'tmpfs', readOnly: true });
      assert.equal(
        code(() => fs.writeFile('/data/local/tmp/ro/x', '')),
        'EROFS',
      );
    });
  });

  it('serves /proc/mounts from the mount table', () => {
    const text = fs.readFile('/proc/mounts', SHELL).toString();
    assert.match(text, /^\/dev\/block\/dm-0 \/ ext4 ro,seclabel,relatime 0 0\n/);
    assert.match(text, /\/system ext4 ro,/);
    fs.defineDynamicFile('/proc/version', () => 'Linux version 4.14\n');
    assert.equal(fs.readFile('/proc/version').toString(), 'Linux version 4.14\n');
  });
});
