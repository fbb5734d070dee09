import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { loadProfile } from '../../../../src/virtual/profiles/load.ts';
import { NetError } from '../../../../src/virtual/os/local-net.ts';
import { readBody, requestBytes, StreamReader, writeAll } from '../../../../src/virtual/netstack/wire.ts';
import { INSTRUMENTATION, SERVER_PORT } from '../../../../src/virtual/uia2/index.ts';
import { readApkManifest } from '../../../../src/virtual/os/apk-manifest.ts';
import { run, sh, until, type RunResult } from '../os/helpers.ts';
import { alongside } from '../os/loop-probe.ts';

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

function makePhone(preinstalled = true): VirtualPhone {
  return new VirtualPhone(loadProfile('redmi-note-8-leaky'), {
    serialno: 'uia20001',
    uia2Preinstalled: preinstalled,
  });
}

interface Reply {
  status: number;
  body: { sessionId: string | null; value: unknown };
}

/** One HTTP request on a new phone-loopback connection, as JWProxy's requests arrive through adb forward. */
async function http(phone: VirtualPhone, method: string, path: string, body?: unknown): Promise<Reply> {
  const conn = phone.net.connect(`tcp:${SERVER_PORT}`);
  try {
    const reader = new StreamReader(conn);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Array<[string, string]> = [['Host', '127.0.0.1:6790']];
    if (payload)
      headers.push(['Content-Type', 'application/json'], ['Content-Length', String(payload.length)]);
    await writeAll(conn, requestBytes(method, path, headers, payload));
    const head = await reader.readHead();
    const data = await readBody(reader, head, false);
    return { status: head.status, body: JSON.parse(data.toString('utf8')) as Reply['body'] };
  } finally {
    conn.destroy();
  }
}

interface Server {
  phone: VirtualPhone;
  sid: string;
  instrument: Promise<RunResult>;
  client: AbortController;
  logs: string[];
  call(method: string, path: string, body?: unknown): Promise<Reply>;
  /** `POST /element` → element id (fails the test when not found). */
  find(strategy: string, selector: string, context?: string): Promise<string>;
}

async function startServer(phone = makePhone()): Promise<Server> {
  const logs: string[] = [];
  phone.on('log', (l: string) => logs.push(l));
  const client = new AbortController();
  const instrument = run(
    phone,
    ['am', 'instrument', '-w', '-e', 'disableAnalytics', 'true', INSTRUMENTATION],
    { signal: client.signal },
  );
  await until(() => phone.net.isListening(`tcp:${SERVER_PORT}`));
  const created = await http(phone, 'POST', '/session', {
    capabilities: { firstMatch: [{ platformName: 'Android' }], alwaysMatch: {} },
  });
  assert.equal(created.status, 200);
  const sid = created.body.sessionId as string;
  const call = (method: string, path: string, body?: unknown): Promise<Reply> =>
    http(phone, method, path.replace('SID', sid), body);
  return {
    phone,
    sid,
    instrument,
    client,
    logs,
    call,
    find: async (strategy, selector, context = '') => {
      const r = await call('POST', '/session/SID/element', { strategy, selector, context, multiple: false });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.value as Record<string, string>)[ELEMENT]!;
    },
  };
}

async function stop(s: Server): Promise<void> {
  s.client.abort();
  await s.instrument;
  s.phone.close();
}

