/**
 * The CA script builders (src/capture/ca-install.ts), the root probe's parsing and argv
 * (src/capture/root.ts), and the CA method choice (src/capture/wiring.ts chooseMethod).
 */
import assert from 'node:assert/strict';
import { DeviceError, type Device, type ShellResult } from '../../../src/device/index.ts';
import {
  caPaths,
  hasMarker,
  installScript,
  INSTALLED_MARKER,
  parseVerification,
  removeScript,
  runRootScript,
  stepsOf,
  tmpfsInstallScript,
  tmpfsRestoreScript,
  verifyScript,
} from '../../../src/capture/ca-install.ts';
import {
  confirmRoot,
  rootArgv,
  suKindFromVersion,
  WiringError,
  type Root,
} from '../../../src/capture/root.ts';
import { chooseMethod } from '../../../src/capture/wiring.ts';

const res = (stdout: string, stderr = '', exitCode = 0): ShellResult => ({ stdout, stderr, exitCode });
const FILE = '1a2b3c4d.0';

describe('root: su -v parsing and the argv per su', () => {
  it('MagiskSU, KernelSU, AOSP userdebug su, none', () => {
    assert.deepEqual(suKindFromVersion(res('27.0:MAGISKSU\n')), { kind: 'magisk', version: '27.0:MAGISKSU' });
    assert.deepEqual(suKindFromVersion(res('v1.0.1:KernelSU\n')), {
      kind: 'kernelsu',
      version: 'v1.0.1:KernelSU',
    });
    assert.deepEqual(suKindFromVersion(res('', "su: invalid uid/gid '-v'\n", 1)), { kind: 'aosp-su' });
    assert.equal(suKindFromVersion(res('', '/system/bin/sh: su: inaccessible or not found\n', 127)), null);
    assert.equal(suKindFromVersion(res('', 'su: not allowed\n', 1)), null);
    assert.deepEqual(suKindFromVersion(res('2.82:SUPERSU\n')), { kind: 'su', version: '2.82:SUPERSU' });
  });

  it('mount master on MagiskSU (-mm) and KernelSU (-M), -c last; never `su 0 CMD` on Magisk', () => {
    assert.deepEqual(rootArgv({ kind: 'magisk' }, 'sh /x.sh'), ['su', '-mm', '-c', 'sh /x.sh']);
    assert.deepEqual(rootArgv({ kind: 'kernelsu' }, 'id'), ['su', '-M', '-c', 'id']);
    assert.deepEqual(rootArgv({ kind: 'su' }, 'id'), ['su', '-c', 'id']);
    assert.deepEqual(rootArgv({ kind: 'aosp-su' }, 'id'), ['su', '0', 'sh', '-c', 'id']);
    assert.deepEqual(rootArgv({ kind: 'adbd' }, 'id'), ['sh', '-c', 'id']);
  });

  it('the first root use says on screen that the phone asks, before waiting; a refusal names the step and the fix', async () => {
    const lines: string[] = [];
    const calls: string[][] = [];
    const device = {
      serial: 'S1',
      shell: async (argv: string[]) => {
        calls.push(argv);
        assert.equal(lines.length, 1, 'the line went out before the wait');
        return res('', 'Permission denied\n', 13);
      },
    } as unknown as Device;
    await assert.rejects(
      confirmRoot(device, { kind: 'magisk' }, (l) => lines.push(l)),
      (err: unknown) => {
        assert.ok(err instanceof WiringError);
        assert.match(
          err.message,
          /^S1: getting root \(su\): root was refused \(exit 13: Permission denied\)/,
        );
        assert.match(err.hint ?? '', /Magisk › Superuser.*Shell.*--ca-method none/);
        return true;
      },
    );
    assert.match(lines[0]!, /^phone S1: asking for root .*tap Grant \(it auto-denies in 10 s\)/);
    assert.deepEqual(calls, [['su', '-mm', '-c', 'id']]);
  });
});

