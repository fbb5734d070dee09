/**
 * The harness's device-side CA scripts (src/capture/ca-install.ts: install, verification, restore)
 * under Debian's real mksh (Android's shell) and toybox (Android's userland), inside real Linux mount
 * namespaces laid out as Android lays them out (../shared/facts/android-realities.md §1):
 *
 * - "init": a namespace private from this machine's, where a scratch folder (bind-mounted onto
 *   itself) is made recursively shared, like init's `/` (MS_SHARED|MS_REC); in the Android 14 layout
 *   its `apex` folder is a private mount, like init's `/apex` (MS_PRIVATE).
 * - "zygote": `unshare -m --propagation slave` from init (zygote remounts `/` MS_SLAVE|MS_REC), a
 *   long-lived mksh under a unique process name, whose children are the "apps", each in its own
 *   namespace made the same way from the zygote's.
 * - a "stray" namespace that is no zygote child: the tmpfs reaches it by propagation, the APEX bind
 *   does not (it is per namespace), which shows the layout is what the test means it to be.
 *
 * The scripts run with PATH pointing at a folder of toybox symlinks (mount, umount, nsenter, cp,
 * chmod, chown, pidof, ps, …), so the commands they call are toybox's. Debian's toybox has no `chcon`
 * (Android's does): the scripts tolerate its absence only where /sys/fs/selinux does not exist.
 * Needs root and `unshare -m`; without them the test says so and skips (CI has both).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabCa } from '../../src/capture/ca.ts';
import {
  APEX_CACERTS,
  hasMarker,
  INSTALLED_MARKER,
  parseVerification,
  REMOVED_MARKER,
  stepsOf,
  SYSTEM_CACERTS,
  tmpfsInstallScript,
  tmpfsRestoreScript,
  VERIFIED_MARKER,
  verifyScript,
} from '../../src/capture/ca-install.ts';

const TOYBOX_COMMANDS = [
  'cat',
  'chmod',
  'chown',
  'cp',
  'echo',
  'grep',
  'ls',
  'mkdir',
  'mount',
  'mv',
  'nsenter',
  'pidof',
  'ps',
  'rm',
  'sleep',
  'umount',
];

function whyNot(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (mount namespaces need CAP_SYS_ADMIN)';
  for (const bin of ['/usr/bin/mksh', '/usr/bin/toybox', '/usr/bin/unshare', '/usr/bin/nsenter']) {
    if (!existsSync(bin)) return `${bin} missing (scripts/setup installs mksh and toybox)`;
  }
  const u = spawnSync('unshare', ['-m', 'true']);
  if (u.status !== 0) return `unshare -m fails here: ${u.stderr.toString().trim()}`;
  return null;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], env?: NodeJS.ProcessEnv): Run {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: env ?? process.env, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Waits (bounded) until `pidof name` finds a process; returns its pids. */
