/**
 * Settings pages from the shell as Android allows them (android-realities.md §7): SubSettings is not
 * exported (Permission Denial for the shell, allowed for root), exported actions resolve and start;
 * the China ROM's Chinese switch titles; the synthetic first-launch dialog.
 */
import assert from 'node:assert/strict';
import { VirtualPhone } from '../../../../src/virtual/phone.ts';
import { loadProfileFile } from '../../../../src/virtual/profiles/load.ts';
import { installApps } from '../../../../src/virtual/apps/index.ts';
import { sh } from './helpers.ts';
import { CollectingSink, FakeHttp, T0, byId, nodes, rig } from '../apps/helpers.ts';

const SUB =
  'am start -n com.android.settings/.SubSettings --es :settings:show_fragment com.android.settings.privacy.PrivacySettings';
const titleOf = (phone: VirtualPhone): string | undefined =>
  nodes(phone, byId('com.android.settings:id/action_bar_title'))[0]?.text;

describe('virtual Settings: exported actions and SubSettings', () => {
  it('refuses SubSettings to the shell with the Permission Denial am prints, and lets root start it', async () => {
    const { phone } = rig();
    const r = await sh(phone, SUB);
    assert.equal(r.status, 255);
    assert.match(
      r.stdout,
      /^Starting: Intent \{ cmp=com\.android\.settings\/\.SubSettings \(has extras\) \}\n$/,
    );
    assert.match(
      r.stderr,
      /^Exception occurred while executing 'start':\njava\.lang\.SecurityException: Permission Denial: starting Intent \{ flg=0x10000000 cmp=com\.android\.settings\/\.SubSettings \(has extras\) \} from null \(pid=\d+, uid=2000\) not exported from uid 1000\n\tat com\.android\.server\.wm\.ActivityStackSupervisor\.checkStartAnyActivityPermission/,
    );
    assert.notEqual(phone.screen.focused().package, 'com.android.settings', 'nothing started');
    const root = await sh(phone, SUB, 0);
    assert.equal(root.status, 0, root.stderr);
    assert.equal(phone.screen.focusedComponent(), 'com.android.settings/.SubSettings');
    assert.equal(titleOf(phone), 'Privacy');
  });

  it('resolves actions as `cmd package resolve-activity --brief` does and starts them with am start -a', async () => {
    const { phone } = rig();
    const last = async (a: string) =>
      (await sh(phone, `cmd package resolve-activity --brief -a ${a}`)).stdout.trim().split('\n').pop();
    assert.equal(
      await last('android.settings.PRIVACY_SETTINGS'),
      'com.android.settings/.Settings$PrivacyDashboardActivity',
    );
    assert.equal(
      await last('android.settings.DEVICE_INFO_SETTINGS'),
      'com.android.settings/.Settings$MyDeviceInfoActivity',
    );
    assert.equal(await last('miui.intent.action.PRIVACY_SETTINGS'), 'No activity found');
    const pkgOnly = await sh(
      phone,
      'cmd package resolve-activity --brief -a android.settings.PRIVACY_SETTINGS -p com.miui.home',
    );
    assert.equal(pkgOnly.stdout.trim(), 'No activity found');
    const r = await sh(phone, 'am start -W -a android.settings.PRIVACY_SETTINGS -f 0x4000000');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Status: ok/);
    assert.equal(titleOf(phone), 'Privacy');
    assert.ok(nodes(phone, byId('com.android.settings:id/user_experience_program')).length, 'the UEP row');
    await sh(phone, 'am start -W -a android.settings.DEVICE_INFO_SETTINGS');
    assert.equal(titleOf(phone), 'About phone');
  });

  it('the main-screen menu walk reaches Ad services (rows Passwords & security › Privacy › Ad services)', async () => {
    const { phone } = rig();
    await sh(phone, 'am start -n com.android.settings/.Settings');
    for (const title of ['Passwords & security', 'Privacy', 'Ad services']) {
      const row = nodes(phone, (n) => n.clickable && n.children.some((c) => c.text === title))[0];
      assert.ok(row, `row ${title}`);
      const { left, top, right, bottom } = row.bounds;
      await sh(phone, `input tap ${(left + right) >> 1} ${(top + bottom) >> 1}`);
      assert.equal(titleOf(phone), title);
    }
  });

  it('the China ROM shows the sourced Chinese switch titles (xiaomi-telemetry.md §4.3), ids unchanged', async () => {
    const { phone } = rig('redmi-note-11-china');
    await sh(phone, 'am start -W -a android.settings.PRIVACY_SETTINGS');
    const row = nodes(phone, byId('com.android.settings:id/user_experience_program'))[0]!;
    assert.equal(
      row.children.find((c) => c.resourceId === 'android:id/title')?.text,
      '加入"用户体验改进计划"',
    );
    assert.ok(nodes(phone, (n) => n.text === '自动发送诊断数据').length, 'diagnostic title in Chinese');
    assert.equal(titleOf(phone), 'Privacy', 'page titles have no public Chinese source: English');
  });
});

describe('virtual first-launch dialog (synthetic, test profiles only)', () => {
  const make = () => {
    const phone = new VirtualPhone(loadProfileFile('test/fixtures/profiles/first-launch-dialog.json'), {
      serialno: 'dlg0001',
    });
    installApps(phone, { telemetry: new CollectingSink(), http: new FakeHttp(1), clock: () => T0 });
    return phone;
  };
  const dialogTitle = (phone: VirtualPhone) => nodes(phone, byId('android:id/alertTitle'))[0]?.text;

  it('stands modal over the app on its first start; BACK does not dismiss it, its button does, once', async () => {
    const phone = make();
    await sh(phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
    assert.equal(dialogTitle(phone), 'phonehome synthetic dialog');
    assert.equal(
      nodes(phone, byId('com.mi.globalbrowser:id/url')).length,
      0,
      'the app below is not in the dump',
    );
    const dump = (await sh(phone, 'uiautomator dump /dev/tty')).stdout;
    assert.match(
      dump,
      /resource-id="android:id\/button1"[^>]*package="com\.mi\.globalbrowser"|package="com\.mi\.globalbrowser"[^>]*resource-id="android:id\/button1"/,
    );
    await sh(phone, 'input keyevent 4');
    assert.equal(dialogTitle(phone), 'phonehome synthetic dialog', 'not cancelable');
    const ok = nodes(phone, byId('android:id/button1'))[0]!;
    assert.equal(ok.text, 'OK');
    const { left, top, right, bottom } = ok.bounds;
    await sh(phone, `input tap ${(left + right) >> 1} ${(top + bottom) >> 1}`);
    assert.equal(dialogTitle(phone), undefined);
    assert.ok(nodes(phone, byId('com.mi.globalbrowser:id/url')).length, 'the browser is back');
    await sh(phone, 'am force-stop com.mi.globalbrowser');
    await sh(phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
    assert.equal(dialogTitle(phone), undefined, 'seen: not again');
    await sh(phone, 'pm clear com.mi.globalbrowser');
    await sh(phone, 'am start -n com.mi.globalbrowser/com.android.browser.BrowserActivity');
    assert.equal(dialogTitle(phone), 'phonehome synthetic dialog', 'data cleared: shown again');
  });

  it('shipped profiles have no such dialog', async () => {
    const { phone } = rig();
    await sh(phone, `am start -n ${phone.profile.browser}/com.android.browser.BrowserActivity`);
    assert.equal(dialogTitle(phone), undefined);
  });
});
