/**
 * Root on the virtual phones (src/virtual/commands/su.ts): MagiskSU's command line, refusal and mount
 * namespace modes, the `magisk` binary, KernelSU and AOSP su, the profile's `root` and `filesystem`
 * knobs, and toybox `nsenter`'s forms.
 */
import * as assert from 'node:assert/strict';
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import {
  loadProfile,
  parseProfile,
  type Profile,
  type ProfileRoot,
} from '../../../../src/virtual/profiles/load.ts';
import { parseMagiskSu } from '../../../../src/virtual/commands/su.ts';
import { makePhone, sh } from '../os/helpers.ts';

const SYS = '/system/etc/security/cacerts';
const ROOT = 0;

function rootedWith(root: ProfileRoot | undefined, extra: Partial<Profile> = {}): VirtualPhone {
  const base = loadProfile('redmi-note-8-leaky-rooted');
  const profile: Profile = { ...base, ...extra };
  if (root) profile.root = root;
  return new VirtualPhone(profile, { serialno: 'vpsu01' });
}

/** Runs a script through the interpreter as shell, with `stdin`. */
async function shIn(phone: VirtualPhone, script: string, stdin: string, uid = 2000) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let pending: Buffer | null = Buffer.from(stdin);
  const status = await phone.exec(script, {
    stdin: {
      read: async () => {
        const c = pending;
        pending = null;
        return c;
      },
    },
    stdout: { write: async (c) => void out.push(Buffer.from(c)) },
    stderr: { write: async (c) => void err.push(Buffer.from(c)) },
    signal: new AbortController().signal,
    uid,
  });
  return { status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

describe('su: MagiskSU command line (su.cpp)', () => {
  it('-c takes every remaining argument; the first non-option is the user; later ones are ignored', () => {
    assert.deepEqual(parseMagiskSu(['-c', 'id', '-u']), {
      rest: [],
      target: -1,
      command: 'id -u',
      user: undefined,
    });
    assert.equal(parseMagiskSu(['root', '-c', 'id']).user, 'root', 'options may follow the user');
    assert.equal(parseMagiskSu(['root', '-c', 'id']).command, 'id');
    assert.equal(parseMagiskSu(['--command=ls', '/']).command, 'ls /');
    assert.equal(parseMagiskSu(['-cid']).command, 'id');
    const r = parseMagiskSu(['0', 'id']);
    assert.deepEqual([r.user, r.command, r.rest], ['0', undefined, ['id']]);
    assert.equal(parseMagiskSu(['-', 'shell']).user, 'shell', '`-` is login, then the user');
    assert.equal(parseMagiskSu(['-mm', '-c', 'x']).target, 0);
    assert.equal(parseMagiskSu(['--mount-master', '-c', 'x']).target, 0);
    assert.equal(parseMagiskSu(['-M', '-c', 'x']).target, 0);
    assert.equal(parseMagiskSu(['-t', '123', '-c', 'x']).target, 123);
    assert.equal(parseMagiskSu(['-m', '-c', 'x']).target, -1, '-m alone is --preserve-environment');
    assert.match(
      parseMagiskSu(['-M', '-t', '5']).error?.message ?? '',
      /Can't use -M and -t at the same time/,
    );
    assert.match(parseMagiskSu(['-t', 'x']).error?.message ?? '', /Invalid PID: x/);
    assert.deepEqual(parseMagiskSu(['-q']).error, { message: "su: invalid option -- 'q'\n", status: 2 });
    assert.equal(parseMagiskSu(['-v']).version, 'name');
    assert.equal(parseMagiskSu(['-V']).version, 'code');
  });

  it('-v / -V, and commands as root; `su 0 id` is a shell reading stdin', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    assert.equal((await sh(phone, 'su -v')).stdout, '27.0:MAGISKSU\n');
    assert.equal((await sh(phone, 'su -V')).stdout, '27000\n');
    assert.equal((await sh(phone, 'su -c id -u')).stdout, '0\n');
    const ignored = await shIn(phone, 'su 0 echo ignored', 'id -u\nwhoami\n');
    assert.deepEqual([ignored.status, ignored.stdout], [0, '0\nroot\n']);
    assert.equal((await shIn(phone, 'su shell -c "id -u"', '')).stdout, '2000\n');
    const help = await sh(phone, 'su --help');
    assert.match(help.stdout, /^MagiskSU\n\nUsage: su \[options\] \[-\] \[user \[argument\.\.\.\]\]/);
  });

  it('denied: `Permission denied`, exit 13; a prompt nobody answers denies after the timeout; root callers pass', async () => {
    const denied = rootedWith({ grant: 'deny' });
    const r = await sh(denied, 'su -c id; echo status=$?');
    assert.equal(r.stderr, 'Permission denied\n');
    assert.equal(r.stdout, 'status=13\n');
    assert.equal((await sh(denied, 'su -v')).stdout, '27.0:MAGISKSU\n', '-v needs no grant');
    assert.equal((await sh(denied, 'su -c id -u', ROOT)).stdout, '0\n', 'root is allowed without asking');

    const prompt = rootedWith({ grant: 'prompt-timeout', promptTimeoutMs: 100 });
    const p = await sh(prompt, 'su -mm -c id');
    assert.deepEqual([p.status, p.stderr, p.stdout], [13, 'Permission denied\n', '']);
  });

  it('namespace modes: inherit (default) runs where the caller is, -mm in the global one, -t PID in PID’s', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const home = phone.processes.byName('com.miui.home')[0]!.pid;
    const homeFs = phone.fs.inNamespace(phone.processes.mountNamespace(home)!);
    // Inherit from adb shell: the default namespace, so the tmpfs reaches the apps.
    assert.equal((await sh(phone, `su -c mount -t tmpfs tmpfs ${SYS}`)).status, 0);
    assert.ok(phone.fs.isMountPoint(SYS));
    assert.ok(homeFs.isMountPoint(SYS));
    assert.equal((await sh(phone, `su -c umount ${SYS}`)).status, 0);
    assert.ok(!homeFs.isMountPoint(SYS));

    // -t PID: the app's namespace only.
    const t = await sh(
      phone,
      `su -t ${home} -c 'mount -t tmpfs tmpfs ${SYS} && grep -c cacerts /proc/self/mounts'`,
    );
    assert.deepEqual([t.status, t.stdout], [0, '1\n'], t.stderr);
    assert.ok(homeFs.isMountPoint(SYS));
    assert.ok(!phone.fs.isMountPoint(SYS));

    // Inside the app's namespace (nsenter), plain su inherits it; -mm goes back to the global one.
    const inherit = await sh(phone, `nsenter -t ${home} -m -- su -c 'umount ${SYS}'`, ROOT);
    assert.equal(inherit.status, 0, inherit.stderr);
    assert.ok(!homeFs.isMountPoint(SYS));
    const mm = await sh(phone, `nsenter -t ${home} -m -- su -mm -c 'mount -t tmpfs tmpfs ${SYS}'`, ROOT);
    assert.equal(mm.status, 0, mm.stderr);
    assert.ok(phone.fs.isMountPoint(SYS), 'the global namespace');
    assert.ok(homeFs.isMountPoint(SYS), 'and from there to the app');

    // -t with a pid that is gone: "setns failed, fallback to global".
    assert.equal((await sh(phone, `su -t 99999 -c 'umount ${SYS}'`)).status, 0);
    assert.ok(!phone.fs.isMountPoint(SYS));
  });

  it('isolated mode: a private copy for the session; global mode: init’s namespace from anywhere', async () => {
    const iso = rootedWith({ mountNamespaceMode: 'isolated' });
    const r = await sh(iso, `su -c 'mount -t tmpfs tmpfs ${SYS} && ls ${SYS} | wc -l'`);
    assert.deepEqual([r.status, r.stdout.trim()], [0, '0'], r.stderr);
    assert.ok(!iso.fs.isMountPoint(SYS), 'gone with the session');
    assert.ok(iso.fs.namespaces().length > 0);
    const before = iso.fs.namespaces().length;
    await sh(iso, `su -c true`);
    assert.equal(iso.fs.namespaces().length, before, 'the session namespace is released');
    assert.equal((await sh(iso, `su -mm -c 'mount -t tmpfs tmpfs ${SYS}'`)).status, 0);
    assert.ok(iso.fs.isMountPoint(SYS), '-mm still reaches the global namespace');

    const global = rootedWith({ mountNamespaceMode: 'global' });
    const home = global.processes.byName('com.miui.home')[0]!.pid;
    const g = await sh(global, `nsenter -t ${home} -m -- su -c 'mount -t tmpfs tmpfs ${SYS}'`, ROOT);
    assert.equal(g.status, 0, g.stderr);
    assert.ok(global.fs.isMountPoint(SYS));
  });

  it('magisk -v/-V/-c and --sqlite on the settings table (db.rs: column=value joined by |)', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    assert.equal((await sh(phone, 'magisk -v')).stdout, '27.0:MAGISK:R\n');
    assert.equal((await sh(phone, 'magisk -V')).stdout, '27000\n');
    assert.equal((await sh(phone, 'magisk -c')).stdout, '27.0:MAGISK:R (27000)\n');
    const q = `magisk --sqlite "SELECT value FROM settings WHERE key='mnt_ns'"`;
    const asShell = await sh(phone, q);
    assert.deepEqual([asShell.status, asShell.stderr], [1, 'Root is required for this operation\n']);
    const unset = await sh(phone, `su -c ${JSON.stringify(q)}`);
    assert.deepEqual([unset.status, unset.stdout], [0, ''], 'never changed: no row (default Inherit)');

    const iso = rootedWith({ mountNamespaceMode: 'isolated', version: '26.4' });
    assert.equal((await sh(iso, q, ROOT)).stdout, 'value=2\n');
    assert.equal(
      (await sh(iso, `magisk --sqlite "SELECT * FROM settings"`, ROOT)).stdout,
      'key=mnt_ns|value=2\n',
    );
    assert.equal((await sh(iso, 'su -V')).stdout, '26400\n');
    assert.equal((await sh(rootedWith({ mountNamespaceMode: 'global' }), q, ROOT)).stdout, 'value=0\n');
    assert.equal((await sh(makePhone('redmi-note-8-leaky'), 'magisk -v')).status, 127);
  });

  it('KernelSU executes the arguments after the uid; AOSP su wants `su 0 CMD`', async () => {
    const ksu = rootedWith({ su: 'kernelsu' });
    assert.equal((await sh(ksu, 'su -v')).stdout, 'v1.0.1:KernelSU\n');
    assert.equal((await sh(ksu, 'su 0 id -u')).stdout, '0\n');
    assert.equal((await sh(ksu, 'su -c id -u')).stdout, '0\n');
    assert.equal((await sh(ksu, 'magisk -v')).status, 127);

    const aosp = rootedWith({ su: 'aosp' });
    const c = await sh(aosp, 'su -c id');
    assert.deepEqual([c.status, c.stderr], [1, "su: invalid uid/gid '-c'\n"]);
    assert.equal((await sh(aosp, `su 0 sh -c 'id -u'`)).stdout, '0\n');
    assert.equal((await sh(aosp, 'su root,root id -u')).stdout, '0\n');
  });
});

