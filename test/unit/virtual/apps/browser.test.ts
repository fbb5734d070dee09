import assert from 'node:assert/strict';
import { byId, byText, checkScreen, nodes, one, rig, rowWithTitle, sh, tap, T0 } from './helpers.ts';
import type { Rig } from './helpers.ts';
import { installApps } from '../../../../src/virtual/apps/index.ts';
import { addressToUrl, encodeQuery } from '../../../../src/virtual/apps/browser/model.ts';
import { prefsFromXml, prefsToXml } from '../../../../src/virtual/apps/prefs.ts';
import { listProfiles, loadProfile } from '../../../../src/virtual/profiles/load.ts';

const PKG = 'com.mi.globalbrowser';
const ACT = `${PKG}/com.android.browser.BrowserActivity`;
const id = (name: string): string => `${PKG}:id/${name}`;

async function openBrowser(r: Rig): Promise<void> {
  await sh(r.phone, `am start -n ${ACT}`);
  assert.equal(r.phone.screen.focused().package, PKG);
}

/** Taps the address bar, types, presses ENTER and waits for the page. */
async function typeInAddressBar(r: Rig, text: string): Promise<void> {
  await tap(r.phone, one(r.phone, byId(id('url')), 'address bar'));
  await sh(r.phone, `input text '${text.replace(/ /g, '%s')}'`);
  await sh(r.phone, 'input keyevent ENTER');
  await r.apps.whenIdle();
}

async function menuItem(r: Rig, item: string): Promise<void> {
  await tap(r.phone, one(r.phone, byId(id('toolbar_menu')), 'menu button'));
  await tap(r.phone, one(r.phone, byId(id(item)), item));
}

function browserEvents(r: Rig): Array<{ name: string; properties: unknown; incognito: boolean | undefined }> {
  return r.sink.events
    .filter((e) => e.event.source === 'browser')
    .map((e) => ({ name: e.event.name, properties: e.event.properties, incognito: e.context.incognito }));
}