describe('ca-install: the device-side scripts', () => {
  it('install: errors fatal, a step marker before each step, the success marker last, no masking', () => {
    const s = tmpfsInstallScript({ file: FILE });
    const lines = s.split('\n');
    assert.ok(lines.includes('set -e'));
    assert.ok(!/set \+e/.test(s), 'never turns errors off');
    assert.ok(!/^\s*true\s*$/m.test(s), 'no trailing true');
    assert.equal(lines.at(-1), `echo "${INSTALLED_MARKER} $FILE"`);
    for (const step of ['check', 'copy', 'tmpfs', 'fill', 'label'])
      assert.ok(lines.includes(`step ${step}`), step);
    assert.match(s, /mount -t tmpfs phonehome-ca "\$SYS"/);
    assert.match(s, /nsenter --mount=\/proc\/\$Z\/ns\/mnt -- mount --bind "\$SYS" "\$APEX"/);
    // Only a missing chcon where there is no SELinux, and only an app that exited, are tolerated.
    assert.deepEqual(
      lines.filter((l) => l.includes('||')).map((l) => l.trim().replace(/^.*\|\| /, '')),
      [
        '{ echo "$SYS: no such directory on this phone" >&2; exit 1; }',
        '{ echo "$TMP/$FILE: the pushed CA is missing" >&2; exit 1; }',
        '[ ! -e /sys/fs/selinux ]',
        '[ ! -e /proc/$P ]',
      ],
    );
  });

  it('paths hang off the root prefix; names that are not plain are refused', () => {
    assert.deepEqual(caPaths('/tmp/x'), {
      sys: '/tmp/x/system/etc/security/cacerts',
      apex: '/tmp/x/apex/com.android.conscrypt/cacerts',
      tmp: '/tmp/x/data/local/tmp',
      user: '/tmp/x/data/misc/user/0/cacerts-added',
    });
    assert.match(
      tmpfsInstallScript({ file: FILE, root: '/tmp/x' }),
      /^SYS=\/tmp\/x\/system\/etc\/security\/cacerts$/m,
    );
    assert.throws(() => tmpfsInstallScript({ file: 'a;rm -rf /' }), /not a plain path/);
    assert.throws(() => verifyScript({ file: FILE, packages: ['com.x; reboot'] }), /not a plain path/);
  });

  it('restore and verification end with their markers; methods without changes have no script', () => {
    assert.match(tmpfsRestoreScript({ file: FILE }), /echo "PHONEHOME_CA_REMOVED \$FILE"$/);
    assert.match(
      verifyScript({ file: FILE, packages: ['com.mi.globalbrowser'] }),
      /PACKAGES="com\.mi\.globalbrowser"/,
    );
    assert.equal(installScript('none', { file: FILE }), null);
    assert.equal(removeScript('preinstalled', { file: FILE }), null);
    assert.match(installScript('system-remount', { file: FILE })!, /remount,rw/);
  });

  it('parses step markers, the marker and the verification blocks (a different cert is `differs`)', () => {
    assert.deepEqual(stepsOf('step: check\nx\nstep: apex-bind zygote 12\n'), [
      'check',
      'apex-bind zygote 12',
    ]);
    assert.ok(hasMarker(`foo\n${INSTALLED_MARKER} ${FILE}\n`, INSTALLED_MARKER, FILE));
    assert.ok(!hasMarker(`${INSTALLED_MARKER} other.0\n`, INSTALLED_MARKER, FILE));
    const out = [
      'verify: 10 zygote64 /apex/com.android.conscrypt/cacerts',
      'not a certificate',
      'verify-end: 10 ok',
      'verify: 11 com.x /system/etc/security/cacerts',
      'verify-end: 11 missing',
      'verify: 12 com.y /system/etc/security/cacerts',
      'verify-end: 12 gone',
    ].join('\n');
    assert.deepEqual(
      parseVerification(out, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----').map((c) => [
        c.pid,
        c.name,
        c.status,
      ]),
      [
        [10, 'zygote64', 'differs'],
        [11, 'com.x', 'missing'],
        [12, 'com.y', 'gone'],
      ],
    );
  });

  it('runRootScript: pushed as a file (0700), run with sh under root, removed; no marker → the last step and stderr named', async () => {
    const calls: string[] = [];
    const device = {
      serial: 'S2',
      push: async (_b: Buffer, path: string, mode: number) =>
        void calls.push(`push ${path} ${mode.toString(8)}`),
      shell: async (argv: string[]) => {
        calls.push(argv.join(' '));
        if (argv[0] === 'rm') return res('');
        return res('step: check\nstep: tmpfs\n', 'mount: permission denied\n', 0);
      },
    } as unknown as Device;
    const root: Root = { kind: 'magisk' };
    await assert.rejects(
      runRootScript(device, root, {
        name: 'install',
        script: 'x',
        marker: INSTALLED_MARKER,
        file: FILE,
        what: 'installing the lab CA (system-tmpfs)',
        fix: 'reboot',
      }),
      (err: unknown) => {
        assert.ok(err instanceof WiringError);
        assert.equal(
          err.message,
          'S2: installing the lab CA (system-tmpfs) failed at step "tmpfs" (exit 0, no success marker): mount: permission denied',
        );
        assert.equal(err.hint, 'reboot');
        return true;
      },
    );
    assert.deepEqual(calls, [
      'push /data/local/tmp/phonehome-ca-install.sh 700',
      'su -mm -c sh /data/local/tmp/phonehome-ca-install.sh',
      'rm -f /data/local/tmp/phonehome-ca-install.sh',
    ]);
  });

  it('runRootScript: a script the host stopped waiting for may still run: the error says so and advises a reboot', async () => {
    const device = {
      serial: 'S3',
      push: async () => undefined,
      shell: async (argv: string[]) => {
        if (argv[0] === 'rm') return res('');
        throw new DeviceError({ serial: 'S3', operation: 'shell', problem: 'timed out after 30000 ms' });
      },
    } as unknown as Device;
    await assert.rejects(
      runRootScript(
        device,
        { kind: 'magisk' },
        {
          name: 'install',
          script: 'x',
          marker: INSTALLED_MARKER,
          file: FILE,
          what: 'installing the lab CA (system-tmpfs)',
          fix: 'x',
        },
      ),
      (err: unknown) => {
        assert.ok(err instanceof WiringError);
        assert.match(err.message, /did not finish within 30 s and may still be running on the phone/);
        assert.match(err.hint ?? '', /adb -s S3 reboot/);
        return true;
      },
    );
  });
});

