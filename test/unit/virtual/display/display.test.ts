import * as assert from 'node:assert/strict';
import type { Profile, ProfilePackage } from '../../../../src/virtual/profiles/load.ts';
import type { Bounds, UiNode } from '../../../../src/virtual/display/node.ts';
import type { Screen } from '../../../../src/virtual/display/screen.ts';
import { miuiScreen } from './helpers.ts';
import { appWindow } from '../../../../src/virtual/display/window.ts';
import { centre, findAll, grid, hitTest, node, rect, walk } from '../../../../src/virtual/display/node.ts';
import { escapeXmlAttr } from '../../../../src/virtual/display/xml.ts';
import { appLabel } from '../../../../src/virtual/display/labels.ts';
import { launcherIntent } from '../../../../src/virtual/display/activity.ts';
import { parseComponent, shortComponent } from '../../../../src/virtual/os/component.ts';
import { KEYCODE, parseKeycode } from '../../../../src/virtual/display/keys.ts';

const LAUNCHABLE: Array<[string, string]> = [
  ['com.android.settings', 'com.android.settings/.Settings'],
  ['com.mi.globalbrowser', 'com.mi.globalbrowser/com.android.browser.BrowserActivity'],
  ['com.android.camera', 'com.android.camera/.Camera'],
  ['com.android.contacts', 'com.android.contacts/.activities.TwelveKeyDialer'],
  ['com.android.mms', 'com.android.mms/.ui.MmsTabActivity'],
  ['com.miui.gallery', 'com.miui.gallery/.activity.HomePageStartupHelper2'],
  ['com.miui.securitycenter', 'com.miui.securitycenter/com.miui.securityscan.MainActivity'],
  ['com.example.fooBar', 'com.example.fooBar/.MainActivity'],
];

function makeProfile(extra: Array<[string, string]> = []): Profile {
  const pkgs: ProfilePackage[] = [...LAUNCHABLE, ...extra].map(([name, launcher]) => ({
    name,
    versionName: '1.0',
    versionCode: 1,
    path: `/system/app/${name}/${name}.apk`,
    system: true,
    launcher,
  }));
  pkgs.push({
    name: 'com.miui.home',
    versionName: '4.0',
    versionCode: 4,
    path: '/system/priv-app/MiuiHome/MiuiHome.apk',
    system: true,
    launcher: 'com.miui.home/.launcher.Launcher',
  });
  pkgs.push({
    name: 'com.android.systemui',
    versionName: '1',
    versionCode: 1,
    path: '/system/priv-app/SystemUI/SystemUI.apk',
    system: true,
  });
  return {
    name: 'test-phone',
    description: 'hand-written test profile',
    rooted: false,
    props: { 'ro.product.marketname': 'Redmi Note 8', 'persist.sys.timezone': 'Europe/Berlin' },
    settings: { global: {}, secure: {}, system: {} },
    packages: pkgs,
    browser: 'com.mi.globalbrowser',
    display: { width: 1080, height: 2340, density: 440 },
    systemCaDir: '/system/etc/security/cacerts',
    sources: [],
  };
}

// ---- a tiny XML parser for the dump ----------------------------------------------------------

interface XmlEl {
  name: string;
  attrs: Array<[string, string]>;
  children: XmlEl[];
}

function unescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#(\d+));/g, (_, e: string, num?: string) => {
    if (num) return String.fromCodePoint(Number(num));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e]!;
  });
}

