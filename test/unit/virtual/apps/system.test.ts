import assert from 'node:assert/strict';
import { byId, byText, checkScreen, nodes, one, rig, rowWithTitle, sh, tap } from './helpers.ts';
import type { Rig } from './helpers.ts';
import type { UiNode } from '../../../../src/virtual/display/node.ts';
import { listProfiles } from '../../../../src/virtual/profiles/load.ts';

const home = (name: string): string => `com.miui.home:id/${name}`;
const sysui = (name: string): string => `com.android.systemui:id/${name}`;

function systemEvents(r: Rig): Array<[string, string, unknown]> {
  return r.sink.events
    .filter((e) => e.event.source === 'system')
    .map((e) => [e.context.package, e.event.name, e.event.properties]);
}

function switchOf(row: UiNode): boolean {
  const sw = row.children.find((c) => c.className === 'android.widget.Switch');
  assert.ok(sw, 'row has a switch');
  return sw.checked;
}

describe('virtual apps: MIUI Settings', () => {
  it('navigates to Privacy and Ad services; each page reports settings_page_open', async () => {
    const r = rig();
    await sh(r.phone, 'am start -n com.android.settings/.Settings');
    await checkScreen(r.phone, 'settings main');
    await tap(r.phone, rowWithTitle(r.phone, 'Passwords & security'));
    await checkScreen(r.phone, 'passwords & security');
    await tap(r.phone, rowWithTitle(r.phone, 'Privacy'));
    await checkScreen(r.phone, 'privacy');
    await tap(r.phone, rowWithTitle(r.phone, 'Ad services'));
    await checkScreen(r.phone, 'ad services');
    assert.equal(r.phone.screen.focusedComponent(), 'com.android.settings/.ad.AdServiceSettings');
    assert.deepEqual(systemEvents(r), [
      ['com.miui.home', 'app_open', { package: 'com.android.settings' }],
      ['com.android.settings', 'settings_page_open', { page: 'settings' }],
      ['com.android.settings', 'settings_page_open', { page: 'passwords_security' }],
      ['com.android.settings', 'settings_page_open', { page: 'privacy' }],
      ['com.android.settings', 'settings_page_open', { page: 'ad_services' }],
    ]);
    await sh(r.phone, 'input keyevent BACK');
    assert.ok(nodes(r.phone, byText('User Experience Program')).length, 'BACK returns to Privacy');
    assert.match(
      await sh(r.phone, 'dumpsys window windows'),
      /mCurrentFocus=Window\{[^}]* com\.android\.settings\/com\.android\.settings\.SubSettings\}/,
    );
  });

  it('UEP and diagnostic toggles write secure settings; settings put changes the toggles', async () => {
    const r = rig();
    await sh(r.phone, 'am start -n com.android.settings/.Settings');
    await tap(r.phone, rowWithTitle(r.phone, 'Passwords & security'));
    await tap(r.phone, rowWithTitle(r.phone, 'Privacy'));
    const uep = (): UiNode => rowWithTitle(r.phone, 'User Experience Program');
    const diag = (): UiNode => rowWithTitle(r.phone, 'Send diagnostic data automatically');
    assert.equal(switchOf(uep()), true);
    await tap(r.phone, uep());
    assert.equal(r.phone.settings.get('secure', 'upload_log_pref'), '0');
    assert.equal(switchOf(uep()), false);
    assert.equal((await sh(r.phone, 'settings get secure upload_log_pref')).trim(), '0');
    await sh(r.phone, 'settings put secure upload_log_pref 1');
    assert.equal(switchOf(uep()), true, 'settings put shows at once');
    await tap(r.phone, diag());
    assert.equal(r.phone.settings.get('secure', 'upload_debug_log_pref'), '0');
    await sh(r.phone, 'settings put secure upload_debug_log_pref 1');
    assert.equal(switchOf(diag()), true);
    await sh(r.phone, 'settings delete secure upload_debug_log_pref');
    await sh(r.phone, 'settings put secure upload_log_pref 0');
    assert.equal(switchOf(diag()), false, 'unset diagnostic follows UEP');
    await sh(r.phone, 'settings delete secure upload_log_pref');
    assert.equal(switchOf(uep()), false, 'unset UEP is off on a stable build');
  });

  it('personalised ads: bit 0 of personalized_ad_enabled (3 → 2 → 3), unset counts as on', async () => {
    const r = rig();
    await sh(r.phone, 'settings put global personalized_ad_enabled 3');
    await sh(r.phone, 'am start -n com.android.settings/.ad.AdServiceSettings');
    const row = (): UiNode => rowWithTitle(r.phone, 'Personalised ad recommendations');
    assert.equal(switchOf(row()), true);
    await tap(r.phone, row());
    assert.equal((await sh(r.phone, 'settings get global personalized_ad_enabled')).trim(), '2');
    assert.equal(switchOf(row()), false);
    assert.match(r.phone.settings.get('global', 'personalized_ad_time') ?? '', /^\d+$/);
    await tap(r.phone, row());
    assert.equal(r.phone.settings.get('global', 'personalized_ad_enabled'), '3');
    await sh(r.phone, 'settings put global personalized_ad_enabled 0');
    assert.equal(switchOf(row()), false);
    await sh(r.phone, 'settings delete global personalized_ad_enabled');
    assert.equal(switchOf(row()), true);
    await tap(r.phone, row());
    assert.equal(r.phone.settings.get('global', 'personalized_ad_enabled'), '0');
  });
});

