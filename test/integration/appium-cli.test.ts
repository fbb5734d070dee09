/**
 * `phonehome appium up/down` and `lab status --json` capabilities, the way a lab engineer uses them:
 * a lab in the background, the harness's Appium server, and a PLAIN webdriverio remote() built only
 * from what the two commands print — no phonehome code in the session.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remote } from 'webdriverio';
import { runCli, type CliResult } from '../support/cli.ts';
import { freePort, startAdbServer, type TestAdbServer } from '../support/lab.ts';

interface StatusJson {
  running: boolean;
  appium: { url: string } | null;
  phones: Array<{ serial: string; profile: string; capabilities: Record<string, unknown> }>;
}

const show = (r: CliResult): string => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

describe('phonehome appium up/down and lab status --json capabilities', function () {
  this.timeout(180_000);
  let adb: TestAdbServer;
  let cwd: string;
  let env: Record<string, string>;
  const cli = (args: string[], timeoutMs = 120_000) => runCli(args, { env, cwd, timeoutMs });

  before(async () => {
    adb = await startAdbServer();
    cwd = mkdtempSync(join(tmpdir(), 'phonehome-appium-cli-'));
    env = { ANDROID_ADB_SERVER_PORT: String(adb.port), PHONEHOME_HOME: join(cwd, 'home') };
    const up = await cli([
      'lab',
      'up',
      '--profile',
      'redmi-note-8-leaky',
      '--profile',
      'xiaomi-13-hyperos-rooted',
    ]);
    assert.equal(up.code, 0, show(up));
  });

  after(async () => {
    if (env) {
      await cli(['appium', 'down']).catch(() => undefined);
      await cli(['lab', 'down']).catch(() => undefined);
    }
    await adb?.stop();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('appium up --json prints the URL; a second up finds it running', async () => {
    const port = await freePort();
    const r = await cli(['appium', 'up', '--json', '--port', String(port)]);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(JSON.parse(r.stdout), { url: `http://127.0.0.1:${port}/` });
    const again = await cli(['appium', 'up', '--json', '--port', String(await freePort())]);
    assert.equal(again.code, 0, show(again));
    assert.deepEqual(JSON.parse(again.stdout), { url: `http://127.0.0.1:${port}/` }, 'one server, not two');
  });

  it('a plain webdriverio remote() with the printed URL and capabilities drives each phone', async () => {
    const st = await cli(['lab', 'status', '--json']);
    assert.equal(st.code, 0, show(st));
    const status = JSON.parse(st.stdout) as StatusJson;
    assert.ok(status.running && status.appium, show(st));
    assert.equal(status.phones.length, 2);
    const ports = new Set(status.phones.map((p) => p.capabilities['appium:systemPort']));
    assert.equal(ports.size, 2, 'each phone has its own systemPort');
    const url = new URL(status.appium.url);
    for (const phone of status.phones) {
      assert.equal(phone.capabilities['appium:udid'], phone.serial);
      assert.equal(phone.capabilities['appium:adbPort'], adb.port);
      const browser = await remote({
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        logLevel: 'silent',
        capabilities: phone.capabilities,
      });
      try {
        const size = await browser.getWindowSize();
        assert.ok(size.width > 0 && size.height > 0);
        const source = await browser.getPageSource();
        assert.match(source, /<hierarchy/);
        const info = (await browser.execute('mobile: deviceInfo')) as { model?: string };
        const expected = phone.profile.startsWith('xiaomi-13') ? 'Xiaomi 13' : 'Redmi Note 8';
        assert.match(String(info.model ?? ''), new RegExp(expected.split(' ').pop()!), JSON.stringify(info));
      } finally {
        await browser.deleteSession();
      }
    }
  });

  it('appium down stops it; lab status then reports no server', async () => {
    const down = await cli(['appium', 'down']);
    assert.equal(down.code, 0, show(down));
    assert.match(down.stdout, /stopped the Appium server/);
    const st = JSON.parse((await cli(['lab', 'status', '--json'])).stdout) as StatusJson;
    assert.equal(st.appium, null);
    const again = await cli(['appium', 'down']);
    assert.match(again.stdout, /no Appium server is running/);
  });
});