/** Parses the declaration + one element tree; throws on anything malformed. */
function parseXml(xml: string): XmlEl {
  const decl = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>";
  assert.ok(xml.startsWith(decl), 'XML declaration');
  assert.ok(!xml.includes('\n'), 'single line');
  let pos = decl.length;
  const stack: XmlEl[] = [];
  let top: XmlEl | undefined;
  const tagRe =
    /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|apos|#\d+);[^"<&]*)*")*)\s*(\/?)>/y;
  const attrRe = /\s+([\w-]+)="([^"]*)"/g;
  while (pos < xml.length) {
    tagRe.lastIndex = pos;
    const m = tagRe.exec(xml);
    assert.ok(m, `malformed markup at ${pos}: ${xml.slice(pos, pos + 80)}`);
    pos = tagRe.lastIndex;
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const el = stack.pop();
      assert.equal(el?.name, name, 'balanced tags');
      if (!stack.length) top = el;
      continue;
    }
    const el: XmlEl = {
      name: name!,
      attrs: [...attrText!.matchAll(attrRe)].map((a) => [a[1]!, unescape(a[2]!)]),
      children: [],
    };
    const names = el.attrs.map((a) => a[0]);
    assert.equal(new Set(names).size, names.length, 'no duplicate attributes');
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else assert.equal(top, undefined, 'one root element');
    if (selfClose) {
      if (!stack.length) top = el;
    } else stack.push(el);
  }
  assert.equal(stack.length, 0, 'all elements closed');
  assert.ok(top);
  return top;
}

const NODE_ATTRS = [
  'index',
  'text',
  'resource-id',
  'class',
  'package',
  'content-desc',
  'checkable',
  'checked',
  'clickable',
  'enabled',
  'focusable',
  'focused',
  'scrollable',
  'long-clickable',
  'password',
  'selected',
  'bounds',
];

function parseBounds(s: string): Bounds {
  const m = /^\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]$/.exec(s);
  assert.ok(m, `bounds format: ${s}`);
  return rect(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
}

function inside(inner: Bounds, outer: Bounds): boolean {
  return (
    inner.left >= outer.left &&
    inner.top >= outer.top &&
    inner.right <= outer.right &&
    inner.bottom <= outer.bottom
  );
}

/** Validates a uiautomator dump and returns its <node> elements (pre-order). */
function checkDump(xml: string, w: number, h: number): XmlEl[] {
  const doc = parseXml(xml);
  assert.equal(doc.name, 'hierarchy');
  assert.deepEqual(doc.attrs, [['rotation', '0']]);
  assert.equal(doc.children.length, 1);
  const display = rect(0, 0, w, h);
  const all: XmlEl[] = [];
  const rec = (el: XmlEl, parent: Bounds): void => {
    assert.equal(el.name, 'node');
    assert.deepEqual(
      el.attrs.map((a) => a[0]),
      NODE_ATTRS,
      'attributes in order',
    );
    const a = Object.fromEntries(el.attrs);
    for (const f of [
      'checkable',
      'checked',
      'clickable',
      'enabled',
      'focusable',
      'focused',
      'scrollable',
      'long-clickable',
      'password',
      'selected',
    ]) {
      assert.match(a[f]!, /^(true|false)$/);
    }
    const b = parseBounds(a.bounds!);
    assert.ok(inside(b, display), `inside display: ${a.bounds}`);
    assert.ok(inside(b, parent), `inside parent: ${a.bounds} ${JSON.stringify(parent)}`);
    all.push(el);
    const indexes = el.children.map((c) => Number(Object.fromEntries(c.attrs).index));
    assert.deepEqual(
      [...indexes].sort((x, y) => x - y),
      indexes,
      'indexes ascend',
    );
    for (const c of el.children) rec(c, b);
  };
  assert.equal(Object.fromEntries(doc.children[0]!.attrs).index, '0');
  rec(doc.children[0]!, display);
  return all;
}

function attrs(el: XmlEl): Record<string, string> {
  return Object.fromEntries(el.attrs);
}

function clickables(root: UiNode): UiNode[] {
  return findAll(root, (n) => n.clickable);
}