describe('uia2: the UiAutomator2 server on the virtual phone', function () {
  this.timeout(10000);

  it('is not installed on a fresh phone: tcp:6790 refuses, am instrument fails like Android', async () => {
    const phone = makePhone(false);
    try {
      assert.throws(() => phone.net.connect('tcp:6790'), NetError);
      assert.equal((await sh(phone, 'pm list instrumentation')).stdout, '');
      const r = await run(phone, ['am', 'instrument', '-w', INSTRUMENTATION]);
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /INSTRUMENTATION_FAILED: io\.appium\.uiautomator2\.server\.test\/androidx\.test\.runner\.AndroidJUnitRunner/,
      );
    } finally {
      phone.close();
    }
  });

  it('runs while am instrument runs; DELETE /session ends the stream', async () => {
    const s = await startServer();
    assert.deepEqual((await s.call('GET', '/status')).body.value, {
      ready: true,
      message: 'UiAutomator2 Server is ready to accept commands',
      build: { version: '10.6.6', versionCode: 278 },
    });
    const sessions = await s.call('GET', '/sessions');
    assert.equal((sessions.body.value as Array<{ id: string }>)[0]?.id, s.sid);
    assert.ok(s.phone.processes.isRunning('io.appium.uiautomator2.server'));
    const del = await s.call('DELETE', '/session/SID');
    assert.deepEqual(del.body, { sessionId: s.sid, value: null });
    const r = await s.instrument;
    assert.equal(r.status, 0);
    assert.match(r.stdout, /AppiumUiAutomator2Server:\.\n\nTime: [\d.]+\n\nOK \(1 test\)/);
    assert.throws(() => s.phone.net.connect('tcp:6790'), NetError);
    assert.ok(!s.phone.processes.isRunning('io.appium.uiautomator2.server'));
    s.phone.close();
  });

  it('stops on am force-stop of the server package', async () => {
    const s = await startServer();
    await sh(s.phone, 'am force-stop io.appium.uiautomator2.server');
    const r = await s.instrument;
    assert.match(r.stdout, /Process crashed/);
    assert.throws(() => s.phone.net.connect('tcp:6790'), NetError);
    s.phone.close();
  });

  it('finds, clicks and reports staleness on the launcher', async () => {
    const s = await startServer();
    try {
      const settings = await s.find('-android uiautomator', 'new UiSelector().text("Settings")');
      assert.equal(await s.find('accessibility id', 'Settings'), settings, 'same node, same id');
      assert.equal(await s.find('xpath', '//*[@content-desc="Settings"]'), settings);
      const ids = await s.call('POST', '/session/SID/elements', {
        strategy: 'id',
        selector: 'icon_title',
        context: '',
        multiple: true,
      });
      assert.equal((ids.body.value as unknown[]).length, 3);
      const full = await s.find('id', 'com.miui.home:id/workspace');
      assert.equal((await s.call('GET', `/session/SID/element/${settings}/text`)).body.value, 'Settings');
      assert.equal(
        (await s.call('GET', `/session/SID/element/${settings}/attribute/resource-id`)).body.value,
        'com.miui.home:id/icon_title',
      );
      assert.equal(
        (await s.call('GET', `/session/SID/element/${full}/attribute/scrollable`)).body.value,
        'true',
      );
      assert.equal(
        (await s.call('GET', `/session/SID/element/${settings}/attribute/displayed`)).body.value,
        'true',
      );
      assert.deepEqual((await s.call('GET', `/session/SID/element/${settings}/rect`)).body.value, {
        x: 546,
        y: 116,
        width: 247,
        height: 294,
      });
      // within an element (context)
      const inWorkspace = await s.call('POST', '/session/SID/elements', {
        strategy: 'class name',
        selector: 'android.widget.TextView',
        context: full,
        multiple: true,
      });
      assert.equal((inWorkspace.body.value as unknown[]).length, 4);

      assert.equal((await s.call('POST', `/session/SID/element/${settings}/click`, {})).status, 200);
      assert.equal(s.phone.screen.focusedComponent(), 'com.android.settings/.Settings');
      const stale = await s.call('GET', `/session/SID/element/${settings}/text`);
      assert.equal(stale.status, 404);
      assert.equal((stale.body.value as { error: string }).error, 'stale element reference');

      // Settings' window is rebuilt on every read: ids still hold for the same row
      const about = await s.find('xpath', '//*[@text="About phone"]');
      assert.equal(await s.find('xpath', '//*[@text="About phone"]'), about);
      assert.equal((await s.call('GET', `/session/SID/element/${about}/text`)).body.value, 'About phone');

      assert.equal((await s.call('POST', '/session/SID/back', {})).status, 200);
      assert.ok(s.phone.screen.isHome());
    } finally {
      await stop(s);
    }
  });

  it('answers errors with the W3C error and HTTP status', async () => {
    const s = await startServer();
    try {
      const cases: Array<[string, unknown, number, string]> = [
        ['id', 'nope', 404, 'no such element'],
        ['xpath', '//x/@text', 400, 'invalid selector'],
        ['-android uiautomator', 'new UiSelector().bogus()', 400, 'invalid selector'],
        ['css selector', 'a', 400, 'invalid selector'],
      ];
      for (const [strategy, selector, status, error] of cases) {
        const r = await s.call('POST', '/session/SID/element', {
          strategy,
          selector,
          context: '',
          multiple: false,
        });
        assert.equal(r.status, status, `${strategy} ${String(selector)}`);
        assert.equal((r.body.value as { error: string }).error, error);
        assert.match((r.body.value as { stacktrace: string }).stacktrace, /Exception/);
      }
      const none = await s.call('POST', '/session/SID/elements', {
        strategy: 'id',
        selector: 'nope',
        context: '',
        multiple: true,
      });
      assert.deepEqual(none.body.value, []);
      const unknown = await s.call('GET', '/session/SID/no/such/route');
      assert.equal(unknown.status, 404);
      assert.equal((unknown.body.value as { error: string }).error, 'unknown command');
      assert.ok(s.logs.some((l) => l.includes('unknown command GET /session/')));
      const badSession = await http(s.phone, 'GET', '/session/other/source');
      assert.equal((badSession.body.value as { error: string }).error, 'invalid session id');
      const stale = await s.call('GET', '/session/SID/element/00000000-0000-0000-0000-000000000000/text');
      assert.equal((stale.body.value as { error: string }).error, 'stale element reference');
    } finally {
      await stop(s);
    }
  });

  it('a catastrophic …Matches regex is an invalid selector, and another phone works meanwhile', async () => {
    const s = await startServer();
    const other = makePhone(false);
    try {
      // Backtracks for hours on the launcher's long resource ids, matched in full.
      const costly = s.call('POST', '/session/SID/element', {
        strategy: '-android uiautomator',
        selector: 'new UiSelector().resourceIdMatches("((.+)+)+X")',
        context: '',
        multiple: false,
      });
      const probe = await alongside(costly, async () => {
        assert.equal((await sh(other, 'echo alive')).stdout, 'alive\n');
      });
      assert.equal(probe.result.status, 400);
      assert.equal((probe.result.body.value as { error: string }).error, 'invalid selector');
      assert.equal(
        (probe.result.body.value as { message: string }).message,
        "Could not parse UiSelector argument: regular expression '((.+)+)+X': regex too costly (stopped after 2 s)",
      );
      assert.deepEqual(probe.order, ['other', 'costly']);
      assert.ok(probe.ticks > 10, `${probe.ticks} ticks`);
      assert.ok(await s.find('-android uiautomator', 'new UiSelector().textMatches("Sett.*")'));
    } finally {
      other.close();
      await stop(s);
    }
  });

  it('types into Mi Browser as input would: append, replace, clear, Enter', async () => {
    const s = await startServer();
    try {
      await sh(s.phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
      const url = await s.find('id', 'url');
      const text = async (): Promise<unknown> =>
        (await s.call('GET', `/session/SID/element/${url}/text`)).body.value;
      await s.call('POST', `/session/SID/element/${url}/value`, { text: 'exa', replace: false });
      await s.call('POST', `/session/SID/element/${url}/value`, { text: 'mple', replace: false });
      assert.equal(await text(), 'example');
      await s.call('POST', `/session/SID/element/${url}/value`, { text: 'abc', replace: true });
      assert.equal(await text(), 'abc');
      await s.call('POST', `/session/SID/element/${url}/clear`, {});
      assert.equal(s.phone.screen.focusedInput()?.text, '');
      await s.call('POST', `/session/SID/element/${url}/value`, { text: 'https://example.com/\n' });
      const dump = (await sh(s.phone, 'uiautomator dump /dev/tty')).stdout;
      assert.match(dump, /resource-id="com\.mi\.globalbrowser:id\/url"[^>]*/);
      assert.match(dump, /example\.com/);
      const value = await s.call(
        'POST',
        `/session/SID/element/${await s.find('accessibility id', 'Home')}/value`,
        {
          text: 'x',
        },
      );
      assert.equal((value.body.value as { error: string }).error, 'invalid element state');
    } finally {
      await stop(s);
    }
  });

  it('W3C actions: a tap and a swipe through the screen logic; keys; settings; screen routes', async () => {
    const s = await startServer();
    try {
      const page = async (): Promise<unknown> =>
        (
          await s.call(
            'GET',
            `/session/SID/element/${await s.find('id', 'page_indicator')}/attribute/content-desc`,
          )
        ).body.value;
      assert.equal(await page(), 'Page 1 of 3');
      const swipe = {
        actions: [
          {
            type: 'pointer',
            id: 'finger1',
            parameters: { pointerType: 'touch' },
            actions: [
              { type: 'pointerMove', duration: 0, x: 900, y: 1000 },
              { type: 'pointerDown', button: 0 },
              { type: 'pointerMove', duration: 300, x: 150, y: 1000, origin: 'viewport' },
              { type: 'pointerUp', button: 0 },
            ],
          },
        ],
      };
      assert.equal((await s.call('POST', '/session/SID/actions', swipe)).status, 200);
      assert.equal(await page(), 'Page 2 of 3');
      await s.call('POST', '/session/SID/appium/device/press_keycode', { keycode: 3 });
      assert.equal(await page(), 'Page 1 of 3');
      const browser = await s.find('accessibility id', 'Mi Browser');
      const tap = {
        actions: [
          {
            type: 'pointer',
            id: 'finger1',
            parameters: { pointerType: 'touch' },
            actions: [
              { type: 'pointerMove', duration: 0, x: 0, y: 0, origin: { [ELEMENT]: browser } },
              { type: 'pointerDown', button: 0 },
              { type: 'pause', duration: 80 },
              { type: 'pointerUp', button: 0 },
            ],
          },
        ],
      };
      await s.call('POST', '/session/SID/actions', tap);
      assert.equal(s.phone.screen.focused().package, 'com.mi.globalbrowser');
      await s.call('POST', `/session/SID/element/${await s.find('id', 'url')}/click`, {});
      const keys = {
        actions: [
          {
            type: 'key',
            id: 'kb',
            actions: [
              { type: 'keyDown', value: 'h' },
              { type: 'keyUp', value: 'h' },
              { type: 'keyDown', value: 'i' },
              { type: 'keyUp', value: 'i' },
              { type: 'keyDown', value: '\uE003' },
              { type: 'keyUp', value: '\uE003' },
            ],
          },
        ],
      };
      await s.call('POST', '/session/SID/actions', keys);
      assert.equal(s.phone.screen.focusedInput()?.text, 'h');

      const settings = (await s.call('GET', '/session/SID/appium/settings')).body.value as Record<
        string,
        unknown
      >;
      assert.equal(settings.waitForIdleTimeout, 10000);
      await s.call('POST', '/session/SID/appium/settings', { settings: { waitForIdleTimeout: 100 } });
      assert.equal(
        ((await s.call('GET', '/session/SID/appium/settings')).body.value as Record<string, unknown>)
          .waitForIdleTimeout,
        100,
      );
      const shot = Buffer.from(
        (await s.call('GET', '/session/SID/screenshot')).body.value as string,
        'base64',
      );
      assert.equal(shot.subarray(1, 4).toString('latin1'), 'PNG');
      const source = (await s.call('GET', '/session/SID/source')).body.value as string;
      assert.equal(source, s.phone.screen.sourceXml());
      assert.deepEqual((await s.call('GET', '/session/SID/window/current/size')).body.value, {
        width: 1080,
        height: 2340,
      });
      const info = (await s.call('GET', '/session/SID/appium/device/info')).body.value as Record<
        string,
        unknown
      >;
      assert.equal(info.model, 'Redmi Note 8');
      assert.equal(info.realDisplaySize, '1080x2340');
      assert.equal((await s.call('GET', '/session/SID/appium/device/pixel_ratio')).body.value, 2.75);
      assert.deepEqual((await s.call('GET', '/session/SID/appium/device/system_bars')).body.value, {
        statusBar: 77,
      });
    } finally {
      await stop(s);
    }
  });

  const APKS = '.appium/node_modules/appium-uiautomator2-driver/node_modules/appium-uiautomator2-server/apks';
  it('a streamed install of the real test APK declares the instrumentation', async function () {
    const test = `${APKS}/appium-uiautomator2-server-debug-androidTest.apk`;
    if (!existsSync(test)) this.skip();
    const bytes = readFileSync(test);
    assert.equal(readApkManifest(bytes)?.package, 'io.appium.uiautomator2.server.test');
    const phone = makePhone(false);
    try {
      const r = await run(phone, ['cmd', 'package', 'install', '-r', '-g', '-S', String(bytes.length)], {
        stdin: bytes,
      });
      assert.equal(r.stdout, 'Success\n');
      assert.equal(
        (await sh(phone, 'pm list instrumentation')).stdout,
        'instrumentation:io.appium.uiautomator2.server.test/androidx.test.runner.AndroidJUnitRunner (target=io.appium.uiautomator2.server)\n',
      );
    } finally {
      phone.close();
    }
  });
});
