import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatError, isUserFacing } from '../../../src/cli/errors.ts';
import { UserFacingError } from '../../../src/util/user-facing.ts';
import {
  AdbPortError,
  AdbServerError,
  DeviceError,
  DeviceUnavailableError,
} from '../../../src/device/errors.ts';
import { AdbCliError } from '../../../src/virtual/lab/adb-client.ts';
import { ProfileError } from '../../../src/virtual/profiles/load.ts';
import { runMain } from './run-main.ts';

describe('CLI error output', () => {
  it('treats the device layer, adb client and profile errors as user-facing', () => {
    const errors = [
      new DeviceError({ serial: 's', operation: 'push', problem: 'failed' }),
      new DeviceUnavailableError({ serial: 's', state: 'offline' }),
      new AdbServerError({ host: '127.0.0.1', port: 15037 }),
      new AdbPortError({ value: 'abc', source: '--adb-port' }),
      new AdbCliError('adb -P 15037 connect x failed (1): nope', '', 'nope', 1),
      new ProfileError('profiles/x.json: field "rooted" must be true or false'),
      new UserFacingError('bad input'),
    ];
    for (const err of errors) {
      assert.ok(isUserFacing(err), err.name);
      const text = formatError(err);
      assert.ok(text.startsWith(`phonehome: ${err.message}`), text);
      assert.doesNotMatch(text, /internal error|^\s{4}at /m, text);
    }
    assert.ok(!isUserFacing(new TypeError('a bug')));
    assert.match(formatError(new TypeError('a bug')), /^phonehome: internal error .*\n.*TypeError: a bug/);
  });

  it('prints the hint on a fix line unless the message already says it', () => {
    // DeviceError ends its message with the hint (capitalised, with a full stop): no second copy.
    const device = new DeviceError({
      serial: 's',
      operation: 'shell "id"',
      problem: 'timed out after 5 ms',
      hint: 'check the phone is awake',
    });
    assert.equal(
      formatError(device),
      'phonehome: phone s: shell "id" timed out after 5 ms. Check the phone is awake.',
    );
    const offline = new DeviceUnavailableError({ serial: '127.0.0.1:20001', state: 'offline', port: 15037 });
    assert.equal(formatError(offline).split('\n').length, 1, formatError(offline));

    assert.equal(
      formatError(new UserFacingError('no such thing', 'make one')),
      'phonehome: no such thing\n  fix: make one',
    );
    assert.equal(
      formatError(new AdbCliError('the adb client was not found (/x/adb)', '', '', null, 'install adb')),
      'phonehome: the adb client was not found (/x/adb)\n  fix: install adb',
    );
    assert.equal(
      formatError(new AdbPortError({ value: 'abc', source: 'ANDROID_ADB_SERVER_PORT', fromEnv: true })),
      "phonehome: invalid adb server port 'abc' in ANDROID_ADB_SERVER_PORT: it must be a whole number from 1 to 65535\n" +
        '  fix: set ANDROID_ADB_SERVER_PORT to the port your adb server listens on, or unset it to use 5037',
    );
  });

  describe('phonehome with a missing adb client', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'phonehome-cli-errors-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const cases: Array<{ name: string; args: () => string[] }> = [
      { name: 'demo', args: () => ['demo', '--adb-port', '45999', '--out', join(dir, 'out')] },
      {
        name: 'lab up',
        args: () => ['lab', 'up', '--adb-port', '45999', '--phones', '1', '--devices', join(dir, 'd.json')],
      },
    ];
    for (const c of cases) {
      it(`${c.name} prints one line and the fix, exit 1, no stack`, async () => {
        const r = await runMain(c.args(), { ADB: '/nonexistent/adb', PHONEHOME_HOME: dir });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(
          r.stderr,
          'phonehome: the adb client was not found (/nonexistent/adb)\n' +
            '  fix: install it with `apt-get install -y adb`, or set ADB=/path/to/adb\n',
        );
        assert.equal(r.stdout, '');
      });
    }
  });
});