describe('virtual apps: the UEP switch and the telemetry hub agree', () => {
  for (const { name } of listProfiles()) {
    it(`${name}: the Settings switches show what the hub obeys, for every stored value`, async () => {
      const r = rig(name);
      await sh(r.phone, 'am start -n com.android.settings/.Settings');
      await tap(r.phone, rowWithTitle(r.phone, 'Passwords & security'));
      await tap(r.phone, rowWithTitle(r.phone, 'Privacy'));
      // By id: the titles are per language (Chinese on the China ROM).
      const IDS: Record<string, string> = {
        'User Experience Program': 'com.android.settings:id/user_experience_program',
        'Send diagnostic data automatically': 'com.android.settings:id/upload_debug_log',
      };
      const shown = (title: string): boolean => switchOf(one(r.phone, byId(IDS[title]!), title));
      for (const v of [null, '-1', '0', '1', '2', '']) {
        for (const key of ['upload_log_pref', 'upload_debug_log_pref']) {
          await sh(
            r.phone,
            v === null ? `settings delete secure ${key}` : `settings put secure ${key} '${v}'`,
          );
          const hub = r.phone.telemetry.toggles();
          assert.equal(shown('User Experience Program'), hub.uep, `${key}=${v}: UEP`);
          assert.equal(
            shown('Send diagnostic data automatically'),
            hub.diagnostics,
            `${key}=${v}: diagnostics`,
          );
        }
      }
      await sh(r.phone, 'settings delete secure upload_log_pref');
      assert.equal(shown('User Experience Program'), r.phone.profile.telemetry?.defaults.uep);
    });
  }
});