describe('virtual apps: Mi Browser', () => {
  it('loads a typed URL: page_load events, a GET through the HttpClient, the page on screen', async () => {
    const r = rig();
    await openBrowser(r);
    await checkScreen(r.phone, 'browser home');
    await typeInAddressBar(r, 'https://example.com/news?id=7');
    assert.deepEqual(browserEvents(r), [
      {
        name: 'page_load_event_start',
        properties: { url: 'https://example.com/news?id=7' },
        incognito: false,
      },
      {
        name: 'page_load_event_finish',
        properties: { url: 'https://example.com/news?id=7' },
        incognito: false,
      },
    ]);
    for (const e of r.sink.events.filter((x) => x.event.source === 'browser')) {
      assert.equal(e.context.package, PKG);
      assert.ok(e.context.time >= T0);
    }
    assert.deepEqual(
      r.http.requests.map((q) => [q.app, q.method, q.url]),
      [[PKG, 'GET', 'https://example.com/news?id=7']],
    );
    assert.match(r.http.requests[0]!.headers?.['User-Agent'] ?? '', /XiaoMi\/MiuiBrowser\/12\.1\.3-gn$/);
    assert.equal(one(r.phone, byId(id('webview')), 'webview').contentDesc, 'Page /news?id=7');
    assert.equal(one(r.phone, byId(id('url')), 'address bar').text, 'https://example.com/news?id=7');
    assert.ok(nodes(r.phone, byText('Hello from example.com')).length);
    await checkScreen(r.phone, 'browser page');
    const win = await sh(r.phone, 'dumpsys window windows');
    assert.match(
      win,
      /mCurrentFocus=Window\{[^}]* com\.mi\.globalbrowser\/com\.android\.browser\.BrowserActivity\}/,
    );
  });

  it('a host without a scheme gets http://; BACK goes back in the tab, then out of the browser', async () => {
    const r = rig();
    await openBrowser(r);
    await typeInAddressBar(r, 'example.org/a');
    await typeInAddressBar(r, 'example.org/b');
    assert.deepEqual(
      r.http.requests.map((q) => q.url),
      ['http://example.org/a', 'http://example.org/b'],
    );
    r.sink.clear();
    await sh(r.phone, 'input keyevent BACK');
    await r.apps.whenIdle();
    assert.deepEqual(
      browserEvents(r).map((e) => e.properties),
      [{ url: 'http://example.org/a' }, { url: 'http://example.org/a' }],
    );
    assert.equal(r.phone.screen.focused().package, PKG);
    await sh(r.phone, 'input keyevent BACK'); // to the home page of the tab
    await sh(r.phone, 'input keyevent BACK'); // out
    assert.equal(r.phone.screen.focused().package, 'com.miui.home');
    assert.deepEqual(r.sink.backgrounded, [PKG]);
  });

  it('am start VIEW with a URL opens it in a new tab; HOME backgrounds the browser', async () => {
    const r = rig();
    await sh(r.phone, 'am start -a android.intent.action.VIEW -d https://example.net/first');
    await r.apps.whenIdle();
    assert.equal(r.phone.screen.focusedComponent(), ACT);
    assert.deepEqual(
      r.http.requests.map((q) => q.url),
      ['https://example.net/first'],
    );
    await sh(r.phone, 'am start -a android.intent.action.VIEW -d https://example.net/second');
    await r.apps.whenIdle();
    assert.deepEqual(
      r.apps.browser.tabList().map((t) => [t.url, t.current]),
      [
        ['https://example.net/first', false],
        ['https://example.net/second', true],
      ],
    );
    assert.deepEqual(
      browserEvents(r).map((e) => e.name),
      ['page_load_event_start', 'page_load_event_finish', 'page_load_event_start', 'page_load_event_finish'],
    );
    await sh(r.phone, 'input keyevent HOME');
    assert.deepEqual(r.sink.backgrounded, ['com.miui.home', PKG]);
  });

  it('a failed fetch shows an error page and never throws', async () => {
    const r = rig();
    r.http.fail.set('down.example', 'refused');
    await openBrowser(r);
    await typeInAddressBar(r, 'https://down.example/');
    assert.deepEqual(
      browserEvents(r).map((e) => e.name),
      ['page_load_event_start', 'page_load_event_finish'],
    );
    assert.ok(nodes(r.phone, byText("This site can't be reached")).length);
    assert.ok(nodes(r.phone, byText('net::ERR_CONNECTION_REFUSED')).length);
    await checkScreen(r.phone, 'error page');
    r.http.fail.clear();
    await tap(r.phone, one(r.phone, byId(id('reload')), 'reload'));
    await r.apps.whenIdle();
    assert.equal(one(r.phone, byId(id('webview')), 'webview').contentDesc, 'Page /');
  });

  it('searches words with Google: search event, then the results page', async () => {
    const r = rig();
    await openBrowser(r);
    await typeInAddressBar(r, 'cute cats & dogs');
    const q = 'https://www.google.com/search?q=cute+cats+%26+dogs';
    assert.deepEqual(browserEvents(r), [
      {
        name: 'search',
        properties: {
          search_word: 'cute cats & dogs',
          used_searchengine: 'google',
          search_position: 'address_bar',
          search_method: 'input',
        },
        incognito: false,
      },
      { name: 'page_load_event_start', properties: { url: q }, incognito: false },
      { name: 'page_load_event_finish', properties: { url: q }, incognito: false },
    ]);
    assert.deepEqual(
      r.http.requests.map((x) => x.url),
      [q],
    );
  });

  it('DuckDuckGo can be chosen in settings; the choice persists in shared_prefs', async () => {
    const r = rig();
    await openBrowser(r);
    await menuItem(r, 'menu_settings');
    assert.equal(r.phone.screen.focusedComponent(), `${PKG}/com.android.browser.BrowserSettingsActivity`);
    await checkScreen(r.phone, 'browser settings');
    await tap(r.phone, rowWithTitle(r.phone, 'Search engine'));
    await checkScreen(r.phone, 'search engine choice');
    assert.equal(one(r.phone, byText('Google'), 'Google').checked, true);
    await tap(r.phone, one(r.phone, byText('DuckDuckGo'), 'DuckDuckGo'));
    assert.ok(nodes(r.phone, byText('DuckDuckGo')).length, 'summary shows the engine');
    await sh(r.phone, 'input keyevent BACK');
    assert.equal(r.phone.screen.focusedComponent(), ACT);
    await typeInAddressBar(r, 'privacy');
    const search = browserEvents(r).find((e) => e.name === 'search')!;
    assert.equal((search.properties as { used_searchengine: string }).used_searchengine, 'duckduckgo');
    assert.deepEqual(
      r.http.requests.map((x) => x.url),
      ['https://duckduckgo.com/?q=privacy'],
    );
    const xml = await sh(r.phone, `cat /data/data/${PKG}/shared_prefs/${PKG}_preferences.xml`, 0);
    assert.match(xml, /<string name="search_engine">duckduckgo<\/string>/);
  });

  it('incognito mode: a menu toggle, its own dark tab titled Incognito, events with incognito true', async () => {
    const r = rig();
    await openBrowser(r);
    await typeInAddressBar(r, 'https://example.com/normal');
    await menuItem(r, 'menu_incognito');
    assert.equal(r.apps.browserPrefs.get('incognito_mode'), true);
    assert.equal(one(r.phone, byId(id('incognito_indicator')), 'indicator').text, 'Incognito');
    assert.equal(one(r.phone, byId(id('incognito_title')), 'incognito title').text, 'Incognito');
    await checkScreen(r.phone, 'incognito home');
    r.sink.clear();
    await typeInAddressBar(r, 'https://secret.example/');
    await typeInAddressBar(r, 'secret words');
    const events = browserEvents(r);
    assert.equal(events.length, 5);
    assert.ok(events.every((e) => e.incognito === true));
    await tap(r.phone, one(r.phone, byId(id('toolbar_tabs')), 'tabs'));
    assert.deepEqual(
      nodes(r.phone, byId(id('tab_title'))).map((n) => n.text),
      ['Incognito'],
    );
    await checkScreen(r.phone, 'incognito tabs');
    await sh(r.phone, 'input keyevent BACK');
    await menuItem(r, 'menu_incognito');
    assert.equal(r.apps.browserPrefs.get('incognito_mode'), false);
    assert.equal(nodes(r.phone, byId(id('incognito_indicator'))).length, 0);
    assert.equal(one(r.phone, byId(id('url')), 'address bar').text, 'https://example.com/normal');
    r.sink.clear();
    await typeInAddressBar(r, 'https://example.com/again');
    assert.ok(browserEvents(r).every((e) => e.incognito === false));
  });

  it('tabs: open a new one, switch back, close one', async () => {
    const r = rig();
    await openBrowser(r);
    await typeInAddressBar(r, 'https://one.example/');
    await tap(r.phone, one(r.phone, byId(id('toolbar_tabs')), 'tabs'));
    await checkScreen(r.phone, 'tab switcher');
    await tap(r.phone, one(r.phone, byId(id('tab_new')), 'new tab'));
    assert.equal(one(r.phone, byId(id('url')), 'address bar').text, '');
    await typeInAddressBar(r, 'https://two.example/');
    assert.equal(one(r.phone, byId(id('toolbar_tabs')), 'tabs').text, '2');
    await tap(r.phone, one(r.phone, byId(id('toolbar_tabs')), 'tabs'));
    const cards = nodes(r.phone, byId(id('tab_item')));
    assert.deepEqual(
      cards.map((c) => [c.contentDesc, c.selected]),
      [
        ['Page /', false],
        ['Page /', true],
      ],
    );
    await tap(r.phone, cards[0]!);
    assert.equal(one(r.phone, byId(id('url')), 'address bar').text, 'https://one.example/');
    await tap(r.phone, one(r.phone, byId(id('toolbar_tabs')), 'tabs'));
    await tap(r.phone, nodes(r.phone, byId(id('tab_close')))[0]!);
    assert.deepEqual(
      r.apps.browser.tabList().map((t) => t.url),
      ['https://two.example/'],
    );
    await sh(r.phone, 'input keyevent BACK');
    await menuItem(r, 'menu_new_tab');
    assert.equal(r.apps.browser.tabList().length, 2);
    await checkScreen(r.phone, 'new tab');
    await tap(r.phone, one(r.phone, byId(id('toolbar_menu')), 'menu'));
    await checkScreen(r.phone, 'browser menu');
  });

  it('12.1.3 has no incognito data-collection switch; BrowserPrefs says undefined', async () => {
    const r = rig('redmi-note-8-leaky');
    await openBrowser(r);
    await menuItem(r, 'menu_settings');
    assert.equal(nodes(r.phone, byText('Enhanced incognito mode')).length, 0);
    assert.ok(nodes(r.phone, byText('Incognito mode')).length);
    assert.equal(r.apps.browserPrefs.get('enhanced_incognito_mode'), undefined);
    assert.equal(r.apps.browserPrefs.get('incognito_mode'), false);
  });

  it('12.1.4 has it (on by default); off persists in shared_prefs XML and reads back', async () => {
    const r = rig('redmi-note-8-fixed-rooted');
    assert.equal(r.apps.browserPrefs.get('enhanced_incognito_mode'), true);
    await openBrowser(r);
    await menuItem(r, 'menu_settings');
    const row = rowWithTitle(r.phone, 'Enhanced incognito mode');
    assert.equal(row.children.find((c) => c.className === 'android.widget.Switch')!.checked, true);
    await tap(r.phone, row);
    assert.equal(
      rowWithTitle(r.phone, 'Enhanced incognito mode').children.find(
        (c) => c.className === 'android.widget.Switch',
      )!.checked,
      false,
    );
    assert.equal(r.apps.browserPrefs.get('enhanced_incognito_mode'), false);
    await tap(r.phone, rowWithTitle(r.phone, 'Incognito mode'));
    const path = `/data/data/${PKG}/shared_prefs/${PKG}_preferences.xml`;
    const xml = await sh(r.phone, `cat ${path}`, 0);
    assert.equal(
      xml,
      "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n" +
        '    <boolean name="enhanced_incognito_mode" value="false" />\n' +
        '    <boolean name="incognito_mode" value="true" />\n</map>\n',
    );
    const uid = r.phone.packages.get(PKG)!.uid;
    const st = r.phone.fs.stat(path)!;
    assert.equal(st.uid, uid);
    assert.equal(st.mode & 0o777, 0o660);
    // Another process (a fresh install of the apps on the same phone) reads the file back.
    const again = installApps(r.phone, { telemetry: r.sink, http: r.http });
    assert.equal(again.browserPrefs.get('enhanced_incognito_mode'), false);
    assert.equal(again.browserPrefs.get('incognito_mode'), true);
    // Edited on disk (as root) and the browser restarted: the new value is read.
    await sh(
      r.phone,
      `sed -i 's/"enhanced_incognito_mode" value="false"/"enhanced_incognito_mode" value="true"/' ${path}`,
      0,
    );
    await sh(r.phone, `am force-stop ${PKG}`);
    await openBrowser(r);
    assert.equal(again.browserPrefs.get('enhanced_incognito_mode'), true);
  });

  for (const { name } of listProfiles()) {
    it(`${name}: the incognito data-collection switch exists exactly where the profile says`, async () => {
      const has = loadProfile(name).telemetry?.browser?.incognitoDataCollectionSwitch === true;
      const r = rig(name);
      const pkg = r.phone.profile.browser;
      await sh(r.phone, `am start -n ${pkg}/com.android.browser.BrowserSettingsActivity`);
      assert.equal(nodes(r.phone, byText('Enhanced incognito mode')).length, has ? 1 : 0);
      assert.equal(r.apps.browserPrefs.get('enhanced_incognito_mode'), has ? true : undefined);
    });
  }

  it('the China ROM browser is com.android.browser', async () => {
    const r = rig('redmi-note-11-china');
    await sh(r.phone, 'am start -a android.intent.action.VIEW -d https://example.cn/');
    await r.apps.whenIdle();
    assert.equal(r.phone.screen.focusedComponent(), 'com.android.browser/.BrowserActivity');
    assert.deepEqual(
      r.http.requests.map((q) => [q.app, q.url]),
      [['com.android.browser', 'https://example.cn/']],
    );
    assert.ok(
      r.sink.events
        .filter((e) => e.event.source === 'browser')
        .every((e) => e.context.package === 'com.android.browser'),
    );
    await checkScreen(r.phone, 'china browser page');
  });

  it('helpers: URL detection, query encoding, preferences XML', () => {
    assert.equal(addressToUrl('example.com'), 'http://example.com/');
    assert.equal(addressToUrl('HTTPS://Example.com/x'), 'https://example.com/x');
    assert.equal(addressToUrl('localhost:8080/a'), 'http://localhost:8080/a');
    assert.equal(addressToUrl('10.0.2.2'), 'http://10.0.2.2/');
    assert.equal(addressToUrl('cats'), null);
    assert.equal(addressToUrl('what is example.com'), null);
    assert.equal(addressToUrl('mailto:a@b.c'), null);
    assert.equal(addressToUrl('file.txt'), 'http://file.txt/', 'a dotted word with a TLD-like end is a host');
    assert.equal(encodeQuery('a b&c'), 'a+b%26c');
    const m = new Map<string, boolean | string | number | bigint>([
      ['b', true],
      ['s', 'x<&>"y'],
      ['i', 42],
      ['l', 1n << 40n],
    ]);
    assert.deepEqual(prefsFromXml(prefsToXml(m)), m);
  });
});
