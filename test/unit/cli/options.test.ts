import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserFacingError } from '../../../src/util/user-facing.ts';
import {
  adbPortOption,
  checkPhonePorts,
  parseBasePort,
  parsePhoneCount,
  timeoutMsParser,
} from '../../../src/cli/options.ts';
import { AdbPortError } from '../../../src/device/errors.ts';
import { fakeAdb, runMain } from './run-main.ts';

const userError = (message: RegExp, hint?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof UserFacingError, String(err));
  assert.match(err.message, message);
  if (hint) assert.match(err.hint ?? '', hint);
  return true;
};

describe('CLI options', () => {
  const saved = process.env['ANDROID_ADB_SERVER_PORT'];
  afterEach(() => {
    if (saved === undefined) delete process.env['ANDROID_ADB_SERVER_PORT'];
    else process.env['ANDROID_ADB_SERVER_PORT'] = saved;
  });

  it('--adb-port, else ANDROID_ADB_SERVER_PORT (empty counts as unset), else 5037', () => {
    delete process.env['ANDROID_ADB_SERVER_PORT'];
    assert.equal(adbPortOption(undefined), 5037);
    process.env['ANDROID_ADB_SERVER_PORT'] = '';
    assert.equal(adbPortOption(undefined), 5037);
    process.env['ANDROID_ADB_SERVER_PORT'] = ' 15037 ';
    assert.equal(adbPortOption(undefined), 15037);
    assert.equal(adbPortOption('16000'), 16000);
    process.env['ANDROID_ADB_SERVER_PORT'] = 'abc';
    assert.throws(
      () => adbPortOption(undefined),
      (err: unknown) =>
        err instanceof AdbPortError &&
        /^invalid adb server port 'abc' in ANDROID_ADB_SERVER_PORT/.test(err.message) &&
        /ANDROID_ADB_SERVER_PORT/.test(err.hint),
    );
    for (const bad of ['99999', '0', '', '0x10', '1e3', '80.5', '-1']) {
      assert.throws(
        () => adbPortOption(bad),
        (err: unknown) =>
          err instanceof AdbPortError &&
          err.message.startsWith(`invalid adb server port '${bad}' given as --adb-port:`) &&
          err.hint.includes('--adb-port'),
        bad,
      );
    }
  });

  it('--timeout: a whole number of milliseconds, at least 1', () => {
    const parse = timeoutMsParser('--timeout');
    assert.equal(parse('60000'), 60000);
    assert.equal(parse('1'), 1);
    for (const bad of ['abc', '', '0', '-5', '1.5', '1e3', '2147483648']) {
      assert.throws(
        () => parse(bad),
        userError(new RegExp(`^--timeout must be a whole number of milliseconds .*\\(got '${bad}'\\)$`)),
        bad,
      );
    }
  });

  it('--phones: 1 to 64', () => {
    assert.equal(parsePhoneCount('3'), 3);
    for (const bad of ['0', '65', 'abc', '2.5', ''])
      assert.throws(() => parsePhoneCount(bad), userError(/^--phones must be a whole number from 1 to 64/));
  });

  it('--base-port: 1024–65000, outside 5555–5585', () => {
    assert.equal(parseBasePort('20000'), 20000);
    assert.equal(parseBasePort('5586'), 5586);
    assert.throws(() => parseBasePort('5560'), userError(/--base-port .*5555–5585.*'5560'/, /emulator/));
    for (const bad of ['1023', '65001', 'abc', '0x5000'])
      assert.throws(() => parseBasePort(bad), userError(new RegExp(`'${bad}'`)));
  });

  it('--base-port with N phones: every port ≤ 65000 and outside 5555–5585', () => {
    checkPhonePorts(20000, 64);
    checkPhonePorts(5586, 5);
    checkPhonePorts(5550, 5); // 5550–5554
    checkPhonePorts(64996, 5); // …65000
    assert.throws(
      () => checkPhonePorts(64999, 3),
      userError(/^--base-port 64999 with 3 phones needs ports 64999–65001, beyond 65000$/, /at most 64998/),
    );
    assert.throws(
      () => checkPhonePorts(5550, 8),
      userError(
        /^--base-port 5550 with 8 phones needs ports 5550–5557, which overlap 5555–5585$/,
        /emulator/,
      ),
    );
    assert.throws(() => checkPhonePorts(5500, 100), userError(/overlap 5555–5585/));
  });

  describe('on the command line', () => {
    let dir: string;
    let adb: ReturnType<typeof fakeAdb>;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'phonehome-cli-options-'));
      adb = fakeAdb(dir);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const run = (args: string[], env: Record<string, string> = {}) =>
      runMain(args, { ADB: adb.path, PHONEHOME_HOME: dir, ANDROID_ADB_SERVER_PORT: undefined, ...env });

    const cases: Array<{ args: string[]; env?: Record<string, string>; stderr: RegExp }> = [
      {
        args: ['lab', 'up', '--adb-port', '45998', '--phones', '1', '--timeout', 'abc'],
        stderr: /^phonehome: --timeout must be a whole number of milliseconds from 1 to \d+ \(got 'abc'\)\n$/,
      },
      {
        args: ['lab', 'down', '--adb-port', '45998', '--timeout', '-1'],
        stderr: /^phonehome: --timeout must be .*\(got '-1'\)\n$/,
      },
      {
        args: ['devices', '--adb-port', '45998', '--timeout', '0'],
        stderr: /^phonehome: --timeout must be .*\(got '0'\)\n$/,
      },
      {
        args: ['lab', 'up', '--adb-port', '45998', '--base-port', '64999', '--phones', '3'],
        stderr: /^phonehome: --base-port 64999 with 3 phones .*beyond 65000\n {2}fix: .*64998\n$/,
      },
      {
        args: ['lab', 'up', '--adb-port', '45998', '--base-port', '5550', '--phones', '8'],
        stderr: /^phonehome: --base-port 5550 with 8 phones .*overlap 5555–5585\n {2}fix: .*emulator/,
      },
      {
        args: ['devices', '--adb-port', '99999'],
        stderr: /^phonehome: invalid adb server port '99999' given as --adb-port: .*\n {2}fix: .*--adb-port/,
      },
      {
        args: ['lab', 'status'],
        env: { ANDROID_ADB_SERVER_PORT: 'abc' },
        stderr:
          /^phonehome: invalid adb server port 'abc' in ANDROID_ADB_SERVER_PORT.*\n {2}fix: .*ANDROID_ADB_SERVER_PORT/,
      },
    ];
    for (const c of cases) {
      it(`${c.env ? 'ANDROID_ADB_SERVER_PORT=abc ' : ''}${c.args.join(' ')}: exit 1, one line + fix, nothing started`, async () => {
        const r = await run(c.args, c.env);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, c.stderr);
        assert.equal(r.stdout, '');
        assert.deepEqual(adb.calls(), []);
        assert.deepEqual(
          readdirSync(dir).filter((f) => f.startsWith('lab-')),
          [],
        );
      });
    }
  });
});
