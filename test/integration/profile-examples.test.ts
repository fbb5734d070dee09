/**
 * Every example profile (profiles/examples/*.json) boots a virtual phone that the real adb server
 * lists as `device`, with the props and root its file says; test/support/lab.ts startLab takes the
 * files' paths as it takes profile names.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EXAMPLE_DIR, listExampleProfiles } from '../../src/virtual/profiles/load.ts';
import { adbRun, startLab, type TestLab } from '../support/lab.ts';

describe('example profiles on the real adb server', function () {
  this.timeout(120000);
  const examples = listExampleProfiles();
  let t: TestLab;

  before(async () => {
    t = await startLab(examples.map((e) => join(EXAMPLE_DIR, `${e.name}.json`)));
  });
  after(async () => {
    await t?.stop();
  });

  it('boots one phone per example file', async () => {
    assert.ok(examples.length >= 6);
    assert.deepEqual(
      t.phones.map((p) => p.profile.name),
      examples.map((e) => e.name),
    );
    const devices = (await adbRun(t.adb.port, ['devices'])).stdout.toString();
    for (const p of t.phones) {
      assert.match(devices, new RegExp(`^${p.serial.replace(/\./g, '\\.')}\\s+device$`, 'm'), devices);
      const r = await adbRun(t.adb.port, [
        '-s',
        p.serial,
        'shell',
        'getprop sys.boot_completed; getprop ro.build.version.sdk; su -c id',
      ]);
      const [boot, sdk, id = ''] = r.stdout.toString().split('\n');
      assert.equal(boot, '1', p.profile.name);
      assert.equal(sdk, p.profile.props['ro.build.version.sdk'], p.profile.name);
      if (p.profile.rooted) assert.match(id, /uid=0\(root\)/, p.profile.name);
      else assert.doesNotMatch(r.stdout.toString(), /uid=0\(root\)/, p.profile.name);
    }
  });
});