describe('profiles: root and filesystem knobs', () => {
  const json = (): Record<string, unknown> =>
    JSON.parse(JSON.stringify({ ...loadProfile('redmi-note-8-leaky-rooted') })) as Record<string, unknown>;

  it('accepts the knobs and names the field and the fix when they are wrong', () => {
    const ok = parseProfile(
      { ...json(), root: { grant: 'prompt-timeout', promptTimeoutMs: 100, mountNamespaceMode: 'global' } },
      'x.json',
    );
    assert.deepEqual(ok.root, {
      grant: 'prompt-timeout',
      promptTimeoutMs: 100,
      mountNamespaceMode: 'global',
    });
    const bad = (patch: Record<string, unknown>, re: RegExp): void =>
      assert.throws(() => parseProfile({ ...json(), ...patch }, 'x.json'), re);
    bad({ rooted: false, root: {} }, /"root".*needs "rooted": true/);
    bad({ root: { grant: 'maybe' } }, /root\.grant/);
    bad({ root: { su: 'kernelsu', grant: 'deny' } }, /root\.grant.*only "allow" is modelled for kernelsu/);
    bad({ root: { promptTimeoutMs: 5 } }, /root\.promptTimeoutMs.*prompt-timeout/);
    bad({ root: { sudo: true } }, /root/);
    bad({ filesystem: { absent: ['system/etc'] } }, /filesystem\.absent\.0/);
  });

  it('filesystem.absent removes the path from the image (a phone without the CA folder)', async () => {
    const phone = rootedWith(undefined, { filesystem: { absent: [SYS] } });
    assert.ok(!phone.fs.exists(SYS));
    const r = await sh(phone, `su -c 'mount -t tmpfs tmpfs ${SYS}'`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /No such file or directory/);
  });
});

