import * as assert from 'node:assert/strict';
import { parsePort, resolveAdbPort } from '../../../src/device/adb-client.ts';
import { parseDeviceList } from '../../../src/device/discovery.ts';
import {
  AdbPortError,
  AdbServerError,
  DeviceError,
  DeviceUnavailableError,
  fixForState,
  hintForDeviceOutput,
} from '../../../src/device/errors.ts';

describe('device errors', () => {
  it('names the phone, the operation, the problem and the fix', () => {
    const err = new DeviceError({
      serial: '127.0.0.1:20001',
      operation: 'shell "getprop"',
      problem: 'timed out after 10000 ms',
      hint:
        'Check the phone is awake and connected (adb -s 127.0.0.1:20001 get-state), ' +
        'or raise the timeout (--timeout on the phonehome command, or the timeoutMs option of Device)',
    });
    assert.equal(
      err.message,
      'phone 127.0.0.1:20001: shell "getprop" timed out after 10000 ms. Check the phone is awake and connected ' +
        '(adb -s 127.0.0.1:20001 get-state), or raise the timeout (--timeout on the phonehome command, or the ' +
        'timeoutMs option of Device).',
    );
    assert.equal(err.name, 'DeviceError');
    assert.equal(err.serial, '127.0.0.1:20001');
    assert.equal(err.operation, 'shell "getprop"');
    const cause = new Error('inner');
    assert.equal(new DeviceError({ serial: 's', operation: 'push', problem: 'failed', cause }).cause, cause);
  });

  it('says what to do for each unusable state', () => {
    const unauthorized = new DeviceUnavailableError({ serial: 'abc', state: 'unauthorized' });
    assert.match(
      unauthorized.message,
      /^phone abc is unauthorized\. Unlock the phone and accept the USB debugging prompt/,
    );
    assert.ok(unauthorized instanceof DeviceError);
    assert.equal(unauthorized.state, 'unauthorized');

    const offline = new DeviceUnavailableError({
      serial: '127.0.0.1:20001',
      state: 'offline',
      port: 15037,
      operation: 'shell "id"',
    });
    assert.match(
      offline.message,
      /^phone 127\.0\.0\.1:20001: shell "id" failed: the phone is offline\. Reconnect it: /,
    );
    assert.match(
      offline.message,
      /adb -P 15037 disconnect 127\.0\.0\.1:20001 && adb -P 15037 connect 127\.0\.0\.1:20001/,
    );

    assert.match(new DeviceUnavailableError({ serial: 'u', state: 'no permissions' }).message, /udev rule/);
    assert.match(fixForState('recovery', 'u')!, /boot it into Android \(adb -s u reboot\)/);
    assert.match(fixForState('weird', 'u')!, /USB debugging \(Security settings\)/);
    assert.equal(fixForState('device', 'u'), undefined);
  });

  it('explains an unreachable adb server', () => {
    assert.equal(
      new AdbServerError({ host: '127.0.0.1', port: 15037 }).message,
      'cannot reach the adb server on 127.0.0.1:15037: start it with `adb -P 15037 start-server` or set ANDROID_ADB_SERVER_PORT',
    );
  });

  it('recognises the Xiaomi developer-option traps in command output', () => {
    assert.match(
      hintForDeviceOutput('requires:android.permission.WRITE_SECURE_SETTINGS')!,
      /USB debugging \(Security settings\)/,
    );
    assert.match(
      hintForDeviceOutput('Injecting to another application requires INJECT_EVENTS permission')!,
      /Security settings/,
    );
    assert.match(
      hintForDeviceOutput('Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]')!,
      /Install via USB/,
    );
    assert.equal(hintForDeviceOutput('all good'), undefined);
  });
});

describe('resolveAdbPort', () => {
  const saved = process.env['ANDROID_ADB_SERVER_PORT'];
  afterEach(() => {
    if (saved === undefined) delete process.env['ANDROID_ADB_SERVER_PORT'];
    else process.env['ANDROID_ADB_SERVER_PORT'] = saved;
  });

  it('prefers the explicit port, then ANDROID_ADB_SERVER_PORT (unless empty, as adb does), then 5037', () => {
    delete process.env['ANDROID_ADB_SERVER_PORT'];
    assert.equal(resolveAdbPort(), 5037);
    process.env['ANDROID_ADB_SERVER_PORT'] = '';
    assert.equal(resolveAdbPort(), 5037);
    process.env['ANDROID_ADB_SERVER_PORT'] = ' ';
    assert.equal(resolveAdbPort(), 5037);
    process.env['ANDROID_ADB_SERVER_PORT'] = '15037';
    assert.equal(resolveAdbPort(), 15037);
    assert.equal(resolveAdbPort(16000), 16000);
    assert.equal(resolveAdbPort('16001'), 16001);
  });

  it('fails with a user-facing error naming the variable or the option, and the fix', () => {
    process.env['ANDROID_ADB_SERVER_PORT'] = 'abc';
    assert.throws(
      () => resolveAdbPort(),
      (err: unknown) =>
        err instanceof AdbPortError &&
        err.userFacing &&
        err.message ===
          "invalid adb server port 'abc' in ANDROID_ADB_SERVER_PORT: it must be a whole number from 1 to 65535" &&
        err.hint ===
          'set ANDROID_ADB_SERVER_PORT to the port your adb server listens on, or unset it to use 5037',
    );
    // An explicit port wins over a broken variable, and is checked itself.
    assert.equal(resolveAdbPort(16000), 16000);
    assert.throws(
      () => resolveAdbPort(70000),
      (err: unknown) =>
        err instanceof AdbPortError &&
        err.message.startsWith(`invalid adb server port '70000' given as the "port" option:`) &&
        err.hint === `give the "port" option the port your adb server listens on (adb's default is 5037)`,
    );
    // An explicit empty value (`--adb-port "$UNSET"`) is an error, not a silent 5037.
    assert.throws(
      () => resolveAdbPort('', { option: '--adb-port' }),
      /^AdbPortError: invalid adb server port '' given as --adb-port:/,
    );
  });
});

describe('parsePort', () => {
  it('takes whole numbers 1–65535, as numbers or decimal digits', () => {
    assert.equal(parsePort('5037'), 5037);
    assert.equal(parsePort(' 5037 '), 5037);
    assert.equal(parsePort(65535), 65535);
    assert.equal(parsePort('1'), 1);
    for (const bad of ['', ' ', '0', '65536', '0x10', '1e3', '80.5', '-1', '+80', 'abc', '١٢٣']) {
      assert.equal(parsePort(bad), undefined, JSON.stringify(bad));
    }
    for (const bad of [0, -1, 1.5, 65536, Number.NaN, Infinity])
      assert.equal(parsePort(bad), undefined, String(bad));
  });
});

describe('device errors are user-facing', () => {
  it('marks DeviceError, DeviceUnavailableError and AdbServerError', () => {
    assert.equal(new DeviceError({ serial: 's', operation: '', problem: 'x' }).userFacing, true);
    assert.equal(new DeviceUnavailableError({ serial: 's', state: 'offline' }).userFacing, true);
    assert.equal(new AdbServerError({ host: 'h', port: 1 }).userFacing, true);
  });
});

describe('parseDeviceList', () => {
  it('reads adb devices lines and shortens the no-permissions explanation', () => {
    assert.deepEqual(
      parseDeviceList('a\tdevice\nb\tno permissions (user x is not in the plugdev group)\r\nc\toffline\n'),
      [
        { serial: 'a', state: 'device' },
        { serial: 'b', state: 'no permissions' },
        { serial: 'c', state: 'offline' },
      ],
    );
  });
});
