/**
 * Mount propagation on the virtual phone as Android sets it up (src/virtual/os/vfs.ts): init's `/` shared
 * and `/apex` private (mount_namespace.cpp SetupMountNamespaces), zygotes MS_SLAVE|MS_REC copies of
 * the default namespace and apps copies of their zygote (com_android_internal_os_Zygote.cpp), and
 * /proc/PID/mountinfo with its `shared:N` / `master:N` tags (proc(5)).
 */
import * as assert from 'node:assert/strict';
import type { Vfs } from '../../../../src/virtual/os/vfs.ts';
import type { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { makePhone, sh } from './helpers.ts';

const SYS = '/system/etc/security/cacerts';
const APEX = '/apex/com.android.conscrypt/cacerts';
const ROOT = 0;

interface InfoLine {
  id: number;
  parent: number;
  root: string;
  target: string;
  tags: string[];
  type: string;
  source: string;
}

/** Parses /proc/PID/mountinfo (proc(5)): fields up to the optional ones, `-`, type, source, options. */
function mountinfo(text: string): InfoLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      const dash = f.indexOf('-');
      assert.ok(dash >= 6, `no separator in '${line}'`);
      assert.match(f[2]!, /^\d+:\d+$/);
      assert.match(f[5]!, /^r[ow](,|$)/);
      return {
        id: Number(f[0]),
        parent: Number(f[1]),
        root: f[3]!,
        target: f[4]!,
        tags: f.slice(6, dash),
        type: f[dash + 1]!,
        source: f[dash + 2]!,
      };
    });
}

function at(lines: InfoLine[], target: string): InfoLine[] {
  return lines.filter((l) => l.target === target);
}

function appNs(phone: VirtualPhone, name: string): Vfs {
  const p = phone.processes.byName(name)[0];
  assert.ok(p, `${name} runs`);
  return phone.fs.inNamespace(phone.processes.mountNamespace(p.pid)!);
}

async function info(phone: VirtualPhone, pid: number | 'self'): Promise<InfoLine[]> {
  const r = await sh(phone, `cat /proc/${pid}/mountinfo`, ROOT);
  assert.equal(r.status, 0, r.stderr);
  return mountinfo(r.stdout);
}