/** Every clickable node's centre hits that node, and clickable siblings never overlap. */
function checkClickables(screen: Screen): void {
  const root = screen.root();
  const nodes = clickables(root);
  assert.ok(nodes.length > 0);
  for (const n of nodes) {
    const c = centre(n.bounds);
    assert.equal(hitTest(root, c.x, c.y), n, `centre of ${n.resourceId} ${n.text || n.contentDesc}`);
  }
  walk(root, (n) => {
    const kids = n.children.filter((k) => k.clickable && k.visible !== false);
    for (let i = 0; i < kids.length; i++) {
      for (let j = i + 1; j < kids.length; j++) {
        const a = kids[i]!.bounds;
        const b = kids[j]!.bounds;
        const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
        assert.ok(!overlap, `clickable siblings overlap: ${kids[i]!.text} / ${kids[j]!.text}`);
      }
    }
  });
}

/** A test app: title, an EditText, a password field, a checkbox and a button. */
function registerForm(screen: Screen, log: string[]): void {
  screen.registerActivity('com.example.form/.FormActivity', (s, intent) => {
    const w = appWindow(s, { title: `Form ${intent.data ?? ''}`.trim() });
    const b = w.body;
    const rowH = s.dp(56);
    const row = (i: number): Bounds =>
      rect(
        s.dp(16),
        b.top + s.dp(16) + i * (rowH + s.dp(8)),
        s.width - s.dp(16),
        b.top + s.dp(16) + i * (rowH + s.dp(8)) + rowH,
      );
    w.content.children.push(
      node('EditText', {
        resourceId: 'com.example.form:id/name',
        hint: 'Your name',
        clickable: true,
        focusable: true,
        longClickable: true,
        bounds: row(0),
        onTextChange: (t) => log.push(`change:${t}`),
        onEnter: () => log.push('enter'),
      }),
      node('EditText', {
        resourceId: 'com.example.form:id/password',
        password: true,
        clickable: true,
        focusable: true,
        bounds: row(1),
      }),
      node('CheckBox', {
        resourceId: 'com.example.form:id/agree',
        text: 'I agree',
        checkable: true,
        clickable: true,
        focusable: true,
        bounds: row(2),
      }),
      node('Button', {
        resourceId: 'com.example.form:id/submit',
        text: 'Submit',
        clickable: true,
        focusable: true,
        bounds: row(3),
        onTap: () => log.push('submit'),
      }),
    );
    return w.root;
  });
}

