import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDevicesFile } from '../../../src/config/devices-file.ts';
import { uiKindOf } from '../../../src/config/devices-schema.ts';
import { UserFacingError } from '../../../src/util/user-facing.ts';

describe('devices.json: the per-phone "ui" field', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'phonehome-dev-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (phones: unknown[]): string => {
    const f = join(dir, 'devices.json');
    writeFileSync(f, JSON.stringify({ phones }));
    return f;
  };

  it('"appium" (the default when absent) or "adb"', () => {
    const file = readDevicesFile(
      write([{ serial: 'a' }, { serial: 'b', ui: 'adb' }, { serial: 'c', ui: 'appium' }]),
    );
    assert.deepEqual(file.phones.map(uiKindOf), ['appium', 'adb', 'appium']);
  });

  it('anything else names the file, the field, the value and the fix', () => {
    const f = write([{ serial: 'a' }, { serial: 'b', ui: 'selenium' }]);
    assert.throws(
      () => readDevicesFile(f),
      (e: unknown) => {
        assert.ok(e instanceof UserFacingError);
        assert.equal(e.message, `${f}: field "phones[1].ui" (b) must be "appium" or "adb", got "selenium"`);
        assert.match(e.hint ?? '', /"ui": "appium".*"ui": "adb".*leave the field out/);
        return true;
      },
    );
    assert.throws(() => readDevicesFile(write([{ serial: 'a', ui: 1 }])), /got 1$/);
  });
});