describe('virtual apps: app_open', () => {
  const opens = (r: Rig): Array<[string, string]> =>
    systemEvents(r)
      .filter(([, n]) => n === 'app_open')
      .map(([ctx, , p]) => [ctx, (p as { package: string }).package]);

  it('reports each app that comes to the foreground once, however it was started', async () => {
    const r = rig();
    await sh(r.phone, 'am start -n com.android.settings/.Settings');
    await tap(r.phone, rowWithTitle(r.phone, 'Passwords & security'));
    assert.deepEqual(opens(r), [['com.miui.home', 'com.android.settings']], 'a further page is no app start');
    await sh(r.phone, 'am start -a android.intent.action.VIEW -d https://example.com/');
    await r.apps.whenIdle();
    await sh(r.phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserSettingsActivity');
    await sh(r.phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
    await sh(r.phone, 'input keyevent HOME');
    await sh(r.phone, 'input keyevent APP_SWITCH');
    assert.equal(r.phone.screen.focused().package, 'com.miui.home', 'recents is the launcher');
    await sh(r.phone, 'input keyevent APP_SWITCH');
    assert.equal(r.phone.screen.focused().package, 'com.mi.globalbrowser');
    assert.deepEqual(opens(r), [
      ['com.miui.home', 'com.android.settings'],
      ['com.miui.home', 'com.mi.globalbrowser'],
      ['com.miui.home', 'com.mi.globalbrowser'],
    ]);
    const names = r.sink.names();
    assert.ok(
      names.indexOf('app_open') < names.indexOf('settings_page_open'),
      'the start is reported before what the app reports',
    );
  });
});

describe('virtual apps: launcher', () => {
  it('has several home screens; swiping reports home_screen_swipe', async () => {
    const r = rig();
    const indicator = (): string => one(r.phone, byId(home('page_indicator')), 'indicator').contentDesc;
    assert.equal(indicator(), 'Page 1 of 3');
    await checkScreen(r.phone, 'home screen 1');
    await sh(r.phone, 'input swipe 900 1200 100 1200 200');
    assert.equal(indicator(), 'Page 2 of 3');
    await checkScreen(r.phone, 'home screen 2');
    await sh(r.phone, 'input swipe 900 1200 100 1200 200');
    await sh(r.phone, 'input swipe 900 1200 100 1200 200'); // past the last: nothing
    await sh(r.phone, 'input swipe 100 1200 900 1200 200');
    await sh(r.phone, 'input swipe 100 1200 900 1200 200');
    assert.deepEqual(systemEvents(r), [
      ['com.miui.home', 'home_screen_swipe', { from: 0, to: 1 }],
      ['com.miui.home', 'home_screen_swipe', { from: 1, to: 2 }],
      ['com.miui.home', 'home_screen_swipe', { from: 2, to: 1 }],
      ['com.miui.home', 'home_screen_swipe', { from: 1, to: 0 }],
    ]);
  });

  it('HOME on another home screen goes back to the first without reporting a swipe', async () => {
    const r = rig();
    const indicator = (): string => one(r.phone, byId(home('page_indicator')), 'indicator').contentDesc;
    await sh(r.phone, 'input swipe 900 1200 100 1200 200');
    await sh(r.phone, 'input swipe 900 1200 100 1200 200');
    assert.equal(indicator(), 'Page 3 of 3');
    r.sink.clear();
    await sh(r.phone, 'input keyevent HOME');
    assert.equal(indicator(), 'Page 1 of 3');
    assert.deepEqual(systemEvents(r), []);
  });

  it('folders open on tap (folder_open), close with BACK; icons inside start apps (app_open)', async () => {
    const r = rig();
    const tools = one(r.phone, (n) => n.resourceId === home('folder_icon') && n.text === 'Tools', 'Tools');
    await tap(r.phone, tools);
    assert.equal(one(r.phone, byId(home('folder_title')), 'folder title').text, 'Tools');
    assert.deepEqual(
      nodes(r.phone, byId(home('icon_title'))).map((n) => n.text),
      ['Feedback'],
    );
    await checkScreen(r.phone, 'Tools folder');
    await sh(r.phone, 'input keyevent BACK');
    assert.equal(nodes(r.phone, byId(home('folder_container'))).length, 0);
    await tap(
      r.phone,
      one(r.phone, (n) => n.text === 'Google' && n.resourceId === home('folder_icon'), 'Google'),
    );
    assert.deepEqual(
      nodes(r.phone, byId(home('icon_title'))).map((n) => n.text),
      ['Chrome', 'Play Store'],
    );
    await tap(r.phone, one(r.phone, byText('Chrome'), 'Chrome'));
    assert.equal(r.phone.screen.focused().package, 'com.android.chrome');
    await sh(r.phone, 'input keyevent HOME');
    assert.equal(nodes(r.phone, byId(home('folder_container'))).length, 0, 'the folder closed');
    await tap(r.phone, one(r.phone, byText('Settings'), 'Settings icon'));
    assert.equal(r.phone.screen.focusedComponent(), 'com.android.settings/.Settings');
    assert.deepEqual(systemEvents(r).slice(0, 4), [
      ['com.miui.home', 'folder_open', { folder: 'Tools' }],
      ['com.miui.home', 'folder_open', { folder: 'Google' }],
      ['com.miui.home', 'app_open', { package: 'com.android.chrome' }],
      ['com.miui.home', 'app_open', { package: 'com.android.settings' }],
    ]);
    assert.deepEqual(r.sink.backgrounded, ['com.miui.home', 'com.android.chrome', 'com.miui.home']);
  });

  it('tapping outside an open folder closes it; reboot keeps folders and pages', async () => {
    const r = rig();
    await tap(
      r.phone,
      one(r.phone, (n) => n.text === 'Tools' && n.resourceId === home('folder_icon'), 'Tools'),
    );
    await tap(r.phone, one(r.phone, byId(home('folder_outside_bottom')), 'outside'));
    assert.equal(nodes(r.phone, byId(home('folder_container'))).length, 0);
    r.phone.resetForBoot();
    assert.equal(one(r.phone, byId(home('page_indicator')), 'indicator').contentDesc, 'Page 1 of 3');
    assert.equal(nodes(r.phone, byId(home('folder_icon'))).length, 2);
  });

  it('the China ROM has a Tools folder but no Google folder', async () => {
    const r = rig('redmi-note-11-china');
    assert.deepEqual(
      nodes(r.phone, byId(home('folder_icon'))).map((n) => n.text),
      ['Tools'],
    );
    await checkScreen(r.phone, 'china home');
  });
});

describe('virtual apps: status bar', () => {
  it('swipe down pulls the shade, BACK and swipe up put it back; the focused app stays', async () => {
    const r = rig();
    await sh(r.phone, 'am start -n com.android.settings/.Settings');
    r.sink.clear();
    await sh(r.phone, 'input swipe 540 10 540 1400 300');
    assert.ok(r.apps.shade.expanded);
    assert.equal(
      one(r.phone, byId(sysui('notification_panel')), 'shade').packageName,
      'com.android.systemui',
    );
    assert.ok(nodes(r.phone, byId(sysui('qs_tile_wifi'))).length);
    await checkScreen(r.phone, 'notification shade');
    assert.equal(r.phone.screen.focused().package, 'com.android.settings');
    const dump = await sh(r.phone, 'uiautomator dump /dev/tty');
    assert.match(dump, /resource-id="com.android.systemui:id\/quick_settings_panel"/);
    await sh(r.phone, 'input keyevent BACK');
    assert.equal(r.apps.shade.expanded, false);
    assert.equal(
      r.phone.screen.focusedComponent(),
      'com.android.settings/.Settings',
      'BACK only closed the shade',
    );
    await sh(r.phone, 'input swipe 540 10 540 1400 300');
    await sh(r.phone, 'input swipe 540 1800 540 300 300');
    assert.equal(r.apps.shade.expanded, false);
    assert.deepEqual(systemEvents(r), [
      ['com.android.systemui', 'status_bar_pull', { expanded: true }],
      ['com.android.systemui', 'status_bar_pull', { expanded: false }],
      ['com.android.systemui', 'status_bar_pull', { expanded: true }],
      ['com.android.systemui', 'status_bar_pull', { expanded: false }],
    ]);
    assert.deepEqual(r.sink.backgrounded, [], 'pulling the shade backgrounds nothing');
  });

  it('quick-settings tiles toggle their settings; HOME closes the shade and goes home', async () => {
    const r = rig();
    await sh(r.phone, 'input swipe 540 10 540 1400 300');
    const tile = (): UiNode => one(r.phone, byId(sysui('qs_tile_airplane')), 'airplane tile');
    assert.equal(tile().checked, false);
    await tap(r.phone, tile());
    assert.equal(r.phone.settings.get('global', 'airplane_mode_on'), '1');
    assert.equal(tile().checked, true);
    await sh(r.phone, 'settings put global airplane_mode_on 0');
    assert.equal(tile().checked, false);
    await sh(r.phone, 'input keyevent HOME');
    assert.equal(r.apps.shade.expanded, false);
    assert.ok(nodes(r.phone, byId(home('workspace'))).length);
  });
});

describe('virtual apps: installApps', () => {
  it('dispose unhooks the shade and the listeners', async () => {
    const r = rig();
    r.apps.dispose();
    await sh(r.phone, 'input swipe 540 10 540 1400 300');
    assert.equal(r.apps.shade.expanded, false);
    await sh(r.phone, 'am start -n com.android.settings/.Settings');
    assert.deepEqual(r.sink.events, []);
  });
});