describe('virtual ui: home screen', () => {
  it('starts on the MIUI launcher', () => {
    const s = miuiScreen(makeProfile());
    assert.deepEqual(s.focused(), { package: 'com.miui.home', activity: '.launcher.Launcher' });
    assert.equal(s.focusedComponent(), 'com.miui.home/.launcher.Launcher');
    assert.equal(s.width, 1080);
    assert.equal(s.height, 2340);
    assert.equal(s.density, 440);
  });

  it('shows icons for the launcher packages, a dock, a page indicator and the status bar', () => {
    const s = miuiScreen(makeProfile());
    const root = s.root();
    const icons = findAll(root, (n) => n.resourceId === 'com.miui.home:id/icon_title');
    const labels = icons.map((n) => n.text).sort();
    assert.deepEqual(labels, [
      'Camera',
      'Foo Bar',
      'Gallery',
      'Messaging',
      'Mi Browser',
      'Phone',
      'Security',
      'Settings',
    ]);
    for (const i of icons) {
      assert.equal(i.className, 'android.widget.TextView');
      assert.equal(i.contentDesc, i.text);
      assert.equal(i.clickable, true);
      assert.equal(i.packageName, 'com.miui.home');
    }
    const dock = findAll(root, (n) => n.resourceId === 'com.miui.home:id/hotseat')[0]!;
    assert.deepEqual(
      dock.children.map((n) => n.text),
      ['Phone', 'Messaging', 'Mi Browser', 'Camera'],
    );
    const indicator = findAll(root, (n) => n.resourceId === 'com.miui.home:id/page_indicator')[0]!;
    assert.equal(indicator.contentDesc, 'Page 1 of 1');
    const clock = findAll(root, (n) => n.resourceId === 'com.android.systemui:id/clock')[0]!;
    assert.match(clock.text, /^\d{2}:\d{2}$/);
    assert.equal(clock.packageName, 'com.android.systemui');
    const battery = findAll(root, (n) => n.resourceId === 'com.android.systemui:id/battery')[0]!;
    assert.equal(battery.contentDesc, 'Battery 100 percent.');
    assert.ok(!findAll(root, (n) => n.text === 'MIUI Launcher').length, 'no icon for the launcher itself');
  });

  it('uses the phone time zone and a settable clock for the status bar', () => {
    const s = miuiScreen(makeProfile());
    s.now = () => new Date('2024-01-15T08:05:00Z');
    const clock = findAll(s.root(), (n) => n.resourceId === 'com.android.systemui:id/clock')[0]!;
    assert.equal(clock.text, '09:05');
    s.clock24 = false;
    assert.equal(findAll(s.root(), (n) => n.resourceId === 'com.android.systemui:id/clock')[0]!.text, '9:05');
  });

  it('dumps well-formed uiautomator XML with all attributes in order', () => {
    const s = miuiScreen(makeProfile());
    const xml = s.dumpXml();
    const nodes = checkDump(xml, s.width, s.height);
    const top = attrs(nodes[0]!);
    assert.equal(top.class, 'android.widget.FrameLayout');
    assert.equal(top.package, 'com.miui.home');
    assert.equal(top.bounds, '[0,0][1080,2340]');
    assert.ok(nodes.some((n) => attrs(n).text === 'Mi Browser' && attrs(n).clickable === 'true'));
    assert.ok(nodes.some((n) => attrs(n).package === 'com.android.systemui'));
    assert.ok(xml.includes(' />'), 'leaf nodes self-close');
  });

  it('every clickable node centre taps that node; clickable siblings do not overlap', () => {
    const s = miuiScreen(makeProfile());
    checkClickables(s);
    for (const n of clickables(s.root())) {
      const fresh = miuiScreen(makeProfile());
      const c = centre(n.bounds);
      const hit = fresh.tap(c.x, c.y);
      assert.ok(hit);
      assert.equal(hit.text, n.text);
      assert.deepEqual(hit.bounds, n.bounds);
    }
  });

  it('tapping an icon starts its launcher activity; BACK returns home', () => {
    const s = miuiScreen(makeProfile());
    const starts: string[] = [];
    s.on('activity-start', (r: { shortComponent: string }) => starts.push(r.shortComponent));
    const browser = findAll(s.root(), (n) => n.text === 'Mi Browser')[0]!;
    const c = centre(browser.bounds);
    assert.equal(s.tap(c.x, c.y)?.text, 'Mi Browser');
    assert.deepEqual(s.focused(), {
      package: 'com.mi.globalbrowser',
      activity: 'com.android.browser.BrowserActivity',
    });
    assert.deepEqual(starts, ['com.mi.globalbrowser/com.android.browser.BrowserActivity']);
    // Unregistered app: generic window with the app label as title, content below the status bar.
    const root = s.root();
    assert.equal(root.packageName, 'com.mi.globalbrowser');
    assert.ok(
      findAll(root, (n) => n.className === 'android.widget.TextView' && n.text === 'Mi Browser').length === 1,
    );
    checkDump(s.dumpXml(), s.width, s.height);
    s.keyevent(KEYCODE.BACK);
    assert.deepEqual(s.focused(), { package: 'com.miui.home', activity: '.launcher.Launcher' });
    s.keyevent(KEYCODE.BACK);
    assert.equal(s.focusedComponent(), 'com.miui.home/.launcher.Launcher', 'BACK on home stays home');
  });

  it('swipes between workspace pages', () => {
    const many: Array<[string, string]> = Array.from({ length: 30 }, (_, i) => [
      `com.example.app${i}`,
      `com.example.app${i}/.Main`,
    ]);
    const s = miuiScreen(makeProfile(many));
    const indicator = (): string =>
      findAll(s.root(), (n) => n.resourceId === 'com.miui.home:id/page_indicator')[0]!.contentDesc;
    assert.equal(indicator(), 'Page 1 of 2');
    assert.equal(
      findAll(s.root(), (n) => n.resourceId === 'com.miui.home:id/workspace')[0]!.scrollable,
      true,
    );
    assert.equal(findAll(s.root(), (n) => n.resourceId === 'com.miui.home:id/icon_title').length, 24 + 4);
    s.swipe(900, 1000, 100, 1000, 200);
    assert.equal(indicator(), 'Page 2 of 2');
    checkClickables(s);
    checkDump(s.dumpXml(), s.width, s.height);
    s.swipe(900, 1000, 100, 1000, 200);
    assert.equal(indicator(), 'Page 2 of 2', 'no page past the last');
    s.keyevent(KEYCODE.HOME);
    assert.equal(indicator(), 'Page 1 of 2', 'HOME on home goes to the default page');
    s.swipe(900, 1000, 100, 1000, 200);
    s.startActivity('com.android.settings/.Settings');
    s.keyevent(KEYCODE.HOME);
    assert.equal(indicator(), 'Page 2 of 2', 'HOME from an app keeps the page');
  });

  it('swipe from the status bar calls the shade hook; tiny swipes are taps', () => {
    const s = miuiScreen(makeProfile());
    let pulled = 0;
    s.onStatusBarPull = () => pulled++;
    s.swipe(540, 10, 540, 1200, 300);
    assert.equal(pulled, 1);
    const settings = findAll(s.root(), (n) => n.text === 'Settings')[0]!;
    const c = centre(settings.bounds);
    s.swipe(c.x, c.y, c.x + 2, c.y + 2, 100);
    assert.equal(s.focused().package, 'com.android.settings');
  });
});