describe('wiring: the CA method', () => {
  const magisk: Root = { kind: 'magisk' };
  it('auto never remounts: preinstalled, else system-tmpfs with root on every Android version, else none', () => {
    for (const sdk of [29, 30, 33, 34, 35]) {
      assert.equal(
        chooseMethod({ sdk, root: magisk, apex: sdk >= 34, preinstalled: false }, 'auto', 's'),
        'system-tmpfs',
      );
      assert.equal(
        chooseMethod({ sdk, root: null, apex: sdk >= 34, preinstalled: false }, 'auto', 's'),
        'none',
      );
      assert.equal(
        chooseMethod({ sdk, root: magisk, apex: false, preinstalled: true }, 'auto', 's'),
        'preinstalled',
      );
    }
  });
  it('system-remount only when named, refused where the APEX folder is there; root methods need root', () => {
    assert.equal(
      chooseMethod({ sdk: 29, root: magisk, apex: false, preinstalled: false }, 'system-remount', 's'),
      'system-remount',
    );
    assert.throws(
      () => chooseMethod({ sdk: 34, root: magisk, apex: true, preinstalled: false }, 'system-remount', 's'),
      /conscrypt APEX/,
    );
    assert.throws(
      () => chooseMethod({ sdk: 29, root: null, apex: false, preinstalled: false }, 'system-tmpfs', 's'),
      /needs root/,
    );
  });
});
