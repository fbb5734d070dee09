import assert from 'node:assert/strict';
import { AdbUiDriver, summarise } from '../../../../src/ui/adb/driver.ts';
import { INTENT_FLAG, KEYCODE, UiError } from '../../../../src/ui/driver.ts';
import { dumpOf, FakeDevice, type N } from '../fakes.ts';

const SCREEN: N = {
  id: 'app:id/root',
  bounds: [0, 0, 1080, 2340],
  kids: [
    { id: 'app:id/url', cls: 'android.widget.EditText', text: 'http://a/', bounds: [100, 100, 900, 200] },
    { id: 'app:id/ok', text: 'OK', desc: 'Confirm', bounds: [0, 300, 200, 401] },
  ],
};

function driver(dev: FakeDevice, timeoutMs = 2000): AdbUiDriver {
  return new AdbUiDriver(dev, { timeoutMs, pollMs: 1 });
}

describe('ui/adb/driver: the ADB-only UiDriver against a fake Device', () => {
  it('dumps to a private file and reads it back in one shell command', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf(SCREEN) }];
    const ui = driver(dev);
    await ui.find({ id: 'app:id/ok' });
    const cmd = dev.calls[0] as string;
    assert.match(
      cmd,
      /^rm -f \/data\/local\/tmp\/phonehome-ui-[0-9a-f]{8}\.xml && uiautomator dump \/data\/local\/tmp\/phonehome-ui-[0-9a-f]{8}\.xml && cat /,
    );
    await ui.close();
    assert.deepEqual(dev.argvCalls().at(-1)!.slice(0, 2), ['rm', '-f']);
    await assert.rejects(ui.find({ id: 'app:id/ok' }), /closed/);
  });

  it('tries the fallbacks in order and says which one matched', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf(SCREEN) }];
    const el = await driver(dev).find([{ id: 'app:id/missing' }, { desc: 'Confirm' }, { text: 'OK' }]);
    assert.equal(el.fallback, 1);
    assert.deepEqual(el.matched, { desc: 'Confirm' });
    assert.equal(el.text, 'OK');
    assert.deepEqual(el.bounds, { left: 0, top: 300, right: 200, bottom: 401 });
  });

  it('keeps dumping through failures (animations) until the element shows', async () => {
    const dev = new FakeDevice();
    dev.dumps = [
      { stdout: '', stderr: 'ERROR: could not get idle state.', exitCode: 1 },
      { stdout: dumpOf({ id: 'app:id/root', bounds: [0, 0, 10, 10] }) },
      { stdout: dumpOf(SCREEN) },
    ];
    const el = await driver(dev).find({ id: 'app:id/ok' });
    assert.equal(el.resourceId, 'app:id/ok');
    assert.equal(dev.calls.length, 3);
  });

  it('gives up at the deadline with the phone, the target, what was on screen and a fix', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf(SCREEN) }];
    await assert.rejects(driver(dev, 50).find([{ id: 'app:id/nope' }, { text: 'Nope' }]), (e: unknown) => {
      assert.ok(e instanceof UiError);
      assert.match(
        e.message,
        /^phone fake-serial-1: find \[id=app:id\/nope\] or \[text="Nope"\] found nothing within 50 ms\./,
      );
      assert.match(e.message, /3 nodes of com\.example \("http:\/\/a\/", "OK"\)/);
      assert.match(e.message, /locators\.json/);
      return true;
    });
  });

  it('reports a dump that never works with its own fix', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stderr: 'ERROR: null root node returned by UiTestAutomationBridge.', exitCode: 1 }];
    await assert.rejects(
      driver(dev, 30).find({ id: 'x' }),
      /uiautomator dump gave no hierarchy.*Wake and unlock/,
    );
  });

  it('taps the centre; types quoted argv only, never a command string', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf(SCREEN) }];
    const ui = driver(dev);
    const url = await ui.find({ id: 'app:id/url' });
    await ui.tap(url);
    await ui.type(url, `$(reboot); 'x' 100%sure`);
    const argv = dev.argvCalls();
    assert.deepEqual(argv[0], ['input', 'tap', '500', '150']);
    // Not focused in the snapshot: focus first, then type.
    assert.deepEqual(argv[1], ['input', 'tap', '500', '150']);
    assert.deepEqual(argv.slice(2), [
      ['input', 'text', `$(reboot); 'x' 100%`],
      ['input', 'text', 'sure'],
    ]);
    assert.ok(dev.calls.filter((c) => typeof c === 'string').every((c) => !c.includes('reboot')));
  });

  it('refuses Unicode with a fix naming the Appium driver, without touching the phone', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf(SCREEN) }];
    const ui = driver(dev);
    const url = await ui.find({ id: 'app:id/url' });
    await assert.rejects(ui.type(url, 'café'), (e: unknown) => {
      assert.ok(e instanceof UiError);
      assert.match(e.message, /type into "app:id\/url".*cannot type U\+00E9 "é".*"ui": "appium"/);
      return true;
    });
    assert.deepEqual(dev.argvCalls(), []);
  });

  it('clears with MOVE_END and one DEL per character', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf({ ...SCREEN, kids: [{ ...SCREEN.kids![0]!, focused: true }] }) }];
    const ui = driver(dev);
    await ui.clear(await ui.find({ id: 'app:id/url' }));
    assert.deepEqual(dev.argvCalls(), [
      ['input', 'keyevent', String(KEYCODE.MOVE_END), ...Array<string>(9).fill(String(KEYCODE.DEL))],
    ]);
  });

  it('keys, swipes from the window size, the status-bar pull', async () => {
    const dev = new FakeDevice();
    dev.answers.wm = { stdout: 'Physical size: 1080x2340\nOverride size: 1000x2000\n' };
    const ui = driver(dev);
    await ui.pressKey(KEYCODE.ENTER);
    await ui.back();
    await ui.swipeScreen('left');
    await ui.openNotifications();
    assert.deepEqual(await ui.windowSize(), { width: 1000, height: 2000 });
    assert.deepEqual(dev.argvCalls(), [
      ['input', 'keyevent', '66'],
      ['input', 'keyevent', '4'],
      ['wm', 'size'],
      ['input', 'swipe', '900', '1000', '100', '1000', '300'],
      ['wm', 'size'],
      ['input', 'swipe', '250', '5', '250', '1200', '300'],
      ['wm', 'size'],
    ]);
    await assert.rejects(ui.pressKey(-1), TypeError);
  });

  it('am start: argv with extras and flags; "Error:" output becomes a UiError', async () => {
    const dev = new FakeDevice();
    const ui = driver(dev);
    await ui.startActivity('com.android.settings/.SubSettings', {
      extras: { ':settings:show_fragment': 'a.B' },
      flags: INTENT_FLAG.CLEAR_TOP,
    });
    await ui.openUrl("http://x/?a=1&b='2'", { packageName: 'com.mi.globalbrowser' });
    assert.deepEqual(dev.argvCalls(), [
      [
        'am',
        'start',
        '-n',
        'com.android.settings/.SubSettings',
        '--es',
        ':settings:show_fragment',
        'a.B',
        '-f',
        '0x4000000',
      ],
      [
        'am',
        'start',
        '-a',
        'android.intent.action.VIEW',
        '-d',
        "http://x/?a=1&b='2'",
        '-p',
        'com.mi.globalbrowser',
      ],
    ]);
    dev.answers.am = {
      stdout: 'Starting: Intent { cmp=a/.B }\nError type 3\nError: Activity class {a/a.B} does not exist.\n',
    };
    await assert.rejects(ui.startActivity('a/.B'), /phone fake-serial-1: start a\/\.B failed: Error type 3/);
  });

  it('a failing input command names the phone, the command and a fix', async () => {
    const dev = new FakeDevice();
    dev.answers.input = {
      exitCode: 1,
      stderr:
        'java.lang.SecurityException: Injecting to another application requires INJECT_EVENTS permission',
    };
    await assert.rejects(
      driver(dev).back(),
      /phone fake-serial-1: back failed: `input keyevent 4` exited with 1.*USB debugging \(Security settings\)/,
    );
  });

  it('waitGone and query', async () => {
    const dev = new FakeDevice();
    dev.dumps = [{ stdout: dumpOf(SCREEN) }, { stdout: dumpOf({ id: 'app:id/root', bounds: [0, 0, 9, 9] }) }];
    const ui = driver(dev);
    assert.equal((await ui.query({ text: 'OK' }))?.contentDesc, 'Confirm');
    await ui.waitGone({ text: 'OK' });
    assert.equal(await ui.query({ text: 'OK' }), null);
    await assert.rejects(ui.waitGone({ id: 'app:id/root' }, { timeoutMs: 20 }), /still there after 20 ms/);
    assert.equal(summarise(undefined), 'nothing (no dump)');
  });
});