describe('virtual ui: activities', () => {
  it('startActivity pushes, HOME goes to the launcher, the icon brings the task back', () => {
    const s = miuiScreen(makeProfile());
    assert.equal(
      s.startActivity('com.android.settings/.Settings', launcherIntent('com.android.settings/.Settings')),
      'started',
    );
    assert.deepEqual(s.focused(), { package: 'com.android.settings', activity: '.Settings' });
    assert.equal(
      s.startActivity('com.android.settings/com.android.settings.SubSettings', {
        action: 'android.intent.action.VIEW',
      }),
      'started',
    );
    assert.equal(s.focused().activity, '.SubSettings');
    s.keyevent(KEYCODE.HOME);
    assert.equal(s.focused().package, 'com.miui.home');
    const icon = findAll(s.root(), (n) => n.text === 'Settings')[0]!;
    const c = centre(icon.bounds);
    s.tap(c.x, c.y);
    assert.equal(s.focused().activity, '.SubSettings', 'launcher resumes the task, top activity intact');
    s.keyevent(KEYCODE.BACK);
    assert.equal(s.focused().activity, '.Settings');
    s.keyevent(KEYCODE.BACK);
    assert.equal(s.focused().package, 'com.miui.home');
  });

  it('reports launch outcomes like am start', () => {
    const s = miuiScreen(makeProfile());
    const launch = { action: 'android.intent.action.MAIN', categories: ['android.intent.category.LAUNCHER'] };
    assert.equal(s.startActivity('com.android.camera/.Camera', launch), 'started');
    assert.equal(s.startActivity('com.android.camera/.Camera', launch), 'brought-to-front');
    assert.equal(
      s.startActivity('com.android.camera/.Camera', { ...launch, flags: 0x20000000 }),
      'brought-to-front',
    );
    s.registerActivity('com.example.top/.Top', (sc) => appWindow(sc, { title: 'Top' }).root, {
      launchMode: 'singleTop',
    });
    assert.equal(s.startActivity('com.example.top/.Top', { data: 'a' }), 'started');
    assert.equal(s.startActivity('com.example.top/.Top', { data: 'b' }), 'delivered-to-top');
    assert.equal(s.resumed().intent.data, 'b');
    // A task root started without MAIN/LAUNCHER gets a second instance from a launcher intent (as on Android).
    assert.equal(s.startActivity('com.example.plain/.Main'), 'started');
    assert.equal(s.startActivity('com.example.plain/.Main', launch), 'started');
    assert.equal(s.taskList()[0]!.activities.length, 2);
    assert.equal(s.startActivity('com.miui.home/.launcher.Launcher'), 'brought-to-front');
    assert.equal(s.focused().package, 'com.miui.home');
  });

  it('unknown apps get a generic window titled with a derived label', () => {
    const s = miuiScreen(makeProfile());
    s.startActivity('org.acme.super_tool.android/.ui.MainActivity');
    assert.deepEqual(s.focused(), { package: 'org.acme.super_tool.android', activity: '.ui.MainActivity' });
    const titles = findAll(
      s.root(),
      (n) => n.className === 'android.widget.TextView' && n.packageName === 'org.acme.super_tool.android',
    );
    assert.deepEqual(
      titles.map((t) => t.text),
      ['Super Tool'],
    );
    checkDump(s.dumpXml(), s.width, s.height);
  });

  it('text goes into the focused EditText; DEL, ENTER and character keys edit it', () => {
    const s = miuiScreen(makeProfile());
    const log: string[] = [];
    registerForm(s, log);
    s.startActivity('com.example.form/.FormActivity');
    assert.equal(s.text('ignored'), false, 'no focused field yet');
    const field = findAll(s.root(), (n) => n.resourceId === 'com.example.form:id/name')[0]!;
    assert.ok(
      s.dumpXml().includes('text="Your name" resource-id="com.example.form:id/name"'),
      'hint shows while empty',
    );
    const c = centre(field.bounds);
    assert.equal(s.tap(c.x, c.y), field);
    assert.equal(field.focused, true);
    s.text('Hello');
    s.text(' world');
    assert.equal(field.text, 'Hello world');
    s.keyevent(KEYCODE.DEL);
    assert.equal(field.text, 'Hello worl');
    s.keyevent(parseKeycode('KEYCODE_D')!);
    s.keyevent(62);
    s.keyevent(parseKeycode('KEYCODE_8')!);
    assert.equal(field.text, 'Hello world 8');
    s.keyevent(KEYCODE.ENTER);
    assert.deepEqual(log.slice(-1), ['enter']);
    assert.ok(log.includes('change:Hello'));
    // Focus moves to the password field; its text is masked in the dump.
    const pw = findAll(s.root(), (n) => n.resourceId === 'com.example.form:id/password')[0]!;
    const pc = centre(pw.bounds);
    s.tap(pc.x, pc.y);
    assert.equal(field.focused, false);
    s.text('s3cret');
    assert.equal(pw.text, 's3cret');
    const xml = s.dumpXml();
    assert.ok(!xml.includes('s3cret'));
    assert.ok(xml.includes('text="\u2022\u2022\u2022\u2022\u2022\u2022"'));
    checkDump(xml, s.width, s.height);
    // Checkbox toggles, button fires.
    const box = findAll(s.root(), (n) => n.resourceId === 'com.example.form:id/agree')[0]!;
    const bc = centre(box.bounds);
    s.tap(bc.x, bc.y);
    assert.equal(box.checked, true);
    const submit = findAll(s.root(), (n) => n.text === 'Submit')[0]!;
    const sc = centre(submit.bounds);
    s.tap(sc.x, sc.y);
    assert.deepEqual(log.slice(-1), ['submit']);
    checkClickables(s);
    // State survives a rebuild (view-state restore by resource-id).
    s.resumed().invalidate();
    assert.equal(
      findAll(s.root(), (n) => n.resourceId === 'com.example.form:id/name')[0]!.text,
      'Hello world 8',
    );
  });

  it('APP_SWITCH shows recents; a card resumes its task; clear all empties it', () => {
    const s = miuiScreen(makeProfile());
    s.startActivity('com.android.settings/.Settings');
    s.keyevent(KEYCODE.HOME);
    s.startActivity('com.android.camera/.Camera');
    s.keyevent(KEYCODE.APP_SWITCH);
    assert.equal(s.focused().package, 'com.miui.home');
    const cards = findAll(s.root(), (n) => n.resourceId === 'com.miui.home:id/task_view');
    assert.deepEqual(
      cards.map((c) => c.contentDesc),
      ['Camera', 'Settings'],
    );
    checkClickables(s);
    checkDump(s.dumpXml(), s.width, s.height);
    s.keyevent(KEYCODE.BACK);
    assert.equal(s.focused().package, 'com.android.camera', 'BACK from recents returns to the app');
    s.keyevent(KEYCODE.APP_SWITCH);
    const settings = findAll(s.root(), (n) => n.contentDesc === 'Settings' && n.clickable)[0]!;
    const c = centre(settings.bounds);
    s.tap(c.x, c.y);
    assert.equal(s.focused().package, 'com.android.settings');
    s.keyevent(KEYCODE.APP_SWITCH);
    s.keyevent(KEYCODE.APP_SWITCH);
    assert.equal(s.focused().package, 'com.android.settings', 'double APP_SWITCH returns to the last app');
    s.keyevent(KEYCODE.APP_SWITCH);
    const clear = findAll(s.root(), (n) => n.contentDesc === 'Clear all')[0]!;
    const cc = centre(clear.bounds);
    s.tap(cc.x, cc.y);
    assert.equal(s.taskList().length, 1);
    assert.equal(s.focused().package, 'com.miui.home');
    s.keyevent(KEYCODE.APP_SWITCH);
    assert.ok(findAll(s.root(), (n) => n.text === 'No recent items').length === 1);
    s.keyevent(KEYCODE.HOME);
    assert.ok(findAll(s.root(), (n) => n.resourceId === 'com.miui.home:id/workspace').length === 1);
  });

  it('force-stop and reboot clear activities', () => {
    const s = miuiScreen(makeProfile());
    const finished: string[] = [];
    s.on('activity-finish', (r: { packageName: string }) => finished.push(r.packageName));
    s.startActivity('com.android.settings/.Settings');
    s.startActivity('com.android.camera/.Camera');
    s.forceStop('com.android.camera');
    assert.equal(s.focused().package, 'com.android.settings');
    assert.deepEqual(finished, ['com.android.camera']);
    s.onReboot();
    assert.deepEqual(s.focused(), { package: 'com.miui.home', activity: '.launcher.Launcher' });
    assert.equal(s.taskList().length, 1);
    assert.deepEqual(finished, ['com.android.camera', 'com.android.settings']);
  });

  it('HOME, BACK and startActivity emit focus changes', () => {
    const s = miuiScreen(makeProfile());
    const seen: string[] = [];
    s.on('focus', (r: { shortComponent: string }) => seen.push(r.shortComponent));
    s.startActivity('com.android.settings/.Settings');
    s.keyevent(KEYCODE.HOME);
    s.keyevent(KEYCODE.HOME);
    assert.equal(s.startActivity('com.android.settings/.Settings'), 'brought-to-front');
    s.keyevent(KEYCODE.BACK);
    assert.deepEqual(seen, [
      'com.android.settings/.Settings',
      'com.miui.home/.launcher.Launcher',
      'com.android.settings/.Settings',
      'com.miui.home/.launcher.Launcher',
    ]);
  });

  it('taps outside the display hit nothing; other keys are ignored', () => {
    const s = miuiScreen(makeProfile());
    assert.equal(s.tap(-1, 5), null);
    assert.equal(s.tap(1080, 5), null);
    s.keyevent(KEYCODE.VOLUME_UP);
    s.keyevent(KEYCODE.MENU);
    assert.equal(s.focused().package, 'com.miui.home');
  });
});