describe('nsenter (toybox forms, root only)', () => {
  it('--mount=FILE, -m=FILE and -t PID -m enter the namespace; shell is refused', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const home = phone.processes.byName('com.miui.home')[0]!.pid;
    const homeFs = phone.fs.inNamespace(phone.processes.mountNamespace(home)!);
    for (const form of [
      `--mount=/proc/${home}/ns/mnt --`,
      `-m=/proc/${home}/ns/mnt`,
      `-t ${home} -m`,
      `--target=${home} --mount`,
    ]) {
      const r = await sh(phone, `nsenter ${form} mount -t tmpfs tmpfs ${SYS}`, ROOT);
      assert.equal(r.status, 0, `${form}: ${r.stderr}`);
      assert.ok(homeFs.isMountPoint(SYS), form);
      assert.ok(!phone.fs.isMountPoint(SYS), form);
      assert.equal((await sh(phone, `nsenter ${form} umount ${SYS}`, ROOT)).status, 0);
      assert.ok(!homeFs.isMountPoint(SYS), form);
    }
    const cat = await sh(phone, `nsenter --mount=/proc/${home}/ns/mnt -- cat /proc/self/mountinfo`, ROOT);
    assert.match(cat.stdout, / \/system ro,relatime master:\d+ - ext4 /);
    const denied = await sh(phone, `nsenter -t ${home} -m true`);
    assert.deepEqual([denied.status, denied.stderr], [1, 'nsenter: setns: Operation not permitted\n']);
  });
});