async function pidsOf(name: string): Promise<number[]> {
  for (let i = 0; i < 200; i++) {
    const r = run(['toybox', 'pidof', name]);
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim().split(/\s+/).map(Number);
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(`no process named ${name} appeared`);
}

describe('CA scripts under real mksh + toybox in Linux mount namespaces', function () {
  this.timeout(40_000);
  const reason = whyNot();
  let tmp: string;
  let ca: LabCa;
  before(async function () {
    if (reason) {
      // CI has root and namespaces (the acceptance): there a missing piece is a failure,
      // not a silent skip.
      if (process.env.CI) throw new Error(`the namespace test cannot run in CI: ${reason}`);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    tmp = mkdtempSync(join(tmpdir(), 'phonehome-ns-'));
    ca = await LabCa.load(join(tmp, 'ca'));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const layout of ['android10', 'android14'] as const) {
    it(`${layout === 'android10' ? 'Android 10 (no APEX CA folder: the tmpfs propagates)' : 'Android 14 (APEX private: per-namespace binds)'}: installed, visible in the app’s namespace, verified, restored`, async () => {
      const tag = Math.random().toString(36).slice(2, 7);
      const base = join(tmp, layout);
      const root = join(base, 'root');
      const bin = join(base, 'bin');
      mkdirSync(bin, { recursive: true });
      for (const c of TOYBOX_COMMANDS) symlinkSync('/usr/bin/toybox', join(bin, c));
      symlinkSync('/usr/bin/mksh', join(bin, 'sh'));
      // Process names (≤ 15 characters, unique to this run, so pidof finds only ours).
      const zygote = `zyg${tag}`;
      const app = `app${tag}`;
      const late = `late${tag}`;
      symlinkSync('/usr/bin/mksh', join(bin, zygote));
      symlinkSync('/usr/bin/sleep', join(bin, app));
      symlinkSync('/usr/bin/sleep', join(bin, late));
      symlinkSync('/usr/bin/sleep', join(bin, `stray${tag}`));
      const sys = `${root}${SYSTEM_CACERTS}`;
      const apex = `${root}${APEX_CACERTS}`;
      mkdirSync(sys, { recursive: true });
      mkdirSync(join(root, 'data/local/tmp'), { recursive: true });
      mkdirSync(join(root, 'apex/com.android.conscrypt'), { recursive: true });
      // Two stand-in CAs of the image: only file names and contents matter to the scripts.
      writeFileSync(join(sys, '00000001.0'), 'system CA one\n');
      writeFileSync(join(sys, '00000002.0'), 'system CA two\n');
      if (layout === 'android14') {
        mkdirSync(apex, { recursive: true });
        writeFileSync(join(apex, '00000001.0'), 'apex CA one\n');
      }
      writeFileSync(join(root, 'data/local/tmp', ca.fileName), ca.certPem);
      const env = { PATH: bin, HOME: '/' };

      const procs: ChildProcess[] = [];
      const spawnKept = (argv: string[]): ChildProcess => {
        const p = spawn(argv[0]!, argv.slice(1), {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: { ...process.env, ...env, PATH: `${bin}:/usr/bin:/bin` },
        });
        procs.push(p);
        return p;
      };
      try {
        // init: private from this machine; the scratch tree shared, its apex private.
        const init = spawnKept(['/usr/bin/unshare', '-m', '--propagation', 'private', 'sleep', '300']);
        await new Promise((res) => setTimeout(res, 50));
        const inInit = (argv: string[], e?: NodeJS.ProcessEnv): Run =>
          run(['/usr/bin/nsenter', `--mount=/proc/${init.pid}/ns/mnt`, '--', ...argv], e);
        const setup = [
          `mount --bind ${root} ${root}`,
          `mount --make-rshared ${root}`,
          `mount --bind ${root}/apex ${root}/apex`,
          `mount --make-private ${root}/apex`,
        ].join(' && ');
        const s = inInit(['/bin/sh', '-c', setup]);
        assert.equal(s.status, 0, s.stderr);
        // zygote: a slave of init; it forks the app into a namespace of its own, and a later app on a signal.
        const zygoteScript =
          `/usr/bin/unshare -m --propagation slave ${bin}/${app} 300 & ` +
          `while [ ! -e ${base}/spawn ]; do sleep 0.05; done; ` +
          `/usr/bin/unshare -m --propagation slave ${bin}/${late} 300 & wait`;
        spawnKept([
          '/usr/bin/nsenter',
          `--mount=/proc/${init.pid}/ns/mnt`,
          '--',
          '/usr/bin/unshare',
          '-m',
          '--propagation',
          'slave',
          join(bin, zygote),
          '-c',
          zygoteScript,
        ]);
        spawnKept([
          '/usr/bin/nsenter',
          `--mount=/proc/${init.pid}/ns/mnt`,
          '--',
          '/usr/bin/unshare',
          '-m',
          '--propagation',
          'slave',
          join(bin, `stray${tag}`),
          '300',
        ]);
        const [zPid] = await pidsOf(zygote);
        const [appPid] = await pidsOf(app);
        const [strayPid] = await pidsOf(`stray${tag}`);
        const ns = (pid: number): string => run(['readlink', `/proc/${pid}/ns/mnt`]).stdout.trim();
        assert.notEqual(ns(appPid!), ns(zPid!), 'the app has a namespace of its own');
        assert.notEqual(ns(zPid!), ns(init.pid!), 'the zygote has a namespace of its own');
        const catIn = (pid: number, file: string): Run =>
          run(['/usr/bin/nsenter', `--mount=/proc/${pid}/ns/mnt`, '--', '/bin/cat', file]);
        const readsDir = layout === 'android14' ? apex : sys;
        assert.notEqual(catIn(appPid!, `${readsDir}/${ca.fileName}`).status, 0, 'not there before');

        const opts = { file: ca.fileName, root, zygotes: [zygote] };
        const script = join(base, 'install.sh');
        writeFileSync(script, `${tmpfsInstallScript(opts)}\n`, { mode: 0o700 });
        const inst = inInit(['/usr/bin/mksh', script], env);
        assert.equal(inst.status, 0, `${inst.stdout}\n${inst.stderr}`);
        assert.ok(hasMarker(inst.stdout, INSTALLED_MARKER, ca.fileName), inst.stdout);
        const steps = stepsOf(inst.stdout);
        assert.deepEqual(steps.slice(0, 5), ['check', 'copy', 'tmpfs', 'fill', 'label']);
        if (layout === 'android14') {
          assert.ok(steps.includes(`apex-bind ${zygote} ${zPid}`), steps.join('\n'));
          assert.ok(steps.includes(`apex-bind app ${appPid}`), steps.join('\n'));
        } else assert.equal(steps.length, 5, 'no APEX folder: no binds');

        // Seen from inside the running app's own namespace, in the folder it reads.
        const seen = catIn(appPid!, `${readsDir}/${ca.fileName}`);
        assert.equal(seen.status, 0, seen.stderr);
        assert.equal(seen.stdout, ca.certPem);
        // The image's CAs are still there beside it (the APEX set on Android 14).
        assert.equal(
          catIn(appPid!, `${readsDir}/00000001.0`).stdout,
          layout === 'android14' ? 'apex CA one\n' : 'system CA one\n',
        );
        // An app forked after the install copies the zygote's namespace.
        writeFileSync(join(base, 'spawn'), '');
        const [latePid] = await pidsOf(late);
        assert.equal(catIn(latePid!, `${readsDir}/${ca.fileName}`).stdout, ca.certPem, 'a later app sees it');
        // Control: the tmpfs propagated to a namespace no script entered; an APEX bind did not.
        assert.equal(
          catIn(strayPid!, `${sys}/${ca.fileName}`).status,
          0,
          'propagation reached the stray namespace',
        );
        if (layout === 'android14') {
          assert.notEqual(
            catIn(strayPid!, `${apex}/${ca.fileName}`).status,
            0,
            '/apex is private: no bind there',
          );
        }
        // On this machine nothing changed.
        assert.ok(!existsSync(join(sys, ca.fileName)), 'the host does not see the tmpfs');

        const vScript = join(base, 'verify.sh');
        writeFileSync(vScript, `${verifyScript({ ...opts, packages: [app, late] })}\n`, { mode: 0o700 });
        const ver = inInit(['/usr/bin/mksh', vScript], env);
        assert.equal(ver.status, 0, `${ver.stdout}\n${ver.stderr}`);
        assert.ok(hasMarker(ver.stdout, VERIFIED_MARKER, ca.fileName), ver.stdout);
        const checks = parseVerification(ver.stdout, ca.certPem);
        const byName = new Map(checks.map((c) => [c.name, c]));
        for (const n of ['shell', zygote, app, late]) {
          assert.equal(byName.get(n)?.status, 'ok', `${n}: ${JSON.stringify(checks)}`);
        }
        assert.equal(byName.get(app)?.dir, readsDir);
        assert.equal(byName.get(app)?.pid, appPid);

        const rScript = join(base, 'restore.sh');
        writeFileSync(rScript, `${tmpfsRestoreScript(opts)}\n`, { mode: 0o700 });
        const rest = inInit(['/usr/bin/mksh', rScript], env);
        assert.equal(rest.status, 0, `${rest.stdout}\n${rest.stderr}`);
        assert.ok(hasMarker(rest.stdout, REMOVED_MARKER, ca.fileName), rest.stdout);
        for (const pid of [appPid!, latePid!, zPid!, strayPid!, init.pid!]) {
          for (const dir of [sys, apex]) {
            assert.notEqual(catIn(pid, `${dir}/${ca.fileName}`).status, 0, `gone from ${dir} in ${pid}`);
          }
          assert.doesNotMatch(
            readFileSync(`/proc/${pid}/mounts`, 'utf8'),
            /phonehome-ca/,
            `no mount left in ${pid}`,
          );
        }
        assert.equal(catIn(appPid!, `${readsDir}/00000001.0`).status, 0, 'the image’s CAs are back');
        assert.ok(!existsSync(join(root, 'data/local/tmp', ca.fileName)), 'the pushed CA removed');
        // Restore again: nothing to do, still the marker.
        const again = inInit(['/usr/bin/mksh', rScript], env);
        assert.equal(again.status, 0, again.stderr);
        assert.ok(hasMarker(again.stdout, REMOVED_MARKER, ca.fileName));
      } finally {
        for (const p of procs.reverse()) p.kill('SIGKILL');
        for (const name of [app, late]) {
          const r = run(['toybox', 'pidof', name]);
          for (const pid of r.stdout.trim().split(/\s+/).filter(Boolean)) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              /* gone */
            }
          }
        }
      }
    });
  }
});