describe('mount propagation (Android: / shared, /apex private, zygotes and apps slaves)', () => {
  it('mountinfo: init shares every base mount but /apex; zygotes and apps are slaves of the same groups', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const init = await info(phone, 1);
    const z = phone.processes.byName('zygote64')[0]!.pid;
    const app = phone.processes.byName('com.miui.home')[0]!.pid;
    const zyg = await info(phone, z);
    const home = await info(phone, app);
    const sys = at(init, '/system')[0]!;
    assert.equal(sys.type, 'ext4');
    assert.equal(sys.source, '/dev/block/dm-1');
    assert.match(sys.tags.join(' '), /^shared:\d+$/);
    const group = sys.tags[0]!.slice('shared:'.length);
    assert.deepEqual(at(zyg, '/system')[0]!.tags, [`master:${group}`]);
    assert.deepEqual(at(home, '/system')[0]!.tags, [`master:${group}`]);
    assert.deepEqual(at(init, '/apex')[0]!.tags, [], '/apex is private');
    assert.deepEqual(at(init, '/apex/com.android.conscrypt')[0]!.tags, []);
    assert.deepEqual(at(zyg, '/apex')[0]!.tags, []);
    // Every mount's parent is a mount of the same table ('/' hangs off one outside it).
    for (const lines of [init, zyg, home]) {
      const ids = new Set(lines.map((l) => l.id));
      for (const l of lines) if (l.target !== '/') assert.ok(ids.has(l.parent), `${l.target}'s parent`);
    }
    // Mount ids are per namespace; self is the caller's (adb shell: the default namespace).
    assert.notEqual(at(zyg, '/system')[0]!.id, sys.id);
    assert.deepEqual(await info(phone, 'self'), init);
  });

  it('a tmpfs from the default namespace reaches zygotes, running and later apps; so does its unmount', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const running = appNs(phone, 'com.miui.home');
    const r = await sh(phone, `mount -t tmpfs tmpfs ${SYS} && touch ${SYS}/x`, ROOT);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(running.readdir(SYS), ['x'], 'a running app sees it');
    phone.processes.start('com.mi.globalbrowser');
    const later = appNs(phone, 'com.mi.globalbrowser');
    assert.deepEqual(later.readdir(SYS), ['x'], 'a later app too');
    const init = at(await info(phone, 1), SYS)[0]!;
    assert.equal(init.type, 'tmpfs');
    assert.match(init.tags.join(' '), /^shared:\d+$/, 'a mount on a shared mount is shared');
    const group = init.tags[0]!.slice('shared:'.length);
    const z = phone.processes.zygotes()[0]!;
    assert.deepEqual(at(await info(phone, z), SYS)[0]!.tags, [`master:${group}`]);

    assert.equal((await sh(phone, `umount ${SYS}`, ROOT)).status, 0);
    assert.ok(running.readdir(SYS).length > 1, 'the firmware CAs are back in the running app');
    assert.ok(later.readdir(SYS).length > 1);
    assert.deepEqual(at(await info(phone, z), SYS), []);
  });

  it('a mount inside an app namespace stays there (private: its parent is a slave)', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const home = phone.processes.byName('com.miui.home')[0]!.pid;
    const r = await sh(phone, `nsenter -t ${home} -m -- mount -t tmpfs tmpfs ${SYS}`, ROOT);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(appNs(phone, 'com.miui.home').readdir(SYS), []);
    assert.ok(phone.fs.readdir(SYS).length > 1, 'not in the default namespace');
    assert.ok(appNs(phone, 'com.android.systemui').readdir(SYS).length > 1, 'not in another app');
    phone.processes.start('com.mi.globalbrowser');
    assert.ok(appNs(phone, 'com.mi.globalbrowser').readdir(SYS).length > 1, 'not in a later app');
    assert.deepEqual(at(await info(phone, home), SYS)[0]!.tags, [], 'no propagation tag');
  });

  it('a mount in a zygote reaches only the apps forked after it', () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const zns = phone.processes.zygoteNamespace()!;
    phone.fs.inNamespace(zns).mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    assert.ok(appNs(phone, 'com.miui.home').readdir(SYS).length > 1, 'an older app does not see it');
    phone.processes.start('com.mi.globalbrowser');
    assert.deepEqual(appNs(phone, 'com.mi.globalbrowser').readdir(SYS), []);
    assert.ok(phone.fs.readdir(SYS).length > 1, 'one-way: not back in the default namespace');
  });

  it('/apex mounts never propagate, from the default namespace or elsewhere', () => {
    const phone = makePhone('xiaomi-13-hyperos-rooted');
    phone.fs.mount({ source: '/data/local/tmp', target: APEX, type: 'bind' });
    assert.ok(phone.fs.isMountPoint(APEX));
    for (const ns of phone.fs.namespaces()) {
      if (!ns.isInit) assert.ok(!phone.fs.inNamespace(ns).isMountPoint(APEX), `namespace ${ns.id}`);
    }
    phone.fs.umount(APEX);
    assert.ok(!phone.fs.isMountPoint(APEX));
  });

  it('stacked mounts propagate onto the copies; unmounting the top one uncovers the one below everywhere', () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const app = appNs(phone, 'com.miui.home');
    phone.fs.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    phone.fs.writeFile(`${SYS}/lower`, 'x');
    phone.fs.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    phone.fs.writeFile(`${SYS}/upper`, 'x');
    assert.deepEqual(app.readdir(SYS), ['upper']);
    phone.fs.umount(SYS);
    assert.deepEqual(app.readdir(SYS), ['lower']);
  });

  it("a propagated mount is tucked under an app's own mount there; the app keeps seeing its own", () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const app = appNs(phone, 'com.miui.home');
    app.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    app.writeFile(`${SYS}/mine`, 'x');
    phone.fs.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    phone.fs.writeFile(`${SYS}/global`, 'x');
    assert.deepEqual(app.readdir(SYS), ['mine']);
    assert.deepEqual(phone.fs.readdir(SYS), ['global']);
    phone.fs.umount(SYS);
    assert.deepEqual(app.readdir(SYS), ['mine']);
    app.umount(SYS);
    assert.ok(app.readdir(SYS).length > 1, 'the firmware CAs');
  });

  it('copies keep the propagation the creator asks: preserve makes peers (both ways), private nothing', () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    const fs = phone.fs;
    const peer = fs.inNamespace(fs.cloneNamespace(fs.initNamespace, 'preserve'));
    const priv = fs.inNamespace(fs.cloneNamespace(fs.initNamespace, 'private'));
    peer.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    assert.deepEqual(fs.readdir(SYS), [], 'a peer propagates back to the default namespace');
    assert.deepEqual(appNs(phone, 'com.miui.home').readdir(SYS), [], 'and on to its slaves');
    assert.ok(priv.readdir(SYS).length > 1, 'a private copy receives nothing');
    priv.mount({ source: 'tmpfs', target: '/data/local/tmp', type: 'tmpfs' });
    assert.ok(!fs.isMountPoint('/data/local/tmp'), 'and sends nothing');
    assert.match(priv.procMountinfo(), / \/system ro,relatime - ext4 /, 'no tags');
  });

  it('reboot drops every mount in every namespace; /proc/PID/mountinfo and mounts go with the process', async () => {
    const phone = makePhone('redmi-note-8-leaky-rooted');
    phone.fs.mount({ source: 'tmpfs', target: SYS, type: 'tmpfs' });
    const { proc } = phone.processes.start('com.mi.globalbrowser');
    assert.match(
      (await sh(phone, `cat /proc/${proc.pid}/mounts`, ROOT)).stdout,
      /^tmpfs \/system\/etc\/security\/cacerts /m,
    );
    phone.processes.stop('com.mi.globalbrowser');
    assert.ok(!phone.fs.exists(`/proc/${proc.pid}/mountinfo`));
    phone.resetForBoot();
    for (const ns of phone.fs.namespaces()) assert.ok(ns.table.list().every((m) => m.kind === 'base'));
    assert.ok(phone.fs.readdir(SYS).length > 1);
  });
});