describe('virtual ui: xml and helpers', () => {
  it('escapes attribute values and stays well-formed with odd text', () => {
    const s = miuiScreen(makeProfile());
    const nasty = 'a&b <c> "d" \'e\'\nf\tg\u0001h 你好';
    s.registerActivity('com.example.odd/.Odd', (sc) => {
      const w = appWindow(sc, { title: nasty });
      return w.root;
    });
    s.startActivity('com.example.odd/.Odd');
    const xml = s.dumpXml();
    assert.ok(xml.includes('a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;&#10;f&#9;g?h 你好'));
    const nodes = checkDump(xml, s.width, s.height);
    assert.ok(nodes.some((n) => attrs(n).text === 'a&b <c> "d" \'e\'\nf\tg?h 你好'));
    assert.equal(escapeXmlAttr('x\uD800y'), 'x?y');
    // The PNG still renders (non-ASCII as boxes).
    assert.ok(s.renderPng().length > 100);
  });

  it('skips invisible nodes but keeps sibling indexes; clips bounds to the display', () => {
    const s = miuiScreen(makeProfile());
    s.registerActivity('com.example.vis/.V', (sc) => {
      const w = appWindow(sc, {});
      w.content.children.push(
        node('TextView', { text: 'hidden', visible: false, bounds: rect(0, 300, 100, 400) }),
        node('TextView', { text: 'shown', bounds: rect(0, 300, 100, 400) }),
        node('TextView', { text: 'wide', bounds: rect(-50, 500, 5000, 600) }),
      );
      return w.root;
    });
    s.startActivity('com.example.vis/.V');
    const nodes = checkDump(s.dumpXml(), s.width, s.height);
    assert.ok(!nodes.some((n) => attrs(n).text === 'hidden'));
    assert.equal(attrs(nodes.find((n) => attrs(n).text === 'shown')!).index, '1');
    assert.equal(attrs(nodes.find((n) => attrs(n).text === 'wide')!).bounds, '[0,500][1080,600]');
  });

  it('serves UIA2-style source XML', () => {
    const s = miuiScreen(makeProfile());
    const doc = parseXml(s.sourceXml());
    assert.equal(doc.name, 'hierarchy');
    assert.deepEqual(
      doc.attrs.map((a) => a[0]),
      ['index', 'class', 'rotation', 'width', 'height'],
    );
    assert.equal(doc.children[0]!.name, 'android.widget.FrameLayout');
    assert.equal(attrs(doc.children[0]!).displayed, 'true');
  });

  it('labels, components, keycodes and grid geometry', () => {
    assert.equal(appLabel('com.mi.globalbrowser'), 'Mi Browser');
    assert.equal(appLabel('com.android.browser'), 'Browser');
    assert.equal(appLabel('com.android.settings'), 'Settings');
    assert.equal(appLabel('com.example.myCoolApp'), 'My Cool App');
    assert.equal(appLabel('com.vendor.tracker.android'), 'Tracker');
    assert.deepEqual(parseComponent('com.a/.B'), { package: 'com.a', className: 'com.a.B' });
    assert.deepEqual(parseComponent('com.a/x.y.B'), { package: 'com.a', className: 'x.y.B' });
    assert.equal(shortComponent(parseComponent('com.a/com.a.b.C')), 'com.a/.b.C');
    assert.throws(() => parseComponent('com.a'));
    assert.equal(parseKeycode('KEYCODE_HOME'), 3);
    assert.equal(parseKeycode('back'), 4);
    assert.equal(parseKeycode('187'), 187);
    const cells = grid(rect(0, 0, 1000, 333), 3, 2);
    assert.equal(cells.length, 6);
    assert.deepEqual(cells[0], rect(0, 0, 333, 167));
    assert.deepEqual(cells[5], rect(667, 167, 1000, 333));
  });
});
